package analysis

import (
	"fmt"
	"image"
)

// Tiles is the tiled mode for cameras whose objects are small (a drone
// looking down from height): the frame is cut into Cols×Rows tiles that
// overlap by Overlap of a tile, and each is run enlarged by Scale. It
// costs about Cols×Rows whole-frame passes per analysed frame (reported
// per camera as detect_time_ns); a COCO model on nadir footage finds
// some cars this way and still mistakes roofs for trucks (README).
type Tiles struct {
	Cols int `yaml:"cols"`
	Rows int `yaml:"rows"`
	// Scale enlarges each tile before the network sees it. It defaults
	// to 2.
	Scale float64 `yaml:"scale"`
	// Overlap is the share of a tile shared with its neighbours, so that
	// an object cut by a tile's edge is whole in the next. It defaults to
	// 0.1.
	Overlap float64 `yaml:"overlap"`
}

func (t *Tiles) validate() error {
	if t.Cols == 0 && t.Rows == 0 {
		return nil
	}
	if t.Cols < 1 || t.Rows < 1 || t.Cols > 8 || t.Rows > 8 {
		return fmt.Errorf("tiles %dx%d: want 1 to 8 columns and rows", t.Cols, t.Rows)
	}
	if t.Scale == 0 {
		t.Scale = 2
	}
	if t.Overlap == 0 {
		t.Overlap = 0.1
	}
	if !(t.Scale >= 0.25 && t.Scale <= 4) || !(t.Overlap >= 0 && t.Overlap < 0.5) {
		return fmt.Errorf("tiles: scale %v (want 0.25 to 4) or overlap %v (want 0 to 0.5) out of range", t.Scale, t.Overlap)
	}
	return nil
}

// regions are the tiles of frame, row by row.
func (t Tiles) regions(frame image.Rectangle) []image.Rectangle {
	tw := float64(frame.Dx()) / (float64(t.Cols) - t.Overlap*float64(t.Cols-1))
	th := float64(frame.Dy()) / (float64(t.Rows) - t.Overlap*float64(t.Rows-1))
	var out []image.Rectangle
	for r := range t.Rows {
		for c := range t.Cols {
			x0 := frame.Min.X + int(float64(c)*tw*(1-t.Overlap))
			y0 := frame.Min.Y + int(float64(r)*th*(1-t.Overlap))
			x1, y1 := x0+int(tw+0.5), y0+int(th+0.5)
			if c == t.Cols-1 {
				x1 = frame.Max.X // no pixel lost to rounding
			}
			if r == t.Rows-1 {
				y1 = frame.Max.Y
			}
			out = append(out, image.Rect(x0, y0, x1, y1).Intersect(frame))
		}
	}
	return out
}
