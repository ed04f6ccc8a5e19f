package dashboard

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// CameraSource lists the cameras; the video runtime implements it.
type CameraSource interface {
	Cameras() []telemetry.CameraInfo
}

// Query limits for events and detections.
const (
	defaultRows = 1000
	maxRows     = 50000
	maxRange    = 31 * 24 * time.Hour
)

func (s *Server) listCameras(w http.ResponseWriter, r *http.Request) {
	cams := []telemetry.CameraInfo{}
	if s.deps.Cameras != nil {
		cams = append(cams, s.deps.Cameras.Cameras()...)
	}
	for i := range cams {
		s.elsewhere(&cams[i])
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"cameras": cams})
}

func (s *Server) getCamera(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if c, ok := s.camera(id); ok {
		s.elsewhere(&c)
		api.WriteJSON(w, http.StatusOK, c)
		return
	}
	api.WriteError(w, http.StatusNotFound, "no camera "+strconv.Quote(id))
}

// elsewhere fills in, for a camera another cluster node runs, its stream
// as that node last published it on the live bus.
func (s *Server) elsewhere(c *telemetry.CameraInfo) {
	if c.Stream != nil {
		return
	}
	lc, ok := s.deps.Bus.Camera(c.ID)
	if !ok {
		return
	}
	c.Stream = map[string]any{"status": lc.Status, "since": lc.Since, "reason": lc.Reason, "codec": lc.Codec,
		"width": lc.Width, "height": lc.Height, "fps": lc.FPS, "node": lc.Node, "updated": lc.Updated}
	if c.Node == "" {
		c.Node = lc.Node
	}
}

// camera finds a camera by id.
func (s *Server) camera(id string) (telemetry.CameraInfo, bool) {
	if s.deps.Cameras != nil {
		for _, c := range s.deps.Cameras.Cameras() {
			if c.ID == id {
				return c, true
			}
		}
	}
	return telemetry.CameraInfo{}, false
}

// pageParams parses ?from=&to=&limit= (the range defaulting to the last
// def), answering 400 itself when they are wrong.
func pageParams(w http.ResponseWriter, r *http.Request, def time.Duration) (from, to time.Time, limit int, ok bool) {
	from, to, err := api.ParseRange(r, def)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return from, to, 0, false
	}
	if to.Sub(from) > maxRange {
		api.WriteError(w, http.StatusBadRequest, "the range is longer than 31 days; page through it")
		return from, to, 0, false
	}
	limit = defaultRows
	if v := r.URL.Query().Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > maxRows {
			api.WriteError(w, http.StatusBadRequest, "limit: a whole number from 1 to "+strconv.Itoa(maxRows))
			return from, to, 0, false
		}
	}
	return from, to, limit, true
}

// GET /api/v1/events?camera=&vehicle=&kind=&from=&to=&limit=: newest first;
// kind is exact or a prefix ending in "." (kind=zone. for every zone event).
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	from, to, limit, ok := pageParams(w, r, 24*time.Hour)
	if !ok {
		return
	}
	q := r.URL.Query()
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	evs, err := s.deps.History.Events(ctx, store.EventQuery{From: from, To: to, Camera: q.Get("camera"), Vehicle: q.Get("vehicle"), Kind: q.Get("kind"), Limit: limit})
	if err != nil {
		s.log.Warn("events query failed", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "events unavailable: the database did not answer")
		return
	}
	if evs == nil {
		evs = []store.EventRecord{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"from": from.UTC(), "to": to.UTC(), "limit": limit, "events": evs})
}

// GET /api/v1/detections?camera=&class=&track=&from=&to=&limit=: newest first.
func (s *Server) listDetections(w http.ResponseWriter, r *http.Request) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	from, to, limit, ok := pageParams(w, r, time.Hour)
	if !ok {
		return
	}
	q := r.URL.Query()
	var track int64
	var err error
	if v := q.Get("track"); v != "" {
		if track, err = strconv.ParseInt(v, 10, 64); err != nil || track <= 0 {
			api.WriteError(w, http.StatusBadRequest, "track: a track id")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ds, err := s.deps.History.Detections(ctx, store.DetectionQuery{From: from, To: to, Camera: q.Get("camera"), Class: q.Get("class"), TrackID: track, Limit: limit})
	if err != nil {
		s.log.Warn("detections query failed", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "detections unavailable: the database did not answer")
		return
	}
	if ds == nil {
		ds = []store.DetectionRecord{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"from": from.UTC(), "to": to.UTC(), "limit": limit, "detections": ds})
}
