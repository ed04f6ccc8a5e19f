package vision

import (
	"fmt"
	"math"
	"slices"
	"testing"
	"time"
)

// t0 is the time of the first frame of every test.
var t0 = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// at is t0 plus ms milliseconds.
func at(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }

// obj is a detection in a scripted scene, named so that tests can follow
// the ids the tracker gives it.
type obj struct {
	name string
	det  Detection
}

func person(name string, x, y float64) obj {
	return obj{name, Detection{Class: "person", Confidence: 0.8, Box: Box{X: x, Y: y, W: 40, H: 100}}}
}

// scene is one frame: its time and its detections, in input order.
type scene struct {
	ms   int
	objs []obj
}

// runScene feeds the frames to a tracker and returns, per frame, the
// object name → TrackID of the confirmed detections and all results. It
// fails when an object's id changes or two objects share one.
func runScene(t *testing.T, tr *Tracker, frames []scene) (ids map[string]uint64, results []TrackResult) {
	t.Helper()
	ids = map[string]uint64{}
	owner := map[uint64]string{}
	for i, f := range frames {
		dets := make([]Detection, len(f.objs))
		for j, o := range f.objs {
			dets[j] = o.det
		}
		res := tr.Update(at(f.ms), dets)
		results = append(results, res)
		for _, d := range res.Detections {
			if d.TrackID == 0 {
				t.Fatalf("frame %d: detection without TrackID: %v", i, d)
			}
			j := slices.IndexFunc(f.objs, func(o obj) bool { return o.det.Box == d.Box && o.det.Class == d.Class })
			if j < 0 {
				t.Fatalf("frame %d: detection %v is none of the input", i, d)
			}
			name := f.objs[j].name
			if prev, ok := ids[name]; ok && prev != d.TrackID {
				t.Fatalf("frame %d: %s changed id %d → %d", i, name, prev, d.TrackID)
			}
			if o, ok := owner[d.TrackID]; ok && o != name {
				t.Fatalf("frame %d: %s took id %d of %s", i, name, d.TrackID, o)
			}
			ids[name], owner[d.TrackID] = d.TrackID, name
		}
	}
	return ids, results
}

func kinds(evs []TrackEvent) []string {
	var out []string
	for _, e := range evs {
		out = append(out, fmt.Sprintf("%s %d", e.Kind, e.TrackID))
	}
	return out
}

func TestTrackerCrossingKeepsIDs(t *testing.T) {
	cases := []struct {
		name         string
		xa, xb       float64 // start of each walker, pixels
		stepA, stepB float64 // pixels per frame, each walker
		dy           float64 // vertical offset of the second walker
		swap         bool    // alternate the input order
	}{
		{"slow", 0, 200, 10, -10, 10, false},
		{"walking", 0, 400, 20, -20, 10, false},
		{"walking, input order alternates", 0, 400, 20, -20, 10, true},
		// 30 px per frame on 40 px wide boxes: the boxes of consecutive
		// frames overlap by IoU 0.14.
		{"fast", 0, 600, 30, -30, 10, true},
		{"fast, nearly same row", 0, 600, 30, -30, 4, true},
		// At frame 6 the runner's previous box is exactly where the
		// walker is now: only the predicted box tells them apart.
		{"runner overtakes walker", 0, 140, 35, 10, 2, true},
		{"runner meets walker", 0, 450, 35, -10, 2, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var frames []scene
			for k := range 21 {
				a := person("a", c.xa+float64(k)*c.stepA, 100)
				b := person("b", c.xb+float64(k)*c.stepB, 100+c.dy)
				f := scene{ms: k * 100, objs: []obj{a, b}}
				if c.swap && k%2 == 1 {
					f.objs = []obj{b, a}
				}
				frames = append(frames, f)
			}
			tr := NewTracker(TrackerConfig{})
			ids, results := runScene(t, tr, frames)
			if ids["a"] == 0 || ids["b"] == 0 {
				t.Fatalf("ids = %v, want both tracked", ids)
			}
			for i, r := range results[1:] {
				if len(r.Detections) != 2 {
					t.Fatalf("frame %d: %d detections, want 2", i+1, len(r.Detections))
				}
			}
			if tr.Active() != 2 {
				t.Errorf("Active = %d, want 2", tr.Active())
			}
		})
	}
}

func TestTrackerMissedFramesKeepID(t *testing.T) {
	cases := []struct {
		name   string
		step   float64 // pixels per frame
		missed []int   // frames without the detection
	}{
		{"standing, one frame missed", 0, []int{5}},
		{"walking, one frame missed", 20, []int{5}},
		{"running, three frames missed", 30, []int{4, 5, 6}},
		{"walking, two gaps", 15, []int{3, 7}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var frames []scene
			for k := range 12 {
				f := scene{ms: k * 100}
				if !slices.Contains(c.missed, k) {
					f.objs = []obj{person("a", 50+float64(k)*c.step, 200)}
				}
				frames = append(frames, f)
			}
			tr := NewTracker(TrackerConfig{})
			ids, results := runScene(t, tr, frames)
			if ids["a"] != 1 {
				t.Fatalf("id = %d, want 1", ids["a"])
			}
			for _, k := range c.missed {
				if r := results[k]; len(r.Detections) != 0 || len(r.Events) != 0 {
					t.Errorf("frame %d without detection: %+v", k, r)
				}
			}
			if got := results[len(results)-1].Detections; len(got) != 1 || got[0].TrackID != 1 {
				t.Errorf("last frame: %v, want track 1", got)
			}
		})
	}
}

func TestTrackerEndsAfterMaxAge(t *testing.T) {
	cases := []struct {
		name   string
		cfg    TrackerConfig
		alive  int // ms of a frame at which the track must still live
		ended  int // ms of a frame at which it must have ended
		maxAge time.Duration
	}{
		{"default 2s", TrackerConfig{}, 900 + 2000, 900 + 2001, 2 * time.Second},
		{"500ms", TrackerConfig{MaxAge: 500 * time.Millisecond}, 900 + 500, 900 + 600, 500 * time.Millisecond},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(c.cfg)
			confs := []float64{0.5, 0.6, 0.7, 0.9, 0.8, 0.6, 0.7, 0.6, 0.6, 0.55}
			var last Box
			for k, conf := range confs {
				last = Box{X: 100 + float64(k)*5, Y: 100, W: 40, H: 100}
				tr.Update(at(k*100), []Detection{{Class: "person", Confidence: conf, Box: last}})
			}
			if r := tr.Update(at(c.alive), nil); len(r.Events) != 0 || tr.Active() != 1 {
				t.Fatalf("at +%dms: events %v, Active %d; want the track alive", c.alive, r.Events, tr.Active())
			}
			r := tr.Update(at(c.ended), nil)
			want := []TrackEvent{{
				Kind: EventTrackEnd, TrackID: 1, Class: "person", Time: at(900), Box: last,
				FirstSeen: at(0), LastSeen: at(900), BestConfidence: 0.9, Hits: 10,
			}}
			if !slices.Equal(r.Events, want) {
				t.Fatalf("events = %+v\nwant %+v", r.Events, want)
			}
			if tr.Active() != 0 {
				t.Errorf("Active = %d after end", tr.Active())
			}
			// The same place later is a new object.
			tr.Update(at(c.ended+100), []Detection{{Class: "person", Confidence: 0.5, Box: last}})
			r = tr.Update(at(c.ended+200), []Detection{{Class: "person", Confidence: 0.5, Box: last}})
			if len(r.Detections) != 1 || r.Detections[0].TrackID != 2 {
				t.Errorf("after end: %v, want track 2", r.Detections)
			}
		})
	}
}

func TestTrackerStartEvent(t *testing.T) {
	tr := NewTracker(TrackerConfig{MinHits: 3})
	box := Box{X: 10, Y: 10, W: 30, H: 30}
	var r TrackResult
	for k, conf := range []float64{0.4, 0.7, 0.6} {
		if len(r.Events) != 0 {
			t.Fatalf("frame %d: early events %v", k, r.Events)
		}
		r = tr.Update(at(k*100), []Detection{{Class: "car", Confidence: conf, Box: box}})
	}
	want := []TrackEvent{{
		Kind: EventTrackStart, TrackID: 1, Class: "car", Time: at(200), Box: box,
		FirstSeen: at(0), LastSeen: at(200), BestConfidence: 0.7, Hits: 3,
	}}
	if !slices.Equal(r.Events, want) {
		t.Fatalf("events = %+v\nwant %+v", r.Events, want)
	}
	if len(r.Detections) != 1 || r.Detections[0].Confidence != 0.6 || r.Detections[0].TrackID != 1 {
		t.Errorf("detections = %v, want the frame's own detection with id 1", r.Detections)
	}
}

func TestTrackerFlickerIsSilent(t *testing.T) {
	cases := []struct {
		name   string
		cfg    TrackerConfig
		frames []scene
	}{
		{"single frame", TrackerConfig{}, []scene{
			{0, []obj{person("a", 100, 100)}},
			{100, nil},
			{200, nil},
		}},
		{"every other frame", TrackerConfig{}, []scene{
			{0, []obj{person("a", 100, 100)}},
			{100, nil},
			{200, []obj{person("a", 100, 100)}},
			{300, nil},
			{400, []obj{person("a", 100, 100)}},
		}},
		{"jumping around", TrackerConfig{}, []scene{
			{0, []obj{person("a", 100, 100)}},
			{100, []obj{person("b", 400, 100)}},
			{200, []obj{person("c", 100, 300)}},
			{300, []obj{person("d", 600, 300)}},
		}},
		{"two frames when three confirm", TrackerConfig{MinHits: 3}, []scene{
			{0, []obj{person("a", 100, 100)}},
			{100, []obj{person("a", 100, 100)}},
			{200, nil},
			{300, []obj{person("a", 100, 100)}},
			{400, []obj{person("a", 100, 100)}},
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(c.cfg)
			_, results := runScene(t, tr, c.frames)
			for i, r := range results {
				if len(r.Detections)+len(r.Events)+len(r.Improved) != 0 {
					t.Errorf("frame %d: %+v, want nothing", i, r)
				}
			}
			if evs := tr.Flush(at(10_000)); len(evs) != 0 {
				t.Errorf("Flush = %v, want nothing", evs)
			}
			if tr.Active() != 0 {
				t.Errorf("Active = %d", tr.Active())
			}
		})
	}
}

func TestTrackerClassesNeverMix(t *testing.T) {
	box := Box{X: 100, Y: 100, W: 50, H: 50}
	det := func(class string) obj {
		return obj{class, Detection{Class: class, Confidence: 0.9, Box: box}}
	}
	cases := []struct {
		name    string
		frames  []scene
		wantIDs map[string]uint64
	}{
		{"same box, two classes, together", []scene{
			{0, []obj{det("person"), det("car")}},
			{100, []obj{det("car"), det("person")}},
			{200, []obj{det("person"), det("car")}},
		}, map[string]uint64{"car": 1, "person": 2}}, // ids in input order of the confirming frame
		{"class changes in place", []scene{
			{0, []obj{det("person")}},
			{100, []obj{det("person")}},
			{200, []obj{det("dog")}},
			{300, []obj{det("dog")}},
		}, map[string]uint64{"person": 1, "dog": 2}},
		{"alternating classes never confirm", []scene{
			{0, []obj{det("person")}},
			{100, []obj{det("dog")}},
			{200, []obj{det("person")}},
			{300, []obj{det("dog")}},
		}, map[string]uint64{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, _ := runScene(t, NewTracker(TrackerConfig{}), c.frames)
			if fmt.Sprint(ids) != fmt.Sprint(c.wantIDs) {
				t.Errorf("ids = %v, want %v", ids, c.wantIDs)
			}
		})
	}
}

func TestTrackerOddTimestamps(t *testing.T) {
	cases := []struct {
		name   string
		ms     []int
		x      []float64
		wantID []uint64 // TrackID of the detection in each frame, 0 = none
		ends   int      // track_end events over the whole run
	}{
		{"equal timestamps", []int{0, 100, 100, 100, 200}, []float64{0, 20, 20, 23, 40}, []uint64{0, 1, 1, 1, 1}, 0},
		{"one step back", []int{0, 100, 200, 150, 300}, []float64{0, 20, 40, 30, 60}, []uint64{0, 1, 1, 1, 1}, 0},
		{"all at one instant", []int{0, 0, 0, 0}, []float64{0, 5, 10, 15}, []uint64{0, 1, 1, 1}, 0},
		// A clock stepping back by more than MaxAge breaks the timeline:
		// the old track ends and the object starts over.
		{"step back beyond MaxAge", []int{0, 100, 200, -5000, -4900}, []float64{0, 20, 40, 60, 80}, []uint64{0, 1, 1, 0, 2}, 1},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(TrackerConfig{})
			ends := 0
			for k, ms := range c.ms {
				r := tr.Update(at(ms), []Detection{{Class: "person", Confidence: 0.7, Box: Box{X: c.x[k], Y: 100, W: 40, H: 100}}})
				var got uint64
				if len(r.Detections) == 1 {
					got = r.Detections[0].TrackID
				}
				if got != c.wantID[k] {
					t.Errorf("frame %d: id %d, want %d", k, got, c.wantID[k])
				}
				for _, e := range r.Events {
					if e.Kind == EventTrackEnd {
						ends++
					}
				}
				for _, trk := range tr.tracks {
					p := trk.predict(at(ms+100), tr.cfg.MaxAge)
					for _, v := range []float64{trk.vx, trk.vy, p.X, p.Y, p.W, p.H} {
						if math.IsNaN(v) || math.IsInf(v, 0) {
							t.Fatalf("frame %d: non-finite state %+v, prediction %v", k, *trk, p)
						}
					}
				}
			}
			if ends != c.ends {
				t.Errorf("%d track_end events, want %d", ends, c.ends)
			}
		})
	}
}

func TestTrackerIDsNeverReused(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxAge: time.Second})
	var seen []uint64
	ms := 0
	// Each round: an object lives for a few frames, flicker comes and
	// goes, the object expires; every other round the tracker is flushed.
	for round := range 5 {
		x := float64(round * 100)
		for range 3 {
			r := tr.Update(at(ms), []Detection{
				{Class: "person", Confidence: 0.8, Box: Box{X: x, Y: 100, W: 40, H: 100}},
				{Class: "person", Confidence: 0.3, Box: Box{X: float64(ms % 700), Y: 400, W: 10, H: 10}}, // flicker
			})
			for _, d := range r.Detections {
				if !slices.Contains(seen, d.TrackID) {
					seen = append(seen, d.TrackID)
				}
			}
			ms += 100
		}
		if round%2 == 0 {
			tr.Flush(at(ms))
		} else {
			ms += 2000
			tr.Update(at(ms), nil)
		}
	}
	want := []uint64{1, 2, 3, 4, 5}
	if !slices.Equal(seen, want) {
		t.Errorf("ids = %v, want %v: consecutive, one per object, flicker excluded", seen, want)
	}
}

func TestTrackerFlush(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	a := Detection{Class: "person", Confidence: 0.8, Box: Box{X: 0, Y: 0, W: 40, H: 100}}
	b := Detection{Class: "car", Confidence: 0.6, Box: Box{X: 300, Y: 0, W: 100, H: 60}}
	c := Detection{Class: "dog", Confidence: 0.5, Box: Box{X: 600, Y: 0, W: 30, H: 30}}
	tr.Update(at(0), []Detection{b, a})
	tr.Update(at(100), []Detection{b, a})
	tr.Update(at(200), []Detection{a, c}) // b missed, c tentative
	if tr.Active() != 2 {
		t.Fatalf("Active = %d, want 2", tr.Active())
	}
	evs := tr.Flush(at(300))
	if got, want := kinds(evs), []string{"track_end 1", "track_end 2"}; !slices.Equal(got, want) {
		t.Fatalf("Flush = %v, want %v", got, want)
	}
	// Track 1 is the car (first in input order when both confirmed).
	if evs[0].Class != "car" || !evs[0].Time.Equal(at(100)) || !evs[0].LastSeen.Equal(at(100)) {
		t.Errorf("car end = %+v, want Time = LastSeen = +100ms", evs[0])
	}
	if evs[1].Class != "person" || !evs[1].Time.Equal(at(200)) || evs[1].Hits != 3 {
		t.Errorf("person end = %+v, want Time +200ms, 3 hits", evs[1])
	}
	if tr.Active() != 0 {
		t.Errorf("Active = %d after Flush", tr.Active())
	}
	if evs := tr.Flush(at(400)); len(evs) != 0 {
		t.Errorf("second Flush = %v", evs)
	}
	// Everything starts over, tentative c included.
	if r := tr.Update(at(500), []Detection{a, c}); len(r.Detections) != 0 {
		t.Errorf("first frame after Flush: %v, want no confirmed tracks", r.Detections)
	}
}

func TestTrackerImproved(t *testing.T) {
	cases := []struct {
		name    string
		minHits int
		confs   []float64
		want    []bool // Improved lists the track in this frame
	}{
		{"confirmation counts", 2, []float64{0.5, 0.4}, []bool{false, true}},
		{"rises and falls", 2, []float64{0.5, 0.6, 0.6, 0.55, 0.8, 0.79}, []bool{false, true, false, false, true, false}},
		{"rise while tentative is not reported", 3, []float64{0.3, 0.9, 0.5, 0.95}, []bool{false, false, true, true}},
		{"MinHits 1", 1, []float64{0.3, 0.2, 0.4}, []bool{true, false, true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			tr := NewTracker(TrackerConfig{MinHits: c.minHits})
			for k, conf := range c.confs {
				r := tr.Update(at(k*100), []Detection{{Class: "person", Confidence: conf, Box: Box{X: 10, Y: 10, W: 40, H: 100}}})
				got := slices.Equal(r.Improved, []uint64{1})
				if !got && len(r.Improved) != 0 {
					t.Fatalf("frame %d: Improved = %v", k, r.Improved)
				}
				if got != c.want[k] {
					t.Errorf("frame %d (confidence %v): improved %v, want %v", k, conf, got, c.want[k])
				}
			}
		})
	}
}

func TestTrackerSmallFastObjects(t *testing.T) {
	drone := func(x float64, w float64) obj {
		return obj{"drone", Detection{Class: "drone", Confidence: 0.6, Box: Box{X: x, Y: 50, W: w, H: w}}}
	}
	cases := []struct {
		name   string
		frames []scene
		wantID uint64
	}{
		// 14 px a frame on a 20 px box: IoU 0.18 with the previous box,
		// matched by centre distance until the velocity is known.
		{"fast small drone", func() []scene {
			var fs []scene
			for k := range 10 {
				fs = append(fs, scene{k * 100, []obj{drone(float64(k)*14, 20)}})
			}
			return fs
		}(), 1},
		// Same centre, but 2.5 times the size: not the same object.
		{"size jump", []scene{
			{0, []obj{drone(100, 20)}},
			{100, []obj{drone(85, 50)}},
		}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ids, _ := runScene(t, NewTracker(TrackerConfig{}), c.frames)
			if ids["drone"] != c.wantID {
				t.Errorf("id = %d, want %d", ids["drone"], c.wantID)
			}
		})
	}
}

func TestTrackerIgnoresBadDetections(t *testing.T) {
	tr := NewTracker(TrackerConfig{MinHits: 1})
	nan := math.NaN()
	r := tr.Update(at(0), []Detection{
		{Class: "person", Confidence: 0.9, Box: Box{X: nan, Y: 0, W: 10, H: 10}},
		{Class: "person", Confidence: nan, Box: Box{X: 0, Y: 0, W: 10, H: 10}},
		{Class: "person", Confidence: 0.9, Box: Box{X: 0, Y: 0, W: 0, H: 10}},
		{Class: "person", Confidence: 0.9, Box: Box{X: 0, Y: 0, W: math.Inf(1), H: 10}},
		{Class: "person", Confidence: 0.9, Box: Box{X: 50, Y: 50, W: 10, H: 10}},
	})
	if len(r.Detections) != 1 || r.Detections[0].Box.X != 50 || r.Detections[0].TrackID != 1 {
		t.Errorf("detections = %v, want only the valid one as track 1", r.Detections)
	}
}

func TestTrackerConfigDefaults(t *testing.T) {
	got := NewTracker(TrackerConfig{IoUThreshold: math.NaN()}).cfg
	want := TrackerConfig{MinHits: 2, MaxAge: 2 * time.Second, IoUThreshold: 0.2}
	if got != want {
		t.Errorf("config = %+v, want %+v", got, want)
	}
}

func det(class string, conf, x, y float64) Detection {
	return Detection{Class: class, Confidence: conf, Box: Box{X: x, Y: y, W: 40, H: 100}}
}

// A person half hidden for a moment is found only weakly: the second
// stage keeps the track (same id) instead of starting a new one after.
// Without it (every detection high, weak ones filtered out beforehand as
// min_confidence does) the same walk becomes two tracks.
func TestTrackerTwoStageKeepsHiddenPerson(t *testing.T) {
	confs := []float64{0.8, 0.8, 0.8, 0.3, 0.3, 0.3, 0.3, 0.3, 0.8, 0.8}
	run := func(tr *Tracker, filter float64) (ids map[uint64]bool) {
		ids = map[uint64]bool{}
		for i, c := range confs {
			var dets []Detection
			if c >= filter {
				dets = []Detection{det("person", c, 100+float64(i)*10, 50)}
			}
			res := tr.Update(at(i*500), dets)
			for _, d := range res.Detections {
				ids[d.TrackID] = true
			}
		}
		return ids
	}
	if ids := run(NewTracker(TrackerConfig{HighConfidence: 0.5, MaxAge: 1500 * time.Millisecond}), 0); len(ids) != 1 {
		t.Fatalf("two-stage: ids %v, want one track", ids)
	}
	if ids := run(NewTracker(TrackerConfig{MaxAge: 1500 * time.Millisecond}), 0.5); len(ids) != 2 {
		t.Fatalf("weak detections filtered out: ids %v, want two tracks (the control)", ids)
	}
}

func TestTrackerWeakDetectionsNeverStartTracks(t *testing.T) {
	tr := NewTracker(TrackerConfig{HighConfidence: 0.5})
	for i := range 6 {
		res := tr.Update(at(i*500), []Detection{det("person", 0.3, 100, 50)})
		if len(res.Detections) != 0 || len(res.Events) != 0 {
			t.Fatalf("frame %d: %+v from weak detections alone", i, res)
		}
	}
}

// A van seen as a car, then a truck, then a car is one track, named by
// its most confident sighting.
func TestTrackerVehicleClassesOneTrack(t *testing.T) {
	tr := NewTracker(TrackerConfig{})
	var ids = map[uint64]bool{}
	var last Detection
	for i, c := range []string{"car", "truck", "car", "car"} {
		conf := 0.6
		if c == "truck" {
			conf = 0.7
		}
		res := tr.Update(at(i*500), []Detection{det(c, conf, 200, 80)})
		for _, d := range res.Detections {
			ids[d.TrackID] = true
			last = d
		}
	}
	if len(ids) != 1 || last.Class != "truck" {
		t.Fatalf("ids %v, last %v: want one track reported as truck", ids, last)
	}
}

// A gated frame looks only where things move: a confirmed track
// elsewhere is carried at its last box, a tentative one survives, and a
// track carried past MaxAge still ends.
func TestTrackerSearchedRegions(t *testing.T) {
	tr := NewTracker(TrackerConfig{MaxAge: 2 * time.Second})
	standing := det("person", 0.9, 500, 300)
	tr.Update(at(0), []Detection{standing})
	res := tr.Update(at(500), []Detection{standing})
	if len(res.Detections) != 1 {
		t.Fatalf("not confirmed: %+v", res)
	}
	id := res.Detections[0].TrackID
	// A walker far away is the only motion; a newcomer there is tentative.
	walker := Box{X: 0, Y: 0, W: 200, H: 200}
	res = tr.UpdateSearched(at(1000), []Detection{det("person", 0.9, 50, 50)}, []Box{walker})
	if len(res.Detections) != 1 || res.Detections[0].TrackID != id || !res.Detections[0].Carried || res.Detections[0].Box != standing.Box {
		t.Fatalf("outside the search: %+v, want track %d carried at its box", res.Detections, id)
	}
	// Nothing searched at all (the whole frame was still): still carried,
	// and the tentative walker survives to be confirmed next time.
	res = tr.UpdateSearched(at(1500), nil, []Box{})
	if len(res.Detections) != 1 || !res.Detections[0].Carried {
		t.Fatalf("still frame: %+v", res.Detections)
	}
	res = tr.UpdateSearched(at(2000), []Detection{det("person", 0.9, 55, 50)}, []Box{walker})
	var confirmed bool
	for _, e := range res.Events {
		confirmed = confirmed || e.Kind == EventTrackStart
	}
	if !confirmed {
		t.Fatalf("the walker was not confirmed after an unsearched frame: %+v", res)
	}
	// Carried past MaxAge since its last match (at 500 ms): it ends.
	res = tr.UpdateSearched(at(2600), nil, []Box{})
	var ended []uint64
	for _, e := range res.Events {
		if e.Kind == EventTrackEnd {
			ended = append(ended, e.TrackID)
		}
	}
	if len(ended) != 1 || ended[0] != id {
		t.Fatalf("ended %v, want %d", ended, id)
	}
}

// A traffic cone seen as a person at 0.43 in every frame never becomes a
// track; a person at 0.8 does at once.
func TestTrackerConfirmConfidence(t *testing.T) {
	tr := NewTracker(TrackerConfig{HighConfidence: 0.4, ConfirmConfidence: 0.5})
	for i := range 10 {
		res := tr.Update(at(i*500), []Detection{det("person", 0.43, 30, 170), det("person", 0.8, 300+float64(i)*5, 200)})
		if i == 0 {
			continue
		}
		if len(res.Detections) != 1 || res.Detections[0].Box.X < 300 {
			t.Fatalf("frame %d: %v; want only the person at 0.8", i, res.Detections)
		}
	}
}
