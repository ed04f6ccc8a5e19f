package dashboard

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smarteye/smarteye/dashboard/ldaptest"
	"github.com/smarteye/smarteye/telemetry/store"
)

func ldapConfig(url string) *LDAPConfig {
	return &LDAPConfig{URL: url, UserDN: "uid={user},ou=people," + ldaptest.Suffix, GroupBaseDN: "ou=groups," + ldaptest.Suffix,
		Groups: []LDAPGroup{
			{Group: "cn=command-centre,ou=groups," + ldaptest.Suffix, Role: RoleCommander},
			{Group: "field-north", Role: RoleField, Team: "north"},
		}}
}

// Directory logins against a real OpenLDAP server: bind as the user, map
// the first configured group to a role and the first with a team to the
// team; refuse wrong passwords, empty passwords, users in no mapped group
// and filter tricks.
func TestLDAPLogin(t *testing.T) {
	srv := ldaptest.Start(t)
	search := *ldapConfig(srv.URL)
	search.UserDN, search.BaseDN, search.UserFilter = "", ldaptest.Suffix, "(&(objectClass=inetOrgPerson)(uid={user}))"
	search.BindDN, search.BindPassword = "cn=admin,"+ldaptest.Suffix, "admin-directory-pass"
	for name, cfg := range map[string]*LDAPConfig{"user_dn": ldapConfig(srv.URL), "search": &search} {
		t.Run(name, func(t *testing.T) {
			d, err := newDirectory(*cfg)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			id, reason, err := d.authenticate(ctx, "kim", "kim-directory-pass")
			if err != nil || id.role != RoleCommander || id.team != "north" || id.source != SourceLDAP {
				t.Fatalf("kim: %+v %s %v", id, reason, err)
			}
			if id, _, err := d.authenticate(ctx, "lee", "lee-directory-pass"); err != nil || id.role != RoleField || id.team != "north" {
				t.Fatalf("lee: %+v %v", id, err)
			}
			for _, tc := range []struct{ name, password, reason string }{
				{"kim", "wrong", "wrong password"},
				{"kim", "", "empty password"},
				{"max", "max-directory-pass", "no directory group"},
				{"nobody", "whatever", ""},
				{"*", "kim-directory-pass", ""},
				{"kim)(uid=*", "kim-directory-pass", ""},
				{"kim,ou=people", "kim-directory-pass", ""},
			} {
				_, reason, err := d.authenticate(ctx, tc.name, tc.password)
				if !errors.Is(err, errBadLogin) || !strings.Contains(reason, tc.reason) {
					t.Errorf("%q/%q: %v (%s), want a refusal (%s)", tc.name, tc.password, err, reason, tc.reason)
				}
			}
		})
	}
	if _, err := newDirectory(LDAPConfig{URL: "http://x"}); err == nil {
		t.Fatal("an http URL accepted")
	}
	if _, err := newDirectory(LDAPConfig{URL: srv.URL, UserDN: "uid=x,dc=y", Groups: []LDAPGroup{{Group: "g", Role: RoleField}}}); err == nil {
		t.Fatal("a user_dn without {user} accepted")
	}
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
