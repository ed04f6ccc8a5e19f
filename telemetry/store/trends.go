package store

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The trends rollups (migration 12): trends_5m, trends_1h and trends_1d,
// kept from the buckets written since the last refresh (trends_dirty).

// markDirty appends 5-minute buckets to the trends' dirty rows, as written
// to table, in the writer's transaction: what is committed is refreshed.
// Buckets, not a batch's first-to-last span: a row with a wrong clock must
// not make a refresh recompute the years in between (where the raw rows
// may be past their retention).
func markDirty(ctx context.Context, tx pgx.Tx, table string, buckets []time.Time) error {
	_, err := tx.Exec(ctx, "INSERT INTO trends_dirty (source, from_time, to_time) SELECT $1, b, b FROM unnest($2::timestamptz[]) b", table, buckets)
	return err
}

// trendBucketOf is the 5-minute bucket t falls in.
func trendBucketOf(t time.Time) time.Time { return t.UTC().Truncate(trendBucket) }

// trendTables feed the trends: a batch written to one marks its buckets.
var trendTables = map[string]bool{"detections": true, "events": true}

// trendBucket is the finest trend bucket.
const trendBucket = 5 * time.Minute

// maxDirtyPerRefresh bounds one refresh's work; the rest waits for the
// next.
const maxDirtyPerRefresh = 20000

// span is a half-open time range [lo, hi).
type span struct{ lo, hi time.Time }

// dirtySpans merges ranges (inclusive ends) into sorted, disjoint spans
// aligned to 5-minute buckets.
func dirtySpans(from, to []time.Time) []span {
	var out []span
	for i := range from {
		f, t := from[i], to[i]
		if t.Before(f) { // a range given backwards
			f, t = t, f
		}
		lo := f.UTC().Truncate(trendBucket)
		hi := t.UTC().Truncate(trendBucket).Add(trendBucket)
		out = append(out, span{lo, hi})
	}
	slices.SortFunc(out, func(a, b span) int { return a.lo.Compare(b.lo) })
	merged := out[:0]
	for _, s := range out {
		if n := len(merged); n > 0 && !s.lo.After(merged[n-1].hi) {
			if s.hi.After(merged[n-1].hi) {
				merged[n-1].hi = s.hi
			}
			continue
		}
		merged = append(merged, s)
	}
	return merged
}

// trendEventKinds are the events the trends count (alerts are counted
// whatever their event's kind).
var trendEventKinds = []string{"track.start", "track.end", "zone.enter", "zone.exit", "zone.dwell", "zone.count",
	"geofence.enter", "geofence.exit", "geofence.breach"}

// recompute5m replaces the 5-minute trends in [$1, $2) with what the raw
// rows say. An event or alert counts at its scope: a zone's, a fence's,
// its camera's, or its site's (an alert on a vehicle). Numbers in an
// event's data are clamped (to 0 … 10⁹), so that no value fails the
// refresh.
const recompute5m = `
INSERT INTO trends_5m (bucket, scope, camera_id, name, class, site_id, detections, entries, exits, dwell_s, dwell_n, peak, breaches, alerts)
SELECT bucket, scope, camera_id, name, class, max(site_id), sum(detections), sum(entries), sum(exits), sum(dwell_s), sum(dwell_n), max(peak), sum(breaches), sum(alerts)
FROM (
    SELECT d.bucket, 'camera' AS scope, d.camera_id, '' AS name, d.class, coalesce(c.site_id, '') AS site_id,
           d.detections, 0 AS entries, 0 AS exits, 0::float8 AS dwell_s, 0 AS dwell_n, 0 AS peak, 0 AS breaches, 0 AS alerts
    FROM detections_5m d LEFT JOIN cameras c ON c.id = d.camera_id
    WHERE d.bucket >= $1 AND d.bucket < $2
    UNION ALL
    SELECT date_bin('5 minutes', x.time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), k.scope,
           CASE WHEN k.scope IN ('camera', 'zone') THEN x.camera_id ELSE '' END,
           CASE k.scope WHEN 'zone' THEN coalesce(x.data->>'zone', '') WHEN 'fence' THEN coalesce(x.data->>'fence', '') ELSE '' END,
           coalesce(x.data->>'class', CASE WHEN x.vehicle_id IS NOT NULL THEN 'drone' END, ''),
           coalesce(x.site_id, c.site_id, ''),
           0,
           (x.alert = 0 AND x.kind IN ('track.start', 'zone.enter', 'geofence.enter'))::int,
           (x.alert = 0 AND x.kind IN ('track.end', 'zone.exit', 'geofence.exit'))::int,
           CASE WHEN x.alert = 0 THEN coalesce(k.dwell, 0) ELSE 0 END,
           (x.alert = 0 AND k.dwell IS NOT NULL)::int,
           CASE WHEN x.alert = 0 AND k.scope = 'zone' AND jsonb_typeof(x.data->'count') = 'number'
                THEN least(greatest((x.data->>'count')::numeric, 0), 1000000000)::int ELSE 0 END,
           (x.alert = 0 AND x.kind = 'geofence.breach')::int,
           x.alert
    FROM (
        SELECT time, kind, camera_id, vehicle_id, site_id, data, 0 AS alert
        FROM events WHERE time >= $1 AND time < $2 AND kind = ANY($3)
        UNION ALL
        SELECT event_time, event_kind, camera_id, vehicle_id, site_id, event->'data', 1
        FROM alerts WHERE event_time >= $1 AND event_time < $2
    ) x
    LEFT JOIN cameras c ON c.id = x.camera_id
    CROSS JOIN LATERAL (SELECT
        CASE WHEN x.kind LIKE 'zone.%' THEN 'zone'
             WHEN x.kind LIKE 'geofence.%' THEN 'fence'
             WHEN x.camera_id IS NOT NULL THEN 'camera'
             ELSE 'site' END AS scope,
        CASE WHEN x.kind NOT IN ('track.end', 'zone.exit', 'geofence.exit') THEN NULL
             WHEN jsonb_typeof(x.data->'dwell_s') = 'number' THEN least(greatest((x.data->>'dwell_s')::numeric, 0), 1e9)::float8
             WHEN jsonb_typeof(x.data->'duration_s') = 'number' THEN least(greatest((x.data->>'duration_s')::numeric, 0), 1e9)::float8 END AS dwell) k
) r
GROUP BY bucket, scope, camera_id, name, class`

// rollup1h replaces the hourly trends in [$1, $2) (whole UTC hours) from
// the 5-minute ones.
const rollup1h = `
INSERT INTO trends_1h (bucket, scope, camera_id, name, class, site_id, detections, entries, exits, dwell_s, dwell_n, peak, breaches, alerts)
SELECT date_bin('1 hour', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00'), scope, camera_id, name, class, max(site_id),
       sum(detections), sum(entries), sum(exits), sum(dwell_s), sum(dwell_n), max(peak), sum(breaches), sum(alerts)
FROM trends_5m WHERE bucket >= $1 AND bucket < $2
GROUP BY 1, 2, 3, 4, 5`

// rollup1d replaces the daily trends whose day (midnight in the site's
// time zone, $3 and $4 mapping sites to valid zone names) may meet
// [$1, $2): a day begins less than 26 hours before $1 (a DST day is 25
// hours long) and before $2. It reads the 5-minute buckets around them
// (not the hours: a zone at :30 or :45 from UTC cuts an hour at midnight).
const rollup1d = `
INSERT INTO trends_1d (bucket, scope, camera_id, name, class, site_id, detections, entries, exits, dwell_s, dwell_n, peak, breaches, alerts)
SELECT day, scope, camera_id, name, class, max(site_id),
       sum(detections), sum(entries), sum(exits), sum(dwell_s), sum(dwell_n), max(peak), sum(breaches), sum(alerts)
FROM (
    SELECT date_trunc('day', f.bucket AT TIME ZONE coalesce(z.tz, 'UTC')) AT TIME ZONE coalesce(z.tz, 'UTC') AS day, f.*
    FROM trends_5m f
    LEFT JOIN unnest($3::text[], $4::text[]) AS z(site, tz) ON z.site = f.site_id
    WHERE f.bucket >= $1::timestamptz - INTERVAL '26 hours' AND f.bucket < $2::timestamptz + INTERVAL '26 hours'
) x
WHERE day > $1::timestamptz - INTERVAL '26 hours' AND day < $2
GROUP BY day, scope, camera_id, name, class`

// recomputeSummary replaces detections_5m in [$1, $2) (postgres mode;
// TimescaleDB refreshes its continuous aggregate itself).
const recomputeSummary = `
INSERT INTO detections_5m (bucket, camera_id, class, detections, mean_confidence)
SELECT date_bin(INTERVAL '5 minutes', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), camera_id, class, count(*), avg(confidence)
FROM detections
WHERE time >= $1 AND time < $2
GROUP BY 1, 2, 3`

// RefreshTrends brings detections_5m (its refresh, in both modes) and the
// trends rollups up to date with everything committed since the last
// refresh, old or new, and returns how many 5-minute buckets it
// recomputed. Only the buckets written to are recomputed, each from the
// raw rows, so a refresh costs what was written, not the history's
// length, and repeating one changes nothing.
func (s *Store) RefreshTrends(ctx context.Context) (int64, error) {
	var ids []int64
	var from, to, dfrom, dto []time.Time
	rows, err := s.pool.Query(ctx, "SELECT id, source, from_time, to_time FROM trends_dirty ORDER BY id LIMIT $1", maxDirtyPerRefresh)
	if err != nil {
		return 0, fmt.Errorf("store: refresh trends: %w", err)
	}
	for rows.Next() {
		var id int64
		var source string
		var f, t time.Time
		if err := rows.Scan(&id, &source, &f, &t); err != nil {
			rows.Close()
			return 0, fmt.Errorf("store: refresh trends: %w", err)
		}
		ids, from, to = append(ids, id), append(from, f), append(to, t)
		if source == "detections" {
			dfrom, dto = append(dfrom, f), append(dto, t)
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: refresh trends: %w", err)
	}
	if len(ids) == 0 {
		return 0, nil
	}
	// The detection summary is recomputed where detections were written
	// (elsewhere it may hold buckets whose raw rows are past their
	// retention); the trends wherever anything was.
	spans, detSpans := dirtySpans(from, to), dirtySpans(dfrom, dto)
	if s.Mode() == ModeTimescaleDB {
		// A continuous aggregate is refreshed outside a transaction block,
		// so by the simple protocol (no parameters: the times are ours,
		// written as literals); a refresh is idempotent, so one
		// interrupted here is made again.
		for _, sp := range detSpans {
			call := fmt.Sprintf("CALL refresh_continuous_aggregate('detections_5m', '%s', '%s')", sp.lo.Format(time.RFC3339), sp.hi.Format(time.RFC3339))
			if _, err := s.pool.Exec(ctx, call); err != nil {
				return 0, fmt.Errorf("store: refresh detections_5m: %w", err)
			}
		}
	}
	sites, zones, err := s.siteZones(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: refresh trends: %w", err)
	}
	var buckets int64
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		// One refresher at a time, across processes.
		if _, err := tx.Exec(ctx, "SELECT pg_advisory_xact_lock($1)", migrationLock+1); err != nil {
			return err
		}
		for _, sp := range detSpans {
			if s.Mode() != ModePostgres {
				break
			}
			if _, err := tx.Exec(ctx, "DELETE FROM detections_5m WHERE bucket >= $1 AND bucket < $2", sp.lo, sp.hi); err != nil {
				return err
			}
			tag, err := tx.Exec(ctx, recomputeSummary, sp.lo, sp.hi)
			if err != nil {
				return err
			}
			s.m.summaryRefreshRows.Add(float64(tag.RowsAffected()))
		}
		for _, sp := range spans {
			if _, err := tx.Exec(ctx, "DELETE FROM trends_5m WHERE bucket >= $1 AND bucket < $2", sp.lo, sp.hi); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, recompute5m, sp.lo, sp.hi, trendEventKinds); err != nil {
				return err
			}
			hlo, hhi := sp.lo.Truncate(time.Hour), sp.hi.Add(time.Hour-time.Nanosecond).Truncate(time.Hour)
			if _, err := tx.Exec(ctx, "DELETE FROM trends_1h WHERE bucket >= $1 AND bucket < $2", hlo, hhi); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, rollup1h, hlo, hhi); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, "DELETE FROM trends_1d WHERE bucket > $1::timestamptz - INTERVAL '26 hours' AND bucket < $2", hlo, hhi); err != nil {
				return err
			}
			if _, err := tx.Exec(ctx, rollup1d, hlo, hhi, sites, zones); err != nil {
				return err
			}
			buckets += int64(sp.hi.Sub(sp.lo) / trendBucket)
		}
		_, err := tx.Exec(ctx, "DELETE FROM trends_dirty WHERE id = ANY($1)", ids)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("store: refresh trends: %w", err)
	}
	s.m.trendBuckets.Add(float64(buckets))
	return buckets, nil
}

// siteZones lists the sites whose time zone PostgreSQL knows, with it (a
// site with another is counted in UTC days rather than fail every
// refresh).
func (s *Store) siteZones(ctx context.Context) (sites, zones []string, err error) {
	known, err := s.knownZones(ctx)
	if err != nil {
		return nil, nil, err
	}
	rows, err := s.pool.Query(ctx, "SELECT id, timezone FROM sites")
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var id, tz string
		if err := rows.Scan(&id, &tz); err != nil {
			return nil, nil, err
		}
		if known[tz] {
			sites, zones = append(sites, id), append(zones, tz)
		}
	}
	return sites, zones, rows.Err()
}

// knownZones are the time zone names the server knows, read on first use.
func (s *Store) knownZones(ctx context.Context) (map[string]bool, error) {
	s.mu.Lock()
	known := s.zoneNames
	s.mu.Unlock()
	if known != nil {
		return known, nil
	}
	rows, err := s.pool.Query(ctx, "SELECT name FROM pg_timezone_names")
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	known = make(map[string]bool, len(names))
	for _, n := range names {
		known[n] = true
	}
	s.mu.Lock()
	s.zoneNames = known
	s.mu.Unlock()
	return known, nil
}
