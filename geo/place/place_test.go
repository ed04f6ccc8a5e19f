package place_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"math"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/paulmach/orb"
	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// Run starts goroutines (the stored loads, the video-less cameras): every
// test stops the Placers it ran, and none may be left running.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// The test site: its reference point and its ground, metres above sea level.
const (
	siteLat, siteLon = 22.5400, 114.0550
	siteElev         = 12.0
)

var waitFor = testkit.WaitFor

// dlt is a pure-Go homography fit (normalised direct linear transform,
// least squares over every point with h33 = 1), the geo.Solver the
// Placers of these tests use instead of OpenCV's.
func dlt(src, dst [][2]float64) ([9]float64, error) {
	if len(src) < 4 || len(src) != len(dst) {
		return [9]float64{}, errors.New("dlt: at least 4 pairs are needed")
	}
	ts, _ := normaliser(src)
	td, tdInv := normaliser(dst)
	var ata [8][8]float64
	var atb [8]float64
	add := func(row [8]float64, b float64) {
		for i := range 8 {
			for j := range 8 {
				ata[i][j] += row[i] * row[j]
			}
			atb[i] += row[i] * b
		}
	}
	for i := range src {
		x, y := apply(ts, src[i])
		X, Y := apply(td, dst[i])
		add([8]float64{x, y, 1, 0, 0, 0, -X * x, -X * y}, X)
		add([8]float64{0, 0, 0, x, y, 1, -Y * x, -Y * y}, Y)
	}
	h, err := solve8(ata, atb)
	if err != nil {
		return [9]float64{}, err
	}
	hn := [9]float64{h[0], h[1], h[2], h[3], h[4], h[5], h[6], h[7], 1}
	m := mul3(tdInv, mul3(hn, ts))
	if m[8] != 0 {
		for i := range m {
			m[i] /= m[8]
		}
	}
	return m, nil
}

// normaliser moves points to their centroid and scales them to a mean
// distance of √2 (Hartley), returning the transform and its inverse.
func normaliser(pts [][2]float64) (t, inv [9]float64) {
	var cx, cy float64
	for _, p := range pts {
		cx += p[0] / float64(len(pts))
		cy += p[1] / float64(len(pts))
	}
	var d float64
	for _, p := range pts {
		d += math.Hypot(p[0]-cx, p[1]-cy) / float64(len(pts))
	}
	s := math.Sqrt2 / d
	return [9]float64{s, 0, -s * cx, 0, s, -s * cy, 0, 0, 1}, [9]float64{1 / s, 0, cx, 0, 1 / s, cy, 0, 0, 1}
}

func apply(m [9]float64, p [2]float64) (float64, float64) {
	w := m[6]*p[0] + m[7]*p[1] + m[8]
	return (m[0]*p[0] + m[1]*p[1] + m[2]) / w, (m[3]*p[0] + m[4]*p[1] + m[5]) / w
}

func mul3(a, b [9]float64) [9]float64 {
	var c [9]float64
	for i := range 3 {
		for j := range 3 {
			for k := range 3 {
				c[i*3+j] += a[i*3+k] * b[k*3+j]
			}
		}
	}
	return c
}

// solve8 solves a·x = b by Gaussian elimination with partial pivoting.
func solve8(a [8][8]float64, b [8]float64) ([8]float64, error) {
	for col := range 8 {
		p := col
		for r := col + 1; r < 8; r++ {
			if math.Abs(a[r][col]) > math.Abs(a[p][col]) {
				p = r
			}
		}
		if math.Abs(a[p][col]) < 1e-12 {
			return [8]float64{}, errors.New("dlt: degenerate points")
		}
		a[col], a[p] = a[p], a[col]
		b[col], b[p] = b[p], b[col]
		for r := col + 1; r < 8; r++ {
			f := a[r][col] / a[col][col]
			for c := col; c < 8; c++ {
				a[r][c] -= f * a[col][c]
			}
			b[r] -= f * b[col]
		}
	}
	var x [8]float64
	for r := 7; r >= 0; r-- {
		s := b[r]
		for c := r + 1; c < 8; c++ {
			s -= a[r][c] * x[c]
		}
		x[r] = s / a[r][r]
	}
	return x, nil
}

func TestDLTRecoversAKnownHomography(t *testing.T) {
	want := [9]float64{0.02, -0.003, -12, 0.001, -0.05, 48, 0.00001, -0.0009, 1}
	var src, dst [][2]float64
	for _, p := range [][2]float64{{200, 600}, {1700, 620}, {1850, 1000}, {100, 980}, {960, 760}} {
		x, y := apply(want, p)
		src, dst = append(src, p), append(dst, [2]float64{x, y})
	}
	got, err := dlt(src, dst)
	if err != nil {
		t.Fatal(err)
	}
	for i := range got {
		if math.Abs(got[i]-want[i]) > 1e-9*math.Max(1, math.Abs(want[i])) {
			t.Fatalf("h[%d] = %g, want %g", i, got[i], want[i])
		}
	}
}

// view is a fixed camera's true geometry: the ground truth the control
// points are read from, and what a placed detection is checked against.
type view struct{ pr geo.Projector }

// newView is a 1920×1080 camera with a 60° horizontal field of view,
// height metres above the site's ground, east/north metres from the
// site's reference point, looking along heading, pitched down.
func newView(east, north, height, heading, pitch float64) view {
	in, err := geo.FromFOV(1920, 1080, 60, 0)
	if err != nil {
		panic(err)
	}
	lat, lon := geo.NewLocal(siteLat, siteLon).FromENU(east, north)
	return view{geo.Projector{In: in, Ground: siteElev,
		Pose: geo.Pose{Lat: lat, Lon: lon, AltMSL: siteElev + height, Heading: heading, Pitch: pitch}}}
}

// defaultView looks north from 10 m up, pitched 15° down: the horizon
// line crosses the image near v = 94.
func defaultView() view { return newView(0, 0, 10, 0, -15) }

// at is where pixel (u, v) lands on the ground.
func (v view) at(t *testing.T, u, px float64) orb.Point {
	t.Helper()
	pt, _, st := v.pr.Locate(u, px)
	if st != geo.StatusOK {
		t.Fatalf("the test's camera does not see the ground at (%g, %g): %s", u, px, st)
	}
	return pt
}

// points are control points [u, v, lat, lon] for the pixels.
func (v view) points(t *testing.T, pixels ...[2]float64) [][4]float64 {
	t.Helper()
	out := make([][4]float64, len(pixels))
	for i, p := range pixels {
		pt := v.at(t, p[0], p[1])
		out[i] = [4]float64{p[0], p[1], pt[1], pt[0]}
	}
	return out
}

// controlPoints are the same as the API takes them.
func (v view) controlPoints(t *testing.T, pixels ...[2]float64) []geo.ControlPoint {
	t.Helper()
	var out []geo.ControlPoint
	for _, p := range v.points(t, pixels...) {
		out = append(out, geo.ControlPoint{U: p[0], V: p[1], Lat: p[2], Lon: p[3]})
	}
	return out
}

// Pixels of control points spread over the ground part of the image.
var (
	four = [][2]float64{{200, 600}, {1700, 620}, {1850, 1000}, {100, 980}}
	five = append(slices.Clone(four), [2]float64{960, 760})
	six  = append(slices.Clone(five), [2]float64{600, 880})
)

// square is a counter-clockwise fence ring of half-side r metres around pt.
func square(pt orb.Point, r float64) orb.Polygon {
	l := geo.NewLocal(pt[1], pt[0])
	return orb.Polygon{{l.Point(-r, -r), l.Point(r, -r), l.Point(r, r), l.Point(-r, r), l.Point(-r, -r)}}
}

// offset is pt moved east and north by metres.
func offset(pt orb.Point, east, north float64) orb.Point {
	return geo.NewLocal(pt[1], pt[0]).Point(east, north)
}

// metres between two [lon, lat] points.
func metres(a, b orb.Point) float64 { return geo.Distance(a[1], a[0], b[1], b[0]) }

// objPoint is a placed object's position.
func objPoint(t *testing.T, o telemetry.Object) orb.Point {
	t.Helper()
	if o.Lat == nil || o.Lon == nil {
		t.Fatalf("object %d (%s) has no position (geo_status %q)", o.TrackID, o.Class, o.GeoStatus)
	}
	return orb.Point{*o.Lon, *o.Lat}
}

// feed is a subscriber of the live bus that keeps everything published.
type feed struct {
	sub *telemetry.Subscription
	got []telemetry.Update
}

func watch(t *testing.T, bus telemetry.Bus) *feed {
	f := &feed{sub: bus.Subscribe(1 << 14)}
	t.Cleanup(f.sub.Close)
	return f
}

// updates are every update published since watch, oldest first.
func (f *feed) updates() []telemetry.Update {
	f.got = f.sub.Take(f.got)
	return f.got
}

// events are the events published, in order, that keep says to keep.
func (f *feed) events(keep func(telemetry.Event) bool) []telemetry.Event {
	var out []telemetry.Event
	for _, u := range f.updates() {
		if u.Event != nil && (keep == nil || keep(*u.Event)) {
			out = append(out, *u.Event)
		}
	}
	return out
}

func (f *feed) detections() []telemetry.Detections {
	var out []telemetry.Detections
	for _, u := range f.updates() {
		if u.Detections != nil {
			out = append(out, *u.Detections)
		}
	}
	return out
}

// fenceEvents are the geofence events (any kind) published.
func (f *feed) fenceEvents() []telemetry.Event {
	return f.events(func(e telemetry.Event) bool { return isFenceKind(e.Kind) })
}

func isFenceKind(k string) bool {
	return k == geo.EventFenceEnter || k == geo.EventFenceExit || k == geo.EventFenceDwell || k == geo.EventFenceBreach
}

// kinds lists events as "kind fence" for messages and comparisons.
func kinds(es []telemetry.Event) []string {
	out := make([]string, len(es))
	for i, e := range es {
		fence, _ := e.Data["fence"].(string)
		out[i] = e.Kind + " " + fence
	}
	return out
}

// memWriter stands for the database's writer: it keeps what it was given.
type memWriter struct {
	mu     sync.Mutex
	dets   []telemetry.Detections
	events []telemetry.Event
}

func (w *memWriter) WriteDetections(d *telemetry.Detections) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *d
	c.Objects = slices.Clone(d.Objects)
	w.dets = append(w.dets, c)
	return nil
}

func (w *memWriter) WriteEvent(e *telemetry.Event) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	c := *e
	c.Data = maps.Clone(e.Data)
	w.events = append(w.events, c)
	return nil
}

func (w *memWriter) detections() []telemetry.Detections {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.dets)
}

func (w *memWriter) written() []telemetry.Event {
	w.mu.Lock()
	defer w.mu.Unlock()
	return slices.Clone(w.events)
}

// memStore stands for the database's geofences and calibrations. The
// calibrations it returns (cals) are set by the test, as a read made
// before any calibration through the API would return them; what the
// Placer stores is kept apart in putCals.
type memStore struct {
	mu        sync.Mutex
	fences    map[string]geo.Fence
	fenceErrs int // Geofences fails this many times first
	fenceRead int
	cals      map[string]json.RawMessage
	calRead   chan struct{} // closed at the first CameraCalibrations
	putFences []geo.Fence
	deleted   []string
	putCals   []storedCal
	failPut   error
}

type storedCal struct {
	camera, name, kind string
	calibration        []byte
}

func newStore() *memStore {
	return &memStore{fences: map[string]geo.Fence{}, cals: map[string]json.RawMessage{}, calRead: make(chan struct{})}
}

func (s *memStore) Geofences(context.Context) ([]geo.Fence, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fenceRead++
	if s.fenceRead <= s.fenceErrs {
		return nil, errors.New("database not answering")
	}
	out := slices.Collect(maps.Values(s.fences))
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

func (s *memStore) PutGeofence(_ context.Context, f geo.Fence) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPut != nil {
		return s.failPut
	}
	s.putFences = append(s.putFences, f)
	s.fences[f.ID] = f
	return nil
}

func (s *memStore) DeleteGeofence(_ context.Context, id string) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.deleted = append(s.deleted, id)
	_, ok := s.fences[id]
	delete(s.fences, id)
	return ok, nil
}

func (s *memStore) CameraCalibrations(context.Context) (map[string]json.RawMessage, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	select {
	case <-s.calRead:
	default:
		close(s.calRead)
	}
	return maps.Clone(s.cals), nil
}

func (s *memStore) PutCameraCalibration(_ context.Context, camera, name, kind string, calibration []byte) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failPut != nil {
		return s.failPut
	}
	s.putCals = append(s.putCals, storedCal{camera, name, kind, slices.Clone(calibration)})
	return nil
}

func (s *memStore) snapshot() (puts []geo.Fence, deleted []string, cals []storedCal, reads int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.putFences), slices.Clone(s.deleted), slices.Clone(s.putCals), s.fenceRead
}

// logs keeps a Placer's log, safe for its goroutines.
type logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}

// rig is a Placer with a real hub, a writer and, when asked, a store.
type rig struct {
	p       *place.Placer
	hub     *telemetry.Hub
	feed    *feed
	writer  *memWriter
	log     *logs
	trigMu  sync.Mutex
	trigger []string
}

func (r *rig) triggered() []string {
	r.trigMu.Lock()
	defer r.trigMu.Unlock()
	return slices.Clone(r.trigger)
}

// newRig makes a Placer over cfg, filling in a real hub, the pure-Go
// solver, a writer, a trigger recorder and a kept log where cfg has none.
func newRig(t *testing.T, cfg place.Config) *rig {
	t.Helper()
	r := &rig{hub: telemetry.NewHub(nil), writer: &memWriter{}, log: &logs{}}
	if cfg.Bus == nil {
		cfg.Bus = r.hub
	}
	if cfg.Solve == nil {
		cfg.Solve = dlt
	}
	if cfg.Writer == nil {
		cfg.Writer = r.writer
	}
	if cfg.Trigger == nil {
		cfg.Trigger = func(camera string, _ time.Time) {
			r.trigMu.Lock()
			r.trigger = append(r.trigger, camera)
			r.trigMu.Unlock()
		}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(r.log, nil))
	}
	p, err := place.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	r.p = p
	r.feed = watch(t, r.hub)
	return r
}

// run runs the Placer until the returned stop (also called at the end
// of the test), which waits for Run to return.
func (r *rig) run(t *testing.T) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("Run returned %v after its context ended", err)
				}
			case <-time.After(testkit.Scale(10 * time.Second)):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// vehicleAt is a vehicle state with a valid position.
func vehicleAt(id string, pt orb.Point, altMSL float64, at time.Time) telemetry.Vehicle {
	return telemetry.Vehicle{ID: id, Position: telemetry.Position{Valid: true, Lat: pt[1], Lon: pt[0], AltMSL: altMSL}, Updated: at}
}

func TestNewRefusesNoBusAndBadFences(t *testing.T) {
	if _, err := place.New(place.Config{}); err == nil {
		t.Error("New without a bus succeeded")
	}
	bad := geo.Fence{ID: "x", Name: "x", Kind: "maybe", Polygon: square(orb.Point{siteLon, siteLat}, 5)}
	if _, err := place.New(place.Config{Bus: telemetry.NewHub(nil), Fences: []geo.Fence{bad}}); err == nil {
		t.Error("New accepted a fence of an unknown kind")
	}
	good := geo.Fence{ID: "x", Name: "x", Kind: geo.KeepOut, Polygon: square(orb.Point{siteLon, siteLat}, 5)}
	if _, err := place.New(place.Config{Bus: telemetry.NewHub(nil), Fences: []geo.Fence{good, good}}); err == nil {
		t.Error("New accepted two fences with one id")
	}
}
