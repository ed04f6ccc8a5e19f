package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/telemetry"
)

// The WebSocket fan-out benchmark: a dashboard server in a child process
// publishes 100 vehicles at 10 Hz; 500 clients in this process receive
// every update and measure its delivery latency from the update's own
// timestamp. The server's CPU is read from /proc for the child alone.
const (
	fanoutVehicles = 100
	fanoutRate     = 10
	fanoutClients  = 500
	fanoutToken    = "bench-token"
)

// fanoutServer is the child: it serves until its stdin closes.
func fanoutServer() error {
	h := sha256.Sum256([]byte(fanoutToken))
	hub := telemetry.NewHub(nil)
	srv, err := dashboard.New(dashboard.Config{Address: "127.0.0.1:0", Auth: auth.Config{
		Tokens: []auth.Token{{Name: "bench", Role: auth.RoleAdmin, SHA256: hex.EncodeToString(h[:])}},
	}}, dashboard.Deps{Bus: hub, Board: telemetry.NewBoard()})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	go func() { bufio.NewReader(os.Stdin).ReadString('\n'); cancel() }()
	go srv.Run(ctx)
	fmt.Println(srv.URL())
	t := time.NewTicker(time.Second / fanoutRate)
	defer t.Stop()
	for i := 0; ; i++ {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		for v := range fanoutVehicles {
			now := time.Now()
			hub.PublishVehicle(telemetry.Vehicle{ID: "drone-" + strconv.Itoa(v), Name: "Drone", Mode: "AUTO", Updated: now,
				Position: telemetry.Position{Lat: 22.54 + float64(i%100)*1e-5, Lon: 114.05, AltMSL: 100, AltRel: 90}})
		}
	}
}

type fanoutResult struct {
	p50, p99, max time.Duration
	cpu           float64 // server CPU, cores
}

// runFanout starts the child server, connects the clients (and one that
// never reads, if stalled), and measures for window after a warm-up.
func runFanout(ctx context.Context, window time.Duration, stalled bool) (fanoutResult, error) {
	var r fanoutResult
	self, err := os.Executable()
	if err != nil {
		return r, err
	}
	cmd := exec.CommandContext(ctx, self, "-fanout-server")
	stdin, _ := cmd.StdinPipe()
	stdout, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return r, err
	}
	defer func() { stdin.Close(); cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		return r, fmt.Errorf("fan-out server: %w", err)
	}
	wsURL := strings.Replace(strings.TrimSpace(line), "http", "ws", 1) + "api/v1/live?types=vehicle&batch=1"
	hdr := http.Header{"Authorization": {"Bearer " + fanoutToken}}
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var mu sync.Mutex
	var samples []time.Duration
	var from atomic.Int64 // window start, Unix ns; samples before it are warm-up
	from.Store(1 << 62)
	key := []byte(`"updated":"`)
	var wg sync.WaitGroup
	for i := range fanoutClients {
		c, _, err := websocket.Dial(cctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr})
		if err != nil {
			return r, fmt.Errorf("client %d: %w", i, err)
		}
		c.SetReadLimit(1 << 20)
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.CloseNow()
			var local []time.Duration
			n := 0
			for {
				_, b, err := c.Read(cctx)
				if err != nil {
					break
				}
				now := time.Now()
				if now.UnixNano() < from.Load() {
					continue
				}
				// A message is a batch of updates: every tenth one is sampled
				// (enough samples, less client CPU).
				for rest := b; ; {
					j := bytes.Index(rest, key)
					if j < 0 {
						break
					}
					rest = rest[j+len(key):]
					if n++; n%10 != 0 {
						continue
					}
					k := bytes.IndexByte(rest, '"')
					if k < 0 {
						break
					}
					if t, err := time.Parse(time.RFC3339Nano, string(rest[:k])); err == nil {
						local = append(local, now.Sub(t))
					}
				}
			}
			mu.Lock()
			samples = append(samples, local...)
			mu.Unlock()
		}()
	}
	var stall *websocket.Conn
	if stalled {
		// Connected, then never read: the server's writes to it block.
		if stall, _, err = websocket.Dial(cctx, wsURL, &websocket.DialOptions{HTTPHeader: hdr}); err != nil {
			return r, err
		}
		defer stall.CloseNow()
	}
	time.Sleep(5 * time.Second) // warm-up
	cpu0, err := procCPU(cmd.Process.Pid)
	if err != nil {
		return r, err
	}
	start := time.Now()
	from.Store(start.UnixNano())
	time.Sleep(window)
	cpu1, _ := procCPU(cmd.Process.Pid)
	r.cpu = (cpu1 - cpu0).Seconds() / time.Since(start).Seconds()
	cancel()
	wg.Wait()
	sort.Slice(samples, func(i, j int) bool { return samples[i] < samples[j] })
	if len(samples) == 0 {
		return r, fmt.Errorf("fan-out: no samples")
	}
	r.p50, r.p99, r.max = samples[len(samples)/2], samples[len(samples)*99/100], samples[len(samples)-1]
	return r, nil
}

// procCPU is a process's user+system CPU time.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	u, _ := strconv.ParseInt(f[11], 10, 64)
	s, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(u+s) * time.Second / 100, nil // USER_HZ is 100 on Linux
}

func benchFanout(ctx context.Context, window time.Duration) (string, error) {
	measure.Progress("WebSocket fan-out: %d clients, %d vehicles at %d Hz, %s", fanoutClients, fanoutVehicles, fanoutRate, window)
	base, err := runFanout(ctx, window, false)
	if err != nil {
		return "", err
	}
	measure.Progress("fan-out: p50 %s p99 %s, server CPU %.2f cores", base.p50, base.p99, base.cpu)
	st, err := runFanout(ctx, window, true)
	if err != nil {
		return "", err
	}
	measure.Progress("fan-out with a stalled client: p50 %s p99 %s", st.p50, st.p99)
	ms := func(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/1e6) }
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Live feed fan-out (WebSocket)\n\n")
	fmt.Fprintf(&b, "A dashboard server (its own process) publishes %d vehicles at %d Hz (%d updates/s) to %d WebSocket clients of `/api/v1/live` "+
		"(%s updates/s delivered, batched as the web app asks: `?batch=1`); latency is from each update's timestamp to its arrival at the client, sampled every tenth update, "+
		"over a %s window after a 5 s warm-up. The clients share this machine's cores with the server. Command: `make bench` (deploy/bench/fanout.go).\n\n",
		fanoutVehicles, fanoutRate, fanoutVehicles*fanoutRate, fanoutClients, measure.Thousands(fanoutVehicles*fanoutRate*fanoutClients), window)
	fmt.Fprintf(&b, "| run | p50 | p99 | max | server CPU (cores) |\n|---|---|---|---|---|\n")
	fmt.Fprintf(&b, "| %d clients | %s | %s | %s | %.2f |\n", fanoutClients, ms(base.p50), ms(base.p99), ms(base.max), base.cpu)
	fmt.Fprintf(&b, "| %d clients + 1 stalled (never reads) | %s | %s | %s | %.2f |\n\n", fanoutClients, ms(st.p50), ms(st.p99), ms(st.max), st.cpu)
	fmt.Fprintf(&b, "With a stalled client the others' p99 is %.2f× the p99 without it: the server's per-client queues drop for the stalled one (and close it after the 10 s write timeout) instead of waiting.\n",
		float64(st.p99)/float64(base.p99))
	return b.String(), nil
}
