// Package sim flies simulated drones for the demo, the tests and anyone
// without a drone at hand. Each drone is a gomavlib node that talks MAVLink
// 2 to a target (smarteye's own link, or any ground station such as
// QGroundControl or Mission Planner) like an ArduPilot autopilot: it flies
// its patrol route in a loop at its speed and altitude (or waits on the
// ground, disarmed, for a ground station's commands), drains its battery,
// points its gimbal, and sends HEARTBEAT (1 Hz), GLOBAL_POSITION_INT
// (10 Hz), ATTITUDE (20 Hz), GPS_RAW_INT, SYS_STATUS, BATTERY_STATUS,
// VFR_HUD, MOUNT_ORIENTATION, GIMBAL_DEVICE_ATTITUDE_STATUS,
// EXTENDED_SYS_STATE, MISSION_CURRENT and HOME_POSITION at the rates
// configured. It answers commands, missions and fences as a real
// ArduCopter does (autopilot.go says which measured behaviour each part
// reproduces).
package sim

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gomavlib/v3"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"
)

// Drone is one simulated drone.
type Drone struct {
	Name     string
	SystemID uint8
	// Type is a MAV_TYPE in words: quadrotor, hexarotor, fixed_wing...
	Type string
	// Speed is the cruise speed in m/s.
	Speed float64
	// Altitude is the patrol altitude above home in metres.
	Altitude float64
	// Battery is the flight time on a full battery.
	Battery time.Duration
	// Route is the patrol's waypoints as [lat, lon], flown in a loop; its
	// first is home.
	Route [][2]float64
	// OnGround starts the drone on the ground at home, disarmed in
	// STABILIZE, waiting for a ground station to fly it; otherwise it
	// starts in the air on its patrol (AUTO).
	OnGround bool
	// PreArm is how long after start an OnGround drone refuses to arm
	// (its EKF and GPS settling: a real ArduCopter took 38 s); it has no
	// GPS fix for the first quarter of it (5 s at most).
	PreArm time.Duration
	// NoMount: no gimbal is configured, so gimbal commands fail.
	NoMount bool
}

// Config configures a simulation.
type Config struct {
	Drones []Drone
	// Target is where the drones send: "udp:host:port" (a UDP server such
	// as smarteye's or QGroundControl's) or "tcp:host:port".
	Target string
	// PositionRate is GLOBAL_POSITION_INT per second. It defaults to 10.
	PositionRate float64
	// AttitudeRate is ATTITUDE per second. It defaults to 20.
	AttitudeRate float64
	// GroundElevation is home's altitude above mean sea level. It defaults to 10 m.
	GroundElevation float64
	// SigningKey, when set, signs every frame (MAVLink 2 signing).
	SigningKey *frame.V2Key
	Log        *slog.Logger
}

// Stats count what a simulation sent.
type Stats struct {
	Frames atomic.Uint64
	Errors atomic.Uint64
}

// Sim is a running simulation.
type Sim struct {
	cfg   Config
	stats Stats
}

// New checks the configuration.
func New(cfg Config) (*Sim, error) {
	if cfg.PositionRate <= 0 {
		cfg.PositionRate = 10
	}
	if cfg.AttitudeRate <= 0 {
		cfg.AttitudeRate = 20
	}
	if cfg.GroundElevation == 0 {
		cfg.GroundElevation = 10
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if _, err := endpoint(cfg.Target); err != nil {
		return nil, err
	}
	var errs []error
	for _, d := range cfg.Drones {
		if len(d.Route) < 2 {
			errs = append(errs, fmt.Errorf("sim: drone %s: route needs at least 2 waypoints", d.Name))
		}
		if d.Speed <= 0 || d.Altitude <= 0 || d.Battery <= 0 || d.SystemID == 0 || d.PreArm < 0 {
			errs = append(errs, fmt.Errorf("sim: drone %s: speed, altitude, battery and system id must be positive (and pre-arm not negative)", d.Name))
		}
		if _, ok := mavType(d.Type); !ok {
			errs = append(errs, fmt.Errorf("sim: drone %s: unknown type %q", d.Name, d.Type))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return &Sim{cfg: cfg}, nil
}

// Stats returns the counters.
func (s *Sim) Stats() *Stats { return &s.stats }

func endpoint(target string) (gomavlib.EndpointConf, error) {
	proto, addr, ok := strings.Cut(target, ":")
	if ok {
		switch proto {
		case "udp":
			return gomavlib.EndpointUDPClient{Address: addr}, nil
		case "tcp":
			return gomavlib.EndpointTCPClient{Address: addr}, nil
		}
	}
	return nil, fmt.Errorf("sim: target %q: write udp:host:port or tcp:host:port", target)
}

func mavType(word string) (ardupilotmega.MAV_TYPE, bool) {
	var t ardupilotmega.MAV_TYPE
	if err := t.UnmarshalText([]byte("MAV_TYPE_" + strings.ToUpper(word))); err != nil {
		return 0, false
	}
	return t, true
}

// Run flies every drone until ctx ends.
func (s *Sim) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	errc := make(chan error, len(s.cfg.Drones))
	for _, d := range s.cfg.Drones {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.fly(ctx, d); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	return <-errc
}

// fly is one drone's life.
func (s *Sim) fly(ctx context.Context, d Drone) error {
	ep, _ := endpoint(s.cfg.Target)
	node := &gomavlib.Node{
		Endpoints:      []gomavlib.EndpointConf{ep},
		Dialect:        ardupilotmega.Dialect,
		OutVersion:     gomavlib.V2,
		OutSystemID:    d.SystemID,
		OutComponentID: 1,
		OutKey:         s.cfg.SigningKey,
		// A vehicle with a key takes only signed frames.
		InKey:            s.cfg.SigningKey,
		HeartbeatDisable: true,
	}
	if err := node.Initialize(); err != nil {
		return fmt.Errorf("sim: drone %s: %w", d.Name, err)
	}
	defer node.Close()
	// What ground stations say, for the flight loop to answer.
	heard := make(chan *gomavlib.EventFrame, 256)
	go func() {
		for ev := range node.Events() {
			if fr, ok := ev.(*gomavlib.EventFrame); ok {
				select {
				case heard <- fr:
				default: // a flood: dropped, as a real link would
				}
			}
		}
	}()

	typ, _ := mavType(d.Type)
	st := newFlight(d, typ, s.cfg.GroundElevation)
	start := time.Now()
	send := func(m message.Message) {
		if err := node.WriteMessageAll(m); err != nil {
			s.stats.Errors.Add(1)
			return
		}
		s.stats.Frames.Add(1)
	}
	type sched struct {
		every time.Duration
		next  time.Time
		fn    func(now time.Time)
	}
	hz := func(r float64) time.Duration { return time.Duration(float64(time.Second) / r) }
	jobs := []*sched{
		{every: time.Second, fn: func(time.Time) { send(st.heartbeat()) }},
		{every: hz(s.cfg.PositionRate), fn: func(time.Time) { send(st.globalPosition()) }},
		{every: hz(s.cfg.AttitudeRate), fn: func(time.Time) { send(st.attitude()) }},
		{every: hz(2), fn: func(time.Time) { send(st.gpsRaw()) }},
		{every: hz(2), fn: func(time.Time) { send(st.sysStatus()) }},
		{every: time.Second, fn: func(time.Time) { send(st.batteryStatus()) }},
		{every: hz(4), fn: func(time.Time) { send(st.vfrHud()) }},
		{every: hz(5), fn: func(time.Time) {
			if !d.NoMount {
				send(st.mount())
				send(st.gimbal())
			}
		}},
		{every: time.Second, fn: func(time.Time) { send(st.extendedState()) }},
		{every: time.Second, fn: func(time.Time) {
			if m := st.missionCurrent(); m != nil {
				send(m)
			}
		}},
		{every: 5 * time.Second, fn: func(time.Time) {
			if st.positioned() {
				send(st.home())
			}
		}},
	}
	// flush sends what the flight queued: texts, then replies, then the
	// waypoints reached.
	flush := func() {
		for _, t := range st.texts {
			send(&ardupilotmega.MessageStatustext{Severity: ardupilotmega.MAV_SEVERITY_NOTICE, Text: t})
		}
		st.texts = st.texts[:0]
		for _, r := range st.out {
			for _, t := range r.texts {
				send(&ardupilotmega.MessageStatustext{Severity: ardupilotmega.MAV_SEVERITY_CRITICAL, Text: t})
			}
			send(r.msg)
		}
		st.out = st.out[:0]
		for _, seq := range st.reached {
			send(&ardupilotmega.MessageMissionItemReached{Seq: seq})
			if m := st.missionCurrent(); m != nil {
				send(m)
			}
		}
		st.reached = st.reached[:0]
	}
	// Stagger the drones so that 100 of them do not send in lockstep.
	offset := time.Duration(d.SystemID) * time.Millisecond * 7 % (50 * time.Millisecond)
	for _, j := range jobs {
		j.next = start.Add(offset)
	}
	step := hz(max(s.cfg.PositionRate, s.cfg.AttitudeRate, 5))
	tick := time.NewTicker(step / 2)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case fr := <-heard:
			st.advance(time.Since(start))
			st.handle(fr.Message(), fr.SystemID(), fr.ComponentID())
			flush()
		case now := <-tick.C:
			st.advance(now.Sub(start))
			flush()
			for _, j := range jobs {
				if !now.Before(j.next) {
					j.fn(now)
					j.next = j.next.Add(j.every)
					if j.next.Before(now) { // fell behind: do not burst to catch up
						j.next = now.Add(j.every)
					}
				}
			}
		}
	}
}

// flight is a drone's simulated autopilot and physical state; one
// goroutine (fly) owns it.
type flight struct {
	d       Drone
	typ     ardupilotmega.MAV_TYPE
	ground  float64
	legs    []float64 // cumulative route length at each waypoint, metres
	loop    float64   // route length, metres
	t       time.Duration
	battery float64 // percent
	armedFor,
	groundFor time.Duration // flown on this battery; armed on the ground
	armedAt time.Duration

	lat, lon, alt   float64 // alt: metres above home
	heading         float64
	vn, ve, vz      float64
	armed           bool
	mode            string
	speed           float64 // cruise speed now (DO_CHANGE_SPEED)
	patrolling      bool    // AUTO on the configured route
	patrolS         float64 // distance along the route loop
	takeoff         float64 // climbing to this altitude; 0: not
	target          *[3]float64
	paused          bool
	mission, fence  []ardupilotmega.MessageMissionItemInt
	fenceOn         bool
	cur             int // mission item flown
	up              *upload
	gimbalPitch     float64
	gimbalYaw       float64
	out             []reply
	texts           []string
	reached         []uint16
	lastMissionSent int
}

func newFlight(d Drone, typ ardupilotmega.MAV_TYPE, ground float64) *flight {
	f := &flight{d: d, typ: typ, ground: ground, battery: 100, speed: d.Speed, gimbalPitch: -45, lastMissionSent: -1}
	f.legs = make([]float64, len(d.Route)+1)
	for i := range d.Route {
		a, b := d.Route[i], d.Route[(i+1)%len(d.Route)]
		f.legs[i+1] = f.legs[i] + distance(a, b)
	}
	f.loop = f.legs[len(d.Route)]
	f.lat, f.lon = d.Route[0][0], d.Route[0][1]
	if d.OnGround {
		f.mode = modeStabilize
	} else {
		f.mode, f.armed, f.patrolling, f.alt = modeAuto, true, true, d.Altitude
		f.patrolAt(0)
	}
	return f
}

// patrolAt puts the drone at distance s along its route loop, flying it.
func (f *flight) patrolAt(s float64) {
	f.patrolS = s
	s = math.Mod(s, f.loop)
	i := 0
	for i < len(f.d.Route)-1 && f.legs[i+1] <= s {
		i++
	}
	a, b := f.d.Route[i], f.d.Route[(i+1)%len(f.d.Route)]
	leg := f.legs[i+1] - f.legs[i]
	frac := 0.0
	if leg > 0 {
		frac = (s - f.legs[i]) / leg
	}
	f.lat = a[0] + (b[0]-a[0])*frac
	f.lon = a[1] + (b[1]-a[1])*frac
	f.heading = bearing(a, b)
	r := f.heading * math.Pi / 180
	f.vn, f.ve, f.vz = f.speed*math.Cos(r), f.speed*math.Sin(r), 0
}

// advance moves the drone on to time t since start.
func (f *flight) advance(t time.Duration) {
	dt := (t - f.t).Seconds()
	f.t = t
	if dt <= 0 {
		return
	}
	if f.up != nil && t-f.up.last > uploadWait {
		f.up = nil // the ground station went quiet mid-upload
	}
	if f.mode == modeAuto && f.patrolling && f.armed {
		// Back on the route where it left it, then round the loop.
		want := f.patrolS
		p := f.routeAt(want)
		if distance([2]float64{f.lat, f.lon}, p) > reachRadius || math.Abs(f.alt-f.d.Altitude) > 0.05 {
			f.move(p[0], p[1], f.d.Altitude, dt, f.speed, climbRate*2)
		} else {
			f.alt = f.d.Altitude
			f.patrolAt(f.patrolS + f.speed*dt)
		}
	} else {
		f.fly(dt)
	}
	if f.armed {
		f.armedFor += time.Duration(dt * float64(time.Second))
	}
	f.battery = math.Max(0, 100-100*float64(f.armedFor)/float64(f.d.Battery))
	if f.battery < 15 && f.patrolling {
		f.armedFor = 0
		f.battery = 100
		f.texts = append(f.texts, "Battery swapped: 100%")
	}
}

// routeAt is the point at distance s along the route loop.
func (f *flight) routeAt(s float64) [2]float64 {
	saved := *f
	f.patrolAt(s)
	p := [2]float64{f.lat, f.lon}
	f.lat, f.lon, f.heading, f.vn, f.ve, f.vz, f.patrolS = saved.lat, saved.lon, saved.heading, saved.vn, saved.ve, saved.vz, saved.patrolS
	return p
}

func (f *flight) groundSpeed() float64 {
	if f.patrolling && f.armed && f.mode == modeAuto {
		return f.speed
	}
	return math.Hypot(f.vn, f.ve)
}

func (f *flight) bootMs() uint32 { return uint32(f.t.Milliseconds()) }

func (f *flight) heartbeat() *ardupilotmega.MessageHeartbeat {
	base := ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | ardupilotmega.MAV_MODE_FLAG_STABILIZE_ENABLED
	switch f.mode {
	case modeAuto:
		base |= ardupilotmega.MAV_MODE_FLAG_GUIDED_ENABLED | ardupilotmega.MAV_MODE_FLAG_AUTO_ENABLED
	case modeGuided:
		base |= ardupilotmega.MAV_MODE_FLAG_GUIDED_ENABLED
	}
	status := ardupilotmega.MAV_STATE_STANDBY
	if f.armed {
		base |= ardupilotmega.MAV_MODE_FLAG_SAFETY_ARMED
		status = ardupilotmega.MAV_STATE_ACTIVE
	}
	return &ardupilotmega.MessageHeartbeat{
		Type:           f.typ,
		Autopilot:      ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA,
		BaseMode:       base,
		CustomMode:     f.modeNumber(f.mode),
		SystemStatus:   status,
		MavlinkVersion: 3,
	}
}

// extendedState is the landed state.
func (f *flight) extendedState() *ardupilotmega.MessageExtendedSysState {
	s := ardupilotmega.MAV_LANDED_STATE_ON_GROUND
	switch {
	case f.flying() && f.vz > 0.1 && f.takeoff > 0:
		s = ardupilotmega.MAV_LANDED_STATE_TAKEOFF
	case f.flying() && f.vz < -0.1 && (f.mode == modeLand || f.mode == modeRTL):
		s = ardupilotmega.MAV_LANDED_STATE_LANDING
	case f.flying():
		s = ardupilotmega.MAV_LANDED_STATE_IN_AIR
	}
	vtol := ardupilotmega.MAV_VTOL_STATE_UNDEFINED
	if f.plane() {
		vtol = ardupilotmega.MAV_VTOL_STATE_FW
	}
	return &ardupilotmega.MessageExtendedSysState{VtolState: vtol, LandedState: s}
}

// missionCurrent is the mission item flown, once a mission is loaded.
func (f *flight) missionCurrent() *ardupilotmega.MessageMissionCurrent {
	if len(f.mission) < 2 {
		return nil
	}
	state := ardupilotmega.MISSION_STATE_NOT_STARTED
	switch {
	case f.cur >= len(f.mission):
		state = ardupilotmega.MISSION_STATE_COMPLETE
	case f.mode == modeAuto && f.paused:
		state = ardupilotmega.MISSION_STATE_PAUSED
	case f.mode == modeAuto:
		state = ardupilotmega.MISSION_STATE_ACTIVE
	case f.cur > 1:
		state = ardupilotmega.MISSION_STATE_PAUSED
	}
	return &ardupilotmega.MessageMissionCurrent{Seq: uint16(min(max(f.cur, 0), len(f.mission)-1)), Total: uint16(len(f.mission) - 1), MissionState: state}
}

func (f *flight) globalPosition() *ardupilotmega.MessageGlobalPositionInt {
	return &ardupilotmega.MessageGlobalPositionInt{
		TimeBootMs:  f.bootMs(),
		Lat:         int32(math.Round(f.lat * 1e7)),
		Lon:         int32(math.Round(f.lon * 1e7)),
		Alt:         int32(math.Round((f.ground + f.alt) * 1000)),
		RelativeAlt: int32(math.Round(f.alt * 1000)),
		Vx:          int16(math.Round(f.vn * 100)),
		Vy:          int16(math.Round(f.ve * 100)),
		Vz:          int16(math.Round(-f.vz * 100)),
		Hdg:         uint16(math.Round(f.heading*100)) % 36000,
	}
}

func (f *flight) attitude() *ardupilotmega.MessageAttitude {
	wobble := math.Sin(f.t.Seconds() * 1.3)
	yaw := f.heading
	if yaw > 180 {
		yaw -= 360
	}
	return &ardupilotmega.MessageAttitude{
		TimeBootMs: f.bootMs(),
		Roll:       float32(0.02 * wobble),
		Pitch:      float32(-0.05 + 0.01*wobble), // nose slightly down in forward flight
		Yaw:        float32(yaw * math.Pi / 180),
	}
}

func (f *flight) gpsRaw() *ardupilotmega.MessageGpsRawInt {
	if !f.positioned() { // still acquiring satellites
		return &ardupilotmega.MessageGpsRawInt{TimeUsec: uint64(f.t.Microseconds()), FixType: ardupilotmega.GPS_FIX_TYPE_NO_FIX,
			Eph: math.MaxUint16, Epv: math.MaxUint16, SatellitesVisible: 3}
	}
	return &ardupilotmega.MessageGpsRawInt{
		TimeUsec:          uint64(f.t.Microseconds()),
		FixType:           ardupilotmega.GPS_FIX_TYPE_3D_FIX,
		Lat:               int32(math.Round(f.lat * 1e7)),
		Lon:               int32(math.Round(f.lon * 1e7)),
		Alt:               int32(math.Round((f.ground + f.alt) * 1000)),
		Eph:               80, // 0.8 m
		Epv:               120,
		Vel:               uint16(math.Round(f.groundSpeed() * 100)),
		Cog:               uint16(math.Round(f.heading*100)) % 36000,
		SatellitesVisible: 14,
	}
}

func (f *flight) voltage() float64 { return 14.0 + 2.8*f.battery/100 } // a 4S pack

func (f *flight) sysStatus() *ardupilotmega.MessageSysStatus {
	return &ardupilotmega.MessageSysStatus{
		Load:             250,
		VoltageBattery:   uint16(f.voltage() * 1000),
		CurrentBattery:   int16(1800 + 200*math.Sin(f.t.Seconds())),
		BatteryRemaining: int8(f.battery),
	}
}

func (f *flight) batteryStatus() *ardupilotmega.MessageBatteryStatus {
	m := &ardupilotmega.MessageBatteryStatus{
		Id:               0,
		BatteryFunction:  ardupilotmega.MAV_BATTERY_FUNCTION_ALL,
		Type:             ardupilotmega.MAV_BATTERY_TYPE_LIPO,
		Temperature:      3100,
		CurrentBattery:   1800,
		CurrentConsumed:  int32(5000 * (100 - f.battery) / 100),
		EnergyConsumed:   -1,
		BatteryRemaining: int8(f.battery),
	}
	for i := range m.Voltages {
		m.Voltages[i] = math.MaxUint16
	}
	m.Voltages[0] = uint16(f.voltage() * 1000)
	return m
}

func (f *flight) vfrHud() *ardupilotmega.MessageVfrHud {
	return &ardupilotmega.MessageVfrHud{
		Airspeed:    float32(f.groundSpeed()),
		Groundspeed: float32(f.groundSpeed()),
		Heading:     int16(math.Round(f.heading)) % 360,
		Throttle:    uint16(b2i(f.armed) * 45),
		Alt:         float32(f.ground + f.alt),
		Climb:       float32(f.vz),
	}
}

// mount is where the camera points: 45° down, looking ahead, until a
// gimbal command moves it.
func (f *flight) mount() *ardupilotmega.MessageMountOrientation {
	return &ardupilotmega.MessageMountOrientation{TimeBootMs: f.bootMs(), Pitch: float32(f.gimbalPitch), Yaw: float32(f.gimbalYaw),
		YawAbsolute: float32(math.Mod(f.heading+f.gimbalYaw+360, 360))}
}

// gimbal is the mount's attitude as a gimbal device reports it (yaw
// relative to the vehicle).
func (f *flight) gimbal() *ardupilotmega.MessageGimbalDeviceAttitudeStatus {
	p, y := f.gimbalPitch*math.Pi/360, f.gimbalYaw*math.Pi/360 // half angles
	// Roll 0: q = yaw ⊗ pitch.
	q := [4]float32{float32(math.Cos(y) * math.Cos(p)), float32(-math.Sin(y) * math.Sin(p)), float32(math.Cos(y) * math.Sin(p)), float32(math.Sin(y) * math.Cos(p))}
	return &ardupilotmega.MessageGimbalDeviceAttitudeStatus{TimeBootMs: f.bootMs(), Q: q, Flags: ardupilotmega.GIMBAL_DEVICE_FLAGS_YAW_IN_VEHICLE_FRAME,
		DeltaYaw: float32(math.NaN()), DeltaYawVelocity: float32(math.NaN()), GimbalDeviceId: 1}
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (f *flight) home() *ardupilotmega.MessageHomePosition {
	h := f.d.Route[0]
	return &ardupilotmega.MessageHomePosition{
		Latitude:  int32(math.Round(h[0] * 1e7)),
		Longitude: int32(math.Round(h[1] * 1e7)),
		Altitude:  int32(math.Round(f.ground * 1000)),
		Q:         [4]float32{1, 0, 0, 0},
	}
}

const earthRadius = 6371008.8 // metres, mean

// distance is the great-circle distance between two [lat, lon] points in metres.
func distance(a, b [2]float64) float64 {
	la1, la2 := a[0]*math.Pi/180, b[0]*math.Pi/180
	dla, dlo := la2-la1, (b[1]-a[1])*math.Pi/180
	h := math.Sin(dla/2)*math.Sin(dla/2) + math.Cos(la1)*math.Cos(la2)*math.Sin(dlo/2)*math.Sin(dlo/2)
	return 2 * earthRadius * math.Asin(math.Sqrt(h))
}

// bearing is the initial course from a to b, degrees clockwise from north.
func bearing(a, b [2]float64) float64 {
	la1, la2 := a[0]*math.Pi/180, b[0]*math.Pi/180
	dlo := (b[1] - a[1]) * math.Pi / 180
	y := math.Sin(dlo) * math.Cos(la2)
	x := math.Cos(la1)*math.Sin(la2) - math.Sin(la1)*math.Cos(la2)*math.Cos(dlo)
	return math.Mod(math.Atan2(y, x)*180/math.Pi+360, 360)
}
