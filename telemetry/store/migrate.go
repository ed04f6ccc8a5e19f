package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"text/template"

	"github.com/jackc/pgx/v5"
)

//go:embed migrations/*.sql
var migrationFiles embed.FS

// noTxMarker in a rendered migration makes it run statement by statement
// outside a transaction (TimescaleDB continuous aggregates require it). Such
// a migration must be idempotent (IF NOT EXISTS) and contain no semicolon
// inside a statement.
const noTxMarker = "-- smarteye:no-transaction"

// migrationLock is the advisory lock key that serialises migrations when
// several smarteye processes start at once.
const migrationLock = 0x5e_5e_00_01

type migration struct {
	version  int
	name     string
	src      string
	checksum string
}

func loadMigrations() ([]migration, error) {
	entries, err := migrationFiles.ReadDir("migrations")
	if err != nil {
		return nil, err
	}
	var ms []migration
	for _, e := range entries {
		num, name, ok := strings.Cut(strings.TrimSuffix(e.Name(), ".sql"), "_")
		v, err := strconv.Atoi(num)
		if !ok || err != nil {
			return nil, fmt.Errorf("migration %s: name must be NNNN_name.sql", e.Name())
		}
		b, err := migrationFiles.ReadFile(path.Join("migrations", e.Name()))
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		ms = append(ms, migration{version: v, name: name, src: string(b), checksum: hex.EncodeToString(sum[:8])})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	for i, m := range ms {
		if m.version != i+1 {
			return nil, fmt.Errorf("migration versions must run 1, 2, 3…: found %d at position %d", m.version, i+1)
		}
	}
	return ms, nil
}

// render executes a migration's template for a mode.
func (m migration) render(mode Mode) (string, error) {
	t, err := template.New(m.name).Option("missingkey=error").Parse(m.src)
	if err != nil {
		return "", fmt.Errorf("migration %d: %w", m.version, err)
	}
	var buf bytes.Buffer
	if err := t.Execute(&buf, struct{ TimescaleDB bool }{mode == ModeTimescaleDB}); err != nil {
		return "", fmt.Errorf("migration %d: %w", m.version, err)
	}
	return buf.String(), nil
}

// statements splits a no-transaction migration at semicolons that end a line.
func statements(sql string) []string {
	var out []string
	var cur strings.Builder
	for _, line := range strings.SplitAfter(sql, "\n") {
		cur.WriteString(line)
		if strings.HasSuffix(strings.TrimSpace(line), ";") {
			if s := strings.TrimSpace(stripComments(cur.String())); s != "" {
				out = append(out, s)
			}
			cur.Reset()
		}
	}
	if s := strings.TrimSpace(stripComments(cur.String())); s != "" {
		out = append(out, s)
	}
	return out
}

func stripComments(s string) string {
	var b strings.Builder
	for _, line := range strings.SplitAfter(s, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "--") {
			continue
		}
		b.WriteString(line)
	}
	return b.String()
}

// Migrate chooses the store mode (once: it is recorded in the database) and
// applies the migrations not yet applied. It is idempotent and safe to run
// from several processes at once. It returns how many it applied.
func (s *Store) Migrate(ctx context.Context) (int, error) {
	ms, err := loadMigrations()
	if err != nil {
		return 0, err
	}
	conn, err := s.pool.Acquire(ctx)
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	defer conn.Release()
	c := conn.Conn()
	if _, err := c.Exec(ctx, "SELECT pg_advisory_lock($1)", migrationLock); err != nil {
		return 0, fmt.Errorf("store: migrate: lock: %w", err)
	}
	defer c.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock($1)", migrationLock)

	if _, err := c.Exec(ctx, `
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    integer PRIMARY KEY,
    name       text NOT NULL,
    checksum   text NOT NULL,
    applied_at timestamptz NOT NULL DEFAULT now()
);
CREATE TABLE IF NOT EXISTS store_settings (
    key   text PRIMARY KEY,
    value text NOT NULL
)`); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	if err := s.checkPostGIS(ctx, c); err != nil {
		return 0, err
	}
	mode, err := s.chooseMode(ctx, c)
	if err != nil {
		return 0, err
	}

	applied := map[int]string{}
	rows, err := c.Query(ctx, "SELECT version, checksum FROM schema_migrations")
	if err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}
	for rows.Next() {
		var v int
		var sum string
		if err := rows.Scan(&v, &sum); err != nil {
			return 0, err
		}
		applied[v] = sum
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("store: migrate: %w", err)
	}

	n := 0
	for _, m := range ms {
		if sum, ok := applied[m.version]; ok {
			if sum != m.checksum {
				s.log.Warn("an applied migration has changed since; it is not run again", "version", m.version, "name", m.name)
			}
			continue
		}
		sql, err := m.render(mode)
		if err != nil {
			return n, err
		}
		if err := applyMigration(ctx, c, m, sql); err != nil {
			return n, err
		}
		s.log.Info("applied migration", "version", m.version, "name", m.name, "mode", mode)
		n++
	}
	if len(ms) > 0 {
		for v := range applied {
			if v > ms[len(ms)-1].version {
				return n, fmt.Errorf("store: the database has schema version %d, newer than this smarteye knows (%d); upgrade smarteye", v, ms[len(ms)-1].version)
			}
		}
	}
	s.setMigrated(mode, len(ms))
	return n, nil
}

func applyMigration(ctx context.Context, c *pgx.Conn, m migration, sql string) error {
	record := "INSERT INTO schema_migrations (version, name, checksum) VALUES ($1, $2, $3)"
	if !strings.Contains(sql, noTxMarker) {
		return pgx.BeginFunc(ctx, c, func(tx pgx.Tx) error {
			// Simple protocol: the file may hold many statements.
			if _, err := tx.Exec(ctx, sql, pgx.QueryExecModeSimpleProtocol); err != nil {
				return fmt.Errorf("store: migration %d (%s): %w", m.version, m.name, err)
			}
			_, err := tx.Exec(ctx, record, m.version, m.name, m.checksum)
			return err
		})
	}
	for _, st := range statements(sql) {
		if _, err := c.Exec(ctx, st, pgx.QueryExecModeSimpleProtocol); err != nil {
			return fmt.Errorf("store: migration %d (%s): %s: %w", m.version, m.name, firstLine(st), err)
		}
	}
	_, err := c.Exec(ctx, record, m.version, m.name, m.checksum)
	return err
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

func (s *Store) checkPostGIS(ctx context.Context, c *pgx.Conn) error {
	var have bool
	var version int
	if err := c.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'postgis'),
	        current_setting('server_version_num')::int / 10000`).Scan(&have, &version); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if !have {
		return fmt.Errorf("store: PostGIS is not installed on the database server; on Debian install it with: apt-get install postgresql-%d-postgis-3", version)
	}
	return nil
}

// chooseMode returns the recorded mode, or picks one on a new database:
// timescaledb when configured so or when auto finds the extension usable,
// postgres otherwise. A database never changes mode.
func (s *Store) chooseMode(ctx context.Context, c *pgx.Conn) (Mode, error) {
	var recorded string
	err := c.QueryRow(ctx, "SELECT value FROM store_settings WHERE key = 'mode'").Scan(&recorded)
	if err != nil && err != pgx.ErrNoRows {
		return "", fmt.Errorf("store: %w", err)
	}
	want := s.cfg.Mode
	if recorded != "" {
		mode := Mode(recorded)
		if want != ModeAuto && Mode(want) != mode {
			return "", fmt.Errorf("store: database.mode is %s but this database was set up in %s mode, which cannot change; set database.mode to %s or auto", want, mode, mode)
		}
		if mode == ModeTimescaleDB {
			if _, err := c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb"); err != nil {
				return "", fmt.Errorf("store: this database uses TimescaleDB but the extension cannot be loaded: %w", err)
			}
		}
		return mode, nil
	}

	mode := ModePostgres
	if want != string(ModePostgres) {
		var available bool
		if err := c.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'timescaledb')").Scan(&available); err != nil {
			return "", fmt.Errorf("store: %w", err)
		}
		switch {
		case available:
			if _, err := c.Exec(ctx, "CREATE EXTENSION IF NOT EXISTS timescaledb"); err != nil {
				if want == string(ModeTimescaleDB) {
					return "", fmt.Errorf("store: database.mode is timescaledb but the extension cannot be created (is it in shared_preload_libraries?): %w", err)
				}
				s.log.Warn("TimescaleDB is installed but cannot be created; using plain PostgreSQL partitioning", "err", err)
			} else {
				mode = ModeTimescaleDB
			}
		case want == string(ModeTimescaleDB):
			return "", fmt.Errorf("store: database.mode is timescaledb but the server has no timescaledb extension; install it or set database.mode to auto or postgres")
		}
	}
	if _, err := c.Exec(ctx, "INSERT INTO store_settings (key, value) VALUES ('mode', $1)", string(mode)); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return mode, nil
}
