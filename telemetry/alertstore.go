package telemetry

import (
	"encoding/json"
	"errors"
	"time"
)

// The alert lifecycle's records, as the store keeps them and the alert
// engine and the API read them.

// Errors of the alert lifecycle's store.
var (
	// ErrNotFound: no such alert, rule or row.
	ErrNotFound = errors.New("not found")
	// ErrExists: a rule with that id exists already.
	ErrExists = errors.New("already exists")
	// ErrTransition: the alert is not in a state that allows the step.
	ErrTransition = errors.New("not allowed from the alert's state")
)

// Delivery is one alert step for one channel, in the outbox.
type Delivery struct {
	ID          int64      `json:"-"`
	DeliveryID  UUID       `json:"delivery_id"`
	AlertID     UUID       `json:"alert_id"`
	Channel     string     `json:"channel"`
	Action      string     `json:"action"`
	Payload     []byte     `json:"-"`
	Status      string     `json:"status"`
	Attempts    int        `json:"attempts"`
	NextAttempt time.Time  `json:"next_attempt"`
	LastError   string     `json:"last_error,omitempty"`
	CreatedAt   time.Time  `json:"created_at"`
	DeliveredAt *time.Time `json:"delivered_at,omitempty"`
}

// AlertStep is one row of an alert's audit trail.
type AlertStep struct {
	Time    time.Time       `json:"time"`
	Action  string          `json:"action"`
	Actor   string          `json:"actor"`
	Comment string          `json:"comment,omitempty"`
	Data    json.RawMessage `json:"data,omitempty"`
}

// AlertQuery selects alerts; zero fields select all.
type AlertQuery struct {
	Status   []string
	Team     string // the alert's team or the team it was escalated to
	From, To time.Time
	Limit    int
}

// AlertFold counts n more matches on an alert, the latest at Last.
type AlertFold struct {
	ID   UUID
	N    int64
	Last time.Time
	// Events are the folded events' ids, where they have one: an event
	// counted before (delivered again) is not counted again. N counts
	// every match, these and those without an event id.
	Events []UUID
}

// ErrHandled is an event already turned into an alert by the same rule
// (delivered again): nothing was stored.
var ErrHandled = errors.New("event already handled")

// Outbox makes an alert step's deliveries from the alert as it is after
// the step (inside the step's transaction).
type Outbox func(a *Alert, action string) []Delivery
