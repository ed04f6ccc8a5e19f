package mavlink

import (
	"fmt"
	"math"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// Units on the wire, converted here and nowhere else.
const (
	degE7 = 1e-7 // degrees per GLOBAL_POSITION_INT / GPS_RAW_INT lat, lon unit
	mm    = 1e-3 // metres per millimetre
	cm    = 1e-2 // metres per centimetre (cm/s velocities, cm EPH)
	cdeg  = 1e-2 // degrees per centidegree
	mV    = 1e-3 // volts per millivolt
	cA    = 1e-2 // amperes per centiampere
)

func rad2deg(r float32) float64 { return float64(r) * 180 / math.Pi }

// wrap360 puts an angle in [0, 360).
func wrap360(d float64) float64 {
	d = math.Mod(d, 360)
	if d < 0 {
		d += 360
	}
	return d
}

// apply folds one decoded message from the vehicle's component comp into
// v's state. It reports whether the state changed and appends any events
// the message means.
func (t *tracker) apply(msg message.Message, comp uint8, now time.Time) (changed bool) {
	v := &t.state
	switch m := msg.(type) {
	case *ardupilotmega.MessageHeartbeat:
		if comp != t.autopilotComp {
			return false // a camera's or gimbal's heartbeat says nothing of the vehicle
		}
		typ := enumWord(m.Type.String(), "MAV_TYPE_")
		ap := enumWord(m.Autopilot.String(), "MAV_AUTOPILOT_")
		armed := m.BaseMode&ardupilotmega.MAV_MODE_FLAG_SAFETY_ARMED != 0
		mode := modeName(m.Autopilot, m.Type, m.BaseMode, m.CustomMode)
		status := enumWord(m.SystemStatus.String(), "MAV_STATE_")
		if t.heartbeats > 0 {
			if armed != v.Armed {
				kind, text := "vehicle.armed", "armed"
				if !armed {
					kind, text = "vehicle.disarmed", "disarmed"
				}
				t.event(now, kind, v.Name+" "+text, nil)
			}
			if mode != v.Mode {
				t.event(now, "vehicle.mode", fmt.Sprintf("%s mode %s → %s", v.Name, v.Mode, mode), map[string]any{"from": v.Mode, "to": mode})
			}
		}
		t.heartbeats++
		if typ != v.Type || ap != v.Autopilot {
			t.identityChanged = true
		}
		v.Type, v.Autopilot, v.Armed, v.Mode, v.Status = typ, ap, armed, mode, status
		return true

	case *ardupilotmega.MessageGlobalPositionInt:
		if reason, why := t.implausiblePosition(m, now); why != "" {
			t.reject(now, reason, why)
			return false
		}
		t.lastGlobal, t.lastFix = *m, now
		t.haveGlobal = true
		v.Motion.Valid = true
		v.Motion.VNorth = float64(m.Vx) * cm
		v.Motion.VEast = float64(m.Vy) * cm
		v.Motion.VDown = float64(m.Vz) * cm
		v.Motion.GroundSpeed = math.Hypot(v.Motion.VNorth, v.Motion.VEast)
		v.Motion.ClimbRate = 0 - v.Motion.VDown + 0 // + 0: no "-0" in JSON
		if m.Hdg != math.MaxUint16 {
			v.Motion.Heading = float64(m.Hdg) * cdeg
		}
		t.updatePosition()
		return true

	case *ardupilotmega.MessageGpsRawInt:
		if m.FixType >= ardupilotmega.GPS_FIX_TYPE_2D_FIX && (m.Lat < -90e7 || m.Lat > 90e7 || m.Lon < -180e7 || m.Lon > 180e7) {
			t.reject(now, DropOutOfRange, fmt.Sprintf("GPS position %.4f, %.4f is outside WGS 84", float64(m.Lat)*degE7, float64(m.Lon)*degE7))
			return false
		}
		hadFix := t.hasFix()
		v.GPS = telemetry.GPS{
			Valid:      true,
			Fix:        int(m.FixType),
			FixName:    fixNames[m.FixType],
			Satellites: int(m.SatellitesVisible),
		}
		if m.SatellitesVisible == math.MaxUint8 {
			v.GPS.Satellites = -1
		}
		if m.Eph != math.MaxUint16 {
			v.GPS.EPH = float64(m.Eph) * cm
		}
		if m.HAcc != 0 {
			v.GPS.HAccuracy = float64(m.HAcc) * mm
		}
		if hasFix := t.hasFix(); hasFix != hadFix && t.fixKnown {
			if hasFix {
				t.event(now, "vehicle.gps_fix_acquired", fmt.Sprintf("%s GPS %s fix, %d satellites", v.Name, v.GPS.FixName, v.GPS.Satellites), nil)
			} else {
				t.event(now, "vehicle.gps_fix_lost", fmt.Sprintf("%s GPS fix lost (%s)", v.Name, v.GPS.FixName), nil)
			}
		}
		t.fixKnown = true
		t.updatePosition()
		return true

	case *ardupilotmega.MessageAttitude:
		if !finite(m.Roll, m.Pitch, m.Yaw) {
			t.reject(now, DropOutOfRange, "attitude is not a number")
			return false
		}
		v.Attitude = telemetry.Attitude{
			Valid: true,
			Roll:  rad2deg(m.Roll),
			Pitch: rad2deg(m.Pitch),
			Yaw:   wrap360(rad2deg(m.Yaw)),
		}
		return true

	case *ardupilotmega.MessageSysStatus:
		if m.VoltageBattery == math.MaxUint16 && m.BatteryRemaining == -1 {
			return false
		}
		if t.batteryStatus {
			return false // BATTERY_STATUS is the better source once seen
		}
		v.Battery.Valid = true
		if m.VoltageBattery != math.MaxUint16 {
			v.Battery.Voltage = float64(m.VoltageBattery) * mV
		}
		v.Battery.Current = 0
		if m.CurrentBattery >= 0 {
			v.Battery.Current = float64(m.CurrentBattery) * cA
		}
		v.Battery.Remaining = float64(m.BatteryRemaining)
		return true

	case *ardupilotmega.MessageBatteryStatus:
		if m.Id != 0 {
			return false // the main battery only
		}
		t.batteryStatus = true
		var volts float64
		for _, c := range m.Voltages {
			if c != math.MaxUint16 {
				volts += float64(c) * mV
			}
		}
		for _, c := range m.VoltagesExt {
			if c != 0 && c != math.MaxUint16 {
				volts += float64(c) * mV
			}
		}
		v.Battery = telemetry.Battery{Valid: true, Voltage: volts, Remaining: float64(m.BatteryRemaining)}
		if m.CurrentBattery >= 0 {
			v.Battery.Current = float64(m.CurrentBattery) * cA
		}
		if m.CurrentConsumed >= 0 {
			v.Battery.Consumed = float64(m.CurrentConsumed)
		}
		return true

	case *ardupilotmega.MessageVfrHud:
		if !finite(m.Airspeed, m.Groundspeed, m.Climb) || m.Groundspeed > maxSpeed || m.Airspeed > maxSpeed || math.Abs(float64(m.Climb)) > maxClimb {
			t.reject(now, DropOutOfRange, fmt.Sprintf("speed %.0f m/s, climb %.0f m/s is beyond any aircraft", m.Groundspeed, m.Climb))
			return false
		}
		v.Motion.Valid = true
		v.Motion.Airspeed = float64(m.Airspeed)
		v.Motion.GroundSpeed = float64(m.Groundspeed)
		v.Motion.Heading = wrap360(float64(m.Heading))
		v.Motion.Throttle = float64(m.Throttle)
		v.Motion.ClimbRate = float64(m.Climb)
		return true

	case *ardupilotmega.MessageGimbalDeviceAttitudeStatus:
		roll, pitch, yaw := quatToEuler(m.Q)
		if m.Flags&ardupilotmega.GIMBAL_DEVICE_FLAGS_YAW_IN_EARTH_FRAME != 0 {
			yaw -= v.Attitude.Yaw // make it relative to the vehicle
		}
		v.Gimbal = telemetry.Gimbal{Valid: true, Roll: roll, Pitch: pitch, Yaw: wrapSigned(yaw), Source: "GIMBAL_DEVICE_ATTITUDE_STATUS"}
		t.gimbalDevice = true
		return true

	case *ardupilotmega.MessageMountOrientation:
		if t.gimbalDevice {
			return false
		}
		v.Gimbal = telemetry.Gimbal{Valid: true, Roll: float64(m.Roll), Pitch: float64(m.Pitch), Yaw: wrapSigned(float64(m.Yaw)), Source: "MOUNT_ORIENTATION"}
		t.mountOrientation = true
		return true

	case *ardupilotmega.MessageMountStatus:
		if t.gimbalDevice || t.mountOrientation {
			return false
		}
		// pointing_a is pitch, pointing_b roll, pointing_c yaw, in centidegrees.
		v.Gimbal = telemetry.Gimbal{Valid: true, Pitch: float64(m.PointingA) * cdeg, Roll: float64(m.PointingB) * cdeg, Yaw: wrapSigned(float64(m.PointingC) * cdeg), Source: "MOUNT_STATUS"}
		return true

	case *ardupilotmega.MessageHomePosition:
		if m.Latitude == 0 && m.Longitude == 0 {
			return false
		}
		home := telemetry.Position{Valid: true, Lat: float64(m.Latitude) * degE7, Lon: float64(m.Longitude) * degE7, AltMSL: float64(m.Altitude) * mm}
		if home == v.Home {
			return false
		}
		v.Home = home
		return true

	case *ardupilotmega.MessageStatustext:
		text := t.statusText(m)
		if text == "" {
			return false
		}
		v.LastText = text
		t.event(now, "vehicle.statustext", v.Name+": "+text, map[string]any{"severity": enumWord(m.Severity.String(), "MAV_SEVERITY_")})
		return true

	case *ardupilotmega.MessageExtendedSysState:
		landed := enumWord(m.LandedState.String(), "MAV_LANDED_STATE_")
		if m.LandedState == ardupilotmega.MAV_LANDED_STATE_UNDEFINED {
			landed = ""
		}
		if landed == v.Landed {
			return false
		}
		v.Landed = landed
		return true

	case *ardupilotmega.MessageMissionCurrent:
		mp := telemetry.MissionProgress{Current: int(m.Seq), Total: int(m.Total), Reached: -1}
		if m.MissionState != 0 {
			mp.State = enumWord(m.MissionState.String(), "MISSION_STATE_")
		}
		if v.Mission != nil {
			mp.Reached = v.Mission.Reached
			if m.Total == 0 && v.Mission.Total > 0 { // MAVLink 1 senders leave it out
				mp.Total = v.Mission.Total
			}
		}
		if v.Mission != nil && *v.Mission == mp {
			return false
		}
		v.Mission = &mp
		return true

	case *ardupilotmega.MessageMissionItemReached:
		if v.Mission == nil {
			v.Mission = &telemetry.MissionProgress{Current: int(m.Seq), Reached: int(m.Seq)}
		} else {
			mp := *v.Mission
			mp.Reached = int(m.Seq)
			v.Mission = &mp
		}
		t.event(now, "vehicle.waypoint_reached", fmt.Sprintf("%s reached mission item %d", v.Name, m.Seq), map[string]any{"seq": m.Seq})
		return true

	case *ardupilotmega.MessageCommandAck:
		t.event(now, "vehicle.command_ack", fmt.Sprintf("%s %s: %s", v.Name, enumWord(m.Command.String(), "MAV_CMD_"), enumWord(m.Result.String(), "MAV_RESULT_")),
			map[string]any{"command": uint64(m.Command), "result": enumWord(m.Result.String(), "MAV_RESULT_"), "progress": m.Progress})
		return false
	}
	return false
}

// statusText joins the chunks of a long STATUSTEXT (MAVLink 2's id and
// chunk_seq); it returns the text once it is whole.
func (t *tracker) statusText(m *ardupilotmega.MessageStatustext) string {
	if m.Id == 0 {
		return m.Text
	}
	if m.Id != t.textID || m.ChunkSeq == 0 {
		t.textID, t.textBuf = m.Id, t.textBuf[:0]
	}
	t.textBuf = append(t.textBuf, m.Text...)
	if len(m.Text) < 50 || len(t.textBuf) > 50*16 { // a short chunk is the last one
		s := string(t.textBuf)
		t.textID, t.textBuf = 0, t.textBuf[:0]
		return s
	}
	return ""
}

// hasFix reports a 3D fix or better; unknown (no GPS_RAW_INT seen) is not a fix.
// Physical limits: a frame beyond them is refused (counted by reason, the
// vehicle's Rejected count, and a vehicle.implausible event at most once a
// minute), whoever sent it. They are far beyond any drone or light
// aircraft, so that only lies and corruption are refused.
const (
	minAltMSL = -500.0   // metres: below the Dead Sea's shore
	maxAltMSL = 15_000.0 // metres: above any drone, below nothing that matters here
	maxSpeed  = 200.0    // metres per second, horizontal (720 km/h)
	maxClimb  = 100.0    // metres per second, vertical
	// A position may move from the last accepted one by at most maxSpeed
	// times the time between them (at least one second) plus jumpSlack for
	// GPS glitches.
	jumpSlack = 200.0 // metres
)

func finite(xs ...float32) bool {
	for _, x := range xs {
		if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
			return false
		}
	}
	return true
}

// implausiblePosition says why a GLOBAL_POSITION_INT cannot be true, and
// the drop reason: "" when it can.
func (t *tracker) implausiblePosition(m *ardupilotmega.MessageGlobalPositionInt, now time.Time) (int, string) {
	lat, lon, alt := float64(m.Lat)*degE7, float64(m.Lon)*degE7, float64(m.Alt)*mm
	switch {
	case m.Lat == 0 && m.Lon == 0:
		return 0, "" // the autopilots' "no position" placeholder: handled as no position
	case lat < -90 || lat > 90 || lon < -180 || lon > 180:
		return DropOutOfRange, fmt.Sprintf("position %.4f, %.4f is outside WGS 84", lat, lon)
	case alt < minAltMSL || alt > maxAltMSL:
		return DropOutOfRange, fmt.Sprintf("altitude %.0f m above sea level is beyond any aircraft here", alt)
	case math.Hypot(float64(m.Vx), float64(m.Vy))*cm > maxSpeed || math.Abs(float64(m.Vz))*cm > maxClimb:
		return DropOutOfRange, fmt.Sprintf("velocity %.0f m/s is beyond any aircraft", math.Hypot(float64(m.Vx), float64(m.Vy))*cm)
	}
	last := t.lastGlobal
	if t.haveGlobal && !(last.Lat == 0 && last.Lon == 0) && !reachable(last, t.lastFix, m, now) {
		// A vehicle really moved (a simulator reset, a drone carried away
		// with its link off) keeps sending from its new place: once
		// relocateAfter positions in a row agree with one another there,
		// the new place is taken.
		if t.jumpCount > 0 && reachable(t.jumpLast, t.jumpAt, m, now) {
			t.jumpCount++
		} else {
			t.jumpCount = 1
		}
		t.jumpLast, t.jumpAt = *m, now
		if t.jumpCount >= relocateAfter {
			t.jumpCount = 0
			t.event(now, "vehicle.relocated", fmt.Sprintf("%s: position taken at %.5f, %.5f after %d consistent reports", t.state.Name, lat, lon, relocateAfter), nil)
			return 0, ""
		}
		d := haversine(float64(last.Lat)*degE7, float64(last.Lon)*degE7, lat, lon)
		return DropImpossibleJump, fmt.Sprintf("position jumped %.0f m in %.1f s", d, now.Sub(t.lastFix).Seconds())
	}
	t.jumpCount = 0
	return 0, ""
}

// relocateAfter is how many consistent positions in a row far from the
// last accepted one make it the vehicle's new place.
const relocateAfter = 10

// reachable reports whether an aircraft at a (at time ta) could be at b at tb.
func reachable(a ardupilotmega.MessageGlobalPositionInt, ta time.Time, b *ardupilotmega.MessageGlobalPositionInt, tb time.Time) bool {
	d := haversine(float64(a.Lat)*degE7, float64(a.Lon)*degE7, float64(b.Lat)*degE7, float64(b.Lon)*degE7)
	return d <= maxSpeed*max(tb.Sub(ta).Seconds(), 1)+jumpSlack
}

// haversine is the distance in metres between two WGS 84 points (on a
// sphere of the Earth's mean radius: ample for a plausibility check).
func haversine(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6_371_000.0
	p1, p2 := lat1*math.Pi/180, lat2*math.Pi/180
	dp, dl := p2-p1, (lon2-lon1)*math.Pi/180
	a := math.Sin(dp/2)*math.Sin(dp/2) + math.Cos(p1)*math.Cos(p2)*math.Sin(dl/2)*math.Sin(dl/2)
	return 2 * r * math.Asin(math.Min(1, math.Sqrt(a)))
}

// reject refuses a message whose values cannot be true.
func (t *tracker) reject(now time.Time, reason int, why string) {
	t.p.drop(reason)
	t.state.Health.Rejected++
	if now.Sub(t.lastRejectShown) >= time.Second {
		// The count shows on the live feed, at most once a second.
		t.lastRejectShown = now
		t.p.sink.State(&t.state)
	}
	if now.Sub(t.lastImplausible) < suspectEvery {
		return
	}
	t.lastImplausible = now
	t.event(now, "vehicle.implausible", t.state.Name+": refused "+why, map[string]any{"reason": DropReasons[reason], "detail": why})
}

func (t *tracker) hasFix() bool {
	return t.state.GPS.Valid && t.state.GPS.Fix >= int(ardupilotmega.GPS_FIX_TYPE_3D_FIX)
}

// updatePosition sets the position from the last GLOBAL_POSITION_INT. A
// vehicle has a position only with a 3D fix; one that has never sent
// GPS_RAW_INT has one when its estimate is not the autopilots' (0, 0)
// placeholder.
func (t *tracker) updatePosition() {
	v := &t.state
	g := t.lastGlobal
	ok := t.haveGlobal && !(g.Lat == 0 && g.Lon == 0)
	if t.fixKnown {
		ok = ok && t.hasFix()
	}
	if !ok {
		v.Position = telemetry.Position{}
		return
	}
	v.Position = telemetry.Position{
		Valid:  true,
		Lat:    float64(g.Lat) * degE7,
		Lon:    float64(g.Lon) * degE7,
		AltMSL: float64(g.Alt) * mm,
		AltRel: float64(g.RelativeAlt) * mm,
	}
}

// quatToEuler turns a w, x, y, z quaternion into roll, pitch, yaw in degrees.
func quatToEuler(q [4]float32) (roll, pitch, yaw float64) {
	w, x, y, z := float64(q[0]), float64(q[1]), float64(q[2]), float64(q[3])
	roll = math.Atan2(2*(w*x+y*z), 1-2*(x*x+y*y))
	s := 2 * (w*y - z*x)
	pitch = math.Asin(math.Max(-1, math.Min(1, s)))
	yaw = math.Atan2(2*(w*z+x*y), 1-2*(y*y+z*z))
	return roll * 180 / math.Pi, pitch * 180 / math.Pi, yaw * 180 / math.Pi
}

// wrapSigned puts an angle in (-180, 180].
func wrapSigned(d float64) float64 {
	d = wrap360(d)
	if d > 180 {
		d -= 360
	}
	return d
}
