// Package alerts is the dashboard's API of alert rules and alerts: the
// rules (configured ones read-only), the stored alerts with their audit
// trail and deliveries, their snapshots and the map of their
// surroundings, and acknowledging, resolving and dismissing them. The
// rules themselves and the alerts' lifecycle are telemetry/alert's.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Map is what the alert map draws: the sites' buildings and the geofences.
type Map interface {
	Sites() []geo.Site
	SiteModel(id string) ([]byte, error)
	Geofences() ([]geo.Fence, map[string]string)
}

// Config is what the API serves from; without Engine or Store it answers
// 503.
type Config struct {
	Engine Engine
	Store  Store
	// Map draws the alert map's surroundings; nil draws the spot alone.
	Map Map
	Log *slog.Logger
}

// API serves the rules and the alerts.
type API struct {
	cfg Config
	log *slog.Logger
}

// New serves cfg.
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &API{cfg: cfg, log: cfg.Log}
}

// Engine is the alert engine as the API uses it (alert.Engine).
type Engine interface {
	Rules() []alert.Rule
	Rule(id string) (alert.Rule, bool)
	PutRule(ctx context.Context, r alert.Rule, create bool) (alert.Rule, error)
	DeleteRule(ctx context.Context, id string) error
	Step(ctx context.Context, id telemetry.UUID, to, actor, comment string) (telemetry.Alert, error)
}

// Store reads stored alerts (store.Store).
type Store interface {
	Alerts(ctx context.Context, q telemetry.AlertQuery) ([]telemetry.Alert, error)
	Alert(ctx context.Context, id telemetry.UUID) (telemetry.Alert, error)
	AlertLog(ctx context.Context, id telemetry.UUID) ([]telemetry.AlertStep, error)
	AlertDeliveries(ctx context.Context, id telemetry.UUID) ([]telemetry.Delivery, error)
	AlertSnapshot(ctx context.Context, id telemetry.UUID, thumb bool) ([]byte, error)
}

// Request bounds.
const (
	maxRuleBytes    = 16 << 10
	maxCommentBytes = 2000
	maxAlerts       = 50000 // in one answer
)

func (h *API) alertsReady(w http.ResponseWriter) bool {
	if h.cfg.Engine == nil || h.cfg.Store == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "alerts are not running")
		return false
	}
	return true
}

// ListRules is GET /api/v1/rules.
func (h *API) ListRules(w http.ResponseWriter, r *http.Request) {
	if !h.alertsReady(w) {
		return
	}
	rules := h.cfg.Engine.Rules()
	if rules == nil {
		rules = []alert.Rule{}
	}
	api.WriteJSON(w, http.StatusOK, rules)
}

// GetRule is GET /api/v1/rules/{id}.
func (h *API) GetRule(w http.ResponseWriter, r *http.Request) {
	if !h.alertsReady(w) {
		return
	}
	rule, ok := h.cfg.Engine.Rule(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no rule "+strconv.Quote(r.PathValue("id")))
		return
	}
	api.WriteJSON(w, http.StatusOK, rule)
}

// PutRule is POST /api/v1/rules and PUT /api/v1/rules/{id}: the rule as
// JSON; unknown
// fields are refused, so that a misspelt key is not silently ignored.
func (h *API) PutRule(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !h.alertsReady(w) {
		return
	}
	var rule alert.Rule
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, maxRuleBytes))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&rule); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			api.WriteError(w, http.StatusRequestEntityTooLarge, "a rule is at most 16 KiB")
			return
		}
		api.WriteError(w, http.StatusBadRequest, "not a rule: "+err.Error())
		return
	}
	if at := api.NulText(reflect.ValueOf(rule), ""); at != "" {
		api.WriteError(w, http.StatusBadRequest, "not a rule: "+at+" contains a NUL character")
		return
	}
	if dec.More() {
		api.WriteError(w, http.StatusBadRequest, "one rule per request")
		return
	}
	create := r.Method == http.MethodPost
	if !create {
		if rule.ID == "" {
			rule.ID = r.PathValue("id")
		}
		if rule.ID != r.PathValue("id") {
			api.WriteError(w, http.StatusBadRequest, "id: the body says "+strconv.Quote(rule.ID)+", the URL "+strconv.Quote(r.PathValue("id")))
			return
		}
	}
	if rule.Source != "" {
		api.WriteError(w, http.StatusBadRequest, "source is set by smarteye")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	saved, err := h.cfg.Engine.PutRule(ctx, rule, create)
	var inv *alert.InvalidError
	switch {
	case errors.As(err, &inv):
		api.WriteError(w, http.StatusBadRequest, strings.ReplaceAll(inv.Error(), "\n", "; "))
	case errors.Is(err, alert.ErrReadOnly):
		api.WriteError(w, http.StatusConflict, "rule "+strconv.Quote(rule.ID)+": "+err.Error())
	case errors.Is(err, alert.ErrExists):
		api.WriteError(w, http.StatusConflict, "rule "+strconv.Quote(rule.ID)+" exists; PUT /api/v1/rules/"+rule.ID+" replaces it")
	case errors.Is(err, alert.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no rule "+strconv.Quote(rule.ID)+"; POST /api/v1/rules creates one")
	case err != nil:
		h.log.Warn("put rule", "rule", rule.ID, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the rule could not be stored: the database did not answer")
	default:
		code := http.StatusOK
		if create {
			code = http.StatusCreated
		}
		api.WriteJSON(w, code, saved)
	}
}

// DeleteRule is DELETE /api/v1/rules/{id}.
func (h *API) DeleteRule(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !h.alertsReady(w) {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id := r.PathValue("id")
	switch err := h.cfg.Engine.DeleteRule(ctx, id); {
	case errors.Is(err, alert.ErrReadOnly):
		api.WriteError(w, http.StatusConflict, "rule "+strconv.Quote(id)+": "+err.Error())
	case errors.Is(err, alert.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no rule "+strconv.Quote(id))
	case err != nil:
		h.log.Warn("delete rule", "rule", id, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the rule could not be deleted: the database did not answer")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

var alertStatuses = []string{telemetry.AlertOpen, telemetry.AlertAcknowledged, telemetry.AlertResolved, telemetry.AlertDismissed}

// List is GET /api/v1/alerts?status=open,acknowledged&team=&from=&to=&limit=:
// newest first; from and to bound the creation time (no default range).
func (h *API) List(w http.ResponseWriter, r *http.Request) {
	if !h.alertsReady(w) {
		return
	}
	q := r.URL.Query()
	var aq telemetry.AlertQuery
	if v := q.Get("status"); v != "" {
		for _, st := range strings.Split(v, ",") {
			if !slices.Contains(alertStatuses, st) {
				api.WriteError(w, http.StatusBadRequest, "status: a comma-separated list of open, acknowledged, resolved, dismissed")
				return
			}
			aq.Status = append(aq.Status, st)
		}
	}
	if aq.Team = q.Get("team"); len(aq.Team) > 100 {
		api.WriteError(w, http.StatusBadRequest, "team: at most 100 characters")
		return
	}
	for _, p := range []struct {
		key string
		dst *time.Time
	}{{"from", &aq.From}, {"to", &aq.To}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339Nano, v)
			if err != nil {
				api.WriteError(w, http.StatusBadRequest, p.key+": not an RFC 3339 time such as 2026-11-23T14:00:00Z")
				return
			}
			*p.dst = t
		}
	}
	if !aq.From.IsZero() && !aq.To.IsZero() && !aq.To.After(aq.From) {
		api.WriteError(w, http.StatusBadRequest, "to must be after from")
		return
	}
	aq.Limit = 200
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxAlerts {
			api.WriteError(w, http.StatusBadRequest, "limit: a whole number from 1 to "+strconv.Itoa(maxAlerts))
			return
		}
		aq.Limit = n
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	as, err := h.cfg.Store.Alerts(ctx, aq)
	if err != nil {
		h.log.Warn("list alerts", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "alerts could not be read: the database did not answer")
		return
	}
	if as == nil {
		as = []telemetry.Alert{}
	}
	api.WriteJSON(w, http.StatusOK, as)
}

func alertID(w http.ResponseWriter, r *http.Request) (telemetry.UUID, bool) {
	id, err := telemetry.ParseUUID(r.PathValue("id"))
	if err != nil {
		api.WriteError(w, http.StatusNotFound, "no alert "+strconv.Quote(r.PathValue("id"))+": alert ids are UUIDs")
		return id, false
	}
	return id, true
}

// Detail is one alert with its audit trail and its deliveries.
type Detail struct {
	telemetry.Alert
	Log        []telemetry.AlertStep `json:"log"`
	Deliveries []telemetry.Delivery  `json:"deliveries"`
}

// readAlert reads the alert named in the path, or answers the error.
func (h *API) readAlert(w http.ResponseWriter, r *http.Request) (telemetry.Alert, bool) {
	if !h.alertsReady(w) {
		return telemetry.Alert{}, false
	}
	id, ok := alertID(w, r)
	if !ok {
		return telemetry.Alert{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	a, err := h.cfg.Store.Alert(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no alert "+id.String())
		return a, false
	case err != nil:
		h.log.Warn("read alert", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the alert could not be read: the database did not answer")
		return a, false
	}
	return a, true
}

// Get is GET /api/v1/alerts/{id}.
func (h *API) Get(w http.ResponseWriter, r *http.Request) {
	a, ok := h.readAlert(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	d := Detail{Alert: a}
	var err error
	d.Log, err = h.cfg.Store.AlertLog(ctx, a.ID)
	if err == nil {
		d.Deliveries, err = h.cfg.Store.AlertDeliveries(ctx, a.ID)
	}
	if err != nil {
		h.log.Warn("get alert", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the alert could not be read: the database did not answer")
		return
	}
	if d.Deliveries == nil {
		d.Deliveries = []telemetry.Delivery{}
	}
	api.WriteJSON(w, http.StatusOK, d)
}

// Snapshot is GET /api/v1/alerts/{id}/snapshot.jpg?size=thumb: the triggering frame
// with its box drawn (thumb: a small copy for phones).
func (h *API) Snapshot(w http.ResponseWriter, r *http.Request) {
	if !h.alertsReady(w) {
		return
	}
	id, ok := alertID(w, r)
	if !ok {
		return
	}
	size := r.URL.Query().Get("size")
	if size != "" && size != "thumb" && size != "full" {
		api.WriteError(w, http.StatusBadRequest, "size: thumb or full")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	b, err := h.cfg.Store.AlertSnapshot(ctx, id, size == "thumb")
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "alert "+id.String()+" has no snapshot")
	case err != nil:
		api.WriteError(w, http.StatusServiceUnavailable, "the snapshot could not be read: the database did not answer")
	default:
		w.Header().Set("Content-Type", "image/jpeg")
		w.Header().Set("Cache-Control", "private, max-age=86400, immutable") // a snapshot never changes
		w.Write(b)
	}
}

// Step is POST /api/v1/alerts/{id}/ack|resolve|dismiss with {"comment":
// "…"}
// (the body may be empty).
func (h *API) Step(to string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		// The body may be empty; when there is one it must be JSON.
		checked := api.OwnOrigin
		if r.ContentLength != 0 {
			checked = api.SameOrigin
		}
		if !checked(w, r) || !h.alertsReady(w) {
			return
		}
		id, ok := alertID(w, r)
		if !ok {
			return
		}
		var req struct {
			Comment string `json:"comment"`
		}
		if r.ContentLength != 0 {
			dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<10))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&req); err != nil {
				api.WriteError(w, http.StatusBadRequest, `send {"comment": "…"} or nothing: `+err.Error())
				return
			}
		}
		if strings.IndexByte(req.Comment, 0) >= 0 {
			api.WriteError(w, http.StatusBadRequest, "comment: contains a NUL character")
			return
		}
		if len(req.Comment) > maxCommentBytes {
			api.WriteError(w, http.StatusBadRequest, "comment: at most 2000 bytes")
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		a, err := h.cfg.Engine.Step(ctx, id, to, auth.Who(r.Context()).Name, strings.TrimSpace(req.Comment))
		switch {
		case errors.Is(err, store.ErrNotFound):
			api.WriteError(w, http.StatusNotFound, "no alert "+id.String())
		case errors.Is(err, store.ErrTransition):
			api.WriteError(w, http.StatusConflict, "cannot make the alert "+to+": "+strings.TrimPrefix(err.Error(), store.ErrTransition.Error()+": "))
		case err != nil:
			h.log.Warn("alert step", "alert", id.String(), "err", err)
			api.WriteError(w, http.StatusServiceUnavailable, "the alert could not be changed: the database did not answer")
		default:
			api.WriteJSON(w, http.StatusOK, a)
		}
	}
}
