// Package control is the dashboard's API of drone command and control:
// who controls a vehicle (one operator at a time, as drone platforms give
// one pilot flight control authority), the commands sent to it with their
// states, and the interlocks checked before anything is sent — a target
// or waypoint inside a keep-out fence or outside the keep-in fences,
// above the site's ceiling or below its floor, a take-off on a low
// battery, a vehicle whose link is lost, and a confirmation for arming,
// taking off and disarming in flight. Every command, refused attempts
// included, is on the audit log with its parameters, operator, result and
// reason. Sending and following commands is ingest/mavlink's.
package control

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Commander sends commands to vehicles (mavlink.Commander).
type Commander interface {
	Submit(vehicle string, req mavlink.Request, operator string) (mavlink.Command, error)
	Get(vehicle, id string) (mavlink.Command, bool)
	List(vehicle string) ([]mavlink.Command, bool)
	Plan(vehicle string) (mavlink.Plan, bool)
	State(vehicle string) (telemetry.Vehicle, bool)
}

// Limits are the site's interlocks.
type Limits struct {
	// Ceiling is the highest altitude above home a vehicle is sent to;
	// default 120 m (the usual legal limit for drones).
	Ceiling float64
	// Floor is the lowest altitude above home for a go-to or waypoint;
	// default 10 m (above the district's street furniture).
	Floor float64
	// MinTakeoffBattery is the least battery, percent, to take off;
	// default 30.
	MinTakeoffBattery float64
}

func (l *Limits) defaults() {
	if l.Ceiling <= 0 {
		l.Ceiling = 120
	}
	if l.Floor <= 0 {
		l.Floor = 10
	}
	if l.MinTakeoffBattery <= 0 {
		l.MinTakeoffBattery = 30
	}
}

// Auditor writes the audit log.
type Auditor interface {
	Audit(ctx context.Context, e store.AuditEntry) error
}

// Config is what the API serves from; without a Commander it answers 503.
type Config struct {
	Commander Commander
	// Fences are the geofences the interlocks check and a fence command
	// sends.
	Fences func() []geo.Fence
	Limits Limits
	Audit  Auditor
	// Event tells the live feed and the vehicle's timeline (a refused
	// command is one); nil tells nobody.
	Event func(telemetry.Event)
	// ControlTTL is how long control lasts without a command or a renewal
	// (the page renews it while open); default 2 minutes.
	ControlTTL time.Duration
	Log        *slog.Logger
}

// API serves command and control.
type API struct {
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	holders map[string]*Holder // by vehicle id
	now     func() time.Time
}

// Holder is who controls a vehicle.
type Holder struct {
	User    string    `json:"user"`
	Since   time.Time `json:"since"`
	Expires time.Time `json:"expires"`
}

// New serves cfg.
func New(cfg Config) *API {
	cfg.Limits.defaults()
	if cfg.ControlTTL <= 0 {
		cfg.ControlTTL = 2 * time.Minute
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Fences == nil {
		cfg.Fences = func() []geo.Fence { return nil }
	}
	return &API{cfg: cfg, log: cfg.Log.With("component", "control"), holders: map[string]*Holder{}, now: time.Now}
}

// Settings are the interlocks in force.
func (h *API) Settings() Limits { return h.cfg.Limits }

// holder is the vehicle's live holder, nil when free (a lapsed one is
// forgotten).
func (h *API) holderLocked(vehicle string, now time.Time) *Holder {
	x := h.holders[vehicle]
	if x != nil && !now.Before(x.Expires) {
		delete(h.holders, vehicle)
		return nil
	}
	return x
}

func (h *API) ready(w http.ResponseWriter) bool {
	if h.cfg.Commander == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no MAVLink links here: nothing can be commanded")
		return false
	}
	return true
}

// vehicle answers 404 for a vehicle the commander never heard.
func (h *API) vehicle(w http.ResponseWriter, r *http.Request) (telemetry.Vehicle, bool) {
	id := r.PathValue("id")
	v, ok := h.cfg.Commander.State(id)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no vehicle "+id+" is heard on this node's links")
		return v, false
	}
	return v, true
}

// holderJSON is {"holder": x}, null when free.
func holderJSON(x *Holder) map[string]any {
	if x == nil {
		return map[string]any{"holder": nil}
	}
	return map[string]any{"holder": *x}
}

// GetControl is GET /api/v1/vehicles/{id}/control: who controls it.
func (h *API) GetControl(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) {
		return
	}
	v, ok := h.vehicle(w, r)
	if !ok {
		return
	}
	h.mu.Lock()
	out := holderJSON(h.holderLocked(v.ID, h.now()))
	h.mu.Unlock()
	api.WriteJSON(w, http.StatusOK, out)
}

// PostControl is POST /api/v1/vehicles/{id}/control {"action": "take" |
// "release" | "takeover"}: take control (or renew it), give it up, or,
// for an admin, take it from whoever has it. 409 when someone else has it.
func (h *API) PostControl(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) || !api.OwnOrigin(w, r) {
		return
	}
	v, ok := h.vehicle(w, r)
	if !ok {
		return
	}
	var body struct {
		Action string `json:"action"`
	}
	if !api.DecodeBody(w, r, 4<<10, &body, `want {"action": "take" | "release" | "takeover"}`) {
		return
	}
	who := auth.Who(r.Context())
	now := h.now()
	h.mu.Lock()
	x := h.holderLocked(v.ID, now)
	var action string
	var prev string
	switch body.Action {
	case "take":
		if x != nil && x.User != who.Name {
			h.mu.Unlock()
			api.WriteJSON(w, http.StatusConflict, map[string]any{"error": x.User + " controls " + v.ID + " (an admin may take over)", "holder": *x})
			return
		}
		if x == nil {
			x = &Holder{User: who.Name, Since: now}
			h.holders[v.ID] = x
			action = "vehicle.control.take"
		}
		x.Expires = now.Add(h.cfg.ControlTTL)
	case "takeover":
		if who.Role != auth.RoleAdmin {
			h.mu.Unlock()
			api.WriteError(w, http.StatusForbidden, "only an admin may take control from another operator")
			return
		}
		if x != nil && x.User != who.Name {
			prev = x.User
		}
		x = &Holder{User: who.Name, Since: now, Expires: now.Add(h.cfg.ControlTTL)}
		h.holders[v.ID] = x
		action = "vehicle.control.takeover"
	case "release":
		if x != nil && x.User == who.Name {
			delete(h.holders, v.ID)
			action = "vehicle.control.release"
		}
		x = nil
	default:
		h.mu.Unlock()
		api.WriteError(w, http.StatusBadRequest, `action is "take", "release" or "takeover"`)
		return
	}
	out := holderJSON(x)
	h.mu.Unlock()
	if action != "" {
		h.audit(r, action, v.ID, map[string]any{"from": prev})
	}
	api.WriteJSON(w, http.StatusOK, out)
}

func (h *API) audit(r *http.Request, action, vehicle string, detail any) {
	if h.cfg.Audit == nil {
		return
	}
	e := auth.Entry(r)
	e.Action, e.ObjectType, e.ObjectID, e.Detail = action, "vehicle", vehicle, auth.AuditDetail(detail)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 3*time.Second)
	defer cancel()
	if err := h.cfg.Audit.Audit(ctx, e); err != nil {
		h.log.Warn("a command's audit row could not be written", "vehicle", vehicle, "action", action, "err", err)
	}
}

// commandBody is a command request and its confirmation.
type commandBody struct {
	mavlink.Request
	// Fences names the geofences a fence command sends (default: every
	// keep-in and keep-out fence of the vehicle's site).
	Fences []string `json:"fences,omitempty"`
	// Confirm is the operator's yes to a command that asks for one (arm,
	// take-off, disarm in flight).
	Confirm bool `json:"confirm,omitempty"`
}

// needsConfirm says why a command asks the operator to confirm; "" when
// it does not.
func needsConfirm(req mavlink.Request, v telemetry.Vehicle) string {
	switch req.Command {
	case mavlink.CmdArm:
		return "arming starts the motors"
	case mavlink.CmdTakeoff:
		return fmt.Sprintf("%s takes off to %.0f m", v.ID, *req.Alt)
	case mavlink.CmdDisarm:
		if flying(v) {
			return v.ID + " is flying: disarming stops its motors in the air"
		}
	}
	return ""
}

func flying(v telemetry.Vehicle) bool {
	return v.Armed && (v.Landed == "in_air" || v.Landed == "takeoff" || v.Landed == "landing" || (v.Landed == "" && v.Position.AltRel > 2))
}

// PostCommand is POST /api/v1/vehicles/{id}/commands: {"command": …,
// parameters…, "confirm"?} → 202 with the command (its id, state
// "queued"). 400 for a bad request, 403 without the command permission
// (the route's), 409 without control of the vehicle or while a command of
// the kind waits for its answer, 422 when an interlock refuses it, 428
// when it needs "confirm": true.
func (h *API) PostCommand(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) || !api.OwnOrigin(w, r) {
		return
	}
	v, ok := h.vehicle(w, r)
	if !ok {
		return
	}
	var body commandBody
	if !api.DecodeBody(w, r, 1<<20, &body, `want {"command": "arm" | "disarm" | "takeoff" | "hold" | "rtl" | "land" | "goto" | "mode" | "speed" | "gimbal" | "roi" | "mission" | "mission_start" | "pause" | "resume" | "fence", …}`) {
		return
	}
	req := body.Request
	who := auth.Who(r.Context())
	refuse := func(code int, why string, extra map[string]any) {
		h.audit(r, "vehicle.command.refused", v.ID, map[string]any{"params": req, "reason": why})
		if h.cfg.Event != nil && code == http.StatusUnprocessableEntity {
			h.cfg.Event(telemetry.Event{Time: time.Now(), ID: telemetry.NewUUID(), Kind: "vehicle.command", Site: v.Site, VehicleID: v.ID,
				Message: fmt.Sprintf("%s: %s refused before sending: %s", v.ID, req.Command, why),
				Data:    map[string]any{"command": req.Command, "state": "refused", "text": why, "operator": who.Name}})
		}
		out := map[string]any{"error": why}
		for k, x := range extra {
			out[k] = x
		}
		api.WriteJSON(w, code, out)
	}
	if req.Command == mavlink.CmdFence && len(req.Zones) == 0 {
		zones, err := h.fenceZones(v, body.Fences)
		if err != nil {
			refuse(http.StatusBadRequest, err.Error(), nil)
			return
		}
		req.Zones = zones
	}
	if err := req.Validate(); err != nil {
		refuse(http.StatusBadRequest, err.Error(), nil)
		return
	}
	now := h.now()
	h.mu.Lock()
	x := h.holderLocked(v.ID, now)
	if x == nil || x.User != who.Name {
		h.mu.Unlock()
		why := "take control of " + v.ID + " first"
		var extra map[string]any
		if x != nil {
			why = x.User + " controls " + v.ID
			extra = map[string]any{"holder": *x}
		}
		refuse(http.StatusConflict, why, extra)
		return
	}
	x.Expires = now.Add(h.cfg.ControlTTL) // a command renews control
	h.mu.Unlock()
	if v.Health.State == telemetry.LinkLost {
		refuse(http.StatusConflict, v.ID+"'s link is lost: nothing is sent to it", nil)
		return
	}
	if why := h.interlock(req, v); why != "" {
		refuse(http.StatusUnprocessableEntity, why, nil)
		return
	}
	if why := needsConfirm(req, v); why != "" && !body.Confirm {
		api.WriteJSON(w, http.StatusPreconditionRequired, map[string]any{"error": "confirm: " + why, "confirm": why})
		return
	}
	cmd, err := h.cfg.Commander.Submit(v.ID, req, who.Name)
	switch {
	case errors.Is(err, mavlink.ErrInvalid):
		refuse(http.StatusBadRequest, err.Error(), nil)
		return
	case errors.Is(err, mavlink.ErrUnknownVehicle):
		refuse(http.StatusNotFound, err.Error(), nil)
		return
	case errors.Is(err, mavlink.ErrLinkLost), errors.Is(err, mavlink.ErrBusy):
		refuse(http.StatusConflict, err.Error(), nil)
		return
	case errors.Is(err, mavlink.ErrNotHere):
		refuse(http.StatusServiceUnavailable, err.Error(), nil)
		return
	case err != nil:
		refuse(http.StatusInternalServerError, err.Error(), nil)
		return
	}
	h.audit(r, "vehicle.command", v.ID, map[string]any{"id": cmd.ID, "params": req, "state": cmd.State, "result": cmd.Result, "text": cmd.Text})
	w.Header().Set("Location", "/api/v1/vehicles/"+v.ID+"/commands/"+cmd.ID)
	api.WriteJSON(w, http.StatusAccepted, cmd)
}

// GetCommand is GET /api/v1/vehicles/{id}/commands/{cid}.
func (h *API) GetCommand(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) {
		return
	}
	cmd, ok := h.cfg.Commander.Get(r.PathValue("id"), r.PathValue("cid"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no such command")
		return
	}
	api.WriteJSON(w, http.StatusOK, cmd)
}

// ListCommands is GET /api/v1/vehicles/{id}/commands: recent commands,
// newest first, with who controls the vehicle and the interlocks.
func (h *API) ListCommands(w http.ResponseWriter, r *http.Request) {
	if !h.ready(w) {
		return
	}
	v, ok := h.vehicle(w, r)
	if !ok {
		return
	}
	list, _ := h.cfg.Commander.List(v.ID)
	plan, _ := h.cfg.Commander.Plan(v.ID)
	h.mu.Lock()
	var holder any
	if x := h.holderLocked(v.ID, h.now()); x != nil {
		holder = *x
	}
	h.mu.Unlock()
	api.WriteJSON(w, http.StatusOK, map[string]any{"commands": list, "holder": holder, "plan": plan, "limits": h.cfg.Limits,
		"modes": mavlink.ModeNames(v.Autopilot, v.Type)})
}

// interlock says why a request must not be sent; "" when it may.
func (h *API) interlock(req mavlink.Request, v telemetry.Vehicle) string {
	lim := h.cfg.Limits
	alt := func(what string, a float64) string {
		switch {
		case a > lim.Ceiling:
			return fmt.Sprintf("%s at %.0f m is above the site's ceiling of %.0f m", what, a, lim.Ceiling)
		case a < lim.Floor:
			return fmt.Sprintf("%s at %.0f m is below the site's floor of %.0f m", what, a, lim.Floor)
		}
		return ""
	}
	fences := h.siteFences(v.Site)
	switch req.Command {
	case mavlink.CmdTakeoff:
		if why := alt("the take-off altitude", *req.Alt); why != "" {
			return why
		}
		if v.Battery.Valid && v.Battery.Remaining >= 0 && v.Battery.Remaining < lim.MinTakeoffBattery {
			return fmt.Sprintf("battery at %.0f %%: taking off needs %.0f %%", v.Battery.Remaining, lim.MinTakeoffBattery)
		}
	case mavlink.CmdGoto:
		if why := alt("the target", *req.Alt); why != "" {
			return why
		}
		if why := where("the target", *req.Lat, *req.Lon, fences); why != "" {
			return why
		}
		if v.Position.Valid {
			if why := crossing("the way to the target", [2]float64{v.Position.Lat, v.Position.Lon}, [2]float64{*req.Lat, *req.Lon}, fences); why != "" {
				return why
			}
		}
	case mavlink.CmdMission:
		prev := [2]float64{v.Position.Lat, v.Position.Lon}
		for i, wp := range req.Waypoints {
			what := fmt.Sprintf("waypoint %d", i+1)
			if why := alt(what, wp.Alt); why != "" {
				return why
			}
			if why := where(what, wp.Lat, wp.Lon, fences); why != "" {
				return why
			}
			if i > 0 || v.Position.Valid {
				if why := crossing(fmt.Sprintf("the leg to waypoint %d", i+1), prev, [2]float64{wp.Lat, wp.Lon}, fences); why != "" {
					return why
				}
			}
			prev = [2]float64{wp.Lat, wp.Lon}
		}
	}
	return ""
}

// siteFences are the keep-in and keep-out fences that concern a site's
// vehicles (those of no site concern every site).
func (h *API) siteFences(site string) []geo.Fence {
	var out []geo.Fence
	for _, f := range h.cfg.Fences() {
		if (f.Kind == geo.KeepIn || f.Kind == geo.KeepOut) && (f.Site == "" || site == "" || f.Site == site) {
			out = append(out, f)
		}
	}
	return out
}

// where says why a point may not be flown to: inside a keep-out fence,
// or outside every keep-in fence (when there are any).
func where(what string, lat, lon float64, fences []geo.Fence) string {
	p := orb.Point{lon, lat}
	in, anyIn := "", false
	for _, f := range fences {
		switch f.Kind {
		case geo.KeepOut:
			if f.Contains(p) {
				return fmt.Sprintf("%s is inside the keep-out fence %q", what, name(f))
			}
		case geo.KeepIn:
			anyIn = true
			if f.Contains(p) {
				in = f.ID
			}
		}
	}
	if anyIn && in == "" {
		return what + " is outside every keep-in fence"
	}
	return ""
}

// crossing says why a straight leg may not be flown: it passes through a
// keep-out fence (checked every 2 m along it).
func crossing(what string, a, b [2]float64, fences []geo.Fence) string {
	d := geo.Distance(a[0], a[1], b[0], b[1])
	n := int(math.Min(math.Ceil(d/2), 5000))
	for _, f := range fences {
		if f.Kind != geo.KeepOut {
			continue
		}
		for i := 1; i < n; i++ {
			t := float64(i) / float64(n)
			if f.Contains(orb.Point{a[1] + (b[1]-a[1])*t, a[0] + (b[0]-a[0])*t}) {
				return fmt.Sprintf("%s passes through the keep-out fence %q", what, name(f))
			}
		}
	}
	return ""
}

func name(f geo.Fence) string {
	if f.Name != "" {
		return f.Name
	}
	return f.ID
}

// fenceZones turns geofences into a fence for the vehicle: the named
// ones, or every keep-in and keep-out fence of its site.
func (h *API) fenceZones(v telemetry.Vehicle, ids []string) ([]mavlink.FenceZone, error) {
	var zones []mavlink.FenceZone
	all := h.siteFences(v.Site)
	for _, id := range ids {
		if !slices.ContainsFunc(all, func(f geo.Fence) bool { return f.ID == id }) {
			return nil, fmt.Errorf("no keep-in or keep-out geofence %q for %s's site", id, v.ID)
		}
	}
	for _, f := range all {
		if len(ids) > 0 && !slices.Contains(ids, f.ID) {
			continue
		}
		if len(f.Polygon) == 0 {
			continue
		}
		ring := f.Polygon[0]
		var poly [][2]float64
		for i, p := range ring {
			if i == len(ring)-1 && p == ring[0] {
				break // the closing point
			}
			poly = append(poly, [2]float64{p[1], p[0]})
		}
		keep := "out"
		if f.Kind == geo.KeepIn {
			keep = "in"
		}
		zones = append(zones, mavlink.FenceZone{Keep: keep, Polygon: poly, Name: f.ID})
	}
	if len(zones) == 0 {
		return nil, fmt.Errorf("%s's site has no keep-in or keep-out geofence to send", v.ID)
	}
	return zones, nil
}
