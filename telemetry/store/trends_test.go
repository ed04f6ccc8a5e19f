package store

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/batch"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// trendModes are the store modes this machine can run: plain PostgreSQL
// always, TimescaleDB where the server has the extension.
func trendModes(t *testing.T) []Mode {
	s := newStore(t, Config{})
	modes := []Mode{ModePostgres}
	if queryInt(t, s, "SELECT count(*) FROM pg_available_extensions WHERE name = 'timescaledb'") > 0 {
		modes = append(modes, ModeTimescaleDB)
	} else {
		t.Log("TimescaleDB is not installed here: the timescaledb mode is not run")
	}
	return modes
}

// copyRows writes rows into table as one batch.
func copyRows(t *testing.T, s *Store, table *batch.Table, rows [][]any) {
	t.Helper()
	b := &batch.Batch{ID: telemetry.NewUUID(), Table: table, Rows: rows}
	if dup, err := s.CopyBatch(t.Context(), b); err != nil || dup {
		t.Fatalf("copy %d rows into %s: duplicate %v, %v", len(rows), table.Name, dup, err)
	}
	// A batch replayed (its acknowledgement lost) writes nothing.
	if dup, err := s.CopyBatch(t.Context(), b); err != nil || !dup {
		t.Fatalf("replayed batch: duplicate %v, %v", dup, err)
	}
}

// trendHistory writes n detections and the events of their tracks (starts,
// ends, zone and fence visits, breaches) and one alert per 40 events,
// between from and from+span.
func trendHistory(t *testing.T, s *Store, rng *rand.Rand, from time.Time, span time.Duration, n int) {
	t.Helper()
	at := func() time.Time { return from.Add(time.Duration(rng.Int64N(int64(span)))).Truncate(time.Millisecond) }
	cams := []string{"cam-a", "cam-b", "cam-x"} // cam-x has no site
	classes := []string{"person", "car"}
	var dets, evs [][]any
	for range n {
		dets = append(dets, detectionRow(at(), cams[rng.IntN(3)], classes[rng.IntN(2)], 0.3+rng.Float32()/2))
	}
	var alertOn []*telemetry.Event
	for i := range n / 4 {
		cam, class := cams[rng.IntN(3)], classes[rng.IntN(2)]
		var e telemetry.Event
		switch i % 7 {
		case 0:
			e = telemetry.Event{Kind: "track.start", Data: map[string]any{"class": class}}
		case 1:
			e = telemetry.Event{Kind: "track.end", Data: map[string]any{"class": class, "duration_s": rng.Float64() * 60}}
		case 2:
			e = telemetry.Event{Kind: "zone.enter", Data: map[string]any{"class": class, "zone": "gate", "count": rng.IntN(30)}}
		case 3:
			e = telemetry.Event{Kind: "zone.exit", Data: map[string]any{"class": class, "zone": []string{"gate", "lawn"}[rng.IntN(2)], "count": rng.IntN(30), "dwell_s": rng.Float64() * 300}}
		case 4:
			e = telemetry.Event{Kind: "zone.count", Data: map[string]any{"zone": "gate", "count": rng.IntN(50)}}
		case 5:
			e = telemetry.Event{Kind: "geofence.enter", Site: "cbd", Data: map[string]any{"fence": "works", "class": class}}
		case 6:
			e = telemetry.Event{Kind: "geofence.breach", Site: "cbd", VehicleID: "drone-1", Data: map[string]any{"fence": "works"}}
			cam = ""
		}
		e.Time, e.ID, e.CameraID = at(), telemetry.NewUUID(), cam
		switch i % 11 {
		case 0:
			e.Data["count"] = "lots" // malformed: counts as absent
		case 5:
			e.Data["dwell_s"] = json.Number("1e400") // past float8: clamped, never a failed refresh
		}
		evs = append(evs, EventRow(&e))
		if i%40 == 0 {
			alertOn = append(alertOn, &e)
		}
	}
	// An alert on a vehicle (no camera): the site's.
	battery := telemetry.Event{Time: at(), ID: telemetry.NewUUID(), Kind: "vehicle.battery_low", VehicleID: "drone-1", Site: "cbd", Data: map[string]any{"remaining": 20}}
	evs = append(evs, EventRow(&battery))
	alertOn = append(alertOn, &battery)
	copyRows(t, s, Detections, dets)
	copyRows(t, s, Events, evs)
	for _, e := range alertOn {
		a := &telemetry.Alert{ID: telemetry.NewUUID(), EventTime: e.Time, EventID: e.ID, EventKind: e.Kind, RuleID: "r", RuleName: "r",
			CameraID: e.CameraID, VehicleID: e.VehicleID, Site: e.Site, Severity: "warning", Title: "t", LastSeen: e.Time}
		if err := s.InsertAlert(t.Context(), a, e, "test", nil, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// trendsDiffer counts the rows where a trends table and the same counts
// taken straight from the raw rows with GROUP BY differ. bucket is the
// SQL of a row's bucket from its time column t and site time zone tz.
func trendsDiffer(t *testing.T, s *Store, table, bucket string) int64 {
	t.Helper()
	raw := fmt.Sprintf(`
WITH site_tz AS (SELECT c.id AS camera_id, c.site_id, s.timezone AS tz FROM cameras c JOIN sites s ON s.id = c.site_id),
det AS (
    SELECT %[1]s AS b, 'camera' AS scope, d.camera_id, '' AS name, d.class, count(*) AS detections,
           0 AS entries, 0 AS exits, 0 AS dwell_n, 0 AS peak, 0 AS breaches, 0 AS alerts
    FROM (SELECT d.time AS t, coalesce(z.tz, 'UTC') AS tz, d.* FROM detections d LEFT JOIN site_tz z ON z.camera_id = d.camera_id) d
    GROUP BY 1, 2, 3, 4, 5),
ev AS (
    SELECT %[1]s AS b,
           CASE WHEN kind LIKE 'zone.%%' THEN 'zone' WHEN kind LIKE 'geofence.%%' THEN 'fence' WHEN e.camera_id IS NULL THEN 'site' ELSE 'camera' END AS scope,
           CASE WHEN kind LIKE 'geofence.%%' THEN '' ELSE coalesce(e.camera_id, '') END AS camera_id,
           coalesce(data->>'zone', data->>'fence', '') AS name,
           coalesce(data->>'class', CASE WHEN vehicle_id IS NOT NULL THEN 'drone' END, '') AS class,
           0 AS detections,
           count(*) FILTER (WHERE kind IN ('track.start', 'zone.enter', 'geofence.enter')) AS entries,
           count(*) FILTER (WHERE kind IN ('track.end', 'zone.exit', 'geofence.exit')) AS exits,
           count(*) FILTER (WHERE kind IN ('track.end', 'zone.exit', 'geofence.exit')) AS dwell_n,
           coalesce(max((data->>'count')::int) FILTER (WHERE kind LIKE 'zone.%%' AND data->>'count' ~ '^[0-9]+$'), 0) AS peak,
           count(*) FILTER (WHERE kind = 'geofence.breach') AS breaches,
           (SELECT count(*) FROM alerts a WHERE a.event_id = ANY(array_agg(e.id))) AS alerts
    FROM (SELECT e.time AS t, coalesce(es.timezone, z.tz, 'UTC') AS tz, e.* FROM events e
          LEFT JOIN site_tz z ON z.camera_id = e.camera_id LEFT JOIN sites es ON es.id = e.site_id) e
    GROUP BY 1, 2, 3, 4, 5),
r AS (
    SELECT b, scope, camera_id, name, class, sum(detections) AS detections, sum(entries) AS entries, sum(exits) AS exits,
           sum(dwell_n) AS dwell_n, max(peak) AS peak, sum(breaches) AS breaches, sum(alerts) AS alerts
    FROM (SELECT * FROM det UNION ALL SELECT * FROM ev) u GROUP BY 1, 2, 3, 4, 5),
x AS (SELECT bucket, scope, camera_id, name, class, detections, entries, exits, dwell_n, peak, breaches, alerts FROM %[2]s)
SELECT count(*) FROM ((SELECT * FROM r EXCEPT SELECT * FROM x) UNION ALL (SELECT * FROM x EXCEPT SELECT * FROM r)) d`, bucket, table)
	return queryInt(t, s, raw)
}

// TestTrendsEqualRawRows: every rollup equals the same counts taken with
// GROUP BY over the raw detections, events and alerts, after live rows,
// after late rows (an old flight imported, a spool replayed) and after a
// repeated refresh, in each store mode this machine has.
func TestTrendsEqualRawRows(t *testing.T) {
	for _, mode := range trendModes(t) {
		t.Run(string(mode), func(t *testing.T) {
			// The session's time zone is not UTC, nor a whole hours from it:
			// buckets must not depend on it.
			s := newStore(t, Config{Mode: string(mode), URL: storetest.URL(t) + "&timezone=Asia%2FKolkata"})
			migrateByHand(t, s)
			if s.Mode() != mode {
				t.Fatalf("mode %s, want %s", s.Mode(), mode)
			}
			ctx := t.Context()
			for _, q := range []string{
				`INSERT INTO sites (id, name, timezone) VALUES ('cbd', 'CBD', 'Asia/Shanghai'), ('yard', 'Yard', 'America/New_York')`,
				`INSERT INTO cameras (id, site_id, name, kind) VALUES ('cam-a', 'cbd', 'A', 'fixed'), ('cam-b', 'yard', 'B', 'fixed')`,
			} {
				if _, err := s.pool.Exec(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			rng := rand.New(rand.NewPCG(25, 1))
			check := func(when string) {
				t.Helper()
				for table, bucket := range map[string]string{
					"trends_5m": "date_bin('5 minutes', t, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
					"trends_1h": "date_bin('1 hour', t, TIMESTAMPTZ '2000-01-01 00:00:00+00')",
					"trends_1d": "date_trunc('day', t AT TIME ZONE tz) AT TIME ZONE tz",
				} {
					if n := trendsDiffer(t, s, table, bucket); n != 0 {
						t.Errorf("%s: %s differs from the raw rows in %d rows", when, table, n)
					}
				}
				if s.Mode() == ModePostgres {
					if n := queryInt(t, s, `SELECT count(*) FROM (
  (SELECT date_bin('5 minutes', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), camera_id, class, count(*) FROM detections GROUP BY 1, 2, 3
   EXCEPT SELECT bucket, camera_id, class, detections FROM detections_5m)
  UNION ALL
  (SELECT bucket, camera_id, class, detections FROM detections_5m
   EXCEPT SELECT date_bin('5 minutes', time, TIMESTAMPTZ '2000-01-01 00:00:00+00'), camera_id, class, count(*) FROM detections GROUP BY 1, 2, 3)) d`); n != 0 {
						t.Errorf("%s: detections_5m differs from the raw rows in %d rows", when, n)
					}
				}
			}
			refresh := func() int64 {
				t.Helper()
				n, err := s.RefreshTrends(ctx)
				if err != nil {
					t.Fatal(err)
				}
				return n
			}

			now := time.Now().UTC()
			trendHistory(t, s, rng, now.Add(-3*time.Hour), 3*time.Hour, 3000)
			if n := refresh(); n < 36 || n > 40 {
				t.Fatalf("recomputed %d buckets for 3 hours of rows", n)
			}
			check("live rows")
			if queryInt(t, s, "SELECT (current_setting('TimeZone') = 'Asia/Kolkata')::int") == 0 {
				t.Fatal("the session's time zone was not set")
			}
			if queryInt(t, s, "SELECT count(*) FROM trends_5m WHERE scope = 'site' AND alerts = 1 AND class = 'drone'") != 1 {
				t.Fatal("the alert on a vehicle is not its site's")
			}
			if queryInt(t, s, "SELECT count(*) FROM trends_1h WHERE extract(minute FROM bucket AT TIME ZONE 'UTC') <> 0") != 0 {
				t.Fatal("hours not on UTC hours")
			}
			if queryInt(t, s, "SELECT sum(detections) FROM trends_1d") != 3000 {
				t.Fatal("the days do not hold the 3000 detections")
			}
			if queryInt(t, s, "SELECT count(*) FROM trends_5m WHERE scope = 'camera' AND site_id = 'cbd' AND camera_id <> 'cam-a'") != 0 ||
				queryInt(t, s, "SELECT count(*) FROM trends_5m WHERE site_id = 'cbd'") == 0 {
				t.Fatal("sites are not those of the cameras")
			}

			// Late rows: an old flight imported (ten days back, spanning a
			// day boundary) and a spool replayed after an outage (within the
			// last hours, into buckets already refreshed).
			trendHistory(t, s, rng, now.Add(-10*24*time.Hour-6*time.Hour), 12*time.Hour, 800)
			trendHistory(t, s, rng, now.Add(-2*time.Hour), 30*time.Minute, 400)
			if n := refresh(); n == 0 || n > 12*12+3*12 {
				t.Fatalf("recomputed %d buckets for late rows spanning 12 h + 2 h", n)
			}
			check("late rows")
			if queryInt(t, s, "SELECT sum(detections) FROM trends_1h") != 4200 {
				t.Fatal("the hours do not hold the 4200 detections")
			}

			// Nothing written: nothing recomputed, nothing changes.
			if n := refresh(); n != 0 {
				t.Fatalf("a refresh with nothing written recomputed %d buckets", n)
			}
			check("repeated refresh")
		})
	}
}

func TestDirtySpans(t *testing.T) {
	at := func(m int) time.Time {
		return time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC).Add(time.Duration(m) * time.Minute)
	}
	got := dirtySpans(
		[]time.Time{at(12), at(0), at(1), at(61), at(30)},
		[]time.Time{at(14), at(4), at(6), at(59), at(30)}, // the fourth given backwards
	)
	// at(0..4] and at(1..6] merge; at(12..14] touches at(10) and merges.
	want := []span{{at(0), at(15)}, {at(30), at(35)}, {at(55), at(65)}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
}
