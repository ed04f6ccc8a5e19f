package auth

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Account limits.
const (
	maxAccountBody = 4 << 10
	maxTeamRunes   = 64
	maxTokenDays   = 3650
)

var userName = regexp.MustCompile(`^[A-Za-z0-9._@-]{1,64}$`)

// ValidUserName reports whether name may be a user's (or a token's): 1 to
// 64 letters, digits and . _ @ -.
func ValidUserName(name string) bool { return userName.MatchString(name) }

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

// badRequest is a client's mistake, answered 400 with its text.
type badRequest struct{ error }

func badRequestf(format string, args ...any) error { return badRequest{fmt.Errorf(format, args...)} }

// ListUsers is GET /api/v1/users: the configured users (read-only) and
// those made in the product.
func (h *API) ListUsers(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok {
		return
	}
	accs, err := as.Accounts(r.Context())
	if err != nil {
		api.StoreFailed(h.log, w, r, "the users could not be listed", err)
		return
	}
	logins, err := as.LoginSessions(r.Context(), "")
	if err != nil {
		api.StoreFailed(h.log, w, r, "the users could not be listed", err)
		return
	}
	count := map[string]int{}
	for _, l := range logins {
		count[strings.ToLower(l.User)]++
	}
	out := []UserInfo{}
	for _, u := range h.auth.cfg.Users {
		out = append(out, UserInfo{Name: u.Name, Role: u.Role, Team: u.Team, Source: SourceConfig, ReadOnly: true, Logins: count[strings.ToLower(u.Name)]})
	}
	for _, a := range accs {
		out = append(out, userInfo(a, count[strings.ToLower(a.Name)]))
	}
	slices.SortFunc(out, func(a, b UserInfo) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
	api.WriteJSON(w, http.StatusOK, out)
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

// applyUser checks f and applies it to a.
func (h *API) applyUser(a store.Account, f userFields) (store.Account, error) {
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
		if err := checkPassword(a.Name, *f.Password, h.auth.cfg.PasswordMinLength); err != nil {
			return a, badRequest{err}
		}
		hash, err := bcrypt.GenerateFromPassword([]byte(*f.Password), bcrypt.DefaultCost)
		if err != nil {
			return a, err
		}
		a.PasswordHash = string(hash)
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

// CreateUser is POST /api/v1/users: it makes a user.
func (h *API) CreateUser(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok || !api.SameOrigin(w, r) {
		return
	}
	var f userFields
	if !api.DecodeBody(w, r, maxAccountBody, &f, userUsage) {
		return
	}
	switch {
	case f.Name == nil || !userName.MatchString(*f.Name):
		api.WriteError(w, http.StatusBadRequest, "name: 1 to 64 letters, digits and . _ @ -")
		return
	case f.Role == nil:
		api.WriteError(w, http.StatusBadRequest, "role: one of admin, commander, planner, supervisor, field")
		return
	case f.Password == nil:
		api.WriteError(w, http.StatusBadRequest, "password: the user's first password")
		return
	case f.Disabled != nil && *f.Disabled:
		api.WriteError(w, http.StatusBadRequest, "disabled: a new user starts enabled")
		return
	}
	if _, cfg := h.auth.ConfigUser(*f.Name); cfg {
		api.WriteError(w, http.StatusConflict, "a user named "+*f.Name+" is in the configuration file")
		return
	}
	a, err := h.applyUser(store.Account{Name: *f.Name, CreatedBy: Who(r.Context()).Name}, f)
	if err != nil {
		h.writeChangeError(w, r, "the user could not be made", err)
		return
	}
	a, err = as.CreateAccount(r.Context(), a, Entry(r))
	switch {
	case errors.Is(err, store.ErrExists):
		api.WriteError(w, http.StatusConflict, "a user named "+*f.Name+" exists already")
	case err != nil:
		api.StoreFailed(h.log, w, r, "the user could not be made", err)
	default:
		h.log.Info("user made", "user", a.Name, "role", a.Role, "by", Who(r.Context()).Name)
		api.WriteJSON(w, http.StatusCreated, userInfo(a, 0))
	}
}

// writeChangeError answers a bad change with 400 and anything else as the
// store's failure.
func (h *API) writeChangeError(w http.ResponseWriter, r *http.Request, what string, err error) {
	var br badRequest
	var weak errWeakPassword
	switch {
	case errors.As(err, &br), errors.As(err, &weak):
		api.WriteError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no such user")
	case errors.Is(err, errLastAdmin):
		api.WriteError(w, http.StatusConflict, err.Error())
	default:
		api.StoreFailed(h.log, w, r, what, err)
	}
}

var errLastAdmin = errors.New("this is the last enabled admin: make another admin first")

// otherAdmins reports whether an enabled admin other than name exists.
func (h *API) otherAdmins(ctx context.Context, name string) (bool, error) {
	for _, u := range h.auth.cfg.Users {
		if u.Role == RoleAdmin && !strings.EqualFold(u.Name, name) {
			return true, nil
		}
	}
	accs, err := h.auth.store.Accounts(ctx)
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
func (h *API) changeableUser(w http.ResponseWriter, r *http.Request) (AccountStore, string, bool) {
	as, ok := h.accounts(w)
	name := r.PathValue("name")
	if !ok || !api.SameOrigin(w, r) {
		return nil, "", false
	}
	if _, cfg := h.auth.ConfigUser(name); cfg {
		api.WriteError(w, http.StatusConflict, name+" is configured in the configuration file (auth.users) and is changed there")
		return nil, "", false
	}
	return as, name, true
}

// PatchUser is PATCH /api/v1/users/{name}: it changes a user's role, team,
// password or whether they are disabled.
func (h *API) PatchUser(w http.ResponseWriter, r *http.Request) {
	as, name, ok := h.changeableUser(w, r)
	if !ok {
		return
	}
	var f userFields
	if !api.DecodeBody(w, r, maxAccountBody, &f, userUsage) {
		return
	}
	if f.Name != nil {
		api.WriteError(w, http.StatusBadRequest, "name: a user keeps their name (make a new user instead)")
		return
	}
	e := Entry(r)
	if f.Password != nil {
		e.Action = "user.password_reset"
	}
	a, err := as.UpdateAccount(r.Context(), name, nil, e, func(old store.Account) (store.Account, error) {
		a, err := h.applyUser(old, f)
		if err != nil {
			return a, err
		}
		if old.Role == RoleAdmin && !old.Disabled && (a.Role != RoleAdmin || a.Disabled) {
			if more, err := h.otherAdmins(r.Context(), old.Name); err != nil || !more {
				return a, cmpErr(err, errLastAdmin)
			}
		}
		return a, nil
	})
	if err != nil {
		h.writeChangeError(w, r, "the user could not be changed", err)
		return
	}
	// Read again from the database (a new role); a disabled user's
	// logins end here too, also those it does not know yet.
	h.auth.DropCached("", a.Name, !a.Disabled)
	api.WriteJSON(w, http.StatusOK, userInfo(a, 0))
}

// cmpErr is err, or fallback when err is nil.
func cmpErr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}

// DeleteUser is DELETE /api/v1/users/{name}: it removes a user and ends
// their logins.
func (h *API) DeleteUser(w http.ResponseWriter, r *http.Request) {
	as, name, ok := h.changeableUser(w, r)
	if !ok {
		return
	}
	a, err := as.Account(r.Context(), name)
	if err == nil && a.Role == RoleAdmin && !a.Disabled {
		var more bool
		if more, err = h.otherAdmins(r.Context(), a.Name); err == nil && !more {
			err = errLastAdmin
		}
	}
	if err == nil {
		err = as.DeleteAccount(r.Context(), name, Entry(r))
	}
	if err != nil {
		h.writeChangeError(w, r, "the user could not be removed", err)
		return
	}
	h.auth.DropCached("", a.Name, false)
	w.WriteHeader(http.StatusNoContent)
}

// ListTokens is GET /api/v1/tokens: the configured tokens (read-only) and
// those made in the product, revoked ones included.
func (h *API) ListTokens(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok {
		return
	}
	ts, err := as.APITokens(r.Context())
	if err != nil {
		api.StoreFailed(h.log, w, r, "the tokens could not be listed", err)
		return
	}
	out := []TokenInfo{}
	for _, t := range h.auth.cfg.Tokens {
		out = append(out, TokenInfo{APIToken: store.APIToken{ID: "config:" + t.Name, Name: t.Name, Role: t.Role, Team: t.Team}, Source: SourceConfig, ReadOnly: true})
	}
	for _, t := range ts {
		out = append(out, TokenInfo{APIToken: t, Source: SourceLocal})
	}
	api.WriteJSON(w, http.StatusOK, out)
}

// CreateToken is POST /api/v1/tokens {"name", "role", "team",
// "expires_in_days"}: it makes a token; the answer has the token itself,
// shown this once.
func (h *API) CreateToken(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok || !api.SameOrigin(w, r) {
		return
	}
	var req struct {
		Name      string `json:"name"`
		Role      string `json:"role"`
		Team      string `json:"team"`
		ExpiresIn int    `json:"expires_in_days"`
	}
	if !api.DecodeBody(w, r, maxAccountBody, &req, `send {"name": "…", "role": "…", "team": "…", "expires_in_days": N (0: never)}`) {
		return
	}
	switch {
	case !userName.MatchString(req.Name):
		api.WriteError(w, http.StatusBadRequest, "name: 1 to 64 letters, digits and . _ @ - (who the token acts as, in the audit log)")
		return
	case !ValidRole(req.Role):
		api.WriteError(w, http.StatusBadRequest, "role: one of admin, commander, planner, supervisor, field")
		return
	case req.ExpiresIn < 0 || req.ExpiresIn > maxTokenDays:
		api.WriteError(w, http.StatusBadRequest, "expires_in_days: 0 (never) to 3650")
		return
	}
	team, err := checkTeam(req.Team)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	token, sum := newToken()
	t := store.APIToken{ID: randomString(9), Name: req.Name, Role: req.Role, Team: team, SHA256: sum[:], CreatedBy: Who(r.Context()).Name}
	if req.ExpiresIn > 0 {
		exp := time.Now().Add(time.Duration(req.ExpiresIn) * 24 * time.Hour).UTC()
		t.ExpiresAt = &exp
	}
	t, err = as.CreateAPIToken(r.Context(), t, Entry(r))
	if err != nil {
		api.StoreFailed(h.log, w, r, "the token could not be made", err)
		return
	}
	h.auth.CacheToken(t)
	api.WriteJSON(w, http.StatusCreated, struct {
		TokenInfo
		Token string `json:"token"`
	}{TokenInfo{APIToken: t, Source: SourceLocal}, token})
}

// RevokeToken is DELETE /api/v1/tokens/{id}: it revokes a token.
func (h *API) RevokeToken(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok || !api.OwnOrigin(w, r) {
		return
	}
	id := r.PathValue("id")
	if strings.HasPrefix(id, "config:") {
		api.WriteError(w, http.StatusConflict, "a configured token (auth.tokens) is removed from the configuration file")
		return
	}
	t, err := as.RevokeAPIToken(r.Context(), id, Entry(r))
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no such token, or revoked already")
		return
	case err != nil:
		api.StoreFailed(h.log, w, r, "the token could not be revoked", err)
		return
	}
	h.auth.CacheToken(t)
	w.WriteHeader(http.StatusNoContent)
}
