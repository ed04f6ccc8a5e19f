package dashboard

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/batch"
	"github.com/smarteye/smarteye/telemetry/store/history"
	"github.com/smarteye/smarteye/telemetry/supervise"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// plazaCrowd is the generated gate's people at once in an hour: busy
// weekday mornings and evenings, quiet nights and weekends.
func plazaCrowd(t time.Time) int {
	h := t.Hour()
	base := 2.0
	if h >= 7 && h <= 20 {
		base = 8 + 14*math.Exp(-math.Pow(float64(h-9), 2)/2) + 18*math.Exp(-math.Pow(float64(h-18), 2)/2)
	}
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		base *= 0.4
	}
	return int(math.Round(base))
}

// seedTrends writes weeks of hourly zone events for the gate of camera
// cam-1 (site cbd) and three days for the lawn, then refreshes the trends.
func seedTrends(t *testing.T, st *store.Store, now time.Time, weeks int) (entries map[time.Time]int) {
	t.Helper()
	ctx := t.Context()
	// The store writes only while it runs (and is ready).
	rctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { st.Run(rctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testkit.WaitFor(t, 30*time.Second, "store ready", st.Ready)
	for _, q := range []string{
		`INSERT INTO sites (id, name, timezone) VALUES ('cbd', 'CBD', 'Asia/Shanghai') ON CONFLICT DO NOTHING`,
		`INSERT INTO cameras (id, site_id, name, kind) VALUES ('cam-1', 'cbd', 'Gate', 'fixed') ON CONFLICT DO NOTHING`,
	} {
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	entries = map[time.Time]int{}
	var rows [][]any
	add := func(e telemetry.Event) {
		e.ID, e.CameraID = telemetry.NewUUID(), "cam-1"
		rows = append(rows, store.EventRow(&e))
	}
	end := now.UTC().Truncate(time.Hour)
	for h := end.Add(-time.Duration(weeks) * 7 * 24 * time.Hour); h.Before(end); h = h.Add(time.Hour) {
		n := plazaCrowd(h.In(time.FixedZone("CST", 8*3600)))
		for i := range n {
			add(telemetry.Event{Time: h.Add(time.Duration(i) * time.Minute), Kind: "zone.enter", Data: map[string]any{"zone": "gate", "class": "person", "count": i + 1}})
		}
		entries[h] = n
		if n > 0 {
			add(telemetry.Event{Time: h.Add(50 * time.Minute), Kind: "zone.exit", Data: map[string]any{"zone": "gate", "class": "person", "count": n - 1, "dwell_s": 120.0}})
		}
		if end.Sub(h) <= 72*time.Hour {
			add(telemetry.Event{Time: h.Add(5 * time.Minute), Kind: "zone.enter", Data: map[string]any{"zone": "lawn", "class": "person", "count": 1}})
		}
	}
	for len(rows) > 0 {
		n := min(len(rows), 5000)
		if _, err := st.CopyBatch(ctx, &batch.Batch{ID: telemetry.NewUUID(), Table: store.Events, Rows: rows[:n]}); err != nil {
			t.Fatal(err)
		}
		rows = rows[n:]
	}
	if _, err := st.RefreshTrends(ctx); err != nil {
		t.Fatal(err)
	}
	return entries
}

type trendsAnswer struct {
	Step   string `json:"step"`
	Series []struct {
		Key      string      `json:"key"`
		Site     string      `json:"site"`
		Time     []time.Time `json:"time"`
		Entries  []int64     `json:"entries"`
		Peak     []int64     `json:"peak"`
		Dwell    []float64   `json:"dwell_mean_s"`
		Previous *struct {
			Time    []time.Time `json:"time"`
			Entries []int64     `json:"entries"`
		} `json:"previous"`
		Forecast *struct {
			Metric   string      `json:"metric"`
			Time     []time.Time `json:"time"`
			Error    string      `json:"error"`
			Forecast *struct {
				Mean, Lower, Upper []float64
				Method             string
			} `json:"forecast"`
		} `json:"forecast"`
	} `json:"series"`
}

// TestTrendsAPI: the trends of a zone over a range equal what was
// written, hourly and in the site's days, with the previous period beside
// them, a forecast and its band where there are two weeks of history and
// a refusal where there are not, and the same as CSV.
func TestTrendsAPI(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := migratedStore(t, reg)
	now := time.Now()
	entries := seedTrends(t, st, now, 3)
	base := runTestServer(t, st, Deps{Store: st, Board: telemetry.NewBoard(), History: st, Trends: st, Gatherer: reg, Registerer: reg})

	end := now.UTC().Truncate(time.Hour)
	from := end.Add(-7 * 24 * time.Hour)
	rng := "from=" + url.QueryEscape(from.Format(time.RFC3339)) + "&to=" + url.QueryEscape(end.Format(time.RFC3339))
	code, body := get(t, base+"api/v1/trends?scope=zone&site=cbd&step=1h&compare=previous&forecast=6h&"+rng)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	var a trendsAnswer
	if err := json.Unmarshal([]byte(body), &a); err != nil {
		t.Fatal(err)
	}
	if a.Step != "1h" || len(a.Series) != 2 || a.Series[0].Key != "cam-1/gate" || a.Series[1].Key != "cam-1/lawn" || a.Series[0].Site != "cbd" {
		t.Fatalf("answer: step %s, %d series", a.Step, len(a.Series))
	}
	gate := a.Series[0]
	if len(gate.Time) != 7*24 || !gate.Time[0].Equal(from) {
		t.Fatalf("%d hours from %v", len(gate.Time), gate.Time[0])
	}
	for i, h := range gate.Time {
		if want := entries[h]; gate.Entries[i] != int64(want) || gate.Peak[i] != int64(want) {
			t.Fatalf("%v: entries %d, peak %d, want %d", h, gate.Entries[i], gate.Peak[i], want)
		}
		if want := float64(120); entries[h] > 0 && gate.Dwell[i] != want {
			t.Fatalf("%v: dwell %v", h, gate.Dwell[i])
		}
	}
	if p := gate.Previous; p == nil || len(p.Time) != 7*24 || !p.Time[0].Equal(from.Add(-7*24*time.Hour)) || p.Entries[9] != int64(entries[p.Time[9]]) {
		t.Fatal("previous period missing or wrong")
	}
	f := gate.Forecast
	if f == nil || f.Error != "" || f.Metric != "peak" || f.Forecast == nil || len(f.Forecast.Mean) != 6 || len(f.Time) != 6 || !f.Time[0].Equal(end) {
		t.Fatalf("gate forecast: %+v", f)
	}
	var errSum float64
	for i, m := range f.Forecast.Mean {
		if f.Forecast.Lower[i] > m || m > f.Forecast.Upper[i] {
			t.Fatalf("hour %d: %v outside its band [%v, %v]", i, m, f.Forecast.Lower[i], f.Forecast.Upper[i])
		}
		errSum += math.Abs(m - float64(plazaCrowd(f.Time[i].In(time.FixedZone("CST", 8*3600)))))
	}
	if errSum/6 > 2 {
		t.Fatalf("the forecast misses a noiseless rhythm by %.1f people an hour", errSum/6)
	}
	if lf := a.Series[1].Forecast; lf == nil || lf.Forecast != nil || !strings.Contains(lf.Error, "too little history") || !strings.Contains(lf.Error, "it has 3.0 days") {
		t.Fatalf("lawn forecast: %+v", lf)
	}

	// The site's days: midnights in Shanghai, each the sum of its hours.
	code, body = get(t, base+"api/v1/trends?zone=gate&step=1d&"+rng)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	a = trendsAnswer{}
	json.Unmarshal([]byte(body), &a)
	cst := time.FixedZone("CST", 8*3600)
	if len(a.Series) != 1 || len(a.Series[0].Time) < 7 {
		t.Fatalf("days: %s", body)
	}
	for i, d := range a.Series[0].Time {
		if l := d.In(cst); l.Hour() != 0 || l.Minute() != 0 {
			t.Fatalf("day %v does not begin at midnight in the site", d)
		}
		var want int64
		for h, n := range entries {
			if !h.Before(d) && h.Before(d.Add(24*time.Hour)) {
				want += int64(n)
			}
		}
		if got := a.Series[0].Entries[i]; got != want {
			t.Fatalf("day %v: %d entries, want %d", d, got, want)
		}
	}

	// CSV: one row per hour and series, the previous period's, and the
	// forecast's hours.
	req, _ := http.NewRequest("GET", base+"api/v1/trends?scope=zone&zone=gate&step=1h&compare=previous&forecast=3h&"+rng, nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := csv.NewReader(resp.Body).ReadAll()
	resp.Body.Close()
	if err != nil || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/csv") {
		t.Fatalf("csv: %v %s", err, resp.Header.Get("Content-Type"))
	}
	if len(recs) != 1+2*7*24+3 || recs[0][6] != "kind" || recs[1][6] != "observed" || recs[len(recs)-1][6] != "forecast" || recs[len(recs)-1][16] == "" {
		t.Fatalf("csv: %d rows, first %v, last %v", len(recs), recs[0], recs[len(recs)-1])
	}

	// Refusals.
	for _, tc := range []struct{ query, msg string }{
		{"step=7m", "step: one of"},
		{"scope=planet", "scope: camera, zone, fence or site"},
		{"zone=a&fence=b", "one or the other"},
		{"scope=camera&zone=gate", "zone needs scope=zone"},
		{"from=2020-01-01T00:00:00Z&to=2026-01-01T00:00:00Z", "longer than 400 days"},
		{"forecast=100h", "forecast: whole hours"},
		{"forecast=90m", "forecast: whole hours"},
		{"metric=happiness", "metric: one of"},
		{"by=colour", "by: key or class"},
		{"compare=next", "compare: previous"},
		{"camera=" + strings.Repeat("x", 300), "longer than 200"},
		{"scope=zone&step=5m&from=" + url.QueryEscape(end.Add(-399*24*time.Hour).Format(time.RFC3339)) + "&to=" + url.QueryEscape(end.Format(time.RFC3339)), "too many points"},
	} {
		code, body := get(t, base+"api/v1/trends?"+tc.query)
		if code != 400 || !strings.Contains(body, tc.msg) {
			t.Errorf("%s: %d %s, want 400 with %q", tc.query, code, body, tc.msg)
		}
	}
}

// TestSessionReportTrends: a supervision report shows the site activity
// of the session's cameras while it ran (a zone's crowd, the camera's
// arrivals) beside the same hours a week before, in HTML and PDF.
func TestSessionReportTrends(t *testing.T) {
	reg := prometheus.NewRegistry()
	st := migratedStore(t, reg)
	seedTrends(t, st, time.Now(), 2)
	sup := supervise.New(supervise.Config{Store: st, Registerer: reg})
	base := runTestServer(t, st, Deps{Store: st, Board: telemetry.NewBoard(), History: st, Trends: st, Supervision: Supervision{Store: st, Rooms: sup},
		Cameras: cameraList{{ID: "cam-1", Name: "Gate", Kind: "fixed"}}, Gatherer: reg, Registerer: reg})
	now := time.Now().UTC()
	body := fmt.Sprintf(`{"title":"Gate walkdown","kind":"inspection","cameras":["cam-1"],"start":%q,"end":%q}`, now.Format(time.RFC3339), now.Add(time.Hour).Format(time.RFC3339))
	code, out := send(t, "POST", base+"api/v1/sessions", "application/json", body, nil)
	if code != 201 {
		t.Fatalf("%d %s", code, out)
	}
	var x supervise.Session
	json.Unmarshal([]byte(out), &x)
	if code, out := send(t, "PATCH", base+"api/v1/sessions/"+x.ID, "application/json", `{"state":"live"}`, nil); code != 200 {
		t.Fatalf("%d %s", code, out)
	}
	// People at the gate while it runs.
	testkit.WaitFor(t, 5*time.Second, "the session under way", func() bool { return time.Since(now) > 1100*time.Millisecond })
	var evs []telemetry.Event
	for i := range 4 {
		evs = append(evs, telemetry.Event{Time: time.Now().Add(-time.Duration(i) * 100 * time.Millisecond), ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "cam-1",
			Data: map[string]any{"zone": "gate", "class": "person", "count": 7 + i}})
	}
	// And a week before, in the same minutes.
	evs = append(evs, telemetry.Event{Time: now.Add(-7 * 24 * time.Hour), ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "cam-1",
		Data: map[string]any{"zone": "gate", "class": "person", "count": 3}})
	if err := st.ImportEvents(t.Context(), evs); err != nil {
		t.Fatal(err)
	}
	if _, err := st.RefreshTrends(t.Context()); err != nil {
		t.Fatal(err)
	}
	code, html := get(t, base+"api/v1/sessions/"+x.ID+"/report.html")
	if code != 200 {
		t.Fatalf("%d %s", code, html)
	}
	for _, want := range []string{"<h2>Site activity</h2>", "cam-1/gate · most inside at once per 5 min", `class="during"`, `class="before"`} {
		if !strings.Contains(html, want) {
			t.Fatalf("the report lacks %q:\n%s", want, html[strings.Index(html, "<h2>Attendance"):])
		}
	}
	code, pdf := get(t, base+"api/v1/sessions/"+x.ID+"/report.pdf")
	if code != 200 || !strings.HasPrefix(pdf, "%PDF") {
		t.Fatalf("pdf: %d", code)
	}
}

// FuzzTrendQuery: any query string is read into a valid selection or
// refused, never a panic; a selection's step is one of the steps, its
// scope one of the scopes and its range at most 400 days.
func FuzzTrendQuery(f *testing.F) {
	for _, q := range []string{"", "scope=zone&zone=gate&step=1h", "step=1d&from=2026-11-01T00:00:00Z&to=2026-12-01T00:00:00Z",
		"zone=a&fence=b", "step=7m", "by=class&class=person&site=cbd", "from=2026-12-01T00:00:00Z&to=2026-11-01T00:00:00Z", "scope=site&step=5m"} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		r, err := http.NewRequest("GET", "/api/v1/trends?"+raw, nil)
		if err != nil {
			return
		}
		q, err := trendQuery(r)
		if err != nil {
			return
		}
		if stepName(q.Step) == "" || !slices.Contains(history.TrendSteps, q.Step) || !slices.Contains([]string{"camera", "zone", "fence", "site"}, q.Scope) ||
			!q.To.After(q.From) || q.To.Sub(q.From) > maxTrendRange {
			t.Fatalf("%q read as %+v", raw, q)
		}
	})
}
