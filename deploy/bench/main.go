// Command bench measures smarteye against named baselines on this machine,
// in one run, and writes BENCHMARKS.md. `make bench` runs it.
//
// Store: the batch writer (COPY through pgx, 5,000-row batches, batch ids
// for exactly-once) loading 1M telemetry rows, against `psql \copy` of the
// same rows from a CSV file, into the same table of the same throwaway
// PostgreSQL cluster, with and without the PostGIS GiST index. Each figure is
// the median of several alternating runs; the ratio is writer / psql
// (store.go).
//
// The other sections: H.264 decoding (internal/h264), MAVLink ingest
// (internal/fleet), the video analysis (internal/detection, its cameras
// served by internal/camera), ground projection and geofences
// (internal/projection), the cluster's coordination and live bus
// (internal/scaleout), the live feed's fan-out and the browser
// (fanout.go, browser.go), alerts (alerts.go) and recording and replay
// (replay.go); internal/measure holds what they share.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/smarteye/smarteye/deploy/bench/internal/camera"
	"github.com/smarteye/smarteye/deploy/bench/internal/command"
	"github.com/smarteye/smarteye/deploy/bench/internal/detection"
	"github.com/smarteye/smarteye/deploy/bench/internal/fleet"
	"github.com/smarteye/smarteye/deploy/bench/internal/h264"
	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/deploy/bench/internal/projection"
	"github.com/smarteye/smarteye/deploy/bench/internal/scaleout"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
	"github.com/smarteye/smarteye/vision/cv"
)

func main() {
	// NanoDet runs in worker processes: this binary, started again.
	if cv.IsWorker() {
		os.Exit(cv.WorkerMain())
	}
	if spec := os.Getenv(camera.ServerEnv); spec != "" {
		// The cameras' side of the vision benchmark, in its own process.
		if err := camera.Serve(spec); err != nil {
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
	flag.BoolVar(&trendsBench, "trends", true, "include the trends benchmark (90 days × 50 zones: the rollups' refreshes, the trends API, the forecast's cost and error)")
	flag.BoolVar(&commandBench, "command", true, "include the command-and-control benchmark (simulated ArduCopters: round trips, mission uploads, 100 drones at once)")
	flag.BoolVar(&scaleBench, "scaleout", true, "include the scale-out benchmark (three cluster nodes, 50, 200 and 500 synthetic cameras; the live bus)")
	flag.IntVar(&scaleKills, "scaleout-kills", 3, "nodes killed and restarted per fleet size in the scale-out benchmark")
	flag.IntVar(&scaleReal, "scaleout-real", 12, "real RTSP cameras on three smarteye processes in the scale-out benchmark (0: none)")
	flag.BoolVar(&visionBench, "vision", true, "include the vision benchmarks (the detectors' cost and accuracy; capacity: RTSP + decode + motion gate + NanoDet or HOG, and the Python OpenCV scripts)")
	flag.DurationVar(&visionOpts.Window, "vision-window", 20*time.Second, "measurement window of each vision run")
	flag.IntVar(&visionOpts.MaxStreams, "vision-max", 16, "most 720p25 streams the vision capacity search tries")
	only := flag.String("only", "", `run one section alone, without PostgreSQL, and write only it to -out: "video" or "vision"; "detectors" (the vision section's cost and accuracy), "geo", "scaleout", "command", "trends", "dashboard", "alerts", "replay" and "store" (the batch writer) print theirs`)
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
		err = printSection(detection.BenchDetectors)
	case "geo":
		var g string
		if g, err = projection.Bench(*runs); err == nil {
			fmt.Print(g)
		}
	case "command":
		err = printSection(func(ctx context.Context, root string) (string, error) { return command.Bench(ctx, *runs) })
	case "trends":
		err = printSection(benchTrends)
	case "scaleout":
		err = printSection(func(ctx context.Context, root string) (string, error) {
			return scaleout.Bench(ctx, root, scaleSizes, scaleKills, scaleReal)
		})
	default:
		err = fmt.Errorf("-only %q: the sections that run alone are video, vision, detectors, geo, scaleout, command, trends, dashboard, alerts, replay and store", *only)
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

// runVideoOnly writes a report of the video section alone (`-only video`):
// no PostgreSQL is started.
func runVideoOnly(out string, runs int, video, vision bool) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root, err := os.MkdirTemp("", "smarteye-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	var section string
	if video {
		if section, err = h264.Bench(ctx, root, runs); err != nil {
			return err
		}
	}
	if vision {
		vis, err := detection.Bench(ctx, root, visionOpts)
		if err != nil {
			return err
		}
		section += vis
	}
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `go run ./deploy/bench -only %s` on %s: that section alone. The machine is shared and noisy: figures are medians of %d alternating runs.\n\n",
		map[bool]string{true: "video", false: "vision"}[video], time.Now().UTC().Format("2006-01-02 15:04 MST"), runs)
	fmt.Fprintf(&b, "## Machine\n\n| | |\n|---|---|\n| CPU | %s |\n| Cores | %d |\n| Memory | %s |\n| Kernel | %s |\n| Go | %s |\n\n",
		measure.CPUModel(), runtime.NumCPU(), measure.MemTotal(), measure.Kernel(), runtime.Version())
	b.WriteString(section)
	if err := os.WriteFile(out, []byte(b.String()), 0o644); err != nil {
		return err
	}
	measure.Progress("wrote %s", out)
	return nil
}

var (
	fleetDrones  int
	fleetTime    time.Duration
	videoBench   bool
	visionBench  bool
	visionOpts   detection.Options
	geoBench     bool
	scaleBench   bool
	commandBench bool
	trendsBench  bool
	scaleSizes   = []int{50, 200, 500}
	scaleKills   int
	scaleReal    int
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
		if video, err = h264.Bench(ctx, root, runs); err != nil {
			return err
		}
	}
	if visionBench {
		vis, err := detection.Bench(ctx, root, visionOpts)
		if err != nil {
			return err
		}
		video += vis
	}
	if geoBench {
		g, err := projection.Bench(runs)
		if err != nil {
			return err
		}
		video += g
	}
	if scaleBench {
		g, err := scaleout.Bench(ctx, root, scaleSizes, scaleKills, scaleReal)
		if err != nil {
			return err
		}
		video += g
	}
	if commandBench {
		c, err := command.Bench(ctx, runs)
		if err != nil {
			return err
		}
		video += c
	}
	if trendsBench {
		tr, err := benchTrends(ctx, root)
		if err != nil {
			return err
		}
		video += tr
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
	decode, err := fleet.BenchDecode(root, runs)
	if err != nil {
		return err
	}
	fleet, err := fleet.BenchFleet(ctx, st, root, fleetDrones, fleetTime, log)
	if err != nil {
		return err
	}
	return report(out, c, nrows, runs, results, decode+fleet+video)
}

func report(path string, c *embedded.Cluster, nrows, runs int, results []result, more string) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\nWritten by `make bench` (`go run ./deploy/bench`) on %s. The machine is shared and noisy: figures are medians of %d alternating runs, and the ratios, measured in the same run against the same server, matter more than the absolute numbers.\n\n",
		time.Now().UTC().Format("2006-01-02 15:04 MST"), runs)
	fmt.Fprintf(&b, "## Machine\n\n| | |\n|---|---|\n| CPU | %s |\n| Cores | %d |\n| Memory | %s |\n| Kernel | %s |\n| Go | %s |\n| PostgreSQL | %s |\n\n",
		measure.CPUModel(), runtime.NumCPU(), measure.MemTotal(), measure.Kernel(), runtime.Version(), pgVersion(c))
	b.WriteString(writerSection(nrows, results))
	fmt.Fprintf(&b, "\n%s", more)
	fmt.Fprintf(&b, "Command: `make bench` (`go run ./deploy/bench -rows N -runs R -fleet-drones D -fleet-time 60s`).\n")
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		return err
	}
	measure.Progress("wrote %s", path)
	return nil
}

func pgVersion(c *embedded.Cluster) string {
	out, err := exec.Command(filepath.Join(c.BinDir(), "postgres"), "--version").Output()
	if err != nil {
		return strconv.Itoa(c.Version())
	}
	return strings.TrimSpace(string(out)) + " + PostGIS"
}
