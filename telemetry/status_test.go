package telemetry

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
)

func TestBoardKeepsSinceUntilStateChanges(t *testing.T) {
	b := NewBoard()
	b.Set("writer", StateOK, "0 rows queued")
	first := b.Snapshot()[0].Since
	b.Set("writer", StateOK, "12 rows queued")
	if s := b.Snapshot()[0]; !s.Since.Equal(first) || s.Detail != "12 rows queued" {
		t.Fatalf("same state must keep Since and take the new detail: %+v", s)
	}
	b.Set("writer", StateDegraded, "spooling")
	if s := b.Snapshot()[0]; s.Since.Before(first) || s.State != StateDegraded {
		t.Fatalf("%+v", s)
	}
	b.Set("alpha", StateDown, "")
	if snap := b.Snapshot(); len(snap) != 2 || snap[0].Name != "alpha" {
		t.Fatalf("snapshot not sorted by name: %+v", snap)
	}
}

func TestBoardConcurrentUse(t *testing.T) {
	b := NewBoard()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				b.Set(string(rune('a'+i)), StateOK, "")
				if j%10 == 0 {
					b.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	if len(b.Snapshot()) != 8 {
		t.Fatal("lost components")
	}
}

// An unknown battery level (MAVLink's -1) is left out of the JSON, not
// reported as -1, and reads back as unknown.
func TestBatteryJSON(t *testing.T) {
	for _, tc := range []struct {
		b    Battery
		want string
	}{
		{Battery{Valid: true, Voltage: 12.5, Remaining: -1}, `{"voltage":12.5}`},
		{Battery{Valid: true, Voltage: 12.5, Remaining: 0}, `{"voltage":12.5,"remaining":0}`},
		{Battery{Valid: true, Voltage: 16, Current: 2.5, Remaining: 73, Consumed: 120}, `{"voltage":16,"current":2.5,"remaining":73,"consumed":120}`},
	} {
		b, err := json.Marshal(tc.b)
		if err != nil || string(b) != tc.want {
			t.Fatalf("%+v: %s %v, want %s", tc.b, b, err, tc.want)
		}
		var back Battery
		if err := json.Unmarshal(b, &back); err != nil || back != tc.b {
			t.Fatalf("%s read back as %+v (%v)", b, back, err)
		}
	}
	v, _ := json.Marshal(Vehicle{ID: "d", Battery: Battery{Valid: true, Voltage: 11, Remaining: -1}})
	if strings.Contains(string(v), "remaining") || !strings.Contains(string(v), `"battery":{"voltage":11}`) {
		t.Fatalf("vehicle: %s", v)
	}
}
