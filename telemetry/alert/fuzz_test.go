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
