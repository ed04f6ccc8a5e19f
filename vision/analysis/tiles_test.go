package analysis

import (
	"image"
	"strings"
	"testing"
)

func TestTiles(t *testing.T) {
	tl := Tiles{Cols: 3, Rows: 2}
	if err := tl.validate(); err != nil || tl.Scale != 2 || tl.Overlap != 0.1 {
		t.Fatalf("defaults: %+v, %v", tl, err)
	}
	frame := image.Rect(0, 0, 1920, 1080)
	rs := tl.regions(frame)
	if len(rs) != 6 {
		t.Fatalf("%d tiles", len(rs))
	}
	// Every pixel is in a tile; neighbours overlap; the grid ends at
	// the frame's edges.
	for _, p := range []image.Point{{0, 0}, {1919, 1079}, {960, 540}, {700, 560}, {1300, 10}} {
		in := false
		for _, r := range rs {
			in = in || p.In(r)
		}
		if !in {
			t.Errorf("%v is in no tile: %v", p, rs)
		}
	}
	if !rs[0].Overlaps(rs[1]) || !rs[0].Overlaps(rs[3]) || rs[2].Max.X != 1920 || rs[5].Max.Y != 1080 {
		t.Fatalf("tiles %v", rs)
	}
	for _, bad := range []Tiles{{Cols: 9, Rows: 1}, {Cols: 2, Rows: 0}, {Cols: 2, Rows: 2, Scale: 10}, {Cols: 2, Rows: 2, Overlap: 0.7}} {
		if err := bad.validate(); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
	c := Config{Camera: "d", Detector: DetectorHOG, Tiles: Tiles{Cols: 2, Rows: 2}}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "tiles need the nanodet detector") {
		t.Fatalf("tiles with HOG: %v", err)
	}
}
