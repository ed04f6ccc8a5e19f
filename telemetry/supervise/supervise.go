// Package supervise runs supervision sessions: meetings and inspections at
// project sites that supervisors attend remotely. The Manager starts a
// scheduled session on time and ends it on time (either may be done by
// hand through the API), keeps the session's cameras recording for its
// whole duration, watches them while it is live, and tells supervisors:
// "session.live", "session.camera.down", "session.camera.up" and
// "session.ended" events go to the store and the live feed, and to
// everyone in the session's room.
//
// The room is a fan-out of Messages per session (remarks, state changes,
// notices) that the dashboard streams to browsers.
//
// The package owns the session and its rules: the types (Session, Remark,
// Query), what a session may hold and which changes its state allows
// (NewSession, Patch, Transition), its attendance curve, and its report as
// HTML and PDF. Sessions are kept through Store and read through Records,
// which the store implements; the package never imports the store.
package supervise

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Store is where sessions are kept (the store's supervision_sessions):
// UpdateSession changes one with fn, which sees the stored session, in one
// transaction with c's audit row; fn's error is returned as it is.
type Store interface {
	Sessions(ctx context.Context, q Query) ([]Session, error)
	UpdateSession(ctx context.Context, id string, c Change, fn func(Session) (Session, error)) (Session, error)
}

// Config configures a Manager.
type Config struct {
	Store Store
	// Bus has the cameras' status.
	Bus telemetry.Bus
	// Event stores and publishes an event (the notifications).
	Event func(telemetry.Event)
	// Hold keeps a camera recording until a time; nil records nothing.
	Hold func(camera string, until time.Time) bool
	// PostRoll is recorded after a session's end; default 30 s.
	PostRoll time.Duration
	// Interval is how often sessions are checked; default 1 s.
	Interval time.Duration
	// Peers, in a cluster, carries what each room hears to the same room
	// on the other nodes, and who is in it here (telemetry/cluster.Rooms);
	// nil: the rooms are this process's.
	Peers      Peers
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Peers are the other nodes of a cluster, as far as rooms go: a remark
// made through one node, or a notice from the node that runs the
// scheduler, reaches everyone in the room whichever node they are
// connected to, and who is present counts every node's browsers.
type Peers interface {
	// Send carries msg to the session's room on the other nodes (which
	// Deliver it).
	Send(session string, msg Message)
	// Present tells the other nodes who is in the session's room on this
	// one (they call PeerPresent).
	Present(session string, p Presence)
}

// peerPresenceTTL is how long another node's presence counts without
// being told again (Peers tell it again every few seconds): a node that
// dies leaves its rooms by then.
const peerPresenceTTL = 15 * time.Second

// Message is what a session's room hears.
type Message struct {
	// Type: "remark" (a Remark), "session" (the Session after a
	// change), "notice" (a telemetry.Event about the session),
	// "presence" (a Presence).
	Type string `json:"type"`
	Data any    `json:"data"`
}

// Manager runs the sessions.
type Manager struct {
	cfg Config
	log *slog.Logger

	// checking serialises Check (the scheduler's and one the API asks
	// for after creating a session that starts now).
	checking sync.Mutex

	mu   sync.Mutex
	subs map[string]map[chan Message]string // session → subscriber → who
	// peers[session][node]: who is in the room on another node.
	peers map[string]map[string]peerPresence
	// cams[session][camera]: what was told of a live session's camera.
	cams map[string]map[string]*camWatch

	transitions *prometheus.CounterVec
	notices     *prometheus.CounterVec
	dropped     prometheus.Counter
	failures    prometheus.Counter
}

// camWatch is a live session's camera: seen live in it, told as dropped.
type camWatch struct{ seen, down bool }

// New builds a Manager; Run runs it.
func New(cfg Config) *Manager {
	if cfg.PostRoll <= 0 {
		cfg.PostRoll = 30 * time.Second
	}
	if cfg.Interval <= 0 {
		cfg.Interval = time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Event == nil {
		cfg.Event = func(telemetry.Event) {}
	}
	m := &Manager{cfg: cfg, log: cfg.Log.With("component", "supervise"),
		subs: map[string]map[chan Message]string{}, peers: map[string]map[string]peerPresence{}, cams: map[string]map[string]*camWatch{},
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_sessions_transitions_total", Help: "Supervision sessions that went live or ended, by state and by whom (scheduler, api)."}, []string{"state", "by"}),
		notices:     prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_sessions_notices_total", Help: "Notifications about supervision sessions, by kind."}, []string{"kind"}),
		dropped:     prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_sessions_room_dropped_total", Help: "Room messages not delivered to a subscriber that was not reading."}),
		failures:    prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_sessions_check_failures_total", Help: "Session checks that failed (the database did not answer)."}),
	}
	if cfg.Registerer != nil {
		cfg.Registerer.MustRegister(m.transitions, m.notices, m.dropped, m.failures)
	}
	return m
}

// Subscribe joins who to a session's room: messages arrive on the channel
// until leave is called. Everyone in the room hears a "presence" message
// when someone joins or leaves.
func (m *Manager) Subscribe(session, who string) (msgs <-chan Message, leave func()) {
	ch := make(chan Message, 64)
	m.mu.Lock()
	if m.subs[session] == nil {
		m.subs[session] = map[chan Message]string{}
	}
	m.subs[session][ch] = who
	m.mu.Unlock()
	m.presenceChanged(session)
	return ch, func() {
		m.mu.Lock()
		delete(m.subs[session], ch)
		if len(m.subs[session]) == 0 {
			delete(m.subs, session)
		}
		m.mu.Unlock()
		m.presenceChanged(session)
	}
}

// presenceChanged tells the room here, and the other nodes, that someone
// joined or left here.
func (m *Manager) presenceChanged(session string) {
	if m.cfg.Peers != nil {
		m.cfg.Peers.Present(session, m.LocalPresence()[session])
	}
	m.deliver(session, Message{Type: "presence", Data: m.Present(session)})
}

// LocalPresence is who is in each room on this node (rooms nobody is in
// are left out).
func (m *Manager) LocalPresence() map[string]Presence {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make(map[string]Presence, len(m.subs))
	for session, subs := range m.subs {
		p := Presence{Browsers: len(subs), People: []string{}}
		for _, who := range subs {
			p.People = append(p.People, who)
		}
		slices.Sort(p.People)
		out[session] = Presence{Browsers: p.Browsers, People: slices.Compact(p.People)}
	}
	return out
}

// peerPresence is who another node said is in a room, and when.
type peerPresence struct {
	p  Presence
	at time.Time
}

// PeerPresent is what another node says of who is in a session's room
// there (an empty Presence: nobody any more); the room here hears the
// whole room's presence when it changed.
func (m *Manager) PeerPresent(node, session string, p Presence, now time.Time) {
	m.mu.Lock()
	old, had := m.peers[session][node]
	if p.Browsers == 0 {
		delete(m.peers[session], node)
		if len(m.peers[session]) == 0 {
			delete(m.peers, session)
		}
	} else {
		if m.peers[session] == nil {
			m.peers[session] = map[string]peerPresence{}
		}
		m.peers[session][node] = peerPresence{p: p, at: now}
	}
	same := (!had && p.Browsers == 0) ||
		(had && old.p.Browsers == p.Browsers && slices.Equal(old.p.People, p.People))
	listened := len(m.subs[session]) > 0
	m.mu.Unlock()
	if !same && listened {
		m.deliver(session, Message{Type: "presence", Data: m.Present(session)})
	}
}

// Deliver is a message another node's room heard: it goes to everyone in
// the room here only.
func (m *Manager) Deliver(session string, msg Message) { m.deliver(session, msg) }

// Publish sends a message to everyone in a session's room, on every node;
// a subscriber that is not reading misses it (counted).
func (m *Manager) Publish(session string, msg Message) {
	if m.cfg.Peers != nil {
		m.cfg.Peers.Send(session, msg)
	}
	m.deliver(session, msg)
}

func (m *Manager) deliver(session string, msg Message) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for ch := range m.subs[session] {
		select {
		case ch <- msg:
		default:
			m.dropped.Inc()
		}
	}
}

// Presence is who is in a session's room.
type Presence struct {
	Browsers int      `json:"browsers"`
	People   []string `json:"people"` // sorted, each once
}

// Present is who is in a session's room now, on every node.
func (m *Manager) Present(session string) Presence {
	m.mu.Lock()
	defer m.mu.Unlock()
	p := Presence{Browsers: len(m.subs[session]), People: []string{}}
	for _, who := range m.subs[session] {
		p.People = append(p.People, who)
	}
	now := time.Now()
	for node, pp := range m.peers[session] {
		if now.Sub(pp.at) > peerPresenceTTL {
			delete(m.peers[session], node) // that node went away
			continue
		}
		p.Browsers += pp.p.Browsers
		p.People = append(p.People, pp.p.People...)
	}
	slices.Sort(p.People)
	p.People = slices.Compact(p.People)
	return p
}

// Changed tells the manager about a session the API changed: its room
// hears it, and a session made live or ended by hand is told like a
// scheduled one.
func (m *Manager) Changed(old, s Session) {
	m.Publish(s.ID, Message{Type: "session", Data: s})
	if old.State != s.State {
		m.transitioned(s, "api")
	}
	if s.State == Live {
		m.hold(s)
	}
}

// Run checks the sessions every interval until ctx ends (from when the
// store is ready, if it says).
func (m *Manager) Run(ctx context.Context) error {
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	// A store that can say so is checked only once ready: on a first
	// start the sessions' table does not exist until the migrations ran.
	ready, _ := m.cfg.Store.(interface{ Ready() bool })
	for {
		if ready != nil && !ready.Ready() {
			// not yet
		} else if err := m.Check(ctx, time.Now()); err != nil && ctx.Err() == nil {
			m.failures.Inc()
			m.log.Warn("checking the supervision sessions failed; retrying", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// errMoved: a session changed state between the scheduler's read and its
// change; the next check sees it as it is.
var errMoved = errors.New("the session changed meanwhile")

// ErrState is returned for a change a session's state does not allow.
var ErrState = errors.New("not allowed in the session's state")

// Transition moves s to state (live or ended) at now: the checks the API
// and the scheduler share.
func Transition(s Session, state string, now time.Time) (Session, error) {
	switch {
	case s.State == state:
		return s, nil
	case state == Live && s.State == Scheduled:
		s.State, s.StartedAt = state, &now
	case state == Ended && s.State != Ended:
		s.State, s.EndedAt = state, &now
	default:
		return s, fmt.Errorf("%w: a %s session cannot become %s", ErrState, s.State, state)
	}
	return s, nil
}

// Check starts and ends what is due at now and watches the live sessions'
// cameras.
func (m *Manager) Check(ctx context.Context, now time.Time) error {
	m.checking.Lock()
	defer m.checking.Unlock()
	open, err := m.cfg.Store.Sessions(ctx, Query{Open: true})
	if err != nil {
		return err
	}
	var errs []error
	live := map[string]bool{}
	for _, s := range open {
		want := s.State
		switch {
		case !now.Before(s.End):
			want = Ended
		case s.State == Scheduled && !now.Before(s.Start):
			want = Live
		}
		if want != s.State {
			ns, err := m.cfg.Store.UpdateSession(ctx, s.ID, Change{Actor: "scheduler", Action: "session." + want},
				func(cur Session) (Session, error) {
					if cur.State != s.State {
						return cur, errMoved // the API moved it meanwhile
					}
					return Transition(cur, want, now)
				})
			if errors.Is(err, errMoved) {
				continue
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("session %s: %w", s.ID, err))
				continue
			}
			m.Publish(ns.ID, Message{Type: "session", Data: ns})
			m.transitioned(ns, "scheduler")
			s = ns
		}
		if s.State == Live {
			live[s.ID] = true
			m.hold(s)
			m.watch(s, now)
		}
	}
	m.mu.Lock()
	for id := range m.cams {
		if !live[id] {
			delete(m.cams, id)
		}
	}
	m.mu.Unlock()
	return errors.Join(errs...)
}

// hold keeps the session's cameras recording to its end and a post-roll.
func (m *Manager) hold(s Session) {
	if m.cfg.Hold == nil {
		return
	}
	_, to := s.Span(time.Now())
	for _, c := range s.Cameras {
		m.cfg.Hold(c, to.Add(m.cfg.PostRoll))
	}
}

// watch tells when a live session's camera drops and when it is back. A
// camera still connecting is not told as dropped in the session's first
// 30 s unless it was live in the session before.
func (m *Manager) watch(s Session, now time.Time) {
	if m.cfg.Bus == nil {
		return
	}
	for _, c := range s.Cameras {
		st, known := m.cfg.Bus.Camera(c)
		ok := known && st.Status == "live"
		m.mu.Lock()
		if m.cams[s.ID] == nil {
			m.cams[s.ID] = map[string]*camWatch{}
		}
		w := m.cams[s.ID][c]
		if w == nil {
			w = &camWatch{}
			m.cams[s.ID][c] = w
		}
		was := w.down
		early := !w.seen && known && st.Status == "connecting" && (s.StartedAt == nil || now.Sub(*s.StartedAt) < 30*time.Second)
		w.down = !ok && !early
		w.seen = w.seen || ok
		down := w.down
		m.mu.Unlock()
		switch {
		case down && !was:
			reason := "unknown camera"
			if known {
				reason = st.Status
				if st.Reason != "" {
					reason += ": " + st.Reason
				}
			}
			m.notify(s, "session.camera.down", c, fmt.Sprintf("Camera %s dropped during “%s” (%s); the session continues with the others", c, s.Title, reason))
		case !down && was:
			m.notify(s, "session.camera.up", c, fmt.Sprintf("Camera %s is back in “%s”", c, s.Title))
		}
	}
}

func (m *Manager) transitioned(s Session, by string) {
	m.transitions.WithLabelValues(s.State, by).Inc()
	switch s.State {
	case Live:
		m.notify(s, "session.live", "", fmt.Sprintf("“%s” is live: join the room", s.Title))
	case Ended:
		m.notify(s, "session.ended", "", fmt.Sprintf("“%s” has ended: the recording and the report are ready", s.Title))
	}
}

// notify stores and publishes an event about a session and tells its
// room.
func (m *Manager) notify(s Session, kind, camera, msg string) {
	m.notices.WithLabelValues(kind).Inc()
	e := telemetry.Event{Time: time.Now(), ID: telemetry.NewUUID(), Kind: kind, Site: s.Site, CameraID: camera, Message: msg,
		Data: map[string]any{"session": s.ID, "title": s.Title, "invited": slices.Clone(s.Invited), "state": s.State}}
	m.log.Info(msg, "session", s.ID, "kind", kind)
	m.cfg.Event(e)
	m.Publish(s.ID, Message{Type: "notice", Data: e})
}
