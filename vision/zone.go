package vision

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"
)

// Zone event kinds.
const (
	EventZoneEnter = "zone.enter"
	EventZoneExit  = "zone.exit"
	EventZoneDwell = "zone.dwell"
	EventZoneCount = "zone.count"
)

// boundaryTolerance is how far from an edge, in pixels, a point still
// counts as on the boundary: far below a pixel, far above the rounding
// error of coordinates in the thousands.
const boundaryTolerance = 1e-6

// Zone is an area of one camera's image, in frame pixels. Objects are
// placed by the foot of their box (Box.Foot): where a person or a vehicle
// touches the ground, so a zone drawn on the ground works whatever the
// object's height.
type Zone struct {
	Name string `json:"name"`
	// Polygon is the ring of the zone, clockwise or not; a closing point
	// equal to the first is allowed and ignored.
	Polygon []Point `json:"polygon"`
	// Classes are the object classes the zone watches; empty means all.
	Classes []string `json:"classes,omitempty"`
	// Dwell, when not 0, raises a zone.dwell event once per visit when a
	// track has been inside this long.
	Dwell time.Duration `json:"dwell,omitempty"`
	// MinCount, when not 0, raises a zone.count event when this many
	// tracks are inside at once.
	MinCount int `json:"min_count,omitempty"`
}

// ring is the polygon without its closing point.
func (z Zone) ring() []Point {
	pts := z.Polygon
	if n := len(pts); n > 1 && pts[0] == pts[n-1] {
		pts = pts[:n-1]
	}
	return pts
}

// Validate reports the first problem of the zone: a missing name, a
// polygon that is not a simple polygon with an area, or negative limits.
// Points and edges are numbered from 1 in messages; edge k runs from point
// k to the next.
func (z Zone) Validate() error {
	if z.Name == "" {
		return errors.New("zone: empty name")
	}
	if z.Dwell < 0 {
		return fmt.Errorf("zone %q: negative dwell %v", z.Name, z.Dwell)
	}
	if z.MinCount < 0 {
		return fmt.Errorf("zone %q: negative min count %d", z.Name, z.MinCount)
	}
	for i, c := range z.Classes {
		if strings.TrimSpace(c) == "" {
			return fmt.Errorf("zone %q: class %d is empty", z.Name, i+1)
		}
	}
	// Finite first: NaN would defeat the closing-point comparison below.
	for i, p := range z.Polygon {
		if !isFinite(p.X) || !isFinite(p.Y) {
			return fmt.Errorf("zone %q: point %d (%v, %v) is not finite", z.Name, i+1, p.X, p.Y)
		}
	}
	pts := z.ring()
	n := len(pts)
	if n < 3 {
		return fmt.Errorf("zone %q: polygon needs at least 3 points, got %d", z.Name, n)
	}
	for i := range n {
		if j := (i + 1) % n; pts[i] == pts[j] {
			return fmt.Errorf("zone %q: points %d and %d are the same", z.Name, i+1, j+1)
		}
	}
	// Non-adjacent edges must not meet, not even touching. Checked before
	// the area because a symmetric bow tie has a signed area of zero and
	// "crosses itself" is the message that helps. With 4 points or more
	// this also catches an edge folding back over the previous one (its
	// end lies on a non-adjacent edge); with 3 that is zero area.
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // adjacent through the closing edge
			}
			if segmentsMeet(pts[i], pts[(i+1)%n], pts[j], pts[(j+1)%n]) {
				return fmt.Errorf("zone %q: polygon crosses itself (edges %d and %d)", z.Name, i+1, j+1)
			}
		}
	}
	if a, ext := polygonArea(pts); math.Abs(a) <= 1e-9*max(1, ext*ext) {
		return fmt.Errorf("zone %q: polygon has zero area", z.Name)
	}
	return nil
}

// Contains reports whether p is inside the zone's polygon by the even-odd
// rule; points on the boundary are inside. A point with a NaN coordinate
// is outside.
func (z Zone) Contains(p Point) bool {
	pts := z.ring()
	n := len(pts)
	if n < 3 {
		return false
	}
	in := false
	for i, j := 0, n-1; i < n; j, i = i, i+1 {
		a, b := pts[j], pts[i]
		if onSegment(a, b, p) {
			return true
		}
		// Half-open in y, so that a ray through a vertex counts it once.
		if (a.Y > p.Y) != (b.Y > p.Y) {
			x := a.X + (p.Y-a.Y)*(b.X-a.X)/(b.Y-a.Y)
			if p.X < x {
				in = !in
			}
		}
	}
	return in
}

// polygonArea is the signed shoelace area and the larger side of the
// bounding box, the scale the zero-area test is relative to.
func polygonArea(pts []Point) (area, extent float64) {
	minX, minY, maxX, maxY := pts[0].X, pts[0].Y, pts[0].X, pts[0].Y
	for i, p := range pts {
		q := pts[(i+1)%len(pts)]
		area += p.X*q.Y - q.X*p.Y
		minX, minY = min(minX, p.X), min(minY, p.Y)
		maxX, maxY = max(maxX, p.X), max(maxY, p.Y)
	}
	return area / 2, max(maxX-minX, maxY-minY)
}

// cross is the z component of (b−a) × (c−a): positive when c is to the
// left of a→b, 0 when collinear.
func cross(a, b, c Point) float64 {
	return (b.X-a.X)*(c.Y-a.Y) - (b.Y-a.Y)*(c.X-a.X)
}

// segmentsMeet reports whether segments p1p2 and p3p4 share any point,
// touching and collinear overlap included.
func segmentsMeet(p1, p2, p3, p4 Point) bool {
	d1, d2 := cross(p3, p4, p1), cross(p3, p4, p2)
	d3, d4 := cross(p1, p2, p3), cross(p1, p2, p4)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	inBox := func(a, b, p Point) bool {
		return p.X >= min(a.X, b.X) && p.X <= max(a.X, b.X) && p.Y >= min(a.Y, b.Y) && p.Y <= max(a.Y, b.Y)
	}
	return (d1 == 0 && inBox(p3, p4, p1)) || (d2 == 0 && inBox(p3, p4, p2)) ||
		(d3 == 0 && inBox(p1, p2, p3)) || (d4 == 0 && inBox(p1, p2, p4))
}

// onSegment reports whether p lies on segment ab within boundaryTolerance.
func onSegment(a, b, p Point) bool {
	const e = boundaryTolerance
	if p.X < min(a.X, b.X)-e || p.X > max(a.X, b.X)+e || p.Y < min(a.Y, b.Y)-e || p.Y > max(a.Y, b.Y)+e {
		return false // also false for NaN
	}
	// |cross| is the segment's length times p's distance from its line.
	l := math.Hypot(b.X-a.X, b.Y-a.Y)
	return math.Abs(cross(a, b, p)) <= e*max(l, 1)
}

// ZoneEvent is a change of a track's or a zone's state.
type ZoneEvent struct {
	Kind    string    `json:"kind"` // EventZoneEnter, EventZoneExit, EventZoneDwell or EventZoneCount
	Zone    string    `json:"zone"`
	TrackID uint64    `json:"track_id,omitempty"` // 0 for zone.count
	Class   string    `json:"class,omitempty"`    // "" for zone.count
	Time    time.Time `json:"time"`
	// Count is the number of tracks inside the zone after this event.
	Count int `json:"count"`
	// Dwell is the time inside, for zone.dwell and zone.exit.
	Dwell time.Duration `json:"dwell,omitempty"`
}

// Zones follows the tracks of one camera through its zones. Zones is not
// safe for concurrent use: the camera's analysis goroutine owns it, next
// to its Tracker.
type Zones struct {
	zones []*zoneState // in configuration order
}

type zoneState struct {
	Zone
	classes map[string]bool   // nil: every class
	inside  map[uint64]*visit // tracks inside, by TrackID
	fired   bool              // zone.count raised and not yet re-armed
}

// visit is one stay of a track in a zone.
type visit struct {
	class string
	since time.Time
	dwelt bool // zone.dwell raised for this visit
}

// NewZones validates zs and returns their tracking state. Names must be
// unique: events refer to zones by name.
func NewZones(zs []Zone) (*Zones, error) {
	s := &Zones{}
	byName := make(map[string]int, len(zs))
	for i, z := range zs {
		if err := z.Validate(); err != nil {
			return nil, fmt.Errorf("zones[%d]: %w", i, err)
		}
		if j, ok := byName[z.Name]; ok {
			return nil, fmt.Errorf("zones[%d]: zone %q: duplicate name (also zones[%d])", i, z.Name, j)
		}
		byName[z.Name] = i
		// Copy, so that the caller's slices can change under us.
		z.Polygon = slices.Clone(z.ring())
		z.Classes = slices.Clone(z.Classes)
		st := &zoneState{Zone: z, inside: map[uint64]*visit{}}
		if len(z.Classes) > 0 {
			st.classes = make(map[string]bool, len(z.Classes))
			for _, c := range z.Classes {
				st.classes[c] = true
			}
		}
		s.zones = append(s.zones, st)
	}
	return s, nil
}

// Update places one frame's tracked detections, taken at now, and returns
// the events in zone order, then track id; a zone's zone.count event
// comes after its track events. Detections without a TrackID or with a
// non-finite foot point are ignored, and so is any but the first
// detection of a track. A track absent from the frame keeps its place:
// detectors miss frames, and End reports tracks that are gone.
func (s *Zones) Update(now time.Time, dets []Detection) []ZoneEvent {
	present := make(map[uint64]Detection, len(dets))
	for _, d := range dets {
		if d.TrackID == 0 {
			continue
		}
		if f := d.Box.Foot(); !isFinite(f.X) || !isFinite(f.Y) {
			continue
		}
		if _, dup := present[d.TrackID]; !dup {
			present[d.TrackID] = d
		}
	}
	var evs []ZoneEvent
	for _, z := range s.zones {
		// The tracks to look at: those in the frame and those inside.
		ids := make([]uint64, 0, len(present)+len(z.inside))
		for id, d := range present {
			if z.watches(d.Class) {
				ids = append(ids, id)
			}
		}
		for id := range z.inside {
			if _, ok := present[id]; !ok {
				ids = append(ids, id)
			}
		}
		slices.Sort(ids)
		for _, id := range ids {
			if d, ok := present[id]; ok {
				in := z.Contains(d.Box.Foot())
				v := z.inside[id]
				switch {
				case in && v == nil:
					v = &visit{class: d.Class, since: now}
					z.inside[id] = v
					evs = append(evs, ZoneEvent{Kind: EventZoneEnter, Zone: z.Name, TrackID: id, Class: d.Class, Time: now, Count: len(z.inside)})
				case !in && v != nil:
					evs = append(evs, z.exit(now, id, v))
				}
			}
			if v := z.inside[id]; v != nil && z.Dwell > 0 && !v.dwelt {
				if stay := now.Sub(v.since); stay >= z.Dwell {
					v.dwelt = true
					evs = append(evs, ZoneEvent{Kind: EventZoneDwell, Zone: z.Name, TrackID: id, Class: v.class, Time: now, Count: len(z.inside), Dwell: stay})
				}
			}
		}
		// Counted once per frame rather than after each event: a track
		// leaving as another enters must not re-arm and fire again
		// depending on which id is smaller.
		if z.MinCount > 0 {
			switch n := len(z.inside); {
			case n >= z.MinCount && !z.fired:
				z.fired = true
				evs = append(evs, ZoneEvent{Kind: EventZoneCount, Zone: z.Name, Time: now, Count: n})
			case n < z.MinCount:
				z.fired = false
			}
		}
	}
	return evs
}

// End reports that a track ended (TrackEvent track_end): it leaves every
// zone it was in, in zone order, and zone.count re-arms where the count
// dropped below MinCount.
func (s *Zones) End(now time.Time, trackID uint64) []ZoneEvent {
	var evs []ZoneEvent
	for _, z := range s.zones {
		v := z.inside[trackID]
		if v == nil {
			continue
		}
		evs = append(evs, z.exit(now, trackID, v))
		if len(z.inside) < z.MinCount {
			z.fired = false
		}
	}
	return evs
}

// Counts is, for every zone, the number of tracks inside now by class.
// Every zone has a map, empty when nothing is inside.
func (s *Zones) Counts() map[string]map[string]int {
	out := make(map[string]map[string]int, len(s.zones))
	for _, z := range s.zones {
		m := map[string]int{}
		for _, v := range z.inside {
			m[v.class]++
		}
		out[z.Name] = m
	}
	return out
}

func (z *zoneState) watches(class string) bool {
	return z.classes == nil || z.classes[class]
}

// exit removes a track and returns its zone.exit event. A clock stepping
// back gives a stay of 0, not a negative one.
func (z *zoneState) exit(now time.Time, id uint64, v *visit) ZoneEvent {
	delete(z.inside, id)
	return ZoneEvent{
		Kind: EventZoneExit, Zone: z.Name, TrackID: id, Class: v.class, Time: now,
		Count: len(z.inside), Dwell: max(now.Sub(v.since), 0),
	}
}
