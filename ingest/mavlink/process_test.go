package mavlink

import (
	"bufio"
	"bytes"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// enc builds the bytes of one frame as a peer sends them.
type enc struct {
	sys, comp uint8
	seq       uint8
	v1        bool
	key       *frame.V2Key
	sigTime   uint64
}

func (e *enc) bytes(t testing.TB, m message.Message) []byte {
	t.Helper()
	mp := dialectRW.GetMessage(m.GetID())
	if mp == nil {
		t.Fatalf("message %d not in the dialect", m.GetID())
	}
	var fr frame.Frame
	if e.v1 {
		raw := mp.Write(m, false)
		f := &frame.V1Frame{SequenceNumber: e.seq, SystemID: e.sys, ComponentID: e.comp, Message: raw}
		f.Checksum = f.GenerateChecksum(mp.CRCExtra())
		fr = f
	} else {
		raw := mp.Write(m, true)
		f := &frame.V2Frame{SequenceNumber: e.seq, SystemID: e.sys, ComponentID: e.comp, Message: raw}
		if e.key != nil {
			f.IncompatibilityFlag |= frame.V2FlagSigned
		}
		f.Checksum = f.GenerateChecksum(mp.CRCExtra())
		if e.key != nil {
			e.sigTime += 100
			f.SignatureLinkID = 1
			f.SignatureTimestamp = e.sigTime
			f.Signature = f.GenerateSignature(e.key)
		}
		fr = f
	}
	e.seq++
	var buf bytes.Buffer
	w := &frame.Writer{ByteWriter: &buf}
	if err := w.Initialize(); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(fr); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// feed parses bytes as the node does (no dialect: raw messages) and hands
// every frame to p; bytes that make no frame count as parse errors.
func feed(p *Processor, b []byte, now time.Time) {
	r := &frame.Reader{BufByteReader: bufio.NewReader(bytes.NewReader(b))}
	_ = r.Initialize()
	for {
		f, err := r.Read()
		if err != nil {
			if _, ok := err.(frame.ReadError); ok {
				p.ParseError()
				continue
			}
			return
		}
		p.Frame(f, now)
	}
}

// recorder is a Sink that keeps everything.
type recorder struct {
	vehicles []telemetry.Vehicle
	states   []telemetry.Vehicle
	samples  []telemetry.Vehicle
	times    []time.Time
	events   []telemetry.Event
}

func (r *recorder) Vehicle(v *telemetry.Vehicle) { r.vehicles = append(r.vehicles, *v) }
func (r *recorder) State(v *telemetry.Vehicle)   { r.states = append(r.states, *v) }
func (r *recorder) Sample(v *telemetry.Vehicle, t time.Time) {
	r.samples = append(r.samples, *v)
	r.times = append(r.times, t)
}
func (r *recorder) Event(e telemetry.Event) { r.events = append(r.events, e) }

func (r *recorder) last() telemetry.Vehicle { return r.states[len(r.states)-1] }

func (r *recorder) kinds() string {
	var k []string
	for _, e := range r.events {
		k = append(k, e.Kind)
	}
	return strings.Join(k, " ")
}

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

func heartbeat(typ ardupilotmega.MAV_TYPE, ap ardupilotmega.MAV_AUTOPILOT, armed bool, custom uint32) *ardupilotmega.MessageHeartbeat {
	base := ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED
	if armed {
		base |= ardupilotmega.MAV_MODE_FLAG_SAFETY_ARMED
	}
	return &ardupilotmega.MessageHeartbeat{Type: typ, Autopilot: ap, BaseMode: base, CustomMode: custom, SystemStatus: ardupilotmega.MAV_STATE_ACTIVE, MavlinkVersion: 3}
}

func newProc(rec *recorder, vehicles ...VehicleConfig) *Processor {
	return NewProcessor(ProcessorConfig{Link: "l", Vehicles: vehicles, StoredRate: 10, LinkTimeout: 5 * time.Second, MaxDiscovered: 4}, rec)
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-6 }

func TestConversion(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	e := &enc{sys: 7, comp: 1}
	send := func(m message.Message) { feed(p, e.bytes(t, m), t0) }

	send(heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 5))
	send(&ardupilotmega.MessageGpsRawInt{FixType: ardupilotmega.GPS_FIX_TYPE_3D_FIX, SatellitesVisible: 12, Eph: 95, HAcc: 1500})
	send(&ardupilotmega.MessageGlobalPositionInt{Lat: 225412345, Lon: 1140538765, Alt: 70500, RelativeAlt: 60250, Vx: 300, Vy: -400, Vz: -150, Hdg: 27050})
	send(&ardupilotmega.MessageAttitude{Roll: math.Pi / 18, Pitch: -math.Pi / 36, Yaw: -math.Pi / 2})
	send(&ardupilotmega.MessageSysStatus{VoltageBattery: 15800, CurrentBattery: 1234, BatteryRemaining: 76})
	send(&ardupilotmega.MessageVfrHud{Airspeed: 5.5, Groundspeed: 5, Heading: 270, Throttle: 40, Climb: 1.5})
	send(&ardupilotmega.MessageMountOrientation{Pitch: -45, Yaw: 10})
	send(&ardupilotmega.MessageHomePosition{Latitude: 225400000, Longitude: 1140500000, Altitude: 10000})
	send(&ardupilotmega.MessageStatustext{Severity: ardupilotmega.MAV_SEVERITY_WARNING, Text: "PreArm: Compass not calibrated"})
	send(&ardupilotmega.MessageCommandAck{Command: common.MAV_CMD_NAV_TAKEOFF, Result: ardupilotmega.MAV_RESULT_ACCEPTED})

	v := rec.last()
	if v.ID != "l-7" || !v.Discovered || v.Type != "quadrotor" || v.Autopilot != "ardupilot" || !v.Armed || v.Mode != "LOITER" {
		t.Fatalf("identity: %+v", v)
	}
	if !v.Position.Valid || !near(v.Position.Lat, 22.5412345) || !near(v.Position.Lon, 114.0538765) || !near(v.Position.AltMSL, 70.5) || !near(v.Position.AltRel, 60.25) {
		t.Fatalf("position: %+v", v.Position)
	}
	if !near(v.Motion.VNorth, 3) || !near(v.Motion.VEast, -4) || !near(v.Motion.Heading, 270) || !near(v.Motion.ClimbRate, 1.5) || !near(v.Motion.Airspeed, 5.5) || v.Motion.Throttle != 40 {
		t.Fatalf("motion: %+v", v.Motion)
	}
	if math.Abs(v.Attitude.Roll-10) > 1e-4 || math.Abs(v.Attitude.Pitch+5) > 1e-4 || math.Abs(v.Attitude.Yaw-270) > 1e-4 {
		t.Fatalf("attitude: %+v", v.Attitude)
	}
	if v.GPS.Fix != 3 || v.GPS.FixName != "3D" || v.GPS.Satellites != 12 || !near(v.GPS.EPH, 0.95) || !near(v.GPS.HAccuracy, 1.5) {
		t.Fatalf("gps: %+v", v.GPS)
	}
	if !near(v.Battery.Voltage, 15.8) || !near(v.Battery.Current, 12.34) || v.Battery.Remaining != 76 {
		t.Fatalf("battery: %+v", v.Battery)
	}
	if v.Gimbal.Pitch != -45 || v.Gimbal.Yaw != 10 || v.Gimbal.Source != "MOUNT_ORIENTATION" {
		t.Fatalf("gimbal: %+v", v.Gimbal)
	}
	if !near(v.Home.Lat, 22.54) || !near(v.Home.AltMSL, 10) {
		t.Fatalf("home: %+v", v.Home)
	}
	if got := rec.kinds(); got != "vehicle.discovered vehicle.statustext vehicle.command_ack" {
		t.Fatalf("events: %s", got)
	}
	if rec.events[1].Message != "l-7: PreArm: Compass not calibrated" || rec.events[1].Data["severity"] != "warning" || rec.events[1].Lat == nil {
		t.Fatalf("statustext event: %+v", rec.events[1])
	}
	if rec.events[2].Data["result"] != "accepted" {
		t.Fatalf("command ack: %+v", rec.events[2])
	}
	// All arrived at the same instant: one stored sample (10 Hz limit).
	if len(rec.samples) != 1 {
		t.Fatalf("%d samples stored, want 1", len(rec.samples))
	}
}

func TestModeNames(t *testing.T) {
	for _, tc := range []struct {
		ap     ardupilotmega.MAV_AUTOPILOT
		typ    ardupilotmega.MAV_TYPE
		custom uint32
		want   string
	}{
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_QUADROTOR, 3, "AUTO"},
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_QUADROTOR, 6, "RTL"},
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_FIXED_WING, 10, "AUTO"},
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_VTOL_TILTROTOR, 19, "QLOITER"},
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_GROUND_ROVER, 4, "HOLD"},
		{ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, ardupilotmega.MAV_TYPE_QUADROTOR, 99, "mode 99"},
		{ardupilotmega.MAV_AUTOPILOT_PX4, ardupilotmega.MAV_TYPE_QUADROTOR, 4<<16 | 4<<24, "Mission"},
		{ardupilotmega.MAV_AUTOPILOT_PX4, ardupilotmega.MAV_TYPE_QUADROTOR, 4<<16 | 3<<24, "Hold"},
		{ardupilotmega.MAV_AUTOPILOT_PX4, ardupilotmega.MAV_TYPE_QUADROTOR, 3 << 16, "Position"},
		{ardupilotmega.MAV_AUTOPILOT_PX4, ardupilotmega.MAV_TYPE_QUADROTOR, 6 << 16, "Offboard"},
	} {
		if got := modeName(tc.ap, tc.typ, ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED, tc.custom); got != tc.want {
			t.Errorf("%v %v %d: got %q, want %q", tc.ap, tc.typ, tc.custom, got, tc.want)
		}
	}
}

// A vehicle without a 3D fix has no position, and none at (0, 0).
func TestNoFixNoPosition(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	e := &enc{sys: 1, comp: 1}
	send := func(m message.Message) { feed(p, e.bytes(t, m), t0) }
	send(heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_PX4, false, 0))
	// Before any GPS report, the autopilots' (0, 0) placeholder is no position.
	send(&ardupilotmega.MessageGlobalPositionInt{})
	if rec.last().Position.Valid {
		t.Fatal("(0, 0) taken as a position")
	}
	send(&ardupilotmega.MessageGpsRawInt{FixType: ardupilotmega.GPS_FIX_TYPE_2D_FIX, SatellitesVisible: 4})
	send(&ardupilotmega.MessageGlobalPositionInt{Lat: 225000000, Lon: 1140000000})
	if rec.last().Position.Valid {
		t.Fatal("a 2D fix gave a position")
	}
	send(&ardupilotmega.MessageGpsRawInt{FixType: ardupilotmega.GPS_FIX_TYPE_RTK_FIXED, SatellitesVisible: 20})
	if v := rec.last(); !v.Position.Valid || !near(v.Position.Lat, 22.5) {
		t.Fatalf("RTK fix: %+v", v.Position)
	}
	send(&ardupilotmega.MessageGpsRawInt{FixType: ardupilotmega.GPS_FIX_TYPE_NO_FIX})
	if rec.last().Position.Valid {
		t.Fatal("position kept after the fix was lost")
	}
	if got := rec.kinds(); got != "vehicle.discovered vehicle.gps_fix_acquired vehicle.gps_fix_lost" {
		t.Fatalf("events: %s", got)
	}
}

func TestNotVehicles(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	gcs := &enc{sys: 255, comp: 190}
	feed(p, gcs.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_GCS, ardupilotmega.MAV_AUTOPILOT_INVALID, false, 0)), t0)
	cam := &enc{sys: 9, comp: 100}
	feed(p, cam.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_CAMERA, ardupilotmega.MAV_AUTOPILOT_INVALID, false, 0)), t0)
	feed(p, cam.bytes(t, &ardupilotmega.MessageAttitude{}), t0)
	if len(rec.vehicles) != 0 || p.Counts().Dropped[DropNotVehicle].Load() != 3 {
		t.Fatalf("vehicles %v, not-vehicle drops %d", rec.vehicles, p.Counts().Dropped[DropNotVehicle].Load())
	}
	// A vehicle's camera heartbeat does not change the vehicle's mode.
	ap := &enc{sys: 9, comp: 1}
	feed(p, ap.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_FIXED_WING, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 10)), t0)
	feed(p, cam.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_CAMERA, ardupilotmega.MAV_AUTOPILOT_INVALID, false, 0)), t0)
	if v := rec.last(); v.Mode != "AUTO" || !v.Armed || v.Type != "fixed_wing" {
		t.Fatalf("%+v", v)
	}
}

func TestConfiguredVehicleAndEvents(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec, VehicleConfig{Name: "alpha", SystemID: 3, Camera: "alpha-cam"})
	e := &enc{sys: 3, comp: 1}
	now := t0
	send := func(m message.Message) { feed(p, e.bytes(t, m), now) }
	send(heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, false, 0))
	now = now.Add(time.Second)
	send(heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 4))
	v := rec.last()
	if v.ID != "alpha" || v.Discovered || v.Camera != "alpha-cam" || v.Mode != "GUIDED" {
		t.Fatalf("%+v", v)
	}
	// Silence past the timeout loses the link; the next frame regains it.
	p.Tick(now.Add(3 * time.Second))
	p.Tick(now.Add(7 * time.Second))
	if rec.last().Health.State != telemetry.LinkLost {
		t.Fatal("link not lost")
	}
	now = now.Add(8 * time.Second)
	send(heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 4))
	if rec.last().Health.State != telemetry.LinkOK {
		t.Fatal("link not regained")
	}
	if got := rec.kinds(); got != "vehicle.armed vehicle.mode link.lost link.regained" {
		t.Fatalf("events: %s", got)
	}
}

func TestSequenceLossAndRate(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	e := &enc{sys: 1, comp: 1}
	feed(p, e.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)), t0)
	for i := range 100 {
		b := e.bytes(t, &ardupilotmega.MessageAttitude{})
		if i%10 == 0 {
			continue // lost on the way
		}
		feed(p, b, t0.Add(time.Duration(i)*10*time.Millisecond))
	}
	p.Tick(t0.Add(time.Second))
	h := rec.last().Health
	if h.Lost != 10 || h.Received != 91 || math.Abs(h.LossRatio-10.0/101) > 1e-9 || math.Abs(h.Rate-91) > 1e-9 {
		t.Fatalf("%+v", h)
	}
	// Stored at most 10 Hz over that second.
	if n := len(rec.samples); n < 9 || n > 11 {
		t.Fatalf("%d samples stored in 1 s at 10 Hz", n)
	}
}

func TestSigning(t *testing.T) {
	key, _ := ParseKey("correct horse battery staple")
	other, _ := ParseKey("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef")
	rec := &recorder{}
	p := newProc(rec, VehicleConfig{Name: "signed", SystemID: 5, key: key})
	hb := heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)

	feed(p, (&enc{sys: 5, comp: 1}).bytes(t, hb), t0)
	feed(p, (&enc{sys: 5, comp: 1, v1: true}).bytes(t, hb), t0)
	feed(p, (&enc{sys: 5, comp: 1, key: other}).bytes(t, hb), t0)
	c := p.Counts()
	if len(rec.vehicles) != 0 || c.Dropped[DropUnsigned].Load() != 2 || c.Dropped[DropBadSignature].Load() != 1 {
		t.Fatalf("unsigned/wrong key accepted: vehicles %d, unsigned %d, bad %d", len(rec.vehicles), c.Dropped[DropUnsigned].Load(), c.Dropped[DropBadSignature].Load())
	}
	good := &enc{sys: 5, comp: 1, key: key, sigTime: 50_000_000}
	feed(p, good.bytes(t, hb), t0)
	if len(rec.vehicles) != 1 || rec.last().ID != "signed" {
		t.Fatalf("correctly signed frame refused: unsigned %d bad %d replay %d crc %d parse %d frames %d", c.Dropped[DropUnsigned].Load(), c.Dropped[DropBadSignature].Load(), c.Dropped[DropReplayed].Load(), c.Dropped[DropBadCRC].Load(), c.Dropped[DropParse].Load(), c.Frames.Load())
	}
	// A replay with an old timestamp is refused.
	old := &enc{sys: 5, comp: 1, key: key, sigTime: 1000}
	feed(p, old.bytes(t, hb), t0)
	if c.Dropped[DropReplayed].Load() != 1 || rec.last().Health.Rejected != 0 && c.Frames.Load() != 1 {
		t.Fatalf("replay: %d", c.Dropped[DropReplayed].Load())
	}
}

// Garbage, truncation, bad checksums, unknown ids and a flood of system
// ids are counted and dropped; memory stays bounded.
func TestHostileInput(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	hb := heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)
	good := (&enc{sys: 1, comp: 1}).bytes(t, hb)

	bad := bytes.Clone(good)
	bad[len(bad)-1] ^= 0xff // checksum
	feed(p, bad, t0)
	feed(p, good[:len(good)-3], t0)               // truncated
	feed(p, []byte("GET / HTTP/1.1\r\n\r\n"), t0) // not MAVLink
	if n := p.Counts().Dropped[DropBadCRC].Load(); n != 1 {
		t.Fatalf("bad crc count %d", n)
	}
	if p.Counts().Dropped[DropParse].Load() == 0 {
		t.Fatal("garbage not counted")
	}
	// An unknown message id from a known vehicle counts as heard.
	feed(p, good, t0)
	unknown := &frame.V2Frame{SystemID: 1, ComponentID: 1, SequenceNumber: 1, Message: &message.MessageRaw{ID: 0xABCDE, Payload: []byte{1, 2, 3}}}
	p.Frame(unknown, t0)
	if p.Counts().Unknown.Load() != 1 {
		t.Fatal("unknown message not counted")
	}
	// A flood of fake vehicles: only MaxDiscovered are tracked.
	for sys := 2; sys <= 255; sys++ {
		feed(p, (&enc{sys: uint8(sys), comp: 1}).bytes(t, hb), t0)
	}
	if n := len(p.vehicles); n != 4 {
		t.Fatalf("%d vehicles tracked, want the cap of 4", n)
	}
	if n := p.Counts().Dropped[DropTooManySystems].Load(); n != 251 {
		t.Fatalf("too-many-systems drops %d", n)
	}
}

// feedFrom is feed from a source address.
func feedFrom(p *Processor, b []byte, source string, now time.Time) {
	r := &frame.Reader{BufByteReader: bufio.NewReader(bytes.NewReader(b))}
	_ = r.Initialize()
	for {
		f, err := r.Read()
		if err != nil {
			return
		}
		p.FrameFrom(f, source, now)
	}
}

// Values no vehicle can have are refused with a counted reason, whoever
// sends them: a position outside WGS 84 or 790 km up, a speed no aircraft
// flies, a jump no aircraft makes. Positions that agree with one another
// far away are taken after ten reports (a simulator reset). The state
// keeps the last true position throughout.
func TestImplausibleValuesRefused(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	e := &enc{sys: 7, comp: 1}
	feed(p, e.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)), t0)
	pos := func(lat, lon float64, altM float64, vx int16) *ardupilotmega.MessageGlobalPositionInt {
		return &ardupilotmega.MessageGlobalPositionInt{Lat: int32(lat * 1e7), Lon: int32(lon * 1e7), Alt: int32(altM * 1000), Vx: vx}
	}
	at := t0
	next := func() time.Time { at = at.Add(200 * time.Millisecond); return at }
	feed(p, e.bytes(t, pos(22.5412, 114.0548, 80, 500)), next())
	c := p.Counts()
	for _, tc := range []struct {
		name   string
		m      message.Message
		reason int
	}{
		{"latitude 180.8", pos(180.8, 173.2, 80, 0), DropOutOfRange},
		{"790 km up", pos(22.5412, 114.0548, 790_000, 0), DropOutOfRange},
		{"1000 km/h", pos(22.5412, 114.0548, 80, 27_000), DropOutOfRange},
		{"a jump of 50 km in 0.2 s", pos(22.9912, 114.0548, 80, 0), DropImpossibleJump},
		{"GPS outside WGS 84", &ardupilotmega.MessageGpsRawInt{FixType: ardupilotmega.GPS_FIX_TYPE_3D_FIX, Lat: 95e7, Lon: 10e7}, DropOutOfRange},
		{"attitude NaN", &ardupilotmega.MessageAttitude{Roll: float32(math.NaN())}, DropOutOfRange},
		{"HUD at 900 m/s", &ardupilotmega.MessageVfrHud{Groundspeed: 900}, DropOutOfRange},
	} {
		before := c.Dropped[tc.reason].Load()
		feed(p, e.bytes(t, tc.m), next())
		if c.Dropped[tc.reason].Load() != before+1 {
			t.Errorf("%s: not refused as %s", tc.name, DropReasons[tc.reason])
		}
		if v := rec.last(); !near(v.Position.Lat, 22.5412) || v.Position.AltMSL != 80 {
			t.Fatalf("%s changed the state: %+v", tc.name, v.Position)
		}
	}
	// One vehicle.implausible event a minute, however many refusals.
	if n := strings.Count(rec.kinds(), "vehicle.implausible"); n != 1 {
		t.Errorf("%d implausible events: %s", n, rec.kinds())
	}
	// A flight at 15 m/s moves on normally.
	feed(p, e.bytes(t, pos(22.54125, 114.0548, 80, 1500)), at.Add(time.Second))
	if v := rec.last(); !near(v.Position.Lat, 22.54125) || v.Health.Rejected != 7 {
		t.Fatalf("a normal move refused: %+v, rejected %d", v.Position, v.Health.Rejected)
	}
	// The vehicle really is 40 km away now: nine reports there are refused,
	// the tenth is taken, with an event.
	at = at.Add(time.Second)
	for i := range relocateAfter {
		feed(p, e.bytes(t, pos(22.9, 114.1+float64(i)*1e-5, 60, 100)), next())
		if got := rec.last().Position.Lat; (i < relocateAfter-1) != near(got, 22.54125) {
			t.Fatalf("report %d: lat %v", i, got)
		}
	}
	if !strings.Contains(rec.kinds(), "vehicle.relocated") {
		t.Fatalf("no relocation event: %s", rec.kinds())
	}
}

// A configured vehicle's frames from a second address, or that its key
// refuses, are made visible: the vehicle's health says so, a
// vehicle.suspect event (at most one a minute), a count.
func TestSuspectFrames(t *testing.T) {
	key, _ := ParseKey("correct horse battery staple")
	rec := &recorder{}
	p := newProc(rec, VehicleConfig{Name: "plain", SystemID: 3}, VehicleConfig{Name: "signed", SystemID: 5, key: key})
	hb := heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)
	plain := &enc{sys: 3, comp: 1}
	feedFrom(p, plain.bytes(t, hb), "udp:10.0.0.5", t0)
	feedFrom(p, plain.bytes(t, hb), "udp:10.0.0.5", t0.Add(time.Second))
	if rec.last().Health.Warning != "" || p.Counts().Suspect.Load() != 0 {
		t.Fatalf("one source: %+v", rec.last().Health)
	}
	for i := range 3 {
		feedFrom(p, plain.bytes(t, hb), "udp:192.0.2.66", t0.Add(time.Duration(2+i)*time.Second))
	}
	v := rec.last()
	if v.ID != "plain" || !strings.Contains(v.Health.Warning, "192.0.2.66") || p.Counts().Suspect.Load() != 3 || strings.Count(rec.kinds(), "vehicle.suspect") != 1 {
		t.Fatalf("second source: %+v, suspect %d, events %s", v.Health, p.Counts().Suspect.Load(), rec.kinds())
	}
	// The signed vehicle: an unsigned frame claiming it, after it is known.
	signed := &enc{sys: 5, comp: 1, key: key, sigTime: 50_000_000}
	feedFrom(p, signed.bytes(t, hb), "udp:10.0.0.6", t0)
	feedFrom(p, (&enc{sys: 5, comp: 1}).bytes(t, hb), "udp:192.0.2.66", t0.Add(time.Second))
	var sv telemetry.Vehicle
	for _, s := range rec.states {
		if s.ID == "signed" {
			sv = s
		}
	}
	if !strings.Contains(sv.Health.Warning, "refused by its key (unsigned) from udp:192.0.2.66") || sv.Health.Rejected != 1 {
		t.Fatalf("unsigned frame for a signed vehicle: %+v", sv.Health)
	}
}

// Below the stored rate every position is stored, at its time, even
// when a tick's or a heartbeat's sample came just before it: a position
// that waited for the rate is stored before the next message replaces it.
func TestSlowPositionsAllStored(t *testing.T) {
	rec := &recorder{}
	p := newProc(rec)
	e := &enc{sys: 3, comp: 1}
	hb := heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 0)
	feed(p, e.bytes(t, hb), t0)
	const n = 200
	at := func(i int) time.Time { return t0.Add(time.Second + time.Duration(i)*300*time.Millisecond) }
	for i := range n {
		now := at(i)
		// A tick 60 ms before some positions, and a heartbeat that changes
		// the state (armed, disarmed) right after others.
		if i%7 == 3 {
			p.Tick(now.Add(-60 * time.Millisecond))
		}
		feed(p, e.bytes(t, &ardupilotmega.MessageGlobalPositionInt{Lat: 225411000, Lon: 1140577000 + int32(i), Alt: 60000, RelativeAlt: 30000}), now)
		if i%5 == 0 {
			feed(p, e.bytes(t, heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, i%10 == 0, 0)), now.Add(5*time.Millisecond))
		}
	}
	p.Tick(at(n))
	stored := map[int32]time.Time{}
	for i, v := range rec.samples {
		if v.Position.Valid {
			lon := int32(math.Round(v.Position.Lon*1e7)) - 1140577000
			if _, dup := stored[lon]; !dup {
				stored[lon] = rec.times[i]
			}
		}
		if i > 0 && rec.times[i].Sub(rec.times[i-1]) < 0 {
			t.Fatalf("samples out of order at %d", i)
		}
	}
	for i := range n {
		when, ok := stored[int32(i)]
		if !ok {
			t.Fatalf("position %d was not stored (%d samples)", i, len(rec.samples))
		}
		// At its time, or at a change that came with it (the heartbeat).
		if d := when.Sub(at(i)); d < 0 || d > 10*time.Millisecond {
			t.Fatalf("position %d stored at %s, sent at %s", i, when, at(i))
		}
	}
}
