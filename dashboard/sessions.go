package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net"
	"net/http"
	"regexp"
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

// SessionStore keeps supervision sessions, their remarks and the audit
// log (the store implements it).
type SessionStore interface {
	CreateSession(ctx context.Context, x store.Session, a store.AuditEntry) (store.Session, error)
	UpdateSession(ctx context.Context, id string, a store.AuditEntry, fn func(store.Session) (store.Session, error)) (store.Session, error)
	Session(ctx context.Context, id string) (store.Session, error)
	Sessions(ctx context.Context, q store.SessionQuery) ([]store.Session, error)
	AddRemark(ctx context.Context, r store.Remark, snapshot []byte, a store.AuditEntry) (store.Remark, error)
	Remarks(ctx context.Context, session string) ([]store.Remark, error)
	RemarkSnapshot(ctx context.Context, session string, id int64) ([]byte, error)
	Attendance(ctx context.Context, camera string, zone [][2]float64, from, to time.Time, bucket time.Duration) ([]store.AttendancePoint, error)
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditLog(ctx context.Context, objectType, objectID string, limit int) ([]store.AuditEntry, error)
}

// Session limits.
const (
	maxSessionBody    = 64 << 10
	maxRemarkBody     = 4 << 10
	maxSessionLength  = 24 * time.Hour
	maxSessionCameras = 16
	maxInvited        = 64
	maxZonePoints     = 64
	maxRemarkRunes    = 2000
	maxTitleRunes     = 200
	// attendancePoints is how many buckets a curve has by default.
	attendancePoints  = 240
	minAttendanceStep = 5 * time.Second
	roomKeepAlive     = 15 * time.Second
)

var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

func (s *Server) sessionsReady(w http.ResponseWriter) bool {
	if s.deps.Sessions == nil || s.deps.Supervisor == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no supervision sessions without the store")
		return false
	}
	return true
}

// auditEntry is who did something, from where.
func auditEntry(r *http.Request) store.AuditEntry {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return store.AuditEntry{Actor: auth.Who(r.Context()).Name, RemoteAddr: host}
}

// sessionFields are what a client sets on a session; PATCH leaves nil
// fields as they are.
type sessionFields struct {
	Site       *string       `json:"site_id"`
	Title      *string       `json:"title"`
	Kind       *string       `json:"kind"`
	Cameras    *[]string     `json:"cameras"`
	ZoneCamera *string       `json:"zone_camera"`
	Zone       *[][2]float64 `json:"zone"`
	Start      *time.Time    `json:"start"`
	End        *time.Time    `json:"end"`
	Invited    *[]string     `json:"invited"`
	// State is "live" (start now) or "ended" (end now).
	State *string `json:"state"`
}

const sessionUsage = `send {"site_id": "…", "title": "…", "kind": "meeting|inspection", "cameras": ["…"], "zone_camera": "…", "zone": [[x, y], …], "start": "RFC 3339", "end": "RFC 3339", "invited": ["user", …]}`

// apply sets f's fields on x and checks the result.
func (s *Server) apply(x store.Session, f sessionFields) (store.Session, error) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&x.Site, f.Site)
	set(&x.Title, f.Title)
	set(&x.Kind, f.Kind)
	set(&x.ZoneCamera, f.ZoneCamera)
	if f.Cameras != nil {
		if len(*f.Cameras) > maxSessionCameras {
			return x, badRequestf("cameras: at most %d", maxSessionCameras)
		}
		x.Cameras = []string{}
		for _, c := range *f.Cameras {
			if !slices.Contains(x.Cameras, c) {
				x.Cameras = append(x.Cameras, c) // in the order given, each once
			}
		}
	}
	if f.Zone != nil {
		x.Zone = *f.Zone
	}
	if f.Start != nil {
		x.Start = f.Start.UTC()
	}
	if f.End != nil {
		x.End = f.End.UTC()
	}
	if f.Invited != nil {
		if len(*f.Invited) > maxInvited {
			return x, badRequestf("invited: at most %d people", maxInvited)
		}
		x.Invited = slices.Clone(*f.Invited)
		slices.Sort(x.Invited)
		x.Invited = slices.Compact(x.Invited)
	}
	if x.Cameras == nil {
		x.Cameras = []string{}
	}
	if x.Invited == nil {
		x.Invited = []string{}
	}
	switch n := utf8.RuneCountInString(x.Title); {
	case n == 0 || n > maxTitleRunes || !utf8.ValidString(x.Title):
		return x, badRequestf("title: 1 to %d characters", maxTitleRunes)
	}
	if x.Kind != "meeting" && x.Kind != "inspection" {
		return x, badRequestf("kind: %q is not meeting or inspection", x.Kind)
	}
	if x.Site == "" && s.deps.Geo != nil {
		if sites := s.deps.Geo.Sites(); len(sites) > 0 {
			x.Site = sites[0].ID
		}
	}
	if _, known := s.site(x.Site); s.deps.Geo != nil && !known {
		return x, badRequestf("site_id: no site %q", x.Site)
	}
	if len(x.Cameras) > maxSessionCameras {
		return x, badRequestf("cameras: at most %d", maxSessionCameras)
	}
	for _, c := range x.Cameras {
		if _, ok := s.camera(c); !ok {
			return x, badRequestf("cameras: no camera %q", c)
		}
	}
	if x.ZoneCamera != "" && !slices.Contains(x.Cameras, x.ZoneCamera) {
		return x, badRequestf("zone_camera: %q is not one of the session's cameras", x.ZoneCamera)
	}
	if len(x.Zone) > 0 {
		if x.ZoneCamera == "" {
			return x, badRequestf("zone: needs zone_camera, the camera whose picture it is drawn on")
		}
		if len(x.Zone) < 3 || len(x.Zone) > maxZonePoints {
			return x, badRequestf("zone: 3 to %d points [x, y] in the camera's pixels", maxZonePoints)
		}
		for _, p := range x.Zone {
			for _, v := range p {
				if math.IsNaN(v) || v < 0 || v > 1e5 {
					return x, badRequestf("zone: points are pixels, 0 to 100000")
				}
			}
		}
	}
	if x.Start.IsZero() || x.End.IsZero() || !x.End.After(x.Start) || x.End.Sub(x.Start) > maxSessionLength {
		return x, badRequestf("start and end: RFC 3339 times, end after start, at most %s apart", maxSessionLength)
	}
	if len(x.Invited) > maxInvited {
		return x, badRequestf("invited: at most %d people", maxInvited)
	}
	for _, u := range x.Invited {
		if !userName.MatchString(u) {
			return x, badRequestf("invited: %q is not a user name", u)
		}
	}
	return x, nil
}

// POST /api/v1/sessions schedules a session (live at once when it starts
// now or earlier).
func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !s.sessionsReady(w) {
		return
	}
	var f sessionFields
	if !api.DecodeBody(w, r, maxSessionBody, &f, sessionUsage) {
		return
	}
	if f.State != nil {
		api.WriteError(w, http.StatusBadRequest, "state: a new session is scheduled; PATCH it to start it by hand")
		return
	}
	if f.Kind == nil {
		f.Kind = new("meeting")
	}
	now := time.Now().UTC()
	if f.Start == nil {
		f.Start = &now
	}
	if f.End == nil && f.Start != nil {
		f.End = new(f.Start.Add(time.Hour))
	}
	x, err := s.apply(store.Session{State: store.SessionScheduled, CreatedBy: auth.Who(r.Context()).Name}, f)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !x.End.After(now) {
		api.WriteError(w, http.StatusBadRequest, "end: the session would be over already")
		return
	}
	x.ID = telemetry.NewUUID().String()
	x, err = s.deps.Sessions.CreateSession(r.Context(), x, auditEntry(r))
	if err != nil {
		api.StoreFailed(s.log, w, r, "the session could not be stored", err)
		return
	}
	s.log.Info("session scheduled", "session", x.ID, "title", x.Title, "by", x.CreatedBy)
	if !now.Before(x.Start) {
		// Started by the scheduler within a second; say so at once.
		go s.deps.Supervisor.Check(context.WithoutCancel(r.Context()), time.Now())
	}
	w.Header().Set("Location", "/api/v1/sessions/"+x.ID)
	api.WriteJSON(w, http.StatusCreated, x)
}

// PATCH /api/v1/sessions/{id} changes a session; {"state": "live"} starts
// it by hand and {"state": "ended"} ends it.
func (s *Server) patchSession(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !s.sessionsReady(w) {
		return
	}
	var f sessionFields
	if !api.DecodeBody(w, r, maxSessionBody, &f, sessionUsage) {
		return
	}
	var old store.Session
	a := auditEntry(r)
	a.Action = "session.update"
	if f.State != nil {
		a.Action = "session." + *f.State
	}
	now := time.Now().UTC()
	x, err := s.deps.Sessions.UpdateSession(r.Context(), r.PathValue("id"), a, func(cur store.Session) (store.Session, error) {
		old = cur
		if cur.State == store.SessionEnded {
			return cur, fmt.Errorf("%w: the session has ended and is on the record as it was", supervise.ErrState)
		}
		x, err := s.apply(cur, f)
		if err != nil {
			return cur, err
		}
		if cur.State == store.SessionLive && !x.Start.Equal(cur.Start) {
			return cur, fmt.Errorf("%w: a live session's start cannot move", supervise.ErrState)
		}
		if f.State != nil {
			if *f.State != store.SessionLive && *f.State != store.SessionEnded {
				return cur, badRequestf("state: %q is not live or ended", *f.State)
			}
			if x, err = supervise.Transition(x, *f.State, now); err != nil {
				return cur, err
			}
			if x.State == store.SessionLive && !now.Before(x.End) {
				return cur, badRequestf("end: the session would be over already; move its end first")
			}
		}
		return x, nil
	})
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no such session")
		return
	case errors.Is(err, supervise.ErrState):
		api.WriteError(w, http.StatusConflict, err.Error())
		return
	case errors.As(err, new(badRequest)):
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	case err != nil:
		api.StoreFailed(s.log, w, r, "the change could not be stored", err)
		return
	}
	s.deps.Supervisor.Changed(old, x)
	api.WriteJSON(w, http.StatusOK, x)
}

// badRequest is a client's mistake, answered 400 with its text.
type badRequest struct{ error }

func badRequestf(format string, args ...any) error { return badRequest{fmt.Errorf(format, args...)} }

// canManage is whether the caller manages sessions (supervisors and
// admins); others see only those they are invited to, read-only.
func canManage(r *http.Request) bool { return auth.Who(r.Context()).Can(auth.PermSessions) }

// visibleSession reads {id}, answering 404 itself when it does not exist
// or the caller is not invited.
func (s *Server) visibleSession(w http.ResponseWriter, r *http.Request) (store.Session, bool) {
	if !s.sessionsReady(w) {
		return store.Session{}, false
	}
	x, err := s.deps.Sessions.Session(r.Context(), r.PathValue("id"))
	if errors.Is(err, store.ErrNotFound) || (err == nil && !canManage(r) && !slices.Contains(x.Invited, auth.Who(r.Context()).Name)) {
		api.WriteError(w, http.StatusNotFound, "no such session (or you are not invited to it)")
		return x, false
	}
	if err != nil {
		api.StoreFailed(s.log, w, r, "the session could not be read", err)
		return x, false
	}
	return x, true
}

// GET /api/v1/sessions?from=&to=&state=: the sessions the caller may see,
// newest first.
func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	if !s.sessionsReady(w) {
		return
	}
	q := store.SessionQuery{State: r.URL.Query().Get("state"), Open: r.URL.Query().Get("open") == "true"}
	if q.State != "" && q.State != store.SessionScheduled && q.State != store.SessionLive && q.State != store.SessionEnded {
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
	list, err := s.deps.Sessions.Sessions(r.Context(), q)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the sessions could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sessions": list, "manage": canManage(r)})
}

// SessionView is GET /api/v1/sessions/{id}: the session, its remarks and
// who is in its room.
type SessionView struct {
	store.Session
	From     time.Time          `json:"from"` // what the session covers
	To       time.Time          `json:"to"`
	Remarks  []store.Remark     `json:"remarks"`
	Present  supervise.Presence `json:"present"`
	CanEdit  bool               `json:"can_edit"`
	ServerAt time.Time          `json:"server_time"`
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return
	}
	rem, err := s.deps.Sessions.Remarks(r.Context(), x.ID)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the remarks could not be read", err)
		return
	}
	now := time.Now().UTC()
	from, to := x.Span(now)
	api.WriteJSON(w, http.StatusOK, SessionView{Session: x, From: from, To: to, Remarks: rem, Present: s.deps.Supervisor.Present(x.ID), CanEdit: canManage(r), ServerAt: now})
}

// POST /api/v1/sessions/{id}/remarks {"body": "…", "at": RFC 3339
// (default now), "camera_id": "…", "snapshot": true}: a remark on the
// record, heard at once by everyone in the room. The snapshot is the
// camera's analysed picture nearest at; a remark is kept without one when
// there is none ("snapshot_missing" says so).
func (s *Server) addRemark(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	x, ok := s.visibleSession(w, r)
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
	if x.State == store.SessionScheduled {
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
	if req.Snapshot && req.Camera != "" && s.deps.Snapshot != nil {
		snap = s.deps.Snapshot(req.Camera, at)
	}
	rem, err := s.deps.Sessions.AddRemark(r.Context(), store.Remark{Session: x.ID, At: at, Author: auth.Who(r.Context()).Name, Body: req.Body, Camera: req.Camera}, snap, auditEntry(r))
	if errors.Is(err, store.ErrNotFound) {
		api.WriteError(w, http.StatusNotFound, "no such session")
		return
	}
	if err != nil {
		api.StoreFailed(s.log, w, r, "the remark could not be stored", err)
		return
	}
	s.deps.Supervisor.Publish(x.ID, supervise.Message{Type: "remark", Data: rem})
	api.WriteJSON(w, http.StatusCreated, map[string]any{"remark": rem, "snapshot_missing": req.Snapshot && snap == nil})
}

// GET /api/v1/sessions/{id}/remarks/{remark}/snapshot.jpg
func (s *Server) remarkSnapshot(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("remark"), 10, 64)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, "remark: a number")
		return
	}
	b, err := s.deps.Sessions.RemarkSnapshot(r.Context(), x.ID, id)
	if errors.Is(err, store.ErrNotFound) {
		api.WriteError(w, http.StatusNotFound, "no snapshot for that remark")
		return
	}
	if err != nil {
		api.StoreFailed(s.log, w, r, "the snapshot could not be read", err)
		return
	}
	w.Header().Set("Content-Type", "image/jpeg")
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	w.Write(b)
}

// Attendance is GET /api/v1/sessions/{id}/attendance: distinct people in
// the meeting zone per step.
type Attendance struct {
	Camera string                  `json:"camera_id"`
	Zone   [][2]float64            `json:"zone"`
	From   time.Time               `json:"from"`
	To     time.Time               `json:"to"`
	Step   float64                 `json:"step_seconds"`
	Points []store.AttendancePoint `json:"points"`
	Peak   int                     `json:"peak"`
}

// attendance is the session's curve so far (to now while it is live).
func (s *Server) attendance(ctx context.Context, x store.Session, step time.Duration) (Attendance, error) {
	now := time.Now().UTC()
	from, to := x.Span(now)
	if to.After(now) {
		to = now
	}
	a := Attendance{Camera: x.ZoneCamera, Zone: x.Zone, From: from, To: to, Points: []store.AttendancePoint{}}
	if len(x.Zone) < 3 || x.State == store.SessionScheduled || !to.After(from) {
		return a, nil
	}
	if step <= 0 {
		step = max(minAttendanceStep, (to.Sub(from) / attendancePoints).Round(time.Second))
	}
	a.Step = step.Seconds()
	pts, err := s.deps.Sessions.Attendance(ctx, x.ZoneCamera, x.Zone, from, to, step)
	if err != nil {
		return a, err
	}
	a.Points = pts
	for _, p := range pts {
		a.Peak = max(a.Peak, p.People)
	}
	return a, nil
}

// GET /api/v1/sessions/{id}/attendance?step=10s
func (s *Server) sessionAttendance(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
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
	a, err := s.attendance(r.Context(), x, step)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the attendance could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, a)
}

// GET /api/v1/sessions/{id}/audit: every change to the session, oldest
// first.
func (s *Server) sessionAudit(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return
	}
	log, err := s.deps.Sessions.AuditLog(r.Context(), "session", x.ID, 5000)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the audit log could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"audit": log})
}

// GET /api/v1/sessions/{id}/room: the live room as server-sent events:
// "hello" (the session and who is there), then "remark", "session",
// "notice" and "presence" as they happen. Joining is on the audit log: it
// is how the report knows who attended.
func (s *Server) sessionRoom(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return
	}
	rc := http.NewResponseController(w)
	who := auth.Who(r.Context()).Name
	msgs, leave := s.deps.Supervisor.Subscribe(x.ID, who)
	defer leave()
	if x.State == store.SessionLive {
		a := auditEntry(r)
		a.Action, a.ObjectType, a.ObjectID = "session.join", "session", x.ID
		if err := s.deps.Sessions.Audit(r.Context(), a); err != nil {
			s.log.Warn("recording a room join failed", "session", x.ID, "err", err)
		}
	}
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
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
	if !send("hello", map[string]any{"session": x, "present": s.deps.Supervisor.Present(x.ID), "server_time": time.Now().UTC()}) {
		return
	}
	ka := time.NewTicker(roomKeepAlive)
	defer ka.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-s.closing:
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

// GET /api/v1/sessions/{id}/notices: the session's stored notifications
// (went live, camera dropped and back, ended).
func (s *Server) sessionNotices(w http.ResponseWriter, r *http.Request) {
	x, ok := s.visibleSession(w, r)
	if !ok {
		return
	}
	ev, err := s.notices(r.Context(), x)
	if err != nil {
		api.StoreFailed(s.log, w, r, "the notices could not be read", err)
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"notices": ev})
}

func (s *Server) notices(ctx context.Context, x store.Session) ([]store.EventRecord, error) {
	if s.deps.History == nil {
		return []store.EventRecord{}, nil
	}
	from, to := x.Span(time.Now().UTC())
	all, err := s.deps.History.Events(ctx, store.EventQuery{From: from.Add(-time.Minute), To: to.Add(2 * time.Minute), Kind: "session.", Limit: 10000})
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
