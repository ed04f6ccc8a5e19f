// Package place puts what the cameras see on the ground: it keeps each
// drone's recent poses, places every detection of every analysed frame
// (a fixed camera through its calibrated homography, a drone camera
// through its vehicle's pose at the frame's time), checks tracks and
// vehicles against the geofences, and draws each camera's footprint.
//
// A Placer is the analysis' frame sink: frames come in from vision, go
// out placed to the live bus and the store's writer, with the geofence
// events they raise. It follows the vehicles on the bus for their poses
// and their own geofence events. It is pure Go: the homography fit is
// handed in (vision/cv's, in smarteye).
package place

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
)

// Store keeps the geofences and the calibrations made through the API
// (telemetry/store implements it).
type Store interface {
	Geofences(ctx context.Context) ([]geo.Fence, error)
	PutGeofence(ctx context.Context, f geo.Fence) error
	DeleteGeofence(ctx context.Context, id string) (bool, error)
	CameraCalibrations(ctx context.Context) (map[string]json.RawMessage, error)
	PutCameraCalibration(ctx context.Context, camera, name, kind string, calibration []byte) error
}

// Writer stores placed detections and events; it never blocks.
type Writer interface {
	telemetry.DetectionWriter
	telemetry.EventWriter
}

// Config configures a Placer.
type Config struct {
	Sites []geo.Site
	// Fences are the configured geofences; the API's come from Store.
	Fences []geo.Fence
	// Solve fits a fixed camera's homography from its control points.
	Solve geo.Solver
	// Store keeps the API's geofences and calibrations; nil keeps none.
	Store Store
	Bus   telemetry.Bus
	// Writer stores detections and events; nil stores none.
	Writer Writer
	// Trigger starts event-mode recording around a camera's event; nil
	// records nothing on events.
	Trigger func(camera string, t time.Time)
	// CameraInterval is how often the drone cameras without video are
	// published with their footprints; it defaults to a second.
	CameraInterval time.Duration
	// Changed is told, after a geofence or a calibration made through the
	// API is stored and in force, "geofences" or "calibrations" (a
	// cluster's other nodes then reload them); nil tells no one.
	Changed func(kind string)
	Log     *slog.Logger
}

// Default ranges beyond which ground points are not placed: a drone's
// from the camera, a fixed camera's from its calibrated area's centre
// (rays near the horizon line land arbitrarily far).
const (
	droneRange = 2000.0
	fixedRange = 500.0
)

// poseWindow is how much telemetry history is kept per vehicle to
// interpolate a frame's pose: frames arrive up to a few seconds late.
const poseWindow = 10 * time.Second

// Placer places detections on the ground and checks the geofences.
type Placer struct {
	cfg   Config
	log   *slog.Logger
	sites map[string]geo.Site

	mu sync.Mutex
	// videoless are drone cameras without a stream: footprints only.
	videoless []*camGeo
	cams      map[string]*camGeo
	fences    *geo.Fences
	// fenceList is every fence (configuration first, then the API's) and
	// sources says where each comes from.
	fenceList []geo.Fence
	sources   map[string]string
	model     map[string][]byte       // generated site models, cached
	poses     map[string][]poseSample // vehicle id → recent states, oldest first
	tracked   map[string]orb.Point    // camera/track → last ground position
	courses   courses                 // camera/track → recent positions, for its velocity
}

type poseSample struct {
	t                      time.Time
	lat, lon, alt, heading float64
	gPitch, gYaw, eph      float64
	gimbal                 bool
}

// New checks the fences and makes a Placer.
func New(cfg Config) (*Placer, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.CameraInterval <= 0 {
		cfg.CameraInterval = time.Second
	}
	if cfg.Bus == nil {
		return nil, errors.New("place: no bus")
	}
	p := &Placer{cfg: cfg, log: cfg.Log.With("component", "geo"), sites: map[string]geo.Site{},
		cams: map[string]*camGeo{}, poses: map[string][]poseSample{}, tracked: map[string]orb.Point{}, courses: courses{},
		sources: map[string]string{}, model: map[string][]byte{}}
	for _, s := range cfg.Sites {
		p.sites[s.ID] = s
	}
	for _, f := range cfg.Fences {
		p.sources[f.ID] = "config"
	}
	p.fenceList = cfg.Fences
	var err error
	if p.fences, err = geo.NewFences(cfg.Fences); err != nil {
		return nil, err
	}
	return p, nil
}

// Run follows the vehicles on the bus (their pose history, for the drone
// cameras, and their geofences), loads what the API stored, and publishes
// the drone cameras without video, until ctx ends.
func (p *Placer) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); p.loadStored(ctx) }()
	go func() { defer wg.Done(); p.loadCalibrations(ctx) }()
	go func() { defer wg.Done(); p.publishVideoless(ctx) }()
	defer wg.Wait()
	sub := p.cfg.Bus.Subscribe(4096)
	defer sub.Close()
	var buf []telemetry.Update
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-sub.Ready():
		}
		buf = sub.Take(buf[:0])
		for _, u := range buf {
			if v := u.Vehicle; v != nil && v.Position.Valid {
				p.vehicle(v)
			}
		}
		clear(buf)
	}
}

// PredictHorizon is how far ahead a vehicle's course is projected for
// predicted breaches.
const PredictHorizon = 60 * time.Second

func (p *Placer) vehicle(v *telemetry.Vehicle) {
	t := v.Updated
	if t.IsZero() {
		t = time.Now()
	}
	s := poseSample{t: t, lat: v.Position.Lat, lon: v.Position.Lon, alt: v.Position.AltMSL, heading: v.Attitude.Yaw,
		gPitch: v.Gimbal.Pitch, gYaw: v.Gimbal.Yaw, gimbal: v.Gimbal.Valid, eph: v.GPS.EPH}
	if v.Motion.Valid && !v.Attitude.Valid {
		s.heading = v.Motion.Heading
	}
	p.mu.Lock()
	hist := append(p.poses[v.ID], s)
	cut := 0
	for cut < len(hist) && t.Sub(hist[cut].t) > poseWindow {
		cut++
	}
	p.poses[v.ID] = hist[cut:]
	obj := geo.Object{ID: v.ID, Vehicle: true, Point: orb.Point{v.Position.Lon, v.Position.Lat}, Time: t}
	es := p.fences.Update(obj)
	if v.Motion.Valid {
		// Where its course leads: a breach it is heading for is told
		// before it happens.
		es = append(es, p.fences.Predict(obj, v.Motion.VNorth, v.Motion.VEast, PredictHorizon)...)
	}
	p.mu.Unlock()
	for _, e := range p.events(es, "", 0, v.ID) {
		p.Publish(e)
	}
}

// pose is the vehicle's camera pose at t, interpolated between the two
// telemetry states around it (or the nearest within a second); mu held.
func (p *Placer) pose(vehicle string, t time.Time) (geo.Pose, bool) {
	hist := p.poses[vehicle]
	if len(hist) == 0 {
		return geo.Pose{}, false
	}
	i := sort.Search(len(hist), func(i int) bool { return !hist[i].t.Before(t) })
	var a, b poseSample
	switch {
	case i == 0:
		a, b = hist[0], hist[0]
	case i == len(hist):
		a, b = hist[len(hist)-1], hist[len(hist)-1]
	default:
		a, b = hist[i-1], hist[i]
	}
	if t.Sub(b.t) > time.Second || a.t.Sub(t) > time.Second || b.t.Sub(a.t) > 2*time.Second {
		return geo.Pose{}, false // no telemetry near the frame's time (a link gap)
	}
	f := 0.0
	if d := b.t.Sub(a.t); d > 0 {
		f = float64(t.Sub(a.t)) / float64(d)
	}
	lerp := func(x, y float64) float64 { return x + (y-x)*f }
	head := a.heading + f*angleDiff(b.heading, a.heading)
	gYaw := a.gYaw + f*angleDiff(b.gYaw, a.gYaw)
	ps := geo.DronePose(lerp(a.lat, b.lat), lerp(a.lon, b.lon), lerp(a.alt, b.alt), head, lerp(a.gPitch, b.gPitch), gYaw)
	if !a.gimbal {
		ps.Pitch = -90 // no gimbal report: a camera looking down
	}
	// Typical uncertainties: GPS eph (or 2 m), barometric altitude 1.5 m,
	// attitude and gimbal 1.5° together.
	ps.SigmaPos, ps.SigmaAlt, ps.SigmaAngle = math.Max(a.eph, 2), 1.5, 1.5
	return ps, true
}

func angleDiff(to, from float64) float64 { return math.Mod(to-from+540, 360) - 180 }

func orDefault(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}
