package geo

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/planar"
)

// FenceKind is what a geofence means.
type FenceKind string

// Geofence kinds.
const (
	KeepOut    FenceKind = "keep-out"   // nothing may enter: a vehicle inside is a breach
	KeepIn     FenceKind = "keep-in"    // vehicles must stay inside: leaving is a breach
	Restricted FenceKind = "restricted" // entering is reported (people in a works area)
)

// Fence event kinds (Tile38's vocabulary: enter, exit, inside → dwell).
const (
	EventFenceEnter  = "geofence.enter"
	EventFenceExit   = "geofence.exit"
	EventFenceDwell  = "geofence.dwell"
	EventFenceBreach = "geofence.breach"
	// EventFenceBreachPredicted: a vehicle that holds its course and
	// speed breaches a fence within the prediction horizon (told once per
	// approach, before the breach).
	EventFenceBreachPredicted = "geofence.breach_predicted"
)

// Fence is a polygon on the ground.
type Fence struct {
	ID   string    `json:"id"`
	Site string    `json:"site,omitempty"`
	Name string    `json:"name"`
	Kind FenceKind `json:"kind"`
	// Polygon is WGS 84 ({lon, lat}) as in GeoJSON (RFC 7946): closed
	// rings, the exterior counter-clockwise, holes clockwise.
	Polygon orb.Polygon `json:"-"`
	// Dwell reports objects inside for this long (0: never).
	Dwell time.Duration `json:"-"`
	// Classes limits the fence to tracked objects of these classes
	// (vehicles always count); empty means every class.
	Classes []string `json:"classes,omitempty"`
}

// Validate rejects what is not a usable fence, saying why.
func (f *Fence) Validate() error {
	name := f.Name
	if name == "" {
		name = f.ID
	}
	switch f.Kind {
	case KeepOut, KeepIn, Restricted:
	default:
		return fmt.Errorf("geofence %q: kind %q: want keep-out, keep-in or restricted", name, f.Kind)
	}
	if f.Dwell < 0 {
		return fmt.Errorf("geofence %q: dwell must not be negative", name)
	}
	if len(f.Polygon) == 0 {
		return fmt.Errorf("geofence %q: no polygon", name)
	}
	for i, ring := range f.Polygon {
		what := "exterior ring"
		if i > 0 {
			what = fmt.Sprintf("hole %d", i)
		}
		if err := checkRing(ring); err != nil {
			return fmt.Errorf("geofence %q: %s: %w", name, what, err)
		}
		o := ring.Orientation()
		if i == 0 && o != orb.CCW {
			return fmt.Errorf("geofence %q: the exterior ring is clockwise; GeoJSON (RFC 7946) wants it counter-clockwise", name)
		}
		if i > 0 {
			if o != orb.CW {
				return fmt.Errorf("geofence %q: %s is counter-clockwise; holes go clockwise", name, what)
			}
			for _, p := range ring[:len(ring)-1] {
				if !planar.RingContains(f.Polygon[0], p) {
					return fmt.Errorf("geofence %q: %s reaches outside the exterior ring", name, what)
				}
			}
		}
	}
	return nil
}

// maxRingPositions bounds a ring: the self-intersection check is
// quadratic, and a fence is drawn by a person, not a survey.
const maxRingPositions = 1024

func checkRing(r orb.Ring) error {
	if len(r) > maxRingPositions {
		return fmt.Errorf("%d positions; at most %d", len(r), maxRingPositions)
	}
	if len(r) < 4 {
		return fmt.Errorf("%d positions; a ring needs at least 3 corners and the first repeated at the end", len(r))
	}
	if r[0] != r[len(r)-1] {
		return errors.New("not closed: the last position must repeat the first")
	}
	for i, p := range r {
		if !Finite(p[0], p[1]) || p[0] < -180 || p[0] > 180 || p[1] < -90 || p[1] > 90 {
			return fmt.Errorf("position %d %v is not [longitude, latitude]", i+1, p)
		}
	}
	n := len(r) - 1
	for i := range n {
		if r[i] == r[i+1] {
			return fmt.Errorf("positions %d and %d repeat", i+1, i+2)
		}
	}
	for i := range n {
		for j := i + 2; j < n; j++ {
			if i == 0 && j == n-1 {
				continue // the closing edge touches the first
			}
			if segmentsCross(r[i], r[i+1], r[j], r[j+1]) {
				return fmt.Errorf("the ring crosses itself (edges %d and %d)", i+1, j+1)
			}
		}
	}
	if math.Abs(planar.Area(r)) < 1e-14 {
		return errors.New("zero area")
	}
	return nil
}

// segmentsCross reports whether segments ab and cd intersect (touching
// counts).
func segmentsCross(a, b, c, d orb.Point) bool {
	o := func(p, q, r orb.Point) float64 { return (q[0]-p[0])*(r[1]-p[1]) - (q[1]-p[1])*(r[0]-p[0]) }
	on := func(p, q, r orb.Point) bool {
		return math.Min(p[0], q[0]) <= r[0] && r[0] <= math.Max(p[0], q[0]) && math.Min(p[1], q[1]) <= r[1] && r[1] <= math.Max(p[1], q[1])
	}
	d1, d2, d3, d4 := o(c, d, a), o(c, d, b), o(a, b, c), o(a, b, d)
	if ((d1 > 0 && d2 < 0) || (d1 < 0 && d2 > 0)) && ((d3 > 0 && d4 < 0) || (d3 < 0 && d4 > 0)) {
		return true
	}
	return (d1 == 0 && on(c, d, a)) || (d2 == 0 && on(c, d, b)) || (d3 == 0 && on(a, b, c)) || (d4 == 0 && on(a, b, d))
}

// Contains reports whether p ({lon, lat}) is inside the fence (holes
// excluded; planar in degrees, exact enough at a site's scale).
func (f *Fence) Contains(p orb.Point) bool { return planar.PolygonContains(f.Polygon, p) }

func (f *Fence) concerns(o Object) bool {
	return o.Vehicle || len(f.Classes) == 0 || slices.Contains(f.Classes, o.Class)
}

// Object is something that moves on the map: a vehicle or a tracked
// detection.
type Object struct {
	ID      string // vehicle id, or camera/track id
	Vehicle bool
	Class   string // for tracks: person, car…
	Point   orb.Point
	Time    time.Time
}

// FenceEvent is a change of an object's relation to a fence.
type FenceEvent struct {
	Kind   string
	Fence  *Fence
	Object Object
	// Dwell is how long the object has been inside (dwell, exit).
	Dwell time.Duration
	// In, At and Radius are a predicted breach's: how soon, where on the
	// course, and the error cone's radius there in metres.
	In     time.Duration
	At     orb.Point
	Radius float64
}

// Fences checks objects against a set of fences, through a grid index
// over the fences' bounds so that each check looks at the few fences
// near the object, however many there are.
type Fences struct {
	list  []*Fence
	grid  map[[2]int][]int             // cell → fence indexes
	cell  float64                      // degrees
	state map[string]map[string]*visit // object → fence id → visit
	known map[string]bool              // objects seen (for keep-in breaches at first sight)
	// predicted: object → fence id of the breaches already told as
	// predicted, until they are no longer predicted.
	predicted map[string]map[string]bool
}

type visit struct {
	since time.Time
	dwelt bool
}

// NewFences validates the fences and indexes them.
func NewFences(fs []Fence) (*Fences, error) {
	s := &Fences{grid: map[[2]int][]int{}, state: map[string]map[string]*visit{}, known: map[string]bool{}, predicted: map[string]map[string]bool{}}
	ids := map[string]bool{}
	var span float64
	for i := range fs {
		f := fs[i]
		if err := f.Validate(); err != nil {
			return nil, err
		}
		if f.ID == "" || ids[f.ID] {
			return nil, fmt.Errorf("geofence %q: ids must be unique and not empty", f.Name)
		}
		ids[f.ID] = true
		b := f.Polygon.Bound()
		span += math.Max(b.Max[0]-b.Min[0], b.Max[1]-b.Min[1])
		s.list = append(s.list, &f)
	}
	// Cells about the size of an average fence: a point meets few cells'
	// worth of fences.
	s.cell = 0.001
	if len(fs) > 0 {
		s.cell = math.Max(span/float64(len(fs)), 1e-5)
	}
	for i, f := range s.list {
		b := f.Polygon.Bound()
		for x := s.key(b.Min[0]); x <= s.key(b.Max[0]); x++ {
			for y := s.key(b.Min[1]); y <= s.key(b.Max[1]); y++ {
				s.grid[[2]int{x, y}] = append(s.grid[[2]int{x, y}], i)
			}
		}
	}
	return s, nil
}

func (s *Fences) key(v float64) int { return int(math.Floor(v / s.cell)) }

// List returns the fences.
func (s *Fences) List() []*Fence { return s.list }

// Inside returns the fences containing p.
func (s *Fences) Inside(p orb.Point) []*Fence {
	var out []*Fence
	for _, i := range s.grid[[2]int{s.key(p[0]), s.key(p[1])}] {
		if f := s.list[i]; f.Polygon.Bound().Contains(p) && f.Contains(p) {
			out = append(out, f)
		}
	}
	return out
}

// Update moves an object and returns what changed, in fence order:
// enter (and, for a vehicle, a keep-out breach), dwell once per visit
// after the fence's Dwell, exit (for a vehicle leaving a keep-in fence,
// a breach). A vehicle first seen outside a keep-in fence is a breach too.
func (s *Fences) Update(o Object) []FenceEvent {
	now := map[string]*Fence{}
	for _, i := range s.grid[[2]int{s.key(o.Point[0]), s.key(o.Point[1])}] {
		f := s.list[i]
		if f.concerns(o) && f.Polygon.Bound().Contains(o.Point) && f.Contains(o.Point) {
			now[f.ID] = f
		}
	}
	var out []FenceEvent
	if !s.known[o.ID] {
		s.known[o.ID] = true
		if o.Vehicle {
			for _, f := range s.list {
				if f.Kind == KeepIn && now[f.ID] == nil {
					out = append(out, FenceEvent{Kind: EventFenceBreach, Fence: f, Object: o})
				}
			}
		}
	}
	st := s.state[o.ID]
	for id, f := range now {
		if st == nil {
			st = map[string]*visit{}
			s.state[o.ID] = st
		}
		v, ok := st[id]
		if !ok {
			st[id] = &visit{since: o.Time}
			out = append(out, FenceEvent{Kind: EventFenceEnter, Fence: f, Object: o})
			if o.Vehicle && f.Kind == KeepOut {
				out = append(out, FenceEvent{Kind: EventFenceBreach, Fence: f, Object: o})
			}
			continue
		}
		if f.Dwell > 0 && !v.dwelt && o.Time.Sub(v.since) >= f.Dwell {
			v.dwelt = true
			out = append(out, FenceEvent{Kind: EventFenceDwell, Fence: f, Object: o, Dwell: o.Time.Sub(v.since)})
		}
	}
	for id, v := range st {
		if now[id] == nil {
			if f := s.byID(id); f != nil {
				out = append(out, s.exit(o, f, v)...)
			}
			delete(st, id)
		}
	}
	if len(st) == 0 {
		delete(s.state, o.ID)
	}
	sortEvents(out)
	return out
}

// Cone of a projected course: the error radius at t seconds ahead is
// coneBase + coneSpread·speed·t (heading within about ±8°, speed within
// 15 %, and GPS).
const (
	coneBase   = 3.0
	coneSpread = 0.15
	// predictStep is how finely a course is sampled.
	predictStep = time.Second
)

// Predict projects an object (after Update) along its velocity (vn, ve in
// m/s) for horizon and returns the breaches it would make, each fence
// once per approach: a vehicle entering a keep-out fence it is outside of,
// or leaving a keep-in fence it is inside; a tracked object (a person, a
// car on the ground) entering a keep-out fence that concerns its class.
// The first point of the course inside (or outside) is the prediction; a
// breach no longer predicted is told again when it is again.
func (s *Fences) Predict(o Object, vn, ve float64, horizon time.Duration) []FenceEvent {
	speed := math.Hypot(vn, ve)
	inside := map[string]bool{}
	for id := range s.state[o.ID] {
		inside[id] = true
	}
	found := map[string]FenceEvent{}
	if speed >= 0.5 {
		local := NewLocal(o.Point[1], o.Point[0])
		for t := predictStep; t <= horizon; t += predictStep {
			sec := t.Seconds()
			p := local.Point(ve*sec, vn*sec)
			for _, i := range s.grid[[2]int{s.key(p[0]), s.key(p[1])}] {
				f := s.list[i]
				if f.Kind != KeepOut || inside[f.ID] || !f.concerns(o) {
					continue
				}
				if _, ok := found[f.ID]; !ok && f.Polygon.Bound().Contains(p) && f.Contains(p) {
					found[f.ID] = FenceEvent{Kind: EventFenceBreachPredicted, Fence: f, Object: o, In: t, At: p, Radius: coneBase + coneSpread*speed*sec}
				}
			}
			for _, f := range s.list {
				if f.Kind != KeepIn || !inside[f.ID] || !o.Vehicle {
					continue
				}
				if _, ok := found[f.ID]; !ok && !(f.Polygon.Bound().Contains(p) && f.Contains(p)) {
					found[f.ID] = FenceEvent{Kind: EventFenceBreachPredicted, Fence: f, Object: o, In: t, At: p, Radius: coneBase + coneSpread*speed*sec}
				}
			}
		}
	}
	told := s.predicted[o.ID]
	var out []FenceEvent
	for id, e := range found {
		if told[id] {
			continue
		}
		if told == nil {
			told = map[string]bool{}
			s.predicted[o.ID] = told
		}
		told[id] = true
		out = append(out, e)
	}
	for id := range told {
		if _, ok := found[id]; !ok {
			delete(told, id) // the course changed, or the breach came
		}
	}
	if len(told) == 0 {
		delete(s.predicted, o.ID)
	}
	sortEvents(out)
	return out
}

func (s *Fences) byID(id string) *Fence {
	for _, f := range s.list {
		if f.ID == id {
			return f
		}
	}
	return nil
}

// Carry takes over the objects' state from an older set for the fences
// both have, so that changing one fence does not make every object inside
// the others enter again. Objects inside a fence that is gone are
// forgotten without an exit.
func (s *Fences) Carry(old *Fences) {
	if old == nil {
		return
	}
	for obj, visits := range old.state {
		for id, v := range visits {
			if s.byID(id) == nil {
				continue
			}
			if s.state[obj] == nil {
				s.state[obj] = map[string]*visit{}
			}
			s.state[obj][id] = v
		}
	}
	for obj := range old.known {
		s.known[obj] = true
	}
	for obj, told := range old.predicted {
		for id := range told {
			if s.byID(id) == nil {
				continue
			}
			if s.predicted[obj] == nil {
				s.predicted[obj] = map[string]bool{}
			}
			s.predicted[obj][id] = true
		}
	}
}

func (s *Fences) exit(o Object, f *Fence, v *visit) []FenceEvent {
	out := []FenceEvent{{Kind: EventFenceExit, Fence: f, Object: o, Dwell: o.Time.Sub(v.since)}}
	if o.Vehicle && f.Kind == KeepIn {
		out = append(out, FenceEvent{Kind: EventFenceBreach, Fence: f, Object: o})
	}
	return out
}

// Remove forgets an object (a track ended, a vehicle was removed): exits
// from every fence it was in, at time t, placed at its last point p.
func (s *Fences) Remove(o Object) []FenceEvent {
	var out []FenceEvent
	for id, v := range s.state[o.ID] {
		if f := s.byID(id); f != nil {
			out = append(out, FenceEvent{Kind: EventFenceExit, Fence: f, Object: o, Dwell: o.Time.Sub(v.since)})
		}
	}
	delete(s.state, o.ID)
	delete(s.known, o.ID)
	sortEvents(out)
	return out
}

// sortEvents orders events by fence id, enter/dwell/exit/breach order
// kept within a fence: deterministic output for a map-driven walk.
func sortEvents(es []FenceEvent) {
	rank := map[string]int{EventFenceEnter: 0, EventFenceDwell: 1, EventFenceExit: 2, EventFenceBreach: 3}
	sort.SliceStable(es, func(a, b int) bool {
		if es[a].Fence.ID != es[b].Fence.ID {
			return es[a].Fence.ID < es[b].Fence.ID
		}
		return rank[es[a].Kind] < rank[es[b].Kind]
	})
}
