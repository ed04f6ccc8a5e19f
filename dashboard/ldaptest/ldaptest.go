// Package ldaptest starts a real OpenLDAP server (Debian's slapd) with a
// small directory for tests: people kim (password kim-directory-pass, in
// the groups command-centre and field-north), lee (lee-directory-pass,
// field-north) and max (max-directory-pass, visitors), under Suffix.
package ldaptest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Suffix is the test directory's base DN.
const Suffix = "dc=smarteye,dc=test"

// Data: three people and three groups. kim is in command-centre and
// field-north, lee in field-north, max only in visitors (which a test
// maps to no role).
const Data = `dn: dc=smarteye,dc=test
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

// Server is a real OpenLDAP server (Debian's slapd) on a free port.
type Server struct {
	// URL is ldap://127.0.0.1:PORT.
	URL string
	cmd *exec.Cmd
}

// Start loads Data into a fresh database and serves it until the
// test ends (or Stop).
func Start(t testing.TB) *Server {
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
`, dir, Suffix)
	confFile, ldif := filepath.Join(dir, "slapd.conf"), filepath.Join(dir, "data.ldif")
	os.WriteFile(confFile, []byte(conf), 0o600)
	os.WriteFile(ldif, []byte(Data), 0o600)
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
	s := &Server{URL: "ldap://" + addr}
	// -d keeps slapd in the foreground, so that the test owns it.
	s.cmd = exec.Command(bin, "-f", confFile, "-h", s.URL+"/", "-d", "0")
	var out strings.Builder
	s.cmd.Stdout, s.cmd.Stderr = &out, &out
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
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

// Stop kills the server.
func (s *Server) Stop() {
	if s.cmd.Process != nil && s.cmd.ProcessState == nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
}
