package store

import (
	"context"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/accounts"
	"github.com/smarteye/smarteye/telemetry/store/alerts"
	"github.com/smarteye/smarteye/telemetry/store/history"
)

// The repositories of the sub-packages, embedded in Store on its pool so
// that a *Store keeps implementing the small interfaces that the other
// packages declare (the dashboard's History and AccountStore, the alert
// engine's Store, ...).
type (
	alertRepo   = alerts.Store   // the alerts, their trail, deliveries and rules
	accountRepo = accounts.Store // accounts, API tokens, logins and the audit log
	historyRepo = history.Store  // tracks, events, detections, vehicles and recordings read back
)

// The records of the repositories, by the names they have always had here.
type (
	Account      = accounts.Account
	APIToken     = accounts.APIToken
	LoginSession = accounts.LoginSession
	AuditEntry   = accounts.AuditEntry
	AuditQuery   = accounts.AuditQuery

	TrackPoint      = history.TrackPoint
	VehicleRecord   = history.VehicleRecord
	EventQuery      = history.EventQuery
	EventRecord     = history.EventRecord
	DetectionQuery  = history.DetectionQuery
	DetectionRecord = history.DetectionRecord
	PlacedDetection = history.PlacedDetection
	TrendQuery      = history.TrendQuery
	TrendSeries     = history.TrendSeries

	// The alert lifecycle's records (telemetry's).
	Delivery   = telemetry.Delivery
	AlertStep  = telemetry.AlertStep
	AlertQuery = telemetry.AlertQuery
	Fold       = telemetry.AlertFold
	Outbox     = telemetry.Outbox
)

var (
	// ErrNotFound: no such row.
	ErrNotFound = telemetry.ErrNotFound
	// ErrExists: a row with that id exists.
	ErrExists = telemetry.ErrExists
	// ErrTransition: the alert is not in a state that allows the step.
	ErrTransition = telemetry.ErrTransition
	// ErrRange is returned for a time range that is empty or reversed.
	ErrRange = history.ErrRange
)

// audit writes an audit row in tx (a supervision session's change).
func audit(ctx context.Context, tx pgx.Tx, e AuditEntry) error { return accounts.AuditTx(ctx, tx, e) }
