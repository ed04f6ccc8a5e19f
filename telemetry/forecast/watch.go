package forecast

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/history"
)

// EventZoneForecast is a camera zone's crowd forecast for the next hours,
// told while rules look ahead (crowd_forecast).
const EventZoneForecast = "zone.forecast"

// WatchConfig configures Watch.
type WatchConfig struct {
	Source Source
	// Horizon is how far ahead forecasts are wanted now; 0: none (no rule
	// looks ahead), and nothing is fitted.
	Horizon func() time.Duration
	// Publish tells a forecast (stored, and judged by the rules).
	Publish func(telemetry.Event)
	// Interval between forecasts; default 15 minutes.
	Interval time.Duration
	// Zone is a site's time zone (nil, or nil answers: UTC), for the
	// hours in what is told.
	Zone func(site string) *time.Location
	Log  *slog.Logger
}

// Watch forecasts every zone's crowd each Interval while Horizon asks for
// it, and publishes each as a zone.forecast event: the forecast hours from
// the current one, their band and the model that made them. A horizon
// that grows (a rule made that looks further ahead) is served within
// 10 seconds.
func Watch(ctx context.Context, cfg WatchConfig) error {
	if cfg.Interval <= 0 {
		cfg.Interval = 15 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	poll := time.NewTicker(10 * time.Second)
	defer poll.Stop()
	var last, failed time.Time
	var told time.Duration
	for {
		if horizon := cfg.Horizon(); horizon > 0 && (horizon > told || time.Since(last) >= cfg.Interval) && time.Since(failed) >= 30*time.Second {
			n, err := WatchOnce(ctx, cfg.Source, horizon, time.Now(), cfg.Zone, cfg.Publish)
			switch {
			case ctx.Err() != nil:
				return nil
			case err != nil:
				// The store may not answer yet: again in 30 s.
				cfg.Log.Warn("zone forecasts failed", "err", err)
				failed = time.Now()
			default:
				cfg.Log.Debug("zone forecasts told", "zones", n, "horizon", horizon)
				last, told = time.Now(), horizon
				if n == 0 {
					// No zone has the history yet (a store still filling):
					// look again in a minute rather than an interval.
					last = last.Add(time.Minute - cfg.Interval)
				}
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-poll.C:
		}
	}
}

// WatchOnce forecasts every zone's crowd for the hours covering horizon
// from now and publishes each forecast; it returns how many it told.
func WatchOnce(ctx context.Context, src Source, horizon time.Duration, now time.Time, zone func(string) *time.Location, publish func(telemetry.Event)) (int, error) {
	hours := int((now.Sub(now.Truncate(time.Hour)) + horizon + time.Hour - 1) / time.Hour)
	// The zones counted in the last week, then each camera's zones' own
	// histories (one query for every zone would grow past what a trends
	// query answers).
	recent, err := src.Trends(ctx, history.TrendQuery{Scope: history.ScopeZone, From: now.Add(-7 * 24 * time.Hour), To: now, Step: 24 * time.Hour})
	if err != nil {
		return 0, err
	}
	var res []Result
	var cams []string
	for _, s := range recent {
		if !slices.Contains(cams, s.Camera) {
			cams = append(cams, s.Camera)
		}
	}
	for _, cam := range cams {
		r, err := Ahead(ctx, src, history.TrendQuery{Scope: history.ScopeZone, Camera: cam}, "peak", now, hours)
		if err != nil {
			return 0, err
		}
		res = append(res, r...)
	}
	n := 0
	for _, r := range res {
		if r.Forecast == nil {
			continue
		}
		f := r.Forecast
		most, at := 0.0, f.Start
		for i, m := range f.Mean {
			if m > most {
				most, at = m, f.Start.Add(time.Duration(i)*time.Hour)
			}
		}
		loc := time.UTC
		if zone != nil {
			if l := zone(r.Site); l != nil {
				loc = l
			}
		}
		publish(telemetry.Event{Time: now, ID: telemetry.NewUUID(), Kind: EventZoneForecast, Site: r.Site, CameraID: r.Camera,
			Message: fmt.Sprintf("%s: up to about %.0f inside forecast in the next %d h (at %s)", r.Key, most, hours, at.In(loc).Format("15:04 MST")),
			Data: map[string]any{"zone": r.Name, "metric": r.Metric, "start": f.Start.UTC().Format(time.RFC3339), "step_s": 3600,
				"mean": rounded(f.Mean), "lower": rounded(f.Lower), "upper": rounded(f.Upper), "level": f.Level, "method": f.Method,
				"timezone": loc.String()}})
		n++
	}
	return n, nil
}

// rounded keeps a tenth of a person: what is stored is read by people.
func rounded(v []float64) []float64 {
	out := make([]float64, len(v))
	for i, x := range v {
		out[i] = float64(int64(x*10+0.5)) / 10
	}
	return out
}
