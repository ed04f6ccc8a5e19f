package geo_test

import (
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/maptile"

	"github.com/smarteye/smarteye/geo"
)

func TestParseTile(t *testing.T) {
	for _, tc := range []struct {
		z, x, y string
		ok      bool
	}{
		{"16", "53408", "28492.mvt", true},
		{"0", "0", "0", true},
		{"22", "4194303", "4194303", true},
		{"23", "0", "0", false},
		{"1", "2", "0", false},
		{"x", "0", "0", false},
		{"3", "-1", "0", false},
	} {
		tile, err := geo.ParseTile(tc.z, tc.x, tc.y)
		if (err == nil) != tc.ok {
			t.Errorf("%s/%s/%s: %v %v", tc.z, tc.x, tc.y, tile, err)
		}
	}
}

// A tile holds the detections inside it, their time in Unix seconds.
func TestDetectionTile(t *testing.T) {
	at := time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)
	track := int64(7)
	ds := []geo.DetectionPoint{
		{Time: at, Camera: "plaza-north", Class: "person", Confidence: 0.91234, TrackID: &track, Lat: 22.5395, Lon: 114.05465},
		{Time: at, Camera: "far-away", Class: "car", Confidence: 0.8, Lat: 22.60, Lon: 114.10},
	}
	if f := ds[0].Feature(); f.Properties["confidence"] != 0.912 || f.Properties["time"] != "2026-11-23T10:00:00Z" || f.Properties["track_id"] != track {
		t.Fatalf("feature %v", f.Properties)
	}
	tile := maptile.At(orb.Point{ds[0].Lon, ds[0].Lat}, 16)
	b, err := geo.DetectionTile(tile, ds)
	if err != nil {
		t.Fatal(err)
	}
	layers, err := mvt.Unmarshal(b)
	if err != nil || len(layers) != 1 || layers[0].Name != "detections" || len(layers[0].Features) != 1 {
		t.Fatalf("%v %+v", err, layers)
	}
	if f := layers[0].Features[0]; f.Properties["camera"] != "plaza-north" || f.Properties["time"] != float64(at.Unix()) {
		t.Fatalf("properties %v", f.Properties)
	}
}

// A fence goes out as a GeoJSON Feature and comes back the same.
func TestFenceFeature(t *testing.T) {
	in := geo.Fence{ID: "works", Name: "Works area", Kind: geo.Restricted, Site: "cbd", Dwell: 30 * time.Second, Classes: []string{"person"},
		Polygon: orb.Polygon{{{114.05, 22.54}, {114.06, 22.54}, {114.06, 22.55}, {114.05, 22.54}}}}
	b, err := in.Feature("api").MarshalJSON()
	if err != nil || !strings.Contains(string(b), `"source":"api"`) {
		t.Fatalf("%v %s", err, b)
	}
	out, err := geo.ParseFenceFeature(b, "")
	if err != nil || out.ID != in.ID || out.Name != in.Name || out.Kind != in.Kind || out.Site != in.Site || out.Dwell != in.Dwell || len(out.Classes) != 1 {
		t.Fatalf("%v %+v", err, out)
	}
	if _, err := geo.ParseFenceFeature(b, "../etc"); err == nil || !strings.Contains(err.Error(), "id:") {
		t.Fatalf("a bad id: %v", err)
	}
}

// FuzzParseFenceFeature: whatever a client PUTs as a geofence, the parser
// answers with a fence that validates or an error, never a panic.
func FuzzParseFenceFeature(f *testing.F) {
	f.Add([]byte(`{"type":"Feature","id":"a","properties":{"name":"A","kind":"keep-out"},"geometry":{"type":"Polygon","coordinates":[[[114.05,22.54],[114.06,22.54],[114.06,22.55],[114.05,22.54]]]}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"dwell_s":-1,"classes":[1,"x",null]},"geometry":{"type":"Polygon","coordinates":[]}}`))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[0,1],[0,0]]]]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		fence, err := geo.ParseFenceFeature(body, "x")
		if err == nil {
			if verr := fence.Validate(); verr != nil {
				t.Fatalf("accepted an invalid fence: %v", verr)
			}
		}
	})
}

// The surroundings map is drawn around the spot: buildings and fences
// near it, none far away.
func TestSurroundingsSVG(t *testing.T) {
	near := orb.Polygon{{{114.0546, 22.5394}, {114.0548, 22.5394}, {114.0548, 22.5396}, {114.0546, 22.5394}}}
	far := orb.Polygon{{{114.10, 22.60}, {114.11, 22.60}, {114.11, 22.61}, {114.10, 22.60}}}
	svg := string(geo.SurroundingsSVG(22.5395, 114.05465, []orb.Polygon{near, far}, []geo.Fence{{ID: "f", Polygon: far}}))
	if !strings.HasPrefix(svg, "<svg") || strings.Count(svg, "<path") != 3 || !strings.Contains(svg, `fill="#c9ced6"`) || strings.Contains(svg, "e5484d\" fill-opacity") {
		t.Fatalf("%s", svg)
	}
}
