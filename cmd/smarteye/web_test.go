package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// The command-centre map in a real browser (Debian's chromium through
// playwright-core): the demo's drones, camera footprints, detections,
// buildings and geofences on the map, a drone's panel on click, and no
// request leaving smarteye.
func TestDashboardMapInBrowser(t *testing.T) {
	if _, err := os.Stat("../../dashboard/web/dist/index.html"); err != nil {
		t.Fatal("the web app is not built: run `make deps`")
	}
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)

	shot := filepath.Join(t.TempDir(), "map.png")
	ctx, cancel := context.WithTimeout(t.Context(), 150*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/map.mjs", p.url, shot)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser test: %v\n%s\n%s", err, stderr.String(), p.log.String())
	}
	var seen struct {
		Vehicles, Cameras, Footprints, Detections, Buildings, Geofences, Markers int
		Panel                                                                    string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("the map shows %+v", seen)
	if seen.Vehicles != 3 || seen.Markers != 3 || seen.Footprints < 2 || seen.Detections < 1 || seen.Buildings < 40 || seen.Geofences < 2 || !strings.HasPrefix(seen.Panel, "drone-") {
		t.Fatalf("map %+v", seen)
	}
	if st, err := os.Stat(shot); err != nil || st.Size() < 10_000 {
		t.Fatalf("screenshot: %v", err)
	}
	stopWith(t, p, syscall.SIGTERM)
}
