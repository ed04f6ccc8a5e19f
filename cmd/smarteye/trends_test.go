package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// TestTrendsView: the demo's crossing zone has five weeks of generated
// history; a planner's month of it in the Trends page (chromium) draws the
// API's numbers: the range, the previous period and the next 12 hours'
// forecast in its band; a crowd_forecast rule made through the API raises
// an alert ahead of the forecast crowd.
func TestTrendsView(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	admin := logInAs(t, p.url, "admin")

	// The generated past reaches the trends: every one of the last 30 days
	// has people entering the crossing.
	now := time.Now().UTC()
	q := url.Values{"scope": {"zone"}, "zone": {"crossing"}, "step": {"1d"},
		"from": {now.Add(-30 * 24 * time.Hour).Format(time.RFC3339)}, "to": {now.Format(time.RFC3339)}}
	testkit.WaitFor(t, 60*time.Second, "the demo's generated past in the trends", func() bool {
		var a struct {
			Series []struct {
				Key     string  `json:"key"`
				Site    string  `json:"site"`
				Entries []int64 `json:"entries"`
			} `json:"series"`
		}
		if code, _ := admin.do("GET", "api/v1/trends?"+q.Encode(), "", &a); code != 200 || len(a.Series) != 1 {
			return false
		}
		busy := 0
		for _, n := range a.Series[0].Entries {
			if n > 0 {
				busy++
			}
		}
		return a.Series[0].Key == "plaza-north/crossing" && a.Series[0].Site == "futian-cbd" && busy >= 30
	})

	// A rule that looks three days ahead for anyone at all: its alert comes
	// from the forecast, before the crowd.
	rule := `{"id":"crowd-ahead","name":"Crowd ahead on the crossing","condition":"crowd_forecast","zones":["crossing"],"min_count":1,"within":"72h","severity":"info"}`
	if code, body := admin.do("POST", "api/v1/rules", rule, nil); code != 201 {
		t.Fatalf("rule: %d %s", code, body)
	}
	var ahead map[string]any
	testkit.WaitFor(t, 60*time.Second, "an alert ahead of the forecast crowd", func() bool {
		var alerts []map[string]any
		admin.do("GET", "api/v1/alerts?status=open", "", &alerts)
		for _, a := range alerts {
			if a["rule_id"] == "crowd-ahead" {
				ahead = a
				return true
			}
		}
		return false
	})
	if ahead["event_kind"] != "zone.forecast" || !strings.Contains(fmt.Sprint(ahead["message"]), "forecast inside crossing") {
		t.Fatalf("alert %v", ahead)
	}
	t.Logf("alert ahead: %s", ahead["message"])

	// The page.
	shots := artifacts(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/trends.mjs", p.url, testPassword, shots)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser test: %v\n%s", err, stderr.String())
	}
	var seen struct {
		Charts, Forecasts, Cur, Prev, Forecast, Band, APISteps, APIForecast, EntriesDrawn int
		Key, Step, Summary, Note, Tooltip, EntriesNote, APIForecastError                  string
		Errors                                                                            []string
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("the page showed %+v", seen)
	if len(seen.Errors) > 0 {
		t.Errorf("page errors: %v", seen.Errors)
	}
	if seen.Charts != 1 || seen.Key != "plaza-north/crossing" || seen.Step != "1h" || !strings.Contains(seen.Summary, "entries") {
		t.Fatalf("charts: %+v", seen)
	}
	// 30 days of hours, each drawn; the previous 30 beside them.
	if seen.APISteps != 30*24 || seen.Cur != seen.APISteps || seen.Prev != seen.APISteps || seen.EntriesDrawn != seen.APISteps {
		t.Fatalf("drew %d hours and %d previous (entries: %d), the API gave %d", seen.Cur, seen.Prev, seen.EntriesDrawn, seen.APISteps)
	}
	if seen.APIForecast != 12 || seen.Forecast != 12 || seen.Band != 24 || seen.Forecasts != 1 || !strings.Contains(seen.Note, "Forecast") {
		t.Fatalf("forecast: drew %d hours in a band of %d points, the API gave %d (%s)", seen.Forecast, seen.Band, seen.APIForecast, seen.APIForecastError)
	}
	if !strings.Contains(seen.Tooltip, "forecast") || !strings.Contains(seen.EntriesNote, "Forecast drawn for crowd") {
		t.Fatalf("tooltip %q, note %q", seen.Tooltip, seen.EntriesNote)
	}
}
