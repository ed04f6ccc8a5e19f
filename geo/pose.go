package geo

import (
	"math"

	"github.com/paulmach/orb"
)

// Status says whether a pixel could be placed on the ground, and if not, why.
type Status string

// Ground projection outcomes (stored in detections.geo_status).
const (
	StatusOK           Status = "ok"
	StatusAboveHorizon Status = "above_horizon"     // the ray never meets the ground
	StatusOutside      Status = "outside_footprint" // it meets it beyond the camera's useful range
	StatusUncalibrated Status = "uncalibrated"      // no pose or calibration for the camera
)

// Pose is where a camera is and where it looks, with its uncertainty.
// Angles in degrees: Heading of the optical axis (0 = north, clockwise),
// Pitch (0 = level, negative = looking down), Roll about the optical axis
// (positive turns the image clockwise as seen by the camera).
type Pose struct {
	Lat, Lon float64
	AltMSL   float64 // metres
	Heading  float64
	Pitch    float64
	Roll     float64

	// One-sigma uncertainties: horizontal position (GPS eph), altitude,
	// and each angle (attitude and gimbal). Zero is taken as perfect.
	SigmaPos, SigmaAlt, SigmaAngle float64
}

// DronePose is the pose of a camera on a gimbal that is stabilised in
// pitch and roll (as drone gimbals are): the vehicle's position and
// heading, the gimbal's pitch (down negative) and yaw relative to the
// vehicle's heading.
func DronePose(lat, lon, altMSL, vehicleHeading, gimbalPitch, gimbalYaw float64) Pose {
	return Pose{Lat: lat, Lon: lon, AltMSL: altMSL, Heading: math.Mod(vehicleHeading+gimbalYaw+360, 360), Pitch: gimbalPitch}
}

// axes are the camera's x (right), y (down) and z (forward) in ENU.
func (p Pose) axes() (r, d, f [3]float64) {
	h, pt, ro := rad(p.Heading), rad(p.Pitch), rad(p.Roll)
	f = [3]float64{math.Sin(h) * math.Cos(pt), math.Cos(h) * math.Cos(pt), math.Sin(pt)}
	r0 := [3]float64{math.Cos(h), -math.Sin(h), 0}
	d0 := cross(f, r0)
	cr, sr := math.Cos(ro), math.Sin(ro)
	for i := range 3 {
		r[i] = r0[i]*cr + d0[i]*sr
		d[i] = d0[i]*cr - r0[i]*sr
	}
	return r, d, f
}

func cross(a, b [3]float64) [3]float64 {
	return [3]float64{a[1]*b[2] - a[2]*b[1], a[2]*b[0] - a[0]*b[2], a[0]*b[1] - a[1]*b[0]}
}

// toWorld turns a camera-frame direction into ENU.
func (p Pose) toWorld(c [3]float64) [3]float64 {
	r, d, f := p.axes()
	var w [3]float64
	for i := range 3 {
		w[i] = c[0]*r[i] + c[1]*d[i] + c[2]*f[i]
	}
	return w
}

// toCamera turns an ENU direction into the camera frame.
func (p Pose) toCamera(w [3]float64) [3]float64 {
	r, d, f := p.axes()
	dot := func(a [3]float64) float64 { return a[0]*w[0] + a[1]*w[1] + a[2]*w[2] }
	return [3]float64{dot(r), dot(d), dot(f)}
}

// Projector places pixels of one camera on flat ground.
type Projector struct {
	In   Intrinsics
	Pose Pose
	// Ground is the ground's elevation above mean sea level, metres.
	Ground float64
	// MaxRange is the farthest ground point worth placing, metres; rays
	// meeting the ground farther away (grazing the horizon) are outside
	// the footprint. It defaults to 2000.
	MaxRange float64
}

func (pr Projector) maxRange() float64 {
	if pr.MaxRange > 0 {
		return pr.MaxRange
	}
	return 2000
}

// Height is the camera's height above the ground.
func (pr Projector) Height() float64 { return pr.Pose.AltMSL - pr.Ground }

// Ground is where the pixel's ray meets the ground: its position, a
// one-sigma horizontal error in metres from the pose's uncertainty, and
// the outcome.
func (pr Projector) Locate(u, v float64) (pt orb.Point, sigma float64, st Status) {
	h := pr.Height()
	if h <= 0 {
		return orb.Point{}, 0, StatusAboveHorizon // at or below the ground: no downward view
	}
	w := pr.Pose.toWorld(pr.In.Ray(u, v))
	norm := math.Sqrt(w[0]*w[0] + w[1]*w[1] + w[2]*w[2])
	if w[2] >= -1e-9*norm {
		return orb.Point{}, 0, StatusAboveHorizon
	}
	t := h / -w[2]
	e, n := t*w[0], t*w[1]
	rng := math.Hypot(e, n)
	if rng > pr.maxRange() {
		return orb.Point{}, 0, StatusOutside
	}
	return NewLocal(pr.Pose.Lat, pr.Pose.Lon).Point(e, n), pr.errorAt(h, rng), StatusOK
}

// errorAt is the one-sigma horizontal error of a ground point at
// horizontal range rng seen from height h. With θ the ray's depression
// angle: an angle error σa moves the point along the range by
// h·σa/sin²θ and across it by slant·σa; an altitude error σh by σh/tanθ
// along it; the camera's own position error adds as it is.
func (pr Projector) errorAt(h, rng float64) float64 {
	p := pr.Pose
	sa := rad(p.SigmaAngle)
	slant := math.Hypot(h, rng)
	sin := h / slant
	tan := h / math.Max(rng, 1e-9)
	along := h * sa / (sin * sin)
	alongAlt := p.SigmaAlt / tan
	if rng < 1e-9 {
		alongAlt = 0
	}
	across := slant * sa
	return math.Sqrt(along*along + alongAlt*alongAlt + across*across + p.SigmaPos*p.SigmaPos)
}

// Pixel is where a ground point appears in the image; ok is false when it
// is behind the camera.
func (pr Projector) Pixel(pt orb.Point) (u, v float64, ok bool) {
	e, n := NewLocal(pr.Pose.Lat, pr.Pose.Lon).ToENU(pt[1], pt[0])
	return pr.In.Pixel(pr.Pose.toCamera([3]float64{e, n, -pr.Height()}))
}

// Footprint is the image's outline on the ground: the four corners, cut
// where the rays pass the camera's useful range (the horizon side), as a
// closed ring; empty when the camera sees no ground at all.
func (pr Projector) Footprint() orb.Ring {
	h := pr.Height()
	if h <= 0 {
		return nil
	}
	W, H := float64(pr.In.Width), float64(pr.In.Height)
	// Walk the image border finely enough to follow lens distortion and
	// the horizon cut; keep the points that land on usable ground.
	const perEdge = 16
	corners := [][2]float64{{0, 0}, {W, 0}, {W, H}, {0, H}}
	local := NewLocal(pr.Pose.Lat, pr.Pose.Lon)
	limit := pr.maxRange()
	var ring orb.Ring
	add := func(u, v float64) {
		w := pr.Pose.toWorld(pr.In.Ray(u, v))
		horiz := math.Hypot(w[0], w[1])
		if w[2] >= 0 || horiz*h > -w[2]*limit {
			// Beyond the range: clamp the ray to the range limit, so the
			// far edge follows the cut instead of running to infinity;
			// rays with no horizontal part (straight up) are skipped.
			if horiz < 1e-12 {
				return
			}
			ring = append(ring, local.Point(w[0]/horiz*limit, w[1]/horiz*limit))
			return
		}
		t := h / -w[2]
		ring = append(ring, local.Point(t*w[0], t*w[1]))
	}
	for i := range corners {
		a, b := corners[i], corners[(i+1)%len(corners)]
		for k := range perEdge {
			s := float64(k) / perEdge
			add(a[0]+(b[0]-a[0])*s, a[1]+(b[1]-a[1])*s)
		}
	}
	// No ground at all when every border ray went past the horizon and
	// the optical axis does too.
	if w := pr.Pose.toWorld([3]float64{0, 0, 1}); w[2] >= 0 {
		sees := false
		for i := range corners {
			if ww := pr.Pose.toWorld(pr.In.Ray(corners[i][0], corners[i][1])); ww[2] < 0 {
				sees = true
			}
		}
		if !sees {
			return nil
		}
	}
	if len(ring) < 3 {
		return nil
	}
	ring = append(ring, ring[0])
	return ring
}
