package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// mavlinkConfig maps the configuration onto the ingest's. In the demo, the
// simulated drones are configured vehicles on the first UDP server link.
func mavlinkConfig(cfg config.Config, log *slog.Logger, demo bool) mavlink.Config {
	c := cfg.MAVLink.Config(log)
	if demo {
		if link := demoLink(cfg); link != "" {
		drones:
			for _, d := range cfg.Sim.Drones {
				for _, v := range c.Vehicles {
					if v.Name == d.Name || (v.Link == link && int(v.SystemID) == d.SystemID) {
						continue drones
					}
				}
				c.Vehicles = append(c.Vehicles, mavlink.VehicleConfig{Name: d.Name, Link: link, SystemID: uint8(d.SystemID), Camera: d.Name + "-cam"})
			}
		}
	}
	return c
}

// demoLink is the link the demo's drones fly into: the first UDP server.
func demoLink(cfg config.Config) string {
	for _, l := range cfg.MAVLink.Links {
		if l.Type == mavlink.UDPServer {
			return l.Name
		}
	}
	return ""
}

func simDrones(cfg config.Config) []sim.Drone {
	var ds []sim.Drone
	for _, d := range cfg.Sim.Drones {
		ds = append(ds, sim.Drone{Name: d.Name, SystemID: uint8(d.SystemID), Type: d.Type, Speed: d.Speed, Altitude: d.Altitude, Battery: d.Battery.D(), Route: d.Route,
			OnGround: d.OnGround, PreArm: d.PreArm.D(), NoMount: d.NoMount})
	}
	return ds
}

// localTarget turns a server's bound address into one a local client dials.
func localTarget(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// ingestComponents builds the MAVLink ingest (and, in the demo, the
// simulated drones flying into it) and binds its links.
//
// In a cluster (owner not nil) each link is open on one node at a time,
// and the demo's simulated drones, which fly into a link bound at start,
// stay on the ground.
func ingestComponents(cfg config.Config, log *slog.Logger, demo bool, bus telemetry.Bus, w mavlink.Writer, reg prometheus.Registerer, owner telemetry.Owner) ([]component, *mavlink.Ingest, error) {
	in, err := mavlink.New(mavlinkConfig(cfg, log, demo), mavlink.LiveSink{Bus: bus, Writer: w}, reg)
	if err != nil {
		return nil, nil, err
	}
	if owner != nil {
		in.SetOwner(owner)
	}
	if err := in.Start(); err != nil {
		return nil, nil, err
	}
	comps := []component{{"mavlink", in.Run}}
	if demo && len(cfg.Sim.Drones) > 0 && owner != nil {
		log.Warn("demo: the simulated drones do not fly in a cluster (each link opens on whichever node owns it)")
		return comps, in, nil
	}
	if demo && len(cfg.Sim.Drones) > 0 {
		link := demoLink(cfg)
		if link == "" {
			return nil, nil, fmt.Errorf("demo: the simulated drones need a udp-server MAVLink link")
		}
		s, err := sim.New(sim.Config{Drones: simDrones(cfg), Target: "udp:" + localTarget(in.Addr(link)), Log: log})
		if err != nil {
			return nil, nil, err
		}
		log.Info("simulated drones flying", "drones", len(cfg.Sim.Drones), "link", link)
		comps = append(comps, component{"simulated drones", s.Run})
	}
	return comps, in, nil
}

// commandEvents tells every change of a command on the live feed, and
// stores (as the vehicle's timeline) its taking and its outcome, with the
// outcome on the audit log.
func commandEvents(c *mavlink.Commander, bus telemetry.Bus, w mavlink.Writer, audit func(context.Context, store.AuditEntry) error, log *slog.Logger) {
	c.OnChange(func(cmd mavlink.Command) {
		msg := fmt.Sprintf("%s: %s %s", cmd.Vehicle, cmd.Command, strings.ReplaceAll(cmd.State, "_", " "))
		if cmd.Text != "" {
			msg += ": " + cmd.Text
		}
		data := map[string]any{"id": cmd.ID, "command": cmd.Command, "state": cmd.State, "result": cmd.Result, "text": cmd.Text,
			"operator": cmd.Operator, "progress": cmd.Progress, "attempts": cmd.Attempts}
		e := telemetry.Event{Time: cmd.Updated, ID: telemetry.NewUUID(), Kind: "vehicle.command", VehicleID: cmd.Vehicle, Message: msg, Data: data}
		bus.PublishEvent(e)
		final := mavlink.Final(cmd.State)
		if w != nil && (final || cmd.State == mavlink.Queued) {
			_ = w.WriteEvent(&e)
		}
		if final && audit != nil {
			go func() {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				defer cancel()
				err := audit(ctx, store.AuditEntry{Actor: cmd.Operator, Action: "vehicle.command.result", ObjectType: "vehicle", ObjectID: cmd.Vehicle,
					Detail: auth.AuditDetail(data)})
				if err != nil {
					log.Warn("a command's outcome could not be written to the audit log", "vehicle", cmd.Vehicle, "command", cmd.ID, "err", err)
				}
			}()
		}
	})
}

// runSim flies the configured drones towards a ground station.
func runSim(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, target string, n int) error {
	drones := simDrones(cfg)
	if len(drones) == 0 {
		return fmt.Errorf("sim: no drones configured (sim.drones)")
	}
	if n > 0 {
		drones = sim.Clone(drones, n)
	}
	s, err := sim.New(sim.Config{Drones: drones, Target: target, Log: log})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "smarteye sim: %d drone(s) sending MAVLink 2 to %s (Ctrl-C stops)\n", len(drones), target)
	start := time.Now()
	err = s.Run(ctx)
	fmt.Fprintf(stdout, "sent %d frames in %s\n", s.Stats().Frames.Load(), time.Since(start).Round(time.Second))
	return err
}
