package supervise_test

import (
	"context"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/supervise"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{URL: storetest.URL(t), Log: slog.New(slog.DiscardHandler)}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	testkit.WaitFor(t, 30*time.Second, "the store ready", s.Ready)
	return s
}

// readyLooks counts the scheduler's looks at whether the store is ready.
type readyLooks struct {
	*store.Store
	n atomic.Int64
}

func (r *readyLooks) Ready() bool {
	r.n.Add(1)
	return r.Store.Ready()
}

// The scheduler waits for the store: while the migrations have not run
// (a first start), it neither fails nor logs; then it checks.
func TestSchedulerWaitsForTheStore(t *testing.T) {
	s, err := store.New(store.Config{URL: storetest.URL(t), Log: slog.New(slog.DiscardHandler)}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var logged syncBuffer
	looks := &readyLooks{Store: s}
	m := supervise.New(supervise.Config{Store: looks, Bus: telemetry.NewHub(nil), Interval: 20 * time.Millisecond, Log: slog.New(slog.NewTextHandler(&logged, nil))})
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	// Ten intervals with no store (the scheduler looked ten times, and went
	// on after the tenth look): nothing may happen.
	testkit.WaitFor(t, 10*time.Second, "eleven looks at the store", func() bool { return looks.n.Load() >= 11 })
	if n := supervise.Failures(m); n != 0 || logged.String() != "" {
		t.Fatalf("%v failures before the store was ready:\n%s", n, logged.String())
	}
	// The store migrates; a session due now goes live by the scheduler.
	sctx, scancel := context.WithCancel(t.Context())
	sdone := make(chan struct{})
	go func() { s.Run(sctx); close(sdone) }()
	defer func() { scancel(); <-sdone }()
	testkit.WaitFor(t, 30*time.Second, "the store ready", s.Ready)
	now := time.Now()
	sess, err := s.CreateSession(t.Context(), supervise.Session{ID: "due", Site: "site", Title: "Pour", Kind: "inspection", Cameras: []string{"a"},
		Start: now.Add(-time.Second), End: now.Add(time.Hour), Invited: []string{"pat"}, State: supervise.Scheduled, CreatedBy: "sue"}, supervise.Change{Actor: "sue"})
	if err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(testkit.Scale(10 * time.Second)); ; time.Sleep(20 * time.Millisecond) {
		got, err := s.Sessions(t.Context(), supervise.Query{Open: true})
		if err == nil && len(got) == 1 && got[0].ID == sess.ID && got[0].State == supervise.Live {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the session did not go live: %v %v\n%s", got, err, logged.String())
		}
	}
	if n := supervise.Failures(m); n != 0 {
		t.Fatalf("%v failures", n)
	}
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

type recorder struct {
	mu     sync.Mutex
	events []telemetry.Event
	holds  map[string]time.Time
}

func (r *recorder) event(e telemetry.Event) {
	r.mu.Lock()
	r.events = append(r.events, e)
	r.mu.Unlock()
}

func (r *recorder) hold(camera string, until time.Time) bool {
	r.mu.Lock()
	r.holds[camera] = until
	r.mu.Unlock()
	return true
}

func (r *recorder) kinds() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var k []string
	for _, e := range r.events {
		k = append(k, e.Kind+":"+e.CameraID)
	}
	return k
}

// drain returns the room's messages so far.
func drain(ch <-chan supervise.Message) []string {
	var out []string
	for {
		select {
		case m := <-ch:
			out = append(out, m.Type)
		default:
			return out
		}
	}
}

// The scheduler's life of a session: live on time with its cameras held
// recording and everyone told; a camera's drop told once, and its return;
// ended on time.
func TestSessionLifecycle(t *testing.T) {
	st := newStore(t)
	hub := telemetry.NewHub(nil)
	rec := &recorder{holds: map[string]time.Time{}}
	m := supervise.New(supervise.Config{Store: st, Bus: hub, Event: rec.event, Hold: rec.hold, PostRoll: 20 * time.Second})
	ctx := t.Context()
	now := time.Now().UTC()
	start, end := now.Add(time.Second), now.Add(time.Hour)
	if _, err := st.CreateSession(ctx, supervise.Session{ID: "s", Site: "site", Title: "Pour inspection", Kind: "inspection", Cameras: []string{"a", "b"},
		Start: start, End: end, Invited: []string{"pat"}, State: supervise.Scheduled, CreatedBy: "sue"}, supervise.Change{Actor: "sue"}); err != nil {
		t.Fatal(err)
	}
	hub.PublishCamera(telemetry.Camera{ID: "a", Status: "live"})
	hub.PublishCamera(telemetry.Camera{ID: "b", Status: "live"})
	room, leave := m.Subscribe("s", "sue")
	defer leave()
	_, leave2 := m.Subscribe("s", "pat")
	if p := m.Present("s"); p.Browsers != 2 || !slices.Equal(p.People, []string{"pat", "sue"}) {
		t.Errorf("present %+v", p)
	}
	leave2()
	drain(room)

	// Not yet.
	if err := m.Check(ctx, now); err != nil {
		t.Fatal(err)
	}
	if len(rec.kinds()) != 0 {
		t.Fatalf("told before the start: %v", rec.kinds())
	}
	// On time.
	if err := m.Check(ctx, start); err != nil {
		t.Fatal(err)
	}
	s, _ := st.Session(ctx, "s")
	if s.State != supervise.Live || s.StartedAt == nil || !s.StartedAt.Equal(start.Truncate(time.Microsecond)) {
		t.Fatalf("after the start: %+v", s)
	}
	if k := rec.kinds(); !slices.Equal(k, []string{"session.live:"}) {
		t.Fatalf("told %v", k)
	}
	if e := rec.events[0]; e.Data["session"] != "s" || !slices.Equal(e.Data["invited"].([]string), []string{"pat"}) || e.Site != "site" {
		t.Errorf("the live event %+v", e)
	}
	for _, c := range []string{"a", "b"} {
		if u := rec.holds[c]; !u.Equal(end.Truncate(time.Microsecond).Add(20 * time.Second)) {
			t.Errorf("camera %s held until %s", c, u)
		}
	}
	if got := drain(room); !slices.Equal(got, []string{"session", "notice"}) {
		t.Errorf("the room heard %v", got)
	}

	// Camera b drops: told once; back: told.
	hub.PublishCamera(telemetry.Camera{ID: "b", Status: "down", Reason: "connection refused"})
	m.Check(ctx, start.Add(time.Minute))
	m.Check(ctx, start.Add(time.Minute+time.Second))
	hub.PublishCamera(telemetry.Camera{ID: "b", Status: "live"})
	m.Check(ctx, start.Add(2*time.Minute))
	if k := rec.kinds(); !slices.Equal(k, []string{"session.live:", "session.camera.down:b", "session.camera.up:b"}) {
		t.Fatalf("told %v", k)
	}
	if msg := rec.events[1].Message; msg == "" || !strings.Contains(msg, "connection refused") {
		t.Errorf("the drop's message: %q", msg)
	}
	if s, _ := st.Session(ctx, "s"); s.State != supervise.Live {
		t.Errorf("the session after a drop: %s", s.State)
	}
	drain(room)

	// On time, it ends.
	if err := m.Check(ctx, end); err != nil {
		t.Fatal(err)
	}
	if s, _ := st.Session(ctx, "s"); s.State != supervise.Ended || s.EndedAt == nil {
		t.Fatalf("after the end: %+v", s)
	}
	if k := rec.kinds(); k[len(k)-1] != "session.ended:" {
		t.Fatalf("told %v", k)
	}
	// The store gone: an error, nothing told.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := m.Check(cctx, end.Add(time.Hour)); err == nil {
		t.Error("a check without the store succeeded")
	}
}

// A camera that is still connecting in the session's first seconds is not
// told as dropped; one that never comes is, after 30 s.
func TestSessionCameraStillConnecting(t *testing.T) {
	st := newStore(t)
	hub := telemetry.NewHub(nil)
	rec := &recorder{holds: map[string]time.Time{}}
	m := supervise.New(supervise.Config{Store: st, Bus: hub, Event: rec.event, Hold: rec.hold})
	ctx := t.Context()
	start := time.Now().UTC()
	if _, err := st.CreateSession(ctx, supervise.Session{ID: "s", Site: "site", Title: "T", Kind: "meeting", Cameras: []string{"a"},
		Start: start, End: start.Add(time.Hour), State: supervise.Scheduled, CreatedBy: "sue"}, supervise.Change{Actor: "sue"}); err != nil {
		t.Fatal(err)
	}
	hub.PublishCamera(telemetry.Camera{ID: "a", Status: "connecting"})
	if err := m.Check(ctx, start); err != nil {
		t.Fatal(err)
	}
	m.Check(ctx, start.Add(10*time.Second))
	if k := rec.kinds(); !slices.Equal(k, []string{"session.live:"}) {
		t.Fatalf("told %v", k)
	}
	m.Check(ctx, start.Add(31*time.Second))
	if k := rec.kinds(); !slices.Equal(k, []string{"session.live:", "session.camera.down:a"}) {
		t.Fatalf("told %v", k)
	}
}

func TestTransition(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		from, to string
		ok       bool
	}{
		{supervise.Scheduled, supervise.Live, true},
		{supervise.Scheduled, supervise.Ended, true},
		{supervise.Live, supervise.Ended, true},
		{supervise.Live, supervise.Live, true},
		{supervise.Ended, supervise.Live, false},
		{supervise.Live, supervise.Scheduled, false},
	} {
		s, err := supervise.Transition(supervise.Session{State: c.from}, c.to, now)
		if (err == nil) != c.ok || (c.ok && s.State != c.to) {
			t.Errorf("%s → %s: %v %+v", c.from, c.to, err, s)
		}
	}
}

// Another node's presence counts while it keeps telling it, and is
// forgotten when it stops (a node that died); a room hears the whole
// room's presence when another node's changes.
func TestPeerPresence(t *testing.T) {
	m := supervise.New(supervise.Config{})
	msgs, leave := m.Subscribe("s1", "sue")
	defer leave()
	<-msgs // sue's own join
	now := time.Now()
	m.PeerPresent("node-2", "s1", supervise.Presence{Browsers: 2, People: []string{"pat"}}, now)
	if got := (<-msgs).Data.(supervise.Presence); got.Browsers != 3 || !slices.Equal(got.People, []string{"pat", "sue"}) {
		t.Fatalf("with node-2's: %+v", got)
	}
	// Told again, unchanged: the room hears nothing new.
	m.PeerPresent("node-2", "s1", supervise.Presence{Browsers: 2, People: []string{"pat"}}, now)
	select {
	case msg := <-msgs:
		t.Fatalf("an unchanged presence was sent again: %+v", msg)
	default:
	}
	m.PeerPresent("node-3", "s1", supervise.Presence{Browsers: 1, People: []string{"ann"}}, now.Add(-supervise.PeerPresenceTTL-time.Second))
	<-msgs
	if got := m.Present("s1"); got.Browsers != 3 || slices.Contains(got.People, "ann") {
		t.Fatalf("a node silent past the TTL still counts: %+v", got)
	}
	m.PeerPresent("node-2", "s1", supervise.Presence{}, now)
	if got := (<-msgs).Data.(supervise.Presence); got.Browsers != 1 {
		t.Fatalf("after node-2's browsers left: %+v", got)
	}
}
