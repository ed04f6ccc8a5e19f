package mavlink

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Settings configure telemetry ingest in the configuration file (the
// `mavlink` section).
type Settings struct {
	// SystemID is smarteye's own system id. It defaults to 254.
	SystemID int `yaml:"system_id"`
	// HeartbeatInterval is how often smarteye's heartbeat is sent on every
	// link; 0 sends none. It defaults to 1 second.
	HeartbeatInterval telemetry.Duration `yaml:"heartbeat_interval"`
	// StoredRate is the most samples stored per vehicle per second. It defaults to 10.
	StoredRate float64 `yaml:"stored_rate"`
	// LinkTimeout is the silence after which a link is lost. It defaults to 5 seconds.
	LinkTimeout telemetry.Duration `yaml:"link_timeout"`
	// MaxDiscovered caps unconfigured vehicles per link. It defaults to 64.
	MaxDiscovered int `yaml:"max_discovered"`
	// Links defaults to one UDP server on :14550.
	Links []LinkSettings `yaml:"links"`
	// Vehicles defaults to none (every vehicle is discovered).
	Vehicles []VehicleSettings `yaml:"vehicles"`
	// Commands tune command and control and set its interlocks.
	Commands CommandSettings `yaml:"commands"`
}

// CommandSettings tune command and control.
type CommandSettings struct {
	// AckTimeout is the wait for a vehicle's answer before a retry. It
	// defaults to 1.5 s.
	AckTimeout telemetry.Duration `yaml:"ack_timeout"`
	// Retries is how often a command that only sets a state is sent again
	// without an answer (one that moves the vehicle never is). It
	// defaults to 3.
	Retries int `yaml:"retries"`
	// Ceiling and Floor bound the altitudes above home a vehicle is sent
	// to. They default to 120 m and 10 m.
	Ceiling float64 `yaml:"ceiling"`
	Floor   float64 `yaml:"floor"`
	// MinTakeoffBattery is the least battery, percent, to take off. It
	// defaults to 30.
	MinTakeoffBattery float64 `yaml:"min_takeoff_battery"`
	// ControlTTL is how long an operator's control of a vehicle lasts
	// without a command or the page renewing it. It defaults to 2 minutes.
	ControlTTL telemetry.Duration `yaml:"control_ttl"`
}

// LinkSettings are one MAVLink endpoint.
type LinkSettings struct {
	Name       string `yaml:"name"`
	Type       string `yaml:"type"`
	Address    string `yaml:"address"`
	Baud       int    `yaml:"baud"`
	ReadBuffer int    `yaml:"read_buffer"`
}

// VehicleSettings are one configured vehicle.
type VehicleSettings struct {
	Name       string `yaml:"name"`
	Link       string `yaml:"link"`
	SystemID   int    `yaml:"system_id"`
	Camera     string `yaml:"camera"`
	SigningKey string `yaml:"signing_key"`
}

// DefaultSettings are the ingest's defaults.
func DefaultSettings() Settings {
	return Settings{SystemID: 254, HeartbeatInterval: telemetry.Duration(time.Second), StoredRate: 10, LinkTimeout: telemetry.Duration(5 * time.Second),
		MaxDiscovered: 64, Links: []LinkSettings{{Name: "udp", Type: UDPServer, Address: ":14550", ReadBuffer: 8 << 20}}, Vehicles: []VehicleSettings{},
		Commands: CommandSettings{AckTimeout: telemetry.Duration(1500 * time.Millisecond), Retries: 3, Ceiling: 120, Floor: 10, MinTakeoffBattery: 30,
			ControlTTL: telemetry.Duration(2 * time.Minute)}}
}

// Check records what is wrong with the settings.
func (m Settings) Check(p *telemetry.Problems) {
	if m.SystemID < 1 || m.SystemID > 255 {
		p.Add("system_id", "%d is out of range 1..255", m.SystemID)
	}
	if m.HeartbeatInterval < 0 {
		p.Add("heartbeat_interval", "must be 0 (none) or positive")
	}
	if m.StoredRate < 0 || m.StoredRate > 1000 {
		p.Add("stored_rate", "%g is out of range 0..1000 samples per second", m.StoredRate)
	}
	p.Positive("link_timeout", m.LinkTimeout)
	if m.MaxDiscovered < 0 || m.MaxDiscovered > 10000 {
		p.Add("max_discovered", "%d is out of range 0..10000", m.MaxDiscovered)
	}
	links := map[string]bool{}
	for i, l := range m.Links {
		lp := p.In(fmt.Sprintf("links[%d]", i))
		if l.Name == "" || links[l.Name] {
			lp.Add("name", "%q must be set and unique", l.Name)
		}
		links[l.Name] = true
		switch l.Type {
		case UDPServer, UDPClient, TCPServer, TCPClient:
			if err := telemetry.CheckAddr(l.Address); err != nil {
				lp.Add("address", "%v; write host:port, e.g. :14550 or 192.168.1.10:14550", err)
			}
		case Serial:
			if l.Address == "" {
				lp.Add("address", "name the serial device, e.g. /dev/ttyUSB0")
			}
			if l.Baud < 0 {
				lp.Add("baud", "must be positive, e.g. 57600")
			}
		default:
			lp.Add("type", "%q is not one of udp-server, udp-client, tcp-server, tcp-client, serial", l.Type)
		}
		if l.ReadBuffer < 0 {
			lp.Add("read_buffer", "must be 0 (default) or a size in bytes")
		}
	}
	cp := p.In("commands")
	cp.Positive("ack_timeout", m.Commands.AckTimeout)
	cp.Positive("control_ttl", m.Commands.ControlTTL)
	if m.Commands.Retries < 0 || m.Commands.Retries > 10 {
		cp.Add("retries", "%d is out of range 0..10", m.Commands.Retries)
	}
	if m.Commands.Floor < 0 || m.Commands.Ceiling <= m.Commands.Floor || m.Commands.Ceiling > 10000 {
		cp.Add("ceiling", "%g m over a floor of %g m: want 0 ≤ floor < ceiling ≤ 10000", m.Commands.Ceiling, m.Commands.Floor)
	}
	if m.Commands.MinTakeoffBattery < 0 || m.Commands.MinTakeoffBattery > 100 {
		cp.Add("min_takeoff_battery", "%g is not a percentage", m.Commands.MinTakeoffBattery)
	}
	ids := map[string]bool{}
	names := map[string]bool{}
	for i, v := range m.Vehicles {
		vp := p.In(fmt.Sprintf("vehicles[%d]", i))
		if v.Name == "" || names[v.Name] || strings.ContainsAny(v.Name, "/?#% ") {
			vp.Add("name", "%q must be set, unique, and without spaces, '/', '?', '#' or '%%'", v.Name)
		}
		names[v.Name] = true
		if !links[v.Link] {
			vp.Add("link", "%q is not one of mavlink.links", v.Link)
		}
		if v.SystemID < 1 || v.SystemID > 255 {
			vp.Add("system_id", "%d is out of range 1..255", v.SystemID)
		}
		if id := fmt.Sprint(v.Link, "/", v.SystemID); ids[id] {
			vp.Add("system_id", "system %d on link %s is configured twice", v.SystemID, v.Link)
		} else {
			ids[id] = true
		}
		if k := v.SigningKey; k != "" && len(k) < 8 {
			vp.Add("signing_key", "a passphrase needs at least 8 characters (or give 64 hex digits)")
		}
	}
}

// Config is the ingest with these settings.
func (m Settings) Config(log *slog.Logger) Config {
	c := Config{
		SystemID:          uint8(m.SystemID),
		HeartbeatInterval: m.HeartbeatInterval.D(),
		StoredRate:        m.StoredRate,
		LinkTimeout:       m.LinkTimeout.D(),
		MaxDiscovered:     m.MaxDiscovered,
		Commands:          CommandConfig{AckTimeout: m.Commands.AckTimeout.D(), Retries: m.Commands.Retries},
		Log:               log,
	}
	if m.Commands.Retries == 0 {
		c.Commands.Retries = -1 // none
	}
	if c.HeartbeatInterval == 0 {
		c.HeartbeatInterval = -1 // none
	}
	if c.StoredRate == 0 {
		c.StoredRate = -1 // store none
	}
	for _, l := range m.Links {
		c.Links = append(c.Links, LinkConfig{Name: l.Name, Type: l.Type, Address: l.Address, Baud: l.Baud, ReadBuffer: l.ReadBuffer})
	}
	for _, v := range m.Vehicles {
		c.Vehicles = append(c.Vehicles, VehicleConfig{Name: v.Name, Link: v.Link, SystemID: uint8(v.SystemID), Camera: v.Camera, SigningKey: v.SigningKey})
	}
	return c
}
