package analysis

import (
	"context"
	"image"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

// outside is everything around the frame, as searched regions: a track
// predicted to have left the picture was not overlooked, it is gone, and
// ends as usual rather than being carried at the edge.
func outside(frame image.Rectangle) []vision.Box {
	const far = 1e6
	x0, y0, x1, y1 := float64(frame.Min.X), float64(frame.Min.Y), float64(frame.Max.X), float64(frame.Max.Y)
	return []vision.Box{
		{X: -far, Y: -far, W: 2 * far, H: far + y0}, // above
		{X: -far, Y: y1, W: 2 * far, H: far},        // below
		{X: -far, Y: y0, W: far + x0, H: y1 - y0},   // left
		{X: x1, Y: y0, W: far, H: y1 - y0},          // right
	}
}

// regions turns the moving regions into the regions the detector runs on
// and the scale it runs them at, or nil when the whole frame is as cheap.
// A model that runs at a chosen size (NanoDet) sees each region at twice
// the whole frame's scale (more detail where things move, at a fraction
// of the cost), grown for context; when the regions together would cost
// more than 80 % of a whole-frame pass, the whole frame runs instead: it
// also sees those who stand still.
func (a *Analyzer) regions(moving []image.Rectangle, frame image.Rectangle) ([]image.Rectangle, float64) {
	if a.remote == nil || !a.remote.Scales() {
		rois := cv.AnalysisRegions(moving, frame, image.Pt(64, 128), 0.25, 0.6)
		if len(rois) == 1 && rois[0] == frame {
			return nil, 0
		}
		return rois, 0
	}
	input := a.remote.Input()
	full, fullScale := cv.NetInput(frame.Dx(), frame.Dy(), 0, input)
	scale := min(1, regionZoom*fullScale)
	// The window is a person at the region scale: 48×96 network pixels.
	win := image.Pt(int(48/scale), int(96/scale))
	rois := cv.AnalysisRegions(moving, frame, win, 0.5, 1)
	cost := 0
	for _, r := range rois {
		in, _ := cv.NetInput(r.Dx(), r.Dy(), scale, input)
		cost += in.X * in.Y
	}
	if len(rois) == 0 || float64(cost) >= maxRegionCost*float64(full.X*full.Y) {
		return nil, 0
	}
	return rois, scale
}

const (
	// regionZoom is how much closer than the whole frame a moving
	// region is looked at.
	regionZoom = 2
	// maxRegionCost is the share of a whole-frame pass above which the
	// whole frame runs instead of the regions.
	maxRegionCost = 0.8
)

// detect runs the camera's detector on the regions of interest, at scale
// for a model that scales (0: fit its input).
func (a *Analyzer) detect(ctx context.Context, img gocv.Mat, rois []image.Rectangle, scale float64, motion []image.Rectangle) ([]vision.Detection, error) {
	switch a.cfg.Detector {
	case DetectorNone:
		return nil, nil
	case DetectorMotion:
		return cv.Boxes(motion), nil
	}
	if a.modelErr != nil {
		return nil, a.modelErr
	}
	var out []vision.Detection
	var err error
	if a.remote != nil {
		// A model runs in worker processes, one request each at a time:
		// no pool slot is held while waiting for one, so a slow or hung
		// model never starves the cameras on the in-process detectors.
		out, err = a.remote.detectAt(ctx, img, rois, scale)
	} else {
		err = a.pool.run(ctx, func(h *cv.HOG) error {
			for _, roi := range rois {
				d, err := h.Detect(img, roi)
				if err != nil {
					return err
				}
				out = append(out, d...)
			}
			return nil
		})
	}
	if len(rois) > 1 {
		// Regions overlap (tiles by design): the same object found twice.
		out = vision.NMSBy(out, 0.5, vision.NMSGroup)
	}
	return out, err
}
