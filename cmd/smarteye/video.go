package main

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
	"github.com/smarteye/smarteye/vision/cv"
	"github.com/smarteye/smarteye/vision/models"
)

// camera is one camera at run time: its stream and its analysis.
type camera struct {
	cfg      config.Camera
	stream   *rtsp.Stream
	queue    *rtsp.Queue
	analyzer *analysis.Analyzer
	// relay serves the stream to live viewers, fed by liveQueue.
	relay     *live.Relay
	liveQueue *rtsp.Queue
	// recorder writes the stream to disk, fed by recQueue; nil when off.
	recorder *record.Camera
	recQueue *rtsp.Queue
}

// kind is fixed or drone (the configuration may leave fixed unsaid).
func (c *camera) kind() string {
	if c.cfg.Kind == "" {
		return "fixed"
	}
	return c.cfg.Kind
}

// video holds the cameras; it is the dashboard's source of camera status.
type video struct {
	cams []*camera
	pool *analysis.Pool
	bus  telemetry.Bus
	geo  *georef
	// ready reports whether a simulated camera publishes yet (demo only):
	// its stream waits for it rather than start with a 404 and a
	// stream.down event.
	ready func(id string) bool
	// rec is the recorder; nil without cameras.
	rec *record.Recorder
}

// Hold records camera until until whatever its recording mode (a
// supervision session); false for an unknown camera.
func (v *video) Hold(camera string, until time.Time) bool {
	for _, c := range v.cams {
		if c.cfg.ID == camera && c.recorder != nil {
			c.recorder.Hold(until)
			return true
		}
	}
	return false
}

// Recorder is the video recorder (nil when nothing records).
func (v *video) Recorder() *record.Recorder { return v.rec }

// Relay implements dashboard.Relays.
func (v *video) Relay(id string) (*live.Relay, bool) {
	for _, c := range v.cams {
		if c.cfg.ID == id {
			return c.relay, true
		}
	}
	return nil, false
}

// evidence is an alert's snapshot: the camera's analysed frame at t with
// track's box drawn (alert.Evidence).
func (v *video) evidence(camera string, t time.Time, track uint64) (jpeg, thumb []byte) {
	return v.evidenceWithin(camera, t, track, 2*time.Second)
}

// snapshot is a remark's picture: the camera's analysed frame nearest t,
// up to 10 s away (the analysis of a loaded machine runs behind).
func (v *video) snapshot(camera string, t time.Time) []byte {
	j, _ := v.evidenceWithin(camera, t, 0, 10*time.Second)
	return j
}

func (v *video) evidenceWithin(camera string, t time.Time, track uint64, window time.Duration) (jpeg, thumb []byte) {
	for _, c := range v.cams {
		if c.cfg.ID == camera && c.analyzer != nil {
			return c.analyzer.EvidenceWithin(t, track, window)
		}
	}
	return nil, nil
}

// Cameras implements dashboard.CameraSource.
func (v *video) Cameras() []dashboard.Camera {
	out := make([]dashboard.Camera, 0, len(v.cams))
	for _, c := range v.cams {
		out = append(out, v.describe(c))
	}
	return out
}

func (v *video) describe(c *camera) dashboard.Camera {
	dc := dashboard.Camera{ID: c.cfg.ID, Name: c.cfg.Name, Kind: c.kind(), VehicleID: c.cfg.Vehicle, URL: rtsp.Redact(c.cfg.URL), Stream: c.stream.Stats()}
	if v.geo != nil {
		dc.Calibration = v.geo.Calibration(c.cfg.ID)
	}
	if c.analyzer != nil {
		dc.Analysis = c.analyzer.Stats()
	}
	return dc
}

// state is the camera as the live feed shows it.
func (v *video) state(c *camera) telemetry.Camera {
	st := c.stream.Stats()
	tc := telemetry.Camera{
		ID: c.cfg.ID, Name: c.cfg.Name, Kind: c.kind(), VehicleID: c.cfg.Vehicle,
		Status: string(st.Status), Since: st.Since, Reason: st.Reason, Codec: st.Codec,
		Width: st.Width, Height: st.Height, FPS: st.FPS, Bitrate: st.Bitrate,
		Detector: analysis.DetectorNone, Updated: time.Now(),
	}
	if c.analyzer != nil {
		as := c.analyzer.Stats()
		tc.Detector, tc.DetectorError, tc.AnalysisFPS, tc.Tracks = as.Detector, as.DetectorError, as.AnalysisFPS, as.Tracks
		tc.Counts = c.analyzer.Counts()
	}
	if v.geo != nil {
		tc.Footprint = v.geo.footprint(c.cfg.ID, st.Width, st.Height)
		tc.Zones = v.geo.groundZones(c.cfg.ID, c.cfg.Zones, st.Width, st.Height)
		tc.Calibration = v.geo.Calibration(c.cfg.ID)
	}
	return tc
}

// videoSink sends analysis results to the live bus and the store.
type videoSink struct {
	bus telemetry.Bus
	w   mavlink.RowWriter
	geo *georef
	// trigger starts event-mode recording around a camera's event.
	trigger func(camera string, t time.Time)
}

// Frame places each detection on the ground (the box's bottom centre),
// checks it against the geofences, stores it and publishes the frame.
func (s videoSink) Frame(f vision.Frame) {
	d := telemetry.Detections{Camera: f.Camera, Time: f.Time, Received: f.Received, Width: f.Width, Height: f.Height, Objects: make([]telemetry.Object, 0, len(f.Detections))}
	var fenceEvents []telemetry.Event
	for _, o := range f.Detections {
		box := [4]float64{o.Box.X, o.Box.Y, o.Box.W, o.Box.H}
		obj := telemetry.Object{TrackID: o.TrackID, Class: o.Class, Confidence: o.Confidence, Box: box, GeoStatus: string(geo.StatusUncalibrated), Carried: o.Carried}
		row := []any{f.Time, f.Camera, int64(o.TrackID), o.Class, float32(o.Confidence),
			float32(o.Box.X), float32(o.Box.Y), float32(o.Box.W), float32(o.Box.H), nil, nil, nil, obj.GeoStatus}
		if s.geo != nil {
			p := s.geo.locate(f.Camera, f.Time, box, f.Width, f.Height)
			obj.GeoStatus, row[12] = string(p.status), string(p.status)
			if p.status == geo.StatusOK {
				obj.Lat, obj.Lon, obj.Error = &p.lat, &p.lon, p.sigma
				row[9], row[10], row[11] = p.lat, p.lon, float32(p.sigma)
				for _, e := range s.geo.track(f.Camera, o.TrackID, o.Class, p, f.Time) {
					e.Received = f.Received
					e.Data["class"], e.Data["confidence"] = o.Class, o.Confidence
					fenceEvents = append(fenceEvents, e)
				}
			}
		}
		d.Objects = append(d.Objects, obj)
		if s.w != nil {
			_ = s.w.Add(store.Detections, row...)
		}
	}
	s.bus.PublishDetections(d)
	for _, e := range fenceEvents {
		s.publish(e)
	}
}

// Event stores and publishes a track or zone event, placed where its
// track was last seen on the ground; a track's end also ends its fences.
func (s videoSink) Event(e telemetry.Event) {
	if s.geo != nil && e.TrackID != 0 && e.Lat == nil {
		if p, ok := s.geo.lastPosition(e.CameraID, e.TrackID); ok {
			lat, lon := p[1], p[0]
			e.Lat, e.Lon = &lat, &lon
		}
	}
	s.publish(e)
	if s.geo != nil && e.Kind == "track.end" {
		class, _ := e.Data["class"].(string)
		for _, x := range s.geo.trackEnded(e.CameraID, e.TrackID, class, e.Time) {
			s.publish(x)
		}
	}
}

// publish sends an event to the live feed and stores it.
func (s videoSink) publish(e telemetry.Event) {
	if s.trigger != nil && e.CameraID != "" && !strings.HasPrefix(e.Kind, "stream.") {
		s.trigger(e.CameraID, e.Time)
	}
	s.bus.PublishEvent(e)
	if s.w != nil {
		_ = s.w.Add(store.Events, store.EventRow(&e)...)
	}
}

// recordingsDir is where segments are written and played from.
func recordingsDir(cfg config.Config) string {
	if cfg.Video.Recording.Dir != "" {
		return cfg.Video.Recording.Dir
	}
	return filepath.Join(cfg.DataDir, "recordings")
}

// simCameras turns the demo's simulated cameras into configured cameras
// served by the demo's RTSP server.
func simCameras(cfg config.Config, server string) []config.Camera {
	var out []config.Camera
	for _, s := range cfg.Sim.Cameras {
		out = append(out, config.Camera{
			ID: s.ID, Name: s.Name, Kind: "fixed", URL: "rtsp://" + server + "/" + s.ID, Transport: rtsp.TransportTCP,
			Detector: s.Detector, Rate: s.Rate, Zones: s.Zones, Geo: s.Geo, Record: s.Record,
		})
	}
	return out
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

// videoComponents builds the cameras (and, in the demo, the RTSP server and
// the ffmpeg publishers of the simulated ones).
func videoComponents(cfg config.Config, log *slog.Logger, demo bool, bus telemetry.Bus, w mavlink.RowWriter, index record.Index, reg prometheus.Registerer, board *telemetry.Board, g *georef) ([]component, *video, error) {
	var comps []component
	cams := cfg.Video.Cameras
	v := &video{bus: bus, geo: g}
	if demo && len(cfg.Sim.Cameras) > 0 {
		srv := &sim.RTSPServer{Address: cfg.Sim.RTSPAddress, Log: log.With("component", "sim.rtsp")}
		if err := srv.Start(); err != nil {
			return nil, nil, fmt.Errorf("demo cameras: %w", err)
		}
		src, ok := footage(cfg)
		if !ok {
			log.Warn("sample footage not found (run `make deps`); the simulated cameras show ffmpeg's test pattern")
		}
		var pubs []*sim.Publisher
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
		}
		log.Info("simulated cameras publishing", "cameras", len(pubs), "rtsp", "rtsp://"+srv.Addr()+"/")
		comps = append(comps, component{"simulated cameras", func(ctx context.Context) error {
			var wg sync.WaitGroup
			for _, p := range pubs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := p.Run(ctx); err != nil {
						log.Error("simulated camera", "err", err)
					}
				}()
			}
			<-ctx.Done()
			wg.Wait()
			srv.Close()
			return nil
		}})
		for _, sc := range cfg.Sim.Cameras {
			for _, c := range cams {
				if c.ID == sc.ID {
					srv.Close()
					return nil, nil, fmt.Errorf("demo: simulated camera %q has the id of a configured camera (video.cameras)", sc.ID)
				}
			}
		}
		cams = append(simCameras(cfg, srv.Addr()), cams...)
		v.ready = srv.Ready
	}
	if len(cams) == 0 {
		return comps, v, nil
	}
	pool, err := analysis.NewPool(cfg.Video.Workers, log)
	if err != nil {
		return nil, nil, err
	}
	v.pool = pool
	sink := videoSink{bus: bus, w: w, geo: g}
	rc := cfg.Video.Recording
	// The recorder runs whenever there are cameras: one whose mode is off
	// still records while a supervision session holds it.
	if len(cams) > 0 {
		rec, err := record.New(record.Config{Dir: recordingsDir(cfg), SegmentLength: rc.Segment.D(), MaxAge: rc.MaxAge.D(), MaxBytes: int64(rc.MaxSize), MinFree: int64(rc.MinFree),
			Index: index, Event: sink.publish, Log: log, Registerer: reg})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		v.rec = rec
		sink.trigger = func(camera string, t time.Time) {
			for _, c := range v.cams {
				if c.cfg.ID == camera && c.recorder != nil {
					c.recorder.Trigger(t)
				}
			}
		}
		comps = append(comps, component{"recorder", func(ctx context.Context) error { return rec.Run(ctx) }})
	}
	snapDir := ""
	if cfg.Video.Snapshots {
		snapDir = filepath.Join(cfg.DataDir, "snapshots")
	}
	for _, cc := range cams {
		c := &camera{cfg: cc}
		stream, err := rtsp.New(rtsp.Config{
			Camera: cc.ID, URL: cc.URL, Transport: cc.Transport, TLSFingerprint: cc.TLSFingerprint,
			ReadTimeout: cfg.Video.ReadTimeout.D(), StallTimeout: cfg.Video.StallTimeout.D(),
			StalledReconnect: cfg.Video.StalledReconnect.D(), UDPReadBuffer: int(cfg.Video.UDPReadBuffer),
			AutoTCPLoss: cfg.Video.AutoTCPLoss, AutoTCPAfter: cfg.Video.AutoTCPAfter.D(), MaxBackoff: cfg.Video.MaxBackoff.D(),
			OnStatus: func(ch rtsp.Change) { streamEvent(ch, c, v, sink) },
			Log:      log,
		})
		if err != nil {
			pool.Close()
			return nil, nil, err
		}
		c.stream = stream
		if cc.Detector != analysis.DetectorNone {
			ac, err := analysisConfig(cc, snapDir, cfg.ModelsDir(), log)
			if err != nil {
				pool.Close()
				return nil, nil, fmt.Errorf("camera %s: %w", cc.ID, err)
			}
			a, err := analysis.New(ac, pool, sink)
			if err != nil {
				pool.Close()
				return nil, nil, err
			}
			c.analyzer = a
			c.queue = stream.Subscribe("vision", 256)
		}
		c.relay, c.liveQueue = live.NewRelay(cc.ID), stream.Subscribe("live", 256)
		if mode := cmp.Or(cc.Record, rc.Mode); v.rec != nil {
			c.recorder = v.rec.Camera(record.CameraConfig{ID: cc.ID, Mode: mode, PreRoll: rc.PreRoll.D(), PostRoll: rc.PostRoll.D()})
			c.recQueue = stream.Subscribe("record", 512)
		}
		v.cams = append(v.cams, c)
		if g != nil {
			vehicle := ""
			if cc.Kind == "drone" {
				vehicle = cc.Vehicle
			}
			g.addCamera(cc.ID, vehicle, cc.Geo)
		}
		bus.PublishCamera(v.state(c))
	}
	// The pool starts before the cameras and so stops after them (runAll
	// stops in reverse order): no camera detects on a closed pool.
	comps = append(comps, component{"detector pool", func(ctx context.Context) error {
		<-ctx.Done()
		pool.Close()
		return nil
	}})
	for _, c := range v.cams {
		comps = append(comps, component{"camera " + c.cfg.ID, func(ctx context.Context) error {
			if v.ready != nil {
				for deadline := time.Now().Add(15 * time.Second); !v.ready(c.cfg.ID) && time.Now().Before(deadline); {
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(100 * time.Millisecond):
					}
				}
			}
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				c.relay.Run(ctx, c.liveQueue)
			}()
			if c.recorder != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.recorder.Run(ctx, c.recQueue)
				}()
			}
			if c.analyzer != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					if err := c.analyzer.Run(ctx, c.queue); err != nil {
						log.Error("analysis stopped", "camera", c.cfg.ID, "err", err)
					}
				}()
			}
			err := c.stream.Run(ctx)
			wg.Wait()
			return err
		}})
	}
	comps = append(comps, component{"camera status", func(ctx context.Context) error {
		t := time.NewTicker(2 * time.Second)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return nil
			case <-t.C:
				for _, c := range v.cams {
					st := v.state(c)
					bus.PublishCamera(st)
					if board != nil {
						board.Set("camera "+st.ID, boardState(st), boardDetail(st))
					}
				}
			}
		}
	}})
	if snapDir != "" && cfg.Store.Retention.Events > 0 {
		keep := cfg.Store.Retention.Events.D()
		comps = append(comps, component{"snapshot retention", func(ctx context.Context) error {
			for {
				if n, err := analysis.PruneSnapshots(snapDir, time.Now().Add(-keep)); err != nil {
					log.Warn("snapshot retention", "err", err)
				} else if n > 0 {
					log.Info("snapshot retention: removed old days", "days", n)
				}
				select {
				case <-ctx.Done():
					return nil
				case <-time.After(time.Hour):
				}
			}
		}})
	}
	if reg != nil {
		reg.MustRegister(v)
	}
	return comps, v, nil
}

// Metrics: one series per configured camera (a bounded set).
var (
	camUpDesc       = prometheus.NewDesc("smarteye_camera_up", "1 when the camera's stream is live, 0 otherwise.", []string{"camera"}, nil)
	camFramesDesc   = prometheus.NewDesc("smarteye_camera_frames_total", "Pictures received.", []string{"camera"}, nil)
	camBytesDesc    = prometheus.NewDesc("smarteye_camera_bytes_total", "Video payload bytes received.", []string{"camera"}, nil)
	camLostDesc     = prometheus.NewDesc("smarteye_camera_rtp_lost_total", "RTP packets lost (sequence gaps).", []string{"camera"}, nil)
	camRTPErrDesc   = prometheus.NewDesc("smarteye_camera_rtp_errors_total", "RTP packets that could not be depacketised.", []string{"camera"}, nil)
	camReconnDesc   = prometheus.NewDesc("smarteye_camera_reconnects_total", "Reconnection attempts.", []string{"camera"}, nil)
	camDropsDesc    = prometheus.NewDesc("smarteye_camera_queue_dropped_total", "Access units dropped because a consumer was too slow.", []string{"camera"}, nil)
	camDecErrDesc   = prometheus.NewDesc("smarteye_camera_decode_errors_total", "Access units the decoder rejected.", []string{"camera"}, nil)
	camAnalysedDesc = prometheus.NewDesc("smarteye_camera_analysed_frames_total", "Frames analysed.", []string{"camera"}, nil)
	camGatedDesc    = prometheus.NewDesc("smarteye_camera_gated_frames_total", "Analysed frames without motion, where no detector ran.", []string{"camera"}, nil)
	camBusyDesc     = prometheus.NewDesc("smarteye_camera_analysis_busy_total", "Frames due for analysis while it was still busy (skipped).", []string{"camera"}, nil)
	camDetErrDesc   = prometheus.NewDesc("smarteye_camera_detector_errors_total", "Detector failures (a model that cannot load or crashed).", []string{"camera"}, nil)
	camDetsDesc     = prometheus.NewDesc("smarteye_camera_detections_total", "Tracked detections reported.", []string{"camera"}, nil)
	camDetectDesc   = prometheus.NewDesc("smarteye_camera_detect_seconds", "Duration of the last detection.", []string{"camera"}, nil)
)

// Describe implements prometheus.Collector.
func (v *video) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{camUpDesc, camFramesDesc, camBytesDesc, camLostDesc, camRTPErrDesc, camReconnDesc, camDropsDesc,
		camDecErrDesc, camAnalysedDesc, camGatedDesc, camBusyDesc, camDetErrDesc, camDetsDesc, camDetectDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (v *video) Collect(ch chan<- prometheus.Metric) {
	counter := func(d *prometheus.Desc, x uint64, id string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(x), id)
	}
	for _, c := range v.cams {
		id := c.cfg.ID
		st := c.stream.Stats()
		up := 0.0
		if st.Status == rtsp.StatusLive {
			up = 1
		}
		ch <- prometheus.MustNewConstMetric(camUpDesc, prometheus.GaugeValue, up, id)
		counter(camFramesDesc, st.Frames, id)
		counter(camBytesDesc, st.Bytes, id)
		counter(camLostDesc, st.RTPLost, id)
		counter(camRTPErrDesc, st.RTPErrors, id)
		counter(camReconnDesc, st.Reconnects, id)
		counter(camDropsDesc, st.QueueDrops, id)
		if c.analyzer != nil {
			as := c.analyzer.Stats()
			counter(camDecErrDesc, as.DecodeErrors, id)
			counter(camAnalysedDesc, as.Analysed, id)
			counter(camGatedDesc, as.Gated, id)
			counter(camBusyDesc, as.Busy, id)
			counter(camDetErrDesc, as.DetectErrors, id)
			counter(camDetsDesc, as.Detections, id)
			ch <- prometheus.MustNewConstMetric(camDetectDesc, prometheus.GaugeValue, as.DetectTime.Seconds(), id)
		}
	}
}

// boardState grades a camera for the status board: down when its stream
// is, degraded when stalled or when its detector cannot run.
func boardState(c telemetry.Camera) string {
	switch {
	case c.Status == string(rtsp.StatusDown):
		return telemetry.StateDown
	case c.Status != string(rtsp.StatusLive) || c.DetectorError != "":
		return telemetry.StateDegraded
	}
	return telemetry.StateOK
}

func boardDetail(c telemetry.Camera) string {
	switch {
	case c.Status != string(rtsp.StatusLive):
		return fmt.Sprintf("%s: %s", c.Status, c.Reason)
	case c.DetectorError != "":
		return fmt.Sprintf("live %.0f fps; %s cannot run: %s", c.FPS, c.Detector, c.DetectorError)
	case c.Detector == analysis.DetectorNone:
		return fmt.Sprintf("live %s %dx%d %.0f fps, not analysed", c.Codec, c.Width, c.Height, c.FPS)
	}
	return fmt.Sprintf("live %s %dx%d %.0f fps; %s %.1f frames/s, %d tracks", c.Codec, c.Width, c.Height, c.FPS, c.Detector, c.AnalysisFPS, c.Tracks)
}

// streamEvent turns a stream's status change into an event and a camera update.
func streamEvent(ch rtsp.Change, c *camera, v *video, sink videoSink) {
	if ch.To == rtsp.StatusConnecting {
		return
	}
	msg := fmt.Sprintf("camera %s is %s", ch.Camera, ch.To)
	if ch.Reason != "" {
		msg += ": " + ch.Reason
	}
	sink.Event(telemetry.Event{Time: ch.Time, ID: telemetry.NewUUID(), Kind: "stream." + string(ch.To), CameraID: ch.Camera, Message: msg,
		Data: map[string]any{"from": string(ch.From), "reason": ch.Reason}})
	if c.stream != nil {
		v.bus.PublishCamera(v.state(c))
	}
}

// analysisConfig is a camera's analysis. A camera that names no detector
// gets the trained one (NanoDet) when it is installed in modelsDir, and
// HOG otherwise, with a warning in the log and in the camera's status.
func analysisConfig(cc config.Camera, snapDir, modelsDir string, log *slog.Logger) (analysis.Config, error) {
	ac := analysis.Config{
		Camera: cc.ID, Drone: cc.Kind == "drone", Detector: cc.Detector, Rate: cc.Rate, Gate: cc.Gate,
		MinConfidence: cc.MinConfidence, SnapshotDir: snapDir, Log: log,
		Tiles: analysis.Tiles{Cols: cc.Tiles.Cols, Rows: cc.Tiles.Rows, Scale: cc.Tiles.Scale, Overlap: cc.Tiles.Overlap},
	}
	m := cc.Model
	if ac.Detector == "" {
		switch {
		case m.ONNX != "" || models.Installed(modelsDir):
			ac.Detector = analysis.DetectorNanoDet
		default:
			ac.Detector = analysis.DetectorHOG
			ac.Warning = fmt.Sprintf("no trained detector is installed in %s (run `smarteye models install`): HOG finds only upright people, and no vehicles", modelsDir)
			log.Warn("camera runs HOG: "+ac.Warning, "camera", cc.ID)
		}
	}
	switch ac.Detector {
	case analysis.DetectorCascade, analysis.DetectorYOLO, analysis.DetectorNanoDet:
		onnx := m.ONNX
		if ac.Detector == analysis.DetectorNanoDet && onnx == "" {
			onnx = models.Path(modelsDir)
		}
		ac.Model = &cv.ModelConfig{Kind: ac.Detector, Cascade: m.Cascade, Class: m.Class, MinSize: m.MinSize, Config: m.Config, Weights: m.Weights,
			ONNX: onnx, Layout: vision.Layout(m.Layout), Names: m.Names, Input: m.Input, Confidence: m.Confidence, NMS: m.NMS, Keep: m.Keep,
			ClassConfidence: m.ClassConfidence}
	}
	for _, z := range cc.Zones {
		vz := vision.Zone{Name: z.Name, Classes: z.Classes, Dwell: z.Dwell.D(), MinCount: z.MinCount}
		for _, p := range z.Polygon {
			vz.Polygon = append(vz.Polygon, vision.Point{X: p[0], Y: p[1]})
		}
		ac.Zones = append(ac.Zones, vz)
	}
	return ac, ac.Validate()
}
