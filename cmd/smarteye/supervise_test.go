package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"image/png"
	"math"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// supervisionConfig has three users: admin, sue (a supervisor) and pat (a
// planner), all with testPassword.
func supervisionConfig(t *testing.T) string {
	t.Helper()
	hash, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "smarteye.yml")
	var b strings.Builder
	b.WriteString("auth:\n  users:\n")
	for _, u := range [][2]string{{"admin", "admin"}, {"sue", "supervisor"}, {"pat", "planner"}} {
		fmt.Fprintf(&b, "    - {name: %s, role: %s, password_hash: %q}\n", u[0], u[1], hash)
	}
	// Recording is off: only the session makes the cameras record.
	b.WriteString("video:\n  recording:\n    mode: \"off\"\n    segment: 3s\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// client is a logged-in user of its own.
type client struct {
	t    *testing.T
	base string
	c    *http.Client
}

func logInAs(t *testing.T, base, user string) *client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &client{t: t, base: base, c: &http.Client{Jar: jar}}
	if code, body := c.do("POST", "api/v1/auth/login", `{"username":"`+user+`","password":"`+testPassword+`"}`, nil); code != 200 {
		t.Fatalf("login %s: %d %s", user, code, body)
	}
	return c
}

// do sends a request (a JSON body when body is not empty) and decodes a
// JSON answer into v.
func (c *client) do(method, path, body string, v any) (int, string) {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.c.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	var b strings.Builder
	bufio.NewReader(resp.Body).WriteTo(&b)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal([]byte(b.String()), v); err != nil {
			c.t.Fatalf("%s %s: %v: %s", method, path, err, b.String())
		}
	}
	return resp.StatusCode, b.String()
}

// roomEvents reads a session's room (server-sent events) until ctx ends.
func (c *client) roomEvents(ctx context.Context, id string) <-chan [2]string {
	ch := make(chan [2]string, 64)
	req, _ := http.NewRequestWithContext(ctx, "GET", c.base+"api/v1/sessions/"+id+"/room", nil)
	resp, err := c.c.Do(req)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		c.t.Fatalf("room: %v %v", err, resp)
	}
	go func() {
		defer resp.Body.Close()
		defer close(ch)
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 1<<20)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = line[7:]
			case strings.HasPrefix(line, "data: "):
				ch <- [2]string{typ, line[6:]}
			}
		}
	}()
	return ch
}

// TestSupervisionSession: a meeting supervised remotely on the demo's
// cameras (real pedestrian footage, HOG people detection). Sue schedules
// it, it goes live on time and everyone invited is told; three browsers
// share the room and its remarks within a second; a camera is killed
// during it and the room is told while the session goes on; its attendance
// curve is the stored detections' count of people in the zone; the ended
// session's page shows the recording at a remark's moment; the PDF report
// has the title and the remarks (checked with poppler's pdftotext and
// pdftoppm); every change is on the audit log.
func TestSupervisionSession(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var") // reachable by the postgres account: no fallback cluster
	p := start(t, "demo", "--config", supervisionConfig(t), "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	sue, pat := logInAs(t, p.url, "sue"), logInAs(t, p.url, "pat")

	// Both cameras live and analysed.
	waitFor(t, 90*time.Second, "both cameras analysed", func() bool {
		var list struct{ Cameras []cameraView }
		getJSON(t, p.url+"api/v1/cameras", &list)
		n := 0
		for _, c := range list.Cameras {
			if c.Stream.Status == "live" && c.Analysis.Detections > 0 {
				n++
			}
		}
		return n == 2
	})

	// The lower part of plaza-north's picture is the meeting zone.
	zone := [][2]float64{{0, 300}, {768, 300}, {768, 576}, {0, 576}}
	zj, _ := json.Marshal(zone)
	body := fmt.Sprintf(`{"title":"Tower B safety meeting","kind":"meeting","cameras":["plaza-north","plaza-south"],"zone_camera":"plaza-north","zone":%s,"start":%q,"end":%q,"invited":["pat"]}`,
		zj, time.Now().Add(2*time.Second).UTC().Format(time.RFC3339Nano), time.Now().Add(30*time.Minute).UTC().Format(time.RFC3339Nano))
	if code, msg := pat.do("POST", "api/v1/sessions", body, nil); code != http.StatusForbidden {
		t.Fatalf("a planner scheduled a session: %d %s", code, msg)
	}
	var s supervise.Session
	if code, msg := sue.do("POST", "api/v1/sessions", body, &s); code != http.StatusCreated || s.State != supervise.Scheduled {
		t.Fatalf("schedule: %d %s", code, msg)
	}
	// Live on time, and the invited are told.
	waitFor(t, 15*time.Second, "the session live", func() bool {
		sue.do("GET", "api/v1/sessions/"+s.ID, "", &s)
		return s.State == supervise.Live
	})
	var notices struct{ Notices []store.EventRecord }
	waitFor(t, 10*time.Second, "session.live told", func() bool {
		pat.do("GET", "api/v1/sessions/"+s.ID+"/notices", "", &notices)
		return len(notices.Notices) > 0 && notices.Notices[0].Kind == "session.live"
	})
	var list struct{ Sessions []supervise.Session }
	if pat.do("GET", "api/v1/sessions", "", &list); len(list.Sessions) != 1 || list.Sessions[0].ID != s.ID {
		t.Fatalf("pat's sessions: %+v", list.Sessions)
	}

	// Three browsers in the room.
	shots := artifacts(t)
	room := sessionBrowser(t, p, "room", s.ID, shots)
	if room.PatCanRemark || len(room.Present.People) < 3 || room.SnapshotWidth < 300 || room.AttendancePoints == 0 || len(room.Errors) > 0 {
		t.Errorf("room: %+v", room)
	}
	for name, r := range room.Remark1 {
		if r.Author != "sue" || r.Shown == "" || !strings.HasPrefix(r.Shown, r.Expected) || (name != "sue" && (r.DelayMs < 0 || r.DelayMs > 1000)) {
			t.Errorf("sue's remark in %s's browser: %+v", name, r)
		}
		t.Logf("sue's remark reached %s's browser in %d ms", name, r.DelayMs)
	}
	if r := room.Remark2; r.Author != "admin" || r.DelayMs < 0 || r.DelayMs > 1000 || !strings.HasPrefix(r.Shown, r.Expected) {
		t.Errorf("admin's remark in sue's browser: %+v", r)
	}
	if len(room.Players) != 2 {
		t.Errorf("players in the room: %+v", room.Players)
	}

	// A camera dies during the session: the room is told, the session
	// goes on with the other camera.
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	events := sue.roomEvents(ctx, s.ID)
	if e := <-events; e[0] != "hello" {
		t.Fatalf("the room began with %v", e)
	}
	if err := killPublisher(p.cmd.Process.Pid, "plaza-south"); err != nil {
		t.Fatal(err)
	}
	var north cameraView
	for told := false; !told; {
		select {
		case e, ok := <-events:
			if !ok {
				t.Fatalf("the room closed before the camera's drop was told:\n%s", p.log.String())
			}
			var n struct {
				Kind     string `json:"kind"`
				CameraID string `json:"camera_id"`
				Message  string `json:"message"`
			}
			if e[0] == "notice" && json.Unmarshal([]byte(e[1]), &n) == nil && n.Kind == "session.camera.down" {
				if n.CameraID != "plaza-south" || !strings.Contains(n.Message, "continues") {
					t.Errorf("notice %+v", n)
				}
				told = true
			}
		case <-ctx.Done():
			t.Fatalf("no session.camera.down in the room:\n%s", p.log.String())
		}
	}
	cancel()
	if getJSON(t, p.url+"api/v1/cameras/plaza-north", &north); north.Stream.Status != "live" {
		t.Errorf("plaza-north after plaza-south dropped: %s", north.Stream.Status)
	}
	// Every key of the camera's JSON is snake_case, the decoder's
	// counters included.
	var camJSON map[string]any
	getJSON(t, p.url+"api/v1/cameras/plaza-north", &camJSON)
	if bad := notSnake(camJSON, ""); len(bad) > 0 {
		t.Errorf("keys not in snake_case: %v", bad)
	}
	if dec, _ := camJSON["analysis"].(map[string]any)["decoder"].(map[string]any); dec["units"] == nil {
		t.Errorf("decoder counters: %v", camJSON["analysis"])
	}
	if code, msg := sue.do("POST", "api/v1/sessions/"+s.ID+"/remarks", `{"body":"South camera lost; carrying on with the north one"}`, nil); code != http.StatusCreated {
		t.Errorf("a remark after the drop: %d %s", code, msg)
	}
	if sue.do("GET", "api/v1/sessions/"+s.ID, "", &s); s.State != supervise.Live {
		t.Errorf("the session after the drop: %s", s.State)
	}
	waitFor(t, 10*time.Second, "the session.camera.down event stored", func() bool {
		var ev struct{ Events []store.EventRecord }
		getJSON(t, p.url+"api/v1/events?kind=session.camera.down&from="+url.QueryEscape(s.Start.Add(-time.Minute).Format(time.RFC3339)), &ev)
		return len(ev.Events) == 1 && *ev.Events[0].CameraID == "plaza-south"
	})

	// Ended by hand; read-only users cannot.
	if code, _ := pat.do("PATCH", "api/v1/sessions/"+s.ID, `{"state":"ended"}`, nil); code != http.StatusForbidden {
		t.Errorf("a planner ended the session: %d", code)
	}
	if code, msg := sue.do("PATCH", "api/v1/sessions/"+s.ID, `{"state":"ended"}`, &s); code != 200 || s.State != supervise.Ended || s.EndedAt == nil {
		t.Fatalf("end: %d %s", code, msg)
	}
	if code, _ := sue.do("PATCH", "api/v1/sessions/"+s.ID, `{"title":"rewritten"}`, nil); code != http.StatusConflict {
		t.Errorf("an ended session changed: %d", code)
	}

	// Attendance: the same as counting the stored detections (the
	// detections API) of people whose feet are in the zone, per step.
	from, to := s.Span(time.Now())
	// The writer's last batches may still land: the attendance is taken
	// between two reads of the detections that agree.
	var att supervise.Attendance
	var dets struct{ Detections []store.DetectionRecord }
	detsURL := fmt.Sprintf("%sapi/v1/detections?camera=plaza-north&limit=50000&from=%s&to=%s", p.url, url.QueryEscape(from.Format(time.RFC3339Nano)), url.QueryEscape(to.Format(time.RFC3339Nano)))
	waitFor(t, 30*time.Second, "the detections of the session stored", func() bool {
		var before struct{ Detections []store.DetectionRecord }
		getJSON(t, detsURL, &before)
		if code, msg := pat.do("GET", "api/v1/sessions/"+s.ID+"/attendance?step=5s", "", &att); code != 200 {
			t.Fatalf("attendance: %d %s", code, msg)
		}
		getJSON(t, detsURL, &dets)
		return len(dets.Detections) == len(before.Detections)
	})
	step := 5 * time.Second
	want := make([]map[int64]bool, int(math.Ceil(float64(to.Sub(from))/float64(step))))
	for _, d := range dets.Detections {
		x, y := float64(d.Box[0]+d.Box[2]/2), float64(d.Box[1]+d.Box[3])
		if d.Class != "person" || d.TrackID == nil || d.Time.Before(from) || !d.Time.Before(to) || x < 0 || x > 768 || y < 300 || y > 576 {
			continue
		}
		i := int(d.Time.Sub(from) / step)
		if want[i] == nil {
			want[i] = map[int64]bool{}
		}
		want[i][*d.TrackID] = true
	}
	if len(att.Points) != len(want) || att.Peak == 0 {
		t.Fatalf("attendance has %d points (peak %d), want %d buckets", len(att.Points), att.Peak, len(want))
	}
	for i, pt := range att.Points {
		if !pt.Time.Equal(from.Add(time.Duration(i)*step)) || pt.People != len(want[i]) {
			t.Errorf("attendance %s: %d people, the detections say %d", pt.Time, pt.People, len(want[i]))
		}
	}
	t.Logf("attendance: %d buckets, peak %d, from %d stored detections", len(att.Points), att.Peak, len(dets.Detections))

	// The session's cameras were recorded for its whole duration, though
	// recording is off: from its start (and the pre-roll before it), not
	// long before.
	for _, c := range s.Cameras {
		var recs struct{ Segments []telemetry.Recording }
		waitFor(t, 30*time.Second, c+" recorded", func() bool {
			getJSON(t, fmt.Sprintf("%sapi/v1/cameras/%s/recordings?from=%s&to=%s", p.url, c, url.QueryEscape(from.Add(-time.Minute).Format(time.RFC3339Nano)), url.QueryEscape(to.Format(time.RFC3339Nano))), &recs)
			return len(recs.Segments) > 0 && recs.Segments[len(recs.Segments)-1].End.After(from.Add(5*time.Second))
		})
		if first := recs.Segments[0].Start; first.After(from.Add(3*time.Second)) || first.Before(from.Add(-15*time.Second)) {
			t.Errorf("%s: recorded from %s, the session from %s", c, first, from)
		}
	}

	// The record: the recording at a remark's moment.
	rec := sessionBrowser(t, p, "record", s.ID, shots)
	if rec.Remarks != 4 || len(rec.Clicks) != 2 || rec.ChartMarks != 4 || rec.Audit < 5 || len(rec.Errors) > 0 {
		t.Errorf("record: %+v", rec)
	}
	for _, c := range rec.Clicks {
		if math.Abs(float64(c.T-c.Want)) > 1000 {
			t.Errorf("remark click: the recording at %d, the remark at %d", c.T, c.Want)
		}
	}

	// The report, as HTML and as PDF.
	code, html := pat.do("GET", "api/v1/sessions/"+s.ID+"/report.html", "", nil)
	if code != 200 || !strings.Contains(html, "Tower B safety meeting") || !strings.Contains(html, "Scaffold tie missing") || !strings.Contains(html, "<svg") || !strings.Contains(html, "data:image/jpeg;base64,") {
		t.Errorf("HTML report: %d %.300s", code, html)
	}
	pdf := filepath.Join(shots, "session-report.pdf")
	code, raw := pat.do("GET", "api/v1/sessions/"+s.ID+"/report.pdf", "", nil)
	if code != 200 || !strings.HasPrefix(raw, "%PDF-") {
		t.Fatalf("PDF report: %d %.100q", code, raw)
	}
	os.WriteFile(pdf, []byte(raw), 0o644)
	txt, err := exec.Command("pdftotext", "-layout", pdf, "-").Output()
	if err != nil {
		t.Fatalf("pdftotext: %v", err)
	}
	for _, w := range []string{"Tower B safety meeting", "Scaffold tie missing on level 3", "Acknowledged, site lead informed", "pat", "sue", "Attendance", "dropped during"} {
		if !strings.Contains(string(txt), w) {
			t.Errorf("the PDF's text lacks %q:\n%s", w, txt)
		}
	}
	img := filepath.Join(shots, "session-report")
	if out, err := exec.Command("pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", "-singlefile", pdf, img).CombinedOutput(); err != nil {
		t.Fatalf("pdftoppm: %v %s", err, out)
	}
	f, err := os.Open(img + ".png")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	page, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	inked, all := 0, 0
	b := page.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := page.At(x, y).RGBA()
			all++
			if r+g+bl < 3*0xe000 {
				inked++
			}
		}
	}
	if inked < all/50 {
		t.Errorf("the PDF's first page is nearly blank: %d of %d pixels inked", inked, all)
	}

	// Every change on the audit log, with who made it.
	var audit struct{ Audit []store.AuditEntry }
	pat.do("GET", "api/v1/sessions/"+s.ID+"/audit", "", &audit)
	var actions []string
	for _, e := range audit.Audit {
		actions = append(actions, e.Actor+":"+e.Action)
	}
	for _, w := range []string{"sue:session.create", "scheduler:session.live", "sue:session.remark", "admin:session.remark", "pat:session.join", "sue:session.ended"} {
		if !slices.Contains(actions, w) {
			t.Errorf("audit log %v lacks %s", actions, w)
		}
	}
}

type sessionSeen struct {
	Errors  []string
	Present struct{ People []string }
	// room
	PatCanRemark     bool
	SnapshotWidth    int
	AttendancePoints int
	Remark1          map[string]remarkSeen
	Remark2          remarkSeen
	Players          []struct {
		Camera, Path string
		Frames       int
	}
	// record
	Remarks, ChartMarks, Audit int
	Clicks                     []struct{ Want, T int64 }
}

type remarkSeen struct {
	Author, Shown, Expected string
	DelayMs                 int64
}

func sessionBrowser(t *testing.T, p *proc, phase, id, shots string) sessionSeen {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 180*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/session.mjs", phase, p.url, id, testPassword, shots)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser (%s): %v\n%s\n%s", phase, err, stderr.String(), p.log.String())
	}
	var seen sessionSeen
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return seen
}

var snakeKey = regexp.MustCompile(`^[a-z][a-z0-9_]*$`)

// notSnake lists the paths of keys in v that are not snake_case.
func notSnake(v any, path string) []string {
	var bad []string
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if !snakeKey.MatchString(k) {
				bad = append(bad, path+"."+k)
			}
			bad = append(bad, notSnake(x, path+"."+k)...)
		}
	case []any:
		for i, x := range v {
			bad = append(bad, notSnake(x, fmt.Sprintf("%s[%d]", path, i))...)
		}
	}
	return bad
}
