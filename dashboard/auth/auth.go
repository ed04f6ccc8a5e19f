// Package auth is who may use smarteye and what they may do: the roles
// and their permissions, the users and API tokens of the configuration
// file and of the product, logins (session cookies kept in the database),
// the lock-out of guessed passwords, directory (LDAP) logins, the password
// rules, the audit log's writer, and the API of logging in and of the
// accounts page. It never decides which route needs what: the dashboard's
// routing does, through Who and Principal.Can.
package auth

import (
	"context"
	"maps"
	"slices"
	"time"

	"github.com/smarteye/smarteye/telemetry/store"
)

// Roles. What each may do is rolePermissions.
const (
	RoleAdmin      = "admin"
	RoleCommander  = "commander"
	RolePlanner    = "planner"
	RoleField      = "field"
	RoleSupervisor = "supervisor"
)

// Permission is one kind of thing a role may do.
type Permission string

// Permissions. Every API route needs one (see the dashboard's routes).
const (
	// PermView: status, vehicles, cameras, sites, geofences, map layers and
	// the live feed.
	PermView Permission = "view"
	// PermVideo: live video (WebRTC and MSE).
	PermVideo Permission = "video"
	// PermHistory: stored events, detections and tracks.
	PermHistory Permission = "history"
	// PermGeofences: create, change and delete geofences.
	PermGeofences Permission = "geofences"
	// PermCalibrate: calibrate cameras.
	PermCalibrate Permission = "calibrate"
	// PermRespond: acknowledge, resolve and dismiss alerts.
	PermRespond Permission = "respond"
	// PermRules: create, change and delete alert rules.
	PermRules Permission = "rules"
	// PermPlayback: recorded video (playback, clips) and exports.
	PermPlayback Permission = "playback"
	// PermSessions: schedule, start, end and change supervision sessions
	// and leave remarks; others see the sessions they are invited to.
	PermSessions Permission = "sessions"
	// PermAccounts: manage users, API tokens and everybody's logins, and
	// read the audit log.
	PermAccounts Permission = "accounts"
	// PermCommand: take control of a vehicle and command it (arm, take
	// off, go to, patrol, return, land…).
	PermCommand Permission = "command"
)

var rolePermissions = map[string][]Permission{
	RoleAdmin:      {PermView, PermVideo, PermHistory, PermGeofences, PermCalibrate, PermRespond, PermRules, PermPlayback, PermSessions, PermAccounts, PermCommand},
	RoleCommander:  {PermView, PermVideo, PermHistory, PermGeofences, PermRespond, PermRules, PermPlayback, PermCommand},
	RolePlanner:    {PermView, PermVideo, PermHistory, PermPlayback},
	RoleSupervisor: {PermView, PermVideo, PermHistory, PermRespond, PermPlayback, PermSessions},
	RoleField:      {PermView, PermRespond},
}

// ValidRole reports whether role is one of the five.
func ValidRole(role string) bool { _, ok := rolePermissions[role]; return ok }

// Roles are the five roles, sorted.
func Roles() []string { return slices.Sorted(maps.Keys(rolePermissions)) }

// Permissions are what role may do (none for an unknown role).
func Permissions(role string) []Permission { return slices.Clone(rolePermissions[role]) }

// User is an account from the configuration file. PasswordHash is a bcrypt hash (smarteye
// hash-password makes one).
type User struct {
	Name         string
	Role         string
	PasswordHash string
	// Team is the field team the user belongs to ("" none): the field
	// page shows a team its own alerts.
	Team string
}

// Token is an API token for scripts and other systems, sent as
// "Authorization: Bearer TOKEN". Only its SHA-256 is kept (smarteye
// new-token makes a token and its hash).
type Token struct {
	Name   string
	Role   string
	SHA256 string // hex
	Team   string
}

// Config configures logins.
type Config struct {
	// Users and Tokens from the configuration file: they always work (also
	// when the database is down) and the product shows them read-only.
	// Users and tokens made in the product live in the database.
	Users  []User
	Tokens []Token
	// SessionTTL is how long a login lasts at most. It defaults to 12
	// hours.
	SessionTTL time.Duration
	// IdleTimeout ends a login unused for this long. It defaults to 1
	// hour; a page left open (the video wall, the map) keeps its login in
	// use.
	IdleTimeout time.Duration
	// PasswordMinLength is the shortest password the product accepts. It
	// defaults to 10.
	PasswordMinLength int
	// SecureCookie marks the session cookie Secure (set it when smarteye is
	// reached over HTTPS through a proxy; a TLS request always is).
	SecureCookie bool
	// LDAP, when set, checks the names that are neither configured nor
	// made in the product against a directory.
	LDAP *LDAPConfig
	// Tally keeps the failed-login counts; nil keeps them in this
	// process's memory (a cluster shares one between its nodes).
	Tally Tally `json:"-"`
}

// AccountStore keeps the accounts, tokens and logins made in the
// product, and the audit log (store.Store is one).
type AccountStore interface {
	Account(ctx context.Context, name string) (store.Account, error)
	Accounts(ctx context.Context) ([]store.Account, error)
	CreateAccount(ctx context.Context, a store.Account, e store.AuditEntry) (store.Account, error)
	UpdateAccount(ctx context.Context, name string, keepSession []byte, e store.AuditEntry, fn func(store.Account) (store.Account, error)) (store.Account, error)
	DeleteAccount(ctx context.Context, name string, e store.AuditEntry) error
	CreateAPIToken(ctx context.Context, t store.APIToken, e store.AuditEntry) (store.APIToken, error)
	APITokens(ctx context.Context) ([]store.APIToken, error)
	RevokeAPIToken(ctx context.Context, id string, e store.AuditEntry) (store.APIToken, error)
	TouchAPITokens(ctx context.Context, used map[string]time.Time) error
	SaveLoginSession(ctx context.Context, l store.LoginSession) error
	LoginSession(ctx context.Context, sha []byte) (store.LoginSession, error)
	LoginSessions(ctx context.Context, user string) ([]store.LoginSession, error)
	RevokeLoginSession(ctx context.Context, id, user string, e store.AuditEntry) (store.LoginSession, error)
	TouchLoginSessions(ctx context.Context, seen map[[32]byte]time.Time) error
	Audit(ctx context.Context, e store.AuditEntry) error
	AuditEntries(ctx context.Context, q store.AuditQuery) ([]store.AuditEntry, error)
}

// Login throttling: after MaxFailures wrong passwords for one name from
// one address within failureWindow, that name is refused from that address
// for lockout (so nobody can lock admin out from elsewhere). An address
// that has failed maxAddrFailures times within failureWindow, whatever the
// names, waits before each further try: 2 s, doubling per failure, up to
// maxAddrDelay.
const (
	MaxFailures     = 5
	maxAddrFailures = 20
	maxAddrDelay    = 5 * time.Minute
	failureWindow   = 15 * time.Minute
	lockout         = time.Minute
	maxSessions     = 10000
	// CookieName is the session cookie's.
	CookieName = "smarteye_session"
	// Recheck is how often a cached login is read again from the database
	// (revoked by another smarteye), and how often last-seen and
	// last-used times are written back.
	Recheck = 15 * time.Second
	// storeWait bounds a login's or a request's wait for the database.
	storeWait = 3 * time.Second
)

// Sources of a principal.
const (
	SourceConfig = "config" // the configuration file
	SourceLocal  = "local"  // made in the product
	SourceLDAP   = "ldap"   // the directory
)

// Principal is who made a request.
type Principal struct {
	Name        string       `json:"user"`
	Role        string       `json:"role"`
	Team        string       `json:"team,omitempty"`
	Via         string       `json:"via"`    // session or token
	Source      string       `json:"source"` // config, local, ldap
	Permissions []Permission `json:"permissions"`
	Expires     *time.Time   `json:"expires,omitempty"`
	// Session is the login's id (to list and revoke it by).
	Session string `json:"session_id,omitempty"`

	key [32]byte // the cookie's SHA-256
}

// Can reports whether the principal has p.
func (p *Principal) Can(perm Permission) bool { return slices.Contains(p.Permissions, perm) }

type principalKey struct{}

// Who is the principal of an authenticated request.
func Who(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// WithPrincipal is ctx carrying p, for Who: the dashboard's routing puts
// the principal it authenticated there.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}
