package history

import (
	"context"
	"encoding/binary"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// EachEvent calls fn for every event in [from, to), oldest first; an
// empty vehicle or camera does not filter.
func (s *Store) EachEvent(ctx context.Context, from, to time.Time, camera, vehicle string, fn func(EventRecord) error) error {
	if !to.After(from) {
		return ErrRange
	}
	rows, err := s.pool.Query(ctx, `SELECT time, id::text, kind, site_id, camera_id, vehicle_id, track_id, lat, lon, message, data
		FROM events WHERE time >= $1 AND time < $2 AND ($3 = '' OR camera_id = $3) AND ($4 = '' OR vehicle_id = $4) ORDER BY time`, from, to, camera, vehicle)
	if err != nil {
		return fmt.Errorf("store: events: %w", err)
	}
	var e EventRecord
	_, err = pgx.ForEachRow(rows, []any{&e.Time, &e.ID, &e.Kind, &e.Site, &e.CameraID, &e.Vehicle, &e.TrackID, &e.Lat, &e.Lon, &e.Message, &e.Data}, func() error {
		return fn(e)
	})
	if err != nil {
		return fmt.Errorf("store: events: %w", err)
	}
	return nil
}

// PlacedDetection is a detection on the ground, as replay draws it.
type PlacedDetection struct {
	Time    time.Time
	Camera  string
	TrackID int64
	Class   string
	Lat     float64
	Lon     float64
}

// EachPlacedDetection calls fn for every detection placed on the ground
// in [from, to), oldest first, at most limit; it reports whether the limit
// cut the range short.
func (s *Store) EachPlacedDetection(ctx context.Context, from, to time.Time, limit int, fn func(PlacedDetection) error) (truncated bool, err error) {
	if !to.After(from) {
		return false, ErrRange
	}
	rows, err := s.pool.Query(ctx, `SELECT time, camera_id, coalesce(track_id, 0), class, lat, lon FROM detections
		WHERE time >= $1 AND time < $2 AND lat IS NOT NULL ORDER BY time LIMIT $3`, from, to, limit+1)
	if err != nil {
		return false, fmt.Errorf("store: detections: %w", err)
	}
	defer rows.Close()
	// A replay reads tens of thousands of these: the binary values are
	// decoded here, the few cameras' and classes' names kept once, rather
	// than through pgx's scan plans.
	var dec placedDecoder
	n := 0
	for rows.Next() {
		if n++; n > limit {
			truncated = true
			break
		}
		d, err := dec.decode(rows.FieldDescriptions(), rows.RawValues())
		if err != nil {
			return false, fmt.Errorf("store: detections: %w", err)
		}
		if err := fn(d); err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("store: detections: %w", err)
	}
	return truncated, nil
}

// placedDecoder decodes rows of (time, camera_id, track_id, class, lat,
// lon) as PostgreSQL sends them, pgx asking binary for all but text:
// timestamptz as microseconds since 2000-01-01 UTC, bigint and float8 as
// 8 big-endian bytes, text as its bytes.
type placedDecoder struct {
	names map[string]string
}

const pgEpochUnix = 946684800 // 2000-01-01 00:00:00 UTC

func (d *placedDecoder) decode(fds []pgconn.FieldDescription, raw [][]byte) (PlacedDetection, error) {
	if len(raw) != 6 || len(fds) != 6 {
		return PlacedDetection{}, fmt.Errorf("%d columns, want 6", len(raw))
	}
	for i, v := range raw {
		fixed := i != 1 && i != 3 // text is the same bytes in either format
		if fixed && fds[i].Format != pgx.BinaryFormatCode {
			return PlacedDetection{}, fmt.Errorf("column %s in text format", fds[i].Name)
		}
		if v == nil || fixed && len(v) != 8 {
			return PlacedDetection{}, fmt.Errorf("column %s: %d bytes", fds[i].Name, len(v))
		}
	}
	us := int64(binary.BigEndian.Uint64(raw[0]))
	if us == math.MaxInt64 || us == math.MinInt64 { // ±infinity
		return PlacedDetection{}, fmt.Errorf("an infinite time")
	}
	unixUs := us + pgEpochUnix*1e6 // PostgreSQL's range (4713 BC to 294276 AD) fits
	return PlacedDetection{
		Time:    time.Unix(unixUs/1e6, unixUs%1e6*1e3),
		Camera:  d.name(raw[1]),
		TrackID: int64(binary.BigEndian.Uint64(raw[2])),
		Class:   d.name(raw[3]),
		Lat:     math.Float64frombits(binary.BigEndian.Uint64(raw[4])),
		Lon:     math.Float64frombits(binary.BigEndian.Uint64(raw[5])),
	}, nil
}

// name returns b as a string, the same string for the same bytes.
func (d *placedDecoder) name(b []byte) string {
	if s, ok := d.names[string(b)]; ok {
		return s
	}
	s := string(b)
	if d.names == nil {
		d.names = map[string]string{}
	}
	if len(d.names) < 10000 {
		d.names[s] = s
	}
	return s
}

// TrackVehicles lists the vehicles with telemetry in [from, to).
func (s *Store) TrackVehicles(ctx context.Context, from, to time.Time) ([]string, error) {
	// A loose index scan of (vehicle_id, time) for the distinct vehicles,
	// then one probe each: no scan of the range's rows. (The probe is a
	// LATERAL … LIMIT 1: as EXISTS, the planner may hash every row of the
	// range instead, 30× slower over an hour of ten drones.)
	rows, err := s.pool.Query(ctx, `WITH RECURSIVE v AS (
			(SELECT vehicle_id FROM telemetry ORDER BY vehicle_id LIMIT 1)
			UNION ALL
			SELECT (SELECT t.vehicle_id FROM telemetry t WHERE t.vehicle_id > v.vehicle_id ORDER BY t.vehicle_id LIMIT 1) FROM v WHERE v.vehicle_id IS NOT NULL
		)
		SELECT vehicle_id FROM v,
			LATERAL (SELECT 1 FROM telemetry t WHERE t.vehicle_id = v.vehicle_id AND t.time >= $1 AND t.time < $2 LIMIT 1) seen
		WHERE vehicle_id IS NOT NULL
		ORDER BY vehicle_id`, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: vehicles: %w", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: vehicles: %w", err)
	}
	return ids, nil
}

// EachTrackPoint calls fn for every position of a vehicle in [from, to),
// oldest first, at full resolution (exports).
func (s *Store) EachTrackPoint(ctx context.Context, vehicle string, from, to time.Time, fn func(TrackPoint) error) error {
	if !to.After(from) {
		return ErrRange
	}
	rows, err := s.pool.Query(ctx, `SELECT time, lat, lon, alt_msl, alt_rel, heading, ground_speed FROM telemetry
		WHERE vehicle_id = $1 AND time >= $2 AND time < $3 AND lat IS NOT NULL ORDER BY time`, vehicle, from, to)
	if err != nil {
		return fmt.Errorf("store: track: %w", err)
	}
	var p TrackPoint
	_, err = pgx.ForEachRow(rows, []any{&p.Time, &p.Lat, &p.Lon, &p.AltMSL, &p.AltRel, &p.Heading, &p.GroundSpeed}, func() error { return fn(p) })
	if err != nil {
		return fmt.Errorf("store: track: %w", err)
	}
	return nil
}

// CountRows counts the rows of a time-series table in [from, to) (an
// export's progress).
func (s *Store) CountRows(ctx context.Context, table string, from, to time.Time) (int64, error) {
	switch table {
	case "telemetry", "events", "detections":
	default:
		return 0, fmt.Errorf("store: count: no table %q", table)
	}
	var n int64
	err := s.pool.QueryRow(ctx, "SELECT count(*) FROM "+table+" WHERE time >= $1 AND time < $2", from, to).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count: %w", err)
	}
	return n, nil
}
