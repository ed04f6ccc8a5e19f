package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

func send(t *testing.T, method, url, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/geo+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

const plazaFence = `{"type":"Feature","id":"barrier-1","properties":{"name":"Barrier works","kind":"restricted","site":"futian-cbd","dwell_s":15,"classes":["person"]},
"geometry":{"type":"Polygon","coordinates":[[[114.0546,22.5394],[114.0548,22.5394],[114.0548,22.5396],[114.0546,22.5396],[114.0546,22.5394]]]}}`

// The demo's site and geofences through the API; a fence made through the
// API survives a restart; bad polygons are refused with the reason.
func TestDemoSitesAndGeofences(t *testing.T) {
	data := storetest.TempDir(t) + "/var"
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)

	var sites struct {
		Sites []struct {
			ID        string
			Synthetic bool
			Model     string
			Elevation float64
		}
	}
	getJSON(t, p.url+"api/v1/sites", &sites)
	if len(sites.Sites) != 1 || sites.Sites[0].ID != "futian-cbd" || !sites.Sites[0].Synthetic || sites.Sites[0].Model == "" {
		t.Fatalf("sites %+v", sites)
	}
	var model struct {
		Type     string
		Features []struct {
			Properties map[string]any
		}
	}
	if code := getJSON(t, p.url+strings.TrimPrefix(sites.Sites[0].Model, "/"), &model); code != 200 || model.Type != "FeatureCollection" || len(model.Features) < 40 {
		t.Fatalf("model: %d, %d buildings", code, len(model.Features))
	}
	if model.Features[0].Properties["synthetic"] != true || model.Features[0].Properties["height"] == nil {
		t.Fatalf("building %+v", model.Features[0].Properties)
	}
	if code, _ := send(t, "GET", p.url+"api/v1/sites/nowhere/model", ""); code != 404 {
		t.Fatalf("unknown site: %d", code)
	}

	fences := func() map[string]string {
		var fc struct {
			Features []struct {
				ID         string
				Properties map[string]any
			}
		}
		getJSON(t, p.url+"api/v1/geofences", &fc)
		out := map[string]string{}
		for _, f := range fc.Features {
			out[f.ID] = f.Properties["source"].(string)
		}
		return out
	}
	if got := fences(); got["crane-1"] != "config" || got["works-north"] != "config" {
		t.Fatalf("fences %v", got)
	}
	if code, body := send(t, "POST", p.url+"api/v1/geofences", plazaFence); code != 201 || !strings.Contains(body, `"source":"api"`) {
		t.Fatalf("POST: %d %s\n%s", code, body, p.log.String())
	}
	if code, _ := send(t, "POST", p.url+"api/v1/geofences", plazaFence); code != 409 {
		t.Fatalf("POST again: %d", code)
	}
	// A foreign page's form post, and a body that is not JSON, change nothing.
	req, _ := http.NewRequest("POST", p.url+"api/v1/geofences", strings.NewReader(strings.Replace(plazaFence, "barrier-1", "csrf-1", 1)))
	req.Header.Set("Content-Type", "text/plain")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 415 {
		t.Fatalf("text/plain POST: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	req, _ = http.NewRequest("DELETE", p.url+"api/v1/geofences/barrier-1", nil)
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 403 {
		t.Fatalf("cross-origin DELETE: %v %v", resp, err)
	} else {
		resp.Body.Close()
	}
	for _, tc := range []struct{ body, want string }{
		{strings.Replace(plazaFence, `[114.0548,22.5394],[114.0548,22.5396]`, `[114.0548,22.5396],[114.0548,22.5394]`, 1), "crosses itself"},
		{strings.Replace(plazaFence, `[[114.0546,22.5394],[114.0548,22.5394],[114.0548,22.5396],[114.0546,22.5396],[114.0546,22.5394]]`, `[[114.0546,22.5394],[114.0546,22.5396],[114.0548,22.5396],[114.0548,22.5394],[114.0546,22.5394]]`, 1), "counter-clockwise"},
		{strings.Replace(plazaFence, `"Polygon"`, `"LineString"`, 1), "not a GeoJSON Feature"},
		{strings.Replace(plazaFence, `"restricted"`, `"forbidden"`, 1), `kind "forbidden"`},
		{`{"type":"Feature"`, "not a GeoJSON Feature"},
	} {
		code, body := send(t, "PUT", p.url+"api/v1/geofences/bad-1", tc.body)
		var e struct{ Error string }
		json.Unmarshal([]byte(body), &e)
		if code != 400 || !strings.Contains(e.Error, tc.want) {
			t.Errorf("PUT %.60s…: %d %q, want 400 with %q", tc.body, code, e.Error, tc.want)
		}
	}
	if code, _ := send(t, "PUT", p.url+"api/v1/geofences/crane-1", strings.Replace(plazaFence, "barrier-1", "crane-1", 1)); code != 409 {
		t.Fatalf("PUT over a configured fence: %d", code)
	}
	if code, _ := send(t, "DELETE", p.url+"api/v1/geofences/crane-1", ""); code != 409 {
		t.Fatalf("DELETE a configured fence: %d", code)
	}
	// A second API fence, then deleted.
	if code, _ := send(t, "PUT", p.url+"api/v1/geofences/temp-1", strings.Replace(plazaFence, "barrier-1", "temp-1", 1)); code != 200 {
		t.Fatalf("PUT: %d", code)
	}
	if code, _ := send(t, "DELETE", p.url+"api/v1/geofences/temp-1", ""); code != 204 {
		t.Fatalf("DELETE: %d", code)
	}
	if code, _ := send(t, "DELETE", p.url+"api/v1/geofences/temp-1", ""); code != 404 {
		t.Fatalf("DELETE again: %d", code)
	}
	// Calibration through the API: five control points for plaza-south.
	cal := `{"control_points": [{"u": 80, "v": 260, "lat": 22.5402073, "lon": 114.0559944}, {"u": 690, "v": 260, "lat": 22.5402994, "lon": 114.0558225},
		{"u": 720, "v": 560, "lat": 22.5403697, "lon": 114.0559063}, {"u": 50, "v": 560, "lat": 22.5403097, "lon": 114.0560183}, {"u": 400, "v": 400, "lat": 22.540321, "lon": 114.055910}]}`
	code, body := send(t, "PUT", p.url+"api/v1/cameras/plaza-south/calibration", cal)
	var fit struct {
		ControlPoints int     `json:"control_points"`
		RMS           float64 `json:"rms_m"`
	}
	json.Unmarshal([]byte(body), &fit)
	if code != 200 || fit.ControlPoints != 5 || fit.RMS > 5 {
		t.Fatalf("calibration: %d %s", code, body)
	}
	for _, tc := range []struct {
		camera, body string
		code         int
	}{
		{"plaza-south", `{"control_points": [{"u": 1, "v": 1, "lat": 22.54, "lon": 114.05}]}`, 400},
		{"plaza-south", `{"points": []}`, 400},
		{"nowhere", cal, 404},
		{"drone-1-cam", cal, 400},
	} {
		if code, body := send(t, "PUT", p.url+"api/v1/cameras/"+tc.camera+"/calibration", tc.body); code != tc.code {
			t.Errorf("%s %.40s: %d %s", tc.camera, tc.body, code, body)
		}
	}
	stopWith(t, p, syscall.SIGTERM)

	// After a restart the API's fence is back, in force.
	p = start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	deadline := time.Now().Add(15 * time.Second)
	for fences()["barrier-1"] != "api" {
		if time.Now().After(deadline) {
			t.Fatalf("fences after restart: %v", fences())
		}
		time.Sleep(100 * time.Millisecond) // polling, with the deadline above
	}
	if got := fences(); got["temp-1"] != "" {
		t.Fatalf("a deleted fence came back: %v", got)
	}
	// And so is the calibration set through the API.
	for {
		var cam struct{ Calibration map[string]any }
		getJSON(t, p.url+"api/v1/cameras/plaza-south", &cam)
		if n, _ := cam.Calibration["control_points"].(float64); n == 5 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("calibration after restart: %v", cam.Calibration)
		}
		time.Sleep(100 * time.Millisecond)
	}
	stopWith(t, p, syscall.SIGTERM)
	http.DefaultClient.CloseIdleConnections()
}
