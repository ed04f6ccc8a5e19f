package mavlink

// The mission protocol, for missions and fences alike: an upload is
// MISSION_COUNT, then the vehicle asks for each item (MISSION_REQUEST_INT,
// or the older MISSION_REQUEST) and is sent it (MISSION_ITEM_INT), then it
// answers MISSION_ACK; a download is MISSION_REQUEST_LIST, MISSION_COUNT,
// then each item asked for and sent, then our MISSION_ACK. A step that
// gets no answer is sent again, five times at most. What was uploaded is
// read back and compared before anything may fly it: a plan half written,
// or changed on the way, is never started, and the plan shown before stays
// shown.

import (
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/common"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// planTries is how often a transfer step is sent without an answer.
const planTries = 5

// planError is how a transfer ended short: the state it leaves the
// command in, and why.
type planError struct {
	state, result, text string
}

func (e *planError) Error() string { return e.text }

// runPlan uploads a mission or fence, reads it back and compares.
func (c *Commander) runPlan(r *run, slot string, s step, last bool) bool {
	cv := r.v
	p := s.plan
	if r.sentAt.IsZero() {
		r.sentAt = time.Now()
	}
	c.update(r, func(cmd *Command) { cmd.State, cmd.Attempts = Sent, cmd.Attempts+1 })
	fail := func(err error) bool {
		var pe *planError
		if !errors.As(err, &pe) {
			pe = &planError{state: Failed, text: err.Error()}
		}
		c.update(r, func(cmd *Command) { cmd.State, cmd.Result, cmd.Text = pe.state, pe.result, s.what+": "+pe.text })
		return false
	}
	if err := c.upload(r, p); err != nil {
		return fail(err)
	}
	c.update(r, func(cmd *Command) {
		cmd.State, cmd.Result, cmd.AckAfter = Accepted, "accepted", millis(time.Since(r.sentAt))
	})
	got, err := c.download(r, p.kind)
	if err != nil {
		return fail(fmt.Errorf("reading it back: %w", err))
	}
	if err := samePlan(p.items, got, p.skipFirst); err != nil {
		return fail(&planError{state: Failed, text: "read back, it differs: " + err.Error()})
	}
	c.mu.Lock()
	p.store(cv)
	c.mu.Unlock()
	c.stopWaiting(r, slot)
	c.update(r, func(cmd *Command) {
		cmd.Text, cmd.Progress = fmt.Sprintf("%d items uploaded and read back equal", len(p.items)), 0
		if last {
			cmd.State, cmd.DoneAfter = Done, millis(time.Since(r.sentAt))
		}
	})
	return true
}

// exchange sends msg and waits for the first message want accepts,
// sending msg again after each PlanTimeout up to planTries times.
func (c *Commander) exchange(r *run, msg message.Message, what string, want func(message.Message) (bool, error)) error {
	for try := 0; try < planTries; try++ {
		if err := c.send(r.v, msg); err != nil {
			return &planError{state: Failed, text: "not sent: " + err.Error()}
		}
		t := time.NewTimer(c.cfg.PlanTimeout)
		for waiting := true; waiting; {
			_, changed := c.snapshot(r.v)
			select {
			case <-r.ctx.Done():
				t.Stop()
				state, text := ended(r)
				return &planError{state: state, text: text}
			case <-changed:
				if v, _ := c.snapshot(r.v); v.Health.State == telemetry.LinkLost {
					t.Stop()
					return &planError{state: Failed, text: "the link was lost"}
				}
			case m := <-r.inbox:
				ok, err := want(m)
				if err != nil {
					t.Stop()
					return err
				}
				if ok {
					t.Stop()
					return nil
				}
			case <-t.C:
				waiting = false
			}
		}
	}
	return &planError{state: TimedOut, text: fmt.Sprintf("no answer to %s after %d tries %s apart", what, planTries, c.cfg.PlanTimeout)}
}

// forUs reports a plan message addressed to smarteye (or to everyone).
func (c *Commander) forUs(target uint8) bool { return target == 0 || target == c.in.cfg.SystemID }

// upload sends the plan's items as the vehicle asks for them.
func (c *Commander) upload(r *run, p *planSpec) error {
	cv := r.v
	n := len(p.items)
	var out message.Message = &ardupilotmega.MessageMissionCount{TargetSystem: cv.sys, TargetComponent: cv.comp, Count: uint16(n), MissionType: p.kind}
	what := "MISSION_COUNT"
	highest := -1
	for {
		var next message.Message
		done := false
		err := c.exchange(r, out, what, func(m message.Message) (bool, error) {
			var seq uint16
			switch m := m.(type) {
			case *ardupilotmega.MessageMissionRequestInt:
				if m.MissionType != p.kind || !c.forUs(m.TargetSystem) {
					return false, nil
				}
				seq = m.Seq
			case *ardupilotmega.MessageMissionRequest:
				if m.MissionType != p.kind || !c.forUs(m.TargetSystem) {
					return false, nil
				}
				seq = m.Seq
			case *ardupilotmega.MessageMissionAck:
				if m.MissionType != p.kind || !c.forUs(m.TargetSystem) {
					return false, nil
				}
				if m.Type != common.MAV_MISSION_ACCEPTED {
					return false, &planError{state: Denied, result: enumWord(m.Type.String(), "MAV_MISSION_"), text: "the vehicle refused it: " + enumWord(m.Type.String(), "MAV_MISSION_")}
				}
				if highest < n-1 {
					return false, &planError{state: Failed, result: "accepted", text: fmt.Sprintf("the vehicle acknowledged it after %d of %d items", highest+1, n)}
				}
				done = true
				return true, nil
			default:
				return false, nil
			}
			if int(seq) >= n {
				return false, &planError{state: Failed, text: fmt.Sprintf("the vehicle asked for item %d of %d", seq, n)}
			}
			it := p.items[seq]
			it.TargetSystem, it.TargetComponent = cv.sys, cv.comp
			next = &it
			highest = max(highest, int(seq))
			c.update(r, func(cmd *Command) { cmd.Progress = progress(float64(highest+1), float64(n)) / 2 })
			return true, nil
		})
		if err != nil || done {
			return err
		}
		out, what = next, fmt.Sprintf("item %d", next.(*common.MessageMissionItemInt).Seq)
	}
}

// download reads a plan back from the vehicle.
func (c *Commander) download(r *run, kind common.MAV_MISSION_TYPE) ([]common.MessageMissionItemInt, error) {
	cv := r.v
	count := -1
	err := c.exchange(r, &ardupilotmega.MessageMissionRequestList{TargetSystem: cv.sys, TargetComponent: cv.comp, MissionType: kind}, "MISSION_REQUEST_LIST",
		func(m message.Message) (bool, error) {
			mc, ok := m.(*ardupilotmega.MessageMissionCount)
			if !ok || mc.MissionType != kind || !c.forUs(mc.TargetSystem) {
				return false, nil
			}
			count = int(mc.Count)
			return true, nil
		})
	if err != nil {
		return nil, err
	}
	items := make([]common.MessageMissionItemInt, count)
	for i := range count {
		err := c.exchange(r, &ardupilotmega.MessageMissionRequestInt{TargetSystem: cv.sys, TargetComponent: cv.comp, Seq: uint16(i), MissionType: kind},
			fmt.Sprintf("the request for item %d", i), func(m message.Message) (bool, error) {
				it, ok := m.(*ardupilotmega.MessageMissionItemInt)
				if !ok || it.MissionType != kind || !c.forUs(it.TargetSystem) || int(it.Seq) != i {
					return false, nil
				}
				items[i] = *it
				return true, nil
			})
		if err != nil {
			return nil, err
		}
		c.update(r, func(cmd *Command) { cmd.Progress = 50 + progress(float64(i+1), float64(count))/2 })
	}
	c.send(cv, &ardupilotmega.MessageMissionAck{TargetSystem: cv.sys, TargetComponent: cv.comp, Type: common.MAV_MISSION_ACCEPTED, MissionType: kind})
	return items, nil
}

// samePlan compares what was sent with what was read back; seq 0 of a
// mission (home, which the autopilot rewrites) is left out when skipFirst.
func samePlan(sent, got []common.MessageMissionItemInt, skipFirst bool) error {
	if len(sent) != len(got) {
		return fmt.Errorf("%d items sent, %d read back", len(sent), len(got))
	}
	for i := range sent {
		if i == 0 && skipFirst {
			continue
		}
		a, b := sent[i], got[i]
		if a.Command != b.Command {
			return fmt.Errorf("item %d: %s sent, %s read back", i, cmdWord(a.Command), cmdWord(b.Command))
		}
		positional := a.Command != common.MAV_CMD_NAV_RETURN_TO_LAUNCH
		if positional && (a.X != b.X || a.Y != b.Y || !nearly(a.Z, b.Z, 0.01) || sameFrame(a.Frame) != sameFrame(b.Frame)) {
			return fmt.Errorf("item %d: (%d, %d, %.2f) sent, (%d, %d, %.2f) read back", i, a.X, a.Y, a.Z, b.X, b.Y, b.Z)
		}
		for j, pair := range [][2]float32{{a.Param1, b.Param1}, {a.Param2, b.Param2}, {a.Param3, b.Param3}} {
			if !nearly(pair[0], pair[1], 1e-3) {
				return fmt.Errorf("item %d: param %d %g sent, %g read back", i, j+1, pair[0], pair[1])
			}
		}
	}
	return nil
}

func nearly(a, b, tol float32) bool {
	if math.IsNaN(float64(a)) || math.IsNaN(float64(b)) {
		return math.IsNaN(float64(a)) == math.IsNaN(float64(b))
	}
	return math.Abs(float64(a-b)) <= float64(tol)
}

// sameFrame folds the _INT frames into their plain twins: an autopilot may
// read either back.
func sameFrame(f common.MAV_FRAME) common.MAV_FRAME {
	switch f {
	case common.MAV_FRAME_GLOBAL_INT:
		return common.MAV_FRAME_GLOBAL
	case common.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT:
		return common.MAV_FRAME_GLOBAL_RELATIVE_ALT
	case common.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT:
		return common.MAV_FRAME_GLOBAL_TERRAIN_ALT
	}
	return f
}
