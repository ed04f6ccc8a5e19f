package vision

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"
)

// square is the 100×100 square at (100, 100), counter-clockwise on screen
// (y grows downwards).
var square = []Point{{100, 100}, {200, 100}, {200, 200}, {100, 200}}

func TestZoneValidate(t *testing.T) {
	nan := math.NaN()
	cases := []struct {
		name string
		zone Zone
		want string // error message, "" for valid
	}{
		{"square", Zone{Name: "gate", Polygon: square}, ""},
		{"clockwise", Zone{Name: "gate", Polygon: []Point{{0, 0}, {0, 10}, {10, 10}, {10, 0}}}, ""},
		{"counter-clockwise", Zone{Name: "gate", Polygon: []Point{{0, 0}, {10, 0}, {10, 10}, {0, 10}}}, ""},
		{"closed ring", Zone{Name: "gate", Polygon: []Point{{0, 0}, {10, 0}, {10, 10}, {0, 10}, {0, 0}}}, ""},
		{"closed triangle", Zone{Name: "gate", Polygon: []Point{{0, 0}, {10, 0}, {5, 8}, {0, 0}}}, ""},
		{"concave", Zone{Name: "yard", Polygon: []Point{{0, 0}, {20, 0}, {20, 10}, {10, 10}, {10, 20}, {0, 20}}}, ""},
		{"straight vertex", Zone{Name: "yard", Polygon: []Point{{0, 0}, {5, 0}, {10, 0}, {10, 10}, {0, 10}}}, ""},
		{"with limits", Zone{Name: "yard", Polygon: square, Classes: []string{"person"}, Dwell: time.Minute, MinCount: 3}, ""},

		{"empty name", Zone{Polygon: square}, `zone: empty name`},
		{"no points", Zone{Name: "crane"}, `zone "crane": polygon needs at least 3 points, got 0`},
		{"two points", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 10}}}, `zone "crane": polygon needs at least 3 points, got 2`},
		{"two points closed", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 10}, {0, 0}}}, `zone "crane": polygon needs at least 3 points, got 2`},
		{"bow tie", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 10}, {10, 0}, {0, 10}}}, `zone "crane": polygon crosses itself (edges 1 and 3)`},
		{"bow tie, closed", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 10}, {10, 0}, {0, 10}, {0, 0}}}, `zone "crane": polygon crosses itself (edges 1 and 3)`},
		{"lopsided bow tie", Zone{Name: "crane", Polygon: []Point{{0, 0}, {30, 10}, {30, 0}, {0, 10}}}, `zone "crane": polygon crosses itself (edges 1 and 3)`},
		{"vertex touches edge", Zone{Name: "crane", Polygon: []Point{{0, 0}, {20, 0}, {20, 20}, {10, 0}, {0, 20}}}, `zone "crane": polygon crosses itself (edges 1 and 3)`},
		{"figure eight through a vertex", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 10}, {20, 0}, {20, 20}, {10, 10}, {0, 20}}}, `zone "crane": polygon crosses itself (edges 1 and 4)`},
		{"NaN", Zone{Name: "crane", Polygon: []Point{{0, 0}, {nan, 0}, {10, 10}}}, `zone "crane": point 2 (NaN, 0) is not finite`},
		{"infinity", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 0}, {10, math.Inf(1)}}}, `zone "crane": point 3 (10, +Inf) is not finite`},
		{"zero area", Zone{Name: "crane", Polygon: []Point{{0, 0}, {5, 5}, {10, 10}}}, `zone "crane": polygon has zero area`},
		{"zero area, folded triangle", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 0}, {5, 0}}}, `zone "crane": polygon has zero area`},
		{"tiny but real", Zone{Name: "crane", Polygon: []Point{{0, 0}, {0.01, 0}, {0, 0.01}}}, ""},
		{"repeated point", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 0}, {10, 0}, {10, 10}}}, `zone "crane": points 2 and 3 are the same`},
		{"spike", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 0}, {10, 10}, {10, 5}, {0, 10}}}, `zone "crane": polygon crosses itself (edges 2 and 4)`},
		{"fold back", Zone{Name: "crane", Polygon: []Point{{0, 0}, {10, 0}, {5, 0}, {5, 5}}}, `zone "crane": polygon crosses itself (edges 1 and 3)`},
		{"negative dwell", Zone{Name: "crane", Polygon: square, Dwell: -time.Second}, `zone "crane": negative dwell -1s`},
		{"negative min count", Zone{Name: "crane", Polygon: square, MinCount: -1}, `zone "crane": negative min count -1`},
		{"empty class", Zone{Name: "crane", Polygon: square, Classes: []string{"person", " "}}, `zone "crane": class 2 is empty`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := c.zone.Validate()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("Validate() = %q, want %q", got, c.want)
			}
		})
	}
}

func TestNewZones(t *testing.T) {
	cases := []struct {
		name  string
		zones []Zone
		want  string
	}{
		{"none", nil, ""},
		{"two", []Zone{{Name: "a", Polygon: square}, {Name: "b", Polygon: square}}, ""},
		{"duplicate names", []Zone{{Name: "a", Polygon: square}, {Name: "b", Polygon: square}, {Name: "a", Polygon: square}}, `zones[2]: zone "a": duplicate name (also zones[0])`},
		{"invalid zone", []Zone{{Name: "a", Polygon: square}, {Name: "b", Polygon: square[:2]}}, `zones[1]: zone "b": polygon needs at least 3 points, got 2`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := NewZones(c.zones)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if got != c.want {
				t.Errorf("NewZones() = %q, want %q", got, c.want)
			}
		})
	}
}

func TestNewZonesCopies(t *testing.T) {
	poly := slices.Clone(square)
	classes := []string{"person"}
	s, err := NewZones([]Zone{{Name: "a", Polygon: poly, Classes: classes}})
	if err != nil {
		t.Fatal(err)
	}
	poly[1] = Point{1000, 1000}
	classes[0] = "car"
	evs := s.Update(at(0), []Detection{{Class: "person", TrackID: 1, Box: footAt(150, 150)}})
	if len(evs) != 1 || evs[0].Kind != EventZoneEnter {
		t.Errorf("events = %v, want the zone as configured", evs)
	}
}

func TestZoneContains(t *testing.T) {
	triangle := []Point{{0, 0}, {300, 0}, {0, 300}}
	// An L: the square (0,0)-(20,20) without its bottom-right quarter.
	ell := []Point{{0, 0}, {20, 0}, {20, 10}, {10, 10}, {10, 20}, {0, 20}}
	cases := []struct {
		name string
		poly []Point
		p    Point
		want bool
	}{
		{"centre", square, Point{150, 150}, true},
		{"left", square, Point{50, 150}, false},
		{"below", square, Point{150, 250}, false},
		{"right of a vertex, ray through it", square, Point{50, 100}, false},
		{"top edge", square, Point{150, 100}, true},
		{"bottom edge", square, Point{150, 200}, true},
		{"left edge", square, Point{100, 150}, true},
		{"right edge", square, Point{200, 150}, true},
		{"vertex", square, Point{200, 200}, true},
		{"just outside", square, Point{200.001, 150}, false},
		{"diagonal edge", triangle, Point{100, 200}, true},
		{"diagonal edge, fraction", triangle, Point{300.0 / 7, 300 - 300.0/7}, true},
		{"beyond the diagonal", triangle, Point{151, 150}, false},
		{"inside triangle", triangle, Point{10, 10}, true},
		{"L arm", ell, Point{5, 15}, true},
		{"L notch", ell, Point{15, 15}, false},
		{"L inner corner", ell, Point{10, 10}, true},
		{"NaN", square, Point{math.NaN(), 150}, false},
		{"infinity", square, Point{math.Inf(1), 150}, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// The answer must not depend on the winding or a closing point.
			rev := slices.Clone(c.poly)
			slices.Reverse(rev)
			closed := append(slices.Clone(c.poly), c.poly[0])
			for _, poly := range [][]Point{c.poly, rev, closed} {
				if got := (Zone{Name: "z", Polygon: poly}).Contains(c.p); got != c.want {
					t.Errorf("Contains(%v) on %v = %v, want %v", c.p, poly, got, c.want)
				}
			}
		})
	}
}

// footAt is a 20×40 box standing on (x, y).
func footAt(x, y float64) Box { return Box{X: x - 10, Y: y - 40, W: 20, H: 40} }

// step is one frame for the zone tests: its time and the tracks in it.
type step struct {
	ms   int
	dets []Detection
}

func tracked(id uint64, class string, x, y float64) Detection {
	return Detection{Class: class, Confidence: 0.9, TrackID: id, Box: footAt(x, y)}
}

// evString is a compact, comparable form of an event.
func evString(e ZoneEvent) string {
	s := fmt.Sprintf("%dms %s %s", e.Time.Sub(t0).Milliseconds(), e.Kind, e.Zone)
	if e.TrackID != 0 {
		s += fmt.Sprintf(" #%d %s", e.TrackID, e.Class)
	}
	s += fmt.Sprintf(" n=%d", e.Count)
	if e.Dwell != 0 {
		s += " dwell=" + e.Dwell.String()
	}
	return s
}

// runZones feeds the steps; an step with a negative ms ends the track
// given as its first detection's TrackID at -ms.
func runZones(t *testing.T, zs []Zone, steps []step) []string {
	t.Helper()
	s, err := NewZones(zs)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, st := range steps {
		var evs []ZoneEvent
		if st.ms < 0 {
			evs = s.End(at(-st.ms), st.dets[0].TrackID)
		} else {
			evs = s.Update(at(st.ms), st.dets)
		}
		for _, e := range evs {
			got = append(got, evString(e))
		}
	}
	return got
}

func end(ms int, id uint64) step { return step{-ms, []Detection{{TrackID: id}}} }

func TestZonesEvents(t *testing.T) {
	gate := Zone{Name: "gate", Polygon: square}
	cases := []struct {
		name  string
		zones []Zone
		steps []step
		want  []string
	}{
		{"walk through", []Zone{gate}, []step{
			{0, []Detection{tracked(1, "person", 50, 150)}},
			{1000, []Detection{tracked(1, "person", 120, 150)}},
			{2000, []Detection{tracked(1, "person", 180, 150)}},
			{3000, []Detection{tracked(1, "person", 250, 150)}},
		}, []string{
			"1000ms zone.enter gate #1 person n=1",
			"3000ms zone.exit gate #1 person n=0 dwell=2s",
		}},
		{"missing frames keep membership", []Zone{gate}, []step{
			{0, []Detection{tracked(1, "person", 150, 150)}},
			{1000, nil},
			{2000, []Detection{tracked(2, "person", 10, 10)}},
			{3000, []Detection{tracked(1, "person", 160, 150)}},
			{4000, []Detection{tracked(1, "person", 10, 10)}},
		}, []string{
			"0ms zone.enter gate #1 person n=1",
			"4000ms zone.exit gate #1 person n=0 dwell=4s",
		}},
		{"untracked detections are ignored", []Zone{gate}, []step{
			{0, []Detection{tracked(0, "person", 150, 150)}},
		}, nil},
		{"foot decides, not the box", []Zone{gate}, []step{
			// The box covers the zone but stands below it.
			{0, []Detection{{Class: "car", TrackID: 1, Box: Box{X: 100, Y: 100, W: 100, H: 150}}}},
		}, nil},
		{"order: zone, then track id", []Zone{{Name: "b", Polygon: square}, {Name: "a", Polygon: square}}, []step{
			{0, []Detection{tracked(3, "person", 150, 150), tracked(1, "car", 150, 150), tracked(2, "dog", 150, 150)}},
		}, []string{
			"0ms zone.enter b #1 car n=1",
			"0ms zone.enter b #2 dog n=2",
			"0ms zone.enter b #3 person n=3",
			"0ms zone.enter a #1 car n=1",
			"0ms zone.enter a #2 dog n=2",
			"0ms zone.enter a #3 person n=3",
		}},
		{"first detection of a track wins", []Zone{gate}, []step{
			{0, []Detection{tracked(1, "person", 150, 150), tracked(1, "person", 10, 10)}},
		}, []string{"0ms zone.enter gate #1 person n=1"}},
		{"class filter", []Zone{{Name: "road", Polygon: square, Classes: []string{"car", "truck"}}}, []step{
			{0, []Detection{tracked(1, "person", 150, 150), tracked(2, "car", 150, 150)}},
			{1000, []Detection{tracked(1, "person", 10, 10), tracked(2, "car", 10, 10), tracked(3, "truck", 150, 150)}},
		}, []string{
			"0ms zone.enter road #2 car n=1",
			"1000ms zone.exit road #2 car n=0 dwell=1s",
			"1000ms zone.enter road #3 truck n=1",
		}},
		{"end exits every zone", []Zone{gate, {Name: "yard", Polygon: []Point{{0, 0}, {300, 0}, {300, 300}, {0, 300}}}}, []step{
			{0, []Detection{tracked(1, "person", 150, 150), tracked(2, "person", 250, 250)}},
			end(1500, 1),
			end(1600, 1),
			end(1700, 9),
		}, []string{
			"0ms zone.enter gate #1 person n=1",
			"0ms zone.enter yard #1 person n=1",
			"0ms zone.enter yard #2 person n=2",
			"1500ms zone.exit gate #1 person n=0 dwell=1.5s",
			"1500ms zone.exit yard #1 person n=1 dwell=1.5s",
		}},
		{"clock stepping back", []Zone{gate}, []step{
			{1000, []Detection{tracked(1, "person", 150, 150)}},
			{500, []Detection{tracked(1, "person", 10, 10)}},
		}, []string{
			"1000ms zone.enter gate #1 person n=1",
			"500ms zone.exit gate #1 person n=0",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runZones(t, c.zones, c.steps); !slices.Equal(got, c.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestZonesDwell(t *testing.T) {
	zone := Zone{Name: "gate", Polygon: square, Dwell: 3 * time.Second}
	in, out := func(ms int) step {
		return step{ms, []Detection{tracked(1, "person", 150, 150)}}
	}, func(ms int) step {
		return step{ms, []Detection{tracked(1, "person", 10, 10)}}
	}
	cases := []struct {
		name  string
		steps []step
		want  []string
	}{
		{"fires once at the dwell time", []step{in(0), in(1000), in(2000), in(2999), in(3000), in(4000), in(5000), out(6000)}, []string{
			"0ms zone.enter gate #1 person n=1",
			"3000ms zone.dwell gate #1 person n=1 dwell=3s",
			"6000ms zone.exit gate #1 person n=0 dwell=6s",
		}},
		{"first frame after the dwell time", []step{in(0), in(2500), in(3500)}, []string{
			"0ms zone.enter gate #1 person n=1",
			"3500ms zone.dwell gate #1 person n=1 dwell=3.5s",
		}},
		{"once per visit", []step{in(0), in(3000), out(4000), in(5000), in(7000), in(8000), in(9000)}, []string{
			"0ms zone.enter gate #1 person n=1",
			"3000ms zone.dwell gate #1 person n=1 dwell=3s",
			"4000ms zone.exit gate #1 person n=0 dwell=4s",
			"5000ms zone.enter gate #1 person n=1",
			"8000ms zone.dwell gate #1 person n=1 dwell=3s",
		}},
		{"short visit", []step{in(0), in(2000), out(2900)}, []string{
			"0ms zone.enter gate #1 person n=1",
			"2900ms zone.exit gate #1 person n=0 dwell=2.9s",
		}},
		{"while missing from the frames", []step{in(0), {3000, nil}, {4000, nil}}, []string{
			"0ms zone.enter gate #1 person n=1",
			"3000ms zone.dwell gate #1 person n=1 dwell=3s",
		}},
		{"ended before the dwell time", []step{in(0), end(2000, 1), {4000, nil}}, []string{
			"0ms zone.enter gate #1 person n=1",
			"2000ms zone.exit gate #1 person n=0 dwell=2s",
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := runZones(t, []Zone{zone}, c.steps); !slices.Equal(got, c.want) {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestZonesCount(t *testing.T) {
	zone := Zone{Name: "pad", Polygon: square, MinCount: 2, Classes: []string{"person"}}
	// frame builds a step from the ids inside the zone; ids below 0 are
	// outside it.
	frame := func(ms int, inside []uint64, outside ...uint64) step {
		var dets []Detection
		for _, id := range inside {
			dets = append(dets, tracked(id, "person", 150, 150))
		}
		for _, id := range outside {
			dets = append(dets, tracked(id, "person", 10, 10))
		}
		return step{ms, dets}
	}
	cases := []struct {
		name  string
		steps []step
		want  []string // zone.count events only
	}{
		{"reaches the count", []step{
			frame(0, []uint64{1}),
			frame(1000, []uint64{1, 2}),
			frame(2000, []uint64{1, 2, 3}),
		}, []string{"1000ms zone.count pad n=2"}},
		{"two arrive at once", []step{
			frame(0, []uint64{1, 2, 3}),
		}, []string{"0ms zone.count pad n=3"}},
		{"re-arms only below the count", []step{
			frame(0, []uint64{1, 2, 3}),
			frame(1000, []uint64{2, 3}, 1),
			frame(2000, []uint64{2, 3, 4}),
			frame(3000, []uint64{3, 4}, 2),
			frame(4000, []uint64{4}, 3),
			frame(5000, []uint64{4, 5}),
		}, []string{"0ms zone.count pad n=3", "5000ms zone.count pad n=2"}},
		{"a swap in one frame does not re-arm", []step{
			frame(0, []uint64{1, 2}),
			frame(1000, []uint64{1, 3}, 2),
			frame(2000, []uint64{3, 4}, 1),
		}, []string{"0ms zone.count pad n=2"}},
		{"end re-arms", []step{
			frame(0, []uint64{1, 2}),
			end(500, 2),
			frame(1000, []uint64{1, 3}),
		}, []string{"0ms zone.count pad n=2", "1000ms zone.count pad n=2"}},
		{"other classes do not count", []step{
			{0, []Detection{tracked(1, "person", 150, 150), tracked(2, "car", 150, 150), tracked(3, "dog", 150, 150)}},
		}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var got []string
			for _, e := range runZones(t, []Zone{zone}, c.steps) {
				if strings.Contains(e, EventZoneCount) {
					got = append(got, e)
				}
			}
			if !slices.Equal(got, c.want) {
				t.Errorf("count events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(c.want, "\n"))
			}
		})
	}
}

func TestZonesCounts(t *testing.T) {
	s, err := NewZones([]Zone{
		{Name: "gate", Polygon: square},
		{Name: "road", Polygon: square, Classes: []string{"car"}},
		{Name: "far", Polygon: []Point{{500, 500}, {600, 500}, {600, 600}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Update(at(0), []Detection{
		tracked(1, "person", 150, 150),
		tracked(2, "person", 160, 150),
		tracked(3, "car", 170, 150),
		tracked(4, "dog", 10, 10),
	})
	s.Update(at(1000), []Detection{tracked(2, "person", 10, 10)})
	got := s.Counts()
	want := map[string]map[string]int{
		"gate": {"person": 1, "car": 1},
		"road": {"car": 1},
		"far":  {},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Counts = %v, want %v", got, want)
	}
	s.End(at(2000), 3)
	if got := s.Counts(); len(got["road"]) != 0 || got["gate"]["car"] != 0 {
		t.Errorf("after End: %v", got)
	}
}
