// Package forecast projects a zone's counts into the next hours from its
// own history: people or vehicles per time step, with the daily and weekly
// rhythm of a business district and a slow trend.
//
// Three forecasts are fitted and the one that did better on the series'
// own last held-back week (day, under three weeks of history) is kept
// (measure and choose, per series):
//
//   - double-seasonal Holt-Winters (Taylor 2003): a level, a trend, a
//     daily and a weekly seasonal component, each smoothed; its smoothing
//     constants are chosen on a coarse grid by one-step error;
//   - seasonal naive with drift: the same time last week, plus the
//     average week-on-week change;
//   - the mean of the two (a combination's errors partly cancel).
//
// The band around the forecast comes from the model's own errors on held
// back data at each horizon (rolling origins over the last days), so an
// 80 % band holds about 80 % of what happens. A series with less than two
// weeks of history is refused with ErrTooShort: a weekly rhythm cannot be
// learnt from less.
package forecast

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"time"
)

// ErrTooShort is a history too short to forecast from.
var ErrTooShort = errors.New("too little history to forecast: at least two whole weeks are needed")

// Series is equally spaced counts, oldest first; NaN marks a missing step.
type Series struct {
	Start  time.Time
	Step   time.Duration
	Values []float64
}

// End is the time just after the last value.
func (s Series) End() time.Time { return s.Start.Add(time.Duration(len(s.Values)) * s.Step) }

// Forecast is a projection: Mean at each step from Start, and the band
// [Lower, Upper] expected to hold Level of outcomes.
type Forecast struct {
	Start  time.Time     `json:"start"`
	Step   time.Duration `json:"-"`
	Mean   []float64     `json:"mean"`
	Lower  []float64     `json:"lower"`
	Upper  []float64     `json:"upper"`
	Level  float64       `json:"level"`
	Method string        `json:"method"`
	// Backtest is each model's mean absolute error on the held-back days
	// (what the choice was made on).
	Backtest map[string]float64 `json:"backtest"`
}

// Options tune a fit.
type Options struct {
	// Level of the band; default 0.8.
	Level float64
}

// model is one forecasting method fitted to a history.
type model interface {
	name() string
	// predict is the next h steps after the history it was fitted on.
	predict(h int) []float64
}

// periods are the daily and weekly season lengths in steps.
func periods(step time.Duration) (day, week int, err error) {
	if step <= 0 || (24*time.Hour)%step != 0 {
		return 0, 0, fmt.Errorf("forecast: a step of %s does not divide a day", step)
	}
	day = int(24 * time.Hour / step)
	return day, 7 * day, nil
}

// Predict forecasts the h steps after s.
func Predict(s Series, h int, o Options) (Forecast, error) {
	if o.Level <= 0 || o.Level >= 1 {
		o.Level = 0.8
	}
	day, week, err := periods(s.Step)
	if err != nil {
		return Forecast{}, err
	}
	vals := fill(s.Values, week)
	if len(vals) < 2*week || h <= 0 {
		return Forecast{}, ErrTooShort
	}
	// Choose on the last week held back (the last day while the history
	// is under three weeks): fit on the rest, forecast it.
	hold := day
	if len(vals) >= 3*week {
		hold = week
	}
	train, held := vals[:len(vals)-hold], vals[len(vals)-hold:]
	fits := map[string]func([]float64) model{
		"holt-winters":         func(v []float64) model { return fitHW(v, day, week) },
		"seasonal-naive-drift": func(v []float64) model { return fitSND(v, week) },
		"combined":             func(v []float64) model { return combo{fitHW(v, day, week), fitSND(v, week)} },
	}
	back := map[string]float64{}
	best, bestErr := "", math.Inf(1)
	for _, name := range []string{"holt-winters", "seasonal-naive-drift", "combined"} {
		if len(train) < 2*week && name != "seasonal-naive-drift" {
			continue
		}
		p := fits[name](train).predict(hold)
		e := mae(held, p)
		back[name] = e
		if e < bestErr {
			best, bestErr = name, e
		}
	}
	if best == "" {
		best = "seasonal-naive-drift"
	}
	m := fits[best](vals)
	mean := m.predict(h)
	half := bands(vals, h, day, fits[best], o.Level)
	f := Forecast{Start: s.End(), Step: s.Step, Mean: mean, Level: o.Level, Method: best, Backtest: back}
	for i := range mean {
		mean[i] = math.Max(0, mean[i]) // counts
		f.Lower = append(f.Lower, math.Max(0, mean[i]-half[i]))
		f.Upper = append(f.Upper, mean[i]+half[i])
	}
	return f, nil
}

// bands is the half-width of the band at each horizon: the level-quantile
// of the absolute errors of forecasts made from rolling origins over the
// last days of the history, at that horizon (pooled over neighbouring
// horizons, and never narrower than at a shorter one).
func bands(vals []float64, h, day int, fit func([]float64) model, level float64) []float64 {
	const origins = 7
	errs := make([][]float64, h)
	for k := 1; k <= origins; k++ {
		cut := len(vals) - k*day/2 - h
		if cut < len(vals)/2 {
			break
		}
		p := fit(vals[:cut]).predict(h)
		for i := 0; i < h && cut+i < len(vals); i++ {
			errs[i] = append(errs[i], math.Abs(vals[cut+i]-p[i]))
		}
	}
	out := make([]float64, h)
	for i := range h {
		var pool []float64
		for j := max(0, i-2); j <= min(h-1, i+2); j++ {
			pool = append(pool, errs[j]...)
		}
		if len(pool) == 0 {
			if i > 0 {
				out[i] = out[i-1]
			}
			continue
		}
		slices.Sort(pool)
		out[i] = pool[min(len(pool)-1, int(math.Ceil(level*float64(len(pool))))-1)]
		if i > 0 {
			out[i] = math.Max(out[i], out[i-1])
		}
	}
	return out
}

// fill replaces missing values by the value a week before (or after, at
// the start), else the series' mean.
func fill(v []float64, week int) []float64 {
	out := slices.Clone(v)
	var sum float64
	var n int
	for _, x := range v {
		if !math.IsNaN(x) {
			sum += x
			n++
		}
	}
	mean := 0.0
	if n > 0 {
		mean = sum / float64(n)
	}
	for i, x := range out {
		if !math.IsNaN(x) {
			continue
		}
		switch {
		case i >= week && !math.IsNaN(out[i-week]):
			out[i] = out[i-week]
		case i+week < len(v) && !math.IsNaN(v[i+week]):
			out[i] = v[i+week]
		default:
			out[i] = mean
		}
	}
	return out
}

func mae(actual, pred []float64) float64 {
	var s float64
	for i := range actual {
		s += math.Abs(actual[i] - pred[i])
	}
	return s / float64(len(actual))
}

// MAE and MAPE of a forecast against what happened (MAPE over steps whose
// actual value is at least 1, counts near zero make percentages
// meaningless).
func Errors(actual, pred []float64) (maeV, mapeV float64) {
	var n int
	for i := range actual {
		if actual[i] >= 1 {
			mapeV += math.Abs(actual[i]-pred[i]) / actual[i]
			n++
		}
	}
	if n > 0 {
		mapeV /= float64(n)
	}
	return mae(actual, pred), mapeV
}

// SameTimeLastWeek is the naive baseline: each step's value a week before.
func SameTimeLastWeek(s Series, h int) ([]float64, error) {
	_, week, err := periods(s.Step)
	if err != nil {
		return nil, err
	}
	vals := fill(s.Values, week)
	if len(vals) < week {
		return nil, ErrTooShort
	}
	out := make([]float64, h)
	for i := range h {
		out[i] = vals[len(vals)-week+i%week]
	}
	return out, nil
}

// combo is the mean of two models' forecasts: their errors partly cancel.
type combo struct{ a, b model }

func (m combo) name() string { return "combined" }

func (m combo) predict(h int) []float64 {
	pa, pb := m.a.predict(h), m.b.predict(h)
	for i := range pa {
		pa[i] = (pa[i] + pb[i]) / 2
	}
	return pa
}

// snd is seasonal naive with drift.
type snd struct {
	last  []float64 // the last week
	drift float64   // per week
}

func fitSND(v []float64, week int) model {
	m := &snd{last: v[len(v)-week:]}
	weeks := len(v) / week
	if weeks >= 2 {
		first := v[len(v)-weeks*week : len(v)-(weeks-1)*week]
		m.drift = (meanOf(m.last) - meanOf(first)) / float64(weeks-1)
	}
	return m
}

func (m *snd) name() string { return "seasonal-naive-drift" }

func (m *snd) predict(h int) []float64 {
	week := len(m.last)
	out := make([]float64, h)
	for i := range h {
		out[i] = m.last[i%week] + m.drift*float64(i/week+1)
	}
	return out
}

func meanOf(v []float64) float64 {
	var s float64
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// hw is double-seasonal additive Holt-Winters after fitting: the final
// level, trend and seasonal indices.
type hw struct {
	level, trend float64
	d, w         []float64 // daily and weekly seasonal indices, in phase order
	phase        int       // index of the next step in the week
	day          int
	phi          float64 // trend damping
}

func (m *hw) name() string { return "holt-winters" }

func (m *hw) predict(h int) []float64 {
	out := make([]float64, h)
	damp := 0.0
	pw := 1.0
	for i := range h {
		pw *= m.phi
		damp += pw
		p := (m.phase + i) % len(m.w)
		out[i] = m.level + damp*m.trend + m.d[p%m.day] + m.w[p]
	}
	return out
}

// run smooths v with the constants and returns the fitted state and the
// sum of squared one-step errors after the first two weeks.
func runHW(v []float64, day, week int, a, b, g, dl, phi float64) (*hw, float64) {
	// Initial state from the first two weeks: the level their mean, the
	// trend their week-on-week change, the weekly index each step's mean
	// over both weeks less the level less its daily index.
	w1, w2 := v[:week], v[week:2*week]
	m1, m2 := meanOf(w1), meanOf(w2)
	level := (m1 + m2) / 2
	trend := (m2 - m1) / float64(week)
	ds := make([]float64, day)
	for i := range week {
		ds[i%day] += (w1[i]+w2[i])/2 - level
	}
	for i := range ds {
		ds[i] /= 7
	}
	ws := make([]float64, week)
	for i := range week {
		ws[i] = (w1[i]+w2[i])/2 - level - ds[i%day]
	}
	level -= trend * float64(week) / 2 // the level at the start of week two, centred
	var sse float64
	for t, y := range v {
		p := t % week
		pred := level + phi*trend + ds[p%day] + ws[p]
		if t >= 2*week {
			e := y - pred
			sse += e * e
		}
		prevLevel := level
		level = a*(y-ds[p%day]-ws[p]) + (1-a)*(level+phi*trend)
		trend = b*(level-prevLevel) + (1-b)*phi*trend
		ds[p%day] = g*(y-level-ws[p]) + (1-g)*ds[p%day]
		ws[p] = dl*(y-level-ds[p%day]) + (1-dl)*ws[p]
	}
	return &hw{level: level, trend: trend, d: ds, w: ws, phase: len(v) % week, day: day, phi: phi}, sse
}

// fitHW chooses the smoothing constants on a coarse grid by one-step
// squared error.
func fitHW(v []float64, day, week int) model {
	var best *hw
	bestSSE := math.Inf(1)
	for _, a := range []float64{0.02, 0.1, 0.3} {
		for _, b := range []float64{0, 0.01} {
			for _, g := range []float64{0.05, 0.2} {
				for _, dl := range []float64{0.05, 0.2, 0.4} {
					m, sse := runHW(v, day, week, a, b, g, dl, 0.98)
					if sse < bestSSE {
						best, bestSSE = m, sse
					}
				}
			}
		}
	}
	return best
}
