package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"golang.org/x/crypto/bcrypt"

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

// Permissions. Every API route needs one (see routes in server.go).
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
)

var rolePermissions = map[string][]Permission{
	RoleAdmin:      {PermView, PermVideo, PermHistory, PermGeofences, PermCalibrate, PermRespond, PermRules, PermPlayback, PermSessions, PermAccounts},
	RoleCommander:  {PermView, PermVideo, PermHistory, PermGeofences, PermRespond, PermRules, PermPlayback},
	RolePlanner:    {PermView, PermVideo, PermHistory, PermPlayback},
	RoleSupervisor: {PermView, PermVideo, PermHistory, PermRespond, PermPlayback, PermSessions},
	RoleField:      {PermView, PermRespond},
}

// ValidRole reports whether role is one of the five.
func ValidRole(role string) bool { _, ok := rolePermissions[role]; return ok }

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

// AuthConfig configures logins.
type AuthConfig struct {
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

// Login throttling: after maxFailures wrong passwords for one name from
// one address within failureWindow, that name is refused from that address
// for lockout (so nobody can lock admin out from elsewhere). An address
// that has failed maxAddrFailures times within failureWindow, whatever the
// names, waits before each further try: 2 s, doubling per failure, up to
// maxAddrDelay.
const (
	maxFailures     = 5
	maxAddrFailures = 20
	maxAddrDelay    = 5 * time.Minute
	failureWindow   = 15 * time.Minute
	lockout         = time.Minute
	maxSessions     = 10000
	cookieName      = "smarteye_session"
	// recheck is how often a cached login is read again from the database
	// (revoked by another smarteye), and how often last-seen and
	// last-used times are written back.
	recheck = 15 * time.Second
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

type session struct {
	id                     string
	user, role, team, src  string
	expires, seen, checked time.Time
	// unsaved: made while the database did not answer; saved when it does.
	unsaved *store.LoginSession
}

func (s *session) principal(key [32]byte) *Principal {
	exp := s.expires
	return &Principal{Name: s.user, Role: s.role, Team: s.team, Via: "session", Source: s.src,
		Permissions: rolePermissions[s.role], Expires: &exp, Session: s.id, key: key}
}

type failures struct {
	n     int
	first time.Time
	until time.Time
}

type authenticator struct {
	cfg    AuthConfig
	users  map[string]User
	tokens map[[32]byte]Token
	// dummy is compared against for unknown names, so that a wrong name
	// takes as long as a wrong password.
	dummy []byte
	store AccountStore // nil: configured users and tokens only
	ldap  *directory   // nil: no directory
	log   *slog.Logger

	mu         sync.Mutex
	sessions   map[[32]byte]*session // by the cookie's SHA-256
	failed     map[string]*failures  // by lower-case name and address
	failedAddr map[string]*failures  // by address
	seen       map[[32]byte]time.Time
	dbTokens   map[[32]byte]store.APIToken
	tokenUsed  map[string]time.Time
	now        func() time.Time
}

func newAuthenticator(cfg AuthConfig, st AccountStore, log *slog.Logger) (*authenticator, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Hour
	}
	if cfg.PasswordMinLength <= 0 {
		cfg.PasswordMinLength = defaultPasswordMinLength
	}
	a := &authenticator{cfg: cfg, users: map[string]User{}, tokens: map[[32]byte]Token{}, store: st, log: log,
		sessions: map[[32]byte]*session{}, failed: map[string]*failures{}, failedAddr: map[string]*failures{},
		seen: map[[32]byte]time.Time{}, dbTokens: map[[32]byte]store.APIToken{}, tokenUsed: map[string]time.Time{}, now: time.Now}
	var errs []error
	for _, u := range cfg.Users {
		switch {
		case u.Name == "":
			errs = append(errs, errors.New("a user without a name"))
		case !ValidRole(u.Role):
			errs = append(errs, fmt.Errorf("user %q: role %q is not one of admin, commander, planner, field, supervisor", u.Name, u.Role))
		case a.users[strings.ToLower(u.Name)].Name != "":
			errs = append(errs, fmt.Errorf("user %q: listed twice", u.Name))
		}
		if _, err := bcrypt.Cost([]byte(u.PasswordHash)); err != nil {
			errs = append(errs, fmt.Errorf("user %q: password_hash is not a bcrypt hash (make one with smarteye hash-password)", u.Name))
		}
		a.users[strings.ToLower(u.Name)] = u
	}
	for _, t := range cfg.Tokens {
		h, err := hex.DecodeString(t.SHA256)
		if err != nil || len(h) != 32 {
			errs = append(errs, fmt.Errorf("token %q: sha256 must be 64 hex digits (make one with smarteye new-token)", t.Name))
			continue
		}
		if !ValidRole(t.Role) {
			errs = append(errs, fmt.Errorf("token %q: role %q is not one of admin, commander, planner, field, supervisor", t.Name, t.Role))
		}
		a.tokens[[32]byte(h)] = t
	}
	if cfg.LDAP != nil {
		d, err := newDirectory(*cfg.LDAP)
		if err != nil {
			errs = append(errs, err)
		}
		a.ldap = d
	}
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	a.dummy = dummy
	return a, errors.Join(errs...)
}

// HashPassword makes a bcrypt hash for a user's password_hash, refusing a
// password shorter than 8 characters or a common one.
func HashPassword(password string) (string, error) {
	if err := checkPassword("", password, 8); err != nil {
		return "", err
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewToken makes an API token and the SHA-256 to configure for it.
func NewToken() (token, sha string) {
	token, sum := newToken()
	return token, hex.EncodeToString(sum[:])
}

// newToken makes an API token and its SHA-256, all that is kept of it.
func newToken() (token string, sum [32]byte) {
	token = randomString(32)
	return token, sha256.Sum256([]byte(token))
}

func randomString(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

// principal finds who sent r: a bearer token or a session cookie.
func (a *authenticator) principal(r *http.Request) (*Principal, bool) {
	if h := r.Header.Get("Authorization"); h != "" {
		tok, ok := strings.CutPrefix(h, "Bearer ")
		if !ok {
			return nil, false
		}
		key := sha256.Sum256([]byte(strings.TrimSpace(tok)))
		if t, ok := a.tokens[key]; ok {
			return &Principal{Name: t.Name, Role: t.Role, Team: t.Team, Via: "token", Source: SourceConfig, Permissions: rolePermissions[t.Role]}, true
		}
		now := a.now()
		a.mu.Lock()
		defer a.mu.Unlock()
		t, ok := a.dbTokens[key]
		if !ok || t.RevokedAt != nil || (t.ExpiresAt != nil && !now.Before(*t.ExpiresAt)) {
			return nil, false
		}
		a.tokenUsed[t.ID] = now
		return &Principal{Name: t.Name, Role: t.Role, Team: t.Team, Via: "token", Source: SourceLocal, Permissions: rolePermissions[t.Role], Expires: t.ExpiresAt}, true
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	key := sha256.Sum256([]byte(c.Value))
	now := a.now()
	a.mu.Lock()
	s := a.sessions[key]
	stale := s == nil || (a.store != nil && s.unsaved == nil && now.Sub(s.checked) > recheck)
	a.mu.Unlock()
	if stale && a.store != nil {
		// Read the login from the database: after a restart, and every
		// recheck in case it was revoked elsewhere.
		ctx, cancel := context.WithTimeout(r.Context(), storeWait)
		l, err := a.store.LoginSession(ctx, key[:])
		cancel()
		a.mu.Lock()
		switch {
		case err == nil && l.RevokedAt == nil:
			fresh := &session{id: l.ID, user: l.User, role: l.Role, team: l.Team, src: l.Source, expires: l.ExpiresAt, seen: l.LastSeenAt, checked: now}
			if s != nil && s.seen.After(fresh.seen) {
				fresh.seen = s.seen
			}
			s = fresh
			a.putLocked(key, s, now)
		case err == nil || errors.Is(err, store.ErrNotFound):
			delete(a.sessions, key) // revoked, or forgotten
			s = nil
		case s != nil:
			// The database did not answer: trust the cached login until
			// the next recheck rather than log everybody out.
			s.checked = now
		}
		a.mu.Unlock()
	}
	if s == nil {
		return nil, false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if !now.Before(s.expires) || now.Sub(s.seen) > a.cfg.IdleTimeout {
		delete(a.sessions, key)
		return nil, false
	}
	s.seen = now
	a.seen[key] = now
	return s.principal(key), true
}

// putLocked caches a login, making room when the cache is full.
func (a *authenticator) putLocked(key [32]byte, s *session, now time.Time) {
	if _, ok := a.sessions[key]; !ok && len(a.sessions) >= maxSessions {
		a.sweepLocked(now)
		if len(a.sessions) >= maxSessions {
			// Still full of live logins: forget the one unused longest (a
			// stored one is read again when it comes back).
			var oldest [32]byte
			var at time.Time
			for k, s := range a.sessions {
				if at.IsZero() || s.seen.Before(at) {
					oldest, at = k, s.seen
				}
			}
			delete(a.sessions, oldest)
		}
	}
	a.sessions[key] = s
}

// errLocked is a name (from one address), or an address, locked out after
// too many wrong passwords.
type errLocked struct {
	wait  time.Duration
	scope string // "this name from this address", "this address"
}

func (e errLocked) Error() string { return "too many failed logins for " + e.scope }

var (
	errBadLogin = errors.New("wrong user name or password")
	// errUnavailable: the database or the directory that knows the name
	// did not answer.
	errUnavailable = errors.New("the accounts could not be checked: the database or the directory did not answer (configured users can still log in)")
)

// identity is who a name and password turned out to be.
type identity struct {
	name, role, team, source string
}

// verify checks a password: configured users first, then the accounts
// made in the product, then the directory. reason says why a login failed
// (for the audit log, never for the client).
func (a *authenticator) verify(ctx context.Context, name, password string) (id identity, reason string, err error) {
	lname := strings.ToLower(name)
	if u, ok := a.users[lname]; ok {
		if bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(password)) != nil {
			return id, "wrong password", errBadLogin
		}
		return identity{u.Name, u.Role, u.Team, SourceConfig}, "", nil
	}
	storeDown := false
	if a.store != nil {
		sctx, cancel := context.WithTimeout(ctx, storeWait)
		acc, err := a.store.Account(sctx, name)
		cancel()
		switch {
		case err == nil:
			ok := bcrypt.CompareHashAndPassword([]byte(acc.PasswordHash), []byte(password)) == nil
			switch {
			case !ok:
				return id, "wrong password", errBadLogin
			case acc.Disabled:
				return id, "account disabled", errBadLogin
			}
			return identity{acc.Name, acc.Role, acc.Team, SourceLocal}, "", nil
		case !errors.Is(err, store.ErrNotFound):
			a.log.Warn("login: the accounts could not be read", "err", err)
			storeDown = true
		}
	}
	if a.ldap != nil {
		id, reason, err := a.ldap.authenticate(ctx, name, password)
		if errors.Is(err, errUnavailable) {
			a.log.Warn("login: the directory did not answer", "url", a.ldap.cfg.URL, "err", reason)
		}
		return id, reason, err
	}
	bcrypt.CompareHashAndPassword(a.dummy, []byte(password))
	if storeDown {
		return id, "database unavailable", errUnavailable
	}
	return id, "unknown user", errBadLogin
}

// login checks a name and password from an address (the client's IP) and
// opens a session. reason says why it failed, for the audit log.
func (a *authenticator) login(ctx context.Context, name, password, addr, agent string) (cookie string, p *Principal, reason string, err error) {
	lname := strings.ToLower(name)
	key := lname + "\x00" + addr
	now := a.now()
	a.mu.Lock()
	if f := a.failedAddr[addr]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return "", nil, "address slowed down", errLocked{f.until.Sub(now), "this address"}
	}
	if f := a.failed[key]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return "", nil, "name locked out from this address", errLocked{f.until.Sub(now), "this name from this address"}
	}
	a.mu.Unlock()
	id, reason, err := a.verify(ctx, name, password)
	if errors.Is(err, errBadLogin) {
		a.mu.Lock()
		f := a.failed[key]
		if f == nil || now.Sub(f.first) > failureWindow {
			if len(a.failed) > maxSessions {
				clear(a.failed) // a flood of made-up names must not grow this forever
			}
			f = &failures{first: now}
			a.failed[key] = f
		}
		if f.n++; f.n >= maxFailures {
			f.until, f.n, f.first = now.Add(lockout), 0, now
		}
		fa := a.failedAddr[addr]
		if fa == nil || now.Sub(fa.first) > failureWindow {
			if len(a.failedAddr) > maxSessions {
				clear(a.failedAddr)
			}
			fa = &failures{first: now}
			a.failedAddr[addr] = fa
		}
		if fa.n++; fa.n >= maxAddrFailures {
			fa.until = now.Add(min(2*time.Second<<min(fa.n-maxAddrFailures, 16), maxAddrDelay))
		}
		a.mu.Unlock()
	}
	if err != nil {
		return "", nil, reason, err
	}
	cookie = randomString(32)
	ck := sha256.Sum256([]byte(cookie))
	s := &session{id: randomString(9), user: id.name, role: id.role, team: id.team, src: id.source,
		expires: now.Add(a.cfg.SessionTTL), seen: now, checked: now}
	if a.store != nil {
		if len(agent) > 256 {
			agent = agent[:256]
		}
		l := store.LoginSession{ID: s.id, SHA256: ck[:], User: s.user, Role: s.role, Team: s.team, Source: s.src,
			RemoteAddr: addr, UserAgent: agent, CreatedAt: now, LastSeenAt: now, ExpiresAt: s.expires}
		sctx, cancel := context.WithTimeout(ctx, storeWait)
		if err := a.store.SaveLoginSession(sctx, l); err != nil {
			// The login works now and is stored once the database answers.
			a.log.Warn("login kept in memory until the database answers", "user", s.user, "err", err)
			s.unsaved = &l
		}
		cancel()
	}
	a.mu.Lock()
	delete(a.failed, key)
	a.putLocked(ck, s, now)
	a.mu.Unlock()
	return cookie, s.principal(ck), "", nil
}

func (a *authenticator) sweepLocked(now time.Time) {
	for k, s := range a.sessions {
		if !now.Before(s.expires) || now.Sub(s.seen) > a.cfg.IdleTimeout {
			delete(a.sessions, k)
		}
	}
}

// dropCached drops cached logins: one by its id, or all of a user's
// (user not ""). keepUnsaved keeps those the database does not know yet
// (made while it was down): the others are read again from the database.
// It reports how many were dropped.
func (a *authenticator) dropCached(id, user string, keepUnsaved bool) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for k, s := range a.sessions {
		if (id != "" && s.id == id) || (user != "" && strings.EqualFold(s.user, user)) {
			if keepUnsaved && s.unsaved != nil {
				continue
			}
			delete(a.sessions, k)
			n++
		}
	}
	return n
}

// cacheToken puts a token made in the product in the cache at once, or
// takes a revoked one out of it.
func (a *authenticator) cacheToken(t store.APIToken) {
	if len(t.SHA256) != 32 {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if t.RevokedAt != nil {
		delete(a.dbTokens, [32]byte(t.SHA256))
		return
	}
	a.dbTokens[[32]byte(t.SHA256)] = t
}

// loadTokens reads the tokens made in the product.
func (a *authenticator) loadTokens(ctx context.Context) error {
	if a.store == nil {
		return nil
	}
	ts, err := a.store.APITokens(ctx)
	if err != nil {
		return err
	}
	m := make(map[[32]byte]store.APIToken, len(ts))
	for _, t := range ts {
		if len(t.SHA256) == 32 && t.RevokedAt == nil {
			m[[32]byte(t.SHA256)] = t
		}
	}
	a.mu.Lock()
	a.dbTokens = m
	a.mu.Unlock()
	return nil
}

// flush writes back last-seen and last-used times, stores the logins made
// while the database was down, forgets expired ones and reads the tokens
// again. It reports whether the database answered.
func (a *authenticator) flush(ctx context.Context) bool {
	now := a.now()
	a.mu.Lock()
	seen, used := a.seen, a.tokenUsed
	a.seen, a.tokenUsed = map[[32]byte]time.Time{}, map[string]time.Time{}
	var unsaved []*session
	for _, s := range a.sessions {
		if s.unsaved != nil {
			unsaved = append(unsaved, s)
		}
	}
	a.sweepLocked(now)
	a.mu.Unlock()
	if a.store == nil {
		return true
	}
	err := a.loadTokens(ctx)
	for _, s := range unsaved {
		if err != nil {
			break
		}
		a.mu.Lock()
		l := *s.unsaved
		a.mu.Unlock()
		if err = a.store.SaveLoginSession(ctx, l); err == nil {
			a.mu.Lock()
			s.unsaved = nil
			a.mu.Unlock()
			a.log.Info("login stored", "user", l.User)
		}
	}
	if err == nil {
		err = errors.Join(a.store.TouchLoginSessions(ctx, seen), a.store.TouchAPITokens(ctx, used))
	}
	if err != nil {
		// Put the times back for the next try.
		a.mu.Lock()
		keepLatest(a.seen, seen)
		keepLatest(a.tokenUsed, used)
		a.mu.Unlock()
		return false
	}
	return true
}

// keepLatest puts src's times into dst where they are later.
func keepLatest[K comparable](dst, src map[K]time.Time) {
	for k, t := range src {
		if t.After(dst[k]) {
			dst[k] = t
		}
	}
}

// run flushes at once, every second until the database first answers
// (the tokens made in the product work as soon as it does), then every
// recheck until ctx ends, and once more then.
func (a *authenticator) run(ctx context.Context) {
	wait := time.Duration(0)
	answered := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
			a.flush(fctx)
			cancel()
			return
		case <-time.After(wait):
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if a.flush(fctx) {
			answered = true
		}
		cancel()
		wait = recheck
		if !answered {
			wait = time.Second
		}
	}
}

type principalKey struct{}

// Who is the principal of an authenticated request.
func Who(ctx context.Context) *Principal {
	p, _ := ctx.Value(principalKey{}).(*Principal)
	return p
}

// allow wraps h so that only principals with perm reach it: 401 without a
// valid session or token, 403 without the permission.
func (s *Server) allow(perm Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.throttle(w, r, s.apiLimit, "api") {
			return
		}
		p, ok := s.auth.principal(r)
		if !ok {
			s.denied.WithLabelValues("unauthenticated").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="smarteye"`)
			writeError(w, http.StatusUnauthorized, "log in first: POST /api/v1/auth/login, or send Authorization: Bearer TOKEN")
			return
		}
		if !p.Can(perm) {
			s.denied.WithLabelValues("forbidden").Inc()
			writeError(w, http.StatusForbidden, fmt.Sprintf("the %s role may not do this (it needs the %q permission)", p.Role, perm))
			return
		}
		if !checkRequest(w, r) {
			s.denied.WithLabelValues("bad_input").Inc()
			return
		}
		ctx := context.WithValue(r.Context(), principalKey{}, p)
		if !changes(r) {
			h(w, r.WithContext(ctx))
			return
		}
		s.audited(w, r.WithContext(ctx), h)
	}
}

// POST /api/v1/auth/login {"username":…,"password":…} → a session cookie.
func (s *Server) login(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) || !s.throttle(w, r, s.loginLimit, "login") {
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Username == "" || len(req.Username) > 128 || len(req.Password) > 256 || strings.ContainsFunc(req.Username, unicode.IsControl) {
		writeError(w, http.StatusBadRequest, `send {"username": "…", "password": "…"}`)
		return
	}
	cookie, p, reason, err := s.auth.login(r.Context(), req.Username, req.Password, clientIP(r), r.UserAgent())
	entry := store.AuditEntry{Actor: req.Username, ObjectType: "login", RemoteAddr: clientIP(r)}
	if err != nil {
		// Refused: counted, logged and on the audit log with the reason
		// (which the client is not told).
		result, action, code, msg := "failed", "login.failed", http.StatusUnauthorized, err.Error()
		var locked errLocked
		switch {
		case errors.As(err, &locked):
			secs := int(locked.wait.Seconds()) + 1
			w.Header().Set("Retry-After", strconv.Itoa(secs))
			result, action, code, msg = "locked", "login.locked", http.StatusTooManyRequests, fmt.Sprintf("%s; try again in %d s", locked.Error(), secs)
		case errors.Is(err, errUnavailable):
			result, code = "unavailable", http.StatusServiceUnavailable
		}
		s.logins.WithLabelValues(result).Inc()
		entry.Action, entry.Detail = action, jsonDetail(map[string]any{"reason": reason})
		s.audit(r.Context(), entry)
		s.log.Warn("login refused", "user", req.Username, "remote", r.RemoteAddr, "result", result, "reason", reason)
		writeError(w, code, msg)
		return
	}
	s.logins.WithLabelValues("ok").Inc()
	entry.Actor, entry.Action, entry.ObjectID = p.Name, "login", p.Session
	entry.Detail = jsonDetail(map[string]any{"role": p.Role, "team": p.Team, "source": p.Source})
	s.audit(r.Context(), entry)
	s.log.Info("login", "user", p.Name, "role", p.Role, "source", p.Source, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: s.auth.cfg.SecureCookie || r.TLS != nil, MaxAge: int(s.auth.cfg.SessionTTL.Seconds()),
	})
	writeJSON(w, http.StatusOK, p)
}

// POST /api/v1/auth/logout ends the session.
func (s *Server) logout(w http.ResponseWriter, r *http.Request) {
	if !ownOrigin(w, r) {
		return
	}
	if p, ok := s.auth.principal(r); ok && p.Via == "session" {
		s.auth.dropCached(p.Session, "", false)
		if s.deps.Accounts != nil {
			ctx, cancel := context.WithTimeout(r.Context(), storeWait)
			_, err := s.deps.Accounts.RevokeLoginSession(ctx, p.Session, "", store.AuditEntry{Actor: p.Name, Action: "logout", RemoteAddr: clientIP(r)})
			cancel()
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				s.log.Warn("logout: the database did not record it", "user", p.Name, "err", err)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/v1/auth/me: who is logged in, and what they may do.
func (s *Server) me(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, Who(r.Context()))
}

// clientIP is the request's remote address without the port.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
