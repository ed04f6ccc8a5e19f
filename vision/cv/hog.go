package cv

/*
#cgo CXXFLAGS: -std=c++11
#cgo pkg-config: opencv4
#include <stdlib.h>
#include "shim.h"
*/
import "C"

import (
	"errors"
	"fmt"
	"image"
	"math"
	"unsafe"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// SetThreads sets OpenCV's own worker threads; 1 makes every call
// sequential, so that the detector pool (one worker per core) decides the
// parallelism and one stream's HOG pass cannot starve the others.
func SetThreads(n int) { C.se_set_threads(C.int(n)) }

func cError(p *C.char) error {
	if p == nil {
		return errors.New("opencv: unknown error")
	}
	defer C.free(unsafe.Pointer(p))
	return fmt.Errorf("opencv: %s", C.GoString(p))
}

// HOGParams tune OpenCV's HOG people detector. The defaults are those of
// OpenCV's peopledetect sample.
type HOGParams struct {
	// HitThreshold is the SVM margin a window needs; raise it (0.3–1) for
	// fewer false positives. It defaults to 0.
	HitThreshold float64
	// Stride is the window step in pixels (8 or 16; 16 is ~4× faster). It
	// defaults to 8.
	Stride int
	// Padding around the image in pixels. It defaults to 8.
	Padding int
	// Scale is the pyramid's step. It defaults to 1.05.
	Scale float64
	// Group is how many overlapping windows make a detection. It defaults to 2.
	Group int
}

func (p *HOGParams) defaults() {
	if p.Stride <= 0 {
		p.Stride = 8
	}
	if p.Padding < 0 || p.Padding == 0 {
		p.Padding = 8
	}
	if p.Scale <= 1 {
		p.Scale = 1.05
	}
	if p.Group <= 0 {
		p.Group = 2
	}
}

// HOG is OpenCV's HOG + linear SVM people detector with the default
// coefficients. One HOG is used by one goroutine at a time.
type HOG struct {
	h C.se_hog
	p HOGParams
}

// NewHOG returns a people detector.
func NewHOG(p HOGParams) (*HOG, error) {
	p.defaults()
	var cerr *C.char
	h := C.se_hog_new(&cerr)
	if h == nil {
		return nil, cError(cerr)
	}
	return &HOG{h: h, p: p}, nil
}

// Close frees the detector.
func (d *HOG) Close() error {
	if d.h != nil {
		C.se_hog_free(d.h)
		d.h = nil
	}
	return nil
}

// MinSize is the smallest person HOG finds: its 64×128 window.
var hogWindow = image.Pt(64, 128)

// Detect finds people in img (BGR) inside roi (the whole image when roi
// is empty). Confidence maps the SVM margin w through a logistic,
// 1/(1+e^(-2w)), so a window just over the threshold scores about 0.5.
func (d *HOG) Detect(img gocv.Mat, roi image.Rectangle) ([]vision.Detection, error) {
	if img.Empty() {
		return nil, errors.New("hog: empty image")
	}
	if !roi.Empty() {
		roi = roi.Intersect(image.Rect(0, 0, img.Cols(), img.Rows()))
		if roi.Dx() < hogWindow.X || roi.Dy() < hogWindow.Y {
			return nil, nil
		}
	}
	const max = 256
	var rects [max]C.se_rect
	var cerr *C.char
	n := C.se_hog_detect(d.h, unsafe.Pointer(img.Ptr()), C.int(roi.Min.X), C.int(roi.Min.Y), C.int(roi.Dx()), C.int(roi.Dy()),
		C.double(d.p.HitThreshold), C.int(d.p.Stride), C.int(d.p.Padding), C.double(d.p.Scale), C.double(d.p.Group),
		&rects[0], max, &cerr)
	if n < 0 {
		return nil, cError(cerr)
	}
	out := make([]vision.Detection, 0, min(int(n), max))
	for i := 0; i < int(n) && i < max; i++ {
		r := rects[i]
		out = append(out, vision.Detection{
			Class:      "person",
			Confidence: 1 / (1 + math.Exp(-2*float64(r.weight))),
			Box:        vision.Box{X: float64(r.x), Y: float64(r.y), W: float64(r.w), H: float64(r.h)},
		})
	}
	return out, nil
}
