package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// artifacts is where the browser tests leave their screenshots: the
// folder in TEST_ARTIFACTS (make test sets it), else a temporary one.
func artifacts(t *testing.T) string {
	if d := os.Getenv("TEST_ARTIFACTS"); d != "" {
		if err := os.MkdirAll(d, 0o755); err == nil {
			return d
		}
	}
	return t.TempDir()
}

// browser runs dashboard/web/test/dashboard.mjs and decodes what it saw.
func browser(t *testing.T, p *proc, env []string, args ...string) map[string]any {
	t.Helper()
	if _, err := os.Stat("../../dashboard/web/dist/index.html"); err != nil {
		t.Fatal("the web app is not built: run `make deps`")
	}
	ctx, cancel := context.WithTimeout(t.Context(), 600*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"test/dashboard.mjs", p.url, testPassword}, args...)...)
	cmd.Dir = "../../dashboard/web"
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser test: %v\n%s\n%s", err, stderr.String(), p.log.String())
	}
	var seen map[string]any
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return seen
}

// The command centre in a real browser (Debian's chromium through
// playwright-core), against the real binary's demo: log in; the map's
// buildings, fences, a camera's zone on the ground, moving drones, footprints, detections and heat map; a
// drone's panel on click; the video wall playing the cameras over MSE with
// detection boxes drawn; logging out blocks the API; no request leaves
// smarteye.
func TestDashboardInBrowser(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	shots := artifacts(t)
	seen := browser(t, p, nil, shots)
	t.Logf("the page showed %v", seen)
	num := func(k string) float64 { f, _ := seen[k].(float64); return f }
	if num("vehicles") != 4 || num("markers") != 4 || num("moved") < 2 || num("footprints") < 2 || num("detections") < 1 ||
		num("buildings") < 40 || num("geofences") < 2 || num("zones") < 1 || seen["heatLayer"] != true || num("projections") < 2 || !strings.HasPrefix(fmt.Sprint(seen["panel"]), "drone-") {
		t.Fatalf("map %v", seen)
	}
	if seen["user"] != "admin/admin" || seen["loginError"] == "" || num("afterLogout") != 401 {
		t.Fatalf("login: %v", seen)
	}
	// Playing means live: more than 10 frames shown, the one on screen
	// captured less than 10 s before (MSE that lost its timeline showed
	// one picture a GOP, 30 s behind the camera).
	tiles, _ := seen["tiles"].([]any)
	playing, boxes := 0, 0
	for _, x := range tiles {
		tile := x.(map[string]any)
		latency, _ := tile["latency"].(float64)
		if tile["path"] == "mse" && tile["frames"].(float64) > 10 && latency > 0 && latency < 10_000 {
			playing++
		}
		if tile["overlays"].(float64) > 0 {
			boxes++
		}
	}
	if seen["layoutCovered"] != false {
		t.Errorf("the alert panel covers the wall's layout buttons: %v", seen["layoutCovered"])
	}
	if playing < 2 || boxes < 1 || num("framesGrew") < 2 {
		t.Fatalf("video wall: %d tiles playing live over MSE, %d with boxes: %v", playing, boxes, tiles)
	}
	for _, f := range []string{"map.png", "wall.png"} {
		if st, err := os.Stat(filepath.Join(shots, f)); err != nil || st.Size() < 10_000 {
			t.Fatalf("screenshot %s: %v", f, err)
		}
	}
	stopWith(t, p, syscall.SIGTERM)
}

// WebRTC between chromium and smarteye needs two interfaces: chromium
// gathers no loopback candidates. The test makes a network namespace with
// a veth pair, runs smarteye on the host side and chromium inside. The
// page is served over HTTPS (smarteye's self-signed certificate, pinned in
// chromium): the WHEP offer and the page itself go over TLS, the media
// over DTLS-SRTP.
func TestVideoWallWebRTCInBrowser(t *testing.T) {
	ns, err := sim.NewNetNS("w", "10.231.7.1", "10.231.7.2")
	if err != nil {
		t.Skipf("network namespaces are not permitted here, so WebRTC cannot be tested across interfaces: %v", err)
	}
	t.Cleanup(ns.Close)
	wrapper, err := ns.Wrapper(t.TempDir(), "/usr/bin/chromium")
	if err != nil {
		t.Fatal(err)
	}
	hostIP := ns.HostIP
	data := filepath.Join(storetest.TempDir(t), "var")
	p := startEnv(t, []string{"SMARTEYE_VIDEO_WEBRTC_ADDRESS=" + hostIP + ":0", "SMARTEYE_HTTP_TLS_ENABLED=true"}, "demo", "--data-dir", data, "--http", hostIP+":0")
	if !strings.HasPrefix(p.url, "https://") {
		t.Fatalf("URL %s", p.url)
	}
	seen := browser(t, p, []string{"CHROMIUM_WRAPPER=" + wrapper, pinnedCertificate(t, data)}, artifacts(t), "webrtc")
	if seen["protocol"] != "https:" {
		t.Errorf("the page was served over %v", seen["protocol"])
	}
	t.Logf("over WebRTC: %v", seen)
	tiles, _ := seen["webrtc"].([]any)
	if len(tiles) < 1 {
		t.Fatalf("no tile played over WebRTC: %v", seen)
	}
	stopWith(t, p, syscall.SIGTERM)
}

// On a busy machine the detector sees few of the pictures and its results
// arrive late. The wall's boxes must still stay on the people and cars:
// on the demo with (at least) a core's worth of other work beside it, every picture
// the detector analysed is compared, in chromium, with the boxes drawn
// over it, and with those the old rule (hold the last result) would have
// drawn.
func TestWallBoxesStayOnPeople(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	// One core's worth of busy work, unless the machine is that busy
	// already.
	if load, ok := loadAverage(); !ok || load < float64(runtime.NumCPU()) {
		burn := exec.Command("sh", "-c", "while :; do :; done")
		if err := burn.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { burn.Process.Kill(); burn.Wait() })
	}
	seen := browser(t, p, nil, artifacts(t), "alignment")
	t.Logf("alignment under load: %v", seen)
	a, _ := seen["alignment"].(map[string]any)
	drawn, _ := a["drawn"].(map[string]any)
	held, _ := a["held"].(map[string]any)
	f := func(m map[string]any, k string) float64 { v, _ := m[k].(float64); return v }
	if f(a, "pictures") < 20 || f(drawn, "boxes") < 20 {
		t.Fatalf("too few analysed pictures to judge: %v", seen)
	}
	// Centres within a quarter of the box's height for half the boxes,
	// and at least as close as holding the last result; no more stray
	// boxes, and nearly as many of the detector's objects boxed.
	if f(drawn, "p50") > 0.25 || f(drawn, "p50") > f(held, "p50")+0.01 || f(drawn, "stray") > f(held, "stray")+0.01 || f(drawn, "recall") < f(held, "recall")-0.05 {
		t.Fatalf("boxes off their people: drawn %v, held %v", drawn, held)
	}
	stopWith(t, p, syscall.SIGTERM)
}

// loadAverage is the one-minute load average.
func loadAverage() (float64, bool) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return 0, false
	}
	v, err := strconv.ParseFloat(f[0], 64)
	return v, err == nil
}

// A commander flies the demo's grounded drone from the map in chromium:
// takes control, GUIDED, arms (refused with the autopilot's reason until
// its pre-arm checks are over), takes off, goes to a point clicked on the
// map, holds, patrols a route drawn on the map, returns to launch. Each
// step ends done; each is on the audit log and the vehicle's timeline.
func TestFlyFromDashboard(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	began := time.Now() // the simulated drone's pre-arm period (20 s) starts about now
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	seen := browser(t, p, nil, artifacts(t), "fly", "drone-4")
	t.Logf("the page showed %v", seen)
	steps, _ := seen["steps"].(map[string]any)
	for _, s := range []string{"guided", "arm", "takeoff", "goto", "hold", "mission", "mission_start", "rtl"} {
		if steps[s] != "done" {
			t.Errorf("%s: %v", s, steps[s])
		}
	}
	if d, _ := seen["gotoError"].(float64); d > 5 {
		t.Errorf("the go-to stopped %.1f m from the point clicked", d)
	}
	if n, _ := seen["plan"].(float64); n != 3 {
		t.Errorf("the patrol drawn on the map: %v waypoints", seen["plan"])
	}
	if seen["mode"] != "RTL" {
		t.Errorf("mode %v after RTL", seen["mode"])
	}
	// The timeline and the audit log.
	var evs struct {
		Events []struct {
			Time time.Time      `json:"time"`
			Kind string         `json:"kind"`
			Data map[string]any `json:"data"`
		} `json:"events"`
	}
	// Stored through the writer's batches: wait for the last one.
	testkit.WaitFor(t, 20*time.Second, "the RTL's outcome stored", func() bool {
		getJSON(t, p.url+"api/v1/events?vehicle=drone-4&kind=vehicle.command&limit=1000", &evs)
		for _, e := range evs.Events {
			if e.Data["command"] == "rtl" && e.Data["state"] == "done" {
				return true
			}
		}
		return false
	})
	// An arm tried within the pre-arm period is refused with the
	// autopilot's reason. (On a slow machine the page may first arm after
	// it: then there is no refusal to see.)
	var firstArm time.Time
	for _, e := range evs.Events {
		if e.Data["command"] == "arm" && (firstArm.IsZero() || e.Time.Before(firstArm)) {
			firstArm = e.Time
		}
	}
	if firstArm.Before(began.Add(15 * time.Second)) {
		if !strings.Contains(fmt.Sprint(seen["armRefused"]), "Arm:") {
			t.Errorf("the first arm, %.1f s after start (pre-arm: 20 s), was not refused with the autopilot's reason: %q", firstArm.Sub(began).Seconds(), seen["armRefused"])
		}
	} else {
		t.Logf("the first arm came %.1f s after start, past the pre-arm period", firstArm.Sub(began).Seconds())
	}
	done := map[string]bool{}
	for _, e := range evs.Events {
		if e.Data["state"] == "done" {
			done[fmt.Sprint(e.Data["command"])] = true
		}
	}
	for _, c := range []string{"mode", "arm", "takeoff", "goto", "hold", "mission", "mission_start", "rtl"} {
		if !done[c] {
			t.Errorf("no stored event of %s done on drone-4's timeline (%d events)", c, len(evs.Events))
		}
	}
	var audit []struct {
		Action   string `json:"action"`
		ObjectID string `json:"object_id"`
	}
	getJSON(t, p.url+"api/v1/audit?limit=500", &audit)
	count := map[string]int{}
	for _, a := range audit {
		if a.ObjectID == "drone-4" {
			count[a.Action]++
		}
	}
	if count["vehicle.control.take"] != 1 || count["vehicle.command"] < 8 || count["vehicle.command.result"] < 8 {
		t.Errorf("audit %v", count)
	}
}
