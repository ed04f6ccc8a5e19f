package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Partitions (postgres mode) are named <table>_pYYYYMMDD and hold one UTC day.
const partitionLayout = "20060102"

func partitionName(table string, day time.Time) string {
	return table + "_p" + day.UTC().Format(partitionLayout)
}

func dayOf(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

// EnsurePartitions creates the daily partitions of table that rows between
// lo and hi need (postgres mode; a no-op otherwise). Rows older than the
// retention period still get a partition: the next maintenance drops it.
func (s *Store) EnsurePartitions(ctx context.Context, table string, lo, hi time.Time) error {
	if s.Mode() != ModePostgres {
		return nil
	}
	for d := dayOf(lo); !d.After(hi); d = d.AddDate(0, 0, 1) {
		name := partitionName(table, d)
		s.mu.Lock()
		known := s.partitions[name]
		s.mu.Unlock()
		if known {
			continue
		}
		q := fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s PARTITION OF %s FOR VALUES FROM ('%s') TO ('%s')",
			pgx.Identifier{name}.Sanitize(), pgx.Identifier{table}.Sanitize(),
			d.Format(time.RFC3339), d.AddDate(0, 0, 1).Format(time.RFC3339))
		tag, err := s.pool.Exec(ctx, q)
		var pgErr *pgconn.PgError
		if err != nil && !(errors.As(err, &pgErr) && (pgErr.Code == "42P07" || pgErr.Code == "23505")) {
			// 42P07/23505: another process created it at the same moment.
			return fmt.Errorf("store: create partition %s: %w", name, err)
		}
		if err == nil && tag.String() == "CREATE TABLE" {
			s.m.partitionsCreated.Inc()
			s.log.Debug("created partition", "partition", name)
		}
		s.mu.Lock()
		s.partitions[name] = true
		s.mu.Unlock()
	}
	return nil
}

func (s *Store) timeseriesTables(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT table_name FROM store_timeseries ORDER BY table_name")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[string])
}

// Maintain does one round of upkeep: in postgres mode it creates partitions
// for today and the days ahead and drops those past retention; in
// timescaledb mode it applies the configured retention and compression
// policies. Both modes forget committed batch ids after 30 days.
func (s *Store) Maintain(ctx context.Context) error {
	tables, err := s.timeseriesTables(ctx)
	if err != nil {
		return fmt.Errorf("store: maintenance: %w", err)
	}
	var errs []error
	for _, t := range tables {
		if s.Mode() == ModeTimescaleDB {
			errs = append(errs, s.applyPolicies(ctx, t))
			continue
		}
		now := time.Now()
		errs = append(errs, s.EnsurePartitions(ctx, t, now, now.AddDate(0, 0, s.cfg.PartitionsAhead)))
		if keep := s.cfg.Retention[retentionOf(t)]; keep > 0 {
			_, err := s.DropPartitionsBefore(ctx, t, now.Add(-keep))
			errs = append(errs, err)
		}
	}
	// Batch ids guard against replaying a batch twice; a spool is not kept
	// for a month, so older ids are never needed.
	if _, err := s.pool.Exec(ctx, "DELETE FROM store_batches WHERE written_at < now() - INTERVAL '30 days'"); err != nil {
		errs = append(errs, err)
	}
	// An event is redelivered to the alert engine within seconds: a week
	// of handled events is plenty.
	if _, err := s.pool.Exec(ctx, "DELETE FROM alert_inputs WHERE at < now() - INTERVAL '7 days'"); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// DropPartitionsBefore drops the partitions of table that hold only rows
// older than cutoff and returns their names (postgres mode).
func (s *Store) DropPartitionsBefore(ctx context.Context, table string, cutoff time.Time) ([]string, error) {
	s.partMu.Lock()
	defer s.partMu.Unlock()
	rows, err := s.pool.Query(ctx, `
SELECT c.relname FROM pg_inherits i
JOIN pg_class c ON c.oid = i.inhrelid
JOIN pg_class p ON p.oid = i.inhparent
WHERE p.relname = $1 AND c.relname LIKE $1 || '\_p%'`, table)
	if err != nil {
		return nil, err
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	var dropped []string
	for _, name := range names {
		day, err := time.Parse(partitionLayout, strings.TrimPrefix(name, table+"_p"))
		if err != nil {
			continue // not one of ours
		}
		if day.AddDate(0, 0, 1).After(cutoff) {
			continue
		}
		if _, err := s.pool.Exec(ctx, "DROP TABLE IF EXISTS "+pgx.Identifier{name}.Sanitize()); err != nil {
			return dropped, fmt.Errorf("store: drop partition %s: %w", name, err)
		}
		s.mu.Lock()
		delete(s.partitions, name)
		s.mu.Unlock()
		s.m.partitionsDropped.Inc()
		s.log.Info("dropped partition past retention", "partition", name)
		dropped = append(dropped, name)
	}
	return dropped, nil
}

// applyPolicies sets TimescaleDB's retention and compression policies of a
// hypertable from the configuration; each is one documented call:
// remove_*_policy(if_exists) then add_*_policy, so that a changed setting
// replaces the old one.
func (s *Store) applyPolicies(ctx context.Context, table string) error {
	var errs []error
	exec := func(q string, args ...any) {
		if _, err := s.pool.Exec(ctx, q, args...); err != nil {
			errs = append(errs, fmt.Errorf("store: %s on %s: %w", firstLine(q), table, err))
		}
	}
	exec("SELECT remove_compression_policy($1::regclass, if_exists => true)", table)
	exec("SELECT add_compression_policy($1::regclass, $2::interval)", table, s.cfg.CompressAfter)
	exec("SELECT remove_retention_policy($1::regclass, if_exists => true)", table)
	if keep := s.cfg.Retention[retentionOf(table)]; keep > 0 {
		exec("SELECT add_retention_policy($1::regclass, $2::interval)", table, keep)
	}
	return errors.Join(errs...)
}
