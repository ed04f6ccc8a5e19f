// Package importlog imports a recorded MAVLink telemetry log (.tlog) into
// the store's history, resumably: the store's writer cuts the rows into
// batches whose ids derive from the file's content, the vehicle and the
// batch's place in the file, so that importing the same file again (after
// an interruption, say) writes only what is missing.
package importlog

import (
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"time"

	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Options are the import's settings, as live ingest and the store have them.
type Options struct {
	// Open opens the store (and the embedded database when there is one);
	// closeStore releases both.
	Open func(ctx context.Context) (st *store.Store, closeStore func(), err error)
	// BatchSize is rows per batch; Retention the telemetry's (a warning
	// when the log is older).
	BatchSize int
	Retention time.Duration
	// StoredRate and LinkTimeout are live ingest's.
	StoredRate  float64
	LinkTimeout time.Duration
	Log         *slog.Logger
}

// Import imports a telemetry log (.tlog) into history as vehicle name
// (sysID 0: the log's only vehicle), drawing its progress on progress.
func Import(ctx context.Context, o Options, progress io.Writer, path, name string, sysID uint8) error {
	log := o.Log
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	bar := newProgress(progress, "scanning "+fi.Name(), fi.Size())
	h := sha256.New()
	scan, err := mavlink.ScanLog(io.TeeReader(bar.reader(f), h))
	bar.done()
	if err != nil {
		return fmt.Errorf("import %s: %w", path, err)
	}
	if sysID == 0 {
		switch len(scan.Vehicles) {
		case 0:
			return fmt.Errorf("import %s: no vehicle in the log (no autopilot HEARTBEAT among %d frames)", path, scan.Frames)
		case 1:
			sysID = scan.Vehicles[0]
		default:
			return fmt.Errorf("import %s: the log holds vehicles with system ids %v: choose one with --system-id", path, scan.Vehicles)
		}
	} else if !slices.Contains(scan.Vehicles, sysID) {
		return fmt.Errorf("import %s: no vehicle with system id %d in the log (found %v)", path, sysID, scan.Vehicles)
	}
	var fileSum [32]byte
	h.Sum(fileSum[:0])

	st, closeStore, err := o.Open(ctx)
	if err != nil {
		return err
	}
	defer closeStore()
	runCtx, stopStore := context.WithCancel(ctx)
	stopped := make(chan struct{})
	go func() { st.Run(runCtx); close(stopped) }()
	defer func() { stopStore(); <-stopped }()
	for !st.Ready() {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
	if keep := o.Retention; keep > 0 && time.Since(scan.Last) > keep {
		log.Warn("the log is older than the telemetry retention: the next upkeep removes what is imported; set store.retention.telemetry to 0 (or longer) to keep it",
			"log_ends", scan.Last.UTC().Format(time.RFC3339), "retention", keep)
	}

	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("import: %w", err)
	}
	// The store's writer, in its deterministic mode: batches named by the
	// file, the vehicle and their place; a spool of its own, since a
	// running smarteye's is not this process's to replay.
	spoolDir, err := os.MkdirTemp("", "smarteye-import-spool-")
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	defer os.RemoveAll(spoolDir)
	seed := sha256.Sum256(append(append(fileSum[:], name...), 0))
	w, err := store.NewWriter(st, store.WriterConfig{BatchSize: o.BatchSize, SpoolDir: spoolDir, Seed: &seed,
		FinalFlushTimeout: 2 * time.Minute, Log: log})
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	writerDone := make(chan struct{})
	go func() { w.Run(wctx); close(writerDone) }()
	sink := &importSink{ctx: ctx, w: w}
	bar = newProgress(progress, "importing "+fi.Name(), fi.Size())
	res, err := mavlink.ReadLog(ctx, bar.reader(f), mavlink.ProcessorConfig{
		Link:          "import",
		Vehicles:      []mavlink.VehicleConfig{{Name: name, SystemID: sysID}},
		StoredRate:    o.StoredRate,
		LinkTimeout:   o.LinkTimeout,
		MaxDiscovered: 0,
	}, sink)
	if err == nil {
		err = sink.err
	}
	// The writer writes what it holds, or spools it when the database
	// does not take it within its final flush.
	stopWriter()
	<-writerDone
	if spooled := w.SpoolBytes(); err == nil && spooled > 0 {
		err = fmt.Errorf("the database did not take every row (%s left unwritten)", byteSize(spooled))
	}
	bar.done()
	if err != nil {
		return fmt.Errorf("import %s: %w (run the same command again to resume: what was written is skipped)", path, err)
	}
	added, skipped := w.Rows()
	if sink.last != nil {
		if err := st.UpsertVehicles(ctx, []telemetry.Vehicle{*sink.last}); err != nil {
			return err
		}
	}
	fmt.Fprintf(progress, "%s: %d frames (%d unreadable), %s to %s; vehicle %s: %d samples and %d events in the log, %d rows added, %d already imported\n",
		path, res.Frames, res.Errors, res.First.UTC().Format(time.RFC3339), res.Last.UTC().Format(time.RFC3339), name,
		sink.samples, sink.events, added, skipped)
	return nil
}

// importSink hands what the processor makes to the writer, waiting for
// room rather than dropping.
type importSink struct {
	ctx  context.Context
	w    telemetry.WaitWriter
	last *telemetry.Vehicle
	err  error

	samples, events int
}

func (s *importSink) Vehicle(v *telemetry.Vehicle) { c := *v; s.last = &c }
func (s *importSink) State(v *telemetry.Vehicle)   { c := *v; s.last = &c }

func (s *importSink) Sample(v *telemetry.Vehicle, t time.Time) {
	s.samples++
	if s.err == nil {
		s.err = s.w.WriteSampleWait(s.ctx, v, t)
	}
}

func (s *importSink) Event(e telemetry.Event) {
	s.events++
	if s.err == nil {
		s.err = s.w.WriteEventWait(s.ctx, &e)
	}
}

// progress draws a progress bar on a terminal, or a line every 10 % elsewhere.
type progress struct {
	w       io.Writer
	label   string
	total   int64
	n       int64
	tty     bool
	last    time.Time
	lastPct int64
	start   time.Time
}

func newProgress(w io.Writer, label string, total int64) *progress {
	p := &progress{w: w, label: label, total: max(total, 1), start: time.Now(), lastPct: -1}
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			p.tty = true
		}
	}
	return p
}

type progressReader struct {
	r io.Reader
	p *progress
}

func (r progressReader) Read(b []byte) (int, error) {
	n, err := r.r.Read(b)
	r.p.add(int64(n))
	return n, err
}

func (p *progress) reader(r io.Reader) io.Reader { return progressReader{r, p} }

func (p *progress) add(n int64) {
	p.n += n
	pct := p.n * 100 / p.total
	now := time.Now()
	if p.tty {
		if now.Sub(p.last) < 100*time.Millisecond && p.n < p.total {
			return
		}
		p.last = now
		const width = 30
		fill := int(pct * width / 100)
		bar := make([]byte, width)
		for i := range bar {
			switch {
			case i < fill:
				bar[i] = '='
			case i == fill:
				bar[i] = '>'
			default:
				bar[i] = ' '
			}
		}
		fmt.Fprintf(p.w, "\r%s [%s] %3d%% %s", p.label, bar, pct, byteSize(p.n))
		return
	}
	if pct/10 != p.lastPct/10 {
		p.lastPct = pct
		fmt.Fprintf(p.w, "%s: %d%% (%s)\n", p.label, pct, byteSize(p.n))
	}
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprintf(p.w, "\r%s: %s in %s\033[K\n", p.label, byteSize(p.n), time.Since(p.start).Round(time.Millisecond))
	}
}

func byteSize(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
