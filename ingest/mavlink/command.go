package mavlink

// Command and control: smarteye, a ground station, tells a vehicle what
// to do through the link it is heard on, and follows the command until
// the vehicle's own telemetry shows it done.
//
// Built to how a real ArduPilot answers (see ingest/sim's autopilot for
// the measurements): COMMAND_ACK ACCEPTED means started, not done, so
// every command is confirmed by the state it should bring about (the
// mode, the armed flag, the altitude, the position); a refusal's reason
// comes as a STATUSTEXT just before the ack and is kept beside it; the
// confirmation field is ignored by the autopilot, so a command that moves
// the vehicle (arm, take-off, go-to, mission start) is sent once and never
// retried, while one that only sets a state (a mode, a speed, the gimbal)
// is retried with the confirmation incremented; a command a vehicle
// answered UNSUPPORTED is not sent to it again; a command still pending
// when the link is lost fails rather than run late.

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// Commands a vehicle may be sent (Request.Command).
const (
	CmdArm          = "arm"
	CmdDisarm       = "disarm"
	CmdTakeoff      = "takeoff"
	CmdHold         = "hold"
	CmdRTL          = "rtl"
	CmdLand         = "land"
	CmdGoto         = "goto"
	CmdMode         = "mode"
	CmdSpeed        = "speed"
	CmdGimbal       = "gimbal"
	CmdROI          = "roi"
	CmdMission      = "mission"
	CmdMissionStart = "mission_start"
	CmdPause        = "pause"
	CmdResume       = "resume"
	CmdFence        = "fence"
)

// CommandNames lists the commands.
var CommandNames = []string{CmdArm, CmdDisarm, CmdTakeoff, CmdHold, CmdRTL, CmdLand, CmdGoto, CmdMode, CmdSpeed, CmdGimbal, CmdROI,
	CmdMission, CmdMissionStart, CmdPause, CmdResume, CmdFence}

// A command's states. Queued, Sent, InProgress and Accepted are on the
// way; the others are final.
const (
	Queued     = "queued"      // taken, not sent yet
	Sent       = "sent"        // sent, no answer yet
	InProgress = "in_progress" // the autopilot says it is working on it (with progress)
	Accepted   = "accepted"    // the autopilot started it; its outcome not seen yet
	Done       = "done"        // the vehicle's state shows it done
	Denied     = "denied"      // the autopilot refused it (result and reason beside)
	Failed     = "failed"      // it did not happen: the link was lost, the plan read back differs, the state never came
	TimedOut   = "timed_out"   // no answer after its tries
	Cancelled  = "cancelled"   // superseded by a later command, or cancelled by the autopilot
)

// Final reports a state a command does not leave.
func Final(state string) bool {
	switch state {
	case Done, Denied, Failed, TimedOut, Cancelled:
		return true
	}
	return false
}

// Waypoint is a point of a patrol: degrees, and metres above home.
type Waypoint struct {
	Lat float64 `json:"lat"`
	Lon float64 `json:"lon"`
	Alt float64 `json:"alt"`
}

// Circle is a circular fence zone.
type Circle struct {
	Lat    float64 `json:"lat"`
	Lon    float64 `json:"lon"`
	Radius float64 `json:"radius"` // metres
}

// FenceZone is one zone of a fence sent to a vehicle: an inclusion
// ("in": the vehicle stays inside) or exclusion ("out") polygon or circle.
type FenceZone struct {
	Keep    string       `json:"keep"`
	Polygon [][2]float64 `json:"polygon,omitempty"` // [lat, lon]
	Circle  *Circle      `json:"circle,omitempty"`
	// Name is where it came from (a geofence's id), for people.
	Name string `json:"name,omitempty"`
}

// Request is what a command asks: the command and its parameters.
type Request struct {
	Command string `json:"command"`
	// Lat, Lon and Alt (metres above home) are goto's and roi's target;
	// Alt alone is takeoff's.
	Lat *float64 `json:"lat,omitempty"`
	Lon *float64 `json:"lon,omitempty"`
	Alt *float64 `json:"alt,omitempty"`
	// Mode is the autopilot's own mode name ("GUIDED", "LOITER").
	Mode string `json:"mode,omitempty"`
	// Speed is the ground speed, m/s.
	Speed float64 `json:"speed,omitempty"`
	// Pitch and Yaw point the gimbal, degrees (pitch down negative, yaw
	// relative to the vehicle's nose).
	Pitch *float64 `json:"pitch,omitempty"`
	Yaw   *float64 `json:"yaw,omitempty"`
	// Waypoints are a mission's; End is what it does after the last:
	// "rtl" (the default) or "hold".
	Waypoints []Waypoint `json:"waypoints,omitempty"`
	End       string     `json:"end,omitempty"`
	// Zones are a fence's.
	Zones []FenceZone `json:"zones,omitempty"`
	// Force disarms in flight.
	Force bool `json:"force,omitempty"`
}

// Limits on a request.
const (
	MaxWaypoints    = 500
	MaxFenceZones   = 64
	MaxVertices     = 100
	maxAltitude     = 10000.0 // m above home
	maxCommandSpeed = 100.0   // m/s
)

// ErrInvalid is a request that cannot be a command; its text says why.
var ErrInvalid = errors.New("invalid command")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

func finite64(fs ...float64) bool {
	for _, f := range fs {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
	}
	return true
}

func validLatLon(lat, lon float64) bool {
	return finite64(lat, lon) && lat >= -90 && lat <= 90 && lon >= -180 && lon <= 180
}

// Validate checks a request's parameters (not the vehicle's state).
func (r Request) Validate() error {
	need := func(what string, ok bool) error {
		if !ok {
			return invalid("%s needs %s", r.Command, what)
		}
		return nil
	}
	alt := func() error {
		if r.Alt == nil {
			return nil
		}
		if !finite64(*r.Alt) || *r.Alt < -500 || *r.Alt > maxAltitude {
			return invalid("alt %v is not an altitude in metres above home", *r.Alt)
		}
		return nil
	}
	switch r.Command {
	case CmdArm, CmdDisarm, CmdHold, CmdRTL, CmdLand, CmdMissionStart, CmdPause, CmdResume:
		return nil
	case CmdTakeoff:
		if err := need("alt (metres above home, above 1)", r.Alt != nil && finite64(*r.Alt) && *r.Alt >= 1); err != nil {
			return err
		}
		return alt()
	case CmdGoto:
		if err := need("lat, lon and alt", r.Lat != nil && r.Lon != nil && r.Alt != nil); err != nil {
			return err
		}
		if !validLatLon(*r.Lat, *r.Lon) {
			return invalid("lat %v, lon %v is not a position", *r.Lat, *r.Lon)
		}
		return alt()
	case CmdROI:
		if r.Lat == nil && r.Lon == nil {
			return nil // none: the gimbal is free again
		}
		if r.Lat == nil || r.Lon == nil || !validLatLon(*r.Lat, *r.Lon) {
			return invalid("roi needs lat and lon (or neither, to clear it)")
		}
		return alt()
	case CmdMode:
		if r.Mode == "" || len(r.Mode) > 32 {
			return invalid("mode needs a mode name")
		}
		return nil
	case CmdSpeed:
		return need(fmt.Sprintf("speed (m/s, above 0, at most %g)", maxCommandSpeed), finite64(r.Speed) && r.Speed > 0 && r.Speed <= maxCommandSpeed)
	case CmdGimbal:
		if r.Pitch == nil && r.Yaw == nil {
			return invalid("gimbal needs pitch or yaw")
		}
		if r.Pitch != nil && (!finite64(*r.Pitch) || *r.Pitch < -90 || *r.Pitch > 90) {
			return invalid("pitch %v is not -90 to 90 degrees", *r.Pitch)
		}
		if r.Yaw != nil && (!finite64(*r.Yaw) || *r.Yaw < -360 || *r.Yaw > 360) {
			return invalid("yaw %v is not -360 to 360 degrees", *r.Yaw)
		}
		return nil
	case CmdMission:
		if len(r.Waypoints) == 0 || len(r.Waypoints) > MaxWaypoints {
			return invalid("mission needs 1 to %d waypoints", MaxWaypoints)
		}
		for i, w := range r.Waypoints {
			if !validLatLon(w.Lat, w.Lon) || !finite64(w.Alt) || w.Alt < 1 || w.Alt > maxAltitude {
				return invalid("waypoint %d (%v, %v, %v m) is not a position with an altitude above home", i+1, w.Lat, w.Lon, w.Alt)
			}
		}
		if r.End != "" && r.End != "rtl" && r.End != "hold" {
			return invalid("end is rtl or hold, not %q", r.End)
		}
		return nil
	case CmdFence:
		if len(r.Zones) == 0 || len(r.Zones) > MaxFenceZones {
			return invalid("fence needs 1 to %d zones", MaxFenceZones)
		}
		for i, z := range r.Zones {
			if z.Keep != "in" && z.Keep != "out" {
				return invalid("zone %d: keep is in or out", i+1)
			}
			switch {
			case z.Circle != nil && z.Polygon == nil:
				if !validLatLon(z.Circle.Lat, z.Circle.Lon) || !finite64(z.Circle.Radius) || z.Circle.Radius <= 0 || z.Circle.Radius > 100000 {
					return invalid("zone %d: a circle needs a centre and a radius in metres", i+1)
				}
			case z.Circle == nil && len(z.Polygon) >= 3 && len(z.Polygon) <= MaxVertices:
				for _, p := range z.Polygon {
					if !validLatLon(p[0], p[1]) {
						return invalid("zone %d: vertex %v is not a position", i+1, p)
					}
				}
			default:
				return invalid("zone %d: a polygon of 3 to %d vertices or a circle", i+1, MaxVertices)
			}
		}
		return nil
	}
	return invalid("unknown command %q (one of %s)", r.Command, strings.Join(CommandNames, ", "))
}

// Command is a command sent, or refused, and how it went.
type Command struct {
	ID       string  `json:"id"`
	Vehicle  string  `json:"vehicle"`
	Command  string  `json:"command"`
	Params   Request `json:"params"`
	Operator string  `json:"operator,omitempty"`
	State    string  `json:"state"`
	// Result is the autopilot's answer (MAV_RESULT in words: accepted,
	// denied, failed, unsupported…), "" before one came.
	Result string `json:"result,omitempty"`
	// Text is the autopilot's reason (its STATUSTEXT) for a refusal, or
	// what smarteye saw.
	Text string `json:"text,omitempty"`
	// Progress is 0–100 while the vehicle works towards it (the way to a
	// go-to's target, a take-off's altitude, a plan's items).
	Progress int `json:"progress,omitempty"`
	// Attempts is how many times it was sent.
	Attempts int       `json:"attempts"`
	Created  time.Time `json:"created"`
	Updated  time.Time `json:"updated"`
	// AckAfter is from the first send to the autopilot's answer;
	// DoneAfter from the first send to the state that confirmed it.
	AckAfter  *Millis `json:"ack_ms,omitempty"`
	DoneAfter *Millis `json:"done_ms,omitempty"`
}

// Millis is a duration written as milliseconds.
type Millis float64

func millis(d time.Duration) *Millis {
	m := Millis(float64(d.Microseconds()) / 1000)
	return &m
}

// Commander errors.
var (
	ErrUnknownVehicle = errors.New("no such vehicle")
	ErrBusy           = errors.New("a command of this kind is still waiting for the vehicle's answer")
	ErrLinkLost       = errors.New("the vehicle's link is lost")
	ErrNotHere        = errors.New("the vehicle's link is not open on this node")
)

// CommandConfig tunes the commander.
type CommandConfig struct {
	// AckTimeout is how long an answer is waited for before a retry (or,
	// for a command sent once, before it has timed out). It defaults to
	// 1.5 s (QGroundControl waits 1.2 s).
	AckTimeout time.Duration
	// Retries is how many times a command that only sets a state is sent
	// again without an answer. It defaults to 3.
	Retries int
	// PlanTimeout is a mission or fence transfer step's wait before it is
	// sent again (5 tries). It defaults to 1.5 s.
	PlanTimeout time.Duration
	// Keep is how many commands are remembered per vehicle. It defaults to
	// 200.
	Keep int
}

func (c *CommandConfig) defaults() {
	if c.AckTimeout <= 0 {
		c.AckTimeout = 1500 * time.Millisecond
	}
	if c.Retries < 0 {
		c.Retries = 0
	} else if c.Retries == 0 {
		c.Retries = 3
	}
	if c.PlanTimeout <= 0 {
		c.PlanTimeout = 1500 * time.Millisecond
	}
	if c.Keep <= 0 {
		c.Keep = 200
	}
}

// Commander sends commands to vehicles and follows them.
type Commander struct {
	in  *Ingest
	cfg CommandConfig
	log *slog.Logger

	mu       sync.Mutex
	vehicles map[string]*commanded // by vehicle id
	onChange []func(Command)
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
}

// commanded is a vehicle as the commander knows it.
type commanded struct {
	id   string
	link *link
	sys  uint8
	comp uint8 // its autopilot's component
	key  *frame.V2Key

	state   telemetry.Vehicle
	changed chan struct{} // closed on a state change while commands are under way
	texts   []heardText
	// unsupported: commands it answered UNSUPPORTED.
	unsupported map[common.MAV_CMD]bool
	// waiting: runs waiting for an answer, by slot; following: accepted
	// runs watching the state for their outcome.
	waiting   map[string]*run
	following map[*run]bool
	runs      map[*run]bool // every run not final: they hear its messages
	history   []*run        // newest last
	plans     map[ardupilotmega.MAV_MISSION_TYPE][]Waypoint
	fence     []FenceZone
}

type heardText struct {
	at   time.Time
	text string
}

// run is one command's life.
type run struct {
	c      Command
	v      *commanded
	inbox  chan message.Message
	ctx    context.Context
	cancel context.CancelCauseFunc
	sentAt time.Time
}

func newCommander(in *Ingest, cfg CommandConfig, log *slog.Logger) *Commander {
	cfg.defaults()
	ctx, cancel := context.WithCancel(context.Background())
	return &Commander{in: in, cfg: cfg, log: log.With("component", "mavlink.command"), vehicles: map[string]*commanded{}, ctx: ctx, cancel: cancel}
}

// OnChange calls fn with every change of every command (from the
// commander's goroutines: fn must not block).
func (c *Commander) OnChange(fn func(Command)) {
	c.mu.Lock()
	c.onChange = append(c.onChange, fn)
	c.mu.Unlock()
}

// close stops every run (the ingest is stopping); their commands fail.
func (c *Commander) close() {
	c.cancel()
	c.wg.Wait()
}

// vehicle is the vehicle of that id, made on first sight.
func (c *Commander) vehicleLocked(l *link, v *telemetry.Vehicle) *commanded {
	cv := c.vehicles[v.ID]
	if cv == nil || cv.link != l || cv.sys != v.SystemID {
		cv = &commanded{id: v.ID, link: l, sys: v.SystemID, comp: 1, changed: make(chan struct{}),
			unsupported: map[common.MAV_CMD]bool{}, waiting: map[string]*run{}, following: map[*run]bool{}, runs: map[*run]bool{},
			plans: map[ardupilotmega.MAV_MISSION_TYPE][]Waypoint{}}
		for _, vc := range c.in.cfg.Vehicles {
			if vc.Name == v.ID && vc.Link == l.cfg.Name {
				cv.key = vc.key
			}
		}
		c.vehicles[v.ID] = cv
	}
	return cv
}

// observeState is a vehicle's state after a change (every message and
// every tick).
func (c *Commander) observeState(l *link, v *telemetry.Vehicle) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vehicleLocked(l, v)
	cv.state = *v
	if len(cv.runs) > 0 { // only commands under way wait for a change
		close(cv.changed)
		cv.changed = make(chan struct{})
	}
}

// observe is a message from a vehicle's component comp.
func (c *Commander) observe(l *link, v *telemetry.Vehicle, comp uint8, msg message.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vehicleLocked(l, v)
	switch m := msg.(type) {
	case *ardupilotmega.MessageHeartbeat:
		if isVehicle(m.Type, m.Autopilot) {
			cv.comp = comp
		}
	case *ardupilotmega.MessageStatustext:
		if len(cv.texts) >= 16 {
			cv.texts = slices.Delete(cv.texts, 0, 1)
		}
		cv.texts = append(cv.texts, heardText{time.Now(), strings.TrimRight(m.Text, "\x00")})
	}
	switch msg.(type) {
	case *ardupilotmega.MessageCommandAck, *ardupilotmega.MessageMissionRequestInt, *ardupilotmega.MessageMissionRequest,
		*ardupilotmega.MessageMissionAck, *ardupilotmega.MessageMissionCount, *ardupilotmega.MessageMissionItemInt:
		for r := range cv.runs {
			select {
			case r.inbox <- msg:
			default: // a run that does not read: it times out
			}
		}
	}
}

// textsSince are the vehicle's STATUSTEXTs heard since t, joined.
func (c *Commander) textsSince(cv *commanded, t time.Time) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []string
	for _, h := range cv.texts {
		if !h.at.Before(t) {
			out = append(out, h.text)
		}
	}
	return strings.Join(out, "; ")
}

// Submit takes a command for a vehicle from operator: it is checked, then
// sent and followed in the background; the returned Command is queued, or
// refused at once (denied, with why) for a command the vehicle answered
// UNSUPPORTED before. Errors: ErrInvalid, ErrUnknownVehicle, ErrLinkLost,
// ErrBusy.
func (c *Commander) Submit(vehicle string, req Request, operator string) (Command, error) {
	if err := req.Validate(); err != nil {
		return Command{}, err
	}
	c.mu.Lock()
	cv := c.vehicles[vehicle]
	if cv == nil {
		c.mu.Unlock()
		return Command{}, ErrUnknownVehicle
	}
	if cv.link.current() == nil {
		c.mu.Unlock()
		return Command{}, ErrNotHere
	}
	if cv.state.Health.State == telemetry.LinkLost {
		c.mu.Unlock()
		return Command{}, ErrLinkLost
	}
	steps, err := c.plan(cv, req)
	c.mu.Unlock()
	if err != nil {
		return Command{}, err
	}
	return c.start(cv, req, operator, steps)
}

// start runs steps as req's command on cv.
func (c *Commander) start(cv *commanded, req Request, operator string, steps []step) (Command, error) {
	c.mu.Lock()
	slot := slotOf(req, steps)
	if w := cv.waiting[slot]; w != nil {
		c.mu.Unlock()
		return Command{}, fmt.Errorf("%w (%s %s)", ErrBusy, w.c.Command, w.c.ID)
	}
	now := time.Now()
	r := &run{c: Command{ID: "cmd-" + telemetry.NewUUID().String()[:13], Vehicle: cv.id, Command: req.Command, Params: req, Operator: operator,
		State: Queued, Created: now, Updated: now}, v: cv, inbox: make(chan message.Message, 64)}
	for _, s := range steps {
		if s.cmd != nil && cv.unsupported[s.cmd.id] {
			r.c.State, r.c.Result = Denied, "unsupported"
			r.c.Text = fmt.Sprintf("%s answered %s with UNSUPPORTED before: not sent again", cv.id, cmdWord(s.cmd.id))
			c.remember(cv, r)
			c.mu.Unlock()
			c.changed(r.c)
			return r.c, nil
		}
	}
	r.ctx, r.cancel = context.WithCancelCause(c.ctx)
	cv.waiting[slot] = r
	cv.runs[r] = true
	if moves(req.Command) {
		// The vehicle is told something else: what it was doing is over.
		for o := range cv.following {
			if moves(o.c.Command) {
				o.cancel(fmt.Errorf("superseded by %s %s", req.Command, r.c.ID))
			}
		}
	}
	c.remember(cv, r)
	c.wg.Add(1)
	queued := r.c
	c.mu.Unlock()
	c.changed(queued)
	go func() {
		defer c.wg.Done()
		c.execute(r, slot, steps)
	}()
	return queued, nil
}

// moves reports a command that changes what the vehicle flies.
func moves(cmd string) bool {
	switch cmd {
	case CmdTakeoff, CmdHold, CmdRTL, CmdLand, CmdGoto, CmdMode, CmdMissionStart, CmdPause, CmdResume:
		return true
	}
	return false
}

func (c *Commander) remember(cv *commanded, r *run) {
	cv.history = append(cv.history, r)
	if n := len(cv.history) - c.cfg.Keep; n > 0 {
		cv.history = slices.Delete(cv.history, 0, n)
	}
}

// Get is one command of a vehicle's.
func (c *Commander) Get(vehicle, id string) (Command, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cv := c.vehicles[vehicle]; cv != nil {
		for _, r := range cv.history {
			if r.c.ID == id {
				return r.c, true
			}
		}
	}
	return Command{}, false
}

// List is a vehicle's recent commands, newest first; ok is false for a
// vehicle never heard.
func (c *Commander) List(vehicle string) (out []Command, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vehicles[vehicle]
	if cv == nil {
		return nil, false
	}
	out = []Command{}
	for i := len(cv.history) - 1; i >= 0; i-- {
		out = append(out, cv.history[i].c)
	}
	return out, true
}

// Plan is the mission and fence a vehicle has confirmed (read back equal
// to what was sent), for the map.
type Plan struct {
	Mission []Waypoint  `json:"mission"`
	Fence   []FenceZone `json:"fence"`
}

// Plan is what a vehicle holds, as far as smarteye sent it.
func (c *Commander) Plan(vehicle string) (Plan, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vehicles[vehicle]
	if cv == nil {
		return Plan{}, false
	}
	return Plan{Mission: slices.Clone(cv.plans[ardupilotmega.MAV_MISSION_TYPE_MISSION]), Fence: slices.Clone(cv.fence)}, true
}

// State is a vehicle's last state as the commander saw it.
func (c *Commander) State(vehicle string) (telemetry.Vehicle, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	cv := c.vehicles[vehicle]
	if cv == nil {
		return telemetry.Vehicle{}, false
	}
	return cv.state, true
}

// update changes a run's command under the lock and tells the listeners.
func (c *Commander) update(r *run, fn func(*Command)) {
	c.mu.Lock()
	fn(&r.c)
	r.c.Updated = time.Now()
	cmd := r.c
	if Final(cmd.State) {
		delete(r.v.runs, r)
		delete(r.v.following, r)
		for slot, w := range r.v.waiting {
			if w == r {
				delete(r.v.waiting, slot)
			}
		}
	}
	c.mu.Unlock()
	c.changed(cmd)
}

func (c *Commander) changed(cmd Command) {
	c.mu.Lock()
	fns := slices.Clone(c.onChange)
	c.mu.Unlock()
	for _, fn := range fns {
		fn(cmd)
	}
	lvl := slog.LevelDebug
	if Final(cmd.State) {
		lvl = slog.LevelInfo
	}
	c.log.Log(context.Background(), lvl, "command", "vehicle", cmd.Vehicle, "id", cmd.ID, "command", cmd.Command, "state", cmd.State,
		"result", cmd.Result, "text", cmd.Text, "operator", cmd.Operator)
}

// stopWaiting frees the run's slot: its answer came.
func (c *Commander) stopWaiting(r *run, slot string) {
	c.mu.Lock()
	if r.v.waiting[slot] == r {
		delete(r.v.waiting, slot)
	}
	c.mu.Unlock()
}

// snapshot is the vehicle's state and the channel closed at its next
// change.
func (c *Commander) snapshot(cv *commanded) (telemetry.Vehicle, <-chan struct{}) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return cv.state, cv.changed
}

// send writes msg to the vehicle through its link.
func (c *Commander) send(cv *commanded, msg message.Message) error {
	return cv.link.sendTo(cv.sys, cv.key, c.in.cfg.SystemID, msg)
}

// slotOf is the kind a request counts as for "one outstanding per
// vehicle": the MAVLink command of its last step, or the plan protocol.
func slotOf(req Request, steps []step) string {
	if req.Command == CmdMission || req.Command == CmdFence {
		return "plan"
	}
	last := steps[len(steps)-1]
	if last.cmd != nil {
		return fmt.Sprint("cmd ", uint32(last.cmd.id))
	}
	return req.Command
}

func cmdWord(id common.MAV_CMD) string { return enumWord(id.String(), "MAV_CMD_") }
