package geo

import (
	"errors"
	"fmt"
	"math"

	"github.com/paulmach/orb"
)

// ControlPoint ties a pixel of a fixed camera's image to the ground point
// it shows.
type ControlPoint struct {
	U   float64 `json:"u"` // pixels
	V   float64 `json:"v"`
	Lat float64 `json:"lat"` // degrees
	Lon float64 `json:"lon"`
}

// MaxControlPoints bounds a calibration.
const MaxControlPoints = 50

// CheckControlPoints rejects sets a homography cannot be fitted to: fewer
// than four points, repeated pixels or ground points, and sets whose
// pixels or ground points all lie on one line (no three of four may be
// collinear for four points; for more, the set must span an area).
func CheckControlPoints(pts []ControlPoint) error {
	if len(pts) < 4 {
		return fmt.Errorf("calibration: %d control points; at least 4 are needed", len(pts))
	}
	if len(pts) > MaxControlPoints {
		return fmt.Errorf("calibration: %d control points; at most %d", len(pts), MaxControlPoints)
	}
	l := NewLocal(pts[0].Lat, pts[0].Lon)
	px := make([][2]float64, len(pts))
	gr := make([][2]float64, len(pts))
	for i, p := range pts {
		if !Finite(p.U, p.V, p.Lat, p.Lon) || p.Lat < -90 || p.Lat > 90 || p.Lon < -180 || p.Lon > 180 {
			return fmt.Errorf("calibration: control point %d is not a pixel and a WGS 84 position", i+1)
		}
		px[i] = [2]float64{p.U, p.V}
		e, n := l.ToENU(p.Lat, p.Lon)
		gr[i] = [2]float64{e, n}
	}
	for _, set := range []struct {
		name  string
		pts   [][2]float64
		scale float64 // what counts as "the same place": pixels or metres
	}{{"pixels", px, 1}, {"ground points", gr, 0.05}} {
		for i := range set.pts {
			for j := i + 1; j < len(set.pts); j++ {
				if math.Hypot(set.pts[i][0]-set.pts[j][0], set.pts[i][1]-set.pts[j][1]) < set.scale {
					return fmt.Errorf("calibration: control points %d and %d have the same %s", i+1, j+1, set.name)
				}
			}
		}
		if collinear(set.pts, len(pts) == 4) {
			return fmt.Errorf("calibration: the control points' %s lie on one line; spread them over the scene", set.name)
		}
	}
	return nil
}

// collinear reports whether the points cannot carry a homography: with
// strict (four points), whether any three are (nearly) on a line; else
// whether no four of them are in general position.
func collinear(p [][2]float64, strict bool) bool {
	area := func(a, b, c [2]float64) float64 {
		return math.Abs((b[0]-a[0])*(c[1]-a[1])-(b[1]-a[1])*(c[0]-a[0])) / 2
	}
	size := 0.0
	for i := range p {
		for j := range p {
			size = math.Max(size, math.Hypot(p[i][0]-p[j][0], p[i][1]-p[j][1]))
		}
	}
	tol := 1e-3 * size * size // a triangle thinner than 0.1 % of the spread
	thin := func(a, b, c int) bool { return area(p[a], p[b], p[c]) < tol }
	if strict {
		for i := range p {
			for j := i + 1; j < len(p); j++ {
				for k := j + 1; k < len(p); k++ {
					if thin(i, j, k) {
						return true
					}
				}
			}
		}
		return false
	}
	// More points: a homography needs four of them in general position
	// (no three on a line); points along one kerb plus one elsewhere are
	// not enough, however many.
	for i := range p {
		for j := i + 1; j < len(p); j++ {
			for k := j + 1; k < len(p); k++ {
				if thin(i, j, k) {
					continue
				}
				for l := k + 1; l < len(p); l++ {
					if !thin(i, j, l) && !thin(i, k, l) && !thin(j, k, l) {
						return false
					}
				}
			}
		}
	}
	return true
}

// Finite reports whether every x is a number, neither NaN nor infinite.
func Finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// Homography maps a fixed camera's pixels to the ground plane: H (row
// major) takes (u, v, 1) to east and north metres around Origin.
type Homography struct {
	Origin Local
	H      [9]float64
	inv    [9]float64
	side   float64 // the sign of the projective denominator on the ground side
	// RMS and Max are the reprojection errors over the control points,
	// metres on the ground.
	RMS, Max float64
	// Errors are each control point's, metres.
	Errors []float64
}

// Solver fits a homography from src to dst points (vision/cv's
// FindHomography, which is OpenCV's).
type Solver func(src, dst [][2]float64) ([9]float64, error)

// Calibrate fits a fixed camera's homography from control points with
// solve and reports how well it reproduces them.
func Calibrate(pts []ControlPoint, solve Solver) (*Homography, error) {
	if err := CheckControlPoints(pts); err != nil {
		return nil, err
	}
	var lat, lon float64
	for _, p := range pts {
		lat += p.Lat / float64(len(pts))
		lon += p.Lon / float64(len(pts))
	}
	h := &Homography{Origin: NewLocal(lat, lon)}
	src := make([][2]float64, len(pts))
	dst := make([][2]float64, len(pts))
	for i, p := range pts {
		src[i] = [2]float64{p.U, p.V}
		e, n := h.Origin.ToENU(p.Lat, p.Lon)
		dst[i] = [2]float64{e, n}
	}
	m, err := solve(src, dst)
	if err != nil {
		return nil, fmt.Errorf("calibration: %w", err)
	}
	var cu, cv float64
	for _, p := range src {
		cu += p[0] / float64(len(src))
		cv += p[1] / float64(len(src))
	}
	if err := h.set(m, cu, cv); err != nil {
		return nil, err
	}
	var sum float64
	for i := range pts {
		e, n, ok := h.toENU(src[i][0], src[i][1])
		d := math.Inf(1)
		if ok {
			d = math.Hypot(e-dst[i][0], n-dst[i][1])
		}
		h.Errors = append(h.Errors, d)
		sum += d * d
		h.Max = math.Max(h.Max, d)
	}
	h.RMS = math.Sqrt(sum / float64(len(pts)))
	if math.IsInf(h.RMS, 0) {
		return nil, errors.New("calibration: the fitted homography sends control points to infinity")
	}
	return h, nil
}

// NewHomography uses a known matrix (from a stored calibration); (u, v)
// is a pixel known to show the ground (e.g. a control point's).
func NewHomography(origin Local, m [9]float64, u, v float64) (*Homography, error) {
	h := &Homography{Origin: origin}
	return h, h.set(m, u, v)
}

func (h *Homography) set(m [9]float64, u, v float64) error {
	h.side = math.Copysign(1, m[6]*u+m[7]*v+m[8])
	det := m[0]*(m[4]*m[8]-m[5]*m[7]) - m[1]*(m[3]*m[8]-m[5]*m[6]) + m[2]*(m[3]*m[7]-m[4]*m[6])
	if !Finite(m[:]...) || math.Abs(det) < 1e-15 {
		return errors.New("calibration: the homography is singular")
	}
	h.H = m
	h.inv = [9]float64{
		(m[4]*m[8] - m[5]*m[7]) / det, (m[2]*m[7] - m[1]*m[8]) / det, (m[1]*m[5] - m[2]*m[4]) / det,
		(m[5]*m[6] - m[3]*m[8]) / det, (m[0]*m[8] - m[2]*m[6]) / det, (m[2]*m[3] - m[0]*m[5]) / det,
		(m[3]*m[7] - m[4]*m[6]) / det, (m[1]*m[6] - m[0]*m[7]) / det, (m[0]*m[4] - m[1]*m[3]) / det,
	}
	return nil
}

// toENU applies H; ok is false for pixels on or beyond the horizon line
// (the projective denominator changes sign there).
func (h *Homography) toENU(u, v float64) (e, n float64, ok bool) {
	m := h.H
	w := m[6]*u + m[7]*v + m[8]
	// Pixels whose denominator has the sign it has at the control points
	// are on the ground side of the horizon line.
	if w == 0 || math.Signbit(w) != math.Signbit(h.side) {
		return 0, 0, false
	}
	return (m[0]*u + m[1]*v + m[2]) / w, (m[3]*u + m[4]*v + m[5]) / w, true
}

// Locate places a pixel on the ground: StatusAboveHorizon for pixels on
// the sky side of the horizon line, StatusOutside beyond maxRange metres
// from the calibrated area's centre.
func (h *Homography) Locate(u, v, maxRange float64) (orb.Point, Status) {
	e, n, ok := h.toENU(u, v)
	if !ok {
		return orb.Point{}, StatusAboveHorizon
	}
	if maxRange > 0 && math.Hypot(e, n) > maxRange {
		return orb.Point{}, StatusOutside
	}
	return h.Origin.Point(e, n), StatusOK
}

// Pixel is where a ground point appears in the image.
func (h *Homography) Pixel(pt orb.Point) (u, v float64, ok bool) {
	e, n := h.Origin.ToENU(pt[1], pt[0])
	m := h.inv
	w := m[6]*e + m[7]*n + m[8]
	if math.Abs(w) < 1e-12 {
		return 0, 0, false
	}
	return (m[0]*e + m[1]*n + m[2]) / w, (m[3]*e + m[4]*n + m[5]) / w, true
}

// Footprint is the image's outline on the ground (width × height pixels),
// cut at maxRange metres; nil when nothing of it lies on the ground.
func (h *Homography) Footprint(width, height int, maxRange float64) orb.Ring {
	W, H := float64(width), float64(height)
	corners := [][2]float64{{0, 0}, {W, 0}, {W, H}, {0, H}}
	var ring orb.Ring
	const perEdge = 16
	for i := range corners {
		a, b := corners[i], corners[(i+1)%4]
		for k := range perEdge {
			s := float64(k) / perEdge
			u, v := a[0]+(b[0]-a[0])*s, a[1]+(b[1]-a[1])*s
			if pt, st := h.Locate(u, v, maxRange); st == StatusOK {
				ring = append(ring, pt)
			}
		}
	}
	if len(ring) < 3 {
		return nil
	}
	return append(ring, ring[0])
}
