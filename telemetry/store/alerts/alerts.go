// Package alerts keeps the alert lifecycle's records in the database
// (migrations/0004_alerts.sql, in package store): the alerts with their
// trail (alert_log) and snapshots, the outbox of their deliveries, and the
// rules made through the API. Each step is one transaction with the
// deliveries it queues, so that nothing is delivered that is not stored.
// The records' types are package telemetry's; what opens, folds and
// escalates an alert is telemetry/alert's. It must not know about the
// channels or HTTP.
package alerts

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smarteye/smarteye/telemetry"
)

// Store reads and writes alerts on a connection pool (the store's).
type Store struct {
	pool *pgxpool.Pool
}

// New is the alerts of the database behind pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

var (
	// ErrNotFound: no such row.
	ErrNotFound = telemetry.ErrNotFound
	// ErrTransition: the alert is not in a state that allows the step.
	ErrTransition = telemetry.ErrTransition
	// ErrExists: a row with that id exists.
	ErrExists = telemetry.ErrExists
)

const alertColumns = `id, created_at, updated_at, event_time, received, coalesce(event_id, '00000000-0000-0000-0000-000000000000'), event_kind,
	coalesce(rule_id, ''), rule_name, coalesce(site_id, ''), coalesce(camera_id, ''), coalesce(vehicle_id, ''), coalesce(track_id, 0),
	severity, coalesce(team, ''), coalesce(escalated_team, ''), escalated_at, status, title, coalesce(message, ''), lat, lon,
	occurrences, last_seen, dedup_key,
	EXISTS (SELECT 1 FROM alert_snapshots s WHERE s.alert_id = alerts.id),
	coalesce((SELECT actor FROM alert_log l WHERE l.alert_id = alerts.id ORDER BY l.id DESC LIMIT 1), ''),
	coalesce((SELECT comment FROM alert_log l WHERE l.alert_id = alerts.id ORDER BY l.id DESC LIMIT 1), '')`

func scanAlert(r pgx.Row) (telemetry.Alert, error) {
	var a telemetry.Alert
	var received *time.Time
	var track int64
	err := r.Scan(&a.ID, &a.CreatedAt, &a.UpdatedAt, &a.EventTime, &received, &a.EventID, &a.EventKind,
		&a.RuleID, &a.RuleName, &a.Site, &a.CameraID, &a.VehicleID, &track,
		&a.Severity, &a.Team, &a.EscalatedTeam, &a.EscalatedAt, &a.Status, &a.Title, &a.Message, &a.Lat, &a.Lon,
		&a.Occurrences, &a.LastSeen, &a.DedupKey, &a.Snapshot, &a.Actor, &a.Comment)
	if received != nil {
		a.Received = *received
	}
	a.TrackID = uint64(track)
	if errors.Is(err, pgx.ErrNoRows) {
		err = ErrNotFound
	}
	return a, err
}

// InsertAlert stores a new alert, its opening in the audit trail, its
// snapshot (jpeg may be nil) and its deliveries, in one transaction:
// nothing is delivered that is not stored.
func (s *Store) InsertAlert(ctx context.Context, a *telemetry.Alert, event *telemetry.Event, actor string, jpeg, thumb []byte, outbox telemetry.Outbox) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: insert alert: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	if a.EventID != (telemetry.UUID{}) {
		tag, err := tx.Exec(ctx, `INSERT INTO alert_inputs (event_id, rule_id, alert_id) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING`, [16]byte(a.EventID), a.RuleID, [16]byte(a.ID))
		if err != nil {
			return fmt.Errorf("store: insert alert: %w", err)
		}
		if tag.RowsAffected() == 0 {
			return telemetry.ErrHandled
		}
	}
	ev, _ := json.Marshal(event)
	var track any
	if a.TrackID != 0 {
		track = int64(a.TrackID)
	}
	var received any
	if !a.Received.IsZero() {
		received = a.Received
	}
	err = tx.QueryRow(ctx, `INSERT INTO alerts (id, event_time, received, event_id, event_kind, rule_id, rule_name, site_id, camera_id, vehicle_id, track_id,
			severity, team, status, title, message, lat, lon, dedup_key, occurrences, last_seen, event)
		VALUES ($1, $2, $3, $4, $5, $6, $7, nullif($8, ''), nullif($9, ''), nullif($10, ''), $11, $12, nullif($13, ''), 'open', $14, nullif($15, ''), $16, $17, $18, 1, $19, $20)
		RETURNING created_at, updated_at`,
		[16]byte(a.ID), a.EventTime, received, [16]byte(a.EventID), a.EventKind, a.RuleID, a.RuleName, a.Site, a.CameraID, a.VehicleID, track,
		a.Severity, a.Team, a.Title, a.Message, a.Lat, a.Lon, a.DedupKey, a.LastSeen, ev).Scan(&a.CreatedAt, &a.UpdatedAt)
	if err != nil {
		return fmt.Errorf("store: insert alert: %w", err)
	}
	// The trends count alerts by their event's time (store.RefreshTrends).
	if _, err := tx.Exec(ctx, `INSERT INTO trends_dirty (source, from_time, to_time) VALUES ('alerts', $1, $1)`, a.EventTime); err != nil {
		return fmt.Errorf("store: insert alert: %w", err)
	}
	a.Status, a.Occurrences, a.Snapshot, a.Actor = telemetry.AlertOpen, 1, jpeg != nil, actor
	if _, err := tx.Exec(ctx, `INSERT INTO alert_log (alert_id, time, action, actor, data) VALUES ($1, $2, 'opened', $3, $4)`,
		[16]byte(a.ID), a.CreatedAt, actor, map[string]any{"event_id": a.EventID.String(), "event_kind": a.EventKind}); err != nil {
		return fmt.Errorf("store: insert alert: log: %w", err)
	}
	if jpeg != nil {
		if _, err := tx.Exec(ctx, `INSERT INTO alert_snapshots (alert_id, jpeg, thumb) VALUES ($1, $2, $3)`, [16]byte(a.ID), jpeg, thumb); err != nil {
			return fmt.Errorf("store: insert alert: snapshot: %w", err)
		}
	}
	if err := queue(ctx, tx, outbox, a, "opened"); err != nil {
		return err
	}
	return tx.Commit(ctx)
}

func queue(ctx context.Context, tx pgx.Tx, outbox telemetry.Outbox, a *telemetry.Alert, action string) error {
	if outbox == nil {
		return nil
	}
	for _, d := range outbox(a, action) {
		if _, err := tx.Exec(ctx, `INSERT INTO alert_outbox (delivery_id, alert_id, channel, action, payload) VALUES ($1, $2, $3, $4, $5)`,
			[16]byte(d.DeliveryID), [16]byte(a.ID), d.Channel, action, d.Payload); err != nil {
			return fmt.Errorf("store: outbox: %w", err)
		}
	}
	return nil
}

// FoldAlerts counts further matches on their alerts.
func (s *Store) FoldAlerts(ctx context.Context, folds []telemetry.AlertFold) error {
	if len(folds) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: fold alerts: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	ids, ns, lasts := make([][16]byte, len(folds)), make([]int64, len(folds)), make([]time.Time, len(folds))
	for i, f := range folds {
		ids[i], ns[i], lasts[i] = f.ID, f.N, f.Last
		if len(f.Events) == 0 {
			continue
		}
		// Events counted before (delivered again) are not counted again.
		evs := make([][16]byte, len(f.Events))
		for j, e := range f.Events {
			evs[j] = e
		}
		tag, err := tx.Exec(ctx, `INSERT INTO alert_inputs (event_id, rule_id, alert_id)
			SELECT e, a.rule_id, a.id FROM unnest($1::uuid[]) AS e, alerts a WHERE a.id = $2 ON CONFLICT DO NOTHING`, evs, [16]byte(f.ID))
		if err != nil {
			return fmt.Errorf("store: fold alerts: %w", err)
		}
		ns[i] -= int64(len(f.Events)) - tag.RowsAffected()
	}
	if _, err := tx.Exec(ctx, `UPDATE alerts a SET occurrences = a.occurrences + f.n, last_seen = greatest(a.last_seen, f.last)
		FROM unnest($1::uuid[], $2::bigint[], $3::timestamptz[]) AS f(id, n, last) WHERE a.id = f.id AND f.n > 0`, ids, ns, lasts); err != nil {
		return fmt.Errorf("store: fold alerts: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("store: fold alerts: %w", err)
	}
	return nil
}

// allowed are the lifecycle's steps: status → the statuses it may go to.
var allowed = map[string][]string{
	telemetry.AlertOpen:         {telemetry.AlertAcknowledged, telemetry.AlertDismissed},
	telemetry.AlertAcknowledged: {telemetry.AlertResolved, telemetry.AlertDismissed},
}

// TransitionAlert moves an alert to status to, by actor with comment, in
// one transaction with its audit row and deliveries. ErrNotFound or
// ErrTransition (wrapped, naming the current status) leave it unchanged.
func (s *Store) TransitionAlert(ctx context.Context, id telemetry.UUID, to, actor, comment string, outbox telemetry.Outbox) (telemetry.Alert, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: alert step: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	var status string
	if err := tx.QueryRow(ctx, `SELECT status FROM alerts WHERE id = $1 FOR UPDATE`, [16]byte(id)).Scan(&status); err != nil {
		if errors.Is(err, pgx.ErrNoRows) {
			return telemetry.Alert{}, ErrNotFound
		}
		return telemetry.Alert{}, fmt.Errorf("store: alert step: %w", err)
	}
	ok := false
	for _, x := range allowed[status] {
		ok = ok || x == to
	}
	if !ok {
		return telemetry.Alert{}, fmt.Errorf("%w: it is %s", ErrTransition, status)
	}
	if _, err := tx.Exec(ctx, `UPDATE alerts SET status = $2, updated_at = now() WHERE id = $1`, [16]byte(id), to); err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: alert step: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alert_log (alert_id, action, actor, comment, data) VALUES ($1, $2, $3, nullif($4, ''), $5)`,
		[16]byte(id), to, actor, comment, map[string]any{"from": status}); err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: alert step: log: %w", err)
	}
	return finishStep(ctx, tx, id, outbox, to)
}

// finishStep reads the alert back as the step left it, queues the step's
// deliveries and commits: what a channel gets is what was stored.
func finishStep(ctx context.Context, tx pgx.Tx, id telemetry.UUID, outbox telemetry.Outbox, action string) (telemetry.Alert, error) {
	a, err := scanAlert(tx.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, [16]byte(id)))
	if err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: alert %s: %w", action, err)
	}
	if err := queue(ctx, tx, outbox, &a, action); err != nil {
		return telemetry.Alert{}, err
	}
	return a, tx.Commit(ctx)
}

// EscalateAlert hands a still-open, not yet escalated alert to team;
// ErrTransition when it was acknowledged or escalated meanwhile.
func (s *Store) EscalateAlert(ctx context.Context, id telemetry.UUID, team, comment string, outbox telemetry.Outbox) (telemetry.Alert, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: escalate: %w", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	tag, err := tx.Exec(ctx, `UPDATE alerts SET escalated_team = nullif($2, ''), escalated_at = now(), updated_at = now()
		WHERE id = $1 AND status = 'open' AND escalated_at IS NULL`, [16]byte(id), team)
	if err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: escalate: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return telemetry.Alert{}, ErrTransition
	}
	if _, err := tx.Exec(ctx, `INSERT INTO alert_log (alert_id, action, actor, comment, data) VALUES ($1, 'escalated', 'system', $2, $3)`,
		[16]byte(id), comment, map[string]any{"team": team}); err != nil {
		return telemetry.Alert{}, fmt.Errorf("store: escalate: log: %w", err)
	}
	return finishStep(ctx, tx, id, outbox, "escalated")
}

// Unescalated lists open alerts created before before that were never
// escalated (the escalation candidates), oldest first.
func (s *Store) Unescalated(ctx context.Context, before time.Time) ([]telemetry.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts WHERE status = 'open' AND escalated_at IS NULL AND created_at <= $1 ORDER BY created_at LIMIT 1000`, before)
	if err != nil {
		return nil, fmt.Errorf("store: unescalated alerts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (telemetry.Alert, error) { return scanAlert(r) })
}

// Alerts lists alerts newest first.
func (s *Store) Alerts(ctx context.Context, q telemetry.AlertQuery) ([]telemetry.Alert, error) {
	if q.Limit <= 0 {
		q.Limit = 500
	}
	var from, to any
	if !q.From.IsZero() {
		from = q.From
	}
	if !q.To.IsZero() {
		to = q.To
	}
	if q.Status == nil {
		q.Status = []string{}
	}
	rows, err := s.pool.Query(ctx, `SELECT `+alertColumns+` FROM alerts
		WHERE (cardinality($1::text[]) = 0 OR status = ANY($1))
		  AND ($2 = '' OR team = $2 OR escalated_team = $2)
		  AND ($3::timestamptz IS NULL OR created_at >= $3) AND ($4::timestamptz IS NULL OR created_at < $4)
		ORDER BY created_at DESC LIMIT $5`, q.Status, q.Team, from, to, q.Limit)
	if err != nil {
		return nil, fmt.Errorf("store: alerts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (telemetry.Alert, error) { return scanAlert(r) })
}

// Alert returns one alert, or ErrNotFound.
func (s *Store) Alert(ctx context.Context, id telemetry.UUID) (telemetry.Alert, error) {
	a, err := scanAlert(s.pool.QueryRow(ctx, `SELECT `+alertColumns+` FROM alerts WHERE id = $1`, [16]byte(id)))
	if err != nil && !errors.Is(err, ErrNotFound) {
		err = fmt.Errorf("store: alert: %w", err)
	}
	return a, err
}

// AlertLog is an alert's audit trail, oldest first.
func (s *Store) AlertLog(ctx context.Context, id telemetry.UUID) ([]telemetry.AlertStep, error) {
	rows, err := s.pool.Query(ctx, `SELECT time, action, actor, coalesce(comment, ''), data FROM alert_log WHERE alert_id = $1 ORDER BY id`, [16]byte(id))
	if err != nil {
		return nil, fmt.Errorf("store: alert log: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (telemetry.AlertStep, error) {
		var st telemetry.AlertStep
		var data []byte
		err := r.Scan(&st.Time, &st.Action, &st.Actor, &st.Comment, &data)
		st.Data = data
		return st, err
	})
}

// AlertDeliveries lists an alert's deliveries, oldest first.
func (s *Store) AlertDeliveries(ctx context.Context, id telemetry.UUID) ([]telemetry.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM alert_outbox WHERE alert_id = $1 ORDER BY id`, [16]byte(id))
	if err != nil {
		return nil, fmt.Errorf("store: deliveries: %w", err)
	}
	return pgx.CollectRows(rows, scanDelivery)
}

// AlertSnapshot returns an alert's JPEG (or its small copy), or ErrNotFound.
func (s *Store) AlertSnapshot(ctx context.Context, id telemetry.UUID, thumb bool) ([]byte, error) {
	var b []byte
	err := s.pool.QueryRow(ctx, `SELECT CASE WHEN $2 THEN coalesce(thumb, jpeg) ELSE jpeg END FROM alert_snapshots WHERE alert_id = $1`, [16]byte(id), thumb).Scan(&b)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("store: snapshot: %w", err)
	}
	return b, nil
}

// RecentAlerts lists the newest alert of every dedup key matched since
// since: the cooldowns to restore after a restart.
func (s *Store) RecentAlerts(ctx context.Context, since time.Time) ([]telemetry.Alert, error) {
	rows, err := s.pool.Query(ctx, `SELECT DISTINCT ON (dedup_key) `+alertColumns+` FROM alerts
		WHERE last_seen >= $1 AND dedup_key <> '' ORDER BY dedup_key, created_at DESC`, since)
	if err != nil {
		return nil, fmt.Errorf("store: recent alerts: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (telemetry.Alert, error) { return scanAlert(r) })
}

const deliveryColumns = `id, delivery_id, alert_id, channel, action, payload, status, attempts, next_attempt, coalesce(last_error, ''), created_at, delivered_at`

func scanDelivery(r pgx.CollectableRow) (telemetry.Delivery, error) {
	var d telemetry.Delivery
	err := r.Scan(&d.ID, &d.DeliveryID, &d.AlertID, &d.Channel, &d.Action, &d.Payload, &d.Status, &d.Attempts, &d.NextAttempt, &d.LastError, &d.CreatedAt, &d.DeliveredAt)
	return d, err
}

// DueDeliveries lists up to limit pending deliveries whose time has come,
// oldest first, leaving out any with an earlier step of the same alert
// still pending on the same channel (a channel gets an alert's steps in
// order).
func (s *Store) DueDeliveries(ctx context.Context, limit int) ([]telemetry.Delivery, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+deliveryColumns+` FROM alert_outbox o
		WHERE status = 'pending' AND next_attempt <= now()
		  AND NOT EXISTS (SELECT 1 FROM alert_outbox p WHERE p.alert_id = o.alert_id AND p.channel = o.channel AND p.id < o.id AND p.status = 'pending')
		ORDER BY id LIMIT $1`, limit)
	if err != nil {
		return nil, fmt.Errorf("store: due deliveries: %w", err)
	}
	return pgx.CollectRows(rows, scanDelivery)
}

// PendingDeliveries counts the deliveries not yet taken by their channel.
func (s *Store) PendingDeliveries(ctx context.Context) (int, error) {
	var n int
	err := s.pool.QueryRow(ctx, `SELECT count(*) FROM alert_outbox WHERE status = 'pending'`).Scan(&n)
	return n, err
}

// MarkDelivered records that a channel took a delivery.
func (s *Store) MarkDelivered(ctx context.Context, id int64, attempts int) error {
	_, err := s.pool.Exec(ctx, `UPDATE alert_outbox SET status = 'delivered', attempts = $2, delivered_at = now(), last_error = NULL WHERE id = $1`, id, attempts)
	if err != nil {
		return fmt.Errorf("store: mark delivered: %w", err)
	}
	return nil
}

// MarkFailed records a failed attempt and when to try again.
func (s *Store) MarkFailed(ctx context.Context, id int64, attempts int, next time.Time, reason string) error {
	if len(reason) > 500 {
		reason = reason[:500]
	}
	_, err := s.pool.Exec(ctx, `UPDATE alert_outbox SET attempts = $2, next_attempt = $3, last_error = $4 WHERE id = $1`, id, attempts, next, reason)
	if err != nil {
		return fmt.Errorf("store: mark failed: %w", err)
	}
	return nil
}

// AlertRules returns the rules made through the API, as stored (JSON).
func (s *Store) AlertRules(ctx context.Context) ([]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT rule FROM alert_rules ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: rules: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (json.RawMessage, error) {
		var b []byte
		err := r.Scan(&b)
		return b, err
	})
}

// PutAlertRule stores a rule; create refuses an existing id (ErrExists),
// otherwise a missing one is ErrNotFound.
func (s *Store) PutAlertRule(ctx context.Context, id string, rule []byte, create bool) error {
	var tag interface{ RowsAffected() int64 }
	var err error
	if create {
		tag, err = s.pool.Exec(ctx, `INSERT INTO alert_rules (id, rule) VALUES ($1, $2) ON CONFLICT (id) DO NOTHING`, id, rule)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrExists
		}
	} else {
		tag, err = s.pool.Exec(ctx, `UPDATE alert_rules SET rule = $2, updated_at = now() WHERE id = $1`, id, rule)
		if err == nil && tag.RowsAffected() == 0 {
			return ErrNotFound
		}
	}
	if err != nil {
		return fmt.Errorf("store: put rule: %w", err)
	}
	return nil
}

// DeleteAlertRule removes a rule, or returns ErrNotFound.
func (s *Store) DeleteAlertRule(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM alert_rules WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("store: delete rule: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return ErrNotFound
	}
	return nil
}
