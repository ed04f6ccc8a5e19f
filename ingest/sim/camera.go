package sim

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/liberrors"
	"github.com/pion/rtp"
)

// RTSPServer is a small RTSP server for simulated cameras: a publisher
// (Debian's ffmpeg, see Publisher) ANNOUNCEs and RECORDs a path, readers
// (smarteye's ingest, ffplay, VLC) DESCRIBE, SETUP and PLAY it. When the
// publisher goes away its readers are disconnected, as with a camera that
// dies.
type RTSPServer struct {
	// Address is host:port for RTSP/TCP. It defaults to 127.0.0.1:0.
	Address string
	// UDP also serves RTP/RTCP over UDP on a free pair of ports.
	UDP bool
	// User and Pass, when set, are required of readers and publishers
	// (digest or basic).
	User, Pass string
	// TLS, when set, serves RTSPS (TLS on the RTSP connection, interleaved
	// RTP) instead of plain RTSP.
	TLS *tls.Config
	Log *slog.Logger

	srv   *gortsplib.Server
	mu    sync.Mutex
	paths map[string]*simPath
}

type simPath struct {
	stream    *gortsplib.ServerStream
	publisher *gortsplib.ServerSession
}

// Start listens; the server runs until Close.
func (s *RTSPServer) Start() error {
	if s.Address == "" {
		s.Address = "127.0.0.1:0"
	}
	if s.Log == nil {
		s.Log = slog.New(slog.DiscardHandler)
	}
	s.paths = make(map[string]*simPath)
	host, port, err := net.SplitHostPort(s.Address)
	if err != nil {
		return fmt.Errorf("rtsp server address: %w", err)
	}
	if port == "0" {
		// gortsplib needs a concrete port; take a free one.
		l, err := net.Listen("tcp", s.Address)
		if err != nil {
			return err
		}
		s.Address = l.Addr().String()
		l.Close()
	}
	var last error
	// UDP needs two consecutive ports (RTP even, RTCP odd): try a few.
	for range 20 {
		s.srv = &gortsplib.Server{Handler: s, RTSPAddress: s.Address, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second, TLSConfig: s.TLS}
		if s.UDP && s.TLS == nil {
			p := 20000 + 2*rand.IntN(20000)
			s.srv.UDPRTPAddress = net.JoinHostPort(host, strconv.Itoa(p))
			s.srv.UDPRTCPAddress = net.JoinHostPort(host, strconv.Itoa(p+1))
		}
		if last = s.srv.Start(); last == nil {
			return nil
		}
		if !s.UDP {
			break
		}
	}
	return fmt.Errorf("rtsp server: %w", last)
}

// Addr is the RTSP address.
func (s *RTSPServer) Addr() string { return s.Address }

// URL is the rtsp:// URL of a path, with the credentials when set.
func (s *RTSPServer) URL(path string) string {
	cred := ""
	if s.User != "" {
		cred = s.User + ":" + s.Pass + "@"
	}
	scheme := "rtsp://"
	if s.TLS != nil {
		scheme = "rtsps://"
	}
	return scheme + cred + s.Address + "/" + strings.TrimPrefix(path, "/")
}

// Close stops the server and disconnects everyone.
func (s *RTSPServer) Close() {
	s.srv.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, p := range s.paths {
		p.stream.Close()
	}
	s.paths = map[string]*simPath{}
}

// Ready reports whether a publisher is streaming on path.
func (s *RTSPServer) Ready(path string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.paths[strings.Trim(path, "/")]
	return ok
}

func (s *RTSPServer) authorized(c *gortsplib.ServerConn, req *base.Request) bool {
	return s.User == "" || c.VerifyCredentials(req, s.User, s.Pass)
}

// OnSessionClose ends the path of a publisher that left.
func (s *RTSPServer) OnSessionClose(ctx *gortsplib.ServerHandlerOnSessionCloseCtx) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for name, p := range s.paths {
		if p.publisher == ctx.Session {
			p.stream.Close()
			delete(s.paths, name)
			s.Log.Info("publisher left", "path", name)
		}
	}
}

// serve answers a reader's DESCRIBE or SETUP with the path's stream.
func (s *RTSPServer) serve(path string) (*base.Response, *gortsplib.ServerStream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.paths[strings.Trim(path, "/")]
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil, nil
	}
	return &base.Response{StatusCode: base.StatusOK}, p.stream, nil
}

// OnDescribe serves a published path.
func (s *RTSPServer) OnDescribe(ctx *gortsplib.ServerHandlerOnDescribeCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	return s.serve(ctx.Path)
}

// OnAnnounce takes a publisher; a new one replaces the old.
func (s *RTSPServer) OnAnnounce(ctx *gortsplib.ServerHandlerOnAnnounceCtx) (*base.Response, error) {
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, liberrors.ErrServerAuth{}
	}
	name := strings.Trim(ctx.Path, "/")
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.paths[name]; ok {
		old.stream.Close()
		old.publisher.Close()
	}
	st := &gortsplib.ServerStream{Server: s.srv, Desc: ctx.Description}
	if err := st.Initialize(); err != nil {
		return &base.Response{StatusCode: base.StatusBadRequest}, err
	}
	s.paths[name] = &simPath{stream: st, publisher: ctx.Session}
	s.Log.Info("publisher announced", "path", name)
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnSetup accepts publishers' setups and readers' of published paths.
func (s *RTSPServer) OnSetup(ctx *gortsplib.ServerHandlerOnSetupCtx) (*base.Response, *gortsplib.ServerStream, error) {
	if ctx.Session.State() == gortsplib.ServerSessionStatePreRecord {
		return &base.Response{StatusCode: base.StatusOK}, nil, nil
	}
	if !s.authorized(ctx.Conn, ctx.Request) {
		return &base.Response{StatusCode: base.StatusUnauthorized}, nil, liberrors.ErrServerAuth{}
	}
	return s.serve(ctx.Path)
}

// OnPlay starts a reader.
func (s *RTSPServer) OnPlay(*gortsplib.ServerHandlerOnPlayCtx) (*base.Response, error) {
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// OnRecord relays the publisher's packets to the path's readers.
func (s *RTSPServer) OnRecord(ctx *gortsplib.ServerHandlerOnRecordCtx) (*base.Response, error) {
	s.mu.Lock()
	p, ok := s.paths[strings.Trim(ctx.Path, "/")]
	s.mu.Unlock()
	if !ok {
		return &base.Response{StatusCode: base.StatusNotFound}, nil
	}
	ctx.Session.OnPacketRTPAny(func(medi *description.Media, _ format.Format, pkt *rtp.Packet) {
		// Keep the publisher's capture time for the readers' sender reports.
		ntp, ok := ctx.Session.PacketNTP(medi, pkt)
		if !ok {
			ntp = time.Now()
		}
		_ = p.stream.WritePacketRTPWithNTP(medi, pkt, ntp)
	})
	return &base.Response{StatusCode: base.StatusOK}, nil
}

// Publisher runs Debian's ffmpeg to encode a video source to H.264 (or
// H.265) and publish it to an RTSP URL in real time, looping the source:
// an independent RTSP client implementation standing in for a camera.
// It restarts ffmpeg when it exits, until ctx ends.
type Publisher struct {
	// Source is a video file, or "testsrc2" for ffmpeg's synthetic pattern.
	Source string
	// URL is where to publish, rtsp://host:port/path.
	URL string
	// Width and Height scale the picture; 0 keeps the source's size
	// (testsrc2: 1280×720).
	Width, Height int
	// FPS is the frame rate; 0 keeps the source's (testsrc2: 25).
	FPS int
	// GOP is the keyframe interval in frames. It defaults to 2 seconds' worth.
	GOP int
	// Codec is h264 (default) or h265.
	Codec string
	// Mirror flips the picture left-right (a second view from one clip).
	Mirror bool
	// Copy publishes an already encoded file's video as it is (no
	// re-encoding: a camera's stream at almost no CPU cost).
	Copy bool
	// Timecode burns the wall-clock time into the picture's top 24 rows as
	// 32 black or white cells, least significant bit on the left: the
	// tenths of a second since the Unix epoch, modulo 2³² (TimecodeTime
	// decodes it). Tests read it back from recorded or played video.
	Timecode bool
	// Log receives ffmpeg's failures.
	Log *slog.Logger

	mu  sync.Mutex
	cmd *exec.Cmd
}

// Args is the ffmpeg command line.
func (p *Publisher) Args() []string {
	args := []string{"-hide_banner", "-loglevel", "error", "-nostdin", "-re"}
	fps := p.FPS
	if p.Source == "testsrc2" || p.Source == "" {
		if fps == 0 {
			fps = 25
		}
		w, h := p.Width, p.Height
		if w == 0 {
			w, h = 1280, 720
		}
		args = append(args, "-f", "lavfi", "-i", fmt.Sprintf("testsrc2=size=%dx%d:rate=%d", w, h, fps))
	} else {
		args = append(args, "-stream_loop", "-1", "-i", p.Source)
	}
	if p.Copy {
		return append(args, "-an", "-c:v", "copy", "-f", "rtsp", "-rtsp_transport", "tcp", p.URL)
	}
	var vf []string
	if p.Width > 0 && p.Source != "testsrc2" && p.Source != "" {
		vf = append(vf, fmt.Sprintf("scale=%d:%d", p.Width, p.Height))
	}
	if p.FPS > 0 && p.Source != "testsrc2" && p.Source != "" {
		vf = append(vf, fmt.Sprintf("fps=%d", p.FPS))
	}
	if p.Mirror {
		vf = append(vf, "hflip")
	}
	if p.Timecode {
		// Each frame is stamped with the wall clock as ffmpeg makes it
		// (RTCTIME, in microseconds), the cells are drawn from that stamp,
		// and the frames then get back their regular times: the code is
		// the frame's capture time, however long ffmpeg took to start.
		vf = append(vf, "settb=AVTB,setpts=RTCTIME,split[a][b];[b]crop=iw:24:0:0,"+
			"geq=lum='255*mod(floor(mod(floor(T*10)\\,4294967296)/pow(2\\,floor(X*32/W)))\\,2)':cb=128:cr=128[t];"+
			"[a][t]overlay=0:0,setpts=N/(FR*TB)")
	}
	if len(vf) > 0 {
		args = append(args, "-vf", strings.Join(vf, ","))
	}
	gop := p.GOP
	if gop == 0 {
		gop = 2 * max(fps, 10)
	}
	switch p.Codec {
	case "h265":
		args = append(args, "-c:v", "libx265", "-preset", "ultrafast", "-tune", "zerolatency", "-x265-params", "log-level=error:keyint="+strconv.Itoa(gop))
	default:
		args = append(args, "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", strconv.Itoa(gop))
	}
	return append(args, "-pix_fmt", "yuv420p", "-an", "-f", "rtsp", "-rtsp_transport", "tcp", p.URL)
}

// Run publishes until ctx ends, restarting ffmpeg after a second when it
// exits (the server went away, the file ended badly).
func (p *Publisher) Run(ctx context.Context) error {
	if p.Log == nil {
		p.Log = slog.New(slog.DiscardHandler)
	}
	if _, err := exec.LookPath("ffmpeg"); err != nil {
		return fmt.Errorf("simulated camera: %w (install Debian's ffmpeg)", err)
	}
	for {
		var stderr bytes.Buffer
		cmd := exec.CommandContext(ctx, "ffmpeg", p.Args()...)
		cmd.Stderr = &stderr
		cmd.WaitDelay = 2 * time.Second
		if err := cmd.Start(); err != nil {
			return err
		}
		p.mu.Lock()
		p.cmd = cmd
		p.mu.Unlock()
		err := cmd.Wait()
		if ctx.Err() != nil {
			return nil
		}
		p.Log.Warn("ffmpeg publisher exited; restarting", "err", err, "stderr", lastLine(stderr.String()))
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(time.Second):
		}
	}
}

// Signal sends sig to the running ffmpeg (SIGSTOP freezes a camera,
// SIGCONT thaws it).
func (p *Publisher) Signal(sig os.Signal) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.cmd == nil || p.cmd.Process == nil {
		return errors.New("not running")
	}
	return p.cmd.Process.Signal(sig)
}

// Kill stops the running ffmpeg abruptly, as a camera losing power; Run
// starts a new one a second later.
func (p *Publisher) Kill() error { return p.Signal(os.Kill) }

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// Footage finds OpenCV's sample pedestrian video vtest.avi (Debian's
// opencv-doc package; `make deps` extracts it into deploy/footage without
// installing the package). It looks at the extracted copy (from the
// working directory or dir and their parents), then the installed package.
// ok is false when there is none.
func Footage(dir string) (path string, ok bool) {
	rel := "deploy/footage/vtest.avi"
	for _, base := range []string{".", dir} {
		if base == "" {
			continue
		}
		d := base
		for range 6 {
			if _, err := os.Stat(d + "/" + rel); err == nil {
				return d + "/" + rel, true
			}
			d += "/.."
		}
	}
	const installed = "/usr/share/doc/opencv-doc/examples/data/vtest.avi"
	if _, err := os.Stat(installed); err == nil {
		return installed, true
	}
	return "", false
}

// TimecodeTime is the time a Timecode strip's 32 cells stand for (code,
// read from a picture: cell k white is bit k), to a tenth of a second,
// nearest to near (the code wraps every 13.6 years).
func TimecodeTime(code uint32, near time.Time) time.Time {
	n := uint64(near.UnixMilli() / 100)
	d := n&^(1<<32-1) | uint64(code)
	if d+1<<31 < n {
		d += 1 << 32
	} else if d > n+1<<31 {
		d -= 1 << 32
	}
	return time.UnixMilli(int64(d) * 100)
}
