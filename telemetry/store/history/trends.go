package history

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// Trend scopes: what a series counts.
const (
	ScopeCamera = "camera" // everything one camera saw
	ScopeZone   = "zone"   // one camera's image zone
	ScopeFence  = "fence"  // one geofence, whatever saw it
	ScopeSite   = "site"   // alerts on a site's vehicles (no camera)
)

// TrendSteps are the steps a trend can be read in, each from the coarsest
// rollup that divides it.
var TrendSteps = []time.Duration{5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute,
	time.Hour, 2 * time.Hour, 3 * time.Hour, 6 * time.Hour, 12 * time.Hour, 24 * time.Hour}

// TrendMetrics are the columns a trend series carries.
var TrendMetrics = []string{"detections", "entries", "exits", "dwell_mean_s", "peak", "breaches", "alerts"}

// HeadlineMetric is what a scope is watched by: a zone's crowd (the most
// inside at once), elsewhere arrivals.
func HeadlineMetric(scope string) string {
	if scope == ScopeZone {
		return "peak"
	}
	return "entries"
}

// TrendQuery selects trends; empty fields do not filter.
type TrendQuery struct {
	From, To time.Time // [From, To), required
	Step     time.Duration
	Scope    string // ScopeCamera (default), ScopeZone, ScopeFence, ScopeSite
	Site     string
	Camera   string
	Name     string // a zone's name (ScopeZone) or a fence's id (ScopeFence)
	Class    string
	ByClass  bool // one series per class instead of their sum
}

// TrendSeries is one scope's counts at each step of a query's range
// (zero where nothing was counted). Dwell is the exits' mean stay.
type TrendSeries struct {
	Scope      string      `json:"scope"`
	Camera     string      `json:"camera,omitempty"`
	Name       string      `json:"name,omitempty"`
	Site       string      `json:"site,omitempty"`
	Class      string      `json:"class,omitempty"`
	Time       []time.Time `json:"time"`
	Detections []int64     `json:"detections"`
	Entries    []int64     `json:"entries"`
	Exits      []int64     `json:"exits"`
	DwellMeanS []float64   `json:"dwell_mean_s"`
	Peak       []int64     `json:"peak"`
	Breaches   []int64     `json:"breaches"`
	Alerts     []int64     `json:"alerts"`
}

// Key names the series: camera/zone, the fence id, or the camera.
func (s TrendSeries) Key() string {
	switch {
	case s.Scope == ScopeZone:
		return s.Camera + "/" + s.Name
	case s.Name != "":
		return s.Name
	case s.Camera != "":
		return s.Camera
	}
	return s.Site
}

// Metric is the named metric's values as numbers.
func (s TrendSeries) Metric(name string) ([]float64, bool) {
	var ints []int64
	switch name {
	case "detections":
		ints = s.Detections
	case "entries":
		ints = s.Entries
	case "exits":
		ints = s.Exits
	case "peak":
		ints = s.Peak
	case "breaches":
		ints = s.Breaches
	case "alerts":
		ints = s.Alerts
	case "dwell_mean_s":
		return s.DwellMeanS, true
	default:
		return nil, false
	}
	out := make([]float64, len(ints))
	for i, v := range ints {
		out[i] = float64(v)
	}
	return out, true
}

// trendTable is the rollup a step reads.
func trendTable(step time.Duration) (string, error) {
	if !slices.Contains(TrendSteps, step) {
		return "", fmt.Errorf("step %s: one of 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 24h", step)
	}
	switch {
	case step == 24*time.Hour:
		return "trends_1d", nil
	case step%time.Hour == 0:
		return "trends_1h", nil
	}
	return "trends_5m", nil
}

// TrendGrid is the buckets of [from, to) at step: UTC-aligned for steps
// under a day, midnights in loc for a day.
func TrendGrid(from, to time.Time, step time.Duration, loc *time.Location) []time.Time {
	var out []time.Time
	if step == 24*time.Hour {
		l := from.In(loc)
		d := time.Date(l.Year(), l.Month(), l.Day(), 0, 0, 0, 0, loc)
		for ; d.Before(to); d = d.AddDate(0, 0, 1) {
			out = append(out, d)
		}
		return out
	}
	for t := from.UTC().Truncate(step); t.Before(to); t = t.Add(step) {
		out = append(out, t)
	}
	return out
}

// ErrTooManyPoints is a query whose answer would be too long to draw.
var ErrTooManyPoints = errors.New("too many points: choose a longer step or a shorter range")

// MaxTrendPoints bounds a query's answer (series × steps).
const MaxTrendPoints = 200000

// Trends reads the rollups: one series per scope key (and class, with
// ByClass) with a value at every step of [q.From, q.To).
func (s *Store) Trends(ctx context.Context, q TrendQuery) ([]TrendSeries, error) {
	table, err := trendTable(q.Step)
	if err != nil {
		return nil, err
	}
	if q.Scope == "" {
		q.Scope = ScopeCamera
	}
	bucket := "date_bin($2::bigint * INTERVAL '1 second', bucket, TIMESTAMPTZ '2000-01-01 00:00:00+00')"
	// Each series has a point per step: refuse what cannot fit before
	// reading anything, and stop reading when it would not.
	steps := int(q.To.Sub(q.From.UTC().Truncate(q.Step))/q.Step) + 1
	if steps > MaxTrendPoints {
		return nil, ErrTooManyPoints
	}
	// The first step is the one From falls in, whole. A day begins at the
	// site's midnight: reach back far enough for any zone's first
	// midnight, then keep the buckets of the range.
	lo := q.From.UTC().Truncate(q.Step)
	if q.Step == 24*time.Hour {
		bucket, lo = "bucket", q.From.Add(-26*time.Hour)
	}
	classCol := "''"
	if q.ByClass {
		classCol = "class"
	}
	sql := fmt.Sprintf(`
SELECT camera_id, name, max(site_id), %[2]s AS c, %[3]s AS b,
       sum(detections), sum(entries), sum(exits), sum(dwell_s), sum(dwell_n), max(peak), sum(breaches), sum(alerts)
FROM %[1]s
WHERE scope = $1 AND $2::bigint > 0 AND bucket >= $3 AND bucket < $4
  AND ($5 = '' OR site_id = $5) AND ($6 = '' OR camera_id = $6) AND ($7 = '' OR name = $7) AND ($8 = '' OR class = $8)
GROUP BY camera_id, name, c, b
ORDER BY camera_id, name, c, b`, table, classCol, bucket)
	rows, err := s.pool.Query(ctx, sql, q.Scope, int64(q.Step/time.Second), lo, q.To, q.Site, q.Camera, q.Name, q.Class)
	if err != nil {
		return nil, fmt.Errorf("store: trends: %w", err)
	}
	defer rows.Close()
	type cell struct {
		b                                 time.Time
		det, in, out, dn, peak, br, alert int64
		dwell                             float64
	}
	type acc struct {
		s     TrendSeries
		cells []cell
	}
	var all []*acc
	n := 0
	for rows.Next() {
		if n++; n > MaxTrendPoints {
			return nil, ErrTooManyPoints
		}
		var cam, name, site, class string
		var c cell
		if err := rows.Scan(&cam, &name, &site, &class, &c.b, &c.det, &c.in, &c.out, &c.dwell, &c.dn, &c.peak, &c.br, &c.alert); err != nil {
			return nil, fmt.Errorf("store: trends: %w", err)
		}
		if k := len(all); k == 0 || all[k-1].s.Camera != cam || all[k-1].s.Name != name || all[k-1].s.Class != class {
			if (k+1)*steps > MaxTrendPoints {
				return nil, ErrTooManyPoints
			}
			all = append(all, &acc{s: TrendSeries{Scope: q.Scope, Camera: cam, Name: name, Site: site, Class: class}})
		}
		all[len(all)-1].cells = append(all[len(all)-1].cells, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: trends: %w", err)
	}
	zones := map[string]*time.Location{}
	var out []TrendSeries
	points := 0
	for _, a := range all {
		loc := time.UTC
		if q.Step == 24*time.Hour {
			if loc, err = s.siteLocation(ctx, a.s.Site, zones); err != nil {
				return nil, err
			}
		}
		grid := TrendGrid(q.From, q.To, q.Step, loc)
		if points += len(grid); points > MaxTrendPoints {
			return nil, ErrTooManyPoints
		}
		ts := a.s
		ts.Time = grid
		n := len(grid)
		ts.Detections, ts.Entries, ts.Exits, ts.Peak, ts.Breaches, ts.Alerts = make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n), make([]int64, n)
		ts.DwellMeanS = make([]float64, n)
		for _, c := range a.cells {
			i, ok := slices.BinarySearchFunc(grid, c.b, func(g, b time.Time) int { return g.Compare(b) })
			if !ok {
				continue // a day before the range
			}
			ts.Detections[i], ts.Entries[i], ts.Exits[i], ts.Peak[i], ts.Breaches[i], ts.Alerts[i] = c.det, c.in, c.out, c.peak, c.br, c.alert
			if c.dn > 0 {
				ts.DwellMeanS[i] = c.dwell / float64(c.dn)
			}
		}
		out = append(out, ts)
	}
	return out, nil
}

// siteLocation is a site's time zone (UTC when unknown), cached in seen.
func (s *Store) siteLocation(ctx context.Context, site string, seen map[string]*time.Location) (*time.Location, error) {
	if loc, ok := seen[site]; ok {
		return loc, nil
	}
	var tz string
	err := s.pool.QueryRow(ctx, "SELECT timezone FROM sites WHERE id = $1", site).Scan(&tz)
	if err != nil && !errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("store: trends: %w", err)
	}
	loc, lerr := time.LoadLocation(tz)
	if tz == "" || lerr != nil {
		loc = time.UTC
	}
	seen[site] = loc
	return loc, nil
}
