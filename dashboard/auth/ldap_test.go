package auth

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/smarteye/smarteye/dashboard/ldaptest"
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
