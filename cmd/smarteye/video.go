package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/vision/analysis"
)

// recordingsDir is where segments are written and played from.
func recordingsDir(cfg config.Config) string {
	if cfg.Video.Recording.Dir != "" {
		return cfg.Video.Recording.Dir
	}
	return filepath.Join(cfg.DataDir, "recordings")
}

// cameraOptions are where the cameras keep their files.
func cameraOptions(cfg config.Config) camera.Options {
	o := camera.Options{RecordingsDir: recordingsDir(cfg), ModelsDir: cfg.ModelsDir()}
	if cfg.Video.Snapshots {
		o.SnapshotDir = filepath.Join(cfg.DataDir, "snapshots")
		o.SnapshotMaxAge = cfg.Store.Retention.Events.D()
	}
	return o
}

// sitesAndFences are the configured sites and geofences, with the demo's.
func sitesAndFences(cfg config.Config, demo bool) ([]geo.Site, []geo.Fence) {
	sites, fences := slices.Clone(cfg.Sites), slices.Clone(cfg.Geofences)
	if demo {
		if s := cfg.Sim.Site; s.ID != "" && !slices.ContainsFunc(sites, func(x geo.Site) bool { return x.ID == s.ID }) {
			sites = append(sites, s)
		}
		fences = append(fences, cfg.Sim.Geofences...)
	}
	out := make([]geo.Fence, len(fences))
	for i, f := range fences {
		out[i] = f.Fence()
	}
	return sites, out
}

// demoCameras starts the demo's RTSP server and returns the component
// that runs the ffmpeg publishers of the simulated cameras, the cameras
// as configured cameras (ahead of the configured ones), and whether each
// publishes yet. Outside the demo it returns the configured cameras.
func demoCameras(cfg config.Config, log *slog.Logger, demo bool) (*component, []config.Camera, func(string) bool, error) {
	cams := cfg.Video.Cameras
	if !demo || len(cfg.Sim.Cameras) == 0 {
		return nil, cams, nil, nil
	}
	for _, sc := range cfg.Sim.Cameras {
		if slices.ContainsFunc(cams, func(c config.Camera) bool { return c.ID == sc.ID }) {
			return nil, nil, nil, fmt.Errorf("demo: simulated camera %q has the id of a configured camera (video.cameras)", sc.ID)
		}
	}
	srv := &sim.RTSPServer{Address: cfg.Sim.RTSPAddress, Log: log.With("component", "sim.rtsp")}
	if err := srv.Start(); err != nil {
		return nil, nil, nil, fmt.Errorf("demo cameras: %w", err)
	}
	src, ok := footage(cfg)
	if !ok {
		log.Warn("sample footage not found (run `make deps`); the simulated cameras show ffmpeg's test pattern")
	}
	var pubs []*sim.Publisher
	var simCams []config.Camera
	for _, s := range cfg.Sim.Cameras {
		p := &sim.Publisher{URL: srv.URL(s.ID), Codec: s.Codec, Mirror: s.Mirror, Timecode: s.Timecode, Log: log.With("component", "sim.camera", "camera", s.ID)}
		switch {
		case s.Source == "vtest" && ok:
			p.Source = src
		case s.Source == "vtest" || s.Source == "testsrc2" || s.Source == "":
			p.Source, p.Width, p.Height, p.FPS = "testsrc2", 768, 576, 10
		default:
			p.Source = s.Source
		}
		pubs = append(pubs, p)
		simCams = append(simCams, config.Camera{
			ID: s.ID, Name: s.Name, Kind: "fixed", URL: "rtsp://" + srv.Addr() + "/" + s.ID, Transport: rtsp.TransportTCP,
			Settings: analysis.Settings{Detector: s.Detector, Rate: s.Rate, Zones: s.Zones}, Geo: s.Geo, Record: s.Record,
		})
	}
	log.Info("simulated cameras publishing", "cameras", len(pubs), "rtsp", "rtsp://"+srv.Addr()+"/")
	run := func(ctx context.Context) error {
		var wg sync.WaitGroup
		for _, p := range pubs {
			wg.Go(func() {
				if err := p.Run(ctx); err != nil {
					log.Error("simulated camera", "err", err)
				}
			})
		}
		<-ctx.Done()
		wg.Wait()
		srv.Close()
		return nil
	}
	return &component{"simulated cameras", run}, append(simCams, cams...), srv.Ready, nil
}

// footage resolves sim.footage (empty: find vtest.avi).
func footage(cfg config.Config) (string, bool) {
	if cfg.Sim.Footage != "" {
		_, err := os.Stat(cfg.Sim.Footage)
		return cfg.Sim.Footage, err == nil
	}
	exe, _ := os.Executable()
	return sim.Footage(filepath.Dir(exe))
}

// trigger forwards a camera's event to the supervisor's recorders once
// the supervisor exists (the placement is made first: it is the
// cameras' frame sink).
type trigger struct{ sup *camera.Supervisor }

func (t *trigger) fire(camera string, at time.Time) {
	if t.sup != nil {
		t.sup.Trigger(camera, at)
	}
}
