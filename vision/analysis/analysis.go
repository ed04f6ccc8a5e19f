// Package analysis runs the video analysis of each camera: it decodes the
// stream's access units (only the pictures it will analyse are converted),
// gates fixed cameras on motion, runs the camera's detector on a shared
// pool sized to the cores, tracks the detections, checks them against the
// camera's zones, keeps a snapshot of each track's best frame, and hands
// frames and events to a Sink (the live hub and the store's writer).
//
// A camera whose analysis falls behind analyses its newest picture and
// counts the ones it skipped; it never slows the RTP reader.
package analysis

import (
	"context"
	"errors"
	"fmt"
	"image"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/ingest/decode"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

// Detector names.
const (
	DetectorHOG     = "hog"
	DetectorMotion  = "motion"
	DetectorCascade = "cascade"
	DetectorYOLO    = "yolo"
	DetectorNanoDet = "nanodet"
	DetectorNone    = "none"
)

// Sink receives the analysis' results. Both methods are called from the
// camera's analysis goroutine and must not block for long.
type Sink interface {
	// Frame is one analysed frame's confirmed, tracked detections.
	Frame(f vision.Frame)
	// Event is a track or zone event.
	Event(e telemetry.Event)
}

// Config configures one camera's analysis.
type Config struct {
	Camera string
	// Drone cameras move: no motion gate.
	Drone bool
	// Detector is nanodet, hog, motion, cascade, yolo or none. It
	// defaults to hog (the caller picks nanodet when its model is
	// installed).
	Detector string
	// Warning is shown with the camera's analysis (why the detector is
	// not the one a user would expect, e.g. HOG for want of a model).
	Warning string
	// Model is the cascade, YOLO or NanoDet model.
	Model *cv.ModelConfig
	// Tiles runs the model on a grid of enlarged tiles instead of the
	// whole frame (NanoDet on a drone's high camera: small objects). Zero
	// runs the whole frame.
	Tiles Tiles
	// Rate is how many frames per second are analysed. It defaults to 2.
	Rate float64
	// Gate runs the motion gate on a fixed camera: only moving regions are
	// analysed, and still frames not at all (but the whole frame at least
	// every FullEvery). It defaults to true; drones never gate.
	Gate *bool
	// FullEvery bounds how long a gated camera goes without a full-frame
	// detection (people standing still). It defaults to 3 seconds.
	FullEvery time.Duration
	// MinConfidence drops weaker detections. It defaults to 0.
	MinConfidence float64
	HOG           cv.HOGParams
	Motion        cv.MotionParams
	Tracker       vision.TrackerConfig
	Zones         []vision.Zone
	// SnapshotDir receives a JPEG of each track's best frame (boxes drawn);
	// empty keeps none.
	SnapshotDir string
	Log         *slog.Logger
}

func (c *Config) defaults() {
	if c.Detector == "" {
		c.Detector = DetectorHOG
	}
	if c.Rate <= 0 {
		c.Rate = 2
	}
	if c.FullEvery <= 0 {
		c.FullEvery = 3 * time.Second
	}
	if c.Detector == DetectorNanoDet && c.Tracker.HighConfidence == 0 {
		// NanoDet reports down to 0.25: weaker boxes only extend tracks,
		// and a track is reported once its boxes are sure on average.
		c.Tracker.HighConfidence = DefaultHighConfidence
		if c.Tracker.ConfirmConfidence == 0 {
			c.Tracker.ConfirmConfidence = DefaultConfirmConfidence
		}
	}
	if c.Tracker.MaxAge == 0 {
		// Long enough to bridge a few analysed frames and a gated pause.
		c.Tracker.MaxAge = max(3*time.Duration(float64(time.Second)/c.Rate), c.FullEvery+time.Second)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch c.Detector {
	case "", DetectorHOG, DetectorMotion, DetectorNone:
	case DetectorCascade, DetectorYOLO, DetectorNanoDet:
		if c.Model == nil {
			return fmt.Errorf("detector %s needs a model", c.Detector)
		}
		if c.Model.Kind != c.Detector {
			return fmt.Errorf("detector %s with a %s model", c.Detector, c.Model.Kind)
		}
		// The model's files are checked by New, where a bad one leaves the
		// camera running with the reason in its stats, not by Validate:
		// a broken model must not keep the platform from starting.
	default:
		return fmt.Errorf("detector %q: want nanodet, hog, motion, cascade, yolo or none", c.Detector)
	}
	if err := c.Tiles.validate(); err != nil {
		return err
	}
	if c.Tiles.Cols > 0 && c.Detector != DetectorNanoDet {
		return fmt.Errorf("tiles need the nanodet detector, not %s", c.Detector)
	}
	if c.Detector == DetectorMotion && c.Drone {
		return errors.New("the motion detector needs a fixed camera")
	}
	if c.Rate < 0 || c.Rate > 60 {
		return fmt.Errorf("rate %v: want 0 to 60 frames per second", c.Rate)
	}
	if _, err := vision.NewZones(c.Zones); err != nil {
		return err
	}
	return nil
}

// Pool bounds the detectors' CPU use across all cameras: at most Size
// detections run at once, each on one core (OpenCV's own threads are
// turned off). It owns the in-process HOG detectors and, for each model,
// Size worker processes shared by the cameras that use it.
type Pool struct {
	slots chan *cv.HOG
	log   *slog.Logger

	mu      sync.Mutex
	remotes map[string]*workers
}

// workers run one model in Size processes: a detection takes a free one,
// so the cameras of one model use every core, not one.
type workers struct {
	free chan *cv.Remote
	all  []*cv.Remote
}

// detectAt runs the regions of one frame on one free worker.
func (w *workers) detectAt(ctx context.Context, img gocv.Mat, rois []image.Rectangle, scale float64) ([]vision.Detection, error) {
	var r *cv.Remote
	select {
	case r = <-w.free:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { w.free <- r }()
	var out []vision.Detection
	for _, roi := range rois {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := r.DetectAt(img, roi, scale)
		if err != nil {
			return nil, err
		}
		out = append(out, d...)
	}
	return out, nil
}

// Scales and Input are the model's (see cv.Remote).
func (w *workers) Scales() bool { return w.all[0].Scales() }
func (w *workers) Input() int   { return w.all[0].Input() }

// NewPool returns a pool of size workers (runtime.NumCPU when size ≤ 0).
func NewPool(size int, log *slog.Logger) (*Pool, error) {
	if size <= 0 {
		size = runtime.NumCPU()
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cv.SetThreads(1)
	p := &Pool{slots: make(chan *cv.HOG, size), log: log, remotes: map[string]*workers{}}
	for range size {
		h, err := cv.NewHOG(cv.HOGParams{})
		if err != nil {
			p.Close()
			return nil, err
		}
		p.slots <- h
	}
	return p, nil
}

// Size is the number of detections that may run at once.
func (p *Pool) Size() int { return cap(p.slots) }

// Close frees the detectors and stops the model workers.
func (p *Pool) Close() {
	for {
		select {
		case h := <-p.slots:
			h.Close()
		default:
			p.mu.Lock()
			for _, w := range p.remotes {
				for _, r := range w.all {
					r.Close()
				}
			}
			p.remotes = map[string]*workers{}
			p.mu.Unlock()
			return
		}
	}
}

// remote returns the shared workers of a model (each starts on its first
// detection).
func (p *Pool) remote(m cv.ModelConfig) (*workers, error) {
	key := fmt.Sprintf("%+v", m)
	p.mu.Lock()
	defer p.mu.Unlock()
	if w, ok := p.remotes[key]; ok {
		return w, nil
	}
	w := &workers{free: make(chan *cv.Remote, p.Size())}
	for range p.Size() {
		r, err := cv.NewRemote(m, 0, p.log)
		if err != nil {
			return nil, err
		}
		w.all = append(w.all, r)
		w.free <- r
	}
	p.remotes[key] = w
	return w, nil
}

// run takes a slot (and its HOG), waiting if all are busy.
func (p *Pool) run(ctx context.Context, f func(h *cv.HOG) error) error {
	select {
	case h := <-p.slots:
		defer func() { p.slots <- h }()
		return f(h)
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Stats describe a camera's analysis.
type Stats struct {
	Detector        string        `json:"detector"`
	DetectorError   string        `json:"detector_error,omitempty"`
	DetectorWarning string        `json:"detector_warning,omitempty"`
	Rate            float64       `json:"rate"`         // configured analysed frames per second
	AnalysisFPS     float64       `json:"analysis_fps"` // measured
	Analysed        uint64        `json:"analysed"`
	Gated           uint64        `json:"gated"`          // analysed frames without motion: no detection run
	Busy            uint64        `json:"busy"`           // frames due for analysis while it was still busy
	DetectErrors    uint64        `json:"detect_errors"`  // detector failures
	DetectTime      time.Duration `json:"detect_time_ns"` // last detection's duration
	// Regions counts analysed frames whose detector ran on moving
	// regions only, FullFrames those that ran on the whole frame.
	Regions       uint64       `json:"regions"`
	FullFrames    uint64       `json:"full_frames"`
	Detections    uint64       `json:"detections"` // confirmed detections reported
	Tracks        int          `json:"tracks"`
	KeyframesOnly bool         `json:"keyframes_only"` // the analysis rate is at or below the keyframe rate
	Decoder       decode.Stats `json:"decoder"`
	DecodeErrors  uint64       `json:"decode_errors"`
	Snapshots     uint64       `json:"snapshots"`
}

// Analyzer analyses one camera.
type Analyzer struct {
	cfg    Config
	pool   *Pool
	sink   Sink
	log    *slog.Logger
	remote *workers
	// modelErr is why the configured model cannot be used at all.
	modelErr error
	idBase   uint64 // track ids are idBase + the tracker's id: unique across restarts

	mu       sync.Mutex
	stats    Stats
	counts   map[string]map[string]int
	rateWin  [8]time.Time // times of the last analysed frames
	rateNext int

	// ev keeps the last analysed frames with detections for Evidence.
	evMu sync.Mutex
	ev   evidence

	analysed, gated, busy, detectErrs, dets, snaps, decodeErrs atomic.Uint64
	regionRuns, fullRuns                                       atomic.Uint64
	dec                                                        atomic.Pointer[decode.Decoder]
}

// New returns an analyzer for one camera.
func New(cfg Config, pool *Pool, sink Sink) (*Analyzer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Camera, err)
	}
	cfg.defaults()
	if cfg.Drone {
		f := false
		cfg.Gate = &f
	}
	a := &Analyzer{
		cfg:    cfg,
		pool:   pool,
		sink:   sink,
		log:    cfg.Log.With("component", "vision", "camera", cfg.Camera),
		idBase: uint64(time.Now().Unix()) * 1_000_000,
	}
	a.stats.Detector = cfg.Detector
	a.stats.DetectorWarning = cfg.Warning
	a.stats.Rate = cfg.Rate
	if cfg.Model != nil && (cfg.Detector == DetectorCascade || cfg.Detector == DetectorYOLO || cfg.Detector == DetectorNanoDet) {
		a.stats.Detector = cfg.Model.Name()
		r, err := pool.remote(*cfg.Model)
		if err != nil {
			// Missing or truncated files: the camera still streams (and will
			// be recorded); its analysis reports why it cannot run.
			a.modelErr = fmt.Errorf("%s: %w", cfg.Model.Name(), err)
			a.stats.DetectorError = a.modelErr.Error()
			a.log.Error("model unusable; the camera runs without detection", "err", a.modelErr)
		} else {
			a.remote = r
		}
	}
	return a, nil
}

// Stats returns the analysis' counters.
func (a *Analyzer) Stats() Stats {
	a.mu.Lock()
	s := a.stats
	s.AnalysisFPS = a.fps(time.Now())
	a.mu.Unlock()
	s.Analysed, s.Gated, s.Busy = a.analysed.Load(), a.gated.Load(), a.busy.Load()
	s.DetectErrors, s.Detections, s.Snapshots = a.detectErrs.Load(), a.dets.Load(), a.snaps.Load()
	s.DecodeErrors = a.decodeErrs.Load()
	s.Regions, s.FullFrames = a.regionRuns.Load(), a.fullRuns.Load()
	if d := a.dec.Load(); d != nil {
		s.Decoder = d.Stats()
	}
	return s
}

// Counts are the tracks in each zone now, by class.
func (a *Analyzer) Counts() map[string]map[string]int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.counts
}

// fps is the analysis rate over the last analysed frames (mu held).
func (a *Analyzer) fps(now time.Time) float64 {
	n := len(a.rateWin)
	oldest := a.rateWin[a.rateNext%n]
	newest := a.rateWin[(a.rateNext+n-1)%n]
	if oldest.IsZero() || now.Sub(newest) > 5*time.Second || !newest.After(oldest) {
		return 0
	}
	return float64(n-1) / newest.Sub(oldest).Seconds()
}

// frame is a decoded picture handed from the decoding loop to the analysis.
type frame struct {
	mat      gocv.Mat
	time     time.Time
	received time.Time
}

// Run analyses the units of q until ctx ends or q is closed (the stream
// stopped); it returns nil then.
func (a *Analyzer) Run(ctx context.Context, q *rtsp.Queue) error {
	// Two pictures alternate: one being analysed, one being decoded into.
	free := make(chan *frame, 2)
	for range 2 {
		free <- &frame{mat: gocv.NewMat()}
	}
	todo := make(chan *frame, 1)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		a.analyse(ctx, todo, free)
	}()
	err := a.decodeLoop(ctx, q, todo, free)
	close(todo)
	wg.Wait()
	for range 2 {
		f := <-free
		f.mat.Close()
	}
	return err
}

func (a *Analyzer) decodeLoop(ctx context.Context, q *rtsp.Queue, todo chan<- *frame, free chan *frame) error {
	var (
		dec        *decode.Decoder
		units      []*rtsp.AccessUnit
		next       time.Time // when the next analysis is due (capture time)
		lastKey    time.Time
		keyPeriod  time.Duration
		interval   = time.Duration(float64(time.Second) / a.cfg.Rate)
		spare      *frame
		lastDecErr time.Time
	)
	defer func() {
		if dec != nil {
			a.mu.Lock()
			a.stats.Decoder = dec.Stats() // the last figures stay readable
			a.mu.Unlock()
			a.dec.Store(nil)
			dec.Close()
		}
		if spare != nil {
			free <- spare
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-q.Ready():
		}
		var gap bool
		units, gap = q.Take(units[:0])
		if len(units) == 0 {
			if q.Closed() {
				return nil // the stream stopped for good
			}
			continue
		}
		if gap && dec != nil {
			dec.Reset()
		}
		for i, au := range units {
			if dec == nil || string(dec.Codec()) != au.Codec {
				if dec != nil {
					dec.Close()
				}
				dec = nil
				d, err := decode.New(decode.Codec(au.Codec))
				if err != nil {
					// Reported, and tried again with the next unit.
					a.decodeErrs.Add(1)
					a.mu.Lock()
					a.stats.DetectorError = "decoder: " + err.Error()
					a.mu.Unlock()
					if time.Since(lastDecErr) > time.Minute {
						a.log.Error("no decoder for the stream", "codec", au.Codec, "err", err)
						lastDecErr = time.Now()
					}
					continue
				}
				dec = d
				a.dec.Store(d)
			}
			if au.Key {
				if !lastKey.IsZero() && au.Time.After(lastKey) {
					keyPeriod = au.Time.Sub(lastKey)
				}
				lastKey = au.Time
			}
			// Keyframes carry the analysis when they come at least as
			// often as it wants frames: nothing else needs decoding.
			keysOnly := keyPeriod > 0 && keyPeriod <= interval
			dec.Keyframes = keysOnly
			a.mu.Lock()
			a.stats.KeyframesOnly = keysOnly
			a.mu.Unlock()

			if !next.IsZero() && next.Sub(au.Time) > 2*interval {
				// Time went back (a new session on another clock): start
				// the cadence again rather than wait for the old one.
				next = time.Time{}
			}
			// Only the newest due unit of a batch is worth converting; with
			// keyframes only, the due keyframe.
			due := !au.Time.Before(next) && i == len(units)-1
			if keysOnly {
				due = !au.Time.Before(next) && au.Key
			}
			if due && spare == nil {
				select {
				case spare = <-free:
				default:
					a.busy.Add(1) // analysis still busy with the previous two
					due = false
				}
			}
			want := due && spare != nil
			var dst *gocv.Mat
			if want {
				dst = &spare.mat
			} else {
				var none gocv.Mat
				dst = &none
			}
			ok, err := dec.Decode(au.NALUs, au.Key, want, dst)
			if err != nil && !errors.Is(err, decode.ErrSkipped) {
				a.decodeErrs.Add(1)
				a.log.Debug("decode", "err", err)
				continue
			}
			if ok && want {
				spare.time, spare.received = au.Time, au.Received
				todo <- spare // never blocks: at most two frames exist
				spare = nil
				// Keep the cadence (2/s stays 2/s, not one interval plus
				// the wait for the next picture); after falling behind,
				// start again from this picture.
				if next.IsZero() || au.Time.Sub(next) > interval {
					next = au.Time
				}
				next = next.Add(interval)
			}
		}
	}
}

func (a *Analyzer) analyse(ctx context.Context, todo <-chan *frame, free chan<- *frame) {
	var motion *cv.Motion
	gate := a.cfg.Gate == nil || *a.cfg.Gate
	if a.cfg.Drone {
		gate = false
	}
	if gate || a.cfg.Detector == DetectorMotion {
		motion = cv.NewMotion(a.cfg.Motion)
		defer motion.Close()
	}
	tracker := vision.NewTracker(a.cfg.Tracker)
	zones, _ := vision.NewZones(a.cfg.Zones) // validated in New
	snaps := newSnapshots(a.cfg.SnapshotDir, a.cfg.Camera)
	var lastFull, lastTime, lastWall time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	for {
		var f *frame
		select {
		case next, ok := <-todo:
			if !ok {
				// The stream ended: every track ends.
				if !lastTime.IsZero() {
					a.expire(tracker.Flush(lastTime), tracker, zones, snaps)
				}
				return
			}
			f = next
		case <-tick.C:
			// No picture for longer than a track lives (the stream is down
			// or stalled): the tracks end now, not when pictures return.
			if quiet := time.Since(lastWall); !lastTime.IsZero() && tracker.Active() > 0 && quiet > a.cfg.Tracker.MaxAge {
				a.expire(tracker.Update(lastTime.Add(quiet), nil).Events, tracker, zones, snaps)
			}
			continue
		}
		lastWall = time.Now()
		start := lastWall
		a.analysed.Add(1)
		a.mu.Lock()
		a.rateWin[a.rateNext%len(a.rateWin)] = start
		a.rateNext++
		a.mu.Unlock()
		lastTime = f.time
		frameRect := image.Rect(0, 0, f.mat.Cols(), f.mat.Rows())

		var dets []vision.Detection
		var err error
		var regions []image.Rectangle
		runDetector := true
		rois := []image.Rectangle{{}} // the whole frame
		scale := 0.0                  // of the regions (models that scale)
		var searched []vision.Box     // nil: the whole frame
		if a.cfg.Tiles.Cols > 0 {
			rois, scale = a.cfg.Tiles.regions(frameRect), a.cfg.Tiles.Scale
		}
		if motion != nil {
			regions, _ = motion.Detect(f.mat)
			if a.cfg.Detector != DetectorMotion && gate && motion.Warm() && f.time.Sub(lastFull) < a.cfg.FullEvery {
				if len(regions) == 0 {
					runDetector = false
					a.gated.Add(1)
				} else if r, sc := a.regions(regions, frameRect); r != nil {
					rois, scale = r, sc
					searched = outside(frameRect)
					for _, roi := range rois {
						searched = append(searched, vision.Box{X: float64(roi.Min.X), Y: float64(roi.Min.Y), W: float64(roi.Dx()), H: float64(roi.Dy())})
					}
				}
			}
		}
		if runDetector {
			if searched == nil {
				lastFull = f.time
				a.fullRuns.Add(1)
			} else {
				a.regionRuns.Add(1)
			}
			dets, err = a.detect(ctx, f.mat, rois, scale, regions)
			a.mu.Lock()
			a.stats.DetectTime = time.Since(start)
			if err != nil {
				a.stats.DetectorError = err.Error()
			} else {
				a.stats.DetectorError = ""
			}
			a.mu.Unlock()
			if err != nil {
				if ctx.Err() != nil {
					// Cancelled, not failed: the camera is stopping.
					free <- f
					continue
				}
				a.detectErrs.Add(1)
				if !errors.Is(err, cv.ErrWorkerDown) {
					a.log.Warn("detector failed", "err", err)
				}
				free <- f
				continue
			}
		} else if tracker.Active() == 0 {
			// Nothing moves and nothing is tracked: nothing to report.
			a.publish(f, nil, tracker, zones, snaps, nil)
			free <- f
			continue
		}
		if a.cfg.MinConfidence > 0 {
			kept := dets[:0]
			for _, d := range dets {
				if d.Confidence >= a.cfg.MinConfidence {
					kept = append(kept, d)
				}
			}
			dets = kept
		}
		var res vision.TrackResult
		if runDetector {
			res = tracker.UpdateSearched(f.time, dets, searched)
		} else {
			// Gated: nothing new was looked for; the tracks are where
			// they were, and age.
			res = tracker.UpdateSearched(f.time, nil, outside(frameRect))
		}
		a.publish(f, res.Detections, tracker, zones, snaps, &res)
		free <- f
	}
}

// expire reports tracks that ended without a frame (the stream stopped).
func (a *Analyzer) expire(events []vision.TrackEvent, tracker *vision.Tracker, zones *vision.Zones, snaps *snapshots) {
	var ended []vision.TrackEvent
	for _, e := range events {
		if e.Kind == vision.EventTrackEnd {
			ended = append(ended, e)
		}
	}
	for _, e := range a.leaveZones(ended, zones) {
		a.sink.Event(e)
	}
	a.endTracks(ended, snaps)
	a.mu.Lock()
	a.stats.Tracks = tracker.Active()
	a.counts = zones.Counts()
	a.mu.Unlock()
}

// outside is everything around the frame, as searched regions: a track
// predicted to have left the picture was not overlooked, it is gone, and
// ends as usual rather than being carried at the edge.
func outside(frame image.Rectangle) []vision.Box {
	const far = 1e6
	x0, y0, x1, y1 := float64(frame.Min.X), float64(frame.Min.Y), float64(frame.Max.X), float64(frame.Max.Y)
	return []vision.Box{
		{X: -far, Y: -far, W: 2 * far, H: far + y0}, // above
		{X: -far, Y: y1, W: 2 * far, H: far},        // below
		{X: -far, Y: y0, W: far + x0, H: y1 - y0},   // left
		{X: x1, Y: y0, W: far, H: y1 - y0},          // right
	}
}

// regions turns the moving regions into the regions the detector runs on
// and the scale it runs them at, or nil when the whole frame is as cheap.
// A model that runs at a chosen size (NanoDet) sees each region at twice
// the whole frame's scale (more detail where things move, at a fraction
// of the cost), grown for context; when the regions together would cost
// more than 80 % of a whole-frame pass, the whole frame runs instead: it
// also sees those who stand still.
func (a *Analyzer) regions(moving []image.Rectangle, frame image.Rectangle) ([]image.Rectangle, float64) {
	if a.remote == nil || !a.remote.Scales() {
		rois := cv.AnalysisRegions(moving, frame, image.Pt(64, 128), 0.25, 0.6)
		if len(rois) == 1 && rois[0] == frame {
			return nil, 0
		}
		return rois, 0
	}
	input := a.remote.Input()
	full, fullScale := cv.NetInput(frame.Dx(), frame.Dy(), 0, input)
	scale := min(1, regionZoom*fullScale)
	// The window is a person at the region scale: 48×96 network pixels.
	win := image.Pt(int(48/scale), int(96/scale))
	rois := cv.AnalysisRegions(moving, frame, win, 0.5, 1)
	cost := 0
	for _, r := range rois {
		in, _ := cv.NetInput(r.Dx(), r.Dy(), scale, input)
		cost += in.X * in.Y
	}
	if len(rois) == 0 || float64(cost) >= maxRegionCost*float64(full.X*full.Y) {
		return nil, 0
	}
	return rois, scale
}

const (
	// regionZoom is how much closer than the whole frame a moving
	// region is looked at.
	regionZoom = 2
	// maxRegionCost is the share of a whole-frame pass above which the
	// whole frame runs instead of the regions.
	maxRegionCost = 0.8
	// DefaultHighConfidence is NanoDet's tracker threshold between strong
	// detections (match first, start tracks) and weak ones (extend
	// tracks only).
	DefaultHighConfidence = 0.4
	// DefaultConfirmConfidence is the mean confidence a NanoDet track
	// needs to be confirmed. On the hand-labelled vtest frames, people's
	// boxes of at least 0.5 have precision 0.99 and recall 0.95 at IoU
	// 0.5; from 0.4, 0.85 and 0.96: traffic cones and a sign post come in
	// between, steadily, and stay tentative.
	DefaultConfirmConfidence = 0.5
)

// detect runs the camera's detector on the regions of interest, at scale
// for a model that scales (0: fit its input).
func (a *Analyzer) detect(ctx context.Context, img gocv.Mat, rois []image.Rectangle, scale float64, motion []image.Rectangle) ([]vision.Detection, error) {
	switch a.cfg.Detector {
	case DetectorNone:
		return nil, nil
	case DetectorMotion:
		return cv.Boxes(motion), nil
	}
	if a.modelErr != nil {
		return nil, a.modelErr
	}
	var out []vision.Detection
	var err error
	if a.remote != nil {
		// A model runs in worker processes, one request each at a time:
		// no pool slot is held while waiting for one, so a slow or hung
		// model never starves the cameras on the in-process detectors.
		out, err = a.remote.detectAt(ctx, img, rois, scale)
	} else {
		err = a.pool.run(ctx, func(h *cv.HOG) error {
			for _, roi := range rois {
				d, err := h.Detect(img, roi)
				if err != nil {
					return err
				}
				out = append(out, d...)
			}
			return nil
		})
	}
	if len(rois) > 1 {
		// Regions overlap (tiles by design): the same object found twice.
		out = vision.NMSBy(out, 0.5, vision.NMSGroup)
	}
	return out, err
}

// publish hands a frame's tracked detections and its events to the sink.
func (a *Analyzer) publish(f *frame, dets []vision.Detection, tracker *vision.Tracker, zones *vision.Zones, snaps *snapshots, res *vision.TrackResult) {
	for i := range dets {
		dets[i].TrackID += a.idBase
	}
	var events []telemetry.Event
	if len(dets) > 0 {
		a.evMu.Lock()
		a.ev.keep(f.mat, dets, f.time)
		a.evMu.Unlock()
	}
	if res != nil {
		for _, e := range res.Events {
			switch e.Kind {
			case vision.EventTrackStart:
				events = append(events, a.event("track.start", e.Time, e.TrackID+a.idBase, e.Class,
					fmt.Sprintf("%s %d appeared", e.Class, e.TrackID+a.idBase), map[string]any{"box": e.Box}))
			}
		}
		if len(res.Improved) > 0 && snaps != nil {
			for _, id := range res.Improved {
				for _, d := range dets {
					if d.TrackID == id+a.idBase {
						if snaps.offer(f.mat, dets, d, f.time) {
							a.snaps.Add(1)
						}
					}
				}
			}
		}
		var ended []vision.TrackEvent
		for _, e := range res.Events {
			if e.Kind == vision.EventTrackEnd {
				ended = append(ended, e)
			}
		}
		// Tracks that ended leave their zones before this frame's
		// positions count: no dwell or count from someone already gone.
		events = append(events, a.leaveZones(ended, zones)...)
		for _, ze := range zones.Update(f.time, dets) {
			events = append(events, a.zoneEvent(ze))
		}
		for _, e := range events {
			// The frame's arrival (alert latency) and the detection's
			// confidence (rules may ask for a minimum).
			e.Received = f.received
			for _, d := range dets {
				if d.TrackID == e.TrackID && e.TrackID != 0 {
					e.Data["confidence"] = d.Confidence
				}
			}
			a.sink.Event(e)
		}
		a.endTracks(ended, snaps)
	}
	a.dets.Add(uint64(len(dets)))
	a.mu.Lock()
	a.stats.Tracks = tracker.Active()
	a.counts = zones.Counts()
	a.mu.Unlock()
	a.sink.Frame(vision.Frame{Camera: a.cfg.Camera, Time: f.time, Received: f.received, Width: f.mat.Cols(), Height: f.mat.Rows(), Detections: dets})
}

// leaveZones takes ended tracks out of their zones: the zone exits.
func (a *Analyzer) leaveZones(ended []vision.TrackEvent, zones *vision.Zones) []telemetry.Event {
	var out []telemetry.Event
	for _, e := range ended {
		for _, ze := range zones.End(e.Time, e.TrackID+a.idBase) {
			out = append(out, a.zoneEvent(ze))
		}
	}
	return out
}

// endTracks reports ended tracks (out of their zones already): track.end
// with the track's summary and its snapshot.
func (a *Analyzer) endTracks(ended []vision.TrackEvent, snaps *snapshots) {
	for _, e := range ended {
		id := e.TrackID + a.idBase
		data := map[string]any{
			"first_seen": e.FirstSeen, "last_seen": e.LastSeen, "duration_s": e.LastSeen.Sub(e.FirstSeen).Seconds(),
			"best_confidence": e.BestConfidence, "hits": e.Hits, "box": e.Box,
		}
		if snaps != nil {
			if path, err := snaps.write(id); err != nil {
				a.log.Warn("snapshot", "err", err)
			} else if path != "" {
				data["snapshot"] = path
			}
		}
		a.sink.Event(a.event("track.end", e.Time, id, e.Class,
			fmt.Sprintf("%s %d left after %s", e.Class, id, e.LastSeen.Sub(e.FirstSeen).Round(100*time.Millisecond)), data))
	}
}

func (a *Analyzer) event(kind string, t time.Time, track uint64, class, msg string, data map[string]any) telemetry.Event {
	if data == nil {
		data = map[string]any{}
	}
	data["class"] = class
	return telemetry.Event{Time: t, ID: telemetry.NewUUID(), Kind: kind, CameraID: a.cfg.Camera, TrackID: track, Message: msg, Data: data}
}

func (a *Analyzer) zoneEvent(ze vision.ZoneEvent) telemetry.Event {
	data := map[string]any{"zone": ze.Zone, "count": ze.Count}
	if ze.Dwell > 0 {
		data["dwell_s"] = ze.Dwell.Seconds()
	}
	var msg string
	switch ze.Kind {
	case vision.EventZoneEnter:
		msg = fmt.Sprintf("%s %d entered %s (%d inside)", ze.Class, ze.TrackID, ze.Zone, ze.Count)
	case vision.EventZoneExit:
		msg = fmt.Sprintf("%s %d left %s after %s", ze.Class, ze.TrackID, ze.Zone, ze.Dwell.Round(time.Second))
	case vision.EventZoneDwell:
		msg = fmt.Sprintf("%s %d has been in %s for %s", ze.Class, ze.TrackID, ze.Zone, ze.Dwell.Round(time.Second))
	case vision.EventZoneCount:
		msg = fmt.Sprintf("%d inside %s", ze.Count, ze.Zone)
	}
	return a.event(ze.Kind, ze.Time, ze.TrackID, ze.Class, msg, data)
}
