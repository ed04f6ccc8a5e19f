// Command soak runs the real smarteye binary for a long while (20 minutes
// by default) with the demo's drones and cameras, two more cameras
// published by ffmpeg and a MAVLink vehicle of its own, while it breaks
// things on a schedule: PostgreSQL is stopped twice (a fast shutdown and a
// kill), a camera's publisher is killed, another is frozen (SIGSTOP) and
// thawed, the MAVLink port is flooded with garbage, a WebSocket client
// connects to the live feed and never reads, and the recording disk is
// filled past the min_free guard and freed. It then checks what a site
// would check: the vehicle's rows (each sent position stored once), every
// alert delivered to a webhook exactly once, every camera back, and the
// process's memory and goroutines from start to end. `make soak` runs it
// and writes its section of BENCHMARKS.md.
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluenviron/gomavlib/v3"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/coder/websocket"
	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/vision/models"
)

const password = "soak-admin-password"

var keep bool

func main() {
	d := flag.Duration("duration", 20*time.Minute, "how long smarteye runs under the schedule (at least 20m for the report)")
	out := flag.String("out", "BENCHMARKS.md", "the file whose Soak section is written (empty: print it)")
	flag.BoolVar(&keep, "keep", false, "keep the run's directory (smarteye's log, data) and say where")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	section, err := soak(ctx, *d)
	if err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	if *out == "" {
		fmt.Print(section)
		return
	}
	if err := writeSection(*out, section); err != nil {
		fmt.Fprintln(os.Stderr, "soak:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "soak: wrote the Soak section of", *out)
}

// step prints progress: the soak is long.
func step(start time.Time, format string, args ...any) {
	fmt.Fprintf(os.Stderr, "soak %6s  %s\n", time.Since(start).Round(time.Second), fmt.Sprintf(format, args...))
}

type sample struct {
	at         time.Duration
	rss        int64 // bytes
	goroutines int
	heap       float64 // bytes in use
}

func soak(ctx context.Context, dur time.Duration) (string, error) {
	begin := time.Now()
	root, err := os.MkdirTemp("", "smarteye-soak-")
	if err != nil {
		return "", err
	}
	defer func() {
		if keep {
			fmt.Fprintln(os.Stderr, "soak: kept", root)
			return
		}
		os.RemoveAll(root)
	}()
	os.Chmod(root, 0o711) // the embedded PostgreSQL runs as its own account
	bin := filepath.Join(root, "smarteye")
	step(begin, "building smarteye")
	if out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/smarteye").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build: %v\n%s", err, out)
	}

	// The extra cameras: ffmpeg publishing to an RTSP server of our own.
	srv := &sim.RTSPServer{Log: slog.New(slog.DiscardHandler)}
	if err := srv.Start(); err != nil {
		return "", err
	}
	defer srv.Close()
	pubCtx, stopPubs := context.WithCancel(ctx)
	defer stopPubs()
	pubs := map[string]*sim.Publisher{}
	for _, id := range []string{"soak-1", "soak-2"} {
		p := &sim.Publisher{Source: "testsrc2", URL: srv.URL(id), Width: 640, Height: 360, FPS: 10}
		pubs[id] = p
		go p.Run(pubCtx)
	}

	// Alert deliveries: a webhook that counts each delivery id.
	var hookMu sync.Mutex
	deliveries := map[string]int{} // X-Smarteye-Delivery → times received
	alertsDelivered := map[string]int{}
	hook := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body struct {
			Action string `json:"action"`
			Alert  struct {
				ID string `json:"id"`
			} `json:"alert"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		hookMu.Lock()
		deliveries[r.Header.Get("X-Smarteye-Delivery")]++
		if body.Action == "opened" {
			alertsDelivered[body.Alert.ID]++
		}
		hookMu.Unlock()
	})}
	hookLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go hook.Serve(hookLn)
	defer hook.Close()

	data := filepath.Join(root, "var")
	var fs syscall.Statfs_t
	syscall.Statfs(root, &fs)
	free := int64(fs.Bavail) * fs.Bsize
	// The disk guard trips when free space falls 2 GiB below today's; the
	// soak fills that much (fallocate, no writing) and frees it.
	minFree := free - 2<<30
	cfg := filepath.Join(root, "smarteye.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`video:
  cameras:
    - {id: soak-1, name: Soak one, kind: fixed, url: %q, transport: tcp, detector: none}
    - {id: soak-2, name: Soak two, kind: fixed, url: %q, transport: tcp, detector: none}
  recording:
    min_free: %dB
alerts:
  channels:
    - {name: soak-hook, type: webhook, url: "http://%s/hook", format: json}
`, srv.URL("soak-1"), srv.URL("soak-2"), minFree, hookLn.Addr())), 0o600)

	step(begin, "starting smarteye demo with two more cameras")
	cmd := exec.CommandContext(ctx, bin, "demo", "-c", cfg, "--data-dir", data, "--http", "127.0.0.1:0", "--mavlink", "127.0.0.1:0", "--rtsp", "127.0.0.1:0")
	// The trained detector `make deps` installed, as `make demo` uses it.
	cmd.Env = append(os.Environ(), "SMARTEYE_ADMIN_PASSWORD="+password, "SMARTEYE_VIDEO_WEBRTC_ADDRESS=127.0.0.1:0", "SMARTEYE_VIDEO_MODELS="+models.DevDir())
	stdout, _ := cmd.StdoutPipe()
	logFile, _ := os.Create(filepath.Join(root, "smarteye.log"))
	defer logFile.Close()
	cmd.Stderr = logFile
	if err := cmd.Start(); err != nil {
		return "", err
	}
	defer func() { cmd.Process.Signal(syscall.SIGTERM); cmd.Wait() }()
	base, err := dashboardURL(stdout)
	if err != nil {
		return "", fmt.Errorf("%w:\n%s", err, lastLines(readFile(logFile.Name()), 5))
	}
	c := newClient(base)
	if err := c.waitReady(ctx, 2*time.Minute); err != nil {
		return "", err
	}
	mavAddr, err := mavlinkAddr(filepath.Join(root, "smarteye.log"))
	if err != nil {
		return "", err
	}
	step(begin, "smarteye is up at %s (MAVLink %s)", base, mavAddr)

	// The soak's own vehicle: a position every 300 ms, each one step east
	// (its longitude says which), a heartbeat between two of them.
	vctx, stopVehicle := context.WithCancel(ctx)
	defer stopVehicle()
	sent := make(chan int, 1)
	go func() { sent <- flyVehicle(vctx, mavAddr) }()

	var samples []sample
	sampleNow := func() {
		s := sample{at: time.Since(begin), rss: rss(cmd.Process.Pid)}
		s.goroutines, s.heap = c.runtimeStats()
		samples = append(samples, s)
	}

	// The schedule, as fractions of the run after a warm-up.
	warm := min(3*time.Minute, dur/7)
	runStart := time.Now()
	at := func(frac float64) time.Time { return runStart.Add(warm + time.Duration(frac*float64(dur-2*warm))) }
	type event struct {
		when time.Time
		what string
		do   func() error
	}
	var filler string
	var lazy *websocket.Conn
	pgPID := func() (int, error) {
		b, err := os.ReadFile(filepath.Join(data, "pg", "postmaster.pid"))
		if err != nil {
			return 0, err
		}
		return strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	}
	signalPG := func(sig syscall.Signal) error {
		pid, err := pgPID()
		if err != nil {
			return err
		}
		return syscall.Kill(pid, sig)
	}
	schedule := []event{
		{at(0.05), "PostgreSQL stopped (fast shutdown); smarteye restarts it", func() error { return signalPG(syscall.SIGINT) }},
		{at(0.15), "camera soak-1's publisher killed", func() error { return pubs["soak-1"].Kill() }},
		{at(0.25), "camera soak-2's publisher frozen (SIGSTOP)", func() error { return pubs["soak-2"].Signal(syscall.SIGSTOP) }},
		{at(0.35), "camera soak-2 thawed (SIGCONT)", func() error { return pubs["soak-2"].Signal(syscall.SIGCONT) }},
		{at(0.40), "MAVLink port flooded with 50,000 garbage datagrams", func() error { return flood(mavAddr, 50000) }},
		{at(0.45), "a live-feed client that never reads connected", func() error {
			var err error
			lazy, err = c.lazyLive(ctx)
			return err
		}},
		{at(0.55), "PostgreSQL killed (SIGKILL: crash recovery)", func() error { return signalPG(syscall.SIGKILL) }},
		{at(0.65), "recording disk filled past min_free", func() error {
			filler = filepath.Join(data, "filler")
			return fill(filler, root, minFree)
		}},
		{at(0.80), "recording disk freed", func() error { return os.Remove(filler) }},
		{at(0.85), "the client that never reads dropped", func() error {
			if lazy != nil {
				lazy.CloseNow()
			}
			return nil
		}},
		{at(0.90), "camera soak-1's publisher killed again", func() error { return pubs["soak-1"].Kill() }},
	}
	var done []string
	next := 0
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastSample := time.Time{}
	end := runStart.Add(dur)
	for now := time.Now(); now.Before(end); now = time.Now() {
		select {
		case <-ctx.Done():
			return "", ctx.Err()
		case <-tick.C:
		}
		if cmd.ProcessState != nil {
			return "", fmt.Errorf("smarteye exited during the soak: see its log")
		}
		if now.Sub(lastSample) >= 30*time.Second && now.After(runStart.Add(warm)) {
			sampleNow()
			lastSample = now
		}
		for next < len(schedule) && !now.Before(schedule[next].when) {
			e := schedule[next]
			err := e.do()
			line := e.what
			if err != nil {
				line += " (failed: " + err.Error() + ")"
			}
			step(begin, "%s", line)
			done = append(done, fmt.Sprintf("%s — %s", time.Since(runStart).Round(time.Second), line))
			next++
		}
	}
	stopVehicle()
	nSent := <-sent
	step(begin, "schedule done; letting deliveries and cameras settle")

	// Settle: cameras back, deliveries flushed.
	var cams []camera
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		cams = c.cameras()
		if allLive(cams) && c.pendingDeliveries() == 0 {
			break
		}
		time.Sleep(2 * time.Second)
	}
	time.Sleep(5 * time.Second)
	sampleNow()

	// Rows: every position the vehicle sent stored once.
	rows, dups, lost, alerts, guard, err := checkDB(ctx, data, nSent)
	if err != nil {
		return "", err
	}
	hookMu.Lock()
	var alertsLost, alertsDoubled, repeatedDeliveries int
	for _, id := range alerts {
		switch n := alertsDelivered[id]; {
		case n == 0:
			alertsLost++
		case n > 1:
			alertsDoubled++
		}
	}
	for _, n := range deliveries {
		if n > 1 {
			repeatedDeliveries++
		}
	}
	nDeliveries := len(deliveries)
	hookMu.Unlock()
	var down []string
	for _, cam := range cams {
		if cam.Stream.Status != "live" {
			down = append(down, cam.ID+" "+cam.Stream.Status)
		}
	}
	return report(dur, samples, done, nSent, rows, dups, lost, len(alerts), alertsLost, alertsDoubled, nDeliveries, repeatedDeliveries, cams, down, guard), nil
}

func readFile(p string) string { b, _ := os.ReadFile(p); return string(b) }

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

var urlLine = regexp.MustCompile(`dashboard at (https?://\S+)`)

func dashboardURL(stdout io.Reader) (string, error) {
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if m := urlLine.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			return "", fmt.Errorf("smarteye exited before printing its dashboard URL")
		}
		return u, nil
	case <-time.After(3 * time.Minute):
		return "", fmt.Errorf("smarteye printed no dashboard URL in 3 minutes")
	}
}

var linkLine = regexp.MustCompile(`msg="link open".*type=udp-server address=(\S+)`)

// mavlinkAddr is the UDP address smarteye's MAVLink link listens on, from
// its log.
func mavlinkAddr(log string) (string, error) {
	for range 120 {
		if m := linkLine.FindStringSubmatch(readFile(log)); m != nil {
			return m[1], nil
		}
		time.Sleep(500 * time.Millisecond)
	}
	return "", fmt.Errorf("no MAVLink link in smarteye's log")
}

// flyVehicle sends positions until ctx ends and returns how many.
func flyVehicle(ctx context.Context, addr string) int {
	node, err := gomavlib.NewNode(gomavlib.NodeConf{
		Endpoints:   []gomavlib.EndpointConf{gomavlib.EndpointUDPClient{Address: addr}},
		Dialect:     ardupilotmega.Dialect,
		OutVersion:  gomavlib.V2,
		OutSystemID: 77,
	})
	if err != nil {
		return 0
	}
	defer node.Close()
	go func() {
		for range node.Events() {
		}
	}()
	hb := &ardupilotmega.MessageHeartbeat{Type: ardupilotmega.MAV_TYPE_QUADROTOR, Autopilot: ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA,
		BaseMode: ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, SystemStatus: ardupilotmega.MAV_STATE_ACTIVE, MavlinkVersion: 3}
	// Heartbeats first: the vehicle is known before its first position.
	for range 3 {
		node.WriteMessageAll(hb)
		time.Sleep(200 * time.Millisecond)
	}
	start := time.Now()
	n := 0
	t := time.NewTicker(300 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return n
		case <-t.C:
		}
		node.WriteMessageAll(&ardupilotmega.MessageGlobalPositionInt{
			TimeBootMs: uint32(time.Since(start).Milliseconds()),
			Lat:        int32(math.Round(vehicleLat * 1e7)), Lon: int32(math.Round(vehicleLon*1e7)) + int32(n),
			Alt: 60_000, RelativeAlt: 30_000, Vx: 0, Vy: 3, Hdg: 9000,
		})
		n++
		if n%4 == 0 {
			// Right after a position: a change it makes is stored with the
			// next position (the stored rate keeps 100 ms between samples),
			// never in a position's place.
			node.WriteMessageAll(hb)
		}
	}
}

// The vehicle's first position; each next is 1e-7° (1 cm) east.
const vehicleLat, vehicleLon = 22.5411, 114.0577

// flood sends n datagrams of garbage: random bytes and MAVLink v2 starts
// with broken lengths and checksums.
func flood(addr string, n int) error {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	buf := make([]byte, 300)
	for i := range n {
		size := 1 + rand.IntN(len(buf))
		for j := range size {
			buf[j] = byte(rand.Uint32())
		}
		if i%2 == 0 {
			buf[0] = 0xFD // a v2 frame's start
		}
		conn.Write(buf[:size])
		if i%500 == 0 {
			time.Sleep(time.Millisecond)
		}
	}
	return nil
}

// fill takes the disk's free space below minFree with a file that has
// its blocks but no data written.
func fill(path, dir string, minFree int64) error {
	var fs syscall.Statfs_t
	if err := syscall.Statfs(dir, &fs); err != nil {
		return err
	}
	free := int64(fs.Bavail) * fs.Bsize
	size := free - minFree + 256<<20
	if size <= 0 {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return syscall.Fallocate(int(f.Fd()), 0, 0, size)
}

func rss(pid int) int64 {
	for _, l := range strings.Split(readFile(fmt.Sprintf("/proc/%d/status", pid)), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.Fields(v)[0], 10, 64)
			return kb << 10
		}
	}
	return 0
}

// checkDB counts the soak vehicle's stored positions (each sent one, told
// apart by its longitude, should be there exactly once) and lists the
// stored alerts.
func checkDB(ctx context.Context, data string, sent int) (rows, dups, lost int, alerts []string, guard string, err error) {
	lines := strings.Split(readFile(filepath.Join(data, "pg", "postmaster.pid")), "\n")
	if len(lines) < 5 {
		return 0, 0, 0, nil, "", fmt.Errorf("no postmaster.pid: is PostgreSQL running?")
	}
	url := fmt.Sprintf("postgres://smarteye@/smarteye?host=%s&port=%s&sslmode=disable", strings.TrimSpace(lines[4]), strings.TrimSpace(lines[3]))
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return 0, 0, 0, nil, "", err
	}
	defer conn.Close(ctx)
	r, err := conn.Query(ctx, `SELECT round((t.lon - $1) * 1e7)::int, count(*) FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id
		WHERE v.system_id = 77 AND t.lon IS NOT NULL GROUP BY 1`, vehicleLon)
	if err != nil {
		return 0, 0, 0, nil, "", err
	}
	seen := map[int]int{}
	for r.Next() {
		var step, n int
		if err := r.Scan(&step, &n); err != nil {
			return 0, 0, 0, nil, "", err
		}
		seen[step] = n
		rows += n
	}
	if err := r.Err(); err != nil {
		return 0, 0, 0, nil, "", err
	}
	var sameTime int
	if err := conn.QueryRow(ctx, `SELECT count(*) - count(DISTINCT t.time) FROM telemetry t JOIN vehicles v ON v.id = t.vehicle_id WHERE v.system_id = 77`).Scan(&sameTime); err != nil {
		return 0, 0, 0, nil, "", err
	}
	var missing []string
	for i := range sent {
		if seen[i] == 0 {
			lost++
			if len(missing) < 20 {
				missing = append(missing, strconv.Itoa(i))
			}
		}
	}
	if lost > 0 {
		fmt.Fprintf(os.Stderr, "soak: positions not stored: %s\n", strings.Join(missing, " "))
	}
	var stopped, resumed int
	if err := conn.QueryRow(ctx, `SELECT count(*) FILTER (WHERE kind = 'recording.stopped'), count(*) FILTER (WHERE kind = 'recording.resumed') FROM events`).Scan(&stopped, &resumed); err != nil {
		return 0, 0, 0, nil, "", err
	}
	guard = fmt.Sprintf("stopped %d, resumed %d", stopped, resumed)
	ar, err := conn.Query(ctx, `SELECT id::text FROM alerts`)
	if err != nil {
		return 0, 0, 0, nil, "", err
	}
	alerts, err = pgx.CollectRows(ar, pgx.RowTo[string])
	return rows, sameTime, lost, alerts, guard, err
}

type client struct {
	base string
	c    *http.Client
}

func newClient(base string) *client {
	jar, _ := cookiejar.New(nil)
	return &client{base: base, c: &http.Client{Jar: jar, Timeout: 30 * time.Second}}
}

func (c *client) login() error {
	resp, err := c.c.Post(c.base+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+password+`"}`))
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("login: %d", resp.StatusCode)
	}
	return nil
}

func (c *client) get(path string, v any) error {
	resp, err := c.c.Get(c.base + path)
	if err == nil && resp.StatusCode == 401 {
		resp.Body.Close()
		if err = c.login(); err == nil {
			resp, err = c.c.Get(c.base + path)
		}
	}
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %d", path, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(v)
}

func (c *client) waitReady(ctx context.Context, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		var st struct {
			Store struct {
				Ready bool `json:"ready"`
			} `json:"store"`
		}
		if c.get("api/v1/status", &st) == nil && st.Store.Ready {
			return nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return fmt.Errorf("smarteye was not ready in %s", limit)
		}
		time.Sleep(time.Second)
	}
}

// runtimeStats reads go_goroutines and go_memstats_heap_inuse_bytes from
// /metrics.
func (c *client) runtimeStats() (int, float64) {
	resp, err := c.c.Get(c.base + "metrics")
	if err != nil {
		return 0, 0
	}
	defer resp.Body.Close()
	var g int
	var heap float64
	s := bufio.NewScanner(resp.Body)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "go_goroutines "); ok {
			g, _ = strconv.Atoi(v)
		}
		if v, ok := strings.CutPrefix(s.Text(), "go_memstats_heap_inuse_bytes "); ok {
			heap, _ = strconv.ParseFloat(v, 64)
		}
	}
	return g, heap
}

type camera struct {
	ID     string `json:"id"`
	Stream struct {
		Status string `json:"status"`
	} `json:"stream"`
}

func (c *client) cameras() []camera {
	var list struct {
		Cameras []camera `json:"cameras"`
	}
	c.get("api/v1/cameras", &list)
	return list.Cameras
}

func allLive(cams []camera) bool {
	for _, c := range cams {
		if c.Stream.Status != "live" {
			return false
		}
	}
	return len(cams) > 0
}

// pendingDeliveries is smarteye_alert_outbox_pending.
func (c *client) pendingDeliveries() float64 {
	resp, err := c.c.Get(c.base + "metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	for _, l := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(l, []byte("smarteye_alert_outbox_pending ")); ok {
			f, _ := strconv.ParseFloat(string(v), 64)
			return f
		}
	}
	return 0
}

// lazyLive opens the live feed and never reads from it.
func (c *client) lazyLive(ctx context.Context) (*websocket.Conn, error) {
	u := strings.Replace(c.base, "http", "ws", 1) + "api/v1/live"
	conn, _, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPClient: c.c, HTTPHeader: http.Header{"Origin": {strings.TrimSuffix(c.base, "/")}}})
	return conn, err
}

func mib(b int64) string { return fmt.Sprintf("%.0f MiB", float64(b)/(1<<20)) }

func report(dur time.Duration, samples []sample, done []string, sent, rows, dups, lost, alerts, alertsLost, alertsDoubled, deliveries, repeated int, cams []camera, down []string, guard string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Soak: %s of the demo under faults\n\n", dur.Round(time.Minute))
	fmt.Fprintf(&b, "`make soak` (`go run ./deploy/soak -duration %s`) on this machine (%d cores, %s): the real binary (`smarteye demo`, not the race build) with the demo's drones and cameras, two more cameras published by ffmpeg, a MAVLink vehicle of the soak's own sending a position every 300 ms and a webhook channel, while the schedule below ran. Memory and goroutines are sampled every 30 s after a warm-up of %s; the end figures are taken after the cameras came back and the deliveries settled.\n\n", dur.Round(time.Minute), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), min(3*time.Minute, dur/7).Round(time.Second))
	b.WriteString("What happened (time since smarteye was up):\n\n")
	for _, d := range done {
		fmt.Fprintf(&b, "- %s\n", d)
	}
	first, last := samples[0], samples[len(samples)-1]
	peak := first
	for _, s := range samples {
		if s.rss > peak.rss {
			peak = s
		}
	}
	rsss := make([]float64, len(samples))
	for i, s := range samples {
		rsss[i] = float64(s.rss)
	}
	sort.Float64s(rsss)
	fmt.Fprintf(&b, "\n| check | result |\n|---|---|\n")
	fmt.Fprintf(&b, "| vehicle positions sent / rows stored | %d / %d |\n", sent, rows)
	fmt.Fprintf(&b, "| rows lost | %d |\n| rows duplicated (same vehicle and time) | %d |\n", lost, dups)
	fmt.Fprintf(&b, "| alerts stored / delivered to the webhook | %d / %d deliveries |\n", alerts, deliveries)
	fmt.Fprintf(&b, "| alerts lost (stored, never delivered) | %d |\n| alerts doubled (delivered more than once) | %d |\n| deliveries repeated (same delivery id) | %d |\n", alertsLost, alertsDoubled, repeated)
	fmt.Fprintf(&b, "| cameras / not back at the end | %d / %d %s |\n", len(cams), len(down), strings.Join(down, ", "))
	fmt.Fprintf(&b, "| recording guard (recording.stopped, recording.resumed events) | %s |\n", guard)
	fmt.Fprintf(&b, "| RSS at start / end / peak (median) | %s / %s / %s (%s) |\n", mib(first.rss), mib(last.rss), mib(peak.rss), mib(int64(rsss[len(rsss)/2])))
	fmt.Fprintf(&b, "| Go heap in use at start / end | %s / %s |\n", mib(int64(first.heap)), mib(int64(last.heap)))
	fmt.Fprintf(&b, "| goroutines at start / end | %d / %d |\n", first.goroutines, last.goroutines)
	b.WriteString("\n")
	return b.String()
}

// writeSection puts section in place of the file's Soak section (or at its
// end).
func writeSection(path, section string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	s := string(b)
	if i := strings.Index(s, "\n## Soak"); i >= 0 {
		j := strings.Index(s[i+1:], "\n## ")
		rest := ""
		if j >= 0 {
			rest = s[i+1+j:]
		}
		s = s[:i+1] + section + strings.TrimPrefix(rest, "\n")
	} else {
		s = strings.TrimRight(s, "\n") + "\n\n" + section
	}
	return os.WriteFile(path, []byte(s), 0o644)
}
