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
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/ingest/decode"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
)

// Sink receives the analysis' results. Both methods are called from the
// camera's analysis goroutine and must not block for long.
type Sink interface {
	// Frame is one analysed frame's confirmed, tracked detections.
	Frame(f vision.Frame)
	// Event is a track or zone event.
	Event(e telemetry.Event)
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
