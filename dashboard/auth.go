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
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
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
)

var rolePermissions = map[string][]Permission{
	RoleAdmin:      {PermView, PermVideo, PermHistory, PermGeofences, PermCalibrate, PermRespond, PermRules, PermPlayback, PermSessions},
	RoleCommander:  {PermView, PermVideo, PermHistory, PermGeofences, PermRespond, PermRules, PermPlayback},
	RolePlanner:    {PermView, PermVideo, PermHistory, PermPlayback},
	RoleSupervisor: {PermView, PermVideo, PermHistory, PermRespond, PermPlayback, PermSessions},
	RoleField:      {PermView, PermRespond},
}

// ValidRole reports whether role is one of the five.
func ValidRole(role string) bool { _, ok := rolePermissions[role]; return ok }

// User is a local account. PasswordHash is a bcrypt hash (smarteye
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
	Users  []User
	Tokens []Token
	// SessionTTL is how long a login lasts. It defaults to 12 hours.
	SessionTTL time.Duration
	// SecureCookie marks the session cookie Secure (set it when smarteye is
	// reached over HTTPS through a proxy; a TLS request always is).
	SecureCookie bool
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
)

// Principal is who made a request.
type Principal struct {
	Name        string       `json:"user"`
	Role        string       `json:"role"`
	Team        string       `json:"team,omitempty"`
	Via         string       `json:"via"` // session or token
	Permissions []Permission `json:"permissions"`
	Expires     *time.Time   `json:"expires,omitempty"`
}

// Can reports whether the principal has p.
func (p *Principal) Can(perm Permission) bool { return slices.Contains(p.Permissions, perm) }

type session struct {
	user, role, team string
	expires          time.Time
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

	mu         sync.Mutex
	sessions   map[[32]byte]*session // by the cookie's SHA-256
	failed     map[string]*failures  // by lower-case name and address
	failedAddr map[string]*failures  // by address
	now        func() time.Time
}

func newAuthenticator(cfg AuthConfig) (*authenticator, error) {
	if cfg.SessionTTL <= 0 {
		cfg.SessionTTL = 12 * time.Hour
	}
	a := &authenticator{cfg: cfg, users: map[string]User{}, tokens: map[[32]byte]Token{},
		sessions: map[[32]byte]*session{}, failed: map[string]*failures{}, failedAddr: map[string]*failures{}, now: time.Now}
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
	dummy, err := bcrypt.GenerateFromPassword([]byte("not a password"), bcrypt.DefaultCost)
	if err != nil {
		return nil, err
	}
	a.dummy = dummy
	return a, errors.Join(errs...)
}

// HashPassword makes a bcrypt hash for a user's password_hash.
func HashPassword(password string) (string, error) {
	if len(password) < 8 {
		return "", errors.New("a password has at least 8 characters")
	}
	h, err := bcrypt.GenerateFromPassword([]byte(password), bcrypt.DefaultCost)
	return string(h), err
}

// NewToken makes an API token and the SHA-256 to configure for it.
func NewToken() (token, sha string) {
	token = randomString(32)
	h := sha256.Sum256([]byte(token))
	return token, hex.EncodeToString(h[:])
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
		t, ok := a.tokens[sha256.Sum256([]byte(strings.TrimSpace(tok)))]
		if !ok {
			return nil, false
		}
		return &Principal{Name: t.Name, Role: t.Role, Team: t.Team, Via: "token", Permissions: rolePermissions[t.Role]}, true
	}
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil, false
	}
	key := sha256.Sum256([]byte(c.Value))
	a.mu.Lock()
	defer a.mu.Unlock()
	s, ok := a.sessions[key]
	if !ok {
		return nil, false
	}
	if !a.now().Before(s.expires) {
		delete(a.sessions, key)
		return nil, false
	}
	exp := s.expires
	return &Principal{Name: s.user, Role: s.role, Team: s.team, Via: "session", Permissions: rolePermissions[s.role], Expires: &exp}, true
}

// errLocked is a name (from one address), or an address, locked out after
// too many wrong passwords.
type errLocked struct {
	wait  time.Duration
	scope string // "this name from this address", "this address"
}

func (e errLocked) Error() string { return "too many failed logins for " + e.scope }

var errBadLogin = errors.New("wrong user name or password")

// login checks a name and password from an address (the client's IP) and
// opens a session.
func (a *authenticator) login(name, password, addr string) (cookie string, p *Principal, err error) {
	lname := strings.ToLower(name)
	key := lname + "\x00" + addr
	now := a.now()
	a.mu.Lock()
	if f := a.failedAddr[addr]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return "", nil, errLocked{f.until.Sub(now), "this address"}
	}
	if f := a.failed[key]; f != nil && now.Before(f.until) {
		a.mu.Unlock()
		return "", nil, errLocked{f.until.Sub(now), "this name from this address"}
	}
	a.mu.Unlock()
	u, known := a.users[lname]
	hash := a.dummy
	if known {
		hash = []byte(u.PasswordHash)
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || !known {
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
		return "", nil, errBadLogin
	}
	cookie = randomString(32)
	exp := now.Add(a.cfg.SessionTTL)
	a.mu.Lock()
	delete(a.failed, key)
	if len(a.sessions) >= maxSessions {
		a.sweepLocked(now)
	}
	if len(a.sessions) >= maxSessions {
		// Still full of live sessions: drop the one closest to expiry.
		var oldest [32]byte
		var at time.Time
		for k, s := range a.sessions {
			if at.IsZero() || s.expires.Before(at) {
				oldest, at = k, s.expires
			}
		}
		delete(a.sessions, oldest)
	}
	a.sessions[sha256.Sum256([]byte(cookie))] = &session{user: u.Name, role: u.Role, team: u.Team, expires: exp}
	a.mu.Unlock()
	return cookie, &Principal{Name: u.Name, Role: u.Role, Team: u.Team, Via: "session", Permissions: rolePermissions[u.Role], Expires: &exp}, nil
}

func (a *authenticator) sweepLocked(now time.Time) {
	for k, s := range a.sessions {
		if !now.Before(s.expires) {
			delete(a.sessions, k)
		}
	}
}

func (a *authenticator) logout(r *http.Request) {
	if c, err := r.Cookie(cookieName); err == nil {
		a.mu.Lock()
		delete(a.sessions, sha256.Sum256([]byte(c.Value)))
		a.mu.Unlock()
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
		h(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
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
	if err := dec.Decode(&req); err != nil || req.Username == "" || len(req.Username) > 128 || len(req.Password) > 256 {
		writeError(w, http.StatusBadRequest, `send {"username": "…", "password": "…"}`)
		return
	}
	cookie, p, err := s.auth.login(req.Username, req.Password, clientIP(r))
	var locked errLocked
	switch {
	case errors.As(err, &locked):
		s.logins.WithLabelValues("locked").Inc()
		secs := int(locked.wait.Seconds()) + 1
		w.Header().Set("Retry-After", strconv.Itoa(secs))
		writeError(w, http.StatusTooManyRequests, fmt.Sprintf("%s; try again in %d s", locked.Error(), secs))
		return
	case err != nil:
		s.logins.WithLabelValues("failed").Inc()
		s.log.Warn("failed login", "user", req.Username, "remote", r.RemoteAddr)
		writeError(w, http.StatusUnauthorized, err.Error())
		return
	}
	s.logins.WithLabelValues("ok").Inc()
	s.log.Info("login", "user", p.Name, "role", p.Role, "remote", r.RemoteAddr)
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
	s.auth.logout(r)
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
