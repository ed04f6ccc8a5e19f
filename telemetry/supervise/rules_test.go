package supervise

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

var names = Names{
	Sites:  func() []string { return []string{"cbd", "yard"} },
	Camera: func(id string) bool { return id == "north" || id == "south" },
	User:   func(n string) bool { return !strings.ContainsAny(n, " /") },
}

// A new session is a meeting from now for an hour on the first site
// unless it says otherwise; what it names must exist.
func TestNewSession(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	x, err := NewSession(Fields{Title: new(" Walkdown "), Cameras: &[]string{"north", "north", "south"}, Invited: &[]string{"pat", "kim", "pat"}}, "sue", names, now)
	if err != nil {
		t.Fatal(err)
	}
	if x.Title != "Walkdown" || x.Kind != "meeting" || x.Site != "cbd" || !x.Start.Equal(now) || !x.End.Equal(now.Add(time.Hour)) ||
		x.State != Scheduled || x.CreatedBy != "sue" || len(x.Cameras) != 2 || strings.Join(x.Invited, ",") != "kim,pat" {
		t.Fatalf("%+v", x)
	}
	for _, tc := range []struct {
		name string
		f    Fields
		want string
	}{
		{"state", Fields{Title: new("x"), State: new(Live)}, "state:"},
		{"no title", Fields{}, "title: 1 to 200"},
		{"kind", Fields{Title: new("x"), Kind: new("party")}, `kind: "party"`},
		{"site", Fields{Title: new("x"), Site: new("mars")}, `site_id: no site "mars"`},
		{"camera", Fields{Title: new("x"), Cameras: &[]string{"east"}}, `cameras: no camera "east"`},
		{"zone camera", Fields{Title: new("x"), Zone: &[][2]float64{{0, 0}, {1, 0}, {1, 1}}}, "zone: needs zone_camera"},
		{"invitee", Fields{Title: new("x"), Invited: &[]string{"a b"}}, `invited: "a b"`},
		{"over", Fields{Title: new("x"), Start: new(now.Add(-2 * time.Hour))}, "over already"},
		{"too long", Fields{Title: new("x"), End: new(now.Add(25 * time.Hour))}, "at most 24h"},
	} {
		_, err := NewSession(tc.f, "sue", names, now)
		var inv *InvalidError
		if !errors.As(err, &inv) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
}

// A change the session's state does not allow is ErrState; a bad one is
// an InvalidError and leaves the session as it was.
func TestPatch(t *testing.T) {
	now := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	cur, err := NewSession(Fields{Title: new("Pour")}, "sue", names, now.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	live, err := Patch(cur, Fields{State: new(Live)}, names, now)
	if err != nil || live.State != Live || live.StartedAt == nil || !live.StartedAt.Equal(now) {
		t.Fatalf("start by hand: %v %+v", err, live)
	}
	if _, err := Patch(live, Fields{Start: new(now.Add(time.Minute))}, names, now); !errors.Is(err, ErrState) {
		t.Errorf("a live session's start moved: %v", err)
	}
	var inv *InvalidError
	if got, err := Patch(cur, Fields{State: new("paused")}, names, now); !errors.As(err, &inv) || got.State != Scheduled {
		t.Errorf("state paused: %v %+v", err, got)
	}
	ended, err := Patch(live, Fields{State: new(Ended)}, names, now.Add(time.Minute))
	if err != nil || ended.State != Ended {
		t.Fatalf("end by hand: %v %+v", err, ended)
	}
	if _, err := Patch(ended, Fields{Title: new("Again")}, names, now); !errors.Is(err, ErrState) {
		t.Errorf("an ended session changed: %v", err)
	}
}

// records is a session's record in memory.
type records struct {
	remarks []Remark
	joined  []string
}

func (r records) Attendance(_ context.Context, _ string, _ [][2]float64, from, to time.Time, bucket time.Duration) ([]AttendancePoint, error) {
	var out []AttendancePoint
	for t, i := from, 0; t.Before(to); t, i = t.Add(bucket), i+1 {
		out = append(out, AttendancePoint{Time: t, People: i % 4})
	}
	return out, nil
}
func (r records) Remarks(context.Context, string) ([]Remark, error) { return r.remarks, nil }
func (r records) RemarkSnapshot(context.Context, string, int64) ([]byte, error) {
	return nil, errors.New("no snapshots here")
}
func (r records) Joined(context.Context, string) ([]string, error) { return r.joined, nil }
func (r records) Notices(_ context.Context, s Session) ([]Notice, error) {
	return []Notice{{Time: *s.StartedAt, Kind: "session.live", Message: new("“Pour” is live: join the room")}, {Time: *s.EndedAt, Kind: "session.ended"}}, nil
}

// A report lists everyone invited, in the room or remarking, the curve
// and the remarks, as HTML and as PDF.
func TestReport(t *testing.T) {
	start := time.Date(2026, 11, 23, 8, 0, 0, 0, time.UTC)
	end := start.Add(30 * time.Minute)
	x := Session{ID: "s", Site: "cbd", Title: "Pour <inspection>", Kind: "inspection", Cameras: []string{"north"}, ZoneCamera: "north",
		Zone: [][2]float64{{0, 0}, {10, 0}, {10, 10}}, Start: start, End: end, Invited: []string{"pat"}, State: Ended, StartedAt: &start, EndedAt: &end}
	src := records{remarks: []Remark{{ID: 1, At: start.Add(5 * time.Minute), Author: "sue", Body: "Helmets on"}}, joined: []string{"kim", "pat"}}
	rp, err := NewReport(t.Context(), src, x, "CBD block", end.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	var who []string
	for _, p := range rp.Participants {
		who = append(who, p.Name)
	}
	if strings.Join(who, ",") != "kim,pat,sue" || rp.Attendance.Peak != 3 || rp.SiteName != "CBD block" || len(rp.Notices) != 2 {
		t.Fatalf("report %+v", rp)
	}
	var page bytes.Buffer
	if err := rp.HTML(&page); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Pour &lt;inspection&gt;", "CBD block", "Helmets on", "is live: join the room", "session.ended", "<svg"} {
		if !strings.Contains(page.String(), want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	var pdf bytes.Buffer
	if err := rp.PDF(&pdf); err != nil || !bytes.HasPrefix(pdf.Bytes(), []byte("%PDF")) {
		t.Fatalf("pdf: %v %.10q", err, pdf.Bytes())
	}
	if name := rp.FileName("pdf"); name != "20261123-0800-Pour--inspection.pdf" {
		t.Errorf("file name %q", name)
	}
}
