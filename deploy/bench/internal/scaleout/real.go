package scaleout

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
)

// realSetup builds the smarteye binary and starts a PostgreSQL for the
// real run, both under root.
func realSetup(ctx context.Context, root string) (bin, dbURL string, stop func(), err error) {
	measure.Progress("scale-out: building smarteye and starting PostgreSQL for the real cameras")
	bin = filepath.Join(root, "smarteye")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/smarteye").CombinedOutput(); err != nil {
		return "", "", nil, fmt.Errorf("go build: %v: %s", err, out)
	}
	c, err := embedded.New(embedded.Config{Dir: filepath.Join(root, "real-pg"), Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return "", "", nil, err
	}
	if err := c.Start(ctx); err != nil {
		return "", "", nil, err
	}
	return bin, c.URL(), func() { c.Stop(time.Minute) }, nil
}

// realNode is one smarteye serve process of the real run.
type realNode struct {
	name string
	cmd  *exec.Cmd
	url  string
	web  *http.Client
}

const realPassword = "bench-admin-password"

// Real runs three `smarteye serve` processes (the binary bin) on one
// database (dbURL) with cameras real RTSP cameras (ffmpeg publishing an
// encoded clip as it is, analysed for motion once a second), SIGKILLs a
// node kills times, and reports the time until every camera is live: at
// start, after each kill and after the node's return.
func Real(ctx context.Context, root, bin, dbURL string, cameras, kills int) (string, error) {
	measure.Progress("scale-out: %d real cameras on three smarteye processes", cameras)
	clip := filepath.Join(root, "real-clip.mp4")
	if out, err := exec.CommandContext(ctx, "ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=15", "-t", "10",
		"-c:v", "libx264", "-g", "15", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg: %v: %s", err, out)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	rtsp := &sim.RTSPServer{Log: log}
	if err := rtsp.Start(); err != nil {
		return "", err
	}
	defer rtsp.Close()
	pctx, stopPubs := context.WithCancel(ctx)
	defer stopPubs()
	var ids []string
	var cams strings.Builder
	for i := range cameras {
		id := fmt.Sprintf("cam-%02d", i+1)
		ids = append(ids, id)
		p := &sim.Publisher{Source: clip, Copy: true, URL: rtsp.URL(id), Log: log}
		go p.Run(pctx)
		fmt.Fprintf(&cams, "    - {id: %s, url: %q, transport: tcp, detector: motion, rate: 1}\n", id, "rtsp://"+rtsp.Addr()+"/"+id)
	}
	cfg := filepath.Join(root, "real.yml")
	if err := os.WriteFile(cfg, []byte("video:\n  recording:\n    mode: off\n    dir: "+filepath.Join(root, "real-recordings")+"\n  cameras:\n"+cams.String()), 0o644); err != nil {
		return "", err
	}
	ports, err := freePorts(6)
	if err != nil {
		return "", err
	}
	var routes []string
	for i := range 3 {
		routes = append(routes, "nats://127.0.0.1:"+strconv.Itoa(ports[i]))
	}
	nodes := make([]*realNode, 3)
	start := func(i int) error {
		name := fmt.Sprintf("node-%d", i+1)
		addr := "127.0.0.1:" + strconv.Itoa(ports[3+i])
		cmd := exec.CommandContext(ctx, bin, "serve", "-c", cfg, "--data-dir", filepath.Join(root, "real-"+name), "--http", addr, "--mavlink", "127.0.0.1:0")
		cmd.Env = append(os.Environ(), "SMARTEYE_DATABASE_URL="+dbURL, "SMARTEYE_ADMIN_PASSWORD="+realPassword,
			"SMARTEYE_CLUSTER_MODE=embedded", "SMARTEYE_CLUSTER_NODE="+name, "SMARTEYE_CLUSTER_LISTEN=127.0.0.1:"+strconv.Itoa(ports[i]),
			"SMARTEYE_CLUSTER_ROUTES="+strings.Join(routes, ","), "SMARTEYE_HTTP_RATE_LIMIT_API_RATE=0", "SMARTEYE_VIDEO_WEBRTC_ADDRESS=127.0.0.1:0")
		if err := cmd.Start(); err != nil {
			return err
		}
		jar, _ := cookiejar.New(nil)
		nodes[i] = &realNode{name: name, cmd: cmd, url: "http://" + addr + "/", web: &http.Client{Jar: jar, Timeout: 5 * time.Second}}
		return nil
	}
	defer func() {
		for _, n := range nodes {
			if n != nil {
				n.cmd.Process.Signal(syscall.SIGTERM)
				n.cmd.Wait()
			}
		}
	}()
	started := time.Now()
	for i := range 3 {
		if err := start(i); err != nil {
			return "", err
		}
	}
	all := []string{"node-1", "node-2", "node-3"}
	if err := waitLive(ctx, nodes[0], ids, all, 3*time.Minute); err != nil {
		return "", fmt.Errorf("real cameras at start: %w", err)
	}
	toLive := time.Since(started)
	var failovers, returns []float64
	for k := range kills {
		victim := k % 3
		survivor := nodes[(victim+1)%3]
		alive := slices.Delete(slices.Clone(all), victim, victim+1)
		killed := time.Now()
		nodes[victim].cmd.Process.Signal(syscall.SIGKILL)
		nodes[victim].cmd.Wait()
		nodes[victim] = nil
		if err := waitLive(ctx, survivor, ids, alive, time.Minute); err != nil {
			return "", fmt.Errorf("real cameras after a kill: %w", err)
		}
		failovers = append(failovers, time.Since(killed).Seconds())
		back := time.Now()
		if err := start(victim); err != nil {
			return "", err
		}
		if err := waitShare(ctx, survivor, ids, all[victim], time.Minute); err != nil {
			return "", fmt.Errorf("real cameras after the node's return: %w", err)
		}
		returns = append(returns, time.Since(back).Seconds())
	}
	var b strings.Builder
	fmt.Fprintf(&b, "### Scale-out with %d real cameras\n\nThree `smarteye serve` processes (an embedded NATS cluster on loopback, one PostgreSQL), %d RTSP cameras (ffmpeg publishing a 640×360 15 fps H.264 clip as it is; motion analysis once a second), the node killed with SIGKILL %d times, each time another, then started again.\n\n", cameras, cameras, kills)
	b.WriteString("| | Median | Max |\n|---|---|---|\n")
	fmt.Fprintf(&b, "| From start to every camera live (once) | %.1f s | |\n", toLive.Seconds())
	fmt.Fprintf(&b, "| From SIGKILL to every camera live on the survivors | %.1f s | %.1f s |\n", measure.Median(failovers), slices.Max(failovers))
	fmt.Fprintf(&b, "| From the node's restart to its share back and live | %.1f s | %.1f s |\n\n", measure.Median(returns), slices.Max(returns))
	return b.String(), nil
}

// status is what the real run reads of a node's API.
type realStatus struct {
	Cluster struct {
		Owners map[string]string `json:"owners"`
	} `json:"cluster"`
}

func (n *realNode) get(path string, v any) error {
	resp, err := n.web.Get(n.url + path)
	if err == nil && resp.StatusCode == http.StatusUnauthorized {
		resp.Body.Close()
		login, lerr := n.web.Post(n.url+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+realPassword+`"}`))
		if lerr != nil {
			return lerr
		}
		login.Body.Close()
		resp, err = n.web.Get(n.url + path)
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: %s", path, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

// live reports whether, as n sees it, every camera is owned by one of
// alive and live.
func (n *realNode) live(ids, alive []string) bool {
	var st realStatus
	var cams struct {
		Cameras []struct {
			ID     string `json:"id"`
			Stream struct {
				Status string `json:"status"`
			} `json:"stream"`
		} `json:"cameras"`
	}
	if n.get("api/v1/status", &st) != nil || n.get("api/v1/cameras", &cams) != nil {
		return false
	}
	for _, id := range ids {
		if !slices.Contains(alive, st.Cluster.Owners["camera."+id]) {
			return false
		}
	}
	for _, c := range cams.Cameras {
		if c.Stream.Status != "live" {
			return false
		}
	}
	return len(cams.Cameras) == len(ids)
}

func waitLive(ctx context.Context, n *realNode, ids, alive []string, limit time.Duration) error {
	return poll(ctx, limit, func() bool { return n.live(ids, alive) })
}

// waitShare waits until node runs cameras again and every camera is live.
func waitShare(ctx context.Context, n *realNode, ids []string, node string, limit time.Duration) error {
	all := []string{"node-1", "node-2", "node-3"}
	return poll(ctx, limit, func() bool {
		var st realStatus
		if n.get("api/v1/status", &st) != nil {
			return false
		}
		has := false
		for _, id := range ids {
			has = has || st.Cluster.Owners["camera."+id] == node
		}
		return has && n.live(ids, all)
	})
}

func poll(ctx context.Context, limit time.Duration, cond func() bool) error {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("not within %s", limit)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return nil
}
