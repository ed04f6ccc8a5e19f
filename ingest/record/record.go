// Package record records cameras' video to disk without re-encoding: the
// H.264/H.265 access units are remuxed into fragmented-MP4 segment files
// (one file per camera per SegmentLength, cut at keyframes, fragments of
// about a second), indexed in the recordings table, and kept within an age
// and a disk budget.
//
// A segment is written as name.mp4.part and renamed when finished, after
// an fsync; a crash leaves the finished segments whole and the unfinished
// one is salvaged at the next start (cut to its last whole fragment) or
// removed when it has no whole fragment. The files are the truth: the
// recordings table is rebuilt from them where it disagrees, so a database
// outage delays indexing and loses nothing.
//
// A recording's media time is Unix time in 90 kHz ticks (ingest/mux's
// recorder origin): segments of one camera follow one another on one
// timeline, gaps are real gaps, and a player's media time is wall time.
package record

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Recording modes.
const (
	ModeContinuous = "continuous" // everything
	ModeEvents     = "events"     // around the camera's events, with pre- and post-roll
	ModeOff        = "off"        // only while held (a supervision session)
)

// Index is where finished segments are listed (the store's recordings table).
type Index interface {
	AddRecordings(ctx context.Context, rs []telemetry.Recording) error
	DeleteRecordings(ctx context.Context, paths []string) error
	RecordingPaths(ctx context.Context) ([]string, error)
}

// Config configures the recorder.
type Config struct {
	// Dir holds the segments, as <camera>/<day>/<camera>_<start>.mp4.
	Dir string
	// SegmentLength is how long a segment runs before it is cut at the next
	// keyframe. It defaults to a minute.
	SegmentLength time.Duration
	// FragmentLength is the most a fragment spans (a crash loses at most
	// one). It defaults to a second.
	FragmentLength time.Duration
	// MaxAge deletes segments older than this; 0 keeps them until the budget
	// needs their room.
	MaxAge time.Duration
	// MaxBytes is the disk budget for all cameras' segments: the oldest go
	// first when it is exceeded. 0 sets none.
	MaxBytes int64
	// MinFree is the free disk space below which recording stops (with a
	// recording.stopped event) rather than fail writes; it resumes with a
	// recording.resumed event once 10 % more (at most 1 GiB more) is free.
	// It defaults to 1 GiB.
	MinFree int64
	// Index lists the segments; nil keeps only the files.
	Index Index
	// Event receives recording.stopped and recording.resumed.
	Event func(telemetry.Event)
	// Tick is how often retention, the disk guard and indexing run. It
	// defaults to 5 seconds.
	Tick       time.Duration
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Recorder owns the recordings directory: its cameras write segments,
// Run indexes them and keeps the budget.
type Recorder struct {
	cfg Config
	log *slog.Logger
	m   metrics

	mu       sync.Mutex
	segs     []telemetry.Recording // finished files, oldest first
	total    int64
	toIndex  []telemetry.Recording
	toDelete []string
	// paused is set by the disk guard and read for every unit recorded.
	paused atomic.Bool
	cams   []*Camera
	wake   chan struct{}
}

// New prepares the directory: unfinished segments left by a crash are
// salvaged or removed, and the finished ones are listed (and indexed once
// Run reaches the index). Call it before any camera records.
func New(cfg Config) (*Recorder, error) {
	if cfg.Dir == "" {
		return nil, errors.New("record: no directory")
	}
	if cfg.SegmentLength <= 0 {
		cfg.SegmentLength = defaultSegment
	}
	if cfg.FragmentLength <= 0 {
		cfg.FragmentLength = time.Second
	}
	if cfg.MinFree == 0 {
		cfg.MinFree = defaultMinFree
	}
	if cfg.Tick <= 0 {
		cfg.Tick = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	r := &Recorder{cfg: cfg, log: cfg.Log.With("component", "record"), wake: make(chan struct{}, 1)}
	r.m = newMetrics(cfg.Registerer, r)
	if err := r.recover(); err != nil {
		return nil, err
	}
	return r, nil
}

// recover salvages .part files and lists the finished segments.
func (r *Recorder) recover() error {
	var salvaged, dropped int
	err := filepath.WalkDir(r.cfg.Dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, _ := filepath.Rel(r.cfg.Dir, p)
		switch {
		case strings.HasSuffix(rel, ".mp4"+partSuffix):
			rec, ok, err := salvage(r.cfg.Dir, rel)
			if err != nil {
				r.log.Warn("an unfinished segment could not be salvaged", "path", rel, "err", err)
				return nil
			}
			if !ok {
				dropped++
				return nil
			}
			salvaged++
			r.segs = append(r.segs, rec)
			r.toIndex = append(r.toIndex, rec)
		case strings.HasSuffix(rel, ".mp4"):
			rec, err := Probe(r.cfg.Dir, rel)
			if err != nil {
				r.log.Warn("an unreadable segment is left alone", "path", rel, "err", err)
				return nil
			}
			r.segs = append(r.segs, rec)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record: scanning %s: %w", r.cfg.Dir, err)
	}
	slices.SortFunc(r.segs, func(a, b telemetry.Recording) int { return a.Start.Compare(b.Start) })
	for _, s := range r.segs {
		r.total += s.Bytes
	}
	if salvaged+dropped > 0 {
		r.log.Info("unfinished segments after a stop", "salvaged", salvaged, "removed", dropped)
	}
	r.m.recovered.Add(float64(salvaged))
	return nil
}

// Dir is the recordings directory.
func (r *Recorder) Dir() string { return r.cfg.Dir }

// Segments lists the finished segment files, oldest first.
func (r *Recorder) Segments() []telemetry.Recording {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.segs)
}

// Paused reports whether the disk guard stopped recording.
func (r *Recorder) Paused() bool { return r.paused.Load() }

// added notes a finished segment.
func (r *Recorder) added(rec telemetry.Recording) {
	r.mu.Lock()
	i, _ := slices.BinarySearchFunc(r.segs, rec.Start, func(s telemetry.Recording, t time.Time) int { return s.Start.Compare(t) })
	r.segs = slices.Insert(r.segs, i, rec)
	r.total += rec.Bytes
	r.toIndex = append(r.toIndex, rec)
	r.mu.Unlock()
	r.m.segments.WithLabelValues(rec.Camera).Inc()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// Run reconciles the index with the files, then keeps the age limit, the
// budget and the disk guard and indexes new segments until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	reconciled := r.cfg.Index == nil
	t := time.NewTicker(r.cfg.Tick)
	defer t.Stop()
	tries := 0
	for {
		if !reconciled {
			// The first tries may come before the database is migrated.
			if err := r.reconcile(ctx); err != nil {
				if tries++; ctx.Err() == nil && tries >= 3 {
					r.log.Warn("recordings index not reconciled yet", "err", err)
				}
			} else {
				reconciled = true
			}
		}
		r.retain(time.Now())
		r.guard()
		if reconciled {
			r.flushIndex(ctx)
		}
		select {
		case <-ctx.Done():
			// One last try for what finished while stopping.
			fctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			if reconciled {
				r.flushIndex(fctx)
			}
			cancel()
			return nil
		case <-t.C:
		case <-r.wake:
		}
	}
}

// reconcile makes the index list exactly the files: rows without a file
// go, files without a row are added.
func (r *Recorder) reconcile(ctx context.Context) error {
	paths, err := r.cfg.Index.RecordingPaths(ctx)
	if err != nil {
		return err
	}
	indexed := make(map[string]bool, len(paths))
	for _, p := range paths {
		indexed[p] = true
	}
	r.mu.Lock()
	var add []telemetry.Recording
	for _, s := range r.segs {
		if !indexed[s.Path] {
			add = append(add, s)
		}
		delete(indexed, s.Path)
	}
	r.toIndex = r.toIndex[:0] // add covers them
	r.mu.Unlock()
	var gone []string
	for p := range indexed {
		if _, err := os.Stat(filepath.Join(r.cfg.Dir, p)); errors.Is(err, fs.ErrNotExist) {
			gone = append(gone, p)
		}
	}
	if err := r.cfg.Index.AddRecordings(ctx, add); err != nil {
		r.mu.Lock()
		r.toIndex = append(add, r.toIndex...)
		r.mu.Unlock()
		return err
	}
	if err := r.cfg.Index.DeleteRecordings(ctx, gone); err != nil {
		return err
	}
	if len(add)+len(gone) > 0 {
		r.log.Info("recordings index reconciled with the files", "added", len(add), "removed", len(gone))
	}
	return nil
}

// flushIndex writes pending additions and deletions; on failure they wait
// for the next tick.
func (r *Recorder) flushIndex(ctx context.Context) {
	if r.cfg.Index == nil {
		r.mu.Lock()
		r.toIndex, r.toDelete = nil, nil
		r.mu.Unlock()
		return
	}
	r.mu.Lock()
	add, del := r.toIndex, r.toDelete
	r.toIndex, r.toDelete = nil, nil
	r.mu.Unlock()
	if err := r.cfg.Index.AddRecordings(ctx, add); err != nil {
		r.m.indexErrors.Inc()
		r.log.Warn("recordings not indexed yet; retrying", "segments", len(add), "err", err)
		r.mu.Lock()
		r.toIndex = append(add, r.toIndex...)
		r.toDelete = append(del, r.toDelete...)
		r.mu.Unlock()
		return
	}
	if err := r.cfg.Index.DeleteRecordings(ctx, del); err != nil {
		r.m.indexErrors.Inc()
		r.log.Warn("deleted recordings not unindexed yet; retrying", "segments", len(del), "err", err)
		r.mu.Lock()
		r.toDelete = append(del, r.toDelete...)
		r.mu.Unlock()
	}
}

// retain deletes segments past the age limit, then the oldest while the
// budget is exceeded.
func (r *Recorder) retain(now time.Time) {
	r.mu.Lock()
	var drop []telemetry.Recording
	var reasons []string
	for len(r.segs) > 0 {
		s := r.segs[0]
		switch {
		case r.cfg.MaxAge > 0 && s.End.Before(now.Add(-r.cfg.MaxAge)):
			reasons = append(reasons, "age")
		case r.cfg.MaxBytes > 0 && r.total > r.cfg.MaxBytes:
			reasons = append(reasons, "budget")
		default:
			r.mu.Unlock()
			r.remove(drop, reasons)
			return
		}
		drop = append(drop, s)
		r.total -= s.Bytes
		r.segs = r.segs[1:]
	}
	r.mu.Unlock()
	r.remove(drop, reasons)
}

func (r *Recorder) remove(drop []telemetry.Recording, reasons []string) {
	if len(drop) == 0 {
		return
	}
	var paths []string
	for i, s := range drop {
		if err := os.Remove(filepath.Join(r.cfg.Dir, s.Path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			r.log.Warn("a segment could not be deleted", "path", s.Path, "err", err)
		}
		paths = append(paths, s.Path)
		r.m.deleted.WithLabelValues(reasons[i]).Inc()
	}
	r.mu.Lock()
	r.toDelete = append(r.toDelete, paths...)
	r.mu.Unlock()
	r.log.Debug("segments deleted by retention", "segments", len(drop))
}

// freeBytes is the space left to an unprivileged writer on the directory's
// file system.
func (r *Recorder) freeBytes() (int64, error) {
	var st syscall.Statfs_t
	if err := syscall.Statfs(r.cfg.Dir, &st); err != nil {
		return 0, err
	}
	return int64(st.Bavail) * int64(st.Bsize), nil
}

// guard stops recording when the disk is nearly full and resumes it when
// there is room again.
func (r *Recorder) guard() {
	free, err := r.freeBytes()
	if err != nil {
		r.log.Warn("free disk space unknown", "dir", r.cfg.Dir, "err", err)
		return
	}
	r.m.free.Set(float64(free))
	r.mu.Lock()
	minFree := r.cfg.MinFree
	r.mu.Unlock()
	was, now := r.paused.Load(), r.paused.Load()
	switch {
	case !was && free < minFree:
		now = true
	case was && free >= minFree+min(minFree/10, 1<<30):
		now = false
	}
	r.paused.Store(now)
	if was == now {
		return
	}
	kind, msg := "recording.resumed", fmt.Sprintf("recording resumed: %s free", bytesText(free))
	if now {
		kind = "recording.stopped"
		msg = fmt.Sprintf("recording stopped: only %s free on the recordings disk (the guard keeps %s)", bytesText(free), bytesText(minFree))
		r.log.Error(msg, "dir", r.cfg.Dir)
	} else {
		r.log.Info(msg, "dir", r.cfg.Dir)
	}
	if r.cfg.Event != nil {
		r.cfg.Event(telemetry.Event{Time: time.Now(), ID: telemetry.NewUUID(), Kind: kind, Message: msg,
			Data: map[string]any{"free_bytes": free, "min_free_bytes": minFree}})
	}
}

func bytesText(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%d bytes", n)
}
