package accounts

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// AuditEntry is one change a person or the system made, or a login.
type AuditEntry struct {
	ID         int64           `json:"id"`
	Time       time.Time       `json:"time"`
	Actor      string          `json:"actor"`
	Action     string          `json:"action"`
	ObjectType string          `json:"object_type"` // the kind: user, token, rule, geofence, session, ...
	ObjectID   string          `json:"object_id"`
	Detail     json.RawMessage `json:"detail,omitempty"`
	RemoteAddr string          `json:"remote_addr,omitempty"`
}

// AuditTx writes an audit row in tx, to be committed with the change it
// records.
func AuditTx(ctx context.Context, tx pgx.Tx, e AuditEntry) error {
	_, err := tx.Exec(ctx, `INSERT INTO audit_log (actor, action, object_type, object_id, detail, remote_addr) VALUES ($1, $2, $3, $4, $5, nullif($6, ''))`,
		e.Actor, e.Action, e.ObjectType, e.ObjectID, e.Detail, e.RemoteAddr)
	return err
}

// Audit writes one audit row on its own (a change made elsewhere, a
// login, or a supervisor joining a session's room).
func (s *Store) Audit(ctx context.Context, e AuditEntry) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error { return AuditTx(ctx, tx, e) })
	if err != nil {
		return fmt.Errorf("store: audit: %w", err)
	}
	return nil
}

const auditColumns = `id, time, actor, action, coalesce(object_type, ''), coalesce(object_id, ''), detail, coalesce(remote_addr, '')`

func collectAudit(rows pgx.Rows) ([]AuditEntry, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (AuditEntry, error) {
		var e AuditEntry
		err := r.Scan(&e.ID, &e.Time, &e.Actor, &e.Action, &e.ObjectType, &e.ObjectID, &e.Detail, &e.RemoteAddr)
		return e, err
	})
}

// AuditLog lists the audit rows of an object, oldest first.
func (s *Store) AuditLog(ctx context.Context, objectType, objectID string, limit int) ([]AuditEntry, error) {
	if limit <= 0 {
		limit = 1000
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+`
		FROM audit_log WHERE object_type = $1 AND object_id = $2 ORDER BY id LIMIT $3`, objectType, objectID, limit)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	out, err := collectAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("store: audit log: %w", err)
	}
	return out, nil
}

// AuditQuery selects audit rows. Zero fields select all.
type AuditQuery struct {
	Actor    string // exactly, whatever its case
	Kind     string // object_type
	From, To time.Time
	// Before pages back: rows with a smaller id.
	Before int64
	Limit  int // at most 10,000; 0 is 500
}

// AuditEntries lists audit rows, newest first.
func (s *Store) AuditEntries(ctx context.Context, q AuditQuery) ([]AuditEntry, error) {
	var where []string
	var args []any
	arg := func(v any) string { args = append(args, v); return "$" + strconv.Itoa(len(args)) }
	if q.Actor != "" {
		where = append(where, "lower(actor) = lower("+arg(q.Actor)+")")
	}
	if q.Kind != "" {
		where = append(where, "object_type = "+arg(q.Kind))
	}
	if !q.From.IsZero() {
		where = append(where, "time >= "+arg(q.From))
	}
	if !q.To.IsZero() {
		where = append(where, "time < "+arg(q.To))
	}
	if q.Before > 0 {
		where = append(where, "id < "+arg(q.Before))
	}
	if q.Limit <= 0 {
		q.Limit = 500
	}
	q.Limit = min(q.Limit, 10000)
	sql := `SELECT ` + auditColumns + ` FROM audit_log`
	if len(where) > 0 {
		sql += " WHERE " + strings.Join(where, " AND ")
	}
	sql += " ORDER BY id DESC LIMIT " + arg(q.Limit)
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, fmt.Errorf("store: audit entries: %w", err)
	}
	out, err := collectAudit(rows)
	if err != nil {
		return nil, fmt.Errorf("store: audit entries: %w", err)
	}
	return out, nil
}
