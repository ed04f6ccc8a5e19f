package place_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// storeRig is a Placer over a store, with the default view's camera
// "gate" calibrated from its configuration.
func storeRig(t *testing.T, st *memStore, fences ...geo.Fence) (*rig, view) {
	t.Helper()
	cfg := place.Config{Sites: []geo.Site{site}, Fences: fences}
	if st != nil {
		cfg.Store = st
	}
	r := newRig(t, cfg)
	v := defaultView()
	r.p.AddCamera("gate", "", place.CameraConfig{ControlPoints: v.points(t, six...)})
	return r, v
}

// eventCursor hands out the fence events raised since its last call, as
// "kind fence".
type eventCursor struct {
	r    *rig
	seen int
}

func (c *eventCursor) next() []string {
	es := c.r.feed.fenceEvents()
	out := kinds(es[c.seen:])
	c.seen = len(es)
	return out
}

func TestPutAndDeleteGeofenceThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	v := defaultView()
	yard := geo.Fence{ID: "yard", Name: "Yard", Kind: geo.KeepOut, Polygon: square(v.at(t, 960, 900), 1.5)}
	st := newStore()
	r, _ := storeRig(t, st, yard)
	ev := &eventCursor{r: r}

	// Configured fences are the configuration's.
	moved := yard
	moved.Polygon = square(v.at(t, 700, 950), 1.5)
	if err := r.p.PutGeofence(ctx, moved); !errors.Is(err, geo.ErrConfigured) {
		t.Errorf("PutGeofence of a configured fence: %v, want ErrConfigured", err)
	}
	if err := r.p.DeleteGeofence(ctx, "yard"); !errors.Is(err, geo.ErrConfigured) {
		t.Errorf("DeleteGeofence of a configured fence: %v, want ErrConfigured", err)
	}
	if err := r.p.DeleteGeofence(ctx, "nope"); !errors.Is(err, geo.ErrNotFound) {
		t.Errorf("DeleteGeofence of an unknown fence: %v, want ErrNotFound", err)
	}
	if puts, deleted, _, _ := st.snapshot(); len(puts) != 0 || len(deleted) != 0 {
		t.Fatalf("refused changes reached the store: put %v, deleted %v", puts, deleted)
	}
	r.p.Frame(frame("gate", t0, box(1, "person", 700, 950)))
	if got := ev.next(); len(got) != 0 {
		t.Fatalf("the configured yard moved: %v", got)
	}

	// An API fence is stored, then in force.
	gateArea := geo.Fence{ID: "gate-area", Name: "Gate area", Kind: geo.Restricted, Polygon: square(v.at(t, 700, 950), 1.5)}
	if err := r.p.PutGeofence(ctx, gateArea); err != nil {
		t.Fatal(err)
	}
	if puts, _, _, _ := st.snapshot(); len(puts) != 1 || puts[0].ID != "gate-area" || !puts[0].Polygon.Equal(gateArea.Polygon) {
		t.Fatalf("stored %+v", puts)
	}
	list, src := r.p.Geofences()
	if len(list) != 2 || list[0].ID != "yard" || list[1].ID != "gate-area" || src["yard"] != "config" || src["gate-area"] != "api" {
		t.Fatalf("fences %v, sources %v", list, src)
	}
	r.p.Frame(frame("gate", t0.Add(time.Second), box(1, "person", 700, 950)))
	if got := ev.next(); !slices.Equal(got, []string{geo.EventFenceEnter + " gate-area"}) {
		t.Fatalf("a person inside a new API fence raised %v", got)
	}

	// Replaced elsewhere: the person inside is now outside it.
	gateArea.Polygon = square(v.at(t, 1200, 950), 1.5)
	if err := r.p.PutGeofence(ctx, gateArea); err != nil {
		t.Fatal(err)
	}
	if list, _ := r.p.Geofences(); len(list) != 2 {
		t.Fatalf("replacing a fence made %d fences", len(list))
	}
	r.p.Frame(frame("gate", t0.Add(2*time.Second), box(1, "person", 700, 950)))
	r.p.Frame(frame("gate", t0.Add(3*time.Second), box(1, "person", 1200, 950)))
	if got := ev.next(); !slices.Equal(got, []string{geo.EventFenceExit + " gate-area", geo.EventFenceEnter + " gate-area"}) {
		t.Fatalf("a fence moved from under a person, who then walked into it: %v", got)
	}

	// Deleted: gone from the store and no longer in force.
	if err := r.p.DeleteGeofence(ctx, "gate-area"); err != nil {
		t.Fatal(err)
	}
	if _, deleted, _, _ := st.snapshot(); !slices.Equal(deleted, []string{"gate-area"}) {
		t.Fatalf("deleted %v", deleted)
	}
	if list, src := r.p.Geofences(); len(list) != 1 || src["gate-area"] != "" {
		t.Fatalf("after the delete: %v %v", list, src)
	}
	r.p.Frame(frame("gate", t0.Add(4*time.Second), box(1, "person", 300, 700)))
	r.p.Frame(frame("gate", t0.Add(5*time.Second), box(1, "person", 1200, 950)))
	if got := ev.next(); len(got) != 0 {
		t.Fatalf("a deleted fence raised %v", got)
	}
	if err := r.p.DeleteGeofence(ctx, "gate-area"); !errors.Is(err, geo.ErrNotFound) {
		t.Errorf("deleting it again: %v, want ErrNotFound", err)
	}

	// A fence that is no fence is refused, and not in force.
	bad := geo.Fence{ID: "bad", Name: "Bad", Kind: "maybe", Polygon: square(v.at(t, 700, 950), 1.5)}
	if err := r.p.PutGeofence(ctx, bad); err == nil {
		t.Error("PutGeofence accepted a fence of an unknown kind")
	}
	if _, src := r.p.Geofences(); src["bad"] != "" {
		t.Errorf("the refused fence is in the list: %v", src)
	}

	// A store that fails: the fence is not in force.
	st.mu.Lock()
	st.failPut = errors.New("database down")
	st.mu.Unlock()
	lost := geo.Fence{ID: "lost", Name: "Lost", Kind: geo.Restricted, Polygon: square(v.at(t, 300, 700), 1.5)}
	if err := r.p.PutGeofence(ctx, lost); err == nil || !strings.Contains(err.Error(), "database down") {
		t.Errorf("PutGeofence with the store down: %v", err)
	}
	r.p.Frame(frame("gate", t0.Add(6*time.Second), box(1, "person", 300, 700)))
	if got := ev.next(); len(got) != 0 {
		t.Errorf("a fence the store refused raised %v", got)
	}
}

func TestPutGeofenceWithoutAStore(t *testing.T) {
	r, v := storeRig(t, nil)
	f := geo.Fence{ID: "a", Name: "A", Kind: geo.Restricted, Polygon: square(v.at(t, 700, 950), 1.5)}
	if err := r.p.PutGeofence(context.Background(), f); err == nil {
		t.Error("PutGeofence without a database succeeded")
	}
	if list, _ := r.p.Geofences(); len(list) != 0 {
		t.Errorf("fences %v", list)
	}
	if err := r.p.DeleteGeofence(context.Background(), "a"); !errors.Is(err, geo.ErrNotFound) {
		t.Errorf("DeleteGeofence: %v", err)
	}
}

// An invalid fence handed to PutGeofence is refused; it must not be left
// in the store, where the next start would only skip it and
// DeleteGeofence cannot reach it (it is in no list: ErrNotFound).
func TestPutGeofenceStoresNothingItRefuses(t *testing.T) {
	st := newStore()
	r, v := storeRig(t, st)
	open := geo.Fence{ID: "open", Name: "Open", Kind: geo.Restricted, Polygon: orb.Polygon{square(v.at(t, 700, 950), 1.5)[0][:4]}}
	if err := r.p.PutGeofence(context.Background(), open); err == nil {
		t.Fatal("PutGeofence accepted a ring that is not closed")
	}
	if puts, _, _, _ := st.snapshot(); len(puts) != 0 {
		t.Errorf("the refused fence was stored: %+v", puts)
	}
}

func TestStoredGeofencesAreLoadedByRun(t *testing.T) {
	v := defaultView()
	yard := geo.Fence{ID: "yard", Name: "Yard", Kind: geo.KeepOut, Polygon: square(v.at(t, 960, 900), 1.5)}
	st := newStore()
	st.fenceErrs = 1 // the database answers the second time
	st.fences["api1"] = geo.Fence{ID: "api1", Name: "API one", Kind: geo.Restricted, Polygon: square(v.at(t, 700, 950), 1.5)}
	st.fences["bad"] = geo.Fence{ID: "bad", Name: "Bad", Kind: "maybe", Polygon: square(v.at(t, 300, 700), 1.5)}
	st.fences["yard"] = geo.Fence{ID: "yard", Name: "Stored yard", Kind: geo.Restricted, Polygon: square(v.at(t, 1200, 950), 1.5)}
	r, _ := storeRig(t, st, yard)
	ev := &eventCursor{r: r}
	r.run(t)

	waitFor(t, 15*time.Second, "the stored fences to load", func() bool {
		_, src := r.p.Geofences()
		return src["api1"] != ""
	})
	list, src := r.p.Geofences()
	if len(list) != 2 || src["yard"] != "config" || src["api1"] != "api" || src["bad"] != "" {
		t.Fatalf("fences %v, sources %v: want the configured yard and api1", list, src)
	}
	for _, f := range list {
		if f.ID == "yard" && (f.Name != "Yard" || !f.Polygon.Equal(yard.Polygon)) {
			t.Errorf("the stored yard replaced the configured one: %+v", f)
		}
	}
	if _, _, _, reads := st.snapshot(); reads != 2 {
		t.Errorf("the store was read %d times; want a retry after its failure, then nothing", reads)
	}
	logged := r.log.String()
	if !strings.Contains(logged, "stored geofence invalid; skipped") || !strings.Contains(logged, "id=bad") || !strings.Contains(logged, "the configuration wins") {
		t.Errorf("the skipped fences were not logged:\n%s", logged)
	}

	r.p.Frame(frame("gate", t0, box(1, "person", 1200, 950), box(2, "person", 700, 950), box(3, "person", 300, 700)))
	r.p.Frame(frame("gate", t0.Add(time.Second), box(4, "person", 960, 900)))
	if got := ev.next(); !slices.Equal(got, []string{geo.EventFenceEnter + " api1", geo.EventFenceEnter + " yard"}) {
		t.Fatalf("people in the stored api1, the configured yard, the stored yard and the invalid fence raised %v", got)
	}
	if err := r.p.DeleteGeofence(context.Background(), "api1"); err != nil {
		t.Errorf("a loaded API fence cannot be deleted: %v", err)
	}
}

// A fence put through the API since start wins over what the load read
// before it.
func TestStoredGeofenceDoesNotReplaceOnePutSinceStart(t *testing.T) {
	v := defaultView()
	st := newStore()
	r, _ := storeRig(t, st, geo.Fence{ID: "marker", Name: "Marker", Kind: geo.Restricted, Polygon: square(markerAt, 10)})
	newer := geo.Fence{ID: "api1", Name: "Newer", Kind: geo.Restricted, Polygon: square(v.at(t, 700, 950), 1.5)}
	if err := r.p.PutGeofence(context.Background(), newer); err != nil {
		t.Fatal(err)
	}
	st.mu.Lock()
	st.fences["api1"] = geo.Fence{ID: "api1", Name: "Older", Kind: geo.Restricted, Polygon: square(v.at(t, 1200, 950), 1.5)}
	st.fences["api2"] = geo.Fence{ID: "api2", Name: "Other", Kind: geo.Restricted, Polygon: square(v.at(t, 300, 700), 1.5)}
	st.mu.Unlock()
	r.run(t)
	waitFor(t, 10*time.Second, "the stored fences to load", func() bool {
		_, src := r.p.Geofences()
		return src["api2"] != ""
	})
	list, _ := r.p.Geofences()
	var names []string
	for _, f := range list {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"Marker", "Newer", "Other"}) {
		t.Fatalf("fences %v, want the marker, the newer api1 and api2", names)
	}
}

func TestCalibrateThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	st := newStore()
	r := newRig(t, place.Config{Sites: []geo.Site{site}, Store: st})
	r.p.AddCamera("gate", "", place.CameraConfig{})
	r.p.AddCamera("other", "", place.CameraConfig{})
	r.p.AddCamera("drone", "uav", place.CameraConfig{})
	v := defaultView()
	pts := v.controlPoints(t, five...)

	res, err := r.p.Calibrate(ctx, "gate", pts)
	if err != nil {
		t.Fatal(err)
	}
	if rms, _ := res["rms_m"].(float64); res["kind"] != "homography" || res["control_points"] != 5 || !(rms < 0.01) {
		t.Fatalf("Calibrate returned %v", res)
	}
	_, _, cals, _ := st.snapshot()
	if len(cals) != 1 || cals[0].camera != "gate" || cals[0].name != "gate" || cals[0].kind != "fixed" {
		t.Fatalf("stored %+v", cals)
	}
	var stored struct {
		ControlPoints []geo.ControlPoint `json:"control_points"`
	}
	if err := json.Unmarshal(cals[0].calibration, &stored); err != nil || !slices.Equal(stored.ControlPoints, pts) {
		t.Fatalf("stored calibration %s (%v), want the control points", cals[0].calibration, err)
	}
	if cal := r.p.Calibration("gate"); cal["control_points"] != 5 {
		t.Errorf("calibration in force %v", cal)
	}
	r.p.Frame(frame("gate", t0, box(1, "person", 960, 850)))
	if o := r.writer.detections()[0].Objects[0]; o.GeoStatus != "ok" || metres(objPoint(t, o), v.at(t, 960, 850)) > 0.05 {
		t.Fatalf("after calibrating through the API: %+v", o)
	}

	// Refused: a drone camera, an unknown one, points that fit nothing.
	if _, err := r.p.Calibrate(ctx, "drone", pts); !errors.Is(err, geo.ErrInvalid) {
		t.Errorf("calibrating a drone camera: %v, want ErrInvalid", err)
	}
	if _, err := r.p.Calibrate(ctx, "ghost", pts); !errors.Is(err, geo.ErrNotFound) {
		t.Errorf("calibrating an unknown camera: %v, want ErrNotFound", err)
	}
	if _, err := r.p.Calibrate(ctx, "gate", pts[:3]); !errors.Is(err, geo.ErrInvalid) {
		t.Errorf("calibrating with 3 points: %v, want ErrInvalid", err)
	}
	if cal := r.p.Calibration("gate"); cal["control_points"] != 5 || cal["error"] != nil {
		t.Errorf("a refused calibration changed the one in force: %v", cal)
	}
	if cal := r.p.Calibration("drone"); cal["kind"] != "drone" {
		t.Errorf("drone calibration %v", cal)
	}

	// The store fails: nothing is put in force.
	st.mu.Lock()
	st.failPut = errors.New("database down")
	st.mu.Unlock()
	if _, err := r.p.Calibrate(ctx, "other", pts); err == nil {
		t.Error("Calibrate succeeded with the store down")
	}
	if cal := r.p.Calibration("other"); cal["kind"] != "none" {
		t.Errorf("a calibration the store refused is in force: %v", cal)
	}
	if _, _, cals, _ := st.snapshot(); len(cals) != 1 {
		t.Errorf("refused calibrations were stored: %+v", cals)
	}
}

func TestCalibrateWithoutAStorePutsItInForce(t *testing.T) {
	r := newRig(t, place.Config{Sites: []geo.Site{site}})
	r.p.AddCamera("gate", "", place.CameraConfig{})
	if _, err := r.p.Calibrate(context.Background(), "gate", defaultView().controlPoints(t, four...)); err != nil {
		t.Fatal(err)
	}
	if cal := r.p.Calibration("gate"); cal["control_points"] != 4 {
		t.Errorf("calibration %v", cal)
	}
}

func TestStoredCalibrationsAreAppliedAtRun(t *testing.T) {
	v1 := defaultView()
	v2 := newView(0, 0, 10, 20, -15) // turned 20° east: another mapping
	cal := func(v view, pixels ...[2]float64) json.RawMessage {
		b, err := json.Marshal(map[string]any{"control_points": v.controlPoints(t, pixels...)})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	st := newStore()
	r := newRig(t, place.Config{Sites: []geo.Site{site}, Store: st})
	r.p.AddCamera("a", "", place.CameraConfig{ControlPoints: v1.points(t, four...)}) // configured
	r.p.AddCamera("b", "", place.CameraConfig{})
	r.p.AddCamera("c", "", place.CameraConfig{})
	r.p.AddCamera("d", "uav", place.CameraConfig{})
	r.p.AddCamera("e", "", place.CameraConfig{})
	if _, err := r.p.Calibrate(context.Background(), "b", v1.controlPoints(t, five...)); err != nil {
		t.Fatal(err)
	}
	// What the store read returns: older calibrations for a and b, one
	// for c, one for a drone camera, one for a camera no longer
	// configured, and one with no points.
	st.cals = map[string]json.RawMessage{
		"a":     cal(v2, six...),
		"b":     cal(v2, six...),
		"c":     cal(v2, four...),
		"d":     cal(v2, four...),
		"gone":  cal(v2, four...),
		"e":     json.RawMessage(`{"control_points": []}`),
		"wrong": json.RawMessage(`not json`),
	}
	stop := r.run(t)
	select {
	case <-st.calRead:
	case <-time.After(testkit.Scale(10 * time.Second)):
		t.Fatal("Run never read the stored calibrations")
	}
	stop() // Run returns once the calibrations read are applied

	for _, tc := range []struct {
		camera string
		points int
		v      view
	}{{"a", 6, v2}, {"b", 5, v1}, {"c", 4, v2}} {
		if got := r.p.Calibration(tc.camera); got["control_points"] != tc.points {
			t.Errorf("camera %s: calibration %v, want %d control points", tc.camera, got, tc.points)
		}
		r.p.Frame(frame(tc.camera, t0, box(1, "person", 960, 850)))
		ds := r.writer.detections()
		if o := ds[len(ds)-1].Objects[0]; o.GeoStatus != "ok" || metres(objPoint(t, o), tc.v.at(t, 960, 850)) > 0.05 {
			t.Errorf("camera %s places %+v off its calibration", tc.camera, o)
		}
	}
	if got := r.p.Calibration("d"); got["kind"] != "drone" {
		t.Errorf("a stored calibration changed a drone camera: %v", got)
	}
	if got := r.p.Calibration("e"); got["kind"] != "none" {
		t.Errorf("a stored calibration without points calibrated e: %v", got)
	}
	if !strings.Contains(r.log.String(), "stored calibration unusable") || !strings.Contains(r.log.String(), "camera=d") {
		t.Errorf("the drone camera's stored calibration was not reported:\n%s", r.log.String())
	}
	if _, _, cals, _ := st.snapshot(); len(cals) != 1 || cals[0].camera != "b" {
		t.Errorf("stored calibrations were written back: %+v", cals)
	}
}
