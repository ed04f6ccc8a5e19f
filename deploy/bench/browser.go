package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"

	"github.com/smarteye/smarteye/ingest/sim"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
)

const benchPassword = "bench-admin-password"

var dashboardURL = regexp.MustCompile(`dashboard at (http://\S+)`)

// smarteyeProc runs the smarteye binary and waits for its dashboard URL.
func smarteyeProc(ctx context.Context, bin string, env []string, args ...string) (url string, stop func(), err error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), append([]string{"SMARTEYE_ADMIN_PASSWORD=" + benchPassword}, env...)...)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		return "", nil, err
	}
	stop = func() { cmd.Process.Signal(os.Interrupt); cmd.Wait() }
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(out)
		for s.Scan() {
			if m := dashboardURL.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url = <-found:
		time.Sleep(8 * time.Second) // streams live, store ready
		return url, stop, nil
	case <-time.After(90 * time.Second):
		stop()
		return "", nil, fmt.Errorf("%s printed no dashboard URL", bin)
	}
}

// node runs dashboard/web/test/bench.mjs and decodes its JSON.
func node(ctx context.Context, env []string, v any, args ...string) error {
	cmd := exec.CommandContext(ctx, "node", append([]string{"test/bench.mjs"}, args...)...)
	cmd.Dir = "dashboard/web"
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return fmt.Errorf("bench.mjs %s: %w", args[2], err)
	}
	return json.Unmarshal(out, v)
}

// timestampFilter burns the wall-clock milliseconds, mod 65536, as 16
// boxes on a black bar (bit k white when set), evaluated as each frame is made.
func timestampFilter() string {
	f := []string{"drawbox=x=0:y=0:w=384:h=24:color=black:t=fill"}
	for k := range 16 {
		f = append(f, fmt.Sprintf("drawbox=x=%d:y=0:w=24:h=24:color=white:t=fill:enable='mod(floor(time(0)*1000/%d),2)'", k*24, 1<<k))
	}
	return strings.Join(f, ",")
}

func percentile(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// benchBrowser measures the page: first complete map render on the demo,
// and the glass-to-glass latency of a wall tile over MSE and WebRTC.
func benchBrowser(ctx context.Context, root string) (string, error) {
	if _, err := os.Stat("dashboard/web/dist/index.html"); err != nil {
		return "", fmt.Errorf("the web app is not built: run make deps")
	}
	bin := filepath.Join(root, "smarteye")
	if out, err := exec.Command("go", "build", "-o", bin, "./cmd/smarteye").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Command centre in the browser\n\nDebian's chromium (software WebGL, SwiftShader) through playwright-core on this machine, against the smarteye binary. Command: `make bench` (deploy/bench/browser.go, dashboard/web/test/bench.mjs).\n\n")

	// First complete map render on the demo.
	measure.Progress("browser: first map render on the demo")
	url, stop, err := smarteyeProc(ctx, bin, []string{"SMARTEYE_VIDEO_WEBRTC_ADDRESS=127.0.0.1:0"}, "demo", "--http", "127.0.0.1:0", "--mavlink", "127.0.0.1:0", "--rtsp", "127.0.0.1:0", "--data-dir", filepath.Join(root, "demo"))
	if err != nil {
		return "", err
	}
	var render struct{ FirstRenderMs []float64 }
	err = node(ctx, nil, &render, url, benchPassword, "render", "7")
	stop()
	if err != nil {
		return "", err
	}
	fmt.Fprintf(&b, "| figure | p50 | min | max | runs |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| page load → first complete map (buildings, geofences, live feed, drones) | %.0f ms | %.0f ms | %.0f ms | %d |\n",
		percentile(render.FirstRenderMs, 0.5), percentile(render.FirstRenderMs, 0), percentile(render.FirstRenderMs, 1), len(render.FirstRenderMs))

	// Glass to glass: ffmpeg makes 640x360 at 25 fps with the clock burned in.
	srv := &sim.RTSPServer{}
	if err := srv.Start(); err != nil {
		return "", err
	}
	defer srv.Close()
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	pub := exec.CommandContext(pctx, "ffmpeg", "-hide_banner", "-loglevel", "error", "-nostdin", "-re", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=25",
		"-vf", timestampFilter(), "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "25", "-pix_fmt", "yuv420p",
		"-an", "-f", "rtsp", "-rtsp_transport", "tcp", srv.URL("g2g"))
	pub.Stderr = os.Stderr
	if err := pub.Start(); err != nil {
		return "", err
	}
	defer func() { cancel(); pub.Wait() }()
	for deadline := time.Now().Add(15 * time.Second); !srv.Ready("g2g"); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			return "", fmt.Errorf("ffmpeg did not publish the timestamped stream")
		}
	}
	// WebRTC needs the browser on another interface than smarteye.
	host, wrapper := "127.0.0.1", ""
	ns, nsErr := sim.NewNetNS("b", "10.231.9.1", "10.231.9.2")
	if nsErr == nil {
		defer ns.Close()
		host = ns.HostIP
		if wrapper, err = ns.Wrapper(root, "/usr/bin/chromium"); err != nil {
			return "", err
		}
	}
	cfg := filepath.Join(root, "g2g.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("video:\n  cameras:\n    - id: g2g\n      name: Timestamp\n      url: %s\n      detector: none\n", srv.URL("g2g"))), 0o644)
	url, stop, err = smarteyeProc(ctx, bin, []string{"SMARTEYE_VIDEO_WEBRTC_ADDRESS=" + host + ":0"}, "serve", "-c", cfg, "--http", host+":0", "--mavlink", "127.0.0.1:0", "--data-dir", filepath.Join(root, "g2g"))
	if err != nil {
		return "", err
	}
	defer stop()
	fmt.Fprintf(&b, "\nGlass to glass: ffmpeg draws the wall clock (ms) into each 640×360 25 fps frame as it makes it (`drawbox` with `time(0)`), encodes it (x264 ultrafast, zerolatency) and publishes it over RTSP; smarteye pulls it and relays it to a one-tile wall; the page reads the boxes of every frame it presents and subtracts them from its clock. Encode, RTSP, relay, transport, decode and display are all inside the figure.\n\n")
	fmt.Fprintf(&b, "| path | p50 | p95 | frames | goal p50 |\n|---|---|---|---|---|\n")
	for _, mode := range []string{"webrtc", "mse"} {
		var env []string
		if mode == "webrtc" {
			if nsErr != nil {
				fmt.Fprintf(&b, "| WebRTC | not measured: %s | | | 150 ms |\n", nsErr)
				continue
			}
			env = []string{"CHROMIUM_WRAPPER=" + wrapper}
		}
		measure.Progress("browser: glass-to-glass over %s", mode)
		var lat struct {
			Path    string
			Samples []float64
		}
		if err := node(ctx, env, &lat, url, benchPassword, mode, "20", "g2g"); err != nil {
			return "", err
		}
		measure.Progress("browser: %s p50 %.0f ms over %d frames", mode, percentile(lat.Samples, 0.5), len(lat.Samples))
		var ok []float64
		for _, s := range lat.Samples {
			if s < 5000 { // a misread frame (mid-transition) would read as garbage
				ok = append(ok, s)
			}
		}
		goal := map[string]string{"webrtc": "150 ms", "mse": "250 ms"}[mode]
		fmt.Fprintf(&b, "| %s | %.0f ms | %.0f ms | %d | %s |\n", map[string]string{"webrtc": "WebRTC (WHEP, H.264 as sent)", "mse": "MSE (fMP4 over WebSocket)"}[mode],
			percentile(ok, 0.5), percentile(ok, 0.95), len(ok), goal)
	}
	return b.String(), nil
}
