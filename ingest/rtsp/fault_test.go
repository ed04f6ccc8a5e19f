package rtsp_test

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/textproto"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
)

// liarServer is a hand-written RTSP server that answers well enough to
// get a client to PLAY, then lies: its SDP or its RTP is garbage.
type liarServer struct {
	l       net.Listener
	sdp     string
	status  string // DESCRIBE's status line; default "200 OK"
	payload func(r *rand.Rand, seq uint16) []byte
	// hangAfter, when set, makes the server a hung encoder: payload
	// pictures (not garbage) for this long, then no video at all while
	// the session lives on: keep-alives answered, RTCP sender reports
	// every 500 ms.
	hangAfter time.Duration
	plays     atomic.Int32
	wg        sync.WaitGroup
	mu        sync.Mutex
	conns     []net.Conn
}

const goodSDP = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=liar\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\n" +
	"m=video 0 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\na=fmtp:96 packetization-mode=1\r\na=control:trackID=0\r\n"

func startLiar(t *testing.T, ls *liarServer) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls.l = l
	ls.wg.Add(1)
	go func() {
		defer ls.wg.Done()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			ls.mu.Lock()
			ls.conns = append(ls.conns, c)
			ls.mu.Unlock()
			ls.wg.Add(1)
			go func() {
				defer ls.wg.Done()
				ls.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		ls.mu.Lock()
		for _, c := range ls.conns {
			c.Close()
		}
		ls.mu.Unlock()
		ls.wg.Wait()
	})
	return "rtsp://" + l.Addr().String() + "/cam"
}

func (ls *liarServer) serve(c net.Conn) {
	defer c.Close()
	r := textproto.NewReader(bufio.NewReader(c))
	for {
		line, err := r.ReadLine()
		if err != nil {
			return
		}
		hdr, err := r.ReadMIMEHeader()
		if err != nil {
			return
		}
		if n, _ := strconv.Atoi(hdr.Get("Content-Length")); n > 0 {
			buf := make([]byte, n)
			if _, err := r.R.Read(buf); err != nil {
				return
			}
		}
		method, _, _ := strings.Cut(line, " ")
		cseq := hdr.Get("Cseq")
		switch method {
		case "OPTIONS":
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nPublic: DESCRIBE, SETUP, PLAY, TEARDOWN\r\n\r\n", cseq)
		case "DESCRIBE":
			status := ls.status
			if status == "" {
				status = "200 OK"
			}
			fmt.Fprintf(c, "RTSP/1.0 %s\r\nCSeq: %s\r\nContent-Type: application/sdp\r\nContent-Base: rtsp://%s/cam/\r\nContent-Length: %d\r\n\r\n%s",
				status, cseq, ls.l.Addr(), len(ls.sdp), ls.sdp)
		case "SETUP":
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nTransport: RTP/AVP/TCP;unicast;interleaved=0-1\r\nSession: 12345678;timeout=60\r\n\r\n", cseq)
		case "PLAY":
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nSession: 12345678\r\n\r\n", cseq)
			ls.plays.Add(1)
			if ls.hangAfter > 0 {
				go ls.hang(c)
			} else {
				go ls.spew(c)
			}
		default:
			fmt.Fprintf(c, "RTSP/1.0 200 OK\r\nCSeq: %s\r\nSession: 12345678\r\n\r\n", cseq)
		}
	}
}

// spew writes interleaved RTP packets with garbage payloads at ~500/s.
func (ls *liarServer) spew(c net.Conn) {
	r := rand.New(rand.NewPCG(1, 2))
	for seq := uint16(0); ; seq++ {
		p := ls.payload(r, seq)
		frame := append([]byte{'$', 0, 0, 0}, p...)
		binary.BigEndian.PutUint16(frame[2:], uint16(len(p)))
		if _, err := c.Write(frame); err != nil {
			return
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// hang sends 25 pictures a second (SPS, PPS and an IDR slice each) for
// hangAfter, then only RTCP sender reports, as an encoder that hung
// behind a live RTSP server does. (Writes to c from here and from serve
// may interleave only between whole frames: each is one Write.)
func (ls *liarServer) hang(c net.Conn) {
	sps, _ := hex.DecodeString("6742c00dda0507ec0440000003004000000ca3c50aa8")
	pps := []byte{0x68, 0xce, 0x0f, 0xc8}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	write := func(channel byte, p []byte) error {
		frame := append([]byte{'$', channel, 0, 0}, p...)
		binary.BigEndian.PutUint16(frame[2:], uint16(len(p)))
		_, err := c.Write(frame)
		return err
	}
	start := time.Now()
	var seq uint16
	var ts uint32
	for n := 0; ; n++ {
		if time.Since(start) < ls.hangAfter {
			ts = uint32(n) * 3600
			for i, nalu := range [][]byte{sps, pps, idr} {
				if write(0, rtpPacket(seq, ts, i == 2, nalu)) != nil {
					return
				}
				seq++
			}
		}
		if n%12 == 0 {
			// RTCP sender report: NTP now, the last RTP time.
			sr := make([]byte, 28)
			sr[0], sr[1] = 0x80, 200
			binary.BigEndian.PutUint16(sr[2:], 6)
			binary.BigEndian.PutUint32(sr[4:], 0xdecafbad)
			now := time.Now()
			binary.BigEndian.PutUint32(sr[8:], uint32(now.Unix()+2208988800))
			binary.BigEndian.PutUint32(sr[12:], uint32(uint64(now.Nanosecond())<<32/1e9))
			binary.BigEndian.PutUint32(sr[16:], ts)
			if write(1, sr) != nil {
				return
			}
		}
		time.Sleep(40 * time.Millisecond)
	}
}

// rtpPacket builds an RTP header (version 2, PT 96) around payload.
func rtpPacket(seq uint16, ts uint32, marker bool, payload []byte) []byte {
	h := make([]byte, 12, 12+len(payload))
	h[0] = 0x80
	h[1] = 96
	if marker {
		h[1] |= 0x80
	}
	binary.BigEndian.PutUint16(h[2:], seq)
	binary.BigEndian.PutUint32(h[4:], ts)
	binary.BigEndian.PutUint32(h[8:], 0xdecafbad)
	return append(h, payload...)
}

// garbageRTP mixes what lying cameras send: non-RTP bytes, FU-A fragments
// out of order, STAP-A with sizes past the end, NAL units of noise, and
// huge units.
func garbageRTP(r *rand.Rand, seq uint16) []byte {
	ts := uint32(seq) * 3600
	noise := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		return b
	}
	switch seq % 6 {
	case 0:
		return noise(1 + r.IntN(200)) // not RTP
	case 1:
		return rtpPacket(seq, ts, false, append([]byte{28, 0x05}, noise(100)...)) // FU-A middle, no start
	case 2:
		return rtpPacket(seq, ts, true, append([]byte{24, 0xff, 0xff}, noise(20)...)) // STAP-A, size past the end
	case 3:
		return rtpPacket(seq, ts, true, append([]byte{0x65}, noise(300)...)) // an "IDR slice" of noise
	case 4:
		return rtpPacket(seq, ts, true, append([]byte{0x67}, noise(8)...)) // an "SPS" of noise
	default:
		return rtpPacket(seq, ts, r.IntN(2) == 0, noise(r.IntN(1400)))
	}
}

func TestFaultyServers(t *testing.T) {
	// A healthy camera runs beside the faulty ones the whole time.
	good := startServer(t, false)
	defer publish(t, good, &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 25, URL: good.URL("ok")})()
	gs, gq, gch, gstop := run(t, rtsp.Config{Camera: "healthy", URL: good.URL("ok"), Transport: rtsp.TransportTCP}, 1024)
	defer gstop()
	collect(t, gq, 5, 15*time.Second)

	auth := &sim.RTSPServer{User: "admin", Pass: "right"}
	if err := auth.Start(); err != nil {
		t.Fatal(err)
	}
	defer auth.Close()
	defer publish(t, auth, &sim.Publisher{Source: "testsrc2", Width: 160, Height: 120, FPS: 10, URL: auth.URL("cam")})()

	for _, tc := range []struct {
		name    string
		url     func(t *testing.T) string
		wantErr string // in LastError when the stream must stay down
		errors  bool   // the stream must count RTP errors
	}{
		{"no credentials", func(*testing.T) string { return "rtsp://" + auth.Addr() + "/cam" }, "401", false},
		{"wrong password", func(*testing.T) string { return "rtsp://admin:wrong@" + auth.Addr() + "/cam" }, "401", false},
		{"not found", func(*testing.T) string { return good.URL("nothing-here") }, "404", false},
		{"refused", func(t *testing.T) string { return fmt.Sprintf("rtsp://127.0.0.1:%d/cam", freePort(t)) }, "connect", false},
		{"garbage SDP", func(t *testing.T) string {
			return startLiar(t, &liarServer{sdp: "v=0\r\nthis is not\x00 an SDP\r\nm=video what\r\n"})
		}, "describe", false},
		{"SDP without video", func(t *testing.T) string {
			return startLiar(t, &liarServer{sdp: "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=x\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n"})
		}, "no H.264", false},
		{"server error", func(t *testing.T) string {
			return startLiar(t, &liarServer{sdp: goodSDP, status: "500 Internal Server Error"})
		}, "500", false},
		{"garbage RTP", func(t *testing.T) string { return startLiar(t, &liarServer{sdp: goodSDP, payload: garbageRTP}) }, "", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _, ch, stop := run(t, rtsp.Config{Camera: "bad", URL: tc.url(t), Transport: rtsp.TransportTCP, ReadTimeout: 2 * time.Second}, 16)
			if tc.errors {
				waitFor(t, 10*time.Second, "RTP errors counted", func() bool {
					st := s.Stats()
					return st.RTPErrors > 20
				})
			} else {
				waitFor(t, 10*time.Second, "down", func() bool { return ch.count(rtsp.StatusDown) > 0 })
				waitFor(t, 10*time.Second, "a retry", func() bool { return s.Stats().Reconnects > 0 })
				if st := s.Stats(); !strings.Contains(st.LastError, tc.wantErr) || st.Status != rtsp.StatusDown {
					t.Fatalf("status %s, last error %q, want it to mention %q", st.Status, st.LastError, tc.wantErr)
				}
				// Retries stay down: no flapping through connecting.
				if n := ch.count(rtsp.StatusConnecting); n != 0 {
					t.Fatalf("%d changes to connecting", n)
				}
			}
			stop()
			t.Logf("stats: %+v", s.Stats())
		})
	}

	// The right password works.
	_, q, _, stop := run(t, rtsp.Config{Camera: "authed", URL: auth.URL("cam"), Transport: rtsp.TransportTCP}, 64)
	collect(t, q, 5, 15*time.Second)
	stop()

	// A hung encoder: the session stays up (keep-alives answered, RTCP
	// flowing) but the video stops. The stream goes stalled, then, after
	// StalledReconnect, down and connects again; each new session plays
	// pictures again before hanging.
	t.Run("hung encoder", func(t *testing.T) {
		ls := &liarServer{sdp: goodSDP, hangAfter: 1500 * time.Millisecond}
		url := startLiar(t, ls)
		s, _, ch, stop := run(t, rtsp.Config{Camera: "hung", URL: url, Transport: rtsp.TransportTCP, ReadTimeout: 2 * time.Second,
			StallTimeout: time.Second, StalledReconnect: 2 * time.Second}, 64)
		defer stop()
		waitFor(t, 20*time.Second, "stalled, reconnected and live again", func() bool {
			return ls.plays.Load() >= 2 && ch.count(rtsp.StatusLive) >= 2
		})
		if ch.count(rtsp.StatusStalled) < 1 || s.Stats().Reconnects < 1 || !strings.Contains(ch.reason(rtsp.StatusDown), "stalled") {
			t.Fatalf("changes %+v, stats %+v", ch.list(), s.Stats())
		}
	})

	// And the healthy camera never noticed.
	if gch.count(rtsp.StatusDown) != 0 || gs.Status() != rtsp.StatusLive {
		t.Fatalf("healthy camera: %s, changes %+v", gs.Status(), gch.all)
	}
	collect(t, gq, 5, 5*time.Second)
}

// A high-bitrate camera over UDP into a receive buffer too small for its
// keyframes loses packets; with transport auto it is moved to TCP once the
// loss has lasted AutoTCPAfter, and loses nothing there. The loss before
// and after is measured against a real server (gortsplib's, fed by
// ffmpeg).
func TestAutoMovesALossyCameraToTCP(t *testing.T) {
	srv := startServer(t, true)
	defer publish(t, srv, &sim.Publisher{Source: "testsrc2", Width: 1280, Height: 720, FPS: 25, GOP: 10, URL: srv.URL("big")})()
	s, q, ch, stop := run(t, rtsp.Config{Camera: "big", URL: srv.URL("big"), Transport: rtsp.TransportAuto,
		UDPReadBuffer: 8 << 10, AutoTCPLoss: 0.02, AutoTCPAfter: 2 * time.Second}, 4096)
	defer stop()
	waitFor(t, 60*time.Second, "the move to TCP", func() bool { return strings.Contains(ch.reason(rtsp.StatusDown), "switching this camera to TCP") })
	udp := s.Stats()
	waitFor(t, 30*time.Second, "live again", func() bool { return s.Stats().Status == rtsp.StatusLive })
	before := s.Stats()
	collect(t, q, 100, 60*time.Second)
	after := s.Stats()
	lossUDP := float64(udp.RTPLost) / float64(udp.RTPPackets+udp.RTPLost)
	t.Logf("over UDP into an 8 KiB buffer: %d of %d packets lost (%.1f%%); then over TCP: %d lost of %d", udp.RTPLost, udp.RTPPackets+udp.RTPLost, 100*lossUDP,
		after.RTPLost-before.RTPLost, after.RTPPackets-before.RTPPackets)
	if lossUDP < 0.02 || after.Transport != "auto: tcp (udp lost too much)" || after.RTPLost != before.RTPLost || after.RTPPackets-before.RTPPackets < 100 {
		t.Fatalf("before %+v\nafter %+v", before, after)
	}
	// The same camera over UDP with the default 4 MiB buffer.
	us, uq, _, ustop := run(t, rtsp.Config{Camera: "big-udp", URL: srv.URL("big"), Transport: rtsp.TransportUDP}, 4096)
	defer ustop()
	collect(t, uq, 100, 60*time.Second)
	u := us.Stats()
	t.Logf("over UDP with the default buffer: %d of %d packets lost (%.2f%%)", u.RTPLost, u.RTPPackets+u.RTPLost, 100*float64(u.RTPLost)/float64(u.RTPPackets+u.RTPLost))
	if float64(u.RTPLost) > 0.02*float64(u.RTPPackets+u.RTPLost) {
		t.Errorf("the default buffer still loses: %+v", u)
	}
}
