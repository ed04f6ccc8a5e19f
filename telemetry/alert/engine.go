package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Store is what the engine needs of the database (telemetry/store implements it).
type Store interface {
	InsertAlert(ctx context.Context, a *telemetry.Alert, event *telemetry.Event, actor string, jpeg, thumb []byte, outbox telemetry.Outbox) error
	FoldAlerts(ctx context.Context, folds []telemetry.AlertFold) error
	TransitionAlert(ctx context.Context, id telemetry.UUID, to, actor, comment string, outbox telemetry.Outbox) (telemetry.Alert, error)
	EscalateAlert(ctx context.Context, id telemetry.UUID, team, comment string, outbox telemetry.Outbox) (telemetry.Alert, error)
	Unescalated(ctx context.Context, before time.Time) ([]telemetry.Alert, error)
	RecentAlerts(ctx context.Context, since time.Time) ([]telemetry.Alert, error)
	AlertRules(ctx context.Context) ([]json.RawMessage, error)
	PutAlertRule(ctx context.Context, id string, rule []byte, create bool) error
	DeleteAlertRule(ctx context.Context, id string) error
	DueDeliveries(ctx context.Context, limit int) ([]telemetry.Delivery, error)
	MarkDelivered(ctx context.Context, id int64, attempts int) error
	MarkFailed(ctx context.Context, id int64, attempts int, next time.Time, reason string) error
	PendingDeliveries(ctx context.Context) (int, error)
}

// Evidence returns a JPEG of camera's frame at t with track's box drawn,
// and a small copy; nil when there is none.
type Evidence func(camera string, t time.Time, track uint64) (jpeg, thumb []byte)

// Config is the engine's configuration.
type Config struct {
	// Rules from the configuration file (read-only through the API).
	Rules []Rule
	// Channels deliver alerts beyond the live feed.
	Channels []Channel
	// Tick is how often held conditions, escalations and folded counts
	// are looked at. It defaults to 1 second.
	Tick time.Duration
	// Queue bounds the engine's share of the live feed. It defaults to
	// 65536 updates.
	Queue int
	// Changed is told "rules" after a rule made through the API is stored
	// or deleted (a cluster's other nodes then reload them); nil tells no
	// one.
	Changed func(kind string)
	// Events, when set, delivers the events to judge with acknowledgements
	// (a cluster's stream): each is acknowledged once the alerts it opened
	// or counted are stored, and one delivered again is neither opened nor
	// counted twice. Events on the live feed are then ignored (vehicles
	// still come from it).
	Events EventSource
	// OnDemand subscribes to the live feed when Run starts rather than in
	// NewEngine: a cluster's engine runs on one node at a time, and one
	// that takes over must not judge what it queued while another node
	// was the engine.
	OnDemand bool
}

// EventSource delivers events to judge, each to be acknowledged.
type EventSource interface {
	// Events delivers inputs until ctx ends; the channel is closed then.
	Events(ctx context.Context) (<-chan Input, error)
}

// Input is one event to judge from an EventSource.
type Input struct {
	Event telemetry.Event
	// Ack says the event's alerts are stored; Progress asks for more time
	// (the database is away).
	Ack, Progress func()
}

// Errors of the rule and alert methods, for the API's status codes.
var (
	ErrReadOnly = errors.New("rule comes from the configuration file; change it there")
	ErrNotFound = telemetry.ErrNotFound
	ErrExists   = telemetry.ErrExists
)

// InvalidError is a rule that failed validation.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

// Engine runs the rules on the live feed, persists alerts and has them
// delivered.
type Engine struct {
	cfg      Config
	store    Store
	bus      telemetry.Bus
	evidence Evidence
	log      *slog.Logger
	deliver  *Deliverer

	mu        sync.Mutex
	config    map[string]*Rule // from the file
	api       map[string]*Rule // from the API (the database)
	apiGen    uint64           // counts PutRule and DeleteRule: a load read before one is stale
	loaded    bool             // api rules and cooldowns read from the database
	loadTries int              // failed attempts to load (warned about when it goes on)
	ev        *Evaluator
	latest    map[string]telemetry.UUID               // dedup key → its newest alert
	folds     map[telemetry.UUID]*telemetry.AlertFold // counted, not yet written
	waiting   []*opening                              // alerts the database has not taken yet
	sub       *telemetry.Subscription                 // nil while not running (OnDemand)
	// droppedBefore counts what earlier subscriptions dropped.
	droppedBefore uint64
	now           func() time.Time
	met           metrics
}

// opening is a new alert on its way into the database.
type opening struct {
	// folded are the ids of the events folded into it while it waited.
	folded      []telemetry.UUID
	alert       telemetry.Alert
	event       telemetry.Event
	jpeg, thumb []byte
	channels    []string
	tries       int
}

type metrics struct {
	inputs  *prometheus.CounterVec
	matches *prometheus.CounterVec
	opened  *prometheus.CounterVec
	errors  *prometheus.CounterVec
	latency prometheus.Histogram
	dropped prometheus.CounterFunc
	waiting prometheus.GaugeFunc
}

// NewEngine checks the configured rules and channels and returns an
// engine; reg receives its metrics and may be nil.
func NewEngine(cfg Config, st Store, bus telemetry.Bus, evidence Evidence, log *slog.Logger, reg prometheus.Registerer) (*Engine, error) {
	if cfg.Tick <= 0 {
		cfg.Tick = time.Second
	}
	if cfg.Queue <= 0 {
		cfg.Queue = 1 << 16
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	e := &Engine{cfg: cfg, store: st, bus: bus, evidence: evidence, log: log.With("component", "alert"),
		config: map[string]*Rule{}, api: map[string]*Rule{}, latest: map[string]telemetry.UUID{}, folds: map[telemetry.UUID]*telemetry.AlertFold{}, now: time.Now}
	var errs []error
	names := make([]string, 0, len(cfg.Channels))
	for _, c := range cfg.Channels {
		names = append(names, c.Name)
	}
	if err := ValidateChannels(cfg.Channels); err != nil {
		errs = append(errs, err)
	}
	for i := range cfg.Rules {
		r := cfg.Rules[i]
		r.Source = "config"
		if err := r.Validate(names); err != nil {
			errs = append(errs, fmt.Errorf("rule %q: %w", r.ID, err))
			continue
		}
		if e.config[r.ID] != nil {
			errs = append(errs, fmt.Errorf("rule %q: the id is used twice", r.ID))
		}
		e.config[r.ID] = &r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	e.ev = NewEvaluator(e.ruleList())
	if !cfg.OnDemand {
		e.sub = bus.Subscribe(cfg.Queue) // from now on nothing is missed
	}
	e.met = metrics{
		inputs: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_alert_inputs_total",
			Help: "Events and vehicle states the rules looked at, by type."}, []string{"type"}),
		matches: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_alert_matches_total",
			Help: "Rule matches: opened a new alert, or folded into one within the rule's cooldown."}, []string{"outcome"}),
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_alerts_opened_total",
			Help: "Alerts opened (persisted), by severity."}, []string{"severity"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_alert_store_errors_total",
			Help: "Database operations of the alert engine that failed (they are retried), by operation."}, []string{"op"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "smarteye_alert_latency_seconds",
			Help:    "From the triggering frame's or message's arrival to the alert persisted and on the live feed.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}}),
		dropped: prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "smarteye_alert_feed_dropped_total",
			Help: "Live-feed updates the alert engine lost to its full queue (it fell behind)."}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			n := e.droppedBefore
			if e.sub != nil {
				n += e.sub.Dropped()
			}
			return float64(n)
		}),
		waiting: prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "smarteye_alert_unpersisted",
			Help: "New alerts waiting for the database (they are delivered once stored)."}, func() float64 {
			e.mu.Lock()
			defer e.mu.Unlock()
			return float64(len(e.waiting))
		}),
	}
	e.deliver = newDeliverer(cfg.Channels, st, e.log, reg)
	if reg != nil {
		reg.MustRegister(e.met.inputs, e.met.matches, e.met.opened, e.met.errors, e.met.latency, e.met.dropped, e.met.waiting)
	}
	return e, nil
}

// ruleList is every rule, config first, by id. Callers hold mu (or own e).
func (e *Engine) ruleList() []*Rule {
	var out []*Rule
	for _, m := range []map[string]*Rule{e.config, e.api} {
		ids := make([]string, 0, len(m))
		for id := range m {
			ids = append(ids, id)
		}
		sort.Strings(ids)
		for _, id := range ids {
			out = append(out, m[id])
		}
	}
	return out
}

// Rules returns every rule, configured ones first.
func (e *Engine) Rules() []Rule {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []Rule
	for _, r := range e.ruleList() {
		out = append(out, *r)
	}
	return out
}

// ForecastHorizon is how far ahead the enabled crowd_forecast rules look
// (the longest), or 0 when there are none: forecasts are made for them.
func (e *Engine) ForecastHorizon() time.Duration {
	var d time.Duration
	for _, r := range e.Rules() {
		if !r.Disabled && r.Condition == CondCrowdForecast {
			d = max(d, r.WithinOr())
		}
	}
	return d
}

// Rule returns one rule.
func (e *Engine) Rule(id string) (Rule, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	r := e.rule(id)
	if r == nil {
		return Rule{}, false
	}
	return *r, true
}

func (e *Engine) rule(id string) *Rule {
	if r := e.config[id]; r != nil {
		return r
	}
	return e.api[id]
}

// PutRule creates (create) or replaces a rule made through the API.
func (e *Engine) PutRule(ctx context.Context, r Rule, create bool) (Rule, error) {
	e.mu.Lock()
	isConfig := e.config[r.ID] != nil
	e.mu.Unlock()
	if isConfig {
		if create {
			return Rule{}, ErrExists
		}
		return Rule{}, ErrReadOnly
	}
	if err := r.Validate(e.deliver.names()); err != nil {
		return Rule{}, &InvalidError{err}
	}
	r.Source = "api"
	b, err := json.Marshal(r)
	if err != nil {
		return Rule{}, err
	}
	if err := e.store.PutAlertRule(ctx, r.ID, b, create); err != nil {
		return Rule{}, err
	}
	e.mu.Lock()
	e.api[r.ID] = &r
	e.apiGen++
	e.ev.SetRules(e.ruleList())
	e.mu.Unlock()
	e.log.Info("rule saved", "rule", r.ID, "condition", r.Condition, "created", create)
	e.changed()
	return r, nil
}

func (e *Engine) changed() {
	if e.cfg.Changed != nil {
		e.cfg.Changed("rules")
	}
}

// ReloadRules reads the rules made through the API from the database again
// (another cluster node changed them).
func (e *Engine) ReloadRules(ctx context.Context) error {
	e.mu.Lock()
	gen := e.apiGen
	e.mu.Unlock()
	raw, err := e.store.AlertRules(ctx)
	if err != nil {
		return err
	}
	api := map[string]*Rule{}
	for _, b := range raw {
		var r Rule
		if json.Unmarshal(b, &r) != nil || r.Validate(nil) != nil {
			continue
		}
		r.Source = "api"
		api[r.ID] = &r
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.apiGen != gen {
		return nil // changed here meanwhile: that change is newer
	}
	e.api = api
	e.apiGen++
	e.ev.SetRules(e.ruleList())
	return nil
}

// DeleteRule removes a rule made through the API; its alerts stay.
func (e *Engine) DeleteRule(ctx context.Context, id string) error {
	e.mu.Lock()
	isConfig := e.config[id] != nil
	e.mu.Unlock()
	if isConfig {
		return ErrReadOnly
	}
	if err := e.store.DeleteAlertRule(ctx, id); err != nil {
		return err
	}
	e.mu.Lock()
	delete(e.api, id)
	e.apiGen++
	e.ev.SetRules(e.ruleList())
	e.mu.Unlock()
	e.log.Info("rule deleted", "rule", id)
	e.changed()
	return nil
}

// Step moves an alert on (acknowledged, resolved, dismissed) for actor.
func (e *Engine) Step(ctx context.Context, id telemetry.UUID, to, actor, comment string) (telemetry.Alert, error) {
	a, err := e.store.TransitionAlert(ctx, id, to, actor, comment, e.outbox(nil))
	if err != nil {
		return a, err
	}
	e.mu.Lock()
	if id, ok := e.latest[a.DedupKey]; ok && id == a.ID && a.Status == telemetry.AlertResolved {
		// Resolved means handled: the next match is a new incident.
		e.ev.Forget(a.DedupKey)
		delete(e.latest, a.DedupKey)
	}
	e.mu.Unlock()
	e.log.Info("alert "+to, "alert", a.ID.String(), "actor", actor)
	e.bus.PublishAlert(a)
	e.deliver.kick()
	return a, nil
}

// Run evaluates the live feed until ctx ends, and delivers.
//
// Run may be called again after it returns (a cluster's engine that
// comes back to this node): it reads its state from the database again.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.Lock()
	if e.sub == nil {
		e.sub = e.bus.Subscribe(e.cfg.Queue)
	}
	sub := e.sub
	e.loaded = false
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.droppedBefore += sub.Dropped()
		e.sub = nil
		e.mu.Unlock()
		sub.Close()
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.deliver.run(ctx)
	}()
	defer func() { <-done }()
	e.load(ctx)
	var inputs <-chan Input
	if e.cfg.Events != nil {
		ch, err := e.cfg.Events.Events(ctx)
		if err != nil {
			return fmt.Errorf("alerts: events: %w", err)
		}
		inputs = ch
	}
	// Inputs judged, waiting for what they caused to be stored before
	// they are acknowledged, by event id (one delivered again meanwhile
	// only replaces the acknowledgement).
	pending := map[telemetry.UUID]Input{}
	settle := func() {
		e.flush(ctx)
		e.mu.Lock()
		stored := len(e.waiting) == 0 && len(e.folds) == 0
		e.mu.Unlock()
		for id, in := range pending {
			if stored {
				in.Ack()
				delete(pending, id)
			} else if in.Progress != nil {
				in.Progress()
			}
		}
	}
	tick := time.NewTicker(e.cfg.Tick)
	defer tick.Stop()
	var buf []telemetry.Update
	for {
		select {
		case <-ctx.Done():
			e.flush(context.WithoutCancel(ctx))
			return nil
		case in, ok := <-inputs:
			if !ok {
				inputs = nil
				continue
			}
		batch:
			for {
				if _, again := pending[in.Event.ID]; again {
					pending[in.Event.ID] = in
				} else {
					e.met.inputs.WithLabelValues("event").Inc()
					e.mu.Lock()
					ms := e.ev.Event(in.Event)
					e.mu.Unlock()
					e.handle(ctx, ms)
					pending[in.Event.ID] = in
				}
				if len(pending) >= 512 {
					break
				}
				select {
				case next, ok := <-inputs:
					if !ok {
						inputs = nil
						break batch
					}
					in = next
				default:
					break batch
				}
			}
			settle()
		case <-sub.Ready():
			buf = sub.Take(buf[:0])
			for i := range buf {
				u := &buf[i]
				var ms []Match
				switch {
				case u.Type == "event" && e.cfg.Events == nil:
					e.met.inputs.WithLabelValues("event").Inc()
					e.mu.Lock()
					ms = e.ev.Event(*u.Event)
					e.mu.Unlock()
				case u.Type == "vehicle":
					e.met.inputs.WithLabelValues("vehicle").Inc()
					e.mu.Lock()
					ms = e.ev.Vehicle(*u.Vehicle)
					e.mu.Unlock()
				default:
					continue
				}
				e.handle(ctx, ms)
				buf[i] = telemetry.Update{}
			}
		case now := <-tick.C:
			if !e.loaded {
				e.load(ctx)
			}
			e.mu.Lock()
			ms := e.ev.Tick(now)
			e.mu.Unlock()
			e.handle(ctx, ms)
			e.retry(ctx)
			settle()
			e.escalate(ctx, now)
		}
	}
}

// load reads the API's rules and restores the cooldowns of recent alerts
// (a restart must not open a second alert for one incident). Until the
// database answers, the configured rules run alone.
func (e *Engine) load(ctx context.Context) {
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	e.mu.Lock()
	gen := e.apiGen
	e.mu.Unlock()
	raw, err := e.store.AlertRules(qctx)
	if err != nil {
		// At start the schema may not be there yet: say so only when it
		// goes on.
		e.loadTries++
		e.met.errors.WithLabelValues("load").Inc()
		if e.loadTries%30 == 5 {
			e.log.Warn("rules from the database not loaded yet; the configured rules run meanwhile", "err", err)
		}
		return
	}
	longest := DefaultCooldown
	api := map[string]*Rule{}
	for _, b := range raw {
		var r Rule
		if err := json.Unmarshal(b, &r); err != nil {
			e.log.Warn("stored rule unreadable; skipped", "err", err)
			continue
		}
		if err := r.Validate(nil); err != nil {
			e.log.Warn("stored rule invalid; skipped", "rule", r.ID, "err", err)
			continue
		}
		r.Source = "api"
		api[r.ID] = &r
	}
	e.mu.Lock()
	if e.apiGen != gen {
		// A rule was saved or deleted through the API while we read: what
		// we read may miss it. The next tick reads again.
		e.mu.Unlock()
		return
	}
	e.api = api
	for _, r := range e.ruleList() {
		longest = max(longest, r.CooldownOr())
	}
	e.ev.SetRules(e.ruleList())
	e.mu.Unlock()
	recent, err := e.store.RecentAlerts(qctx, e.now().Add(-longest))
	if err != nil {
		e.met.errors.WithLabelValues("load").Inc()
		e.log.Warn("recent alerts not loaded yet", "err", err)
		return
	}
	e.mu.Lock()
	for _, a := range recent {
		if _, ok := e.latest[a.DedupKey]; ok {
			continue // opened since we started
		}
		if a.Status != telemetry.AlertResolved {
			e.ev.Seed(a.DedupKey, a.LastSeen)
			e.latest[a.DedupKey] = a.ID
		}
	}
	e.loaded = true
	nconfig, napi := len(e.config), len(e.api)
	e.mu.Unlock()
	e.log.Info("alert rules loaded", "configured", nconfig, "api", napi, "cooldowns_restored", len(recent))
}

// handle opens or folds the matches.
func (e *Engine) handle(ctx context.Context, ms []Match) {
	for _, m := range ms {
		e.mu.Lock()
		id, known := e.latest[m.Key]
		if m.Fold && known {
			f := e.folds[id]
			if f == nil {
				f = &telemetry.AlertFold{ID: id}
				e.folds[id] = f
			}
			f.N++
			if m.Event.ID != (telemetry.UUID{}) {
				f.Events = append(f.Events, m.Event.ID)
			}
			if m.Event.Time.After(f.Last) {
				f.Last = m.Event.Time
			}
			e.mu.Unlock()
			e.met.matches.WithLabelValues("folded").Inc()
			continue
		}
		if m.Fold {
			if o := e.waitingFor(m.Key); o != nil {
				o.alert.Occurrences++
				if m.Event.ID != (telemetry.UUID{}) {
					o.folded = append(o.folded, m.Event.ID)
				}
				if m.Event.Time.After(o.alert.LastSeen) {
					o.alert.LastSeen = m.Event.Time
				}
				e.mu.Unlock()
				e.met.matches.WithLabelValues("folded").Inc()
				continue
			}
		}
		e.mu.Unlock()
		e.met.matches.WithLabelValues("opened").Inc()
		e.open(ctx, m)
	}
}

func (e *Engine) waitingFor(key string) *opening {
	for _, o := range e.waiting {
		if o.alert.DedupKey == key {
			return o
		}
	}
	return nil
}

// open makes a new alert: evidence, then the database, then the feed.
func (e *Engine) open(ctx context.Context, m Match) {
	ev := m.Event
	a := telemetry.Alert{ID: telemetry.NewUUID(), EventTime: ev.Time, Received: ev.Received, EventID: ev.ID, EventKind: ev.Kind,
		RuleID: m.Rule.ID, RuleName: m.Rule.Name, Site: ev.Site, CameraID: ev.CameraID, VehicleID: ev.VehicleID, TrackID: ev.TrackID,
		Severity: m.Rule.Severity, Team: m.Rule.Team, Status: telemetry.AlertOpen, Title: m.Title, Message: m.Message,
		Lat: ev.Lat, Lon: ev.Lon, Occurrences: 1, LastSeen: ev.Time, DedupKey: m.Key}
	if a.Site == "" {
		a.Site = m.Rule.Site
	}
	o := &opening{alert: a, event: ev, channels: m.Rule.Channels}
	if a.CameraID != "" && e.evidence != nil {
		o.jpeg, o.thumb = e.evidence(a.CameraID, ev.Time, ev.TrackID)
	}
	if !e.persist(ctx, o) {
		e.mu.Lock()
		if len(e.waiting) < 10000 {
			e.waiting = append(e.waiting, o)
		} else {
			e.log.Error("alert lost: the database has been away too long and 10000 alerts wait", "rule", a.RuleID)
		}
		e.mu.Unlock()
	}
}

// persist stores an opening and publishes it; false when the database
// did not take it (it is retried).
func (e *Engine) persist(ctx context.Context, o *opening) bool {
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	a := o.alert
	err := e.store.InsertAlert(pctx, &a, &o.event, "rule:"+a.RuleID, o.jpeg, o.thumb, e.outbox(o.channels))
	if errors.Is(err, telemetry.ErrHandled) {
		// Delivered again: its alert was opened by this rule before.
		e.log.Debug("event already judged; not opened again", "event", a.EventID.String(), "rule", a.RuleID)
		return true
	}
	if err != nil {
		e.met.errors.WithLabelValues("open").Inc()
		if o.tries == 0 {
			e.log.Warn("alert not stored yet; retrying", "rule", a.RuleID, "err", err)
		}
		o.tries++
		return false
	}
	e.mu.Lock()
	// Matches folded in while it waited for the database are counted now.
	if n := o.alert.Occurrences; n > 1 {
		e.folds[a.ID] = &telemetry.AlertFold{ID: a.ID, N: n - 1, Last: o.alert.LastSeen, Events: o.folded}
		a.Occurrences = n
	}
	e.latest[a.DedupKey] = a.ID
	e.mu.Unlock()
	e.met.opened.WithLabelValues(a.Severity).Inc()
	if !a.Received.IsZero() {
		e.met.latency.Observe(time.Since(a.Received).Seconds())
	}
	e.log.Info("alert opened", "alert", a.ID.String(), "rule", a.RuleID, "severity", a.Severity, "team", a.Team, "title", a.Title)
	e.bus.PublishAlert(a)
	e.deliver.kick()
	return true
}

// retry stores the alerts the database refused before, oldest first.
func (e *Engine) retry(ctx context.Context) {
	e.mu.Lock()
	w := e.waiting
	e.waiting = nil
	e.mu.Unlock()
	for i, o := range w {
		if !e.persist(ctx, o) {
			e.mu.Lock()
			e.waiting = append(w[i:], e.waiting...)
			e.mu.Unlock()
			return
		}
	}
}

// flush writes the folded counts.
func (e *Engine) flush(ctx context.Context) {
	e.mu.Lock()
	if len(e.folds) == 0 {
		e.mu.Unlock()
		return
	}
	folds := make([]telemetry.AlertFold, 0, len(e.folds))
	for _, f := range e.folds {
		folds = append(folds, *f)
	}
	e.folds = map[telemetry.UUID]*telemetry.AlertFold{}
	e.mu.Unlock()
	fctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := e.store.FoldAlerts(fctx, folds); err != nil {
		e.met.errors.WithLabelValues("fold").Inc()
		e.log.Warn("folded matches not stored yet; retrying", "err", err)
		e.mu.Lock()
		for _, f := range folds {
			if g := e.folds[f.ID]; g != nil {
				g.N += f.N
				g.Events = append(g.Events, f.Events...)
				if f.Last.After(g.Last) {
					g.Last = f.Last
				}
			} else {
				e.folds[f.ID] = &f
			}
		}
		e.mu.Unlock()
	}
}

// escalate hands on the open alerts whose rule's escalation time passed.
func (e *Engine) escalate(ctx context.Context, now time.Time) {
	e.mu.Lock()
	var soonest time.Duration
	for _, r := range e.ruleList() {
		if a := time.Duration(r.Escalation.After); a > 0 && (soonest == 0 || a < soonest) {
			soonest = a
		}
	}
	e.mu.Unlock()
	if soonest == 0 {
		return
	}
	qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cands, err := e.store.Unescalated(qctx, now.Add(-soonest))
	if err != nil {
		e.met.errors.WithLabelValues("escalate").Inc()
		return
	}
	for _, a := range cands {
		e.mu.Lock()
		r := e.rule(a.RuleID)
		var esc Escalation
		if r != nil {
			esc = r.Escalation
		}
		e.mu.Unlock()
		if esc.After == 0 || now.Sub(a.CreatedAt) < time.Duration(esc.After) {
			continue
		}
		channels := esc.Channels
		if len(channels) == 0 && r != nil {
			channels = r.Channels
		}
		comment := fmt.Sprintf("not acknowledged within %s", time.Duration(esc.After))
		b, err := e.store.EscalateAlert(qctx, a.ID, esc.Team, comment, e.outbox(channels))
		if err != nil {
			if !errors.Is(err, telemetry.ErrTransition) {
				e.met.errors.WithLabelValues("escalate").Inc()
			}
			continue
		}
		e.log.Warn("alert escalated", "alert", a.ID.String(), "team", esc.Team, "after", time.Duration(esc.After))
		e.bus.PublishAlert(b)
		e.deliver.kick()
	}
}

// outbox makes the deliveries of an alert step for channels (empty:
// every channel), for those that want the step and the alert's team.
func (e *Engine) outbox(channels []string) telemetry.Outbox {
	return func(a *telemetry.Alert, action string) []telemetry.Delivery {
		var out []telemetry.Delivery
		for _, c := range e.cfg.Channels {
			if len(channels) > 0 && !slices.Contains(channels, c.Name) {
				continue
			}
			if !c.wants(a, action) {
				continue
			}
			b, err := json.Marshal(Notice{Action: action, Alert: *a})
			if err != nil {
				continue
			}
			out = append(out, telemetry.Delivery{DeliveryID: telemetry.NewUUID(), Channel: c.Name, Action: action, Payload: b})
		}
		return out
	}
}
