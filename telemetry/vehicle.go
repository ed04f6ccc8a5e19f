package telemetry

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"
)

// Vehicle is the live state of one MAVLink system: what the map draws and
// what GET /api/v1/vehicles returns. Values are in SI units and degrees and
// named for them. Each group (Position, Motion, ...) is absent from the JSON
// until the vehicle has reported it; Position is absent without a 3D fix, so
// that nothing is ever drawn at (0, 0).
//
// A Vehicle is a plain value: copying it copies all of it.
type Vehicle struct {
	// ID is the configured name, or "<link>-<system id>" for a discovered one.
	ID       string `json:"id"`
	Name     string `json:"name"`
	Link     string `json:"link"`
	SystemID uint8  `json:"system_id"`
	// Discovered is true for a system that appeared on a link without being
	// configured.
	Discovered bool   `json:"discovered"`
	Camera     string `json:"camera,omitempty"`
	Site       string `json:"site,omitempty"`

	// Type is the MAV_TYPE in words ("quadrotor", "fixed_wing", "vtol_tiltrotor"...).
	Type string `json:"type,omitempty"`
	// Autopilot is "ardupilot", "px4" or another MAV_AUTOPILOT in words.
	Autopilot string `json:"autopilot,omitempty"`
	Armed     bool   `json:"armed"`
	// Mode is the flight mode's name as the autopilot's own ground station
	// shows it ("AUTO", "LOITER", "Mission", "Hold"...).
	Mode string `json:"mode,omitempty"`
	// Status is the MAV_STATE in words ("standby", "active", "critical"...).
	Status string `json:"status,omitempty"`

	Position Position `json:"position,omitzero"`
	Home     Position `json:"home,omitzero"`
	Motion   Motion   `json:"motion,omitzero"`
	Attitude Attitude `json:"attitude,omitzero"`
	GPS      GPS      `json:"gps,omitzero"`
	Battery  Battery  `json:"battery,omitzero"`
	Gimbal   Gimbal   `json:"gimbal,omitzero"`
	Health   Health   `json:"link_health"`

	// Landed is the landed state the autopilot reports
	// (EXTENDED_SYS_STATE): "on_ground", "in_air", "takeoff", "landing";
	// "" when it reports none.
	Landed string `json:"landed,omitempty"`
	// Mission is the mission item the vehicle flies (MISSION_CURRENT and
	// MISSION_ITEM_REACHED), nil when it reports none.
	Mission *MissionProgress `json:"mission,omitempty"`

	// LastText is the most recent STATUSTEXT.
	LastText string `json:"last_text,omitempty"`
	// Updated is the wall-clock time of the last state change.
	Updated time.Time `json:"updated"`
}

// MissionProgress is where the vehicle is in its mission.
type MissionProgress struct {
	Current int `json:"current"` // the item flown (seq)
	Total   int `json:"total"`   // items after the home placeholder
	// Reached is the last item reached; -1 none yet.
	Reached int `json:"reached"`
	// State: "not_started", "active", "paused", "complete" ("" unknown).
	State string `json:"state,omitempty"`
}

// Position is a WGS 84 position.
type Position struct {
	Valid  bool    `json:"-"`
	Lat    float64 `json:"lat"`     // degrees
	Lon    float64 `json:"lon"`     // degrees
	AltMSL float64 `json:"alt_msl"` // metres above mean sea level
	AltRel float64 `json:"alt_rel"` // metres above home
}

// IsZero reports an unknown position (for JSON omitzero).
func (p Position) IsZero() bool { return !p.Valid }

// Motion is where and how fast the vehicle moves.
type Motion struct {
	Valid       bool    `json:"-"`
	Heading     float64 `json:"heading"`      // degrees, 0 = north, clockwise
	GroundSpeed float64 `json:"ground_speed"` // m/s
	ClimbRate   float64 `json:"climb_rate"`   // m/s, up positive
	VNorth      float64 `json:"v_north"`      // m/s
	VEast       float64 `json:"v_east"`       // m/s
	VDown       float64 `json:"v_down"`       // m/s
	Airspeed    float64 `json:"airspeed"`     // m/s
	Throttle    float64 `json:"throttle"`     // percent
}

// IsZero reports unknown motion (for JSON omitzero).
func (m Motion) IsZero() bool { return !m.Valid }

// Attitude is the vehicle's orientation.
type Attitude struct {
	Valid bool    `json:"-"`
	Roll  float64 `json:"roll"`  // degrees, right wing down positive
	Pitch float64 `json:"pitch"` // degrees, nose up positive
	Yaw   float64 `json:"yaw"`   // degrees, 0 = north, clockwise, 0..360
}

// IsZero reports an unknown attitude (for JSON omitzero).
func (a Attitude) IsZero() bool { return !a.Valid }

// GPS is the receiver's state (GPS_RAW_INT).
type GPS struct {
	Valid bool `json:"-"`
	// Fix is the MAVLink GPS_FIX_TYPE: 0-1 none, 2 2D, 3 3D, 4 DGPS, 5 RTK float, 6 RTK fixed.
	Fix        int     `json:"fix"`
	FixName    string  `json:"fix_name"`
	Satellites int     `json:"satellites"`           // visible; -1 unknown
	EPH        float64 `json:"eph,omitempty"`        // metres, horizontal dilution × 1 m; 0 unknown
	HAccuracy  float64 `json:"h_accuracy,omitempty"` // metres, when the receiver reports it
}

// IsZero reports an unknown GPS state (for JSON omitzero).
func (g GPS) IsZero() bool { return !g.Valid }

// Battery is the main battery's state.
type Battery struct {
	Valid     bool    `json:"-"`
	Voltage   float64 `json:"voltage"`            // volts
	Current   float64 `json:"current,omitempty"`  // amperes; 0 unknown
	Remaining float64 `json:"remaining"`          // percent; -1 unknown (left out of JSON)
	Consumed  float64 `json:"consumed,omitempty"` // milliampere-hours
}

// batteryJSON is Battery as JSON: an unknown level is left out, not -1.
type batteryJSON struct {
	Voltage   float64  `json:"voltage"`
	Current   float64  `json:"current,omitempty"`
	Remaining *float64 `json:"remaining,omitempty"`
	Consumed  float64  `json:"consumed,omitempty"`
}

// MarshalJSON leaves an unknown level (MAVLink's -1) out.
func (b Battery) MarshalJSON() ([]byte, error) {
	j := batteryJSON{Voltage: b.Voltage, Current: b.Current, Consumed: b.Consumed}
	if b.Remaining >= 0 {
		j.Remaining = &b.Remaining
	}
	return json.Marshal(j)
}

// UnmarshalJSON reads a battery; a missing level is unknown (-1).
func (b *Battery) UnmarshalJSON(data []byte) error {
	var j batteryJSON
	if err := json.Unmarshal(data, &j); err != nil {
		return err
	}
	*b = Battery{Valid: true, Voltage: j.Voltage, Current: j.Current, Remaining: -1, Consumed: j.Consumed}
	if j.Remaining != nil {
		b.Remaining = *j.Remaining
	}
	return nil
}

// IsZero reports an unknown battery (for JSON omitzero).
func (b Battery) IsZero() bool { return !b.Valid }

// Gimbal is the camera gimbal's orientation.
type Gimbal struct {
	Valid bool    `json:"-"`
	Roll  float64 `json:"roll"`  // degrees
	Pitch float64 `json:"pitch"` // degrees, down negative
	// Yaw is relative to the vehicle's heading, degrees, clockwise.
	Yaw float64 `json:"yaw"`
	// Source is the message that reported it.
	Source string `json:"source"`
}

// IsZero reports an unknown gimbal (for JSON omitzero).
func (g Gimbal) IsZero() bool { return !g.Valid }

// Link states.
const (
	LinkOK   = "ok"
	LinkLost = "lost"
)

// Health is the link's health as seen from one vehicle's frames.
type Health struct {
	// State is ok or lost (silent for longer than the link timeout).
	State string `json:"state"`
	// Rate is frames per second over the last few seconds.
	Rate float64 `json:"rate"`
	// Received counts frames accepted from the vehicle.
	Received uint64 `json:"received"`
	// Lost counts frames missing from the sequence numbers.
	Lost uint64 `json:"lost"`
	// LossRatio is Lost / (Received + Lost) over the last few seconds.
	LossRatio float64 `json:"loss_ratio"`
	// Rejected counts frames refused (bad or missing signature, values no
	// vehicle can have).
	Rejected uint64 `json:"rejected,omitempty"`
	// Warning says why the vehicle's frames are in doubt: frames from a
	// second address, or refused by its key. Empty when none are.
	Warning   string    `json:"warning,omitempty"`
	LastHeard time.Time `json:"last_heard"`
}

// Event is something that happened, time-stamped and, when known,
// geotagged. Kinds are dotted: link.lost, link.regained, vehicle.discovered,
// vehicle.armed, vehicle.disarmed, vehicle.mode, vehicle.statustext,
// vehicle.command_ack, vehicle.gps_fix_lost, vehicle.gps_fix_acquired,
// vehicle.implausible (values refused), vehicle.relocated (a far position
// taken after consistent reports), vehicle.suspect (frames from a second
// address, or refused by the vehicle's key).
type Event struct {
	Time      time.Time      `json:"time"`
	ID        UUID           `json:"id"`
	Kind      string         `json:"kind"`
	Site      string         `json:"site,omitempty"`
	VehicleID string         `json:"vehicle_id,omitempty"`
	CameraID  string         `json:"camera_id,omitempty"`
	TrackID   uint64         `json:"track_id,omitempty"`
	Lat       *float64       `json:"lat,omitempty"`
	Lon       *float64       `json:"lon,omitempty"`
	Message   string         `json:"message,omitempty"`
	Data      map[string]any `json:"data,omitempty"`
	// Fence is the fencing token of the process that made the event: its
	// camera's ownership in a cluster (0 alone, or not a camera's).
	Fence uint64 `json:"fence,omitempty"`
	// Received is when the frame or message behind the event reached
	// smarteye, where known: in-process only (alert latency), not stored.
	Received time.Time `json:"-"`
}

// UUID is a random (version 4) UUID, in JSON as its canonical text.
type UUID [16]byte

// NewUUID returns a random UUID.
func NewUUID() UUID {
	var id UUID
	_, _ = rand.Read(id[:])
	id[6] = id[6]&0x0f | 0x40
	id[8] = id[8]&0x3f | 0x80
	return id
}

// String is the canonical text form.
func (u UUID) String() string {
	var b [36]byte
	hex.Encode(b[0:8], u[0:4])
	b[8] = '-'
	hex.Encode(b[9:13], u[4:6])
	b[13] = '-'
	hex.Encode(b[14:18], u[6:8])
	b[18] = '-'
	hex.Encode(b[19:23], u[8:10])
	b[23] = '-'
	hex.Encode(b[24:], u[10:])
	return string(b[:])
}

// MarshalText implements encoding.TextMarshaler.
func (u UUID) MarshalText() ([]byte, error) { return []byte(u.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (u *UUID) UnmarshalText(b []byte) error {
	v, err := ParseUUID(string(b))
	*u = v
	return err
}

// ParseUUID reads a UUID's canonical text (8-4-4-4-12 hex digits).
func ParseUUID(s string) (UUID, error) {
	var u UUID
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return u, fmt.Errorf("%q is not a UUID", s)
	}
	h := s[0:8] + s[9:13] + s[14:18] + s[19:23] + s[24:]
	if _, err := hex.Decode(u[:], []byte(h)); err != nil {
		return UUID{}, fmt.Errorf("%q is not a UUID", s)
	}
	return u, nil
}
