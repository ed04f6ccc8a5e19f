package dashboard

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
)

// oneSite is a Geo with one site and a PMTiles basemap.
type oneSite struct{ pmtiles string }

func (o oneSite) Sites() []geo.Site {
	return []geo.Site{{ID: "s", Name: "S", Lat: 22.54, Lon: 114.05, PMTiles: o.pmtiles}}
}
func (o oneSite) SiteModel(string) ([]byte, error) { return nil, nil }
func (o oneSite) SiteBasemap(id string) (string, bool) {
	return o.pmtiles, id == "s"
}
func (o oneSite) Geofences() ([]geo.Fence, map[string]string)  { return nil, nil }
func (o oneSite) PutGeofence(context.Context, geo.Fence) error { return ErrConfigured }
func (o oneSite) DeleteGeofence(context.Context, string) error { return ErrNotFound }

// The basemap is read the way PMTiles readers do: by byte ranges.
func TestBasemapRanges(t *testing.T) {
	file := filepath.Join(t.TempDir(), "site.pmtiles")
	content := []byte("PMTiles\x03 header, directory, tiles... 0123456789")
	if err := os.WriteFile(file, content, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	srv, stop := runServer(t, Config{Address: "127.0.0.1:0", Auth: testAuth(t)}, Deps{Board: telemetry.NewBoard(), Geo: oneSite{file}, Gatherer: reg, Registerer: reg})
	defer func() { stop(); http.DefaultClient.CloseIdleConnections() }()

	req, _ := http.NewRequest("GET", srv.URL()+"api/v1/sites/s/basemap.pmtiles", nil)
	req.Header.Set("Range", "bytes=0-6")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusPartialContent || string(body) != "PMTiles" || resp.Header.Get("Content-Range") != "bytes 0-6/"+strconv.Itoa(len(content)) {
		t.Fatalf("%d %q %q", resp.StatusCode, body, resp.Header.Get("Content-Range"))
	}
	if code, _ := get(t, srv.URL()+"api/v1/sites/other/basemap.pmtiles"); code != 404 {
		t.Fatalf("other site: %d", code)
	}
	if code, body := get(t, srv.URL()+"api/v1/sites"); code != 200 || len(body) < 20 {
		t.Fatalf("sites: %d %s", code, body)
	}
}

func (o oneSite) Calibrate(context.Context, string, []geo.ControlPoint) (map[string]any, error) {
	return nil, ErrNotFound
}
