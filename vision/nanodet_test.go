package vision

import (
	"encoding/binary"
	"math"
	"strings"
	"testing"
)

// nanoHead builds a synthetic NanoDet head for an input of w×h with
// classes classes and bins bins per side, every score low and every
// distribution flat (expected bin (bins−1)/2).
type nanoHead struct {
	w, h, classes, bins int
	levels              []NanoDetLevel
}

func newNanoHead(w, h, classes, bins int, strides ...int) *nanoHead {
	n := &nanoHead{w: w, h: h, classes: classes, bins: bins}
	for _, s := range strides {
		cells := ((w + s - 1) / s) * ((h + s - 1) / s)
		sc := make([]float32, cells*classes)
		for i := range sc {
			sc[i] = 0.01
		}
		n.levels = append(n.levels, NanoDetLevel{Stride: s, Scores: sc, Dists: make([]float32, cells*4*bins)})
	}
	return n
}

// set puts an object of class with score at cell (row, col) of level
// li, with each side's distribution peaked at the given bins (a peak of
// logit 30 makes the expectation the bin itself to within 1e-12).
func (n *nanoHead) set(li, row, col, class int, score float32, sides [4]int) {
	l := n.levels[li]
	gw := (n.w + l.Stride - 1) / l.Stride
	k := row*gw + col
	l.Scores[k*n.classes+class] = score
	for e := range 4 {
		d := l.Dists[(k*4+e)*n.bins : (k*4+e+1)*n.bins]
		for i := range d {
			d[i] = 0
		}
		d[sides[e]] = 30
	}
}

func TestDecodeNanoDet(t *testing.T) {
	names := []string{"person", "car", "truck", "motorbike"}
	lb := Letterbox{Scale: 1, FrameW: 64, FrameH: 64, InputW: 64, InputH: 64}
	near := func(a, b float64) bool { return math.Abs(a-b) < 1e-6 }
	t.Run("box from the distributions", func(t *testing.T) {
		h := newNanoHead(64, 64, 4, 8, 8, 16, 32)
		// Stride 8, row 2, col 3: centre (28, 20); left 1, top 2,
		// right 3, bottom 4 bins of 8 px.
		h.set(0, 2, 3, 0, 0.9, [4]int{1, 2, 3, 4})
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil {
			t.Fatal(err)
		}
		if len(dets) != 1 {
			t.Fatalf("got %v, want one box", dets)
		}
		d := dets[0]
		want := Box{X: 28 - 8, Y: 20 - 16, W: 8 + 24, H: 16 + 32}
		if d.Class != "person" || !near(d.Confidence, float64(float32(0.9))) ||
			!near(d.Box.X, want.X) || !near(d.Box.Y, want.Y) || !near(d.Box.W, want.W) || !near(d.Box.H, want.H) {
			t.Fatalf("got %v, want person 0.90 %+v", d, want)
		}
	})
	t.Run("flat distribution is the middle bin", func(t *testing.T) {
		h := newNanoHead(64, 64, 4, 5, 8, 16, 32)
		// Stride 32, cell (1, 0): centre (16, 48); flat over 5 bins: 2 × 32.
		h.levels[2].Scores[2*4+1] = 0.7
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil || len(dets) != 1 {
			t.Fatalf("got %v, %v", dets, err)
		}
		// Clipped to the 64×64 frame: x from 16−64 to 16+64, y from 48−64 to 48+64.
		if b := dets[0].Box; dets[0].Class != "car" || !near(b.X, 0) || !near(b.Y, 0) || !near(b.W, 64) || !near(b.H, 64) {
			t.Fatalf("got %v", dets[0])
		}
	})
	t.Run("letterbox to frame", func(t *testing.T) {
		// A 128×64 frame letterboxed into 64×64: scale 0.5, 16 px padding above.
		lb := NewLetterbox(128, 64, 64, 64)
		h := newNanoHead(64, 64, 4, 8, 8, 16, 32)
		h.set(0, 3, 3, 0, 0.8, [4]int{1, 1, 1, 1}) // centre (28, 28): 20..36
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil || len(dets) != 1 {
			t.Fatalf("got %v, %v", dets, err)
		}
		if b := dets[0].Box; !near(b.X, 40) || !near(b.Y, 8) || !near(b.W, 32) || !near(b.H, 32) {
			t.Fatalf("got %+v, want 40,8 32x32", b)
		}
	})
	t.Run("rectangular input", func(t *testing.T) {
		// 96×64: stride 32 has a 3×2 grid, so cell 4 is row 1, col 1.
		lb := Letterbox{Scale: 1, FrameW: 96, FrameH: 64, InputW: 96, InputH: 64}
		h := newNanoHead(96, 64, 4, 8, 8, 16, 32)
		h.set(2, 1, 1, 0, 0.8, [4]int{0, 0, 0, 0})
		h.levels[2].Dists[(4*4+0)*8+0] = 0 // left stays 0 too
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil {
			t.Fatal(err)
		}
		// A box of zero size at (48, 48) is dropped; widen it.
		if len(dets) != 0 {
			t.Fatalf("got %v, want none (empty box)", dets)
		}
		h.set(2, 1, 1, 0, 0.8, [4]int{1, 1, 1, 1})
		dets, _ = DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if len(dets) != 1 || !near(dets[0].Box.X, 16) || !near(dets[0].Box.Y, 16) {
			t.Fatalf("got %v, want a box from 16,16", dets)
		}
	})
	t.Run("per-class thresholds and keep", func(t *testing.T) {
		h := newNanoHead(64, 64, 4, 8, 8, 16, 32)
		h.set(0, 1, 1, 3, 0.40, [4]int{1, 1, 1, 1}) // motorbike 0.40: a pram
		h.set(0, 5, 5, 0, 0.30, [4]int{1, 1, 1, 1}) // person 0.30
		p := NanoDetParams{Letterbox: lb, Classes: names, ClassConfidence: DefaultClassConfidence}
		dets, _ := DecodeNanoDet(p, h.levels)
		if len(dets) != 1 || dets[0].Class != "person" {
			t.Fatalf("default thresholds: got %v, want the person only", dets)
		}
		p.ClassConfidence = map[string]float64{"motorbike": 0.35}
		if dets, _ = DecodeNanoDet(p, h.levels); len(dets) != 2 {
			t.Fatalf("motorbike at 0.35: got %v, want both", dets)
		}
		p.Keep = []string{"motorbike"}
		if dets, _ = DecodeNanoDet(p, h.levels); len(dets) != 1 || dets[0].Class != "motorbike" {
			t.Fatalf("keep motorbike: got %v", dets)
		}
		p.Keep, p.Confidence = nil, 0.5
		p.ClassConfidence = nil
		if dets, _ = DecodeNanoDet(p, h.levels); len(dets) != 0 {
			t.Fatalf("confidence 0.5: got %v, want none", dets)
		}
	})
	t.Run("a van is one vehicle", func(t *testing.T) {
		h := newNanoHead(64, 64, 4, 8, 8, 16, 32)
		h.set(0, 3, 3, 1, 0.6, [4]int{2, 2, 2, 2}) // car
		h.set(0, 3, 4, 2, 0.7, [4]int{2, 2, 2, 2}) // truck, 8 px to the right
		h.set(0, 4, 3, 0, 0.8, [4]int{2, 2, 2, 2}) // a person just below: kept
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil {
			t.Fatal(err)
		}
		var classes []string
		for _, d := range dets {
			classes = append(classes, d.Class)
		}
		if got := strings.Join(classes, ","); got != "person,truck" {
			t.Fatalf("got %s, want person,truck (car and truck merged, the person kept)", got)
		}
	})
	t.Run("non-finite cells skipped", func(t *testing.T) {
		h := newNanoHead(64, 64, 4, 8, 8, 16, 32)
		h.set(0, 1, 1, 0, 0.9, [4]int{1, 1, 1, 1})
		h.levels[0].Dists[(9*4+2)*8] = float32(math.NaN())
		h.set(0, 6, 6, 0, float32(math.Inf(1)), [4]int{1, 1, 1, 1})
		h.set(1, 0, 0, 0, float32(math.NaN()), [4]int{1, 1, 1, 1})
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: names}, h.levels)
		if err != nil || len(dets) != 0 {
			t.Fatalf("got %v, %v; want nothing", dets, err)
		}
	})
}

func TestDecodeNanoDetErrors(t *testing.T) {
	lb := Letterbox{Scale: 1, FrameW: 64, FrameH: 64, InputW: 64, InputH: 64}
	good := newNanoHead(64, 64, 4, 8, 8, 16, 32).levels
	for _, tc := range []struct {
		name   string
		p      NanoDetParams
		levels []NanoDetLevel
		want   string
	}{
		{"no levels", NanoDetParams{Letterbox: lb}, nil, "no output levels"},
		{"bad letterbox", NanoDetParams{}, good, "letterbox"},
		{"stride too big", NanoDetParams{Letterbox: lb}, []NanoDetLevel{{Stride: 128, Scores: good[0].Scores, Dists: good[0].Dists}}, "does not fit input"},
		{"wrong grid", NanoDetParams{Letterbox: lb}, []NanoDetLevel{{Stride: 16, Scores: good[0].Scores[:7], Dists: good[0].Dists}}, "do not fit the grid"},
		{"levels disagree", NanoDetParams{Letterbox: lb}, []NanoDetLevel{good[0], newNanoHead(64, 64, 5, 8, 16).levels[0]}, "level 1 has 5 classes"},
		{"one bin", NanoDetParams{Letterbox: lb}, newNanoHead(64, 64, 4, 1, 8).levels, "bins per side"},
		{"bad threshold", NanoDetParams{Letterbox: lb, Confidence: 2}, good, "must be in 0..1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := DecodeNanoDet(tc.p, tc.levels)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
}

// FuzzDecodeNanoDet feeds arbitrary heads: an error or boxes inside the
// frame, never a panic.
func FuzzDecodeNanoDet(f *testing.F) {
	f.Add(uint8(64), uint8(64), uint8(8), uint8(4), floatBytes(0.9, 0.1, 30, 0, 0))
	f.Add(uint8(96), uint8(64), uint8(32), uint8(0), floatBytes(float32(math.NaN()), float32(math.Inf(1))))
	f.Add(uint8(1), uint8(255), uint8(3), uint8(7), []byte{1, 2, 3})
	f.Fuzz(func(t *testing.T, w, h, stride, classes uint8, data []byte) {
		vals := make([]float32, len(data)/4)
		for i := range vals {
			vals[i] = math.Float32frombits(binary.LittleEndian.Uint32(data[4*i:]))
		}
		lb := NewLetterbox(320, 240, int(w), int(h))
		s := max(int(stride), 1)
		cells := ((int(w) + s - 1) / s) * ((int(h) + s - 1) / s)
		nc := int(classes)%6 + 1
		sc := make([]float32, cells*nc)
		di := make([]float32, cells*4*3)
		if len(vals) > 0 {
			for i := range sc {
				sc[i] = vals[i%len(vals)]
			}
			for i := range di {
				di[i] = vals[(i*7)%len(vals)]
			}
		}
		dets, err := DecodeNanoDet(NanoDetParams{Letterbox: lb, Classes: []string{"person"}}, []NanoDetLevel{{Stride: s, Scores: sc, Dists: di}})
		if err != nil {
			return
		}
		for _, d := range dets {
			b := d.Box
			if !(b.X >= 0 && b.Y >= 0 && b.X+b.W <= 320+1e-9 && b.Y+b.H <= 240+1e-9 && b.W > 0 && b.H > 0) {
				t.Fatalf("box outside the frame: %v", d)
			}
		}
	})
}

func TestMatch(t *testing.T) {
	b := func(x float64) Box { return Box{X: x, Y: 0, W: 10, H: 20} }
	d := func(x, conf float64) Detection { return Detection{Class: "person", Confidence: conf, Box: b(x)} }
	for _, tc := range []struct {
		name   string
		dets   []Detection
		truth  []Box
		ignore []bool
		want   Score
	}{
		{"all found", []Detection{d(0, 0.9), d(50, 0.8)}, []Box{b(0), b(50)}, nil, Score{2, 0, 0}},
		{"a miss and a false alarm", []Detection{d(100, 0.9)}, []Box{b(0)}, nil, Score{0, 1, 1}},
		{"a duplicate is a false alarm", []Detection{d(0, 0.9), d(1, 0.8)}, []Box{b(0)}, nil, Score{1, 1, 0}},
		{"loose box below IoU 0.5", []Detection{d(5, 0.9)}, []Box{b(0)}, nil, Score{0, 1, 1}},
		{"ignored box neither hit nor miss", []Detection{d(50, 0.9)}, []Box{b(0), b(50)}, []bool{false, true}, Score{0, 0, 1}},
		{"nothing", nil, nil, nil, Score{}},
	} {
		if got := Match(tc.dets, tc.truth, tc.ignore, 0.5); got != tc.want {
			t.Errorf("%s: got %+v, want %+v", tc.name, got, tc.want)
		}
	}
	if s := (Score{3, 1, 2}); s.Precision() != 0.75 || s.Recall() != 0.6 {
		t.Errorf("precision %v recall %v", s.Precision(), s.Recall())
	}
}
