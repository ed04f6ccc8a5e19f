package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	dalerts "github.com/smarteye/smarteye/dashboard/alerts"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// serveAlerts runs a server with a real store and a real alert engine
// holding one configured rule.
func serveAlerts(t *testing.T) (string, *store.Store, *telemetry.Hub) {
	t.Helper()
	reg := prometheus.NewRegistry()
	st, err := store.New(store.Config{URL: storetest.URL(t)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	hub := telemetry.NewHub(nil)
	eng, err := alert.NewEngine(alert.Config{Rules: []alert.Rule{{ID: "works", Name: "Person in the works area", Condition: alert.CondIntrusion, Team: "north"}}},
		st, hub, nil, nil, reg)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := New(Config{Address: "127.0.0.1:0", Version: "test", Auth: testAuth(t)},
		Deps{Store: st, Board: telemetry.NewBoard(), Bus: hub, History: st, Alerts: eng, AlertStore: st, Gatherer: reg, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { srv.Run(ctx); done <- struct{}{} }()
	go func() { eng.Run(ctx); done <- struct{}{} }()
	t.Cleanup(func() { cancel(); <-done; <-done; st.Close() })
	return srv.URL(), st, hub
}

// send makes a request as the test admin with a body and content type.
func send(t *testing.T, method, url, contentType, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, readable(b)
}

// readable is an error's message, or the body as compact JSON.
func readable(b []byte) string {
	var e struct{ Error string }
	if json.Unmarshal(b, &e) == nil && e.Error != "" {
		return e.Error
	}
	var c bytes.Buffer
	if json.Compact(&c, b) == nil {
		return c.String()
	}
	return string(b)
}

func TestRulesAPIRefusesHostileInput(t *testing.T) {
	base, _, _ := serveAlerts(t)
	rules := base + "api/v1/rules"
	_, before := get(t, rules)
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		code                            int
		msg                             string
	}{
		{"not JSON", "POST", "", "application/json", "{id:", nil, 400, "not a rule"},
		{"unknown field", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down","colour":"red"}`, nil, 400, `unknown field "colour"`},
		{"two rules", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down"} {}`, nil, 400, "one rule per request"},
		{"huge", "POST", "", "application/json", `{"id":"x","name":"` + strings.Repeat("a", 20000) + `"}`, nil, 413, "at most 16 KiB"},
		{"invalid", "POST", "", "application/json", `{"id":"x y","name":"","condition":"crowd"}`, nil, 400, "min_count: a crowd rule needs"},
		{"number for a duration", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down","cooldown":30}`, nil, 400, "durations are strings"},
		{"bad schedule", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down","schedule":{"from":"22:00","to":"31:00"}}`, nil, 400, "schedule: to:"},
		{"source", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down","source":"config"}`, nil, 400, "source is set"},
		{"plain text", "POST", "", "text/plain", `{"id":"x","name":"x","condition":"stream_down"}`, nil, 415, "send JSON"},
		{"other origin", "POST", "", "application/json", `{"id":"x","name":"x","condition":"stream_down"}`, map[string]string{"Origin": "https://evil.example"}, 403, "another origin"},
		{"configured rule", "PUT", "/works", "application/json", `{"id":"works","name":"x","condition":"stream_down"}`, nil, 409, "configuration file"},
		{"id mismatch", "PUT", "/a", "application/json", `{"id":"b","name":"x","condition":"stream_down"}`, nil, 400, "the body says"},
		{"missing", "PUT", "/nope", "application/json", `{"name":"x","condition":"stream_down"}`, nil, 404, "POST /api/v1/rules creates"},
		{"delete configured", "DELETE", "/works", "", "", nil, 409, "configuration file"},
		{"delete missing", "DELETE", "/nope", "", "", nil, 404, "no rule"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, tc.method, rules+tc.path, tc.ctype, tc.body, tc.header)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	if _, after := get(t, rules); after != before {
		t.Fatalf("rules changed:\n%s\n%s", before, after)
	}
	// And the good path.
	code, body := send(t, "POST", rules, "application/json", `{"id":"night","name":"Anyone at night","condition":"intrusion","schedule":{"from":"22:00","to":"06:00","timezone":"Asia/Shanghai"},"cooldown":"5m","severity":"critical"}`, nil)
	if code != 201 || !strings.Contains(body, `"source":"api"`) || !strings.Contains(body, `"cooldown":"5m0s"`) {
		t.Fatalf("create: %d %s", code, body)
	}
	if code, _ := send(t, "DELETE", rules+"/night", "", "", nil); code != 204 {
		t.Fatalf("delete: %d", code)
	}
}

func TestAlertStepsRefuseHostileInput(t *testing.T) {
	base, st, hub := serveAlerts(t)
	lat, lon := 22.54, 114.05
	hub.PublishEvent(telemetry.Event{Time: time.Now(), ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "cam", TrackID: 3, Lat: &lat, Lon: &lon,
		Data: map[string]any{"zone": "works", "class": "person"}})
	var as []telemetry.Alert
	deadline := time.Now().Add(10 * time.Second)
	for len(as) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("no alert")
		}
		time.Sleep(20 * time.Millisecond)
		_, body := get(t, base+"api/v1/alerts?status=open&team=north")
		json.Unmarshal([]byte(body), &as)
	}
	id := as[0].ID.String()
	alerts := base + "api/v1/alerts/"
	for _, tc := range []struct {
		name, path, ctype, body string
		header                  map[string]string
		code                    int
		msg                     string
	}{
		{"resolve before ack", id + "/resolve", "", "", nil, 409, "it is open"},
		{"not JSON", id + "/ack", "application/json", "{comment", nil, 400, `send {"comment"`},
		{"unknown field", id + "/ack", "application/json", `{"comment":"x","status":"resolved"}`, nil, 400, "unknown field"},
		{"long comment", id + "/ack", "application/json", `{"comment":"` + strings.Repeat("x", 3000) + `"}`, nil, 400, "at most 2000"},
		{"huge", id + "/ack", "application/json", `{"comment":"` + strings.Repeat("x", 20000) + `"}`, nil, 400, `send {"comment"`},
		{"form post", id + "/ack", "application/x-www-form-urlencoded", "comment=x", nil, 415, "send JSON"},
		{"other origin", id + "/ack", "", "", map[string]string{"Origin": "https://evil.example"}, 403, "another origin"},
		{"no such alert", "00000000-0000-4000-8000-000000000000/ack", "", "", nil, 404, "no alert"},
		{"not an id", "nope/ack", "", "", nil, 404, "UUIDs"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, "POST", alerts+tc.path, tc.ctype, tc.body, tc.header)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	for _, q := range []string{"status=closed", "from=yesterday", "from=2026-11-23T10:00:00Z&to=2026-11-23T09:00:00Z", "limit=0", "team=" + strings.Repeat("t", 200)} {
		if code, _ := get(t, base+"api/v1/alerts?"+q); code != 400 {
			t.Fatalf("?%s: %d", q, code)
		}
	}
	// Nothing changed: the audit trail has the opening alone.
	if log, _ := st.AlertLog(t.Context(), as[0].ID); len(log) != 1 {
		t.Fatalf("audit trail after hostile requests: %+v", log)
	}
	code, body := send(t, "POST", alerts+id+"/ack", "application/json", `{"comment":"on my way"}`, nil)
	if code != 200 || !strings.Contains(body, `"status":"acknowledged"`) || !strings.Contains(body, `"actor":"test"`) {
		t.Fatalf("ack: %d %s", code, body)
	}
	if code, body := send(t, "POST", alerts+id+"/ack", "", "", nil); code != 409 || !strings.Contains(body, "it is acknowledged") {
		t.Fatalf("second ack: %d %s", code, body)
	}
	code, body = get(t, alerts+id)
	var d dalerts.Detail
	if err := json.Unmarshal([]byte(body), &d); code != 200 || err != nil || len(d.Log) != 2 || d.Log[1].Comment != "on my way" || d.Log[1].Actor != "test" {
		t.Fatalf("detail: %d %s", code, body)
	}
	if code, _ := get(t, alerts+id+"/snapshot.jpg"); code != 404 {
		t.Fatalf("snapshot of an alert without one: %d", code)
	}
	// The small map: the spot at the centre of a 320×200 SVG.
	if code, body := get(t, alerts+id+"/map.svg"); code != 200 || !strings.HasPrefix(body, "<svg") || !strings.Contains(body, `<circle cx="160" cy="100"`) {
		t.Fatalf("map: %d %.200s", code, body)
	}
}
