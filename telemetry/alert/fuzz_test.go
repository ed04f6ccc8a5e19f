package alert

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// FuzzRule: any JSON the rules API may receive is refused or accepted
// without a panic; an accepted rule survives its own round trip and can
// be evaluated.
func FuzzRule(f *testing.F) {
	f.Add(`{"id":"a","name":"A","condition":"intrusion","zones":["z"],"classes":["person"],"min_confidence":0.5}`)
	f.Add(`{"id":"c","name":"C","condition":"crowd","min_count":3,"for":"10s","schedule":{"days":["mon"],"from":"22:00","to":"06:00","timezone":"Asia/Shanghai"}}`)
	f.Add(`{"id":"e","name":"E","condition":"stream_down","cooldown":"0s","escalation":{"after":"1m","team":"b"}}`)
	f.Add(`{"id":"b","name":"B","condition":"low_battery","battery_below":20}`)
	f.Add(`{"schedule":{"from":"24:00","to":"00:00"}}`)
	f.Add(`{"id":"f","name":"F","condition":"crowd_forecast","min_count":10,"within":"3h"}`)
	f.Fuzz(func(t *testing.T, in string) {
		var r Rule
		if json.Unmarshal([]byte(in), &r) != nil || r.Validate(nil) != nil {
			return
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		var back Rule
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatalf("%s: %v", b, err)
		}
		if err := back.Validate(nil); err != nil {
			t.Fatalf("round trip %s: %v", b, err)
		}
		ev := NewEvaluator([]*Rule{&r})
		now := time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
		ev.Event(telemetry.Event{Time: now, Kind: "zone.enter", CameraID: "c", TrackID: 1, Data: map[string]any{"zone": "z", "class": "person", "count": 5, "confidence": 0.9}})
		ev.Vehicle(telemetry.Vehicle{ID: "v", Updated: now, Battery: telemetry.Battery{Valid: true, Remaining: 10}})
		ev.Tick(now.Add(time.Hour))
	})
}

// FuzzForecastEvent: a zone.forecast event's data as it may arrive from
// another node (JSON) is read or refused without a panic; what is read is
// a step that begins before the horizon.
func FuzzForecastEvent(f *testing.F) {
	f.Add(`{"zone":"z","start":"2026-11-23T23:00:00Z","step_s":3600,"mean":[1,5,9],"lower":[0,3,6],"upper":[2,7,12]}`)
	f.Add(`{"zone":"z","start":"2026-11-23T23:00:00Z","step_s":0,"mean":[1],"lower":[0],"upper":[2]}`)
	f.Add(`{"zone":"z","start":"soon","step_s":3600,"mean":[],"lower":[],"upper":[]}`)
	f.Add(`{"zone":"z","start":"2026-11-23T23:00:00Z","step_s":1e308,"mean":[1,"x"],"lower":[0],"upper":[2,3]}`)
	r := &Rule{ID: "f", Name: "F", Condition: CondCrowdForecast, MinCount: 3}
	if err := r.Validate(nil); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data string) {
		var d map[string]any
		if json.Unmarshal([]byte(data), &d) != nil {
			return
		}
		now := time.Date(2026, 11, 23, 23, 20, 0, 0, time.UTC)
		e := telemetry.Event{Time: now, Kind: "zone.forecast", CameraID: "c", Data: d}
		if most, at, lo, hi, ok := forecastPeak(e, time.Hour); ok {
			if !at.Before(now.Add(time.Hour)) || most < 0 {
				t.Fatalf("read %v at %v (%v–%v) beyond the horizon", most, at, lo, hi)
			}
		}
		NewEvaluator([]*Rule{r}).Event(e)
	})
}
