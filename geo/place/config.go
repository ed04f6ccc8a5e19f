package place

import (
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
)

// CameraConfig places a camera's image on the ground (a camera's `geo`
// settings).
type CameraConfig struct {
	// Site is where the camera is; its elevation is the ground.
	Site string `yaml:"site"`
	// HFOV and VFOV are the fields of view in degrees (VFOV 0: square
	// pixels), or Focal and Sensor the lens' focal length and the
	// sensor's width and height in millimetres.
	HFOV   float64    `yaml:"hfov"`
	VFOV   float64    `yaml:"vfov"`
	Focal  float64    `yaml:"focal"`
	Sensor [2]float64 `yaml:"sensor"`
	// K1 and K2 are radial distortion coefficients.
	K1 float64 `yaml:"k1"`
	K2 float64 `yaml:"k2"`
	// ControlPoints calibrate a fixed camera: [u, v, lat, lon] each.
	ControlPoints [][4]float64 `yaml:"control_points"`
	// MaxRange is the farthest ground point placed, metres: from a drone
	// camera, or from a fixed camera's calibrated area's centre. It
	// defaults to 2000 for drone cameras and 500 for fixed ones.
	MaxRange float64 `yaml:"max_range"`
}

// Check records what is wrong with the settings (the site they name is
// the caller's to check).
func (g CameraConfig) Check(p *telemetry.Problems) {
	bad := p.Add
	if !geo.Finite(g.HFOV, g.VFOV, g.Focal, g.Sensor[0], g.Sensor[1], g.K1, g.K2, g.MaxRange) {
		bad("", "every value must be a finite number")
		return
	}
	if g.HFOV < 0 || g.HFOV >= 179 || g.VFOV < 0 || g.VFOV >= 179 || g.Focal < 0 || g.MaxRange < 0 {
		bad("", "hfov/vfov in (0, 179) degrees, focal and max_range positive")
	}
	if g.Focal > 0 && (g.Sensor[0] <= 0 || g.Sensor[1] <= 0) {
		bad("sensor", "a focal length needs the sensor's [width, height] in millimetres")
	}
	if g.K1 < -2 || g.K1 > 2 || g.K2 < -2 || g.K2 > 2 {
		bad("", "k1 and k2 beyond ±2 are not a lens")
	}
	if n := len(g.ControlPoints); n > 0 && (n < 4 || n > 50) {
		bad("control_points", "%d given; a calibration takes 4 to 50 [u, v, lat, lon]", n)
	}
	for _, p := range g.ControlPoints {
		if !geo.Finite(p[0], p[1], p[2], p[3]) {
			bad("control_points", "every value must be a finite number")
			break
		}
	}
}

// points are the control points as geo takes them.
func (g CameraConfig) points() []geo.ControlPoint {
	pts := make([]geo.ControlPoint, len(g.ControlPoints))
	for i, p := range g.ControlPoints {
		pts[i] = geo.ControlPoint{U: p[0], V: p[1], Lat: p[2], Lon: p[3]}
	}
	return pts
}

// Geofence is a polygon on the ground as the configuration writes it.
type Geofence struct {
	ID      string             `yaml:"id"`
	Name    string             `yaml:"name"`
	Site    string             `yaml:"site"`
	Kind    string             `yaml:"kind"`
	Polygon [][2]float64       `yaml:"polygon"`
	Dwell   telemetry.Duration `yaml:"dwell"`
	Classes []string           `yaml:"classes"`
}

// Fence is the geofence as geo checks it.
func (f Geofence) Fence() geo.Fence {
	ring := make(orb.Ring, len(f.Polygon))
	for i, p := range f.Polygon {
		ring[i] = orb.Point{p[0], p[1]}
	}
	return geo.Fence{ID: f.ID, Name: f.Name, Site: f.Site, Kind: geo.FenceKind(f.Kind), Dwell: time.Duration(f.Dwell), Classes: f.Classes, Polygon: orb.Polygon{ring}}
}

// Check records what is wrong with the geofence (its id and site are the
// caller's to check: they must be unique and known).
func (f Geofence) Check(p *telemetry.Problems) {
	bad := p.Add
	for _, p := range f.Polygon {
		if !geo.Finite(p[0], p[1]) {
			bad("polygon", "positions must be finite numbers")
			break
		}
	}
	switch f.Kind {
	case "keep-out", "keep-in", "restricted":
	default:
		bad("kind", "%q is not one of keep-out, keep-in, restricted", f.Kind)
	}
	if len(f.Polygon) < 4 || f.Polygon[0] != f.Polygon[len(f.Polygon)-1] {
		bad("polygon", "a closed ring of [lon, lat] positions: at least 3 corners and the first repeated at the end")
	}
	if f.Dwell < 0 {
		bad("dwell", "must not be negative")
	}
}
