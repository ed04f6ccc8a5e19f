// Package store is smarteye's system of record: PostgreSQL with PostGIS, and
// TimescaleDB when the server has it.
//
// It owns the schema (versioned SQL migrations embedded in the binary, and
// the time-series tables as the writer fills them: Telemetry, Detections,
// Events and their rows), the choice of storage mode, the transaction that
// writes a batch (CopyBatch), and upkeep: partitions, retention and the
// detection summary. It must not know about ingest, vision or HTTP.
//
// Its parts live in sub-packages: the write path (the batch writer, its
// outage spool and the batch encoding) in store/batch, of which Writer is
// the schema's front; the alerts' records in store/alerts; accounts,
// tokens, logins and the audit log in store/accounts; and the reads of
// tracks, events, detections, vehicles and recordings in store/history.
// Store embeds the repositories of the last three on its pool, so that it
// implements the small interfaces that the other packages declare.
//
// Two modes, chosen when a database is first migrated and recorded in it:
//
//   - timescaledb: telemetry, detections and events are hypertables with
//     compression and retention policies; detections_5m is a continuous
//     aggregate. TimescaleDB runs the upkeep.
//   - postgres: the same tables are range-partitioned by day. smarteye
//     creates partitions ahead (and on demand for older rows), drops those
//     past retention, and refreshes the detections_5m table itself.
//
// In both modes the trends rollups (trends_5m, trends_1h, trends_1d:
// counts per camera, zone, geofence and class) are kept by smarteye from
// the 5-minute buckets each write marks dirty in its own transaction
// (RefreshTrends in trends.go), so a late batch updates them, and
// detections_5m, exactly once.
//
// In both modes CopyBatch keeps a per-second track summary, track_1s (the
// first fix of each vehicle-second), in the same transaction as the
// telemetry it summarises, so that a track downsampled to a second or
// coarser is one short range scan (tracks.go, and history's Track).
//
// Queries are the same in both modes.
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry/store/accounts"
	"github.com/smarteye/smarteye/telemetry/store/alerts"
	"github.com/smarteye/smarteye/telemetry/store/batch"
	"github.com/smarteye/smarteye/telemetry/store/history"
)

// Mode is how time-series tables are kept.
type Mode string

// Storage modes; ModeAuto is a configuration value only.
const (
	ModeAuto             = "auto"
	ModeTimescaleDB Mode = "timescaledb"
	ModePostgres    Mode = "postgres"
)

// Config configures a Store.
type Config struct {
	// URL is a PostgreSQL connection URL. Required.
	URL string
	// Mode is auto, timescaledb or postgres. It defaults to auto:
	// timescaledb when the extension can be created, postgres otherwise.
	Mode string
	// MaxConns caps the connection pool. It defaults to 8.
	MaxConns int32
	// ConnectTimeout bounds one connection attempt. It defaults to 10 seconds.
	ConnectTimeout time.Duration
	// PartitionsAhead is how many days of partitions exist ahead of today
	// (postgres mode). It defaults to 3.
	PartitionsAhead int
	// MaintenanceInterval is how often partitions and retention are seen to.
	// It defaults to 1 hour.
	MaintenanceInterval time.Duration
	// SummaryInterval is how often detections_5m (postgres mode) and the
	// trends rollups are brought up to date. It defaults to 1 minute.
	SummaryInterval time.Duration
	// HealthInterval is how often the database is pinged. It defaults to 5 seconds.
	HealthInterval time.Duration
	// CompressAfter is the age at which TimescaleDB compresses chunks. It
	// defaults to 7 days.
	CompressAfter time.Duration
	// Retention is how long each time-series table keeps rows, by table
	// name; 0 or absent keeps them forever.
	Retention map[string]time.Duration
	Log       *slog.Logger
}

// State is what the store reports in /api/v1/status.
type State struct {
	Mode          Mode      `json:"mode,omitempty"`
	Ready         bool      `json:"ready"`
	SchemaVersion int       `json:"schema_version"`
	Since         time.Time `json:"since"`
	Error         string    `json:"error,omitempty"`
}

// Store is the database behind smarteye. It embeds the repositories of
// the sub-packages (repos.go), all on its pool.
type Store struct {
	*alertRepo
	*accountRepo
	*historyRepo

	cfg  Config
	log  *slog.Logger
	pool *pgxpool.Pool
	m    storeMetrics
	// standby leaves the upkeep to another process (SetStandby).
	standby atomic.Bool

	// partMu keeps retention from dropping a partition between a batch's
	// EnsurePartitions and its COPY (postgres mode).
	partMu sync.RWMutex

	mu         sync.Mutex
	state      State
	migrated   bool
	partitions map[string]bool // partitions known to exist (postgres mode)
	timeseries []string
	// zoneNames are the time zones the server knows (read once: reading
	// pg_timezone_names takes tens of milliseconds).
	zoneNames map[string]bool
}

// New validates cfg and prepares a connection pool; it does not connect:
// Run and Migrate do.
func New(cfg Config, reg prometheus.Registerer) (*Store, error) {
	if cfg.URL == "" {
		return nil, errors.New("store: database URL is empty")
	}
	if cfg.Mode == "" {
		cfg.Mode = ModeAuto
	}
	switch cfg.Mode {
	case ModeAuto, string(ModeTimescaleDB), string(ModePostgres):
	default:
		return nil, fmt.Errorf("store: mode %q: want auto, timescaledb or postgres", cfg.Mode)
	}
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = 8
	}
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if cfg.PartitionsAhead <= 0 {
		cfg.PartitionsAhead = 3
	}
	if cfg.MaintenanceInterval <= 0 {
		cfg.MaintenanceInterval = time.Hour
	}
	if cfg.SummaryInterval <= 0 {
		cfg.SummaryInterval = time.Minute
	}
	if cfg.HealthInterval <= 0 {
		cfg.HealthInterval = 5 * time.Second
	}
	if cfg.CompressAfter <= 0 {
		cfg.CompressAfter = 7 * 24 * time.Hour
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("store: database URL: %s", redactErr(err))
	}
	pc.MaxConns = cfg.MaxConns
	pc.ConnConfig.ConnectTimeout = cfg.ConnectTimeout
	pc.ConnConfig.RuntimeParams["application_name"] = "smarteye"
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	s := &Store{
		alertRepo:   alerts.New(pool),
		accountRepo: accounts.New(pool),
		historyRepo: history.New(pool),
		cfg:         cfg,
		log:         cfg.Log.With("component", "store"),
		pool:        pool,
		partitions:  map[string]bool{},
		state:       State{Since: time.Now().UTC()},
	}
	s.m = newStoreMetrics(reg, s)
	return s, nil
}

var passwordInURL = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)

// redactErr hides a password that a URL parse error may echo.
func redactErr(err error) string { return passwordInURL.ReplaceAllString(err.Error(), "${1}xxxxx@") }

// Pool is the connection pool, for queries of other packages.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Close closes the pool. Stop the writer first.
func (s *Store) Close() { s.pool.Close() }

// State reports the store's mode and readiness.
func (s *Store) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state
}

// Mode is the storage mode, empty until the first successful migration.
func (s *Store) Mode() Mode { return s.State().Mode }

// Ready reports whether the database was reachable at the last check and the
// schema is migrated.
func (s *Store) Ready() bool { return s.State().Ready }

func (s *Store) setMigrated(mode Mode, version int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.migrated = true
	s.state.Mode, s.state.SchemaVersion = mode, version
}

func (s *Store) setReady(ready bool, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	msg := ""
	if err != nil {
		msg = redactErr(err)
	}
	if s.state.Ready != ready {
		s.state.Since = time.Now().UTC()
	}
	s.state.Ready, s.state.Error = ready, msg
	if ready {
		s.m.ready.Set(1)
	} else {
		s.m.ready.Set(0)
	}
}

// CheckReady pings the database; /readyz uses it.
func (s *Store) CheckReady(ctx context.Context) error {
	s.mu.Lock()
	migrated := s.migrated
	s.mu.Unlock()
	if !migrated {
		return errors.New("schema not migrated yet")
	}
	return s.pool.Ping(ctx)
}

// Run connects (retrying with a capped backoff while the database is
// unreachable: the rest of smarteye keeps running and the writer spools),
// migrates, then keeps partitions, retention and the summary up to date
// until ctx ends.
func (s *Store) Run(ctx context.Context) error {
	backoff := time.Second
	logged := false
	for {
		_, err := s.Migrate(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		s.setReady(false, err)
		if !logged {
			s.log.Warn("database not usable; retrying", "err", redactErr(err), "retry_in", backoff)
			logged = true
		} else {
			s.log.Debug("database still not usable", "err", redactErr(err))
		}
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, 30*time.Second)
	}
	s.log.Info("store ready", "mode", s.Mode(), "schema_version", s.State().SchemaVersion)
	s.setReady(true, nil)
	if s.standby.Load() {
		// Another node keeps the store (a cluster's upkeep singleton).
	} else if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
		s.log.Warn("maintenance failed", "err", err)
	}

	health := time.NewTicker(s.cfg.HealthInterval)
	defer health.Stop()
	maint := time.NewTicker(s.cfg.MaintenanceInterval)
	defer maint.Stop()
	summary := time.NewTicker(s.cfg.SummaryInterval)
	defer summary.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-health.C:
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			err := s.pool.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return nil
			}
			was := s.Ready()
			if err != nil && was {
				s.log.Warn("database unreachable", "err", redactErr(err))
			} else if err == nil && !was {
				s.log.Info("database reachable again")
				// The database may have been restored or replaced: migrate
				// again (a no-op when nothing is missing).
				if _, merr := s.Migrate(ctx); merr != nil {
					err = merr
				}
			}
			s.setReady(err == nil, err)
		case <-maint.C:
			if s.standby.Load() {
				continue
			}
			if err := s.Maintain(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("maintenance failed", "err", err)
			}
		case <-summary.C:
			if !s.standby.Load() {
				if _, err := s.RefreshTrends(ctx); err != nil && ctx.Err() == nil {
					s.log.Warn("trends refresh failed", "err", err)
				}
			}
		}
	}
}

// SetStandby leaves the upkeep (retention, compression, the summary's
// refresh) to another process while on: a cluster runs it on one node.
// Migrations and the health check go on.
func (s *Store) SetStandby(on bool) { s.standby.Store(on) }

// CopyBatch writes b in one transaction with COPY, together with its batch
// id; a batch whose id is already committed is skipped (duplicate).
func (s *Store) CopyBatch(ctx context.Context, b *batch.Batch) (duplicate bool, err error) {
	if !s.Ready() {
		return false, batch.ErrNotReady
	}
	// Telemetry brings its per-second track summary along, in the same
	// transaction: the summary never holds a second the table lacks.
	var track *trackSeconds
	if b.Table.Name == Telemetry.Name {
		track = summariseTrack(b)
	}
	if s.Mode() == ModePostgres {
		s.partMu.RLock()
		defer s.partMu.RUnlock()
		for _, d := range days(b) {
			if err := s.EnsurePartitions(ctx, b.Table.Name, d, d); err != nil {
				return false, err
			}
			if track == nil {
				continue
			}
			if err := s.EnsurePartitions(ctx, TrackSummary, d, d); err != nil {
				return false, err
			}
		}
	}
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		tag, err := tx.Exec(ctx, "INSERT INTO store_batches (id, table_name, rows) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
			b.ID, b.Table.Name, len(b.Rows))
		if err != nil {
			return err
		}
		if tag.RowsAffected() == 0 {
			duplicate = true
			return nil
		}
		if _, err = tx.CopyFrom(ctx, pgx.Identifier{b.Table.Name}, b.Table.ColumnNames(), pgx.CopyFromRows(b.Rows)); err != nil {
			return err
		}
		if trendTables[b.Table.Name] && len(b.Rows) > 0 {
			if err := markDirty(ctx, tx, b.Table.Name, distinctTimes(b.Rows, trendBucketOf)); err != nil {
				return err
			}
		}
		if track == nil {
			return nil
		}
		return writeTrackSummary(ctx, tx, track)
	})
	if err != nil {
		return false, fmt.Errorf("store: copy %d rows into %s: %w", len(b.Rows), b.Table.Name, err)
	}
	return duplicate, nil
}

// days lists the distinct UTC days of a batch's rows, in order of appearance.
func days(b *batch.Batch) []time.Time { return distinctTimes(b.Rows, dayOf) }

// distinctTimes lists the distinct values of round over a batch's rows'
// times (the first column of every time-series table), in order of
// appearance.
func distinctTimes(rows [][]any, round func(time.Time) time.Time) []time.Time {
	var out []time.Time
	for _, r := range rows {
		if t := round(r[0].(time.Time)); !slices.ContainsFunc(out, t.Equal) {
			out = append(out, t)
		}
	}
	return out
}

type storeMetrics struct {
	ready              prometheus.Gauge
	partitionsCreated  prometheus.Counter
	partitionsDropped  prometheus.Counter
	summaryRefreshRows prometheus.Counter
	trendBuckets       prometheus.Counter
}

func newStoreMetrics(reg prometheus.Registerer, s *Store) storeMetrics {
	m := storeMetrics{
		ready: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "smarteye_store_ready",
			Help: "1 when the database is reachable and migrated.",
		}),
		partitionsCreated: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_partitions_created_total",
			Help: "Daily partitions created (postgres mode).",
		}),
		partitionsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_partitions_dropped_total",
			Help: "Daily partitions dropped for retention (postgres mode).",
		}),
		trendBuckets: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_trend_buckets_refreshed_total",
			Help: "5-minute trend buckets recomputed from raw rows (each refresh recomputes only the buckets written to).",
		}),
		summaryRefreshRows: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_store_summary_rows_refreshed_total",
			Help: "detections_5m rows written by smarteye's refresh (postgres mode).",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.ready, m.partitionsCreated, m.partitionsDropped, m.summaryRefreshRows, m.trendBuckets)
	}
	return m
}
