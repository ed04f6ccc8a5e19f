// Package export runs the dashboard's exports: a camera's recording as
// one MP4, vehicle tracks and events as GeoJSON, KML or CSV. Jobs run one
// at a time in the background with their progress, belong to whoever
// asked for them (admins see all), are kept a day and within a disk
// quota, and are downloaded when done. It reads the store through Source
// and never writes to it.
package export

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Export kinds and formats.
const (
	Video  = "video"  // one camera's recording: mp4
	Tracks = "tracks" // vehicle tracks: geojson, kml, csv
	Events = "events" // events: geojson, kml, csv
)

// Job states.
const (
	Queued  = "queued"
	Running = "running"
	Done    = "done"
	Failed  = "failed"
)

// Export bounds.
const (
	maxExportJobs      = 16 // waiting or running
	maxVideoExport     = 24 * time.Hour
	maxDataExport      = 31 * 24 * time.Hour
	exportKeep         = 24 * time.Hour // a finished export's file is kept this long
	maxExportBodyBytes = 4 << 10
)

// Job is a background export job as the API shows it.
type Job struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Format     string     `json:"format"`
	Camera     string     `json:"camera_id,omitempty"`
	Vehicle    string     `json:"vehicle_id,omitempty"`
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
	Status     string     `json:"status"`
	Progress   float64    `json:"progress"` // 0..1
	Bytes      int64      `json:"bytes"`
	Note       string     `json:"note,omitempty"`
	Error      string     `json:"error,omitempty"`
	User       string     `json:"user"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Download   string     `json:"download,omitempty"`

	file string
}

// Source is what exports read: the recordings' index, tracks and events
// (store.Store is one).
type Source interface {
	Recordings(ctx context.Context, camera string, from, to time.Time) ([]telemetry.Recording, error)
	TrackVehicles(ctx context.Context, from, to time.Time) ([]string, error)
	EachTrackPoint(ctx context.Context, vehicle string, from, to time.Time, fn func(store.TrackPoint) error) error
	EachEvent(ctx context.Context, from, to time.Time, camera, vehicle string, fn func(store.EventRecord) error) error
	CountRows(ctx context.Context, table string, from, to time.Time) (int64, error)
}

// Config configures a Manager.
type Config struct {
	// Dir is where the files are written.
	Dir string
	// MaxBytes bounds the finished exports' files together (the oldest go
	// first). It defaults to 5 GiB.
	MaxBytes int64
	// Source is read; nil refuses exports (503).
	Source Source
	// RecordingsDir holds the recorded segments Source indexes.
	RecordingsDir string
	// Camera reports whether a camera exists.
	Camera func(id string) bool
	Log    *slog.Logger
}

// Manager runs export jobs one at a time, in order, and serves them.
type Manager struct {
	cfg  Config
	mu   sync.Mutex
	jobs map[string]*Job
	todo chan string
}

// New builds a Manager; Run runs its jobs.
func New(cfg Config) *Manager {
	if cfg.MaxBytes <= 0 {
		cfg.MaxBytes = 5 << 30
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Manager{cfg: cfg, jobs: map[string]*Job{}, todo: make(chan string, maxExportJobs)}
}

// makeRoom removes the oldest finished exports other than keep until the
// finished ones and need bytes fit the quota. It reports whether they do.
func (e *Manager) makeRoom(keep string, need int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	var done []*Job
	total := need
	for _, j := range e.jobs {
		if j.Status == Done && j.ID != keep {
			done = append(done, j)
			total += j.Bytes
		}
	}
	slices.SortFunc(done, func(a, b *Job) int { return a.FinishedAt.Compare(*b.FinishedAt) })
	for _, j := range done {
		if total <= e.cfg.MaxBytes {
			break
		}
		os.Remove(j.file)
		delete(e.jobs, j.ID)
		total -= j.Bytes
	}
	return total <= e.cfg.MaxBytes
}

// errExportTooLarge: one export alone is over the quota.
type errExportTooLarge struct{ max int64 }

func (e errExportTooLarge) Error() string {
	return fmt.Sprintf("the export is larger than the disk allowed for exports (http.exports_max_size, %d MiB); export a shorter range", e.max>>20)
}

// quotaWriter fails a write that takes the file past max bytes.
type quotaWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if q.n+int64(len(p)) > q.max {
		return 0, errExportTooLarge{q.max}
	}
	q.n += int64(len(p))
	return q.w.Write(p)
}

// visible reports whether p may see j: its owner and admins may.
func visible(j Job, p *auth.Principal) bool {
	return p.Can(auth.PermAccounts) || strings.EqualFold(j.User, p.Name)
}

func (e *Manager) get(id string) (Job, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok {
		return Job{}, false
	}
	return *j, true
}

func (e *Manager) update(id string, fn func(j *Job)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j, ok := e.jobs[id]; ok {
		fn(j)
	}
}

// Run works through the queue until ctx ends, and removes finished
// exports after a day.
func (e *Manager) Run(ctx context.Context) error {
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			e.mu.Lock()
			for id, j := range e.jobs {
				if j.FinishedAt != nil && time.Since(*j.FinishedAt) > exportKeep {
					os.Remove(j.file)
					delete(e.jobs, id)
				}
			}
			e.mu.Unlock()
		case id := <-e.todo:
			e.run(ctx, id)
		}
	}
}

func (e *Manager) run(ctx context.Context, id string) {
	j, ok := e.get(id)
	if !ok {
		return
	}
	e.update(id, func(j *Job) { j.Status = Running })
	progress := func(p float64) { e.update(id, func(j *Job) { j.Progress = min(max(p, 0), 1) }) }
	note, err := e.write(ctx, j, progress)
	var size int64
	if st, serr := os.Stat(j.file); serr == nil {
		size = st.Size()
	}
	now := time.Now().UTC()
	e.update(id, func(j *Job) {
		j.FinishedAt, j.Note, j.Bytes = &now, note, size
		if err != nil {
			j.Status, j.Error = Failed, err.Error()
			os.Remove(j.file)
			return
		}
		j.Status, j.Progress, j.Download = Done, 1, "/api/v1/exports/"+id+"/file"
	})
	if err == nil {
		e.makeRoom(id, size)
	}
	if err != nil {
		e.cfg.Log.Warn("export failed", "export", id, "kind", j.Kind, "err", err)
	} else {
		e.cfg.Log.Info("export done", "export", id, "kind", j.Kind, "format", j.Format, "bytes", size)
	}
}

// write writes the job's file (via a temporary name).
func (e *Manager) write(ctx context.Context, j Job, progress func(float64)) (note string, err error) {
	if err := os.MkdirAll(filepath.Dir(j.file), 0o755); err != nil {
		return "", err
	}
	tmp := j.file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(&quotaWriter{w: f, max: e.cfg.MaxBytes}, 256<<10)
	rec := e.cfg.Source
	switch j.Kind {
	case Video:
		var segs []telemetry.Recording
		segs, err = rec.Recordings(ctx, j.Camera, j.From, j.To)
		if err == nil {
			note, err = record.WriteMP4(bw, e.cfg.RecordingsDir, segs, j.From, j.To, record.MP4Options{Progress: func(done, total int64) {
				if done%(1<<20) < 64<<10 || done == total {
					progress(float64(done) / float64(total))
				}
			}})
		}
	case Tracks:
		err = exportTracks(ctx, bw, rec, j, progress)
	case Events:
		err = exportEvents(ctx, bw, rec, j, progress)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return note, os.Rename(tmp, j.file)
}
