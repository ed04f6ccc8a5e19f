package vision

import (
	"fmt"
	"time"
)

// Box is an axis-aligned rectangle in image pixels; (X, Y) is the top-left
// corner.
type Box struct {
	X float64 `json:"x"`
	Y float64 `json:"y"`
	W float64 `json:"w"`
	H float64 `json:"h"`
}

// Area is W × H, 0 for an empty box.
func (b Box) Area() float64 {
	if b.W <= 0 || b.H <= 0 {
		return 0
	}
	return b.W * b.H
}

// IoU is the intersection over union of two boxes, in [0, 1].
func (b Box) IoU(o Box) float64 {
	x0, y0 := max(b.X, o.X), max(b.Y, o.Y)
	x1, y1 := min(b.X+b.W, o.X+o.W), min(b.Y+b.H, o.Y+o.H)
	if x1 <= x0 || y1 <= y0 {
		return 0
	}
	inter := (x1 - x0) * (y1 - y0)
	u := b.Area() + o.Area() - inter
	if u <= 0 {
		return 0
	}
	return inter / u
}

// Foot is the bottom centre of the box: where a standing person or a
// vehicle touches the ground, the point zones and georeferencing use.
func (b Box) Foot() Point { return Point{b.X + b.W/2, b.Y + b.H} }

// Center is the middle of the box.
func (b Box) Center() Point { return Point{b.X + b.W/2, b.Y + b.H/2} }

// Point is a position in image pixels.
type Point struct{ X, Y float64 }

// Detection is one object found in one frame.
type Detection struct {
	Class      string  `json:"class"`      // "person", "car", … (COCO names for YOLO models)
	Confidence float64 `json:"confidence"` // 0..1
	Box        Box     `json:"box"`
	// TrackID is set by the tracker: the same object keeps its id across
	// frames. 0 until tracked.
	TrackID uint64 `json:"track_id,omitempty"`
	// Carried marks a tracked object that this frame's detector did not
	// look for (outside a gated camera's moving regions): it is where it
	// was last seen, not seen again.
	Carried bool `json:"carried,omitempty"`
}

func (d Detection) String() string {
	return fmt.Sprintf("%s %.2f [%.0f,%.0f %.0fx%.0f]", d.Class, d.Confidence, d.Box.X, d.Box.Y, d.Box.W, d.Box.H)
}

// Frame is the result of analysing one frame of one camera.
type Frame struct {
	Camera string    `json:"camera"`
	Time   time.Time `json:"time"` // wall-clock capture time of the frame
	// Received is when the picture's last packet reached smarteye.
	Received time.Time `json:"received"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	// Detections are the tracked objects in this frame (confirmed tracks
	// only: a detection that has not yet been seen often enough to be a
	// track is left out, so flicker never reaches the map).
	Detections []Detection `json:"detections"`
	// Fence is the analysing process's fencing token for the camera
	// (analysis.Config.Fence).
	Fence uint64 `json:"fence,omitempty"`
}
