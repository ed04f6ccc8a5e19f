package store

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

func newStore(t *testing.T, cfg Config) *Store {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = storetest.URL(t)
	}
	if cfg.Log == nil {
		cfg.Log = testLog()
	}
	s, err := New(cfg, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// migrateByHand migrates s and marks it ready without Run, whose own
// maintenance would race with a test's checks.
func migrateByHand(t *testing.T, s *Store) {
	t.Helper()
	if _, err := s.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	s.setReady(true, nil)
}

// runStore runs s until the test ends and waits until it is ready.
func runStore(t *testing.T, s *Store) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	waitFor(t, 30*time.Second, "store ready", s.Ready)
}

// runWriter runs w until the test ends (or stop is called).
func runWriter(t *testing.T, w *Writer) (stop func()) {
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

func queryInt(t *testing.T, s *Store, sql string, args ...any) int64 {
	t.Helper()
	var n int64
	if err := s.pool.QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

func TestMigrateEmptyThenIdempotent(t *testing.T) {
	s := newStore(t, Config{})
	ms, err := loadMigrations()
	if err != nil {
		t.Fatal(err)
	}
	n, err := s.Migrate(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if n != len(ms) || s.Mode() != ModePostgres || s.State().SchemaVersion != len(ms) {
		t.Fatalf("applied %d (want %d), mode %q, version %d", n, len(ms), s.Mode(), s.State().SchemaVersion)
	}
	for _, table := range []string{"sites", "cameras", "vehicles", "telemetry", "detections", "events",
		"alerts", "alert_log", "audit_log", "detections_5m", "store_batches", "track_1s"} {
		if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1 AND relkind IN ('r', 'p')", table) != 1 {
			t.Errorf("table %s missing", table)
		}
	}
	for _, table := range []string{"telemetry", "detections", "events", "track_1s"} {
		if queryInt(t, s, "SELECT count(*) FROM pg_partitioned_table pt JOIN pg_class c ON c.oid = pt.partrelid WHERE c.relname = $1", table) != 1 {
			t.Errorf("%s is not partitioned", table)
		}
	}
	if queryInt(t, s, `SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%USING gist (geom)%' AND tablename IN ('telemetry', 'detections', 'events', 'alerts')`) != 4 {
		t.Error("missing GiST indexes on geometry columns")
	}

	// Again, and from a second process's point of view.
	if n, err := s.Migrate(t.Context()); err != nil || n != 0 {
		t.Fatalf("second run: applied %d, %v", n, err)
	}
	s2 := newStore(t, Config{URL: s.cfg.URL})
	if n, err := s2.Migrate(t.Context()); err != nil || n != 0 || s2.Mode() != ModePostgres {
		t.Fatalf("second store: applied %d, mode %s, %v", n, s2.Mode(), err)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM schema_migrations"); got != int64(len(ms)) {
		t.Fatalf("schema_migrations has %d rows", got)
	}

	// A database never changes mode.
	s3 := newStore(t, Config{URL: s.cfg.URL, Mode: string(ModeTimescaleDB)})
	if _, err := s3.Migrate(t.Context()); err == nil || !strings.Contains(err.Error(), "cannot change") {
		t.Fatalf("got %v", err)
	}
}

func TestConcurrentMigrations(t *testing.T) {
	url := storetest.URL(t)
	var wg sync.WaitGroup
	var total atomic.Int64
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := New(Config{URL: url, Log: testLog()}, nil)
			if err != nil {
				errs <- err
				return
			}
			defer s.Close()
			n, err := s.Migrate(context.Background())
			total.Add(int64(n))
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	ms, _ := loadMigrations()
	if total.Load() != int64(len(ms)) {
		t.Fatalf("migrations applied %d times in all, want %d", total.Load(), len(ms))
	}
}

func TestTimescaleDBModeWithoutExtension(t *testing.T) {
	s := newStore(t, Config{Mode: string(ModeTimescaleDB)})
	_, err := s.Migrate(t.Context())
	if err == nil || !strings.Contains(err.Error(), "no timescaledb extension") {
		t.Fatalf("got %v", err)
	}
}

func TestUnreachableDatabaseRetriesWithoutFailing(t *testing.T) {
	s := newStore(t, Config{URL: "postgres://nobody@/smarteye?host=/nonexistent&connect_timeout=1", Log: testLog()})
	ctx, cancel := context.WithTimeout(t.Context(), 1500*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx); err != nil {
		t.Fatalf("Run must keep retrying and return nil when stopped, got %v", err)
	}
	st := s.State()
	if st.Ready || st.Error == "" {
		t.Fatalf("state %+v: want not ready with an error", st)
	}
}

func telemetryRow(ts time.Time, vehicle string, lat, lon float64) []any {
	row := make([]any, len(Telemetry.Columns))
	row[0], row[1], row[2], row[3] = ts, vehicle, lat, lon
	row[4] = float32(80)
	row[14], row[15], row[16] = "AUTO", true, int16(3)
	return row
}

func TestPartitionsAheadAndRetention(t *testing.T) {
	s := newStore(t, Config{Retention: map[string]time.Duration{"telemetry": 30 * 24 * time.Hour}})
	migrateByHand(t, s) // and maintain by hand below
	if err := s.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	for _, d := range []int{0, 1, 2, 3} {
		name := partitionName("telemetry", now.AddDate(0, 0, d))
		if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", name) != 1 {
			t.Errorf("partition %s not created ahead", name)
		}
	}

	w, err := NewWriter(s, WriterConfig{SpoolDir: t.TempDir(), Log: testLog(), FlushInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	stop := runWriter(t, w)
	old, recent := now.AddDate(0, 0, -40), now.AddDate(0, 0, -2)
	for i := range 10 {
		for _, ts := range []time.Time{old, recent, now} {
			if err := w.Add(Telemetry, telemetryRow(ts.Add(time.Duration(i)*time.Second), "drone-1", 22.5+float64(i)*1e-4, 114.05)...); err != nil {
				t.Fatal(err)
			}
		}
	}
	stop()
	if got := queryInt(t, s, "SELECT count(*) FROM telemetry"); got != 30 {
		t.Fatalf("telemetry rows %d, want 30", got)
	}
	oldPart := partitionName("telemetry", old)
	if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", oldPart) != 1 {
		t.Fatalf("partition %s for old rows not created on demand", oldPart)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM telemetry WHERE ST_Intersects(geom, ST_MakeEnvelope(114, 22, 115, 23, 4326))"); got != 30 {
		t.Fatalf("generated geometry: %d rows in the box, want 30", got)
	}

	if err := s.Maintain(t.Context()); err != nil {
		t.Fatal(err)
	}
	if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", oldPart) != 0 {
		t.Fatalf("partition %s past retention not dropped", oldPart)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM telemetry"); got != 20 {
		t.Fatalf("after retention %d rows, want the 20 recent ones", got)
	}
	if got := queryInt(t, s, "SELECT count(*) FROM track_1s"); got != 20 {
		t.Fatalf("after retention the track summary holds %d seconds, want the 20 recent ones", got)
	}
	if got := testutil.ToFloat64(s.m.partitionsDropped); got != 2 { // telemetry's and track_1s's
		t.Fatalf("partitions dropped metric %v", got)
	}
	// Tables without retention keep everything.
	if queryInt(t, s, "SELECT count(*) FROM pg_class WHERE relname = $1", partitionName("events", now)) != 1 {
		t.Fatal("events partitions missing")
	}
}

func detectionRow(ts time.Time, camera, class string, conf float32) []any {
	return []any{ts, camera, int64(1), class, conf, float32(10), float32(20), float32(30), float32(60), nil, nil, nil, "uncalibrated", nil}
}
