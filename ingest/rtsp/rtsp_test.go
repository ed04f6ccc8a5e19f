package rtsp_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

// changes records a stream's status changes.
type changes struct {
	mu  sync.Mutex
	all []rtsp.Change
}

func (c *changes) add(ch rtsp.Change) {
	c.mu.Lock()
	c.all = append(c.all, ch)
	c.mu.Unlock()
}

func (c *changes) count(to rtsp.Status) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ch := range c.all {
		if ch.To == to {
			n++
		}
	}
	return n
}

// reason is the reasons given for the changes to status to, joined.
func (c *changes) reason(to rtsp.Status) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var r []string
	for _, ch := range c.all {
		if ch.To == to {
			r = append(r, ch.Reason)
		}
	}
	return strings.Join(r, "; ")
}

func (c *changes) list() []rtsp.Change {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]rtsp.Change(nil), c.all...)
}

// run starts a stream and returns a stop function that waits for it.
func run(t *testing.T, cfg rtsp.Config, queue int) (*rtsp.Stream, *rtsp.Queue, *changes, func()) {
	t.Helper()
	ch := &changes{}
	cfg.OnStatus = ch.add
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = 100 * time.Millisecond
		cfg.MaxBackoff = 500 * time.Millisecond
	}
	s, err := rtsp.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	q := s.Subscribe("test", queue)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	stop := func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}
	t.Cleanup(func() {
		cancel()
	})
	return s, q, ch, stop
}

// publish starts a server and ffmpeg publishing on path; it returns when
// the path is live.
func publish(t *testing.T, srv *sim.RTSPServer, p *sim.Publisher) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	path := p.URL[strings.LastIndexByte(p.URL, '/')+1:]
	waitFor(t, 15*time.Second, "ffmpeg to publish", func() bool { return srv.Ready(path) })
	return func() {
		cancel()
		<-done
	}
}

func startServer(t *testing.T, udp bool) *sim.RTSPServer {
	t.Helper()
	srv := &sim.RTSPServer{UDP: udp}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

func collect(t *testing.T, q *rtsp.Queue, n int, d time.Duration) []*rtsp.AccessUnit {
	t.Helper()
	var got []*rtsp.AccessUnit
	deadline := time.After(d)
	for len(got) < n {
		select {
		case <-q.Ready():
			got, _ = q.Take(got)
		case <-deadline:
			t.Fatalf("got %d access units in %s, want %d", len(got), d, n)
		}
	}
	return got
}

func TestPullFromFFmpeg(t *testing.T) {
	srv := startServer(t, true)
	for _, codec := range []string{"h264", "h265"} {
		stopPub := publish(t, srv, &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, GOP: 25, Codec: codec, URL: srv.URL("cam-" + codec)})
		for _, transport := range []string{rtsp.TransportTCP, rtsp.TransportUDP, rtsp.TransportAuto} {
			t.Run(codec+"/"+transport, func(t *testing.T) {
				s, q, ch, stop := run(t, rtsp.Config{Camera: "c1", URL: srv.URL("cam-" + codec), Transport: transport}, 256)
				units := collect(t, q, 60, 15*time.Second)
				stop()

				keys := 0
				for i, au := range units {
					if au.Camera != "c1" || len(au.NALUs) == 0 {
						t.Fatalf("unit %d: %+v", i, au)
					}
					if d := time.Since(au.Time); d < -time.Second || d > 5*time.Second {
						t.Fatalf("unit %d stamped %s ago", i, d)
					}
					if i > 0 && au.PTS <= units[i-1].PTS {
						t.Fatalf("unit %d: PTS %s after %s", i, au.PTS, units[i-1].PTS)
					}
					if au.Key {
						keys++
						// ffmpeg sends the parameter sets in the SDP only:
						// they must have been put in front of the keyframe.
						want := map[string]int{"h264": 2, "h265": 3}[codec]
						params := 0
						for _, n := range au.NALUs {
							typ := n[0] & 0x1f
							if codec == "h265" {
								typ = (n[0] >> 1) & 0x3f
							}
							if (codec == "h264" && (typ == 7 || typ == 8)) || (codec == "h265" && typ >= 32 && typ <= 34) {
								params++
							}
						}
						if params < want {
							t.Fatalf("keyframe with %d parameter sets, want %d", params, want)
						}
					}
				}
				if keys < 2 {
					t.Fatalf("%d keyframes in %d units", keys, len(units))
				}
				st := s.Stats()
				wantCodec := map[string]string{"h264": rtsp.H264, "h265": rtsp.H265}[codec]
				if st.Codec != wantCodec || st.Width != 320 || st.Height != 240 || st.Frames < 60 || st.Keyframes < 2 || st.LastKeyframe.IsZero() {
					t.Fatalf("stats %+v", st)
				}
				if st.FPS < 15 || st.FPS > 35 || st.Bitrate <= 0 {
					t.Fatalf("fps %.1f bitrate %.0f", st.FPS, st.Bitrate)
				}
				if ch.count(rtsp.StatusLive) != 1 || ch.count(rtsp.StatusDown) != 0 {
					t.Fatalf("changes %+v", ch.all)
				}
			})
		}
		stopPub()
	}
}

// A camera that dies goes down within the timeout and comes back live by
// itself when it returns.
func TestCameraKilledAndBack(t *testing.T) {
	srv := startServer(t, false)
	pub := &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, URL: srv.URL("cam")}
	stopPub := publish(t, srv, pub)
	defer stopPub()

	s, q, ch, stop := run(t, rtsp.Config{Camera: "c1", URL: srv.URL("cam"), Transport: rtsp.TransportTCP, ReadTimeout: 2 * time.Second}, 64)
	defer stop()
	collect(t, q, 10, 15*time.Second)

	killed := time.Now()
	if err := pub.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "down", func() bool { return ch.count(rtsp.StatusDown) >= 1 })
	t.Logf("down %s after the kill", time.Since(killed).Round(time.Millisecond))
	// The publisher restarts after a second; the stream reconnects.
	waitFor(t, 20*time.Second, "live again", func() bool { return ch.count(rtsp.StatusLive) >= 2 })
	if st := s.Stats(); st.Reconnects == 0 || st.LastError == "" {
		t.Fatalf("stats %+v", st)
	}
	collect(t, q, 10, 10*time.Second)
}

// A camera away for longer than the read timeout still comes back (each
// session judges its own silence, not the last session's).
func TestCameraBackAfterLongOutage(t *testing.T) {
	srv := startServer(t, false)
	stopPub := publish(t, srv, &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, GOP: 50, URL: srv.URL("cam")})
	_, q, ch, stop := run(t, rtsp.Config{Camera: "c1", URL: srv.URL("cam"), Transport: rtsp.TransportTCP, ReadTimeout: time.Second}, 64)
	defer stop()
	collect(t, q, 10, 15*time.Second)
	stopPub()
	waitFor(t, 5*time.Second, "down", func() bool { return ch.count(rtsp.StatusDown) >= 1 })
	time.Sleep(2500 * time.Millisecond) // longer than the read timeout
	defer publish(t, srv, &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, GOP: 50, URL: srv.URL("cam")})()
	waitFor(t, 20*time.Second, "live again", func() bool { return ch.count(rtsp.StatusLive) >= 2 })
}

// A camera that freezes (its encoder stops, the connection stays) is
// stalled, then live again when it resumes, without reconnecting.
func TestCameraStalls(t *testing.T) {
	srv := startServer(t, false)
	pub := &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, URL: srv.URL("cam")}
	defer publish(t, srv, pub)()
	s, q, ch, stop := run(t, rtsp.Config{Camera: "c1", URL: srv.URL("cam"), Transport: rtsp.TransportTCP, StallTimeout: time.Second, ReadTimeout: 10 * time.Second}, 64)
	defer stop()
	collect(t, q, 10, 15*time.Second)
	if err := pub.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "stalled", func() bool { return ch.count(rtsp.StatusStalled) == 1 })
	if err := pub.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "live again", func() bool { return ch.count(rtsp.StatusLive) == 2 })
	if st := s.Stats(); st.Reconnects != 0 || ch.count(rtsp.StatusDown) != 0 {
		t.Fatalf("reconnected: %+v", st)
	}
}

func TestGStreamerServer(t *testing.T) {
	if _, err := exec.LookPath("/usr/bin/python3"); err != nil {
		t.Fatal("Debian's python3 is missing; run `make deps`")
	}
	port := freePort(t)
	cmd := exec.Command("/usr/bin/python3", "testdata/gst_server.py", fmt.Sprint(port))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "ready" {
		t.Fatalf("GStreamer server: %q %v\n%s", line, err, stderr.String())
	}
	for _, tc := range []struct{ path, transport, codec string }{
		{"test", rtsp.TransportTCP, rtsp.H264},
		{"test", rtsp.TransportUDP, rtsp.H264},
	} {
		t.Run(tc.path+"/"+tc.transport, func(t *testing.T) {
			s, q, _, stop := run(t, rtsp.Config{Camera: "gst", URL: fmt.Sprintf("rtsp://127.0.0.1:%d/%s", port, tc.path), Transport: tc.transport}, 256)
			units := collect(t, q, 50, 15*time.Second)
			stop()
			keys := 0
			for _, au := range units {
				if au.Key {
					keys++
				}
			}
			st := s.Stats()
			if keys == 0 || st.Width != 320 || st.Height != 240 || st.Codec != tc.codec {
				t.Fatalf("%d keys, stats %+v", keys, st)
			}
			// GStreamer sends RTCP sender reports: capture times come from them.
			if st.ClockSource != "rtcp" {
				t.Logf("clock source %q", st.ClockSource)
			}
		})
	}
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// A slow consumer loses units (counted) and never slows the others.
func TestSlowConsumerDoesNotStall(t *testing.T) {
	srv := startServer(t, false)
	defer publish(t, srv, &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, URL: srv.URL("cam")})()

	s, err := rtsp.New(rtsp.Config{Camera: "c1", URL: srv.URL("cam"), Transport: rtsp.TransportTCP})
	if err != nil {
		t.Fatal(err)
	}
	fast := s.Subscribe("fast", 256)
	slow := s.Subscribe("slow", 4) // never read
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	got := collect(t, fast, 50, 15*time.Second)
	cancel()
	<-done
	if slow.Dropped() == 0 || slow.Len() != 4 {
		t.Fatalf("slow queue: dropped %d, len %d", slow.Dropped(), slow.Len())
	}
	if _, gap := slow.Take(nil); !gap {
		t.Fatal("slow consumer not told of the gap")
	}
	if st := s.Stats(); st.QueueDrops != slow.Dropped() || st.Frames < uint64(len(got)) {
		t.Fatalf("stats %+v", st)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  rtsp.Config
		want string
	}{
		{"ok", rtsp.Config{Camera: "a", URL: "rtsp://cam.local:554/stream"}, ""},
		{"rtsps", rtsp.Config{Camera: "a", URL: "rtsps://u:p@cam.local/s", TLSFingerprint: strings.Repeat("ab", 32)}, ""},
		{"no id", rtsp.Config{URL: "rtsp://x/y"}, "camera id is empty"},
		{"scheme", rtsp.Config{Camera: "a", URL: "http://x/y"}, "scheme must be rtsp or rtsps"},
		{"no host", rtsp.Config{Camera: "a", URL: "rtsp:///y"}, "no host"},
		{"bad url keeps password out", rtsp.Config{Camera: "a", URL: "rtsp://u:secret@[::1/x"}, "url:"},
		{"transport", rtsp.Config{Camera: "a", URL: "rtsp://x/y", Transport: "quic"}, `transport "quic"`},
		{"fingerprint", rtsp.Config{Camera: "a", URL: "rtsps://x/y", TLSFingerprint: "abc"}, "tls_fingerprint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Fatal(err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("error %v, want %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "secret"):
				t.Fatalf("password in error: %v", err)
			}
		})
	}
	if got := rtsp.Redact("rtsp://admin:hunter2@10.0.0.9/s"); strings.Contains(got, "hunter2") {
		t.Fatal(got)
	}
}
