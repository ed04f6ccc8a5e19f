package telemetry

import "time"

// Alert statuses: open → acknowledged → resolved, or dismissed from open
// or acknowledged.
const (
	AlertOpen         = "open"
	AlertAcknowledged = "acknowledged"
	AlertResolved     = "resolved"
	AlertDismissed    = "dismissed"
)

// Alert severities.
const (
	SeverityInfo     = "info"
	SeverityWarning  = "warning"
	SeverityCritical = "critical"
)

// Alert is an event a rule decided a human must see, as the API and the
// live feed show it.
type Alert struct {
	ID        UUID      `json:"id"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
	// EventTime is when the triggering event happened (for a video event,
	// the frame's capture time); Received is when that frame or message
	// reached smarteye (zero when unknown).
	EventTime time.Time `json:"event_time"`
	Received  time.Time `json:"received,omitzero"`
	EventID   UUID      `json:"event_id"`
	EventKind string    `json:"event_kind"`
	RuleID    string    `json:"rule_id"`
	RuleName  string    `json:"rule_name"`
	Site      string    `json:"site,omitempty"`
	CameraID  string    `json:"camera_id,omitempty"`
	VehicleID string    `json:"vehicle_id,omitempty"`
	TrackID   uint64    `json:"track_id,omitempty"`
	Severity  string    `json:"severity"`
	Team      string    `json:"team,omitempty"`
	// EscalatedTeam is the team the alert went to when nobody acknowledged
	// it in time ("" when it has not been escalated).
	EscalatedTeam string     `json:"escalated_team,omitempty"`
	EscalatedAt   *time.Time `json:"escalated_at,omitempty"`
	Status        string     `json:"status"`
	Title         string     `json:"title"`
	Message       string     `json:"message,omitempty"`
	Lat           *float64   `json:"lat,omitempty"`
	Lon           *float64   `json:"lon,omitempty"`
	// Occurrences counts the matching events folded into this alert by the
	// rule's cooldown (1: the triggering event alone); LastSeen is the
	// latest of them.
	Occurrences int64     `json:"occurrences"`
	LastSeen    time.Time `json:"last_seen"`
	// DedupKey is the rule and subject (camera zone, fence, vehicle) whose
	// later matches fold into this alert.
	DedupKey string `json:"dedup_key"`
	// Snapshot is whether a JPEG of the triggering frame is kept.
	Snapshot bool `json:"snapshot"`
	// Actor, Comment: who made the latest change and what they said.
	Actor   string `json:"actor,omitempty"`
	Comment string `json:"comment,omitempty"`
}

// Closed reports whether the alert needs nothing more from anyone.
func (a *Alert) Closed() bool { return a.Status == AlertResolved || a.Status == AlertDismissed }

// PublishAlert sends an alert's new state to every subscriber.
func (h *Hub) PublishAlert(a Alert) {
	h.fanOut(Update{Type: "alert", Alert: &a})
	h.published.WithLabelValues("alert").Inc()
}
