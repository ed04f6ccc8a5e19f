package sim_test

import (
	"context"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluenviron/gomavlib/v3"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"
	"github.com/pion/transport/v2/udp"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// route is a triangle of legs of about 350, 300 and 460 m in Shenzhen's CBD.
var route = [][2]float64{{22.5412, 114.0538}, {22.5412, 114.0572}, {22.5388, 114.0572}}

// received is one frame a ground station got.
type received struct {
	sys, comp uint8
	v2        bool
	signed    bool
	msg       message.Message
}

// station is a ground station: a second gomavlib node, a server on a port
// the OS picks, recording every frame and parse error.
type station struct {
	addr string

	mu        sync.Mutex
	frames    []received
	parseErrs []error
}

// listen starts a station on proto ("udp" or "tcp"); key, when set, is
// required of every frame (MAVLink 2 signing).
func listen(t *testing.T, proto string, key *frame.V2Key) *station {
	t.Helper()
	var ln net.Listener
	var err error
	if proto == "udp" {
		ln, err = (&udp.ListenConfig{}).Listen("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	} else {
		ln, err = net.Listen("tcp", "127.0.0.1:0")
	}
	if err != nil {
		t.Fatal(err)
	}
	node := &gomavlib.Node{
		Endpoints:        []gomavlib.EndpointConf{gomavlib.EndpointCustomServer{Listen: func() (net.Listener, error) { return ln, nil }, Label: proto, IsDatagram: proto == "udp"}},
		Dialect:          ardupilotmega.Dialect,
		OutVersion:       gomavlib.V2,
		OutSystemID:      255,
		InKey:            key,
		HeartbeatDisable: true,
	}
	if err := node.Initialize(); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	st := &station{addr: ln.Addr().String()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range node.Events() {
			switch e := ev.(type) {
			case *gomavlib.EventFrame:
				r := received{sys: e.SystemID(), comp: e.ComponentID(), msg: e.Message()}
				if f, ok := e.Frame.(*frame.V2Frame); ok {
					r.v2, r.signed = true, f.IsSigned()
				}
				st.mu.Lock()
				st.frames = append(st.frames, r)
				st.mu.Unlock()
			case *gomavlib.EventParseError:
				st.mu.Lock()
				st.parseErrs = append(st.parseErrs, e.Error)
				st.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() { node.Close(); <-done })
	return st
}

// from returns the messages system sys sent, in arrival order.
func (st *station) from(sys uint8) []received {
	st.mu.Lock()
	defer st.mu.Unlock()
	var out []received
	for _, r := range st.frames {
		if r.sys == sys {
			out = append(out, r)
		}
	}
	return out
}

func (st *station) errs() []error {
	st.mu.Lock()
	defer st.mu.Unlock()
	return append([]error(nil), st.parseErrs...)
}

// messages returns the messages of type M that system sys sent.
func messages[M message.Message](st *station, sys uint8) []M {
	var out []M
	for _, r := range st.from(sys) {
		if m, ok := r.msg.(M); ok {
			out = append(out, m)
		}
	}
	return out
}

// fly runs a simulation until the test ends; stop cancels it and returns
// Run's result.
func fly(t *testing.T, cfg sim.Config) (s *sim.Sim, stop func() error) {
	t.Helper()
	if cfg.Log == nil {
		cfg.Log = quiet()
	}
	s, err := sim.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(testkit.Scale(10 * time.Second)):
				runErr = fmt.Errorf("Run did not return after its context ended")
			}
		})
		return runErr
	}
	t.Cleanup(func() { stop() })
	return s, stop
}

// metres returns p's east and north offsets from o in metres (an
// equirectangular projection: exact enough over a few hundred metres).
func metres(o, p [2]float64) (e, n float64) {
	const r = 6371008.8
	return (p[1] - o[1]) * math.Pi / 180 * r * math.Cos(o[0]*math.Pi/180), (p[0] - o[0]) * math.Pi / 180 * r
}

// offRoute is how far p is from the nearest leg of the route, in metres,
// and that leg's index.
func offRoute(p [2]float64) (dist float64, leg int) {
	dist = math.Inf(1)
	for i := range route {
		ae, an := metres(route[0], route[i])
		be, bn := metres(route[0], route[(i+1)%len(route)])
		pe, pn := metres(route[0], p)
		de, dn := be-ae, bn-an
		u := max(0, min(1, ((pe-ae)*de+(pn-an)*dn)/(de*de+dn*dn)))
		if d := math.Hypot(pe-ae-u*de, pn-an-u*dn); d < dist {
			dist, leg = d, i
		}
	}
	return dist, leg
}

// atWaypoint is whether p is within a metre of a waypoint.
func atWaypoint(p [2]float64) bool {
	for _, w := range route {
		if e, n := metres(w, p); math.Hypot(e, n) < 1 {
			return true
		}
	}
	return false
}

// legHeading is the course along leg i in degrees clockwise from north.
func legHeading(i int) float64 {
	e, n := metres(route[i], route[(i+1)%len(route)])
	return math.Mod(math.Atan2(e, n)*180/math.Pi+360, 360)
}

func angleDiff(a, b float64) float64 {
	d := math.Mod(math.Abs(a-b), 360)
	return min(d, 360-d)
}

func point(lat, lon int32) [2]float64 { return [2]float64{float64(lat) / 1e7, float64(lon) / 1e7} }

// Two drones fly to a ground station over UDP: each sends MAVLink 2 from its
// own system id, every message of an ArduPilot autopilot, positions on its
// route at its speed and altitude, at the configured rates.
func TestDronesFlyTheirRoutes(t *testing.T) {
	st := listen(t, "udp", nil)
	s, stop := fly(t, sim.Config{
		Target:          "udp:" + st.addr,
		GroundElevation: 12,
		Drones: []sim.Drone{
			{Name: "quad", SystemID: 7, Type: "quadrotor", Speed: 40, Altitude: 60, Battery: time.Hour, Route: route},
			{Name: "plane", SystemID: 9, Type: "fixed_wing", Speed: 25, Altitude: 120, Battery: time.Hour, Route: route},
		},
	})
	all := []string{"HEARTBEAT", "GLOBAL_POSITION_INT", "ATTITUDE", "GPS_RAW_INT", "SYS_STATUS", "BATTERY_STATUS", "VFR_HUD", "MOUNT_ORIENTATION", "HOME_POSITION"}
	testkit.WaitFor(t, 20*time.Second, "30 positions and every message type from both drones", func() bool {
		for _, sys := range []uint8{7, 9} {
			seen := map[string]bool{}
			for _, r := range st.from(sys) {
				seen[msgName(r.msg)] = true
			}
			for _, name := range all {
				if !seen[name] {
					return false
				}
			}
			if len(messages[*ardupilotmega.MessageGlobalPositionInt](st, sys)) < 30 {
				return false
			}
		}
		return true
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	for _, d := range []struct {
		sys      uint8
		typ      ardupilotmega.MAV_TYPE
		mode     uint32
		speed    float64
		altitude float64
	}{
		{7, ardupilotmega.MAV_TYPE_QUADROTOR, 3, 40, 60},    // copter AUTO
		{9, ardupilotmega.MAV_TYPE_FIXED_WING, 10, 25, 120}, // plane AUTO
	} {
		t.Run(fmt.Sprint("system ", d.sys), func(t *testing.T) {
			for i, r := range st.from(d.sys) {
				if !r.v2 || r.signed || r.comp != 1 {
					t.Fatalf("frame %d (%s): v2 %v, signed %v, component %d", i, msgName(r.msg), r.v2, r.signed, r.comp)
				}
			}
			for _, hb := range messages[*ardupilotmega.MessageHeartbeat](st, d.sys) {
				if hb.Type != d.typ || hb.Autopilot != ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA || hb.CustomMode != d.mode ||
					hb.BaseMode&ardupilotmega.MAV_MODE_FLAG_SAFETY_ARMED == 0 || hb.BaseMode&ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED == 0 ||
					hb.SystemStatus != ardupilotmega.MAV_STATE_ACTIVE {
					t.Fatalf("heartbeat %+v", hb)
				}
			}

			pos := messages[*ardupilotmega.MessageGlobalPositionInt](st, d.sys)
			for i, p := range pos {
				off, leg := offRoute(point(p.Lat, p.Lon))
				if off > 0.5 {
					t.Fatalf("position %d is %.1f m off the route: %+v", i, off, p)
				}
				if p.RelativeAlt != int32(d.altitude*1000) || p.Alt != int32((12+d.altitude)*1000) {
					t.Fatalf("position %d: altitude %d mm, relative %d mm", i, p.Alt, p.RelativeAlt)
				}
				// (At a waypoint, which leg it is on is a matter of centimetres.)
				if h := float64(p.Hdg) / 100; angleDiff(h, legHeading(leg)) > 0.5 && !atWaypoint(point(p.Lat, p.Lon)) {
					t.Fatalf("position %d on leg %d heads %.2f°, the leg %.2f°", i, leg, h, legHeading(leg))
				}
				if v := math.Hypot(float64(p.Vx), float64(p.Vy)) / 100; math.Abs(v-d.speed) > 0.05 {
					t.Fatalf("position %d: velocity %.2f m/s", i, v)
				}
				if i == 0 {
					continue
				}
				q := pos[i-1]
				if p.TimeBootMs <= q.TimeBootMs {
					t.Fatalf("position %d at %d ms after %d ms", i, p.TimeBootMs, q.TimeBootMs)
				}
				// On one leg, the distance flown is the speed times the time.
				if _, qLeg := offRoute(point(q.Lat, q.Lon)); qLeg == leg {
					e, n := metres(point(q.Lat, q.Lon), point(p.Lat, p.Lon))
					want := d.speed * float64(p.TimeBootMs-q.TimeBootMs) / 1000
					if got := math.Hypot(e, n); math.Abs(got-want) > 0.02*want+0.1 {
						t.Fatalf("positions %d–%d: %.2f m flown in %d ms, want %.2f m", i-1, i, got, p.TimeBootMs-q.TimeBootMs, want)
					}
				}
			}
			// 10 per second by default (20 for the attitude).
			var pt, at []uint32
			for _, p := range pos {
				pt = append(pt, p.TimeBootMs)
			}
			for _, a := range messages[*ardupilotmega.MessageAttitude](st, d.sys) {
				at = append(at, a.TimeBootMs)
				if yaw := float64(a.Yaw) * 180 / math.Pi; yaw < -180 || yaw > 180 {
					t.Fatalf("attitude yaw %.1f°", yaw)
				}
			}
			checkRate(t, "GLOBAL_POSITION_INT", pt, 10)
			checkRate(t, "ATTITUDE", at, 20)

			for _, g := range messages[*ardupilotmega.MessageGpsRawInt](st, d.sys) {
				if off, _ := offRoute(point(g.Lat, g.Lon)); g.FixType != ardupilotmega.GPS_FIX_TYPE_3D_FIX || off > 0.5 || g.SatellitesVisible < 6 || g.Vel != uint16(d.speed*100) {
					t.Fatalf("GPS %+v", g)
				}
			}
			for _, h := range messages[*ardupilotmega.MessageHomePosition](st, d.sys) {
				if h.Latitude != 225412000 || h.Longitude != 1140538000 || h.Altitude != 12000 {
					t.Fatalf("home %+v", h)
				}
			}
			for _, m := range messages[*ardupilotmega.MessageMountOrientation](st, d.sys) {
				if m.Pitch != -45 {
					t.Fatalf("gimbal %+v", m)
				}
			}
			for _, v := range messages[*ardupilotmega.MessageVfrHud](st, d.sys) {
				if v.Groundspeed != float32(d.speed) || v.Alt != float32(12+d.altitude) {
					t.Fatalf("VFR_HUD %+v", v)
				}
			}
			// An hour's battery loses under 1 % in the test.
			for _, b := range messages[*ardupilotmega.MessageBatteryStatus](st, d.sys) {
				if b.BatteryRemaining < 99 || b.Voltages[0] < 16700 || b.Voltages[1] != math.MaxUint16 {
					t.Fatalf("battery %+v", b)
				}
			}
			for _, b := range messages[*ardupilotmega.MessageSysStatus](st, d.sys) {
				if b.BatteryRemaining < 99 || b.VoltageBattery < 16700 {
					t.Fatalf("SYS_STATUS %+v", b)
				}
			}
		})
	}

	got := uint64(len(st.from(7)) + len(st.from(9)))
	if f := s.Stats().Frames.Load(); f < got || s.Stats().Errors.Load() != 0 {
		t.Fatalf("stats: %d frames, %d errors; the station got %d", f, s.Stats().Errors.Load(), got)
	}
}

// Over TCP too, with rates of one's choice.
func TestDroneOverTCPAtConfiguredRates(t *testing.T) {
	st := listen(t, "tcp", nil)
	_, stop := fly(t, sim.Config{
		Target:       "tcp:" + st.addr,
		PositionRate: 4,
		AttitudeRate: 8,
		Drones:       []sim.Drone{{Name: "one", SystemID: 3, Type: "hexarotor", Speed: 10, Altitude: 50, Battery: time.Hour, Route: route}},
	})
	testkit.WaitFor(t, 20*time.Second, "12 positions over TCP", func() bool {
		return len(messages[*ardupilotmega.MessageGlobalPositionInt](st, 3)) >= 12
	})
	if err := stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if hb := messages[*ardupilotmega.MessageHeartbeat](st, 3); len(hb) == 0 || hb[0].Type != ardupilotmega.MAV_TYPE_HEXAROTOR {
		t.Fatalf("heartbeats %+v", hb)
	}
	var pt, at []uint32
	for _, p := range messages[*ardupilotmega.MessageGlobalPositionInt](st, 3) {
		pt = append(pt, p.TimeBootMs)
	}
	for _, a := range messages[*ardupilotmega.MessageAttitude](st, 3) {
		at = append(at, a.TimeBootMs)
	}
	checkRate(t, "GLOBAL_POSITION_INT", pt, 4)
	checkRate(t, "ATTITUDE", at, 8)
}

// checkRate checks that messages stamped times (ms since boot) came at hz
// at most (one per period since the start, however late the sender ran),
// and not far fewer when the machine keeps up.
func checkRate(t *testing.T, name string, times []uint32, hz float64) {
	t.Helper()
	n := len(times)
	if n < 10 {
		t.Fatalf("%d %s", n, name)
	}
	period := time.Duration(float64(time.Second) / hz)
	last := time.Duration(times[n-1]) * time.Millisecond
	if most := int(last/period) + 1; n-1 > most {
		t.Fatalf("%d %s in the first %s: more than %g per second", n, name, last, hz)
	}
	if mean := time.Duration(times[n-1]-times[0]) * time.Millisecond / time.Duration(n-1); mean > testkit.Scale(3*period) {
		t.Fatalf("%s every %s on average, want %s", name, mean, period)
	}
}

// A drone whose battery runs low gets a new one and says so.
func TestDroneSwapsItsBattery(t *testing.T) {
	st := listen(t, "udp", nil)
	_, stop := fly(t, sim.Config{
		Target: "udp:" + st.addr,
		Drones: []sim.Drone{{Name: "one", SystemID: 4, Type: "quadrotor", Speed: 10, Altitude: 50, Battery: 2 * time.Second, Route: route}},
	})
	swapped := func() int {
		for i, r := range st.from(4) {
			if m, ok := r.msg.(*ardupilotmega.MessageStatustext); ok && m.Text == "Battery swapped: 100%" && m.Severity == ardupilotmega.MAV_SEVERITY_NOTICE {
				return i
			}
		}
		return -1
	}
	testkit.WaitFor(t, 20*time.Second, "the battery swap and a status after it", func() bool {
		i := swapped()
		if i < 0 {
			return false
		}
		for _, r := range st.from(4)[i:] {
			if _, ok := r.msg.(*ardupilotmega.MessageSysStatus); ok {
				return true
			}
		}
		return false
	})
	stop()
	all := st.from(4)
	i := swapped()
	var before, after []int8
	for j, r := range all {
		if m, ok := r.msg.(*ardupilotmega.MessageSysStatus); ok {
			if j < i {
				before = append(before, m.BatteryRemaining)
			} else {
				after = append(after, m.BatteryRemaining)
			}
		}
	}
	// Drained from full to under 50 % (15 % is the swap) before, fuller after.
	if len(before) < 2 || before[0] < 90 || before[len(before)-1] >= 50 {
		t.Fatalf("battery before the swap %v", before)
	}
	for k := 1; k < len(before); k++ {
		if before[k] > before[k-1] {
			t.Fatalf("battery before the swap went up: %v", before)
		}
	}
	if after[0] <= before[len(before)-1] {
		t.Fatalf("battery %v before the swap, %v after", before, after)
	}
}

// A signing key signs every frame: a station with the key takes them, one
// with another key rejects each of them.
func TestDroneSignsItsFrames(t *testing.T) {
	key := frame.NewV2Key([]byte("smarteye simulated drone key 123"))
	good := listen(t, "udp", key)
	bad := listen(t, "udp", frame.NewV2Key([]byte("another key altogether")))
	drone := []sim.Drone{{Name: "one", SystemID: 5, Type: "quadrotor", Speed: 10, Altitude: 50, Battery: time.Hour, Route: route}}
	fly(t, sim.Config{Target: "udp:" + good.addr, SigningKey: key, Drones: drone})
	fly(t, sim.Config{Target: "udp:" + bad.addr, SigningKey: key, Drones: drone})

	testkit.WaitFor(t, 20*time.Second, "20 signed frames taken", func() bool { return len(good.from(5)) >= 20 })
	for _, r := range good.from(5) {
		if !r.signed {
			t.Fatalf("unsigned %s", msgName(r.msg))
		}
	}
	// The other station has had as many frames by now; each one refused.
	testkit.WaitFor(t, 20*time.Second, "20 frames refused", func() bool { return len(bad.errs()) >= 20 })
	if n := len(bad.from(5)); n != 0 {
		t.Fatalf("a station with another key took %d frames", n)
	}
	for _, err := range bad.errs() {
		if !strings.Contains(err.Error(), "wrong signature") {
			t.Fatalf("parse error %v", err)
		}
	}
}

func TestNewChecksTheConfiguration(t *testing.T) {
	ok := sim.Drone{Name: "one", SystemID: 1, Type: "quadrotor", Speed: 10, Altitude: 50, Battery: time.Hour, Route: route}
	with := func(f func(d *sim.Drone)) []sim.Drone {
		d := ok
		f(&d)
		return []sim.Drone{d}
	}
	for _, tc := range []struct {
		name   string
		cfg    sim.Config
		errors []string // empty: valid
	}{
		{"valid UDP", sim.Config{Target: "udp:127.0.0.1:14550", Drones: []sim.Drone{ok}}, nil},
		{"valid TCP", sim.Config{Target: "tcp:127.0.0.1:5760", Drones: []sim.Drone{ok}}, nil},
		{"no target", sim.Config{Drones: []sim.Drone{ok}}, []string{`target ""`}},
		{"serial target", sim.Config{Target: "serial:/dev/ttyUSB0", Drones: []sim.Drone{ok}}, []string{"udp:host:port or tcp:host:port"}},
		{"one waypoint", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.Route = route[:1] })}, []string{"drone one: route needs at least 2 waypoints"}},
		{"no speed", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.Speed = 0 })}, []string{"must be positive"}},
		{"no battery", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.Battery = 0 })}, []string{"must be positive"}},
		{"system id 0", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.SystemID = 0 })}, []string{"must be positive"}},
		{"unknown type", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.Type = "zeppelin" })}, []string{`unknown type "zeppelin"`}},
		{"every fault at once", sim.Config{Target: "udp:x:1", Drones: with(func(d *sim.Drone) { d.Type, d.Altitude, d.Route = "blimp", -1, nil })},
			[]string{"route needs", "must be positive", `unknown type "blimp"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := sim.New(tc.cfg)
			if len(tc.errors) == 0 {
				if err != nil || s == nil {
					t.Fatalf("New: %v", err)
				}
				return
			}
			if err == nil || s != nil {
				t.Fatalf("New accepted %+v", tc.cfg)
			}
			for _, want := range tc.errors {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("New: %v; want it to say %q", err, want)
				}
			}
		})
	}
}

func msgName(m message.Message) string {
	// *common.MessageGpsRawInt: ardupilotmega's types are the common
	// dialect's and those it includes.
	_, n, _ := strings.Cut(fmt.Sprintf("%T", m), ".Message")
	var b strings.Builder
	for i, r := range n {
		if i > 0 && r >= 'A' && r <= 'Z' {
			b.WriteByte('_')
		}
		b.WriteRune(r)
	}
	return strings.ToUpper(b.String())
}
