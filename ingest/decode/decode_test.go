package decode_test

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/ingest/decode"
	"github.com/smarteye/smarteye/ingest/decode/decodetest"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if n := openMats(); code == 0 && n > 0 {
		fmt.Fprintf(os.Stderr, "%d gocv Mats left open\n", n)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// reference decodes the same file with ffmpeg into raw BGR frames: the
// independent baseline our pictures are compared with.
func reference(t *testing.T, file string, w, h int) [][]byte {
	t.Helper()
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", file, "-f", "rawvideo", "-pix_fmt", "bgr24", "-").Output()
	if err != nil {
		t.Fatalf("ffmpeg reference decode: %v", err)
	}
	size := w * h * 3
	var frames [][]byte
	for len(out) >= size {
		frames = append(frames, out[:size])
		out = out[size:]
	}
	return frames
}

// psnr compares two BGR pictures.
func psnr(a, b []byte) float64 {
	var se float64
	for i := range a {
		d := float64(a[i]) - float64(b[i])
		se += d * d
	}
	mse := se / float64(len(a))
	if mse == 0 {
		return math.Inf(1)
	}
	return 10 * math.Log10(255*255/mse)
}

func matBytes(t *testing.T, m gocv.Mat) []byte {
	t.Helper()
	b, err := m.DataPtrUint8()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Clone(b[:m.Rows()*m.Cols()*3])
}

func TestDecodeMatchesFFmpeg(t *testing.T) {
	for _, tc := range []struct {
		name  string
		codec decode.Codec
		args  []string
	}{
		{"h264", decode.H264, []string{"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0"}},
		{"h264-bframes", decode.H264, []string{"-c:v", "libx264", "-preset", "fast", "-g", "10", "-bf", "2"}},
		{"h265", decode.H265, []string{"-c:v", "libx265", "-preset", "ultrafast", "-g", "10", "-bf", "0", "-x265-params", "log-level=error"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			const w, h, n = 320, 240, 30
			file, units := decodetest.Encode(t, tc.codec, decodetest.TestSource(w, h, 25, n), tc.args...)
			ref := reference(t, file, w, h)
			if len(ref) != n {
				t.Fatalf("reference has %d frames, want %d", len(ref), n)
			}
			d, err := decode.New(tc.codec)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			frame := gocv.NewMat()
			defer frame.Close()
			var got [][]byte
			for _, u := range units {
				ok, err := d.Decode(u.NALUs, u.Key, true, &frame)
				if err != nil {
					t.Fatalf("unit %d: %v", len(got), err)
				}
				if ok {
					if frame.Cols() != w || frame.Rows() != h {
						t.Fatalf("frame %dx%d, want %dx%d", frame.Cols(), frame.Rows(), w, h)
					}
					got = append(got, matBytes(t, frame))
				}
			}
			// A decoder with reordering holds its last pictures until the
			// stream ends; a live stream never ends, so they stay held.
			if len(got) < n-2 {
				t.Fatalf("decoded %d frames, want at least %d", len(got), n-2)
			}
			for i := range got {
				// Same decoder library, different colour conversion
				// (fast bilinear vs ffmpeg's default): close, not equal.
				if p := psnr(got[i], ref[i]); p < 30 {
					t.Fatalf("frame %d: PSNR %.1f dB against ffmpeg's decode, want ≥ 30", i, p)
				}
			}
			s := d.Stats()
			if s.Units != uint64(len(units)) || s.Errors != 0 || s.Converted != uint64(len(got)) {
				t.Fatalf("stats %+v", s)
			}
		})
	}
}

func TestDecodeSkipModes(t *testing.T) {
	const n = 60
	// B-frames that are not references: what the skip mode saves.
	_, units := decodetest.Encode(t, decode.H264, decodetest.TestSource(320, 240, 25, n),
		"-c:v", "libx264", "-preset", "fast", "-g", "15", "-bf", "2", "-x264-params", "b-pyramid=none")

	d, err := decode.New(decode.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	converted := 0
	for i, u := range units {
		ok, err := d.Decode(u.NALUs, u.Key, i%15 == 0, &frame)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			converted++
		}
	}
	s := d.Stats()
	if s.Skipped == 0 {
		t.Fatalf("no non-reference frame skipped: %+v", s)
	}
	if s.Converted != uint64(converted) || converted == 0 || converted > n/15+1 {
		t.Fatalf("converted %d (stats %+v), want about %d", converted, s, n/15)
	}

	k, err := decode.New(decode.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	k.Keyframes = true
	keys := 0
	for _, u := range units {
		if u.Key {
			keys++
		}
		if _, err := k.Decode(u.NALUs, u.Key, u.Key, &frame); err != nil && !errors.Is(err, decode.ErrSkipped) {
			t.Fatal(err)
		}
	}
	// With B-frames in the stream the decoder holds one picture back.
	if s := k.Stats(); s.Decoded < uint64(keys-1) || s.Decoded > uint64(keys) || s.Skipped != uint64(len(units)-keys) {
		t.Fatalf("keyframes mode: %+v, want %d decoded", s, keys)
	}
}

func TestDecodeRecoversAfterGarbage(t *testing.T) {
	_, units := decodetest.Encode(t, decode.H264, decodetest.TestSource(320, 240, 25, 40),
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "10", "-bf", "0")
	d, err := decode.New(decode.H264)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frame := gocv.NewMat()
	defer frame.Close()

	var errs, afterRecovery int
	broken := false
	for i, u := range units {
		nalus := u.NALUs
		if i == 13 {
			// A slice whose body is noise, as a lying camera sends.
			bad := bytes.Clone(nalus[len(nalus)-1])
			for j := 4; j < len(bad); j++ {
				bad[j] = byte(j * 7)
			}
			nalus = [][]byte{bad}
			broken = true
		}
		ok, err := d.Decode(nalus, u.Key, true, &frame)
		if err != nil && !errors.Is(err, decode.ErrSkipped) {
			errs++
		}
		if ok && broken && i > 20 {
			afterRecovery++
		}
	}
	if afterRecovery == 0 {
		t.Fatalf("no frames after the next keyframe; stats %+v", d.Stats())
	}
	t.Logf("errors %d, stats %+v", errs, d.Stats())

	// Units that are not video at all.
	for _, junk := range [][][]byte{{{}}, {{0xff, 0xff, 0xff}}, {bytes.Repeat([]byte{0}, 1000)}, {{0x65, 0x88, 0x84, 0x00, 0x33}}} {
		if _, err := d.Decode(junk, true, true, &frame); err == nil {
			t.Logf("junk %x accepted silently", junk)
		}
	}
	// And the stream still decodes.
	for _, u := range units[:11] {
		if _, err := d.Decode(u.NALUs, u.Key, true, &frame); err != nil && !errors.Is(err, decode.ErrSkipped) {
			t.Fatalf("after junk: %v", err)
		}
	}
}

func TestDecodeMJPEG(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "f.jpg")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=1", "-frames:v", "1", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	jpeg, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	d, err := decode.New(decode.MJPEG)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	frame := gocv.NewMat()
	defer frame.Close()
	ok, err := d.Decode([][]byte{jpeg}, true, true, &frame)
	if err != nil || !ok || frame.Cols() != 320 || frame.Rows() != 240 {
		t.Fatalf("ok %v err %v size %dx%d", ok, err, frame.Cols(), frame.Rows())
	}
	if _, err := d.Decode([][]byte{jpeg[:len(jpeg)/3]}, true, true, &frame); err == nil {
		t.Log("truncated JPEG decoded with concealment")
	}
}

func TestUnsupportedCodec(t *testing.T) {
	if _, err := decode.New("VP9"); err == nil {
		t.Fatal("VP9 accepted")
	}
}

func FuzzDecodeH264(f *testing.F) {
	f.Add([]byte{0x67, 0x42, 0xc0, 0x1e, 0xd9, 0x00, 0xa0, 0x47, 0xfe, 0xc8}, true)
	f.Add([]byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}, true)
	f.Add([]byte{0x41, 0x9a, 0x21, 0x6c}, false)
	f.Fuzz(func(t *testing.T, data []byte, key bool) {
		d, err := decode.New(decode.H264)
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		frame := gocv.NewMat()
		defer frame.Close()
		// Split on 0x00 0x00 0x01 like a depacketiser that was lied to.
		nalus := bytes.Split(data, []byte{0, 0, 1})
		d.Decode(nalus, key, true, &frame)
		d.Decode(nalus, key, true, &frame)
	})
}
