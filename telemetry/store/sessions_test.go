package store

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/supervise"
)

// Attendance counts distinct people whose feet are in the zone, per
// bucket, zero where nobody was; other classes, other cameras, untracked
// boxes and feet outside the zone do not count.
func TestAttendance(t *testing.T) {
	s := newStore(t, Config{})
	runStore(t, s)
	w, err := NewWriter(s, WriterConfig{SpoolDir: t.TempDir(), Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)
	from := time.Now().UTC().Truncate(time.Minute).Add(-10 * time.Minute)
	// det: a box whose bottom centre is (fx, fy).
	det := func(at time.Duration, camera string, track any, class string, fx, fy float32) {
		w.Add(Detections, []any{from.Add(at), camera, track, class, float32(0.9), fx - 10, fy - 40, float32(20), float32(40), nil, nil, nil, "uncalibrated", nil}...)
	}
	zone := [][2]float64{{100, 100}, {300, 100}, {300, 300}, {100, 300}}
	// Bucket 0 (0–10 s): tracks 1 and 2 inside, track 1 seen twice.
	det(1*time.Second, "cam", int64(1), "person", 150, 200)
	det(2*time.Second, "cam", int64(1), "person", 160, 210)
	det(3*time.Second, "cam", int64(2), "person", 250, 250)
	// Not counted: outside the zone, a car, no track, another camera.
	det(4*time.Second, "cam", int64(3), "person", 50, 200)
	det(5*time.Second, "cam", int64(4), "car", 150, 200)
	det(6*time.Second, "cam", nil, "person", 150, 200)
	det(7*time.Second, "other", int64(5), "person", 150, 200)
	// Bucket 1 (10–20 s): nobody. Bucket 2 (20–30 s): track 2 again.
	det(25*time.Second, "cam", int64(2), "person", 120, 120)
	// After the range.
	det(31*time.Second, "cam", int64(6), "person", 150, 200)
	stop()

	pts, err := s.Attendance(t.Context(), "cam", zone, from, from.Add(30*time.Second), 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := []int{2, 0, 1}
	if len(pts) != len(want) {
		t.Fatalf("%d points: %+v", len(pts), pts)
	}
	for i, p := range pts {
		if !p.Time.Equal(from.Add(time.Duration(i)*10*time.Second)) || p.People != want[i] {
			t.Errorf("point %d: %+v, want %d people at %s", i, p, want[i], from.Add(time.Duration(i)*10*time.Second))
		}
	}
	if _, err := s.Attendance(t.Context(), "cam", zone[:2], from, from.Add(time.Minute), time.Second); err == nil {
		t.Error("a two-point zone was taken")
	}
	if _, err := s.Attendance(t.Context(), "cam", zone, from, from, time.Second); !errors.Is(err, ErrRange) {
		t.Errorf("an empty range: %v", err)
	}
}

// Sessions, their remarks and every change on the audit log.
func TestSessionsAndAudit(t *testing.T) {
	s := newStore(t, Config{})
	runStore(t, s)
	ctx := t.Context()
	start := time.Now().UTC().Truncate(time.Second).Add(time.Hour)
	x, err := s.CreateSession(ctx, supervise.Session{ID: "s1", Site: "site", Title: "Kick-off", Kind: "meeting", Cameras: []string{"a", "b"},
		ZoneCamera: "a", Zone: [][2]float64{{0, 0}, {10, 0}, {10, 10}}, Start: start, End: start.Add(time.Hour), Invited: []string{"pat"},
		State: supervise.Scheduled, CreatedBy: "sue"}, supervise.Change{Actor: "sue", RemoteAddr: "127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	if x.CreatedAt.IsZero() || len(x.Zone) != 3 || x.State != supervise.Scheduled {
		t.Fatalf("created %+v", x)
	}
	if _, err := s.CreateSession(ctx, supervise.Session{ID: "s2", Site: "site", Title: "bad", Kind: "party", Start: start, End: start.Add(time.Hour), State: supervise.Scheduled, CreatedBy: "sue"}, supervise.Change{Actor: "sue"}); err == nil {
		t.Error("a session of an unknown kind was stored")
	}
	// A failing change leaves the session and the log as they were.
	boom := errors.New("boom")
	if _, err := s.UpdateSession(ctx, "s1", supervise.Change{Actor: "sue", Action: "session.update"}, func(supervise.Session) (supervise.Session, error) { return supervise.Session{}, boom }); !errors.Is(err, boom) {
		t.Fatalf("update error %v", err)
	}
	if _, err := s.UpdateSession(ctx, "nope", supervise.Change{Actor: "sue"}, func(c supervise.Session) (supervise.Session, error) { return c, nil }); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown session: %v", err)
	}
	now := time.Now().UTC()
	x, err = s.UpdateSession(ctx, "s1", supervise.Change{Actor: "sue", Action: "session.live"}, func(c supervise.Session) (supervise.Session, error) {
		c.State, c.StartedAt, c.Title = supervise.Live, &now, "Kick-off meeting"
		return c, nil
	})
	if err != nil || x.State != supervise.Live || x.Title != "Kick-off meeting" {
		t.Fatalf("update: %v %+v", err, x)
	}
	if from, _ := x.Span(now); !from.Equal(now.Truncate(time.Microsecond)) {
		t.Errorf("span from %s, started %s", from, now)
	}
	r, err := s.AddRemark(ctx, supervise.Remark{Session: "s1", At: now, Author: "sue", Body: "Helmets on", Camera: "a"}, []byte{0xff, 0xd8, 0xff}, supervise.Change{Actor: "sue"})
	if err != nil || r.ID == 0 || !r.HasSnapshot {
		t.Fatalf("remark: %v %+v", err, r)
	}
	if _, err := s.AddRemark(ctx, supervise.Remark{Session: "nope", At: now, Author: "sue", Body: "x"}, nil, supervise.Change{Actor: "sue"}); !errors.Is(err, ErrNotFound) {
		t.Errorf("remark on an unknown session: %v", err)
	}
	if b, err := s.RemarkSnapshot(ctx, "s1", r.ID); err != nil || len(b) != 3 {
		t.Errorf("snapshot: %v %d bytes", err, len(b))
	}
	if _, err := s.RemarkSnapshot(ctx, "other", r.ID); !errors.Is(err, ErrNotFound) {
		t.Errorf("another session's snapshot: %v", err)
	}
	rs, err := s.Remarks(ctx, "s1")
	if err != nil || len(rs) != 1 || rs[0].Body != "Helmets on" || !rs[0].HasSnapshot {
		t.Fatalf("remarks: %v %+v", err, rs)
	}
	// Visibility: pat is invited, sue created it, max neither.
	for user, n := range map[string]int{"pat": 1, "sue": 1, "max": 0, "": 1} {
		got, err := s.Sessions(ctx, supervise.Query{User: user})
		if err != nil || len(got) != n {
			t.Errorf("sessions for %q: %v %d", user, err, len(got))
		}
	}
	if got, _ := s.Sessions(ctx, supervise.Query{Open: true, From: start.Add(30 * time.Minute), To: start.Add(40 * time.Minute)}); len(got) != 1 {
		t.Errorf("open sessions overlapping: %d", len(got))
	}
	if got, _ := s.Sessions(ctx, supervise.Query{From: start.Add(2 * time.Hour)}); len(got) != 0 {
		t.Errorf("sessions after its end: %d", len(got))
	}
	log, err := s.AuditLog(ctx, "session", "s1", 0)
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, e := range log {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	if len(log) != 3 || actions[0] != "sue:session.create" || actions[1] != "sue:session.live" || actions[2] != "sue:session.remark" || log[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("audit log %v", actions)
	}
	var changes map[string][2]any
	if err := json.Unmarshal(log[1].Detail, &changes); err != nil || changes["state"][1] != "live" || changes["title"][0] != "Kick-off" {
		t.Errorf("the change's detail: %s", log[1].Detail)
	}
}
