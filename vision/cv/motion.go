package cv

import (
	"image"
	"slices"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// MotionParams tune the motion gate.
type MotionParams struct {
	// Width is the width of the grey frame MOG2 runs on. It defaults to 320.
	Width int
	// History is MOG2's history in analysed frames. It defaults to 100.
	History int
	// VarThreshold is MOG2's squared Mahalanobis distance for foreground.
	// It defaults to 25.
	VarThreshold float64
	// MinArea is the smallest moving blob, as a fraction of the frame. It
	// defaults to 0.0005 (about 12×12 pixels in 768×576).
	MinArea float64
}

func (p *MotionParams) defaults() {
	if p.Width <= 0 {
		p.Width = 320
	}
	if p.History <= 0 {
		p.History = 100
	}
	if p.VarThreshold <= 0 {
		p.VarThreshold = 25
	}
	if p.MinArea <= 0 {
		p.MinArea = 0.0005
	}
}

// Motion is a background-subtraction (MOG2) motion detector on a
// downscaled grey copy of the frame: for fixed cameras only (a moving
// camera makes everything move). It finds the moving regions, which gate
// the expensive detectors, and it is itself a detector of "motion" boxes.
// One Motion follows one camera and is used by one goroutine.
type Motion struct {
	p     MotionParams
	mog   gocv.BackgroundSubtractorMOG2
	small gocv.Mat
	grey  gocv.Mat
	mask  gocv.Mat
	kern  gocv.Mat
	seen  int
}

// NewMotion returns a motion detector with an empty background model.
func NewMotion(p MotionParams) *Motion {
	p.defaults()
	return &Motion{
		p:     p,
		mog:   gocv.NewBackgroundSubtractorMOG2WithParams(p.History, p.VarThreshold, false),
		small: gocv.NewMat(),
		grey:  gocv.NewMat(),
		mask:  gocv.NewMat(),
		kern:  gocv.GetStructuringElement(gocv.MorphEllipse, image.Pt(3, 3)),
	}
}

// Close frees the detector.
func (m *Motion) Close() error {
	m.mog.Close()
	m.small.Close()
	m.grey.Close()
	m.mask.Close()
	m.kern.Close()
	return nil
}

// Warm reports whether the background model has seen enough frames to be
// trusted; until then every frame counts as moving.
func (m *Motion) Warm() bool { return m.seen >= 5 }

// Detect updates the background model with img (BGR) and returns the
// moving regions in img's coordinates, largest first, and the fraction of
// the frame that moves.
func (m *Motion) Detect(img gocv.Mat) (regions []image.Rectangle, fraction float64) {
	if img.Empty() {
		return nil, 0
	}
	scale := float64(m.p.Width) / float64(img.Cols())
	if scale > 1 {
		scale = 1
	}
	h := int(float64(img.Rows())*scale + 0.5)
	gocv.Resize(img, &m.small, image.Pt(int(float64(img.Cols())*scale+0.5), h), 0, 0, gocv.InterpolationArea)
	gocv.CvtColor(m.small, &m.grey, gocv.ColorBGRToGray)
	gocv.GaussianBlur(m.grey, &m.grey, image.Pt(5, 5), 0, 0, gocv.BorderDefault)
	m.mog.Apply(m.grey, &m.mask)
	m.seen++
	// Open (remove speckle), then dilate (join a person's parts).
	gocv.MorphologyEx(m.mask, &m.mask, gocv.MorphOpen, m.kern)
	gocv.Dilate(m.mask, &m.mask, m.kern)
	gocv.Dilate(m.mask, &m.mask, m.kern)

	total := float64(m.mask.Rows() * m.mask.Cols())
	fraction = float64(gocv.CountNonZero(m.mask)) / total
	contours := gocv.FindContours(m.mask, gocv.RetrievalExternal, gocv.ChainApproxSimple)
	defer contours.Close()
	minArea := m.p.MinArea * total
	for i := 0; i < contours.Size(); i++ {
		c := contours.At(i)
		r := gocv.BoundingRect(c)
		if float64(r.Dx()*r.Dy()) < minArea {
			continue
		}
		regions = append(regions, image.Rect(
			int(float64(r.Min.X)/scale), int(float64(r.Min.Y)/scale),
			int(float64(r.Max.X)/scale+0.5), int(float64(r.Max.Y)/scale+0.5)))
	}
	slices.SortFunc(regions, func(a, b image.Rectangle) int { return b.Dx()*b.Dy() - a.Dx()*a.Dy() })
	return regions, fraction
}

// Boxes are the moving regions as "motion" detections.
func Boxes(regions []image.Rectangle) []vision.Detection {
	out := make([]vision.Detection, 0, len(regions))
	for _, r := range regions {
		out = append(out, vision.Detection{Class: "motion", Confidence: 1,
			Box: vision.Box{X: float64(r.Min.X), Y: float64(r.Min.Y), W: float64(r.Dx()), H: float64(r.Dy())}})
	}
	return out
}

// AnalysisRegions turns moving regions into the regions a detector with a
// minimum window (HOG: 64×128) should look at: each grown by margin (a
// fraction of its size, and at least the window), merged where they
// overlap, clipped to the frame. When they cover more than maxCover of the
// frame, one region, the whole frame, is cheaper.
func AnalysisRegions(regions []image.Rectangle, frame image.Rectangle, window image.Point, margin, maxCover float64) []image.Rectangle {
	var grown []image.Rectangle
	for _, r := range regions {
		dx := max(int(float64(r.Dx())*margin), (window.X-r.Dx())/2+8, 8)
		dy := max(int(float64(r.Dy())*margin), (window.Y-r.Dy())/2+8, 8)
		g := image.Rect(r.Min.X-dx, r.Min.Y-dy, r.Max.X+dx, r.Max.Y+dy)
		// Near an edge, slide the region back inside rather than cut it
		// below the window.
		if g.Min.X < frame.Min.X {
			g = g.Add(image.Pt(min(frame.Min.X-g.Min.X, max(frame.Max.X-g.Max.X, 0)), 0))
		}
		if g.Max.X > frame.Max.X {
			g = g.Sub(image.Pt(min(g.Max.X-frame.Max.X, max(g.Min.X-frame.Min.X, 0)), 0))
		}
		if g.Min.Y < frame.Min.Y {
			g = g.Add(image.Pt(0, min(frame.Min.Y-g.Min.Y, max(frame.Max.Y-g.Max.Y, 0))))
		}
		if g.Max.Y > frame.Max.Y {
			g = g.Sub(image.Pt(0, min(g.Max.Y-frame.Max.Y, max(g.Min.Y-frame.Min.Y, 0))))
		}
		if g = g.Intersect(frame); !g.Empty() {
			grown = append(grown, g)
		}
	}
	// Merge until no two overlap.
	for merged := true; merged; {
		merged = false
		for i := 0; i < len(grown) && !merged; i++ {
			for j := i + 1; j < len(grown); j++ {
				if grown[i].Overlaps(grown[j]) {
					grown[i] = grown[i].Union(grown[j])
					grown = slices.Delete(grown, j, j+1)
					merged = true
					break
				}
			}
		}
	}
	area := 0
	for _, g := range grown {
		area += g.Dx() * g.Dy()
	}
	if float64(area) > maxCover*float64(frame.Dx()*frame.Dy()) {
		return []image.Rectangle{frame}
	}
	return grown
}
