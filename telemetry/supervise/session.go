package supervise

import "time"

// Session states.
const (
	Scheduled = "scheduled"
	Live      = "live"
	Ended     = "ended"
)

// Session is a supervision session: a meeting or an inspection at a
// project site that supervisors attend remotely.
type Session struct {
	ID      string   `json:"id"`
	Site    string   `json:"site_id"`
	Title   string   `json:"title"`
	Kind    string   `json:"kind"` // meeting, inspection
	Cameras []string `json:"cameras"`
	// ZoneCamera's Zone (pixels of its picture) is where attendance is
	// counted; none counts nobody.
	ZoneCamera string       `json:"zone_camera,omitempty"`
	Zone       [][2]float64 `json:"zone,omitempty"`
	Start      time.Time    `json:"start"` // scheduled
	End        time.Time    `json:"end"`
	Invited    []string     `json:"invited"` // user names
	State      string       `json:"state"`
	StartedAt  *time.Time   `json:"started_at,omitempty"`
	EndedAt    *time.Time   `json:"ended_at,omitempty"`
	CreatedBy  string       `json:"created_by"`
	CreatedAt  time.Time    `json:"created_at"`
	UpdatedAt  time.Time    `json:"updated_at"`
}

// Span is what the session covers: from its start (or the moment it went
// live, when earlier) to its end (or the moment it ended, or now while it
// is live past its end).
func (s Session) Span(now time.Time) (from, to time.Time) {
	from, to = s.Start, s.End
	if s.StartedAt != nil && s.StartedAt.Before(from) {
		from = *s.StartedAt
	}
	switch {
	case s.EndedAt != nil:
		to = *s.EndedAt
	case s.State == Live && now.After(to):
		to = now
	}
	return from, to
}

// Remark is a supervisor's timestamped note on a session.
type Remark struct {
	ID          int64     `json:"id"`
	Session     string    `json:"session_id"`
	At          time.Time `json:"at"` // the moment it is about
	Author      string    `json:"author"`
	Body        string    `json:"body"`
	Camera      string    `json:"camera_id,omitempty"`
	HasSnapshot bool      `json:"has_snapshot"`
	CreatedAt   time.Time `json:"created_at"`
}

// Query selects sessions: those overlapping [From, To) when set, in State
// when set, not ended when Open, visible to User when set (invited, or
// created by them), newest first, at most Limit.
type Query struct {
	From, To time.Time
	State    string
	Open     bool
	User     string
	Limit    int
}

// Change is who changes a session and how: the store writes it on the
// audit log in the change's transaction.
type Change struct {
	Actor string
	// Action is "session.update", "session.live", "session.ended"…; the
	// store sets it where the change says it (a new session, a remark).
	Action     string
	RemoteAddr string
}

// AttendancePoint is how many distinct people were in a zone during a
// bucket of time.
type AttendancePoint struct {
	Time   time.Time `json:"t"` // the bucket's start
	People int       `json:"people"`
}
