package dashboard

import (
	"strings"
	"testing"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/ldaptest"
	"github.com/smarteye/smarteye/telemetry/store"
)

func ldapConfig(url string) *auth.LDAPConfig {
	return &auth.LDAPConfig{URL: url, UserDN: "uid={user},ou=people," + ldaptest.Suffix, GroupBaseDN: "ou=groups," + ldaptest.Suffix,
		Groups: []auth.LDAPGroup{
			{Group: "cn=command-centre,ou=groups," + ldaptest.Suffix, Role: auth.RoleCommander},
			{Group: "field-north", Role: auth.RoleField, Team: "north"},
		}}
}

// Through the API: a directory user logs in with the role of their group;
// when the directory goes away its users get 503 and a clear message,
// while configured users and live logins keep working.
func TestLDAPThroughTheServer(t *testing.T) {
	dir := ldaptest.Start(t)
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, func(c *Config) { c.Auth.LDAP = ldapConfig(dir.URL) })
	base := srv.base
	kim := newUser(t)
	if code := kim.login(base, "kim", "kim-directory-pass"); code != 200 {
		t.Fatalf("kim: %d", code)
	}
	_, body := kim.do("GET", base+"api/v1/auth/me", "")
	if !strings.Contains(body, `"source":"ldap"`) || !strings.Contains(body, `"role":"commander"`) {
		t.Fatalf("kim is %s", body)
	}
	if code := newUser(t).login(base, "max", "max-directory-pass"); code != 401 {
		t.Fatalf("max (no role): %d", code)
	}
	dir.Stop()
	if code, body := newUser(t).do("POST", base+"api/v1/auth/login", `{"username":"lee","password":"lee-directory-pass"}`); code != 503 || !strings.Contains(body, "directory did not answer") {
		t.Fatalf("with the directory down: %d %s", code, body)
	}
	if code := newUser(t).login(base, "field-user", "fieldfield"); code != 200 {
		t.Fatalf("a configured user with the directory down: %d", code)
	}
	if _, code := kim.me(base); code != 200 {
		t.Fatalf("kim's login with the directory down: %d", code)
	}
	es, err := st.AuditEntries(t.Context(), store.AuditQuery{Actor: "kim"})
	if err != nil || len(es) != 1 || es[0].Action != "login" || !strings.Contains(strings.ReplaceAll(string(es[0].Detail), " ", ""), `"source":"ldap"`) {
		t.Fatalf("kim's audit: %+v %v", es, err)
	}
}
