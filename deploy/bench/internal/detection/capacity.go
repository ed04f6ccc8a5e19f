// Package detection measures smarteye's video analysis: how many 720p25
// cameras one machine analyses (RTSP ingest, decoding, motion gate,
// NanoDet or HOG at 2 analysed frames a second) without losing RTP, what
// one camera costs, what a Python OpenCV script doing the same costs, how
// long a frame takes from the camera to the live feed, and what one frame
// costs each detector and how right each is on hand-labelled frames.
// It writes those sections of BENCHMARKS.md; the cameras run in a process
// of their own (package camera).
package detection

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/smarteye/smarteye/deploy/bench/internal/camera"
	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
	"github.com/smarteye/smarteye/vision/cv"
)

const (
	visionRate   = 2.0 // analysed frames per second per camera
	visionWarmup = 6 * time.Second
)

// Options sets the capacity runs.
type Options struct {
	// Window is each run's measurement window, after a warm-up.
	Window time.Duration
	// MaxStreams is the most 720p25 streams the capacity search tries.
	MaxStreams int
}

// latencySink records, for each analysed frame, how long after its
// arrival it reached the sink (where the hub publishes it).
type latencySink struct {
	mu     sync.Mutex
	on     bool
	lat    []time.Duration
	people int
}

func (s *latencySink) Frame(f vision.Frame) {
	d := time.Since(f.Received)
	s.mu.Lock()
	if s.on {
		s.lat = append(s.lat, d)
		s.people += len(f.Detections)
	}
	s.mu.Unlock()
}

func (s *latencySink) Event(telemetry.Event) {}

type visionRun struct {
	streams     int
	detector    string
	cpu         float64 // cores used by the analysing process
	minFPS      float64 // slowest camera's analysed frames per second
	rtpLost     uint64
	queueDrops  uint64
	busy        uint64
	decodeErrs  uint64
	people      float64 // per analysed frame
	p50, p95    time.Duration
	sustained   bool
	analysed    uint64
	decodeUnits uint64
}

// cpuSelf is the CPU time of this process and of its live model worker
// processes (children still running, which getrusage does not count).
func cpuSelf() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()+ru.Stime.Nano()) + cpuWorkers()
}

// cpuWorkers sums utime and stime (/proc/PID/stat, in clock ticks of
// 1/100 s) of this process's children started as model workers.
func cpuWorkers() time.Duration {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	self := os.Getpid()
	var total time.Duration
	for _, d := range dirs {
		stat, err := os.ReadFile(filepath.Join(d, "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid … utime stime: fields after the comm.
		i := strings.LastIndexByte(string(stat), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(stat[i+1:]))
		if len(f) < 13 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid != self {
			continue
		}
		env, _ := os.ReadFile(filepath.Join(d, "environ"))
		if !strings.Contains(string(env), "SMARTEYE_DETECTOR_WORKER=1") {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		total += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return total
}

// runOurs analyses n streams for window and measures.
func runOurs(ctx context.Context, clip string, n int, detector string, window time.Duration) (visionRun, error) {
	addr, stop, err := camera.Start(ctx, clip, n)
	if err != nil {
		return visionRun{}, err
	}
	defer stop()
	pool, err := analysis.NewPool(0, nil)
	if err != nil {
		return visionRun{}, err
	}
	defer pool.Close()
	sink := &latencySink{}
	rctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	var streams []*rtsp.Stream
	var ans []*analysis.Analyzer
	for i := range n {
		s, err := rtsp.New(rtsp.Config{Camera: "cam" + strconv.Itoa(i), URL: "rtsp://" + addr + "/cam" + strconv.Itoa(i), Transport: rtsp.TransportTCP})
		if err != nil {
			cancel()
			return visionRun{}, err
		}
		q := s.Subscribe("vision", 256)
		ac := analysis.Config{Camera: s.Camera(), Detector: detector, Rate: visionRate}
		if detector == analysis.DetectorNanoDet {
			onnx, err := nanodetModel()
			if err != nil {
				cancel()
				return visionRun{}, err
			}
			ac.Model = &cv.ModelConfig{Kind: "nanodet", ONNX: onnx}
		}
		a, err := analysis.New(ac, pool, sink)
		if err != nil {
			cancel()
			return visionRun{}, err
		}
		streams, ans = append(streams, s), append(ans, a)
		wg.Add(2)
		go func() { defer wg.Done(); s.Run(rctx) }()
		go func() { defer wg.Done(); a.Run(rctx, q) }()
	}
	defer func() { cancel(); wg.Wait() }()

	time.Sleep(visionWarmup)
	type snap struct {
		analysed             []uint64
		lost, drops, busy, d uint64
		units                uint64
	}
	take := func() snap {
		var s snap
		for i := range streams {
			st, as := streams[i].Stats(), ans[i].Stats()
			s.analysed = append(s.analysed, as.Analysed)
			s.lost += st.RTPLost
			s.drops += st.QueueDrops
			s.busy += as.Busy
			s.d += as.DecodeErrors
			s.units += as.Decoder.Units
		}
		return s
	}
	sink.mu.Lock()
	sink.on = true
	sink.mu.Unlock()
	before, cpu0, t0 := take(), cpuSelf(), time.Now()
	select {
	case <-ctx.Done():
		return visionRun{}, ctx.Err()
	case <-time.After(window):
	}
	after, cpu1, el := take(), cpuSelf(), time.Since(t0)
	sink.mu.Lock()
	sink.on = false
	lat := slices.Clone(sink.lat)
	people := sink.people
	sink.mu.Unlock()

	r := visionRun{streams: n, detector: detector, cpu: (cpu1 - cpu0).Seconds() / el.Seconds(), minFPS: 1e9,
		rtpLost: after.lost - before.lost, queueDrops: after.drops - before.drops, busy: after.busy - before.busy, decodeErrs: after.d - before.d,
		decodeUnits: after.units - before.units}
	for i := range streams {
		a := after.analysed[i] - before.analysed[i]
		r.analysed += a
		r.minFPS = min(r.minFPS, float64(a)/el.Seconds())
	}
	if r.analysed > 0 {
		r.people = float64(people) / float64(r.analysed)
	}
	slices.Sort(lat)
	if len(lat) > 0 {
		r.p50, r.p95 = lat[len(lat)/2], lat[len(lat)*95/100]
	}
	r.sustained = r.minFPS >= 0.9*visionRate && r.rtpLost == 0 && r.queueDrops == 0 && r.decodeErrs == 0
	return r, nil
}

type pythonRun struct {
	cpu               float64 // cores
	fps, analysedPerS float64
	people            float64 // per analysed frame
	keptUp            bool
	err               string
}

// runPython runs a Python OpenCV script on one stream: opencv_people.py
// (HOG) or, for nanodet, opencv_nanodet.py with the same ONNX model.
func runPython(ctx context.Context, clip, detector string, window time.Duration) (pythonRun, error) {
	addr, stop, err := camera.Start(ctx, clip, 1)
	if err != nil {
		return pythonRun{}, err
	}
	defer stop()
	secs := (window + visionWarmup).Seconds()
	script := filepath.Join(repoRoot(), "deploy", "bench", "opencv_people.py")
	args := []string{script, "rtsp://" + addr + "/cam0", strconv.FormatFloat(secs, 'f', 0, 64), strconv.FormatFloat(visionRate, 'f', 1, 64)}
	if detector == analysis.DetectorNanoDet {
		onnx, err := nanodetModel()
		if err != nil {
			return pythonRun{}, err
		}
		args[0] = filepath.Join(repoRoot(), "deploy", "bench", "opencv_nanodet.py")
		args = append(args, onnx)
	}
	cmd := exec.CommandContext(ctx, "/usr/bin/python3", args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	start := time.Now()
	out, err := cmd.Output()
	el := time.Since(start)
	if err != nil {
		return pythonRun{}, fmt.Errorf("python3 %s: %v: %s", args[0], err, stderr.String())
	}
	var res struct {
		Frames, Analysed, People int
		Seconds                  float64
	}
	if err := json.Unmarshal(out, &res); err != nil {
		return pythonRun{}, fmt.Errorf("python output %q: %w", out, err)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	r := pythonRun{cpu: cpu.Seconds() / el.Seconds(), fps: float64(res.Frames) / res.Seconds, analysedPerS: float64(res.Analysed) / res.Seconds}
	if res.Analysed > 0 {
		r.people = float64(res.People) / float64(res.Analysed)
	}
	r.keptUp = r.fps >= 0.95*25
	return r, nil
}

func repoRoot() string {
	d, _ := os.Getwd()
	for p := d; p != "/"; p = filepath.Dir(p) {
		if _, err := os.Stat(filepath.Join(p, "go.mod")); err == nil {
			return p
		}
	}
	return d
}

// Bench encodes a 720p25 stream and measures the motion gate alone, the
// detectors (BenchDetectors), then how many such cameras the machine
// analyses with NanoDet and with HOG, and the Python script on one.
func Bench(ctx context.Context, root string, opts Options) (string, error) {
	footage, ok := sim.Footage("")
	if !ok {
		return "", errors.New("vision benchmark: vtest.avi not found (run make deps)")
	}
	clip := filepath.Join(root, "720p25.mkv")
	measure.Progress("vision: encoding a 720p25 camera stream from %s", footage)
	args := []string{"-v", "error", "-y", "-stream_loop", "-1", "-i", footage, "-t", "60",
		"-vf", "scale=1280:720,setpts=N/25/TB", "-r", "25", "-an", "-c:v", "libx264", "-preset", "veryfast",
		"-g", "50", "-bf", "0", "-pix_fmt", "yuv420p", clip}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("ffmpeg: %v\n%s", err, out)
	}

	// Ingest + decode + motion gate alone (the motion detector: no model).
	measure.Progress("vision: 4 streams, motion gate only")
	gateOnly, err := runOurs(ctx, clip, 4, analysis.DetectorMotion, opts.Window)
	if err != nil {
		return "", err
	}
	measure.Progress("vision: gate only: %.1f%% of a core per stream", 100*gateOnly.cpu/4)

	var sections strings.Builder
	det, err := BenchDetectors(ctx, root)
	if err != nil {
		return "", err
	}
	sections.WriteString(det)
	for _, det := range []string{analysis.DetectorNanoDet, analysis.DetectorHOG} {
		var runs []visionRun
		for _, n := range []int{1, 2, 3, 4, 6, 8, 10, 12, 14, 16, 20, 24} {
			if n > opts.MaxStreams {
				break
			}
			measure.Progress("vision: %d stream(s), motion gate + %s", n, det)
			r, err := runOurs(ctx, clip, n, det, opts.Window)
			if err != nil {
				return "", err
			}
			measure.Progress("vision: %d streams: %.2f cores, slowest %.2f analysed/s, RTP lost %d, sustained %v", n, r.cpu, r.minFPS, r.rtpLost, r.sustained)
			runs = append(runs, r)
			if !r.sustained {
				break
			}
		}
		measure.Progress("vision: the Python OpenCV script (%s) on one stream", det)
		py, err := runPython(ctx, clip, det, opts.Window)
		if err != nil {
			py.err = err.Error()
		}
		sections.WriteString(visionReport(det, gateOnly, runs, py, opts.Window))
	}
	return sections.String(), nil
}

func visionReport(detector string, gate visionRun, runs []visionRun, py pythonRun, window time.Duration) string {
	var b strings.Builder
	name := map[string]string{analysis.DetectorNanoDet: "NanoDet-g (416, the default)", analysis.DetectorHOG: "HOG (the baseline)"}[detector]
	fmt.Fprintf(&b, "## Vision: cameras analysed per machine, %s\n\n", name)
	fmt.Fprintf(&b, "A 720p25 camera stream (OpenCV's `vtest.avi` scaled to 1280x720 and retimed to 25 distinct pictures a second; libx264 veryfast, keyframe every 2 s, ~%s) is published N times by a separate process (Debian's ffmpeg with `-c copy` into smarteye's simulated RTSP server), and one smarteye process pulls every stream over RTSP/TCP, decodes it (every picture: they are all references), runs the MOG2 motion gate and %s on the moving regions (or the whole frame, at least every 3 s) %.0f times a second, tracks and reports. CPU is the smarteye process's (getrusage, its model worker processes included) over a %s window after %s of warm-up; a configuration is **sustained** when every camera is analysed at ≥ 90%% of %.0f frames/s with no RTP packet lost, no unit dropped by a queue and no decode error. Latency is from the arrival of the picture's last RTP packet at smarteye to the moment its detections reach the sink that publishes them on the live feed (it includes waiting for a free detector; the camera's own encoder and network delay come before it and are not measured here).\n\n",
		"2 Mbit/s", name, visionRate, window, visionWarmup, visionRate)
	fmt.Fprintf(&b, "Command: `go run ./deploy/bench` (section `-vision`); streams: `ffmpeg -stream_loop -1 -i vtest.avi -t 60 -vf scale=1280:720,setpts=N/25/TB -r 25 -c:v libx264 -preset veryfast -g 50 -bf 0 720p25.mkv`.\n\n")
	b.WriteString("| Streams | Detector | CPU (cores) | per stream (% of a core) | slowest camera, analysed/s | RTP lost | queue drops | latency p50 | latency p95 | persons per analysed frame | sustained |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---|\n")
	row := func(r visionRun) {
		fmt.Fprintf(&b, "| %d | %s | %.2f | %.1f | %.2f | %d | %d | %s | %s | %.2f | %s |\n", r.streams, r.detector, r.cpu, 100*r.cpu/float64(r.streams), r.minFPS,
			r.rtpLost, r.queueDrops, r.p50.Round(time.Millisecond), r.p95.Round(time.Millisecond), r.people, map[bool]string{true: "yes", false: "**no**"}[r.sustained])
	}
	row(gate)
	best := 0
	for _, r := range runs {
		row(r)
		if r.sustained {
			best = r.streams
		}
	}
	b.WriteString("\n")
	perStream := 0.0
	if len(runs) > 0 {
		perStream = runs[0].cpu
	}
	fmt.Fprintf(&b, "- **Ingest + decode + motion gate: %.1f %% of a core per 720p25 stream**, from the motion-only row.\n", 100*gate.cpu/float64(gate.streams))
	fmt.Fprintf(&b, "- **Capacity: %d streams of 720p25 sustained** with motion gating and %s at %.0f analysed frames/s each, on this %d-core machine", best, name, visionRate, runtime.NumCPU())
	if len(runs) > 0 && !runs[len(runs)-1].sustained {
		fmt.Fprintf(&b, " (at %d the slowest camera fell to %.2f analysed/s)", runs[len(runs)-1].streams, runs[len(runs)-1].minFPS)
	}
	b.WriteString(".\n")
	if py.err != "" {
		fmt.Fprintf(&b, "- The Python script did not run: %s\n\n", py.err)
		return b.String()
	}
	fmt.Fprintf(&b, "\n### %s against a Python OpenCV script\n\n", name)
	if detector == analysis.DetectorNanoDet {
		b.WriteString("What a user would write instead (`deploy/bench/opencv_nanodet.py`, Debian's python3-opencv 4.6 and numpy): `cv2.VideoCapture(rtsp)` reading every picture, MOG2 on a 320-pixel grey copy, and, when something moves, the same NanoDet ONNX model on the whole frame letterboxed to 416×416 (as NanoDet's own demo does), its head decoded with numpy, 2 times a second; one stream, one process, OpenCV's threads off as in smarteye.\n\n")
	} else {
		b.WriteString("What a user would write instead (`deploy/bench/opencv_people.py`, Debian's python3-opencv 4.6): `cv2.VideoCapture(rtsp)` reading every picture, MOG2 on a 320-pixel grey copy, and HOG with the same parameters on the whole frame when something moves, 2 times a second; one stream, one process, OpenCV's threads off as in smarteye.\n\n")
	}
	b.WriteString("| | CPU per stream (% of a core) | pictures read/s | analysed/s | persons per analysed frame | keeps up with 25 fps |\n|---|---:|---:|---:|---:|---|\n")
	fmt.Fprintf(&b, "| Python OpenCV script | %.1f | %.1f | %.2f | %.2f | %s |\n", 100*py.cpu, py.fps, py.analysedPerS, py.people, map[bool]string{true: "yes", false: "**no**"}[py.keptUp])
	if len(runs) > 0 {
		fmt.Fprintf(&b, "| smarteye (1 stream) | %.1f | 25 | %.2f | %.2f | %s |\n\n", 100*perStream, runs[0].minFPS, runs[0].people, map[bool]string{true: "yes", false: "**no**"}[runs[0].sustained])
		ratio := py.cpu / perStream
		fmt.Fprintf(&b, "**Streams per core, smarteye ÷ Python: %.1f×** (goal ≥ 2×). ", ratio)
		b.WriteString("Both decode every picture with the same libavcodec; the Python script also converts every picture to BGR (VideoCapture has no other mode) and runs the detector on the whole frame, where smarteye converts only the analysed pictures and runs the detector on the moving regions or on a rectangle that fits the frame.\n\n")
	}
	return b.String()
}
