package main

import (
	"context"
	"encoding/json"
	"fmt"
	"image/jpeg"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard/alerts"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

const fieldPassword = "field-password-1"

// alertConfig writes a configuration with the test admin, a field user
// "ann" in team plaza, and the given alerts section (YAML, indented).
func alertConfig(t *testing.T, alerts string) string {
	t.Helper()
	admin, err := auth.HashPassword(testPassword)
	if err != nil {
		t.Fatal(err)
	}
	ann, err := auth.HashPassword(fieldPassword)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "smarteye.yml")
	cfg := fmt.Sprintf("auth:\n  users:\n    - {name: admin, role: admin, password_hash: %q}\n    - {name: ann, role: field, team: plaza, password_hash: %q}\n%s", admin, ann, alerts)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestFieldPageInBrowser: the demo's camera shows real pedestrians; one
// walks into the works area → the field page on a phone shows the alert
// live → acknowledged there → stored with its audit trail, and the
// command centre's alert panel shows it acknowledged.
func TestFieldPageInBrowser(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--config", alertConfig(t, ""), "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	logIn(t, p.url)
	shots := artifacts(t)
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/field.mjs", p.url, testPassword, "ann", fieldPassword, shots)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("browser test: %v\n%s\n%s", err, stderr.String(), p.log.String())
	}
	var seen struct {
		Alert, Team, Title, Distance, FieldState, PanelClass, PanelText, PanelTitle string
		ShownAfterEventMs, ShownAfterReceivedMs                                     float64
		Beeps, ThumbWidth, PageBytes                                                int
		MeOnMap, ResolveShown, LoginHidden, EmptyTruthful                           bool
		MapCenter                                                                   [2]float64
	}
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	t.Logf("the pages showed %s", out)
	if !seen.EmptyTruthful {
		t.Errorf("the field page's \"no open alerts\" line disagrees with its list: %s", out)
	}
	if !seen.LoginHidden || seen.Title != "Person in the plaza works area" || !strings.Contains(seen.Team, "team plaza") || seen.Beeps < 1 || seen.ThumbWidth != 320 ||
		!strings.HasSuffix(seen.Distance, " m NE") || !seen.MeOnMap {
		t.Fatalf("field page: %+v", seen)
	}
	if seen.FieldState != "acknowledged by ann — “on my way” · camera plaza-north" || !seen.ResolveShown {
		t.Fatalf("after acknowledging: %+v", seen)
	}
	if !strings.Contains(seen.PanelClass, "acknowledged") || !strings.Contains(seen.PanelText, "acknowledged by ann") || seen.PanelTitle != "Plaza north" {
		t.Fatalf("dashboard alert panel: %+v", seen)
	}
	if seen.PageBytes > 200_000 {
		t.Fatalf("the field page loaded %d bytes before its first alert: too heavy for a slow link", seen.PageBytes)
	}
	// Persisted: the state, the audit trail, the evidence.
	var d alerts.Detail
	if code := getJSON(t, p.url+"api/v1/alerts/"+seen.Alert, &d); code != 200 {
		t.Fatalf("alert: %d", code)
	}
	var steps []string
	for _, s := range d.Log {
		steps = append(steps, s.Action+":"+s.Actor+":"+s.Comment)
	}
	if d.Status != "acknowledged" || d.CameraID != "plaza-north" || d.Team != "plaza" || d.Lat == nil || !d.Snapshot ||
		strings.Join(steps, " ") != "opened:rule:works-intrusion: acknowledged:ann:on my way" {
		t.Fatalf("stored alert: %+v, trail %v", d.Alert, steps)
	}
	resp, err := http.Get(p.url + "api/v1/alerts/" + seen.Alert + "/snapshot.jpg")
	if err != nil {
		t.Fatal(err)
	}
	img, err := jpeg.Decode(resp.Body)
	resp.Body.Close()
	if err != nil || img.Bounds().Dx() != 768 {
		t.Fatalf("snapshot: %v %v", err, img)
	}
	if d, _ := json.Marshal(seen.MapCenter); d == nil || seen.MapCenter[0] < 114.054 || seen.MapCenter[0] > 114.056 {
		t.Fatalf("the map did not fly to the alert: %v", seen.MapCenter)
	}
}

// hook is a webhook receiver that refuses everything until open, and
// counts what it took per delivery id.
type hook struct {
	mu      sync.Mutex
	open    bool
	tries   int
	taken   map[string]int
	actions []string
}

func (h *hook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	h.mu.Lock()
	defer h.mu.Unlock()
	h.tries++
	if !h.open {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	var n struct {
		Action string
		Alert  struct {
			RuleID string `json:"rule_id"`
		}
	}
	json.Unmarshal(b, &n)
	h.taken[r.Header.Get("X-Smarteye-Delivery")]++
	h.actions = append(h.actions, n.Action+":"+n.Alert.RuleID)
}

func (h *hook) state() (tries int, taken map[string]int, actions []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	m := map[string]int{}
	for k, v := range h.taken {
		m[k] = v
	}
	return h.tries, m, append([]string(nil), h.actions...)
}

// TestAlertDeliveredOnceAcrossKill: smarteye is SIGKILLed while a webhook
// keeps failing; after the restart the alert reaches it, once, and the
// same incident going on does not open a second alert.
func TestAlertDeliveredOnceAcrossKill(t *testing.T) {
	h := &hook{taken: map[string]int{}}
	srv := httptest.NewServer(h)
	defer srv.Close()
	cfg := alertConfig(t, fmt.Sprintf("alerts:\n  channels:\n    - {name: ops, type: webhook, url: %q}\n", srv.URL+"/hook"))
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--config", cfg, "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	logIn(t, p.url)
	// drone-1's patrol crosses the crane's keep-out fence within seconds;
	// kill smarteye once the outbox holds a failed attempt of that alert
	// (other alerts may fail first, and a kill between the refusal and its
	// record would lose the count, not the delivery).
	waitFor(t, 120*time.Second, "a failed delivery of the drone's breach recorded", func() bool {
		var as []map[string]any
		getJSON(t, p.url+"api/v1/alerts?limit=100", &as)
		for _, a := range as {
			if a["rule_id"] != "drone-breach" || a["vehicle_id"] != "drone-1" {
				continue
			}
			var d alerts.Detail
			getJSON(t, p.url+"api/v1/alerts/"+a["id"].(string), &d)
			for _, x := range d.Deliveries {
				if x.Channel == "ops" && x.Status == "pending" && x.Attempts >= 1 {
					return true
				}
			}
		}
		return false
	})
	p.cmd.Process.Kill()
	p.cmd.Wait()
	h.mu.Lock()
	h.open = true
	h.mu.Unlock()
	p2 := start(t, "demo", "--config", cfg, "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p2)
	logIn(t, p2.url)
	waitFor(t, 60*time.Second, "the delivery after the restart", func() bool { _, taken, _ := h.state(); return len(taken) >= 1 })
	// The drone flies its route again from the start: the same breach,
	// within the cooldown, folds into the same alert.
	var breaches []map[string]any
	waitFor(t, 90*time.Second, "the breach seen again after the restart", func() bool {
		breaches = nil
		getJSON(t, p2.url+"api/v1/alerts?limit=100", &breaches)
		n := 0
		for _, a := range breaches {
			if a["rule_id"] == "drone-breach" && a["vehicle_id"] == "drone-1" {
				n++
				if a["occurrences"].(float64) >= 2 {
					return true
				}
			}
		}
		return false
	})
	n := 0
	var id string
	for _, a := range breaches {
		if a["rule_id"] == "drone-breach" && a["vehicle_id"] == "drone-1" {
			n++
			id = a["id"].(string)
		}
	}
	if n != 1 {
		t.Fatalf("%d alerts for drone-1's breach, want one (the restart must keep the cooldown)", n)
	}
	time.Sleep(2 * time.Second) // another outbox poll or two: nothing is sent again
	_, taken, actions := h.state()
	for d, k := range taken {
		if k != 1 {
			t.Fatalf("delivery %s taken %d times", d, k)
		}
	}
	breach := 0
	for _, a := range actions {
		if a == "opened:drone-breach" {
			breach++
		}
	}
	var d alerts.Detail
	getJSON(t, p2.url+"api/v1/alerts/"+id, &d)
	delivered := 0
	for _, x := range d.Deliveries {
		if x.Channel == "ops" && x.Status == "delivered" && x.Attempts >= 2 {
			delivered++
		}
	}
	if delivered != 1 || breach < 1 {
		t.Fatalf("deliveries %+v; webhook took %v", d.Deliveries, actions)
	}
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor
