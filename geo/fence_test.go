package geo_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/telemetry"
)

var t0 = time.Date(2026, 11, 23, 10, 0, 0, 0, time.UTC)

// square is a counter-clockwise square of side 2d degrees around (lon, lat).
func square(lon, lat, d float64) orb.Polygon {
	return orb.Polygon{{{lon - d, lat - d}, {lon + d, lat - d}, {lon + d, lat + d}, {lon - d, lat + d}, {lon - d, lat - d}}}
}

func TestFenceValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    geo.Fence
		want string // "" = valid
	}{
		{"square", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepOut, Polygon: square(114, 22, 0.001)}, ""},
		{"with a hole", geo.Fence{ID: "a", Name: "a", Kind: geo.Restricted, Polygon: orb.Polygon{square(114, 22, 0.002)[0], reverse(square(114, 22, 0.001)[0])}}, ""},
		{"kind", geo.Fence{ID: "a", Name: "a", Kind: "maybe", Polygon: square(114, 22, 0.001)}, `kind "maybe"`},
		{"clockwise", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepIn, Polygon: orb.Polygon{reverse(square(114, 22, 0.001)[0])}}, "clockwise"},
		{"two corners", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepIn, Polygon: orb.Polygon{{{114, 22}, {114.001, 22}, {114, 22}}}}, "at least 3 corners"},
		{"open", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepIn, Polygon: orb.Polygon{{{114, 22}, {114.001, 22}, {114.001, 22.001}, {114, 22.001}}}}, "not closed"},
		{"bow tie", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepOut, Polygon: orb.Polygon{{{114, 22}, {114.001, 22.001}, {114.001, 22}, {114, 22.001}, {114, 22}}}}, "crosses itself"},
		{"not lon/lat", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepOut, Polygon: square(200, 22, 0.001)}, "not [longitude, latitude]"},
		{"hole outside", geo.Fence{ID: "a", Name: "a", Kind: geo.Restricted, Polygon: orb.Polygon{square(114, 22, 0.001)[0], reverse(square(114.01, 22, 0.001)[0])}}, "outside the exterior"},
		{"no polygon", geo.Fence{ID: "a", Name: "a", Kind: geo.KeepOut}, "no polygon"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.f.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("%v, want %q", err, tc.want)
			}
		})
	}
}

func reverse(r orb.Ring) orb.Ring {
	out := make(orb.Ring, len(r))
	for i := range r {
		out[i] = r[len(r)-1-i]
	}
	return out
}

func kinds(es []geo.FenceEvent) []string {
	var out []string
	for _, e := range es {
		out = append(out, e.Kind+":"+e.Fence.ID)
	}
	return out
}

// A person walking through a works area: exactly enter, dwell, exit.
func TestTrackCrossingFence(t *testing.T) {
	fs, err := geo.NewFences([]geo.Fence{
		{ID: "works", Name: "Works area", Kind: geo.Restricted, Polygon: square(114.055, 22.54, 0.0005), Dwell: 20 * time.Second, Classes: []string{"person"}},
		{ID: "far", Name: "Elsewhere", Kind: geo.Restricted, Polygon: square(114.07, 22.55, 0.0005)},
	})
	if err != nil {
		t.Fatal(err)
	}
	var all []string
	// West to east across the square, one step a second, 1.2 m/s.
	for i := range 120 {
		lon := 114.0540 + float64(i)*0.00002
		es := fs.Update(geo.Object{ID: "cam/7", Class: "person", Point: orb.Point{lon, 22.54}, Time: t0.Add(time.Duration(i) * time.Second)})
		all = append(all, kinds(es)...)
	}
	if want := "geofence.enter:works geofence.dwell:works geofence.exit:works"; strings.Join(all, " ") != want {
		t.Fatalf("events %v, want %s", all, want)
	}
	// A car is not a person: the works area ignores it.
	if es := fs.Update(geo.Object{ID: "cam/8", Class: "car", Point: orb.Point{114.055, 22.54}, Time: t0}); len(es) != 0 {
		t.Fatalf("car: %v", kinds(es))
	}
	// A track that ends inside exits.
	fs.Update(geo.Object{ID: "cam/9", Class: "person", Point: orb.Point{114.055, 22.54}, Time: t0})
	if es := fs.Remove(geo.Object{ID: "cam/9", Class: "person", Point: orb.Point{114.055, 22.54}, Time: t0.Add(5 * time.Second)}); strings.Join(kinds(es), " ") != "geofence.exit:works" || es[0].Dwell != 5*time.Second || es[0].Object.Point[0] == 0 {
		t.Fatalf("remove: %v", kinds(es))
	}
}

func TestVehicleBreaches(t *testing.T) {
	fs, err := geo.NewFences([]geo.Fence{
		{ID: "tower", Name: "Tower crane", Kind: geo.KeepOut, Polygon: square(114.055, 22.54, 0.0002)},
		{ID: "site", Name: "Flight area", Kind: geo.KeepIn, Polygon: square(114.055, 22.54, 0.002)},
	})
	if err != nil {
		t.Fatal(err)
	}
	step := func(lon float64, s int) []string {
		return kinds(fs.Update(geo.Object{ID: "drone-1", Vehicle: true, Point: orb.Point{lon, 22.54}, Time: t0.Add(time.Duration(s) * time.Second)}))
	}
	if got := step(114.054, 0); strings.Join(got, " ") != "geofence.enter:site" {
		t.Fatal(got)
	}
	if got := step(114.055, 1); strings.Join(got, " ") != "geofence.breach:tower geofence.enter:tower" && strings.Join(got, " ") != "geofence.enter:tower geofence.breach:tower" {
		t.Fatal(got)
	}
	if got := step(114.0535, 2); strings.Join(got, " ") != "geofence.exit:tower" {
		t.Fatal(got)
	}
	if got := step(114.06, 3); strings.Join(got, " ") != "geofence.exit:site geofence.breach:site" {
		t.Fatal(got)
	}
}

// The recorded ArduPlane flight in node-mavlink (vtol.tlog), replayed,
// breaches a keep-out fence drawn around a stretch of its own track.
func TestFlightLogBreachesKeepOut(t *testing.T) {
	log := filepath.Join("..", "ingest", "mavlink", "testdata", "nodepeer", "node_modules", "node-mavlink", "examples", "vtol.tlog")
	f, err := os.Open(log)
	if err != nil {
		t.Fatalf("%v (run `make deps`)", err)
	}
	defer f.Close()
	rec := &positions{}
	if _, err := mavlink.ReadLog(context.Background(), f, mavlink.ProcessorConfig{Link: "log", Vehicles: []mavlink.VehicleConfig{{Name: "vtol", SystemID: 1}}, StoredRate: 5}, rec); err != nil {
		t.Fatal(err)
	}
	if len(rec.pts) < 100 {
		t.Fatalf("%d positions in the log", len(rec.pts))
	}
	// A 40 m keep-out box around the flight's middle position.
	mid := rec.pts[len(rec.pts)/2]
	l := geo.NewLocal(mid.p[1], mid.p[0])
	sw, ne := l.Point(-20, -20), l.Point(20, 20)
	fence := geo.Fence{ID: "no-fly", Name: "No-fly box", Kind: geo.KeepOut, Polygon: orb.Polygon{{sw, {ne[0], sw[1]}, ne, {sw[0], ne[1]}, sw}}}
	fs, err := geo.NewFences([]geo.Fence{fence})
	if err != nil {
		t.Fatal(err)
	}
	var breaches, enters, exits int
	var first time.Time
	for _, p := range rec.pts {
		for _, e := range fs.Update(geo.Object{ID: "vtol", Vehicle: true, Point: p.p, Time: p.t}) {
			switch e.Kind {
			case geo.EventFenceBreach:
				breaches++
				if first.IsZero() {
					first = e.Object.Time
				}
			case geo.EventFenceEnter:
				enters++
			case geo.EventFenceExit:
				exits++
			}
		}
	}
	if breaches == 0 || breaches != enters || exits < enters-1 || first.After(mid.t) {
		t.Fatalf("breaches %d, enters %d, exits %d, first at %s (the middle point at %s)", breaches, enters, exits, first, mid.t)
	}
	t.Logf("%d positions; the flight breached the box %d time(s), first at %s", len(rec.pts), breaches, first.Format(time.TimeOnly))
}

type stamped struct {
	p orb.Point
	t time.Time
}

// positions is a mavlink.Sink keeping the stored samples' positions.
type positions struct{ pts []stamped }

func (p *positions) Vehicle(*telemetry.Vehicle) {}
func (p *positions) State(*telemetry.Vehicle)   {}
func (p *positions) Event(telemetry.Event)      {}
func (p *positions) Sample(v *telemetry.Vehicle, t time.Time) {
	if v.Position.Valid {
		p.pts = append(p.pts, stamped{orb.Point{v.Position.Lon, v.Position.Lat}, t})
	}
}

// 100 fences × 1,000 moving objects: one update cycle of every object.
func BenchmarkFences(b *testing.B) {
	r := rand.New(rand.NewPCG(3, 4))
	var fences []geo.Fence
	for i := range 100 {
		fences = append(fences, geo.Fence{ID: fmt.Sprint(i), Name: fmt.Sprint(i), Kind: geo.Restricted,
			Polygon: square(114.05+r.Float64()*0.02, 22.53+r.Float64()*0.02, 0.0003+r.Float64()*0.0005)})
	}
	fs, err := geo.NewFences(fences)
	if err != nil {
		b.Fatal(err)
	}
	objs := make([]geo.Object, 1000)
	for i := range objs {
		objs[i] = geo.Object{ID: fmt.Sprint(i), Class: "person", Point: orb.Point{114.05 + r.Float64()*0.02, 22.53 + r.Float64()*0.02}}
	}
	now := t0
	for b.Loop() {
		now = now.Add(time.Second)
		for i := range objs {
			objs[i].Point[0] += (r.Float64() - 0.5) * 0.0001
			objs[i].Point[1] += (r.Float64() - 0.5) * 0.0001
			objs[i].Time = now
			fs.Update(objs[i])
		}
	}
}

// A vehicle first seen outside its keep-in area is in breach at once; a
// rebuilt fence set keeps who is inside where.
func TestKeepInAtFirstSightAndCarry(t *testing.T) {
	site := geo.Fence{ID: "site", Name: "Flight area", Kind: geo.KeepIn, Polygon: square(114.055, 22.54, 0.002)}
	works := geo.Fence{ID: "works", Name: "Works", Kind: geo.Restricted, Polygon: square(114.055, 22.54, 0.0005)}
	fs, err := geo.NewFences([]geo.Fence{site, works})
	if err != nil {
		t.Fatal(err)
	}
	if got := kinds(fs.Update(geo.Object{ID: "stray", Vehicle: true, Point: orb.Point{114.07, 22.54}, Time: t0})); strings.Join(got, " ") != "geofence.breach:site" {
		t.Fatalf("first sight outside keep-in: %v", got)
	}
	if got := kinds(fs.Update(geo.Object{ID: "stray", Vehicle: true, Point: orb.Point{114.071, 22.54}, Time: t0.Add(time.Second)})); len(got) != 0 {
		t.Fatalf("still outside: %v", got)
	}
	fs.Update(geo.Object{ID: "walker", Class: "person", Point: orb.Point{114.055, 22.54}, Time: t0})
	// A third fence is added: the walker is still inside the works area,
	// no second enter.
	extra := geo.Fence{ID: "extra", Name: "Extra", Kind: geo.Restricted, Polygon: square(114.08, 22.56, 0.001)}
	next, err := geo.NewFences([]geo.Fence{site, works, extra})
	if err != nil {
		t.Fatal(err)
	}
	next.Carry(fs)
	if got := kinds(next.Update(geo.Object{ID: "walker", Class: "person", Point: orb.Point{114.0551, 22.54}, Time: t0.Add(time.Second)})); len(got) != 0 {
		t.Fatalf("after the rebuild: %v", got)
	}
	if got := kinds(next.Update(geo.Object{ID: "walker", Class: "person", Point: orb.Point{114.0565, 22.54}, Time: t0.Add(2 * time.Second)})); strings.Join(got, " ") != "geofence.exit:works" {
		t.Fatalf("leaving: %v", got)
	}
}

// A vehicle flying at a keep-out fence has the breach predicted before it
// happens, once per approach and with a lead time that matches its speed;
// turning away withdraws it, coming back tells it again; heading out of
// a keep-in area is predicted too.
func TestBreachPredicted(t *testing.T) {
	fs, err := geo.NewFences([]geo.Fence{
		{ID: "tower", Name: "Tower crane", Kind: geo.KeepOut, Polygon: square(114.055, 22.54, 0.0002)},
		{ID: "site", Name: "Flight area", Kind: geo.KeepIn, Polygon: square(114.055, 22.54, 0.002)},
	})
	if err != nil {
		t.Fatal(err)
	}
	// 200 m east of the tower's centre (its edge is about 20 m from it),
	// flying west at 10 m/s: the breach is about 18 s away.
	at := func(eastM float64, s int) geo.Object {
		p := geo.NewLocal(22.54, 114.055).Point(eastM, 0)
		o := geo.Object{ID: "uav", Vehicle: true, Point: p, Time: t0.Add(time.Duration(s) * time.Second)}
		fs.Update(o)
		return o
	}
	// Held for a minute, the course also leaves the flight area (about
	// 205 m west of the centre) after about 40 s: both are told.
	es := fs.Predict(at(200, 0), 0, -10, time.Minute)
	if len(es) != 2 || es[0].Kind != geo.EventFenceBreachPredicted || es[0].Fence.ID != "site" || es[1].Fence.ID != "tower" ||
		es[1].In < 17*time.Second || es[1].In > 19*time.Second || es[0].In < 39*time.Second || es[0].In > 42*time.Second {
		t.Fatalf("heading at the tower: %+v", es)
	}
	es = es[1:]
	if es[0].Radius < 3 || es[0].Radius > 3+0.15*10*19 {
		t.Fatalf("cone radius %.1f m", es[0].Radius)
	}
	if es := fs.Predict(at(150, 5), 0, -10, time.Minute); len(es) != 0 {
		t.Fatalf("told twice: %+v", es)
	}
	// Turning away withdraws it; coming back tells it again.
	if es := fs.Predict(at(140, 6), 0, 10, time.Minute); len(es) != 0 {
		t.Fatalf("flying away: %+v", es)
	}
	// (Flying east, it heads out of the flight area just the same: that
	// prediction stands and is not told again.)
	if es := fs.Predict(at(130, 7), 0, -10, time.Minute); len(es) != 1 || es[0].Fence.ID != "tower" {
		t.Fatalf("back on course: %+v", es)
	}
	// Beyond the horizon it is not yet predicted; hovering predicts nothing.
	if es := fs.Predict(geo.Object{ID: "far", Vehicle: true, Point: geo.NewLocal(22.54, 114.055).Point(190, 0), Time: t0}, 0, -2, 30*time.Second); len(es) != 0 {
		t.Fatalf("beyond the horizon: %+v", es)
	}
	// Inside the keep-in area, heading out of it north at 15 m/s.
	o := geo.Object{ID: "out", Vehicle: true, Point: geo.NewLocal(22.54, 114.055).Point(0, 150), Time: t0}
	fs.Update(o)
	es = fs.Predict(o, 15, 0, time.Minute)
	if len(es) != 1 || es[0].Fence.ID != "site" || es[0].In < 4*time.Second || es[0].In > 6*time.Second {
		t.Fatalf("heading out of the keep-in area: %+v", es)
	}
}
