package alert

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

var t0 = time.Date(2026, 11, 23, 14, 0, 0, 0, time.UTC) // a Monday

func dur(d time.Duration) *Duration { x := Duration(d); return &x }

func zoneEv(kind, camera, zone string, track uint64, class string, conf float64, count int, at time.Duration) telemetry.Event {
	data := map[string]any{"zone": zone, "class": class, "count": count}
	if conf > 0 {
		data["confidence"] = conf
	}
	return telemetry.Event{Time: t0.Add(at), ID: telemetry.NewUUID(), Kind: kind, CameraID: camera, TrackID: track, Data: data}
}

func fenceEv(kind, camera, vehicle, fence string, track uint64, class string, at time.Duration) telemetry.Event {
	data := map[string]any{"fence": fence, "fence_name": "Fence " + fence}
	if class != "" {
		data["class"] = class
	}
	return telemetry.Event{Time: t0.Add(at), ID: telemetry.NewUUID(), Kind: kind, CameraID: camera, VehicleID: vehicle, TrackID: track, Data: data}
}

// forecastEv is a zone.forecast told at t0+at: mean people inside in each
// hour from the hour it was told in.
func forecastEv(camera, zone string, at time.Duration, mean []float64) telemetry.Event {
	var lo, hi []float64
	for _, m := range mean {
		lo, hi = append(lo, m*0.7), append(hi, m*1.3)
	}
	told := t0.Add(at)
	return telemetry.Event{Time: told, ID: telemetry.NewUUID(), Kind: "zone.forecast", CameraID: camera, Data: map[string]any{
		"zone": zone, "metric": "peak", "start": told.Truncate(time.Hour).Format(time.RFC3339), "step_s": 3600, "mean": mean, "lower": lo, "upper": hi}}
}

// jsonRoundTrip is e as another node reads it off the event stream.
func jsonRoundTrip(e telemetry.Event) telemetry.Event {
	b, _ := json.Marshal(e)
	var out telemetry.Event
	json.Unmarshal(b, &out)
	return out
}

func plain(kind, camera, vehicle string, at time.Duration) telemetry.Event {
	return telemetry.Event{Time: t0.Add(at), ID: telemetry.NewUUID(), Kind: kind, CameraID: camera, VehicleID: vehicle, Message: kind}
}

func battery(id string, pct float64, at time.Duration) telemetry.Vehicle {
	return telemetry.Vehicle{ID: id, Updated: t0.Add(at), Battery: telemetry.Battery{Valid: true, Remaining: pct}}
}

// step is one input to the evaluator and the outcome expected of it:
// "" nothing, "open" a new alert, "fold" a match within the cooldown;
// several matches are joined by spaces.
type step struct {
	event   *telemetry.Event
	vehicle *telemetry.Vehicle
	tick    time.Duration // when neither is set: Tick(t0 + tick)
	want    string
}

func ev(e telemetry.Event, want string) step    { return step{event: &e, want: want} }
func veh(v telemetry.Vehicle, want string) step { return step{vehicle: &v, want: want} }
func tick(at time.Duration, want string) step   { return step{tick: at, want: want} }
func outcome(ms []Match) string {
	var s []string
	for _, m := range ms {
		if m.Fold {
			s = append(s, "fold")
		} else {
			s = append(s, "open")
		}
	}
	return strings.Join(s, " ")
}

func TestEvaluator(t *testing.T) {
	const s, m = time.Second, time.Minute
	for _, tc := range []struct {
		name  string
		rule  Rule
		steps []step
	}{
		{"intrusion by class and confidence", Rule{Condition: CondIntrusion, Zones: []string{"works"}, Classes: []string{"person"}, MinConfidence: 0.5}, []step{
			ev(zoneEv("zone.enter", "cam", "works", 1, "person", 0.9, 1, 0), "open"),
			ev(zoneEv("zone.enter", "cam", "other", 2, "person", 0.9, 1, s), ""),        // another zone
			ev(zoneEv("zone.enter", "cam2", "works", 3, "car", 0.9, 1, s), ""),          // another class
			ev(zoneEv("zone.enter", "cam2", "works", 4, "person", 0.3, 1, s), ""),       // not sure enough
			ev(zoneEv("zone.enter", "cam2", "works", 5, "person", 0, 1, s), ""),         // confidence unknown
			ev(zoneEv("zone.exit", "cam", "works", 1, "person", 0.9, 0, 2*s), ""),       // exits do not intrude
			ev(zoneEv("zone.enter", "cam2", "works", 6, "person", 0.6, 1, 3*s), "open"), // another camera: another subject
		}},
		{"intrusion into a geofence by id or name", Rule{Condition: CondIntrusion, Zones: []string{"works-north"}, Classes: []string{"person"}}, []step{
			ev(fenceEv("geofence.enter", "cam", "", "works-north", 7, "person", 0), "open"),
			ev(fenceEv("geofence.enter", "cam", "", "crane", 8, "person", 0), ""),
			ev(fenceEv("geofence.dwell", "cam", "", "works-north", 7, "person", 0), ""),
		}},
		{"cooldown folds, slides, and ends", Rule{Condition: CondIntrusion, Cooldown: dur(m)}, []step{
			ev(zoneEv("zone.enter", "cam", "z", 1, "person", 0, 1, 0), "open"),
			ev(zoneEv("zone.enter", "cam", "z", 2, "person", 0, 2, 30*s), "fold"),
			ev(zoneEv("zone.enter", "cam", "z", 3, "person", 0, 3, 80*s), "fold"),  // 50 s after the previous match
			ev(zoneEv("zone.enter", "cam", "z", 4, "person", 0, 1, 141*s), "open"), // 61 s of quiet
			ev(zoneEv("zone.enter", "cam", "z", 5, "person", 0, 1, 100*s), "fold"), // late and out of order
		}},
		{"no cooldown opens every match", Rule{Condition: CondIntrusion, Cooldown: dur(0)}, []step{
			ev(zoneEv("zone.enter", "cam", "z", 1, "person", 0, 1, 0), "open"),
			ev(zoneEv("zone.enter", "cam", "z", 2, "person", 0, 2, s), "open"),
		}},
		{"nights only, over midnight", Rule{Condition: CondIntrusion, Schedule: Schedule{From: "22:00", To: "06:00"}, Cooldown: dur(0)}, []step{
			ev(zoneEv("zone.enter", "cam", "z", 1, "person", 0, 1, 0), ""),                     // 14:00
			ev(zoneEv("zone.enter", "cam", "z", 2, "person", 0, 1, 8*time.Hour), "open"),       // 22:00
			ev(zoneEv("zone.enter", "cam", "z", 3, "person", 0, 1, 15*time.Hour+59*m), "open"), // 05:59
			ev(zoneEv("zone.enter", "cam", "z", 4, "person", 0, 1, 16*time.Hour), ""),          // 06:00
		}},
		{"weekdays in Shanghai", Rule{Condition: CondIntrusion, Schedule: Schedule{Days: []string{"mon", "tue"}, From: "20:00", To: "23:00", Timezone: "Asia/Shanghai"}, Cooldown: dur(0)}, []step{
			ev(zoneEv("zone.enter", "cam", "z", 1, "person", 0, 1, 0), "open"),                       // 14:00Z is Monday 22:00 in Shanghai
			ev(zoneEv("zone.enter", "cam", "z", 2, "person", 0, 1, -3*time.Hour), ""),                // Mon 19:00 CST
			ev(zoneEv("zone.enter", "cam", "z", 3, "person", 0, 1, 7*24*time.Hour-24*time.Hour), ""), // Sunday
		}},
		{"crowd held long enough", Rule{Condition: CondCrowd, Zones: []string{"crossing"}, MinCount: 3, For: Duration(10 * s)}, []step{
			ev(zoneEv("zone.enter", "cam", "crossing", 1, "person", 0, 2, 0), ""),
			ev(zoneEv("zone.enter", "cam", "crossing", 2, "person", 0, 3, s), ""),
			tick(5*s, ""),
			ev(zoneEv("zone.count", "cam", "crossing", 0, "", 0, 4, 6*s), ""),
			tick(11*s, "open"),
			tick(12*s, ""), // once per crowd
			ev(zoneEv("zone.exit", "cam", "crossing", 1, "person", 0, 2, 20*s), ""),
			ev(zoneEv("zone.enter", "cam", "crossing", 9, "person", 0, 3, 30*s), ""),
			tick(39*s, ""),
			tick(41*s, "fold"), // a new crowd within the cooldown
		}},
		{"crowd that thins out does not match", Rule{Condition: CondCrowd, MinCount: 2, For: Duration(10 * s)}, []step{
			ev(zoneEv("zone.enter", "cam", "crossing", 1, "person", 0, 2, 0), ""),
			ev(zoneEv("zone.exit", "cam", "crossing", 1, "person", 0, 1, 5*s), ""),
			tick(20*s, ""),
		}},
		{"dwell by tick and by a late exit", Rule{Condition: CondDwell, Zones: []string{"works-north"}, For: Duration(30 * s), Cooldown: dur(0)}, []step{
			ev(fenceEv("geofence.enter", "cam", "", "works-north", 1, "person", 0), ""),
			ev(fenceEv("geofence.enter", "cam", "", "works-north", 2, "person", 10*s), ""),
			tick(29*s, ""),
			tick(31*s, "open"),
			ev(fenceEv("geofence.exit", "cam", "", "works-north", 1, "person", 35*s), ""),
			ev(fenceEv("geofence.exit", "cam", "", "works-north", 2, "person", 41*s), "open"), // stayed 31 s, no tick since
			ev(fenceEv("geofence.enter", "cam", "", "works-north", 3, "person", 50*s), ""),
			ev(fenceEv("geofence.exit", "cam", "", "works-north", 3, "person", 60*s), ""), // 10 s: passing through
			tick(2*m, ""),
		}},
		{"vehicle breach", Rule{Condition: CondGeofenceBreach, Vehicles: []string{"drone-1"}}, []step{
			ev(fenceEv("geofence.breach", "", "drone-1", "crane", 0, "", 0), "open"),
			ev(fenceEv("geofence.breach", "", "drone-2", "crane", 0, "", 0), ""),
			ev(fenceEv("geofence.enter", "", "drone-1", "crane", 0, "", 0), ""),
		}},
		{"low battery with hysteresis", Rule{Condition: CondLowBattery, BatteryBelow: 25, Cooldown: dur(0)}, []step{
			veh(battery("d1", 40, 0), ""),
			veh(battery("d1", 24, s), "open"),
			veh(battery("d1", 26, 2*s), ""), // hovering: still the same low battery
			veh(battery("d1", 23, 3*s), ""),
			veh(battery("d1", 90, 4*s), ""), // swapped
			veh(battery("d1", 20, 5*s), "open"),
			veh(battery("d2", -1, 5*s), ""), // unknown
		}},
		{"link lost for a while", Rule{Condition: CondLinkLost, For: Duration(10 * s)}, []step{
			ev(plain("link.lost", "", "d1", 0), ""),
			tick(5*s, ""),
			ev(plain("link.regained", "", "d1", 6*s), ""),
			tick(20*s, ""),
			ev(plain("link.lost", "", "d1", 30*s), ""),
			tick(41*s, "open"),
			tick(50*s, ""),
		}},
		{"stream down at once", Rule{Condition: CondStreamDown, Cameras: []string{"cam"}}, []step{
			ev(plain("stream.down", "cam", "", 0), "open"),
			ev(plain("stream.down", "other", "", 0), ""),
			ev(plain("stream.up", "cam", "", s), ""),
			ev(plain("stream.down", "cam", "", 2*s), "fold"),
		}},
		{"crowd forecast ahead, once per crossing", Rule{Condition: CondCrowdForecast, Zones: []string{"crossing"}, MinCount: 20, Cooldown: dur(0)}, []step{
			ev(forecastEv("cam", "crossing", 0, []float64{8, 12, 30}), ""),             // 30 comes in two hours: beyond the hour
			ev(forecastEv("cam", "crossing", 15*m, []float64{12, 22, 30}), "open"),     // 22 within the hour
			ev(forecastEv("cam", "crossing", 30*m, []float64{14, 25, 31}), ""),         // still forecast: told already
			ev(forecastEv("cam", "other", 30*m, []float64{40, 40, 40}), ""),            // another zone
			ev(forecastEv("cam", "crossing", 45*m, []float64{10, 11, 9}), ""),          // below again
			ev(forecastEv("cam", "crossing", time.Hour, []float64{21, 11, 9}), "open"), // crosses anew
			ev(telemetry.Event{Time: t0, Kind: "zone.forecast", CameraID: "cam", Data: map[string]any{"zone": "crossing", "start": "soon", "step_s": 3600, "mean": []any{99.0}, "lower": []any{1.0}, "upper": []any{2.0}}}, ""),
			ev(telemetry.Event{Time: t0, Kind: "zone.forecast", CameraID: "cam", Data: map[string]any{"zone": "crossing", "start": t0.Format(time.RFC3339), "step_s": 3600, "mean": []any{99.0, "x"}, "lower": []any{1.0, 1.0}, "upper": []any{2.0, 2.0}}}, ""),
		}},
		{"crowd forecast within three hours, from JSON", Rule{Condition: CondCrowdForecast, MinCount: 20, Within: Duration(3 * time.Hour)}, []step{
			ev(jsonRoundTrip(forecastEv("cam", "crossing", 0, []float64{8, 12, 30})), "open"),
		}},
		{"disabled", Rule{Condition: CondStreamDown, Disabled: true}, []step{
			ev(plain("stream.down", "cam", "", 0), ""),
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.rule
			r.ID, r.Name = "r1", "Rule one"
			if err := r.Validate(nil); err != nil {
				t.Fatal(err)
			}
			e := NewEvaluator([]*Rule{&r})
			for i, st := range tc.steps {
				var got []Match
				switch {
				case st.event != nil:
					got = e.Event(*st.event)
				case st.vehicle != nil:
					got = e.Vehicle(*st.vehicle)
				default:
					got = e.Tick(t0.Add(st.tick))
				}
				if o := outcome(got); o != st.want {
					t.Fatalf("step %d: got %q, want %q (%+v)", i, o, st.want, got)
				}
				for _, m := range got {
					if m.Rule != &r || !strings.HasPrefix(m.Key, "r1|") || m.Title != "Rule one" || m.Message == "" {
						t.Fatalf("step %d: match %+v", i, m)
					}
				}
			}
		})
	}
}

func TestForgetAndSeed(t *testing.T) {
	r := Rule{ID: "r", Name: "r", Condition: CondStreamDown}
	if err := r.Validate(nil); err != nil {
		t.Fatal(err)
	}
	e := NewEvaluator([]*Rule{&r})
	e.Seed("r|cam", t0.Add(-time.Minute)) // restored after a restart
	if o := outcome(e.Event(plain("stream.down", "cam", "", 0))); o != "fold" {
		t.Fatalf("seeded cooldown: %q", o)
	}
	e.Forget("r|cam") // its alert was resolved
	if o := outcome(e.Event(plain("stream.down", "cam", "", time.Second))); o != "open" {
		t.Fatalf("after forget: %q", o)
	}
}

func TestValidate(t *testing.T) {
	ok := func() Rule { return Rule{ID: "ok", Name: "ok", Condition: CondIntrusion} }
	for _, tc := range []struct {
		name string
		edit func(*Rule)
		want string // "" valid
	}{
		{"valid", func(*Rule) {}, ""},
		{"id", func(r *Rule) { r.ID = "a b" }, "id:"},
		{"long id", func(r *Rule) { r.ID = strings.Repeat("a", 65) }, "id:"},
		{"name", func(r *Rule) { r.Name = " " }, "name: must not be empty"},
		{"condition", func(r *Rule) { r.Condition = "fire" }, `condition: "fire" is not one of intrusion, crowd`},
		{"confidence", func(r *Rule) { r.MinConfidence = 1.5 }, "min_confidence"},
		{"crowd count", func(r *Rule) { r.Condition = CondCrowd }, "min_count: a crowd rule needs"},
		{"count elsewhere", func(r *Rule) { r.MinCount = 3 }, "min_count: only crowd and crowd_forecast rules"},
		{"forecast count", func(r *Rule) { r.Condition = CondCrowdForecast }, "min_count: a crowd_forecast rule needs"},
		{"forecast too far", func(r *Rule) { r.Condition, r.MinCount, r.Within = CondCrowdForecast, 5, Duration(73*time.Hour) }, "within: 73h0m0s is not between"},
		{"within elsewhere", func(r *Rule) { r.Within = Duration(time.Hour) }, "within: only crowd_forecast rules"},
		{"dwell for", func(r *Rule) { r.Condition = CondDwell }, "for: a dwell rule needs"},
		{"battery", func(r *Rule) { r.Condition = CondLowBattery; r.BatteryBelow = 100 }, "battery_below"},
		{"severity", func(r *Rule) { r.Severity = "urgent" }, "severity"},
		{"cooldown", func(r *Rule) { r.Cooldown = dur(-time.Second) }, "cooldown"},
		{"schedule time", func(r *Rule) { r.Schedule = Schedule{From: "25:00", To: "06:00"} }, "schedule: from:"},
		{"schedule half", func(r *Rule) { r.Schedule = Schedule{From: "22:00"} }, "schedule: give both"},
		{"schedule day", func(r *Rule) { r.Schedule = Schedule{Days: []string{"funday"}} }, "schedule: days:"},
		{"schedule zone", func(r *Rule) { r.Schedule = Schedule{Timezone: "Mars/Olympus"} }, "schedule: timezone"},
		{"escalation after", func(r *Rule) { r.Escalation = Escalation{Team: "b"} }, "escalation.after"},
		{"escalation whom", func(r *Rule) { r.Escalation = Escalation{After: Duration(time.Minute)} }, "escalation: name a team"},
		{"channel", func(r *Rule) { r.Channels = []string{"pager"} }, `channels: "pager" is not a configured channel`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := ok()
			tc.edit(&r)
			err := r.Validate([]string{"ops-webhook"})
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}

// TestCrowdForecastInSiteTime: the alert ahead says the hour in the site's
// time when the forecast names its zone, in UTC otherwise.
func TestCrowdForecastInSiteTime(t *testing.T) {
	r := Rule{ID: "f", Name: "F", Condition: CondCrowdForecast, MinCount: 5, Within: Duration(3 * time.Hour)}
	if err := r.Validate(nil); err != nil {
		t.Fatal(err)
	}
	for tz, want := range map[string]string{"Asia/Shanghai": "in the hour from 00:00 CST", "": "in the hour from 16:00 UTC", "Mars/Olympus": "in the hour from 16:00 UTC"} {
		e := forecastEv("cam", "crossing", 0, []float64{1, 2, 9}) // told at 14:00 UTC; 9 at 16:00 UTC
		if tz != "" {
			e.Data["timezone"] = tz
		}
		ms := NewEvaluator([]*Rule{&r}).Event(e)
		if len(ms) != 1 || !strings.Contains(ms[0].Message, want) {
			t.Fatalf("%q: %v, want %q", tz, ms, want)
		}
	}
}
