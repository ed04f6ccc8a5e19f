package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/export"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// replayLines reads GET /api/v1/replay as NDJSON, line by line.
func replayLines(t *testing.T, url string) []map[string]json.RawMessage {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("%s: %d %s", url, resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	var out []map[string]json.RawMessage
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var m map[string]json.RawMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func lineType(m map[string]json.RawMessage) string {
	var s string
	json.Unmarshal(m["type"], &s)
	return s
}

// replayImportedFlight: the replay of a recorded flight nobody here wrote
// has its known track, and exactly the range's events (as the events API
// lists them) — none from outside it.
func replayImportedFlight(t *testing.T, base string) {
	t.Helper()
	var list struct{ Events []store.EventRecord }
	getJSON(t, base+"api/v1/events?vehicle=vtol-sitl&from=2018-08-08T14:00:00Z&to=2018-08-08T14:15:00Z&limit=10000", &list)
	evs := list.Events
	if len(evs) < 4 {
		t.Fatalf("the imported flight has %d events", len(evs))
	}
	slices.SortFunc(evs, func(a, b store.EventRecord) int { return a.Time.Compare(b.Time) })
	// A range cutting the events in three: before, inside, after.
	from, to := evs[1].Time, evs[len(evs)-2].Time
	lines := replayLines(t, fmt.Sprintf("%sapi/v1/replay?points=500&from=%s&to=%s", base, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano)))
	if lineType(lines[0]) != "range" || lineType(lines[len(lines)-1]) != "end" {
		t.Fatalf("replay starts with %s and ends with %s", lineType(lines[0]), lineType(lines[len(lines)-1]))
	}
	var got []string
	var trk struct {
		Vehicle string    `json:"vehicle_id"`
		T       []int64   `json:"t"`
		Lat     []float64 `json:"lat"`
		Lon     []float64 `json:"lon"`
	}
	for _, l := range lines {
		switch lineType(l) {
		case "events":
			var items []store.EventRecord
			json.Unmarshal(l["items"], &items)
			for _, e := range items {
				if e.Time.Before(from) || !e.Time.Before(to) {
					t.Errorf("event %s at %s outside [%s, %s)", e.Kind, e.Time, from, to)
				}
				got = append(got, e.ID)
			}
		case "track":
			b, _ := json.Marshal(l)
			json.Unmarshal(b, &trk)
		}
	}
	var want []string
	for _, e := range evs {
		if !e.Time.Before(from) && e.Time.Before(to) {
			want = append(want, e.ID)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("replay events %v, want %v", got, want)
	}
	// The track: against every stored position of the range, as the
	// GeoJSON export writes them (a separate full-resolution query).
	var fc struct {
		Features []struct {
			Geometry   struct{ Coordinates [][3]float64 }
			Properties struct {
				Vehicle    string   `json:"vehicle_id"`
				CoordTimes []string `json:"coordTimes"`
			}
		}
	}
	exportJSON(t, base, fmt.Sprintf(`{"kind":"tracks","format":"geojson","vehicle_id":"vtol-sitl","from":%q,"to":%q}`, from.Format(time.RFC3339Nano), to.Format(time.RFC3339Nano)), &fc)
	if len(fc.Features) != 1 || fc.Features[0].Properties.Vehicle != "vtol-sitl" {
		t.Fatalf("tracks export: %+v", fc)
	}
	var in []store.TrackPoint
	for i, c := range fc.Features[0].Geometry.Coordinates {
		at, _ := time.Parse(time.RFC3339Nano, fc.Features[0].Properties.CoordTimes[i])
		in = append(in, store.TrackPoint{Time: at, Lat: c[1], Lon: c[0]})
	}
	// Downsampled to at most 500 points, one for each of the range's 499
	// equal steps that holds a stored position (and the last position):
	// each one stored (to 7 decimals), in order, the first and last kept.
	step := (to.Sub(from) / 499).Truncate(time.Microsecond)
	filled := map[int64]bool{}
	for _, p := range in {
		filled[int64(p.Time.Sub(from)/step)] = true
	}
	if trk.Vehicle != "vtol-sitl" || len(in) < 100 || len(trk.T) > 500 || len(trk.T) < len(filled) || len(trk.T) > len(filled)+1 {
		t.Fatalf("replay track of %q has %d points; the stored track has %d in the range, in %d of its steps", trk.Vehicle, len(trk.T), len(in), len(filled))
	}
	j := 0
	for i := range trk.T {
		for j < len(in) && in[j].Time.UnixMilli() != trk.T[i] {
			j++
		}
		// Positions come to 7 decimals of a degree.
		if j == len(in) || math.Abs(trk.Lat[i]-in[j].Lat) > 0.51e-7 || math.Abs(trk.Lon[i]-in[j].Lon) > 0.51e-7 {
			t.Fatalf("replay point %d (%d %v,%v) is not a stored point in order", i, trk.T[i], trk.Lat[i], trk.Lon[i])
		}
	}
	if trk.T[0] != in[0].Time.UnixMilli() || trk.T[len(trk.T)-1] != in[len(in)-1].Time.UnixMilli() {
		t.Errorf("the replay track does not keep the first and last positions")
	}
}

// exportJSON runs an export job through the API, following its progress,
// and decodes the file.
func exportJSON(t *testing.T, base, body string, v any) {
	t.Helper()
	resp, err := http.Post(base+"api/v1/exports", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	var job export.Job
	json.NewDecoder(resp.Body).Decode(&job)
	resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted || job.Status != "queued" {
		t.Fatalf("export: %d %+v", resp.StatusCode, job)
	}
	deadline := time.Now().Add(time.Minute)
	for job.Status != "done" {
		if job.Status == "failed" || time.Now().After(deadline) {
			t.Fatalf("export: %+v", job)
		}
		time.Sleep(100 * time.Millisecond)
		getJSON(t, base+"api/v1/exports/"+job.ID, &job)
	}
	if job.Progress != 1 || job.Bytes == 0 || job.Download == "" {
		t.Fatalf("finished export: %+v", job)
	}
	getJSON(t, strings.TrimSuffix(base, "/")+job.Download, v)
}

// TestReplayInBrowser: a camera burning its clock into the picture is
// recorded while the demo's drones fly; on the replay page, moving the
// slider to t shows each drone at its stored position at t and the video
// frame whose burned time is within a second of t; it plays at 4×, jumps
// to the next event and shares the moment as a link. The recording also
// plays as HLS with ffprobe, and exports as MP4 and GeoJSON with progress.
func TestReplayInBrowser(t *testing.T) {
	admin, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(t.TempDir(), "smarteye.yml")
	os.WriteFile(cfgPath, []byte(fmt.Sprintf(`auth:
  users:
    - {name: admin, role: admin, password_hash: %q}
video:
  recording:
    segment: 3s
sim:
  cameras:
    - {id: clock, name: Clock camera, source: testsrc2, codec: h264, detector: none, timecode: true}
`, admin)), 0o600)
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--config", cfgPath, "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	logIn(t, p.url)
	type seg struct {
		ID         int64
		Start, End time.Time
	}
	var list struct{ Segments []seg }
	deadline := time.Now().Add(3 * time.Minute)
	for {
		now := time.Now()
		getJSON(t, fmt.Sprintf("%sapi/v1/cameras/clock/recordings?from=%s&to=%s", p.url, now.Add(-10*time.Minute).UTC().Format(time.RFC3339), now.UTC().Format(time.RFC3339)), &list)
		if n := len(list.Segments); n > 0 && list.Segments[n-1].End.Sub(list.Segments[0].Start) > 33*time.Second {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("35 s of recording did not arrive: %+v\n%s", list, p.log.String())
		}
		time.Sleep(time.Second)
	}
	segs := list.Segments
	from, to := segs[0].Start.Add(time.Second), segs[len(segs)-1].End.Add(-500*time.Millisecond)
	shots := artifacts(t)
	ctx, cancel := context.WithTimeout(t.Context(), 240*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/replay.mjs", p.url, testPassword, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano), shots)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser test: %v\n%s\n%s", err, stderr.String(), p.log.String())
	}
	defer func() {
		if t.Failed() {
			t.Logf("the replay page showed %s", out)
		}
	}()
	var seen struct {
		Loaded struct {
			Vehicles, Tiles            []string
			Events                     int
			OpenedAt, From, FirstTrack float64
		}
		Moments []struct {
			Code       uint32
			T, MediaMs float64
			Width      int
			SeekMs     float64
			Vehicles   map[string]struct{ Lat, Lon, Heading float64 }
			Footprints map[string][][2]float64
		}
		Play struct{ AdvancedMs, WallMs, VideoLagMs float64 }
		Next struct {
			Moved   float64
			IsEvent bool
		}
		Shared     struct{ T float64 }
		SharedWant float64
		Errors     []string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	if len(seen.Errors) > 0 {
		t.Errorf("page errors: %v", seen.Errors)
	}
	// Opened where something happened: at most 5 s before the first
	// position of the range, not at its start.
	if l := seen.Loaded; l.OpenedAt < l.From || l.OpenedAt > l.FirstTrack || l.FirstTrack-l.OpenedAt > 5000 {
		t.Errorf("the replay opened at %v: the range starts at %v, the first position is at %v", l.OpenedAt, l.From, l.FirstTrack)
	}
	if len(seen.Loaded.Vehicles) < 3 || !slices.Equal(seen.Loaded.Tiles, []string{"clock"}) {
		t.Fatalf("loaded %+v", seen.Loaded)
	}
	for i, m := range seen.Moments {
		at := time.UnixMilli(int64(m.T))
		burned := sim.TimecodeTime(m.Code, at)
		t.Logf("moment %d: slider %s, frame burned %s (%+.0f ms), seek %.0f ms", i, at.Format("15:04:05.000"), burned.Format("15:04:05.000"), float64(burned.Sub(at).Milliseconds()), m.SeekMs)
		if m.Width != 768 || burned.Sub(at).Abs() > time.Second {
			t.Errorf("moment %d: the frame shown was burned at %s, the slider is at %s", i, burned, at)
		}
		// Every drone where the store has it at t.
		for id, v := range m.Vehicles {
			var tr struct{ Points []store.TrackPoint }
			getJSON(t, fmt.Sprintf("%sapi/v1/vehicles/%s/track?from=%s&to=%s&max_points=1000", p.url, id,
				at.Add(-3*time.Second).UTC().Format(time.RFC3339Nano), at.Add(3*time.Second).UTC().Format(time.RFC3339Nano)), &tr)
			want, ok := positionAt(tr.Points, at)
			if !ok {
				t.Errorf("moment %d: no stored position of %s near %s", i, id, at)
				continue
			}
			if d := metres(v.Lat, v.Lon, want[0], want[1]); d > 3 {
				t.Errorf("moment %d: %s shown %.1f m from its stored position", i, id, d)
			}
			// A drone waiting on the ground (the demo's drone-4) sees no
			// ground from its camera.
			if id == "drone-4" {
				continue
			}
			// Its camera's footprint moves with it: the sim's gimbal looks
			// 45° down, straight ahead, so the ground it sees lies ahead
			// of the drone, tens of metres away.
			ring := m.Footprints[id]
			if len(ring) < 4 {
				t.Errorf("moment %d: no footprint for %s's camera: %v", i, id, m.Footprints)
				continue
			}
			var c [2]float64
			for _, p := range ring[:len(ring)-1] {
				c[0], c[1] = c[0]+p[0]/float64(len(ring)-1), c[1]+p[1]/float64(len(ring)-1)
			}
			d := metres(v.Lat, v.Lon, c[1], c[0])
			bearing := math.Atan2((c[0]-v.Lon)*math.Cos(v.Lat*math.Pi/180), c[1]-v.Lat) * 180 / math.Pi
			if off := math.Abs(math.Mod(bearing-v.Heading+540, 360) - 180); d < 10 || d > 1000 || off > 30 {
				t.Errorf("moment %d: %s's footprint centre is %.0f m away, %.0f° off its heading %.0f°", i, id, d, off, v.Heading)
			}
		}
		if len(m.Vehicles) < 3 {
			t.Errorf("moment %d: %d vehicles shown", i, len(m.Vehicles))
		}
	}
	if r := seen.Play.AdvancedMs / seen.Play.WallMs; r < 2.5 || r > 4.5 || math.Abs(seen.Play.VideoLagMs) > 1500 {
		t.Errorf("playing at 4×: %+v", seen.Play)
	}
	if seen.Next.Moved <= 0 || !seen.Next.IsEvent {
		t.Errorf("next event: %+v", seen.Next)
	}
	if seen.Shared.T != seen.SharedWant {
		t.Errorf("the shared link opened at %v, not %v", seen.Shared.T, seen.SharedWant)
	}
}

// positionAt interpolates a stored track at t.
func positionAt(pts []store.TrackPoint, t time.Time) ([2]float64, bool) {
	for i := 1; i < len(pts); i++ {
		a, b := pts[i-1], pts[i]
		if !a.Time.After(t) && b.Time.After(t) {
			f := float64(t.Sub(a.Time)) / float64(b.Time.Sub(a.Time))
			return [2]float64{a.Lat + (b.Lat-a.Lat)*f, a.Lon + (b.Lon-a.Lon)*f}, true
		}
	}
	return [2]float64{}, false
}

func metres(lat1, lon1, lat2, lon2 float64) float64 {
	const r = 6371000
	dlat := (lat2 - lat1) * math.Pi / 180
	dlon := (lon2 - lon1) * math.Pi / 180 * math.Cos(lat1*math.Pi/180)
	return r * math.Hypot(dlat, dlon)
}
