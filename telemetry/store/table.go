package store

import (
	"fmt"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Kind is the Go type a column's values have when they are handed to the
// writer. Each kind takes exactly one Go type, so that a row can be checked
// once on entry and spooled without reflection.
type Kind uint8

// Column kinds and the Go type each takes. nil is NULL for every kind.
const (
	KindTime    Kind = iota + 1 // time.Time (timestamptz)
	KindFloat64                 // float64 (double precision)
	KindFloat32                 // float32 (real)
	KindInt64                   // int64 (bigint)
	KindInt32                   // int32 (integer)
	KindInt16                   // int16 (smallint)
	KindText                    // string (text)
	KindBool                    // bool (boolean)
	KindUUID                    // [16]byte (uuid)
	KindJSON                    // []byte holding JSON (jsonb)
	kindEnd
)

var kindNames = [...]string{"", "time", "float64", "float32", "int64", "int32", "int16", "text", "bool", "uuid", "json"}

func (k Kind) String() string {
	if k == 0 || k >= kindEnd {
		return fmt.Sprintf("kind(%d)", k)
	}
	return kindNames[k]
}

func (k Kind) accepts(v any) bool {
	switch v.(type) {
	case nil:
		return true
	case time.Time:
		return k == KindTime
	case float64:
		return k == KindFloat64
	case float32:
		return k == KindFloat32
	case int64:
		return k == KindInt64
	case int32:
		return k == KindInt32
	case int16:
		return k == KindInt16
	case string:
		return k == KindText
	case bool:
		return k == KindBool
	case [16]byte:
		return k == KindUUID
	case []byte:
		return k == KindJSON
	}
	return false
}

// Column is one column a table's rows carry through the writer. Generated
// columns (the PostGIS point built from lat/lon) are not listed: the
// database computes them.
type Column struct {
	Name string
	Kind Kind
}

// Table describes the columns of a time-series table as the writer fills it.
// The first column is the row's time: it picks the partition.
type Table struct {
	Name    string
	Columns []Column
}

// CheckRow reports whether values fit the table's columns.
func (t *Table) CheckRow(values []any) error {
	if len(values) != len(t.Columns) {
		return fmt.Errorf("store: %s: got %d values for %d columns", t.Name, len(values), len(t.Columns))
	}
	for i, v := range values {
		if !t.Columns[i].Kind.accepts(v) {
			return fmt.Errorf("store: %s.%s: got %T, want %s", t.Name, t.Columns[i].Name, v, t.Columns[i].Kind)
		}
	}
	if _, ok := values[0].(time.Time); !ok {
		return fmt.Errorf("store: %s: the time column is NULL", t.Name)
	}
	return nil
}

func (t *Table) columnNames() []string {
	n := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		n[i] = c.Name
	}
	return n
}

// The time-series tables (migrations/0001_core.sql). The column order is the
// order of values given to Writer.Add.
var (
	Telemetry = &Table{Name: "telemetry", Columns: []Column{
		{"time", KindTime},
		{"vehicle_id", KindText},
		{"lat", KindFloat64},
		{"lon", KindFloat64},
		{"alt_msl", KindFloat32},
		{"alt_rel", KindFloat32},
		{"heading", KindFloat32},
		{"roll", KindFloat32},
		{"pitch", KindFloat32},
		{"yaw", KindFloat32},
		{"ground_speed", KindFloat32},
		{"climb_rate", KindFloat32},
		{"battery_voltage", KindFloat32},
		{"battery_remaining", KindFloat32},
		{"mode", KindText},
		{"armed", KindBool},
		{"gps_fix", KindInt16},
		{"satellites", KindInt16},
		{"eph", KindFloat32},
		{"gimbal_pitch", KindFloat32},
		{"gimbal_yaw", KindFloat32},
	}}
	Detections = &Table{Name: "detections", Columns: []Column{
		{"time", KindTime},
		{"camera_id", KindText},
		{"track_id", KindInt64},
		{"class", KindText},
		{"confidence", KindFloat32},
		{"box_x", KindFloat32},
		{"box_y", KindFloat32},
		{"box_w", KindFloat32},
		{"box_h", KindFloat32},
		{"lat", KindFloat64},
		{"lon", KindFloat64},
		{"position_error", KindFloat32},
		{"geo_status", KindText},
	}}
	Events = &Table{Name: "events", Columns: []Column{
		{"time", KindTime},
		{"id", KindUUID},
		{"site_id", KindText},
		{"kind", KindText},
		{"camera_id", KindText},
		{"vehicle_id", KindText},
		{"track_id", KindInt64},
		{"lat", KindFloat64},
		{"lon", KindFloat64},
		{"message", KindText},
		{"data", KindJSON},
	}}
)

// NewID returns a random (version 4) UUID.
func NewID() [16]byte { return telemetry.NewUUID() }
