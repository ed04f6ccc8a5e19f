package dashboard

import (
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

type cameraList []telemetry.CameraInfo

func (c cameraList) Cameras() []telemetry.CameraInfo { return c }

// serveRecordings runs a server with a real store as its recordings index
// and one camera, "north", whose one indexed segment has no file.
func serveRecordings(t *testing.T) (string, *store.Store, telemetry.Recording) {
	t.Helper()
	reg := prometheus.NewRegistry()
	st := migratedStore(t, reg)
	dir := t.TempDir()
	start := time.Now().Add(-10 * time.Minute).Truncate(time.Second)
	seg := telemetry.Recording{Camera: "north", Start: start, End: start.Add(time.Minute), Path: "north/gone.mp4", Bytes: 1000, Codec: "H264", Width: 640, Height: 480, InitSize: 500, Frames: 600}
	if err := st.AddRecordings(t.Context(), []telemetry.Recording{seg}); err != nil {
		t.Fatal(err)
	}
	segs, err := st.Recordings(t.Context(), "north", start, seg.End)
	if err != nil || len(segs) != 1 {
		t.Fatalf("%v %v", segs, err)
	}
	base := runTestServer(t, st, Deps{Store: st, Board: telemetry.NewBoard(), History: st, Recordings: st, RecordingsDir: filepath.Join(dir, "rec"), ExportsDir: filepath.Join(dir, "exports"),
		Cameras: cameraList{{ID: "north", Name: "North plaza", Kind: "fixed"}}, Gatherer: reg, Registerer: reg})
	return base, st, segs[0]
}

// migratedStore is a store over a throwaway database, migrated; the
// server's cleanup closes it.
func migratedStore(t *testing.T, reg prometheus.Registerer) *store.Store {
	t.Helper()
	st, err := store.New(store.Config{URL: storetest.URL(t)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return st
}

// runTestServer serves deps (with the test users) until the test ends,
// then closes st.
func runTestServer(t *testing.T, st *store.Store, deps Deps) string {
	t.Helper()
	t.Cleanup(func() { st.Close() }) // after the server stops
	srv, _ := runServer(t, Config{Address: "127.0.0.1:0", Version: "test", Auth: testAuth(t)}, deps)
	return srv.URL()
}

// TestRecordingRoutesRefuseHostileInput: playback, segments, exports and
// replay answer bad requests with a clear 4xx and do nothing else.
func TestRecordingRoutesRefuseHostileInput(t *testing.T) {
	base, _, seg := serveRecordings(t)
	q := func(from, to time.Time) string {
		return "from=" + url.QueryEscape(from.UTC().Format(time.RFC3339)) + "&to=" + url.QueryEscape(to.UTC().Format(time.RFC3339))
	}
	now := time.Now()
	week := q(now.Add(-8*24*time.Hour), now)
	media := fmt.Sprintf("api/v1/recordings/%d/", seg.ID)
	ok := `{"kind":"video","camera_id":"north","from":"` + seg.Start.UTC().Format(time.RFC3339) + `","to":"` + seg.End.UTC().Format(time.RFC3339) + `"}`
	for _, tc := range []struct {
		name, method, path, ctype, body string
		header                          map[string]string
		code                            int
		msg                             string
	}{
		{"playback unknown camera", "GET", "api/v1/cameras/south/playback", "", "", nil, 404, `no camera "south"`},
		{"playback bad time", "GET", "api/v1/cameras/north/playback?from=yesterday", "", "", nil, 400, "from: not an RFC 3339 time"},
		{"playback reversed", "GET", "api/v1/cameras/north/playback?" + q(now, now.Add(-time.Hour)), "", "", nil, 400, "to must be after from"},
		{"playback too long", "GET", "api/v1/cameras/north/playback?" + q(now.Add(-400*24*time.Hour), now), "", "", nil, 400, "the range is longer than"},
		{"playback nothing recorded", "GET", "api/v1/cameras/north/playback?" + q(now.Add(-48*time.Hour), now.Add(-47*time.Hour)), "", "", nil, 404, "nothing was recorded"},
		{"recordings unknown camera", "GET", "api/v1/cameras/../../etc/recordings", "", "", nil, 404, ""},
		{"segment id not a number", "GET", "api/v1/recordings/1e9/init.mp4", "", "", nil, 404, `no recording "1e9"`},
		{"segment missing", "GET", "api/v1/recordings/999999/init.mp4", "", "", nil, 404, "no recording 999999"},
		{"segment file gone", "GET", media + "init.mp4", "", "", nil, 410, "gone or unreadable"},
		{"media bad time", "GET", media + "media.m4s?from=%00", "", "", nil, 400, `the query parameter "from" contains a NUL`},
		{"media unreadable time", "GET", media + "media.m4s?from=noon", "", "", nil, 400, "from: not an RFC 3339 time"},
		{"export not JSON", "POST", "api/v1/exports", "application/json", "{kind:", nil, 400, `send {"kind"`},
		{"export unknown field", "POST", "api/v1/exports", "application/json", `{"kind":"events","path":"/etc/passwd"}`, nil, 400, `unknown field "path"`},
		{"export unknown kind", "POST", "api/v1/exports", "application/json", `{"kind":"database"}`, nil, 400, `kind: "database" is not one of`},
		{"export bad format", "POST", "api/v1/exports", "application/json", `{"kind":"video","format":"avi","camera_id":"north"}`, nil, 400, `format: "avi" is not one of`},
		{"export unknown camera", "POST", "api/v1/exports", "application/json", `{"kind":"video","camera_id":"../north"}`, nil, 400, `camera_id: no camera "../north"`},
		{"export no range", "POST", "api/v1/exports", "application/json", `{"kind":"events","format":"csv"}`, nil, 400, "from and to: RFC 3339 times"},
		{"export reversed", "POST", "api/v1/exports", "application/json", `{"kind":"tracks","from":"2026-01-02T00:00:00Z","to":"2026-01-01T00:00:00Z"}`, nil, 400, "to after from"},
		{"export video too long", "POST", "api/v1/exports", "application/json", `{"kind":"video","camera_id":"north","from":"2026-01-01T00:00:00Z","to":"2026-01-03T00:00:00Z"}`, nil, 400, "at most"},
		{"export huge", "POST", "api/v1/exports", "application/json", `{"kind":"events","vehicle_id":"` + strings.Repeat("a", 70000) + `"}`, nil, 413, `send {"kind"`},
		{"export long vehicle", "POST", "api/v1/exports", "application/json", `{"kind":"tracks","vehicle_id":"` + strings.Repeat("a", 200) + `"}`, nil, 400, "vehicle_id: too long"},
		{"export plain text", "POST", "api/v1/exports", "text/plain", ok, nil, 415, "send JSON"},
		{"export other origin", "POST", "api/v1/exports", "application/json", ok, map[string]string{"Origin": "https://evil.example"}, 403, "another origin"},
		{"export missing", "GET", "api/v1/exports/nope", "", "", nil, 404, `no export "nope"`},
		{"export file missing", "GET", "api/v1/exports/nope/file", "", "", nil, 404, `no export "nope"`},
		{"replay bad time", "GET", "api/v1/replay?to=now", "", "", nil, 400, "to: not an RFC 3339 time"},
		{"replay reversed", "GET", "api/v1/replay?" + q(now, now.Add(-time.Minute)), "", "", nil, 400, "to must be after from"},
		{"replay too long", "GET", "api/v1/replay?" + week, "", "", nil, 400, "longer than 7 days"},
		{"replay points", "GET", "api/v1/replay?points=1", "", "", nil, 400, "points: a whole number"},
		{"replay points huge", "GET", "api/v1/replay?points=99999999999999999999", "", "", nil, 400, "points: a whole number"},
		{"replay unknown site", "GET", "api/v1/replay?site=mars", "", "", nil, 404, `no site "mars"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, body := send(t, tc.method, base+tc.path, tc.ctype, tc.body, tc.header)
			if code != tc.code || !strings.Contains(body, tc.msg) {
				t.Fatalf("got %d %s, want %d with %q", code, body, tc.code, tc.msg)
			}
		})
	}
	// Nothing was queued by the refused exports.
	if code, body := get(t, base+"api/v1/exports"); code != 200 || strings.Contains(body, `"id"`) {
		t.Fatalf("exports after the refusals: %d %s", code, body)
	}
}
