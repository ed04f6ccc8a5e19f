package forecast

import (
	"errors"
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// district is a plaza's people per hour: weekday peaks at 9:00 and 18:00
// and a lunch bump, quiet weekends, growing 2 % a week, with noise.
func district(weeks int, seed uint64) Series {
	r := rand.New(rand.NewPCG(seed, 7))
	start := time.Date(2026, 9, 7, 0, 0, 0, 0, time.UTC) // a Monday
	n := weeks * 7 * 24
	s := Series{Start: start, Step: time.Hour, Values: make([]float64, n)}
	for i := range n {
		t := start.Add(time.Duration(i) * time.Hour)
		h := float64(t.Hour())
		bump := func(at, width, height float64) float64 { return height * math.Exp(-(h-at)*(h-at)/(2*width*width)) }
		base := 5 + bump(9, 1.2, 60) + bump(12.5, 1, 35) + bump(18, 1.5, 70)
		if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
			base = 4 + bump(15, 3, 25)
		}
		growth := 1 + 0.02*float64(i)/(7*24)
		mean := base * growth
		s.Values[i] = math.Max(0, math.Round(mean+r.NormFloat64()*(1+0.15*mean)))
	}
	return s
}

// On six weeks of history, the next week's hourly counts: the forecast's
// error beats "same time last week" by a clear margin, on several seeds,
// and its 80 % band holds about 80 % of what happened.
func TestForecastBeatsSameTimeLastWeek(t *testing.T) {
	var fMAE, nMAE, fMAPE, nMAPE float64
	inBand, total := 0, 0
	const seeds = 5
	for seed := range uint64(seeds) {
		all := district(7, seed+1)
		week := 7 * 24
		hist := Series{Start: all.Start, Step: all.Step, Values: all.Values[:len(all.Values)-week]}
		actual := all.Values[len(all.Values)-week:]
		f, err := Predict(hist, week, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if !f.Start.Equal(hist.End()) || len(f.Mean) != week || f.Method == "" {
			t.Fatalf("forecast %+v", f)
		}
		naive, err := SameTimeLastWeek(hist, week)
		if err != nil {
			t.Fatal(err)
		}
		a, b := Errors(actual, f.Mean)
		c, d := Errors(actual, naive)
		fMAE, fMAPE, nMAE, nMAPE = fMAE+a, fMAPE+b, nMAE+c, nMAPE+d
		for i, y := range actual {
			if y >= f.Lower[i] && y <= f.Upper[i] {
				inBand++
			}
			total++
		}
		t.Logf("seed %d: %s (backtest %v): MAE %.2f vs %.2f, MAPE %.1f%% vs %.1f%%", seed, f.Method, f.Backtest, a, c, 100*b, 100*d)
	}
	fMAE, nMAE, fMAPE, nMAPE = fMAE/seeds, nMAE/seeds, fMAPE/seeds, nMAPE/seeds
	cover := float64(inBand) / float64(total)
	t.Logf("forecast MAE %.2f MAPE %.1f%%; same time last week MAE %.2f MAPE %.1f%%; 80%% band holds %.0f%%", fMAE, 100*fMAPE, nMAE, 100*nMAPE, 100*cover)
	if fMAE > 0.85*nMAE || fMAPE > 0.85*nMAPE {
		t.Errorf("the forecast (MAE %.2f, MAPE %.3f) does not beat the naive baseline (%.2f, %.3f) by 15 %%", fMAE, fMAPE, nMAE, nMAPE)
	}
	if cover < 0.65 || cover > 0.95 {
		t.Errorf("the 80%% band holds %.0f%% of outcomes", 100*cover)
	}
}

// Less than two weeks is refused, saying so; a step that does not divide
// a day is an error; missing steps are filled.
func TestForecastNeedsHistory(t *testing.T) {
	s := district(1, 1)
	s.Values = append(s.Values, s.Values[:6*24]...)
	if _, err := Predict(s, 24, Options{}); !errors.Is(err, ErrTooShort) {
		t.Fatalf("13 days: %v", err)
	}
	if _, err := Predict(Series{Step: 7 * time.Minute, Values: make([]float64, 10000)}, 24, Options{}); err == nil {
		t.Fatal("a 7-minute step was taken")
	}
	s = district(3, 2)
	for i := 100; i < 140; i++ {
		s.Values[i] = math.NaN()
	}
	f, err := Predict(s, 48, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for i, m := range f.Mean {
		if math.IsNaN(m) || math.IsNaN(f.Lower[i]) || f.Lower[i] > m || f.Upper[i] < m || m < 0 {
			t.Fatalf("step %d: %v [%v, %v]", i, m, f.Lower[i], f.Upper[i])
		}
	}
}

func BenchmarkPredictWeekOfHours(b *testing.B) {
	s := district(8, 3)
	for b.Loop() {
		if _, err := Predict(s, 24, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}
