package sim

// The simulated autopilot answers a ground station as ArduCopter 4.7
// answered one, measured in software-in-the-loop simulation over MAVLink;
// each behaviour below names what it reproduces.
//
//   - COMMAND_ACK comes at once (0–6 ms measured). ACCEPTED means started,
//     not done: the outcome shows in the telemetry (the heartbeat's mode
//     and armed flag, the position, EXTENDED_SYS_STATE's landed state,
//     MISSION_CURRENT and MISSION_ITEM_REACHED). IN_PROGRESS is never sent
//     (ArduPilot uses it for calibrations only).
//   - A refusal is FAILED or DENIED with result_param2 0; the reason, when
//     there is one, comes as a STATUSTEXT just before the ack ("Arm: AHRS:
//     waiting for home", "Arm: Need Position Estimate").
//   - Arming fails until the pre-arm period after start is over (the EKF
//     and GPS settling: 38 s measured; Drone.PreArm). Take-off fails while
//     disarmed, while already flying, and outside GUIDED.
//   - The confirmation field is ignored: the same COMMAND_LONG sent twice
//     runs twice.
//   - MAV_CMD_DO_REPOSITION is taken only as COMMAND_INT; as COMMAND_LONG
//     it is UNSUPPORTED. Without the change-mode flag outside GUIDED it is
//     DENIED; a latitude beyond ±90° is DENIED; a target outside the
//     enabled fence FAILS at once and the vehicle stays put.
//   - NAV_TAKEOFF climbs at about 1.5 m/s (18 m in 12.2 s measured);
//     RTL climbs to 15 m if lower, flies home and lands; LAND descends at
//     1.5 m/s above 10 m and 0.5 m/s below (ArduCopter's LAND_SPEED_HIGH
//     and LAND_SPEED), and disarms itself on the ground.
//   - Missions and fences: the mission protocol (count, item requests,
//     items, ack) with seq 0 of a mission the home position; an upload
//     answered without re-requests and read back whole. MISSION_START in
//     AUTO flies it, DO_PAUSE_CONTINUE 0/1 holds and resumes.
//   - Gimbal commands FAIL without a mount (Drone.NoMount); with one they
//     are accepted and the mount's attitude follows
//     (GIMBAL_DEVICE_ATTITUDE_STATUS, MOUNT_ORIENTATION).
//   - Any other command id is UNSUPPORTED. Mode numbers are ArduPilot's
//     own (Copter: AUTO 3, GUIDED 4, LOITER 5, RTL 6, LAND 9, BRAKE 17).
//   - Frames addressed to another system are ignored; with a signing key,
//     unsigned frames are refused (MAVLink 2 signing).
//
// Not measured, and chosen as ArduCopter documents it: disarming in flight
// without force fails; a vehicle armed on the ground that does not take
// off disarms itself after 10 s (DISARM_DELAY).

import (
	"math"
	"time"

	ap "github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"
	"github.com/bluenviron/gomavlib/v3/pkg/message"
)

// Flight modes by name; each vehicle type numbers them its own way.
const (
	modeStabilize = "STABILIZE"
	modeAuto      = "AUTO"
	modeGuided    = "GUIDED"
	modeLoiter    = "LOITER"
	modeRTL       = "RTL"
	modeLand      = "LAND"
	modeBrake     = "BRAKE"
)

var (
	copterModes = map[string]uint32{modeStabilize: 0, modeAuto: 3, modeGuided: 4, modeLoiter: 5, modeRTL: 6, modeLand: 9, modeBrake: 17}
	planeModes  = map[string]uint32{"MANUAL": 0, modeAuto: 10, modeRTL: 11, modeLoiter: 12, modeGuided: 15, modeStabilize: 2, "QLAND": 20}
)

// Rates as ArduCopter's defaults have them.
const (
	climbRate    = 1.5  // m/s, take-off (measured: 18 m in 12.2 s)
	landFast     = 1.5  // m/s above landSlowBelow
	landSlow     = 0.5  // m/s
	landSlowAt   = 10.0 // m
	rtlAltitude  = 15.0 // m, RTL_ALT
	reachRadius  = 1.0  // m, a waypoint reached
	disarmDelay  = 10 * time.Second
	landedDisarm = time.Second
	forceDisarm  = 21196
	uploadWait   = 5 * time.Second // an upload that stalls this long is dropped
)

// reply is a message to send, and the STATUSTEXTs to send before it.
type reply struct {
	texts []string
	msg   message.Message
}

// upload is a mission or fence being received.
type upload struct {
	kind  ap.MAV_MISSION_TYPE
	items []ap.MessageMissionItemInt
	next  int
	last  time.Duration
}

func (f *flight) modeNumber(name string) uint32 {
	if f.plane() {
		return planeModes[name]
	}
	return copterModes[name]
}

func (f *flight) modeByNumber(n uint32) (string, bool) {
	table := copterModes
	if f.plane() {
		table = planeModes
	}
	for name, v := range table {
		if v == n {
			return name, true
		}
	}
	return "", false
}

func (f *flight) plane() bool { return f.typ == ap.MAV_TYPE_FIXED_WING }

// flying reports the vehicle off the ground.
func (f *flight) flying() bool { return f.alt > 0.5 }

// ready reports the pre-arm period over: home set, position estimate good.
func (f *flight) ready() bool { return f.t >= f.d.PreArm }

// positioned reports a GPS fix and home set: a quarter into pre-arm, 5 s
// at most.
func (f *flight) positioned() bool { return f.t >= min(f.d.PreArm/4, 5*time.Second) }

// handle answers one message from a ground station (sys, comp); what to
// send back is queued on f.out.
func (f *flight) handle(m message.Message, sys, comp uint8) {
	ack := func(cmd common.MAV_CMD, res ap.MAV_RESULT, texts ...string) {
		f.out = append(f.out, reply{texts: texts, msg: &ap.MessageCommandAck{Command: cmd, Result: res, TargetSystem: sys, TargetComponent: comp}})
	}
	mine := func(ts, tc uint8) bool { return (ts == f.d.SystemID || ts == 0) && (tc == 1 || tc == 0) }
	switch m := m.(type) {
	case *ap.MessageCommandLong:
		if !mine(m.TargetSystem, m.TargetComponent) {
			return
		}
		if m.Command == common.MAV_CMD_DO_REPOSITION || m.Command == common.MAV_CMD_DO_SET_ROI_LOCATION {
			// ArduPilot converts COMMAND_LONG to COMMAND_INT for a few
			// commands only: not these.
			ack(m.Command, ap.MAV_RESULT_UNSUPPORTED)
			return
		}
		res, texts := f.command(m.Command, [7]float64{float64(m.Param1), float64(m.Param2), float64(m.Param3), float64(m.Param4), float64(m.Param5), float64(m.Param6), float64(m.Param7)}, ap.MAV_FRAME_GLOBAL)
		ack(m.Command, res, texts...)
	case *ap.MessageCommandInt:
		if !mine(m.TargetSystem, m.TargetComponent) {
			return
		}
		res, texts := f.command(m.Command, [7]float64{float64(m.Param1), float64(m.Param2), float64(m.Param3), float64(m.Param4), float64(m.X) / 1e7, float64(m.Y) / 1e7, float64(m.Z)}, m.Frame)
		ack(m.Command, res, texts...)
	case *ap.MessageMissionCount:
		if !mine(m.TargetSystem, m.TargetComponent) {
			return
		}
		if m.Count == 0 {
			f.store(m.MissionType, nil)
			f.out = append(f.out, reply{msg: &ap.MessageMissionAck{TargetSystem: sys, TargetComponent: comp, Type: ap.MAV_MISSION_ACCEPTED, MissionType: m.MissionType}})
			return
		}
		f.up = &upload{kind: m.MissionType, items: make([]ap.MessageMissionItemInt, m.Count), last: f.t}
		f.out = append(f.out, reply{msg: &ap.MessageMissionRequestInt{TargetSystem: sys, TargetComponent: comp, Seq: 0, MissionType: m.MissionType}})
	case *ap.MessageMissionItemInt:
		if !mine(m.TargetSystem, m.TargetComponent) || f.up == nil || m.MissionType != f.up.kind {
			return
		}
		if int(m.Seq) != f.up.next {
			// Out of order: ask again for the one expected.
			f.out = append(f.out, reply{msg: &ap.MessageMissionRequestInt{TargetSystem: sys, TargetComponent: comp, Seq: uint16(f.up.next), MissionType: f.up.kind}})
			return
		}
		f.up.items[f.up.next] = *m
		f.up.next++
		f.up.last = f.t
		if f.up.next < len(f.up.items) {
			f.out = append(f.out, reply{msg: &ap.MessageMissionRequestInt{TargetSystem: sys, TargetComponent: comp, Seq: uint16(f.up.next), MissionType: f.up.kind}})
			return
		}
		res := f.store(f.up.kind, f.up.items)
		f.out = append(f.out, reply{msg: &ap.MessageMissionAck{TargetSystem: sys, TargetComponent: comp, Type: res, MissionType: f.up.kind}})
		f.up = nil
	case *ap.MessageMissionRequestList:
		if !mine(m.TargetSystem, m.TargetComponent) {
			return
		}
		f.out = append(f.out, reply{msg: &ap.MessageMissionCount{TargetSystem: sys, TargetComponent: comp, Count: uint16(len(f.items(m.MissionType))), MissionType: m.MissionType}})
	case *ap.MessageMissionRequestInt:
		if mine(m.TargetSystem, m.TargetComponent) {
			f.sendItem(m.Seq, m.MissionType, sys, comp)
		}
	case *ap.MessageMissionRequest:
		if mine(m.TargetSystem, m.TargetComponent) {
			f.sendItem(m.Seq, m.MissionType, sys, comp)
		}
	case *ap.MessageMissionClearAll:
		if mine(m.TargetSystem, m.TargetComponent) {
			f.store(m.MissionType, nil)
			f.out = append(f.out, reply{msg: &ap.MessageMissionAck{TargetSystem: sys, TargetComponent: comp, Type: ap.MAV_MISSION_ACCEPTED, MissionType: m.MissionType}})
		}
	}
}

// items are the stored plan of a kind; a mission's seq 0 is home.
func (f *flight) items(kind ap.MAV_MISSION_TYPE) []ap.MessageMissionItemInt {
	switch kind {
	case ap.MAV_MISSION_TYPE_MISSION:
		home := ap.MessageMissionItemInt{Seq: 0, Frame: ap.MAV_FRAME_GLOBAL, Command: common.MAV_CMD_NAV_WAYPOINT, Autocontinue: 1,
			X: int32(math.Round(f.d.Route[0][0] * 1e7)), Y: int32(math.Round(f.d.Route[0][1] * 1e7)), Z: float32(f.ground)}
		if len(f.mission) == 0 {
			return []ap.MessageMissionItemInt{home}
		}
		out := append([]ap.MessageMissionItemInt(nil), f.mission...)
		out[0] = home
		return out
	case ap.MAV_MISSION_TYPE_FENCE:
		return f.fence
	}
	return nil
}

func (f *flight) sendItem(seq uint16, kind ap.MAV_MISSION_TYPE, sys, comp uint8) {
	items := f.items(kind)
	if int(seq) >= len(items) {
		f.out = append(f.out, reply{msg: &ap.MessageMissionAck{TargetSystem: sys, TargetComponent: comp, Type: ap.MAV_MISSION_INVALID_SEQUENCE, MissionType: kind}})
		return
	}
	it := items[seq]
	it.TargetSystem, it.TargetComponent, it.Seq, it.MissionType = sys, comp, seq, kind
	f.out = append(f.out, reply{msg: &it})
}

// store keeps an uploaded plan.
func (f *flight) store(kind ap.MAV_MISSION_TYPE, items []ap.MessageMissionItemInt) ap.MAV_MISSION_RESULT {
	switch kind {
	case ap.MAV_MISSION_TYPE_MISSION:
		f.mission = items
		f.cur = 0
		if f.mode == modeAuto && !f.patrolling {
			f.mode = modeLoiter // its mission changed under it: hold
		}
	case ap.MAV_MISSION_TYPE_FENCE:
		for _, it := range items {
			switch it.Command {
			case common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION,
				common.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, common.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION, common.MAV_CMD_NAV_FENCE_RETURN_POINT:
			default:
				return ap.MAV_MISSION_UNSUPPORTED
			}
		}
		f.fence = items
	default:
		return ap.MAV_MISSION_UNSUPPORTED
	}
	return ap.MAV_MISSION_ACCEPTED
}

// command runs one command (params 5–7 are latitude, longitude and
// altitude for the position commands) and says how it went.
func (f *flight) command(cmd common.MAV_CMD, p [7]float64, frame ap.MAV_FRAME) (ap.MAV_RESULT, []string) {
	switch cmd {
	case common.MAV_CMD_COMPONENT_ARM_DISARM:
		if p[0] == 1 {
			switch {
			case f.armed:
				return ap.MAV_RESULT_ACCEPTED, nil
			case !f.positioned():
				return ap.MAV_RESULT_FAILED, []string{"Arm: AHRS: waiting for home"}
			case !f.ready():
				return ap.MAV_RESULT_FAILED, []string{"Arm: Need Position Estimate"}
			case f.mode == modeAuto || f.mode == modeRTL || f.mode == modeLand:
				return ap.MAV_RESULT_FAILED, []string{"Arm: Mode not armable"}
			}
			f.armed, f.groundFor, f.armedAt = true, 0, f.t
			return ap.MAV_RESULT_ACCEPTED, nil
		}
		if f.flying() && p[1] != forceDisarm {
			return ap.MAV_RESULT_FAILED, []string{"Disarm: vehicle is flying"}
		}
		f.disarm()
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_NAV_TAKEOFF:
		if !f.armed || f.flying() || f.mode != modeGuided || p[6] <= 0 {
			return ap.MAV_RESULT_FAILED, nil
		}
		f.takeoff, f.target = p[6], nil
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_REPOSITION:
		lat, lon, alt := p[4], p[5], p[6]
		switch {
		case math.Abs(lat) > 90 || math.Abs(lon) > 180:
			return ap.MAV_RESULT_DENIED, nil
		case f.mode != modeGuided && int(p[1])&int(ap.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE) == 0:
			return ap.MAV_RESULT_DENIED, nil
		case !f.armed || !f.flying():
			return ap.MAV_RESULT_FAILED, nil
		case !f.insideFence(lat, lon):
			return ap.MAV_RESULT_FAILED, nil
		}
		if frame == ap.MAV_FRAME_GLOBAL || frame == ap.MAV_FRAME_GLOBAL_INT {
			alt -= f.ground // absolute: above home
		}
		if alt == 0 || math.IsNaN(alt) {
			alt = f.alt
		}
		f.mode, f.target, f.takeoff, f.paused = modeGuided, &[3]float64{lat, lon, alt}, 0, false
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_SET_MODE:
		name, ok := f.modeByNumber(uint32(p[1]))
		if !ok || int(p[0])&int(ap.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED) == 0 {
			return ap.MAV_RESULT_FAILED, nil
		}
		if name != modeStabilize && name != modeLand && !f.positioned() {
			return ap.MAV_RESULT_FAILED, []string{"Mode change failed: requires position"}
		}
		if name == modeAuto && len(f.mission) < 2 && !f.patrols() {
			return ap.MAV_RESULT_FAILED, []string{"Mode change failed: no mission"}
		}
		f.setMode(name)
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_NAV_RETURN_TO_LAUNCH:
		f.setMode(modeRTL)
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_NAV_LAND:
		f.setMode(modeLand)
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_MISSION_START:
		if !f.armed || len(f.mission) < 2 {
			return ap.MAV_RESULT_FAILED, nil
		}
		f.patrolling = false
		f.setMode(modeAuto)
		f.cur = max(1, int(p[0]))
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_PAUSE_CONTINUE:
		f.paused = p[0] == 0
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_CHANGE_SPEED:
		if p[1] <= 0 {
			return ap.MAV_RESULT_FAILED, nil
		}
		f.speed = p[1]
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, common.MAV_CMD_DO_MOUNT_CONTROL:
		if f.d.NoMount {
			return ap.MAV_RESULT_FAILED, nil
		}
		pitch, yaw := p[0], p[1]
		if cmd == common.MAV_CMD_DO_MOUNT_CONTROL {
			yaw = p[2]
		}
		if !math.IsNaN(pitch) {
			f.gimbalPitch = math.Max(-90, math.Min(30, pitch))
		}
		if !math.IsNaN(yaw) {
			f.gimbalYaw = yaw
		}
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_SET_ROI_LOCATION, common.MAV_CMD_DO_SET_ROI_NONE:
		return ap.MAV_RESULT_ACCEPTED, nil
	case common.MAV_CMD_DO_FENCE_ENABLE:
		f.fenceOn = p[0] == 1
		return ap.MAV_RESULT_ACCEPTED, nil
	}
	return ap.MAV_RESULT_UNSUPPORTED, nil
}

func (f *flight) setMode(name string) {
	if name != f.mode {
		f.target, f.takeoff, f.paused = nil, 0, false
	}
	if name == modeAuto && len(f.mission) >= 2 {
		f.patrolling = false
		if f.cur < 1 {
			f.cur = 1
		}
	} else if name == modeAuto {
		f.patrolling = true
	}
	f.mode = name
}

// patrols reports a configured patrol to fly in AUTO without a mission.
func (f *flight) patrols() bool { return !f.d.OnGround }

func (f *flight) disarm() {
	f.armed, f.takeoff, f.target = false, 0, nil
	f.vn, f.ve, f.vz = 0, 0, 0
}

// insideFence checks a point against the enabled fence as ArduPilot's
// polygon fence does: inside every inclusion zone, outside every
// exclusion zone.
func (f *flight) insideFence(lat, lon float64) bool {
	if !f.fenceOn {
		return true
	}
	pt := [2]float64{lat, lon}
	for i := 0; i < len(f.fence); {
		it := f.fence[i]
		c := [2]float64{float64(it.X) / 1e7, float64(it.Y) / 1e7}
		switch it.Command {
		case common.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION, common.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION:
			in := distance(pt, c) <= float64(it.Param1)
			if in != (it.Command == common.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION) {
				return false
			}
			i++
		case common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION, common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION:
			n := max(int(it.Param1), 1)
			var ring [][2]float64
			for j := i; j < i+n && j < len(f.fence); j++ {
				ring = append(ring, [2]float64{float64(f.fence[j].X) / 1e7, float64(f.fence[j].Y) / 1e7})
			}
			if inPolygon(pt, ring) != (it.Command == common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION) {
				return false
			}
			i += n
		default:
			i++
		}
	}
	return true
}

// inPolygon is the even-odd rule on [lat, lon] vertices.
func inPolygon(p [2]float64, ring [][2]float64) bool {
	in := false
	for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
		a, b := ring[i], ring[j]
		if (a[0] > p[0]) != (b[0] > p[0]) && p[1] < (b[1]-a[1])*(p[0]-a[0])/(b[0]-a[0])+a[1] {
			in = !in
		}
	}
	return in
}

// move flies towards (lat, lon, alt) for dt at most hs m/s across and vs
// m/s up or down; it reports arriving.
func (f *flight) move(lat, lon, alt, dt, hs, vs float64) bool {
	n, e := offset([2]float64{f.lat, f.lon}, [2]float64{lat, lon})
	d := math.Hypot(n, e)
	step := math.Min(hs*dt, d)
	if d > 1e-6 {
		f.vn, f.ve = hs*n/d, hs*e/d
		if step >= d {
			f.vn, f.ve = 0, 0
		}
		f.lat += (n / d) * step / earthRadius * 180 / math.Pi
		f.lon += (e / d) * step / (earthRadius * math.Cos(f.lat*math.Pi/180)) * 180 / math.Pi
		if step >= d {
			f.lat, f.lon = lat, lon
		}
		f.heading = math.Mod(math.Atan2(e, n)*180/math.Pi+360, 360)
	} else {
		f.vn, f.ve = 0, 0
	}
	dz := alt - f.alt
	vstep := math.Min(vs*dt, math.Abs(dz))
	f.vz = 0
	if dz != 0 {
		f.alt += math.Copysign(vstep, dz)
		if vstep < math.Abs(dz) {
			f.vz = math.Copysign(vs, dz)
		}
	}
	return d-step <= 1e-3 && math.Abs(alt-f.alt) < 0.05
}

// hover stops where it is.
func (f *flight) hover() { f.vn, f.ve, f.vz = 0, 0, 0 }

// descend lands where it is; it reports touching down.
func (f *flight) descend(dt float64) bool {
	rate := landSlow
	if f.alt > landSlowAt {
		rate = landFast
	}
	f.vn, f.ve = 0, 0
	f.alt -= rate * dt
	f.vz = -rate
	if f.alt <= 0 {
		f.alt, f.vz = 0, 0
		return true
	}
	return false
}

// fly advances the commanded flight by dt seconds.
func (f *flight) fly(dt float64) {
	speed := f.speed
	switch {
	case !f.armed:
		f.hover()
		if f.alt > 0 { // disarmed in the air (forced): it falls, as it would
			f.alt = math.Max(0, f.alt-5*dt)
		}
		return
	case f.mode == modeGuided:
		switch {
		case f.paused:
			f.hover()
		case f.takeoff > 0:
			if f.move(f.lat, f.lon, f.takeoff, dt, 0, climbRate) {
				f.takeoff = 0
			}
		case f.target != nil:
			f.move(f.target[0], f.target[1], f.target[2], dt, speed, climbRate*2)
		default:
			f.hover()
		}
	case f.mode == modeAuto && !f.patrolling:
		f.flyMission(dt, speed)
	case f.mode == modeRTL:
		home := f.d.Route[0]
		far := distance([2]float64{f.lat, f.lon}, home) > reachRadius
		switch {
		case far && f.alt < rtlAltitude-0.05:
			f.move(f.lat, f.lon, rtlAltitude, dt, 0, climbRate*2)
		case far:
			f.move(home[0], home[1], f.alt, dt, speed, climbRate*2)
		default:
			f.land(dt)
		}
	case f.mode == modeLand:
		f.land(dt)
	default: // LOITER, BRAKE, STABILIZE without sticks
		f.hover()
	}
	if f.mode == modeLand || f.mode == modeRTL {
		return // land() counts its own time on the ground
	}
	if !f.flying() && f.armed && f.takeoff == 0 {
		// Armed on the ground and not taking off.
		f.groundFor += time.Duration(dt * float64(time.Second))
		if f.groundFor >= disarmDelay {
			f.disarm()
			f.texts = append(f.texts, "Disarming motors")
		}
	} else {
		f.groundFor = 0
	}
}

// land descends, then disarms on the ground.
func (f *flight) land(dt float64) {
	if !f.descend(dt) {
		f.groundFor = 0
		return
	}
	f.groundFor += time.Duration(dt * float64(time.Second))
	if f.groundFor >= landedDisarm {
		f.disarm()
		f.texts = append(f.texts, "Disarming motors")
	}
}

// flyMission flies the uploaded mission's current item.
func (f *flight) flyMission(dt, speed float64) {
	if f.paused || f.cur >= len(f.mission) {
		f.hover()
		return
	}
	it := f.mission[f.cur]
	done := false
	switch it.Command {
	case common.MAV_CMD_NAV_WAYPOINT:
		alt := float64(it.Z)
		if it.Frame == ap.MAV_FRAME_GLOBAL || it.Frame == ap.MAV_FRAME_GLOBAL_INT {
			alt -= f.ground
		}
		done = f.move(float64(it.X)/1e7, float64(it.Y)/1e7, alt, dt, speed, climbRate*2)
	case common.MAV_CMD_NAV_TAKEOFF:
		done = f.move(f.lat, f.lon, float64(it.Z), dt, 0, climbRate)
	case common.MAV_CMD_NAV_RETURN_TO_LAUNCH:
		f.reached = append(f.reached, uint16(f.cur))
		f.setMode(modeRTL)
		return
	case common.MAV_CMD_NAV_LAND:
		f.reached = append(f.reached, uint16(f.cur))
		f.setMode(modeLand)
		return
	default:
		done = true // DO_ commands: nothing to fly
	}
	if done {
		f.reached = append(f.reached, uint16(f.cur))
		f.cur++
	}
}

// offset is b's position from a in metres north and east (flat earth:
// fine over a site).
func offset(a, b [2]float64) (n, e float64) {
	n = (b[0] - a[0]) * math.Pi / 180 * earthRadius
	e = (b[1] - a[1]) * math.Pi / 180 * earthRadius * math.Cos((a[0]+b[0])/2*math.Pi/180)
	return n, e
}
