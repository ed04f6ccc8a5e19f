package supervise

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// What a session may hold.
const (
	MaxLength     = 24 * time.Hour // from start to end
	maxCameras    = 16
	maxInvited    = 64
	maxZonePoints = 64
	maxTitleRunes = 200
)

// InvalidError is a session the rules refuse; its text says why, for the
// person who asked.
type InvalidError struct{ Err error }

func (e *InvalidError) Error() string { return e.Err.Error() }
func (e *InvalidError) Unwrap() error { return e.Err }

func invalidf(format string, args ...any) error {
	return &InvalidError{fmt.Errorf(format, args...)}
}

// Fields are what a client sets on a session; nil fields are left as they
// are.
type Fields struct {
	Site       *string       `json:"site_id"`
	Title      *string       `json:"title"`
	Kind       *string       `json:"kind"`
	Cameras    *[]string     `json:"cameras"`
	ZoneCamera *string       `json:"zone_camera"`
	Zone       *[][2]float64 `json:"zone"`
	Start      *time.Time    `json:"start"`
	End        *time.Time    `json:"end"`
	Invited    *[]string     `json:"invited"`
	// State is "live" (start now) or "ended" (end now).
	State *string `json:"state"`
}

// Names says what a session may name: Sites lists the sites (the first is
// a new session's; nil when there are none to check against, and then any
// site goes), Camera whether a camera exists, User whether a name may be
// a user's.
type Names struct {
	Sites  func() []string
	Camera func(id string) bool
	User   func(name string) bool
}

// NewSession is the session f schedules at now for createdBy: a meeting,
// from now, for an hour, unless f says otherwise.
func NewSession(f Fields, createdBy string, n Names, now time.Time) (Session, error) {
	if f.State != nil {
		return Session{}, invalidf("state: a new session is scheduled; PATCH it to start it by hand")
	}
	if f.Kind == nil {
		f.Kind = new("meeting")
	}
	if f.Start == nil {
		f.Start = &now
	}
	if f.End == nil && f.Start != nil {
		f.End = new(f.Start.Add(time.Hour))
	}
	x, err := f.apply(Session{State: Scheduled, CreatedBy: createdBy}, n)
	if err != nil {
		return x, err
	}
	if !x.End.After(now) {
		return x, invalidf("end: the session would be over already")
	}
	return x, nil
}

// Patch is cur changed by f at now: its fields, and its state when f
// starts or ends it. A change its state does not allow is ErrState.
func Patch(cur Session, f Fields, n Names, now time.Time) (Session, error) {
	if cur.State == Ended {
		return cur, fmt.Errorf("%w: the session has ended and is on the record as it was", ErrState)
	}
	x, err := f.apply(cur, n)
	if err != nil {
		return cur, err
	}
	if cur.State == Live && !x.Start.Equal(cur.Start) {
		return cur, fmt.Errorf("%w: a live session's start cannot move", ErrState)
	}
	if f.State != nil {
		if *f.State != Live && *f.State != Ended {
			return cur, invalidf("state: %q is not live or ended", *f.State)
		}
		if x, err = Transition(x, *f.State, now); err != nil {
			return cur, err
		}
		if x.State == Live && !now.Before(x.End) {
			return cur, invalidf("end: the session would be over already; move its end first")
		}
	}
	return x, nil
}

// apply sets f's fields on x and checks the result.
func (f Fields) apply(x Session, n Names) (Session, error) {
	set := func(dst *string, src *string) {
		if src != nil {
			*dst = strings.TrimSpace(*src)
		}
	}
	set(&x.Site, f.Site)
	set(&x.Title, f.Title)
	set(&x.Kind, f.Kind)
	set(&x.ZoneCamera, f.ZoneCamera)
	if f.Cameras != nil {
		if len(*f.Cameras) > maxCameras {
			return x, invalidf("cameras: at most %d", maxCameras)
		}
		x.Cameras = []string{}
		for _, c := range *f.Cameras {
			if !slices.Contains(x.Cameras, c) {
				x.Cameras = append(x.Cameras, c) // in the order given, each once
			}
		}
	}
	if f.Zone != nil {
		x.Zone = *f.Zone
	}
	if f.Start != nil {
		x.Start = f.Start.UTC()
	}
	if f.End != nil {
		x.End = f.End.UTC()
	}
	if f.Invited != nil {
		if len(*f.Invited) > maxInvited {
			return x, invalidf("invited: at most %d people", maxInvited)
		}
		x.Invited = slices.Clone(*f.Invited)
		slices.Sort(x.Invited)
		x.Invited = slices.Compact(x.Invited)
	}
	if x.Cameras == nil {
		x.Cameras = []string{}
	}
	if x.Invited == nil {
		x.Invited = []string{}
	}
	switch n := utf8.RuneCountInString(x.Title); {
	case n == 0 || n > maxTitleRunes || !utf8.ValidString(x.Title):
		return x, invalidf("title: 1 to %d characters", maxTitleRunes)
	}
	if x.Kind != "meeting" && x.Kind != "inspection" {
		return x, invalidf("kind: %q is not meeting or inspection", x.Kind)
	}
	if n.Sites != nil {
		sites := n.Sites()
		if x.Site == "" && len(sites) > 0 {
			x.Site = sites[0]
		}
		if !slices.Contains(sites, x.Site) {
			return x, invalidf("site_id: no site %q", x.Site)
		}
	}
	if len(x.Cameras) > maxCameras {
		return x, invalidf("cameras: at most %d", maxCameras)
	}
	for _, c := range x.Cameras {
		if n.Camera == nil || !n.Camera(c) {
			return x, invalidf("cameras: no camera %q", c)
		}
	}
	if x.ZoneCamera != "" && !slices.Contains(x.Cameras, x.ZoneCamera) {
		return x, invalidf("zone_camera: %q is not one of the session's cameras", x.ZoneCamera)
	}
	if len(x.Zone) > 0 {
		if x.ZoneCamera == "" {
			return x, invalidf("zone: needs zone_camera, the camera whose picture it is drawn on")
		}
		if len(x.Zone) < 3 || len(x.Zone) > maxZonePoints {
			return x, invalidf("zone: 3 to %d points [x, y] in the camera's pixels", maxZonePoints)
		}
		for _, p := range x.Zone {
			for _, v := range p {
				if math.IsNaN(v) || v < 0 || v > 1e5 {
					return x, invalidf("zone: points are pixels, 0 to 100000")
				}
			}
		}
	}
	if x.Start.IsZero() || x.End.IsZero() || !x.End.After(x.Start) || x.End.Sub(x.Start) > MaxLength {
		return x, invalidf("start and end: RFC 3339 times, end after start, at most %s apart", MaxLength)
	}
	if len(x.Invited) > maxInvited {
		return x, invalidf("invited: at most %d people", maxInvited)
	}
	for _, u := range x.Invited {
		if n.User != nil && !n.User(u) {
			return x, invalidf("invited: %q is not a user name", u)
		}
	}
	return x, nil
}
