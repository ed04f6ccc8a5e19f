package dashboard

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/forecast"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/history"
)

// Trends limits.
const (
	maxTrendRange     = 400 * 24 * time.Hour
	maxForecastHours  = 72
	maxForecastSeries = 60
)

// TrendReader reads the trends rollups (*store.Store).
type TrendReader interface {
	Trends(ctx context.Context, q store.TrendQuery) ([]store.TrendSeries, error)
}

// trendSeries is a series as the API gives it: with the previous period
// beside it and its forecast.
type trendSeries struct {
	Key string `json:"key"`
	store.TrendSeries
	Previous *store.TrendSeries `json:"previous,omitempty"`
	Forecast *forecast.Result   `json:"forecast,omitempty"`
}

// parseStep reads a trend step: a Go duration ("5m", "1h") or "1d".
func parseStep(v string) (time.Duration, error) {
	if v == "1d" {
		return 24 * time.Hour, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil || !slices.Contains(history.TrendSteps, d) {
		return 0, errors.New("step: one of 5m, 10m, 15m, 30m, 1h, 2h, 3h, 6h, 12h, 1d")
	}
	return d, nil
}

// autoStep keeps a chart to a few hundred points: 5 minutes up to two
// days, hours up to five weeks, days beyond.
func autoStep(span time.Duration) time.Duration {
	switch {
	case span <= 2*24*time.Hour:
		return 5 * time.Minute
	case span <= 35*24*time.Hour:
		return time.Hour
	}
	return 24 * time.Hour
}

// trendQuery reads a trends request's selection.
func trendQuery(r *http.Request) (store.TrendQuery, error) {
	q := r.URL.Query()
	from, to, err := api.ParseRange(r, 24*time.Hour)
	if err != nil {
		return store.TrendQuery{}, err
	}
	if to.Sub(from) > maxTrendRange {
		return store.TrendQuery{}, fmt.Errorf("the range is longer than %d days", int(maxTrendRange.Hours()/24))
	}
	tq := store.TrendQuery{From: from, To: to, Site: q.Get("site"), Camera: q.Get("camera"), Class: q.Get("class"), Scope: q.Get("scope")}
	switch by := q.Get("by"); by {
	case "", "key":
	case "class":
		tq.ByClass = true
	default:
		return tq, errors.New("by: key or class")
	}
	zone, fence := q.Get("zone"), q.Get("fence")
	switch {
	case zone != "" && fence != "":
		return tq, errors.New("zone and fence: one or the other")
	case zone != "":
		tq.Name = zone
		if tq.Scope == "" {
			tq.Scope = history.ScopeZone
		}
	case fence != "":
		tq.Name = fence
		if tq.Scope == "" {
			tq.Scope = history.ScopeFence
		}
	}
	if tq.Scope == "" {
		tq.Scope = history.ScopeCamera
	}
	if !slices.Contains([]string{history.ScopeCamera, history.ScopeZone, history.ScopeFence, history.ScopeSite}, tq.Scope) {
		return tq, errors.New("scope: camera, zone, fence or site")
	}
	if (zone != "" && tq.Scope != history.ScopeZone) || (fence != "" && tq.Scope != history.ScopeFence) {
		return tq, errors.New("zone needs scope=zone and fence scope=fence")
	}
	tq.Step = autoStep(to.Sub(from))
	if v := q.Get("step"); v != "" {
		if tq.Step, err = parseStep(v); err != nil {
			return tq, err
		}
	}
	for _, v := range []string{tq.Site, tq.Camera, tq.Name, tq.Class} {
		if len(v) > 200 {
			return tq, errors.New("a filter is longer than 200 characters")
		}
	}
	return tq, nil
}

// GET /api/v1/trends?site=&scope=&camera=&zone=&fence=&class=&by=&from=&to=&step=&compare=previous&forecast=&metric=
//
// Counts per camera, zone or geofence at each step of the range (5-minute
// buckets, hourly and daily rollups; days are the site's), with the same
// length of time just before it (compare=previous) and each series'
// forecast for the next hours (forecast=6h; metric: what to forecast,
// a zone's peak or else its entries by default). JSON, or CSV with
// Accept: text/csv or format=csv.
func (s *Server) trends(w http.ResponseWriter, r *http.Request) {
	src := s.deps.Trends
	if src == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	tq, err := trendQuery(r)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	q := r.URL.Query()
	var hours int
	if v := q.Get("forecast"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Hour || d > maxForecastHours*time.Hour || d%time.Hour != 0 {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("forecast: whole hours from 1h to %dh", maxForecastHours))
			return
		}
		hours = int(d / time.Hour)
	}
	metric := q.Get("metric")
	if metric != "" && !slices.Contains(history.TrendMetrics, metric) {
		api.WriteError(w, http.StatusBadRequest, "metric: one of "+strings.Join(history.TrendMetrics, ", "))
		return
	}
	compare := q.Get("compare")
	if compare != "" && compare != "previous" {
		api.WriteError(w, http.StatusBadRequest, "compare: previous")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	series, err := src.Trends(ctx, tq)
	if err != nil {
		s.trendError(w, err)
		return
	}
	out := make([]trendSeries, len(series))
	for i, ts := range series {
		out[i] = trendSeries{Key: ts.Key(), TrendSeries: ts}
	}
	if compare == "previous" {
		pq := tq
		span := tq.To.Sub(tq.From)
		pq.From, pq.To = tq.From.Add(-span), tq.From
		prev, err := src.Trends(ctx, pq)
		if err != nil {
			s.trendError(w, err)
			return
		}
		for i := range out {
			for j := range prev {
				if prev[j].Key() == out[i].Key && prev[j].Class == out[i].Class {
					out[i].Previous = &prev[j]
				}
			}
		}
	}
	if hours > 0 {
		if len(out) > maxForecastSeries {
			api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("forecast: at most %d series at once; narrow the selection", maxForecastSeries))
			return
		}
		res, err := forecast.Ahead(ctx, src, tq, metric, time.Now(), hours)
		if err != nil {
			s.trendError(w, err)
			return
		}
		for i := range out {
			for j := range res {
				if res[j].Key == out[i].Key && res[j].Class == out[i].Class {
					out[i].Forecast = &res[j]
				}
			}
		}
	}
	if api.WantsCSV(r) {
		writeTrendsCSV(w, out)
		return
	}
	api.WriteCompactJSON(w, http.StatusOK, map[string]any{
		"from": tq.From.UTC(), "to": tq.To.UTC(), "step": stepName(tq.Step), "scope": tq.Scope, "series": out,
	})
}

func (s *Server) trendError(w http.ResponseWriter, err error) {
	if errors.Is(err, history.ErrTooManyPoints) {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	s.log.Warn("trends query failed", "err", err)
	api.WriteError(w, http.StatusServiceUnavailable, "trends unavailable: the database did not answer")
}

// stepNames are the steps as the API writes them.
var stepNames = map[time.Duration]string{5 * time.Minute: "5m", 10 * time.Minute: "10m", 15 * time.Minute: "15m", 30 * time.Minute: "30m",
	time.Hour: "1h", 2 * time.Hour: "2h", 3 * time.Hour: "3h", 6 * time.Hour: "6h", 12 * time.Hour: "12h", 24 * time.Hour: "1d"}

func stepName(d time.Duration) string { return stepNames[d] }

// writeTrendsCSV writes one row per series and step (kind observed), then
// the previous period's (previous) and the forecast's hours (forecast,
// with its band).
func writeTrendsCSV(w http.ResponseWriter, out []trendSeries) {
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="trends.csv"`)
	cw := csv.NewWriter(w)
	cw.Write(append(append([]string{"key", "scope", "camera", "name", "site", "class", "kind", "time"}, history.TrendMetrics...), "forecast_metric", "forecast", "lower", "upper"))
	// Names are the deployment's (API-made geofences included): kept from
	// being read as formulas.
	names := func(ts *store.TrendSeries, key, kind string, t time.Time) []string {
		return []string{api.CSVSafe(key), ts.Scope, api.CSVSafe(ts.Camera), api.CSVSafe(ts.Name), api.CSVSafe(ts.Site), api.CSVSafe(ts.Class), kind, t.UTC().Format(time.RFC3339)}
	}
	row := func(ts *store.TrendSeries, key, kind string) {
		for i, t := range ts.Time {
			rec := names(ts, key, kind, t)
			for _, m := range history.TrendMetrics {
				v, _ := ts.Metric(m)
				rec = append(rec, strconv.FormatFloat(v[i], 'f', -1, 64))
			}
			cw.Write(append(rec, "", "", "", ""))
		}
	}
	for _, ts := range out {
		row(&ts.TrendSeries, ts.Key, "observed")
		if ts.Previous != nil {
			row(ts.Previous, ts.Key, "previous")
		}
		if f := ts.Forecast; f != nil && f.Forecast != nil {
			for i, t := range f.Times {
				rec := names(&ts.TrendSeries, ts.Key, "forecast", t)
				rec = append(rec, make([]string, len(history.TrendMetrics))...)
				num := func(v float64) string { return strconv.FormatFloat(v, 'f', 2, 64) }
				cw.Write(append(rec, f.Metric, num(f.Forecast.Mean[i]), num(f.Forecast.Lower[i]), num(f.Forecast.Upper[i])))
			}
		}
	}
	cw.Flush()
}
