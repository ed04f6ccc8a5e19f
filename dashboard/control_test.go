package dashboard

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/control"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// fencedSite has one keep-out fence: a 40 m square 100 m north of the
// test drone's home.
type fencedSite struct{ oneSite }

func (fencedSite) Geofences() ([]geo.Fence, map[string]string) {
	sq := orb.Ring{{114.0548, 22.5408}, {114.0552, 22.5408}, {114.0552, 22.5412}, {114.0548, 22.5412}, {114.0548, 22.5408}}
	return []geo.Fence{{ID: "crane", Name: "Crane", Kind: geo.KeepOut, Polygon: orb.Polygon{sq}}}, map[string]string{"crane": "config"}
}

// commandServer is a dashboard commanding a simulated drone (on the
// ground at 22.5400, 114.0550) through a real MAVLink link.
func commandServer(t *testing.T) (string, *store.Store, *mavlink.Commander) {
	t.Helper()
	reg := prometheus.NewRegistry()
	st := migratedStore(t, reg)
	t.Cleanup(func() { st.Close() }) // after the server stops
	log := slog.New(slog.DiscardHandler)
	in, err := mavlink.New(mavlink.Config{Links: []mavlink.LinkConfig{{Name: "l", Type: mavlink.UDPServer, Address: "127.0.0.1:0"}},
		Vehicles: []mavlink.VehicleConfig{{Name: "hawk", Link: "l", SystemID: 7}}, Log: log}, mavlink.LiveSink{Bus: telemetry.NewHub(nil)}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Target: "udp:" + in.Addr("l").String(), Log: log, Drones: []sim.Drone{{Name: "hawk", SystemID: 7, Type: "quadrotor",
		Speed: 10, Altitude: 30, Battery: time.Hour, Route: [][2]float64{{22.5400, 114.0550}, {22.5401, 114.0550}}, OnGround: true, PreArm: 2 * time.Second}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { in.Run(ctx); done <- struct{}{} }()
	go func() { s.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done })
	srv, _ := runServer(t, Config{Address: "127.0.0.1:0", Auth: testAuth(t)}, Deps{Store: st, Board: telemetry.NewBoard(), Geo: fencedSite{},
		Accounts: st, Gatherer: reg, Registerer: reg,
		Control: Control{Commander: in.Commander(), Limits: control.Limits{Ceiling: 100, Floor: 5, MinTakeoffBattery: 20}}})
	c := in.Commander()
	testkit.WaitFor(t, 15*time.Second, "the drone heard with a position", func() bool {
		v, ok := c.State("hawk")
		return ok && v.Position.Valid
	})
	return srv.URL(), st, c
}

// call sends a JSON body as c (a logged-in client) and decodes the answer.
func call(t *testing.T, c *http.Client, method, url, body string, out any) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if out != nil {
		json.Unmarshal(b, out)
	}
	return resp.StatusCode
}

// Commands need the command permission (admins and commanders) and the
// vehicle's control, which one operator has at a time (an admin may take
// it over); hostile and impossible requests are refused with why, a
// go-to into a keep-out fence or above the ceiling before anything is
// sent, arming only once confirmed; every command, refused ones too, is
// on the audit log.
func TestCommandAPI(t *testing.T) {
	base, st, cmdr := commandServer(t)
	u := base + "api/v1/vehicles/hawk/"
	commander, _ := login(t, base, "commander-user", "commandercommander")
	admin, _ := login(t, base, "admin-user", "adminadmin")
	for _, role := range []string{"planner", "field", "supervisor"} {
		c, _ := login(t, base, role+"-user", role+role)
		if code := call(t, c, "POST", u+"control", `{"action":"take"}`, nil); code != http.StatusForbidden {
			t.Errorf("%s taking control: %d", role, code)
		}
		if code := call(t, c, "POST", u+"commands", `{"command":"rtl"}`, nil); code != http.StatusForbidden {
			t.Errorf("%s commanding: %d", role, code)
		}
		if code := call(t, c, "GET", u+"commands", "", nil); code != http.StatusOK {
			t.Errorf("%s reading the commands: %d", role, code)
		}
	}
	// Without control: 409.
	if code := call(t, commander, "POST", u+"commands", `{"command":"mode","mode":"GUIDED"}`, nil); code != http.StatusConflict {
		t.Fatalf("a command without control: %d", code)
	}
	var ctl struct{ Holder *control.Holder }
	if code := call(t, commander, "POST", u+"control", `{"action":"take"}`, &ctl); code != 200 || ctl.Holder == nil || ctl.Holder.User != "commander-user" {
		t.Fatalf("take control: %d %+v", code, ctl)
	}
	var refused map[string]any
	if code := call(t, admin, "POST", u+"commands", `{"command":"mode","mode":"GUIDED"}`, &refused); code != http.StatusConflict ||
		!strings.Contains(refused["error"].(string), "commander-user controls hawk") {
		t.Fatalf("a second operator: %d %v", code, refused)
	}
	if code := call(t, admin, "POST", u+"control", `{"action":"take"}`, nil); code != http.StatusConflict {
		t.Fatalf("a second operator taking control: %d", code)
	}

	// Hostile input, all refused before anything is sent.
	for _, body := range []string{
		``, `{`, `[]`, `{"command":"goto","lat":"north"}`, `{"command":"goto","lat":95,"lon":114,"alt":30}`,
		`{"command":"self-destruct"}`, `{"command":"mode","mode":"GUI\u0000DED"}`, `{"command":"rtl","extra":1}`,
		`{"command":"takeoff","alt":1e308}`, `{"command":"mission","waypoints":[]}`, `{"command":"fence","fences":["nope"]}`,
		`{"command":"speed","speed":-1}`, `{"command":"gimbal","pitch":1000}`,
	} {
		if code := call(t, commander, "POST", u+"commands", body, nil); code != http.StatusBadRequest {
			t.Errorf("%q: %d, want 400", body, code)
		}
	}
	if code := call(t, commander, "POST", u+"commands", `{"command":"rtl","mode":"`+strings.Repeat("x", 2<<20)+`"}`, nil); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 2 MB body: %d", code)
	}
	if code := call(t, commander, "POST", base+"api/v1/vehicles/nobody/commands", `{"command":"rtl"}`, nil); code != http.StatusNotFound {
		t.Errorf("an unknown vehicle: %d", code)
	}
	for _, body := range []string{``, `{"action":"steal"}`, `{"action":1}`, `{"action":"take","also":"x"}`} {
		if code := call(t, commander, "POST", u+"control", body, nil); code != http.StatusBadRequest {
			t.Errorf("control %q: %d, want 400", body, code)
		}
	}
	for path, want := range map[string]int{
		u + "commands/cmd-nope":                        http.StatusNotFound,
		u + "commands/%00":                             http.StatusBadRequest,
		base + "api/v1/vehicles/nobody/commands":       http.StatusNotFound,
		base + "api/v1/vehicles/nobody/control":        http.StatusNotFound,
		base + "api/v1/vehicles/%E2%80%AE%01/commands": http.StatusBadRequest,
	} {
		if code := call(t, commander, "GET", path, "", nil); code != want {
			t.Errorf("GET %s: %d, want %d", path, code, want)
		}
	}
	// Interlocks: into the keep-out fence, above the ceiling.
	for body, want := range map[string]string{
		`{"command":"goto","lat":22.5410,"lon":114.0550,"alt":30}`:                                                            "keep-out fence \"Crane\"",
		`{"command":"goto","lat":22.5420,"lon":114.0550,"alt":30}`:                                                            "passes through the keep-out fence",
		`{"command":"goto","lat":22.5395,"lon":114.0550,"alt":300}`:                                                           "above the site's ceiling",
		`{"command":"mission","waypoints":[{"lat":22.5395,"lon":114.0550,"alt":30},{"lat":22.5410,"lon":114.0550,"alt":30}]}`: "waypoint 2 is inside",
	} {
		var out map[string]any
		if code := call(t, commander, "POST", u+"commands", body, &out); code != http.StatusUnprocessableEntity || !strings.Contains(out["error"].(string), want) {
			t.Errorf("%s: %d %v, want 422 %q", body, code, out, want)
		}
	}
	if list, _ := cmdr.List("hawk"); len(list) != 0 {
		t.Fatalf("refused commands reached the commander: %+v", list)
	}
	// Arming asks for a confirmation first.
	var ask map[string]any
	if code := call(t, commander, "POST", u+"commands", `{"command":"arm"}`, &ask); code != http.StatusPreconditionRequired || ask["confirm"] == nil {
		t.Fatalf("arm without confirm: %d %v", code, ask)
	}
	// A command goes: 202, then its state.
	var cmd mavlink.Command
	if code := call(t, commander, "POST", u+"commands", `{"command":"mode","mode":"GUIDED"}`, &cmd); code != http.StatusAccepted || cmd.ID == "" || cmd.State != mavlink.Queued {
		t.Fatalf("mode: %d %+v", code, cmd)
	}
	testkit.WaitFor(t, 15*time.Second, "the mode change done", func() bool {
		var got mavlink.Command
		call(t, commander, "GET", u+"commands/"+cmd.ID, "", &got)
		return got.State == mavlink.Done
	})
	// An admin takes over; the commander is then refused.
	if code := call(t, admin, "POST", u+"control", `{"action":"takeover"}`, &ctl); code != 200 || ctl.Holder.User != "admin-user" {
		t.Fatalf("takeover: %d %+v", code, ctl)
	}
	if code := call(t, commander, "POST", u+"commands", `{"command":"hold"}`, nil); code != http.StatusConflict {
		t.Fatalf("after the takeover: %d", code)
	}
	if code := call(t, commander, "POST", u+"control", `{"action":"takeover"}`, nil); code != http.StatusForbidden {
		t.Fatalf("a commander taking over: %d", code)
	}
	// The audit log has the control changes, the command and the refusals.
	entries, err := st.AuditEntries(context.Background(), store.AuditQuery{Limit: 200})
	if err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, e := range entries {
		if e.ObjectID == "hawk" {
			count[e.Action]++
		}
	}
	if count["vehicle.control.take"] != 1 || count["vehicle.control.takeover"] != 1 || count["vehicle.command"] != 1 || count["vehicle.command.refused"] != 14 {
		t.Fatalf("audit %v", count)
	}
}
