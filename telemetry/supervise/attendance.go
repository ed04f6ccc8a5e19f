package supervise

import (
	"context"
	"time"
)

// An attendance curve has about attendancePoints steps of at least
// minAttendanceStep.
const (
	attendancePoints  = 240
	minAttendanceStep = 5 * time.Second
)

// Attendance is a session's attendance curve: distinct people in the
// meeting zone per step.
type Attendance struct {
	Camera string            `json:"camera_id"`
	Zone   [][2]float64      `json:"zone"`
	From   time.Time         `json:"from"`
	To     time.Time         `json:"to"`
	Step   float64           `json:"step_seconds"`
	Points []AttendancePoint `json:"points"`
	Peak   int               `json:"peak"`
}

// Counter counts the distinct people tracked in a camera's zone per bucket
// of time (the store implements it).
type Counter interface {
	Attendance(ctx context.Context, camera string, zone [][2]float64, from, to time.Time, bucket time.Duration) ([]AttendancePoint, error)
}

// AttendanceOf is x's curve so far (to now while it is live), in steps of
// step; 0 chooses one.
func AttendanceOf(ctx context.Context, c Counter, x Session, step time.Duration, now time.Time) (Attendance, error) {
	from, to := x.Span(now)
	if to.After(now) {
		to = now
	}
	a := Attendance{Camera: x.ZoneCamera, Zone: x.Zone, From: from, To: to, Points: []AttendancePoint{}}
	if len(x.Zone) < 3 || x.State == Scheduled || !to.After(from) {
		return a, nil
	}
	if step <= 0 {
		step = max(minAttendanceStep, (to.Sub(from) / attendancePoints).Round(time.Second))
	}
	a.Step = step.Seconds()
	pts, err := c.Attendance(ctx, x.ZoneCamera, x.Zone, from, to, step)
	if err != nil {
		return a, err
	}
	a.Points = pts
	for _, p := range pts {
		a.Peak = max(a.Peak, p.People)
	}
	return a, nil
}
