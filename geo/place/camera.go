package place

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
)

// camGeo is one camera's way onto the ground.
type camGeo struct {
	id, vehicle string
	site        string
	ground      float64
	cfg         CameraConfig
	hom         *geo.Homography // fixed cameras
	calibErr    string
	// apiCalibrated: calibrated through the API since start, so the stored
	// calibration read at start is older and must not replace it.
	apiCalibrated bool
	// model is made for the frame size on first use (drone cameras).
	model  geo.Intrinsics
	hasFOV bool
}

// AddCamera sets up a camera's geometry; vehicle is the drone carrying it
// ("" for a fixed camera). A calibration that cannot be fitted leaves the
// camera running, unplaced, with the reason.
func (p *Placer) AddCamera(id, vehicle string, c CameraConfig) {
	if c.Site == "" && len(p.sites) == 1 {
		for only := range p.sites {
			c.Site = only // the one site there is
		}
	}
	cg := &camGeo{id: id, vehicle: vehicle, site: c.Site, cfg: c}
	if s, ok := p.sites[c.Site]; ok {
		cg.ground = s.Elevation
	} else {
		p.log.Warn("camera has no site: its ground is taken at 0 m above sea level", "camera", id)
	}
	if len(c.ControlPoints) > 0 {
		h, err := geo.Calibrate(c.points(), p.cfg.Solve)
		if err != nil {
			cg.calibErr = err.Error()
			p.log.Error("camera calibration unusable; its detections stay unplaced", "camera", id, "err", err)
		} else {
			cg.hom = h
			p.log.Info("camera calibrated", "camera", id, "control_points", len(c.ControlPoints), "rms_m", math.Round(h.RMS*100)/100)
		}
	}
	p.mu.Lock()
	p.cams[id] = cg
	p.mu.Unlock()
}

// AddVideoless adds a drone camera that has no video stream: its
// footprint, from its vehicle's telemetry alone, is published with the
// camera's state every CameraInterval. A camera already added is left as
// it is.
func (p *Placer) AddVideoless(id, vehicle string) {
	p.mu.Lock()
	_, known := p.cams[id]
	p.mu.Unlock()
	if known {
		return
	}
	p.AddCamera(id, vehicle, CameraConfig{}) // the one site, when there is one
	p.mu.Lock()
	p.videoless = append(p.videoless, p.cams[id])
	p.mu.Unlock()
}

// publishVideoless publishes the video-less drone cameras' state with
// their footprints every CameraInterval.
func (p *Placer) publishVideoless(ctx context.Context) {
	t := time.NewTicker(p.cfg.CameraInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		p.mu.Lock()
		cams := append([]*camGeo(nil), p.videoless...)
		p.mu.Unlock()
		for _, c := range cams {
			p.cfg.Bus.PublishCamera(telemetry.Camera{ID: c.id, Kind: "drone", VehicleID: c.vehicle, Status: "no video",
				Detector: "none", Footprint: p.Footprint(c.id, 0, 0), Calibration: p.Calibration(c.id), Updated: time.Now()})
		}
	}
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

// Calibration describes a camera's calibration for the API: a
// homography's fit, why it failed, a drone's vehicle, or none; nil for an
// unknown camera.
func (p *Placer) Calibration(id string) map[string]any {
	p.mu.Lock()
	defer p.mu.Unlock()
	cg, ok := p.cams[id]
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

// Calibrate fits, stores, then puts in force a fixed camera's control
// points (geo.ErrNotFound for an unknown camera, geo.ErrInvalid for points
// that cannot be used).
func (p *Placer) Calibrate(ctx context.Context, camera string, pts []geo.ControlPoint) (map[string]any, error) {
	cg, h, err := p.fit(camera, pts)
	if err != nil {
		return nil, err
	}
	if p.cfg.Store != nil {
		b, _ := json.Marshal(map[string]any{"control_points": pts})
		if err := p.cfg.Store.PutCameraCalibration(ctx, camera, camera, "fixed", b); err != nil {
			return nil, err
		}
	}
	p.mu.Lock()
	calibrate(cg, h, pts)
	cg.apiCalibrated = true
	p.mu.Unlock()
	p.log.Info("camera calibrated through the API", "camera", camera, "control_points", len(pts), "rms_m", math.Round(h.RMS*100)/100)
	p.changed("calibrations")
	return p.Calibration(camera), nil
}

// ReloadCalibrations applies every calibration stored now (another
// cluster node calibrated a camera through the API).
func (p *Placer) ReloadCalibrations(ctx context.Context) error {
	if p.cfg.Store == nil {
		return nil
	}
	cals, err := p.cfg.Store.CameraCalibrations(ctx)
	if err != nil {
		return err
	}
	p.applyCalibrations(cals, true)
	return nil
}

// applyCalibrations puts stored calibrations in force and counts them;
// unless over, a camera calibrated through the API since this process
// started keeps its own (newer) one.
func (p *Placer) applyCalibrations(cals map[string]json.RawMessage, over bool) (applied int) {
	for id, raw := range cals {
		var c struct {
			ControlPoints []geo.ControlPoint `json:"control_points"`
		}
		if json.Unmarshal(raw, &c) != nil || len(c.ControlPoints) == 0 {
			continue
		}
		cg, h, err := p.fit(id, c.ControlPoints)
		if err != nil {
			if !errors.Is(err, geo.ErrNotFound) {
				p.log.Warn("stored calibration unusable", "camera", id, "err", err)
			}
			continue
		}
		p.mu.Lock()
		if over || !cg.apiCalibrated {
			calibrate(cg, h, c.ControlPoints)
			cg.apiCalibrated = cg.apiCalibrated || over
			applied++
		}
		p.mu.Unlock()
	}
	return applied
}

// fit checks that camera takes control points and fits them.
func (p *Placer) fit(camera string, pts []geo.ControlPoint) (*camGeo, *geo.Homography, error) {
	p.mu.Lock()
	cg, ok := p.cams[camera]
	p.mu.Unlock()
	if !ok {
		return nil, nil, geo.ErrNotFound
	}
	if cg.vehicle != "" {
		return nil, nil, fmt.Errorf("%w: a drone camera is placed by its vehicle's telemetry, not by control points", geo.ErrInvalid)
	}
	h, err := geo.Calibrate(pts, p.cfg.Solve)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", geo.ErrInvalid, err)
	}
	return cg, h, nil
}

// calibrate puts a fitted calibration in force (mu held).
func calibrate(cg *camGeo, h *geo.Homography, pts []geo.ControlPoint) {
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
func (p *Placer) loadCalibrations(ctx context.Context) {
	if p.cfg.Store == nil {
		return
	}
	for {
		cals, err := p.cfg.Store.CameraCalibrations(ctx)
		if err == nil {
			applied := p.applyCalibrations(cals, false)
			if applied > 0 {
				p.log.Info("stored calibrations applied", "cameras", applied)
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

// placed is a detection on the ground.
type placed struct {
	lat, lon, sigma float64
	status          geo.Status
}

// locate places the bottom centre of a box seen by camera at time t in a
// frame of w × h pixels.
func (p *Placer) locate(camera string, t time.Time, box [4]float64, w, h int) placed {
	p.mu.Lock()
	defer p.mu.Unlock()
	cg, ok := p.cams[camera]
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
		pose, ok := p.pose(cg.vehicle, t)
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

// GroundZones places a camera's image zones on the ground, corner by
// corner, for a frame of w × h pixels; a zone with a corner that does not
// reach the ground is left out.
func (p *Placer) GroundZones(camera string, zones []vision.Zone, w, h int) []telemetry.GroundZone {
	var out []telemetry.GroundZone
	now := time.Now()
	for _, z := range zones {
		ring := make([][2]float64, 0, len(z.Polygon)+1)
		for _, pt := range z.Polygon {
			pl := p.locate(camera, now, [4]float64{pt.X, pt.Y, 0, 0}, w, h)
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

// Footprint is a camera's ground outline now, for a frame of w × h
// pixels, as [lon, lat] pairs.
func (p *Placer) Footprint(camera string, w, h int) [][2]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	cg, ok := p.cams[camera]
	if !ok {
		return nil
	}
	var ring orb.Ring
	switch {
	case cg.hom != nil && w > 0:
		ring = cg.hom.Footprint(w, h, orDefault(cg.cfg.MaxRange, fixedRange))
	case cg.vehicle != "":
		if pose, ok := p.pose(cg.vehicle, time.Now()); ok {
			ring = cg.droneFootprint(pose, w, h)
		}
	}
	return ringPairs(ring)
}

// DroneFootprint is a drone camera's ground outline for a recorded pose
// (the replay's footprints over time), as [lon, lat] pairs; nil for a
// camera that is not on a drone or a pose that sees no ground.
func (p *Placer) DroneFootprint(camera string, pose geo.Pose, w, h int) [][2]float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	cg, ok := p.cams[camera]
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
