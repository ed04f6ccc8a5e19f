// Package command benchmarks drone command and control: smarteye's
// commander (ingest/mavlink) against simulated ArduCopters (ingest/sim)
// over loopback UDP — a command's round trip to its acknowledgement and
// to the state that confirms it, a mission's upload and read-back, and
// one node commanding a hundred drones at once.
package command

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
)

type discard struct{}

func (discard) Vehicle(*telemetry.Vehicle)           {}
func (discard) State(*telemetry.Vehicle)             {}
func (discard) Sample(*telemetry.Vehicle, time.Time) {}
func (discard) Event(telemetry.Event)                {}

// rig is an ingest with n simulated drones flying into it (patrolling,
// armed, in the air), all heard.
type rig struct {
	in   *mavlink.Ingest
	c    *mavlink.Commander
	stop func()
}

func start(ctx context.Context, n int) (*rig, error) {
	log := slog.New(slog.DiscardHandler)
	var vs []mavlink.VehicleConfig
	var ds []sim.Drone
	for i := range n {
		name := fmt.Sprintf("d%d", i+1)
		vs = append(vs, mavlink.VehicleConfig{Name: name, Link: "l", SystemID: uint8(i + 1)})
		lat := 22.5400 + float64(i%10)*0.001
		lon := 114.0500 + float64(i/10)*0.001
		ds = append(ds, sim.Drone{Name: name, SystemID: uint8(i + 1), Type: "quadrotor", Speed: 10, Altitude: 40, Battery: 10 * time.Hour,
			Route: [][2]float64{{lat, lon}, {lat + 0.0005, lon}, {lat + 0.0005, lon + 0.0005}}})
	}
	in, err := mavlink.New(mavlink.Config{Links: []mavlink.LinkConfig{{Name: "l", Type: mavlink.UDPServer, Address: "127.0.0.1:0"}}, Vehicles: vs,
		StoredRate: -1, Log: log}, discard{}, nil)
	if err != nil {
		return nil, err
	}
	if err := in.Start(); err != nil {
		return nil, err
	}
	s, err := sim.New(sim.Config{Target: "udp:" + in.Addr("l").String(), Drones: ds, PositionRate: 5, AttitudeRate: 5, Log: log})
	if err != nil {
		return nil, err
	}
	cctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{}, 2)
	go func() { in.Run(cctx); done <- struct{}{} }()
	go func() { s.Run(cctx); done <- struct{}{} }()
	r := &rig{in: in, c: in.Commander(), stop: func() { cancel(); <-done; <-done }}
	deadline := time.Now().Add(30 * time.Second)
	for _, v := range vs {
		for {
			st, ok := r.c.State(v.Name)
			if ok && st.Position.Valid && st.Mode != "" {
				break
			}
			if time.Now().After(deadline) {
				r.stop()
				return nil, fmt.Errorf("command bench: %s never heard", v.Name)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	return r, nil
}

// run submits a command and waits for it to end.
func (r *rig) run(vehicle string, req mavlink.Request, wait time.Duration) (mavlink.Command, error) {
	cmd, err := r.c.Submit(vehicle, req, "bench")
	if err != nil {
		return cmd, err
	}
	deadline := time.Now().Add(wait)
	for {
		got, _ := r.c.Get(vehicle, cmd.ID)
		if mavlink.Final(got.State) {
			if got.State != mavlink.Done {
				return got, fmt.Errorf("%s %s: %s %s", vehicle, req.Command, got.State, got.Text)
			}
			return got, nil
		}
		if time.Now().After(deadline) {
			return got, fmt.Errorf("%s %s: still %s after %s", vehicle, req.Command, got.State, wait)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// overHTTP times mode changes through the dashboard's API, as a client
// sees them: from the POST to the first GET that shows the command
// accepted, and done.
func overHTTP(ctx context.Context, r *rig, runs int) (ack, done []float64, err error) {
	const token = "bench-command-token"
	h := sha256.Sum256([]byte(token))
	srv, err := dashboard.New(dashboard.Config{Address: "127.0.0.1:0", Auth: auth.Config{
		Tokens: []auth.Token{{Name: "bench", Role: auth.RoleAdmin, SHA256: hex.EncodeToString(h[:])}}}},
		dashboard.Deps{Board: telemetry.NewBoard(), Log: slog.New(slog.DiscardHandler), Control: dashboard.Control{Commander: r.c}})
	if err != nil {
		return nil, nil, err
	}
	if err := srv.Listen(); err != nil {
		return nil, nil, err
	}
	sctx, cancel := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { srv.Run(sctx); close(stopped) }()
	defer func() { cancel(); <-stopped }()
	do := func(method, path, body string, out any) (int, error) {
		req, _ := http.NewRequestWithContext(ctx, method, srv.URL()+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+token)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		if out != nil {
			err = json.NewDecoder(resp.Body).Decode(out)
		}
		return resp.StatusCode, err
	}
	if code, err := do("POST", "api/v1/vehicles/d1/control", `{"action":"take"}`, nil); err != nil || code != 200 {
		return nil, nil, fmt.Errorf("command bench: take control: %d %v", code, err)
	}
	for i := range runs {
		mode := []string{"GUIDED", "LOITER"}[i%2]
		t0 := time.Now()
		var c mavlink.Command
		if code, err := do("POST", "api/v1/vehicles/d1/commands", `{"command":"mode","mode":"`+mode+`"}`, &c); err != nil || code != 202 {
			return nil, nil, fmt.Errorf("command bench: POST: %d %v", code, err)
		}
		var acked time.Duration
		for {
			var got mavlink.Command
			if _, err := do("GET", "api/v1/vehicles/d1/commands/"+c.ID, "", &got); err != nil {
				return nil, nil, err
			}
			if acked == 0 && (got.State == mavlink.Accepted || got.State == mavlink.Done) {
				acked = time.Since(t0)
			}
			if mavlink.Final(got.State) {
				if got.State != mavlink.Done {
					return nil, nil, fmt.Errorf("command bench: %s over HTTP: %s %s", mode, got.State, got.Text)
				}
				break
			}
			time.Sleep(time.Millisecond)
		}
		ack, done = append(ack, float64(acked.Microseconds())/1000), append(done, float64(time.Since(t0).Microseconds())/1000)
	}
	return ack, done, nil
}

func ms(m *mavlink.Millis) float64 {
	if m == nil {
		return math.NaN()
	}
	return float64(*m)
}

func quantile(xs []float64, q float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s) == 0 {
		return math.NaN()
	}
	return s[max(0, min(len(s)-1, int(math.Ceil(q*float64(len(s))))-1))]
}

func ptr(f float64) *float64 { return &f }

// Bench measures; runs is how many times each single-drone figure is
// taken.
func Bench(ctx context.Context, runs int) (string, error) {
	runs = max(runs, 20)
	var b strings.Builder
	b.WriteString("## Drone command and control\n\n")
	b.WriteString("smarteye's commander against simulated ArduCopters (`ingest/sim`, answering as a measured ArduCopter 4.7 does) over loopback UDP, from `Commander.Submit` (the HTTP API adds its own request time). *ack* is from the send to the autopilot's COMMAND_ACK; *done* to the vehicle's telemetry showing the outcome (the mode in its heartbeat, the position reached). `go run ./deploy/bench -only command`.\n\n")

	one, err := start(ctx, 1)
	if err != nil {
		return "", err
	}
	// Mode changes, alternating: ack and the heartbeat that shows it
	// (heartbeats come once a second, so done waits for the next one).
	var ack, done []float64
	for i := range runs {
		mode := []string{"GUIDED", "LOITER"}[i%2]
		c, err := one.run("d1", mavlink.Request{Command: mavlink.CmdMode, Mode: mode}, 10*time.Second)
		if err != nil {
			one.stop()
			return "", err
		}
		ack, done = append(ack, ms(c.AckAfter)), append(done, ms(c.DoneAfter))
	}
	var speedAck []float64
	for i := range runs {
		c, err := one.run("d1", mavlink.Request{Command: mavlink.CmdSpeed, Speed: float64(5 + i%5)}, 10*time.Second)
		if err != nil {
			one.stop()
			return "", err
		}
		speedAck = append(speedAck, ms(c.AckAfter))
	}
	b.WriteString("| command | runs | ack p50 | ack p95 | done p50 | done p95 |\n|---|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| mode (DO_SET_MODE; done = the next heartbeat in that mode) | %d | %.2f ms | %.2f ms | %.0f ms | %.0f ms |\n", runs, quantile(ack, 0.5), quantile(ack, 0.95), quantile(done, 0.5), quantile(done, 0.95))
	fmt.Fprintf(&b, "| speed (DO_CHANGE_SPEED; done = the ack) | %d | %.2f ms | %.2f ms | — | — |\n", runs, quantile(speedAck, 0.5), quantile(speedAck, 0.95))
	httpAck, httpDone, err := overHTTP(ctx, one, runs)
	if err != nil {
		one.stop()
		return "", err
	}
	fmt.Fprintf(&b, "| mode through the HTTP API (POST …/commands, then GET …/commands/{id} every millisecond: accepted, done) | %d | %.2f ms | %.2f ms | %.0f ms | %.0f ms |\n",
		runs, quantile(httpAck, 0.5), quantile(httpAck, 0.95), quantile(httpDone, 0.5), quantile(httpDone, 0.95))

	// Missions: upload (count, each item asked for and sent, ack), then
	// read back whole and compared.
	b.WriteString("\n| mission upload and read-back | runs | p50 | p95 |\n|---|---:|---:|---:|\n")
	st, _ := one.c.State("d1")
	for _, n := range []int{10, 100} {
		var took []float64
		for range max(runs/4, 5) {
			var wps []mavlink.Waypoint
			for i := range n {
				a := 2 * math.Pi * float64(i) / float64(n)
				wps = append(wps, mavlink.Waypoint{Lat: st.Position.Lat + 0.002*math.Sin(a), Lon: st.Position.Lon + 0.002*math.Cos(a), Alt: 40})
			}
			c, err := one.run("d1", mavlink.Request{Command: mavlink.CmdMission, Waypoints: wps}, 60*time.Second)
			if err != nil {
				one.stop()
				return "", err
			}
			took = append(took, ms(c.DoneAfter))
		}
		fmt.Fprintf(&b, "| %d waypoints (%d items with home and RTL) | %d | %.1f ms | %.1f ms |\n", n, n+2, len(took), quantile(took, 0.5), quantile(took, 0.95))
	}
	one.stop()

	// A hundred drones at once, each sent a go-to 40 m away.
	const fleet = 100
	many, err := start(ctx, fleet)
	if err != nil {
		return "", err
	}
	defer many.stop()
	type result struct {
		c   mavlink.Command
		err error
	}
	res := make(chan result, fleet)
	t0 := time.Now()
	for i := range fleet {
		name := fmt.Sprintf("d%d", i+1)
		v, _ := many.c.State(name)
		go func() {
			c, err := many.run(name, mavlink.Request{Command: mavlink.CmdGoto, Lat: ptr(v.Position.Lat + 40/111195.0), Lon: ptr(v.Position.Lon), Alt: ptr(40)}, 120*time.Second)
			res <- result{c, err}
		}()
	}
	var acks, dones []float64
	failed := 0
	var firstErr error
	for range fleet {
		r := <-res
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		acks, dones = append(acks, ms(r.c.AckAfter)), append(dones, ms(r.c.DoneAfter))
	}
	all := time.Since(t0)
	fmt.Fprintf(&b, "\n**One node, %d drones at once**, each sent a go-to 40 m away (at 10 m/s) in the same instant: %d acknowledged and reached, %d not", fleet, len(dones), failed)
	if firstErr != nil {
		fmt.Fprintf(&b, " (first: %v)", firstErr)
	}
	fmt.Fprintf(&b, "; ack p50 %.1f ms, p95 %.1f ms; reached p50 %.2f s, p95 %.2f s; all done in %.2f s.\n\n",
		quantile(acks, 0.5), quantile(acks, 0.95), quantile(dones, 0.5)/1000, quantile(dones, 0.95)/1000, all.Seconds())
	return b.String(), nil
}
