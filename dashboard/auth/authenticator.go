package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/smarteye/smarteye/telemetry/store"
)

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

type Authenticator struct {
	cfg    Config
	users  map[string]User
	tokens map[[32]byte]Token
	// dummy is compared against for unknown names, so that a wrong name
	// takes as long as a wrong password.
	dummy []byte
	store AccountStore // nil: configured users and tokens only
	ldap  *directory   // nil: no directory
	log   *slog.Logger

	mu       sync.Mutex
	sessions map[[32]byte]*session // by the cookie's SHA-256
	// shared counts failed logins with the other nodes (nil: alone);
	// local counts them while it does not answer, or always when alone.
	shared      Tally
	local       *memTally
	tallyWarned time.Time
	seen        map[[32]byte]time.Time
	dbTokens    map[[32]byte]store.APIToken
	tokenUsed   map[string]time.Time
	now         func() time.Time
}

// NewAuthenticator checks the configured users and tokens and the
// directory's settings, failing on any that is wrong; st keeps what is
// made in the product (nil: the configured users and tokens only, logins
// in memory).
func NewAuthenticator(cfg Config, st AccountStore, log *slog.Logger) (*Authenticator, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	if cfg.IdleTimeout <= 0 {
		cfg.IdleTimeout = time.Hour
	}
	if cfg.PasswordMinLength <= 0 {
		cfg.PasswordMinLength = defaultPasswordMinLength
	}
	a := &Authenticator{cfg: cfg, users: map[string]User{}, tokens: map[[32]byte]Token{}, store: st, log: log,
		sessions: map[[32]byte]*session{}, shared: cfg.Tally, local: newMemTally(2 * maxSessions),
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

// Principal finds who sent r: a bearer token or a session cookie.
func (a *Authenticator) Principal(r *http.Request) (*Principal, bool) {
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
	c, err := r.Cookie(CookieName)
	if err != nil {
		return nil, false
	}
	key := sha256.Sum256([]byte(c.Value))
	now := a.now()
	a.mu.Lock()
	s := a.sessions[key]
	stale := s == nil || (a.store != nil && s.unsaved == nil && now.Sub(s.checked) > Recheck)
	a.mu.Unlock()
	if stale && a.store != nil {
		// Read the login from the database: after a restart, and every
		// Recheck in case it was revoked elsewhere.
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
func (a *Authenticator) putLocked(key [32]byte, s *session, now time.Time) {
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
func (a *Authenticator) verify(ctx context.Context, name, password string) (id identity, reason string, err error) {
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

// Login checks a name and password from an address (the client's IP) and
// opens a session. reason says why it failed, for the audit log.
func (a *Authenticator) Login(ctx context.Context, name, password, addr, agent string) (cookie string, p *Principal, reason string, err error) {
	lname := strings.ToLower(name)
	now := a.now()
	// The counts are waited for storeWait at most each time (then this
	// node counts alone: tallyGet).
	tally := func(f func(context.Context)) {
		tctx, cancel := context.WithTimeout(ctx, storeWait)
		defer cancel()
		f(tctx)
	}
	tally(func(ctx context.Context) { reason, err = a.lockedOut(ctx, lname, addr, now) })
	if err != nil {
		return "", nil, reason, err
	}
	id, reason, err := a.verify(ctx, name, password)
	if errors.Is(err, errBadLogin) {
		tally(func(ctx context.Context) { a.countFailure(ctx, lname, addr, now) })
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
	tally(func(ctx context.Context) { a.tallyDelete(ctx, nameKey(lname, addr)) })
	a.mu.Lock()
	a.putLocked(ck, s, now)
	a.mu.Unlock()
	return cookie, s.principal(ck), "", nil
}

func (a *Authenticator) sweepLocked(now time.Time) {
	for k, s := range a.sessions {
		if !now.Before(s.expires) || now.Sub(s.seen) > a.cfg.IdleTimeout {
			delete(a.sessions, k)
		}
	}
}

// DropCached drops cached logins: one by its id, or all of a user's
// (user not ""). keepUnsaved keeps those the database does not know yet
// (made while it was down): the others are read again from the database.
// It reports how many were dropped.
func (a *Authenticator) DropCached(id, user string, keepUnsaved bool) int {
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

// CacheToken puts a token made in the product in the cache at once, or
// takes a revoked one out of it.
func (a *Authenticator) CacheToken(t store.APIToken) {
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
func (a *Authenticator) loadTokens(ctx context.Context) error {
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

// Flush writes back last-seen and last-used times, stores the logins made
// while the database was down, forgets expired ones and reads the tokens
// again. It reports whether the database answered.
func (a *Authenticator) Flush(ctx context.Context) bool {
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

// Run flushes at once, every second until the database first answers
// (the tokens made in the product work as soon as it does), then every
// Recheck until ctx ends, and once more then.
func (a *Authenticator) Run(ctx context.Context) {
	wait := time.Duration(0)
	answered := false
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
			a.Flush(fctx)
			cancel()
			return
		case <-time.After(wait):
		}
		fctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		if a.Flush(fctx) {
			answered = true
		}
		cancel()
		wait = Recheck
		if !answered {
			wait = time.Second
		}
	}
}

// ConfigUser is the user of that name in the configuration file.
func (a *Authenticator) ConfigUser(name string) (User, bool) {
	u, ok := a.users[strings.ToLower(name)]
	return u, ok
}

// Settings is the configuration with its defaults.
func (a *Authenticator) Settings() Config { return a.cfg }

// SetClock replaces the clock (time.Now) that logins expire and are
// locked out by: tests move time on.
func (a *Authenticator) SetClock(now func() time.Time) { a.now = now }
