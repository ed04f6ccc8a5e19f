package dashboard

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"testing"
	"time"
)

// TestReplayAnswer: a replay over a real store answers its lines in the
// documented order — range, tracks, events, detections in chunks, end —
// with every placed detection of the range once, in time order, and none
// from outside it or without a place; tracks come from the per-second
// summary when their buckets are a second or more, from the raw rows when
// finer, both starting at the range's first fix and ending at its last.
func TestReplayAnswer(t *testing.T) {
	base, st, _ := serveRecordings(t)
	ctx := t.Context()
	pool := st.Pool()
	to := time.Now().UTC().Truncate(time.Minute)
	from := to.Add(-10 * time.Minute)
	for _, table := range []string{"telemetry", "detections", "events"} {
		if err := st.EnsurePartitions(ctx, table, from.Add(-time.Hour), to.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	// Two drones at 10 Hz from a minute before the range to a minute after.
	if _, err := pool.Exec(ctx, `INSERT INTO telemetry (time, vehicle_id, lat, lon, alt_msl, heading, ground_speed)
		SELECT $1::timestamptz + i * interval '100 ms', v, 22.5 + i * 1e-7 + (v = 'drone-b')::int * 0.01, 114.05, 100 + i % 7, (i % 3600) / 10.0, 8.5
		FROM generate_series(0, 7199) i, unnest(ARRAY['drone-a', 'drone-b']) v`, from.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := st.SummariseTracks(ctx, from.Add(-time.Hour), to.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	// 25,000 placed detections in the range (two and a half chunks), 500
	// without a place, 300 outside it.
	const placed = 25000
	if _, err := pool.Exec(ctx, `INSERT INTO detections (time, camera_id, track_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon)
		SELECT $1::timestamptz + i * ($2::timestamptz - $1::timestamptz) / $3, 'cam-' || i % 3, i / 10, CASE WHEN i % 5 = 0 THEN 'car' ELSE 'person' END,
			0.9, 1, 2, 3, 4, 22.5 + i * 1e-8, 114.05 + (i % 100) * 1e-6
		FROM generate_series(0, $3::int - 1) i`, from, to, placed); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO detections (time, camera_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon)
		SELECT $1::timestamptz + i * interval '1 s', 'cam-0', 'person', 0.9, 1, 2, 3, 4,
			CASE WHEN i < 500 THEN NULL ELSE 22.6 END, CASE WHEN i < 500 THEN NULL ELSE 114.1 END
		FROM generate_series(0, 799) i`, to.Add(-500*time.Second)); err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Exec(ctx, `INSERT INTO events (time, id, kind, message)
		SELECT $1::timestamptz + i * interval '1 minute', gen_random_uuid(), 'zone.enter', 'e' || i FROM generate_series(-2, 11) i`, from); err != nil {
		t.Fatal(err)
	}

	type line struct {
		Type      string
		VehicleID string `json:"vehicle_id"`
		T         []int64
		Lat, Lon  []float64
		Heading   []*float64
		Camera    []string
		Class     []string
		Items     []struct{ Message string }
		Truncated *bool
	}
	replay := func(points int) []line {
		t.Helper()
		u := fmt.Sprintf("%sapi/v1/replay?from=%s&to=%s&points=%d", base, url.QueryEscape(from.Format(time.RFC3339)), url.QueryEscape(to.Format(time.RFC3339)), points)
		req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-ndjson" {
			t.Fatalf("replay: %s %s", resp.Status, resp.Header.Get("Content-Type"))
		}
		var lines []line
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(nil, 16<<20)
		for sc.Scan() {
			var l line
			if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
				t.Fatalf("%v: %.200s", err, sc.Bytes())
			}
			lines = append(lines, l)
		}
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
		return lines
	}

	for _, points := range []int{120, 2000} { // 5-s buckets (the summary), 0.3-s buckets (the raw rows)
		lines := replay(points)
		var order []string
		for _, l := range lines {
			if len(order) == 0 || order[len(order)-1] != l.Type {
				order = append(order, l.Type)
			}
		}
		if !slices.Equal(order, []string{"range", "track", "events", "detections", "end"}) {
			t.Fatalf("%d points: lines %v", points, order)
		}
		if end := lines[len(lines)-1]; end.Truncated == nil || *end.Truncated {
			t.Fatalf("end line %+v", end)
		}
		var tracks, events, dets []line
		for _, l := range lines {
			switch l.Type {
			case "track":
				tracks = append(tracks, l)
			case "events":
				events = append(events, l)
			case "detections":
				dets = append(dets, l)
			}
		}
		// Tracks: one per drone, at most the points asked, in time order,
		// from the range's first fix to its last, positions as stored.
		if len(tracks) != 2 || tracks[0].VehicleID != "drone-a" || tracks[1].VehicleID != "drone-b" {
			t.Fatalf("%d points: tracks %d", points, len(tracks))
		}
		for _, tr := range tracks {
			n := len(tr.T)
			if n > points || n < points*9/10 || len(tr.Lat) != n || len(tr.Heading) != n || !slices.IsSorted(tr.T) {
				t.Fatalf("%d points: %s has %d points", points, tr.VehicleID, n)
			}
			if tr.T[0] != from.UnixMilli() || tr.T[n-1] != to.Add(-100*time.Millisecond).UnixMilli() {
				t.Fatalf("%d points: %s runs %d–%d, want %d–%d", points, tr.VehicleID, tr.T[0], tr.T[n-1], from.UnixMilli(), to.Add(-100*time.Millisecond).UnixMilli())
			}
			for i, ms := range tr.T {
				k := float64(ms-from.Add(-time.Minute).UnixMilli()) / 100 // the row's i
				want := 22.5 + k*1e-7
				if tr.VehicleID == "drone-b" {
					want += 0.01
				}
				if math.Abs(tr.Lat[i]-want) > 0.6e-7 || tr.Heading[i] == nil || math.Abs(*tr.Heading[i]-float64(int(k)%3600)/10) > 0.006 {
					t.Fatalf("%d points: %s point %d at %d is %v, want %v", points, tr.VehicleID, i, ms, tr.Lat[i], want)
				}
			}
		}
		// Events: the ten in the range, oldest first.
		var msgs []string
		for _, e := range events {
			for _, it := range e.Items {
				msgs = append(msgs, it.Message)
			}
		}
		if !slices.Equal(msgs, []string{"e0", "e1", "e2", "e3", "e4", "e5", "e6", "e7", "e8", "e9"}) {
			t.Fatalf("events %v", msgs)
		}
		// Detections: every placed one of the range once, in time order,
		// in chunks of 10,000; the 300 placed ones past the end are not.
		var all []int64
		for _, d := range dets {
			if len(d.Camera) != len(d.T) || len(d.Class) != len(d.T) || len(d.Lat) != len(d.T) {
				t.Fatalf("ragged detection columns")
			}
			all = append(all, d.T...)
		}
		if len(dets) != 3 || len(dets[0].T) != 10000 || len(all) != placed || !slices.IsSorted(all) {
			t.Fatalf("%d detections in %d lines", len(all), len(dets))
		}
		if all[0] != from.UnixMilli() || all[len(all)-1] >= to.UnixMilli() {
			t.Fatalf("detections run %d–%d, the range is %d–%d", all[0], all[len(all)-1], from.UnixMilli(), to.UnixMilli())
		}
		first := dets[0]
		if first.Camera[1] != "cam-1" || first.Class[5] != "car" || first.Class[6] != "person" || math.Abs(first.Lat[3]-(22.5+3e-8)) > 0.6e-7 {
			t.Fatalf("first detections %v %v %v", first.Camera[:6], first.Class[:6], first.Lat[:6])
		}
	}
}
