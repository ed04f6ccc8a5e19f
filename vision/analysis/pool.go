package analysis

import (
	"context"
	"fmt"
	"image"
	"log/slog"
	"runtime"
	"sync"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

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
