package dashboard

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// serve runs a server over a real store until the test ends.
func serve(t *testing.T) (string, *store.Store) {
	t.Helper()
	url, st, _ := serveWith(t, nil)
	return url, st
}

// serveWith is serve with the configuration changed by edit (nil: none),
// returning the server too.
func serveWith(t *testing.T, edit func(*Config)) (string, *store.Store, *Server) {
	t.Helper()
	reg := prometheus.NewRegistry()
	st, err := store.New(store.Config{URL: storetest.URL(t)}, reg)
	if err != nil {
		t.Fatal(err)
	}
	board := telemetry.NewBoard()
	board.Set("camera.north", telemetry.StateDegraded, "stalled for 4s")
	cfg := Config{Address: "127.0.0.1:0", Version: "test", Database: "embedded", Auth: testAuth(t)}
	if edit != nil {
		edit(&cfg)
	}
	t.Cleanup(func() { st.Close() }) // after the server stops
	srv, _ := runServer(t, cfg, Deps{Store: st, Board: board, History: st, Gatherer: reg, Registerer: reg})
	return srv.URL(), st, srv
}

// runServer serves deps with cfg until stop (or the test's end).
func runServer(t *testing.T, cfg Config, deps Deps) (srv *Server, stop func()) {
	t.Helper()
	srv, err := New(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Listen(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Error(err)
			}
		})
	}
	t.Cleanup(stop)
	return srv, stop
}

// testToken is an admin's API token in every test server.
const testToken = "test-admin-token"

// testAuth has the admin token and one user of each role, whose password
// is the role's name twice ("fieldfield").
func testAuth(t testing.TB) auth.Config {
	h := sha256.Sum256([]byte(testToken))
	a := auth.Config{Tokens: []auth.Token{{Name: "test", Role: auth.RoleAdmin, SHA256: hex.EncodeToString(h[:])}}}
	for _, role := range auth.Roles() {
		hash, err := bcrypt.GenerateFromPassword([]byte(role+role), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		a.Users = append(a.Users, auth.User{Name: role + "-user", Role: role, PasswordHash: string(hash)})
	}
	return a
}

// get sends GET url as the test admin.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestReadinessFollowsTheStore(t *testing.T) {
	base, st := serve(t)
	if code, body := get(t, base+"readyz"); code != 503 || !strings.Contains(body, "not migrated") {
		t.Fatalf("before migration: %d %s", code, body)
	}
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"readyz"); code != 200 {
		t.Fatalf("after migration: %d %s", code, body)
	}
	code, body := get(t, base+"api/v1/status")
	var s Status
	if err := json.Unmarshal([]byte(body), &s); err != nil || code != 200 {
		t.Fatalf("%d %v %s", code, err, body)
	}
	if s.Version != "test" || s.Store.Mode != store.ModePostgres || s.Store.Database != "embedded" ||
		len(s.Components) != 1 || s.Components[0].State != telemetry.StateDegraded {
		t.Fatalf("status %+v", s)
	}
}

func TestHostileRequests(t *testing.T) {
	base, _ := serve(t)
	for _, tc := range []struct {
		method, path string
		header       map[string]string
		want         int
	}{
		{"POST", "api/v1/status", nil, http.StatusMethodNotAllowed},
		{"DELETE", "metrics", nil, http.StatusMethodNotAllowed},
		{"GET", "api/v1/../../etc/passwd", nil, http.StatusNotFound},
		{"GET", "api/v1/status%00", nil, http.StatusNotFound},
		{"GET", "api/v1/status", map[string]string{"X-Big": strings.Repeat("a", 128<<10)}, http.StatusRequestHeaderFieldsTooLarge},
	} {
		req, _ := http.NewRequest(tc.method, base+tc.path, nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s /%s: %d, want %d", tc.method, tc.path, resp.StatusCode, tc.want)
		}
	}
	// The server is still fine, and unmatched paths do not blow up metric labels.
	code, body := get(t, base+"metrics")
	if code != 200 || strings.Contains(body, "etc/passwd") {
		t.Fatalf("metrics after hostile requests: %d", code)
	}
}
