package auth

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/go-ldap/ldap/v3"
)

// LDAPConfig is a directory that users log in against: smarteye binds as
// the user with their password, then reads their groups and maps the first
// configured group they are in to a role and a team.
type LDAPConfig struct {
	// URL is ldap://host:389 or ldaps://host:636.
	URL string
	// StartTLS upgrades an ldap:// connection before the password is sent.
	StartTLS bool
	// CAFile is a PEM file of the certificates the directory's is checked
	// against; empty uses the system's.
	CAFile string
	// UserDN, when set, is the DN to bind as, {user} standing for the name
	// typed ("uid={user},ou=people,dc=example,dc=org"). Otherwise the user
	// is found under BaseDN with UserFilter ("(uid={user})"), bound as
	// BindDN with BindPassword (anonymously when empty).
	UserDN       string
	BaseDN       string
	UserFilter   string
	BindDN       string
	BindPassword string
	// GroupBaseDN is where groups are searched (BaseDN when empty) with
	// GroupFilter, {dn} standing for the user's DN and {user} for the name
	// (by default groupOfNames, groupOfUniqueNames and posixGroup
	// membership).
	GroupBaseDN string
	GroupFilter string
	// Groups map directory groups (by DN or cn) to roles and teams. The
	// first group in this list that the user is in gives the role; the
	// first with a team gives the team. A user in none may not log in.
	Groups []LDAPGroup
	// Timeout bounds each exchange with the directory. It defaults to 5
	// seconds.
	Timeout time.Duration
}

// LDAPGroup maps a directory group to a role and a team.
type LDAPGroup struct {
	Group string // a DN, or a cn
	Role  string
	Team  string
}

const defaultGroupFilter = "(|(member={dn})(uniqueMember={dn})(memberUid={user}))"

// directory checks logins against an LDAP server.
type directory struct {
	cfg LDAPConfig
	tls *tls.Config
}

func newDirectory(cfg LDAPConfig) (*directory, error) {
	u, err := url.Parse(cfg.URL)
	switch {
	case err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "":
		return nil, fmt.Errorf("auth.ldap.url: %q is not ldap://host:port or ldaps://host:port", cfg.URL)
	case cfg.UserDN == "" && (cfg.BaseDN == "" || cfg.UserFilter == ""):
		return nil, errors.New("auth.ldap: set user_dn, or base_dn and user_filter to find users by")
	case cfg.UserDN != "" && !strings.Contains(cfg.UserDN, "{user}"):
		return nil, errors.New("auth.ldap.user_dn: needs {user} where the name goes")
	case cfg.UserDN == "" && !strings.Contains(cfg.UserFilter, "{user}"):
		return nil, errors.New("auth.ldap.user_filter: needs {user} where the name goes")
	case len(cfg.Groups) == 0:
		return nil, errors.New("auth.ldap.groups: map at least one directory group to a role")
	}
	for _, g := range cfg.Groups {
		if g.Group == "" || !ValidRole(g.Role) {
			return nil, fmt.Errorf("auth.ldap.groups: %q needs a group and one of the roles admin, commander, planner, supervisor, field", g.Group)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.GroupFilter == "" {
		cfg.GroupFilter = defaultGroupFilter
	}
	if cfg.GroupBaseDN == "" {
		cfg.GroupBaseDN = cfg.BaseDN
	}
	d := &directory{cfg: cfg, tls: &tls.Config{ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("auth.ldap.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("auth.ldap.ca_file: %s has no PEM certificate", cfg.CAFile)
		}
		d.tls.RootCAs = pool
	}
	if d.cfg.GroupBaseDN == "" {
		return nil, errors.New("auth.ldap: set group_base_dn (or base_dn), where groups are searched")
	}
	return d, nil
}

// authenticate binds as name with password and maps the user's groups.
// errBadLogin when the directory refuses them (reason says why), and
// errUnavailable when it does not answer.
func (d *directory) authenticate(ctx context.Context, name, password string) (identity, string, error) {
	if password == "" {
		// An empty password is an anonymous bind to most directories:
		// never a login.
		return identity{}, "empty password", errBadLogin
	}
	deadline := time.Now().Add(d.cfg.Timeout)
	if dl, ok := ctx.Deadline(); ok && dl.Before(deadline) {
		deadline = dl
	}
	conn, err := ldap.DialURL(d.cfg.URL, ldap.DialWithDialer(&net.Dialer{Deadline: deadline}), ldap.DialWithTLSConfig(d.tls))
	if err != nil {
		return identity{}, err.Error(), errUnavailable
	}
	defer conn.Close()
	conn.SetTimeout(time.Until(deadline))
	if d.cfg.StartTLS {
		if err := conn.StartTLS(d.tls); err != nil {
			return identity{}, "starttls: " + err.Error(), errUnavailable
		}
	}
	dn := strings.ReplaceAll(d.cfg.UserDN, "{user}", ldap.EscapeDN(name))
	if d.cfg.UserDN == "" {
		if d.cfg.BindDN != "" {
			if err := conn.Bind(d.cfg.BindDN, d.cfg.BindPassword); err != nil {
				return identity{}, "bind as bind_dn: " + err.Error(), errUnavailable
			}
		}
		res, err := conn.Search(ldap.NewSearchRequest(d.cfg.BaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 2, int(d.cfg.Timeout.Seconds()), false,
			strings.ReplaceAll(d.cfg.UserFilter, "{user}", ldap.EscapeFilter(name)), []string{"dn"}, nil))
		switch {
		case err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded):
			return identity{}, "user search: " + err.Error(), errUnavailable
		case res == nil || len(res.Entries) == 0:
			return identity{}, "unknown user", errBadLogin
		case len(res.Entries) > 1:
			return identity{}, "more than one directory entry has this name", errBadLogin
		}
		dn = res.Entries[0].DN
	}
	if err := conn.Bind(dn, password); err != nil {
		if ldap.IsErrorWithCode(err, ldap.LDAPResultInvalidCredentials) {
			return identity{}, "wrong password (or unknown user) in the directory", errBadLogin
		}
		return identity{}, "bind: " + err.Error(), errUnavailable
	}
	filter := strings.NewReplacer("{dn}", ldap.EscapeFilter(dn), "{user}", ldap.EscapeFilter(name)).Replace(d.cfg.GroupFilter)
	res, err := conn.Search(ldap.NewSearchRequest(d.cfg.GroupBaseDN, ldap.ScopeWholeSubtree, ldap.NeverDerefAliases, 1000, int(d.cfg.Timeout.Seconds()), false,
		filter, []string{"cn"}, nil))
	if err != nil && !ldap.IsErrorWithCode(err, ldap.LDAPResultSizeLimitExceeded) {
		return identity{}, "group search: " + err.Error(), errUnavailable
	}
	id := identity{name: name, source: SourceLDAP}
	if res == nil {
		res = &ldap.SearchResult{}
	}
	for _, g := range d.cfg.Groups {
		for _, e := range res.Entries {
			if !strings.EqualFold(g.Group, e.DN) && !strings.EqualFold(g.Group, e.GetAttributeValue("cn")) {
				continue
			}
			if id.role == "" {
				id.role = g.Role
			}
			if id.team == "" {
				id.team = g.Team
			}
		}
	}
	if id.role == "" {
		return identity{}, "in no directory group that has a role", errBadLogin
	}
	return id, "", nil
}
