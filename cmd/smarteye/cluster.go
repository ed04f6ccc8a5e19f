package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/cluster"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// node is this process's place among smarteye's processes: alone (the
// cluster off: it owns everything, on its in-process hub) or one node of
// a cluster.
type node struct {
	settings cluster.Settings // defaults applied
	owner    telemetry.Owner
	bus      telemetry.Bus
	cluster  *cluster.Node // nil when alone
	changes  *cluster.Changes
	events   *cluster.Events
	server   *cluster.Server
	rooms    *cluster.Rooms
	conns    []*nats.Conn
	closeBus func()
}

// on reports whether this process is one node of a cluster.
func (n *node) on() bool { return n.cluster != nil }

// has reports whether this node takes role.
func (n *node) has(role string) bool { return cluster.Has(n.settings.Roles, role) }

// joinCluster starts the embedded NATS server or connects to the external
// one, and returns the node; alone, the hub is the bus.
func joinCluster(cfg config.Config, log *slog.Logger, reg prometheus.Registerer, hub *telemetry.Hub) (*node, error) {
	s := cfg.Cluster
	s.Defaults()
	n := &node{settings: s, owner: telemetry.Solo{}, bus: hub}
	if s.Mode == cluster.ModeOff {
		return n, nil
	}
	var connect func(name string, opts ...nats.Option) (*nats.Conn, error)
	switch s.Mode {
	case cluster.ModeEmbedded:
		srv, err := cluster.StartServer(s, cluster.StoreDir(cfg.DataDir), log)
		if err != nil {
			return nil, err
		}
		n.server, connect = srv, srv.Connect
	case cluster.ModeExternal:
		connect = func(name string, opts ...nats.Option) (*nats.Conn, error) {
			opts = append(append([]nats.Option{nats.Name(name), nats.MaxReconnects(-1), nats.ReconnectWait(500 * time.Millisecond)}, cluster.ConnOptions(log)...), opts...)
			return nats.Connect(strings.Join(s.URLs, ","), opts...)
		}
	}
	nc, err := connect("smarteye " + s.Node)
	if err == nil {
		n.conns = append(n.conns, nc)
		// The bus has a connection of its own that does not echo: the
		// node's own updates reach its hub directly.
		var bc *nats.Conn
		if bc, err = connect("smarteye "+s.Node+" bus", nats.NoEcho()); err == nil {
			n.conns = append(n.conns, bc)
			var b *cluster.Bus
			if b, err = cluster.NewBus(bc, hub, log, reg); err == nil {
				n.bus, n.closeBus = b, b.Close
				// Events also go on the stream the alert engine reads.
				if n.events, err = cluster.NewEvents(nc, s.Replicas, log, reg); err == nil {
					b.SetEvents(n.events)
				}
			}
		}
	}
	if err != nil {
		n.close()
		return nil, fmt.Errorf("cluster: %w", err)
	}
	n.cluster = cluster.NewNode(cluster.Config{Settings: s, Conn: nc, Log: log, Registerer: reg})
	n.owner = n.cluster
	n.changes = cluster.NewChanges(nc, s.Node, log)
	log.Info("cluster node", "node", s.Node, "mode", s.Mode, "roles", strings.Join(s.Roles, ","), "replicas", s.Replicas)
	return n, nil
}

// close leaves the cluster: the bus, the connections, then the server.
func (n *node) close() {
	if n.closeBus != nil {
		n.closeBus()
	}
	for _, c := range n.conns {
		c.Close()
	}
	if n.server != nil {
		n.server.Shutdown()
	}
}

// eventSource is where the alert engine reads events: the cluster's stream,
// or (alone: nil) the live bus.
func (n *node) eventSource() alert.EventSource {
	if !n.on() {
		return nil
	}
	return n.events
}

// changed tells the other nodes that kind changed (nil alone).
func (n *node) changed() func(kind string) {
	if !n.on() {
		return nil
	}
	return n.changes.Notify
}

// onChange reloads what another node changed (nothing alone).
func (n *node) onChange(kind string, reload func(context.Context) error) error {
	if !n.on() {
		return nil
	}
	return n.changes.OnChange(kind, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		return reload(ctx)
	})
}

// cameras are the cameras as what runs on one node for the whole cluster
// (alerts, supervision) needs them: alone, the supervisor; in a cluster,
// holds reach every node and pictures come from the node that runs the
// camera.
func (n *node) cameras(sup *camera.Supervisor, log *slog.Logger) (cluster.Cameras, func(), error) {
	if !n.on() {
		return sup, func() {}, nil
	}
	r, err := cluster.NewRemote(n.conns[1], sup, log)
	if err != nil {
		return nil, nil, fmt.Errorf("cluster: %w", err)
	}
	return r, r.Close, nil
}

// roomPeers carries the supervision rooms to the other nodes (nil alone);
// startRooms gives it this node's rooms once they are made.
func (n *node) roomPeers(log *slog.Logger) supervise.Peers {
	if !n.on() {
		return nil
	}
	n.rooms = cluster.NewRooms(n.conns[1], n.settings.Node, log)
	return n.rooms
}

func (n *node) startRooms(m *supervise.Manager) (func(), error) {
	if n.rooms == nil {
		return func() {}, nil
	}
	if err := n.rooms.Start(m); err != nil {
		return nil, fmt.Errorf("cluster: rooms: %w", err)
	}
	return n.rooms.Close, nil
}

// tally is where failed logins are counted: shared by every node (nil
// alone: the process's memory).
func (n *node) tally() auth.Tally {
	if !n.on() {
		return nil
	}
	return cluster.NewTally(n.conns[0], n.settings.Replicas, auth.FailureWindow)
}

// video relays live video between this node and the others.
func (n *node) video(sup *camera.Supervisor, log *slog.Logger, reg prometheus.Registerer) (*cluster.Video, error) {
	exists := func(id string) bool {
		return slices.ContainsFunc(sup.Cameras(), func(c telemetry.CameraInfo) bool { return c.ID == id })
	}
	return cluster.NewVideo(n.conns[0], sup.Relay, exists, log, reg)
}

// status is the cluster as this node sees it, for /api/v1/status.
func (n *node) status() any {
	return map[string]any{"node": n.settings.Node, "roles": n.settings.Roles, "nodes": n.cluster.Nodes(),
		"owners": n.cluster.Owners(), "owned": n.cluster.Owned()}
}

// singleton runs a component on one node of the cluster at a time (on
// this one while it owns "singleton.<name>"); alone, it runs it as is.
func (n *node) singleton(name string, log *slog.Logger, run func(context.Context) error) func(context.Context) error {
	if !n.on() {
		return run
	}
	return func(ctx context.Context) error {
		if !n.has(cluster.RoleControl) {
			<-ctx.Done()
			return nil
		}
		telemetry.RunOwned(ctx, n.owner, "singleton."+name, func(l *telemetry.Lease) error {
			log.Info("runs on this node", "singleton", name, "fence", l.Fence)
			return run(l.Context)
		}, func(err error) {
			log.Error("singleton stopped; starting it again", "singleton", name, "err", err)
		})
		return nil
	}
}

// components are the cluster's own: the node's part in it, its state on
// the status board, and (stopped before the work is) the handover.
func (n *node) components(board *telemetry.Board, log *slog.Logger) (first []component, handover component) {
	if !n.on() {
		return nil, component{}
	}
	status := func(ctx context.Context) error {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			alive, all := 0, 0
			for _, m := range n.cluster.Nodes() {
				all++
				if m.Alive {
					alive++
				}
			}
			state := telemetry.StateOK
			if 2*alive <= max(all, len(n.settings.Routes)) {
				state = telemetry.StateDown
			}
			board.Set("cluster", state, fmt.Sprintf("node %s; %d of %d nodes heard; owns %d", n.settings.Node, alive, max(all, len(n.settings.Routes)), len(n.cluster.Owned())))
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
			}
		}
	}
	first = []component{{"cluster node", n.cluster.Run}, {"events stream", n.events.Run}, {"cluster", status}}
	// On SIGTERM the node hands its work to the others before it stops it.
	handover = component{"handover", func(ctx context.Context) error {
		<-ctx.Done()
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		start := time.Now()
		if err := n.cluster.Drain(dctx); err != nil {
			log.Warn("handover incomplete; the rest moves when this node is seen gone", "err", err)
			return nil
		}
		log.Info("handed all work over", "in", time.Since(start).Round(time.Millisecond))
		return nil
	}}
	return first, handover
}

// drain asks a running node to hand its work over and waits until it has
// (the Kubernetes preStop hook).
func drain(ctx context.Context, cfg config.Config, stdout io.Writer) error {
	s := cfg.Cluster
	s.Defaults()
	var url string
	switch s.Mode {
	case cluster.ModeEmbedded:
		if s.ClientListen == "" {
			return fmt.Errorf("drain: set cluster.client_listen, where the node's NATS server takes clients")
		}
		url = "nats://" + localTargetString(s.ClientListen)
	case cluster.ModeExternal:
		url = strings.Join(s.URLs, ",")
	default:
		return fmt.Errorf("drain: cluster.mode is off: there is no cluster to hand work to")
	}
	nc, err := nats.Connect(url, nats.Name("smarteye drain"))
	if err != nil {
		return fmt.Errorf("drain: %w", err)
	}
	defer nc.Close()
	fmt.Fprintf(stdout, "asking node %s to hand its work over…\n", s.Node)
	start := time.Now()
	if err := cluster.RequestDrain(ctx, nc, s.Node); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "node %s owns nothing now (%s)\n", s.Node, time.Since(start).Round(time.Millisecond))
	return nil
}

// localTargetString is where a local client reaches a listen address: an
// unspecified host is this machine.
func localTargetString(a string) string {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return a
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}
