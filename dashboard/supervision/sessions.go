// Package supervision is the dashboard's API of supervision sessions:
// scheduling, starting and ending them, their remarks and snapshots, the
// attendance curve, the live room as server-sent events, the stored
// notifications and the report. The sessions' rules, attendance and
// report are telemetry/supervise's; this package reads requests, checks
// who may see what, and answers.
package supervision

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// Request bounds.
const (
	maxSessionBody = 64 << 10
	maxRemarkBody  = 4 << 10
	maxRemarkRunes = 2000
	roomKeepAlive  = 15 * time.Second
)

const sessionUsage = `send {"site_id": "…", "title": "…", "kind": "meeting|inspection", "cameras": ["…"], "zone_camera": "…", "zone": [[x, y], …], "start": "RFC 3339", "end": "RFC 3339", "invited": ["user", …]}`

// Store keeps supervision sessions, their remarks and the audit log (the
// store implements it).
type Store interface {
	supervise.Counter
	CreateSession(ctx context.Context, x supervise.Session, c supervise.Change) (supervise.Session, error)
	UpdateSession(ctx context.Context, id string, c supervise.Change, fn func(supervise.Session) (supervise.Session, error)) (supervise.Session, error)
	Session(ctx context.Context, id string) (supervise.Session, error)
	Sessions(ctx context.Context, q supervise.Query) ([]supervise.Session, error)
	AddRemark(ctx context.Context, r supervise.Remark, snapshot []byte, c supervise.Change) (supervise.Remark, error)
	Remarks(ctx context.Context, session string) ([]supervise.Remark, error)
	RemarkSnapshot(ctx context.Context, session string, id int64) ([]byte, error)
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, objectType, objectID string, limit int) ([]store.AuditEntry, error)
}

// Rooms runs the sessions: starts and ends them and keeps their rooms
// (supervise.Manager).
type Rooms interface {
	Subscribe(session, who string) (msgs <-chan supervise.Message, leave func())
	Publish(session string, msg supervise.Message)
	Present(session string) supervise.Presence
	Changed(old, s supervise.Session)
	Check(ctx context.Context, now time.Time) error
}

// Events reads stored events: the sessions' notifications.
type Events interface {
	Events(ctx context.Context, q store.EventQuery) ([]store.EventRecord, error)
}

// Config is what the API serves from. Without Store or Rooms it answers
// 503.
type Config struct {
	Store Store
	Rooms Rooms
	// Snapshot is a camera's picture near a moment (a JPEG), for remarks;
	// nil, or nil answers, keep remarks without one.
	Snapshot func(camera string, t time.Time) []byte
	// Events has the notifications; nil has none.
	Events Events
	// Names are the sites, cameras and user names a session may name.
	Names supervise.Names
	// SiteName is a site's name for the report ("" when it has none).
	SiteName func(id string) string
	// Trends reads the trends rollups for the report's site activity; nil
	// leaves it out.
	Trends Trends
	// Closing is closed when the server begins to shut down: the rooms'
	// streams end then.
	Closing <-chan struct{}
	Log     *slog.Logger
}

// API serves the supervision sessions.
type API struct {
	cfg Config
	log *slog.Logger
}

// New serves cfg.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, log: cfg.Log}
}

func (h *API) ready(w http.ResponseWriter) bool {
	if h.cfg.Store == nil || h.cfg.Rooms == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no supervision sessions without the store")
		return false
	}
	return true
}

// change is who changes a session with r, from where.
func change(r *http.Request) supervise.Change {
	return supervise.Change{Actor: auth.Who(r.Context()).Name, RemoteAddr: api.ClientIP(r)}
}

// Create is POST /api/v1/sessions: it schedules a session (live at once
// when it starts now or earlier).
func (h *API) Create(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !h.ready(w) {
		return
	}
	var f supervise.Fields
	if !api.DecodeBody(w, r, maxSessionBody, &f, sessionUsage) {
		return
	}
	now := time.Now().UTC()
	x, err := supervise.NewSession(f, auth.Who(r.Context()).Name, h.cfg.Names, now)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	x.ID = telemetry.NewUUID().String()
	x, err = h.cfg.Store.CreateSession(r.Context(), x, change(r))
	if err != nil {
		api.StoreFailed(h.log, w, r, "the session could not be stored", err)
		return
	}
	h.log.Info("session scheduled", "session", x.ID, "title", x.Title, "by", x.CreatedBy)
	if !now.Before(x.Start) {
		// Started by the scheduler within a second; say so at once.
		go h.cfg.Rooms.Check(context.WithoutCancel(r.Context()), time.Now())
	}
	w.Header().Set("Location", "/api/v1/sessions/"+x.ID)
	api.WriteJSON(w, http.StatusCreated, x)
}

// Patch is PATCH /api/v1/sessions/{id}: it changes a session;
// {"state": "live"} starts it by hand and {"state": "ended"} ends it.
func (h *API) Patch(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !h.ready(w) {
		return
	}
	var f supervise.Fields
	if !api.DecodeBody(w, r, maxSessionBody, &f, sessionUsage) {
		return
	}
	var old supervise.Session
	c := change(r)
	c.Action = "session.update"
	if f.State != nil {
		c.Action = "session." + *f.State
	}
	now := time.Now().UTC()
	x, err := h.cfg.Store.UpdateSession(r.Context(), r.PathValue("id"), c, func(cur supervise.Session) (supervise.Session, error) {
		old = cur
		return supervise.Patch(cur, f, h.cfg.Names, now)
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no such session")
		return
	case errors.Is(err, supervise.ErrState):
		api.WriteError(w, http.StatusConflict, err.Error())
		return
	case errors.As(err, new(*supervise.InvalidError)):
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		api.StoreFailed(h.log, w, r, "the change could not be stored", err)
		return
	}
	h.cfg.Rooms.Changed(old, x)
	api.WriteJSON(w, http.StatusOK, x)
}

// canManage is whether the caller manages sessions (supervisors and
// admins); others see only those they are invited to, read-only.
func canManage(r *http.Request) bool { return auth.Who(r.Context()).Can(auth.PermSessions) }

// visible reads {id}, answering 404 itself when it does not exist or the
// caller is not invited.
func (h *API) visible(w http.ResponseWriter, r *http.Request) (supervise.Session, bool) {
	if !h.ready(w) {
		return supervise.Session{}, false
	}
	x, err := h.cfg.Store.Session(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canManage(r) && !slices.Contains(x.Invited, auth.Who(r.Context()).Name)) {
		api.WriteError(w, http.StatusNotFound, "no such session (or you are not invited to it)")
		return x, false
	}
	if err != nil {
		api.StoreFailed(h.log, w, r, "the session could not be read", err)
		return x, false
	}
	return x, true
}

// List is GET /api/v1/sessions?from=&to=&state=: the sessions the caller
// may see, newest first.
func (h *API) List(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) {
		return
	}
	q := supervise.Query{State: r.URL.Query().Get("state"), Open: r.URL.Query().Get("open") == "true"}
	if q.State != "" && q.State != supervise.Scheduled && q.State != supervise.Live && q.State != supervise.Ended {
		api.WriteError(w, http.StatusBadRequest, "state: scheduled, live or ended")
		return
	}
	for name, dst := range map[string]*time.Time{"from": &q.From, "to": &q.To} {
		if v := r.URL.Query().Get(name); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				api.WriteError(w, http.StatusBadRequest, name+": an RFC 3339 time")
				return
			}
			*dst = t
		}
	}
	if !canManage(r) {
		q.User = auth.Who(r.Context()).Name
	}
	list, err := h.cfg.Store.Sessions(r.Context(), q)
	if err != nil {
		api.StoreFailed(h.log, w, r, "the sessions could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sessions": list, "manage": canManage(r)})
}

// View is GET /api/v1/sessions/{id}: the session, its remarks and who is
// in its room.
type View struct {
	supervise.Session
	From     time.Time          `json:"from"` // what the session covers
	To       time.Time          `json:"to"`
	Remarks  []supervise.Remark `json:"remarks"`
	Present  supervise.Presence `json:"present"`
	CanEdit  bool               `json:"can_edit"`
	ServerAt time.Time          `json:"server_time"`
}

// Get is GET /api/v1/sessions/{id}.
func (h *API) Get(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	rem, err := h.cfg.Store.Remarks(r.Context(), x.ID)
	if err != nil {
		api.StoreFailed(h.log, w, r, "the remarks could not be read", err)
		return
	}
	now := time.Now().UTC()
	from, to := x.Span(now)
	api.WriteJSON(w, http.StatusOK, View{Session: x, From: from, To: to, Remarks: rem, Present: h.cfg.Rooms.Present(x.ID), CanEdit: canManage(r), ServerAt: now})
}

// AddRemark is POST /api/v1/sessions/{id}/remarks {"body": "…", "at": RFC 3339
// (default now), "camera_id": "…", "snapshot": true}: a remark on the
// record, heard at once by everyone in the room. The snapshot is the
// camera's analysed picture nearest at; a remark is kept without one when
// there is none ("snapshot_missing" says so).
func (h *API) AddRemark(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	var req struct {
		Body     string     `json:"body"`
		At       *time.Time `json:"at"`
		Camera   string     `json:"camera_id"`
		Snapshot bool       `json:"snapshot"`
	}
	if !api.DecodeBody(w, r, maxRemarkBody, &req, `send {"body": "…", "at": "RFC 3339", "camera_id": "…", "snapshot": true}`) {
		return
	}
	req.Body = strings.TrimSpace(req.Body)
	if n := utf8.RuneCountInString(req.Body); n == 0 || n > maxRemarkRunes || !utf8.ValidString(req.Body) {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("body: 1 to %d characters", maxRemarkRunes))
		return
	}
	now := time.Now().UTC()
	at := now
	if req.At != nil {
		at = req.At.UTC()
	}
	from, to := x.Span(now)
	if x.State == supervise.Scheduled {
		api.WriteError(w, http.StatusConflict, "the session has not started")
		return
	}
	if at.Before(from.Add(-time.Minute)) || at.After(to.Add(time.Minute)) || at.After(now.Add(5*time.Second)) {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("at: within the session, %s to %s", from.Format(time.RFC3339), to.Format(time.RFC3339)))
		return
	}
	if req.Camera == "" && req.Snapshot && len(x.Cameras) > 0 {
		req.Camera = x.Cameras[0]
	}
	if req.Camera != "" && !slices.Contains(x.Cameras, req.Camera) {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("camera_id: %q is not one of the session's cameras", req.Camera))
		return
	}
	var snap []byte
	if req.Snapshot && req.Camera != "" && h.cfg.Snapshot != nil {
		snap = h.cfg.Snapshot(req.Camera, at)
	}
	rem, err := h.cfg.Store.AddRemark(r.Context(), supervise.Remark{Session: x.ID, At: at, Author: auth.Who(r.Context()).Name, Body: req.Body, Camera: req.Camera}, snap, change(r))
	if errors.Is(err, store.ErrNotFound) {
		api.WriteError(w, http.StatusNotFound, "no such session")
		return
	}
	if err != nil {
		api.StoreFailed(h.log, w, r, "the remark could not be stored", err)
		return
	}
	h.cfg.Rooms.Publish(x.ID, supervise.Message{Type: "remark", Data: rem})
	api.WriteJSON(w, http.StatusCreated, map[string]any{"remark": rem, "snapshot_missing": req.Snapshot && snap == nil})
}

// RemarkSnapshot is GET /api/v1/sessions/{id}/remarks/{remark}/snapshot.jpg.
func (h *API) RemarkSnapshot(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("remark"), 10, 64)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "remark: a number")
		return
	}
	b, err := h.cfg.Store.RemarkSnapshot(r.Context(), x.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		api.WriteError(w, http.StatusNotFound, "no snapshot for that remark")
		return
	}
	if err != nil {
		api.StoreFailed(h.log, w, r, "the snapshot could not be read", err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	w.Write(b)
}

// Attendance is GET /api/v1/sessions/{id}/attendance?step=10s: distinct
// people in the meeting zone per step (a supervise.Attendance).
func (h *API) Attendance(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	var step time.Duration
	if v := r.URL.Query().Get("step"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Second || d > time.Hour {
			api.WriteError(w, http.StatusBadRequest, "step: a duration from 1s to 1h")
			return
		}
		from, to := x.Span(time.Now())
		if to.Sub(from)/d > 10000 {
			api.WriteError(w, http.StatusBadRequest, "step: at most 10,000 points; choose a longer step")
			return
		}
		step = d
	}
	a, err := supervise.AttendanceOf(r.Context(), h.cfg.Store, x, step, time.Now().UTC())
	if err != nil {
		api.StoreFailed(h.log, w, r, "the attendance could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, a)
}

// Audit is GET /api/v1/sessions/{id}/audit: every change to the session,
// oldest first.
func (h *API) Audit(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	log, err := h.cfg.Store.AuditLog(r.Context(), "session", x.ID, 5000)
	if err != nil {
		api.StoreFailed(h.log, w, r, "the audit log could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"audit": log})
}

// Room is GET /api/v1/sessions/{id}/room: the live room as server-sent events:
// "hello" (the session and who is there), then "remark", "session",
// "notice" and "presence" as they happen. Joining is on the audit log: it
// is how the report knows who attended.
func (h *API) Room(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	who := auth.Who(r.Context()).Name
	msgs, leave := h.cfg.Rooms.Subscribe(x.ID, who)
	defer leave()
	if x.State == supervise.Live {
		a := auth.Entry(r)
		a.Action, a.ObjectType, a.ObjectID = "session.join", "session", x.ID
		if err := h.cfg.Store.Audit(r.Context(), a); err != nil {
			h.log.Warn("recording a room join failed", "session", x.ID, "err", err)
		}
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	send := func(typ string, v any) bool {
		b, err := json.Marshal(v)
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if !send("hello", map[string]any{"session": x, "present": h.cfg.Rooms.Present(x.ID), "server_time": time.Now().UTC()}) {
		return
	}
	ka := time.NewTicker(roomKeepAlive)
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.cfg.Closing:
			return
		case m := <-msgs:
			if !send(m.Type, m.Data) {
				return
			}
		case <-ka.C:
			if _, err := fmt.Fprint(w, ": keep-alive\n\n"); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
		}
	}
}

// Notices is GET /api/v1/sessions/{id}/notices: the session's stored
// notifications (went live, camera dropped and back, ended).
func (h *API) Notices(w http.ResponseWriter, r *http.Request) {
	x, ok := h.visible(w, r)
	if !ok {
		return
	}
	ev, err := h.notices(r.Context(), x)
	if err != nil {
		api.StoreFailed(h.log, w, r, "the notices could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"notices": ev})
}

// notices are the stored events about x, oldest first.
func (h *API) notices(ctx context.Context, x supervise.Session) ([]store.EventRecord, error) {
	if h.cfg.Events == nil {
		return []store.EventRecord{}, nil
	}
	from, to := x.Span(time.Now().UTC())
	all, err := h.cfg.Events.Events(ctx, store.EventQuery{From: from.Add(-time.Minute), To: to.Add(2 * time.Minute), Kind: "session.", Limit: 10000})
	if err != nil {
		return nil, err
	}
	out := []store.EventRecord{}
	for _, e := range all {
		var d struct {
			Session string `json:"session"`
		}
		if json.Unmarshal(e.Data, &d) == nil && d.Session == x.ID {
			out = append(out, e)
		}
	}
	slices.SortFunc(out, func(a, b store.EventRecord) int { return a.Time.Compare(b.Time) })
	return out, nil
}
