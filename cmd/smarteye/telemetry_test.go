package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// The demo's simulated drones fly into its own MAVLink link: the API lists
// them live, the live WebSocket streams them, and their tracks are stored.
func TestDemoDronesLiveAndStored(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	began := time.Now().UTC()
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)

	var list struct{ Vehicles []telemetry.Vehicle }
	deadline := time.Now().Add(20 * time.Second)
	for {
		getJSON(t, p.url+"api/v1/vehicles", &list)
		n := 0
		for _, v := range list.Vehicles {
			// Placed, and heard a heartbeat (the mode): position messages
			// can come first.
			if (v.Position.Valid || v.Position.Lat != 0) && v.Mode != "" {
				n++
			}
		}
		if len(list.Vehicles) == 4 && n == 4 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("vehicles: %+v\n%s", list.Vehicles, p.log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, v := range list.Vehicles {
		mode := "AUTO" // patrolling; drone-4 waits on the ground
		if v.ID == "drone-4" {
			mode = "STABILIZE"
		}
		if !strings.HasPrefix(v.ID, "drone-") || v.Discovered || v.Camera != v.ID+"-cam" || v.Health.State != "ok" || v.Mode != mode {
			t.Errorf("vehicle %+v", v)
		}
	}
	var one telemetry.Vehicle
	if code := getJSON(t, p.url+"api/v1/vehicles/drone-1", &one); code != 200 || one.ID != "drone-1" {
		t.Fatalf("GET drone-1: %d %+v", code, one)
	}
	var e struct{ Error string }
	if code := getJSON(t, p.url+"api/v1/vehicles/nope", &e); code != 404 || !strings.Contains(e.Error, "nope") {
		t.Fatalf("GET unknown vehicle: %d %+v", code, e)
	}

	// The live feed: a snapshot, then updates at the full rate.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(p.url, "http", "ws", 1)+"api/v1/live?vehicles=drone-2", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	var snap struct {
		Type     string
		Vehicles []telemetry.Vehicle
	}
	_, b, err := c.Read(ctx)
	if err != nil || json.Unmarshal(b, &snap) != nil || snap.Type != "snapshot" || len(snap.Vehicles) != 1 || snap.Vehicles[0].ID != "drone-2" {
		t.Fatalf("snapshot %s: %v", b, err)
	}
	start := time.Now()
	updates := 0
	for time.Since(start) < 2*time.Second {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			Type    string
			Vehicle *telemetry.Vehicle
		}
		json.Unmarshal(b, &u)
		if u.Type == "vehicle" {
			if u.Vehicle.ID != "drone-2" {
				t.Fatalf("filter ignored: %s", b)
			}
			updates++
		}
	}
	if updates < 40 { // the drones send ~45 messages a second
		t.Errorf("%d live updates in 2 s", updates)
	}
	c.Close(websocket.StatusNormalClosure, "")

	// A foreign page cannot open the feed.
	req, _ := http.NewRequest("GET", p.url+"api/v1/live", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	req.Header.Set("Sec-WebSocket-Version", "13")
	req.Header.Set("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
	req.Header.Set("Origin", "http://evil.example")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin live feed: %d, want 403", resp.StatusCode)
	}

	// The stored track, downsampled.
	var tr struct{ Points []store.TrackPoint }
	deadline = time.Now().Add(10 * time.Second)
	for {
		if code := getJSON(t, p.url+"api/v1/vehicles/drone-1/track?max_points=5&from="+began.Format(time.RFC3339), &tr); code != 200 {
			t.Fatalf("track: %d", code)
		}
		if len(tr.Points) >= 4 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(tr.Points) < 3 || len(tr.Points) > 5 {
		t.Fatalf("track of %d points, want 3..5 (max_points=5)", len(tr.Points))
	}
	for _, bad := range []string{"max_points=1", "max_points=x", "from=yesterday", "from=2026-01-02T00:00:00Z&to=2026-01-01T00:00:00Z"} {
		if code := getJSON(t, p.url+"api/v1/vehicles/drone-1/track?"+bad, &e); code != 400 || e.Error == "" {
			t.Errorf("track?%s: %d %q", bad, code, e.Error)
		}
	}
	stopWith(t, p, syscall.SIGTERM)
	http.DefaultClient.CloseIdleConnections()
}

var importLine = regexp.MustCompile(`(\d+) frames \((\d+) unreadable\).* (\d+) rows added, (\d+) already imported`)

// A recorded flight nobody here wrote: imported once, it is in history;
// imported again, nothing is added.
func TestImportRecordedFlight(t *testing.T) {
	logPath, _ := filepath.Abs(filepath.Join("..", "..", "ingest", "mavlink", "testdata", "nodepeer", "node_modules", "node-mavlink", "examples", "vtol.tlog"))
	if _, err := os.Stat(logPath); err != nil {
		t.Fatalf("node-mavlink is not installed (run make deps): %v", err)
	}
	// A 2018 flight outlives a 30-day retention only with retention off.
	t.Setenv("SMARTEYE_STORE_RETENTION_TELEMETRY", "0")
	t.Setenv("SMARTEYE_STORE_RETENTION_EVENTS", "0")
	data := filepath.Join(storetest.TempDir(t), "var")
	run := func() []string {
		out, err := exec.Command(binary, "import", "--data-dir", data, "--vehicle", "vtol-sitl", logPath).CombinedOutput()
		if err != nil {
			t.Fatalf("import: %v\n%s", err, out)
		}
		m := importLine.FindStringSubmatch(string(out))
		if m == nil {
			t.Fatalf("no summary in:\n%s", out)
		}
		if !strings.Contains(string(out), "importing vtol.tlog: 100%") {
			t.Errorf("no progress shown:\n%s", out)
		}
		return m
	}
	first := run()
	if first[1] != "23894" || first[2] != "0" || first[3] == "0" || first[4] != "0" {
		t.Fatalf("first import: %v", first)
	}
	p := start(t, "serve", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	// The second import runs beside the serve that owns the data
	// directory: it uses the running database as a client and stops
	// nothing. A second serve on it refuses, naming the owner.
	second := run()
	if second[3] != "0" || second[4] != first[3] {
		t.Fatalf("second import added rows: %v (first %v)", second, first)
	}
	out, code := runCmd(t, "serve", "--data-dir", data, "--http", "127.0.0.1:0", "--mavlink", "127.0.0.1:0")
	if code == 0 || !strings.Contains(out, "is in use by pid "+strconv.Itoa(p.cmd.Process.Pid)) {
		t.Fatalf("second serve: exit %d\n%s", code, out)
	}
	if st := waitReady(t, p); !st.Store.Ready || strings.Contains(p.log.String(), "earlier run") {
		t.Fatalf("the owner's database was disturbed: %+v\n%s", st.Store, p.log.String())
	}
	var tr struct{ Points []store.TrackPoint }
	getJSON(t, p.url+"api/v1/vehicles/vtol-sitl/track?from=2018-08-08T14:00:00Z&to=2018-08-08T14:15:00Z&max_points=20000", &tr)
	// 807 positions in 3.5 minutes, logged in bursts about twice a second,
	// stored at most 10 a second.
	if n := len(tr.Points); n < 300 || n > 2100 {
		t.Fatalf("%d track points", n)
	}
	f, l := tr.Points[0], tr.Points[len(tr.Points)-1]
	if fmt.Sprintf("%.4f,%.4f", f.Lat, f.Lon) != "-35.3630,149.1649" || fmt.Sprintf("%.7f,%.7f", l.Lat, l.Lon) != "-35.3609623,149.1650300" {
		t.Fatalf("first %v,%v last %v,%v", f.Lat, f.Lon, l.Lat, l.Lon)
	}
	var list struct{ Vehicles []telemetry.Vehicle }
	getJSON(t, p.url+"api/v1/vehicles", &list)
	found := false
	for _, v := range list.Vehicles {
		if v.ID == "vtol-sitl" && v.Type == "fixed_wing" && v.Health.State == "lost" {
			found = true
		}
	}
	if !found {
		t.Errorf("imported vehicle not listed from history: %+v", list.Vehicles)
	}
	replayImportedFlight(t, p.url)
	stopWith(t, p, syscall.SIGTERM)
	http.DefaultClient.CloseIdleConnections()

	// Bad input: a file that is not a log, and a missing vehicle name.
	junk := filepath.Join(t.TempDir(), "junk.tlog")
	os.WriteFile(junk, []byte(strings.Repeat("not a telemetry log\n", 5000)), 0o644)
	junkOut, err := exec.Command(binary, "import", "--data-dir", data, "--vehicle", "x", junk).CombinedOutput()
	if err == nil || !strings.Contains(string(junkOut), "no vehicle in the log") && !strings.Contains(string(junkOut), "not a telemetry log") {
		t.Errorf("junk import: %v\n%s", err, junkOut)
	}
	usage, err := exec.Command(binary, "import", logPath).CombinedOutput()
	if code := exitCode(err); code != 2 || !strings.Contains(string(usage), "--vehicle") {
		t.Errorf("import without --vehicle: exit %d\n%s", code, usage)
	}
}

func exitCode(err error) int {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
