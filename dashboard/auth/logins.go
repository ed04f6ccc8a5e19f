package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"unicode"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/crypto/bcrypt"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/dashboard/internal/ratelimit"
	"github.com/smarteye/smarteye/telemetry/store"
)

// API serves logging in and out, and the accounts page's API: users, API
// tokens, logins and the audit log. Which routes need which permission is
// the dashboard's routing to check.
type API struct {
	auth   *Authenticator
	audit  *Auditor
	limit  *ratelimit.Limiter // login attempts per address
	logins *prometheus.CounterVec
	log    *slog.Logger
}

// NewAPI serves a's logins and accounts, writing audit rows with audit
// and bounding login attempts per address with limit (nil: no bound). Its
// metric is registered on reg (nil: none).
func NewAPI(a *Authenticator, audit *Auditor, limit *ratelimit.Limiter, reg prometheus.Registerer, log *slog.Logger) *API {
	h := &API{auth: a, audit: audit, limit: limit, log: log,
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_logins_total",
			Help: "Login attempts by result: ok, failed, locked, unavailable (the database or the directory did not answer).",
		}, []string{"result"}),
	}
	if reg != nil {
		reg.MustRegister(h.logins)
	}
	return h
}

// Login is POST /api/v1/auth/login {"username":…,"password":…} → a
// session cookie.
func (h *API) Login(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) || !h.limit.Allow(w, r) {
		return
	}
	var req struct {
		Username string `json:"username"`
		Password string `json:"password"`
	}
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 4<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil || req.Username == "" || len(req.Username) > 128 || len(req.Password) > 256 || strings.ContainsFunc(req.Username, unicode.IsControl) {
		api.WriteError(w, http.StatusBadRequest, `send {"username": "…", "password": "…"}`)
		return
	}
	cookie, p, reason, err := h.auth.Login(r.Context(), req.Username, req.Password, api.ClientIP(r), r.UserAgent())
	entry := store.AuditEntry{Actor: req.Username, ObjectType: "login", RemoteAddr: api.ClientIP(r)}
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
		h.logins.WithLabelValues(result).Inc()
		entry.Action, entry.Detail = action, AuditDetail(map[string]any{"reason": reason})
		h.audit.Write(r.Context(), entry)
		h.log.Warn("login refused", "user", req.Username, "remote", r.RemoteAddr, "result", result, "reason", reason)
		api.WriteError(w, code, msg)
		return
	}
	h.logins.WithLabelValues("ok").Inc()
	entry.Actor, entry.Action, entry.ObjectID = p.Name, "login", p.Session
	entry.Detail = AuditDetail(map[string]any{"role": p.Role, "team": p.Team, "source": p.Source})
	h.audit.Write(r.Context(), entry)
	h.log.Info("login", "user", p.Name, "role", p.Role, "source", p.Source, "remote", r.RemoteAddr)
	http.SetCookie(w, &http.Cookie{
		Name: CookieName, Value: cookie, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode,
		Secure: h.auth.cfg.SecureCookie || r.TLS != nil, MaxAge: int(h.auth.cfg.SessionTTL.Seconds()),
	})
	api.WriteJSON(w, http.StatusOK, p)
}

// Logout is POST /api/v1/auth/logout: it ends the session.
func (h *API) Logout(w http.ResponseWriter, r *http.Request) {
	if !api.OwnOrigin(w, r) {
		return
	}
	if p, ok := h.auth.Principal(r); ok && p.Via == "session" {
		h.auth.DropCached(p.Session, "", false)
		if st := h.auth.store; st != nil {
			ctx, cancel := context.WithTimeout(r.Context(), storeWait)
			_, err := st.RevokeLoginSession(ctx, p.Session, "", store.AuditEntry{Actor: p.Name, Action: "logout", RemoteAddr: api.ClientIP(r)})
			cancel()
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				h.log.Warn("logout: the database did not record it", "user", p.Name, "err", err)
			}
		}
	}
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode, MaxAge: -1})
	w.WriteHeader(http.StatusNoContent)
}

// Me is GET /api/v1/auth/me: who is logged in, and what they may do.
func (h *API) Me(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, Who(r.Context()))
}

// accounts answers 503 itself when there is no account store.
func (h *API) accounts(w http.ResponseWriter) (AccountStore, bool) {
	if h.auth.store == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "accounts are kept in the database, which this server does not have")
		return nil, false
	}
	return h.auth.store, true
}

// ChangePassword is POST /api/v1/auth/password {"current": …, "new": …}:
// users made in the product change their own password; their other logins
// end.
func (h *API) ChangePassword(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok || !api.SameOrigin(w, r) {
		return
	}
	p := Who(r.Context())
	if p.Source != SourceLocal || p.Via != "session" {
		api.WriteError(w, http.StatusConflict, "only users made in smarteye change their password here (configured users in the configuration file, directory users in the directory)")
		return
	}
	var req struct {
		Current string `json:"current"`
		New     string `json:"new"`
	}
	if !api.DecodeBody(w, r, maxAccountBody, &req, `send {"current": "…", "new": "…"}`) {
		return
	}
	e := Entry(r)
	e.Action = "user.password"
	a, err := as.UpdateAccount(r.Context(), p.Name, p.key[:], e, func(a store.Account) (store.Account, error) {
		if bcrypt.CompareHashAndPassword([]byte(a.PasswordHash), []byte(req.Current)) != nil {
			return a, badRequestf("current: not your password")
		}
		return h.applyUser(a, userFields{Password: &req.New})
	})
	if err != nil {
		h.writeChangeError(w, r, "the password could not be changed", err)
		return
	}
	h.auth.DropCached("", a.Name, true)
	w.WriteHeader(http.StatusNoContent)
}

// ListLogins is GET /api/v1/auth/sessions: the caller's logins; admins may
// ask for a user's (?user=) or everybody's (?all=true).
func (h *API) ListLogins(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok {
		return
	}
	p := Who(r.Context())
	user, all := r.URL.Query().Get("user"), r.URL.Query().Get("all") == "true"
	if (all || (user != "" && !strings.EqualFold(user, p.Name))) && !p.Can(PermAccounts) {
		api.WriteError(w, http.StatusForbidden, "only admins see other users' logins")
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
		api.StoreFailed(h.log, w, r, "the logins could not be listed", err)
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
	api.WriteJSON(w, http.StatusOK, out)
}

// RevokeLogin is DELETE /api/v1/auth/sessions/{id}: it ends a login, one's
// own, or anyone's for an admin.
func (h *API) RevokeLogin(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok || !api.OwnOrigin(w, r) {
		return
	}
	p, id := Who(r.Context()), r.PathValue("id")
	owner := p.Name
	if p.Can(PermAccounts) {
		owner = ""
	}
	e := Entry(r)
	if id == p.Session {
		e.Action = "logout"
	}
	_, err := as.RevokeLoginSession(r.Context(), id, owner, e)
	switch {
	case errors.Is(err, store.ErrNotFound):
		if n := h.auth.DropCached(id, "", false); n > 0 && owner == "" {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		api.WriteError(w, http.StatusNotFound, "no such login")
	case err != nil:
		api.StoreFailed(h.log, w, r, "the login could not be ended", err)
	default:
		h.auth.DropCached(id, "", false)
		w.WriteHeader(http.StatusNoContent)
	}
}
