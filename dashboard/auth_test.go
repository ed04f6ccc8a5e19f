package dashboard

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"strings"
	"testing"

	"github.com/smarteye/smarteye/dashboard/auth"
)

// login logs in as user and returns a client carrying the session cookie.
func login(t *testing.T, base, user, password string) (*http.Client, int) {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	resp, err := c.Post(base+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"`+user+`","password":"`+password+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return c, resp.StatusCode
}

func do(t *testing.T, c *http.Client, method, url, token string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url, strings.NewReader("{}"))
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// Every API route refuses a request without a login (401) and a role
// without the route's permission (403), and lets a role with it through.
func TestEveryRouteNeedsALogin(t *testing.T) {
	base, _ := serve(t)
	clients := map[string]*http.Client{}
	for _, role := range auth.Roles() {
		c, code := login(t, base, role+"-user", role+role)
		if code != 200 {
			t.Fatalf("login as %s: %d", role, code)
		}
		clients[role] = c
	}
	s := &Server{}
	routes := s.routes()
	if len(routes) < 25 {
		t.Fatalf("only %d routes", len(routes))
	}
	fill := strings.NewReplacer("{id}", "x", "{z}", "1", "{x}", "1", "{y}", "1", "{session}", "s")
	for _, rt := range routes {
		method, path, _ := strings.Cut(rt.pattern, " ")
		url := base + strings.TrimPrefix(fill.Replace(path), "/")
		if code := do(t, http.DefaultClient, method, url, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a login: %d, want 401", rt.pattern, code)
		}
		if code := do(t, http.DefaultClient, method, url, "not-a-token"); code != http.StatusUnauthorized {
			t.Errorf("%s with a wrong token: %d, want 401", rt.pattern, code)
		}
		for _, role := range auth.Roles() {
			perms := auth.Permissions(role)
			code := do(t, clients[role], method, url, "")
			has := false
			for _, p := range perms {
				has = has || p == rt.perm
			}
			if !has && code != http.StatusForbidden {
				t.Errorf("%s as %s (lacks %s): %d, want 403", rt.pattern, role, rt.perm, code)
			}
			if has && (code == http.StatusForbidden || code == http.StatusUnauthorized) {
				t.Errorf("%s as %s: %d", rt.pattern, role, code)
			}
		}
	}
	// The field role lacks something: the 403 branch was exercised.
	if len(auth.Permissions(auth.RoleField)) >= len(auth.Permissions(auth.RoleAdmin)) {
		t.Fatal("every role may do everything")
	}
}

func TestLoginLogout(t *testing.T) {
	base, _ := serve(t)
	if _, code := login(t, base, "planner-user", "wrong password"); code != http.StatusUnauthorized {
		t.Fatalf("wrong password: %d", code)
	}
	if _, code := login(t, base, "nobody", "plannerplanner"); code != http.StatusUnauthorized {
		t.Fatalf("unknown user: %d", code)
	}
	c, code := login(t, base, "Planner-User", "plannerplanner") // names are not case-sensitive
	if code != 200 {
		t.Fatalf("login: %d", code)
	}
	// The cookie is HttpOnly and SameSite=Strict.
	resp, err := http.Post(base+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"planner-user","password":"plannerplanner"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	ck := resp.Header.Get("Set-Cookie")
	if !strings.Contains(ck, "HttpOnly") || !strings.Contains(ck, "SameSite=Strict") || !strings.Contains(ck, auth.CookieName+"=") {
		t.Fatalf("cookie %q", ck)
	}
	r, err := c.Get(base + "api/v1/auth/me")
	if err != nil {
		t.Fatal(err)
	}
	var me auth.Principal
	json.NewDecoder(r.Body).Decode(&me)
	r.Body.Close()
	if r.StatusCode != 200 || me.Name != "planner-user" || me.Role != auth.RolePlanner || me.Can(auth.PermGeofences) || !me.Can(auth.PermHistory) {
		t.Fatalf("me: %d %+v", r.StatusCode, me)
	}
	if code := do(t, c, "POST", base+"api/v1/auth/logout", ""); code != http.StatusNoContent {
		t.Fatalf("logout: %d", code)
	}
	if code := do(t, c, "GET", base+"api/v1/vehicles", ""); code != http.StatusUnauthorized {
		t.Fatalf("after logout: %d", code)
	}
}

func TestLoginThrottledAndHostile(t *testing.T) {
	base, _ := serve(t)
	for i := 0; i < auth.MaxFailures; i++ {
		login(t, base, "field-user", "guess")
	}
	// Locked: even the right password is refused for a while.
	resp, err := http.Post(base+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"field-user","password":"fieldfield"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("after %d failures: %d", auth.MaxFailures, resp.StatusCode)
	}
	// Other names are not locked.
	if _, code := login(t, base, "admin-user", "adminadmin"); code != 200 {
		t.Fatalf("another user: %d", code)
	}
	for _, tc := range []struct {
		name, ctype, origin, body string
		want                      int
	}{
		{"not JSON", "text/plain", "", `{"username":"a","password":"b"}`, http.StatusUnsupportedMediaType},
		{"unknown field", "application/json", "", `{"username":"a","password":"b","role":"admin"}`, http.StatusBadRequest},
		{"garbage", "application/json", "", `{"username":`, http.StatusBadRequest},
		{"huge", "application/json", "", `{"username":"` + strings.Repeat("a", 1<<20) + `"}`, http.StatusBadRequest},
		{"another origin", "application/json", "http://evil.example", `{"username":"admin-user","password":"adminadmin"}`, http.StatusForbidden},
		{"same host, another scheme", "application/json", strings.Replace(strings.TrimSuffix(base, "/"), "http:", "https:", 1), `{"username":"admin-user","password":"adminadmin"}`, http.StatusForbidden},
	} {
		req, _ := http.NewRequest("POST", base+"api/v1/auth/login", strings.NewReader(tc.body))
		req.Header.Set("Content-Type", tc.ctype)
		if tc.origin != "" {
			req.Header.Set("Origin", tc.origin)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.want || !strings.Contains(string(b), "error") || resp.Header.Get("Set-Cookie") != "" {
			t.Errorf("%s: %d %s", tc.name, resp.StatusCode, b)
		}
	}
}
