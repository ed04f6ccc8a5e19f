package analysis

import (
	"bytes"
	"image/jpeg"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

func TestEvidence(t *testing.T) {
	a := &Analyzer{}
	t0 := time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC)
	img := gocv.NewMatWithSize(720, 1280, gocv.MatTypeCV8UC3)
	defer img.Close()
	for i := range evidenceFrames + 2 { // the ring wraps
		dets := []vision.Detection{{TrackID: uint64(i + 1), Class: "person", Confidence: 0.9, Box: vision.Box{X: 100, Y: 100, W: 80, H: 200}}}
		a.ev.keep(img, dets, t0.Add(time.Duration(i)*time.Second))
	}
	if j, th := a.Evidence(t0.Add(-time.Second), 1); j != nil || th != nil {
		t.Fatal("a frame older than the ring (and 2 s) still gave evidence")
	}
	j, th := a.Evidence(t0.Add(5*time.Second), 6)
	for _, c := range []struct {
		b    []byte
		w, h int
	}{{j, evidenceWidth, 540}, {th, thumbWidth, 180}} {
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(c.b))
		if err != nil || cfg.Width != c.w || cfg.Height != c.h {
			t.Fatalf("evidence %dx%d (%v), want %dx%d", cfg.Width, cfg.Height, err, c.w, c.h)
		}
	}
	// The track's box is drawn in red at its place (scaled by 0.75).
	full, _ := jpeg.Decode(bytes.NewReader(j))
	r, g, b, _ := full.At(int(100*0.75)+1, int(200*0.75)).RGBA()
	if r>>8 < 150 || g>>8 > 100 || b>>8 > 100 {
		t.Fatalf("box edge colour %d,%d,%d, want red", r>>8, g>>8, b>>8)
	}
}
