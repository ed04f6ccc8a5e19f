// Package camera runs the cameras: for each, its RTSP stream, the live
// relay that serves it to browsers, its recorder and its analysis, their
// restarts (an analysis that fails is started again with backoff and
// shows on the status board meanwhile), each camera's state on the live
// bus and the status board, and the cameras' metrics.
//
// Analysed frames go to a Placement (geo/place in smarteye), which puts
// them on the ground before they are published and stored.
package camera

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
)

// Placement places analysed frames on the ground, publishes and stores
// them and the cameras' events (geo/place.Placer).
type Placement interface {
	analysis.Sink
	// Publish sends an event to the live feed and stores it.
	Publish(e telemetry.Event)
	AddCamera(id, vehicle string, c place.CameraConfig)
	Footprint(camera string, w, h int) [][2]float64
	GroundZones(camera string, zones []vision.Zone, w, h int) []telemetry.GroundZone
	Calibration(id string) map[string]any
}

// Deps are what the cameras work with.
type Deps struct {
	Bus   telemetry.Bus
	Place Placement
	// Index lists the recorded segments (the store's recordings table).
	Index record.Index
	// Board shows each camera's state; nil shows none.
	Board *telemetry.Board
	// Ready reports whether a camera's source publishes yet (the demo's
	// simulated cameras): its stream waits for it (up to 15 s) rather than
	// start with a 404 and a stream.down event. Nil starts at once.
	Ready func(id string) bool
	// Owner says which cameras run in this process (a cluster shares them
	// among its nodes); nil runs them all here. Node is this process's
	// name among the nodes.
	Owner      telemetry.Owner
	Node       string
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Options are where the cameras keep files.
type Options struct {
	// RecordingsDir holds the recorded segments.
	RecordingsDir string
	// SnapshotDir keeps each track's best picture; "" keeps none.
	SnapshotDir string
	// SnapshotMaxAge prunes older snapshot days; 0 keeps them.
	SnapshotMaxAge time.Duration
	// ModelsDir holds the installed trained detector.
	ModelsDir string
	// StatusInterval is how often each camera's state is published; it
	// defaults to 2 seconds.
	StatusInterval time.Duration
}

// cam is one camera: what is set up once, and what runs while this
// process owns the camera (run).
type cam struct {
	cfg Camera
	// ac configures the analysis; nil when the camera is not analysed.
	ac *analysis.Config
	// zones are the analysis' zones, placed on the ground for the map.
	zones []vision.Zone
	// recorder writes the stream to disk while the camera runs here.
	recorder *record.Camera

	mu sync.Mutex
	// run is the camera running here; nil while it runs elsewhere (or
	// not yet).
	run *camRun
	// analysisErr is why the analysis last stopped, while it waits to be
	// started again; restarts counts those starts.
	analysisErr string
	restarts    uint64
}

// camRun is a camera running in this process, made anew each time it
// comes here: its stream, the analysis on it (track ids start from the
// time it was made, so that they do not repeat when the camera moves),
// the live relay that serves it to browsers and the recorder's queue.
type camRun struct {
	stream   *rtsp.Stream
	queue    *rtsp.Queue
	analyzer *analysis.Analyzer
	// relay serves the stream to live viewers, fed by liveQueue.
	relay     *live.Relay
	liveQueue *rtsp.Queue
	recQueue  *rtsp.Queue
	// fence is the ownership's fencing token.
	fence uint64
}

// current is the camera's run here, nil when it runs elsewhere.
func (c *cam) current() *camRun {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.run
}

// kind is fixed or drone (the configuration may leave fixed unsaid).
func (c *cam) kind() string { return cmp.Or(c.cfg.Kind, "fixed") }

// Supervisor runs the cameras.
type Supervisor struct {
	cfg  Config
	opt  Options
	deps Deps
	log  *slog.Logger
	cams []*cam
	pool *analysis.Pool
	rec  *record.Recorder
	// owner says which cameras run here; node is this process's name
	// among those that share them.
	owner telemetry.Owner
	node  string
	// analyse runs an analysis on its queue (the analyzer's Run; tests
	// make it fail).
	analyse func(ctx context.Context, a *analysis.Analyzer, q *rtsp.Queue) error
}

// New sets up the cameras (nothing runs before Run). A camera's analysis
// that cannot be configured is an error naming the camera.
func New(cfg Config, cams []Camera, opt Options, deps Deps) (*Supervisor, error) {
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if opt.StatusInterval <= 0 {
		opt.StatusInterval = 2 * time.Second
	}
	s := &Supervisor{cfg: cfg, opt: opt, deps: deps, log: deps.Log, owner: deps.Owner, node: deps.Node}
	if s.owner == nil {
		s.owner = telemetry.Solo{Name: deps.Node}
	}
	s.analyse = func(ctx context.Context, a *analysis.Analyzer, q *rtsp.Queue) error { return a.Run(ctx, q) }
	if len(cams) == 0 {
		return s, nil
	}
	pool, err := analysis.NewPool(cfg.Workers, s.log)
	if err != nil {
		return nil, err
	}
	s.pool = pool
	fail := func(err error) (*Supervisor, error) {
		pool.Close()
		return nil, err
	}
	rc := cfg.Recording
	// The recorder runs whenever there are cameras: one whose mode is off
	// still records while a supervision session holds it.
	s.rec, err = record.New(record.Config{Dir: opt.RecordingsDir, SegmentLength: rc.Segment.D(), MaxAge: rc.MaxAge.D(), MaxBytes: int64(rc.MaxSize), MinFree: int64(rc.MinFree),
		Index: deps.Index, Event: deps.Place.Publish, Log: s.log, Registerer: deps.Registerer})
	if err != nil {
		return fail(err)
	}
	for _, cc := range cams {
		c := &cam{cfg: cc}
		if _, err := s.streamConfig(c); err != nil {
			return fail(fmt.Errorf("camera %s: %w", cc.ID, err))
		}
		if cc.Detector != analysis.DetectorNone {
			ac, err := cc.Settings.Config(cc.ID, cc.Kind == "drone", opt.SnapshotDir, opt.ModelsDir, s.log)
			if err != nil {
				return fail(fmt.Errorf("camera %s: %w", cc.ID, err))
			}
			if err := ac.Validate(); err != nil {
				return fail(fmt.Errorf("camera %s: %w", cc.ID, err))
			}
			c.ac, c.zones = &ac, ac.Zones
		}
		c.recorder = s.rec.Camera(record.CameraConfig{ID: cc.ID, Mode: cmp.Or(cc.Record, rc.Mode), PreRoll: rc.PreRoll.D(), PostRoll: rc.PostRoll.D()})
		s.cams = append(s.cams, c)
		vehicle := ""
		if cc.Kind == "drone" {
			vehicle = cc.Vehicle
		}
		deps.Place.AddCamera(cc.ID, vehicle, cc.Geo)
	}
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(collector{s})
	}
	return s, nil
}

// Run runs the recorder, the detector pool and every camera until ctx
// ends, then stops the cameras, the pool and the recorder in that order
// (no camera detects on a closed pool or records into a stopped
// recorder).
func (s *Supervisor) Run(ctx context.Context) error {
	if len(s.cams) == 0 {
		<-ctx.Done()
		return nil
	}
	recCtx, stopRec := context.WithCancel(context.WithoutCancel(ctx))
	recDone := make(chan error, 1)
	go func() { recDone <- s.rec.Run(recCtx) }()

	var wg sync.WaitGroup
	for _, c := range s.cams {
		wg.Go(func() {
			telemetry.RunOwned(ctx, s.owner, "camera."+c.cfg.ID, func(l *telemetry.Lease) error {
				return s.runCamera(l.Context, c, l.Fence)
			}, func(err error) {
				s.log.Error("camera stopped; starting it again", "camera", c.cfg.ID, "err", err)
			})
		})
	}
	wg.Add(1)
	go func() { defer wg.Done(); s.publishStates(ctx) }()
	if s.opt.SnapshotDir != "" && s.opt.SnapshotMaxAge > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); s.pruneSnapshots(ctx) }()
	}
	wg.Wait()
	s.pool.Close()
	stopRec()
	err := <-recDone
	for _, c := range s.cams {
		s.board(c.cfg.ID, telemetry.StateStopped, "")
	}
	return err
}

// streamConfig is the camera's stream as configured.
func (s *Supervisor) streamConfig(c *cam) (rtsp.Config, error) {
	cc := c.cfg
	sc := s.cfg.Settings.Config(cc.ID, cc.URL, cc.Transport, cc.TLSFingerprint)
	sc.OnStatus, sc.Log = func(ch rtsp.Change) { s.streamEvent(ch, c) }, s.log
	return sc, sc.Validate()
}

// start makes the camera's run here.
func (s *Supervisor) start(c *cam, fence uint64) (*camRun, error) {
	sc, err := s.streamConfig(c)
	if err != nil {
		return nil, err
	}
	stream, err := rtsp.New(sc)
	if err != nil {
		return nil, err
	}
	r := &camRun{stream: stream, fence: fence}
	if c.ac != nil {
		ac := *c.ac
		ac.Fence = fence
		a, err := analysis.New(ac, s.pool, s.deps.Place)
		if err != nil {
			return nil, err
		}
		r.analyzer, r.queue = a, stream.Subscribe("vision", 256)
	}
	r.relay, r.liveQueue = live.NewRelay(c.cfg.ID), stream.Subscribe("live", 256)
	r.recQueue = stream.Subscribe("record", 512)
	return r, nil
}

// runCamera runs one camera's stream, relay, recorder and analysis until
// ctx ends (this process stops, or the camera moves to another).
func (s *Supervisor) runCamera(ctx context.Context, c *cam, fence uint64) error {
	r, err := s.start(c, fence)
	if err != nil {
		return err
	}
	c.mu.Lock()
	c.run = r
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.run, c.analysisErr = nil, ""
		c.mu.Unlock()
		if ctx.Err() != nil {
			s.standby(c)
		}
	}()
	s.board(c.cfg.ID, telemetry.StateOK, "starting")
	s.log.Info("camera runs here", "camera", c.cfg.ID, "fence", fence)
	if s.deps.Ready != nil {
		for deadline := time.Now().Add(15 * time.Second); !s.deps.Ready(c.cfg.ID) && time.Now().Before(deadline); {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(100 * time.Millisecond):
			}
		}
	}
	s.deps.Bus.PublishCamera(s.state(c))
	var wg sync.WaitGroup
	wg.Go(func() { r.relay.Run(ctx, r.liveQueue) })
	wg.Go(func() { c.recorder.Run(ctx, r.recQueue) })
	if r.analyzer != nil {
		wg.Go(func() { s.runAnalysis(ctx, c, r) })
	}
	err = r.stream.Run(ctx)
	wg.Wait()
	return err
}

// standby shows a camera that runs in another process.
func (s *Supervisor) standby(c *cam) {
	if o := s.owner.OwnerOf("camera." + c.cfg.ID); o != "" && o != s.node {
		s.board(c.cfg.ID, telemetry.StateOK, "runs on node "+o)
		return
	}
	s.board(c.cfg.ID, telemetry.StateOK, "waiting for a node to run it")
}

// Analysis restarts: the first after a second, doubling to a minute; a
// run that lasted longer than the cap starts the backoff over.
const (
	analysisFirstBackoff = time.Second
	analysisMaxBackoff   = time.Minute
)

// runAnalysis runs a camera's analysis until ctx ends, starting it again
// with backoff when it fails or panics.
func (s *Supervisor) runAnalysis(ctx context.Context, c *cam, r *camRun) {
	backoff := analysisFirstBackoff
	for {
		started := time.Now()
		err := runSafely(func() error { return s.analyse(ctx, r.analyzer, r.queue) })
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			err = errors.New("returned before it was told to stop")
		}
		if time.Since(started) > analysisMaxBackoff {
			backoff = analysisFirstBackoff
		}
		c.mu.Lock()
		c.analysisErr = err.Error()
		c.restarts++
		c.mu.Unlock()
		s.log.Error("analysis stopped; starting it again", "camera", c.cfg.ID, "err", err, "in", backoff)
		s.publish(c)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, analysisMaxBackoff)
		c.mu.Lock()
		c.analysisErr = ""
		c.mu.Unlock()
	}
}

// runSafely runs f, turning a panic into an error.
func runSafely(f func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return f()
}

// publishStates publishes every camera's state and status-board entry
// every StatusInterval.
func (s *Supervisor) publishStates(ctx context.Context) {
	t := time.NewTicker(s.opt.StatusInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			for _, c := range s.cams {
				if c.current() != nil {
					s.publish(c)
				}
			}
		}
	}
}

// publish sends a camera's state to the live bus and the status board.
func (s *Supervisor) publish(c *cam) {
	st := s.state(c)
	s.deps.Bus.PublishCamera(st)
	s.board(st.ID, boardState(st), boardDetail(st))
}

func (s *Supervisor) board(id, state, detail string) {
	if s.deps.Board != nil {
		s.deps.Board.Set("camera "+id, state, detail)
	}
}

func (s *Supervisor) pruneSnapshots(ctx context.Context) {
	for {
		if n, err := analysis.PruneSnapshots(s.opt.SnapshotDir, time.Now().Add(-s.opt.SnapshotMaxAge)); err != nil {
			s.log.Warn("snapshot retention", "err", err)
		} else if n > 0 {
			s.log.Info("snapshot retention: removed old days", "days", n)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(time.Hour):
		}
	}
}

// streamEvent turns a stream's status change into an event and a camera
// update.
func (s *Supervisor) streamEvent(ch rtsp.Change, c *cam) {
	if ch.To == rtsp.StatusConnecting {
		return
	}
	msg := fmt.Sprintf("camera %s is %s", ch.Camera, ch.To)
	if ch.Reason != "" {
		msg += ": " + ch.Reason
	}
	var fence uint64
	if r := c.current(); r != nil {
		fence = r.fence
	}
	s.deps.Place.Event(telemetry.Event{Time: ch.Time, ID: telemetry.NewUUID(), Kind: "stream." + string(ch.To), CameraID: ch.Camera, Message: msg,
		Data: map[string]any{"from": string(ch.From), "reason": ch.Reason}, Fence: fence})
	if c.current() != nil {
		s.deps.Bus.PublishCamera(s.state(c))
	}
}
