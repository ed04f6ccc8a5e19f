package forecast

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/smarteye/smarteye/telemetry/store/history"
)

// History is how many weeks of hourly trends a forecast is fitted on.
const History = 8

// Source reads the trends rollups (*store.Store).
type Source interface {
	Trends(ctx context.Context, q history.TrendQuery) ([]history.TrendSeries, error)
}

// Result is one series' forecast, or why there is none.
type Result struct {
	Key    string `json:"key"`
	Site   string `json:"site,omitempty"`
	Camera string `json:"camera,omitempty"`
	Name   string `json:"name,omitempty"`
	Class  string `json:"class,omitempty"`
	// Metric is what was forecast (a TrendMetrics name).
	Metric   string      `json:"metric"`
	Forecast *Forecast   `json:"forecast,omitempty"`
	Times    []time.Time `json:"time,omitempty"` // the start of each forecast hour
	Error    string      `json:"error,omitempty"`
}

// Ahead forecasts metric hours ahead for every series q selects (its
// scope, site, camera, name, class and ByClass; its range and step are
// ignored), each from its own last History weeks of hourly trends up to
// the start of the hour now falls in (the forecast starts with that
// hour). A series with less than two weeks since its first count gets
// Error instead.
func Ahead(ctx context.Context, src Source, q history.TrendQuery, metric string, now time.Time, hours int) ([]Result, error) {
	if metric == "" {
		metric = history.HeadlineMetric(q.Scope)
	}
	if !slices.Contains(history.TrendMetrics, metric) {
		return nil, fmt.Errorf("forecast: no metric %q", metric)
	}
	end := now.UTC().Truncate(time.Hour)
	q.From, q.To, q.Step = end.Add(-History*7*24*time.Hour), end, time.Hour
	series, err := src.Trends(ctx, q)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, s := range series {
		r := Result{Key: s.Key(), Site: s.Site, Camera: s.Camera, Name: s.Name, Class: s.Class, Metric: metric}
		vals, _ := s.Metric(metric)
		// The series begins with its first count of anything: the hours
		// before the zone existed are not quiet hours.
		first := len(vals)
		for i := range s.Time {
			if s.Detections[i] != 0 || s.Entries[i] != 0 || s.Exits[i] != 0 || s.Peak[i] != 0 || s.Breaches[i] != 0 || s.Alerts[i] != 0 {
				first = i
				break
			}
		}
		f, err := Predict(Series{Start: end.Add(-time.Duration(len(vals)-first) * time.Hour), Step: time.Hour, Values: vals[first:]}, hours, Options{})
		switch {
		case errors.Is(err, ErrTooShort):
			r.Error = fmt.Sprintf("%s; it has %.1f days", err, float64(len(vals)-first)/24)
		case err != nil:
			r.Error = err.Error()
		default:
			r.Forecast = &f
			for i := range f.Mean {
				r.Times = append(r.Times, f.Start.Add(time.Duration(i)*time.Hour))
			}
		}
		out = append(out, r)
	}
	return out, nil
}
