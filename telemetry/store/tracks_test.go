package store

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// rawFix is a stored telemetry row with a position, as the tests know it.
type rawFix struct {
	t        time.Time
	lat, lon float64
	heading  float32
}

// refTrack is what Track should answer, computed from the raw rows the
// slow way: per second the first fix, per bucket the first second that
// starts in it (buckets of a second or more; finer ones keep their first
// raw fix), plus the range's last fix.
func refTrack(fixes []rawFix, from, to time.Time, maxPoints int) []rawFix {
	buckets := maxPoints - 1
	step := (to.Sub(from) / time.Duration(buckets)).Truncate(time.Microsecond)
	firsts := map[int64]rawFix{}
	var seconds []int64
	var last *rawFix
	for _, f := range fixes {
		if f.t.Before(from) || !f.t.Before(to) {
			continue
		}
		if last == nil || f.t.After(last.t) {
			last = &f
		}
		s := f.t.Truncate(time.Second).Unix()
		if g, ok := firsts[s]; !ok || f.t.Before(g.t) {
			if !ok {
				seconds = append(seconds, s)
			}
			firsts[s] = f
		}
	}
	var out []rawFix
	lastBucket := -1
	if step < time.Second { // the raw rows, bucketed by their own time
		for _, f := range fixes {
			if f.t.Before(from) || !f.t.Before(to) {
				continue
			}
			if b := int(f.t.Sub(from) / step); b > lastBucket && b < buckets {
				out, lastBucket = append(out, f), b
			}
		}
		seconds = nil
	}
	for _, s := range seconds { // in order: the fixes are
		sec := time.Unix(s, 0)
		if sec.Before(from) {
			continue
		}
		if b := int(sec.Sub(from) / step); b > lastBucket && b < buckets {
			out, lastBucket = append(out, firsts[s]), b
		}
	}
	if last != nil && (len(out) == 0 || last.t.After(out[len(out)-1].t)) {
		out = append(out, *last)
	}
	return out
}

// TestTrackSummary: telemetry written through the store brings its
// per-second summary along, the first fix of each second even when a
// later batch brings an earlier one; Track answers from it (one range
// scan or one probe per bucket) what the raw rows give, and from the raw
// rows for buckets under a second; the summary's partitions follow
// telemetry's retention.
func TestTrackSummary(t *testing.T) {
	s := newStore(t, Config{Retention: map[string]time.Duration{"telemetry": 30 * 24 * time.Hour}})
	migrateByHand(t, s)
	ctx := t.Context()

	// Two drones, 10 minutes at 10 Hz with a jittered clock, a fix lost
	// now and then; "drone-b" flies north-east in a straight line.
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-2 * time.Hour)
	fixes := map[string][]rawFix{}
	var rows [][]any
	for i := range 6000 {
		for v, id := range []string{"drone-a", "drone-b"} {
			ts := t0.Add(time.Duration(i)*100*time.Millisecond + time.Duration((i*7919+v*31)%40)*time.Millisecond)
			row := telemetryRow(ts, id, 22.5+float64(i)*1e-6, 114.05+float64(v)*1e-3+float64(i)*1e-6)
			row[6] = float32(i % 360)
			if i%13 == 5 {
				row[2], row[3] = nil, nil // no fix
			} else {
				fixes[id] = append(fixes[id], rawFix{ts, row[2].(float64), row[3].(float64), float32(i % 360)})
			}
			rows = append(rows, row)
		}
	}
	// In two batches, the second written first: each second must still
	// keep its first fix.
	half := 2 * 3005 // 300.5 s: second 300 straddles the two
	for _, part := range [][][]any{rows[half:], rows[:half]} {
		if dup, err := s.CopyBatch(ctx, &batch.Batch{ID: NewID(), Table: Telemetry, Rows: part}); err != nil || dup {
			t.Fatalf("copy: %v (duplicate %v)", err, dup)
		}
	}
	// A spooled batch comes back with its table rebuilt from the spool's
	// header: the summary finds its columns by name all the same.
	late := t0.Add(10*time.Minute + 500*time.Millisecond)
	lateRow := telemetryRow(late, "drone-a", 22.6, 114.1)
	lateRow[6] = float32(7)
	// 200 ns before a second ends: stored rounded to the microsecond, in
	// the next second, and summarised there.
	edge := telemetryRow(t0.Add(20*time.Second-200*time.Nanosecond), "drone-c", 22.7, 114.2)
	spooled := &batch.Batch{ID: NewID(), Table: &batch.Table{Name: Telemetry.Name, Columns: append([]batch.Column(nil), Telemetry.Columns...)},
		Rows: [][]any{lateRow, edge}}
	if _, err := s.CopyBatch(ctx, spooled); err != nil {
		t.Fatal(err)
	}
	fixes["drone-a"] = append(fixes["drone-a"], rawFix{late, 22.6, 114.1, 7})

	seconds := queryInt(t, s, `SELECT count(*) FROM (SELECT DISTINCT vehicle_id, date_trunc('second', time) FROM telemetry WHERE lat IS NOT NULL) x`)
	if got := queryInt(t, s, "SELECT count(*) FROM track_1s"); got != seconds || seconds < 1200 {
		t.Fatalf("track_1s holds %d rows; the telemetry has %d vehicle-seconds with a fix", got, seconds)
	}
	if bad := queryInt(t, s, `SELECT count(*) FROM track_1s s
		WHERE s.time <> (SELECT min(time) FROM telemetry r WHERE r.vehicle_id = s.vehicle_id AND r.lat IS NOT NULL
			AND r.time >= s.second AND r.time < s.second + interval '1 second')
		   OR s.second <> date_trunc('second', s.time)`); bad != 0 {
		t.Fatalf("%d seconds do not hold their first fix", bad)
	}

	check := func(vehicle string, from, to time.Time, maxPoints int) []TrackPoint {
		t.Helper()
		got, err := s.Track(ctx, vehicle, from, to, maxPoints)
		if err != nil {
			t.Fatal(err)
		}
		want := refTrack(fixes[vehicle], from, to, maxPoints)
		if len(got) != len(want) || len(got) > maxPoints {
			t.Fatalf("%s %s–%s in %d points: got %d points, want %d", vehicle, from.Format("15:04:05.000"), to.Format("15:04:05.000"), maxPoints, len(got), len(want))
		}
		for i := range got {
			g, w := got[i], want[i]
			if !g.Time.Equal(w.t) || g.Lat != w.lat || g.Lon != w.lon || g.Heading == nil || *g.Heading != w.heading {
				t.Fatalf("%s in %d points: point %d is %v (%v, %v), want %v (%v, %v)", vehicle, maxPoints, i, g.Time, g.Lat, g.Lon, w.t, w.lat, w.lon)
			}
		}
		return got
	}
	from, to := t0.Add(1234*time.Millisecond), t0.Add(9*time.Minute+31*time.Second+700*time.Millisecond)
	for _, v := range []string{"drone-a", "drone-b"} {
		check(v, from, to, 300)  // 1.9-s buckets: a range scan of track_1s
		check(v, from, to, 40)   // 14.6-s buckets: a probe of track_1s each
		check(v, from, to, 2000) // 0.29-s buckets: probes of the raw rows
	}
	// The range's last fix is the raw one, not its second's first.
	pts := check("drone-a", t0, t0.Add(11*time.Minute), 50)
	if end := pts[len(pts)-1]; !end.Time.Equal(late) || end.Lat != 22.6 {
		t.Fatalf("the track ends at %v (%v), want the late fix at %v", end.Time, end.Lat, late)
	}
	// Distinct points do not share their optional values.
	if *pts[1].Heading == *pts[2].Heading {
		t.Fatalf("points 1 and 2 share heading %v", *pts[1].Heading)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM track_1s WHERE vehicle_id = 'drone-c' AND second = $1 AND time = $1", t0.Add(20*time.Second)); got != 1 {
		t.Fatal("a fix rounded into the next second is not summarised there")
	}
	if pts, err := s.Track(ctx, "drone-d", from, to, 100); err != nil || len(pts) != 0 {
		t.Fatalf("unknown vehicle: %d points, %v", len(pts), err)
	}
	// The whole track in three points: start, middle, end.
	if pts := check("drone-b", t0, t0.Add(10*time.Minute), 3); len(pts) != 3 || math.Abs(pts[1].Time.Sub(t0.Add(5*time.Minute)).Seconds()) > 1 {
		t.Fatalf("three points: %v", pts)
	}

	// Retention: the summary's old partition goes with telemetry's.
	old := time.Now().UTC().AddDate(0, 0, -40)
	if _, err := s.CopyBatch(ctx, &batch.Batch{ID: NewID(), Table: Telemetry, Rows: [][]any{telemetryRow(old, "drone-a", 22.5, 114.05)}}); err != nil {
		t.Fatal(err)
	}
	oldPart := partitionName(TrackSummary, old)
	if queryInt(t, s, "SELECT count(*) FROM track_1s WHERE second < now() - interval '39 days'") != 1 {
		t.Fatal("the old fix is not summarised")
	}
	if err := s.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", oldPart) != 0 {
		t.Fatalf("partition %s past telemetry's retention not dropped", oldPart)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM track_1s"); got != seconds {
		t.Fatalf("after retention track_1s holds %d rows, want %d", got, seconds)
	}
}

// TestTrackSummaryMigrationAndRebuild: a database migrated before track_1s
// existed gets it filled from its telemetry by the migration, and rows
// loaded around the store are summarised by SummariseTracks.
func TestTrackSummaryMigrationAndRebuild(t *testing.T) {
	s := newStore(t, Config{})
	ctx := context.Background()
	migrateByHand(t, s)
	// Back to schema version 7, with two days of telemetry written by SQL.
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -1)
	if _, err := s.pool.Exec(ctx, `DROP TABLE track_1s; DELETE FROM store_timeseries WHERE table_name = 'track_1s';
		DELETE FROM schema_migrations WHERE version = 8`); err != nil {
		t.Fatal(err)
	}
	load := func(from time.Time, n int) {
		t.Helper()
		if err := s.EnsurePartitions(ctx, "telemetry", from, from.Add(time.Duration(n)*250*time.Millisecond)); err != nil {
			t.Fatal(err)
		}
		// Four fixes a second (the odd ones without a position), from
		// 23:59 into the next day.
		if _, err := s.pool.Exec(ctx, `INSERT INTO telemetry (time, vehicle_id, lat, lon, heading)
			SELECT $1::timestamptz + i * interval '250 ms', 'drone-' || (i % 2),
				CASE WHEN i % 4 = 3 THEN NULL ELSE 22.5 + i * 1e-6 END, 114.05, i % 360
			FROM generate_series(0, $2::int - 1) i`, from, n); err != nil {
			t.Fatal(err)
		}
	}
	load(day.Add(-time.Minute), 480)
	s.partitions = map[string]bool{}
	if n, err := s.Migrate(ctx); err != nil || n != 1 {
		t.Fatalf("migrate: applied %d, %v", n, err)
	}
	// drone-0 has the even fixes (i%4 = 0, 2), drone-1 the i%4 = 1 ones:
	// each has a fix every second for the two minutes.
	if got := queryInt(t, s, "SELECT count(*) FROM track_1s"); got != 240 {
		t.Fatalf("the migration summarised %d seconds, want 240", got)
	}
	for _, d := range []time.Time{day.Add(-time.Minute), day} {
		if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", partitionName(TrackSummary, d)) != 1 {
			t.Fatalf("no track_1s partition for %s", d.Format(time.DateOnly))
		}
	}
	if bad := queryInt(t, s, `SELECT count(*) FROM track_1s
		WHERE time <> second + CASE vehicle_id WHEN 'drone-0' THEN interval '0' ELSE interval '250 ms' END`); bad != 0 {
		t.Fatalf("%d seconds do not start with their first fix", bad)
	}
	pts, err := s.Track(ctx, "drone-0", day.Add(-time.Minute), day.Add(time.Minute), 13) // 10-s buckets
	if err != nil || len(pts) != 13 || !pts[6].Time.Equal(day) {
		t.Fatalf("track after the migration: %d points, %v", len(pts), err)
	}

	// Rows loaded by SQL later are summarised on demand, once.
	load(day.Add(time.Hour), 40)
	if n, err := s.SummariseTracks(ctx, day.Add(time.Hour), day.Add(2*time.Hour)); err != nil || n != 20 {
		t.Fatalf("summarise: %d seconds, %v; want 20", n, err)
	}
	if n, err := s.SummariseTracks(ctx, day.Add(time.Hour), day.Add(2*time.Hour)); err != nil || n != 0 {
		t.Fatalf("summarise again: %d seconds, %v; want 0", n, err)
	}
	if _, err := s.SummariseTracks(ctx, day, day); err != ErrRange {
		t.Fatalf("an empty range: %v", err)
	}
}
