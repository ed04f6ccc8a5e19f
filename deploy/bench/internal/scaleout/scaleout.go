// Package scaleout measures the cluster's coordination (telemetry/cluster)
// with synthetic cameras: three nodes in this process, each with its own
// NATS server routed to the others' on loopback, share N cameras whose
// work is only to hold their lease (no decoding), so that only the
// coordination is measured: the time to place every camera, the balance,
// failover after a node dies, the cameras that move when it comes back,
// NATS messages and CPU. It also times the live bus: the in-process hub
// against the NATS bus. It writes that section of BENCHMARKS.md.
package scaleout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/cluster"
)

// node is one node of the benchmark's cluster.
type node struct {
	name   string
	srv    *cluster.Server
	nc     *nats.Conn
	n      *cluster.Node
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// fleet is N synthetic cameras on three nodes, and who runs each.
type fleet struct {
	keys  []string
	ports []int
	dir   string
	nodes []*node

	mu      sync.Mutex
	running map[string]string
	doubles int // a camera run by two nodes at once: must stay 0
}

func freePorts(n int) ([]int, error) {
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		defer l.Close()
	}
	return ports, nil
}

func (f *fleet) settings(i int) cluster.Settings {
	s := cluster.DefaultSettings()
	s.Mode, s.Node, s.Listen = cluster.ModeEmbedded, fmt.Sprintf("node-%d", i+1), "127.0.0.1:"+strconv.Itoa(f.ports[i])
	for _, p := range f.ports {
		s.Routes = append(s.Routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	s.Defaults()
	return s
}

func (f *fleet) start(i int) error {
	s := f.settings(i)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv, err := cluster.StartServer(s, fmt.Sprintf("%s/%s", f.dir, s.Node), log)
	if err != nil {
		return err
	}
	nc, err := srv.Connect(s.Node)
	if err != nil {
		srv.Shutdown()
		return err
	}
	nd := &node{name: s.Node, srv: srv, nc: nc, n: cluster.NewNode(cluster.Config{Settings: s, Conn: nc, Log: log})}
	ctx, cancel := context.WithCancel(context.Background())
	nd.cancel = cancel
	nd.wg.Go(func() { nd.n.Run(ctx) })
	for _, k := range f.keys {
		nd.wg.Go(func() {
			telemetry.RunOwned(ctx, nd.n, k, func(l *telemetry.Lease) error {
				f.mu.Lock()
				if _, ok := f.running[k]; ok {
					f.doubles++
				}
				f.running[k] = s.Node
				f.mu.Unlock()
				<-l.Context.Done()
				f.mu.Lock()
				if f.running[k] == s.Node {
					delete(f.running, k)
				}
				f.mu.Unlock()
				return nil
			}, nil)
		})
	}
	f.nodes[i] = nd
	return nil
}

// kill stops node i as SIGKILL would: nothing handed over. Its server's
// shutdown (which waits for its storage) goes on in the background;
// wait for it before starting the node again.
func (f *fleet) kill(i int) (shutdown chan struct{}) {
	nd := f.nodes[i]
	shutdown = make(chan struct{})
	go func() { nd.srv.Shutdown(); close(shutdown) }()
	nd.cancel()
	nd.wg.Wait()
	nd.nc.Close()
	f.mu.Lock()
	for k, n := range f.running {
		if n == nd.name {
			delete(f.running, k)
		}
	}
	f.mu.Unlock()
	f.nodes[i] = nil
	return shutdown
}

func (f *fleet) stop() {
	for i, nd := range f.nodes {
		if nd != nil {
			nd.cancel()
			nd.wg.Wait()
			nd.nc.Close()
			nd.srv.Shutdown()
			f.nodes[i] = nil
		}
	}
}

func (f *fleet) owners() map[string]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make(map[string]string, len(f.running))
	for k, n := range f.running {
		out[k] = n
	}
	return out
}

// wait polls until cond holds on the owners, up to limit.
func (f *fleet) wait(limit time.Duration, cond func(map[string]string) bool) (time.Duration, error) {
	start := time.Now()
	for time.Since(start) < limit {
		if cond(f.owners()) {
			return time.Since(start), nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return time.Since(start), fmt.Errorf("not within %s", limit)
}

func perNode(o map[string]string) map[string]int {
	m := map[string]int{}
	for _, n := range o {
		m[n]++
	}
	return m
}

// result is one fleet size's figures.
type result struct {
	cameras          int
	assign           time.Duration
	balance          float64 // max ÷ mean
	failovers        []float64
	moved            float64 // fraction of cameras moved when the node came back
	msgsPerSec       float64
	cpuPer100        float64 // % of a core per 100 cameras, steady
	cpu              float64 // % of a core, steady
	doubles          int
	failoverCameras  int
	rejoinBalance    float64
	rejoinMovedTwice int
}

func run(ctx context.Context, root string, cameras, kills int) (result, error) {
	r := result{cameras: cameras}
	ports, err := freePorts(3)
	if err != nil {
		return r, err
	}
	f := &fleet{ports: ports, dir: root, nodes: make([]*node, 3), running: map[string]string{}}
	for i := range cameras {
		f.keys = append(f.keys, fmt.Sprintf("camera.cam-%04d", i))
	}
	defer f.stop()
	start := time.Now()
	for i := range 3 {
		if err := f.start(i); err != nil {
			return r, err
		}
	}
	balanced := func(alive int) func(o map[string]string) bool {
		return func(o map[string]string) bool {
			if len(o) != cameras {
				return false
			}
			pn := perNode(o)
			most := 0
			for _, n := range pn {
				most = max(most, n)
			}
			return len(pn) == alive && most <= (cameras+alive-1)/alive
		}
	}
	if _, err := f.wait(2*time.Minute, balanced(3)); err != nil {
		return r, fmt.Errorf("%d cameras: placing all: %w", cameras, err)
	}
	r.assign = time.Since(start)
	r.balance = balanceOf(f.owners(), 3)

	// Steady state: NATS messages and CPU over a window.
	window := 10 * time.Second
	msgs0, cpu0 := f.messages(), measure.CPUTime()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(window):
	}
	r.msgsPerSec = float64(f.messages()-msgs0) / window.Seconds()
	r.cpu = 100 * (measure.CPUTime() - cpu0).Seconds() / window.Seconds()
	r.cpuPer100 = r.cpu / (float64(cameras) / 100)

	for k := range kills {
		victim := k % 3
		before := f.owners()
		had := perNode(before)["node-"+strconv.Itoa(victim+1)]
		killed := time.Now()
		shutdown := f.kill(victim)
		if _, err := f.wait(time.Minute, func(o map[string]string) bool { return len(o) == cameras }); err != nil {
			return r, fmt.Errorf("%d cameras: failover: %w", cameras, err)
		}
		r.failovers = append(r.failovers, time.Since(killed).Seconds())
		<-shutdown
		r.failoverCameras = had
		// It comes back: count the cameras that move, and any that moves
		// twice.
		after := f.owners()
		if err := f.start(victim); err != nil {
			return r, err
		}
		moves := map[string]int{}
		last := after
		if _, err := f.wait(2*time.Minute, func(o map[string]string) bool {
			for key, n := range o {
				if n != last[key] {
					moves[key]++
				}
			}
			last = o
			return balanced(3)(o)
		}); err != nil {
			return r, fmt.Errorf("%d cameras: rejoin: %w", cameras, err)
		}
		moved := 0
		for key, n := range f.owners() {
			if n != after[key] {
				moved++
			}
		}
		r.moved = float64(moved) / float64(cameras)
		for _, m := range moves {
			if m > 1 {
				r.rejoinMovedTwice++
			}
		}
		r.rejoinBalance = balanceOf(f.owners(), 3)
	}
	f.mu.Lock()
	r.doubles = f.doubles
	f.mu.Unlock()
	return r, nil
}

func (f *fleet) messages() int64 {
	var n int64
	for _, nd := range f.nodes {
		if nd != nil {
			n += nd.srv.Messages()
		}
	}
	return n
}

func balanceOf(o map[string]string, nodes int) float64 {
	most := 0
	for _, n := range perNode(o) {
		most = max(most, n)
	}
	return float64(most) / (float64(len(o)) / float64(nodes))
}

// Bench runs the fleet benchmark for each size, the live bus's, and (with
// real > 0) real cameras on three smarteye processes.
func Bench(ctx context.Context, root string, sizes []int, kills, real int) (string, error) {
	var b strings.Builder
	b.WriteString("## Scale-out: coordination of a three-node cluster (synthetic cameras)\n\n")
	b.WriteString("Three smarteye nodes in one process (`go run ./deploy/bench -only scaleout`), each with its own embedded NATS server routed to the others' on loopback, JetStream buckets with 3 replicas, the default timings (heartbeat 250 ms, dead after 1.5 s, settle 3 s, hold 10 s). The cameras are synthetic — their work only holds the lease — so only the coordination is measured. A node is killed as SIGKILL would (its server and node stop at once, nothing handed over), then started again under its name; this is done " + strconv.Itoa(kills) + " times per size, each time a different node.\n\n")
	b.WriteString("| Cameras | Time to place all (from start) | Cameras per node, max ÷ mean (goal ≤ 1.15) | Failover after a kill, median (max) | Cameras moved when the node came back (ideal 1/3 = 0.33) | Moved twice | NATS messages/s, steady | Coordination CPU, steady: all three nodes, and per 100 cameras (goal ≤ 2 % of a core) | Two owners at once |\n|---|---|---|---|---|---|---|---|---|\n")
	for _, n := range sizes {
		measure.Progress("scale-out: %d synthetic cameras on three nodes", n)
		r, err := run(ctx, fmt.Sprintf("%s/scaleout-%d", root, n), n, kills)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "| %d | %.1f s | %.3f | %.1f s (%.1f s) | %.2f | %d | %.0f | %.1f %%; %.2f %% per 100 | %d |\n", n, r.assign.Seconds(), r.balance,
			measure.Median(r.failovers), slices.Max(r.failovers), r.moved, r.rejoinMovedTwice, r.msgsPerSec, r.cpu, r.cpuPer100, r.doubles)
	}
	b.WriteString("\nThe failover time is from the kill until every camera is owned again; it is the 1.5 s the nodes wait before taking a silent node for dead, plus a claim (a replicated compare-and-set, ≈ 1 ms), plus — when the dead node led the owners' bucket — the election of a new leader (NATS' Raft timeouts, 4–9 s, are constants of the server). The steady CPU is the whole process: three NATS servers and three nodes, heartbeats four times a second each; most of it does not grow with the cameras, so the figure per 100 cameras falls as they grow.\n\n")
	bus, err := benchBus(ctx)
	if err != nil {
		return "", err
	}
	b.WriteString(bus)
	if real > 0 {
		bin, db, stop, err := realSetup(ctx, root)
		if err != nil {
			return "", err
		}
		defer stop()
		r, err := Real(ctx, root, bin, db, real, kills)
		if err != nil {
			return "", err
		}
		b.WriteString(r)
	}
	return b.String(), nil
}
