package geo

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// The demo site: Futian CBD, Shenzhen.
const siteLat, siteLon = 22.5400, 114.0550

func cam(t *testing.T) Intrinsics {
	t.Helper()
	in, err := FromFOV(1920, 1080, 84, 0) // a typical drone camera
	if err != nil {
		t.Fatal(err)
	}
	return in
}

func TestLocalRoundTrip(t *testing.T) {
	l := NewLocal(siteLat, siteLon)
	for _, p := range [][2]float64{{0, 0}, {1000, -2500}, {-4000, 3000}} {
		lat, lon := l.FromENU(p[0], p[1])
		e, n := l.ToENU(lat, lon)
		if math.Abs(e-p[0]) > 1e-6 || math.Abs(n-p[1]) > 1e-6 {
			t.Fatalf("%v → %v, %v", p, e, n)
		}
	}
	// One degree of latitude is about 110.8 km here; of longitude 102.8 km.
	if d := Distance(22, 114, 23, 114); math.Abs(d-110_800) > 500 {
		t.Fatalf("1° of latitude = %.0f m", d)
	}
}

func TestIntrinsics(t *testing.T) {
	in := cam(t)
	if math.Abs(in.HFOV()-84) > 1e-9 || in.Validate() != nil {
		t.Fatal(in)
	}
	f, err := FromFocal(4000, 3000, 8.8, 13.2, 8.8) // a 1" sensor, 8.8 mm lens
	if err != nil || math.Abs(f.HFOV()-73.7) > 0.1 {
		t.Fatalf("%v %v (hfov %.1f)", f, err, f.HFOV())
	}
	for _, bad := range []func() (Intrinsics, error){
		func() (Intrinsics, error) { return FromFOV(0, 10, 60, 0) },
		func() (Intrinsics, error) { return FromFOV(10, 10, 180, 0) },
		func() (Intrinsics, error) { return FromFocal(10, 10, 0, 1, 1) },
	} {
		if _, err := bad(); err == nil {
			t.Error("accepted")
		}
	}
	// Distortion: a pixel's ray projects back to the same pixel.
	in.K1, in.K2 = -0.12, 0.03
	for _, px := range [][2]float64{{0, 0}, {1919, 1079}, {300, 900}, {960, 540}} {
		u, v, ok := in.Pixel(in.Ray(px[0], px[1]))
		if !ok || math.Abs(u-px[0]) > 1e-3 || math.Abs(v-px[1]) > 1e-3 {
			t.Fatalf("%v → %v %v", px, u, v)
		}
	}
}

// Synthetic ground truth looking straight down from 100 m: ground points
// go to pixels with the known pose and come back to within 0.5 m.
func TestNadirRoundTrip(t *testing.T) {
	in := cam(t)
	in.K1, in.K2 = -0.1, 0.02 // and through a distorting lens
	pr := Projector{In: in, Pose: DronePose(siteLat, siteLon, 150, 37, -90, 0), Ground: 50}
	l := NewLocal(siteLat, siteLon)
	worst := 0.0
	for e := -60.0; e <= 60; e += 15 {
		for n := -40.0; n <= 40; n += 10 {
			truth := l.Point(e, n)
			u, v, ok := pr.Pixel(truth)
			if !ok {
				t.Fatalf("(%v, %v) behind the camera", e, n)
			}
			got, sigma, st := pr.Locate(u, v)
			if st != StatusOK {
				t.Fatalf("(%v, %v) → pixel (%.0f, %.0f): %s", e, n, u, v, st)
			}
			err := Distance(truth[1], truth[0], got[1], got[0])
			worst = max(worst, err)
			if sigma != 0 {
				t.Fatalf("perfect pose, sigma %v", sigma)
			}
		}
	}
	if worst > 0.5 {
		t.Fatalf("worst round-trip error %.3f m", worst)
	}
	t.Logf("worst round-trip error at 100 m, nadir: %.2g m", worst)
}

// At oblique gimbal angles the Monte Carlo error of the projection under
// pose noise matches the projector's own estimate.
func TestObliqueErrorMatchesEstimate(t *testing.T) {
	in := cam(t)
	const h, sPos, sAlt, sAng = 100.0, 1.5, 2.0, 1.0
	rng := rand.New(rand.NewPCG(1, 2))
	t.Logf("%-16s %10s %12s %12s %6s", "from nadir", "range (m)", "estimate (m)", "measured (m)", "ratio")
	for _, fromNadir := range []float64{0, 30, 45, 60} {
		pose := DronePose(siteLat, siteLon, h, 0, fromNadir-90, 0)
		pose.SigmaPos, pose.SigmaAlt, pose.SigmaAngle = sPos, sAlt, sAng
		pr := Projector{In: in, Pose: pose}
		u, v := float64(in.Width)/2, float64(in.Height)/2
		truth, est, st := pr.Locate(u, v)
		if st != StatusOK {
			t.Fatal(st)
		}
		var sum float64
		const n = 4000
		l := NewLocal(siteLat, siteLon)
		for range n {
			p := pose
			e0, n0 := rng.NormFloat64()*sPos/math.Sqrt2, rng.NormFloat64()*sPos/math.Sqrt2
			p.Lat, p.Lon = l.FromENU(e0, n0)
			p.AltMSL += rng.NormFloat64() * sAlt
			p.Heading += rng.NormFloat64() * sAng
			p.Pitch += rng.NormFloat64() * sAng
			p.Roll += rng.NormFloat64() * sAng
			got, _, st := Projector{In: in, Pose: p}.Locate(u, v)
			if st != StatusOK {
				continue
			}
			d := Distance(truth[1], truth[0], got[1], got[0])
			sum += d * d
		}
		measured := math.Sqrt(sum / n)
		rangeM := h * math.Tan(rad(fromNadir))
		t.Logf("%-16s %10.1f %12.2f %12.2f %6.2f", formatDeg(fromNadir), rangeM, est, measured, est/measured)
		if r := est / measured; r < 0.7 || r > 1.4 {
			t.Errorf("%g° from nadir: estimate %.2f m, measured %.2f m", fromNadir, est, measured)
		}
	}
}

func formatDeg(d float64) string {
	return string(rune('0'+int(d)/10)) + string(rune('0'+int(d)%10)) + "°"
}

// A camera looking above the horizon places nothing and draws no
// footprint: never a wrong point.
func TestAboveHorizon(t *testing.T) {
	in := cam(t)
	up := Projector{In: in, Pose: DronePose(siteLat, siteLon, 100, 0, 40, 0)} // 40° up, 47° vertical fov
	if fp := up.Footprint(); fp != nil {
		t.Fatalf("footprint %v", fp)
	}
	for _, px := range [][2]float64{{0, 0}, {960, 540}, {1919, 1079}} {
		if _, _, st := up.Locate(px[0], px[1]); st != StatusAboveHorizon {
			t.Fatalf("%v: %s", px, st)
		}
	}
	// Level: the top half is sky, the bottom half ground; far rays are
	// outside the footprint.
	level := Projector{In: in, Pose: DronePose(siteLat, siteLon, 100, 0, 0, 0), MaxRange: 500}
	if _, _, st := level.Locate(960, 100); st != StatusAboveHorizon {
		t.Fatal(st)
	}
	if _, _, st := level.Locate(960, 600); st != StatusOutside { // 1.8° down: 3 km away
		t.Fatal(st)
	}
	if _, _, st := level.Locate(960, 1079); st != StatusOK {
		t.Fatal(st)
	}
	fp := level.Footprint()
	if len(fp) < 4 {
		t.Fatalf("level camera footprint %v", fp)
	}
	l := NewLocal(siteLat, siteLon)
	for _, p := range fp {
		e, n := l.ToENU(p[1], p[0])
		if math.Hypot(e, n) > 500+1 || n < 0 {
			t.Fatalf("footprint point (%.0f, %.0f) beyond the range or behind", e, n)
		}
	}
	// Below the ground: nothing.
	if _, _, st := (Projector{In: in, Pose: DronePose(siteLat, siteLon, 10, 0, -90, 0), Ground: 20}).Locate(960, 540); st != StatusAboveHorizon {
		t.Fatal(st)
	}
}

func TestNadirFootprint(t *testing.T) {
	in := cam(t)
	pr := Projector{In: in, Pose: DronePose(siteLat, siteLon, 100, 0, -90, 0)}
	fp := pr.Footprint()
	if len(fp) < 5 || fp[0] != fp[len(fp)-1] {
		t.Fatalf("footprint %v", fp)
	}
	// 2·h·tan(42°) × the same scaled by 1080/1920.
	w := 2 * 100 * math.Tan(rad(42))
	want := w * w * 1080 / 1920
	l := NewLocal(siteLat, siteLon)
	var local orb.Ring
	for _, p := range fp {
		e, n := l.ToENU(p[1], p[0])
		local = append(local, orb.Point{e, n})
	}
	if a := math.Abs(planar.Area(orb.Polygon{local})); math.Abs(a-want)/want > 0.01 {
		t.Fatalf("area %.0f m², want %.0f", a, want)
	}
}

func BenchmarkLocate(b *testing.B) {
	in, _ := FromFOV(1920, 1080, 84, 0)
	in.K1 = -0.1
	pr := Projector{In: in, Pose: Pose{Lat: siteLat, Lon: siteLon, AltMSL: 100, Heading: 30, Pitch: -50, SigmaAngle: 1}}
	for i := 0; b.Loop(); i++ {
		pr.Locate(float64(i%1920), float64(i%1080))
	}
}

// Absolute geometry, independent of Pixel: where known pixels must land.
func TestKnownDirections(t *testing.T) {
	in := cam(t)
	l := NewLocal(siteLat, siteLon)
	at := func(p Pose, u, v float64) (e, n float64) {
		t.Helper()
		pt, _, st := Projector{In: in, Pose: p}.Locate(u, v)
		if st != StatusOK {
			t.Fatalf("%+v (%v, %v): %s", p, u, v, st)
		}
		return l.ToENU(pt[1], pt[0])
	}
	near := func(what string, e, n, we, wn float64) {
		t.Helper()
		if math.Hypot(e-we, n-wn) > 0.01 {
			t.Fatalf("%s: (%.2f, %.2f), want (%.2f, %.2f)", what, e, n, we, wn)
		}
	}
	// 45° down, facing north, from 100 m: the centre is 100 m north.
	e, n := at(DronePose(siteLat, siteLon, 100, 0, -45, 0), 960, 540)
	near("north, 45° down", e, n, 0, 100)
	// Facing east (vehicle north, gimbal yawed 90° right): 100 m east.
	e, n = at(DronePose(siteLat, siteLon, 100, 0, -45, 90), 960, 540)
	near("east, 45° down", e, n, 100, 0)
	// Nadir, facing north: the image's top edge is north, its right edge east.
	_, n = at(DronePose(siteLat, siteLon, 100, 0, -90, 0), 960, 0)
	e, _ = at(DronePose(siteLat, siteLon, 100, 0, -90, 0), 1919, 540)
	if n <= 0 || e <= 0 {
		t.Fatalf("nadir: top edge %.1f m north, right edge %.1f m east", n, e)
	}
	// Rolled 90° (clockwise as the camera sees it): the image's top edge
	// turns to the right of the view... at nadir facing north it is east.
	e, n = at(Pose{Lat: siteLat, Lon: siteLon, AltMSL: 100, Heading: 0, Pitch: -90, Roll: 90}, 960, 0)
	if math.Abs(n) > 0.01 || math.Abs(e) < 1 {
		t.Fatalf("rolled: top edge at (%.2f, %.2f)", e, n)
	}
}
