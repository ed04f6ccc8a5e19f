package vision

import (
	"bytes"
	"encoding/binary"
	"math"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// floatBytes encodes vs as little-endian float32s, the fuzzer's tensor.
func floatBytes(vs ...float32) []byte {
	b := make([]byte, 0, 4*len(vs))
	for _, v := range vs {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// FuzzDecodeYOLO feeds arbitrary tensors and shapes to every layout: the
// decoder must return an error or detections inside the frame, never
// panic or index out of range.
func FuzzDecodeYOLO(f *testing.F) {
	nan := float32(math.NaN())
	// layout, rank, three dimensions, tensor.
	f.Add(uint8(2), uint8(3), 1, 6, 2, floatBytes(
		100, 300, // cx of two boxes (yolov8 is transposed)
		100, 100,
		20, 20,
		30, 30,
		0.9, 0.1,
		0.1, 0.8,
	))
	f.Add(uint8(1), uint8(3), 1, 2, 7, floatBytes(
		320, 320, 50, 50, 0.9, 0.8, 0.1,
		nan, 10, 10, 10, 0.9, 0.9, 0.9,
	))
	f.Add(uint8(0), uint8(2), 1, 7, 0, floatBytes(0.5, 0.5, 0.1, 0.1, 0.9, 0.7, 0.2))
	f.Add(uint8(0), uint8(2), 0, 85, 0, []byte{})
	f.Add(uint8(2), uint8(3), 1, -5, 3, floatBytes(1, 2, 3))
	f.Add(uint8(1), uint8(3), 1, 1<<40, 1<<40, floatBytes(1, 2, 3, 4, 5, 6))
	f.Add(uint8(7), uint8(4), 2, 2, 2, floatBytes(float32(math.Inf(1)), -1, 0, 1e38))

	layouts := []Layout{LayoutDarknet, LayoutV5, LayoutV8, "bogus"}
	f.Fuzz(func(t *testing.T, layout, rank uint8, d0, d1, d2 int, data []byte) {
		out := make([]float32, len(data)/4)
		for i := range out {
			out[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		shape := []int{d0, d1, d2}[:min(int(rank%4), 3)]
		lb := NewLetterbox(768, 576, 416, 416)
		p := YOLOParams{Layout: layouts[int(layout)%len(layouts)], Letterbox: lb, Classes: []string{"person", "car"}}
		dets, err := DecodeYOLO(p, out, shape)
		if err != nil {
			return
		}
		for i, d := range dets {
			b := d.Box
			if !(b.W > 0 && b.H > 0 && b.X >= 0 && b.Y >= 0 && b.X+b.W <= 768+1e-9 && b.Y+b.H <= 576+1e-9) {
				t.Fatalf("detection %d outside the frame: %v %+v", i, d, b)
			}
			if !(d.Confidence >= DefaultConfidence) || math.IsInf(d.Confidence, 0) || d.Class == "" {
				t.Fatalf("detection %d: %v", i, d)
			}
			if i > 0 && d.Confidence > dets[i-1].Confidence {
				t.Fatalf("not ordered by confidence: %v", dets)
			}
		}
		// The same blob twice through DecodeYOLOMulti: the duplicates are
		// suppressed, so the result is the single blob's again.
		multi, err := DecodeYOLOMulti(p, [][]float32{out, out}, [][]int{shape, shape})
		if err != nil {
			t.Fatalf("DecodeYOLO accepted what DecodeYOLOMulti rejects: %v", err)
		}
		if len(multi) != len(dets) {
			t.Fatalf("twice the same blob: %d detections, once: %d", len(multi), len(dets))
		}
	})
}

// FuzzParseClassNames checks that every accepted file gives non-empty,
// trimmed, short UTF-8 names without control characters that read back
// the same.
func FuzzParseClassNames(f *testing.F) {
	f.Add([]byte("person\nbicycle\ncar\n"))
	f.Add([]byte("\ufeffperson\r\ncar\r\n\r\n"))
	f.Add([]byte("person\n\ncar"))
	f.Add([]byte(strings.Repeat("x", 201)))
	f.Add([]byte("\xff\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		names, err := ParseClassNames(bytes.NewReader(data))
		if err != nil {
			return
		}
		if len(names) == 0 {
			t.Fatal("no names and no error")
		}
		for i, n := range names {
			if n == "" || n != strings.TrimSpace(n) || len(n) > maxClassNameLen || !utf8.ValidString(n) || strings.IndexFunc(n, unicode.IsControl) >= 0 {
				t.Fatalf("name %d: %q", i, n)
			}
		}
		again, err := ParseClassNames(strings.NewReader(strings.Join(names, "\n")))
		if err != nil || strings.Join(again, "\n") != strings.Join(names, "\n") {
			t.Fatalf("names %q read back as %q, %v", names, again, err)
		}
	})
}
