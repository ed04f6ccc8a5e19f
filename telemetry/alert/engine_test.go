package alert

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

// newStore starts a store on a new database and waits for its schema.
func newStore(t *testing.T, url string) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{URL: url, Log: testLog()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	waitFor(t, 60*time.Second, "store ready", s.Ready)
	return s
}

// runEngine runs an engine until stop or the test's end.
func runEngine(t *testing.T, cfg Config, st Store, hub *telemetry.Hub) (e *Engine, stop func()) {
	t.Helper()
	e, err := NewEngine(cfg, st, hub, func(camera string, at time.Time, track uint64) ([]byte, []byte) {
		return []byte("\xff\xd8jpeg of " + camera), []byte("\xff\xd8thumb")
	}, testLog(), prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { e.Run(ctx); close(done) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return e, stop
}

func intrusion(at time.Time, track uint64) telemetry.Event {
	lat, lon := 22.5395, 114.0546
	return telemetry.Event{Time: at, ID: telemetry.NewUUID(), Kind: "geofence.enter", Site: "site", CameraID: "cam", TrackID: track, Lat: &lat, Lon: &lon,
		Message: fmt.Sprintf("person %d entered Works", track), Data: map[string]any{"fence": "works", "fence_name": "Works", "class": "person", "confidence": 0.8},
		Received: time.Now()}
}

var worksRule = Rule{ID: "works", Name: "Person in the works area", Condition: CondIntrusion, Zones: []string{"works"}, Classes: []string{"person"},
	Severity: "critical", Team: "north"}

func openAlerts(t *testing.T, st *store.Store) []telemetry.Alert {
	t.Helper()
	as, err := st.Alerts(context.Background(), telemetry.AlertQuery{})
	if err != nil {
		t.Fatal(err)
	}
	return as
}

func TestEngineLifecycle(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	hub := telemetry.NewHub(nil)
	feed := hub.Subscribe(100)
	defer feed.Close()
	e, _ := runEngine(t, Config{Rules: []Rule{worksRule}, Tick: 50 * time.Millisecond}, st, hub)
	now := time.Now()
	hub.PublishEvent(intrusion(now, 1))
	waitFor(t, 10*time.Second, "an alert", func() bool { return len(openAlerts(t, st)) == 1 })
	for i := range 5 { // within the cooldown: folded
		hub.PublishEvent(intrusion(now.Add(time.Duration(i+1)*time.Second), uint64(i+2)))
	}
	hub.PublishEvent(telemetry.Event{Time: now, ID: telemetry.NewUUID(), Kind: "geofence.enter", CameraID: "cam", Data: map[string]any{"fence": "works", "class": "car"}})
	waitFor(t, 10*time.Second, "5 folded matches", func() bool { as := openAlerts(t, st); return len(as) == 1 && as[0].Occurrences == 6 })
	a := openAlerts(t, st)[0]
	if a.Status != "open" || a.Severity != "critical" || a.Team != "north" || a.CameraID != "cam" || a.TrackID != 1 || !a.Snapshot || a.Lat == nil || a.Title != worksRule.Name {
		t.Fatalf("alert: %+v", a)
	}
	if j, _ := st.AlertSnapshot(context.Background(), a.ID, false); string(j) != "\xff\xd8jpeg of cam" {
		t.Fatalf("snapshot %q", j)
	}
	// The live feed carried it after it was stored.
	var live []telemetry.Alert
	waitFor(t, 5*time.Second, "the alert on the live feed", func() bool {
		for _, u := range feed.Take(nil) {
			if u.Type == "alert" {
				live = append(live, *u.Alert)
			}
		}
		return len(live) == 1
	})
	if live[0].ID != a.ID {
		t.Fatalf("live alert %v, stored %v", live[0].ID, a.ID)
	}

	ctx := context.Background()
	if _, err := e.Step(ctx, a.ID, telemetry.AlertResolved, "ann", "too soon"); !errors.Is(err, store.ErrTransition) {
		t.Fatalf("resolve before acknowledging: %v", err)
	}
	if _, err := e.Step(ctx, telemetry.NewUUID(), telemetry.AlertAcknowledged, "ann", ""); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unknown alert: %v", err)
	}
	if b, err := e.Step(ctx, a.ID, telemetry.AlertAcknowledged, "ann", "on my way"); err != nil || b.Status != "acknowledged" || b.Actor != "ann" || b.Comment != "on my way" {
		t.Fatalf("ack: %+v %v", b, err)
	}
	if _, err := e.Step(ctx, a.ID, telemetry.AlertAcknowledged, "bob", ""); !errors.Is(err, store.ErrTransition) {
		t.Fatalf("second ack: %v", err)
	}
	if b, err := e.Step(ctx, a.ID, telemetry.AlertResolved, "ann", "escorted out"); err != nil || b.Status != "resolved" {
		t.Fatalf("resolve: %+v %v", b, err)
	}
	log, err := st.AlertLog(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	var steps []string
	for _, s := range log {
		steps = append(steps, s.Action+":"+s.Actor+":"+s.Comment)
	}
	if got := strings.Join(steps, " "); got != "opened:rule:works: acknowledged:ann:on my way resolved:ann:escorted out" {
		t.Fatalf("audit trail: %s", got)
	}
	// Resolved: the next intrusion is a new incident, cooldown or not.
	hub.PublishEvent(intrusion(time.Now(), 99))
	waitFor(t, 10*time.Second, "a second alert", func() bool { return len(openAlerts(t, st)) == 2 })
}

func TestRulesThroughTheEngine(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	hub := telemetry.NewHub(nil)
	e, stop := runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: "http://127.0.0.1:1/"}}}, st, hub)
	ctx := context.Background()
	if _, err := e.PutRule(ctx, Rule{ID: "works", Name: "x", Condition: CondStreamDown}, false); !errors.Is(err, ErrReadOnly) {
		t.Fatalf("config rule changed: %v", err)
	}
	var inv *InvalidError
	if _, err := e.PutRule(ctx, Rule{ID: "bad", Name: "x", Condition: CondCrowd}, true); !errors.As(err, &inv) {
		t.Fatalf("invalid rule: %v", err)
	}
	if _, err := e.PutRule(ctx, Rule{ID: "down", Name: "Stream down", Condition: CondStreamDown, Channels: []string{"pager"}}, true); !errors.As(err, &inv) {
		t.Fatalf("unknown channel: %v", err)
	}
	r, err := e.PutRule(ctx, Rule{ID: "down", Name: "Stream down", Condition: CondStreamDown, Channels: []string{"ops"}}, true)
	if err != nil || r.Source != "api" || r.Severity != "warning" {
		t.Fatalf("create: %+v %v", r, err)
	}
	if _, err := e.PutRule(ctx, r, true); !errors.Is(err, ErrExists) {
		t.Fatalf("create twice: %v", err)
	}
	if len(e.Rules()) != 2 {
		t.Fatalf("rules: %+v", e.Rules())
	}
	// A restarted engine reads the API's rules back.
	stop()
	e2, _ := runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: "http://127.0.0.1:1/"}}}, st, hub)
	waitFor(t, 10*time.Second, "rules loaded", func() bool { _, ok := e2.Rule("down"); return ok })
	if err := e2.DeleteRule(ctx, "down"); err != nil {
		t.Fatal(err)
	}
	if err := e2.DeleteRule(ctx, "down"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("delete twice: %v", err)
	}
}

// slowRulesStore holds the engine's first read of the stored rules until
// released, and says when the engine goes on to the recent alerts (which it
// reads only after it has taken a read of the rules).
type slowRulesStore struct {
	Store
	reading, release, recent chan struct{}
	once, recentOnce         sync.Once
}

func (s *slowRulesStore) AlertRules(ctx context.Context) ([]json.RawMessage, error) {
	first := false
	s.once.Do(func() { first = true })
	raw, err := s.Store.AlertRules(ctx)
	if first {
		close(s.reading)
		<-s.release
	}
	return raw, err
}

func (s *slowRulesStore) RecentAlerts(ctx context.Context, since time.Time) ([]telemetry.Alert, error) {
	s.recentOnce.Do(func() { close(s.recent) })
	return s.Store.RecentAlerts(ctx, since)
}

// A rule saved through the API while the engine is still reading the
// stored rules at start is not lost when that read lands.
func TestRuleSavedDuringLoad(t *testing.T) {
	st := &slowRulesStore{Store: newStore(t, storetest.URL(t)), reading: make(chan struct{}), release: make(chan struct{}), recent: make(chan struct{})}
	e, _ := runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: "http://127.0.0.1:1/"}}, Tick: 50 * time.Millisecond}, st, telemetry.NewHub(nil))
	<-st.reading // the engine has read no rules
	if _, err := e.PutRule(context.Background(), Rule{ID: "down", Name: "Stream down", Condition: CondStreamDown}, true); err != nil {
		t.Fatal(err)
	}
	close(st.release)
	select {
	case <-st.recent:
	case <-time.After(10 * time.Second):
		t.Fatal("the engine never finished loading")
	}
	if _, ok := e.Rule("down"); !ok {
		t.Fatalf("the rule saved during the load is gone: %+v", e.Rules())
	}
}

// receiver is a webhook endpoint that fails its first fail requests.
type receiver struct {
	mu       sync.Mutex
	fail     int
	got      []*http.Request
	bodies   [][]byte
	answer   string
	accepted map[string]int // delivery id → times taken with 2xx
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	rc.got = append(rc.got, r)
	rc.bodies = append(rc.bodies, b)
	if rc.fail > 0 {
		rc.fail--
		http.Error(w, "busy", http.StatusServiceUnavailable)
		return
	}
	if rc.accepted == nil {
		rc.accepted = map[string]int{}
	}
	rc.accepted[r.Header.Get("X-Smarteye-Delivery")]++
	w.Write([]byte(rc.answer))
}

func (rc *receiver) count() (requests, accepted int) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for _, n := range rc.accepted {
		accepted += n
	}
	return len(rc.got), accepted
}

func TestWebhookRetriedUntilTakenOnce(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	rc := &receiver{fail: 2}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	hub := telemetry.NewHub(nil)
	runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: srv.URL + "/hook", Secret: "s3cret"}}}, st, hub)
	hub.PublishEvent(intrusion(time.Now(), 1))
	waitFor(t, 20*time.Second, "the third attempt taken", func() bool { _, ok := rc.count(); return ok == 1 })
	as := openAlerts(t, st)
	ds, err := st.AlertDeliveries(context.Background(), as[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the delivery marked", func() bool {
		ds, _ = st.AlertDeliveries(context.Background(), as[0].ID)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
	if ds[0].Attempts != 3 || ds[0].Channel != "ops" || ds[0].Action != "opened" {
		t.Fatalf("delivery: %+v", ds[0])
	}
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.got) != 3 {
		t.Fatalf("%d requests, want 3", len(rc.got))
	}
	ids := map[string]bool{}
	for i, r := range rc.got {
		ids[r.Header.Get("X-Smarteye-Delivery")] = true
		ts := r.Header.Get("X-Smarteye-Timestamp")
		want := "sha256=" + Sign("s3cret", ts, rc.bodies[i])
		if got := r.Header.Get("X-Smarteye-Signature"); !hmac.Equal([]byte(got), []byte(want)) {
			t.Fatalf("signature %q, want %q", got, want)
		}
		var n Notice
		if err := json.Unmarshal(rc.bodies[i], &n); err != nil || n.Action != "opened" || n.Alert.ID != as[0].ID || n.DeliveryID != ds[0].DeliveryID.String() {
			t.Fatalf("body %s: %v", rc.bodies[i], err)
		}
	}
	if len(ids) != 1 {
		t.Fatalf("the retries carried %d delivery ids, want one", len(ids))
	}
}

// staleOutboxStore hands the deliverer a read of the outbox made while a
// delivery was on its way, only after that delivery has been marked
// delivered and the deliverer has recorded the attempt's end: the read
// still says pending.
type staleOutboxStore struct {
	Store
	sending, marked chan struct{}
	stale           chan struct{} // closed when a read during the delivery has it
	ended           func(id int64) bool
	staleOnce, once sync.Once
	handed          atomic.Bool  // the stale read has been returned
	after           atomic.Int64 // reads begun after that
}

func (s *staleOutboxStore) DueDeliveries(ctx context.Context, limit int) ([]telemetry.Delivery, error) {
	if s.handed.Load() {
		s.after.Add(1)
	}
	ds, err := s.Store.DueDeliveries(ctx, limit)
	select {
	case <-s.sending:
		select {
		case <-s.marked:
		default:
			if len(ds) > 0 {
				s.staleOnce.Do(func() { close(s.stale) }) // the receiver may answer now
				<-s.marked
				// Not while the attempt is still in flight (a guard of its
				// own): once its end is recorded.
				for deadline := time.Now().Add(testkit.Scale(10 * time.Second)); !s.ended(ds[0].ID) && time.Now().Before(deadline); {
					time.Sleep(time.Millisecond)
				}
				defer s.handed.Store(true)
			}
		}
	default:
	}
	return ds, err
}

func (s *staleOutboxStore) MarkDelivered(ctx context.Context, id int64, attempts int) error {
	err := s.Store.MarkDelivered(ctx, id, attempts)
	s.once.Do(func() { close(s.marked) })
	return err
}

// attemptEnded is whether d has recorded the end of delivery id's attempt.
func attemptEnded(d *Deliverer, id int64) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	_, ok := d.finished[id]
	return ok && !d.inflight[id]
}

// inFlight is how many attempts d has under way.
func inFlight(d *Deliverer) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.inflight)
}

// outboxReads is how many reads of the outbox d has begun.
func outboxReads(d *Deliverer) uint64 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.reads
}

// holdingReceiver takes every request, answering only once the outbox has
// been read while the request was under way (or after 5 s, when no read
// came: the test then fails).
type holdingReceiver struct {
	receiver
	sending, stale chan struct{}
	once           sync.Once
}

func (rc *holdingReceiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rc.once.Do(func() { close(rc.sending) })
	select {
	case <-rc.stale:
	case <-time.After(testkit.Scale(5 * time.Second)):
	}
	rc.receiver.ServeHTTP(w, r)
}

// A read of the outbox made while a delivery is on its way does not send
// it again once it has been taken.
func TestDeliveryNotRepeatedFromAStaleRead(t *testing.T) {
	sending, stale := make(chan struct{}), make(chan struct{})
	st := &staleOutboxStore{Store: newStore(t, storetest.URL(t)), sending: sending, stale: stale, marked: make(chan struct{})}
	rc := &holdingReceiver{sending: sending, stale: stale}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	hub := telemetry.NewHub(nil)
	e, _ := runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: srv.URL}}}, st, hub)
	st.ended = func(id int64) bool { return attemptEnded(e.deliver, id) }
	hub.PublishEvent(intrusion(time.Now(), 1))
	waitFor(t, 20*time.Second, "the delivery taken", func() bool { _, a := rc.count(); return a >= 1 })
	select {
	case <-stale:
	default:
		t.Fatal("the outbox was not read while the delivery was on its way")
	}
	// A read begun after the stale one was handed over: the deliverer has
	// gone through the stale read and started (or not) what it holds.
	waitFor(t, 10*time.Second, "a read of the outbox after the stale one", func() bool { return st.after.Load() >= 1 })
	if n, a := rc.count(); n != 1 || a != 1 || inFlight(e.deliver) != 0 {
		t.Fatalf("%d requests (%d taken, %d under way), want the delivery sent once", n, a, inFlight(e.deliver))
	}
}

func TestRobotFormats(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	ding := &receiver{answer: `{"errcode":0,"errmsg":"ok"}`}
	wecom := &receiver{answer: `{"errcode":93000,"errmsg":"invalid webhook url"}`}
	ds, ws := httptest.NewServer(ding), httptest.NewServer(wecom)
	defer ds.Close()
	defer ws.Close()
	hub := telemetry.NewHub(nil)
	runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{
		{Name: "ding", Type: "webhook", Format: "dingtalk", URL: ds.URL + "/robot/send?access_token=tok", Secret: "SECabc"},
		{Name: "wecom", Type: "webhook", Format: "wecom", URL: ws.URL + "/cgi-bin/webhook/send?key=k"},
	}}, st, hub)
	hub.PublishEvent(intrusion(time.Now(), 1))
	waitFor(t, 20*time.Second, "both robots called", func() bool {
		_, a := ding.count()
		n, _ := wecom.count()
		return a == 1 && n >= 2
	})
	ding.mu.Lock()
	r, body := ding.got[0], ding.bodies[0]
	ding.mu.Unlock()
	q := r.URL.Query()
	m := hmac.New(sha256.New, []byte("SECabc"))
	m.Write([]byte(q.Get("timestamp") + "\n" + "SECabc"))
	if q.Get("access_token") != "tok" || q.Get("sign") != base64.StdEncoding.EncodeToString(m.Sum(nil)) {
		t.Fatalf("dingtalk query %v", q)
	}
	var dm struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Title, Text string }
	}
	if err := json.Unmarshal(body, &dm); err != nil || dm.MsgType != "markdown" || dm.Markdown.Title != "[CRITICAL] Person in the works area" || !strings.Contains(dm.Markdown.Text, "person 1 entered Works") {
		t.Fatalf("dingtalk body %s", body)
	}
	wecom.mu.Lock()
	body = wecom.bodies[0]
	wecom.mu.Unlock()
	var wm struct {
		MsgType  string `json:"msgtype"`
		Markdown struct{ Content string }
	}
	if err := json.Unmarshal(body, &wm); err != nil || wm.MsgType != "markdown" || !strings.Contains(wm.Markdown.Content, `<font color="warning">[CRITICAL]`) {
		t.Fatalf("wecom body %s", body)
	}
	// WeCom answered 200 with an error code: not delivered, retried.
	as := openAlerts(t, st)
	dl, _ := st.AlertDeliveries(context.Background(), as[0].ID)
	for _, d := range dl {
		if d.Channel == "wecom" && (d.Status != "pending" || !strings.Contains(d.LastError, "errcode 93000")) {
			t.Fatalf("wecom delivery %+v", d)
		}
	}
}

func TestRestartDeliversOnce(t *testing.T) {
	url := storetest.URL(t)
	st := newStore(t, url)
	rc := &receiver{fail: 1 << 30} // down until the restart
	srv := httptest.NewServer(rc)
	defer srv.Close()
	cfg := Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "ops", Type: "webhook", URL: srv.URL}}}
	hub := telemetry.NewHub(nil)
	_, stop := runEngine(t, cfg, st, hub)
	hub.PublishEvent(intrusion(time.Now(), 1))
	waitFor(t, 10*time.Second, "a failed attempt", func() bool { n, _ := rc.count(); return n >= 1 })
	stop()
	rc.mu.Lock()
	rc.fail = 0
	rc.mu.Unlock()
	// The engine starts again; the same incident goes on (within the
	// cooldown): it folds, it does not open a second alert.
	hub2 := telemetry.NewHub(nil)
	e2, _ := runEngine(t, cfg, st, hub2)
	hub2.PublishEvent(intrusion(time.Now(), 2))
	waitFor(t, 30*time.Second, "the delivery after the restart", func() bool { _, a := rc.count(); return a == 1 })
	waitFor(t, 10*time.Second, "the fold", func() bool { as := openAlerts(t, st); return len(as) == 1 && as[0].Occurrences == 2 })
	waitFor(t, 10*time.Second, "the delivery marked", func() bool {
		ds, _ := st.AlertDeliveries(context.Background(), openAlerts(t, st)[0].ID)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
	// Two more reads of the outbox begun: the one under way when the
	// delivery was marked (which may have held it still pending) has been
	// gone through; nothing is sent again.
	r0 := outboxReads(e2.deliver)
	waitFor(t, 10*time.Second, "two more reads of the outbox", func() bool { return outboxReads(e2.deliver) >= r0+2 })
	if _, a := rc.count(); a != 1 || inFlight(e2.deliver) != 0 {
		t.Fatalf("taken %d times (%d under way), want once", a, inFlight(e2.deliver))
	}
	for id, n := range rc.accepted {
		if n != 1 {
			t.Fatalf("delivery %s taken %d times", id, n)
		}
	}
}

func TestEscalation(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	rc := &receiver{}
	srv := httptest.NewServer(rc)
	defer srv.Close()
	r := worksRule
	r.Escalation = Escalation{After: Duration(time.Second), Team: "supervisors", Channels: []string{"boss"}}
	hub := telemetry.NewHub(nil)
	runEngine(t, Config{Rules: []Rule{r}, Tick: 100 * time.Millisecond, Channels: []Channel{{Name: "boss", Type: "webhook", URL: srv.URL, Actions: []string{"escalated"}}}}, st, hub)
	hub.PublishEvent(intrusion(time.Now(), 1))
	waitFor(t, 20*time.Second, "escalated", func() bool {
		as := openAlerts(t, st)
		return len(as) == 1 && as[0].EscalatedTeam == "supervisors"
	})
	waitFor(t, 10*time.Second, "the escalation delivered", func() bool { _, a := rc.count(); return a == 1 })
	rc.mu.Lock()
	var n Notice
	json.Unmarshal(rc.bodies[0], &n)
	rc.mu.Unlock()
	if n.Action != "escalated" || n.Alert.EscalatedTeam != "supervisors" {
		t.Fatalf("notice %+v", n)
	}
	as, _ := st.Alerts(context.Background(), telemetry.AlertQuery{Team: "supervisors", Status: []string{"open"}})
	if len(as) != 1 {
		t.Fatalf("the escalated team's alerts: %d", len(as))
	}
}

func TestMQTTQoS1(t *testing.T) {
	broker, err := exec.LookPath("mosquitto")
	if err != nil {
		t.Fatal("mosquitto is not installed: run deploy/install-deps.sh")
	}
	sub, err := exec.LookPath("mosquitto_sub")
	if err != nil {
		t.Fatal("mosquitto_sub is not installed: run deploy/install-deps.sh")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	conf := filepath.Join(dir, "mosquitto.conf")
	os.WriteFile(conf, fmt.Appendf(nil, "listener %d 127.0.0.1\nallow_anonymous true\npersistence false\n", port), 0o644)
	// Verbose: the broker's log says when the subscriber's subscription is
	// in place.
	blog := &lockedBuffer{}
	b := exec.Command(broker, "-v", "-c", conf)
	b.Stderr = blog
	if err := b.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { b.Process.Kill(); b.Wait() }()
	waitFor(t, 10*time.Second, "the broker", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	// An independent subscriber at QoS 1: it prints the QoS it received
	// the message with (the lower of the publisher's and its own).
	out := &strings.Builder{}
	s := exec.Command(sub, "-h", "127.0.0.1", "-p", fmt.Sprint(port), "-q", "1", "-t", "smarteye/alerts/#", "-C", "1", "-W", "60", "-F", "%q %t %p")
	s.Stdout = out
	s.Stderr = os.Stderr
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	// Subscribed before the alert (a retained message would hide a QoS 0 publish).
	waitFor(t, 10*time.Second, "the subscription", func() bool { return strings.Contains(blog.String(), "Sending SUBACK to") })
	st := newStore(t, storetest.URL(t))
	hub := telemetry.NewHub(nil)
	runEngine(t, Config{Rules: []Rule{worksRule}, Channels: []Channel{{Name: "bus", Type: "mqtt", Broker: fmt.Sprintf("tcp://127.0.0.1:%d", port)}}}, st, hub)
	hub.PublishEvent(intrusion(time.Now(), 1))
	if err := s.Wait(); err != nil {
		t.Fatalf("mosquitto_sub: %v (%s); broker log:\n%s", err, out, blog)
	}
	qos, rest, _ := strings.Cut(strings.TrimSpace(out.String()), " ")
	topic, payload, _ := strings.Cut(rest, " ")
	if qos != "1" || topic != "smarteye/alerts/site/north/critical" {
		t.Fatalf("received %q", out)
	}
	var n Notice
	if err := json.Unmarshal([]byte(payload), &n); err != nil || n.Action != "opened" || n.Alert.Title != worksRule.Name || n.DeliveryID == "" {
		t.Fatalf("payload %s: %v", payload, err)
	}
	as := openAlerts(t, st)
	waitFor(t, 10*time.Second, "the delivery marked", func() bool {
		ds, _ := st.AlertDeliveries(context.Background(), as[0].ID)
		return len(ds) == 1 && ds[0].Status == "delivered"
	})
}

// TestDatabaseAway: alerts matched while PostgreSQL is down wait in
// memory (counted), are stored when it returns, and only then published:
// none lost, none published unstored, folds kept.
func TestDatabaseAway(t *testing.T) {
	c := storetest.NewCluster(t)
	st := newStore(t, c.URL())
	hub := telemetry.NewHub(nil)
	feed := hub.Subscribe(100)
	defer feed.Close()
	e, _ := runEngine(t, Config{Rules: []Rule{worksRule}, Tick: 100 * time.Millisecond}, st, hub)
	waitFor(t, 10*time.Second, "rules loaded", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return e.loaded })
	if out, err := c.PgCtl(t.Context(), "stop", "-m", "immediate"); err != nil {
		t.Fatalf("pg_ctl stop: %v: %s", err, out)
	}
	hub.PublishEvent(intrusion(time.Now(), 1))
	hub.PublishEvent(intrusion(time.Now(), 2)) // folded while waiting
	waitFor(t, 20*time.Second, "the alert waiting for the database", func() bool { e.mu.Lock(); defer e.mu.Unlock(); return len(e.waiting) == 1 })
	for _, u := range feed.Take(nil) {
		if u.Type == "alert" {
			t.Fatal("an alert was published before it was stored")
		}
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 60*time.Second, "the alert stored with both matches", func() bool {
		as, err := st.Alerts(context.Background(), telemetry.AlertQuery{})
		return err == nil && len(as) == 1 && as[0].Occurrences == 2
	})
	waitFor(t, 5*time.Second, "the alert published", func() bool {
		for _, u := range feed.Take(nil) {
			if u.Type == "alert" {
				return true
			}
		}
		return false
	})
}

// lockedBuffer collects a process's output while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
