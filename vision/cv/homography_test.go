package cv_test

import (
	"math"
	"strings"
	"testing"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/vision/cv"
)

// A fixed camera 12 m up a pole, looking 15° down at a plaza: control
// points made with the exact camera model, the homography fitted by
// OpenCV, and other ground points placed back within centimetres.
func TestHomographyRoundTrip(t *testing.T) {
	in, err := geo.FromFOV(1280, 720, 70, 0)
	if err != nil {
		t.Fatal(err)
	}
	pr := geo.Projector{In: in, Pose: geo.Pose{Lat: 22.54, Lon: 114.055, AltMSL: 12, Heading: 120, Pitch: -15}}
	pixels := [][2]float64{{100, 400}, {1180, 420}, {1100, 700}, {200, 690}, {640, 500}, {900, 600}}
	var pts []geo.ControlPoint
	for _, px := range pixels {
		g, _, st := pr.Locate(px[0], px[1])
		if st != geo.StatusOK {
			t.Fatal(st)
		}
		pts = append(pts, geo.ControlPoint{U: px[0], V: px[1], Lat: g[1], Lon: g[0]})
	}
	h, err := geo.Calibrate(pts, cv.FindHomography)
	if err != nil {
		t.Fatal(err)
	}
	if h.RMS > 0.01 || h.Max > 0.02 {
		t.Fatalf("reprojection RMS %.3f m, max %.3f m", h.RMS, h.Max)
	}
	worst := 0.0
	for u := 0.0; u <= 1280; u += 160 {
		for v := 380.0; v <= 720; v += 85 {
			want, _, st := pr.Locate(u, v)
			if st != geo.StatusOK {
				continue
			}
			got, st := h.Locate(u, v, 0)
			if st != geo.StatusOK {
				t.Fatalf("(%v, %v): %s", u, v, st)
			}
			worst = math.Max(worst, geo.Distance(want[1], want[0], got[1], got[0]))
			if pu, pv, ok := h.Pixel(got); !ok || math.Hypot(pu-u, pv-v) > 0.01 {
				t.Fatalf("(%v, %v) → ground → (%v, %v)", u, v, pu, pv)
			}
		}
	}
	if worst > 0.05 {
		t.Fatalf("worst error %.3f m", worst)
	}
	// The sky above the horizon line (15° down, 21.5° half vertical fov:
	// the top rows look up) is never placed.
	if _, st := h.Locate(640, 0, 0); st != geo.StatusAboveHorizon {
		t.Fatalf("sky pixel: %s", st)
	}
	if fp := h.Footprint(1280, 720, 500); len(fp) < 4 {
		t.Fatalf("footprint %v", fp)
	}

	// A surveyor's error of 0.5 m on one point shows in the report.
	pts[4].Lat += 0.5 / 110_800
	noisy, err := geo.Calibrate(pts, cv.FindHomography)
	if err != nil {
		t.Fatal(err)
	}
	if noisy.RMS < 0.05 || noisy.Max < 0.1 {
		t.Fatalf("a 0.5 m error left RMS %.3f, max %.3f", noisy.RMS, noisy.Max)
	}
	t.Logf("with one point 0.5 m off: RMS %.2f m, max %.2f m", noisy.RMS, noisy.Max)
}

func TestDegenerateControlPoints(t *testing.T) {
	base := []geo.ControlPoint{{U: 0, V: 0, Lat: 22.54, Lon: 114.05}, {U: 100, V: 0, Lat: 22.54, Lon: 114.051}, {U: 100, V: 100, Lat: 22.541, Lon: 114.051}, {U: 0, V: 100, Lat: 22.541, Lon: 114.05}}
	if _, err := geo.Calibrate(base, cv.FindHomography); err != nil {
		t.Fatalf("a good square: %v", err)
	}
	for _, tc := range []struct {
		name string
		pts  []geo.ControlPoint
		want string
	}{
		{"three", base[:3], "at least 4"},
		{"same pixel", []geo.ControlPoint{base[0], base[1], base[2], {U: 0, V: 0, Lat: 22.5405, Lon: 114.0505}}, "same pixels"},
		{"same place", []geo.ControlPoint{base[0], base[1], base[2], {U: 50, V: 70, Lat: 22.54, Lon: 114.05}}, "same ground points"},
		{"pixels on a line", []geo.ControlPoint{{U: 0, V: 0, Lat: 22.54, Lon: 114.05}, {U: 100, V: 100, Lat: 22.54, Lon: 114.051}, {U: 200, V: 200, Lat: 22.541, Lon: 114.051}, {U: 300, V: 300, Lat: 22.541, Lon: 114.05}}, "pixels lie on one line"},
		{"ground on a line", []geo.ControlPoint{{U: 0, V: 0, Lat: 22.540, Lon: 114.05}, {U: 100, V: 0, Lat: 22.541, Lon: 114.05}, {U: 100, V: 100, Lat: 22.542, Lon: 114.05}, {U: 0, V: 100, Lat: 22.543, Lon: 114.05}}, "ground points lie on one line"},
		{"not a position", []geo.ControlPoint{base[0], base[1], base[2], {U: 5, V: 5, Lat: 95, Lon: 0}}, "WGS 84"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := geo.Calibrate(tc.pts, cv.FindHomography)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

// Four control points along one kerb and one elsewhere: five points, but
// no four in general position.
func TestKerbPlusOneRejected(t *testing.T) {
	pts := []geo.ControlPoint{
		{U: 0, V: 500, Lat: 22.5400, Lon: 114.0500}, {U: 200, V: 500, Lat: 22.5400, Lon: 114.0502}, {U: 400, V: 500, Lat: 22.5400, Lon: 114.0504},
		{U: 600, V: 500, Lat: 22.5400, Lon: 114.0506}, {U: 300, V: 300, Lat: 22.5403, Lon: 114.0503},
	}
	if _, err := geo.Calibrate(pts, cv.FindHomography); err == nil || !strings.Contains(err.Error(), "lie on one line") {
		t.Fatalf("%v", err)
	}
}
