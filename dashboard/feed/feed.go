// Package feed serves the live feed, GET /api/v1/live: a WebSocket that
// sends a snapshot of the vehicles and cameras, then every update from the
// bus as it happens (vehicles, events, cameras, detections, alerts),
// filtered and batched as the client asks. A client that reads too slowly
// loses its oldest updates and never slows ingest.
package feed

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/coder/websocket"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
)

// Feed serves the live feed from a bus.
type Feed struct {
	bus     telemetry.Bus
	clients prometheus.Gauge
}

// New serves bus's updates; its metric is registered on reg (nil: none).
func New(bus telemetry.Bus, reg prometheus.Registerer) *Feed {
	f := &Feed{bus: bus, clients: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "smarteye_live_clients",
		Help: "Open /api/v1/live WebSocket connections.",
	})}
	if reg != nil {
		reg.MustRegister(f.clients)
	}
	return f
}

// Live-feed limits.
const (
	liveQueue        = 4096
	liveWriteTimeout = 10 * time.Second
	livePing         = 20 * time.Second
	maxBatchBytes    = 256 << 10
)

// ServeHTTP is the WebSocket GET /api/v1/live: a snapshot of every vehicle,
// then every update as it happens. Query parameters filter it: types
// (vehicle,event,camera,detections,alert), vehicles (ids), team (alerts for
// that team or escalated to it) and rate (most updates per second per
// vehicle; 0 is every one) and batch (1: the updates that are waiting go
// out together as one JSON array per message, far cheaper for busy feeds;
// the web app asks for it). A client that reads too slowly loses its
// oldest updates, told by a "dropped" message, and never slows ingest.
func (f *Feed) ServeHTTP(w http.ResponseWriter, r *http.Request) {
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
	f.clients.Inc()
	defer f.clients.Dec()
	ctx := c.CloseRead(r.Context()) // the client sends nothing; this notices it going away

	sub := f.bus.Subscribe(liveQueue)
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
			c, ok := f.bus.Camera(id)
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
			for _, v := range f.bus.Vehicles() {
				if wanted(v.ID) {
					vs = append(vs, v)
				}
			}
			snap["vehicles"] = vs
		}
		if types["camera"] {
			cs := []telemetry.Camera{}
			for _, c := range f.bus.Cameras() {
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
