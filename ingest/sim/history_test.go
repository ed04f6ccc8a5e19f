package sim

import (
	"testing"
	"time"
)

// TestZoneHistory: the generated visits keep about Crowd inside, counts
// never go below zero, every visit enters then leaves, and the same seed
// gives the same past.
func TestZoneHistory(t *testing.T) {
	loc, _ := time.LoadLocation("Asia/Shanghai")
	from := time.Date(2026, 11, 2, 0, 0, 0, 0, loc) // a Monday
	to := from.Add(7 * 24 * time.Hour)
	evs := ZoneHistory("cam", "crossing", from, to, loc, 1)
	if len(evs) < 1000 {
		t.Fatalf("%d events in a week", len(evs))
	}
	starts, enters, exits := 0, 0, 0
	peakAt := map[int]int{} // hour of a weekday → most inside
	for i, e := range evs {
		if i > 0 && e.Time.Before(evs[i-1].Time) {
			t.Fatal("events out of order")
		}
		if e.Data["synthetic"] != true || e.CameraID != "cam" {
			t.Fatalf("event %+v", e)
		}
		switch e.Kind {
		case "track.start":
			starts++
		case "zone.enter":
			enters++
		case "zone.exit":
			exits++
			if e.Data["dwell_s"].(float64) < 60 || e.Data["dwell_s"].(float64) > 480 {
				t.Fatalf("stay %v", e.Data["dwell_s"])
			}
		}
		if n, ok := e.Data["count"].(int); ok {
			if n < 0 {
				t.Fatal("a negative count")
			}
			if l := e.Time.In(loc); l.Weekday() == time.Wednesday {
				peakAt[l.Hour()] = max(peakAt[l.Hour()], n)
			}
		}
	}
	if starts != enters || exits > enters || enters-exits > 20 {
		t.Fatalf("%d starts, %d enters, %d exits", starts, enters, exits)
	}
	if peakAt[18] < 4 || peakAt[3] > 3 || peakAt[18] <= peakAt[3] {
		t.Fatalf("no evening rush: %v", peakAt)
	}
	again := ZoneHistory("cam", "crossing", from, to, loc, 1)
	if len(again) != len(evs) || !again[100].Time.Equal(evs[100].Time) {
		t.Fatal("the same seed gave another past")
	}
}
