package place_test

import (
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/telemetry"
)

// fixedRig is a Placer with the default view's camera "gate" calibrated
// and the fences given.
func fixedRig(t *testing.T, fences ...geo.Fence) (*rig, view) {
	t.Helper()
	r := newRig(t, place.Config{Sites: []geo.Site{site}, Fences: fences})
	v := defaultView()
	r.p.AddCamera("gate", "", place.CameraConfig{ControlPoints: v.points(t, six...)})
	return r, v
}

// eventByID finds an event among the written ones.
func eventByID(es []telemetry.Event, id telemetry.UUID) (telemetry.Event, bool) {
	for _, e := range es {
		if e.ID == id {
			return e, true
		}
	}
	return telemetry.Event{}, false
}

func TestTrackWalkingIntoAKeepOutFence(t *testing.T) {
	v := defaultView()
	inside := v.at(t, 960, 900)
	yard := geo.Fence{ID: "yard", Name: "Yard", Site: "hq", Kind: geo.KeepOut, Polygon: square(inside, 1.5)}
	cars := geo.Fence{ID: "cars", Name: "Cars", Site: "hq", Kind: geo.Restricted, Polygon: square(inside, 2), Classes: []string{"car"}}
	if yard.Contains(v.at(t, 300, 700)) {
		t.Fatal("test geometry: the walk starts inside the yard")
	}
	r, _ := fixedRig(t, yard, cars)

	r.p.Frame(frame("gate", t0, box(7, "person", 300, 700)))
	if es := r.feed.fenceEvents(); len(es) != 0 {
		t.Fatalf("a person outside every fence raised %v", kinds(es))
	}

	in := frame("gate", t0.Add(time.Second), box(7, "person", 960, 900))
	r.p.Frame(in)
	us := r.feed.updates()
	last := us[len(us)-1]
	if prev := us[len(us)-2]; prev.Detections == nil || !prev.Detections.Time.Equal(in.Time) || last.Event == nil {
		t.Fatalf("the frame's detections are not published before its fence event: %+v then %+v", prev, last)
	}
	es := r.feed.fenceEvents()
	if got := kinds(es); !slices.Equal(got, []string{geo.EventFenceEnter + " yard"}) {
		t.Fatalf("a person walking into a keep-out fence (and a cars-only fence) raised %v, want the yard's enter alone (a track is no vehicle: no breach)", got)
	}
	e := es[0]
	placed := objPoint(t, r.feed.detections()[1].Objects[0])
	if e.CameraID != "gate" || e.TrackID != 7 || e.VehicleID != "" || e.Site != "hq" || !e.Time.Equal(in.Time) || !e.Received.Equal(in.Received) {
		t.Errorf("enter event %+v", e)
	}
	if e.Lat == nil || e.Lon == nil || *e.Lat != placed[1] || *e.Lon != placed[0] {
		t.Errorf("enter event at %v, %v; the person was placed at %v", e.Lat, e.Lon, placed)
	}
	if e.Data["fence"] != "yard" || e.Data["fence_name"] != "Yard" || e.Data["fence_kind"] != "keep-out" || e.Data["class"] != "person" || e.Data["confidence"] != 0.8 {
		t.Errorf("enter event data %v", e.Data)
	}
	if e.Message != "person 7 on gate entered Yard (keep-out)" {
		t.Errorf("enter message %q", e.Message)
	}
	if w, ok := eventByID(r.writer.written(), e.ID); !ok || w.Kind != e.Kind || w.Data["fence"] != "yard" {
		t.Errorf("the enter event was not written: %+v", r.writer.written())
	}
	if got := r.triggered(); !slices.Equal(got, []string{"gate"}) {
		t.Errorf("recording triggered for %v, want gate once", got)
	}

	// Still inside: nothing new. A car arriving enters both fences, in
	// the order of their ids.
	r.p.Frame(frame("gate", t0.Add(2*time.Second), box(7, "person", 962, 902), box(8, "car", 958, 898)))
	es = r.feed.fenceEvents()[1:]
	if got := kinds(es); !slices.Equal(got, []string{geo.EventFenceEnter + " cars", geo.EventFenceEnter + " yard"}) {
		t.Fatalf("a car arriving raised %v", got)
	}
	if es[0].TrackID != 8 || es[0].Message != "car 8 on gate entered Cars (restricted)" || es[0].Data["class"] != "car" {
		t.Errorf("car's event %+v", es[0])
	}

	// The person's track ends: the end is published where it was last
	// seen, then its exit from the yard.
	lastSeen := objPoint(t, r.feed.detections()[2].Objects[0])
	r.p.Event(telemetry.Event{Time: t0.Add(3 * time.Second), ID: telemetry.NewUUID(), Kind: "track.end", CameraID: "gate", TrackID: 7, Data: map[string]any{"class": "person"}})
	var after []telemetry.Event
	for _, u := range r.feed.updates() {
		if u.Event != nil && u.Event.Time.Equal(t0.Add(3*time.Second)) {
			after = append(after, *u.Event)
		}
	}
	if len(after) != 2 || after[0].Kind != "track.end" || after[1].Kind != geo.EventFenceExit {
		t.Fatalf("track end published %v, want track.end then geofence.exit", kinds(after))
	}
	if end := after[0]; end.Lat == nil || *end.Lat != lastSeen[1] || *end.Lon != lastSeen[0] {
		t.Errorf("track.end placed at %v, %v; last seen at %v", end.Lat, end.Lon, lastSeen)
	}
	exit := after[1]
	if exit.Data["fence"] != "yard" || exit.TrackID != 7 || exit.CameraID != "gate" || exit.Data["dwell_s"] != 2.0 {
		t.Errorf("exit event %+v", exit)
	}
	if exit.Message != "person 7 on gate left Yard after 2s" {
		t.Errorf("exit message %q", exit.Message)
	}
	if exit.Lat == nil || *exit.Lat != lastSeen[1] || *exit.Lon != lastSeen[0] {
		t.Errorf("exit placed at %v, %v; last seen at %v", exit.Lat, exit.Lon, lastSeen)
	}
	written := r.writer.written()
	for _, e := range after {
		if _, ok := eventByID(written, e.ID); !ok {
			t.Errorf("%s was not written", e.Kind)
		}
	}

	// The same track id seen again is a new visit: it enters again.
	r.p.Frame(frame("gate", t0.Add(4*time.Second), box(7, "person", 960, 900)))
	if es := r.feed.fenceEvents(); kinds(es[len(es)-1:])[0] != geo.EventFenceEnter+" yard" || es[len(es)-1].TrackID != 7 {
		t.Errorf("a track seen again after its end did not enter again: %v", kinds(es))
	}
}

func TestTrackDwellAndLeavingOnFoot(t *testing.T) {
	v := defaultView()
	queue := geo.Fence{ID: "queue", Name: "Queue", Kind: geo.Restricted, Polygon: square(v.at(t, 960, 900), 1.5), Dwell: 2 * time.Second}
	r, _ := fixedRig(t, queue)
	r.p.Frame(frame("gate", t0, box(3, "", 960, 900)))
	r.p.Frame(frame("gate", t0.Add(time.Second), box(3, "", 960, 900)))
	r.p.Frame(frame("gate", t0.Add(3*time.Second), box(3, "", 960, 900)))
	r.p.Frame(frame("gate", t0.Add(4*time.Second), box(3, "", 960, 900)))
	r.p.Frame(frame("gate", t0.Add(5*time.Second), box(3, "", 300, 700)))
	es := r.feed.fenceEvents()
	if got := kinds(es); !slices.Equal(got, []string{geo.EventFenceEnter + " queue", geo.EventFenceDwell + " queue", geo.EventFenceExit + " queue"}) {
		t.Fatalf("a track staying 5 s in a 2 s dwell fence raised %v", got)
	}
	if es[1].Message != "track 3 on gate has been in Queue for 3s" || es[1].Data["dwell_s"] != 3.0 {
		t.Errorf("dwell event %q %v", es[1].Message, es[1].Data)
	}
	if es[2].Message != "track 3 on gate left Queue after 5s" || !es[2].Time.Equal(t0.Add(5*time.Second)) {
		t.Errorf("exit event %q at %s", es[2].Message, es[2].Time)
	}
}

func TestEventsArePlacedStoredAndTriggerRecording(t *testing.T) {
	r, v := fixedRig(t)
	r.p.Frame(frame("gate", t0, box(5, "person", 700, 950)))
	seen := v.at(t, 700, 950)

	zone := telemetry.Event{Time: t0, ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "gate", TrackID: 5}
	r.p.Event(zone)
	lat, lon := 1.0, 2.0
	given := telemetry.Event{Time: t0, ID: telemetry.NewUUID(), Kind: "zone.exit", CameraID: "gate", TrackID: 5, Lat: &lat, Lon: &lon}
	r.p.Event(given)
	unknown := telemetry.Event{Time: t0, ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "gate", TrackID: 99}
	r.p.Event(unknown)
	stream := telemetry.Event{Time: t0, ID: telemetry.NewUUID(), Kind: "stream.stalled", CameraID: "other"}
	r.p.Event(stream)

	pub := r.feed.events(nil)
	if len(pub) != 4 {
		t.Fatalf("published %v", kinds(pub))
	}
	if e := pub[0]; e.Lat == nil || metres(orb.Point{*e.Lon, *e.Lat}, seen) > 0.05 {
		t.Errorf("a zone event of a placed track is not where the track was seen: %v, %v", e.Lat, e.Lon)
	}
	if e := pub[1]; *e.Lat != 1 || *e.Lon != 2 {
		t.Errorf("an event's own position was replaced: %v, %v", *e.Lat, *e.Lon)
	}
	if e := pub[2]; e.Lat != nil {
		t.Errorf("an event of a track never placed was placed at %v, %v", *e.Lat, *e.Lon)
	}
	written := r.writer.written()
	for _, e := range []telemetry.Event{zone, given, unknown, stream} {
		if _, ok := eventByID(written, e.ID); !ok {
			t.Errorf("%s (%s) was not written", e.Kind, e.CameraID)
		}
	}
	// The camera's events start recording; its stream's do not.
	if got := r.triggered(); !slices.Equal(got, []string{"gate", "gate", "gate"}) {
		t.Errorf("recording triggered for %v", got)
	}
}

func TestVehicleFenceEventsWhileRunning(t *testing.T) {
	centre := orb.Point{siteLon, siteLat}
	ops := geo.Fence{ID: "ops", Name: "Ops", Site: "hq", Kind: geo.KeepIn, Polygon: square(centre, 100)}
	yardAt := offset(centre, 30, 30)
	yard := geo.Fence{ID: "yard", Name: "Yard", Site: "hq", Kind: geo.KeepOut, Polygon: square(yardAt, 5), Classes: []string{"person"}}
	r := newRig(t, place.Config{Sites: []geo.Site{site}, Fences: []geo.Fence{ops, yard}})
	r.run(t)

	of := func(id string) func(telemetry.Event) bool {
		return func(e telemetry.Event) bool { return e.VehicleID == id && isFenceKind(e.Kind) }
	}
	start := offset(centre, -20, -20) // inside ops, outside the yard
	// Until Run follows the bus, what is published is not seen: publish
	// until the vehicle is seen entering the keep-in area.
	waitFor(t, 10*time.Second, "the vehicle entering the keep-in area", func() bool {
		r.hub.PublishVehicle(vehicleAt("uav1", start, 100, time.Now()))
		return len(r.feed.events(of("uav1"))) > 0
	})
	if got := kinds(r.feed.events(of("uav1"))); !slices.Equal(got, []string{geo.EventFenceEnter + " ops"}) {
		t.Fatalf("a vehicle first seen inside a keep-in area raised %v", got)
	}

	// A vehicle without a position fix is not placed, even at the yard.
	ghost := vehicleAt("ghost", yardAt, 100, time.Now())
	ghost.Position.Valid = false
	r.hub.PublishVehicle(ghost)
	r.hub.PublishVehicle(vehicleAt("uav1", yardAt, 100, time.Now()))
	want := []string{geo.EventFenceEnter + " ops", geo.EventFenceEnter + " yard", geo.EventFenceBreach + " yard"}
	waitFor(t, 10*time.Second, "the vehicle's breach of the keep-out yard", func() bool { return len(r.feed.events(of("uav1"))) >= len(want) })
	es := r.feed.events(of("uav1"))
	if got := kinds(es); !slices.Equal(got, want) {
		t.Fatalf("a vehicle flying into a keep-out yard (of a person-only fence: vehicles always count) raised %v, want %v", got, want)
	}
	if g := r.feed.events(of("ghost")); len(g) != 0 {
		t.Errorf("a vehicle without a position raised %v", kinds(g))
	}
	for _, e := range es[1:] {
		if e.Lat == nil || *e.Lat != yardAt[1] || *e.Lon != yardAt[0] || e.CameraID != "" || e.TrackID != 0 || e.Site != "hq" {
			t.Errorf("%s %+v", e.Kind, e)
		}
	}
	if es[1].Message != "uav1 entered Yard (keep-out)" || es[2].Message != "uav1 breached Yard: it is inside a keep-out area" {
		t.Errorf("messages %q, %q", es[1].Message, es[2].Message)
	}

	// Out of the keep-in area altogether: exits, and a breach of ops.
	r.hub.PublishVehicle(vehicleAt("uav1", offset(centre, 300, 0), 100, time.Now()))
	want = append(want, geo.EventFenceExit+" ops", geo.EventFenceBreach+" ops", geo.EventFenceExit+" yard")
	waitFor(t, 10*time.Second, "the vehicle leaving the keep-in area", func() bool { return len(r.feed.events(of("uav1"))) >= len(want) })
	es = r.feed.events(of("uav1"))
	if got := kinds(es); !slices.Equal(got, want) {
		t.Fatalf("leaving: %v, want %v", got, want)
	}
	if es[4].Message != "uav1 breached Ops: it left a keep-in area" || !strings.HasPrefix(es[3].Message, "uav1 left Ops after ") {
		t.Errorf("messages %q, %q", es[3].Message, es[4].Message)
	}

	// A vehicle first seen outside the keep-in area breaches it.
	r.hub.PublishVehicle(vehicleAt("uav2", offset(centre, 0, -500), 100, time.Now()))
	waitFor(t, 10*time.Second, "the second vehicle's breach", func() bool { return len(r.feed.events(of("uav2"))) > 0 })
	if got := kinds(r.feed.events(of("uav2"))); !slices.Equal(got, []string{geo.EventFenceBreach + " ops"}) {
		t.Errorf("a vehicle first seen outside a keep-in area raised %v", got)
	}

	written := r.writer.written()
	for _, e := range r.feed.fenceEvents() {
		if _, ok := eventByID(written, e.ID); !ok {
			t.Errorf("%s of %s was published, not written", e.Kind, e.VehicleID)
		}
	}
	if got := r.triggered(); len(got) != 0 {
		t.Errorf("vehicle events started camera recordings: %v", got)
	}
}

// TestTrackHeadingIntoAKeepOutFence: a person walking steadily towards a
// keep-out area is told as heading into it before entering (a fence for
// cars alone stays quiet), with the lead time; the live detections carry
// the track's ground velocity.
func TestTrackHeadingIntoAKeepOutFence(t *testing.T) {
	v := defaultView()
	target := v.at(t, 960, 900)
	yard := geo.Fence{ID: "yard", Name: "Yard", Site: "hq", Kind: geo.KeepOut, Polygon: square(target, 1.5)}
	cars := geo.Fence{ID: "cars", Name: "Cars", Site: "hq", Kind: geo.KeepOut, Polygon: square(target, 2), Classes: []string{"car"}}
	r, _ := fixedRig(t, yard, cars)
	const frames, step = 21, 500 * time.Millisecond
	for i := range frames {
		f := float64(i) / (frames - 1)
		r.p.Frame(frame("gate", t0.Add(time.Duration(i)*step), box(7, "person", 300+660*f, 700+200*f)))
	}
	var predicted, entered []telemetry.Event
	for _, e := range r.feed.events(nil) {
		switch e.Kind {
		case geo.EventFenceBreachPredicted:
			predicted = append(predicted, e)
		case geo.EventFenceEnter:
			entered = append(entered, e)
		}
	}
	if len(predicted) != 1 || predicted[0].Data["fence"] != "yard" || predicted[0].Data["class"] != "person" || predicted[0].TrackID != 7 {
		t.Fatalf("predicted %v, want the yard's once", kinds(predicted))
	}
	if len(entered) == 0 || entered[0].Data["fence"] != "yard" {
		t.Fatalf("entered %v", kinds(entered))
	}
	lead := entered[0].Time.Sub(predicted[0].Time)
	in, _ := predicted[0].Data["in_s"].(float64)
	t.Logf("heading into the yard told %s before entering it (predicted in %.0f s)", lead, in)
	if lead < 3*time.Second || in <= 0 {
		t.Fatalf("told %s ahead (in %v s)", lead, in)
	}
	// The velocity on the live feed is the walk's over its last seconds
	// (steady in pixels, slower on the ground as it nears the camera).
	ds := r.feed.detections()
	back := int(4 * time.Second / step)
	first, last := objPoint(t, ds[len(ds)-1-back].Objects[0]), objPoint(t, ds[len(ds)-1].Objects[0])
	speed := metres(first, last) / (float64(back) * step.Seconds())
	o := ds[len(ds)-1].Objects[0]
	if o.VNorth == nil || o.VEast == nil {
		t.Fatal("no velocity on a walking track")
	}
	if got := math.Hypot(*o.VNorth, *o.VEast); math.Abs(got-speed) > 0.15*speed {
		t.Fatalf("velocity %.2f m/s, the walk's %.2f", got, speed)
	}
	if ds[0].Objects[0].VNorth != nil {
		t.Fatal("a velocity from one position")
	}
}
