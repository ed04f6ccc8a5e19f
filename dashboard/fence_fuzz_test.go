package dashboard

import (
	"bytes"
	"net/http/httptest"
	"testing"
)

// FuzzReadFence: whatever a client PUTs as a geofence, the parser answers
// with a fence that validates or an error, never a panic.
func FuzzReadFence(f *testing.F) {
	f.Add([]byte(`{"type":"Feature","id":"a","properties":{"name":"A","kind":"keep-out"},"geometry":{"type":"Polygon","coordinates":[[[114.05,22.54],[114.06,22.54],[114.06,22.55],[114.05,22.54]]]}}`))
	f.Add([]byte(`{"type":"Feature","properties":{"dwell_s":-1,"classes":[1,"x",null]},"geometry":{"type":"Polygon","coordinates":[]}}`))
	f.Add([]byte(`{"type":"Feature","geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[1,0],[0,1],[0,0]]]]}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		r := httptest.NewRequest("PUT", "/api/v1/geofences/x", bytes.NewReader(body))
		fence, err := readFence(r, "x")
		if err == nil {
			if verr := fence.Validate(); verr != nil {
				t.Fatalf("accepted an invalid fence: %v", verr)
			}
		}
	})
}
