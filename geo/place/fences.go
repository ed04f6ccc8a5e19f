package place

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
)

// Sites are the sites, by id.
func (p *Placer) Sites() []geo.Site {
	out := slices.Collect(maps.Values(p.sites))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// SiteModel is a site's buildings as GeoJSON (the generated block of a
// synthetic site is made once); nil when it has none.
func (p *Placer) SiteModel(id string) ([]byte, error) {
	s, ok := p.sites[id]
	if !ok {
		return nil, geo.ErrNotFound
	}
	if s.Model != "" || !s.Synthetic {
		return s.ModelJSON()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if b, ok := p.model[id]; ok {
		return b, nil
	}
	b, err := s.ModelJSON()
	if err != nil {
		return nil, err
	}
	p.model[id] = b
	return b, nil
}

// SiteBasemap is a site's PMTiles file, when it has one.
func (p *Placer) SiteBasemap(id string) (string, bool) {
	s, ok := p.sites[id]
	return s.PMTiles, ok && s.PMTiles != ""
}

// Geofences are every fence and where it comes from ("config", "api").
func (p *Placer) Geofences() ([]geo.Fence, map[string]string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.fenceList), maps.Clone(p.sources)
}

// PutGeofence stores, then puts in force, a fence made through the API
// (geo.ErrConfigured for one defined in the configuration).
func (p *Placer) PutGeofence(ctx context.Context, f geo.Fence) error {
	p.mu.Lock()
	src := p.sources[f.ID]
	p.mu.Unlock()
	if src == "config" {
		return geo.ErrConfigured
	}
	if f.ID == "" {
		return fmt.Errorf("%w: a geofence needs an id", geo.ErrInvalid)
	}
	if err := f.Validate(); err != nil {
		return fmt.Errorf("%w: %v", geo.ErrInvalid, err) // nothing stored that cannot be put in force
	}
	if p.cfg.Store == nil {
		return errors.New("no database")
	}
	if err := p.cfg.Store.PutGeofence(ctx, f); err != nil {
		return err
	}
	p.mu.Lock()
	list := slices.DeleteFunc(slices.Clone(p.fenceList), func(x geo.Fence) bool { return x.ID == f.ID })
	err := p.setFences(append(list, f), f.ID, "api")
	p.mu.Unlock()
	if err == nil {
		p.changed("geofences")
	}
	return err
}

func (p *Placer) changed(kind string) {
	if p.cfg.Changed != nil {
		p.cfg.Changed(kind)
	}
}

// ReloadGeofences puts in force the geofences stored now, in place of
// those made through the API before (another cluster node changed them):
// the configured fences stay.
func (p *Placer) ReloadGeofences(ctx context.Context) error {
	if p.cfg.Store == nil {
		return nil
	}
	stored, err := p.cfg.Store.Geofences(ctx)
	if err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	list := slices.DeleteFunc(slices.Clone(p.fenceList), func(f geo.Fence) bool { return p.sources[f.ID] != "config" })
	sources := map[string]string{}
	for id, src := range p.sources {
		if src == "config" {
			sources[id] = src
		}
	}
	for _, f := range stored {
		if err := f.Validate(); err != nil || f.ID == "" || sources[f.ID] != "" {
			continue
		}
		list = append(list, f)
		sources[f.ID] = "api"
	}
	if err := p.setFences(list, "", ""); err != nil {
		return err
	}
	p.sources = sources
	return nil
}

// DeleteGeofence removes a fence made through the API (geo.ErrNotFound,
// geo.ErrConfigured).
func (p *Placer) DeleteGeofence(ctx context.Context, id string) error {
	p.mu.Lock()
	src := p.sources[id]
	p.mu.Unlock()
	switch {
	case src == "config":
		return geo.ErrConfigured
	case src == "":
		return geo.ErrNotFound
	case p.cfg.Store == nil:
		return errors.New("no database")
	}
	if _, err := p.cfg.Store.DeleteGeofence(ctx, id); err != nil {
		return err
	}
	p.mu.Lock()
	delete(p.sources, id)
	err := p.setFences(slices.DeleteFunc(slices.Clone(p.fenceList), func(x geo.Fence) bool { return x.ID == id }), "", "")
	p.mu.Unlock()
	if err == nil {
		p.changed("geofences")
	}
	return err
}

// setFences puts a new list in force (mu held), keeping who is inside the
// fences that remain.
func (p *Placer) setFences(list []geo.Fence, id, source string) error {
	fs, err := geo.NewFences(list)
	if err != nil {
		return err
	}
	fs.Carry(p.fences)
	p.fences, p.fenceList = fs, list
	if id != "" {
		p.sources[id] = source
	}
	return nil
}

// loadStored merges the geofences stored through the API, retrying until
// the database answers.
func (p *Placer) loadStored(ctx context.Context) {
	if p.cfg.Store == nil {
		return
	}
	for {
		stored, err := p.cfg.Store.Geofences(ctx)
		if err == nil {
			p.mu.Lock()
			list := slices.Clone(p.fenceList)
			added := map[string]string{}
			for _, f := range stored {
				switch p.sources[f.ID] {
				case "config":
					p.log.Warn("a stored geofence has the id of a configured one; the configuration wins", "id", f.ID)
					continue
				case "api":
					continue // already put in force through the API since start
				}
				if err := f.Validate(); err != nil || f.ID == "" || added[f.ID] != "" {
					p.log.Warn("stored geofence invalid; skipped", "id", f.ID, "err", err)
					continue
				}
				list = append(list, f)
				added[f.ID] = "api"
			}
			if err := p.setFences(list, "", ""); err != nil {
				p.log.Error("stored geofences not in force", "err", err)
			} else {
				maps.Copy(p.sources, added)
				if len(added) > 0 {
					p.log.Info("stored geofences loaded", "count", len(added))
				}
			}
			p.mu.Unlock()
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(2 * time.Second):
		}
	}
}

// track checks a placed track against the fences and returns its events.
func (p *Placer) track(camera string, track uint64, class string, pl placed, t time.Time) ([]telemetry.Event, *velocity) {
	if pl.status != geo.StatusOK {
		return nil, nil
	}
	id := camera + "/" + strconv.FormatUint(track, 10)
	pt := orb.Point{pl.lon, pl.lat}
	p.mu.Lock()
	p.tracked[id] = pt
	obj := geo.Object{ID: id, Class: class, Point: pt, Time: t}
	es := p.fences.Update(obj)
	v := p.courses.add(id, pt, t)
	if v != nil {
		// Where it is heading: a keep-out area it will enter is told
		// before it does.
		es = append(es, p.fences.Predict(obj, v.north, v.east, TrackPredictHorizon)...)
	}
	p.mu.Unlock()
	return p.events(es, camera, track, ""), v
}

// TrackPredictHorizon is how far ahead a tracked object's course is
// projected (people and cars change course sooner than drones).
const TrackPredictHorizon = 30 * time.Second

// Course estimation: a track's ground velocity is the least-squares slope
// of its positions over the last courseWindow, once they span at least
// courseMin (placed positions carry a metre or more of noise: a shorter
// span would make that noise a speed).
const (
	courseWindow = 4 * time.Second
	courseMin    = 1500 * time.Millisecond
)

// velocity is a ground velocity, m/s.
type velocity struct{ north, east float64 }

type fix struct {
	t  time.Time
	pt orb.Point
}

// courses keeps each track's recent positions (mu held by the caller).
type courses map[string][]fix

// add records a track's position and returns its velocity, or nil while
// its positions span too little time.
func (c courses) add(id string, pt orb.Point, t time.Time) *velocity {
	h := c[id]
	if n := len(h); n > 0 && !t.After(h[n-1].t) {
		h = h[:0] // time went back (a replayed or restarted track): anew
	}
	h = append(h, fix{t, pt})
	cut := 0
	for cut < len(h) && t.Sub(h[cut].t) > courseWindow {
		cut++
	}
	h = h[cut:]
	c[id] = h
	if len(h) < 3 || t.Sub(h[0].t) < courseMin {
		return nil
	}
	local := geo.NewLocal(pt[1], pt[0])
	var st, sn, se, stt, stn, ste float64
	for _, f := range h {
		x := f.t.Sub(h[0].t).Seconds()
		e, n := local.ToENU(f.pt[1], f.pt[0])
		st, sn, se = st+x, sn+n, se+e
		stt, stn, ste = stt+x*x, stn+x*n, ste+x*e
	}
	k := float64(len(h))
	den := k*stt - st*st
	if den <= 0 {
		return nil
	}
	return &velocity{north: (k*stn - st*sn) / den, east: (k*ste - st*se) / den}
}

// forget drops a track's positions.
func (c courses) forget(id string) { delete(c, id) }

// trackEnded forgets a track: exits from its fences.
func (p *Placer) trackEnded(camera string, track uint64, class string, t time.Time) []telemetry.Event {
	id := camera + "/" + strconv.FormatUint(track, 10)
	p.mu.Lock()
	last := p.tracked[id]
	delete(p.tracked, id)
	p.courses.forget(id)
	es := p.fences.Remove(geo.Object{ID: id, Class: class, Point: last, Time: t})
	p.mu.Unlock()
	return p.events(es, camera, track, "")
}

// lastPosition is a track's last ground position.
func (p *Placer) lastPosition(camera string, track uint64) (orb.Point, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	pt, ok := p.tracked[camera+"/"+strconv.FormatUint(track, 10)]
	return pt, ok
}

// events turns fence events into events to publish and store.
func (p *Placer) events(es []geo.FenceEvent, camera string, track uint64, vehicle string) []telemetry.Event {
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
		if e.Object.Class != "" && vehicle == "" {
			ev.Data["class"] = e.Object.Class // trends count fences per class
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
		case geo.EventFenceBreachPredicted:
			dir := "into"
			if e.Fence.Kind == geo.KeepIn {
				dir = "out of"
			}
			ev.Message = fmt.Sprintf("%s is heading %s %s (%s): at its course and speed, in about %s (±%.0f m)", who, dir, e.Fence.Name, e.Fence.Kind, e.In.Round(time.Second), e.Radius)
			ev.Data["in_s"] = e.In.Seconds()
			ev.Data["at_lat"], ev.Data["at_lon"] = e.At[1], e.At[0]
			ev.Data["radius_m"] = math.Round(e.Radius*10) / 10
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
