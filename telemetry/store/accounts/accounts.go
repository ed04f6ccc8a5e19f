// Package accounts keeps who may use smarteye and what was done: the
// accounts, API tokens and logins made in the product
// (migrations/0009_accounts.sql, in package store), and the audit log.
// Every change to an account, a token or a login is written with its
// audit row in one transaction; other repositories write theirs in their
// own transactions with AuditTx. Passwords and secrets are kept only as
// hashes (bcrypt, SHA-256), which are never written to the audit log. It
// must not decide who may do what: that is the dashboard's.
package accounts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smarteye/smarteye/telemetry"
)

// Store reads and writes accounts, tokens, logins and the audit log on a
// connection pool (the store's).
type Store struct {
	pool *pgxpool.Pool
}

// New is the accounts of the database behind pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var (
	// ErrNotFound: no such row.
	ErrNotFound = telemetry.ErrNotFound
	// ErrExists: a row with that name or id exists.
	ErrExists = telemetry.ErrExists
)

// Account is a user managed from the product (migrations/0009_accounts.sql).
type Account struct {
	Name              string    `json:"name"`
	Role              string    `json:"role"`
	Team              string    `json:"team,omitempty"`
	PasswordHash      string    `json:"-"` // bcrypt
	Disabled          bool      `json:"disabled"`
	CreatedBy         string    `json:"created_by"`
	CreatedAt         time.Time `json:"created_at"`
	UpdatedAt         time.Time `json:"updated_at"`
	PasswordChangedAt time.Time `json:"password_changed_at"`
}

const accountColumns = `name, role, team, password_hash, disabled, created_by, created_at, updated_at, password_changed_at`

func scanAccount(r pgx.Row) (Account, error) {
	var a Account
	err := r.Scan(&a.Name, &a.Role, &a.Team, &a.PasswordHash, &a.Disabled, &a.CreatedBy, &a.CreatedAt, &a.UpdatedAt, &a.PasswordChangedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return a, ErrNotFound
	}
	return a, err
}

func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	return errors.As(err, &pe) && pe.Code == "23505"
}

// Account finds an account by name, whatever its case; ErrNotFound when
// there is none.
func (s *Store) Account(ctx context.Context, name string) (Account, error) {
	a, err := scanAccount(s.pool.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(name) = lower($1)`, name))
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: account: %w", err)
	}
	return a, err
}

// Accounts lists the accounts by name.
func (s *Store) Accounts(ctx context.Context) ([]Account, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+accountColumns+` FROM accounts ORDER BY lower(name)`)
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (Account, error) { return scanAccount(r) })
	if err != nil {
		return nil, fmt.Errorf("store: accounts: %w", err)
	}
	return out, nil
}

// accountDetail is what the audit log keeps of an account: never its hash.
func accountDetail(a Account) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"name": a.Name, "role": a.Role, "team": a.Team, "disabled": a.Disabled})
	return b
}

// CreateAccount stores a new account with its audit row (action
// "user.create"); ErrExists when the name is taken, whatever its case.
func (s *Store) CreateAccount(ctx context.Context, a Account, e AuditEntry) (Account, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		a, err = scanAccount(tx.QueryRow(ctx, `INSERT INTO accounts (name, role, team, password_hash, disabled, created_by)
			VALUES ($1, $2, $3, $4, $5, $6) RETURNING `+accountColumns, a.Name, a.Role, a.Team, a.PasswordHash, a.Disabled, a.CreatedBy))
		if err != nil {
			return err
		}
		e.Action, e.ObjectType, e.ObjectID, e.Detail = "user.create", "user", a.Name, accountDetail(a)
		return AuditTx(ctx, tx, e)
	})
	switch {
	case isUniqueViolation(err):
		return Account{}, ErrExists
	case err != nil:
		return Account{}, fmt.Errorf("store: create account: %w", err)
	}
	return a, nil
}

// UpdateAccount changes an account with fn in one transaction with its
// audit row (action "user.update", detail what changed). A disabled
// account's sessions are revoked; the others' follow a new role or team;
// a new password revokes every session but the one in keepSession (the
// SHA-256 of the cookie of the user who changed it; nil keeps none).
func (s *Store) UpdateAccount(ctx context.Context, name string, keepSession []byte, e AuditEntry, fn func(Account) (Account, error)) (Account, error) {
	var out Account
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		old, err := scanAccount(tx.QueryRow(ctx, `SELECT `+accountColumns+` FROM accounts WHERE lower(name) = lower($1) FOR UPDATE`, name))
		if err != nil {
			return err
		}
		a, err := fn(old)
		if err != nil {
			return err
		}
		passwordChanged := a.PasswordHash != old.PasswordHash
		out, err = scanAccount(tx.QueryRow(ctx, `UPDATE accounts SET role = $2, team = $3, password_hash = $4, disabled = $5, updated_at = now(),
				password_changed_at = CASE WHEN $6 THEN now() ELSE password_changed_at END
			WHERE name = $1 RETURNING `+accountColumns, old.Name, a.Role, a.Team, a.PasswordHash, a.Disabled, passwordChanged))
		if err != nil {
			return err
		}
		switch {
		case out.Disabled:
			_, err = tx.Exec(ctx, `UPDATE login_sessions SET revoked_at = now() WHERE lower(user_name) = lower($1) AND revoked_at IS NULL`, out.Name)
		case passwordChanged:
			_, err = tx.Exec(ctx, `UPDATE login_sessions SET revoked_at = now() WHERE lower(user_name) = lower($1) AND revoked_at IS NULL AND sha256 <> coalesce($2, ''::bytea)`, out.Name, keepSession)
		}
		if err != nil {
			return err
		}
		_, err = tx.Exec(ctx, `UPDATE login_sessions SET role = $2, team = $3 WHERE lower(user_name) = lower($1) AND revoked_at IS NULL AND source = 'local'`, out.Name, out.Role, out.Team)
		if err != nil {
			return err
		}
		changed := map[string]any{}
		if old.Role != out.Role {
			changed["role"] = []string{old.Role, out.Role}
		}
		if old.Team != out.Team {
			changed["team"] = []string{old.Team, out.Team}
		}
		if old.Disabled != out.Disabled {
			changed["disabled"] = []bool{old.Disabled, out.Disabled}
		}
		if passwordChanged {
			changed["password"] = "changed"
		}
		if e.Action == "" {
			e.Action = "user.update"
		}
		e.ObjectType, e.ObjectID = "user", out.Name
		e.Detail, _ = json.Marshal(changed)
		return AuditTx(ctx, tx, e)
	})
	if err != nil {
		if errors.Is(err, ErrNotFound) {
			return Account{}, err
		}
		return Account{}, fmt.Errorf("store: update account: %w", err)
	}
	return out, nil
}

// DeleteAccount removes an account and revokes its sessions, with its
// audit row (action "user.delete"); ErrNotFound when there is none.
func (s *Store) DeleteAccount(ctx context.Context, name string, e AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		a, err := scanAccount(tx.QueryRow(ctx, `DELETE FROM accounts WHERE lower(name) = lower($1) RETURNING `+accountColumns, name))
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE login_sessions SET revoked_at = now() WHERE lower(user_name) = lower($1) AND revoked_at IS NULL AND source = 'local'`, a.Name); err != nil {
			return err
		}
		e.Action, e.ObjectType, e.ObjectID, e.Detail = "user.delete", "user", a.Name, accountDetail(a)
		return AuditTx(ctx, tx, e)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return fmt.Errorf("store: delete account: %w", err)
	}
	return err
}

// APIToken is an API token made from the product. Only its SHA-256 is
// kept.
type APIToken struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Role       string     `json:"role"`
	Team       string     `json:"team,omitempty"`
	SHA256     []byte     `json:"-"`
	CreatedBy  string     `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at,omitempty"`
	LastUsedAt *time.Time `json:"last_used_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

const tokenColumns = `id, name, role, team, sha256, created_by, created_at, expires_at, last_used_at, revoked_at`

func scanToken(r pgx.Row) (APIToken, error) {
	var t APIToken
	err := r.Scan(&t.ID, &t.Name, &t.Role, &t.Team, &t.SHA256, &t.CreatedBy, &t.CreatedAt, &t.ExpiresAt, &t.LastUsedAt, &t.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return t, ErrNotFound
	}
	return t, err
}

func tokenDetail(t APIToken) json.RawMessage {
	b, _ := json.Marshal(map[string]any{"name": t.Name, "role": t.Role, "team": t.Team, "expires_at": t.ExpiresAt})
	return b
}

// CreateAPIToken stores a token with its audit row (action "token.create").
func (s *Store) CreateAPIToken(ctx context.Context, t APIToken, e AuditEntry) (APIToken, error) {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `INSERT INTO api_tokens (id, name, role, team, sha256, created_by, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING `+tokenColumns, t.ID, t.Name, t.Role, t.Team, t.SHA256, t.CreatedBy, t.ExpiresAt))
		if err != nil {
			return err
		}
		e.Action, e.ObjectType, e.ObjectID, e.Detail = "token.create", "token", t.ID, tokenDetail(t)
		return AuditTx(ctx, tx, e)
	})
	switch {
	case isUniqueViolation(err):
		return APIToken{}, ErrExists
	case err != nil:
		return APIToken{}, fmt.Errorf("store: create token: %w", err)
	}
	return t, nil
}

// APITokens lists the tokens, newest first, revoked ones included.
func (s *Store) APITokens(ctx context.Context) ([]APIToken, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+tokenColumns+` FROM api_tokens ORDER BY created_at DESC`)
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (APIToken, error) { return scanToken(r) })
	if err != nil {
		return nil, fmt.Errorf("store: tokens: %w", err)
	}
	return out, nil
}

// RevokeAPIToken revokes a token with its audit row (action
// "token.revoke"); ErrNotFound when there is no such token or it was
// revoked already.
func (s *Store) RevokeAPIToken(ctx context.Context, id string, e AuditEntry) (APIToken, error) {
	var t APIToken
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		t, err = scanToken(tx.QueryRow(ctx, `UPDATE api_tokens SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL RETURNING `+tokenColumns, id))
		if err != nil {
			return err
		}
		e.Action, e.ObjectType, e.ObjectID, e.Detail = "token.revoke", "token", t.ID, tokenDetail(t)
		return AuditTx(ctx, tx, e)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return t, fmt.Errorf("store: revoke token: %w", err)
	}
	return t, err
}

// TouchAPITokens records when tokens were last used (by id).
func (s *Store) TouchAPITokens(ctx context.Context, used map[string]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids, times := make([]string, 0, len(used)), make([]time.Time, 0, len(used))
	for id, t := range used {
		ids, times = append(ids, id), append(times, t)
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_tokens t SET last_used_at = greatest(t.last_used_at, u.at)
		FROM unnest($1::text[], $2::timestamptz[]) AS u(id, at) WHERE t.id = u.id`, ids, times)
	if err != nil {
		return fmt.Errorf("store: touch tokens: %w", err)
	}
	return nil
}

// LoginSession is a login: a browser's session cookie, kept as its
// SHA-256.
type LoginSession struct {
	ID         string     `json:"id"`
	SHA256     []byte     `json:"-"`
	User       string     `json:"user"`
	Role       string     `json:"role"`
	Team       string     `json:"team,omitempty"`
	Source     string     `json:"source"` // config, local, ldap
	RemoteAddr string     `json:"remote_addr,omitempty"`
	UserAgent  string     `json:"user_agent,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
	LastSeenAt time.Time  `json:"last_seen_at"`
	ExpiresAt  time.Time  `json:"expires_at"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
}

const loginSessionColumns = `id, sha256, user_name, role, team, source, remote_addr, user_agent, created_at, last_seen_at, expires_at, revoked_at`

func scanLoginSession(r pgx.Row) (LoginSession, error) {
	var l LoginSession
	err := r.Scan(&l.ID, &l.SHA256, &l.User, &l.Role, &l.Team, &l.Source, &l.RemoteAddr, &l.UserAgent, &l.CreatedAt, &l.LastSeenAt, &l.ExpiresAt, &l.RevokedAt)
	if errors.Is(err, pgx.ErrNoRows) {
		return l, ErrNotFound
	}
	return l, err
}

// SaveLoginSession stores a new login.
func (s *Store) SaveLoginSession(ctx context.Context, l LoginSession) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO login_sessions (sha256, id, user_name, role, team, source, remote_addr, user_agent, created_at, last_seen_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT DO NOTHING`,
		l.SHA256, l.ID, l.User, l.Role, l.Team, l.Source, l.RemoteAddr, l.UserAgent, l.CreatedAt, l.LastSeenAt, l.ExpiresAt)
	if err != nil {
		return fmt.Errorf("store: save login: %w", err)
	}
	return nil
}

// LoginSession finds a login by its cookie's SHA-256, revoked or not;
// ErrNotFound when there is none.
func (s *Store) LoginSession(ctx context.Context, sha []byte) (LoginSession, error) {
	l, err := scanLoginSession(s.pool.QueryRow(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions WHERE sha256 = $1`, sha))
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: login: %w", err)
	}
	return l, err
}

// LoginSessions lists the logins not revoked and not expired, newest
// first: a user's (whatever the case of the name), or everybody's when
// user is "".
func (s *Store) LoginSessions(ctx context.Context, user string) ([]LoginSession, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+loginSessionColumns+` FROM login_sessions
		WHERE revoked_at IS NULL AND expires_at > now() AND ($1 = '' OR lower(user_name) = lower($1)) ORDER BY last_seen_at DESC LIMIT 10000`, user)
	if err != nil {
		return nil, fmt.Errorf("store: logins: %w", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (LoginSession, error) { return scanLoginSession(r) })
	if err != nil {
		return nil, fmt.Errorf("store: logins: %w", err)
	}
	return out, nil
}

// RevokeLoginSession revokes one login by its id with an audit row (action
// "login.revoke" unless e says otherwise: "logout"). When user is not ""
// the login must be that user's. ErrNotFound when there is no such live
// login.
func (s *Store) RevokeLoginSession(ctx context.Context, id, user string, e AuditEntry) (LoginSession, error) {
	var l LoginSession
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		var err error
		l, err = scanLoginSession(tx.QueryRow(ctx, `UPDATE login_sessions SET revoked_at = now()
			WHERE id = $1 AND revoked_at IS NULL AND ($2 = '' OR lower(user_name) = lower($2)) RETURNING `+loginSessionColumns, id, user))
		if err != nil {
			return err
		}
		if e.Action == "" {
			e.Action = "login.revoke"
		}
		e.ObjectType, e.ObjectID = "login", l.ID
		e.Detail, _ = json.Marshal(map[string]any{"user": l.User, "remote_addr": l.RemoteAddr, "created_at": l.CreatedAt})
		return AuditTx(ctx, tx, e)
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return l, fmt.Errorf("store: revoke login: %w", err)
	}
	return l, err
}

// TouchLoginSessions records when logins were last used (by their
// cookie's SHA-256) and forgets logins that ended more than a day ago.
func (s *Store) TouchLoginSessions(ctx context.Context, seen map[[32]byte]time.Time) error {
	if len(seen) > 0 {
		shas, times := make([][]byte, 0, len(seen)), make([]time.Time, 0, len(seen))
		for k, t := range seen {
			shas, times = append(shas, k[:]), append(times, t)
		}
		if _, err := s.pool.Exec(ctx, `UPDATE login_sessions l SET last_seen_at = greatest(l.last_seen_at, u.at)
			FROM unnest($1::bytea[], $2::timestamptz[]) AS u(sha, at) WHERE l.sha256 = u.sha`, shas, times); err != nil {
			return fmt.Errorf("store: touch logins: %w", err)
		}
	}
	if _, err := s.pool.Exec(ctx, `DELETE FROM login_sessions WHERE expires_at < now() - interval '1 day' OR revoked_at < now() - interval '1 day'`); err != nil {
		return fmt.Errorf("store: prune logins: %w", err)
	}
	return nil
}
