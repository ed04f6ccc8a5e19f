package telemetry

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A slow subscriber loses its oldest updates, counted; the publisher never
// waits; a fast one gets everything in order.
func TestHubDropsOldestForSlowSubscribers(t *testing.T) {
	reg := prometheus.NewRegistry()
	h := NewHub(reg)
	slow := h.Subscribe(3)
	fast := h.Subscribe(100)
	defer fast.Close()
	for i := range 10 {
		h.PublishVehicle(Vehicle{ID: "a", SystemID: uint8(i)})
	}
	got := slow.Take(nil)
	if len(got) != 3 || got[0].Vehicle.SystemID != 7 || got[2].Vehicle.SystemID != 9 || slow.Dropped() != 7 {
		t.Fatalf("slow: %d updates, first %d, dropped %d", len(got), got[0].Vehicle.SystemID, slow.Dropped())
	}
	if all := fast.Take(nil); len(all) != 10 || all[0].Vehicle.SystemID != 0 || fast.Dropped() != 0 {
		t.Fatalf("fast: %d updates", len(all))
	}
	if n := testutil.ToFloat64(h.dropped); n != 7 {
		t.Fatalf("dropped metric %g", n)
	}
	slow.Close()
	h.PublishEvent(Event{Kind: "link.lost"})
	if len(slow.Take(nil)) != 0 {
		t.Fatal("a closed subscription still receives")
	}
	select {
	case <-fast.Ready():
	default:
		t.Fatal("no wake-up for a new update")
	}
	if u := fast.Take(nil); len(u) != 1 || u[0].Event.Kind != "link.lost" {
		t.Fatalf("%+v", u)
	}
	if v, ok := h.Vehicle("a"); !ok || v.SystemID != 9 || len(h.Vehicles()) != 1 {
		t.Fatalf("latest state %+v", v)
	}
}

// Unknown groups are absent from the JSON, so nothing is drawn at (0, 0).
func TestVehicleJSONOmitsUnknown(t *testing.T) {
	b, _ := json.Marshal(Vehicle{ID: "x", Health: Health{State: LinkOK}})
	for _, k := range []string{`"position"`, `"gps"`, `"battery"`, `"gimbal"`, `"home"`} {
		if strings.Contains(string(b), k) {
			t.Errorf("%s in %s", k, b)
		}
	}
	b, _ = json.Marshal(Vehicle{ID: "x", Position: Position{Valid: true, Lat: 22.5, Lon: 114}})
	if !strings.Contains(string(b), `"position":{"lat":22.5,"lon":114`) {
		t.Errorf("%s", b)
	}
	b, _ = json.Marshal(Event{ID: UUID{0x12, 0x34}, Kind: "k"})
	if !strings.Contains(string(b), `"id":"12340000-0000-0000-0000-000000000000"`) {
		t.Errorf("%s", b)
	}
}
