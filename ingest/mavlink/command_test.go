package mavlink

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"math"
	"net"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// eventLog keeps the events a sink was given.
type eventLog struct {
	LiveSink
	mu     sync.Mutex
	events []telemetry.Event
}

func (e *eventLog) Event(ev telemetry.Event) {
	e.mu.Lock()
	e.events = append(e.events, ev)
	e.mu.Unlock()
	e.LiveSink.Event(ev)
}

func (e *eventLog) kinds(kind string) []telemetry.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []telemetry.Event
	for _, ev := range e.events {
		if ev.Kind == kind {
			out = append(out, ev)
		}
	}
	return out
}

// flyer runs one simulated drone on the ground at home into an ingest.
func flyer(t *testing.T, preArm time.Duration) (*Ingest, *eventLog) {
	return signedFlyer(t, preArm, "", "")
}

// signedFlyer is flyer with the drone's signing key (it takes only frames
// signed with it) and the key smarteye is configured with for it.
func signedFlyer(t *testing.T, preArm time.Duration, droneKey, ourKey string) (*Ingest, *eventLog) {
	t.Helper()
	log := &eventLog{LiveSink: LiveSink{Bus: telemetry.NewHub(nil)}}
	in := startIngest(t, "udp-server", log, VehicleConfig{Name: "hawk", SystemID: 7, SigningKey: ourKey})
	home := [][2]float64{{22.5400, 114.0550}, {22.5410, 114.0550}}
	key, err := ParseKey(droneKey)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sim.New(sim.Config{Target: "udp:" + in.Addr("l").String(), Log: quiet(), SigningKey: key,
		Drones: []sim.Drone{{Name: "hawk", SystemID: 7, Type: "quadrotor", Speed: 12, Altitude: 50, Battery: time.Hour, Route: home,
			OnGround: true, PreArm: preArm}}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return in, log
}

// do submits a command and waits for its final state.
func do(t *testing.T, c *Commander, req Request, wait time.Duration) Command {
	t.Helper()
	cmd, err := c.Submit("hawk", req, "test-operator")
	if err != nil {
		t.Fatalf("%s: %v", req.Command, err)
	}
	var got Command
	testkit.WaitFor(t, wait, req.Command+" to end", func() bool {
		got, _ = c.Get("hawk", cmd.ID)
		return Final(got.State)
	})
	return got
}

func ptr(f float64) *float64 { return &f }

// A commander flies the simulated ArduCopter through a whole sortie:
// refused while pre-arm checks run (the reason beside), armed in GUIDED,
// take-off to 20 m, a fence uploaded and read back, a go-to 100 m away
// reached within 5 m, a go-to outside the fence refused by the vehicle
// with it staying put, hold, a 4-waypoint mission uploaded, read back,
// flown with each waypoint reached, return to launch and land, disarmed.
func TestCommandsFlyASortie(t *testing.T) {
	in, events := flyer(t, 4*time.Second)
	c := in.Commander()
	testkit.WaitFor(t, 10*time.Second, "the drone heard", func() bool { _, ok := c.State("hawk"); return ok })

	// Pre-arm: refused, with the autopilot's reason.
	arm := do(t, c, Request{Command: CmdArm}, 10*time.Second)
	if arm.State != Denied || arm.Result != "failed" || !strings.Contains(arm.Text, "Arm:") || arm.Attempts != 1 {
		t.Fatalf("arming during pre-arm: %+v", arm)
	}
	// Take-off while disarmed is refused too.
	testkit.WaitFor(t, 10*time.Second, "a position", func() bool { v, _ := c.State("hawk"); return v.Position.Valid })
	if to := do(t, c, Request{Command: CmdTakeoff, Alt: ptr(20)}, 10*time.Second); to.State != Denied {
		t.Fatalf("take-off disarmed: %+v", to)
	}

	if m := do(t, c, Request{Command: CmdMode, Mode: "guided"}, 10*time.Second); m.State != Done {
		t.Fatalf("GUIDED: %+v", m)
	}
	var armed Command
	testkit.WaitFor(t, 20*time.Second, "the pre-arm period to end and arming to go through", func() bool {
		armed = do(t, c, Request{Command: CmdArm}, 10*time.Second)
		return armed.State == Done
	})
	if armed.AckAfter == nil || armed.DoneAfter == nil {
		t.Fatalf("armed without timings: %+v", armed)
	}
	takeoff := do(t, c, Request{Command: CmdTakeoff, Alt: ptr(20)}, 60*time.Second)
	if v, _ := c.State("hawk"); takeoff.State != Done || v.Position.AltRel < 18 || (v.Landed != "in_air" && v.Landed != "takeoff") {
		t.Fatalf("take-off: %+v; at %.1f m, landed %q", takeoff, v.Position.AltRel, v.Landed)
	}

	home, _ := c.State("hawk")
	lat0, lon0 := home.Position.Lat, home.Position.Lon
	north := func(m float64) float64 { return lat0 + m/111195 }
	square := func(d float64) [][2]float64 {
		dlon := d / (111195 * math.Cos(lat0*math.Pi/180))
		return [][2]float64{{north(-d), lon0 - dlon}, {north(d), lon0 - dlon}, {north(d), lon0 + dlon}, {north(-d), lon0 + dlon}}
	}
	fence := do(t, c, Request{Command: CmdFence, Zones: []FenceZone{
		{Keep: "in", Polygon: square(300)},
		{Keep: "in", Circle: &Circle{Lat: lat0, Lon: lon0, Radius: 200}},
	}}, 20*time.Second)
	if fence.State != Done || !strings.Contains(fence.Text, "read back equal") {
		t.Fatalf("fence: %+v", fence)
	}
	if p, _ := c.Plan("hawk"); len(p.Fence) != 2 {
		t.Fatalf("plan after the fence: %+v", p)
	}

	gotoCmd := do(t, c, Request{Command: CmdGoto, Lat: ptr(north(100)), Lon: ptr(lon0), Alt: ptr(20)}, 60*time.Second)
	v, _ := c.State("hawk")
	if d := haversine(v.Position.Lat, v.Position.Lon, north(100), lon0); gotoCmd.State != Done || d > 5 {
		t.Fatalf("go-to: %+v, %.1f m from the target", gotoCmd, d)
	}
	// 400 m away is outside the 200 m circle: the vehicle refuses at once
	// and stays.
	before, _ := c.State("hawk")
	out := do(t, c, Request{Command: CmdGoto, Lat: ptr(north(400)), Lon: ptr(lon0), Alt: ptr(20)}, 10*time.Second)
	if out.State != Denied || out.Result != "failed" {
		t.Fatalf("go-to outside the fence: %+v", out)
	}
	after, _ := c.State("hawk")
	if d := haversine(before.Position.Lat, before.Position.Lon, after.Position.Lat, after.Position.Lon); d > 1 {
		t.Fatalf("moved %.1f m after a refused go-to", d)
	}

	if h := do(t, c, Request{Command: CmdHold}, 10*time.Second); h.State != Done {
		t.Fatalf("hold: %+v", h)
	}
	if v, _ := c.State("hawk"); v.Mode != "BRAKE" {
		t.Fatalf("hold left it in %s", v.Mode)
	}
	g := do(t, c, Request{Command: CmdGimbal, Pitch: ptr(-30)}, 15*time.Second)
	if v, _ := c.State("hawk"); g.State != Done || math.Abs(v.Gimbal.Pitch+30) > 3 {
		t.Fatalf("gimbal: %+v, pitch %.1f", g, v.Gimbal.Pitch)
	}

	sq := square(25)
	var wps []Waypoint
	for _, p := range sq {
		wps = append(wps, Waypoint{Lat: p[0], Lon: p[1], Alt: 20})
	}
	up := do(t, c, Request{Command: CmdMission, Waypoints: wps, End: "hold"}, 20*time.Second)
	if up.State != Done || !strings.Contains(up.Text, "5 items") {
		t.Fatalf("mission upload: %+v", up)
	}
	if p, _ := c.Plan("hawk"); len(p.Mission) != 4 {
		t.Fatalf("plan: %+v", p)
	}
	if st := do(t, c, Request{Command: CmdMissionStart}, 15*time.Second); st.State != Done {
		t.Fatalf("mission start: %+v", st)
	}
	testkit.WaitFor(t, 60*time.Second, "each waypoint reached", func() bool {
		seen := map[any]bool{}
		for _, e := range events.kinds("vehicle.waypoint_reached") {
			seen[e.Data["seq"]] = true
		}
		return seen[uint16(1)] && seen[uint16(2)] && seen[uint16(3)] && seen[uint16(4)]
	})
	if v, _ := c.State("hawk"); v.Mission == nil || v.Mission.Reached != 4 || v.Mission.Total != 4 {
		t.Fatalf("mission progress %+v", v.Mission)
	}

	rtl := do(t, c, Request{Command: CmdRTL}, 10*time.Second)
	if rtl.State != Done {
		t.Fatalf("RTL: %+v", rtl)
	}
	defer func() {
		if t.Failed() {
			v, _ := c.State("hawk")
			t.Logf("last state: mode %s armed %v landed %q at %+v", v.Mode, v.Armed, v.Landed, v.Position)
		}
	}()
	testkit.WaitFor(t, 120*time.Second, "home, landed and disarmed", func() bool {
		v, _ := c.State("hawk")
		return !v.Armed && v.Landed == "on_ground" && haversine(v.Position.Lat, v.Position.Lon, lat0, lon0) < 3
	})
	// Each state change was told, in order, for every command.
	list, _ := c.List("hawk")
	if len(list) < 14 || list[0].ID != rtl.ID {
		t.Fatalf("%d commands listed, newest %+v", len(list), list[0])
	}
}

// A command the vehicle answers UNSUPPORTED is remembered: not sent again.
// (DO_REPOSITION as COMMAND_LONG, which ArduPilot does not take.)
func TestUnsupportedIsRemembered(t *testing.T) {
	in, _ := flyer(t, time.Second)
	c := in.Commander()
	testkit.WaitFor(t, 10*time.Second, "the drone heard", func() bool { _, ok := c.State("hawk"); return ok })
	c.mu.Lock()
	cv := c.vehicles["hawk"]
	c.mu.Unlock()
	long := []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_REPOSITION, p: [7]float64{-1, 1, 0, nan, 22.54, 114.05, 20}}}}
	first, err := c.start(cv, Request{Command: CmdGoto}, "op", long)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the answer", func() bool { got, _ := c.Get("hawk", first.ID); first = got; return Final(got.State) })
	if first.State != Denied || first.Result != "unsupported" || first.Attempts != 1 {
		t.Fatalf("first: %+v", first)
	}
	again, err := c.start(cv, Request{Command: CmdGoto}, "op", long)
	if err != nil || again.State != Denied || again.Attempts != 0 || !strings.Contains(again.Text, "not sent again") {
		t.Fatalf("again: %+v %v", again, err)
	}
}

// Hostile and impossible requests are refused before anything is sent.
func TestRequestsValidated(t *testing.T) {
	bad := []Request{
		{Command: "self-destruct"},
		{Command: CmdGoto, Lat: ptr(95), Lon: ptr(114), Alt: ptr(20)},
		{Command: CmdGoto, Lat: ptr(math.NaN()), Lon: ptr(114), Alt: ptr(20)},
		{Command: CmdGoto, Lat: ptr(22), Lon: ptr(114)},
		{Command: CmdTakeoff},
		{Command: CmdTakeoff, Alt: ptr(math.Inf(1))},
		{Command: CmdTakeoff, Alt: ptr(1e9)},
		{Command: CmdSpeed, Speed: -3},
		{Command: CmdGimbal},
		{Command: CmdGimbal, Pitch: ptr(400)},
		{Command: CmdMode},
		{Command: CmdMode, Mode: strings.Repeat("X", 100)},
		{Command: CmdMission},
		{Command: CmdMission, Waypoints: make([]Waypoint, MaxWaypoints+1)},
		{Command: CmdMission, Waypoints: []Waypoint{{Lat: 22, Lon: 114, Alt: 0}}},
		{Command: CmdMission, Waypoints: []Waypoint{{Lat: 22, Lon: 114, Alt: 30}}, End: "explode"},
		{Command: CmdFence},
		{Command: CmdFence, Zones: []FenceZone{{Keep: "in", Polygon: [][2]float64{{1, 1}, {2, 2}}}}},
		{Command: CmdFence, Zones: []FenceZone{{Keep: "maybe", Circle: &Circle{Lat: 1, Lon: 1, Radius: 5}}}},
		{Command: CmdFence, Zones: []FenceZone{{Keep: "out", Circle: &Circle{Lat: 1, Lon: 1, Radius: -5}}}},
		{Command: CmdROI, Lat: ptr(22)},
	}
	for _, r := range bad {
		if err := r.Validate(); !errors.Is(err, ErrInvalid) {
			t.Errorf("%+v: %v", r, err)
		}
	}
	in, _ := flyer(t, time.Second)
	if _, err := in.Commander().Submit("nobody", Request{Command: CmdArm}, "op"); !errors.Is(err, ErrUnknownVehicle) {
		t.Fatalf("unknown vehicle: %v", err)
	}
}

// muteReport is what the node-mavlink vehicle heard.
type muteReport struct {
	Commands []struct {
		Command      int `json:"command"`
		Confirmation int `json:"confirmation"`
	} `json:"commands"`
}

// node-mavlink plays a vehicle that never answers: a command that only
// sets a state is sent 1 + Retries times with its confirmation counting
// up, then times out; one that moves the vehicle is sent once.
func TestCommandTimesOutAgainstASilentVehicle(t *testing.T) {
	dir := nodePeer(t)
	in := startIngest(t, "udp-server", LiveSink{Bus: telemetry.NewHub(nil)}, VehicleConfig{Name: "mute", SystemID: 42})
	_, port, _ := net.SplitHostPort(in.Addr("l").String())
	cmd := exec.Command("node", "mute.mjs", "127.0.0.1", port, "42")
	cmd.Dir = dir
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdin, _ := cmd.StdinPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	c := in.Commander()
	testkit.WaitFor(t, 15*time.Second, "the silent vehicle heard", func() bool { v, ok := c.State("mute"); return ok && v.Mode == "LOITER" })
	start := time.Now()
	mode, err := c.Submit("mute", Request{Command: CmdMode, Mode: "RTL"}, "op")
	if err != nil {
		t.Fatal(err)
	}
	arm, err := c.Submit("mute", Request{Command: CmdArm}, "op")
	if err != nil {
		t.Fatal(err)
	}
	var m, a Command
	testkit.WaitFor(t, 30*time.Second, "both to end", func() bool {
		m, _ = c.Get("mute", mode.ID)
		a, _ = c.Get("mute", arm.ID)
		return Final(m.State) && Final(a.State)
	})
	if m.State != TimedOut || m.Attempts != 4 || !strings.Contains(m.Text, "4 tries") {
		t.Fatalf("mode: %+v", m)
	}
	// Arm, sent once, waits out its answer and then the state it should
	// bring (5 s): it times out, never sent again.
	if a.State != TimedOut || a.Attempts != 1 || !strings.Contains(a.Text, "did not show it done") {
		t.Fatalf("arm: %+v", a)
	}
	if took := time.Since(start); took < 4*1500*time.Millisecond {
		t.Fatalf("timed out after %s: before its tries", took)
	}
	stdin.Close() // the peer prints what it heard and exits
	var rep muteReport
	sc := bufio.NewScanner(stdout)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if json.Unmarshal(sc.Bytes(), &rep) == nil && rep.Commands != nil {
			break
		}
	}
	cmd.Wait()
	var confirmations []int
	arms := 0
	for _, x := range rep.Commands {
		switch common.MAV_CMD(x.Command) {
		case common.MAV_CMD_DO_SET_MODE:
			confirmations = append(confirmations, x.Confirmation)
		case common.MAV_CMD_COMPONENT_ARM_DISARM:
			arms++
		}
	}
	if len(confirmations) != 4 || confirmations[0] != 0 || confirmations[3] != 3 || arms != 1 {
		t.Fatalf("the vehicle heard mode changes with confirmations %v and %d arm commands", confirmations, arms)
	}
}

// A vehicle that signs takes only signed frames: smarteye signs its
// commands with the vehicle's key; without the key they never arrive.
func TestCommandsToASignedVehicle(t *testing.T) {
	in, _ := signedFlyer(t, time.Second, "hawk signing passphrase", "hawk signing passphrase")
	c := in.Commander()
	testkit.WaitFor(t, 10*time.Second, "the drone heard", func() bool { v, ok := c.State("hawk"); return ok && v.Position.Valid })
	if m := do(t, c, Request{Command: CmdMode, Mode: "GUIDED"}, 15*time.Second); m.State != Done {
		t.Fatalf("signed: %+v", m)
	}
	// smarteye configured without the key still hears the vehicle (it
	// checks signatures only with a key), but the vehicle refuses every
	// unsigned command.
	in2, _ := signedFlyer(t, time.Second, "hawk signing passphrase", "")
	c2 := in2.Commander()
	testkit.WaitFor(t, 10*time.Second, "the drone heard", func() bool { v, ok := c2.State("hawk"); return ok && v.Position.Valid })
	if m := do(t, c2, Request{Command: CmdMode, Mode: "GUIDED"}, 20*time.Second); m.State != TimedOut || m.Attempts != 4 {
		t.Fatalf("unsigned commands to a signing vehicle: %+v", m)
	}
}

// A command still waiting when the vehicle's link is lost fails then,
// rather than being sent on or running late; a new one is refused.
func TestCommandFailsOnLinkLoss(t *testing.T) {
	dir := nodePeer(t)
	in := runIngest(t, Config{Links: []LinkConfig{{Name: "l", Type: UDPServer, Address: "127.0.0.1:0"}}, Vehicles: []VehicleConfig{{Name: "mute", Link: "l", SystemID: 42}},
		LinkTimeout: time.Second, Commands: CommandConfig{AckTimeout: 2 * time.Second, Retries: 5}, Log: quiet()}, LiveSink{Bus: telemetry.NewHub(nil)})
	_, port, _ := net.SplitHostPort(in.Addr("l").String())
	peer := exec.Command("node", "mute.mjs", "127.0.0.1", port, "42")
	peer.Dir = dir
	stdin, _ := peer.StdinPipe()
	if err := peer.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { stdin.Close(); peer.Process.Kill(); peer.Wait() }()
	c := in.Commander()
	testkit.WaitFor(t, 15*time.Second, "the silent vehicle heard", func() bool { v, ok := c.State("mute"); return ok && v.Mode == "LOITER" })
	cmd, err := c.Submit("mute", Request{Command: CmdMode, Mode: "RTL"}, "op")
	if err != nil {
		t.Fatal(err)
	}
	peer.Process.Kill() // the vehicle goes silent mid-command
	var got Command
	testkit.WaitFor(t, 20*time.Second, "the command to end", func() bool { got, _ = c.Get("mute", cmd.ID); return Final(got.State) })
	if got.State != Failed || !strings.Contains(got.Text, "link was lost") || got.Attempts >= 6 {
		t.Fatalf("a command pending when the link was lost: %+v", got)
	}
	if _, err := c.Submit("mute", Request{Command: CmdRTL}, "op"); !errors.Is(err, ErrLinkLost) {
		t.Fatalf("a command to a vehicle whose link is lost: %v", err)
	}
}
