package alert

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Match is a rule's decision about one event or state.
type Match struct {
	Rule *Rule
	// Key is the rule and its subject; matches with the same key within
	// the rule's cooldown fold into one alert.
	Key string
	// Event triggered the match (for conditions held for a while, the
	// event that began it).
	Event   telemetry.Event
	Title   string
	Message string
	// Fold: within the cooldown of the previous match for Key; count it
	// on that alert instead of opening another.
	Fold bool
}

// Evaluator applies rules to events, vehicle states and the passing of
// time. It is not safe for concurrent use; the Engine serialises it.
type Evaluator struct {
	rules []*Rule
	last  map[string]time.Time // key → latest match (cooldowns)

	counts  map[string]*held // crowd: rule|camera|zone
	visits  map[string]*held // dwell: rule|place|object
	pending map[string]*held // link_lost / stream_down with For: rule|subject
	low     map[string]bool  // low_battery: rule|vehicle is below the threshold
	ahead   map[string]bool  // crowd_forecast: rule|camera/zone is forecast at or above MinCount
}

// held is a condition that must last before it matches.
type held struct {
	since time.Time
	event telemetry.Event
	fired bool
	n     int
}

// NewEvaluator returns an evaluator for rules, which must be valid.
func NewEvaluator(rules []*Rule) *Evaluator {
	ev := &Evaluator{last: map[string]time.Time{}}
	ev.SetRules(rules)
	return ev
}

// SetRules replaces the rules; state held for rules that remain is kept.
func (ev *Evaluator) SetRules(rules []*Rule) {
	ev.rules = rules
	keep := func(m map[string]*held) map[string]*held {
		out := map[string]*held{}
		for k, v := range m {
			id, _, _ := strings.Cut(k, "|")
			if slices.ContainsFunc(rules, func(r *Rule) bool { return r.ID == id }) {
				out[k] = v
			}
		}
		return out
	}
	ev.counts, ev.visits, ev.pending = keep(ev.counts), keep(ev.visits), keep(ev.pending)
	if ev.low == nil {
		ev.low = map[string]bool{}
	}
	if ev.ahead == nil {
		ev.ahead = map[string]bool{}
	}
}

// Seed restores a key's latest match (after a restart, from the stored
// alerts) so that its cooldown holds across restarts.
func (ev *Evaluator) Seed(key string, last time.Time) {
	if last.After(ev.last[key]) {
		ev.last[key] = last
	}
}

// Forget ends key's cooldown: the next match opens a new alert (its alert
// was resolved: a new match is a new incident).
func (ev *Evaluator) Forget(key string) { delete(ev.last, key) }

// decide applies the cooldown to a match of r on subject at t.
func (ev *Evaluator) decide(r *Rule, subject string, e telemetry.Event, t time.Time, title, msg string) Match {
	key := r.ID + "|" + subject
	m := Match{Rule: r, Key: key, Event: e, Title: title, Message: msg}
	if last, ok := ev.last[key]; ok && t.Sub(last) < r.CooldownOr() {
		m.Fold = true
	}
	if t.After(ev.last[key]) {
		ev.last[key] = t
	}
	return m
}

// Event evaluates one event and returns the rules' matches.
func (ev *Evaluator) Event(e telemetry.Event) []Match {
	place, placeName := eventPlace(e)
	var out []Match
	for _, r := range ev.rules {
		if r.Disabled || !ev.scope(r, e) {
			continue
		}
		switch r.Condition {
		case CondIntrusion:
			if (e.Kind != "zone.enter" && e.Kind != "geofence.enter") || !r.wantsPlace(place, placeName) || !r.wantsObject(e) {
				continue
			}
			if !r.Schedule.Active(e.Time) {
				continue
			}
			msg := e.Message
			if msg == "" {
				msg = fmt.Sprintf("%s entered %s", objectOf(e), placeName)
			}
			out = append(out, ev.decide(r, subjectOf(e)+"/"+place, e, e.Time, r.Name, msg))
		case CondCrowd:
			if !strings.HasPrefix(e.Kind, "zone.") || !r.wantsPlace(place, placeName) {
				continue
			}
			n, ok := number(e.Data["count"])
			if !ok {
				continue
			}
			k := r.ID + "|" + e.CameraID + "/" + place
			h := ev.counts[k]
			switch {
			case int(n) >= r.MinCount && h == nil:
				h = &held{since: e.Time, event: e, n: int(n)}
				ev.counts[k] = h
			case int(n) >= r.MinCount:
				h.n = int(n)
			case h != nil:
				delete(ev.counts, k) // the crowd thinned out: the next one counts anew
				continue
			default:
				continue
			}
			if m, ok := ev.crowdDue(r, k, h, e.Time); ok {
				out = append(out, m)
			}
		case CondDwell:
			if !r.wantsPlace(place, placeName) || !r.wantsObject(e) {
				continue
			}
			k := r.ID + "|" + subjectOf(e) + "/" + place + "|" + objectOf(e)
			switch e.Kind {
			case "zone.enter", "geofence.enter":
				if ev.visits[k] == nil {
					ev.visits[k] = &held{since: e.Time, event: e}
				}
			case "zone.exit", "geofence.exit":
				h := ev.visits[k]
				delete(ev.visits, k)
				// An exit reported after the dwell time but before a tick
				// noticed it still matches.
				if h != nil && !h.fired && e.Time.Sub(h.since) >= time.Duration(r.For) {
					if m, ok := ev.dwellDue(r, k, h, e.Time); ok {
						out = append(out, m)
					}
				}
			}
		case CondGeofenceBreach:
			if e.Kind != "geofence.breach" || !r.wantsPlace(place, placeName) || !r.Schedule.Active(e.Time) {
				continue
			}
			msg := e.Message
			if msg == "" {
				msg = fmt.Sprintf("%s breached %s", e.VehicleID, placeName)
			}
			out = append(out, ev.decide(r, subjectOf(e)+"/"+place, e, e.Time, r.Name, msg))
		case CondCrowdForecast:
			if e.Kind != "zone.forecast" || !r.wantsPlace(place, placeName) {
				continue
			}
			most, at, lo, hi, ok := forecastPeak(e, r.WithinOr())
			if !ok {
				continue
			}
			k := r.ID + "|" + e.CameraID + "/" + place
			if most < float64(r.MinCount) {
				delete(ev.ahead, k) // forecast below again: the next crossing tells anew
				continue
			}
			if ev.ahead[k] || !r.Schedule.Active(e.Time) {
				continue
			}
			ev.ahead[k] = true
			// In the site's time (the forecast says which), else UTC.
			loc := time.UTC
			if tz, _ := e.Data["timezone"].(string); tz != "" && tz != "Local" {
				if l, err := time.LoadLocation(tz); err == nil {
					loc = l
				}
			}
			when := "in the hour from " + at.In(loc).Format("15:04 MST")
			if !at.After(e.Time) {
				when = "this hour"
			}
			msg := fmt.Sprintf("about %.0f (%.0f–%.0f) forecast inside %s %s, within the next %s; the rule's limit is %d",
				most, lo, hi, placeName, when, r.WithinOr(), r.MinCount)
			out = append(out, ev.decide(r, e.CameraID+"/"+place, e, e.Time, r.Name, msg))
		case CondLinkLost, CondStreamDown:
			lost, back := "link.lost", "link.regained"
			if r.Condition == CondStreamDown {
				lost, back = "stream.down", "stream.up"
			}
			k := r.ID + "|" + subjectOf(e)
			switch e.Kind {
			case lost:
				if r.For == 0 {
					if r.Schedule.Active(e.Time) {
						out = append(out, ev.decide(r, subjectOf(e), e, e.Time, r.Name, e.Message))
					}
				} else if ev.pending[k] == nil {
					ev.pending[k] = &held{since: e.Time, event: e}
				}
			case back:
				delete(ev.pending, k)
			}
		}
	}
	return out
}

// Vehicle evaluates a vehicle's new state (low battery).
func (ev *Evaluator) Vehicle(v telemetry.Vehicle) []Match {
	if !v.Battery.Valid || v.Battery.Remaining < 0 {
		return nil
	}
	var out []Match
	for _, r := range ev.rules {
		if r.Disabled || r.Condition != CondLowBattery || (r.Site != "" && r.Site != v.Site) || (len(r.Vehicles) > 0 && !slices.Contains(r.Vehicles, v.ID)) {
			continue
		}
		k := r.ID + "|" + v.ID
		pct := v.Battery.Remaining
		switch {
		case pct < r.BatteryBelow && !ev.low[k]:
			ev.low[k] = true
			if !r.Schedule.Active(v.Updated) {
				continue
			}
			e := telemetry.Event{Time: v.Updated, ID: telemetry.NewUUID(), Kind: "vehicle.low_battery", Site: v.Site, VehicleID: v.ID,
				Message: fmt.Sprintf("%s battery at %.0f %% (below %.0f %%)", v.ID, pct, r.BatteryBelow), Data: map[string]any{"battery": pct}}
			if v.Position.Valid {
				lat, lon := v.Position.Lat, v.Position.Lon
				e.Lat, e.Lon = &lat, &lon
			}
			out = append(out, ev.decide(r, v.ID, e, v.Updated, r.Name, e.Message))
		case pct >= r.BatteryBelow+5:
			// 5 points of hysteresis: a reading hovering at the threshold
			// is one alert, not one per sample.
			delete(ev.low, k)
		}
	}
	return out
}

// Tick reports the conditions that have now lasted long enough.
func (ev *Evaluator) Tick(now time.Time) []Match {
	var out []Match
	for _, r := range ev.rules {
		if r.Disabled {
			continue
		}
		switch r.Condition {
		case CondCrowd:
			for k, h := range ev.counts {
				if strings.HasPrefix(k, r.ID+"|") {
					if m, ok := ev.crowdDue(r, k, h, now); ok {
						out = append(out, m)
					}
				}
			}
		case CondDwell:
			for k, h := range ev.visits {
				if !strings.HasPrefix(k, r.ID+"|") {
					continue
				}
				if m, ok := ev.dwellDue(r, k, h, now); ok {
					out = append(out, m)
				}
				if now.Sub(h.since) > 24*time.Hour {
					delete(ev.visits, k) // an exit never came
				}
			}
		case CondLinkLost, CondStreamDown:
			for k, h := range ev.pending {
				if !strings.HasPrefix(k, r.ID+"|") || now.Sub(h.since) < time.Duration(r.For) {
					continue
				}
				delete(ev.pending, k)
				if r.Schedule.Active(now) {
					msg := fmt.Sprintf("%s for %s", h.event.Message, time.Duration(r.For))
					out = append(out, ev.decide(r, subjectOf(h.event), h.event, now, r.Name, msg))
				}
			}
		}
	}
	slices.SortFunc(out, func(a, b Match) int { return strings.Compare(a.Key, b.Key) })
	return out
}

func (ev *Evaluator) crowdDue(r *Rule, k string, h *held, now time.Time) (Match, bool) {
	if h.fired || now.Sub(h.since) < time.Duration(r.For) || !r.Schedule.Active(now) {
		return Match{}, false
	}
	h.fired = true
	place, _ := eventPlace(h.event)
	msg := fmt.Sprintf("%d inside %s on %s for %s", h.n, place, h.event.CameraID, now.Sub(h.since).Round(time.Second))
	_, subject, _ := strings.Cut(k, "|")
	return ev.decide(r, subject, h.event, now, r.Name, msg), true
}

func (ev *Evaluator) dwellDue(r *Rule, k string, h *held, now time.Time) (Match, bool) {
	if h.fired || now.Sub(h.since) < time.Duration(r.For) || !r.Schedule.Active(now) {
		return Match{}, false
	}
	h.fired = true
	_, placeName := eventPlace(h.event)
	who := objectOf(h.event)
	if c, _ := h.event.Data["class"].(string); c != "" && h.event.TrackID != 0 {
		who = fmt.Sprintf("%s %d", c, h.event.TrackID)
	}
	msg := fmt.Sprintf("%s has stayed in %s for %s", who, placeName, now.Sub(h.since).Round(time.Second))
	_, rest, _ := strings.Cut(k, "|")
	subject, _, _ := strings.Cut(rest, "|")
	return ev.decide(r, subject, h.event, now, r.Name, msg), true
}

// scope checks the rule's site, cameras and vehicles against e.
func (ev *Evaluator) scope(r *Rule, e telemetry.Event) bool {
	if r.Site != "" && e.Site != "" && r.Site != e.Site {
		return false
	}
	if len(r.Cameras) > 0 && !slices.Contains(r.Cameras, e.CameraID) {
		return false
	}
	if len(r.Vehicles) > 0 && !slices.Contains(r.Vehicles, e.VehicleID) {
		return false
	}
	return true
}

func (r *Rule) wantsPlace(place, name string) bool {
	if len(r.Zones) == 0 {
		return place != ""
	}
	for _, z := range r.Zones {
		if z == place || z == name || "fence:"+z == place {
			return true
		}
	}
	return false
}

func (r *Rule) wantsObject(e telemetry.Event) bool {
	if len(r.Classes) > 0 {
		c, _ := e.Data["class"].(string)
		if !slices.Contains(r.Classes, c) {
			return false
		}
	}
	if r.MinConfidence > 0 {
		c, ok := number(e.Data["confidence"])
		if !ok || c < r.MinConfidence {
			return false
		}
	}
	return true
}

// eventPlace is the zone ("crossing") or geofence ("fence:works-north")
// an event happened in, and its name for people.
func eventPlace(e telemetry.Event) (place, name string) {
	if z, _ := e.Data["zone"].(string); z != "" && strings.HasPrefix(e.Kind, "zone.") {
		return z, z
	}
	if f, _ := e.Data["fence"].(string); f != "" {
		name, _ := e.Data["fence_name"].(string)
		if name == "" {
			name = f
		}
		return "fence:" + f, name
	}
	return "", ""
}

// subjectOf is what an event is about: its camera, else its vehicle.
func subjectOf(e telemetry.Event) string {
	switch {
	case e.CameraID != "":
		return e.CameraID
	case e.VehicleID != "":
		return e.VehicleID
	}
	return "-"
}

// objectOf is the object an event follows: a track, else a vehicle.
func objectOf(e telemetry.Event) string {
	if e.TrackID != 0 {
		return fmt.Sprintf("track %d", e.TrackID)
	}
	if e.VehicleID != "" {
		return e.VehicleID
	}
	return "-"
}

func number(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case float32:
		return float64(x), true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	}
	return 0, false
}

// numbers reads a list of numbers from an event's data, as the process
// built it or as it came back from JSON.
func numbers(v any) ([]float64, bool) {
	switch x := v.(type) {
	case []float64:
		return x, true
	case []any:
		out := make([]float64, len(x))
		for i, y := range x {
			n, ok := number(y)
			if !ok {
				return nil, false
			}
			out[i] = n
		}
		return out, true
	}
	return nil, false
}

// forecastPeak reads a zone.forecast event: the most forecast in the steps
// that begin before within has passed, when that step begins, and its
// band. Malformed data is no forecast.
func forecastPeak(e telemetry.Event, within time.Duration) (most float64, at time.Time, lo, hi float64, ok bool) {
	var start time.Time
	switch v := e.Data["start"].(type) {
	case time.Time:
		start = v
	case string:
		var err error
		if start, err = time.Parse(time.RFC3339Nano, v); err != nil {
			return 0, at, 0, 0, false
		}
	default:
		return 0, at, 0, 0, false
	}
	step, okS := number(e.Data["step_s"])
	mean, okM := numbers(e.Data["mean"])
	lower, okL := numbers(e.Data["lower"])
	upper, okU := numbers(e.Data["upper"])
	if !okS || !okM || !okL || !okU || step <= 0 || step > 86400 || len(lower) != len(mean) || len(upper) != len(mean) {
		return 0, at, 0, 0, false
	}
	most = -1
	for i, m := range mean {
		t := start.Add(time.Duration(float64(i) * step * float64(time.Second)))
		if !t.Before(e.Time.Add(within)) {
			break
		}
		if m > most {
			most, at, lo, hi = m, t, lower[i], upper[i]
		}
	}
	return most, at, lo, hi, most >= 0
}
