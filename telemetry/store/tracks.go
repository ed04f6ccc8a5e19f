package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"

	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// TrackSummary is the name of the per-second track table
// (migrations/0008_track_1s.sql): the first fix of each vehicle-second,
// written with the telemetry it summarises. Its retention is telemetry's.
const TrackSummary = "track_1s"

// retentionOf is the table whose retention a time-series table follows.
func retentionOf(table string) string {
	if table == TrackSummary {
		return Telemetry.Name
	}
	return table
}

// trackPointColumns are the columns a TrackPoint is read from, in order:
// telemetry's and track_1s's alike.
const trackPointColumns = "time, lat, lon, alt_msl, alt_rel, heading, ground_speed, yaw, gimbal_pitch, gimbal_yaw"

// trackColumns are the columns of track_1s after second, in order; each
// is a telemetry column of the same name.
var trackColumns = append([]string{"vehicle_id"}, strings.Split(trackPointColumns, ", ")...)

// trackSeconds is a batch's contribution to track_1s, in columns.
type trackSeconds struct {
	second, time []time.Time
	vehicle      []string
	lat, lon     []float64
	f32          [7][]*float32 // alt_msl … gimbal_yaw
}

// summariseTrack picks, from a batch of telemetry rows, the first fix of
// each vehicle-second. It finds the columns by name, so a batch read back
// from the spool (whose table is rebuilt from the spool's header) works as
// one made now. It returns nil when the batch has no fix.
func summariseTrack(b *batch.Batch) *trackSeconds {
	col := make([]int, len(trackColumns))
	for i, name := range trackColumns {
		if col[i] = slices.IndexFunc(b.Table.Columns, func(c batch.Column) bool { return c.Name == name }); col[i] < 0 && i < 4 {
			return nil // no vehicle, time or position: nothing to summarise
		}
	}
	type key struct {
		vehicle string
		second  int64
	}
	at := map[key]int{}
	var ts trackSeconds
	for _, r := range b.Rows {
		vehicle, _ := r[col[0]].(string)
		t, _ := r[col[1]].(time.Time)
		lat, ok1 := r[col[2]].(float64)
		lon, ok2 := r[col[3]].(float64)
		if !ok1 || !ok2 || vehicle == "" {
			continue
		}
		t = t.Round(time.Microsecond) // as the database keeps it: its second is the stored row's
		sec := t.Truncate(time.Second)
		k := key{vehicle, sec.Unix()}
		i, seen := at[k]
		if seen && !t.Before(ts.time[i]) {
			continue
		}
		if !seen {
			i = len(ts.time)
			at[k] = i
			ts.second, ts.time, ts.vehicle = append(ts.second, sec), append(ts.time, t), append(ts.vehicle, vehicle)
			ts.lat, ts.lon = append(ts.lat, lat), append(ts.lon, lon)
			for j := range ts.f32 {
				ts.f32[j] = append(ts.f32[j], nil)
			}
		}
		ts.time[i], ts.lat[i], ts.lon[i] = t, lat, lon
		for j := range ts.f32 {
			ts.f32[j][i] = nil
			if c := col[4+j]; c >= 0 {
				if v, ok := r[c].(float32); ok {
					ts.f32[j][i] = &v
				}
			}
		}
	}
	if len(ts.time) == 0 {
		return nil
	}
	return &ts
}

// trackInsert and trackKeepFirst frame an insert of seconds into
// track_1s: a second already there keeps the earlier of the two fixes.
var (
	trackInsert    = `INSERT INTO track_1s (second, vehicle_id, ` + trackPointColumns + `)`
	trackKeepFirst = func() string {
		set := strings.Split(trackPointColumns, ", ")
		for i, c := range set {
			set[i] = c + " = EXCLUDED." + c
		}
		return `
		ON CONFLICT (vehicle_id, second) DO UPDATE SET ` + strings.Join(set, ", ") + `
		WHERE EXCLUDED.time < track_1s.time`
	}()
)

// writeTrackSummary adds a batch's seconds to track_1s in tx; a second
// already there keeps the earlier of the two fixes, so batches written out
// of order (a replayed spool) still leave each second's first.
func writeTrackSummary(ctx context.Context, tx pgx.Tx, ts *trackSeconds) error {
	_, err := tx.Exec(ctx, trackInsert+`
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
			$6::real[], $7::real[], $8::real[], $9::real[], $10::real[], $11::real[], $12::real[])`+trackKeepFirst,
		ts.second, ts.vehicle, ts.time, ts.lat, ts.lon, ts.f32[0], ts.f32[1], ts.f32[2], ts.f32[3], ts.f32[4], ts.f32[5], ts.f32[6])
	if err != nil {
		return fmt.Errorf("track summary: %w", err)
	}
	return nil
}

// SummariseTracks rebuilds track_1s from the telemetry rows in [from, to):
// for rows that reached the telemetry table other than through CopyBatch
// (a bulk load in SQL). It returns the seconds written.
func (s *Store) SummariseTracks(ctx context.Context, from, to time.Time) (int64, error) {
	if !to.After(from) {
		return 0, ErrRange
	}
	if err := s.EnsurePartitions(ctx, TrackSummary, from, to); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, trackInsert+`
		SELECT DISTINCT ON (vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'))
			date_bin('1 second', time, '2000-01-01 00:00:00+00'), vehicle_id, `+trackPointColumns+`
		FROM telemetry
		WHERE time >= $1 AND time < $2 AND lat IS NOT NULL AND lon IS NOT NULL
		ORDER BY vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'), time`+trackKeepFirst, from, to)
	if err != nil {
		return 0, fmt.Errorf("store: summarise tracks: %w", err)
	}
	return tag.RowsAffected(), nil
}

// trackScanFactor: a track of n buckets over at most trackScanFactor×n
// seconds reads its seconds in one range scan; a longer one probes the
// index once per bucket (a 7-day range is 604,800 seconds a vehicle).
const trackScanFactor = 4

// Track returns a vehicle's positions in [from, to), downsampled in the
// database to at most maxPoints: the range is cut into maxPoints-1 equal
// buckets, each keeps its first point, and the last point of the range is
// always kept. Rows without a position (no fix) are skipped.
//
// Buckets of a second or more are read from track_1s, where each second
// holds its first fix: a bucket's point is then the first fix of the first
// second that starts in it, at most a second after its first raw point.
// Finer buckets read the raw telemetry.
func (s *Store) Track(ctx context.Context, vehicle string, from, to time.Time, maxPoints int) ([]TrackPoint, error) {
	if !to.After(from) {
		return nil, ErrRange
	}
	maxPoints = max(maxPoints, 2)
	buckets := maxPoints - 1
	// Whole microseconds, as PostgreSQL counts: the database's bucket
	// bounds and ours are then the same.
	step := (to.Sub(from) / time.Duration(buckets)).Truncate(time.Microsecond)
	if step <= 0 {
		step = time.Microsecond
	}
	var pts []TrackPoint
	var err error
	switch {
	case step < time.Second:
		pts, err = s.trackProbes(ctx, "telemetry", "time", vehicle, from, to, step, buckets)
	case to.Sub(from) <= trackScanFactor*time.Duration(buckets)*time.Second:
		pts, err = s.trackScan(ctx, vehicle, from, to, step, buckets)
	default:
		pts, err = s.trackProbes(ctx, TrackSummary, "second", vehicle, from, to, step, buckets)
	}
	if err != nil {
		return nil, fmt.Errorf("store: track: %w", err)
	}
	// The range's last fix, from the raw rows: one probe of (vehicle_id, time).
	rows, err := s.pool.Query(ctx, `SELECT `+trackPointColumns+` FROM telemetry
		WHERE vehicle_id = $1 AND time >= $2 AND time < $3 AND lat IS NOT NULL
		ORDER BY time DESC LIMIT 1`, vehicle, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: track: %w", err)
	}
	last, err := trackRows(rows, 1, nil, nil)
	if err != nil {
		return nil, fmt.Errorf("store: track: %w", err)
	}
	if len(last) == 1 && (len(pts) == 0 || last[0].Time.After(pts[len(pts)-1].Time)) {
		pts = append(pts, last[0])
	}
	return pts, nil
}

// trackRows reads rows of trackPointColumns, after extra leading columns
// scanned into extra, into a slice made for n; keep, when given, is called
// after each row is scanned and says whether to keep its point. The
// optional values are scanned into pgtype.Float4 and kept in slabs, not
// through pgx's reflection over **float32: tracks are the bulk of a replay.
func trackRows(rows pgx.Rows, n int, extra []any, keep func() bool) ([]TrackPoint, error) {
	var p TrackPoint
	var opt [7]pgtype.Float4
	dest := append(extra, &p.Time, &p.Lat, &p.Lon, &opt[0], &opt[1], &opt[2], &opt[3], &opt[4], &opt[5], &opt[6])
	pts := make([]TrackPoint, 0, min(n, 4096))
	var slab []float32
	_, err := pgx.ForEachRow(rows, dest, func() error {
		if keep != nil && !keep() {
			return nil
		}
		q := TrackPoint{Time: p.Time, Lat: p.Lat, Lon: p.Lon}
		for i, f := range [...]**float32{&q.AltMSL, &q.AltRel, &q.Heading, &q.GroundSpeed, &q.Yaw, &q.GimbalPitch, &q.GimbalYaw} {
			if !opt[i].Valid {
				continue
			}
			if len(slab) == cap(slab) {
				slab = make([]float32, 0, 1024) // earlier slabs stay where their points point
			}
			slab = append(slab, opt[i].Float32)
			*f = &slab[len(slab)-1]
		}
		pts = append(pts, q)
		return nil
	})
	return pts, err
}

// trackProbes reads each bucket's first point with one index probe of
// (vehicle_id, timeColumn), rather than every row of the range: a 10-Hz
// hour of a vehicle is 36,000 rows, its 2,000 buckets 2,000 probes.
func (s *Store) trackProbes(ctx context.Context, table, timeColumn, vehicle string, from, to time.Time, step time.Duration, buckets int) ([]TrackPoint, error) {
	tc := pgx.Identifier{timeColumn}.Sanitize()
	rows, err := s.pool.Query(ctx, `SELECT p.* FROM generate_series(0, $5::int - 1) b,
			LATERAL (SELECT `+trackPointColumns+` FROM `+pgx.Identifier{table}.Sanitize()+`
				WHERE vehicle_id = $1 AND `+tc+` >= $2::timestamptz + b * $4::interval
				  AND `+tc+` < least($2::timestamptz + (b + 1) * $4::interval, $3) AND time < $3 AND lat IS NOT NULL
				ORDER BY `+tc+` LIMIT 1) p
		ORDER BY p.time`,
		vehicle, from, to, step, buckets)
	if err != nil {
		return nil, err
	}
	return trackRows(rows, buckets, nil, nil)
}

// trackScan reads the range's seconds from track_1s in one range scan and
// keeps each bucket's first, the buckets taken as trackProbes takes them.
func (s *Store) trackScan(ctx context.Context, vehicle string, from, to time.Time, step time.Duration, buckets int) ([]TrackPoint, error) {
	rows, err := s.pool.Query(ctx, `SELECT second, `+trackPointColumns+` FROM track_1s
		WHERE vehicle_id = $1 AND second >= $2 AND second < $3 AND time < $3
		ORDER BY second`, vehicle, from, to)
	if err != nil {
		return nil, err
	}
	last := -1
	var sec time.Time
	return trackRows(rows, buckets, []any{&sec}, func() bool {
		b := int(sec.Sub(from) / step)
		if b <= last || b >= buckets {
			return false
		}
		last = b
		return true
	})
}
