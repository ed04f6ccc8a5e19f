package mavlink

import (
	"strconv"
	"strings"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
)

// Flight-mode names as each autopilot's own ground station shows them.
var (
	arduCopterModes = map[uint32]string{
		0: "STABILIZE", 1: "ACRO", 2: "ALT_HOLD", 3: "AUTO", 4: "GUIDED", 5: "LOITER",
		6: "RTL", 7: "CIRCLE", 9: "LAND", 11: "DRIFT", 13: "SPORT", 14: "FLIP",
		15: "AUTOTUNE", 16: "POSHOLD", 17: "BRAKE", 18: "THROW", 19: "AVOID_ADSB",
		20: "GUIDED_NOGPS", 21: "SMART_RTL", 22: "FLOWHOLD", 23: "FOLLOW", 24: "ZIGZAG",
		25: "SYSTEMID", 26: "AUTOROTATE", 27: "AUTO_RTL", 28: "TURTLE",
	}
	arduPlaneModes = map[uint32]string{
		0: "MANUAL", 1: "CIRCLE", 2: "STABILIZE", 3: "TRAINING", 4: "ACRO", 5: "FBWA",
		6: "FBWB", 7: "CRUISE", 8: "AUTOTUNE", 10: "AUTO", 11: "RTL", 12: "LOITER",
		13: "TAKEOFF", 14: "AVOID_ADSB", 15: "GUIDED", 17: "QSTABILIZE", 18: "QHOVER",
		19: "QLOITER", 20: "QLAND", 21: "QRTL", 22: "QAUTOTUNE", 23: "QACRO",
		24: "THERMAL", 25: "LOITER_ALT_QLAND",
	}
	arduRoverModes = map[uint32]string{
		0: "MANUAL", 1: "ACRO", 3: "STEERING", 4: "HOLD", 5: "LOITER", 6: "FOLLOW",
		7: "SIMPLE", 8: "DOCK", 9: "CIRCLE", 10: "AUTO", 11: "RTL", 12: "SMART_RTL",
		15: "GUIDED", 16: "INITIALISING",
	}
	arduSubModes = map[uint32]string{
		0: "STABILIZE", 1: "ACRO", 2: "ALT_HOLD", 3: "AUTO", 4: "GUIDED", 7: "CIRCLE",
		9: "SURFACE", 16: "POSHOLD", 19: "MANUAL", 20: "MOTOR_DETECT",
	}
	px4MainModes = map[uint32]string{
		1: "Manual", 2: "Altitude", 3: "Position", 4: "Auto", 5: "Acro",
		6: "Offboard", 7: "Stabilized", 8: "Rattitude",
	}
	px4AutoModes = map[uint32]string{
		1: "Ready", 2: "Takeoff", 3: "Hold", 4: "Mission", 5: "Return", 6: "Land",
		8: "Follow Me", 9: "Precision Land", 10: "VTOL Takeoff",
	}
)

// modeName decodes a HEARTBEAT's custom mode into the name the autopilot's
// ground station shows ("LOITER" for ArduCopter, "Mission" for PX4). A mode
// it does not know is "mode <n>"; without a custom mode it is the base
// mode's flags in words.
func modeName(ap ardupilotmega.MAV_AUTOPILOT, typ ardupilotmega.MAV_TYPE, base ardupilotmega.MAV_MODE_FLAG, custom uint32) string {
	if base&ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED == 0 {
		switch {
		case base&ardupilotmega.MAV_MODE_FLAG_AUTO_ENABLED != 0:
			return "auto"
		case base&ardupilotmega.MAV_MODE_FLAG_GUIDED_ENABLED != 0:
			return "guided"
		case base&ardupilotmega.MAV_MODE_FLAG_STABILIZE_ENABLED != 0:
			return "stabilize"
		case base&ardupilotmega.MAV_MODE_FLAG_MANUAL_INPUT_ENABLED != 0:
			return "manual"
		}
		return ""
	}
	var table map[uint32]string
	switch ap {
	case ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA:
		table = arduModes(vehicleClass(typ))
	case ardupilotmega.MAV_AUTOPILOT_PX4:
		main, sub := custom>>16&0xff, custom>>24&0xff
		if main == 4 {
			if n, ok := px4AutoModes[sub]; ok {
				return n
			}
		}
		if main == 3 && sub == 1 {
			return "Orbit"
		}
		if n, ok := px4MainModes[main]; ok {
			return n
		}
		return "mode " + strconv.FormatUint(uint64(custom), 10)
	}
	if n, ok := table[custom]; ok {
		return n
	}
	return "mode " + strconv.FormatUint(uint64(custom), 10)
}

// arduModes is the mode table of ArduPilot's firmware for a vehicle class
// (vehicleClass): Copter's for copters and anything unknown.
func arduModes(class string) map[uint32]string {
	switch class {
	case "plane":
		return arduPlaneModes
	case "rover":
		return arduRoverModes
	case "sub":
		return arduSubModes
	}
	return arduCopterModes
}

// vehicleClass sorts MAV_TYPEs as ArduPilot's firmwares do: copter, plane
// (including QuadPlane VTOLs), rover (and boats), sub; "" for the rest.
func vehicleClass(t ardupilotmega.MAV_TYPE) string {
	switch t {
	case ardupilotmega.MAV_TYPE_FIXED_WING, ardupilotmega.MAV_TYPE_VTOL_TAILSITTER_DUOROTOR,
		ardupilotmega.MAV_TYPE_VTOL_TAILSITTER_QUADROTOR, ardupilotmega.MAV_TYPE_VTOL_TILTROTOR,
		ardupilotmega.MAV_TYPE_VTOL_FIXEDROTOR, ardupilotmega.MAV_TYPE_VTOL_TAILSITTER,
		ardupilotmega.MAV_TYPE_VTOL_TILTWING, ardupilotmega.MAV_TYPE_VTOL_RESERVED5:
		return "plane"
	case ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_TYPE_COAXIAL, ardupilotmega.MAV_TYPE_HELICOPTER,
		ardupilotmega.MAV_TYPE_HEXAROTOR, ardupilotmega.MAV_TYPE_OCTOROTOR, ardupilotmega.MAV_TYPE_TRICOPTER,
		ardupilotmega.MAV_TYPE_DODECAROTOR, ardupilotmega.MAV_TYPE_DECAROTOR:
		return "copter"
	case ardupilotmega.MAV_TYPE_GROUND_ROVER, ardupilotmega.MAV_TYPE_SURFACE_BOAT:
		return "rover"
	case ardupilotmega.MAV_TYPE_SUBMARINE:
		return "sub"
	}
	return ""
}

// isVehicle reports whether a HEARTBEAT's sender is a vehicle's autopilot:
// not a ground station, and not a component (camera, gimbal, ADS-B
// receiver, companion computer) that has no autopilot.
func isVehicle(t ardupilotmega.MAV_TYPE, ap ardupilotmega.MAV_AUTOPILOT) bool {
	if ap == ardupilotmega.MAV_AUTOPILOT_INVALID {
		return false
	}
	switch t {
	case ardupilotmega.MAV_TYPE_GCS, ardupilotmega.MAV_TYPE_ANTENNA_TRACKER,
		ardupilotmega.MAV_TYPE_ONBOARD_CONTROLLER, ardupilotmega.MAV_TYPE_GIMBAL,
		ardupilotmega.MAV_TYPE_ADSB, ardupilotmega.MAV_TYPE_CAMERA,
		ardupilotmega.MAV_TYPE_CHARGING_STATION, ardupilotmega.MAV_TYPE_FLARM,
		ardupilotmega.MAV_TYPE_SERVO, ardupilotmega.MAV_TYPE_ODID, ardupilotmega.MAV_TYPE_BATTERY,
		ardupilotmega.MAV_TYPE_LOG, ardupilotmega.MAV_TYPE_OSD, ardupilotmega.MAV_TYPE_IMU,
		ardupilotmega.MAV_TYPE_GPS, ardupilotmega.MAV_TYPE_WINCH:
		return false
	}
	return true
}

// enumWord turns a MAVLink enum's String() into a short lower-case word:
// MAV_TYPE_QUADROTOR → quadrotor, MAV_AUTOPILOT_ARDUPILOTMEGA → ardupilot.
func enumWord(s, prefix string) string {
	s = strings.ToLower(strings.TrimPrefix(s, prefix))
	if s == "ardupilotmega" {
		return "ardupilot"
	}
	return s
}

var fixNames = map[ardupilotmega.GPS_FIX_TYPE]string{
	0: "no GPS", 1: "no fix", 2: "2D", 3: "3D", 4: "DGPS", 5: "RTK float", 6: "RTK fixed", 7: "static", 8: "PPP",
}
