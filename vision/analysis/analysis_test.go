package analysis_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/testkit"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
	"github.com/smarteye/smarteye/vision/cv"
)

func TestMain(m *testing.M) {
	if cv.IsWorker() {
		os.Exit(cv.WorkerMain())
	}
	code := m.Run()
	if n := openMats(); code == 0 && n > 0 {
		fmt.Fprintf(os.Stderr, "%d gocv Mats left open\n", n)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// recorder is a Sink that keeps everything.
type recorder struct {
	mu     sync.Mutex
	frames []vision.Frame
	events []telemetry.Event
}

func (r *recorder) Frame(f vision.Frame) {
	r.mu.Lock()
	r.frames = append(r.frames, f)
	r.mu.Unlock()
}

func (r *recorder) Event(e telemetry.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) snapshot() ([]vision.Frame, []telemetry.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]vision.Frame(nil), r.frames...), append([]telemetry.Event(nil), r.events...)
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

// camera publishes vtest with ffmpeg on a fresh server and returns its URL.
func camera(t *testing.T, path string) string {
	t.Helper()
	return cameraOn(t, path, false)
}

func cameraOn(t *testing.T, path string, udp bool) string {
	t.Helper()
	return publish(t, path, udp, &sim.Publisher{GOP: 10})
}

// publish runs pub on a fresh server (its source vtest unless set) and
// returns the camera's URL.
func publish(t *testing.T, path string, udp bool, pub *sim.Publisher) string {
	t.Helper()
	footage, ok := sim.Footage("")
	if !ok {
		t.Fatal("vtest.avi not found: run `make deps`")
	}
	srv := &sim.RTSPServer{UDP: udp}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	if pub.Source == "" {
		pub.Source = footage
	}
	pub.URL = srv.URL(path)
	done := make(chan struct{})
	go func() {
		pub.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		srv.Close()
	})
	waitFor(t, 30*time.Second, "ffmpeg to publish", func() bool { return srv.Ready(path) })
	return srv.URL(path)
}

// baseline is OpenCV's own HOG (Python) on the first n frames of vtest:
// the mean persons per frame.
func baseline(t *testing.T, n int) float64 {
	t.Helper()
	footage, _ := sim.Footage("")
	file := filepath.Join(t.TempDir(), "frames.bgr")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", footage, "-frames:v", fmt.Sprint(n), "-f", "rawvideo", "-pix_fmt", "bgr24", file).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	out, err := exec.Command("/usr/bin/python3", "../cv/testdata/hog_baseline.py", file, "768", "576").Output()
	if err != nil {
		t.Fatalf("python baseline: %v", err)
	}
	total := 0
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	for _, l := range lines {
		var boxes [][4]int
		if err := json.Unmarshal([]byte(l), &boxes); err != nil {
			t.Fatal(err)
		}
		total += len(boxes)
	}
	return float64(total) / float64(len(lines))
}

func start(t *testing.T, url string, cfg analysis.Config, pool *analysis.Pool, sink analysis.Sink) (*analysis.Analyzer, *rtsp.Stream, func()) {
	t.Helper()
	return startOver(t, url, rtsp.TransportTCP, cfg, pool, sink)
}

func startOver(t *testing.T, url, transport string, cfg analysis.Config, pool *analysis.Pool, sink analysis.Sink) (*analysis.Analyzer, *rtsp.Stream, func()) {
	t.Helper()
	s, err := rtsp.New(rtsp.Config{Camera: cfg.Camera, URL: url, Transport: transport})
	if err != nil {
		t.Fatal(err)
	}
	q := s.Subscribe("vision", 64)
	a, err := analysis.New(cfg, pool, sink)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); s.Run(ctx) }()
	go func() { defer wg.Done(); a.Run(ctx, q) }()
	return a, s, func() {
		cancel()
		wg.Wait()
	}
}

// TestPeopleOnRealFootage: ffmpeg publishes OpenCV's pedestrian clip over
// RTSP; HOG finds people in most analysed frames, as many as OpenCV's own
// HOG finds in the clip, tracks keep their ids, zones report, and each
// ended track leaves a snapshot.
func TestPeopleOnRealFootage(t *testing.T) {
	want := baseline(t, 100)
	url := camera(t, "vtest")
	pool, err := analysis.NewPool(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec := &recorder{}
	snapDir := t.TempDir()
	gate := false
	a, _, stop := start(t, url, analysis.Config{
		Camera: "plaza", Rate: 4, Gate: &gate, SnapshotDir: snapDir,
		Zones: []vision.Zone{{Name: "lower half", Polygon: []vision.Point{{X: 0, Y: 288}, {X: 768, Y: 288}, {X: 768, Y: 576}, {X: 0, Y: 576}}, MinCount: 2}},
	}, pool, rec)
	waitFor(t, 60*time.Second, "40 analysed frames", func() bool { return a.Stats().Analysed >= 40 })
	stop()

	frames, events := rec.snapshot()
	withPeople, total := 0, 0
	seen := map[uint64]int{}
	for _, f := range frames {
		if f.Width != 768 || f.Height != 576 || f.Camera != "plaza" {
			t.Fatalf("frame %+v", f)
		}
		if len(f.Detections) > 0 {
			withPeople++
		}
		total += len(f.Detections)
		for _, d := range f.Detections {
			if d.Class != "person" || d.TrackID == 0 {
				t.Fatalf("detection %v", d)
			}
			seen[d.TrackID]++
		}
	}
	// The first frames only confirm tracks (two hits each).
	mean := float64(total) / float64(len(frames))
	t.Logf("%d frames, %d with people, %.2f persons per frame (OpenCV's HOG on the clip: %.2f); %d tracks", len(frames), withPeople, mean, want, len(seen))
	if withPeople < len(frames)*3/4 {
		t.Fatalf("people in %d of %d frames", withPeople, len(frames))
	}
	// The stream is H.264 at a different frame phase than the clip, and the
	// tracker reports confirmed tracks only: a band, not equality.
	if mean < 0.6*want || mean > 1.3*want {
		t.Fatalf("%.2f persons per frame, want within [0.6, 1.3] × %.2f", mean, want)
	}
	long := 0
	for _, n := range seen {
		if n >= 4 {
			long++
		}
	}
	if long < 2 {
		t.Fatalf("no track lasted 4 frames: %v", seen)
	}
	kinds := map[string]int{}
	var snapshot string
	for _, e := range events {
		kinds[e.Kind]++
		if e.CameraID != "plaza" || e.Time.IsZero() {
			t.Fatalf("event %+v", e)
		}
		if p, ok := e.Data["snapshot"].(string); ok && e.Kind == "track.end" {
			snapshot = p
		}
	}
	t.Logf("events %v", kinds)
	if kinds["track.start"] < 2 || kinds["track.end"] < 1 || kinds["zone.enter"] < 1 {
		t.Fatalf("events %v", kinds)
	}
	if snapshot == "" || !strings.HasPrefix(snapshot, snapDir) {
		t.Fatalf("no snapshot in track.end events")
	}
	if b, err := os.ReadFile(snapshot); err != nil || len(b) < 1000 || b[0] != 0xff || b[1] != 0xd8 {
		t.Fatalf("snapshot %s: %d bytes, %v", snapshot, len(b), err)
	}
	st := a.Stats()
	if st.Decoder.Errors != 0 || st.DetectErrors != 0 || st.Decoder.Converted < st.Analysed {
		t.Fatalf("stats %+v", st)
	}
	// 4 analysed per second from a 10 fps stream with a keyframe every
	// second: every unit decoded, a few converted.
	if st.Decoder.Converted > st.Decoder.Decoded/2+2 {
		t.Fatalf("converted %d of %d decoded", st.Decoder.Converted, st.Decoder.Decoded)
	}
}

// The same footage over RTP/UDP, motion-gated as fixed cameras are by
// default: people found in most frames, no packet lost on loopback.
func TestPeopleOverUDP(t *testing.T) {
	url := cameraOn(t, "vtest", true)
	pool, err := analysis.NewPool(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	rec := &recorder{}
	a, s, stop := startOver(t, url, rtsp.TransportUDP, analysis.Config{Camera: "udp", Rate: 4}, pool, rec)
	waitFor(t, 60*time.Second, "20 analysed frames", func() bool { return a.Stats().Analysed >= 20 })
	st := s.Stats()
	stop()
	frames, _ := rec.snapshot()
	with := 0
	for _, f := range frames {
		if len(f.Detections) > 0 {
			with++
		}
	}
	t.Logf("UDP: %d of %d frames with people; stream %s, %d RTP packets, %d lost; gated %d", with, len(frames), st.Transport, st.RTPPackets, st.RTPLost, a.Stats().Gated)
	if st.Transport != rtsp.TransportUDP || with < len(frames)*2/3 {
		t.Fatalf("transport %s, people in %d of %d frames", st.Transport, with, len(frames))
	}
}

// Analysing once a second a stream with a keyframe every second: only the
// keyframes are decoded at all.
func TestKeyframesOnly(t *testing.T) {
	url := camera(t, "vtest") // GOP 10 at 10 frames/s
	pool, err := analysis.NewPool(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, _, stop := start(t, url, analysis.Config{Camera: "slow", Rate: 1}, pool, &recorder{})
	// Once the keyframe period is known (after two keyframes), only
	// keyframes are decoded.
	waitFor(t, 30*time.Second, "3 analysed frames", func() bool { return a.Stats().Analysed >= 3 })
	before := a.Stats().Decoder
	waitFor(t, 30*time.Second, "8 analysed frames", func() bool { return a.Stats().Analysed >= 8 })
	stop()
	st := a.Stats()
	units, decoded := st.Decoder.Units-before.Units, st.Decoder.Decoded-before.Decoded
	t.Logf("%d units, %d decoded, %d converted", units, decoded, st.Decoder.Converted-before.Converted)
	if !st.KeyframesOnly || units < 30 || decoded > units/10+2 || st.Decoder.Errors != 0 {
		t.Fatalf("keyframes only %v: %d of %d units decoded", st.KeyframesOnly, decoded, units)
	}
}

// A broken model on one camera: a clear error in its stats, and the
// camera beside it keeps detecting.
func TestBrokenModelBesideHealthyCamera(t *testing.T) {
	url := camera(t, "vtest")
	pool, err := analysis.NewPool(2, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	bad := filepath.Join(t.TempDir(), "model.onnx")
	if err := os.WriteFile(bad, []byte("definitely not ONNX"), 0o644); err != nil {
		t.Fatal(err)
	}
	good, broken := &recorder{}, &recorder{}
	a1, _, stop1 := start(t, url, analysis.Config{Camera: "good", Rate: 2}, pool, good)
	defer stop1()
	a2, _, stop2 := start(t, url, analysis.Config{Camera: "broken", Rate: 2, Detector: "yolo", Model: &cv.ModelConfig{Kind: "yolo", ONNX: bad}}, pool, broken)
	defer stop2()
	waitFor(t, 30*time.Second, "the broken model's error", func() bool {
		return strings.Contains(a2.Stats().DetectorError, "Failed to parse ONNX model")
	})
	waitFor(t, 30*time.Second, "detections beside it", func() bool { return a1.Stats().Detections > 5 })
	if s := a2.Stats(); s.Detector != "yolo:model.onnx" || s.DetectErrors == 0 {
		t.Fatalf("broken: %+v", s)
	}
	t.Logf("broken camera: %s", a2.Stats().DetectorError)
}

// A model whose files are missing: the camera still gets an analyzer (it
// keeps streaming), which reports why it cannot detect.
func TestMissingModelIsNotFatal(t *testing.T) {
	pool, err := analysis.NewPool(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, err := analysis.New(analysis.Config{Camera: "c", Detector: "yolo", Model: &cv.ModelConfig{Kind: "yolo", ONNX: "/nonexistent/model.onnx"}}, pool, &recorder{})
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Detector != "yolo:model.onnx" || !strings.Contains(st.DetectorError, "no such file") {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  analysis.Config
		want string
	}{
		{analysis.Config{Camera: "a", Detector: "magic"}, "detector \"magic\""},
		{analysis.Config{Camera: "a", Detector: "yolo"}, "needs a model"},
		{analysis.Config{Camera: "a", Detector: "cascade", Model: &cv.ModelConfig{Kind: "yolo"}}, "with a yolo model"},
		{analysis.Config{Camera: "a", Detector: "motion", Drone: true}, "fixed camera"},
		{analysis.Config{Camera: "a", Rate: 100}, "rate"},
		{analysis.Config{Camera: "a", Zones: []vision.Zone{{Name: "z", Polygon: []vision.Point{{X: 0, Y: 0}, {X: 1, Y: 1}}}}}, "zone"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.cfg, err, tc.want)
		}
	}
}
