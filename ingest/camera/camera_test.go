package camera

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/testkit"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
	"github.com/smarteye/smarteye/vision/models"
)

// A camera that names no detector runs NanoDet when the model is
// installed, and HOG otherwise, with the reason in its status; one that
// names nanodet without a model keeps running and reports why.
func TestDefaultDetector(t *testing.T) {
	installed := models.DevDir()
	if !models.Installed(installed) {
		t.Fatalf("the model is not installed in %s: run `make deps`", installed)
	}
	empty := t.TempDir()
	cam := Camera{ID: "c", URL: "rtsp://127.0.0.1/x"}
	ac, err := cam.Settings.Config(cam.ID, false, "", installed, slog.New(slog.DiscardHandler))
	if err != nil || ac.Detector != analysis.DetectorNanoDet || ac.Model == nil || ac.Model.ONNX != models.Path(installed) || ac.Warning != "" {
		t.Fatalf("installed: %+v, %v", ac, err)
	}
	var logged strings.Builder
	ac, err = cam.Settings.Config(cam.ID, false, "", empty, slog.New(slog.NewTextHandler(&logged, nil)))
	if err != nil || ac.Detector != analysis.DetectorHOG || ac.Model != nil || !strings.Contains(ac.Warning, "no trained detector is installed") {
		t.Fatalf("not installed: %+v, %v", ac, err)
	}
	if !strings.Contains(logged.String(), "camera runs HOG") {
		t.Fatalf("no warning in the log: %s", logged.String())
	}
	pool, err := analysis.NewPool(1, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	a, err := analysis.New(ac, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); st.Detector != "hog" || !strings.Contains(st.DetectorWarning, "smarteye models install") {
		t.Fatalf("stats %+v", st)
	}
	// Asked for by name without a model: the camera still streams, and
	// its analysis says why it cannot detect.
	cam.Detector = "nanodet"
	ac, err = cam.Settings.Config(cam.ID, false, "", empty, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, err = analysis.New(ac, pool, nil)
	if err != nil {
		t.Fatal(err)
	}
	if st := a.Stats(); !strings.Contains(st.DetectorError, "no such file") {
		t.Fatalf("stats %+v", st)
	}
}

// placement is a Placement that places nothing: what the supervisor asks
// of placement is tested in geo/place.
type placement struct{ events chan telemetry.Event }

func (p placement) Frame(vision.Frame) {}
func (p placement) Event(e telemetry.Event) {
	select {
	case p.events <- e:
	default:
	}
}
func (p placement) Publish(e telemetry.Event)                                        { p.Event(e) }
func (placement) AddCamera(string, string, place.CameraConfig)                       {}
func (placement) Footprint(string, int, int) [][2]float64                            { return nil }
func (placement) GroundZones(string, []vision.Zone, int, int) []telemetry.GroundZone { return nil }
func (placement) Calibration(string) map[string]any                                  { return nil }

// An analysis that fails shows on the status board and in the camera's
// state, is counted, and is started again with backoff while the stream
// stays live; once it runs again the board is clear.
func TestAnalysisFailureRestarts(t *testing.T) {
	srv := &sim.RTSPServer{Log: slog.New(slog.DiscardHandler)}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pub := &sim.Publisher{Source: "testsrc2", URL: srv.URL("cam"), Width: 320, Height: 240, FPS: 10, Log: slog.New(slog.DiscardHandler)}
	pubDone := make(chan struct{})
	go func() { defer close(pubDone); _ = pub.Run(ctx) }()

	hub, board := telemetry.NewHub(nil), telemetry.NewBoard()
	cfg := DefaultConfig()
	cfg.MaxBackoff, cfg.Recording.Mode = telemetry.Duration(time.Second), "off"
	sup, err := New(cfg, []Camera{{ID: "cam", URL: srv.URL("cam"), Transport: rtsp.TransportTCP, Settings: analysis.Settings{Detector: "motion", Rate: 2}}},
		Options{RecordingsDir: t.TempDir(), StatusInterval: 100 * time.Millisecond},
		Deps{Bus: hub, Place: placement{make(chan telemetry.Event, 64)}, Board: board, Ready: srv.Ready, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	var calls atomic.Int32
	real := sup.analyse
	sup.analyse = func(ctx context.Context, a *analysis.Analyzer, q *rtsp.Queue) error {
		switch calls.Add(1) {
		case 1:
			panic("decoder crashed")
		case 2:
			return errors.New("model file vanished")
		}
		return real(ctx, a, q)
	}
	runDone := make(chan error, 1)
	go func() { runDone <- sup.Run(ctx) }()

	entry := func() telemetry.ComponentStatus {
		for _, e := range board.Snapshot() {
			if e.Name == "camera cam" {
				return e
			}
		}
		return telemetry.ComponentStatus{}
	}
	testkit.WaitFor(t, 30*time.Second, "the failure on the status board", func() bool {
		e := entry()
		return e.State == telemetry.StateDegraded && strings.Contains(e.Detail, "analysis stopped")
	})
	testkit.WaitFor(t, 30*time.Second, "the analysis started a third time and the board clear", func() bool {
		e := entry()
		return calls.Load() >= 3 && e.State == telemetry.StateOK
	})
	info := sup.Cameras()[0].Analysis.(AnalysisInfo)
	if info.Restarts != 2 || info.Stopped != "" {
		t.Fatalf("analysis info %+v", info)
	}
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("run: %v", err)
	}
	<-pubDone
	if e := entry(); e.State != telemetry.StateStopped {
		t.Fatalf("board after stop: %+v", e)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
