// Package fleet measures smarteye's MAVLink ingest: decoding and the
// vehicle-state update against node-mavlink's parser on the same bytes,
// and a fleet of simulated drones end to end into the store. It writes
// those sections of BENCHMARKS.md.
package fleet

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/tlog"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

const nodePeer = "ingest/mavlink/testdata/nodepeer"

// discard is a Sink that keeps nothing: the decode benchmark measures
// parsing, checking, decoding and the state update.
type discard struct{}

func (discard) Vehicle(*telemetry.Vehicle)           {}
func (discard) State(*telemetry.Vehicle)             {}
func (discard) Sample(*telemetry.Vehicle, time.Time) {}
func (discard) Event(telemetry.Event)                {}

// frameStream is vtol.tlog's frames (an ArduPlane flight, 23,894 frames)
// repeated to n frames, as the bytes a link carries.
func frameStream(n int) ([]byte, error) {
	f, err := os.Open(filepath.Join(nodePeer, "node_modules", "node-mavlink", "examples", "vtol.tlog"))
	if err != nil {
		return nil, fmt.Errorf("%w (run make deps)", err)
	}
	defer f.Close()
	r := &tlog.Reader{ByteReader: f}
	if err := r.Initialize(); err != nil {
		return nil, err
	}
	var one bytes.Buffer
	w := &frame.Writer{ByteWriter: &one}
	w.Initialize()
	count := 0
	for {
		e, err := r.Read()
		if err != nil {
			break
		}
		if err := w.Write(e.Frame); err != nil {
			return nil, err
		}
		count++
	}
	var all bytes.Buffer
	for i := 0; i < n; i += count {
		all.Write(one.Bytes())
	}
	return all.Bytes(), nil
}

// decodeRun parses and processes the stream on one goroutine: frames/s.
func decodeRun(stream []byte) (float64, uint64, error) {
	p := mavlink.NewProcessor(mavlink.ProcessorConfig{Link: "bench", StoredRate: 10, LinkTimeout: time.Hour, MaxDiscovered: 64}, discard{})
	r := &frame.Reader{BufByteReader: bufio.NewReaderSize(bytes.NewReader(stream), 64<<10)}
	if err := r.Initialize(); err != nil {
		return 0, 0, err
	}
	now := time.Now()
	start := time.Now()
	for {
		f, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			p.ParseError()
			continue
		}
		p.Frame(f, now)
	}
	d := time.Since(start)
	c := p.Counts()
	// The log has a few frames its recorder corrupted: counted, not fatal.
	if c.DroppedTotal()*1000 > c.Frames.Load() {
		return 0, 0, fmt.Errorf("decode benchmark dropped %d of %d frames", c.DroppedTotal(), c.Frames.Load())
	}
	return float64(c.Frames.Load()+c.DroppedTotal()) / d.Seconds(), c.Frames.Load(), nil
}

type nodeResult struct {
	Frames          int     `json:"frames"`
	FramesPerSecond float64 `json:"frames_per_second"`
}

func nodeRun(path string) (nodeResult, error) {
	cmd := exec.Command("node", "parse-bench.mjs", path)
	cmd.Dir = nodePeer
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		return nodeResult{}, fmt.Errorf("node-mavlink: %w", err)
	}
	var r nodeResult
	return r, json.Unmarshal(out, &r)
}

// BenchDecode compares our decode + state update with node-mavlink's
// parser on the same bytes.
func BenchDecode(root string, runs int) (string, error) {
	const n = 500_000
	stream, err := frameStream(n)
	if err != nil {
		return "", err
	}
	path := filepath.Join(root, "frames.bin")
	if err := os.WriteFile(path, stream, 0o644); err != nil {
		return "", err
	}
	var ours, theirs []float64
	var frames uint64
	var nodeFrames int
	for i := range runs {
		fps, nf, err := decodeRun(stream)
		if err != nil {
			return "", err
		}
		frames = nf
		ours = append(ours, fps)
		nr, err := nodeRun(path)
		if err != nil {
			return "", err
		}
		nodeFrames = nr.Frames
		theirs = append(theirs, nr.FramesPerSecond)
		measure.Progress("mavlink decode, run %d/%d: smarteye %.0f frames/s, node-mavlink %.0f frames/s", i+1, runs, fps, nr.FramesPerSecond)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "## MAVLink: decode + state update vs node-mavlink\n\n")
	fmt.Fprintf(&b, "The same %s-frame byte stream (ArduPlane's recorded VTOL flight `vtol.tlog` from npm node-mavlink, repeated), parsed on one goroutine. **smarteye**: frame parsing, checksum, decoding (ardupilotmega) and the vehicle-state update of `mavlink.Processor`, as a link's drain goroutine runs them. **node-mavlink**: `MavLinkPacketSplitter` → `MavLinkPacketParser` → `protocol.data()` into each message's class (`node parse-bench.mjs`, Node.js %s). Goal: ≥ 100,000 frames/s with zero loss.\n\n", measure.Thousands(int(frames)), nodeVersion())
	fmt.Fprintf(&b, "| | frames/s (median) | runs |\n|---|---:|---|\n")
	fmt.Fprintf(&b, "| smarteye | %s | %s |\n| node-mavlink | %s | %s |\n\n", measure.Thousands(int(measure.Median(ours))), rates(ours), measure.Thousands(int(measure.Median(theirs))), rates(theirs))
	fmt.Fprintf(&b, "smarteye / node-mavlink: **%.2f×**. Frames accepted: smarteye %s, node-mavlink %s (the log holds a few frames its recorder corrupted; both refuse them).\n\n", measure.Median(ours)/measure.Median(theirs), measure.Thousands(int(frames)), measure.Thousands(nodeFrames))
	return b.String(), nil
}

func rates(xs []float64) string {
	parts := make([]string, len(xs))
	for i, x := range xs {
		parts[i] = measure.Thousands(int(x))
	}
	return strings.Join(parts, ", ")
}

func nodeVersion() string {
	out, err := exec.Command("node", "--version").Output()
	if err != nil {
		return "?"
	}
	return strings.TrimSpace(string(out))
}

// BenchFleet flies drones simulated drones at about 50 frames/s each into a
// UDP link for d, end to end into the store.
func BenchFleet(ctx context.Context, st *store.Store, root string, drones int, d time.Duration, log *slog.Logger) (string, error) {
	w, err := store.NewWriter(st, store.WriterConfig{SpoolDir: filepath.Join(root, "fleet-spool"), Log: log})
	if err != nil {
		return "", err
	}
	wctx, stopWriter := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWriter()
	wdone := make(chan struct{})
	go func() { w.Run(wctx); close(wdone) }()
	hub := telemetry.NewHub(nil)
	in, err := mavlink.New(mavlink.Config{Links: []mavlink.LinkConfig{{Name: "udp", Type: mavlink.UDPServer, Address: "127.0.0.1:0"}}, MaxDiscovered: drones, Log: log},
		mavlink.LiveSink{Bus: hub, Writer: w}, prometheus.NewRegistry())
	if err != nil {
		return "", err
	}
	if err := in.Start(); err != nil {
		return "", err
	}
	ictx, stopIngest := context.WithCancel(ctx)
	defer stopIngest()
	idone := make(chan struct{})
	go func() { in.Run(ictx); close(idone) }()

	base := [][2]float64{{22.5412, 114.0538}, {22.5412, 114.0572}, {22.5388, 114.0572}, {22.5388, 114.0538}}
	var ds []sim.Drone
	for i := range drones {
		route := make([][2]float64, len(base))
		for j, p := range base {
			route[j] = [2]float64{p[0] + float64(i)*0.0002, p[1]}
		}
		ds = append(ds, sim.Drone{Name: fmt.Sprint("d", i+1), SystemID: uint8(i%250 + 1), Type: "quadrotor", Speed: 8, Altitude: 60, Battery: time.Hour, Route: route})
	}
	// 20 + 20 Hz position and attitude + the rest ≈ 50 frames/s per drone.
	s, err := sim.New(sim.Config{Drones: ds, Target: "udp:" + in.Addr("udp").String(), PositionRate: 20, AttitudeRate: 20, Log: log})
	if err != nil {
		return "", err
	}
	measure.Progress("fleet: %d drones for %s", drones, d)
	cpu0, t0 := measure.CPUTime(), time.Now()
	sctx, stopSim := context.WithTimeout(ctx, d)
	s.Run(sctx)
	stopSim()
	wall, cpu := time.Since(t0), measure.CPUTime()-cpu0
	time.Sleep(2 * time.Second) // the last frames and the last tick
	stopIngest()
	<-idone
	stopWriter()
	<-wdone
	c := in.Counts("udp")
	sent := s.Stats().Frames.Load()
	var rows int64
	if err := st.Pool().QueryRow(ctx, "SELECT count(*) FROM telemetry WHERE vehicle_id LIKE 'udp-%'").Scan(&rows); err != nil {
		return "", err
	}
	recv := c.Frames.Load()
	measure.Progress("fleet: sent %d, received %d, lost %d, rows %d, cpu %.0f%%", sent, recv, sent-recv, rows, 100*cpu.Seconds()/wall.Seconds())
	var b strings.Builder
	fmt.Fprintf(&b, "## MAVLink: %d simulated drones end to end\n\n", drones)
	fmt.Fprintf(&b, "%d gomavlib drones (`ingest/sim`, position and attitude at 20 Hz each plus heartbeat, GPS, battery, VFR_HUD and gimbal: %.0f frames/s per drone) send MAVLink 2 over loopback UDP into one smarteye UDP link for %s; samples go through the batch writer into PostgreSQL at the default stored rate (10 Hz per vehicle). Goal: 0 frames lost.\n\n",
		drones, float64(sent)/wall.Seconds()/float64(drones), d.Round(time.Second))
	fmt.Fprintf(&b, "| frames sent | frames received | lost (sent − received) | lost by sequence numbers | dropped | telemetry rows stored | rows/s | CPU (simulator + smarteye, one process) |\n|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	fmt.Fprintf(&b, "| %s | %s | %d | %d | %d | %s | %s | %.0f%% of one core (%d cores) |\n\n", measure.Thousands(int(sent)), measure.Thousands(int(recv)), int64(sent)-int64(recv), c.Lost.Load(), c.DroppedTotal(),
		measure.Thousands(int(rows)), measure.Thousands(int(float64(rows)/wall.Seconds())), 100*cpu.Seconds()/wall.Seconds(), runtime.NumCPU())
	return b.String(), nil
}
