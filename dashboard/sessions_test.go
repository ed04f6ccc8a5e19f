package dashboard

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// serveSessions runs a server with supervision sessions over a real store
// and one camera, north.
func serveSessions(t *testing.T) string {
	t.Helper()
	reg := prometheus.NewRegistry()
	st := migratedStore(t, reg)
	sup := supervise.New(supervise.Config{Store: st, Registerer: reg})
	return runTestServer(t, st, Deps{Store: st, Board: telemetry.NewBoard(), History: st, Supervision: Supervision{Store: st, Rooms: sup},
		Cameras: cameraList{{ID: "north", Name: "North plaza", Kind: "fixed"}}, Gatherer: reg, Registerer: reg})
}

// TestSessionRoutesRefuseHostileInput: bad sessions, remarks and queries
// get a clear 4xx and change nothing; a read-only user sees only what they
// are invited to and changes nothing.
func TestSessionRoutesRefuseHostileInput(t *testing.T) {
	base := serveSessions(t)
	const ctJSON = "application/json"
	now := time.Now().UTC()
	at := func(d time.Duration) string { return now.Add(d).Format(time.RFC3339) }
	good := fmt.Sprintf(`{"title":"Walkdown","kind":"inspection","cameras":["north"],"start":%q,"end":%q}`, at(time.Hour), at(2*time.Hour))
	code, body := send(t, "POST", base+"api/v1/sessions", ctJSON, good, nil)
	if code != 201 {
		t.Fatalf("a good session: %d %s", code, body)
	}
	var created supervise.Session
	if err := json.Unmarshal([]byte(body), &created); err != nil || created.ID == "" {
		t.Fatalf("%v: %s", err, body)
	}
	id := created.ID
	sess := "api/v1/sessions/" + id
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		code                            int
		msg                             string
	}{
		{"not JSON", "POST", "api/v1/sessions", ctJSON, "{title:", nil, 400, `send {"site_id"`},
		{"unknown field", "POST", "api/v1/sessions", ctJSON, `{"title":"x","owner":"root"}`, nil, 400, `unknown field "owner"`},
		{"no title", "POST", "api/v1/sessions", ctJSON, `{"kind":"meeting"}`, nil, 400, "title: 1 to 200"},
		{"long title", "POST", "api/v1/sessions", ctJSON, `{"title":"` + strings.Repeat("é", 201) + `"}`, nil, 400, "title: 1 to 200"},
		{"unknown kind", "POST", "api/v1/sessions", ctJSON, `{"title":"x","kind":"party"}`, nil, 400, `kind: "party"`},
		{"unknown camera", "POST", "api/v1/sessions", ctJSON, `{"title":"x","cameras":["../etc"]}`, nil, 400, `cameras: no camera "../etc"`},
		{"zone camera not in session", "POST", "api/v1/sessions", ctJSON, `{"title":"x","cameras":[],"zone_camera":"north","zone":[[0,0],[1,0],[1,1]]}`, nil, 400, "zone_camera"},
		{"zone without camera", "POST", "api/v1/sessions", ctJSON, `{"title":"x","zone":[[0,0],[1,0],[1,1]]}`, nil, 400, "zone: needs zone_camera"},
		{"zone of two points", "POST", "api/v1/sessions", ctJSON, `{"title":"x","cameras":["north"],"zone_camera":"north","zone":[[0,0],[1,1]]}`, nil, 400, "zone: 3 to 64"},
		{"zone negative", "POST", "api/v1/sessions", ctJSON, `{"title":"x","cameras":["north"],"zone_camera":"north","zone":[[0,0],[-1,0],[1,1]]}`, nil, 400, "zone: points are pixels"},
		{"reversed", "POST", "api/v1/sessions", ctJSON, fmt.Sprintf(`{"title":"x","start":%q,"end":%q}`, at(time.Hour), at(0)), nil, 400, "end after start"},
		{"two days", "POST", "api/v1/sessions", ctJSON, fmt.Sprintf(`{"title":"x","start":%q,"end":%q}`, at(0), at(48*time.Hour)), nil, 400, "at most 24h"},
		{"over already", "POST", "api/v1/sessions", ctJSON, fmt.Sprintf(`{"title":"x","start":%q,"end":%q}`, at(-2*time.Hour), at(-time.Hour)), nil, 400, "over already"},
		{"bad invitee", "POST", "api/v1/sessions", ctJSON, `{"title":"x","invited":["a b"]}`, nil, 400, `invited: "a b"`},
		{"state on create", "POST", "api/v1/sessions", ctJSON, `{"title":"x","state":"ended"}`, nil, 400, "state:"},
		{"huge", "POST", "api/v1/sessions", ctJSON, `{"title":"` + strings.Repeat("a", 70000) + `"}`, nil, 413, ""},
		{"plain text", "POST", "api/v1/sessions", "text/plain", good, nil, 415, "send JSON"},
		{"other origin", "POST", "api/v1/sessions", ctJSON, good, map[string]string{"Origin": "https://evil.example"}, 403, "another origin"},
		{"patch unknown", "PATCH", "api/v1/sessions/nope", ctJSON, `{"title":"y"}`, nil, 404, "no such session"},
		{"patch bad state", "PATCH", sess, ctJSON, `{"state":"paused"}`, nil, 400, `state: "paused"`},
		{"patch back to scheduled", "PATCH", sess, ctJSON, `{"state":"scheduled"}`, nil, 400, "state:"},
		{"get unknown", "GET", "api/v1/sessions/nope", "", "", nil, 404, "no such session"},
		{"list bad state", "GET", "api/v1/sessions?state=x", "", "", nil, 400, "state:"},
		{"list bad time", "GET", "api/v1/sessions?from=monday", "", "", nil, 400, "from: an RFC 3339 time"},
		{"remark before start", "POST", sess + "/remarks", ctJSON, `{"body":"early"}`, nil, 409, "has not started"},
		{"remark empty", "POST", sess + "/remarks", ctJSON, `{"body":"  "}`, nil, 400, "body: 1 to 2000"},
		{"remark unknown field", "POST", sess + "/remarks", ctJSON, `{"body":"x","author":"ceo"}`, nil, 400, `unknown field "author"`},
		{"remark huge", "POST", sess + "/remarks", ctJSON, `{"body":"` + strings.Repeat("a", 5000) + `"}`, nil, 413, ""},
		{"snapshot not a number", "GET", sess + "/remarks/abc/snapshot.jpg", "", "", nil, 400, "remark: a number"},
		{"snapshot missing", "GET", sess + "/remarks/99/snapshot.jpg", "", "", nil, 404, "no snapshot"},
		{"attendance bad step", "GET", sess + "/attendance?step=1ms", "", "", nil, 400, "step: a duration"},
		{"report unknown", "GET", "api/v1/sessions/nope/report.pdf", "", "", nil, 404, "no such session"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, tc.method, base+tc.path, tc.ctype, tc.body, tc.header)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	// Nothing but the good session was stored.
	if code, body := get(t, base+"api/v1/sessions"); code != 200 || strings.Count(body, `"title"`) != 1 {
		t.Fatalf("sessions after the refusals: %d %s", code, body)
	}

	// A planner, not invited: sees nothing, may change nothing; a field
	// user sees nothing either.
	planner, _ := login(t, base, "planner-user", "plannerplanner")
	defer planner.CloseIdleConnections()
	for _, c := range []struct {
		method, path, body string
		code               int
	}{
		{"GET", "api/v1/sessions", "", 200},
		{"GET", sess, "", 404},
		{"GET", sess + "/report.html", "", 404},
		{"GET", sess + "/room", "", 404},
		{"POST", "api/v1/sessions", good, 403},
		{"PATCH", sess, `{"state":"live"}`, 403},
		{"POST", sess + "/remarks", `{"body":"x"}`, 403},
	} {
		req, _ := http.NewRequest(c.method, base+c.path, strings.NewReader(c.body))
		req.Header.Set("Content-Type", ctJSON)
		resp, err := planner.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		resp.Write(&b)
		resp.Body.Close()
		if resp.StatusCode != c.code || (c.path == "api/v1/sessions" && c.method == "GET" && strings.Contains(b.String(), id)) {
			t.Errorf("planner %s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
	}
	// Started by hand, then the planner is invited: they see it.
	if code, body := send(t, "PATCH", base+sess, ctJSON, `{"state":"live","invited":["planner-user"]}`, nil); code != 200 || !strings.Contains(body, `"state":"live"`) {
		t.Fatalf("start by hand: %d %s", code, body)
	}
	req, _ := http.NewRequest("GET", base+sess, nil)
	resp, err := planner.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("the invited planner: %d", resp.StatusCode)
	}
	// A remark's moment must be within the session.
	if code, body := send(t, "POST", base+sess+"/remarks", ctJSON, fmt.Sprintf(`{"body":"x","at":%q}`, at(-3*time.Hour)), nil); code != 400 || !strings.Contains(body, "at: within the session") {
		t.Fatalf("a remark from before: %d %s", code, body)
	}
	if code, body := send(t, "POST", base+sess+"/remarks", ctJSON, `{"body":"x","camera_id":"south"}`, nil); code != 400 || !strings.Contains(body, "camera_id") {
		t.Fatalf("a remark on another camera: %d %s", code, body)
	}
	if code, body := send(t, "POST", base+sess+"/remarks", ctJSON, `{"body":"on the record","snapshot":true}`, nil); code != 201 || !strings.Contains(body, `"snapshot_missing":true`) {
		t.Fatalf("a remark without a picture to take: %d %s", code, body)
	}
}
