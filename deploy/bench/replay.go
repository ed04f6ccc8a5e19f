package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
)

var (
	replayBench bool
	replayRuns  int
)

// The replay history: replayHours of replayVehicles drones at 10 Hz,
// detections and events, with the benchmark's hour in the middle holding
// replayHourDetections placed detections. 10 × 10 Hz × 25 h = 9M
// telemetry rows, plus 1M detections and 50,000 events: a 10M-row history.
const (
	replayVehicles       = 10
	replayHours          = 25
	replayHour           = 12 // the hour asked for
	replayHourDetections = 50_000
	replayDetections     = 1_000_000 // in all
	replayEvents         = 50_000    // in all
	replayCameras        = 5
)

// benchReplay: the replay API over one hour of a site inside a 10M-row
// history against psql dumping the hour's raw rows; the recorder's cost
// against ffmpeg's segment muxer; the replay page's seek latency.
func benchReplay(ctx context.Context, root string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "\n## Recording and replay\n\nCommand: `make bench` (deploy/bench/replay.go, ingest/record/bench_test.go, the replay browser test).\n\n")
	if err := benchReplayAPI(ctx, root, &b); err != nil {
		return "", fmt.Errorf("replay API: %w", err)
	}
	if err := benchRecorder(ctx, &b); err != nil {
		return "", fmt.Errorf("recorder: %w", err)
	}
	if err := benchSeek(ctx, &b); err != nil {
		return "", fmt.Errorf("seek latency: %w", err)
	}
	return b.String(), nil
}

func benchReplayAPI(ctx context.Context, root string, b *strings.Builder) error {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	c, st, stop, err := benchStore(ctx, filepath.Join(root, "pg-replay"), log)
	if err != nil {
		return err
	}
	defer stop()
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go st.Run(sctx)
	t0 := time.Now().UTC().Truncate(time.Hour).Add(-(replayHours + 1) * time.Hour)
	from, to := t0.Add(replayHour*time.Hour), t0.Add((replayHour+1)*time.Hour)
	rows, took, err := loadHistory(ctx, st, t0)
	if err != nil {
		return err
	}
	measure.Progress("replay: %s rows of history loaded in %s", measure.Thousands(int(rows)), took.Round(time.Second))

	const token = "bench-replay-token"
	sum := sha256.Sum256([]byte(token))
	srv, err := dashboard.New(dashboard.Config{Address: "127.0.0.1:0", Version: "bench", Auth: auth.Config{Tokens: []auth.Token{{Name: "bench", Role: auth.RoleAdmin, SHA256: hex.EncodeToString(sum[:])}}}},
		dashboard.Deps{Store: st, Board: telemetry.NewBoard(), History: st, Recordings: st, AlertStore: st, RecordingsDir: filepath.Join(root, "rec"), ExportsDir: filepath.Join(root, "exports"), Log: log})
	if err != nil {
		return err
	}
	if err := srv.Listen(); err != nil {
		return err
	}
	go srv.Run(sctx)
	url := fmt.Sprintf("%sapi/v1/replay?from=%s&to=%s", srv.URL(), from.Format(time.RFC3339), to.Format(time.RFC3339))

	var first, full []float64
	var last replayAnswer
	for i := range replayRuns + 2 { // two to warm the caches
		a, err := getReplay(ctx, url, token)
		if err != nil {
			return err
		}
		if a.tracks != replayVehicles || a.detections != replayHourDetections || a.points == 0 || a.events == 0 {
			return fmt.Errorf("the replay answered %d tracks (%d points), %d detections, %d events; want %d tracks and %d detections",
				a.tracks, a.points, a.detections, a.events, replayVehicles, replayHourDetections)
		}
		if i >= 2 {
			first, full = append(first, a.first.Seconds()*1000), append(full, a.full.Seconds()*1000)
		}
		last = a
	}
	psqlMs, err := timeRawHour(ctx, c, from, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(b, "Replay API: `GET /api/v1/replay` for one hour of a site with %d drones at 10 Hz and %s placed detections, inside a history of %s rows (%d hours: %s telemetry rows, %s detections, %s events) in the embedded PostgreSQL (plain mode, daily partitions), over HTTP with the default downsampling (2,000 points per track). ",
		replayVehicles, measure.Thousands(replayHourDetections), measure.Thousands(int(rows)), replayHours, measure.Thousands(replayVehicles*10*3600*replayHours), measure.Thousands(replayDetections), measure.Thousands(replayEvents))
	fmt.Fprintf(b, "Each answer is checked: %d tracks, all %s detections. **Baseline**: `psql -c \"\\copy (SELECT …) TO '/dev/null'\"` of the same hour's raw rows (every telemetry point, the detections, the events), the least a client without the API would fetch.\n\n",
		replayVehicles, measure.Thousands(replayHourDetections))
	fmt.Fprintf(b, "| | p50 | p95 | answer |\n|---|---:|---:|---|\n")
	fmt.Fprintf(b, "| replay API, first bytes (the cameras and the tracks) | %.0f ms | %.0f ms | |\n", measure.Median(first), pct(first, 95))
	fmt.Fprintf(b, "| replay API, whole answer | **%.0f ms** | %.0f ms | %s lines, %.1f MB: %d tracks of %s points, %s events, %s detections |\n",
		measure.Median(full), pct(full, 95), measure.Thousands(last.lines), float64(last.bytes)/1e6, last.tracks, measure.Thousands(last.points), measure.Thousands(last.events), measure.Thousands(last.detections))
	fmt.Fprintf(b, "| psql \\copy of the hour's raw rows | %.0f ms | | %s rows |\n", measure.Median(psqlMs), measure.Thousands(replayVehicles*36000+replayHourDetections+last.events))
	fmt.Fprintf(b, "| ratio (API / psql) | **%.2f×** | | |\n\n", measure.Median(full)/measure.Median(psqlMs))
	fmt.Fprintf(b, "%d requests after two to warm the caches; psql %d runs. Goal: p50 < 100 ms.\n\n", replayRuns, len(psqlMs))
	return nil
}

// loadHistory writes the replay history with INSERT … SELECT in the
// database, a vehicle (or a slice of the detections) per statement, two at
// once.
func loadHistory(ctx context.Context, st *store.Store, t0 time.Time) (int64, time.Duration, error) {
	t1 := t0.Add(replayHours * time.Hour)
	for _, tb := range []string{"telemetry", "detections", "events"} {
		if err := st.EnsurePartitions(ctx, tb, t0, t1); err != nil {
			return 0, 0, err
		}
	}
	pool := st.Pool()
	began := time.Now()
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(2)
	ticks := replayHours * 36000
	for v := range replayVehicles {
		g.Go(func() error {
			// A drone circling its own block, a lap every 10 minutes,
			// gimbal 45° down.
			_, err := pool.Exec(gctx, `INSERT INTO telemetry (time, vehicle_id, lat, lon, alt_msl, alt_rel, heading, yaw, pitch, roll, ground_speed, climb_rate,
					battery_voltage, battery_remaining, mode, armed, gps_fix, satellites, eph, gimbal_pitch, gimbal_yaw)
				SELECT $1::timestamptz + i * interval '100 ms', $2,
					22.5431 + 0.0005 * $3 + 0.002 * sin(i / 6000.0 * 2 * pi()), 114.0579 + 0.002 * cos(i / 6000.0 * 2 * pi()),
					120, 100, (i / 6000.0 * 360 + 90)::numeric % 360, (i / 6000.0 * 360 + 90)::numeric % 360, -3, 2, 8.5, 0,
					22.2, 80, 'AUTO', true, 3, 14, 0.8, -45, 0
				FROM generate_series(0, $4::int - 1) i`, t0, fmt.Sprintf("drone-%d", v), v, ticks)
			return err
		})
	}
	// Detections: the benchmark's hour holds replayHourDetections, the
	// other hours share the rest; each is placed near its camera.
	span := func(a, z time.Time, n int) {
		for part := range 4 {
			g.Go(func() error {
				_, err := pool.Exec(gctx, `INSERT INTO detections (time, camera_id, track_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon, position_error, geo_status)
					SELECT $1::timestamptz + (i::float8 / $3) * ($2::timestamptz - $1::timestamptz), 'cam-' || (i % $5), i / 50, 'person', 0.8, 100, 100, 40, 90,
						22.5431 + 0.0001 * (i % 97), 114.0579 + 0.0001 * (i % 89), 1.2, 'ok'
					FROM generate_series($4::int * $3 / 4, ($4::int + 1) * $3 / 4 - 1) i`, a, z, n, part, replayCameras)
				return err
			})
		}
	}
	hourA, hourZ := t0.Add(replayHour*time.Hour), t0.Add((replayHour+1)*time.Hour)
	rest := replayDetections - replayHourDetections
	before := rest * replayHour / (replayHours - 1)
	span(t0, hourA, before)
	span(hourA, hourZ, replayHourDetections)
	span(hourZ, t1, rest-before)
	g.Go(func() error {
		_, err := pool.Exec(gctx, `INSERT INTO events (time, id, site_id, kind, camera_id, track_id, lat, lon, message, data)
			SELECT $1::timestamptz + (i::float8 / $3) * ($2::timestamptz - $1::timestamptz), gen_random_uuid(), 'plaza',
				(ARRAY['zone.enter', 'zone.exit', 'track.start', 'track.end', 'geofence.enter'])[1 + i % 5], 'cam-' || (i % $4), i,
				22.5431 + 0.0001 * (i % 97), 114.0579 + 0.0001 * (i % 89), 'a person', '{"zone": "works", "class": "person"}'
			FROM generate_series(0, $3::int - 1) i`, t0, t1, replayEvents, replayCameras)
		return err
	})
	if err := g.Wait(); err != nil {
		return 0, 0, err
	}
	// The per-second track summary that the store writes with telemetry
	// (rows loaded in SQL bypass it).
	if _, err := st.SummariseTracks(ctx, t0, t1); err != nil {
		return 0, 0, err
	}
	if _, err := pool.Exec(ctx, "VACUUM ANALYZE telemetry, track_1s, detections, events"); err != nil {
		return 0, 0, err
	}
	var n int64
	err := pool.QueryRow(ctx, "SELECT (SELECT count(*) FROM telemetry) + (SELECT count(*) FROM detections) + (SELECT count(*) FROM events)").Scan(&n)
	return n, time.Since(began), err
}

type replayAnswer struct {
	first, full                        time.Duration
	lines, bytes                       int
	tracks, points, events, detections int
}

// getReplay reads a whole replay answer, line by line, as the page does.
func getReplay(ctx context.Context, url, token string) (replayAnswer, error) {
	var a replayAnswer
	req, _ := http.NewRequestWithContext(ctx, "GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return a, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return a, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	// The answer is timed as it arrives and parsed afterwards: the
	// client's JSON decoding is not the server's latency.
	var body []byte
	buf := make([]byte, 256<<10)
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 && len(body) == 0 {
			a.first = time.Since(began)
		}
		body = append(body, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			return a, err
		}
	}
	a.full = time.Since(began)
	a.bytes = len(body)
	for _, ln := range bytes.Split(bytes.TrimSpace(body), []byte("\n")) {
		a.lines++
		var l struct {
			Type  string
			T     []int64
			Items []json.RawMessage
		}
		if err := json.Unmarshal(ln, &l); err != nil {
			return a, err
		}
		switch l.Type {
		case "track":
			a.tracks++
			a.points += len(l.T)
		case "events":
			a.events += len(l.Items)
		case "detections":
			a.detections += len(l.T)
		case "error":
			return a, fmt.Errorf("the replay reported an error: %s", ln)
		}
	}
	return a, nil
}

// timeRawHour times psql dumping the hour's raw rows, five times.
func timeRawHour(ctx context.Context, c *embedded.Cluster, from, to time.Time) ([]float64, error) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		psql = filepath.Join(c.BinDir(), "psql")
	}
	r := fmt.Sprintf("time >= '%s' AND time < '%s'", from.Format(time.RFC3339), to.Format(time.RFC3339))
	var ms []float64
	for range 5 {
		cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.URL(),
			"-c", `\copy (SELECT time, vehicle_id, lat, lon, alt_msl, alt_rel, heading, ground_speed FROM telemetry WHERE `+r+` ORDER BY vehicle_id, time) TO '/dev/null'`,
			"-c", `\copy (SELECT time, camera_id, track_id, class, lat, lon FROM detections WHERE `+r+` AND lat IS NOT NULL ORDER BY time) TO '/dev/null'`,
			"-c", `\copy (SELECT time, id, kind, site_id, camera_id, vehicle_id, track_id, lat, lon, message, data FROM events WHERE `+r+` ORDER BY time) TO '/dev/null'`)
		began := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("psql: %v: %s", err, out)
		}
		ms = append(ms, time.Since(began).Seconds()*1000)
	}
	return ms, nil
}

// pct is the p-th percentile (nearest rank).
func pct(xs []float64, p float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

var benchLine = regexp.MustCompile(`^Benchmark(\w+?)(?:-\d+)?\s+\d+\s+(\d+) ns/op\s+([\d.]+) core%`)

// benchRecorder runs the recorder's Go benchmark against ffmpeg's segment
// muxer (ingest/record/bench_test.go) three times each.
func benchRecorder(ctx context.Context, b *strings.Builder) error {
	measure.Progress("recorder: go test -bench 'RecordRemux|FFmpegSegment' -count 3 ./ingest/record/")
	cmd := exec.CommandContext(ctx, "go", "test", "-run", "^$", "-bench", "RecordRemux|FFmpegSegment", "-count", "3", "./ingest/record/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	ns, core := map[string][]float64{}, map[string][]float64{}
	for _, l := range strings.Split(string(out), "\n") {
		if m := benchLine.FindStringSubmatch(l); m != nil {
			n, _ := strconv.ParseFloat(m[2], 64)
			c, _ := strconv.ParseFloat(m[3], 64)
			ns[m[1]], core[m[1]] = append(ns[m[1]], n), append(core[m[1]], c)
		}
	}
	if len(ns["RecordRemux"]) == 0 || len(ns["FFmpegSegment"]) == 0 {
		return fmt.Errorf("no figures in the benchmark's output:\n%s", out)
	}
	fmt.Fprintf(b, "Recording cost per stream: `go test -run '^$' -bench 'RecordRemux|FFmpegSegment' -count 3 ./ingest/record/`. One minute of a demo-like camera (ffmpeg's test pattern, 768×576, 10 fps, H.264, a keyframe every 2 s) remuxed into fragmented-MP4 segment files; `core%%` is the CPU time per second of video, the share of one core a live stream costs. **Baseline**: Debian's ffmpeg remuxing the same elementary stream with `-c copy -f segment` into fragmented MP4 (its process's user+system time, start-up included).\n\n")
	fmt.Fprintf(b, "| | time per minute of video (median of %d) | core%% per stream |\n|---|---:|---:|\n", len(ns["RecordRemux"]))
	fmt.Fprintf(b, "| smarteye recorder (`BenchmarkRecordRemux`, wall time of one goroutine) | %.1f ms | %.3f %% |\n", measure.Median(ns["RecordRemux"])/1e6, measure.Median(core["RecordRemux"]))
	fmt.Fprintf(b, "| `ffmpeg -c copy -f segment` (`BenchmarkFFmpegSegment`) | %.1f ms | %.3f %% |\n", measure.Median(ns["FFmpegSegment"])/1e6, measure.Median(core["FFmpegSegment"]))
	fmt.Fprintf(b, "| ratio (smarteye / ffmpeg) | **%.2f×** | |\n\nGoal: < 2 %% of a core per stream, remux only.\n\n", measure.Median(core["RecordRemux"])/measure.Median(core["FFmpegSegment"]))
	return nil
}

var seekLine = regexp.MustCompile(`moment \d+: .*seek (\d+) ms`)

// benchSeek runs the replay browser test, which drags the slider to three
// moments and reports each seek's latency to the first frame shown.
func benchSeek(ctx context.Context, b *strings.Builder) error {
	measure.Progress("seek latency: go test -run TestReplayInBrowser ./cmd/smarteye")
	cmd := exec.CommandContext(ctx, "go", "test", "-count=1", "-v", "-run", "^TestReplayInBrowser$", "./cmd/smarteye/")
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v\n%s", err, out)
	}
	var ms []float64
	for _, m := range seekLine.FindAllStringSubmatch(string(out), -1) {
		v, _ := strconv.ParseFloat(m[1], 64)
		ms = append(ms, v)
	}
	if len(ms) == 0 {
		return fmt.Errorf("no seek figures in the test's output:\n%s", out)
	}
	parts := make([]string, len(ms))
	for i, v := range ms {
		parts[i] = strconv.FormatFloat(v, 'f', 0, 64)
	}
	fmt.Fprintf(b, "Seek latency, slider release to the first video frame shown (`requestVideoFrameCallback`): `go test -run TestReplayInBrowser ./cmd/smarteye` (chromium with software rendering, one 768×576 camera recorded in 3-s segments, the slider clicked at %d moments, each frame's burned clock checked within a second of the slider). Median **%.0f ms** (%s ms); the first seek fetches its segment, later ones may find it buffered.\n\n",
		len(ms), measure.Median(ms), strings.Join(parts, ", "))
	return nil
}
