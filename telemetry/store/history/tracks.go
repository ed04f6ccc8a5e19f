package history

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
)

// PointColumns are the columns a TrackPoint is read from, in order:
// telemetry's and track_1s's alike (the store writes track_1s with them).
const PointColumns = "time, lat, lon, alt_msl, alt_rel, heading, ground_speed, yaw, gimbal_pitch, gimbal_yaw"

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
		pts, err = s.trackProbes(ctx, "track_1s", "second", vehicle, from, to, step, buckets)
	}
	if err != nil {
		return nil, fmt.Errorf("store: track: %w", err)
	}
	// The range's last fix, from the raw rows: one probe of (vehicle_id, time).
	rows, err := s.pool.Query(ctx, `SELECT `+PointColumns+` FROM telemetry
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

// trackRows reads rows of PointColumns, after extra leading columns
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
			LATERAL (SELECT `+PointColumns+` FROM `+pgx.Identifier{table}.Sanitize()+`
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
	rows, err := s.pool.Query(ctx, `SELECT second, `+PointColumns+` FROM track_1s
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
