package dashboard

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/smarteye/smarteye/telemetry/store"
)

var update = flag.Bool("update", false, "rewrite the golden files")

// golden compares got with testdata/name, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (run go test -run %s -update to create it)", err, t.Name())
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the golden file:\n got: %.400s\nwant: %.400s", name, got, want)
	}
}

var geoT0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// seedDetections stores a few placed detections (and one unplaced) on
// the demo plaza.
func seedDetections(t *testing.T, st *store.Store) {
	t.Helper()
	ctx := t.Context()
	if _, err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	if err := st.EnsurePartitions(ctx, "detections", geoT0.Add(-time.Hour), geoT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	rows := [][]any{
		{geoT0, "plaza-north", int64(1795413367000001), "person", float32(0.91), float32(100), float32(200), float32(60), float32(130), 22.53950, 114.05465, float32(0.6), "ok"},
		{geoT0.Add(500 * time.Millisecond), "plaza-north", int64(1795413367000001), "person", float32(0.88), float32(110), float32(205), float32(60), float32(130), 22.53951, 114.05466, float32(0.6), "ok"},
		{geoT0.Add(time.Second), "plaza-south", int64(1795413367000007), "person", float32(0.75), float32(400), float32(300), float32(64), float32(128), 22.54030, 114.05595, float32(0.7), "ok"},
		{geoT0.Add(time.Second), "plaza-south", int64(1795413367000008), "person", float32(0.70), float32(10), float32(5), float32(64), float32(128), nil, nil, nil, "above_horizon"},
		{geoT0.Add(2 * time.Second), "far-away", int64(9), "car", float32(0.80), float32(1), float32(1), float32(64), float32(64), 22.60, 114.10, float32(3), "ok"},
	}
	for _, r := range rows {
		if _, err := st.Pool().Exec(ctx, `INSERT INTO detections (time, camera_id, track_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon, position_error, geo_status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)`, r...); err != nil {
			t.Fatal(err)
		}
	}
}

func TestGeoDetectionsGeoJSON(t *testing.T) {
	base, st := serve(t)
	seedDetections(t, st)
	window := "from=2026-11-23T09:59:00Z&to=2026-11-23T10:01:00Z"
	code, body := get(t, base+"api/v1/geo/detections?"+window+"&bbox=114.05,22.535,114.06,22.545")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	// The plaza's three placed detections, newest first; not the unplaced
	// one, not the one outside the box.
	golden(t, "geo_detections.golden.geojson", []byte(body))

	code, body = get(t, base+"api/v1/geo/detections?"+window+"&camera=far-away")
	if code != 200 || !bytes.Contains([]byte(body), []byte(`"car"`)) {
		t.Fatalf("camera filter: %d %s", code, body)
	}
	for _, bad := range []string{"bbox=1,2,3", "bbox=10,0,5,1", "bbox=a,b,c,d", "bbox=-200,0,0,1"} {
		if code, _ := get(t, base+"api/v1/geo/detections?"+bad); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}

func TestDetectionTile(t *testing.T) {
	base, st := serve(t)
	seedDetections(t, st)
	tile := maptile.At([2]float64{114.05465, 22.53950}, 16)
	url := base + "api/v1/tiles/detections/16/" + strconv.FormatUint(uint64(tile.X), 10) + "/" + strconv.FormatUint(uint64(tile.Y), 10) + ".mvt?from=2026-11-23T09:59:00Z&to=2026-11-23T10:01:00Z"
	code, body := get(t, url)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "detections_16.golden.mvt", []byte(body))
	layers, err := mvt.Unmarshal([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	// The plaza's three placed detections fall in this z16 tile (about
	// 600 m across); the far-away car and the unplaced one do not.
	if len(layers) != 1 || layers[0].Name != "detections" || len(layers[0].Features) != 3 {
		t.Fatalf("%d layers, %d features", len(layers), len(layers[0].Features))
	}
	for _, f := range layers[0].Features {
		if f.Properties["class"] != "person" {
			t.Fatalf("feature %+v", f.Properties)
		}
	}
	// An empty tile elsewhere, and bad addresses.
	code, body = get(t, base+"api/v1/tiles/detections/3/1/1.mvt")
	empty, err := mvt.Unmarshal([]byte(body))
	if code != 200 || err != nil || (len(empty) > 0 && len(empty[0].Features) != 0) {
		t.Fatalf("empty tile: %d, %v, %d layers", code, err, len(empty))
	}
	for _, bad := range []string{"23/0/0.mvt", "2/4/0.mvt", "x/0/0.mvt", "2/0/-1.mvt"} {
		if code, _ := get(t, base+"api/v1/tiles/detections/"+bad); code != 400 {
			t.Errorf("%s: %d", bad, code)
		}
	}
}

func TestGeoEventsGeoJSON(t *testing.T) {
	base, st := serve(t)
	seedDetections(t, st)
	if err := st.EnsurePartitions(t.Context(), "events", geoT0.Add(-time.Hour), geoT0.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	for i, e := range []struct {
		kind     string
		lat, lon any
	}{{"geofence.enter", 22.5395, 114.0546}, {"geofence.breach", 22.5412, 114.0555}, {"stream.down", nil, nil}} {
		if _, err := st.Pool().Exec(t.Context(), `INSERT INTO events (time, id, kind, camera_id, lat, lon, message) VALUES ($1, $2, $3, 'plaza-north', $4, $5, 'm')`,
			geoT0.Add(time.Duration(i)*time.Second), fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), e.kind, e.lat, e.lon); err != nil {
			t.Fatal(err)
		}
	}
	code, body := get(t, base+"api/v1/geo/events?from=2026-11-23T09:59:00Z&to=2026-11-23T10:01:00Z&kind=geofence.&bbox=114.05,22.535,114.06,22.545")
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	golden(t, "geo_events.golden.geojson", []byte(body))
}
