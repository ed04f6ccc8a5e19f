package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry/supervise"
)

// The supervision sessions' types are supervise's; these names keep the
// code that read them here (cmd/smarteye's tests) as it was.
type (
	// Deprecated: use supervise.Session.
	Session = supervise.Session
)

// Deprecated: use supervise.Scheduled, supervise.Live, supervise.Ended.
const (
	SessionScheduled = supervise.Scheduled
	SessionLive      = supervise.Live
	SessionEnded     = supervise.Ended
)

const sessionColumns = `id, site_id, title, kind, cameras, zone_camera, zone, starts_at, ends_at, invited, state, started_at, ended_at, created_by, created_at, updated_at`

func scanSession(r pgx.Row) (supervise.Session, error) {
	var s supervise.Session
	var zone []byte
	err := r.Scan(&s.ID, &s.Site, &s.Title, &s.Kind, &s.Cameras, &s.ZoneCamera, &zone, &s.Start, &s.End, &s.Invited, &s.State, &s.StartedAt, &s.EndedAt, &s.CreatedBy, &s.CreatedAt, &s.UpdatedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return s, ErrNotFound
	}
	if err == nil && len(zone) > 0 {
		err = json.Unmarshal(zone, &s.Zone)
	}
	return s, err
}

// orEmpty stores a nil list as an empty one.
func orEmpty(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

func zoneJSON(z [][2]float64) []byte {
	if len(z) == 0 {
		return nil
	}
	b, _ := json.Marshal(z)
	return b
}

// CreateSession stores a new session and its audit row (action
// "session.create", detail the session).
func (s *Store) CreateSession(ctx context.Context, x supervise.Session, c supervise.Change) (supervise.Session, error) {
	a := AuditEntry{Actor: c.Actor, RemoteAddr: c.RemoteAddr}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		row := tx.QueryRow(ctx, `INSERT INTO supervision_sessions (id, site_id, title, kind, cameras, zone_camera, zone, starts_at, ends_at, invited, state, started_at, ended_at, created_by)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) RETURNING `+sessionColumns,
			x.ID, x.Site, x.Title, x.Kind, orEmpty(x.Cameras), x.ZoneCamera, zoneJSON(x.Zone), x.Start, x.End, orEmpty(x.Invited), x.State, x.StartedAt, x.EndedAt, x.CreatedBy)
		var err error
		if x, err = scanSession(row); err != nil {
			return err
		}
		a.Action, a.ObjectType, a.ObjectID = "session.create", "session", x.ID
		a.Detail, _ = json.Marshal(x)
		return audit(ctx, tx, a)
	})
	if err != nil {
		return supervise.Session{}, fmt.Errorf("store: create session: %w", err)
	}
	return x, nil
}

// UpdateSession changes a session with fn, which sees the stored row
// (locked) and returns the new one, in one transaction with the audit row
// (c.Action; detail: the fields that changed). fn's error is returned as it
// is, and ErrNotFound when there is no such session.
func (s *Store) UpdateSession(ctx context.Context, id string, c supervise.Change, fn func(supervise.Session) (supervise.Session, error)) (supervise.Session, error) {
	a := AuditEntry{Actor: c.Actor, Action: c.Action, RemoteAddr: c.RemoteAddr}
	var out supervise.Session
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := scanSession(tx.QueryRow(ctx, `SELECT `+sessionColumns+` FROM supervision_sessions WHERE id = $1 FOR UPDATE`, id))
		if err != nil {
			return err
		}
		x, err := fn(old)
		if err != nil {
			return err
		}
		row := tx.QueryRow(ctx, `UPDATE supervision_sessions SET site_id = $2, title = $3, kind = $4, cameras = $5, zone_camera = $6, zone = $7,
				starts_at = $8, ends_at = $9, invited = $10, state = $11, started_at = $12, ended_at = $13, updated_at = now()
			WHERE id = $1 RETURNING `+sessionColumns,
			id, x.Site, x.Title, x.Kind, orEmpty(x.Cameras), x.ZoneCamera, zoneJSON(x.Zone), x.Start, x.End, orEmpty(x.Invited), x.State, x.StartedAt, x.EndedAt)
		if out, err = scanSession(row); err != nil {
			return err
		}
		a.ObjectType, a.ObjectID, a.Detail = "session", id, sessionChanges(old, out)
		return audit(ctx, tx, a)
	})
	if err != nil {
		return supervise.Session{}, err
	}
	return out, nil
}

// sessionChanges is {"field": [old, new]} for each field that changed.
func sessionChanges(a, b supervise.Session) json.RawMessage {
	var ma, mb map[string]any
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	json.Unmarshal(ja, &ma)
	json.Unmarshal(jb, &mb)
	ch := map[string][2]any{}
	for k, v := range mb {
		if k == "updated_at" {
			continue
		}
		if x, _ := json.Marshal(v); string(x) != mustJSON(ma[k]) {
			ch[k] = [2]any{ma[k], v}
		}
	}
	for k, v := range ma {
		if _, ok := mb[k]; !ok {
			ch[k] = [2]any{v, nil}
		}
	}
	out, _ := json.Marshal(ch)
	return out
}

func mustJSON(v any) string { b, _ := json.Marshal(v); return string(b) }

// Session returns one session, or ErrNotFound.
func (s *Store) Session(ctx context.Context, id string) (supervise.Session, error) {
	x, err := scanSession(s.pool.QueryRow(ctx, `SELECT `+sessionColumns+` FROM supervision_sessions WHERE id = $1`, id))
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: session: %w", err)
	}
	return x, err
}

// Sessions lists sessions.
func (s *Store) Sessions(ctx context.Context, q supervise.Query) ([]supervise.Session, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if !q.From.IsZero() {
		where = append(where, "ends_at > "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "starts_at < "+arg(q.To))
	}
	if q.State != "" {
		where = append(where, "state = "+arg(q.State))
	}
	if q.Open {
		where = append(where, "state <> 'ended'")
	}
	if q.User != "" {
		u := arg(q.User)
		where = append(where, "("+u+" = ANY (invited) OR created_by = "+u+")")
	}
	sql := `SELECT ` + sessionColumns + ` FROM supervision_sessions`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	if q.Limit <= 0 {
		q.Limit = 500
	}
	sql += " ORDER BY starts_at DESC LIMIT " + arg(q.Limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (supervise.Session, error) { return scanSession(r) })
	if err != nil {
		return nil, fmt.Errorf("store: sessions: %w", err)
	}
	return out, nil
}

// AddRemark stores a remark (and its snapshot, a JPEG, when not nil) with
// its audit row; ErrNotFound when the session does not exist.
func (s *Store) AddRemark(ctx context.Context, r supervise.Remark, snapshot []byte, c supervise.Change) (supervise.Remark, error) {
	a := AuditEntry{Actor: c.Actor, RemoteAddr: c.RemoteAddr}
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		err := tx.QueryRow(ctx, `INSERT INTO session_remarks (session_id, at, author, body, camera_id, snapshot)
			SELECT id, $2, $3, $4, $5, $6 FROM supervision_sessions WHERE id = $1
			RETURNING id, created_at`, r.Session, r.At, r.Author, r.Body, r.Camera, snapshot).Scan(&r.ID, &r.CreatedAt)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		r.HasSnapshot = snapshot != nil
		a.Action, a.ObjectType, a.ObjectID = "session.remark", "session", r.Session
		a.Detail, _ = json.Marshal(r)
		return audit(ctx, tx, a)
	})
	if errors.Is(err, ErrNotFound) {
		return supervise.Remark{}, ErrNotFound
	}
	if err != nil {
		return supervise.Remark{}, fmt.Errorf("store: add remark: %w", err)
	}
	return r, nil
}

// Remarks lists a session's remarks by the moment they are about.
func (s *Store) Remarks(ctx context.Context, session string) ([]supervise.Remark, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, session_id, at, author, body, camera_id, snapshot IS NOT NULL, created_at
		FROM session_remarks WHERE session_id = $1 ORDER BY at, id`, session)
	if err != nil {
		return nil, fmt.Errorf("store: remarks: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (supervise.Remark, error) {
		var x supervise.Remark
		err := r.Scan(&x.ID, &x.Session, &x.At, &x.Author, &x.Body, &x.Camera, &x.HasSnapshot, &x.CreatedAt)
		return x, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: remarks: %w", err)
	}
	return out, nil
}

// RemarkSnapshot returns a remark's JPEG, or ErrNotFound.
func (s *Store) RemarkSnapshot(ctx context.Context, session string, id int64) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT snapshot FROM session_remarks WHERE session_id = $1 AND id = $2`, session, id).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && b == nil) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: remark snapshot: %w", err)
	}
	return b, nil
}

// Attendance counts, per bucket of [from, to), the distinct person tracks
// of camera whose feet (the bottom centre of the box) were inside zone, a
// polygon in the camera's pixels. Buckets without anyone are zero.
func (s *Store) Attendance(ctx context.Context, camera string, zone [][2]float64, from, to time.Time, bucket time.Duration) ([]supervise.AttendancePoint, error) {
	if !to.After(from) {
		return nil, ErrRange
	}
	if len(zone) < 3 || bucket <= 0 {
		return nil, errors.New("store: attendance: a zone of three points or more and a bucket")
	}
	var wkt strings.Builder
	wkt.WriteString("POLYGON((")
	for i, p := range append(zone, zone[0]) {
		if i > 0 {
			wkt.WriteByte(',')
		}
		fmt.Fprintf(&wkt, "%g %g", p[0], p[1])
	}
	wkt.WriteString("))")
	rows, err := s.pool.Query(ctx, `
		WITH b AS (
			SELECT g AS bucket FROM generate_series($3::timestamptz, $4::timestamptz - interval '1 microsecond', $5::interval) g
		), seen AS (
			SELECT date_bin($5::interval, time, $3) AS bucket, count(DISTINCT track_id) AS people
			FROM detections
			WHERE camera_id = $1 AND time >= $3 AND time < $4 AND class = 'person' AND track_id IS NOT NULL
			  AND ST_Intersects(ST_GeomFromText($2), ST_MakePoint(box_x + box_w / 2, box_y + box_h))
			GROUP BY 1
		)
		SELECT b.bucket, coalesce(seen.people, 0) FROM b LEFT JOIN seen USING (bucket) ORDER BY 1`,
		camera, wkt.String(), from, to, bucket)
	if err != nil {
		return nil, fmt.Errorf("store: attendance: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (supervise.AttendancePoint, error) {
		var p supervise.AttendancePoint
		err := r.Scan(&p.Time, &p.People)
		return p, err
	})
	if err != nil {
		return nil, fmt.Errorf("store: attendance: %w", err)
	}
	return out, nil
}
