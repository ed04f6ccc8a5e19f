package media

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry/store"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

type footprintRecorder struct{ poses []geo.Pose }

func (f *footprintRecorder) DroneFootprint(camera string, p geo.Pose, w, h int) [][2]float64 {
	f.poses = append(f.poses, p)
	return [][2]float64{{p.Lon, p.Lat}, {p.Lon + 0.001, p.Lat}, {p.Lon, p.Lat + 0.001}, {p.Lon, p.Lat}}
}

// A drone camera's footprint is placed from each track point's recorded
// pose: its yaw (or, without one, its heading), its gimbal (or straight
// down without one); a point without altitude or heading has none.
func TestFootprintLine(t *testing.T) {
	f := func(v float32) *float32 { return &v }
	t0 := time.Unix(1_800_000_000, 0)
	pts := []store.TrackPoint{
		{Time: t0, Lat: 22.5, Lon: 114.0, AltMSL: f(100), Heading: f(10), Yaw: f(20), GimbalPitch: f(-45), GimbalYaw: f(5)},
		{Time: t0.Add(time.Second), Lat: 22.6, Lon: 114.1, AltMSL: f(90), Heading: f(30)},
		{Time: t0.Add(2 * time.Second), Lat: 22.7, Lon: 114.2, Heading: f(30)},
		{Time: t0.Add(3 * time.Second), Lat: 22.8, Lon: 114.3, AltMSL: f(90)},
	}
	var rec footprintRecorder
	line := footprintLine(&rec, replayCamera{ID: "d1-cam", VehicleID: "d1"}, pts)
	rings := line["rings"].([][][2]float64)
	if len(rings) != 4 || rings[0] == nil || rings[1] == nil || rings[2] != nil || rings[3] != nil {
		t.Fatalf("rings %v", rings)
	}
	if len(rec.poses) != 2 {
		t.Fatalf("poses %+v", rec.poses)
	}
	want := []geo.Pose{geo.DronePose(22.5, 114.0, 100, 20, -45, 5), geo.DronePose(22.6, 114.1, 90, 30, -90, 0)}
	for i, p := range rec.poses {
		if p != want[i] {
			t.Errorf("pose %d: %+v, want %+v", i, p, want[i])
		}
	}
	if ts := line["t"].([]int64); ts[3] != t0.Add(3*time.Second).UnixMilli() {
		t.Errorf("times %v", ts)
	}
}
