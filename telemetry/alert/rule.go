package alert

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Conditions a rule can watch for.
const (
	// CondIntrusion: a tracked object of the rule's classes entered one of
	// its zones (camera image zones) or geofences (zone.enter,
	// geofence.enter), seen with at least MinConfidence.
	CondIntrusion = "intrusion"
	// CondCrowd: MinCount or more inside a camera zone for For.
	CondCrowd = "crowd"
	// CondDwell: one object inside a zone or geofence for For (loitering).
	CondDwell = "dwell"
	// CondGeofenceBreach: a vehicle broke a keep-out or keep-in geofence.
	CondGeofenceBreach = "geofence_breach"
	// CondLowBattery: a vehicle's battery fell below BatteryBelow percent.
	CondLowBattery = "low_battery"
	// CondLinkLost: a vehicle's telemetry link was lost (and, with For,
	// not regained within it).
	CondLinkLost = "link_lost"
	// CondStreamDown: a camera's stream went down (and, with For, stayed
	// down that long).
	CondStreamDown = "stream_down"
	// CondCrowdForecast: a camera zone's forecast crowd (the most inside
	// at once, from its own history: zone.forecast events) reaches
	// MinCount within the next Within, before it happens. It matches once
	// as a forecast crosses MinCount, and again only after a forecast
	// below it.
	CondCrowdForecast = "crowd_forecast"
)

var conditions = []string{CondIntrusion, CondCrowd, CondDwell, CondGeofenceBreach, CondLowBattery, CondLinkLost, CondStreamDown, CondCrowdForecast}

// DefaultWithin is how far ahead a crowd_forecast rule looks when it names
// no Within.
const DefaultWithin = time.Hour

// WithinOr is how far ahead a crowd_forecast rule looks.
func (r *Rule) WithinOr() time.Duration {
	if r.Within > 0 {
		return time.Duration(r.Within)
	}
	return DefaultWithin
}

// DefaultCooldown is a rule's cooldown when it names none.
const DefaultCooldown = 2 * time.Minute

// Rule decides which events become alerts.
type Rule struct {
	// ID is the rule's stable name in URLs and alerts: letters, digits,
	// '-' and '_', at most 64.
	ID   string `json:"id" yaml:"id"`
	Name string `json:"name" yaml:"name"`
	// Disabled rules are kept but match nothing.
	Disabled  bool   `json:"disabled,omitempty" yaml:"disabled"`
	Condition string `json:"condition" yaml:"condition"`

	// Site, Cameras, Vehicles, Zones and Classes narrow what the rule
	// watches; empty means any. Zones are camera zone names or geofence
	// ids (or names).
	Site     string   `json:"site,omitempty" yaml:"site"`
	Cameras  []string `json:"cameras,omitempty" yaml:"cameras"`
	Vehicles []string `json:"vehicles,omitempty" yaml:"vehicles"`
	Zones    []string `json:"zones,omitempty" yaml:"zones"`
	Classes  []string `json:"classes,omitempty" yaml:"classes"`
	// MinConfidence (0..1) is the detector confidence an intrusion needs.
	MinConfidence float64 `json:"min_confidence,omitempty" yaml:"min_confidence"`
	// MinCount is a crowd's size.
	MinCount int `json:"min_count,omitempty" yaml:"min_count"`
	// For is how long a crowd or a dwell must last, or a lost link or a
	// stream stay down, before the rule matches.
	For Duration `json:"for,omitempty" yaml:"for"`
	// BatteryBelow is the low-battery threshold, percent.
	BatteryBelow float64 `json:"battery_below,omitempty" yaml:"battery_below"`
	// Within is how far ahead a crowd_forecast rule looks (default 1h,
	// at most 72h).
	Within Duration `json:"within,omitempty" yaml:"within"`

	// Severity is info, warning (the default) or critical.
	Severity string `json:"severity,omitempty" yaml:"severity"`
	// Team receives the alert (the field page shows a team its own).
	Team string `json:"team,omitempty" yaml:"team"`
	// Cooldown: a match within this long of the previous one for the same
	// rule and subject (a camera's zone, a fence, a vehicle) is counted on
	// the same alert instead of opening another. It defaults to 2 minutes;
	// "0s" opens an alert for every match.
	Cooldown *Duration `json:"cooldown,omitempty" yaml:"cooldown"`
	// Schedule limits when the rule is active (e.g. nights only); the zero
	// schedule is always.
	Schedule Schedule `json:"schedule,omitzero" yaml:"schedule"`
	// Escalation hands an alert nobody acknowledged on.
	Escalation Escalation `json:"escalation,omitzero" yaml:"escalation"`
	// Channels names the delivery channels that get this rule's alerts;
	// empty: every channel.
	Channels []string `json:"channels,omitempty" yaml:"channels"`

	// Source is "config" for rules from the configuration file (read-only
	// through the API) or "api".
	Source string `json:"source,omitempty" yaml:"-"`
}

// Schedule is when a rule is active: on Days (mon … sun; empty: every
// day) between From and To (HH:MM, local time in Timezone; To before From
// runs over midnight and belongs to the day it starts on).
type Schedule struct {
	Days     []string `json:"days,omitempty" yaml:"days"`
	From     string   `json:"from,omitempty" yaml:"from"`
	To       string   `json:"to,omitempty" yaml:"to"`
	Timezone string   `json:"timezone,omitempty" yaml:"timezone"`

	loc      *time.Location
	from, to int // minutes after midnight
	days     uint8
}

// IsZero reports an always-active schedule.
func (s Schedule) IsZero() bool {
	return len(s.Days) == 0 && s.From == "" && s.To == "" && s.Timezone == ""
}

// Escalation hands an alert still open after After to Team and Channels.
type Escalation struct {
	After    Duration `json:"after,omitempty" yaml:"after"`
	Team     string   `json:"team,omitempty" yaml:"team"`
	Channels []string `json:"channels,omitempty" yaml:"channels"`
}

// IsZero reports no escalation.
func (e Escalation) IsZero() bool { return e.After == 0 && e.Team == "" && len(e.Channels) == 0 }

// CooldownOr is the rule's cooldown.
func (r *Rule) CooldownOr() time.Duration {
	if r.Cooldown == nil {
		return DefaultCooldown
	}
	return time.Duration(*r.Cooldown)
}

var (
	idRE   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	dayIdx = map[string]int{"sun": 0, "mon": 1, "tue": 2, "wed": 3, "thu": 4, "fri": 5, "sat": 6}
)

// Validate checks the rule and prepares it for evaluation; it returns
// every problem at once, each naming its field. channels, when not nil,
// are the configured channel names a rule may use.
func (r *Rule) Validate(channels []string) error {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	if !idRE.MatchString(r.ID) {
		bad("id", "%q: use 1 to 64 letters, digits, '-' or '_'", r.ID)
	}
	if strings.TrimSpace(r.Name) == "" {
		bad("name", "must not be empty")
	} else if len(r.Name) > 200 {
		bad("name", "longer than 200 characters")
	}
	if !slices.Contains(conditions, r.Condition) {
		bad("condition", "%q is not one of %s", r.Condition, strings.Join(conditions, ", "))
	}
	for field, list := range map[string][]string{"cameras": r.Cameras, "vehicles": r.Vehicles, "zones": r.Zones, "classes": r.Classes, "channels": r.Channels} {
		if len(list) > 100 {
			bad(field, "more than 100 entries")
		}
		for _, x := range list {
			if x == "" || len(x) > 200 {
				bad(field, "entries must be 1 to 200 characters")
				break
			}
		}
	}
	if r.MinConfidence < 0 || r.MinConfidence > 1 {
		bad("min_confidence", "%g is not between 0 and 1", r.MinConfidence)
	}
	if r.For < 0 || time.Duration(r.For) > 24*time.Hour {
		bad("for", "%s is not between 0s and 24h", r.For)
	}
	switch r.Condition {
	case CondCrowd, CondCrowdForecast:
		if r.MinCount < 1 || r.MinCount > 100000 {
			bad("min_count", "a %s rule needs min_count between 1 and 100000, got %d", r.Condition, r.MinCount)
		}
	case CondDwell:
		if r.For <= 0 {
			bad("for", "a dwell rule needs how long someone must stay, e.g. \"2m\"")
		}
	case CondLowBattery:
		if r.BatteryBelow <= 0 || r.BatteryBelow >= 100 {
			bad("battery_below", "a low_battery rule needs a percentage between 0 and 100 (exclusive), got %g", r.BatteryBelow)
		}
	}
	if r.MinCount != 0 && r.Condition != CondCrowd && r.Condition != CondCrowdForecast {
		bad("min_count", "only crowd and crowd_forecast rules have a min_count")
	}
	if r.Within != 0 && r.Condition != CondCrowdForecast {
		bad("within", "only crowd_forecast rules look ahead")
	}
	if r.Within < 0 || time.Duration(r.Within) > 72*time.Hour {
		bad("within", "%s is not between 0s and 72h", r.Within)
	}
	if r.BatteryBelow != 0 && r.Condition != CondLowBattery {
		bad("battery_below", "only low_battery rules have a battery_below")
	}
	switch r.Severity {
	case "":
		r.Severity = telemetry.SeverityWarning
	case telemetry.SeverityInfo, telemetry.SeverityWarning, telemetry.SeverityCritical:
	default:
		bad("severity", "%q is not one of info, warning, critical", r.Severity)
	}
	if len(r.Team) > 100 {
		bad("team", "longer than 100 characters")
	}
	if r.Cooldown != nil && (*r.Cooldown < 0 || time.Duration(*r.Cooldown) > 7*24*time.Hour) {
		bad("cooldown", "%s is not between 0s and 168h", *r.Cooldown)
	}
	if err := r.Schedule.prepare(); err != nil {
		bad("schedule", "%v", err)
	}
	if e := r.Escalation; !e.IsZero() {
		if e.After <= 0 {
			bad("escalation.after", "must be positive, e.g. \"5m\"")
		}
		if e.Team == "" && len(e.Channels) == 0 {
			bad("escalation", "name a team or channels to escalate to")
		}
	}
	if channels != nil {
		for _, c := range append(slices.Clone(r.Channels), r.Escalation.Channels...) {
			if !slices.Contains(channels, c) {
				bad("channels", "%q is not a configured channel (have: %s)", c, strings.Join(channels, ", "))
			}
		}
	}
	return errors.Join(errs...)
}

func (s *Schedule) prepare() error {
	s.loc, s.days = time.UTC, 0
	if s.Timezone != "" {
		loc, err := time.LoadLocation(s.Timezone)
		if err != nil {
			return fmt.Errorf("timezone %q: not a known time zone (e.g. Asia/Shanghai, UTC)", s.Timezone)
		}
		s.loc = loc
	}
	for _, d := range s.Days {
		i, ok := dayIdx[strings.ToLower(d)]
		if !ok {
			return fmt.Errorf("days: %q is not one of mon, tue, wed, thu, fri, sat, sun", d)
		}
		s.days |= 1 << i
	}
	if (s.From == "") != (s.To == "") {
		return errors.New("give both from and to (HH:MM), or neither")
	}
	var err error
	if s.From != "" {
		if s.from, err = clock(s.From); err != nil {
			return fmt.Errorf("from: %w", err)
		}
		if s.to, err = clock(s.To); err != nil {
			return fmt.Errorf("to: %w", err)
		}
		if s.from == s.to {
			return errors.New("from and to are the same time; leave both out for all day")
		}
	}
	return nil
}

func clock(s string) (int, error) {
	h, m, ok := strings.Cut(s, ":")
	hh, err1 := strconv.Atoi(h)
	mm, err2 := strconv.Atoi(m)
	if !ok || err1 != nil || err2 != nil || len(m) != 2 || hh < 0 || hh > 24 || mm < 0 || mm > 59 || (hh == 24 && mm != 0) {
		return 0, fmt.Errorf("%q is not a time of day (HH:MM)", s)
	}
	return hh*60 + mm, nil
}

// Active reports whether the schedule covers t. Validate prepares it.
func (s *Schedule) Active(t time.Time) bool {
	if s.IsZero() {
		return true
	}
	loc := s.loc
	if loc == nil {
		loc = time.UTC
	}
	t = t.In(loc)
	day := int(t.Weekday())
	min := t.Hour()*60 + t.Minute()
	onDay := func(d int) bool { return s.days == 0 || s.days&(1<<((d+7)%7)) != 0 }
	if s.From == "" {
		return onDay(day)
	}
	if s.from < s.to {
		return onDay(day) && min >= s.from && min < s.to
	}
	// Over midnight: the evening part belongs to today, the morning part
	// to the day before.
	return (min >= s.from && onDay(day)) || (min < s.to && onDay(day-1))
}

// Duration is the components' one duration type (telemetry.Duration):
// "90s", "5m", "1h30m", "2d" in JSON and YAML.
type Duration = telemetry.Duration
