package store

import (
	"encoding/json"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// col is one column of the tables below.
func col(name string, kind batch.Kind) batch.Column { return batch.Column{Name: name, Kind: kind} }

// The time-series tables (migrations/0001_core.sql). The column order is the
// order of values given to Writer.Add.
var (
	Telemetry = &batch.Table{Name: "telemetry", Columns: []batch.Column{
		col("time", batch.KindTime),
		col("vehicle_id", batch.KindText),
		col("lat", batch.KindFloat64),
		col("lon", batch.KindFloat64),
		col("alt_msl", batch.KindFloat32),
		col("alt_rel", batch.KindFloat32),
		col("heading", batch.KindFloat32),
		col("roll", batch.KindFloat32),
		col("pitch", batch.KindFloat32),
		col("yaw", batch.KindFloat32),
		col("ground_speed", batch.KindFloat32),
		col("climb_rate", batch.KindFloat32),
		col("battery_voltage", batch.KindFloat32),
		col("battery_remaining", batch.KindFloat32),
		col("mode", batch.KindText),
		col("armed", batch.KindBool),
		col("gps_fix", batch.KindInt16),
		col("satellites", batch.KindInt16),
		col("eph", batch.KindFloat32),
		col("gimbal_pitch", batch.KindFloat32),
		col("gimbal_yaw", batch.KindFloat32),
	}}
	Detections = &batch.Table{Name: "detections", Columns: []batch.Column{
		col("time", batch.KindTime),
		col("camera_id", batch.KindText),
		col("track_id", batch.KindInt64),
		col("class", batch.KindText),
		col("confidence", batch.KindFloat32),
		col("box_x", batch.KindFloat32),
		col("box_y", batch.KindFloat32),
		col("box_w", batch.KindFloat32),
		col("box_h", batch.KindFloat32),
		col("lat", batch.KindFloat64),
		col("lon", batch.KindFloat64),
		col("position_error", batch.KindFloat32),
		col("geo_status", batch.KindText),
		col("fence", batch.KindInt64),
	}}
	Events = &batch.Table{Name: "events", Columns: []batch.Column{
		col("time", batch.KindTime),
		col("id", batch.KindUUID),
		col("site_id", batch.KindText),
		col("kind", batch.KindText),
		col("camera_id", batch.KindText),
		col("vehicle_id", batch.KindText),
		col("track_id", batch.KindInt64),
		col("lat", batch.KindFloat64),
		col("lon", batch.KindFloat64),
		col("message", batch.KindText),
		col("data", batch.KindJSON),
		col("fence", batch.KindInt64),
	}}
)

// TelemetryRow is v's state at t as a row of Telemetry. A vehicle without a
// position (no 3D fix) stores NULL lat/lon, never (0, 0).
func TelemetryRow(v *telemetry.Vehicle, t time.Time) []any {
	row := make([]any, len(Telemetry.Columns))
	row[0], row[1] = t, v.ID
	if p := v.Position; p.Valid {
		row[2], row[3], row[4], row[5] = p.Lat, p.Lon, float32(p.AltMSL), float32(p.AltRel)
	}
	if m := v.Motion; m.Valid {
		row[6], row[10], row[11] = float32(m.Heading), float32(m.GroundSpeed), float32(m.ClimbRate)
	}
	if a := v.Attitude; a.Valid {
		row[7], row[8], row[9] = float32(a.Roll), float32(a.Pitch), float32(a.Yaw)
	}
	if b := v.Battery; b.Valid {
		row[12] = float32(b.Voltage)
		if b.Remaining >= 0 {
			row[13] = float32(b.Remaining)
		}
	}
	if v.Mode != "" {
		row[14] = v.Mode
	}
	row[15] = v.Armed
	if g := v.GPS; g.Valid {
		row[16] = int16(g.Fix)
		if g.Satellites >= 0 {
			row[17] = int16(g.Satellites)
		}
		if g.EPH > 0 {
			row[18] = float32(g.EPH)
		}
	}
	if g := v.Gimbal; g.Valid {
		row[19], row[20] = float32(g.Pitch), float32(g.Yaw)
	}
	return row
}

// EventRow is e as a row of Events.
func EventRow(e *telemetry.Event) []any {
	row := []any{e.Time, [16]byte(e.ID), nilIfEmpty(e.Site), e.Kind, nilIfEmpty(e.CameraID), nilIfEmpty(e.VehicleID), nil, nil, nil, nilIfEmpty(e.Message), nil, fenceOrNil(e.Fence)}
	if e.TrackID != 0 {
		row[6] = int64(e.TrackID)
	}
	if e.Lat != nil && e.Lon != nil {
		row[7], row[8] = *e.Lat, *e.Lon
	}
	if len(e.Data) > 0 {
		if b, err := json.Marshal(e.Data); err == nil {
			row[10] = b
		}
	}
	return row
}

// fenceOrNil is a row's fencing token: NULL outside a cluster.
func fenceOrNil(f uint64) any {
	if f == 0 {
		return nil
	}
	return int64(f)
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// DetectionRow is one object of a frame as a detections row.
func DetectionRow(d *telemetry.Detections, o *telemetry.Object) []any {
	row := []any{d.Time, d.Camera, int64(o.TrackID), o.Class, float32(o.Confidence),
		float32(o.Box[0]), float32(o.Box[1]), float32(o.Box[2]), float32(o.Box[3]), nil, nil, nil, o.GeoStatus, fenceOrNil(d.Fence)}
	if o.Lat != nil && o.Lon != nil {
		row[9], row[10], row[11] = *o.Lat, *o.Lon, float32(o.Error)
	}
	return row
}

// NewID returns a random (version 4) UUID.
func NewID() [16]byte { return telemetry.NewUUID() }
