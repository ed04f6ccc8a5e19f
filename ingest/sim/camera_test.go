package sim_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func startServer(t *testing.T, srv *sim.RTSPServer) *sim.RTSPServer {
	t.Helper()
	srv.Log = quiet()
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// publish runs p until the test ends (or stop) and waits for its path to
// be live on srv.
func publish(t *testing.T, srv *sim.RTSPServer, path string, p *sim.Publisher) (stop func()) {
	t.Helper()
	p.URL, p.Log = srv.URL(path), quiet()
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Publisher.Run: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	testkit.WaitFor(t, 20*time.Second, "ffmpeg to publish "+path, func() bool { return srv.Ready(path) })
	return stop
}

// command runs a program with a deadline scaled for load.
func command(t *testing.T, d time.Duration, name string, args ...string) ([]byte, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), testkit.Scale(d))
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("%s: %w: %s", name, err, strings.TrimSpace(stderr.String()))
	}
	return out, nil
}

// probe is what ffprobe, an independent RTSP client, reads of url's video.
func probe(t *testing.T, url, transport string) (map[string]string, error) {
	t.Helper()
	// The SDP has the parameter sets: a short probe is enough.
	out, err := command(t, 30*time.Second, "ffprobe", "-v", "error", "-analyzeduration", "500000", "-rtsp_transport", transport, "-select_streams", "v:0",
		"-show_entries", "stream=codec_name,width,height", "-of", "default=nw=1", url)
	if err != nil {
		return nil, err
	}
	info := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		k, v, _ := strings.Cut(l, "=")
		info[k] = v
	}
	return info, nil
}

// grab has ffmpeg read one picture of url as 8-bit grey, w×h: the first
// keyframe's (a picture decoded from the middle of a GOP may be grey).
func grab(t *testing.T, url string, w, h int) []byte {
	t.Helper()
	out, err := command(t, 30*time.Second, "ffmpeg", "-v", "error", "-analyzeduration", "500000", "-skip_frame", "nokey", "-rtsp_transport", "tcp", "-i", url,
		"-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-")
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != w*h {
		t.Fatalf("a %d-byte picture, want %d×%d", len(out), w, h)
	}
	return out
}

// ffprobe and ffmpeg (another RTSP implementation than ours) read what
// ffmpeg publishes, over TCP and UDP, as published.
func TestServerRelaysFFmpegToFFmpeg(t *testing.T) {
	srv := startServer(t, &sim.RTSPServer{UDP: true})
	for _, tc := range []struct {
		codec, transport, name string
	}{
		{"h264", "tcp", "h264"},
		{"h265", "udp", "hevc"},
	} {
		t.Run(tc.codec+"/"+tc.transport, func(t *testing.T) {
			path := "cam-" + tc.codec
			stop := publish(t, srv, path, &sim.Publisher{Source: "testsrc2", Width: 160, Height: 120, FPS: 10, Codec: tc.codec})
			defer stop()
			info, err := probe(t, srv.URL(path), tc.transport)
			if err != nil {
				t.Fatal(err)
			}
			if info["codec_name"] != tc.name || info["width"] != "160" || info["height"] != "120" {
				t.Fatalf("ffprobe reads %v", info)
			}
			// Twenty pictures decode.
			if _, err := command(t, 30*time.Second, "ffmpeg", "-v", "error", "-xerror", "-rtsp_transport", tc.transport,
				"-i", srv.URL(path), "-frames:v", "20", "-f", "null", "-"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// reader is an RTSP reader (gortsplib's client) counting RTP packets.
type reader struct {
	c       *gortsplib.Client
	packets atomic.Int64
	mu      sync.Mutex
	last    []byte // the last payload
	done    chan struct{}
	err     error // Wait's, once done is closed
}

// read plays url over TCP until the test ends; tlsConfig for rtsps.
func read(t *testing.T, url string, tlsConfig *tls.Config) (*reader, error) {
	t.Helper()
	u, err := base.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	tcp := gortsplib.TransportTCP
	r := &reader{c: &gortsplib.Client{Scheme: u.Scheme, Host: u.Host, Transport: &tcp, TLSConfig: tlsConfig}, done: make(chan struct{})}
	if err := r.c.Start2(); err != nil {
		return nil, err
	}
	desc, _, err := r.c.Describe(u)
	if err == nil {
		err = r.c.SetupAll(desc.BaseURL, desc.Medias)
	}
	if err == nil {
		r.c.OnPacketRTPAny(func(_ *description.Media, _ format.Format, pkt *rtp.Packet) {
			r.mu.Lock()
			r.last = append(r.last[:0], pkt.Payload...)
			r.mu.Unlock()
			r.packets.Add(1)
		})
		_, err = r.c.Play(nil)
	}
	if err != nil {
		r.c.Close()
		return nil, err
	}
	go func() { r.err = r.c.Wait(); close(r.done) }()
	t.Cleanup(func() { r.c.Close(); <-r.done })
	return r, nil
}

func (r *reader) ended() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// tag is the last packet's tag (see publisher.write), or "".
func (r *reader) tag() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.last) < 1 {
		return ""
	}
	return string(r.last[1:])
}

// publisher is an RTSP publisher (gortsplib's client) of one H.264 track
// whose packets the test writes.
type publisher struct {
	c    *gortsplib.Client
	desc *description.Session
	seq  uint16
	done chan struct{}
}

func record(t *testing.T, url string, tlsConfig *tls.Config) *publisher {
	t.Helper()
	tcp := gortsplib.TransportTCP
	p := &publisher{c: &gortsplib.Client{Transport: &tcp, TLSConfig: tlsConfig}, done: make(chan struct{}),
		desc: &description.Session{Medias: []*description.Media{{Type: description.MediaTypeVideo, Formats: []format.Format{&format.H264{
			PayloadTyp: 96, PacketizationMode: 1,
			SPS: []byte{0x67, 0x42, 0xc0, 0x0d, 0xda, 0x05, 0x07, 0xec, 0x04, 0x40, 0x00, 0x00, 0x03, 0x00, 0x40, 0x00, 0x00, 0x0f, 0x23, 0xc5, 0x0b, 0xa8},
			PPS: []byte{0x68, 0xce, 0x3c, 0x80},
		}}}}}}
	if err := p.c.StartRecording(url, p.desc); err != nil {
		t.Fatalf("record %s: %v", url, err)
	}
	go func() { p.c.Wait(); close(p.done) }()
	t.Cleanup(func() { p.c.Close(); <-p.done })
	return p
}

// write sends one packet whose payload is tag.
func (p *publisher) write(tag string) {
	p.seq++
	_ = p.c.WritePacketRTP(p.desc.Medias[0], &rtp.Packet{
		Header:  rtp.Header{Version: 2, PayloadType: 96, SequenceNumber: p.seq, Timestamp: uint32(p.seq) * 3600, SSRC: 0x5eed, Marker: true},
		Payload: append([]byte{0x01}, tag...), // a non-IDR slice NAL unit
	})
}

// A publisher's packets reach every reader of its path; a new publisher on
// the path replaces the old one and its readers, whose sessions end; the
// server's end disconnects everyone.
func TestServerRelaysAndReplacesPublishers(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(map[bool]string{false: "rtsp", true: "rtsps"}[secure], func(t *testing.T) {
			srv := &sim.RTSPServer{}
			var clientTLS *tls.Config
			if secure {
				// A self-signed certificate, as cameras have.
				srv.TLS, clientTLS = serverTLS(t), &tls.Config{InsecureSkipVerify: true}
			}
			startServer(t, srv)
			if !strings.HasPrefix(srv.URL("x"), map[bool]string{false: "rtsp://", true: "rtsps://"}[secure]) {
				t.Fatalf("URL %s", srv.URL("x"))
			}
			if srv.Ready("cam") {
				t.Fatal("a path is ready before anyone published")
			}
			first := record(t, srv.URL("cam"), clientTLS)
			testkit.WaitFor(t, 10*time.Second, "the path to be live", func() bool { return srv.Ready("cam") })
			r1, err := read(t, srv.URL("cam"), clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			r2, err := read(t, srv.URL("/cam"), clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 10*time.Second, "the first publisher's packets at both readers", func() bool {
				first.write("first")
				return r1.tag() == "first" && r2.tag() == "first"
			})

			second := record(t, srv.URL("cam"), clientTLS)
			testkit.WaitFor(t, 10*time.Second, "the first publisher and its readers to be let go", func() bool {
				select {
				case <-first.done:
					return r1.ended() && r2.ended()
				default:
					return false
				}
			})
			if !srv.Ready("cam") {
				t.Fatal("the path went down with the replaced publisher")
			}
			r3, err := read(t, srv.URL("cam"), clientTLS)
			if err != nil {
				t.Fatal(err)
			}
			testkit.WaitFor(t, 10*time.Second, "the second publisher's packets", func() bool {
				second.write("second")
				return r3.tag() == "second"
			})

			srv.Close()
			testkit.WaitFor(t, 10*time.Second, "everyone disconnected by Close", func() bool {
				select {
				case <-second.done:
					return r3.ended()
				default:
					return false
				}
			})
			if srv.Ready("cam") {
				t.Fatal("a path is ready after Close")
			}
		})
	}
}

func serverTLS(t *testing.T) *tls.Config {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "camera"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}
}

// A path nobody publishes is not found.
func TestServerUnknownPath(t *testing.T) {
	srv := startServer(t, &sim.RTSPServer{})
	_, err := read(t, srv.URL("nobody"), nil)
	var bad liberrors.ErrClientBadStatusCode
	if !errors.As(err, &bad) || bad.Code != base.StatusNotFound {
		t.Fatalf("DESCRIBE of an unpublished path: %v", err)
	}
}

// With credentials, readers and publishers must give them.
func TestServerCredentials(t *testing.T) {
	srv := startServer(t, &sim.RTSPServer{User: "admin", Pass: "s3cret"})
	if u := srv.URL("cam"); u != "rtsp://admin:s3cret@"+srv.Addr()+"/cam" {
		t.Fatalf("URL %s", u)
	}
	anonymous := "rtsp://" + srv.Addr() + "/cam"
	wrong := "rtsp://admin:guess@" + srv.Addr() + "/cam"

	// ffmpeg may not publish without them or with the wrong ones.
	for _, url := range []string{anonymous, wrong} {
		_, err := command(t, 30*time.Second, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=160x120:rate=10", "-frames:v", "5",
			"-c:v", "libx264", "-f", "rtsp", "-rtsp_transport", "tcp", url)
		if err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("ffmpeg publishing to %s: %v", url, err)
		}
	}
	if srv.Ready("cam") {
		t.Fatal("a refused publisher made the path ready")
	}

	publish(t, srv, "cam", &sim.Publisher{Source: "testsrc2", Width: 160, Height: 120, FPS: 10})
	for _, url := range []string{anonymous, wrong} {
		if _, err := probe(t, url, "tcp"); err == nil || !strings.Contains(err.Error(), "401") {
			t.Fatalf("ffprobe of %s: %v", url, err)
		}
	}
	if info, err := probe(t, srv.URL("cam"), "tcp"); err != nil || info["codec_name"] != "h264" {
		t.Fatalf("ffprobe with credentials: %v, %v", info, err)
	}
}

// A camera that loses power: its readers are disconnected and the path is
// gone until the publisher, restarted, announces it again.
func TestPublisherKilledAndRestarted(t *testing.T) {
	srv := startServer(t, &sim.RTSPServer{})
	p := &sim.Publisher{Source: "testsrc2", Width: 160, Height: 120, FPS: 10}
	if err := p.Kill(); err == nil {
		t.Fatal("Kill before Run did not fail")
	}
	publish(t, srv, "cam", p)
	r, err := read(t, srv.URL("cam"), nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "ten packets", func() bool { return r.packets.Load() >= 10 })

	if err := p.Kill(); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "the reader to be disconnected", r.ended)
	if r.err == nil {
		t.Fatal("the reader's session ended without an error")
	}
	testkit.WaitFor(t, 20*time.Second, "the restarted publisher", func() bool { return srv.Ready("cam") })
	r2, err := read(t, srv.URL("cam"), nil)
	if err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 10*time.Second, "ten packets after the restart", func() bool { return r2.packets.Load() >= 10 })
}

// clip encodes a two-second file: a white left half and a black right half.
func clip(t *testing.T) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "clip.mp4")
	if _, err := command(t, 60*time.Second, "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=white:size=320x240:rate=10", "-t", "2",
		"-vf", "drawbox=x=160:y=0:w=160:h=240:color=black:t=fill", "-c:v", "libx264", "-g", "10", "-pix_fmt", "yuv420p", file); err != nil {
		t.Fatal(err)
	}
	return file
}

// mean is the mean grey level of columns [x0, x1) of a w-wide picture.
func mean(pic []byte, w, x0, x1 int) float64 {
	sum, n := 0, 0
	for i, v := range pic {
		if x := i % w; x >= x0 && x < x1 {
			sum += int(v)
			n++
		}
	}
	return float64(sum) / float64(n)
}

// A file is published as it is (Copy), scaled to another size and rate
// and codec, or mirrored: what a reader gets is what was asked for.
func TestPublisherFromAFile(t *testing.T) {
	file := clip(t)
	srv := startServer(t, &sim.RTSPServer{})
	for _, tc := range []struct {
		name      string
		p         *sim.Publisher
		codec     string
		w, h      int
		leftWhite bool
	}{
		{"copy", &sim.Publisher{Copy: true}, "h264", 320, 240, true},
		{"scaled to h265", &sim.Publisher{Width: 96, Height: 64, FPS: 5, Codec: "h265"}, "hevc", 96, 64, true},
		{"mirrored", &sim.Publisher{Mirror: true}, "h264", 320, 240, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.p.Source = file
			path := strings.ReplaceAll(tc.name, " ", "-")
			stop := publish(t, srv, path, tc.p)
			defer stop()
			info, err := probe(t, srv.URL(path), "tcp")
			if err != nil {
				t.Fatal(err)
			}
			if info["codec_name"] != tc.codec || info["width"] != fmt.Sprint(tc.w) || info["height"] != fmt.Sprint(tc.h) {
				t.Fatalf("ffprobe reads %v", info)
			}
			pic := grab(t, srv.URL(path), tc.w, tc.h)
			left, right := mean(pic, tc.w, 0, tc.w/2-4), mean(pic, tc.w, tc.w/2+4, tc.w)
			if white := left > 200 && right < 50; white != tc.leftWhite || (!white && !(right > 200 && left < 50)) {
				t.Fatalf("left half %.0f, right half %.0f (want the left white: %v)", left, right, tc.leftWhite)
			}
		})
	}
}

// The timecode strip in a picture read back is the wall-clock time it was
// made at, to a tenth of a second: a little before the picture was read.
func TestPublisherTimecode(t *testing.T) {
	srv := startServer(t, &sim.RTSPServer{})
	publish(t, srv, "cam", &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 10, GOP: 10, Timecode: true})
	asked := time.Now()
	pic := grab(t, srv.URL("cam"), 320, 240)
	got := time.Now()
	var code uint32
	for k := range 32 {
		// The middle of cell k (10 pixels wide) on row 12.
		if pic[12*320+k*10+5] > 128 {
			code |= 1 << k
		}
	}
	at := sim.TimecodeTime(code, got)
	// ffmpeg's reader starts at a keyframe (every second) and the test's
	// machine may be slow: the picture was made at most a few seconds
	// before it was asked for, and not after it arrived.
	if at.After(got) || at.Before(asked.Add(-testkit.Scale(5*time.Second))) {
		t.Fatalf("timecode %s (code %d): asked at %s, got at %s", at.Format(time.StampMilli), code, asked.Format(time.StampMilli), got.Format(time.StampMilli))
	}
}

func TestTimecodeTime(t *testing.T) {
	tenths := func(tm time.Time) uint32 { return uint32(uint64(tm.UnixMilli()/100) % (1 << 32)) }
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	// 2^32 tenths of a second after the Unix epoch: the code wraps here.
	wrap := time.UnixMilli(100 << 32).UTC()
	for _, tc := range []struct {
		name string
		at   time.Time
		near time.Time
	}{
		{"now", now, now},
		{"a minute ago", now.Add(-time.Minute), now},
		{"in a minute", now.Add(time.Minute), now},
		{"a year ago", now.AddDate(-1, 0, 0), now},
		{"just before the wrap, read after it", wrap.Add(-300 * time.Millisecond), wrap.Add(time.Second)},
		{"just after the wrap, read before it", wrap.Add(200 * time.Millisecond), wrap.Add(-time.Second)},
		{"six years before the wrap", wrap.AddDate(-6, 0, 0), wrap},
		{"six years after the wrap", wrap.AddDate(6, 0, 0), wrap},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.at.Truncate(100 * time.Millisecond)
			if got := sim.TimecodeTime(tenths(tc.at), tc.near); !got.Equal(want) {
				t.Fatalf("TimecodeTime(%d, %s) = %s, want %s", tenths(tc.at), tc.near, got.UTC(), want)
			}
		})
	}
}

// Footage finds the extracted clip from the working directory's parents
// or from dir's, and tells when there is none.
func TestFootage(t *testing.T) {
	const installed = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
	_, statErr := os.Stat(installed)
	root := t.TempDir()
	deep := filepath.Join(root, "a", "b", "c")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	empty := t.TempDir()
	t.Chdir(empty)

	// Nothing extracted: the installed copy, or none.
	path, ok := sim.Footage(deep)
	if ok != (statErr == nil) || (ok && path != installed) || (!ok && path != "") {
		t.Fatalf("Footage with nothing extracted: %q, %v", path, ok)
	}

	clip := filepath.Join(root, "deploy", "footage", "vtest.avi")
	if err := os.MkdirAll(filepath.Dir(clip), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(clip, []byte("avi"), 0o644); err != nil {
		t.Fatal(err)
	}
	path, ok = sim.Footage(deep)
	if !ok {
		t.Fatal("Footage did not look in dir's parents")
	}
	if a, b := mustStat(t, path), mustStat(t, clip); !os.SameFile(a, b) {
		t.Fatalf("Footage found %s, not %s", path, clip)
	}

	// From the working directory first.
	t.Chdir(deep)
	path, ok = sim.Footage("")
	if !ok || !os.SameFile(mustStat(t, path), mustStat(t, clip)) {
		t.Fatalf("Footage from the working directory: %q, %v", path, ok)
	}
}

func mustStat(t *testing.T, path string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
