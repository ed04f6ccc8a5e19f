package batch_test

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/batch"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// The writer's tests write through a real store (the Copier the writer
// is made for), which imports this package: they are package batch_test.

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// newStore is a store on a database of its own unless cfg.URL says
// otherwise, closed when the test ends.
func newStore(t *testing.T, cfg store.Config) *store.Store {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = storetest.URL(t)
	}
	cfg.Log = quiet()
	s, err := store.New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// runStore runs s until the test ends and waits until it is ready.
func runStore(t *testing.T, s *store.Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "store ready", s.Ready)
}

// runWriter runs w until the test ends (or stop is called).
func runWriter(t *testing.T, w *batch.Writer) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

func queryInt(t *testing.T, s *store.Store, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func detectionRow(ts time.Time, camera, class string, conf float32) []any {
	return []any{ts, camera, int64(1), class, conf, float32(10), float32(20), float32(30), float32(60), nil, nil, nil, "uncalibrated", nil}
}

func eventRow(seq int) []any {
	var id [16]byte
	binary.BigEndian.PutUint64(id[8:], uint64(seq))
	return []any{time.Now().UTC(), id, "cbd", "test.seq", nil, nil, nil, nil, nil, fmt.Sprint(seq), []byte(`{"seq":` + fmt.Sprint(seq) + `}`), nil}
}

// TestWriterExactlyOnceAcrossImmediateStop kills the database (pg_ctl stop
// -m immediate) in the middle of ingest and starts it again: every row
// arrives, none twice.
func TestWriterExactlyOnceAcrossImmediateStop(t *testing.T) {
	c := storetest.NewCluster(t)
	s := newStore(t, store.Config{URL: c.URL(), HealthInterval: 200 * time.Millisecond})
	runStore(t, s)
	reg := prometheus.NewRegistry()
	w, err := batch.NewWriter(s, batch.Config{SpoolDir: t.TempDir(), Log: quiet(), BatchSize: 1000, FlushInterval: 50 * time.Millisecond, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)

	const total = 40000
	var sent atomic.Int64
	producer := make(chan error, 1)
	go func() {
		for i := range total {
			if err := w.AddWait(context.Background(), store.Events, eventRow(i)...); err != nil {
				producer <- err
				return
			}
			sent.Add(1)
			if i%200 == 0 {
				time.Sleep(5 * time.Millisecond) // about 40k rows/s: ingest, not a bulk load
			}
		}
		producer <- nil
	}()

	waitFor(t, 20*time.Second, "rows written before the kill", func() bool {
		return testutil.ToFloat64(w.Metrics().Written.WithLabelValues("events")) > 5000
	})
	if out, err := c.PgCtl(t.Context(), "stop", "-m", "immediate"); err != nil {
		t.Fatalf("pg_ctl stop -m immediate: %v: %s", err, out)
	}
	waitFor(t, 20*time.Second, "rows spooled during the outage", func() bool {
		return testutil.ToFloat64(w.Metrics().Spooled.WithLabelValues("events")) > 0
	})
	time.Sleep(300 * time.Millisecond) // let the outage last a little
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := <-producer; err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "spool replayed and queue empty", func() bool {
		return w.SpoolBytes() == 0 && w.QueueDepth() == 0
	})
	stop()

	got := queryInt(t, s, "SELECT count(*) FROM events")
	distinct := queryInt(t, s, "SELECT count(DISTINCT id) FROM events")
	if got != total || distinct != total {
		t.Fatalf("rows %d, distinct %d, want %d of each", got, distinct, total)
	}
	replayed := testutil.ToFloat64(w.Metrics().Replayed.WithLabelValues("events"))
	if replayed == 0 {
		t.Fatal("nothing was replayed from the spool")
	}
	if dropped := testutil.CollectAndCount(w.Metrics().Dropped); dropped != 0 {
		t.Fatalf("%d rows dropped", dropped)
	}
	t.Logf("written %v, spooled %v, replayed %v, duplicates %v",
		testutil.ToFloat64(w.Metrics().Written.WithLabelValues("events")),
		testutil.ToFloat64(w.Metrics().Spooled.WithLabelValues("events")), replayed, testutil.ToFloat64(w.Metrics().Duplicates))
}

// lostAck commits for real but reports the first n commits as failed, as
// when the connection dies between COMMIT and its acknowledgement.
type lostAck struct {
	*store.Store
	n atomic.Int32
}

func (l *lostAck) CopyBatch(ctx context.Context, b *batch.Batch) (bool, error) {
	dup, err := l.Store.CopyBatch(ctx, b)
	if err == nil && l.n.Add(-1) >= 0 {
		return false, errors.New("connection reset after COMMIT")
	}
	return dup, err
}

func TestWriterSkipsBatchWhoseCommitWasNotAcknowledged(t *testing.T) {
	s := newStore(t, store.Config{})
	runStore(t, s)
	db := &lostAck{Store: s}
	db.n.Store(1)
	w, err := batch.NewWriter(db, batch.Config{SpoolDir: t.TempDir(), Log: quiet(), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)
	for i := range 100 {
		w.Add(store.Events, eventRow(i)...)
	}
	waitFor(t, 10*time.Second, "replay", func() bool { return testutil.ToFloat64(w.Metrics().Duplicates) == 1 && w.SpoolBytes() == 0 })
	for i := 100; i < 200; i++ {
		w.Add(store.Events, eventRow(i)...)
	}
	stop()
	if got := queryInt(t, s, "SELECT count(*) FROM events"); got != 200 {
		t.Fatalf("rows %d, want 200", got)
	}
}

func TestWriterRejectedBatchGoesToDeadLetter(t *testing.T) {
	s := newStore(t, store.Config{})
	runStore(t, s)
	dir := t.TempDir()
	w, err := batch.NewWriter(s, batch.Config{SpoolDir: dir, Log: quiet(), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)
	bad := detectionRow(time.Now(), "cam", "person", 0.5)
	bad[4] = nil // confidence is NOT NULL: the database refuses the batch
	w.Add(store.Detections, bad...)
	waitFor(t, 10*time.Second, "rejection", func() bool { return testutil.ToFloat64(w.Metrics().Rejected.WithLabelValues("detections")) == 1 })
	// Later rows are not blocked behind it.
	w.Add(store.Detections, detectionRow(time.Now(), "cam", "person", 0.5)...)
	stop()
	if got := queryInt(t, s, "SELECT count(*) FROM detections"); got != 1 {
		t.Fatalf("rows %d, want 1", got)
	}
	dl, err := batch.OpenSpool(dir+"/rejected", 0, quiet())
	if err != nil {
		t.Fatal(err)
	}
	defer dl.Close()
	b, err := dl.Next()
	if err != nil || len(b.Rows) != 1 || b.Rows[0][4] != nil {
		t.Fatalf("dead letter: %v %+v", err, b)
	}
}

func TestWriterQueueFullDropsAndCounts(t *testing.T) {
	w, err := batch.NewWriter(nil, batch.Config{SpoolDir: t.TempDir(), QueueSize: 3, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := w.Add(store.Events, eventRow(i)...); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Add(store.Events, eventRow(3)...); !errors.Is(err, batch.ErrQueueFull) {
		t.Fatalf("got %v", err)
	}
	if got := testutil.ToFloat64(w.Metrics().Dropped.WithLabelValues("events", "queue_full")); got != 1 {
		t.Fatalf("dropped %v", got)
	}
	if w.QueueDepth() != 3 {
		t.Fatalf("queue depth %d", w.QueueDepth())
	}
	if err := w.Add(store.Events, "not a time"); err == nil {
		t.Fatal("a malformed row was accepted")
	}
	w.CloseSpool()
}

// TestWriterSpoolsWhenDatabaseNeverCame stops with everything spooled and
// replays it in a later process once the database is there.
func TestWriterSpoolsAcrossRestart(t *testing.T) {
	dir := t.TempDir()
	down := newStore(t, store.Config{URL: "postgres://nobody@/x?host=/nonexistent"})
	w, err := batch.NewWriter(down, batch.Config{SpoolDir: dir, Log: quiet(), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)
	for i := range 500 {
		w.Add(store.Events, eventRow(i)...)
	}
	stop()
	if w.SpoolBytes() == 0 {
		t.Fatal("nothing spooled")
	}

	s := newStore(t, store.Config{})
	runStore(t, s)
	w2, err := batch.NewWriter(s, batch.Config{SpoolDir: dir, Log: quiet(), FlushInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop2 := runWriter(t, w2)
	waitFor(t, 10*time.Second, "replay", func() bool { return w2.SpoolBytes() == 0 })
	stop2()
	if got := queryInt(t, s, "SELECT count(*) FROM events"); got != 500 {
		t.Fatalf("rows %d, want 500", got)
	}
	var first, last string
	s.Pool().QueryRow(t.Context(), "SELECT (array_agg(message ORDER BY time, message::int))[1], (array_agg(message ORDER BY time, message::int))[500] FROM events").Scan(&first, &last)
	if first != "0" || last != "499" {
		t.Fatalf("order: first %s last %s", first, last)
	}
}
