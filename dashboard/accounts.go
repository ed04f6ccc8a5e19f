package dashboard

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/smarteye/smarteye/telemetry/store"
)

// Account limits.
const (
	maxAccountBody = 4 << 10
	maxTeamRunes   = 64
	maxTokenDays   = 3650
	// auditBodyBytes is how much of a change's request body its audit row
	// keeps (larger bodies are recorded by size).
	auditBodyBytes = 8 << 10
)

// UserInfo is a user as the accounts API shows them.
type UserInfo struct {
	Name   string `json:"name"`
	Role   string `json:"role"`
	Team   string `json:"team,omitempty"`
	Source string `json:"source"` // config, local
	// ReadOnly: configured in the file, changed only there.
	ReadOnly          bool       `json:"read_only"`
	Disabled          bool       `json:"disabled"`
	CreatedBy         string     `json:"created_by,omitempty"`
	CreatedAt         *time.Time `json:"created_at,omitempty"`
	UpdatedAt         *time.Time `json:"updated_at,omitempty"`
	PasswordChangedAt *time.Time `json:"password_changed_at,omitempty"`
	// Logins is how many live logins the user has.
	Logins int `json:"logins"`
}

// TokenInfo is an API token as the accounts API shows it.
type TokenInfo struct {
	store.APIToken
	Source   string `json:"source"` // config, local
	ReadOnly bool   `json:"read_only"`
}

// accounts answers 503 itself when there is no account store.
func (s *Server) accounts(w http.ResponseWriter) (AccountStore, bool) {
	if s.deps.Accounts == nil {
		writeError(w, http.StatusServiceUnavailable, "accounts are kept in the database, which this server does not have")
		return nil, false
	}
	return s.deps.Accounts, true
}

// entry is the audit row of a change the caller makes.
func entry(r *http.Request) store.AuditEntry {
	return store.AuditEntry{Actor: Who(r.Context()).Name, RemoteAddr: clientIP(r)}
}

func (s *Server) configUser(name string) (User, bool) {
	u, ok := s.auth.users[strings.ToLower(name)]
	return u, ok
}

// GET /api/v1/users: the configured users (read-only) and those made in
// the product.
func (s *Server) listUsers(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok {
		return
	}
	accs, err := as.Accounts(r.Context())
	if err != nil {
		s.storeFailed(w, r, "the users could not be listed", err)
		return
	}
	logins, err := as.LoginSessions(r.Context(), "")
	if err != nil {
		s.storeFailed(w, r, "the users could not be listed", err)
		return
	}
	count := map[string]int{}
	for _, l := range logins {
		count[strings.ToLower(l.User)]++
	}
	out := []UserInfo{}
	for _, u := range s.auth.cfg.Users {
		out = append(out, UserInfo{Name: u.Name, Role: u.Role, Team: u.Team, Source: SourceConfig, ReadOnly: true, Logins: count[strings.ToLower(u.Name)]})
	}
	for _, a := range accs {
		out = append(out, userInfo(a, count[strings.ToLower(a.Name)]))
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	writeJSON(w, http.StatusOK, out)
}

func userInfo(a store.Account, logins int) UserInfo {
	return UserInfo{Name: a.Name, Role: a.Role, Team: a.Team, Source: SourceLocal, Disabled: a.Disabled, CreatedBy: a.CreatedBy,
		CreatedAt: &a.CreatedAt, UpdatedAt: &a.UpdatedAt, PasswordChangedAt: &a.PasswordChangedAt, Logins: logins}
}

type userFields struct {
	Name     *string `json:"name"`
	Role     *string `json:"role"`
	Team     *string `json:"team"`
	Password *string `json:"password"`
	Disabled *bool   `json:"disabled"`
}

const userUsage = `send {"name": "…", "role": "admin|commander|planner|supervisor|field", "team": "…", "password": "…"} (to change: any of role, team, password, disabled)`

// apply checks f and applies it to a.
func (s *Server) applyUser(a store.Account, f userFields) (store.Account, error) {
	if f.Role != nil {
		if !ValidRole(*f.Role) {
			return a, badRequestf("role: %q is not one of admin, commander, planner, supervisor, field", *f.Role)
		}
		a.Role = *f.Role
	}
	if f.Team != nil {
		t, err := checkTeam(*f.Team)
		if err != nil {
			return a, err
		}
		a.Team = t
	}
	if f.Disabled != nil {
		a.Disabled = *f.Disabled
	}
	if f.Password != nil {
		if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(*f.Password)) == nil {
			return a, badRequest{errPasswordSameAsOld}
		}
		if err := checkPassword(a.Name, *f.Password, s.auth.cfg.PasswordMinLength); err != nil {
			return a, badRequest{err}
		}
		h, err := bcrypt.GenerateFromPassword([]byte(*f.Password), bcrypt.DefaultCost)
		if err != nil {
			return a, err
		}
		a.PasswordHash = string(h)
	}
	return a, nil
}

// checkTeam trims a team's name and checks its length.
func checkTeam(team string) (string, error) {
	t := strings.TrimSpace(team)
	if utf8.RuneCountInString(t) > maxTeamRunes || !utf8.ValidString(t) {
		return t, badRequestf("team: at most %d characters", maxTeamRunes)
	}
	return t, nil
}

// POST /api/v1/users makes a user.
func (s *Server) createUser(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok || !sameOrigin(w, r) {
		return
	}
	var f userFields
	if !decodeBody(w, r, maxAccountBody, &f, userUsage) {
		return
	}
	switch {
	case f.Name == nil || !userName.MatchString(*f.Name):
		writeError(w, http.StatusBadRequest, "name: 1 to 64 letters, digits and . _ @ -")
		return
	case f.Role == nil:
		writeError(w, http.StatusBadRequest, "role: one of admin, commander, planner, supervisor, field")
		return
	case f.Password == nil:
		writeError(w, http.StatusBadRequest, "password: the user's first password")
		return
	case f.Disabled != nil && *f.Disabled:
		writeError(w, http.StatusBadRequest, "disabled: a new user starts enabled")
		return
	}
	if _, cfg := s.configUser(*f.Name); cfg {
		writeError(w, http.StatusConflict, "a user named "+*f.Name+" is in the configuration file")
		return
	}
	a, err := s.applyUser(store.Account{Name: *f.Name, CreatedBy: Who(r.Context()).Name}, f)
	if err != nil {
		s.writeChangeError(w, r, "the user could not be made", err)
		return
	}
	a, err = as.CreateAccount(r.Context(), a, entry(r))
	switch {
	case errors.Is(err, store.ErrExists):
		writeError(w, http.StatusConflict, "a user named "+*f.Name+" exists already")
	case err != nil:
		s.storeFailed(w, r, "the user could not be made", err)
	default:
		s.log.Info("user made", "user", a.Name, "role", a.Role, "by", Who(r.Context()).Name)
		writeJSON(w, http.StatusCreated, userInfo(a, 0))
	}
}

// writeChangeError answers a bad change with 400 and anything else as the
// store's failure.
func (s *Server) writeChangeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var br badRequest
	var weak errWeakPassword
	switch {
	case errors.As(err, &br), errors.As(err, &weak):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such user")
	case errors.Is(err, errLastAdmin):
		writeError(w, http.StatusConflict, err.Error())
	default:
		s.storeFailed(w, r, what, err)
	}
}

var errLastAdmin = errors.New("this is the last enabled admin: make another admin first")

// otherAdmins reports whether an enabled admin other than name exists.
func (s *Server) otherAdmins(ctx context.Context, name string) (bool, error) {
	for _, u := range s.auth.cfg.Users {
		if u.Role == RoleAdmin && !strings.EqualFold(u.Name, name) {
			return true, nil
		}
	}
	accs, err := s.deps.Accounts.Accounts(ctx)
	if err != nil {
		return false, err
	}
	for _, a := range accs {
		if a.Role == RoleAdmin && !a.Disabled && !strings.EqualFold(a.Name, name) {
			return true, nil
		}
	}
	return false, nil
}

// changeableUser starts a change of the user {name}: the account store
// and the name, unless it answered itself (no store, another origin, a
// configured user: 409).
func (s *Server) changeableUser(w http.ResponseWriter, r *http.Request) (AccountStore, string, bool) {
	as, ok := s.accounts(w)
	name := r.PathValue("name")
	if !ok || !sameOrigin(w, r) {
		return nil, "", false
	}
	if _, cfg := s.configUser(name); cfg {
		writeError(w, http.StatusConflict, name+" is configured in the configuration file (auth.users) and is changed there")
		return nil, "", false
	}
	return as, name, true
}

// PATCH /api/v1/users/{name} changes a user's role, team, password or
// whether they are disabled.
func (s *Server) patchUser(w http.ResponseWriter, r *http.Request) {
	as, name, ok := s.changeableUser(w, r)
	if !ok {
		return
	}
	var f userFields
	if !decodeBody(w, r, maxAccountBody, &f, userUsage) {
		return
	}
	if f.Name != nil {
		writeError(w, http.StatusBadRequest, "name: a user keeps their name (make a new user instead)")
		return
	}
	e := entry(r)
	if f.Password != nil {
		e.Action = "user.password_reset"
	}
	a, err := as.UpdateAccount(r.Context(), name, nil, e, func(old store.Account) (store.Account, error) {
		a, err := s.applyUser(old, f)
		if err != nil {
			return a, err
		}
		if old.Role == RoleAdmin && !old.Disabled && (a.Role != RoleAdmin || a.Disabled) {
			if more, err := s.otherAdmins(r.Context(), old.Name); err != nil || !more {
				return a, cmpErr(err, errLastAdmin)
			}
		}
		return a, nil
	})
	if err != nil {
		s.writeChangeError(w, r, "the user could not be changed", err)
		return
	}
	// Read again from the database (a new role); a disabled user's
	// logins end here too, also those it does not know yet.
	s.auth.dropCached("", a.Name, !a.Disabled)
	writeJSON(w, http.StatusOK, userInfo(a, 0))
}

// cmpErr is err, or fallback when err is nil.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// DELETE /api/v1/users/{name} removes a user and ends their logins.
func (s *Server) deleteUser(w http.ResponseWriter, r *http.Request) {
	as, name, ok := s.changeableUser(w, r)
	if !ok {
		return
	}
	a, err := as.Account(r.Context(), name)
	if err == nil && a.Role == RoleAdmin && !a.Disabled {
		var more bool
		if more, err = s.otherAdmins(r.Context(), a.Name); err == nil && !more {
			err = errLastAdmin
		}
	}
	if err == nil {
		err = as.DeleteAccount(r.Context(), name, entry(r))
	}
	if err != nil {
		s.writeChangeError(w, r, "the user could not be removed", err)
		return
	}
	s.auth.dropCached("", a.Name, false)
	w.WriteHeader(http.StatusNoContent)
}

// POST /api/v1/auth/password {"current": …, "new": …}: users made in the
// product change their own password; their other logins end.
func (s *Server) changePassword(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok || !sameOrigin(w, r) {
		return
	}
	p := Who(r.Context())
	if p.Source != SourceLocal || p.Via != "session" {
		writeError(w, http.StatusConflict, "only users made in smarteye change their password here (configured users in the configuration file, directory users in the directory)")
		return
	}
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !decodeBody(w, r, maxAccountBody, &req, `send {"current": "…", "new": "…"}`) {
		return
	}
	e := entry(r)
	e.Action = "user.password"
	a, err := as.UpdateAccount(r.Context(), p.Name, p.key[:], e, func(a store.Account) (store.Account, error) {
		if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(req.Current)) != nil {
			return a, badRequestf("current: not your password")
		}
		return s.applyUser(a, userFields{Password: &req.New})
	})
	if err != nil {
		s.writeChangeError(w, r, "the password could not be changed", err)
		return
	}
	s.auth.dropCached("", a.Name, true)
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/v1/auth/sessions: the caller's logins; admins may ask for a
// user's (?user=) or everybody's (?all=true).
func (s *Server) listLogins(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok {
		return
	}
	p := Who(r.Context())
	user, all := r.URL.Query().Get("user"), r.URL.Query().Get("all") == "true"
	if (all || (user != "" && !strings.EqualFold(user, p.Name))) && !p.Can(PermAccounts) {
		writeError(w, http.StatusForbidden, "only admins see other users' logins")
		return
	}
	switch {
	case all:
		user = ""
	case user == "":
		user = p.Name
	}
	ls, err := as.LoginSessions(r.Context(), user)
	if err != nil {
		s.storeFailed(w, r, "the logins could not be listed", err)
		return
	}
	type login struct {
		store.LoginSession
		Current bool `json:"current"`
	}
	out := make([]login, 0, len(ls))
	for _, l := range ls {
		out = append(out, login{l, l.ID == p.Session})
	}
	writeJSON(w, http.StatusOK, out)
}

// DELETE /api/v1/auth/sessions/{id} ends a login: one's own, or anyone's
// for an admin.
func (s *Server) revokeLogin(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok || !ownOrigin(w, r) {
		return
	}
	p, id := Who(r.Context()), r.PathValue("id")
	owner := p.Name
	if p.Can(PermAccounts) {
		owner = ""
	}
	e := entry(r)
	if id == p.Session {
		e.Action = "logout"
	}
	_, err := as.RevokeLoginSession(r.Context(), id, owner, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if n := s.auth.dropCached(id, "", false); n > 0 && owner == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		writeError(w, http.StatusNotFound, "no such login")
	case err != nil:
		s.storeFailed(w, r, "the login could not be ended", err)
	default:
		s.auth.dropCached(id, "", false)
		w.WriteHeader(http.StatusNoContent)
	}
}

// GET /api/v1/tokens: the configured tokens (read-only) and those made in
// the product, revoked ones included.
func (s *Server) listTokens(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok {
		return
	}
	ts, err := as.APITokens(r.Context())
	if err != nil {
		s.storeFailed(w, r, "the tokens could not be listed", err)
		return
	}
	out := []TokenInfo{}
	for _, t := range s.auth.cfg.Tokens {
		out = append(out, TokenInfo{APIToken: store.APIToken{ID: "config:" + t.Name, Name: t.Name, Role: t.Role, Team: t.Team}, Source: SourceConfig, ReadOnly: true})
	}
	for _, t := range ts {
		out = append(out, TokenInfo{APIToken: t, Source: SourceLocal})
	}
	writeJSON(w, http.StatusOK, out)
}

// POST /api/v1/tokens {"name", "role", "team", "expires_in_days"} makes a
// token; the answer has the token itself, shown this once.
func (s *Server) createToken(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok || !sameOrigin(w, r) {
		return
	}
	var req struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		Team      string `json:"team"`
		ExpiresIn int    `json:"expires_in_days"`
	}
	if !decodeBody(w, r, maxAccountBody, &req, `send {"name": "…", "role": "…", "team": "…", "expires_in_days": N (0: never)}`) {
		return
	}
	switch {
	case !userName.MatchString(req.Name):
		writeError(w, http.StatusBadRequest, "name: 1 to 64 letters, digits and . _ @ - (who the token acts as, in the audit log)")
		return
	case !ValidRole(req.Role):
		writeError(w, http.StatusBadRequest, "role: one of admin, commander, planner, supervisor, field")
		return
	case req.ExpiresIn < 0 || req.ExpiresIn > maxTokenDays:
		writeError(w, http.StatusBadRequest, "expires_in_days: 0 (never) to 3650")
		return
	}
	team, err := checkTeam(req.Team)
	if err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	token, sum := newToken()
	t := store.APIToken{ID: randomString(9), Name: req.Name, Role: req.Role, Team: team, SHA256: sum[:], CreatedBy: Who(r.Context()).Name}
	if req.ExpiresIn > 0 {
		exp := time.Now().Add(time.Duration(req.ExpiresIn) * 24 * time.Hour).UTC()
		t.ExpiresAt = &exp
	}
	t, err = as.CreateAPIToken(r.Context(), t, entry(r))
	if err != nil {
		s.storeFailed(w, r, "the token could not be made", err)
		return
	}
	s.auth.cacheToken(t)
	writeJSON(w, http.StatusCreated, struct {
		TokenInfo
		Token string `json:"token"`
	}{TokenInfo{APIToken: t, Source: SourceLocal}, token})
}

// DELETE /api/v1/tokens/{id} revokes a token.
func (s *Server) revokeToken(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok || !ownOrigin(w, r) {
		return
	}
	id := r.PathValue("id")
	if strings.HasPrefix(id, "config:") {
		writeError(w, http.StatusConflict, "a configured token (auth.tokens) is removed from the configuration file")
		return
	}
	t, err := as.RevokeAPIToken(r.Context(), id, entry(r))
	switch {
	case errors.Is(err, store.ErrNotFound):
		writeError(w, http.StatusNotFound, "no such token, or revoked already")
		return
	case err != nil:
		s.storeFailed(w, r, "the token could not be revoked", err)
		return
	}
	s.auth.cacheToken(t)
	w.WriteHeader(http.StatusNoContent)
}

// GET /api/v1/audit?user=&kind=&from=&to=&before=&limit=: the audit log,
// newest first; CSV with Accept: text/csv or format=csv.
func (s *Server) listAudit(w http.ResponseWriter, r *http.Request) {
	as, ok := s.accounts(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Actor: q.Get("user"), Kind: q.Get("kind")}
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"from", &aq.From}, {"to", &aq.To}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				writeError(w, http.StatusBadRequest, p.key+": not an RFC 3339 time such as 2026-11-23T14:00:00Z")
				return
			}
			*p.t = t
		}
	}
	for _, p := range []struct {
		key string
		max int64
		v   *int64
	}{{"before", 1 << 62, &aq.Before}, {"limit", 10000, new(int64)}} {
		if v := q.Get(p.key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > p.max {
				writeError(w, http.StatusBadRequest, p.key+": a whole number from 1 to "+strconv.FormatInt(p.max, 10))
				return
			}
			*p.v = n
			if p.key == "limit" {
				aq.Limit = int(n)
			}
		}
	}
	es, err := as.AuditEntries(r.Context(), aq)
	if err != nil {
		s.storeFailed(w, r, "the audit log could not be read", err)
		return
	}
	if q.Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv") {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="smarteye-audit.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "time", "user", "action", "kind", "object", "address", "detail"})
		for _, e := range es {
			cw.Write([]string{strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano), csvSafe(e.Actor), e.Action, e.ObjectType, csvSafe(e.ObjectID), e.RemoteAddr, csvSafe(string(e.Detail))})
		}
		cw.Flush()
		return
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	writeJSON(w, http.StatusOK, es)
}

// csvSafe keeps a spreadsheet from running a cell as a formula.
func csvSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// The audit log of changes made through the API: allow writes a row for
// every request that changes something and succeeds, unless its handler
// wrote its own in the store's transaction (supervision sessions, users,
// tokens and logins).

// changes reports whether r is a change.
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// auditKinds names the kind of object each API collection holds.
var auditKinds = map[string]string{
	"geofences": "geofence",
	"rules":     "rule",
	"alerts":    "alert",
	"exports":   "export",
	"cameras":   "camera",
}

// auditAction is the kind and action of a change by its route pattern
// ("POST /api/v1/alerts/{id}/ack" → alert, alert.ack); ok is false for
// routes audited by their handlers or that change nothing worth a row
// (starting and ending a WebRTC view).
func auditAction(pattern string) (kind, action string, ok bool) {
	method, path, _ := strings.Cut(pattern, " ")
	segs := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	kind, ok = auditKinds[segs[0]]
	if !ok || slices.Contains(segs, "whep") {
		return "", "", false
	}
	last := segs[len(segs)-1]
	switch {
	case last == "calibration":
		return "calibration", "calibration.update", true
	case len(segs) > 1 && !strings.HasPrefix(last, "{"):
		return kind, kind + "." + last, true
	}
	switch method {
	case http.MethodPost:
		return kind, kind + ".create", true
	case http.MethodDelete:
		return kind, kind + ".delete", true
	}
	return kind, kind + ".update", true
}

// bodyTee keeps the first auditBodyBytes of a request body as it is read.
type bodyTee struct {
	io.ReadCloser
	buf bytes.Buffer
	n   int64
}

func (b *bodyTee) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := auditBodyBytes - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(n, room)])
	}
	b.n += int64(n)
	return n, err
}

// secretKeys are body fields an audit row never keeps.
var secretKeys = []string{"password", "current", "new", "secret", "token", "key"}

// audited runs a change and writes its audit row when it succeeded.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	kind, action, ok := auditAction(r.Pattern)
	if !ok || s.deps.Accounts == nil {
		h(w, r)
		return
	}
	tee := &bodyTee{ReadCloser: r.Body}
	r.Body = tee
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	h(rec, r)
	if rec.code >= 400 {
		return
	}
	detail := map[string]any{}
	var body map[string]any
	switch {
	case tee.n > int64(tee.buf.Len()):
		detail["body_bytes"] = tee.n
	case tee.n > 0 && json.Unmarshal(tee.buf.Bytes(), &body) == nil:
		for k, v := range body {
			if slices.ContainsFunc(secretKeys, func(s string) bool { return strings.Contains(strings.ToLower(k), s) }) {
				v = "(not recorded)"
			}
			detail[k] = v
		}
	}
	id := r.PathValue("id")
	if id == "" {
		if v, ok := body["id"].(string); ok {
			id = v
		}
	}
	e := entry(r)
	e.Action, e.ObjectType, e.ObjectID, e.Detail = action, kind, id, jsonDetail(detail)
	s.audit(r.Context(), e)
}

// audit writes an audit row, logging (and counting) one that could not be
// written.
func (s *Server) audit(ctx context.Context, e store.AuditEntry) {
	if s.deps.Accounts == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
	defer cancel()
	if err := s.deps.Accounts.Audit(ctx, e); err != nil {
		s.auditFailures.Inc()
		s.log.Error("audit row not written", "actor", e.Actor, "action", e.Action, "object", e.ObjectID, "err", err)
	}
}

func jsonDetail(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" || string(b) == "null" {
		return nil
	}
	return b
}
