package mavlink

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"math"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/tlog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

// startIngest runs an ingest with one server link on a port the OS picks.
func startIngest(t *testing.T, typ string, sink Sink, vehicles ...VehicleConfig) *Ingest {
	t.Helper()
	for i := range vehicles {
		vehicles[i].Link = "l"
	}
	return runIngest(t, Config{
		Links:             []LinkConfig{{Name: "l", Type: typ, Address: "127.0.0.1:0"}},
		Vehicles:          vehicles,
		HeartbeatInterval: 200 * time.Millisecond,
		Log:               quiet(),
	}, sink)
}

// runIngest starts an ingest of cfg and runs it until the test ends.
func runIngest(t *testing.T, cfg Config, sink Sink) *Ingest {
	t.Helper()
	in, err := New(cfg, sink, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return in
}

// The simulator (gomavlib) flies two drones into the ingest over loopback
// UDP and TCP.
func TestSimulatorToIngest(t *testing.T) {
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			hub := telemetry.NewHub(nil)
			in := startIngest(t, proto+"-server", LiveSink{Bus: hub}, VehicleConfig{Name: "one", SystemID: 1, Camera: "one-cam"})
			route := [][2]float64{{22.5412, 114.0538}, {22.5412, 114.0572}, {22.5388, 114.0572}}
			s, err := sim.New(sim.Config{
				Target: proto + ":" + in.Addr("l").String(),
				Drones: []sim.Drone{
					{Name: "one", SystemID: 1, Type: "quadrotor", Speed: 8, Altitude: 60, Battery: time.Hour, Route: route},
					{Name: "two", SystemID: 2, Type: "fixed_wing", Speed: 15, Altitude: 100, Battery: time.Hour, Route: route},
				},
				Log: quiet(),
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { s.Run(ctx); close(done) }()
			defer func() { cancel(); <-done }()

			waitFor(t, 10*time.Second, "both drones with a position and a message rate", func() bool {
				a, ok1 := hub.Vehicle("one")
				b, ok2 := hub.Vehicle("l-2")
				return ok1 && ok2 && a.Position.Valid && b.Position.Valid && a.Health.Rate > 0 && b.Gimbal.Valid
			})
			a, _ := hub.Vehicle("one")
			b, _ := hub.Vehicle("l-2")
			if a.Discovered || a.Camera != "one-cam" || a.Type != "quadrotor" || a.Mode != "AUTO" || !a.Armed {
				t.Errorf("configured drone: %+v", a)
			}
			if !b.Discovered || b.Type != "fixed_wing" || b.Mode != "AUTO" {
				t.Errorf("discovered drone: %+v", b)
			}
			for _, v := range []telemetry.Vehicle{a, b} {
				p := v.Position
				if p.Lat < 22.5387 || p.Lat > 22.5413 || p.Lon < 114.0537 || p.Lon > 114.0573 {
					t.Errorf("%s off its route: %+v", v.ID, p)
				}
				if v.GPS.Fix != 3 || math.Abs(v.Gimbal.Pitch+45) > 0.01 || v.Battery.Remaining <= 90 || v.Home.Lat != 22.5412 {
					t.Errorf("%s: gps %+v gimbal %+v battery %+v home %+v", v.ID, v.GPS, v.Gimbal, v.Battery, v.Home)
				}
			}
			if math.Abs(a.Position.AltRel-60) > 0.01 || math.Abs(b.Position.AltRel-100) > 0.01 {
				t.Errorf("altitudes %g %g", a.Position.AltRel, b.Position.AltRel)
			}
			c := in.Counts("l")
			if c.Frames.Load() == 0 || c.DroppedTotal() != 0 || c.Lost.Load() != 0 {
				t.Errorf("frames %d, dropped %d, lost %d", c.Frames.Load(), c.DroppedTotal(), c.Lost.Load())
			}
		})
	}
}

// nodePeer is the directory of the node-mavlink peer, installed by
// `make deps` from its package.json.
func nodePeer(t testing.TB) string {
	t.Helper()
	dir, _ := filepath.Abs(filepath.Join("testdata", "nodepeer"))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "node-mavlink")); err != nil {
		t.Fatalf("node-mavlink is not installed: run `make deps` (npm ci in %s): %v", dir, err)
	}
	return dir
}

type peerSent struct {
	SystemID         uint8   `json:"system_id"`
	CustomMode       uint32  `json:"custom_mode"`
	Armed            bool    `json:"armed"`
	Lat              int32   `json:"lat"`
	Lon              int32   `json:"lon"`
	Alt              int32   `json:"alt"`
	RelativeAlt      int32   `json:"relative_alt"`
	Vx               int16   `json:"vx"`
	Vy               int16   `json:"vy"`
	Vz               int16   `json:"vz"`
	Hdg              uint16  `json:"hdg"`
	Roll             float64 `json:"roll"`
	Pitch            float64 `json:"pitch"`
	Yaw              float64 `json:"yaw"`
	VoltageBattery   uint16  `json:"voltage_battery"`
	CurrentBattery   int16   `json:"current_battery"`
	BatteryRemaining int8    `json:"battery_remaining"`
}

type peerReport struct {
	V1, V2, Signed, Forged []peerSent
	Heard                  struct {
		GCSHeartbeat bool  `json:"gcsHeartbeat"`
		GCSSystemID  uint8 `json:"gcsSystemId"`
	}
}

// newStoreWriter gives a migrated store on a fresh database and a running writer.
func newStoreWriter(t *testing.T) (*store.Store, *store.Writer) {
	t.Helper()
	st, err := store.New(store.Config{URL: storetest.URL(t), Log: quiet()}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	sctx, scancel := context.WithCancel(context.Background())
	sdone := make(chan struct{})
	go func() { st.Run(sctx); close(sdone) }()
	t.Cleanup(func() { scancel(); <-sdone })
	waitFor(t, 30*time.Second, "store ready", st.Ready)
	w, err := store.NewWriter(st, store.WriterConfig{SpoolDir: filepath.Join(storetest.TempDir(t), "spool"), FlushInterval: 50 * time.Millisecond, Log: quiet()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return st, w
}

// node-mavlink, an implementation independent of ours, sends MAVLink 1
// and 2, signed and unsigned; the live and stored values match what it
// sent, field by field; forged frames never count; and it hears our heartbeat.
func TestNodeMAVLinkPeer(t *testing.T) {
	dir := nodePeer(t)
	const passphrase = "smarteye test passphrase"
	for _, proto := range []string{"udp", "tcp"} {
		t.Run(proto, func(t *testing.T) {
			st, w := newStoreWriter(t)
			hub := telemetry.NewHub(nil)
			in := startIngest(t, proto+"-server", LiveSink{Bus: hub, Writer: w},
				VehicleConfig{Name: "signed-23", SystemID: 23, SigningKey: passphrase},
				VehicleConfig{Name: "signed-24", SystemID: 24, SigningKey: passphrase})
			host, port, _ := net.SplitHostPort(in.Addr("l").String())
			cmd := exec.Command("node", "peer.mjs", proto, host, port, passphrase)
			cmd.Dir = dir
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil {
				t.Fatalf("node peer: %v\n%s", err, stderr.String())
			}
			var rep peerReport
			if err := json.Unmarshal(out, &rep); err != nil {
				t.Fatalf("peer output %q: %v", out, err)
			}
			if !rep.Heard.GCSHeartbeat || rep.Heard.GCSSystemID != 254 {
				t.Errorf("the peer did not hear smarteye's heartbeat: %+v", rep.Heard)
			}
			ids := map[uint8]string{21: "l-21", 22: "l-22", 23: "signed-23"}
			var sent []peerSent
			sent = append(append(append(sent, rep.V1...), rep.V2...), rep.Signed...)
			if len(sent) != 3 {
				t.Fatalf("peer report: %+v", rep)
			}
			for _, s := range sent {
				id := ids[s.SystemID]
				deadline := time.Now().Add(testkit.Scale(5 * time.Second))
				for {
					v, ok := hub.Vehicle(id)
					if ok && v.Position.Valid && v.Battery.Valid && v.Attitude.Valid {
						break
					}
					if time.Now().After(deadline) {
						c := in.Counts("l")
						t.Fatalf("%s not live: %+v (vehicles %v, frames %d, dropped %d)", id, v, hub.Vehicles(), c.Frames.Load(), c.DroppedTotal())
					}
					time.Sleep(20 * time.Millisecond)
				}
				v, _ := hub.Vehicle(id)
				checkSent(t, v, s)
			}
			if _, ok := hub.Vehicle("signed-24"); ok {
				t.Error("a vehicle signing with the wrong key was accepted")
			}
			c := in.Counts("l")
			if c.Dropped[DropBadSignature].Load() < 12 || c.Dropped[DropUnsigned].Load() < 12 {
				t.Errorf("bad signatures %d, unsigned %d: want at least 12 each", c.Dropped[DropBadSignature].Load(), c.Dropped[DropUnsigned].Load())
			}

			// Stored: the rows carry the same values.
			for _, s := range sent {
				id := ids[s.SystemID]
				var lat, lon float64
				var altMSL, altRel, heading, roll, volts, remaining float32
				var mode string
				var armed bool
				waitFor(t, 10*time.Second, id+" stored", func() bool {
					err := st.Pool().QueryRow(context.Background(), `SELECT lat, lon, alt_msl, alt_rel, heading, roll, battery_voltage, battery_remaining, mode, armed
						FROM telemetry WHERE vehicle_id = $1 AND lat IS NOT NULL AND battery_voltage IS NOT NULL AND roll IS NOT NULL ORDER BY time DESC LIMIT 1`, id).
						Scan(&lat, &lon, &altMSL, &altRel, &heading, &roll, &volts, &remaining, &mode, &armed)
					return err == nil
				})
				if !near(lat, float64(s.Lat)*1e-7) || !near(lon, float64(s.Lon)*1e-7) || altMSL != float32(float64(s.Alt)/1000) ||
					altRel != float32(float64(s.RelativeAlt)/1000) || heading != float32(float64(s.Hdg)/100) ||
					math.Abs(float64(roll)-s.Roll*180/math.Pi) > 1e-3 || volts != float32(float64(s.VoltageBattery)/1000) ||
					remaining != float32(s.BatteryRemaining) || mode != "LOITER" || !armed {
					t.Errorf("%s stored %v %v %v %v %v %v %v %v %v %v, sent %+v", id, lat, lon, altMSL, altRel, heading, roll, volts, remaining, mode, armed, s)
				}
			}
			var zero int
			st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM telemetry WHERE lat = 0 AND lon = 0`).Scan(&zero)
			if zero != 0 {
				t.Errorf("%d rows stored at (0, 0)", zero)
			}
		})
	}
}

func checkSent(t *testing.T, v telemetry.Vehicle, s peerSent) {
	t.Helper()
	p := v.Position
	if !near(p.Lat, float64(s.Lat)*1e-7) || !near(p.Lon, float64(s.Lon)*1e-7) || !near(p.AltMSL, float64(s.Alt)/1000) || !near(p.AltRel, float64(s.RelativeAlt)/1000) {
		t.Errorf("%s position %+v, sent %+v", v.ID, p, s)
	}
	m := v.Motion
	if !near(m.VNorth, float64(s.Vx)/100) || !near(m.VEast, float64(s.Vy)/100) || !near(m.ClimbRate, -float64(s.Vz)/100) || !near(m.Heading, float64(s.Hdg)/100) {
		t.Errorf("%s motion %+v, sent %+v", v.ID, m, s)
	}
	a := v.Attitude
	deg := func(r float64) float64 { return float64(float32(r)) * 180 / math.Pi }
	if math.Abs(a.Roll-deg(s.Roll)) > 1e-4 || math.Abs(a.Pitch-deg(s.Pitch)) > 1e-4 || math.Abs(a.Yaw-deg(s.Yaw)) > 1e-4 {
		t.Errorf("%s attitude %+v, sent %+v", v.ID, a, s)
	}
	b := v.Battery
	if !near(b.Voltage, float64(s.VoltageBattery)/1000) || !near(b.Current, float64(s.CurrentBattery)/100) || b.Remaining != float64(s.BatteryRemaining) {
		t.Errorf("%s battery %+v, sent %+v", v.ID, b, s)
	}
	if v.Mode != "LOITER" || v.Armed != s.Armed || v.Type != "quadrotor" || v.Autopilot != "ardupilot" {
		t.Errorf("%s heartbeat: mode %q armed %v type %q autopilot %q", v.ID, v.Mode, v.Armed, v.Type, v.Autopilot)
	}
}

// vtolLog is ArduPlane's recorded VTOL flight shipped with node-mavlink.
func vtolLog(t testing.TB) string {
	return filepath.Join(nodePeer(t), "node_modules", "node-mavlink", "examples", "vtol.tlog")
}

// logTruth reads the log's own GLOBAL_POSITION_INT values with gomavlib's
// decoder, independently of the Processor.
type logTruth struct {
	n              int
	first, last    [2]float64
	minLat, maxLat float64
	minLon, maxLon float64
	start, end     time.Time
}

func readTruth(t testing.TB, path string) logTruth {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := &tlog.Reader{ByteReader: f, DialectRW: dialectRW}
	if err := r.Initialize(); err != nil {
		t.Fatal(err)
	}
	tr := logTruth{minLat: 90, maxLat: -90, minLon: 180, maxLon: -180}
	for {
		e, err := r.Read()
		if err != nil {
			break
		}
		if tr.start.IsZero() {
			tr.start = e.Time
		}
		tr.end = e.Time
		m, ok := e.Frame.GetMessage().(*ardupilotmega.MessageGlobalPositionInt)
		if !ok {
			continue
		}
		p := [2]float64{float64(m.Lat) * 1e-7, float64(m.Lon) * 1e-7}
		if tr.n == 0 {
			tr.first = p
		}
		tr.last = p
		tr.n++
		tr.minLat, tr.maxLat = min(tr.minLat, p[0]), max(tr.maxLat, p[0])
		tr.minLon, tr.maxLon = min(tr.minLon, p[1]), max(tr.maxLon, p[1])
	}
	if tr.n < 800 {
		t.Fatalf("the log has %d GLOBAL_POSITION_INT, expected about 807", tr.n)
	}
	return tr
}

// checkTrack compares a stored track with the log: count within the
// stored-rate limit, first and last positions, bounding box.
func checkTrack(t *testing.T, pts []store.TrackPoint, tr logTruth, maxRows int, firstTol float64) {
	t.Helper()
	if len(pts) < 10 || len(pts) > maxRows {
		t.Fatalf("%d track points; want 10..%d", len(pts), maxRows)
	}
	f, l := pts[0], pts[len(pts)-1]
	if math.Abs(f.Lat-tr.first[0]) > firstTol || math.Abs(f.Lon-tr.first[1]) > firstTol {
		t.Errorf("first point %v,%v; the log's first is %v", f.Lat, f.Lon, tr.first)
	}
	if !near(l.Lat, tr.last[0]) || !near(l.Lon, tr.last[1]) {
		t.Errorf("last point %v,%v; the log's last is %v", l.Lat, l.Lon, tr.last)
	}
	minLat, maxLat, minLon, maxLon := 90.0, -90.0, 180.0, -180.0
	for _, p := range pts {
		minLat, maxLat = min(minLat, p.Lat), max(maxLat, p.Lat)
		minLon, maxLon = min(minLon, p.Lon), max(maxLon, p.Lon)
	}
	if minLat < tr.minLat-1e-7 || maxLat > tr.maxLat+1e-7 || minLon < tr.minLon-1e-7 || maxLon > tr.maxLon+1e-7 {
		t.Errorf("stored box [%v %v]x[%v %v] outside the log's [%v %v]x[%v %v]", minLat, maxLat, minLon, maxLon, tr.minLat, tr.maxLat, tr.minLon, tr.maxLon)
	}
	if (maxLat-minLat) < 0.9*(tr.maxLat-tr.minLat) || (maxLon-minLon) < 0.9*(tr.maxLon-tr.minLon) {
		t.Errorf("stored box [%v %v]x[%v %v] covers too little of the log's [%v %v]x[%v %v]", minLat, maxLat, minLon, maxLon, tr.minLat, tr.maxLat, tr.minLon, tr.maxLon)
	}
}

// The recorded flight replayed over UDP at 20 times its pace: the stored
// track matches the log's own positions.
func TestReplayRecordedFlightOverUDP(t *testing.T) {
	path := vtolLog(t)
	truth := readTruth(t, path)
	st, w := newStoreWriter(t)
	hub := telemetry.NewHub(nil)
	in := startIngest(t, UDPServer, LiveSink{Bus: hub, Writer: w}, VehicleConfig{Name: "vtol", SystemID: 1})

	conn, err := net.Dial("udp", in.Addr("l").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	const speedup = 20
	start := time.Now()
	var buf bytes.Buffer
	fw := &frame.Writer{ByteWriter: &buf}
	fw.Initialize()
	sent := 0
	_, _, err = entries(f, func(e *tlog.Entry) error {
		due := start.Add(e.Time.Sub(truth.start) / speedup)
		if d := time.Until(due); d > 0 {
			time.Sleep(d)
		}
		buf.Reset()
		if err := fw.Write(e.Frame); err != nil {
			return err
		}
		_, err := conn.Write(buf.Bytes())
		sent++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	wall := time.Since(start)
	waitFor(t, 5*time.Second, "every frame received", func() bool {
		c := in.Counts("l")
		return c.Frames.Load()+c.Lost.Load() >= uint64(sent)
	})
	// The log has gaps of its own (frames its recorder missed): the replay
	// must lose nothing more.
	f.Seek(0, io.SeekStart)
	p := NewProcessor(ProcessorConfig{Link: "x", Vehicles: []VehicleConfig{{Name: "vtol", SystemID: 1}}, LinkTimeout: time.Hour}, &recorder{})
	entries(f, func(e *tlog.Entry) error { p.Frame(e.Frame, e.Time); return nil })
	if c := in.Counts("l"); c.Lost.Load() != p.Counts().Lost.Load() || c.DroppedTotal() != 0 || c.Frames.Load() != uint64(sent) {
		t.Errorf("received %d, lost %d (the log's own gaps: %d), dropped %d of %d frames", c.Frames.Load(), c.Lost.Load(), p.Counts().Lost.Load(), c.DroppedTotal(), sent)
	}
	// The once-a-second tick stores the last state: wait for the track to
	// end at the log's last position.
	var pts []store.TrackPoint
	waitFor(t, 10*time.Second, "the track stored to the log's last position", func() bool {
		pts, err = st.Track(context.Background(), "vtol", start.Add(-time.Minute), time.Now().Add(time.Minute), 100000)
		return err == nil && len(pts) > 0 && near(pts[len(pts)-1].Lat, truth.last[0]) && near(pts[len(pts)-1].Lon, truth.last[1])
	})
	// At most 10 rows a second of wall time (+1 for the final tick); the
	// plane covers < 100 m of log time between two of them.
	checkTrack(t, pts, truth, int(wall.Seconds()*10)+3, 0.001)
	if strings.Contains(hub.Vehicles()[0].Mode, "mode ") {
		t.Errorf("unknown ArduPlane mode %q", hub.Vehicles()[0].Mode)
	}
}

// Importing the log through ReadLog stores what the log says, at its own times.
func TestReadLog(t *testing.T) {
	path := vtolLog(t)
	truth := readTruth(t, path)
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rec := &recorder{}
	res, err := ReadLog(context.Background(), f, ProcessorConfig{Link: "import", Vehicles: []VehicleConfig{{Name: "vtol", SystemID: 1}}, StoredRate: 10}, rec)
	if err != nil {
		t.Fatal(err)
	}
	if res.Frames != 23894 || res.Errors != 0 || !res.First.Equal(truth.start) || !res.Last.Equal(truth.end) {
		t.Fatalf("%+v", res)
	}
	var pts []store.TrackPoint
	for i, v := range rec.samples {
		if v.Position.Valid {
			pts = append(pts, store.TrackPoint{Time: rec.times[i], Lat: v.Position.Lat, Lon: v.Position.Lon})
		}
		// At most 10 a second, +1 for a state stored by the once-a-second tick.
		if i >= 11 && rec.times[i].Sub(rec.times[i-11]) < time.Second {
			t.Fatalf("samples %d to %d within %s: faster than 10 Hz", i-11, i, rec.times[i].Sub(rec.times[i-11]))
		}
		if rec.times[i].Before(truth.start) || rec.times[i].After(truth.end) {
			t.Fatalf("sample at %s outside the log", rec.times[i])
		}
	}
	checkTrack(t, pts, truth, int(truth.end.Sub(truth.start).Seconds()*10)+2, 1e-4)
	if v := rec.last(); v.Type != "fixed_wing" || v.Autopilot != "ardupilot" || strings.HasPrefix(v.Mode, "mode ") {
		t.Errorf("%+v", v)
	}
}
