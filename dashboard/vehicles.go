package dashboard

import (
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// History is what the server reads of stored telemetry.
type History interface {
	Vehicles(ctx context.Context) ([]store.VehicleRecord, error)
	Track(ctx context.Context, vehicle string, from, to time.Time, maxPoints int) ([]store.TrackPoint, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.EventRecord, error)
	Detections(ctx context.Context, q store.DetectionQuery) ([]store.DetectionRecord, error)
	PlacedDetections(ctx context.Context, from, to time.Time, bound [4]float64, camera string, limit int) ([]store.DetectionRecord, error)
	PlacedEvents(ctx context.Context, from, to time.Time, bound [4]float64, kind string, limit int) ([]store.EventRecord, error)
}

// Track limits.
const (
	defaultTrackPoints = 1000
	maxTrackPoints     = 20000
	defaultTrackRange  = time.Hour
)

// vehicles merges the live state with vehicles known only from history
// (heard before a restart): those are listed with their link lost.
func (s *Server) vehicles(ctx context.Context) ([]telemetry.Vehicle, error) {
	live := s.deps.Bus.Vehicles()
	if s.deps.History == nil {
		return live, nil
	}
	recs, err := s.deps.History.Vehicles(ctx)
	if err != nil {
		return live, err
	}
	for _, r := range recs {
		if slices.ContainsFunc(live, func(v telemetry.Vehicle) bool { return v.ID == r.ID }) {
			continue
		}
		v := telemetry.Vehicle{ID: r.ID, Name: r.Name, Link: r.Link, SystemID: uint8(r.SystemID), Type: r.Type, Autopilot: r.Autopilot, Discovered: r.Discovered,
			Health: telemetry.Health{State: telemetry.LinkLost}}
		if r.LastSeen != nil {
			v.Health.LastHeard = *r.LastSeen
			v.Updated = *r.LastSeen
		}
		live = append(live, v)
	}
	slices.SortFunc(live, func(a, b telemetry.Vehicle) int { return strings.Compare(a.ID, b.ID) })
	return live, nil
}

func (s *Server) listVehicles(w http.ResponseWriter, r *http.Request) {
	vs, err := s.vehicles(r.Context())
	if err != nil {
		s.log.Warn("vehicle history unavailable; listing live vehicles only", "err", err)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"vehicles": vs})
}

func (s *Server) getVehicle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if v, ok := s.deps.Bus.Vehicle(id); ok {
		api.WriteJSON(w, http.StatusOK, v)
		return
	}
	vs, _ := s.vehicles(r.Context())
	for _, v := range vs {
		if v.ID == id {
			api.WriteJSON(w, http.StatusOK, v)
			return
		}
	}
	api.WriteError(w, http.StatusNotFound, "no vehicle "+strconv.Quote(id))
}

// vehicleKnown reports whether id is a vehicle live now or in history.
func (s *Server) vehicleKnown(ctx context.Context, id string) (bool, error) {
	if _, ok := s.deps.Bus.Vehicle(id); ok {
		return true, nil
	}
	recs, err := s.deps.History.Vehicles(ctx)
	if err != nil {
		return false, err
	}
	for _, v := range recs {
		if v.ID == id {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) vehicleTrack(w http.ResponseWriter, r *http.Request) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	id := r.PathValue("id")
	from, to, err := api.ParseRange(r, defaultTrackRange)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if known, err := s.vehicleKnown(r.Context(), id); err != nil {
		api.StoreFailed(s.log, w, r, "the track could not be read", err)
		return
	} else if !known {
		api.WriteError(w, http.StatusNotFound, "no vehicle "+strconv.Quote(id))
		return
	}
	n := defaultTrackPoints
	if s := r.URL.Query().Get("max_points"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 2 || n > maxTrackPoints {
			api.WriteError(w, http.StatusBadRequest, "max_points: a whole number from 2 to "+strconv.Itoa(maxTrackPoints))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	pts, err := s.deps.History.Track(ctx, id, from, to, n)
	if err != nil {
		s.log.Warn("track query failed", "vehicle", id, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "track unavailable: the database did not answer")
		return
	}
	if pts == nil {
		pts = []store.TrackPoint{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"vehicle": id, "from": from.UTC(), "to": to.UTC(), "max_points": n, "points": pts})
}

// Live-feed limits.
const (
	liveQueue        = 4096
	liveWriteTimeout = 10 * time.Second
	livePing         = 20 * time.Second
	maxBatchBytes    = 256 << 10
)

// live is the WebSocket GET /api/v1/live: a snapshot of every vehicle,
// then every update as it happens. Query parameters filter it: types
// (vehicle,event,camera,detections,alert), vehicles (ids), team (alerts for
// that team or escalated to it) and rate (most updates per second per
// vehicle; 0 is every one) and batch (1: the updates that are waiting go
// out together as one JSON array per message, far cheaper for busy feeds;
// the web app asks for it). A client that reads too slowly loses its
// oldest updates, told by a "dropped" message, and never slows ingest.
func (s *Server) live(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	types := map[string]bool{"vehicle": true, "event": true, "camera": true, "detections": true, "alert": true}
	if t := q.Get("types"); t != "" {
		types = map[string]bool{}
		for _, x := range strings.Split(t, ",") {
			if x != "vehicle" && x != "event" && x != "camera" && x != "detections" && x != "alert" {
				api.WriteError(w, http.StatusBadRequest, "types: a comma-separated list of vehicle, event, camera, detections, alert")
				return
			}
			types[x] = true
		}
	}
	var only, onlyCams map[string]bool
	if v := q.Get("vehicles"); v != "" {
		only = map[string]bool{}
		for _, x := range strings.Split(v, ",") {
			only[x] = true
		}
	}
	if v := q.Get("cameras"); v != "" {
		onlyCams = map[string]bool{}
		for _, x := range strings.Split(v, ",") {
			onlyCams[x] = true
		}
	}
	// team narrows alerts to those for a team (or escalated to it): the
	// field page's feed.
	team := q.Get("team")
	batch := q.Get("batch") == "1"
	var minGap time.Duration
	if v := q.Get("rate"); v != "" {
		rate, err := strconv.ParseFloat(v, 64)
		if err != nil || rate < 0 || rate > 1000 {
			api.WriteError(w, http.StatusBadRequest, "rate: updates per second per vehicle, 0 (all) to 1000")
			return
		}
		if rate > 0 {
			minGap = time.Duration(float64(time.Second) / rate)
		}
	}
	// The server's read timeout would end the connection after 30 s: a
	// hijacked connection keeps its deadlines. Pings keep it honest instead.
	rc := http.NewResponseController(w)
	_ = rc.SetReadDeadline(time.Time{})
	_ = rc.SetWriteDeadline(time.Time{})
	c, err := websocket.Accept(w, r, nil) // same-origin only: a foreign page cannot read the feed
	if err != nil {
		return // Accept has answered
	}
	defer c.CloseNow()
	s.liveClients.Inc()
	defer s.liveClients.Dec()
	ctx := c.CloseRead(r.Context()) // the client sends nothing; this notices it going away

	sub := s.deps.Bus.Subscribe(liveQueue)
	defer sub.Close()
	write := func(b []byte) error {
		wctx, cancel := context.WithTimeout(ctx, liveWriteTimeout)
		defer cancel()
		return c.Write(wctx, websocket.MessageText, b)
	}
	send := func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		return write(b)
	}
	wanted := func(id string) bool { return only == nil || only[id] }
	// A camera passes a camera filter by id; under a vehicle filter alone,
	// only the cameras those vehicles carry pass.
	wantedCam := func(id string) bool {
		switch {
		case onlyCams != nil:
			return onlyCams[id]
		case only != nil:
			c, ok := s.deps.Bus.Camera(id)
			return ok && c.VehicleID != "" && only[c.VehicleID]
		}
		return true
	}
	// An event concerns a vehicle, a camera, or neither (then it passes
	// whenever events are wanted and no id filter excludes it).
	wantedEvent := func(e *telemetry.Event) bool {
		switch {
		case e.VehicleID != "":
			return wanted(e.VehicleID) && (onlyCams == nil || only != nil)
		case e.CameraID != "":
			return wantedCam(e.CameraID)
		}
		return only == nil && onlyCams == nil
	}
	if types["vehicle"] || types["camera"] {
		snap := map[string]any{"type": "snapshot"}
		if types["vehicle"] {
			vs := []telemetry.Vehicle{}
			for _, v := range s.deps.Bus.Vehicles() {
				if wanted(v.ID) {
					vs = append(vs, v)
				}
			}
			snap["vehicles"] = vs
		}
		if types["camera"] {
			cs := []telemetry.Camera{}
			for _, c := range s.deps.Bus.Cameras() {
				if wantedCam(c.ID) {
					cs = append(cs, c)
				}
			}
			snap["cameras"] = cs
		}
		if err := send(snap); err != nil {
			return
		}
	}
	lastSent := map[string]time.Time{}
	ping := time.NewTicker(livePing)
	defer ping.Stop()
	var buf []telemetry.Update
	var out []byte // a batch being built
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			c.Close(websocket.StatusNormalClosure, "")
			return
		case <-ping.C:
			pctx, cancel := context.WithTimeout(ctx, liveWriteTimeout)
			err := c.Ping(pctx)
			cancel()
			if err != nil {
				return
			}
		case <-sub.Ready():
			buf = sub.Take(buf[:0])
			out = out[:0]
			for _, u := range buf {
				switch {
				case u.Vehicle != nil:
					id := u.Vehicle.ID
					if !types["vehicle"] || !wanted(id) {
						continue
					}
					if minGap > 0 {
						if now := time.Now(); now.Sub(lastSent[id]) < minGap {
							continue
						} else {
							lastSent[id] = now
						}
					}
				case u.Event != nil:
					if !types["event"] || !wantedEvent(u.Event) {
						continue
					}
				case u.Camera != nil:
					if !types["camera"] || !wantedCam(u.Camera.ID) {
						continue
					}
				case u.Detections != nil:
					if !types["detections"] || !wantedCam(u.Detections.Camera) {
						continue
					}
				case u.Alert != nil:
					if !types["alert"] || (team != "" && u.Alert.Team != team && u.Alert.EscalatedTeam != team) {
						continue
					}
				}
				b, err := u.JSON()
				if err != nil {
					return
				}
				if batch {
					if len(out) == 0 {
						out = append(out, '[')
					} else {
						out = append(out, ',')
					}
					out = append(out, b...)
					if len(out) < maxBatchBytes {
						continue
					}
					b, out = append(out, ']'), out[:0]
				}
				if write(b) != nil {
					return
				}
			}
			if len(out) > 0 && write(append(out, ']')) != nil {
				return
			}
			clear(buf)
			if d := sub.Dropped(); d > reported {
				reported = d
				if err := send(map[string]any{"type": "dropped", "count": d}); err != nil {
					return
				}
			}
		}
	}
}
