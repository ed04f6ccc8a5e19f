package mavlink

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// step is one thing sent for a command: a COMMAND_LONG or COMMAND_INT, or
// a mission or fence transfer; a command is one step or a few (take-off
// is GUIDED, then NAV_TAKEOFF).
type step struct {
	what string // for texts: "changing to GUIDED"
	cmd  *cmdSpec
	plan *planSpec
	// skip reports the step needless in the vehicle's state (already in
	// that mode).
	skip func(v telemetry.Vehicle) bool
	// confirm reads the outcome from the vehicle's state: done, or how far
	// (0–100), or why it cannot happen any more. nil: the answer is the
	// outcome (a speed, a region of interest).
	confirm func(v telemetry.Vehicle) (done bool, progress int, abort string)
	// wait bounds the confirmation.
	wait time.Duration
}

// cmdSpec is a COMMAND_LONG (or, with useInt, a COMMAND_INT whose params
// 5 and 6 are degrees, sent as degE7).
type cmdSpec struct {
	id     common.MAV_CMD
	useInt bool
	frame  common.MAV_FRAME
	p      [7]float64
	// retry: the command only sets a state, so sending it again is safe.
	retry bool
}

// planSpec is a mission or fence to upload and read back.
type planSpec struct {
	kind  common.MAV_MISSION_TYPE
	items []common.MessageMissionItemInt
	// skipFirst: seq 0 is the home placeholder the autopilot rewrites.
	skipFirst bool
	store     func(cv *commanded)
}

var nan = math.NaN()

// plan turns a request into steps for the vehicle as it is now.
func (c *Commander) plan(cv *commanded, req Request) ([]step, error) {
	v := cv.state
	mode := func(name string) (step, error) {
		main, sub, canon, ok := modeNumber(v.Autopilot, v.Type, name)
		if !ok {
			return step{}, invalid("%s (%s %s) has no mode %q", cv.id, v.Autopilot, v.Type, name)
		}
		return step{what: "changing to " + canon,
			cmd:     &cmdSpec{id: common.MAV_CMD_DO_SET_MODE, p: [7]float64{float64(ardupilotmega.MAV_MODE_FLAG_CUSTOM_MODE_ENABLED), float64(main), float64(sub)}, retry: true},
			skip:    func(v telemetry.Vehicle) bool { return strings.EqualFold(v.Mode, canon) },
			confirm: modeIs(canon), wait: 5 * time.Second}, nil
	}
	switch req.Command {
	case CmdArm:
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_COMPONENT_ARM_DISARM, p: [7]float64{1}},
			confirm: func(v telemetry.Vehicle) (bool, int, string) { return v.Armed, 0, "" }, wait: 5 * time.Second}}, nil
	case CmdDisarm:
		p := [7]float64{0}
		if req.Force {
			p[1] = 21196 // the autopilots' "force" magic number
		}
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_COMPONENT_ARM_DISARM, p: p, retry: true},
			confirm: func(v telemetry.Vehicle) (bool, int, string) { return !v.Armed, 0, "" }, wait: 5 * time.Second}}, nil
	case CmdTakeoff:
		guided, err := mode(guidedMode(v))
		if err != nil {
			return nil, err
		}
		alt := *req.Alt
		start := v.Position.AltRel
		return []step{guided, {cmd: &cmdSpec{id: common.MAV_CMD_NAV_TAKEOFF, p: [7]float64{0, 0, 0, nan, 0, 0, alt}},
			confirm: func(v telemetry.Vehicle) (bool, int, string) {
				if !v.Armed {
					return false, 0, "the vehicle disarmed"
				}
				// ArduPilot calls a take-off complete near its altitude.
				return v.Position.AltRel >= alt*0.9, progress(v.Position.AltRel-start, alt-start), ""
			}, wait: time.Duration(alt/0.8)*time.Second + 30*time.Second}}, nil
	case CmdHold:
		s, err := mode(holdMode(v))
		if err != nil {
			return nil, err
		}
		s.skip = nil
		return []step{s}, nil
	case CmdMode:
		s, err := mode(req.Mode)
		if err != nil {
			return nil, err
		}
		s.skip = nil
		return []step{s}, nil
	case CmdRTL:
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_NAV_RETURN_TO_LAUNCH, retry: true}, confirm: modeIs(rtlMode(v)), wait: 5 * time.Second}}, nil
	case CmdLand:
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_NAV_LAND, p: [7]float64{0, 0, 0, nan, nan, nan, 0}, retry: true}, confirm: modeIs(landMode(v)), wait: 5 * time.Second}}, nil
	case CmdGoto:
		lat, lon, alt := *req.Lat, *req.Lon, *req.Alt
		from := [2]float64{v.Position.Lat, v.Position.Lon}
		total := haversine(from[0], from[1], lat, lon)
		guided := guidedMode(v)
		seen := false
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_REPOSITION, useInt: true, frame: common.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
			p: [7]float64{-1, float64(common.MAV_DO_REPOSITION_FLAGS_CHANGE_MODE), 0, nan, lat, lon, alt}},
			confirm: func(v telemetry.Vehicle) (bool, int, string) {
				if !v.Armed {
					return false, 0, "the vehicle disarmed"
				}
				if strings.EqualFold(v.Mode, guided) {
					seen = true
				} else if seen {
					return false, 0, "the vehicle left " + guided + " for " + v.Mode
				}
				d := haversine(v.Position.Lat, v.Position.Lon, lat, lon)
				return d <= 5 && math.Abs(v.Position.AltRel-alt) <= 3, progress(total-d, total), ""
			}, wait: time.Duration(total/2)*time.Second + 60*time.Second}}, nil
	case CmdSpeed:
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_CHANGE_SPEED, p: [7]float64{1, req.Speed, -1}, retry: true}}}, nil
	case CmdGimbal:
		pitch, yaw := nan, nan
		if req.Pitch != nil {
			pitch = *req.Pitch
		}
		if req.Yaw != nil {
			yaw = *req.Yaw
		}
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_GIMBAL_MANAGER_PITCHYAW, p: [7]float64{pitch, yaw, nan, nan, 0, 0, 0}, retry: true},
			confirm: func(v telemetry.Vehicle) (bool, int, string) {
				if !v.Gimbal.Valid {
					return true, 0, "" // it reports no gimbal attitude: the answer is all there is
				}
				return math.IsNaN(pitch) || math.Abs(v.Gimbal.Pitch-pitch) <= 3, 0, ""
			}, wait: 10 * time.Second}}, nil
	case CmdROI:
		if req.Lat == nil {
			return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_SET_ROI_NONE, retry: true}}}, nil
		}
		alt := 0.0
		if req.Alt != nil {
			alt = *req.Alt
		}
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_SET_ROI_LOCATION, useInt: true, frame: common.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
			p: [7]float64{0, 0, 0, 0, *req.Lat, *req.Lon, alt}, retry: true}}}, nil
	case CmdMission:
		items, wps := missionItems(v, req)
		return []step{{what: "uploading the mission", plan: &planSpec{kind: common.MAV_MISSION_TYPE_MISSION, items: items, skipFirst: true,
			store: func(cv *commanded) { cv.plans[ardupilotmega.MAV_MISSION_TYPE_MISSION] = wps }}}}, nil
	case CmdMissionStart:
		auto, err := mode(autoMode(v))
		if err != nil {
			return nil, err
		}
		if len(cv.plans[ardupilotmega.MAV_MISSION_TYPE_MISSION]) == 0 && (v.Mission == nil || v.Mission.Total == 0) {
			return nil, invalid("%s has no mission to start: upload one first", cv.id)
		}
		return []step{auto, {cmd: &cmdSpec{id: common.MAV_CMD_MISSION_START}, confirm: modeIs(autoMode(v)), wait: 5 * time.Second}}, nil
	case CmdPause, CmdResume:
		p := 0.0
		if req.Command == CmdResume {
			p = 1
		}
		return []step{{cmd: &cmdSpec{id: common.MAV_CMD_DO_PAUSE_CONTINUE, p: [7]float64{p}, retry: true}}}, nil
	case CmdFence:
		items := fenceItems(req.Zones)
		zones := req.Zones
		return []step{
			{what: "uploading the fence", plan: &planSpec{kind: common.MAV_MISSION_TYPE_FENCE, items: items, store: func(cv *commanded) { cv.fence = zones }}},
			{what: "enabling the fence", cmd: &cmdSpec{id: common.MAV_CMD_DO_FENCE_ENABLE, p: [7]float64{1}, retry: true}},
		}, nil
	}
	return nil, invalid("unknown command %q", req.Command)
}

// progress is done of total as 0–100.
func progress(done, total float64) int {
	if total <= 0 || math.IsNaN(done) {
		return 0
	}
	return int(math.Max(0, math.Min(100, 100*done/total)))
}

func modeIs(name string) func(v telemetry.Vehicle) (bool, int, string) {
	return func(v telemetry.Vehicle) (bool, int, string) { return strings.EqualFold(v.Mode, name), 0, "" }
}

// The modes each autopilot uses for a purpose.
func guidedMode(v telemetry.Vehicle) string {
	if v.Autopilot == "px4" {
		return "Hold" // PX4 repositions in Hold
	}
	return "GUIDED"
}

func holdMode(v telemetry.Vehicle) string {
	switch {
	case v.Autopilot == "px4":
		return "Hold"
	case classOf(v.Type) == "copter":
		return "BRAKE"
	case classOf(v.Type) == "rover":
		return "HOLD"
	}
	return "LOITER"
}

func rtlMode(v telemetry.Vehicle) string {
	if v.Autopilot == "px4" {
		return "Return"
	}
	return "RTL"
}

func landMode(v telemetry.Vehicle) string {
	switch {
	case v.Autopilot == "px4":
		return "Land"
	case classOf(v.Type) == "plane":
		return "QLAND"
	}
	return "LAND"
}

func autoMode(v telemetry.Vehicle) string {
	if v.Autopilot == "px4" {
		return "Mission"
	}
	return "AUTO"
}

func classOf(typ string) string {
	var t ardupilotmega.MAV_TYPE
	if t.UnmarshalText([]byte("MAV_TYPE_"+strings.ToUpper(typ))) != nil {
		return ""
	}
	return vehicleClass(t)
}

// modeNumber is a mode name's number for DO_SET_MODE: ArduPilot's custom
// mode, or PX4's main and sub mode; canon is the name as the autopilot
// writes it.
func modeNumber(autopilot, typ, name string) (main, sub uint32, canon string, ok bool) {
	if autopilot == "px4" {
		for n, m := range px4AutoModes {
			if strings.EqualFold(m, name) {
				return 4, n, m, true
			}
		}
		for n, m := range px4MainModes {
			if strings.EqualFold(m, name) {
				return n, 0, m, true
			}
		}
		return 0, 0, "", false
	}
	if autopilot != "ardupilot" && autopilot != "" {
		return 0, 0, "", false
	}
	for n, m := range arduModes(classOf(typ)) {
		if strings.EqualFold(m, name) {
			return n, 0, m, true
		}
	}
	return 0, 0, "", false
}

// missionItems is a patrol as the mission protocol has it: seq 0 the home
// placeholder, the waypoints (altitudes above home), then RTL unless it
// ends holding.
func missionItems(v telemetry.Vehicle, req Request) ([]common.MessageMissionItemInt, []Waypoint) {
	home := v.Home
	if !home.Valid {
		home = v.Position
	}
	items := []common.MessageMissionItemInt{{Seq: 0, Frame: common.MAV_FRAME_GLOBAL, Command: common.MAV_CMD_NAV_WAYPOINT, Autocontinue: 1,
		X: toE7(home.Lat), Y: toE7(home.Lon), Z: float32(home.AltMSL)}}
	for _, w := range req.Waypoints {
		items = append(items, common.MessageMissionItemInt{Frame: common.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, Command: common.MAV_CMD_NAV_WAYPOINT,
			Autocontinue: 1, X: toE7(w.Lat), Y: toE7(w.Lon), Z: float32(w.Alt)})
	}
	if req.End != "hold" {
		items = append(items, common.MessageMissionItemInt{Frame: common.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT, Command: common.MAV_CMD_NAV_RETURN_TO_LAUNCH, Autocontinue: 1})
	}
	for i := range items {
		items[i].Seq = uint16(i)
		items[i].MissionType = common.MAV_MISSION_TYPE_MISSION
	}
	return items, append([]Waypoint(nil), req.Waypoints...)
}

// fenceItems is a fence as the fence protocol has it: each polygon's
// vertices with their count in param 1, each circle with its radius.
func fenceItems(zones []FenceZone) []common.MessageMissionItemInt {
	var items []common.MessageMissionItemInt
	for _, z := range zones {
		if z.Circle != nil {
			cmd := common.MAV_CMD_NAV_FENCE_CIRCLE_INCLUSION
			if z.Keep == "out" {
				cmd = common.MAV_CMD_NAV_FENCE_CIRCLE_EXCLUSION
			}
			items = append(items, common.MessageMissionItemInt{Frame: common.MAV_FRAME_GLOBAL, Command: cmd, Param1: float32(z.Circle.Radius),
				X: toE7(z.Circle.Lat), Y: toE7(z.Circle.Lon)})
			continue
		}
		cmd := common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION
		if z.Keep == "out" {
			cmd = common.MAV_CMD_NAV_FENCE_POLYGON_VERTEX_EXCLUSION
		}
		for _, p := range z.Polygon {
			items = append(items, common.MessageMissionItemInt{Frame: common.MAV_FRAME_GLOBAL, Command: cmd, Param1: float32(len(z.Polygon)),
				X: toE7(p[0]), Y: toE7(p[1])})
		}
	}
	for i := range items {
		items[i].Seq = uint16(i)
		items[i].MissionType = common.MAV_MISSION_TYPE_FENCE
	}
	return items
}

func toE7(d float64) int32 { return int32(math.Round(d * 1e7)) }

// execute runs a command's steps in order; the first that does not go
// through ends it.
func (c *Commander) execute(r *run, slot string, steps []step) {
	defer c.stopWaiting(r, slot)
	for i, s := range steps {
		v, _ := c.snapshot(r.v)
		if s.skip != nil && s.skip(v) {
			continue
		}
		last := i == len(steps)-1
		var ok bool
		if s.cmd != nil {
			ok = c.runCmd(r, slot, s, last)
		} else {
			ok = c.runPlan(r, slot, s, last)
		}
		if !ok {
			return
		}
	}
}

// stepText prefixes a text with the step it came from when the command
// has several.
func stepText(s step, last bool, text string) string {
	if s.what == "" || (last && s.plan == nil) {
		return text
	}
	return s.what + ": " + text
}

// ended is why a run's context ended: a later command, or smarteye
// stopping.
func ended(r *run) (state, text string) {
	cause := context.Cause(r.ctx)
	if cause == nil || errors.Is(cause, context.Canceled) {
		return Failed, "smarteye stopped before the outcome was seen"
	}
	return Cancelled, cause.Error()
}

// runCmd sends one COMMAND_LONG or COMMAND_INT step and follows it; it
// reports whether the command goes on.
func (c *Commander) runCmd(r *run, slot string, s step, last bool) bool {
	cv := r.v
	tries := 1
	if s.cmd.retry {
		tries += c.cfg.Retries
	}
	var ack *ardupilotmega.MessageCommandAck
	var first time.Time
	for attempt := 0; attempt < tries && ack == nil; attempt++ {
		msg := s.cmd.message(cv.sys, cv.comp, uint8(attempt))
		now := time.Now()
		if first.IsZero() {
			first = now
			if r.sentAt.IsZero() {
				r.sentAt = now
			}
		}
		if err := c.send(cv, msg); err != nil {
			c.update(r, func(cmd *Command) { cmd.State, cmd.Text = Failed, stepText(s, last, "not sent: "+err.Error()) })
			return false
		}
		c.update(r, func(cmd *Command) { cmd.State, cmd.Attempts = Sent, cmd.Attempts+1 })
		var state string
		var text string
		ack, state, text = c.awaitAck(r, s.cmd.id)
		if state != "" {
			c.update(r, func(cmd *Command) { cmd.State, cmd.Text = state, stepText(s, last, text) })
			return false
		}
	}
	if ack == nil {
		c.stopWaiting(r, slot)
		if !s.cmd.retry && s.confirm != nil {
			// Sent once, never again: the vehicle may have done it and its
			// answer been lost. Its state tells.
			c.update(r, func(cmd *Command) {
				cmd.Text = stepText(s, last, fmt.Sprintf("no answer within %s; not sent again (it moves the vehicle): watching its state", c.cfg.AckTimeout))
			})
			return c.follow(r, s, last, true)
		}
		c.update(r, func(cmd *Command) {
			cmd.State, cmd.Text = TimedOut, stepText(s, last, fmt.Sprintf("no answer after %d tries %s apart", tries, c.cfg.AckTimeout))
		})
		return false
	}
	after := time.Since(first)
	result := enumWord(ack.Result.String(), "MAV_RESULT_")
	switch ack.Result {
	case common.MAV_RESULT_ACCEPTED:
		c.update(r, func(cmd *Command) {
			cmd.Result = result
			if cmd.AckAfter == nil {
				cmd.AckAfter = millis(after)
			}
			cmd.State = Accepted
		})
	case common.MAV_RESULT_TEMPORARILY_REJECTED, common.MAV_RESULT_DENIED, common.MAV_RESULT_FAILED, common.MAV_RESULT_UNSUPPORTED:
		reason := c.textsSince(cv, first.Add(-100*time.Millisecond))
		if reason == "" {
			reason = "the autopilot gave no reason"
		}
		if ack.Result == common.MAV_RESULT_UNSUPPORTED {
			c.mu.Lock()
			cv.unsupported[s.cmd.id] = true
			c.mu.Unlock()
			reason = fmt.Sprintf("%s does not support %s (%s)", cv.id, cmdWord(s.cmd.id), reason)
		}
		c.update(r, func(cmd *Command) {
			cmd.State, cmd.Result, cmd.Text, cmd.AckAfter = Denied, result, stepText(s, last, reason), millis(after)
		})
		return false
	case common.MAV_RESULT_CANCELLED:
		c.update(r, func(cmd *Command) {
			cmd.State, cmd.Result, cmd.Text = Cancelled, result, stepText(s, last, "the autopilot cancelled it")
		})
		return false
	default:
		c.update(r, func(cmd *Command) {
			cmd.State, cmd.Result, cmd.Text = Failed, result, stepText(s, last, "unexpected answer "+result)
		})
		return false
	}
	c.stopWaiting(r, slot)
	return c.follow(r, s, last, false)
}

// awaitAck waits for the answer to id; a final state instead when the run
// must end (the link lost, smarteye stopping); nil and "" when none came
// in time.
func (c *Commander) awaitAck(r *run, id common.MAV_CMD) (*ardupilotmega.MessageCommandAck, string, string) {
	t := time.NewTimer(c.cfg.AckTimeout)
	defer t.Stop()
	for {
		_, changed := c.snapshot(r.v)
		select {
		case <-r.ctx.Done():
			state, text := ended(r)
			return nil, state, text
		case m := <-r.inbox:
			a, ok := m.(*ardupilotmega.MessageCommandAck)
			if !ok || a.Command != id || (a.TargetSystem != 0 && a.TargetSystem != c.in.cfg.SystemID) {
				continue
			}
			if a.Result == common.MAV_RESULT_IN_PROGRESS {
				p := int(a.Progress)
				c.update(r, func(cmd *Command) {
					cmd.State = InProgress
					if p <= 100 {
						cmd.Progress = p
					}
				})
				// Still working: wait on, longer.
				t.Reset(3 * c.cfg.AckTimeout)
				continue
			}
			return a, "", ""
		case <-changed:
			if v, _ := c.snapshot(r.v); v.Health.State == telemetry.LinkLost {
				return nil, Failed, "the link was lost before the answer: not sent again"
			}
		case <-t.C:
			return nil, "", ""
		}
	}
}

// follow watches the vehicle's state for the step's outcome.
func (c *Commander) follow(r *run, s step, last, unanswered bool) bool {
	if s.confirm == nil {
		if last {
			c.update(r, func(cmd *Command) { cmd.State, cmd.DoneAfter = Done, millis(time.Since(r.sentAt)) })
		}
		return true
	}
	c.mu.Lock()
	r.v.following[r] = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		delete(r.v.following, r)
		c.mu.Unlock()
	}()
	t := time.NewTimer(s.wait)
	defer t.Stop()
	shown := -1
	lastShown := time.Time{}
	for {
		v, changed := c.snapshot(r.v)
		done, prog, abort := s.confirm(v)
		switch {
		case done:
			if last {
				c.update(r, func(cmd *Command) {
					cmd.State, cmd.Progress, cmd.DoneAfter = Done, 0, millis(time.Since(r.sentAt))
					if unanswered {
						cmd.Text = "no answer came, but the vehicle's state shows it done"
					}
				})
			}
			return true
		case abort != "":
			c.update(r, func(cmd *Command) { cmd.State, cmd.Text = Failed, stepText(s, last, abort) })
			return false
		case v.Health.State == telemetry.LinkLost:
			c.update(r, func(cmd *Command) {
				cmd.State, cmd.Text = Failed, stepText(s, last, "the link was lost before it was done")
			})
			return false
		}
		if prog != shown && (prog-shown >= 5 || time.Since(lastShown) > time.Second) {
			shown, lastShown = prog, time.Now()
			c.update(r, func(cmd *Command) { cmd.Progress = prog })
		}
		select {
		case <-r.ctx.Done():
			state, text := ended(r)
			c.update(r, func(cmd *Command) { cmd.State, cmd.Text = state, text })
			return false
		case <-changed:
		case <-t.C:
			c.update(r, func(cmd *Command) {
				if unanswered {
					cmd.State, cmd.Text = TimedOut, stepText(s, last, fmt.Sprintf("no answer, and the vehicle's state did not show it done within %s", s.wait))
					return
				}
				cmd.State, cmd.Text = Failed, stepText(s, last, fmt.Sprintf("accepted, but the vehicle's state did not show it done within %s", s.wait))
			})
			return false
		}
	}
}

// message is the step as a COMMAND_LONG or COMMAND_INT to a vehicle.
func (s *cmdSpec) message(sys, comp, confirmation uint8) message.Message {
	f := func(i int) float32 { return float32(s.p[i]) }
	if s.useInt {
		return &ardupilotmega.MessageCommandInt{TargetSystem: sys, TargetComponent: comp, Frame: s.frame, Command: s.id,
			Param1: f(0), Param2: f(1), Param3: f(2), Param4: f(3), X: toE7(s.p[4]), Y: toE7(s.p[5]), Z: f(6)}
	}
	return &ardupilotmega.MessageCommandLong{TargetSystem: sys, TargetComponent: comp, Command: s.id, Confirmation: confirmation,
		Param1: f(0), Param2: f(1), Param3: f(2), Param4: f(3), Param5: f(4), Param6: f(5), Param7: f(6)}
}

// ModeNames are the modes a vehicle's autopilot offers, sorted.
func ModeNames(autopilot, typ string) []string {
	var out []string
	switch {
	case autopilot == "px4":
		for _, m := range px4MainModes {
			out = append(out, m)
		}
		for _, m := range px4AutoModes {
			out = append(out, m)
		}
	case autopilot == "ardupilot" || autopilot == "":
		for _, m := range arduModes(classOf(typ)) {
			out = append(out, m)
		}
	}
	slices.Sort(out)
	return slices.Compact(out)
}
