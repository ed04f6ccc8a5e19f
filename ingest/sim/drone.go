// Package sim flies simulated drones for the demo, the tests and anyone
// without a drone at hand. Each drone is a gomavlib node that talks MAVLink
// 2 to a target (smarteye's own link, or any ground station such as
// QGroundControl or Mission Planner) like an ArduPilot autopilot: it flies
// its patrol route in a loop at its speed and altitude, drains its battery,
// points its gimbal down, and sends HEARTBEAT (1 Hz), GLOBAL_POSITION_INT
// (10 Hz), ATTITUDE (20 Hz), GPS_RAW_INT, SYS_STATUS, BATTERY_STATUS,
// VFR_HUD, MOUNT_ORIENTATION and HOME_POSITION at the rates configured.
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
	// Route is the patrol's waypoints as [lat, lon], flown in a loop.
	Route [][2]float64
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
		if d.Speed <= 0 || d.Altitude <= 0 || d.Battery <= 0 || d.SystemID == 0 {
			errs = append(errs, fmt.Errorf("sim: drone %s: speed, altitude, battery and system id must be positive", d.Name))
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
		Endpoints:        []gomavlib.EndpointConf{ep},
		Dialect:          ardupilotmega.Dialect,
		OutVersion:       gomavlib.V2,
		OutSystemID:      d.SystemID,
		OutComponentID:   1,
		OutKey:           s.cfg.SigningKey,
		HeartbeatDisable: true,
	}
	if err := node.Initialize(); err != nil {
		return fmt.Errorf("sim: drone %s: %w", d.Name, err)
	}
	defer node.Close()
	go func() { // drain: nobody reads what the ground station says
		for range node.Events() {
		}
	}()

	typ, _ := mavType(d.Type)
	st := newFlight(d, s.cfg.GroundElevation)
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
		{every: time.Second, fn: func(time.Time) { send(st.heartbeat(typ)) }},
		{every: hz(s.cfg.PositionRate), fn: func(time.Time) { send(st.globalPosition()) }},
		{every: hz(s.cfg.AttitudeRate), fn: func(time.Time) { send(st.attitude()) }},
		{every: hz(2), fn: func(time.Time) { send(st.gpsRaw()) }},
		{every: hz(2), fn: func(time.Time) { send(st.sysStatus()) }},
		{every: time.Second, fn: func(time.Time) { send(st.batteryStatus()) }},
		{every: hz(4), fn: func(time.Time) { send(st.vfrHud()) }},
		{every: hz(5), fn: func(time.Time) { send(st.mount()) }},
		{every: 5 * time.Second, fn: func(time.Time) { send(st.home()) }},
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
		case now := <-tick.C:
			if text := st.advance(now.Sub(start)); text != "" {
				send(&ardupilotmega.MessageStatustext{Severity: ardupilotmega.MAV_SEVERITY_NOTICE, Text: text})
			}
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

// flight is a drone's simulated physical state.
type flight struct {
	d        Drone
	ground   float64
	legs     []float64 // cumulative route length at each waypoint, metres
	loop     float64   // route length, metres
	lat, lon float64
	heading  float64
	vn, ve   float64
	t        time.Duration
	battery  float64 // percent
	lastSwap time.Duration
}

func newFlight(d Drone, ground float64) *flight {
	f := &flight{d: d, ground: ground, battery: 100}
	f.legs = make([]float64, len(d.Route)+1)
	for i := range d.Route {
		a, b := d.Route[i], d.Route[(i+1)%len(d.Route)]
		f.legs[i+1] = f.legs[i] + distance(a, b)
	}
	f.loop = f.legs[len(d.Route)]
	f.advance(0)
	return f
}

// advance moves the drone to time t since start; it returns a STATUSTEXT
// to send when something noteworthy happened.
func (f *flight) advance(t time.Duration) string {
	f.t = t
	s := math.Mod(f.d.Speed*t.Seconds(), f.loop)
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
	f.vn, f.ve = f.d.Speed*math.Cos(r), f.d.Speed*math.Sin(r)
	f.battery = 100 - 100*float64(t-f.lastSwap)/float64(f.d.Battery)
	if f.battery < 15 {
		f.lastSwap = t
		f.battery = 100
		return "Battery swapped: 100%"
	}
	return ""
}

func (f *flight) bootMs() uint32 { return uint32(f.t.Milliseconds()) }

func (f *flight) heartbeat(typ ardupilotmega.MAV_TYPE) *ardupilotmega.MessageHeartbeat {
	mode := uint32(3) // copter AUTO
	if typ == ardupilotmega.MAV_TYPE_FIXED_WING {
		mode = 10 // plane AUTO
	}
	return &ardupilotmega.MessageHeartbeat{
		Type:           typ,
		Autopilot:      ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA,
		BaseMode:       ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED | ardupilotmega.MAV_MODE_FLAG_SAFETY_ARMED | ardupilotmega.MAV_MODE_FLAG_STABILIZE_ENABLED | ardupilotmega.MAV_MODE_FLAG_GUIDED_ENABLED | ardupilotmega.MAV_MODE_FLAG_AUTO_ENABLED,
		CustomMode:     mode,
		SystemStatus:   ardupilotmega.MAV_STATE_ACTIVE,
		MavlinkVersion: 3,
	}
}

func (f *flight) globalPosition() *ardupilotmega.MessageGlobalPositionInt {
	return &ardupilotmega.MessageGlobalPositionInt{
		TimeBootMs:  f.bootMs(),
		Lat:         int32(math.Round(f.lat * 1e7)),
		Lon:         int32(math.Round(f.lon * 1e7)),
		Alt:         int32(math.Round((f.ground + f.d.Altitude) * 1000)),
		RelativeAlt: int32(math.Round(f.d.Altitude * 1000)),
		Vx:          int16(math.Round(f.vn * 100)),
		Vy:          int16(math.Round(f.ve * 100)),
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
	return &ardupilotmega.MessageGpsRawInt{
		TimeUsec:          uint64(f.t.Microseconds()),
		FixType:           ardupilotmega.GPS_FIX_TYPE_3D_FIX,
		Lat:               int32(math.Round(f.lat * 1e7)),
		Lon:               int32(math.Round(f.lon * 1e7)),
		Alt:               int32(math.Round((f.ground + f.d.Altitude) * 1000)),
		Eph:               80, // 0.8 m
		Epv:               120,
		Vel:               uint16(f.d.Speed * 100),
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
		Airspeed:    float32(f.d.Speed),
		Groundspeed: float32(f.d.Speed),
		Heading:     int16(math.Round(f.heading)) % 360,
		Throttle:    45,
		Alt:         float32(f.ground + f.d.Altitude),
	}
}

// mount points the camera 45° down, looking ahead.
func (f *flight) mount() *ardupilotmega.MessageMountOrientation {
	return &ardupilotmega.MessageMountOrientation{TimeBootMs: f.bootMs(), Pitch: -45, Yaw: 0, YawAbsolute: float32(f.heading)}
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
