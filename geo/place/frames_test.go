package place_test

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/vision"
)

var (
	t0   = time.Date(2026, 3, 14, 9, 30, 0, 0, time.UTC)
	site = geo.Site{ID: "hq", Name: "HQ", Lat: siteLat, Lon: siteLon, Elevation: siteElev}
)

// box is a detection whose bottom centre is (u, v).
func box(track uint64, class string, u, v float64) vision.Detection {
	return vision.Detection{Class: class, Confidence: 0.8, TrackID: track, Box: vision.Box{X: u - 40, Y: v - 120, W: 80, H: 120}}
}

func frame(camera string, at time.Time, ds ...vision.Detection) vision.Frame {
	return vision.Frame{Camera: camera, Time: at, Received: at.Add(80 * time.Millisecond), Width: 1920, Height: 1080, Detections: ds}
}

func TestFixedCameraPlacesDetectionsThroughItsControlPoints(t *testing.T) {
	r := newRig(t, place.Config{Sites: []geo.Site{site}})
	v := defaultView()
	r.p.AddCamera("gate", "", place.CameraConfig{ControlPoints: v.points(t, six...)})

	cal := r.p.Calibration("gate")
	rms, _ := cal["rms_m"].(float64)
	if cal["kind"] != "homography" || cal["control_points"] != 6 || cal["error"] != nil || !(rms < 0.01) {
		t.Fatalf("calibration from 6 exact control points: %v", cal)
	}

	person := vision.Detection{Class: "person", Confidence: 0.91, TrackID: 7, Box: vision.Box{X: 860, Y: 700, W: 200, H: 150}} // foot (960, 850)
	car := box(8, "car", 1500, 1000)
	car.Carried = true
	sky := box(9, "bird", 920, 40)  // above the horizon line (v ≈ 94)
	far := box(10, "car", 920, 120) // on the ground, about 690 m away
	f := frame("gate", t0, person, car, sky, far)
	r.p.Frame(f)

	ds := r.feed.detections()
	if len(ds) != 1 {
		t.Fatalf("published %d detections updates, want 1", len(ds))
	}
	d := ds[0]
	if d.Camera != "gate" || !d.Time.Equal(t0) || !d.Received.Equal(f.Received) || d.Width != 1920 || d.Height != 1080 || len(d.Objects) != 4 {
		t.Fatalf("published %+v", d)
	}
	for i, want := range []struct {
		det    vision.Detection
		status geo.Status
		ground [2]float64 // the pixel whose ground point it is, for "ok"
	}{
		{person, geo.StatusOK, [2]float64{960, 850}},
		{car, geo.StatusOK, [2]float64{1500, 1000}},
		{sky, geo.StatusAboveHorizon, [2]float64{}},
		{far, geo.StatusOutside, [2]float64{}},
	} {
		o := d.Objects[i]
		if o.TrackID != want.det.TrackID || o.Class != want.det.Class || o.Confidence != want.det.Confidence || o.Carried != want.det.Carried ||
			o.Box != [4]float64{want.det.Box.X, want.det.Box.Y, want.det.Box.W, want.det.Box.H} {
			t.Errorf("object %d: %+v does not carry detection %+v", i, o, want.det)
		}
		if o.GeoStatus != string(want.status) {
			t.Errorf("object %d (%s): geo_status %q, want %q", i, o.Class, o.GeoStatus, want.status)
			continue
		}
		if want.status != geo.StatusOK {
			if o.Lat != nil || o.Lon != nil || o.Error != 0 {
				t.Errorf("object %d (%s) is %s but placed at %v, %v ± %g", i, o.Class, o.GeoStatus, o.Lat, o.Lon, o.Error)
			}
			continue
		}
		truth := v.at(t, want.ground[0], want.ground[1])
		if m := metres(objPoint(t, o), truth); m > rms+0.05 {
			t.Errorf("object %d (%s) placed %.3f m from where its foot is", i, o.Class, m)
		}
		// The fit's error and half a metre for where the feet are.
		if want := math.Hypot(rms, 0.5); math.Abs(o.Error-want) > 1e-9 {
			t.Errorf("object %d error %g m, want %g", i, o.Error, want)
		}
	}

	w := r.writer.detections()
	if len(w) != 1 || w[0].Camera != "gate" || len(w[0].Objects) != 4 {
		t.Fatalf("the writer got %+v", w)
	}
	for i, o := range w[0].Objects {
		if o.GeoStatus != d.Objects[i].GeoStatus {
			t.Errorf("written object %d: geo_status %q, published %q", i, o.GeoStatus, d.Objects[i].GeoStatus)
		}
	}
	if o := w[0].Objects[0]; o.Lat == nil || o.Lon == nil || *o.Lat != *d.Objects[0].Lat || *o.Lon != *d.Objects[0].Lon {
		t.Errorf("the writer's person has no position or another one: %+v", o)
	}
}

func TestFixedCameraFourControlPointsAreEnough(t *testing.T) {
	r := newRig(t, place.Config{Sites: []geo.Site{site}})
	v := newView(30, -20, 8, 300, -25) // another camera, looking north-west
	r.p.AddCamera("yard", "", place.CameraConfig{ControlPoints: v.points(t, four...)})
	r.p.Frame(frame("yard", t0, box(1, "person", 960, 800)))
	o := r.writer.detections()[0].Objects[0]
	if o.GeoStatus != "ok" {
		t.Fatalf("geo_status %q with 4 control points", o.GeoStatus)
	}
	if m := metres(objPoint(t, o), v.at(t, 960, 800)); m > 0.05 {
		t.Fatalf("placed %.3f m from the truth", m)
	}
}

func TestUncalibratedCameraDetectionsHaveNoPosition(t *testing.T) {
	r := newRig(t, place.Config{Sites: []geo.Site{site}})
	r.p.AddCamera("plain", "", place.CameraConfig{})
	if cal := r.p.Calibration("plain"); cal["kind"] != "none" {
		t.Errorf("calibration of a camera without control points: %v", cal)
	}
	if cal := r.p.Calibration("ghost"); cal != nil {
		t.Errorf("calibration of an unknown camera: %v", cal)
	}
	r.p.Frame(frame("plain", t0, box(1, "person", 960, 800)))
	r.p.Frame(frame("ghost", t0, box(2, "person", 960, 800))) // never added
	ds := r.feed.detections()
	if len(ds) != 2 {
		t.Fatalf("published %d detections updates, want 2", len(ds))
	}
	for _, d := range append(ds, r.writer.detections()...) {
		o := d.Objects[0]
		if o.GeoStatus != string(geo.StatusUncalibrated) || o.Lat != nil || o.Lon != nil {
			t.Errorf("%s: %+v, want uncalibrated without a position", d.Camera, o)
		}
	}
	if fp := r.p.Footprint("plain", 1920, 1080); len(fp) != 0 {
		t.Errorf("an uncalibrated camera has a footprint: %v", fp)
	}
	if len(r.feed.fenceEvents()) != 0 || len(r.writer.written()) != 0 {
		t.Error("unplaced detections raised events")
	}
}

func TestBadControlPointsLeaveTheCameraUnplacedWithTheReason(t *testing.T) {
	v := defaultView()
	collinear := v.points(t, [2]float64{100, 600}, [2]float64{500, 700}, [2]float64{900, 800}, [2]float64{1300, 900})
	repeated := v.points(t, four...)
	repeated[3] = repeated[0]
	failing := func(_, _ [][2]float64) ([9]float64, error) { return [9]float64{}, errors.New("solver gave up") }
	for _, tc := range []struct {
		name  string
		pts   [][4]float64
		solve geo.Solver
		want  string
	}{
		{"three points", v.points(t, four[:3]...), nil, "at least 4"},
		{"on one line", collinear, nil, "one line"},
		{"a point twice", repeated, nil, "the same"},
		{"the solver fails", v.points(t, four...), failing, "solver gave up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, place.Config{Sites: []geo.Site{site}, Solve: tc.solve})
			r.p.AddCamera("bad", "", place.CameraConfig{ControlPoints: tc.pts})
			cal := r.p.Calibration("bad")
			msg, _ := cal["error"].(string)
			if cal["kind"] != "homography" || !strings.Contains(msg, tc.want) || cal["rms_m"] != nil {
				t.Fatalf("calibration %v, want an error about %q", cal, tc.want)
			}
			r.p.Frame(frame("bad", t0, box(1, "person", 960, 800)))
			if o := r.writer.detections()[0].Objects[0]; o.GeoStatus != string(geo.StatusUncalibrated) || o.Lat != nil {
				t.Fatalf("detection of a camera whose calibration failed: %+v", o)
			}
			if !strings.Contains(r.log.String(), "calibration unusable") {
				t.Errorf("nothing logged: %s", r.log.String())
			}
		})
	}
}

func TestFixedCameraFootprintAndGroundZones(t *testing.T) {
	r := newRig(t, place.Config{Sites: []geo.Site{site}})
	v := defaultView()
	r.p.AddCamera("gate", "", place.CameraConfig{ControlPoints: v.points(t, six...)})

	fp := r.p.Footprint("gate", 1920, 1080)
	if len(fp) < 4 || fp[0] != fp[len(fp)-1] {
		t.Fatalf("footprint is not a closed ring: %v", fp)
	}
	ring := make(orb.Ring, len(fp))
	for i, p := range fp {
		ring[i] = orb.Point(p)
	}
	for _, px := range [][2]float64{{960, 850}, {100, 1000}, {1800, 700}} {
		if !planar.RingContains(ring, v.at(t, px[0], px[1])) {
			t.Errorf("the footprint does not cover pixel %v's ground", px)
		}
	}
	if fp := r.p.Footprint("gate", 0, 0); len(fp) != 0 {
		t.Errorf("a fixed camera's footprint without a frame size: %v", fp)
	}

	zones := []vision.Zone{
		{Name: "lane", Polygon: []vision.Point{{X: 600, Y: 700}, {X: 1300, Y: 700}, {X: 1300, Y: 1000}, {X: 600, Y: 1000}}},
		{Name: "sky", Polygon: []vision.Point{{X: 600, Y: 40}, {X: 1300, Y: 40}, {X: 1300, Y: 1000}}},
	}
	gz := r.p.GroundZones("gate", zones, 1920, 1080)
	if len(gz) != 1 || gz[0].Name != "lane" {
		t.Fatalf("ground zones %+v, want the lane alone (the sky zone has a corner above the horizon)", gz)
	}
	if len(gz[0].Ring) != 5 || gz[0].Ring[0] != gz[0].Ring[4] {
		t.Fatalf("lane ring %v is not the 4 corners closed", gz[0].Ring)
	}
	for i, c := range zones[0].Polygon {
		if m := metres(orb.Point(gz[0].Ring[i]), v.at(t, c.X, c.Y)); m > 0.05 {
			t.Errorf("lane corner %d placed %.3f m off", i, m)
		}
	}
	if gz := r.p.GroundZones("ghost", zones, 1920, 1080); len(gz) != 0 {
		t.Errorf("an unknown camera's zones were placed: %+v", gz)
	}
}

// The ground is the camera's site's elevation: the same pixels on a
// camera of a higher site land where that site's ground is.
func TestCameraSiteSetsTheGround(t *testing.T) {
	high := geo.Site{ID: "hill", Lat: siteLat + 0.01, Lon: siteLon, Elevation: 300}
	r := newRig(t, place.Config{Sites: []geo.Site{site, high}})
	r.p.AddCamera("d-hq", "uav", place.CameraConfig{Site: "hq"})
	r.p.AddCamera("d-hill", "uav", place.CameraConfig{Site: "hill"})
	r.p.AddCamera("d-none", "uav", place.CameraConfig{}) // two sites: none chosen, ground at 0 m
	pose := geo.DronePose(siteLat, siteLon, 400, 0, -45, 0)
	for cam, height := range map[string]float64{"d-hq": 400 - siteElev, "d-hill": 100, "d-none": 400} {
		fp := r.p.DroneFootprint(cam, pose, 1920, 1080)
		if len(fp) == 0 {
			t.Fatalf("%s: no footprint", cam)
		}
		// The image's centre looks 45° down: it lands height metres north.
		in, _ := geo.FromFOV(1920, 1080, 84, 0)
		pt, _, st := geo.Projector{In: in, Pose: pose, Ground: 400 - height}.Locate(960, 540)
		if st != geo.StatusOK || math.Abs(metres(pt, orb.Point{siteLon, siteLat})-height) > 0.01 {
			t.Fatalf("test geometry: %v %s", pt, st)
		}
		ring := make(orb.Ring, len(fp))
		for i, p := range fp {
			ring[i] = orb.Point(p)
		}
		near, far := offset(pt, 0, -height/4), offset(pt, 0, height*3)
		if !planar.RingContains(ring, near) || planar.RingContains(ring, far) {
			t.Errorf("%s: the footprint is not that of a camera %g m above its ground", cam, height)
		}
	}
	if fp := r.p.DroneFootprint("ghost", pose, 1920, 1080); fp != nil {
		t.Errorf("an unknown camera's drone footprint: %v", fp)
	}
}
