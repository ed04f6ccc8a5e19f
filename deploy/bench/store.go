package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
)

// The store benchmark: the batch writer against `psql \copy` loading the
// same telemetry rows (see the command's comment).

type result struct {
	variant    string
	writer     []float64 // rows/s
	psql       []float64
	writerSecs []float64
	psqlSecs   []float64
}

// benchStore starts an embedded PostgreSQL in dir and a migrated store on
// it; stop closes both.
func benchStore(ctx context.Context, dir string, log *slog.Logger) (c *embedded.Cluster, st *store.Store, stop func(), err error) {
	c, err = embedded.New(embedded.Config{Dir: dir, Log: log})
	if err != nil {
		return nil, nil, nil, err
	}
	if err := c.Start(ctx); err != nil {
		return nil, nil, nil, err
	}
	st, err = store.New(store.Config{URL: c.URL(), Log: log}, nil)
	if err != nil {
		c.Stop(time.Minute)
		return nil, nil, nil, err
	}
	stop = func() { st.Close(); c.Stop(time.Minute) }
	if _, err := st.Migrate(ctx); err != nil {
		stop()
		return nil, nil, nil, err
	}
	return c, st, stop, nil
}

// benchWriter times the batch writer against psql \copy loading nrows
// telemetry rows, with and without the GiST index (which it puts back).
func benchWriter(ctx context.Context, c *embedded.Cluster, st *store.Store, root string, nrows, runs int, log *slog.Logger) ([]result, error) {
	measure.Progress("writing %d telemetry rows as CSV for psql", nrows)
	start := time.Now().UTC().Truncate(time.Hour).Add(-time.Hour)
	csvPath := filepath.Join(root, "telemetry.csv")
	if err := writeCSV(csvPath, start, nrows); err != nil {
		return nil, err
	}
	for !st.Ready() {
		time.Sleep(50 * time.Millisecond)
	}
	lo, hi := row(start, 0)[0].(time.Time), row(start, nrows-1)[0].(time.Time)
	if err := st.EnsurePartitions(ctx, "telemetry", lo, hi); err != nil {
		return nil, err
	}

	pool := st.Pool()
	var results []result
	for _, variant := range []string{"with PostGIS point + GiST + (vehicle, time) index", "without the GiST index"} {
		if strings.HasPrefix(variant, "without") {
			if _, err := pool.Exec(ctx, "DROP INDEX telemetry_geom"); err != nil {
				return nil, err
			}
		}
		r := result{variant: variant}
		for i := range runs {
			if _, err := pool.Exec(ctx, "TRUNCATE telemetry, track_1s; CHECKPOINT"); err != nil {
				return nil, err
			}
			d, err := timeWriter(ctx, st, root, start, nrows, log)
			if err != nil {
				return nil, err
			}
			if err := checkCount(ctx, st, nrows); err != nil {
				return nil, err
			}
			r.writer, r.writerSecs = append(r.writer, float64(nrows)/d.Seconds()), append(r.writerSecs, d.Seconds())
			measure.Progress("%s, run %d/%d: writer %.2fs (%.0f rows/s)", variant, i+1, runs, d.Seconds(), float64(nrows)/d.Seconds())

			if _, err := pool.Exec(ctx, "TRUNCATE telemetry, track_1s; CHECKPOINT"); err != nil {
				return nil, err
			}
			d, err = timePsql(ctx, c, csvPath)
			if err != nil {
				return nil, err
			}
			if err := checkCount(ctx, st, nrows); err != nil {
				return nil, err
			}
			r.psql, r.psqlSecs = append(r.psql, float64(nrows)/d.Seconds()), append(r.psqlSecs, d.Seconds())
			measure.Progress("%s, run %d/%d: psql \\copy %.2fs (%.0f rows/s)", variant, i+1, runs, d.Seconds(), float64(nrows)/d.Seconds())
		}
		results = append(results, r)
	}
	if _, err := pool.Exec(ctx, "CREATE INDEX IF NOT EXISTS telemetry_geom ON telemetry USING gist (geom)"); err != nil {
		return nil, err
	}
	return results, nil
}

func checkCount(ctx context.Context, st *store.Store, want int) error {
	var n int
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM telemetry").Scan(&n); err != nil {
		return err
	}
	if n != want {
		return fmt.Errorf("telemetry holds %d rows after a load of %d", n, want)
	}
	return nil
}

// timeWriter loads every row through a new Writer and waits for its final
// flush: the time until the rows are committed. Rows are made as they are
// added, as ingest makes them, not held in memory beforehand.
func timeWriter(ctx context.Context, st *store.Store, root string, start time.Time, nrows int, log *slog.Logger) (time.Duration, error) {
	spool := filepath.Join(root, "spool")
	os.RemoveAll(spool)
	w, err := store.NewWriter(st, store.WriterConfig{SpoolDir: spool, Log: log})
	if err != nil {
		return 0, err
	}
	wctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	began := time.Now()
	go func() { done <- w.Run(wctx) }()
	for i := range nrows {
		if err := w.AddWait(ctx, store.Telemetry, row(start, i)...); err != nil {
			cancel()
			return 0, err
		}
	}
	cancel()
	if err := <-done; err != nil {
		return 0, err
	}
	d := time.Since(began)
	if w.SpoolBytes() != 0 {
		return 0, fmt.Errorf("writer spooled %d bytes: the database was not taking rows", w.SpoolBytes())
	}
	return d, nil
}

func timePsql(ctx context.Context, c *embedded.Cluster, csvPath string) (time.Duration, error) {
	psql, err := exec.LookPath("psql")
	if err != nil {
		psql = filepath.Join(c.BinDir(), "psql")
	}
	cols := make([]string, len(store.Telemetry.Columns))
	for i, col := range store.Telemetry.Columns {
		cols[i] = col.Name
	}
	cmd := exec.CommandContext(ctx, psql, "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", c.URL(),
		"-c", fmt.Sprintf(`\copy telemetry(%s) FROM '%s' WITH (FORMAT csv)`, strings.Join(cols, ","), csvPath))
	start := time.Now()
	if out, err := cmd.CombinedOutput(); err != nil {
		return 0, fmt.Errorf("psql \\copy: %v: %s", err, out)
	}
	return time.Since(start), nil
}

// row makes telemetry row i of a flight of 20 drones at 10 Hz circling over
// a CBD block from start, with the value ranges of real flights.
func row(start time.Time, i int) []any {
	const vehicles = 20
	v := i % vehicles
	tick := i / vehicles
	ts := start.Add(time.Duration(tick) * 100 * time.Millisecond)
	a := float64(tick)/600*2*math.Pi + float64(v)
	lat := 22.5431 + 0.002*math.Sin(a) + 0.0005*float64(v)
	lon := 114.0579 + 0.002*math.Cos(a)
	return []any{
		ts, vehicleNames[v], lat, lon,
		float32(60 + v), float32(55 + v), float32(math.Mod(a*180/math.Pi+90, 360)),
		float32(2 * math.Sin(a)), float32(-3), float32(math.Mod(a*180/math.Pi, 360)),
		float32(8.5), float32(0.1), float32(22.2 - float64(tick)/1e5), float32(90 - float64(tick)/1e4),
		"AUTO", true, int16(3), int16(14), float32(0.8), float32(-45), float32(0),
	}
}

var vehicleNames = func() []string {
	n := make([]string, 20)
	for i := range n {
		n[i] = "drone-" + strconv.Itoa(i)
	}
	return n
}()

func writeCSV(path string, start time.Time, nrows int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	for r := range nrows {
		for i, v := range row(start, r) {
			if i > 0 {
				w.WriteByte(',')
			}
			switch v := v.(type) {
			case nil:
			case time.Time:
				w.WriteString(v.Format(time.RFC3339Nano))
			case float64:
				w.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
			case float32:
				w.WriteString(strconv.FormatFloat(float64(v), 'g', -1, 32))
			case int16:
				w.WriteString(strconv.Itoa(int(v)))
			case bool:
				w.WriteString(strconv.FormatBool(v))
			case string:
				w.WriteString(v)
			}
		}
		w.WriteByte('\n')
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return f.Close()
}

// writerSection is the report's section on the batch writer.
func writerSection(nrows int, results []result) string {
	var b strings.Builder
	fmt.Fprintf(&b, "## Store: batch writer vs `psql \\copy`\n\n")
	fmt.Fprintf(&b, "%s telemetry rows (20 drones at 10 Hz), loaded into the `telemetry` table of a throwaway PostgreSQL cluster (plain-PostgreSQL mode: daily partitions, a generated PostGIS point column). ", measure.Thousands(nrows))
	fmt.Fprintf(&b, "**writer**: `store.Writer.AddWait` for every row as it is made, COPY in 5,000-row batches through pgx, each batch with its id for exactly-once and, in the same transaction, its seconds for the per-second track summary (`track_1s`, one row in ten at 10 Hz), timed until the final flush has committed. **psql**: `psql -c \"\\copy telemetry(...) FROM 'telemetry.csv' WITH (FORMAT csv)\"` of the same rows as CSV (the file is written before timing). Goal: writer ≥ 0.8× psql.\n\n")
	fmt.Fprintf(&b, "| Indexes | writer rows/s (median) | psql \\copy rows/s (median) | writer / psql | writer runs (s) | psql runs (s) |\n|---|---:|---:|---:|---|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | **%.2f×** | %s | %s |\n", r.variant, measure.Thousands(int(measure.Median(r.writer))), measure.Thousands(int(measure.Median(r.psql))),
			measure.Median(r.writer)/measure.Median(r.psql), measure.Secs(r.writerSecs), measure.Secs(r.psqlSecs))
	}
	return b.String()
}
