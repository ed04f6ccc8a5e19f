package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store"
)

const ldapSuffix = "dc=smarteye,dc=test"

// ldapData: three people and two groups. kim commands, lee is in the
// north field team, max is in no group with a role.
const ldapData = `dn: dc=smarteye,dc=test
objectClass: dcObject
objectClass: organization
o: smarteye test
dc: smarteye

dn: ou=people,dc=smarteye,dc=test
objectClass: organizationalUnit
ou: people

dn: ou=groups,dc=smarteye,dc=test
objectClass: organizationalUnit
ou: groups

dn: uid=kim,ou=people,dc=smarteye,dc=test
objectClass: inetOrgPerson
uid: kim
cn: Kim Chen
sn: Chen
userPassword: kim-directory-pass

dn: uid=lee,ou=people,dc=smarteye,dc=test
objectClass: inetOrgPerson
uid: lee
cn: Lee Wong
sn: Wong
userPassword: lee-directory-pass

dn: uid=max,ou=people,dc=smarteye,dc=test
objectClass: inetOrgPerson
uid: max
cn: Max Ho
sn: Ho
userPassword: max-directory-pass

dn: cn=command-centre,ou=groups,dc=smarteye,dc=test
objectClass: groupOfNames
cn: command-centre
member: uid=kim,ou=people,dc=smarteye,dc=test

dn: cn=field-north,ou=groups,dc=smarteye,dc=test
objectClass: groupOfNames
cn: field-north
member: uid=lee,ou=people,dc=smarteye,dc=test
member: uid=kim,ou=people,dc=smarteye,dc=test

dn: cn=visitors,ou=groups,dc=smarteye,dc=test
objectClass: groupOfNames
cn: visitors
member: uid=max,ou=people,dc=smarteye,dc=test
`

// slapd is a real OpenLDAP server (Debian's slapd) on a free port.
type slapd struct {
	url string
	cmd *exec.Cmd
}

// startSlapd loads ldapData into a fresh database and serves it until the
// test ends (or stop).
func startSlapd(t *testing.T) *slapd {
	t.Helper()
	bin, err := exec.LookPath("slapd")
	if err != nil {
		if _, err2 := os.Stat("/usr/sbin/slapd"); err2 != nil {
			t.Fatal("slapd is missing: make test installs it (deploy/install-deps.sh)")
		}
		bin = "/usr/sbin/slapd"
	}
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "db"), 0o700); err != nil {
		t.Fatal(err)
	}
	conf := fmt.Sprintf(`include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
include /etc/ldap/schema/nis.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile %[1]s/slapd.pid
argsfile %[1]s/slapd.args
database mdb
maxsize 16777216
suffix "%[2]s"
rootdn "cn=admin,%[2]s"
rootpw admin-directory-pass
directory %[1]s/db
access to attrs=userPassword by anonymous auth by self read by * none
access to * by * read
`, dir, ldapSuffix)
	confFile, ldif := filepath.Join(dir, "slapd.conf"), filepath.Join(dir, "data.ldif")
	os.WriteFile(confFile, []byte(conf), 0o600)
	os.WriteFile(ldif, []byte(ldapData), 0o600)
	slapadd := filepath.Join(filepath.Dir(bin), "slapadd")
	if out, err := exec.Command(slapadd, "-f", confFile, "-l", ldif).CombinedOutput(); err != nil {
		t.Fatalf("slapadd: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	s := &slapd{url: "ldap://" + addr}
	// -d keeps slapd in the foreground, so that the test owns it.
	s.cmd = exec.Command(bin, "-f", confFile, "-h", s.url+"/", "-d", "0")
	var out strings.Builder
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.stop)
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
			return s
		}
		if time.Now().After(deadline) || s.cmd.ProcessState != nil {
			t.Fatalf("slapd did not start: %v\n%s", err, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (s *slapd) stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}

func ldapConfig(url string) *LDAPConfig {
	return &LDAPConfig{URL: url, UserDN: "uid={user},ou=people," + ldapSuffix, GroupBaseDN: "ou=groups," + ldapSuffix,
		Groups: []LDAPGroup{
			{Group: "cn=command-centre,ou=groups," + ldapSuffix, Role: RoleCommander},
			{Group: "field-north", Role: RoleField, Team: "north"},
		}}
}

// Directory logins against a real OpenLDAP server: bind as the user, map
// the first configured group to a role and the first with a team to the
// team; refuse wrong passwords, empty passwords, users in no mapped group
// and filter tricks.
func TestLDAPLogin(t *testing.T) {
	srv := startSlapd(t)
	search := *ldapConfig(srv.url)
	search.UserDN, search.BaseDN, search.UserFilter = "", ldapSuffix, "(&(objectClass=inetOrgPerson)(uid={user}))"
	search.BindDN, search.BindPassword = "cn=admin,"+ldapSuffix, "admin-directory-pass"
	for name, cfg := range map[string]*LDAPConfig{"user_dn": ldapConfig(srv.url), "search": &search} {
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
	if _, err := newDirectory(LDAPConfig{URL: srv.url, UserDN: "uid=x,dc=y", Groups: []LDAPGroup{{Group: "g", Role: RoleField}}}); err == nil {
		t.Fatal("a user_dn without {user} accepted")
	}
}

// Through the API: a directory user logs in with the role of their group;
// when the directory goes away its users get 503 and a clear message,
// while configured users and live logins keep working.
func TestLDAPThroughTheServer(t *testing.T) {
	dir := startSlapd(t)
	st := migratedStore(t, nil)
	defer st.Close()
	srv := serveAccounts(t, st, func(c *Config) { c.Auth.LDAP = ldapConfig(dir.url) })
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
	dir.stop()
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
