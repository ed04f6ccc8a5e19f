// Package mavlink brings MAVLink telemetry in: one gomavlib node per
// configured link (UDP server or client, TCP server or client, serial),
// each drained by its own goroutine that checks signatures and checksums,
// decodes the ardupilotmega dialect (a superset of common, so PX4 works
// too) and converts the messages at the boundary into telemetry.Vehicle
// state, stored samples and events.
//
// Vehicles are identified by (link, system id). Configured vehicles carry
// their names, cameras and signing keys; an unconfigured system becomes a
// discovered vehicle with its first autopilot HEARTBEAT. Ground stations
// and components without an autopilot are never vehicles. A vehicle
// without a 3D GPS fix has no position.
//
// Bad input never stops a link: every frame that is refused is counted by
// reason in smarteye_mavlink_frames_dropped_total.
package mavlink

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gomavlib/v3"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"
	"github.com/pion/transport/v2/udp"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Link types.
const (
	UDPServer = "udp-server"
	UDPClient = "udp-client"
	TCPServer = "tcp-server"
	TCPClient = "tcp-client"
	Serial    = "serial"
)

// LinkConfig is one MAVLink link.
type LinkConfig struct {
	Name string
	// Type is udp-server, udp-client, tcp-server, tcp-client or serial.
	Type string
	// Address is host:port to listen on or dial, or the serial device.
	Address string
	// Baud is the serial line's speed. It defaults to 57600.
	Baud int
	// ReadBuffer is the UDP server's socket receive buffer in bytes, so
	// that bursts from many vehicles are not dropped by the kernel; the
	// kernel caps it at net.core.rmem_max. It defaults to 8 MiB.
	ReadBuffer int
}

// VehicleConfig is one configured vehicle.
type VehicleConfig struct {
	Name     string
	Link     string
	SystemID uint8
	Camera   string
	// SigningKey, when set, makes the vehicle's frames count only when
	// signed with it (MAVLink 2 signing): 64 hex digits are the key itself;
	// anything else is a passphrase, hashed with SHA-256 as Mission Planner
	// and QGroundControl do.
	SigningKey string

	key *frame.V2Key
}

// ParseKey turns a configured signing key into a MAVLink 2 key.
func ParseKey(s string) (*frame.V2Key, error) {
	if s == "" {
		return nil, nil
	}
	if len(s) == 64 {
		if b, err := hex.DecodeString(s); err == nil {
			return frame.NewV2Key(b), nil
		}
	}
	if len(s) < 8 {
		return nil, errors.New("signing key: a passphrase needs at least 8 characters (or give 64 hex digits)")
	}
	sum := sha256.Sum256([]byte(s))
	return frame.NewV2Key(sum[:]), nil
}

// Config configures the MAVLink ingest.
type Config struct {
	Links    []LinkConfig
	Vehicles []VehicleConfig
	// SystemID is smarteye's own system id in the heartbeats it sends. It
	// defaults to 254.
	SystemID uint8
	// HeartbeatInterval is how often smarteye sends its own heartbeat on
	// every link, so that vehicles and routers see a ground station. It
	// defaults to 1 second; negative sends none.
	HeartbeatInterval time.Duration
	// StoredRate is the most telemetry samples stored per vehicle per
	// second; the live feed keeps the full rate. It defaults to 10.
	StoredRate float64
	// LinkTimeout is the silence after which a vehicle's link is lost. It
	// defaults to 5 seconds.
	LinkTimeout time.Duration
	// MaxDiscovered caps unconfigured vehicles per link. It defaults to 64.
	MaxDiscovered int
	// Commands tunes command and control.
	Commands CommandConfig
	// Site is the site the vehicles belong to.
	Site string
	Log  *slog.Logger
}

// Validate checks the configuration and parses the signing keys.
func (c *Config) Validate() error {
	var errs []error
	links := map[string]bool{}
	for i, l := range c.Links {
		switch {
		case l.Name == "":
			errs = append(errs, fmt.Errorf("links[%d]: name is empty", i))
		case links[l.Name]:
			errs = append(errs, fmt.Errorf("links[%d]: duplicate name %q", i, l.Name))
		}
		links[l.Name] = true
		switch l.Type {
		case UDPServer, UDPClient, TCPServer, TCPClient:
			if _, _, err := net.SplitHostPort(l.Address); err != nil {
				errs = append(errs, fmt.Errorf("links[%d] %s: address %q: %v", i, l.Name, l.Address, err))
			}
		case Serial:
			if l.Address == "" {
				errs = append(errs, fmt.Errorf("links[%d] %s: address (the serial device) is empty", i, l.Name))
			}
		default:
			errs = append(errs, fmt.Errorf("links[%d] %s: type %q is not udp-server, udp-client, tcp-server, tcp-client or serial", i, l.Name, l.Type))
		}
	}
	names := map[string]bool{}
	ids := map[string]bool{}
	for i := range c.Vehicles {
		v := &c.Vehicles[i]
		if v.Name == "" || strings.ContainsAny(v.Name, "/?#% ") {
			errs = append(errs, fmt.Errorf("vehicles[%d]: name %q must be non-empty without spaces, '/', '?', '#' or '%%'", i, v.Name))
		}
		if names[v.Name] {
			errs = append(errs, fmt.Errorf("vehicles[%d]: duplicate name %q", i, v.Name))
		}
		names[v.Name] = true
		if !links[v.Link] {
			errs = append(errs, fmt.Errorf("vehicles[%d] %s: link %q is not configured", i, v.Name, v.Link))
		}
		if v.SystemID == 0 {
			errs = append(errs, fmt.Errorf("vehicles[%d] %s: system_id must be 1-255", i, v.Name))
		}
		k := fmt.Sprint(v.Link, "/", v.SystemID)
		if ids[k] {
			errs = append(errs, fmt.Errorf("vehicles[%d] %s: system %d on link %s is configured twice", i, v.Name, v.SystemID, v.Link))
		}
		ids[k] = true
		key, err := ParseKey(v.SigningKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("vehicles[%d] %s: %v", i, v.Name, err))
		}
		v.key = key
	}
	return errors.Join(errs...)
}

func (c *Config) setDefaults() {
	if c.SystemID == 0 {
		c.SystemID = 254
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = time.Second
	}
	if c.StoredRate == 0 {
		c.StoredRate = 10
	}
	if c.LinkTimeout <= 0 {
		c.LinkTimeout = 5 * time.Second
	}
	if c.MaxDiscovered <= 0 {
		c.MaxDiscovered = 64
	}
	if c.Log == nil {
		c.Log = slog.Default()
	}
	for i := range c.Links {
		if c.Links[i].ReadBuffer <= 0 {
			c.Links[i].ReadBuffer = 8 << 20
		}
		if c.Links[i].Baud <= 0 {
			c.Links[i].Baud = 57600
		}
	}
}

// Ingest runs every link.
type Ingest struct {
	cfg   Config
	sink  Sink
	log   *slog.Logger
	links []*link
	// owner, when set, opens each link only while this process owns it
	// (a cluster runs each link on one node); nil opens them all.
	owner telemetry.Owner
	cmd   *Commander
}

// Commander sends commands to the vehicles and follows them.
func (in *Ingest) Commander() *Commander { return in.cmd }

// SetOwner makes Run open each link only while owner grants this process
// "link.<name>" (before Run; Start then opens nothing).
func (in *Ingest) SetOwner(o telemetry.Owner) { in.owner = o }

type link struct {
	cfg    LinkConfig
	node   *gomavlib.Node
	proc   *Processor
	mu     sync.Mutex
	addr   net.Addr
	chans  int
	events chan telemetry.Event
	// peers: the channel each system was last heard on, to answer it there.
	peers map[uint8]*gomavlib.Channel
	seq   atomic.Uint32 // sequence number of what smarteye sends
}

// New prepares the links; Start binds them.
func New(cfg Config, sink Sink, reg prometheus.Registerer) (*Ingest, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("mavlink: %w", err)
	}
	in := &Ingest{cfg: cfg, sink: sink, log: cfg.Log.With("component", "mavlink")}
	in.cmd = newCommander(in, cfg.Commands, cfg.Log)
	for _, lc := range cfg.Links {
		var vehicles []VehicleConfig
		for _, v := range cfg.Vehicles {
			if v.Link == lc.Name {
				vehicles = append(vehicles, v)
			}
		}
		l := &link{cfg: lc, peers: map[uint8]*gomavlib.Channel{}}
		l.proc = NewProcessor(ProcessorConfig{
			Link: lc.Name, Vehicles: vehicles, StoredRate: cfg.StoredRate,
			LinkTimeout: cfg.LinkTimeout, MaxDiscovered: cfg.MaxDiscovered, Site: cfg.Site,
			Observe: func(v *telemetry.Vehicle, comp uint8, msg message.Message) { in.cmd.observe(l, v, comp, msg) },
		}, commandSink{Sink: sink, c: in.cmd, l: l})
		in.links = append(in.links, l)
	}
	if reg != nil {
		reg.MustRegister(in)
	}
	return in, nil
}

// Start opens every link's endpoint: a port in use fails here, at start-up.
// With an owner (SetOwner) it opens none: Run opens each while owned.
func (in *Ingest) Start() error {
	if in.owner != nil {
		return nil
	}
	for _, l := range in.links {
		if _, err := in.open(l); err != nil {
			in.close()
			return err
		}
	}
	return nil
}

// open opens one link's endpoint and returns its node.
func (in *Ingest) open(l *link) (*gomavlib.Node, error) {
	ep, addr, err := l.endpoint()
	if err != nil {
		return nil, fmt.Errorf("mavlink: link %s: %w", l.cfg.Name, err)
	}
	node := &gomavlib.Node{
		Endpoints:        []gomavlib.EndpointConf{ep},
		Dialect:          nil, // frames stay raw: signatures are checked on the bytes as sent
		OutVersion:       gomavlib.V2,
		OutSystemID:      in.cfg.SystemID,
		HeartbeatDisable: true, // sent by heartbeat(), as raw frames
		ReadTimeout:      max(in.cfg.LinkTimeout*4, 30*time.Second),
		IdleTimeout:      max(in.cfg.LinkTimeout*12, 60*time.Second),
	}
	if err := node.Initialize(); err != nil {
		return nil, fmt.Errorf("mavlink: link %s (%s %s): %w", l.cfg.Name, l.cfg.Type, l.cfg.Address, err)
	}
	l.mu.Lock()
	l.node, l.addr = node, addr
	l.mu.Unlock()
	in.log.Info("link open", "link", l.cfg.Name, "type", l.cfg.Type, "address", l.Addr())
	return node, nil
}

// current is the link's open node, nil while closed.
func (l *link) current() *gomavlib.Node {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.node
}

func (in *Ingest) close() {
	for _, l := range in.links {
		l.shut()
	}
}

// shut closes the link's node (its drain then ends).
func (l *link) shut() {
	l.mu.Lock()
	node := l.node
	l.node, l.addr = nil, nil
	l.mu.Unlock()
	if node != nil {
		node.Close()
	}
}

// Addr is the bound address of a server link (useful with port 0), or nil.
func (in *Ingest) Addr(link string) net.Addr {
	for _, l := range in.links {
		if l.cfg.Name == link {
			return l.Addr()
		}
	}
	return nil
}

func (l *link) Addr() net.Addr {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.addr
}

// Counts returns a link's counters, or nil for an unknown link.
func (in *Ingest) Counts(link string) *Counts {
	for _, l := range in.links {
		if l.cfg.Name == link {
			return l.proc.Counts()
		}
	}
	return nil
}

func (l *link) endpoint() (gomavlib.EndpointConf, net.Addr, error) {
	c := l.cfg
	switch c.Type {
	case UDPServer:
		addr, err := net.ResolveUDPAddr("udp", c.Address)
		if err != nil {
			return nil, nil, err
		}
		// pion's listener, as gomavlib's own UDP server uses, with a larger
		// socket buffer: the stock one drops frames above ~40k frames/s.
		ln, err := (&udp.ListenConfig{ReadBufferSize: c.ReadBuffer}).Listen("udp", addr)
		if err != nil {
			return nil, nil, err
		}
		return gomavlib.EndpointCustomServer{Listen: func() (net.Listener, error) { return ln, nil }, Label: "udp", IsDatagram: true}, ln.Addr(), nil
	case TCPServer:
		ln, err := net.Listen("tcp", c.Address)
		if err != nil {
			return nil, nil, err
		}
		return gomavlib.EndpointCustomServer{Listen: func() (net.Listener, error) { return ln, nil }, Label: "tcp"}, ln.Addr(), nil
	case UDPClient:
		return gomavlib.EndpointUDPClient{Address: c.Address}, nil, nil
	case TCPClient:
		return gomavlib.EndpointTCPClient{Address: c.Address}, nil, nil
	case Serial:
		return gomavlib.EndpointSerial{Device: c.Address, Baud: c.Baud}, nil, nil
	}
	return nil, nil, fmt.Errorf("unknown link type %q", c.Type)
}

// Run drains every link until ctx ends, then closes them. Start must have
// succeeded (Run calls it otherwise).
func (in *Ingest) Run(ctx context.Context) error {
	if in.owner == nil && len(in.links) > 0 && in.links[0].current() == nil {
		if err := in.Start(); err != nil {
			return err
		}
	}
	var drains, beats sync.WaitGroup
	for _, l := range in.links {
		drains.Add(1)
		// Each drain reads the node it was started with: the link may be
		// shut (its node gone) before the goroutine runs.
		node := l.current()
		go func() {
			defer drains.Done()
			if in.owner == nil {
				in.drain(l, node.Events())
				return
			}
			// In a cluster: open while owned, drain, close when the link
			// moves to another node.
			telemetry.RunOwned(ctx, in.owner, "link."+keyToken(l.cfg.Name), func(lease *telemetry.Lease) error {
				node, err := in.open(l)
				if err != nil {
					return err
				}
				events := node.Events()
				done := make(chan struct{})
				go func() { defer close(done); in.drain(l, events) }()
				<-lease.Context.Done()
				l.shut()
				<-done
				return nil
			}, func(err error) { in.log.Error("link cannot open here; trying again", "link", l.cfg.Name, "err", err) })
		}()
	}
	if in.cfg.HeartbeatInterval > 0 {
		beats.Add(1)
		go func() {
			defer beats.Done()
			in.heartbeat(ctx)
		}()
	}
	<-ctx.Done()
	beats.Wait()
	in.cmd.close() // pending commands fail: nothing is sent after this
	in.close()     // ends the drains: each node closes its event channel last
	drains.Wait()
	return nil
}

// keyToken is a link's name as a part of a cluster key: letters, digits,
// '-' and '_' as they are, anything else hex-escaped.
func keyToken(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "=%x", string(r))
		}
	}
	return b.String()
}

// drain is the link's one consumer of node events: nothing else touches
// its Processor. It returns when the node, closed, closes its channel.
func (in *Ingest) drain(l *link, events chan gomavlib.Event) {
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				return
			}
			switch e := ev.(type) {
			case *gomavlib.EventFrame:
				l.heardOn(e.Frame.GetSystemID(), e.Channel)
				l.proc.FrameFrom(e.Frame, sourceHost(e.Channel.String()), time.Now())
			case *gomavlib.EventParseError:
				l.proc.drop(DropParse)
				in.log.Debug("unparsable data", "link", l.cfg.Name, "channel", e.Channel, "err", e.Error)
			case *gomavlib.EventChannelOpen:
				l.mu.Lock()
				l.chans++
				l.mu.Unlock()
				in.log.Info("peer connected", "link", l.cfg.Name, "channel", e.Channel)
			case *gomavlib.EventChannelClose:
				l.mu.Lock()
				l.chans--
				for sys, ch := range l.peers {
					if ch == e.Channel {
						delete(l.peers, sys)
					}
				}
				l.mu.Unlock()
				in.log.Info("peer disconnected", "link", l.cfg.Name, "channel", e.Channel, "err", e.Error)
			}
		case now := <-tick.C:
			l.proc.Tick(now)
		}
	}
}

// heartbeat sends smarteye's own HEARTBEAT (a ground station) on every link.
func (in *Ingest) heartbeat(ctx context.Context) {
	rw := dialectRW.GetMessage(0)
	t := time.NewTicker(in.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		raw := rw.Write(&ardupilotmega.MessageHeartbeat{
			Type:           ardupilotmega.MAV_TYPE_GCS,
			Autopilot:      ardupilotmega.MAV_AUTOPILOT_INVALID,
			SystemStatus:   ardupilotmega.MAV_STATE_ACTIVE,
			MavlinkVersion: 3,
		}, true)
		for _, l := range in.links {
			fr := &frame.V2Frame{SequenceNumber: uint8(l.seq.Add(1)), SystemID: in.cfg.SystemID, ComponentID: gcsComponent, Message: raw}
			fr.Checksum = fr.GenerateChecksum(rw.CRCExtra())
			if node := l.current(); node != nil {
				_ = node.WriteFrameAll(fr) // a node closed meanwhile returns at once
			}
		}
	}
}

// gcsComponent is smarteye's component id (MAV_COMP_ID_MISSIONPLANNER, as
// ground stations use).
const gcsComponent = 190

// heardOn remembers the channel a system was heard on.
func (l *link) heardOn(sys uint8, ch *gomavlib.Channel) {
	l.mu.Lock()
	if l.peers[sys] != ch {
		if len(l.peers) >= 256 {
			clear(l.peers)
		}
		l.peers[sys] = ch
	}
	l.mu.Unlock()
}

// signatureEpoch is MAVLink 2 signing's time origin.
var signatureEpoch = time.Date(2015, 1, 1, 0, 0, 0, 0, time.UTC)

// sendTo writes msg from smarteye (system from) to system sys: on the
// channel it was last heard on (to every channel before that), signed
// with key when the vehicle has one.
func (l *link) sendTo(sys uint8, key *frame.V2Key, from uint8, msg message.Message) error {
	mp := dialectRW.GetMessage(msg.GetID())
	if mp == nil {
		return fmt.Errorf("message %d is not in the dialect", msg.GetID())
	}
	fr := &frame.V2Frame{SequenceNumber: uint8(l.seq.Add(1)), SystemID: from, ComponentID: gcsComponent, Message: mp.Write(msg, true)}
	if key != nil {
		fr.IncompatibilityFlag |= frame.V2FlagSigned
		fr.SignatureLinkID = 1
		fr.SignatureTimestamp = uint64(time.Since(signatureEpoch) / (10 * time.Microsecond))
	}
	fr.Checksum = fr.GenerateChecksum(mp.CRCExtra())
	if key != nil {
		fr.Signature = fr.GenerateSignature(key)
	}
	l.mu.Lock()
	node, ch := l.node, l.peers[sys]
	l.mu.Unlock()
	if node == nil {
		return errors.New("the link is closed")
	}
	if ch != nil {
		return node.WriteFrameTo(ch, fr)
	}
	return node.WriteFrameAll(fr)
}

// commandSink tells the commander every change of a vehicle's state (the
// link lost on a tick too) before passing it on.
type commandSink struct {
	Sink
	c *Commander
	l *link
}

func (s commandSink) State(v *telemetry.Vehicle) {
	s.c.observeState(s.l, v)
	s.Sink.State(v)
}

var (
	descFrames   = prometheus.NewDesc("smarteye_mavlink_frames_total", "MAVLink frames accepted, by link.", []string{"link"}, nil)
	descUnknown  = prometheus.NewDesc("smarteye_mavlink_unknown_messages_total", "Accepted frames whose message id is not in the dialect, by link.", []string{"link"}, nil)
	descLost     = prometheus.NewDesc("smarteye_mavlink_frames_lost_total", "Frames missing from vehicles' sequence numbers, by link.", []string{"link"}, nil)
	descDropped  = prometheus.NewDesc("smarteye_mavlink_frames_dropped_total", "Frames refused, by link and reason.", []string{"link", "reason"}, nil)
	descVehicles = prometheus.NewDesc("smarteye_mavlink_vehicles", "Vehicles heard on the link.", []string{"link"}, nil)
	descPeers    = prometheus.NewDesc("smarteye_mavlink_peers", "Open channels (connected peers) on the link.", []string{"link"}, nil)
)

// Describe implements prometheus.Collector.
func (in *Ingest) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descFrames, descUnknown, descLost, descDropped, descVehicles, descPeers} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (in *Ingest) Collect(ch chan<- prometheus.Metric) {
	for _, l := range in.links {
		c, n := l.proc.Counts(), l.cfg.Name
		ch <- prometheus.MustNewConstMetric(descFrames, prometheus.CounterValue, float64(c.Frames.Load()), n)
		ch <- prometheus.MustNewConstMetric(descUnknown, prometheus.CounterValue, float64(c.Unknown.Load()), n)
		ch <- prometheus.MustNewConstMetric(descLost, prometheus.CounterValue, float64(c.Lost.Load()), n)
		for i, r := range DropReasons {
			ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(c.Dropped[i].Load()), n, r)
		}
		ch <- prometheus.MustNewConstMetric(descVehicles, prometheus.GaugeValue, float64(c.Vehicles.Load()), n)
		l.mu.Lock()
		peers := l.chans
		l.mu.Unlock()
		ch <- prometheus.MustNewConstMetric(descPeers, prometheus.GaugeValue, float64(peers), n)
	}
}

// sourceHost is a channel's label ("udp:10.0.0.5:14550") without the
// port: a vehicle that reconnects, or whose router picks a new port, is
// still the same source.
func sourceHost(label string) string {
	proto, addr, ok := strings.Cut(label, ":")
	if !ok {
		return label
	}
	if host, _, err := net.SplitHostPort(addr); err == nil {
		return proto + ":" + host
	}
	return label
}
