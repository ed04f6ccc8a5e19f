package place_test

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/telemetry"
)

func TestCameraConfigCheck(t *testing.T) {
	pts := defaultView().points(t, four...)
	for _, tc := range []struct {
		name string
		c    place.CameraConfig
		want string // "" = valid; else part of the problem, under its key
	}{
		{"empty", place.CameraConfig{}, ""},
		{"fov", place.CameraConfig{HFOV: 84, VFOV: 60, K1: -0.1, MaxRange: 800}, ""},
		{"focal", place.CameraConfig{Focal: 8.8, Sensor: [2]float64{13.2, 8.8}}, ""},
		{"control points", place.CameraConfig{ControlPoints: pts}, ""},
		{"not a number", place.CameraConfig{HFOV: math.NaN()}, "geo: every value must be a finite number"},
		{"hfov 180", place.CameraConfig{HFOV: 180}, "geo: hfov/vfov"},
		{"negative range", place.CameraConfig{MaxRange: -1}, "max_range positive"},
		{"focal without a sensor", place.CameraConfig{Focal: 8.8}, "geo.sensor: a focal length"},
		{"distortion", place.CameraConfig{K2: 3}, "geo: k1 and k2"},
		{"three points", place.CameraConfig{ControlPoints: pts[:3]}, "geo.control_points: 3 given"},
		{"an infinite point", place.CameraConfig{ControlPoints: append(pts[:3:3], [4]float64{1, 2, math.Inf(1), 3})}, "geo.control_points: every value"},
	} {
		var p telemetry.Problems
		tc.c.Check(p.In("geo"))
		err := p.Err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.name, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestGeofenceConfig(t *testing.T) {
	ring := [][2]float64{{114.055, 22.54}, {114.056, 22.54}, {114.056, 22.541}, {114.055, 22.54}}
	g := place.Geofence{ID: "yard", Name: "Yard", Site: "hq", Kind: "keep-out", Polygon: ring, Dwell: telemetry.Duration(30 * time.Second), Classes: []string{"person"}}
	var ok telemetry.Problems
	g.Check(&ok)
	if err := ok.Err(); err != nil {
		t.Fatalf("valid geofence: %v", err)
	}
	f := g.Fence()
	if f.ID != "yard" || f.Name != "Yard" || f.Site != "hq" || f.Kind != geo.KeepOut || f.Dwell != 30*time.Second || len(f.Classes) != 1 || len(f.Polygon) != 1 || len(f.Polygon[0]) != 4 {
		t.Fatalf("Fence() = %+v", f)
	}
	if err := f.Validate(); err != nil {
		t.Fatalf("the fence of a valid geofence is invalid: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*place.Geofence)
		want string
	}{
		{"kind", func(g *place.Geofence) { g.Kind = "maybe" }, `fences[0].kind: "maybe" is not one of`},
		{"open", func(g *place.Geofence) { g.Polygon = ring[:3] }, "fences[0].polygon: a closed ring"},
		{"not a number", func(g *place.Geofence) { g.Polygon = [][2]float64{{math.NaN(), 1}, {2, 2}, {3, 1}, {math.NaN(), 1}} }, "fences[0].polygon: positions must be finite"},
		{"dwell", func(g *place.Geofence) { g.Dwell = -1 }, "fences[0].dwell: must not be negative"},
	} {
		bad := g
		tc.edit(&bad)
		var p telemetry.Problems
		bad.Check(p.In("fences").In("[0]"))
		if err := p.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}
