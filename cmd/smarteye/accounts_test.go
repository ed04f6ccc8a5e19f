package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/dashboard/ldaptest"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// accountsPage runs dashboard/web/test/admin.mjs in a phase.
func accountsPage(t *testing.T, p *proc, phase, stateFile string) map[string]any {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", "test/admin.mjs", phase, p.url, testPassword, artifacts(t), stateFile)
	cmd.Dir = "../../dashboard/web"
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("accounts page, %s: %v\n%s\n%s", phase, err, stderr.String(), p.log.String())
	}
	var seen map[string]any
	if err := json.Unmarshal(out, &seen); err != nil {
		t.Fatalf("%s: %v", out, err)
	}
	return seen
}

// The accounts page in chromium against the real binary, with a real
// OpenLDAP directory: users, password rules, a user's own password and
// logins, ending logins, API tokens, directory logins by group, the
// lock-out, the audit page and its CSV, the security headers, throttling;
// and a login that survives a restart.
func TestAccountsInBrowser(t *testing.T) {
	dir := ldaptest.Start(t)
	cfg := filepath.Join(t.TempDir(), "smarteye.yml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`auth:
  ldap:
    url: %s
    user_dn: uid={user},ou=people,%s
    group_base_dn: ou=groups,%s
    groups:
      - group: cn=command-centre,ou=groups,%s
        role: commander
      - group: field-north
        role: field
        team: north
`, dir.URL, ldaptest.Suffix, ldaptest.Suffix, ldaptest.Suffix)), 0o600)
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "serve", "--config", cfg, "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	state := filepath.Join(t.TempDir(), "admin-browser.json")
	seen := accountsPage(t, p, "manage", state)
	t.Logf("accounts page: %v", seen)
	str := func(k string) string { s, _ := seen[k].(string); return s }
	num := func(k string) float64 { n, _ := seen[k].(float64); return n }
	list := func(k string) []string {
		var out []string
		for _, v := range seen[k].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	headers, _ := seen["headers"].(map[string]any)
	if csp, _ := headers["csp"].(string); !strings.Contains(csp, "script-src 'self'") || headers["nosniff"] != "nosniff" || headers["referrer"] != "no-referrer" {
		t.Errorf("headers %v", headers)
	}
	if tabs := list("adminTabs"); len(tabs) != 5 {
		t.Errorf("the admin's tabs: %v", tabs)
	}
	if tabs := list("userTabs"); len(tabs) != 1 || tabs[0] != "My account" {
		t.Errorf("a commander's tabs: %v", tabs)
	}
	if !strings.Contains(str("weakRefused"), "too common") || !strings.Contains(str("userRow"), "ops.kim") {
		t.Errorf("making a user: %q %q", str("weakRefused"), str("userRow"))
	}
	if num("otherLoginAfterPasswordChange") != 401 || num("loginsListed") != 2 || num("endedLogin") != 401 || str("keptLogin") != "commander" {
		t.Errorf("logins: %v", seen)
	}
	if str("tokenRole") != "planner" || num("revokedToken") != 401 {
		t.Errorf("token: %v then %v", seen["tokenRole"], seen["revokedToken"])
	}
	if !strings.Contains(str("directoryUser"), "directory") || str("directoryRole") != "field" || !strings.Contains(str("unmappedRefused"), "wrong user name or password") {
		t.Errorf("directory: %q %q %q", str("directoryUser"), str("directoryRole"), str("unmappedRefused"))
	}
	if !strings.Contains(str("lockedOut"), "try again in") {
		t.Errorf("lock-out: %q", str("lockedOut"))
	}
	actions := list("auditActions")
	for _, want := range []string{"login", "login.failed", "login.locked", "login.revoke", "user.create", "user.password", "token.create", "token.revoke"} {
		if !slices.Contains(actions, want) {
			t.Errorf("the audit page lacks %s: %v", want, actions)
		}
	}
	if ua := list("userAudit"); len(ua) != 2 || ua[0] != "ops.kim user.password ops.kim" || ua[1] != "admin user.create ops.kim" {
		t.Errorf("user audit %v", ua)
	}
	if str("csvHeader") != "id,time,user,action,kind,object,address,detail" || num("csvRows") < 10 {
		t.Errorf("csv: %q, %v rows", str("csvHeader"), seen["csvRows"])
	}

	if th, _ := seen["throttled"].(map[string]any); th == nil || th["limited"].(float64) < 1 || th["retryAfter"] == nil {
		t.Errorf("a burst of 400 requests was not throttled: %v", seen["throttled"])
	}

	stopWith(t, p, syscall.SIGTERM)
	p = start(t, "serve", "--config", cfg, "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	seen = accountsPage(t, p, "restart", state)
	if !strings.HasPrefix(str("afterRestart"), "admin") || num("loginsAfterRestart") < 3 {
		t.Fatalf("after a restart: %v", seen)
	}
	stopWith(t, p, syscall.SIGTERM)
}
