package cluster

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// testNode is one node of a test cluster: its server, connection and
// Node, and the work it runs.
type testNode struct {
	name   string
	srv    *Server
	nc     *nats.Conn
	node   *Node
	cancel context.CancelFunc
	done   chan struct{}
	work   sync.WaitGroup
}

// ledger records who runs each key: at most one at a time, or the test
// fails.
type ledger struct {
	t       testing.TB
	mu      sync.Mutex
	running map[string]string
	fences  map[string]uint64
	starts  map[string]int
	moves   atomic.Int64
}

func newLedger(t testing.TB) *ledger {
	return &ledger{t: t, running: map[string]string{}, fences: map[string]uint64{}, starts: map[string]int{}}
}

func (l *ledger) run(node, key string, lease *telemetry.Lease) {
	l.mu.Lock()
	if other, ok := l.running[key]; ok {
		l.mu.Unlock()
		l.t.Errorf("%s runs %s while %s does", node, key, other)
		return
	}
	if lease.Fence <= l.fences[key] {
		l.t.Errorf("%s runs %s with fence %d after fence %d", node, key, lease.Fence, l.fences[key])
	}
	l.running[key], l.fences[key] = node, lease.Fence
	l.starts[key]++
	l.mu.Unlock()
	<-lease.Context.Done()
	l.mu.Lock()
	delete(l.running, key)
	l.mu.Unlock()
}

// forget marks a killed node's work as stopped (its process is gone).
func (l *ledger) forget(node string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, n := range l.running {
		if n == node {
			delete(l.running, k)
		}
	}
}

func (l *ledger) owners() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := map[string]string{}
	for k, n := range l.running {
		out[k] = n
	}
	return out
}

func testSettings(name string, routePort int, ports []int) Settings {
	// Fast for the tests, and slower on a busy machine: a node starved of
	// CPU for longer than dead_after (a race-detector build beside other
	// packages' tests) would be declared dead and its keys moved twice.
	s := Settings{Mode: ModeEmbedded, Node: name, Listen: "127.0.0.1:" + strconv.Itoa(routePort),
		Heartbeat: telemetry.Duration(100 * time.Millisecond), DeadAfter: telemetry.Duration(testkit.Scale(800 * time.Millisecond)),
		Settle: telemetry.Duration(testkit.Scale(time.Second)), MinHold: telemetry.Duration(2 * time.Second)}
	for _, p := range ports {
		s.Routes = append(s.Routes, "nats://127.0.0.1:"+strconv.Itoa(p))
	}
	s.Defaults()
	return s
}

// testConn starts node i's server, of a cluster routed over ports (one
// port: a node alone), and a connection to it; the test's end closes both.
func testConn(t *testing.T, i int, ports []int, opts ...nats.Option) *nats.Conn {
	t.Helper()
	s := testSettings(fmt.Sprintf("node-%d", i+1), ports[i], ports)
	if len(ports) == 1 {
		s.Listen, s.Routes = "", nil
	}
	srv, err := StartServer(s, t.TempDir(), quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Shutdown)
	nc, err := srv.Connect(s.Node, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func quiet() *slog.Logger {
	if os.Getenv("CLUSTER_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startNode(t testing.TB, s Settings, dir string, keys []string, l *ledger) *testNode {
	t.Helper()
	srv, err := StartServer(s, dir, quiet())
	if err != nil {
		t.Fatal(err)
	}
	nc, err := srv.Connect(s.Node)
	if err != nil {
		t.Fatal(err)
	}
	tn := &testNode{name: s.Node, srv: srv, nc: nc, node: NewNode(Config{Settings: s, Conn: nc, Log: quiet()}), done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	tn.cancel = cancel
	go func() { tn.node.Run(ctx); close(tn.done) }()
	for _, k := range keys {
		tn.work.Go(func() {
			telemetry.RunOwned(ctx, tn.node, k, func(lease *telemetry.Lease) error {
				l.run(s.Node, k, lease)
				return nil
			}, nil)
		})
	}
	return tn
}

// kill stops a node as kill -9 would: nothing handed over, its server
// gone.
func (tn *testNode) kill(l *ledger) {
	tn.srv.ns.Shutdown() // its routes drop; it answers nothing more
	tn.cancel()
	<-tn.done
	tn.work.Wait()
	l.forget(tn.name)
	tn.nc.Close()
	tn.srv.Shutdown()
}

func (tn *testNode) stop() {
	tn.cancel()
	<-tn.done
	tn.work.Wait()
	tn.nc.Close()
	tn.srv.Shutdown()
}

func workKeys(cameras int) []string {
	var ks []string
	for i := range cameras {
		ks = append(ks, fmt.Sprintf("camera.cam-%d", i))
	}
	return append(ks, "singleton.alerts", "singleton.upkeep")
}

func allOwned(l *ledger, keys []string) func() bool {
	return func() bool { return len(l.owners()) == len(keys) }
}

func TestThreeNodesOwnEveryKeyOnceAndFailOver(t *testing.T) {
	ports := testkit.FreePorts(t, 3)
	keys := workKeys(12)
	l := newLedger(t)
	var ns []*testNode
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	for i := range 3 {
		ns = append(ns, startNode(t, testSettings(fmt.Sprintf("node-%d", i+1), ports[i], ports), dirs[i], keys, l))
	}
	defer func() {
		for _, n := range ns {
			if n != nil {
				n.stop()
			}
		}
	}()
	testkit.WaitFor(t, 30*time.Second, "every key owned", allOwned(l, keys))
	perNode := map[string]int{}
	for _, n := range l.owners() {
		perNode[n]++
	}
	if len(perNode) != 3 {
		t.Fatalf("work on %d nodes: %v", len(perNode), perNode)
	}
	for n, c := range perNode {
		if c > 6 { // 12 cameras: cap 5; 2 singletons: cap 1
			t.Errorf("%s runs %d keys", n, c)
		}
	}
	// The bucket agrees with the work.
	testkit.WaitFor(t, 5*time.Second, "the bucket to name every owner", func() bool {
		own := ns[0].node.Owners()
		for k, n := range l.owners() {
			if own[k] != n {
				return false
			}
		}
		return true
	})

	// kill -9 of node-2: its keys run again on the others.
	victim := ns[1]
	had := 0
	for _, n := range l.owners() {
		if n == victim.name {
			had++
		}
	}
	killed := time.Now()
	victim.kill(l)
	ns[1] = nil
	testkit.WaitFor(t, 20*time.Second, "the killed node's work running elsewhere", allOwned(l, keys))
	t.Logf("node-2's %d keys ran again on the survivors %s after the kill", had, time.Since(killed).Round(10*time.Millisecond))
	for _, n := range l.owners() {
		if n == victim.name {
			t.Fatal("the killed node still owns work")
		}
	}

	// It comes back under the same name: it gets a share again, and no key
	// moves twice.
	before := map[string]int{}
	l.mu.Lock()
	for k, c := range l.starts {
		before[k] = c
	}
	l.mu.Unlock()
	ns[1] = startNode(t, testSettings("node-2", ports[1], ports), dirs[1], keys, l)
	testkit.WaitFor(t, 30*time.Second, "node-2 to get work back", func() bool {
		c := 0
		for _, n := range l.owners() {
			if n == "node-2" {
				c++
			}
		}
		return c >= 3 && len(l.owners()) == len(keys)
	})
	// Let it settle past another hold time: nothing moves on.
	time.Sleep(3 * time.Second)
	l.mu.Lock()
	for k, c := range l.starts {
		if c-before[k] > 1 {
			t.Errorf("%s started %d times after node-2 came back", k, c-before[k])
		}
	}
	l.mu.Unlock()

	// Drain: node-3 hands everything over at once.
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Scale(20*time.Second))
	defer cancel()
	if err := ns[2].node.Drain(ctx); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "node-3's work on the others", func() bool {
		for _, n := range l.owners() {
			if n == "node-3" {
				return false
			}
		}
		return len(l.owners()) == len(keys)
	})
}

func TestBusCarriesUpdatesToEveryNodeOnce(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	var hubs []*telemetry.Hub
	var buses []*Bus
	for i := range 2 {
		nc := testConn(t, i, ports, nats.NoEcho())
		hub := telemetry.NewHub(nil)
		b, err := NewBus(nc, hub, quiet(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		hubs, buses = append(hubs, hub), append(buses, b)
	}
	sub := hubs[1].Subscribe(100)
	defer sub.Close()
	own := hubs[0].Subscribe(100)
	defer own.Close()
	// The route may take a moment: publish until the other node hears.
	testkit.WaitFor(t, 10*time.Second, "node-2 to hear node-1's vehicle", func() bool {
		buses[0].PublishVehicle(telemetry.Vehicle{ID: "drone-1", Name: "Drone 1", SystemID: 7})
		_, ok := hubs[1].Vehicle("drone-1")
		return ok
	})
	eid := telemetry.NewUUID()
	buses[0].PublishEvent(telemetry.Event{ID: eid, Kind: "zone.enter", CameraID: "cam-1"})
	buses[0].PublishCamera(telemetry.Camera{ID: "cam-1", Status: "live"})
	testkit.WaitFor(t, 5*time.Second, "the event and the camera on node-2", func() bool {
		_, ok := hubs[1].Camera("cam-1")
		return ok
	})
	var got []telemetry.Update
	testkit.WaitFor(t, 5*time.Second, "node-2's subscriber to get the event", func() bool {
		got = sub.Take(got)
		for _, u := range got {
			if u.Type == "event" && u.Event.ID == eid {
				return true
			}
		}
		return false
	})
	// node-1's own subscriber got each of its updates once (no echo).
	events := 0
	for _, u := range own.Take(nil) {
		if u.Type == "event" {
			events++
		}
	}
	if events != 1 {
		t.Errorf("node-1's subscriber got its own event %d times", events)
	}
	if v, _ := hubs[1].Vehicle("drone-1"); v.SystemID != 7 || v.Name != "Drone 1" {
		t.Errorf("vehicle arrived as %+v", v)
	}
}
