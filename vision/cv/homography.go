package cv

import (
	"errors"
	"fmt"
	"math"

	"gocv.io/x/gocv"
)

// FindHomography fits the 3×3 homography (row-major) that maps src to dst
// points with OpenCV's least-squares estimator over all points (control
// points are few and surveyed: no RANSAC). Callers check for degenerate
// point sets first (geo.CheckControlPoints): OpenCV answers those with an
// empty matrix.
func FindHomography(src, dst [][2]float64) ([9]float64, error) {
	var h [9]float64
	if len(src) != len(dst) || len(src) < 4 {
		return h, errors.New("homography: at least 4 point pairs are needed")
	}
	s := gocv.NewMatWithSize(len(src), 1, gocv.MatTypeCV64FC2)
	defer s.Close()
	d := gocv.NewMatWithSize(len(dst), 1, gocv.MatTypeCV64FC2)
	defer d.Close()
	for i := range src {
		s.SetDoubleAt(i, 0, src[i][0])
		s.SetDoubleAt(i, 1, src[i][1])
		d.SetDoubleAt(i, 0, dst[i][0])
		d.SetDoubleAt(i, 1, dst[i][1])
	}
	mask := gocv.NewMat()
	defer mask.Close()
	m := gocv.FindHomography(s, &d, gocv.HomograpyMethodAllPoints, 3, &mask, 2000, 0.995)
	defer m.Close()
	if m.Empty() || m.Rows() != 3 || m.Cols() != 3 {
		return h, errors.New("homography: OpenCV found none (are the points degenerate?)")
	}
	for r := range 3 {
		for c := range 3 {
			h[r*3+c] = m.GetDoubleAt(r, c)
		}
	}
	for _, v := range h {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return h, fmt.Errorf("homography: not finite: %v", h)
		}
	}
	return h, nil
}
