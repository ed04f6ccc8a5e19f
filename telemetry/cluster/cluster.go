// Package cluster runs several smarteye processes (nodes) as one, on NATS
// with JetStream: each node runs a NATS server of its own, routed to the
// others' (embedded), or all connect to a NATS cluster the user runs
// (external).
//
// On it:
//   - the nodes hear each other's heartbeats (core NATS): a node silent
//     for DeadAfter is dead, and a node that hears fewer than a majority
//     of the nodes it knows stops its work at once (it may be the one cut
//     off);
//   - every camera, MAVLink link and singleton (alert engine, supervision
//     scheduler, store upkeep) is owned by exactly one node: placed by
//     weighted rendezvous hashing with a cap per node (Assign), claimed by
//     compare-and-set in a replicated key-value bucket whose revision is
//     the fencing token, moved only after the nodes have settled and the
//     owner has held it a while (hysteresis), handed over at once when a
//     node drains (SIGTERM);
//   - the live bus (Bus) carries vehicles, cameras, detections, events and
//     alerts to every node's in-process hub.
//
// The configuration's mode "off" uses none of this: one process owns
// everything (telemetry.Solo) on its in-process hub.
package cluster

import (
	"cmp"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/telemetry"
)

// Modes.
const (
	ModeOff      = "off"
	ModeEmbedded = "embedded"
	ModeExternal = "external"
)

// Roles a node may take; RoleAll is every one.
const (
	RoleAll     = "all"
	RoleWorker  = "worker"  // cameras and MAVLink links
	RoleAPI     = "api"     // the dashboard and its API
	RoleControl = "control" // the singletons: alerts, supervision, upkeep
)

// Settings are the configuration file's cluster section.
type Settings struct {
	// Mode is off (one process, as without a cluster), embedded (a NATS
	// server inside each node, routed to the others') or external (a NATS
	// cluster the user runs). It defaults to off.
	Mode string `yaml:"mode"`
	// Node names this node, unique in the cluster; it defaults to the
	// host's short name.
	Node string `yaml:"node"`
	// Roles are what this node does: all, or any of worker, api and
	// control. It defaults to all (serve --role overrides it).
	Roles []string `yaml:"roles"`
	// Listen is where the embedded server takes routes from the other
	// nodes (host:port).
	Listen string `yaml:"listen"`
	// Routes are every node's route URL (nats://host:port), this one's
	// included; their number is the cluster's size.
	Routes []string `yaml:"routes"`
	// ClientListen is where the embedded server also takes NATS clients
	// (smarteye drain, monitoring); empty takes none.
	ClientListen string `yaml:"client_listen"`
	// URLs are the external NATS cluster's client URLs.
	URLs []string `yaml:"urls"`
	// Replicas of the cluster's buckets: 1, 3 or 5. It defaults to 0:
	// 3 with three routes or URLs or more, otherwise 1.
	Replicas int `yaml:"replicas"`
	// Weight is this node's share of the work relative to the others'
	// (a machine twice as big: 2). It defaults to 1.
	Weight float64 `yaml:"weight"`
	// MaxCameras bounds the cameras this node runs; 0 bounds them only by
	// its share.
	MaxCameras int `yaml:"max_cameras"`
	// Heartbeat is how often a node says it lives. It defaults to 250ms.
	Heartbeat telemetry.Duration `yaml:"heartbeat"`
	// DeadAfter is how long a silent node is taken for alive. It
	// defaults to 1.5s.
	DeadAfter telemetry.Duration `yaml:"dead_after"`
	// Settle is how long a node runs before it is given work, and how
	// long a node that joins waits before work moves to it. It defaults
	// to 3s.
	Settle telemetry.Duration `yaml:"settle"`
	// MinHold is how long a node keeps a camera before it may move to a
	// node that joined (hysteresis). It defaults to 10s.
	MinHold telemetry.Duration `yaml:"min_hold"`
}

// DefaultSettings are the configuration file's defaults: no cluster.
func DefaultSettings() Settings {
	return Settings{Mode: ModeOff, Roles: []string{RoleAll}, Routes: []string{}, URLs: []string{}, Weight: 1,
		Heartbeat: telemetry.Duration(250 * time.Millisecond), DeadAfter: telemetry.Duration(1500 * time.Millisecond),
		Settle: telemetry.Duration(3 * time.Second), MinHold: telemetry.Duration(10 * time.Second)}
}

// Defaults fills what is unset, and what defaults from the machine or
// the other settings: the node's name (the host name) and the replicas.
func (s *Settings) Defaults() {
	s.Mode = cmp.Or(s.Mode, ModeOff)
	if s.Node == "" {
		// The host's short name (a pod's name in a StatefulSet).
		h, _ := os.Hostname()
		s.Node, _, _ = strings.Cut(h, ".")
	}
	if len(s.Roles) == 0 {
		s.Roles = []string{RoleAll}
	}
	if s.Replicas == 0 {
		s.Replicas = 1
		if len(s.Routes) >= 3 || len(s.URLs) >= 3 {
			s.Replicas = 3
		}
	}
	if s.Weight == 0 {
		s.Weight = 1
	}
	s.Heartbeat = cmp.Or(s.Heartbeat, telemetry.Duration(250*time.Millisecond))
	s.DeadAfter = cmp.Or(s.DeadAfter, telemetry.Duration(1500*time.Millisecond))
	s.Settle = cmp.Or(s.Settle, telemetry.Duration(3*time.Second))
	s.MinHold = cmp.Or(s.MinHold, telemetry.Duration(10*time.Second))
}

// Check records what is wrong with the settings (Defaults applied).
func (s Settings) Check(p *telemetry.Problems) {
	switch s.Mode {
	case ModeOff, ModeEmbedded, ModeExternal, "":
	default:
		p.Add("mode", "%q is not off, embedded or external", s.Mode)
	}
	for _, r := range s.Roles {
		if !slices.Contains([]string{RoleAll, RoleWorker, RoleAPI, RoleControl}, r) {
			p.Add("roles", "%q is not all, worker, api or control", r)
		}
	}
	if s.Mode == ModeOff || s.Mode == "" {
		return
	}
	if !validNode(s.Node) {
		p.Add("node", "%q: a node's name is 1 to 64 letters, digits, '-' and '_'", s.Node)
	}
	switch s.Mode {
	case ModeEmbedded:
		if s.Listen == "" && len(s.Routes) > 0 {
			p.Add("listen", "the embedded server needs a route address (host:port) when there are routes")
		}
		for key, a := range map[string]string{"listen": s.Listen, "client_listen": s.ClientListen} {
			if err := telemetry.CheckAddr(a); a != "" && err != nil {
				p.Add(key, "%v", err)
			}
		}
		for _, r := range s.Routes {
			if u, err := url.Parse(r); err != nil || u.Scheme != "nats" || u.Port() == "" {
				p.Add("routes", "%q is not nats://host:port", r)
			}
		}
	case ModeExternal:
		if len(s.URLs) == 0 {
			p.Add("urls", "external mode needs the NATS cluster's URLs")
		}
	}
	if s.Replicas != 1 && s.Replicas != 3 && s.Replicas != 5 {
		p.Add("replicas", "%d: buckets have 1, 3 or 5 replicas", s.Replicas)
	}
	if s.Weight < 0 || s.MaxCameras < 0 {
		p.Add("weight", "weight and max_cameras cannot be negative")
	}
	if s.DeadAfter > 0 && s.Heartbeat > 0 && s.DeadAfter < 3*s.Heartbeat {
		p.Add("dead_after", "%s is under three heartbeats (%s)", s.DeadAfter, s.Heartbeat)
	}
}

func validNode(n string) bool {
	if n == "" || len(n) > 64 {
		return false
	}
	for _, r := range n {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
			return false
		}
	}
	return true
}

// Has reports whether the roles include r.
func Has(roles []string, r string) bool {
	return len(roles) == 0 || slices.Contains(roles, RoleAll) || slices.Contains(roles, r)
}

// ParseRoles reads a comma-separated --role value.
func ParseRoles(s string) ([]string, error) {
	var out []string
	for r := range strings.SplitSeq(s, ",") {
		r = strings.TrimSpace(r)
		if !slices.Contains([]string{RoleAll, RoleWorker, RoleAPI, RoleControl}, r) {
			return nil, fmt.Errorf("role %q is not all, worker, api or control", r)
		}
		out = append(out, r)
	}
	return out, nil
}

// Server is the embedded NATS server of a node.
type Server struct {
	ns  *server.Server
	log *slog.Logger
}

// StartServer starts the embedded NATS server with JetStream, storing in
// dir, its routes as the settings say; alone (no route listener) and with
// no client listener it takes no network connection at all.
func StartServer(s Settings, dir string, log *slog.Logger) (*Server, error) {
	opts := &server.Options{
		ServerName: s.Node,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
		NoLog:      true,
		// The core NATS keepalive on routes: a silent peer is noticed in
		// seconds rather than minutes.
		PingInterval: 2 * time.Second,
		MaxPingsOut:  2,
		// A 4K keyframe relayed to another node's viewers fits.
		MaxPayload: 8 << 20,
	}
	if s.ClientListen != "" {
		host, port, err := splitPort(s.ClientListen)
		if err != nil {
			return nil, fmt.Errorf("cluster.client_listen: %w", err)
		}
		opts.Host, opts.Port = host, port
	} else if s.Listen != "" {
		// The server routes only once its client listener is up: a
		// clustered node listens on a loopback port of the system's choice.
		opts.Host, opts.Port = "127.0.0.1", server.RANDOM_PORT
	} else {
		opts.DontListen = true
	}
	if s.Listen != "" {
		host, port, err := splitPort(s.Listen)
		if err != nil {
			return nil, fmt.Errorf("cluster.listen: %w", err)
		}
		opts.Cluster = server.ClusterOpts{Name: "smarteye", Host: host, Port: port, PingInterval: 2 * time.Second, MaxPingsOut: 2}
		for _, r := range s.Routes {
			u, err := url.Parse(r)
			if err != nil {
				return nil, fmt.Errorf("cluster.routes: %w", err)
			}
			opts.Routes = append(opts.Routes, u)
		}
	}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("cluster store: %w", err)
	}
	ns, err := server.NewServer(opts)
	if err != nil {
		return nil, fmt.Errorf("nats server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		ns.Shutdown()
		return nil, errors.New("nats server: not ready after 30s")
	}
	log.Info("cluster: NATS server started", "node", s.Node, "routes", len(s.Routes), "listen", s.Listen, "client_listen", s.ClientListen)
	return &Server{ns: ns, log: log}, nil
}

// Connect is a client connection to this server, in-process when it takes
// no clients over the network.
func (s *Server) Connect(name string, opts ...nats.Option) (*nats.Conn, error) {
	opts = append(append([]nats.Option{nats.Name(name), nats.InProcessServer(s.ns)}, ConnOptions(s.log)...), opts...)
	return nats.Connect("", opts...)
}

// ConnOptions log a connection's troubles (a slow consumer, a lost or
// regained server) as smarteye's log lines rather than on standard error.
func ConnOptions(log *slog.Logger) []nats.Option {
	log = log.With("component", "cluster.nats")
	return []nats.Option{
		nats.ErrorHandler(func(nc *nats.Conn, sub *nats.Subscription, err error) {
			if sub != nil {
				log.Warn("NATS", "subject", sub.Subject, "err", err)
				return
			}
			log.Warn("NATS", "err", err)
		}),
		nats.DisconnectErrHandler(func(nc *nats.Conn, err error) {
			if err != nil {
				log.Warn("disconnected from NATS", "err", err)
			}
		}),
		nats.ReconnectHandler(func(nc *nats.Conn) { log.Info("reconnected to NATS", "server", nc.ConnectedUrlRedacted()) }),
	}
}

// Shutdown stops the server.
func (s *Server) Shutdown() {
	s.ns.Shutdown()
	s.ns.WaitForShutdown()
}

// Routes counts the server's routes to other servers now.
func (s *Server) Routes() int { return s.ns.NumRoutes() }

// StoreDir is where a node keeps its JetStream data under its data
// directory.
func StoreDir(dataDir string) string { return filepath.Join(dataDir, "nats") }

func splitPort(a string) (string, int, error) {
	host, port, err := net.SplitHostPort(a)
	if err != nil {
		return "", 0, err
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, fmt.Errorf("port %q: %w", port, err)
	}
	return host, n, nil
}

// Messages counts the messages the server has taken in and sent out.
func (s *Server) Messages() int64 {
	v, err := s.ns.Varz(nil)
	if err != nil {
		return 0
	}
	return v.InMsgs + v.OutMsgs
}
