package batch

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Config configures a Writer.
type Config struct {
	// BatchSize is the most rows per table sent in one COPY. It defaults to 5000.
	BatchSize int
	// FlushInterval is the longest a row waits before its batch is sent. It
	// defaults to 500 milliseconds.
	FlushInterval time.Duration
	// QueueSize is the number of rows Add can queue before it drops. It
	// defaults to 100000.
	QueueSize int
	// SpoolDir holds batches while the database is unreachable. Required.
	SpoolDir string
	// SpoolMaxBytes caps the spool; 0 is no cap. It defaults to 0.
	SpoolMaxBytes int64
	// FinalFlushTimeout bounds the last flush at shutdown; what it cannot
	// write is spooled. It defaults to 10 seconds.
	FinalFlushTimeout time.Duration
	// Seed, when set, makes the batches deterministic, for an import that
	// may be run again: a table's batches are cut at BatchSize rows only
	// (never on FlushInterval), and a batch's ID derives from Seed, the
	// table and the batch's place among that table's, so that writing the
	// same rows again writes only what is missing.
	Seed       *[32]byte
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// ErrQueueFull is returned by Add when the queue is full and the row was dropped.
var ErrQueueFull = errors.New("store: writer queue full, row dropped")

type queued struct {
	table  *Table
	values []any
}

// Writer is the one writer of all time-series rows. Rows are queued by Add,
// grouped per table, and written with COPY in batches of BatchSize rows or
// after FlushInterval, whichever comes first.
//
// Backpressure: Add never blocks. When the queue holds QueueSize rows the new
// row is dropped and counted (smarteye_store_rows_dropped_total{reason="queue_full"});
// a slow database never stalls ingest. AddWait blocks instead, for bulk
// imports that must not drop.
//
// Outages: a batch the database cannot take is appended to the spool, an
// append-only checksummed file in the data directory, and every later batch
// follows it there so that order is kept. When the database is back the spool
// is replayed in order, a bounded slice at a time so that new rows keep
// flowing into the spool meanwhile. Each batch carries an ID that the store
// commits with the rows, so a batch whose commit succeeded but whose
// acknowledgement was lost is skipped on replay: nothing is lost and nothing
// is written twice. Rows still in memory are lost only if the process itself
// is killed; at shutdown they are written or spooled.
type Writer struct {
	db    Copier
	cfg   Config
	log   *slog.Logger
	in    chan queued // in: rows from Add
	spool *spool
	m     *writerMetrics

	pending     map[*Table]*Batch
	pendingRows int
	backoff     time.Duration
	nextReplay  time.Time

	queueDepth atomic.Int64
	spoolBytes atomic.Int64
	// seq numbers each table's batches (Seed only).
	seq map[*Table]uint64
	// rowsWritten and rowsSkipped count rows committed and rows of
	// batches that were committed before.
	rowsWritten, rowsSkipped atomic.Int64
}

// Rows are the rows written so far, and those skipped because their batch
// was written before (an import run again).
func (w *Writer) Rows() (written, skipped int64) { return w.rowsWritten.Load(), w.rowsSkipped.Load() }

// batchID is a new batch's ID: random, or derived from the seed.
func (w *Writer) batchID(t *Table) [16]byte {
	if w.cfg.Seed == nil {
		return telemetry.NewUUID()
	}
	n := w.seq[t]
	w.seq[t]++
	h := sha256.New()
	h.Write(w.cfg.Seed[:])
	h.Write([]byte(t.Name))
	h.Write(binary.BigEndian.AppendUint64(nil, n))
	var id [16]byte
	copy(id[:], h.Sum(nil))
	id[6] = id[6]&0x0f | 0x40 // a version 4 UUID's bits
	id[8] = id[8]&0x3f | 0x80
	return id
}

// NewWriter opens the spool (recovering it after a crash) and returns a
// writer ready to Run.
func NewWriter(db Copier, cfg Config) (*Writer, error) {
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = 5000
	}
	if cfg.FlushInterval <= 0 {
		cfg.FlushInterval = 500 * time.Millisecond
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = 100000
	}
	if cfg.FinalFlushTimeout <= 0 {
		cfg.FinalFlushTimeout = 10 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.SpoolDir == "" {
		return nil, errors.New("store: writer needs a spool directory")
	}
	log := cfg.Log.With("component", "store.writer")
	sp, err := openSpool(cfg.SpoolDir, cfg.SpoolMaxBytes, log)
	if err != nil {
		return nil, err
	}
	w := &Writer{
		db:      db,
		cfg:     cfg,
		log:     log,
		in:      make(chan queued, cfg.QueueSize),
		spool:   sp,
		pending: map[*Table]*Batch{},
		backoff: 250 * time.Millisecond,
		seq:     map[*Table]uint64{},
	}
	w.spoolBytes.Store(sp.Bytes())
	w.m = newWriterMetrics(cfg.Registerer, w)
	if !sp.Empty() {
		log.Info("spool holds batches from an earlier outage; they will be replayed", "bytes", sp.Bytes())
	}
	return w, nil
}

// Add queues one row of t; values follow t.Columns. It never blocks: see
// the Writer's backpressure policy. The values slice is kept: do not reuse it.
func (w *Writer) Add(t *Table, values ...any) error {
	if err := t.CheckRow(values); err != nil {
		return err
	}
	select {
	case w.in <- queued{t, values}:
		w.queueDepth.Add(1)
		return nil
	default:
		w.m.dropped.WithLabelValues(t.Name, "queue_full").Inc()
		w.m.logDrop(w.log)
		return ErrQueueFull
	}
}

// AddWait queues one row like Add, but waits for room instead of dropping.
func (w *Writer) AddWait(ctx context.Context, t *Table, values ...any) error {
	if err := t.CheckRow(values); err != nil {
		return err
	}
	select {
	case w.in <- queued{t, values}:
		w.queueDepth.Add(1)
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// QueueDepth is the number of rows queued or batched but not yet written or spooled.
func (w *Writer) QueueDepth() int64 { return w.queueDepth.Load() }

// SpoolBytes is the size of the spool still to replay.
func (w *Writer) SpoolBytes() int64 { return w.spoolBytes.Load() }

// Run writes until ctx ends, then writes or spools everything queued and
// returns nil. Stop producers before cancelling ctx, so that nothing is
// added after the final flush.
func (w *Writer) Run(ctx context.Context) error {
	defer w.spool.Close()
	tick := time.NewTicker(max(w.cfg.FlushInterval/5, 10*time.Millisecond))
	defer tick.Stop()
	// A COPY under way when shutdown begins is let finish rather than
	// aborted (each has its own timeout): aborting it would only move its
	// rows to the spool.
	wctx := context.WithoutCancel(ctx)
	for {
		select {
		case q := <-w.in:
			w.enqueue(wctx, q)
		case now := <-tick.C:
			w.flushDue(wctx, now)
			if !w.spool.Empty() && !now.Before(w.nextReplay) {
				w.replay(ctx)
			}
		case <-ctx.Done():
			w.shutdown(ctx)
			return nil
		}
	}
}

func (w *Writer) enqueue(ctx context.Context, q queued) {
	b := w.pending[q.table]
	if b == nil {
		b = &Batch{ID: w.batchID(q.table), Table: q.table, Rows: make([][]any, 0, min(w.cfg.BatchSize, 1024)), born: time.Now()}
		w.pending[q.table] = b
	}
	b.Rows = append(b.Rows, q.values)
	if len(b.Rows) >= w.cfg.BatchSize {
		delete(w.pending, q.table)
		w.flush(ctx, b)
	}
}

func (w *Writer) flushDue(ctx context.Context, now time.Time) {
	if w.cfg.Seed != nil {
		return // deterministic batches are cut by size only
	}
	for t, b := range w.pending {
		if now.Sub(b.born) >= w.cfg.FlushInterval {
			delete(w.pending, t)
			w.flush(ctx, b)
		}
	}
}

// flush writes b, or spools it when the database cannot take it or when
// earlier batches are still spooled (order is kept).
func (w *Writer) flush(ctx context.Context, b *Batch) {
	defer w.queueDepth.Add(-int64(len(b.Rows)))
	if w.spool.Empty() {
		start := time.Now()
		dup, err := w.copy(ctx, b)
		switch {
		case err == nil:
			w.m.flushSeconds.Observe(time.Since(start).Seconds())
			w.written(b, dup, false)
			w.backoff = 250 * time.Millisecond
			return
		case !Retryable(err):
			w.reject(b, err)
			return
		}
		w.log.Warn("database unavailable; spooling rows until it is back", "table", b.Table.Name, "rows", len(b.Rows), "err", err)
		w.nextReplay = time.Now().Add(w.backoff)
	}
	w.toSpool(b)
}

// copyTimeout bounds one COPY: a hung connection is treated as an outage.
const copyTimeout = time.Minute

func (w *Writer) copy(ctx context.Context, b *Batch) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, copyTimeout)
	defer cancel()
	return w.db.CopyBatch(ctx, b)
}

func (w *Writer) toSpool(b *Batch) {
	err := w.spool.Append(b)
	w.spoolBytes.Store(w.spool.Bytes())
	if err != nil {
		reason := "spool_error"
		if errors.Is(err, ErrSpoolFull) {
			reason = "spool_full"
		}
		w.m.dropped.WithLabelValues(b.Table.Name, reason).Add(float64(len(b.Rows)))
		w.log.Error("rows lost: cannot spool them", "table", b.Table.Name, "rows", len(b.Rows), "err", err)
		return
	}
	w.m.spooled.WithLabelValues(b.Table.Name).Add(float64(len(b.Rows)))
}

func (w *Writer) written(b *Batch, duplicate, replayed bool) {
	if duplicate {
		w.rowsSkipped.Add(int64(len(b.Rows)))
		w.m.duplicates.Inc()
		w.log.Info("batch was already written; skipped", "table", b.Table.Name, "batch", telemetry.UUID(b.ID).String(), "rows", len(b.Rows))
		return
	}
	w.rowsWritten.Add(int64(len(b.Rows)))
	w.m.written.WithLabelValues(b.Table.Name).Add(float64(len(b.Rows)))
	if replayed {
		w.m.replayed.WithLabelValues(b.Table.Name).Add(float64(len(b.Rows)))
	}
}

// reject keeps a batch the database refuses for what it contains (not for
// being unavailable) in a dead-letter file beside the spool, so that a bad
// row neither blocks the spool forever nor disappears.
func (w *Writer) reject(b *Batch, err error) {
	w.m.rejected.WithLabelValues(b.Table.Name).Add(float64(len(b.Rows)))
	p := filepath.Join(w.cfg.SpoolDir, "rejected")
	w.log.Error("database rejected a batch; kept in the dead-letter spool", "table", b.Table.Name, "rows", len(b.Rows), "dir", p, "err", err)
	dl, derr := openSpool(p, 0, w.log)
	if derr == nil {
		derr = dl.Append(b)
		dl.Close()
	}
	if derr != nil {
		w.log.Error("cannot keep rejected batch", "err", derr)
	}
}

// replay writes spooled batches in order for at most one flush interval, so
// that the loop keeps taking new rows meanwhile.
func (w *Writer) replay(ctx context.Context) {
	deadline := time.Now().Add(w.cfg.FlushInterval)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		b, err := w.spool.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if errors.Is(err, errCorrupt) {
			w.m.corrupt.Inc()
			w.log.Error("spool: corrupt record; its segment is set aside as *.corrupt and replay goes on", "err", err)
			w.spool.Skip()
			continue
		}
		if err != nil {
			w.log.Error("spool: read failed", "err", err)
			w.retryLater()
			break
		}
		dup, err := w.copy(context.WithoutCancel(ctx), b)
		if err != nil && Retryable(err) {
			w.log.Debug("replay: database still unavailable", "err", err)
			w.retryLater()
			break
		}
		if err != nil {
			w.reject(b, err)
		} else {
			w.written(b, dup, true)
		}
		w.spool.Advance()
		w.backoff = 250 * time.Millisecond
		if w.spool.Empty() {
			w.log.Info("spool replayed; writing directly again")
		}
	}
	w.spoolBytes.Store(w.spool.Bytes())
}

func (w *Writer) retryLater() {
	w.nextReplay = time.Now().Add(w.backoff)
	w.backoff = min(w.backoff*2, 10*time.Second)
}

// shutdown drains the queue and writes or spools every batch, bounded by
// FinalFlushTimeout; the context is detached from the cancelled one so that
// the last COPY is not aborted before it starts.
func (w *Writer) shutdown(ctx context.Context) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.FinalFlushTimeout)
	defer cancel()
	for {
		select {
		case q := <-w.in:
			w.enqueue(fctx, q)
			continue
		default:
		}
		break
	}
	for t, b := range w.pending {
		delete(w.pending, t)
		if fctx.Err() != nil {
			w.queueDepth.Add(-int64(len(b.Rows)))
			w.toSpool(b)
			continue
		}
		w.flush(fctx, b)
	}
	w.spoolBytes.Store(w.spool.Bytes())
	if !w.spool.Empty() {
		w.log.Info("stopped with spooled rows; they are replayed at the next start", "bytes", w.spool.Bytes())
	}
}

type writerMetrics struct {
	written, spooled, replayed, rejected *prometheus.CounterVec
	dropped                              *prometheus.CounterVec
	duplicates, corrupt                  prometheus.Counter
	flushSeconds                         prometheus.Histogram
	lastDropLog                          atomic.Int64
}

func newWriterMetrics(reg prometheus.Registerer, w *Writer) *writerMetrics {
	m := &writerMetrics{
		written: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_store_rows_written_total",
			Help: "Rows committed to the database, directly or from the spool.",
		}, []string{"table"}),
		spooled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_store_rows_spooled_total",
			Help: "Rows written to the outage spool because the database could not take them.",
		}, []string{"table"}),
		replayed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_store_rows_replayed_total",
			Help: "Rows committed from the spool after an outage (also counted as written).",
		}, []string{"table"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_store_rows_rejected_total",
			Help: "Rows the database refused for their content, kept in the dead-letter spool.",
		}, []string{"table"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_store_rows_dropped_total",
			Help: "Rows lost, by reason: queue_full, spool_full, spool_error.",
		}, []string{"table", "reason"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_batches_duplicate_total",
			Help: "Replayed batches skipped because the database already had them.",
		}),
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_spool_corrupt_records_total",
			Help: "Spool records that failed their checksum; their segment is set aside.",
		}),
		flushSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "smarteye_store_flush_seconds",
			Help:    "Time to write one batch with COPY.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
		}),
	}
	if reg != nil {
		reg.MustRegister(m.written, m.spooled, m.replayed, m.rejected, m.dropped, m.duplicates, m.corrupt, m.flushSeconds,
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smarteye_store_queue_depth",
				Help: "Rows queued in the writer, not yet written or spooled.",
			}, func() float64 { return float64(w.QueueDepth()) }),
			prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smarteye_store_spool_bytes",
				Help: "Bytes in the outage spool still to be replayed.",
			}, func() float64 { return float64(w.SpoolBytes()) }),
		)
	}
	return m
}

// logDrop logs queue drops at most once a second.
func (m *writerMetrics) logDrop(log *slog.Logger) {
	now := time.Now().UnixNano()
	last := m.lastDropLog.Load()
	if now-last < int64(time.Second) || !m.lastDropLog.CompareAndSwap(last, now) {
		return
	}
	log.Warn("writer queue full: dropping rows; see smarteye_store_rows_dropped_total")
}
