package place_test

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/telemetry"
)

func TestSitesAndTheirModels(t *testing.T) {
	dir := t.TempDir()
	model := []byte(`{"type":"FeatureCollection","features":[{"type":"Feature","id":"hall","geometry":{"type":"Polygon","coordinates":[[[114.055,22.54],[114.056,22.54],[114.056,22.541],[114.055,22.54]]]},"properties":{"height":12}}]}`)
	if err := os.WriteFile(filepath.Join(dir, "hall.geojson"), model, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.geojson"), []byte(`{"type":"Point"`), 0o600); err != nil {
		t.Fatal(err)
	}
	demo := geo.Site{ID: "b-demo", Lat: siteLat, Lon: siteLon, Synthetic: true}
	p, err := place.New(place.Config{Bus: telemetry.NewHub(nil), Sites: []geo.Site{
		demo,
		{ID: "e-map", Lat: 1, Lon: 1, PMTiles: "/srv/maps/e.pmtiles"},
		{ID: "a-plain", Lat: 1, Lon: 1},
		{ID: "d-broken", Lat: 1, Lon: 1, Model: filepath.Join(dir, "broken.geojson")},
		{ID: "c-file", Lat: 1, Lon: 1, Model: filepath.Join(dir, "hall.geojson")},
	}})
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range p.Sites() {
		ids = append(ids, s.ID)
	}
	if want := []string{"a-plain", "b-demo", "c-file", "d-broken", "e-map"}; !slices.Equal(ids, want) {
		t.Errorf("Sites() = %v, want %v", ids, want)
	}

	// The synthetic site's model: generated GeoJSON, the same each time,
	// from any number of callers at once.
	first, err := p.SiteModel("b-demo")
	if err != nil {
		t.Fatal(err)
	}
	fc, err := geojson.UnmarshalFeatureCollection(first)
	if err != nil || len(fc.Features) == 0 {
		t.Fatalf("the synthetic model is not a FeatureCollection with buildings: %v", err)
	}
	for _, f := range fc.Features {
		if f.Properties["synthetic"] != true || f.Properties["height"] == nil {
			t.Fatalf("building %v is not labelled synthetic with a height: %v", f.ID, f.Properties)
		}
	}
	want, _ := geo.SyntheticBlock(siteLat, siteLon, 1).MarshalJSON()
	if !bytes.Equal(first, want) {
		t.Error("the synthetic model is not the site's generated block")
	}
	var wg sync.WaitGroup
	again := make([][]byte, 8)
	for i := range again {
		wg.Go(func() { again[i], _ = p.SiteModel("b-demo") })
	}
	wg.Wait()
	for _, b := range again {
		if !bytes.Equal(b, first) {
			t.Fatal("the synthetic model changed between calls")
		}
	}

	if b, err := p.SiteModel("c-file"); err != nil || !bytes.Equal(b, model) {
		t.Errorf("a site's model file: %q, %v", b, err)
	}
	if _, err := p.SiteModel("d-broken"); err == nil {
		t.Error("a model file that is not GeoJSON was served")
	}
	if b, err := p.SiteModel("a-plain"); b != nil || err != nil {
		t.Errorf("a site without a model: %q, %v", b, err)
	}
	if _, err := p.SiteModel("nope"); !errors.Is(err, geo.ErrNotFound) {
		t.Errorf("an unknown site's model: %v, want ErrNotFound", err)
	}

	if path, ok := p.SiteBasemap("e-map"); !ok || path != "/srv/maps/e.pmtiles" {
		t.Errorf("basemap %q, %v", path, ok)
	}
	if _, ok := p.SiteBasemap("a-plain"); ok {
		t.Error("a site without a basemap has one")
	}
	if _, ok := p.SiteBasemap("nope"); ok {
		t.Error("an unknown site has a basemap")
	}
}
