package scaleout

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/cluster"
)

// busCase is one way of carrying the live feed.
type busCase struct {
	name string
	// open returns where to publish, the hub a subscriber reads, and a
	// closer.
	open func() (telemetry.Bus, *telemetry.Hub, func(), error)
}

// benchBus times vehicle updates from a publisher to a subscriber of the
// receiving hub: the in-process hub (one smarteye alone) against the NATS
// bus between two nodes' hubs on one in-process NATS server.
func benchBus(ctx context.Context) (string, error) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cases := []busCase{
		{"in-process hub (cluster off: one process)", func() (telemetry.Bus, *telemetry.Hub, func(), error) {
			h := telemetry.NewHub(nil)
			return h, h, func() {}, nil
		}},
		{"NATS bus, node to node (in-process NATS server, JSON)", func() (telemetry.Bus, *telemetry.Hub, func(), error) {
			s := cluster.DefaultSettings()
			s.Node = "bench"
			dir, err := os.MkdirTemp("", "smarteye-bus-")
			if err != nil {
				return nil, nil, nil, err
			}
			srv, err := cluster.StartServer(s, dir, log)
			if err != nil {
				os.RemoveAll(dir)
				return nil, nil, nil, err
			}
			var conns []*nats.Conn
			var buses []*cluster.Bus
			closeAll := func() {
				for _, b := range buses {
					b.Close()
				}
				for _, c := range conns {
					c.Close()
				}
				srv.Shutdown()
				os.RemoveAll(dir)
			}
			for _, name := range []string{"a", "b"} {
				nc, err := srv.Connect(name, nats.NoEcho())
				if err != nil {
					closeAll()
					return nil, nil, nil, err
				}
				conns = append(conns, nc)
				b, err := cluster.NewBus(nc, telemetry.NewHub(nil), log, nil)
				if err != nil {
					closeAll()
					return nil, nil, nil, err
				}
				buses = append(buses, b)
			}
			return buses[0], buses[1].Hub, closeAll, nil
		}},
	}
	var b strings.Builder
	b.WriteString("### The live bus: in-process hub vs NATS\n\nVehicle updates (≈ 600 bytes of JSON each) from a publisher to one subscriber of the receiving node's hub, 20,000 per run, paced at 5,000/s for the latency, then as fast as they go for the cost; median of 3 runs.\n\n| Bus | Publish → subscriber, median | p99 | CPU per update | Ratio of CPU to the hub |\n|---|---|---|---|---|\n")
	var base float64
	for _, c := range cases {
		var lat50, lat99, cpu []float64
		for range 3 {
			l50, l99, per, err := busRun(ctx, c)
			if err != nil {
				return "", fmt.Errorf("bus %s: %w", c.name, err)
			}
			lat50, lat99, cpu = append(lat50, l50), append(lat99, l99), append(cpu, per)
		}
		m := measure.Median(cpu)
		if base == 0 {
			base = m
		}
		fmt.Fprintf(&b, "| %s | %.3f ms | %.3f ms | %.1f µs | %.1f× |\n", c.name, measure.Median(lat50), measure.Median(lat99), m, m/base)
	}
	b.WriteString("\nOne process alone keeps the in-process hub (the cluster's `mode: off`): a networked bus would cost it for nothing. In a cluster each node publishes to its own hub directly and to the others over NATS (a connection that does not echo), so the node's own browsers see no extra delay.\n\n")
	return b.String(), nil
}

func busRun(ctx context.Context, c busCase) (p50, p99, cpuPer float64, err error) {
	bus, hub, closeBus, err := c.open()
	if err != nil {
		return 0, 0, 0, err
	}
	defer closeBus()
	sub := hub.Subscribe(1 << 16)
	defer sub.Close()
	const n = 20000
	v := telemetry.Vehicle{ID: "drone-1", Name: "Drone 1", Link: "field", SystemID: 7, Type: "quadrotor"}
	// Latency, paced: each update carries its send time in Name.
	var lats []float64
	got := 0
	tick := time.NewTicker(200 * time.Microsecond)
	defer tick.Stop()
	var buf []telemetry.Update
	deadline := time.Now().Add(time.Minute)
	for sent := 0; got < n && time.Now().Before(deadline); {
		if sent < n {
			<-tick.C
			v.Name = time.Now().Format(time.RFC3339Nano)
			bus.PublishVehicle(v)
			sent++
		}
		select {
		case <-sub.Ready():
		default:
			if sent < n {
				continue
			}
			select {
			case <-sub.Ready():
			case <-time.After(time.Second):
			case <-ctx.Done():
				return 0, 0, 0, ctx.Err()
			}
		}
		now := time.Now()
		buf = sub.Take(buf[:0])
		for _, u := range buf {
			if t, err := time.Parse(time.RFC3339Nano, u.Vehicle.Name); err == nil {
				lats = append(lats, float64(now.Sub(t).Microseconds())/1000)
			}
			got++
		}
	}
	if got < n {
		return 0, 0, 0, fmt.Errorf("%d of %d updates arrived", got, n)
	}
	slices.Sort(lats)
	p50, p99 = lats[len(lats)/2], lats[len(lats)*99/100]
	// Cost, unpaced.
	cpu0 := measure.CPUTime()
	got = 0
	for range n {
		bus.PublishVehicle(v)
	}
	for got < n {
		select {
		case <-sub.Ready():
		case <-time.After(5 * time.Second):
			return 0, 0, 0, fmt.Errorf("unpaced: %d of %d updates arrived", got, n)
		}
		buf = sub.Take(buf[:0])
		got += len(buf)
	}
	cpuPer = float64((measure.CPUTime() - cpu0).Microseconds()) / n
	return p50, p99, cpuPer, nil
}
