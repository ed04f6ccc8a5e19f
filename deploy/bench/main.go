// Command bench measures smarteye against named baselines on this machine,
// in one run, and writes BENCHMARKS.md. `make bench` runs it.
//
// Store: the batch writer (COPY through pgx, 5,000-row batches, batch ids
// for exactly-once) loading 1M telemetry rows, against `psql \copy` of the
// same rows from a CSV file, into the same table of the same throwaway
// PostgreSQL cluster, with and without the PostGIS GiST index. Each figure is
// the median of several alternating runs; the ratio is writer / psql.
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
	"github.com/smarteye/smarteye/vision/cv"
)

func main() {
	// NanoDet runs in worker processes: this binary, started again.
	if cv.IsWorker() {
		os.Exit(cv.WorkerMain())
	}
	if spec := os.Getenv(rtspServerEnv); spec != "" {
		// The cameras' side of the vision benchmark, in its own process.
		if err := serveRTSP(spec); err != nil {
			fmt.Fprintln(os.Stderr, "bench camera side:", err)
			os.Exit(1)
		}
		return
	}
	out := flag.String("out", "BENCHMARKS.md", "report file")
	rows := flag.Int("rows", 1_000_000, "telemetry rows per run")
	runs := flag.Int("runs", 3, "runs per variant (the median is reported)")
	flag.IntVar(&fleetDrones, "fleet-drones", 100, "simulated drones in the end-to-end MAVLink run")
	flag.DurationVar(&fleetTime, "fleet-time", time.Minute, "length of the end-to-end MAVLink run")
	flag.BoolVar(&videoBench, "video", true, "include the H.264 decode benchmark (ingest/decode vs ffmpeg)")
	flag.BoolVar(&dashboardBench, "dashboard", true, "include the live feed fan-out and the browser benchmarks (first map render, glass-to-glass latency)")
	flag.BoolVar(&alertsBench, "alerts", true, "include the alert benchmarks (a 1,000 events/s storm, glass to alert on the field page)")
	flag.BoolVar(&replayBench, "replay", true, "include the recording and replay benchmarks (the replay API over a 10M-row history, the recorder's cost, the seek latency)")
	flag.IntVar(&replayRuns, "replay-runs", 21, "replay API requests timed")
	flag.DurationVar(&stormTime, "storm-time", time.Minute, "length of the alert storm")
	flag.BoolVar(&geoBench, "geo", true, "include the ground projection and geofence benchmarks")
	flag.BoolVar(&visionBench, "vision", true, "include the vision benchmarks (the detectors' cost and accuracy; capacity: RTSP + decode + motion gate + NanoDet or HOG, and the Python OpenCV scripts)")
	flag.DurationVar(&visionWindow, "vision-window", 20*time.Second, "measurement window of each vision run")
	flag.IntVar(&visionMaxStreams, "vision-max", 16, "most 720p25 streams the vision capacity search tries")
	only := flag.String("only", "", `run one section alone, without PostgreSQL, and write only it to -out: "video" or "vision"; "detectors" (the vision section's cost and accuracy), "geo", "dashboard", "alerts", "replay" and "store" (the batch writer) print theirs`)
	fanoutChild := flag.Bool("fanout-server", false, "internal: the fan-out benchmark's server process")
	flag.Parse()
	if *fanoutChild {
		if err := fanoutServer(); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	switch *only {
	case "":
		err = run(*out, *rows, *runs)
	case "video":
		err = runVideoOnly(*out, *runs, true, false)
	case "vision":
		err = runVideoOnly(*out, *runs, false, true)
	case "dashboard":
		err = printSection(benchDashboard)
	case "alerts":
		err = printSection(benchAlerts)
	case "replay":
		err = printSection(benchReplay)
	case "store":
		err = runStoreOnly(*rows, *runs)
	case "detectors":
		err = printSection(benchDetectors)
	case "geo":
		var g string
		if g, err = benchGeo(*runs); err == nil {
			fmt.Print(g)
		}
	default:
		err = fmt.Errorf("-only %q: the sections that run alone are video, vision, detectors, geo, dashboard, alerts, replay and store", *only)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// setUp gives a run what its sections share: a context that Ctrl-C
// cancels (which stops the benchmark's PostgreSQL and removes its files),
// a quiet logger and a temporary root directory that done removes.
func setUp() (ctx context.Context, log *slog.Logger, root string, done func(), err error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if root, err = os.MkdirTemp("", "smarteye-bench-"); err != nil {
		stop()
		return nil, nil, "", nil, err
	}
	os.Chmod(root, 0o711)
	return ctx, log, root, func() { os.RemoveAll(root); stop() }, nil
}

// printSection runs one section that needs only a root directory, alone,
// and prints it.
func printSection(section func(ctx context.Context, root string) (string, error)) error {
	ctx, _, root, done, err := setUp()
	if err != nil {
		return err
	}
	defer done()
	out, err := section(ctx, root)
	if err == nil {
		fmt.Print(out)
	}
	return err
}

// runStoreOnly prints the batch writer's section alone.
func runStoreOnly(nrows, runs int) error {
	ctx, log, root, done, err := setUp()
	if err != nil {
		return err
	}
	defer done()
	c, st, stopStore, err := benchStore(ctx, filepath.Join(root, "pg"), log)
	if err != nil {
		return err
	}
	defer stopStore()
	go st.Run(ctx)
	results, err := benchWriter(ctx, c, st, root, nrows, runs, log)
	if err != nil {
		return err
	}
	fmt.Print(writerSection(nrows, results))
	return nil
}

type result struct {
	variant    string
	writer     []float64 // rows/s
	psql       []float64
	writerSecs []float64
	psqlSecs   []float64
}

var (
	fleetDrones int
	fleetTime   time.Duration
	videoBench  bool
)

func run(out string, nrows, runs int) error {
	ctx, log, root, done, err := setUp()
	if err != nil {
		return err
	}
	defer done()

	// Video first, before PostgreSQL starts: it needs no database, and an
	// idle cluster's background work would only add noise to its timings.
	var video string
	if videoBench {
		if video, err = benchVideo(ctx, root, runs); err != nil {
			return err
		}
	}
	if visionBench {
		vis, err := benchVision(ctx, root)
		if err != nil {
			return err
		}
		video += vis
	}
	if geoBench {
		g, err := benchGeo(runs)
		if err != nil {
			return err
		}
		video += g
	}
	if dashboardBench {
		d, err := benchDashboard(ctx, root)
		if err != nil {
			return err
		}
		video += d
	}
	if alertsBench {
		a, err := benchAlerts(ctx, root)
		if err != nil {
			return err
		}
		video += a
	}
	if replayBench {
		r, err := benchReplay(ctx, root)
		if err != nil {
			return err
		}
		video += r
	}

	c, st, stopStore, err := benchStore(ctx, filepath.Join(root, "pg"), log)
	if err != nil {
		return err
	}
	defer stopStore()
	go st.Run(ctx) // marks the store ready for the writer

	results, err := benchWriter(ctx, c, st, root, nrows, runs, log)
	if err != nil {
		return err
	}
	decode, err := benchDecode(root, runs)
	if err != nil {
		return err
	}
	fleet, err := benchFleet(ctx, st, root, fleetDrones, fleetTime, log)
	if err != nil {
		return err
	}
	return report(out, c, nrows, runs, results, decode+fleet+video)
}

// benchWriter times the batch writer against psql \copy loading nrows
// telemetry rows, with and without the GiST index (which it puts back).
func benchWriter(ctx context.Context, c *embedded.Cluster, st *store.Store, root string, nrows, runs int, log *slog.Logger) ([]result, error) {
	progress("writing %d telemetry rows as CSV for psql", nrows)
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	csvPath := filepath.Join(root, "telemetry.csv")
	if err := writeCSV(csvPath, start, nrows); err != nil {
		return nil, err
	}
	for !st.Ready() {
		time.Sleep(50 * time.Millisecond)
	}
	lo, hi := row(start, 0)[0].(time.Time), row(start, nrows-1)[0].(time.Time)
	if err := st.EnsurePartitions(ctx, "telemetry", lo, hi); err != nil {
		return nil, err
	}

	pool := st.Pool()
	var results []result
	for _, variant := range []string{"with PostGIS point + GiST + (vehicle, time) index", "without the GiST index"} {
		if strings.HasPrefix(variant, "without") {
			if _, err := pool.Exec(ctx, "DROP INDEX telemetry_geom"); err != nil {
				return nil, err
			}
		}
		r := result{variant: variant}
		for i := range runs {
			if _, err := pool.Exec(ctx, "TRUNCATE telemetry, track_1s; CHECKPOINT"); err != nil {
				return nil, err
			}
			d, err := timeWriter(ctx, st, root, start, nrows, log)
			if err != nil {
				return nil, err
			}
			if err := checkCount(ctx, st, nrows); err != nil {
				return nil, err
			}
			r.writer, r.writerSecs = append(r.writer, float64(nrows)/d.Seconds()), append(r.writerSecs, d.Seconds())
			progress("%s, run %d/%d: writer %.2fs (%.0f rows/s)", variant, i+1, runs, d.Seconds(), float64(nrows)/d.Seconds())

			if _, err := pool.Exec(ctx, "TRUNCATE telemetry, track_1s; CHECKPOINT"); err != nil {
				return nil, err
			}
			d, err = timePsql(ctx, c, csvPath)
			if err != nil {
				return nil, err
			}
			if err := checkCount(ctx, st, nrows); err != nil {
				return nil, err
			}
			r.psql, r.psqlSecs = append(r.psql, float64(nrows)/d.Seconds()), append(r.psqlSecs, d.Seconds())
			progress("%s, run %d/%d: psql \\copy %.2fs (%.0f rows/s)", variant, i+1, runs, d.Seconds(), float64(nrows)/d.Seconds())
		}
		results = append(results, r)
	}
	if _, err := pool.Exec(ctx, "CREATE INDEX IF NOT EXISTS telemetry_geom ON telemetry USING gist (geom)"); err != nil {
		return nil, err
	}
	return results, nil
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", args...)
}

func checkCount(ctx context.Context, st *store.Store, want int) error {
	var n int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM telemetry").Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("telemetry holds %d rows after a load of %d", n, want)
	}
	return nil
}

// timeWriter loads every row through a new Writer and waits for its final
// flush: the time until the rows are committed. Rows are made as they are
// added, as ingest makes them, not held in memory beforehand.
func timeWriter(ctx context.Context, st *store.Store, root string, start time.Time, nrows int, log *slog.Logger) (time.Duration, error) {
	spool := filepath.Join(root, "spool")
	os.RemoveAll(spool)
	w, err := store.NewWriter(st, store.WriterConfig{SpoolDir: spool, Log: log})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- w.Run(wctx) }()
	for i := range nrows {
		if err := w.AddWait(ctx, store.Telemetry, row(start, i)...); err != nil {
			cancel()
			return 0, err
		}
	}
	cancel()
	if err := <-done; err != nil {
		return 0, err
	}
	d := time.Since(began)
	if w.SpoolBytes() != 0 {
		return 0, fmt.Errorf("writer spooled %d bytes: the database was not taking rows", w.SpoolBytes())
	}
	return d, nil
}

func timePsql(ctx context.Context, c *embedded.Cluster, csvPath string) (time.Duration, error) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		psql = filepath.Join(c.BinDir(), "psql")
	}
	cols := make([]string, len(store.Telemetry.Columns))
	for i, col := range store.Telemetry.Columns {
		cols[i] = col.Name
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.URL(),
		"-c", fmt.Sprintf(`\copy telemetry(%s) FROM '%s' WITH (FORMAT csv)`, strings.Join(cols, ","), csvPath))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("psql \\copy: %v: %s", err, out)
	}
	return time.Since(start), nil
}

// row makes telemetry row i of a flight of 20 drones at 10 Hz circling over
// a CBD block from start, with the value ranges of real flights.
func row(start time.Time, i int) []any {
	const vehicles = 20
	v := i % vehicles
	tick := i / vehicles
	ts := start.Add(time.Duration(tick) * 100 * time.Millisecond)
	a := float64(tick)/600*2*math.Pi + float64(v)
	lat := 22.5431 + 0.002*math.Sin(a) + 0.0005*float64(v)
	lon := 114.0579 + 0.002*math.Cos(a)
	return []any{
		ts, vehicleNames[v], lat, lon,
		float32(60 + v), float32(55 + v), float32(math.Mod(a*180/math.Pi+90, 360)),
		float32(2 * math.Sin(a)), float32(-3), float32(math.Mod(a*180/math.Pi, 360)),
		float32(8.5), float32(0.1), float32(22.2 - float64(tick)/1e5), float32(90 - float64(tick)/1e4),
		"AUTO", true, int16(3), int16(14), float32(0.8), float32(-45), float32(0),
	}
}

var vehicleNames = func() []string {
	n := make([]string, 20)
	for i := range n {
		n[i] = "drone-" + strconv.Itoa(i)
	}
	return n
}()

func writeCSV(path string, start time.Time, nrows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for r := range nrows {
		for i, v := range row(start, r) {
			if i > 0 {
				w.WriteByte(',')
			}
			switch v := v.(type) {
			case nil:
			case time.Time:
				w.WriteString(v.Format(time.RFC3339Nano))
			case float64:
				w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			case float32:
				w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			case int16:
				w.WriteString(strconv.Itoa(int(v)))
			case bool:
				w.WriteString(strconv.FormatBool(v))
			case string:
				w.WriteString(v)
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func report(path string, c *embedded.Cluster, nrows, runs int, results []result, more string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./deploy/bench`) on %s. The machine is shared and noisy: figures are medians of %d alternating runs, and the ratios, measured in the same run against the same server, matter more than the absolute numbers.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runs)
	fmt.Fprintf(&b, "## Machine\n\n| | |\n|---|---|\n| CPU | %s |\n| Cores | %d |\n| Memory | %s |\n| Kernel | %s |\n| Go | %s |\n| PostgreSQL | %s |\n\n",
		cpuModel(), runtime.NumCPU(), memTotal(), kernel(), runtime.Version(), pgVersion(c))
	b.WriteString(writerSection(nrows, results))
	fmt.Fprintf(&b, "\n%s", more)
	fmt.Fprintf(&b, "Command: `make bench` (`go run ./deploy/bench -rows N -runs R -fleet-drones D -fleet-time 60s`).\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	progress("wrote %s", path)
	return nil
}

// writerSection is the report's section on the batch writer.
func writerSection(nrows int, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Store: batch writer vs `psql \\copy`\n\n")
	fmt.Fprintf(&b, "%s telemetry rows (20 drones at 10 Hz), loaded into the `telemetry` table of a throwaway PostgreSQL cluster (plain-PostgreSQL mode: daily partitions, a generated PostGIS point column). ", fmtInt(nrows))
	fmt.Fprintf(&b, "**writer**: `store.Writer.AddWait` for every row as it is made, COPY in 5,000-row batches through pgx, each batch with its id for exactly-once and, in the same transaction, its seconds for the per-second track summary (`track_1s`, one row in ten at 10 Hz), timed until the final flush has committed. **psql**: `psql -c \"\\copy telemetry(...) FROM 'telemetry.csv' WITH (FORMAT csv)\"` of the same rows as CSV (the file is written before timing). Goal: writer ≥ 0.8× psql.\n\n")
	fmt.Fprintf(&b, "| Indexes | writer rows/s (median) | psql \\copy rows/s (median) | writer / psql | writer runs (s) | psql runs (s) |\n|---|---:|---:|---:|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | **%.2f×** | %s | %s |\n", r.variant, fmtInt(int(median(r.writer))), fmtInt(int(median(r.psql))),
			median(r.writer)/median(r.psql), secs(r.writerSecs), secs(r.psqlSecs))
	}
	return b.String()
}

func secs(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = strconv.FormatFloat(x, 'f', 2, 64)
	}
	return strings.Join(parts, ", ")
}

func fmtInt(n int) string {
	s := strconv.Itoa(n)
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func cpuModel() string {
	b, _ := os.ReadFile("/proc/cpuinfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "model name") {
			_, v, _ := strings.Cut(l, ":")
			return strings.TrimSpace(v)
		}
	}
	return runtime.GOARCH
}

func memTotal() string {
	b, _ := os.ReadFile("/proc/meminfo")
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			f := strings.Fields(l)
			kb, _ := strconv.Atoi(f[1])
			return fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
		}
	}
	return "?"
}

func kernel() string {
	out, err := exec.Command("uname", "-sr").Output()
	if err != nil {
		return runtime.GOOS
	}
	return strings.TrimSpace(string(out))
}

func pgVersion(c *embedded.Cluster) string {
	out, err := exec.Command(filepath.Join(c.BinDir(), "postgres"), "--version").Output()
	if err != nil {
		return strconv.Itoa(c.Version())
	}
	return strings.TrimSpace(string(out)) + " + PostGIS"
}
