package dashboard

import (
	"encoding/csv"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// accountServer is a server over a store that keeps accounts; stop ends
// it (the test's cleanup does too), as a restart would.
type accountServer struct {
	*Server
	base string
	stop func()
}

// serveAccounts runs a server with the test users over st (migrated);
// edit changes its configuration (nil: none).
func serveAccounts(t *testing.T, st *store.Store, edit func(*Config)) *accountServer {
	t.Helper()
	reg := prometheus.NewRegistry()
	cfg := Config{Address: "127.0.0.1:0", Version: "test", Auth: testAuth(t)}
	if edit != nil {
		edit(&cfg)
	}
	srv, stop := runServer(t, cfg, Deps{Store: st, Board: telemetry.NewBoard(), History: st, Accounts: st, Gatherer: reg, Registerer: reg})
	return &accountServer{srv, srv.URL(), stop}
}

// user is an HTTP client with its own cookies, or a bearer token.
type user struct {
	t     *testing.T
	c     *http.Client
	token string
}

func newUser(t *testing.T) *user {
	jar, _ := cookiejar.New(nil)
	return &user{t: t, c: &http.Client{Jar: jar}}
}

func (u *user) do(method, url, body string) (int, string) {
	u.t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		u.t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if u.token != "" {
		req.Header.Set("Authorization", "Bearer "+u.token)
	}
	resp, err := u.c.Do(req)
	if err != nil {
		u.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, readable(b)
}

// login logs u in on base and returns the status code.
func (u *user) login(base, name, password string) int {
	u.t.Helper()
	b, _ := json.Marshal(map[string]string{"username": name, "password": password})
	code, _ := u.do("POST", base+"api/v1/auth/login", string(b))
	return code
}

// me is who base takes u for ("" when 401).
func (u *user) me(base string) (role string, code int) {
	u.t.Helper()
	code, body := u.do("GET", base+"api/v1/auth/me", "")
	var p auth.Principal
	json.Unmarshal([]byte(body), &p)
	return p.Role, code
}

// must is a request that has to answer code.
func (u *user) must(code int, method, url, body string) string {
	u.t.Helper()
	got, resp := u.do(method, url, body)
	if got != code {
		u.t.Fatalf("%s %s %s: %d %s, want %d", method, url, body, got, resp, code)
	}
	return resp
}

func admin(t *testing.T) *user { u := newUser(t); u.token = testToken; return u }

// Users made in the product: the password rules, roles that follow into
// live logins, disabling, resetting, deleting, the last admin, and the
// configured users shown read-only.
func TestAccounts(t *testing.T) {
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, nil)
	base, adm := srv.base, admin(t)
	users := base + "api/v1/users"
	for _, tc := range []struct{ body, want string }{
		{`{"name":"ops.lee","role":"commander","password":"short1"}`, "at least 10 characters"},
		{`{"name":"ops.lee","role":"commander","password":"ops.lee-2026-plaza"}`, "must not contain the user name"},
		{`{"name":"ops.lee","role":"commander","password":"Password123!"}`, "too common"},
		{`{"name":"ops.lee","role":"commander","password":"P@ssw0rd2026"}`, "too common"},
		{`{"name":"ops.lee","role":"commander","password":"qwertyuiop"}`, "too common"},
		{`{"name":"ops.lee","role":"commander","password":"abcdefghijk"}`, "too common"},
		{`{"name":"ops.lee","role":"commander","password":"zzzzzzzzzzzz"}`, "too few different"},
		{`{"name":"ops.lee","role":"commander","password":"monkeymonkey"}`, "too common"},
		{`{"name":"ops lee","role":"commander","password":"violet-harbour-73"}`, "name: 1 to 64"},
		{`{"name":"ops.lee","role":"root","password":"violet-harbour-73"}`, `role: "root"`},
		{`{"name":"ops.lee","password":"violet-harbour-73"}`, "role: one of"},
		{`{"name":"ops.lee","role":"commander","password":"violet-harbour-73","admin":true}`, `unknown field "admin"`},
		{`{"name":"ops.lee","role":"commander","password":"violet\u0000harbour-73"}`, "NUL"},
	} {
		if code, body := adm.do("POST", users, tc.body); code != 400 || !strings.Contains(body, tc.want) {
			t.Errorf("%s: %d %s, want 400 %q", tc.body, code, body, tc.want)
		}
	}
	adm.must(201, "POST", users, `{"name":"ops.lee","role":"commander","team":"plaza","password":"violet-harbour-73"}`)
	if code, body := adm.do("POST", users, `{"name":"OPS.LEE","role":"field","password":"violet-harbour-74"}`); code != 409 || !strings.Contains(body, "exists already") {
		t.Fatalf("the same name in capitals: %d %s", code, body)
	}
	if code, body := adm.do("POST", users, `{"name":"field-user","role":"field","password":"violet-harbour-74"}`); code != 409 || !strings.Contains(body, "configuration file") {
		t.Fatalf("a configured name: %d %s", code, body)
	}
	var list []auth.UserInfo
	json.Unmarshal([]byte(adm.must(200, "GET", users, "")), &list)
	found := map[string]auth.UserInfo{}
	for _, u := range list {
		found[u.Name] = u
	}
	if u := found["ops.lee"]; u.Source != auth.SourceLocal || u.ReadOnly || u.Role != auth.RoleCommander || u.Team != "plaza" || u.CreatedBy != "test" {
		t.Fatalf("ops.lee listed as %+v", u)
	}
	if u := found["admin-user"]; u.Source != auth.SourceConfig || !u.ReadOnly {
		t.Fatalf("a configured user listed as %+v", u)
	}
	adm.must(409, "PATCH", users+"/admin-user", `{"role":"field"}`)
	adm.must(409, "DELETE", users+"/admin-user", "")

	lee := newUser(t)
	if code := lee.login(base, "Ops.Lee", "violet-harbour-73"); code != 200 {
		t.Fatalf("login as the new user: %d", code)
	}
	if role, _ := lee.me(base); role != auth.RoleCommander {
		t.Fatalf("role %q", role)
	}
	lee.must(403, "GET", users, "")
	// A new role reaches the live login.
	adm.must(200, "PATCH", users+"/ops.lee", `{"role":"planner"}`)
	if role, _ := lee.me(base); role != auth.RolePlanner {
		t.Fatalf("after the role change: %q", role)
	}
	// Disabled: the live login ends and no new one starts.
	adm.must(200, "PATCH", users+"/ops.lee", `{"disabled":true}`)
	if _, code := lee.me(base); code != 401 {
		t.Fatalf("a disabled user's login: %d", code)
	}
	if code := lee.login(base, "ops.lee", "violet-harbour-73"); code != 401 {
		t.Fatalf("a disabled user logged in: %d", code)
	}
	// Enabled with a reset password: the old one is refused.
	adm.must(200, "PATCH", users+"/ops.lee", `{"disabled":false,"password":"amber-lantern-19"}`)
	if code := lee.login(base, "ops.lee", "violet-harbour-73"); code != 401 {
		t.Fatalf("the old password after a reset: %d", code)
	}
	if code := lee.login(base, "ops.lee", "amber-lantern-19"); code != 200 {
		t.Fatalf("the reset password: %d", code)
	}
	// The user changes their own password; their other logins end.
	other := newUser(t)
	if code := other.login(base, "ops.lee", "amber-lantern-19"); code != 200 {
		t.Fatal(code)
	}
	lee.must(400, "POST", base+"api/v1/auth/password", `{"current":"wrong-wrong-wrong","new":"copper-meadow-88"}`)
	lee.must(400, "POST", base+"api/v1/auth/password", `{"current":"amber-lantern-19","new":"amber-lantern-19"}`)
	lee.must(400, "POST", base+"api/v1/auth/password", `{"current":"amber-lantern-19","new":"letmein"}`)
	lee.must(204, "POST", base+"api/v1/auth/password", `{"current":"amber-lantern-19","new":"copper-meadow-88"}`)
	if _, code := lee.me(base); code != 200 {
		t.Fatalf("the login that changed the password: %d", code)
	}
	if _, code := other.me(base); code != 401 {
		t.Fatalf("another login after the password changed: %d", code)
	}
	cfgUser := newUser(t)
	cfgUser.login(base, "planner-user", "plannerplanner")
	if code, body := cfgUser.do("POST", base+"api/v1/auth/password", `{"current":"plannerplanner","new":"copper-meadow-88"}`); code != 409 || !strings.Contains(body, "configuration file") {
		t.Fatalf("a configured user's password: %d %s", code, body)
	}
	// Deleted: the login ends.
	adm.must(204, "DELETE", users+"/OPS.LEE", "")
	if _, code := lee.me(base); code != 401 {
		t.Fatalf("a deleted user's login: %d", code)
	}
	adm.must(404, "DELETE", users+"/ops.lee", "")
	adm.must(404, "PATCH", users+"/nobody", `{"role":"field"}`)
}

// The last enabled admin can be neither demoted, disabled nor deleted.
func TestLastAdmin(t *testing.T) {
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, func(c *Config) { c.Auth.Users = nil }) // the admin token only
	adm, users := admin(t), srv.base+"api/v1/users"
	adm.must(201, "POST", users, `{"name":"chief","role":"admin","password":"granite-falcon-42"}`)
	for _, tc := range []struct{ method, body string }{{"PATCH", `{"role":"planner"}`}, {"PATCH", `{"disabled":true}`}, {"DELETE", ""}} {
		if code, body := adm.do(tc.method, users+"/chief", tc.body); code != 409 || !strings.Contains(body, "last enabled admin") {
			t.Fatalf("%s %s: %d %s", tc.method, tc.body, code, body)
		}
	}
	adm.must(201, "POST", users, `{"name":"deputy","role":"admin","password":"granite-falcon-43"}`)
	adm.must(200, "PATCH", users+"/chief", `{"role":"planner"}`)
}

// Logins are kept in the database: they survive a restart, are listed per
// user, end when revoked (also by another smarteye on the same database)
// and when unused for the idle timeout.
func TestLoginsPersistAndRevoke(t *testing.T) {
	st := migratedStore(t, nil)
	defer st.Close()
	first := serveAccounts(t, st, nil)
	desk, wall := newUser(t), newUser(t)
	for _, u := range []*user{desk, wall} {
		if code := u.login(first.base, "commander-user", "commandercommander"); code != 200 {
			t.Fatal(code)
		}
	}
	first.stop()
	second := serveAccounts(t, st, nil)
	base := second.base
	if role, code := desk.me(base); code != 200 || role != auth.RoleCommander {
		t.Fatalf("after a restart: %d %q", code, role)
	}
	var mine []store.LoginSession
	json.Unmarshal([]byte(desk.must(200, "GET", base+"api/v1/auth/sessions", "")), &mine)
	if len(mine) != 2 || mine[0].Source != auth.SourceConfig || mine[0].RemoteAddr != "127.0.0.1" {
		t.Fatalf("logins %+v", mine)
	}
	desk.must(403, "GET", base+"api/v1/auth/sessions?all=true", "")
	// Revoke the wall's login from the desk.
	_, body := wall.do("GET", base+"api/v1/auth/me", "")
	var wp auth.Principal
	json.Unmarshal([]byte(body), &wp)
	wallID := wp.Session
	if wallID == "" {
		t.Fatalf("me has no session id: %s", body)
	}
	// Another user may not end it; its owner may.
	other := newUser(t)
	other.login(base, "planner-user", "plannerplanner")
	other.must(404, "DELETE", base+"api/v1/auth/sessions/"+wallID, "")
	// A third smarteye on the same database still has the wall's login
	// cached: after the recheck interval it sees the revocation too.
	third := serveAccounts(t, st, nil)
	if _, code := wall.me(third.base); code != 200 {
		t.Fatal("the wall on the third server", code)
	}
	desk.must(204, "DELETE", base+"api/v1/auth/sessions/"+wallID, "")
	if _, code := wall.me(base); code != 401 {
		t.Fatalf("a revoked login: %d", code)
	}
	clock := time.Now().Add(auth.Recheck + time.Second)
	third.auth.SetClock(func() time.Time { return clock })
	if _, code := wall.me(third.base); code != 401 {
		t.Fatalf("a login revoked elsewhere, after the recheck: %d", code)
	}
	// Admins see and end everybody's logins.
	var all []store.LoginSession
	json.Unmarshal([]byte(admin(t).must(200, "GET", base+"api/v1/auth/sessions?all=true", "")), &all)
	if len(all) != 2 { // the desk's and the planner's
		t.Fatalf("all logins: %+v", all)
	}
	for _, l := range all {
		if l.User == "planner-user" {
			admin(t).must(204, "DELETE", base+"api/v1/auth/sessions/"+l.ID, "")
		}
	}
	if _, code := other.me(base); code != 401 {
		t.Fatalf("a login an admin ended: %d", code)
	}
	// Idle: unused past the timeout, the login ends, here and after a
	// restart.
	now := time.Now()
	second.auth.SetClock(func() time.Time { return now })
	now = now.Add(59 * time.Minute)
	if _, code := desk.me(base); code != 200 {
		t.Fatal("ended before the idle timeout", code)
	}
	second.auth.Flush(t.Context())
	now = now.Add(61 * time.Minute)
	if _, code := desk.me(base); code != 401 {
		t.Fatal("not ended after the idle timeout", code)
	}
	// Logging out ends the login in the database too.
	desk2 := newUser(t)
	desk2.login(base, "commander-user", "commandercommander")
	desk2.must(204, "POST", base+"api/v1/auth/logout", "")
	ls, err := st.LoginSessions(t.Context(), "commander-user")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.LastSeenAt.After(now.Add(-time.Minute)) {
			t.Fatalf("a login still live after logging out: %+v", l)
		}
	}
}

// API tokens made in the product work at once and after a restart, record
// when they were last used, and stop when revoked; configured ones are
// listed read-only.
func TestTokens(t *testing.T) {
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, nil)
	adm, tokens := admin(t), srv.base+"api/v1/tokens"
	adm.must(400, "POST", tokens, `{"name":"gis sync","role":"planner"}`)
	adm.must(400, "POST", tokens, `{"name":"gis-sync","role":"owner"}`)
	adm.must(400, "POST", tokens, `{"name":"gis-sync","role":"planner","expires_in_days":-1}`)
	var made struct {
		auth.TokenInfo
		Token string `json:"token"`
	}
	json.Unmarshal([]byte(adm.must(201, "POST", tokens, `{"name":"gis-sync","role":"planner","expires_in_days":30}`)), &made)
	if made.Token == "" || made.ID == "" || made.ExpiresAt == nil {
		t.Fatalf("made %+v", made)
	}
	script := newUser(t)
	script.token = made.Token
	if role, code := script.me(srv.base); code != 200 || role != auth.RolePlanner {
		t.Fatalf("the new token: %d %q", code, role)
	}
	script.must(403, "GET", tokens, "")
	srv.auth.Flush(t.Context())
	var list []auth.TokenInfo
	json.Unmarshal([]byte(adm.must(200, "GET", tokens, "")), &list)
	if len(list) != 2 || list[0].Source != auth.SourceConfig || !list[0].ReadOnly || list[1].LastUsedAt == nil {
		t.Fatalf("tokens %+v", list)
	}
	if strings.Contains(adm.must(200, "GET", tokens, ""), made.Token) {
		t.Fatal("the token is listed")
	}
	adm.must(409, "DELETE", tokens+"/config:test", "")
	srv.stop()
	again := serveAccounts(t, st, nil)
	testkit.WaitFor(t, time.Minute, "the token after a restart", func() bool { _, code := script.me(again.base); return code == 200 })
	admin(t).must(204, "DELETE", again.base+"api/v1/tokens/"+made.ID, "")
	if _, code := script.me(again.base); code != 401 {
		t.Fatalf("a revoked token: %d", code)
	}
	admin(t).must(404, "DELETE", again.base+"api/v1/tokens/"+made.ID, "")
}

// One audit log: changes through the API, users and tokens, logins and
// failed logins, with who, when, from where and what; filtered and
// exported as CSV; never a password.
func TestAuditLog(t *testing.T) {
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, nil)
	base, adm := srv.base, admin(t)
	start := time.Now().Add(-time.Second)
	cmd := newUser(t)
	if cmd.login(base, "commander-user", "wrong-password") != 401 || cmd.login(base, "commander-user", "commandercommander") != 200 {
		t.Fatal("logins")
	}
	adm.must(201, "POST", base+"api/v1/users", `{"name":"ops.kim","role":"field","team":"north","password":"silver-comet-2026"}`)
	adm.must(200, "PATCH", base+"api/v1/users/ops.kim", `{"password":"silver-comet-2027"}`)
	adm.must(201, "POST", base+"api/v1/tokens", `{"name":"bridge","role":"field"}`)
	cmd.must(204, "POST", base+"api/v1/auth/logout", "")

	var es []store.AuditEntry
	json.Unmarshal([]byte(adm.must(200, "GET", base+"api/v1/audit", "")), &es)
	actions := map[string]store.AuditEntry{}
	for _, e := range es {
		actions[e.Action] = e
	}
	for _, want := range []string{"login.failed", "login", "user.create", "user.password_reset", "token.create", "logout"} {
		e, ok := actions[want]
		if !ok {
			t.Fatalf("no %s in %+v", want, es)
		}
		if e.RemoteAddr != "127.0.0.1" || e.Time.Before(start) || e.Actor == "" {
			t.Fatalf("%s: %+v", want, e)
		}
	}
	if e := actions["login.failed"]; e.Actor != "commander-user" || !strings.Contains(string(e.Detail), "wrong password") {
		t.Fatalf("failed login %+v", e)
	}
	if e := actions["user.password_reset"]; e.Actor != "test" || e.ObjectID != "ops.kim" || !strings.Contains(string(e.Detail), `"password":"changed"`) {
		t.Fatalf("password reset %+v", e)
	}
	raw := adm.must(200, "GET", base+"api/v1/audit?limit=10000", "")
	if strings.Contains(raw, "silver-comet") || strings.Contains(raw, "commandercommander") || strings.Contains(raw, "wrong-password") {
		t.Fatal("a password is in the audit log")
	}
	json.Unmarshal([]byte(adm.must(200, "GET", base+"api/v1/audit?kind=user", "")), &es)
	if len(es) != 2 || es[0].Action != "user.password_reset" || es[1].Action != "user.create" {
		t.Fatalf("kind=user, newest first: %+v", es)
	}
	json.Unmarshal([]byte(adm.must(200, "GET", base+"api/v1/audit?user=COMMANDER-USER", "")), &es)
	if len(es) != 3 {
		t.Fatalf("user=commander-user: %+v", es)
	}
	json.Unmarshal([]byte(adm.must(200, "GET", base+"api/v1/audit?from="+time.Now().Add(time.Hour).UTC().Format(time.RFC3339), "")), &es)
	if len(es) != 0 {
		t.Fatalf("from the future: %+v", es)
	}
	adm.must(400, "GET", base+"api/v1/audit?from=yesterday", "")
	adm.must(400, "GET", base+"api/v1/audit?limit=0", "")
	newUser(t).must(401, "GET", base+"api/v1/audit", "")
	pl := newUser(t)
	pl.login(base, "planner-user", "plannerplanner")
	pl.must(403, "GET", base+"api/v1/audit", "")

	req, _ := http.NewRequest("GET", base+"api/v1/audit?kind=user", nil)
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept", "text/csv")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	rows, err := csv.NewReader(resp.Body).ReadAll()
	if err != nil || resp.Header.Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatal(err, resp.Header)
	}
	if len(rows) != 3 || strings.Join(rows[0], ",") != "id,time,user,action,kind,object,address,detail" || rows[1][3] != "user.password_reset" || rows[2][5] != "ops.kim" {
		t.Fatalf("csv %q", rows)
	}
}

// Every change route has a kind and an action in the audit log, except
// those audited by their handlers and WebRTC viewing.
func TestAuditAction(t *testing.T) {
	want := map[string][2]string{
		"POST /api/v1/geofences":               {"geofence", "geofence.create"},
		"PUT /api/v1/geofences/{id}":           {"geofence", "geofence.update"},
		"DELETE /api/v1/geofences/{id}":        {"geofence", "geofence.delete"},
		"PUT /api/v1/cameras/{id}/calibration": {"calibration", "calibration.update"},
		"POST /api/v1/rules":                   {"rule", "rule.create"},
		"PUT /api/v1/rules/{id}":               {"rule", "rule.update"},
		"DELETE /api/v1/rules/{id}":            {"rule", "rule.delete"},
		"POST /api/v1/alerts/{id}/ack":         {"alert", "alert.ack"},
		"POST /api/v1/alerts/{id}/resolve":     {"alert", "alert.resolve"},
		"POST /api/v1/alerts/{id}/dismiss":     {"alert", "alert.dismiss"},
		"POST /api/v1/exports":                 {"export", "export.create"},
	}
	self := []string{"POST /api/v1/sessions", "PATCH /api/v1/sessions/{id}", "POST /api/v1/sessions/{id}/remarks",
		"POST /api/v1/users", "PATCH /api/v1/users/{name}", "DELETE /api/v1/users/{name}", "POST /api/v1/tokens", "DELETE /api/v1/tokens/{id}",
		"POST /api/v1/auth/password", "DELETE /api/v1/auth/sessions/{id}", "POST /api/v1/cameras/{id}/whep", "DELETE /api/v1/cameras/{id}/whep/{session}",
		"POST /api/v1/vehicles/{id}/control", "POST /api/v1/vehicles/{id}/commands"}
	srv := &Server{}
	for _, rt := range srv.routes() {
		if !changes(&http.Request{Method: strings.Fields(rt.pattern)[0]}) {
			continue
		}
		kind, action, ok := auditAction(rt.pattern)
		if w, listed := want[rt.pattern]; listed {
			if !ok || kind != w[0] || action != w[1] {
				t.Errorf("%s: %q %q %v, want %v", rt.pattern, kind, action, ok, w)
			}
			delete(want, rt.pattern)
			continue
		}
		if !slices.Contains(self, rt.pattern) {
			t.Errorf("%s: a change route neither audited here nor by its handler", rt.pattern)
		} else if ok {
			t.Errorf("%s: audited twice", rt.pattern)
		}
	}
	for p := range want {
		t.Errorf("%s: no such route", p)
	}
}
