package vision_test

import (
	"fmt"
	"time"

	"github.com/smarteye/smarteye/vision"
)

// A camera's analysis loop: the tracker gives detections their ids, the
// zones turn tracks into events, and a track's end leaves its zones.
func ExampleTracker() {
	tracker := vision.NewTracker(vision.TrackerConfig{})
	zones, err := vision.NewZones([]vision.Zone{{
		Name:    "gate",
		Polygon: []vision.Point{{X: 100, Y: 100}, {X: 300, Y: 100}, {X: 300, Y: 300}, {X: 100, Y: 300}},
		Classes: []string{"person"},
	}})
	if err != nil {
		panic(err)
	}
	start := time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)
	for i := range 6 {
		now := start.Add(time.Duration(i) * 100 * time.Millisecond)
		// A person walking right at 40 pixels a frame; the detector
		// misses frame 3.
		var dets []vision.Detection
		if i != 3 {
			dets = []vision.Detection{{Class: "person", Confidence: 0.8, Box: vision.Box{X: float64(i) * 40, Y: 150, W: 40, H: 100}}}
		}
		res := tracker.Update(now, dets)
		for _, e := range res.Events {
			fmt.Println(e.Kind, e.TrackID)
		}
		for _, e := range zones.Update(now, res.Detections) {
			fmt.Println(e.Kind, e.Zone, e.TrackID)
		}
	}
	for _, e := range tracker.Flush(start.Add(time.Second)) {
		fmt.Println(e.Kind, e.TrackID, e.Hits)
		for _, ze := range zones.End(e.Time, e.TrackID) {
			fmt.Println(ze.Kind, ze.Zone, ze.TrackID, ze.Dwell)
		}
	}
	// Output:
	// track_start 1
	// zone.enter gate 1
	// track_end 1 5
	// zone.exit gate 1 300ms
}
