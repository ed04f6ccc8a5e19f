// Package decodetest makes real H.264/H.265 access units with Debian's
// ffmpeg for tests and benchmarks of the decoder and the pipeline.
package decodetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/smarteye/smarteye/ingest/decode"
)

// Unit is one access unit: NAL units without start codes.
type Unit struct {
	NALUs [][]byte
	Key   bool // a random-access point (IDR/IRAP)
}

// TestSource is ffmpeg input arguments for n frames of the testsrc2 pattern.
func TestSource(w, h, rate, n int) []string {
	return []string{"-f", "lavfi", "-i", "testsrc2=size=" + strconv.Itoa(w) + "x" + strconv.Itoa(h) + ":rate=" + strconv.Itoa(rate), "-frames:v", strconv.Itoa(n)}
}

// Encode runs ffmpeg with the input and encoder arguments into a raw
// Annex-B file and returns the file and its access units.
func Encode(tb testing.TB, codec decode.Codec, input []string, encoder ...string) (string, []Unit) {
	tb.Helper()
	format := "h264"
	if codec == decode.H265 {
		format = "hevc"
	}
	file := filepath.Join(tb.TempDir(), "stream."+format)
	args := append([]string{"-v", "error", "-y"}, input...)
	args = append(args, encoder...)
	args = append(args, "-an", "-f", format, file)
	if out, err := exec.Command("ffmpeg", args...).CombinedOutput(); err != nil {
		tb.Fatalf("ffmpeg %v: %v\n%s", args, err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		tb.Fatal(err)
	}
	return file, Split(codec, data)
}

// Split cuts an Annex-B byte stream into access units: a unit starts at an
// access unit delimiter, at parameter sets or SEI following a picture, or
// at the first slice of a picture.
func Split(codec decode.Codec, data []byte) []Unit {
	var (
		units    []Unit
		cur      Unit
		hasSlice bool
	)
	flush := func() {
		if len(cur.NALUs) > 0 {
			units = append(units, cur)
		}
		cur, hasSlice = Unit{}, false
	}
	for _, n := range nalus(data) {
		if len(n) < 3 {
			continue
		}
		var slice, first, key, boundary bool
		if codec == decode.H265 {
			typ := (n[0] >> 1) & 0x3f
			slice = typ < 32
			first = slice && n[2]&0x80 != 0
			key = typ >= 16 && typ <= 21
			boundary = typ == 35 || (typ >= 32 && typ <= 34) || typ == 39
		} else {
			typ := n[0] & 0x1f
			slice = typ == 1 || typ == 5
			first = slice && n[1]&0x80 != 0
			key = typ == 5
			boundary = typ == 9 || typ == 7 || typ == 8 || typ == 6
		}
		if hasSlice && (first || boundary) {
			flush()
		}
		cur.NALUs = append(cur.NALUs, n)
		cur.Key = cur.Key || key
		hasSlice = hasSlice || slice
	}
	flush()
	return units
}

// nalus splits on 3- and 4-byte start codes.
func nalus(data []byte) [][]byte {
	var out [][]byte
	for {
		i := bytes.Index(data, []byte{0, 0, 1})
		if i < 0 {
			break
		}
		data = data[i+3:]
		j := bytes.Index(data, []byte{0, 0, 1})
		if j < 0 {
			out = append(out, data)
			break
		}
		n := data[:j]
		if len(n) > 0 && n[len(n)-1] == 0 { // the 4-byte start code's extra zero
			n = n[:len(n)-1]
		}
		out = append(out, n)
		data = data[j:]
	}
	return out
}
