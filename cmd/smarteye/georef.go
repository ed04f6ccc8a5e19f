package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/vision/cv"
)

// georef places what the cameras see on the ground and checks vehicles
// and tracks against the geofences.
type georef struct {
	log   *slog.Logger
	bus   telemetry.Bus
	w     mavlink.RowWriter
	sites map[string]config.Site

	// videoless are drone cameras without a stream: footprints only.
	videoless []*camGeo

	// st stores the geofences made through the API; nil keeps none.
	st *store.Store

	mu     sync.Mutex
	cams   map[string]*camGeo
	fences *geo.Fences
	// fenceList is every fence (configuration first, then the API's) and
	// sources says where each comes from.
	fenceList []geo.Fence
	sources   map[string]string
	model     map[string][]byte       // generated site models, cached
	poses     map[string][]poseSample // vehicle id → recent states, oldest first
	tracked   map[string]orb.Point    // camera/track → last ground position
}

// camGeo is one camera's way onto the ground.
type camGeo struct {
	id, vehicle string
	site        string
	ground      float64
	cfg         config.CameraGeo
	hom         *geo.Homography // fixed cameras
	calibErr    string
	// apiCalibrated: calibrated through the API since start, so the stored
	// calibration read at start is older and must not replace it.
	apiCalibrated bool
	// model is made for the frame size on first use (drone cameras).
	model  geo.Intrinsics
	hasFOV bool
}

type poseSample struct {
	t                      time.Time
	lat, lon, alt, heading float64
	gPitch, gYaw, eph      float64
	gimbal                 bool
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

func newGeoref(cfg config.Config, demo bool, bus telemetry.Bus, w mavlink.RowWriter, log *slog.Logger) (*georef, error) {
	g := &georef{log: log.With("component", "geo"), bus: bus, w: w, sites: map[string]config.Site{},
		cams: map[string]*camGeo{}, poses: map[string][]poseSample{}, tracked: map[string]orb.Point{}}
	for _, s := range cfg.Sites {
		g.sites[s.ID] = s
	}
	fences := cfg.Geofences
	if demo {
		if s := cfg.Sim.Site; s.ID != "" {
			if _, dup := g.sites[s.ID]; !dup {
				g.sites[s.ID] = s
			}
		}
		fences = append(append([]config.Geofence(nil), fences...), cfg.Sim.Geofences...)
	}
	var fs []geo.Fence
	for _, f := range fences {
		gf := geo.Fence{ID: f.ID, Name: f.Name, Site: f.Site, Kind: geo.FenceKind(f.Kind), Dwell: f.Dwell.D(), Classes: f.Classes}
		ring := make(orb.Ring, len(f.Polygon))
		for i, p := range f.Polygon {
			ring[i] = orb.Point{p[0], p[1]}
		}
		gf.Polygon = orb.Polygon{ring}
		fs = append(fs, gf)
	}
	g.sources, g.model = map[string]string{}, map[string][]byte{}
	for _, f := range fs {
		g.sources[f.ID] = "config"
	}
	g.fenceList = fs
	var err error
	if g.fences, err = geo.NewFences(fs); err != nil {
		return nil, err
	}
	return g, nil
}

// Sites implements dashboard.Geo.
func (g *georef) Sites() []dashboard.Site {
	var out []dashboard.Site
	for _, s := range g.sites {
		ds := dashboard.Site{ID: s.ID, Name: s.Name, Lat: s.Lat, Lon: s.Lon, Elevation: s.Elevation, Synthetic: s.Synthetic}
		if s.Model != "" || s.Synthetic {
			ds.Model = "/api/v1/sites/" + s.ID + "/model"
		}
		switch {
		case s.PMTiles != "":
			ds.Basemap = map[string]string{"type": "pmtiles", "url": "/api/v1/sites/" + s.ID + "/basemap.pmtiles"}
		case s.XYZ != "":
			ds.Basemap = map[string]string{"type": "xyz", "url": s.XYZ}
		}
		out = append(out, ds)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// maxModel bounds a site model file.
const maxModel = 64 << 20

// SiteModel implements dashboard.Geo: the configured GeoJSON file, or the
// generated block of a synthetic site.
func (g *georef) SiteModel(id string) ([]byte, error) {
	s, ok := g.sites[id]
	if !ok {
		return nil, dashboard.ErrNotFound
	}
	if s.Model != "" {
		st, err := os.Stat(s.Model)
		if err != nil {
			return nil, err
		}
		if st.Size() > maxModel {
			return nil, fmt.Errorf("%s is larger than 64 MiB", s.Model)
		}
		b, err := os.ReadFile(s.Model)
		if err != nil {
			return nil, err
		}
		if _, err := geojson.UnmarshalFeatureCollection(b); err != nil {
			return nil, fmt.Errorf("%s is not a GeoJSON FeatureCollection: %w", s.Model, err)
		}
		return b, nil
	}
	if !s.Synthetic {
		return nil, nil
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if b, ok := g.model[id]; ok {
		return b, nil
	}
	b, err := geo.SyntheticBlock(s.Lat, s.Lon, 1).MarshalJSON()
	if err != nil {
		return nil, err
	}
	g.model[id] = b
	return b, nil
}

// SiteBasemap implements dashboard.Geo.
func (g *georef) SiteBasemap(id string) (string, bool) {
	s, ok := g.sites[id]
	return s.PMTiles, ok && s.PMTiles != ""
}

// Geofences implements dashboard.Geo.
func (g *georef) Geofences() ([]geo.Fence, map[string]string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.fenceList), maps.Clone(g.sources)
}

// PutGeofence implements dashboard.Geo: stored, then in force.
func (g *georef) PutGeofence(ctx context.Context, f geo.Fence) error {
	g.mu.Lock()
	src := g.sources[f.ID]
	g.mu.Unlock()
	if src == "config" {
		return dashboard.ErrConfigured
	}
	if g.st == nil {
		return errors.New("no database")
	}
	poly, err := geojson.NewGeometry(f.Polygon).MarshalJSON()
	if err != nil {
		return err
	}
	if err := g.st.PutGeofence(ctx, store.GeofenceRecord{ID: f.ID, Site: f.Site, Name: f.Name, Kind: string(f.Kind), Polygon: poly, Dwell: f.Dwell, Classes: f.Classes}); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(g.fenceList), func(x geo.Fence) bool { return x.ID == f.ID })
	return g.setFences(append(list, f), f.ID, "api")
}

// DeleteGeofence implements dashboard.Geo.
func (g *georef) DeleteGeofence(ctx context.Context, id string) error {
	g.mu.Lock()
	src := g.sources[id]
	g.mu.Unlock()
	switch {
	case src == "config":
		return dashboard.ErrConfigured
	case src == "":
		return dashboard.ErrNotFound
	case g.st == nil:
		return errors.New("no database")
	}
	if _, err := g.st.DeleteGeofence(ctx, id); err != nil {
		return err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	delete(g.sources, id)
	return g.setFences(slices.DeleteFunc(slices.Clone(g.fenceList), func(x geo.Fence) bool { return x.ID == id }), "", "")
}

// setFences puts a new list in force (mu held), keeping who is inside the
// fences that remain.
func (g *georef) setFences(list []geo.Fence, id, source string) error {
	fs, err := geo.NewFences(list)
	if err != nil {
		return err
	}
	fs.Carry(g.fences)
	g.fences, g.fenceList = fs, list
	if id != "" {
		g.sources[id] = source
	}
	return nil
}

// loadStored merges the geofences stored through the API, retrying until
// the database answers.
func (g *georef) loadStored(ctx context.Context) {
	if g.st == nil {
		return
	}
	for {
		recs, err := g.st.Geofences(ctx)
		if err == nil {
			g.mu.Lock()
			list := slices.Clone(g.fenceList)
			added := map[string]string{}
			for _, r := range recs {
				switch g.sources[r.ID] {
				case "config":
					g.log.Warn("a stored geofence has the id of a configured one; the configuration wins", "id", r.ID)
					continue
				case "api":
					continue // already put in force through the API since start
				}
				p, err := geojson.UnmarshalGeometry(r.Polygon)
				poly, ok := orb.Geometry(nil), false
				if err == nil {
					poly = p.Geometry()
					_, ok = poly.(orb.Polygon)
				}
				if !ok {
					g.log.Warn("stored geofence unreadable; skipped", "id", r.ID, "err", err)
					continue
				}
				f := geo.Fence{ID: r.ID, Site: r.Site, Name: r.Name, Kind: geo.FenceKind(r.Kind), Polygon: poly.(orb.Polygon), Dwell: r.Dwell, Classes: r.Classes}
				if err := f.Validate(); err != nil {
					g.log.Warn("stored geofence invalid; skipped", "id", r.ID, "err", err)
					continue
				}
				list = append(list, f)
				added[r.ID] = "api"
			}
			if err := g.setFences(list, "", ""); err != nil {
				g.log.Error("stored geofences not in force", "err", err)
			} else {
				maps.Copy(g.sources, added)
				if len(added) > 0 {
					g.log.Info("stored geofences loaded", "count", len(added))
				}
			}
			g.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// Calibrate implements dashboard.Geo: fit, store, then put in force.
func (g *georef) Calibrate(ctx context.Context, camera string, pts []geo.ControlPoint) (map[string]any, error) {
	cg, h, err := g.fit(camera, pts)
	if err != nil {
		return nil, err
	}
	if g.st != nil {
		b, _ := json.Marshal(map[string]any{"control_points": pts})
		if err := g.st.PutCameraCalibration(ctx, camera, camera, "fixed", b); err != nil {
			return nil, err
		}
	}
	g.mu.Lock()
	g.calibrate(cg, h, pts)
	cg.apiCalibrated = true
	g.mu.Unlock()
	g.log.Info("camera calibrated through the API", "camera", camera, "control_points", len(pts), "rms_m", math.Round(h.RMS*100)/100)
	return g.Calibration(camera), nil
}

// fit checks that camera takes control points and fits them.
func (g *georef) fit(camera string, pts []geo.ControlPoint) (*camGeo, *geo.Homography, error) {
	g.mu.Lock()
	cg, ok := g.cams[camera]
	g.mu.Unlock()
	if !ok {
		return nil, nil, dashboard.ErrNotFound
	}
	if cg.vehicle != "" {
		return nil, nil, fmt.Errorf("%w: a drone camera is placed by its vehicle's telemetry, not by control points", dashboard.ErrInvalid)
	}
	h, err := geo.Calibrate(pts, cv.FindHomography)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", dashboard.ErrInvalid, err)
	}
	return cg, h, nil
}

// calibrate puts a fitted calibration in force (mu held).
func (g *georef) calibrate(cg *camGeo, h *geo.Homography, pts []geo.ControlPoint) {
	cps := make([][4]float64, len(pts))
	for i, p := range pts {
		cps[i] = [4]float64{p.U, p.V, p.Lat, p.Lon}
	}
	cg.hom, cg.calibErr, cg.cfg.ControlPoints = h, "", cps
}

// loadCalibrations applies the calibrations set through the API (they
// are newer than the configuration's), retrying until the database answers.
// A camera calibrated through the API while this reads keeps that newer
// calibration.
func (g *georef) loadCalibrations(ctx context.Context) {
	if g.st == nil {
		return
	}
	for {
		cals, err := g.st.CameraCalibrations(ctx)
		if err == nil {
			applied := 0
			for id, raw := range cals {
				var c struct {
					ControlPoints []geo.ControlPoint `json:"control_points"`
				}
				if json.Unmarshal(raw, &c) != nil || len(c.ControlPoints) == 0 {
					continue
				}
				cg, h, err := g.fit(id, c.ControlPoints)
				if err != nil {
					if !errors.Is(err, dashboard.ErrNotFound) {
						g.log.Warn("stored calibration unusable", "camera", id, "err", err)
					}
					continue
				}
				g.mu.Lock()
				if !cg.apiCalibrated {
					g.calibrate(cg, h, c.ControlPoints)
					applied++
				}
				g.mu.Unlock()
			}
			if applied > 0 {
				g.log.Info("stored calibrations applied", "cameras", applied)
			}
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// addCamera sets up a camera's geometry. A calibration that cannot be
// fitted leaves the camera running, unplaced, with the reason.
func (g *georef) addCamera(id, vehicle string, c config.CameraGeo) {
	if c.Site == "" && len(g.sites) == 1 {
		for only := range g.sites {
			c.Site = only // the one site there is
		}
	}
	cg := &camGeo{id: id, vehicle: vehicle, site: c.Site, cfg: c}
	if s, ok := g.sites[c.Site]; ok {
		cg.ground = s.Elevation
	} else {
		g.log.Warn("camera has no site: its ground is taken at 0 m above sea level", "camera", id)
	}
	if len(c.ControlPoints) > 0 {
		pts := make([]geo.ControlPoint, len(c.ControlPoints))
		for i, p := range c.ControlPoints {
			pts[i] = geo.ControlPoint{U: p[0], V: p[1], Lat: p[2], Lon: p[3]}
		}
		h, err := geo.Calibrate(pts, cv.FindHomography)
		if err != nil {
			cg.calibErr = err.Error()
			g.log.Error("camera calibration unusable; its detections stay unplaced", "camera", id, "err", err)
		} else {
			cg.hom = h
			g.log.Info("camera calibrated", "camera", id, "control_points", len(pts), "rms_m", math.Round(h.RMS*100)/100)
		}
	}
	g.mu.Lock()
	g.cams[id] = cg
	g.mu.Unlock()
}

// intrinsics are the camera's model for a frame of w × h pixels.
func (cg *camGeo) intrinsics(w, h int) (geo.Intrinsics, bool) {
	if cg.hasFOV && cg.model.Width == w && cg.model.Height == h {
		return cg.model, true
	}
	var in geo.Intrinsics
	var err error
	switch {
	case cg.cfg.Focal > 0:
		in, err = geo.FromFocal(w, h, cg.cfg.Focal, cg.cfg.Sensor[0], cg.cfg.Sensor[1])
	default:
		hfov := cg.cfg.HFOV
		if hfov == 0 {
			hfov = 84 // the usual drone camera
		}
		in, err = geo.FromFOV(w, h, hfov, cg.cfg.VFOV)
	}
	if err != nil {
		return in, false
	}
	in.K1, in.K2 = cg.cfg.K1, cg.cfg.K2
	cg.model, cg.hasFOV = in, true
	return in, true
}

// Calibration describes a camera's calibration for the API.
func (g *georef) Calibration(id string) map[string]any {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg, ok := g.cams[id]
	if !ok {
		return nil
	}
	switch {
	case cg.hom != nil:
		return map[string]any{"kind": "homography", "control_points": len(cg.cfg.ControlPoints), "rms_m": cg.hom.RMS, "max_m": cg.hom.Max, "errors_m": cg.hom.Errors}
	case cg.calibErr != "":
		return map[string]any{"kind": "homography", "error": cg.calibErr}
	case cg.vehicle != "":
		return map[string]any{"kind": "drone", "vehicle": cg.vehicle}
	}
	return map[string]any{"kind": "none"}
}

// pose is the vehicle's camera pose at t, interpolated between the two
// telemetry states around it (or the nearest within a second).
func (g *georef) pose(vehicle string, t time.Time) (geo.Pose, bool) {
	hist := g.poses[vehicle]
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
	p := geo.DronePose(lerp(a.lat, b.lat), lerp(a.lon, b.lon), lerp(a.alt, b.alt), head, lerp(a.gPitch, b.gPitch), gYaw)
	if !a.gimbal {
		p.Pitch = -90 // no gimbal report: a camera looking down
	}
	// Typical uncertainties: GPS eph (or 2 m), barometric altitude 1.5 m,
	// attitude and gimbal 1.5° together.
	p.SigmaPos, p.SigmaAlt, p.SigmaAngle = math.Max(a.eph, 2), 1.5, 1.5
	return p, true
}

func angleDiff(to, from float64) float64 { return math.Mod(to-from+540, 360) - 180 }

// placed is a detection on the ground.
type placed struct {
	lat, lon, sigma float64
	status          geo.Status
}

// locate places the bottom centre of a box seen by camera at time t in a
// frame of w × h pixels.
func (g *georef) locate(camera string, t time.Time, box [4]float64, w, h int) placed {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg, ok := g.cams[camera]
	if !ok {
		return placed{status: geo.StatusUncalibrated}
	}
	u, v := box[0]+box[2]/2, box[1]+box[3]
	switch {
	case cg.hom != nil:
		pt, st := cg.hom.Locate(u, v, orDefault(cg.cfg.MaxRange, fixedRange))
		if st != geo.StatusOK {
			return placed{status: st}
		}
		// The fit's error, and half a metre for where in the box the feet are.
		return placed{lat: pt[1], lon: pt[0], sigma: math.Hypot(cg.hom.RMS, 0.5), status: st}
	case cg.vehicle != "":
		pose, ok := g.pose(cg.vehicle, t)
		in, ok2 := cg.intrinsics(w, h)
		if !ok || !ok2 {
			return placed{status: geo.StatusUncalibrated}
		}
		pr := geo.Projector{In: in, Pose: pose, Ground: cg.ground, MaxRange: orDefault(cg.cfg.MaxRange, droneRange)}
		pt, sigma, st := pr.Locate(u, v)
		return placed{lat: pt[1], lon: pt[0], sigma: sigma, status: st}
	}
	return placed{status: geo.StatusUncalibrated}
}

// footprint is a camera's ground outline now, as [lon, lat] pairs.
// groundZones places a camera's image zones on the ground, corner by
// corner; a zone with a corner that does not reach the ground is left out.
func (g *georef) groundZones(camera string, zones []config.Zone, w, h int) []telemetry.GroundZone {
	var out []telemetry.GroundZone
	now := time.Now()
	for _, z := range zones {
		ring := make([][2]float64, 0, len(z.Polygon)+1)
		for _, p := range z.Polygon {
			pl := g.locate(camera, now, [4]float64{p[0], p[1], 0, 0}, w, h)
			if pl.status != geo.StatusOK {
				ring = nil
				break
			}
			ring = append(ring, [2]float64{pl.lon, pl.lat})
		}
		if len(ring) >= 3 {
			out = append(out, telemetry.GroundZone{Name: z.Name, Ring: append(ring, ring[0])})
		}
	}
	return out
}

func (g *georef) footprint(camera string, w, h int) [][2]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg, ok := g.cams[camera]
	if !ok {
		return nil
	}
	var ring orb.Ring
	switch {
	case cg.hom != nil && w > 0:
		ring = cg.hom.Footprint(w, h, orDefault(cg.cfg.MaxRange, fixedRange))
	case cg.vehicle != "":
		if pose, ok := g.pose(cg.vehicle, time.Now()); ok {
			ring = cg.droneFootprint(pose, w, h)
		}
	}
	return ringPairs(ring)
}

// DroneFootprint is a drone camera's ground outline for a recorded pose
// (the replay's footprints over time), as [lon, lat] pairs; nil for a
// camera that is not on a drone or a pose that sees no ground.
func (g *georef) DroneFootprint(camera string, pose geo.Pose, w, h int) [][2]float64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	cg, ok := g.cams[camera]
	if !ok || cg.vehicle == "" {
		return nil
	}
	if r := cg.droneFootprint(pose, w, h); len(r) > 0 {
		return ringPairs(r)
	}
	return nil
}

func (cg *camGeo) droneFootprint(pose geo.Pose, w, h int) orb.Ring {
	if w == 0 {
		w, h = 1920, 1080 // no video: the usual drone camera's frame
	}
	in, ok := cg.intrinsics(w, h)
	if !ok {
		return nil
	}
	return geo.Projector{In: in, Pose: pose, Ground: cg.ground, MaxRange: orDefault(cg.cfg.MaxRange, droneRange)}.Footprint()
}

func ringPairs(ring orb.Ring) [][2]float64 {
	out := make([][2]float64, len(ring))
	for i, p := range ring {
		out[i] = [2]float64{p[0], p[1]}
	}
	return out
}

func orDefault(v, d float64) float64 {
	if v > 0 {
		return v
	}
	return d
}

// track checks a placed track against the fences and returns its events.
func (g *georef) track(camera string, track uint64, class string, p placed, t time.Time) []telemetry.Event {
	if p.status != geo.StatusOK {
		return nil
	}
	id := camera + "/" + strconv.FormatUint(track, 10)
	g.mu.Lock()
	g.tracked[id] = orb.Point{p.lon, p.lat}
	es := g.fences.Update(geo.Object{ID: id, Class: class, Point: orb.Point{p.lon, p.lat}, Time: t})
	g.mu.Unlock()
	return g.events(es, camera, track, "")
}

// trackEnded forgets a track: exits from its fences.
func (g *georef) trackEnded(camera string, track uint64, class string, t time.Time) []telemetry.Event {
	id := camera + "/" + strconv.FormatUint(track, 10)
	g.mu.Lock()
	last := g.tracked[id]
	delete(g.tracked, id)
	es := g.fences.Remove(geo.Object{ID: id, Class: class, Point: last, Time: t})
	g.mu.Unlock()
	return g.events(es, camera, track, "")
}

// lastPosition is a track's last ground position.
func (g *georef) lastPosition(camera string, track uint64) (orb.Point, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	p, ok := g.tracked[camera+"/"+strconv.FormatUint(track, 10)]
	return p, ok
}

func (g *georef) events(es []geo.FenceEvent, camera string, track uint64, vehicle string) []telemetry.Event {
	var out []telemetry.Event
	for _, e := range es {
		lat, lon := e.Object.Point[1], e.Object.Point[0]
		ev := telemetry.Event{Time: e.Object.Time, ID: telemetry.NewUUID(), Kind: e.Kind, Site: e.Fence.Site, CameraID: camera, TrackID: track, VehicleID: vehicle,
			Data: map[string]any{"fence": e.Fence.ID, "fence_name": e.Fence.Name, "fence_kind": string(e.Fence.Kind)}}
		if e.Object.Point != (orb.Point{}) {
			ev.Lat, ev.Lon = &lat, &lon
		}
		if e.Dwell > 0 {
			ev.Data["dwell_s"] = e.Dwell.Seconds()
		}
		who := vehicle
		if who == "" {
			who = fmt.Sprintf("%s %d on %s", e.Object.Class, track, camera)
			if e.Object.Class == "" {
				who = fmt.Sprintf("track %d on %s", track, camera)
			}
		}
		switch e.Kind {
		case geo.EventFenceEnter:
			ev.Message = fmt.Sprintf("%s entered %s (%s)", who, e.Fence.Name, e.Fence.Kind)
		case geo.EventFenceExit:
			ev.Message = fmt.Sprintf("%s left %s after %s", who, e.Fence.Name, e.Dwell.Round(time.Second))
		case geo.EventFenceDwell:
			ev.Message = fmt.Sprintf("%s has been in %s for %s", who, e.Fence.Name, e.Dwell.Round(time.Second))
		case geo.EventFenceBreach:
			if e.Fence.Kind == geo.KeepIn {
				ev.Message = fmt.Sprintf("%s breached %s: it left a keep-in area", who, e.Fence.Name)
			} else {
				ev.Message = fmt.Sprintf("%s breached %s: it is inside a keep-out area", who, e.Fence.Name)
			}
		}
		out = append(out, ev)
	}
	return out
}

// Run follows the vehicles on the bus: their pose history (for the drone
// cameras) and their geofences.
func (g *georef) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); g.loadStored(ctx) }()
	go func() { defer wg.Done(); g.loadCalibrations(ctx) }()
	defer wg.Wait()
	sub := g.bus.Subscribe(4096)
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
				g.vehicle(v)
			}
		}
		clear(buf)
	}
}

func (g *georef) vehicle(v *telemetry.Vehicle) {
	t := v.Updated
	if t.IsZero() {
		t = time.Now()
	}
	s := poseSample{t: t, lat: v.Position.Lat, lon: v.Position.Lon, alt: v.Position.AltMSL, heading: v.Attitude.Yaw,
		gPitch: v.Gimbal.Pitch, gYaw: v.Gimbal.Yaw, gimbal: v.Gimbal.Valid, eph: v.GPS.EPH}
	if v.Motion.Valid && !v.Attitude.Valid {
		s.heading = v.Motion.Heading
	}
	g.mu.Lock()
	hist := append(g.poses[v.ID], s)
	cut := 0
	for cut < len(hist) && t.Sub(hist[cut].t) > poseWindow {
		cut++
	}
	g.poses[v.ID] = hist[cut:]
	es := g.fences.Update(geo.Object{ID: v.ID, Vehicle: true, Point: orb.Point{v.Position.Lon, v.Position.Lat}, Time: t})
	g.mu.Unlock()
	sink := videoSink{bus: g.bus, w: g.w}
	for _, e := range g.events(es, "", 0, v.ID) {
		sink.publish(e)
	}
}

// addVehicleCameras adds the cameras named by MAVLink vehicles that have
// no video stream configured: their footprints come from telemetry alone.
func (g *georef) addVehicleCameras(vehicles []mavlink.VehicleConfig, v *video) {
	streamed := map[string]bool{}
	if v != nil {
		for _, c := range v.cams {
			streamed[c.cfg.ID] = true
		}
	}
	site := config.CameraGeo{} // the one site, when there is one (addCamera)
	for _, vc := range vehicles {
		if vc.Camera == "" || streamed[vc.Camera] {
			continue
		}
		g.addCamera(vc.Camera, vc.Name, site)
		g.mu.Lock()
		g.videoless = append(g.videoless, g.cams[vc.Camera])
		g.mu.Unlock()
	}
}

// publishDroneCameras publishes the video-less drone cameras' state with
// their footprints every interval.
func (g *georef) publishDroneCameras(ctx context.Context, interval time.Duration) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		g.mu.Lock()
		cams := append([]*camGeo(nil), g.videoless...)
		g.mu.Unlock()
		for _, c := range cams {
			g.bus.PublishCamera(telemetry.Camera{ID: c.id, Kind: "drone", VehicleID: c.vehicle, Status: "no video",
				Detector: "none", Footprint: g.footprint(c.id, 0, 0), Calibration: g.Calibration(c.id), Updated: time.Now()})
		}
	}
}
