package live

import (
	"context"
	crand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/pion/ice/v4"
	"github.com/pion/interceptor"
	"github.com/pion/rtp"
	"github.com/pion/rtp/codecs"
	"github.com/pion/webrtc/v4"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// WebRTCConfig configures the WebRTC egress.
type WebRTCConfig struct {
	// UDPAddress is the one UDP address every WebRTC session shares (ICE
	// multiplexed), so a firewall needs one port opened. ":0" picks a free
	// port. It defaults to ":8189".
	UDPAddress string
	// PublicIPs are addresses to announce instead of the interfaces' own
	// (a server behind 1:1 NAT). Empty announces the interfaces'.
	PublicIPs []string
	// MaxSessions bounds concurrent sessions. It defaults to 64.
	MaxSessions int
	Log         *slog.Logger
}

// Errors of Offer.
var (
	ErrTooManySessions = errors.New("live: too many WebRTC sessions")
	ErrBadOffer        = errors.New("live: the offer is not usable")
	ErrNotPlayable     = errors.New("live: WebRTC carries H.264 from this camera only")
)

// WebRTC answers WHEP offers with sessions that send a relay's H.264 as it
// came from the camera (no re-encoding). RTP timestamps are the pictures'
// capture times on the 90 kHz clock (modulo 2^32), so a player turns a
// frame's RTP timestamp back into its capture time: for the overlay and
// the latency it shows.
type WebRTC struct {
	cfg  WebRTCConfig
	api  *webrtc.API
	conn net.PacketConn
	mux  ice.UDPMux
	log  *slog.Logger

	mu       sync.Mutex
	sessions map[string]*peer
	closed   bool
}

type peer struct {
	id     string
	camera string
	pc     *webrtc.PeerConnection
	cancel context.CancelFunc
}

// NewWebRTC binds the UDP port and prepares the codecs.
func NewWebRTC(cfg WebRTCConfig) (*WebRTC, error) {
	if cfg.UDPAddress == "" {
		cfg.UDPAddress = ":8189"
	}
	if cfg.MaxSessions <= 0 {
		cfg.MaxSessions = 64
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	conn, err := net.ListenPacket("udp4", cfg.UDPAddress)
	if err != nil {
		return nil, fmt.Errorf("live: WebRTC UDP %s: %w", cfg.UDPAddress, err)
	}
	me := &webrtc.MediaEngine{}
	if err := me.RegisterCodec(webrtc.RTPCodecParameters{RTPCodecCapability: h264Capability, PayloadType: 96}, webrtc.RTPCodecTypeVideo); err != nil {
		conn.Close()
		return nil, err
	}
	ir := &interceptor.Registry{}
	if err := webrtc.RegisterDefaultInterceptors(me, ir); err != nil {
		conn.Close()
		return nil, err
	}
	mux := webrtc.NewICEUDPMux(nil, conn)
	se := webrtc.SettingEngine{}
	se.SetICEUDPMux(mux)
	se.SetNetworkTypes([]webrtc.NetworkType{webrtc.NetworkTypeUDP4})
	se.SetIncludeLoopbackCandidate(true)
	// No multicast: browsers' .local candidates are learnt as peer-reflexive
	// when their checks arrive.
	se.SetICEMulticastDNSMode(ice.MulticastDNSModeDisabled)
	if len(cfg.PublicIPs) > 0 {
		se.SetNAT1To1IPs(cfg.PublicIPs, webrtc.ICECandidateTypeHost)
	}
	w := &WebRTC{
		cfg: cfg, conn: conn, mux: mux, log: cfg.Log.With("component", "webrtc"),
		api:      webrtc.NewAPI(webrtc.WithMediaEngine(me), webrtc.WithInterceptorRegistry(ir), webrtc.WithSettingEngine(se)),
		sessions: map[string]*peer{},
	}
	return w, nil
}

// h264Capability is what browsers offer for constrained baseline; they
// decode the camera's other profiles through it too.
var h264Capability = webrtc.RTPCodecCapability{
	MimeType: webrtc.MimeTypeH264, ClockRate: 90000,
	SDPFmtpLine:  "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f",
	RTCPFeedback: []webrtc.RTCPFeedback{{Type: "nack"}, {Type: "nack", Parameter: "pli"}},
}

// Port is the bound UDP port.
func (w *WebRTC) Port() int { return w.conn.LocalAddr().(*net.UDPAddr).Port }

// Sessions is the number of open sessions.
func (w *WebRTC) Sessions() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.sessions)
}

// Offer answers a WHEP offer for relay's camera: it returns the answer
// (with every candidate: no trickle) and the session's id, which End
// takes. The session lives until the peer goes away, End, or Close.
func (w *WebRTC) Offer(relay *Relay, offer string) (answer, id string, err error) {
	if c := relay.Codec(); c != "" && c != rtsp.H264 {
		return "", "", ErrNotPlayable
	}
	if !strings.Contains(offer, "m=video") {
		return "", "", fmt.Errorf("%w: it asks for no video", ErrBadOffer)
	}
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return "", "", errors.New("live: WebRTC is shut down")
	}
	if len(w.sessions) >= w.cfg.MaxSessions {
		w.mu.Unlock()
		return "", "", ErrTooManySessions
	}
	w.mu.Unlock()

	pc, err := w.api.NewPeerConnection(webrtc.Configuration{})
	if err != nil {
		return "", "", err
	}
	fail := func(err error) (string, string, error) {
		pc.Close()
		return "", "", err
	}
	track, err := webrtc.NewTrackLocalStaticRTP(h264Capability, "video", "smarteye-"+relay.Camera())
	if err != nil {
		return fail(err)
	}
	sender, err := pc.AddTrack(track)
	if err != nil {
		return fail(err)
	}
	if err := pc.SetRemoteDescription(webrtc.SessionDescription{Type: webrtc.SDPTypeOffer, SDP: offer}); err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	ans, err := pc.CreateAnswer(nil)
	if err != nil {
		return fail(fmt.Errorf("%w: %v", ErrBadOffer, err))
	}
	gathered := webrtc.GatheringCompletePromise(pc)
	if err := pc.SetLocalDescription(ans); err != nil {
		return fail(err)
	}
	select {
	case <-gathered:
	case <-time.After(5 * time.Second):
		return fail(errors.New("live: ICE gathering took over 5 s"))
	}
	viewer, err := relay.Join()
	if err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	p := &peer{id: randomID(), camera: relay.Camera(), pc: pc, cancel: cancel}
	w.mu.Lock()
	// Checked again: offers answered side by side may have filled it.
	if full := len(w.sessions) >= w.cfg.MaxSessions; full || w.closed {
		w.mu.Unlock()
		cancel()
		viewer.Leave()
		if full {
			return fail(ErrTooManySessions)
		}
		return fail(errors.New("live: WebRTC is shut down"))
	}
	w.sessions[p.id] = p
	w.mu.Unlock()

	connected := make(chan struct{})
	var once sync.Once
	pc.OnConnectionStateChange(func(s webrtc.PeerConnectionState) {
		switch s {
		case webrtc.PeerConnectionStateConnected:
			once.Do(func() { close(connected) })
		case webrtc.PeerConnectionStateFailed, webrtc.PeerConnectionStateClosed, webrtc.PeerConnectionStateDisconnected:
			cancel()
		}
	})
	// RTCP from the browser (receiver reports, NACKs) is read so the
	// interceptors see it.
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := sender.Read(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer w.end(p)
		defer viewer.Leave()
		select {
		case <-connected:
		case <-ctx.Done():
			return
		case <-time.After(15 * time.Second):
			w.log.Info("session never connected", "camera", p.camera, "session", p.id)
			return
		}
		w.log.Info("session connected", "camera", p.camera, "session", p.id)
		send(ctx, viewer, track)
	}()
	return pc.LocalDescription().SDP, p.id, nil
}

// send packetises the viewer's units into RTP until ctx ends.
func send(ctx context.Context, v *Viewer, track *webrtc.TrackLocalStaticRTP) {
	pay := &codecs.H264Payloader{}
	seq := uint16(rand.Uint32())
	var annexB []byte
	for {
		var au *rtsp.AccessUnit
		select {
		case <-ctx.Done():
			return
		case <-v.Done():
			return
		case au = <-v.Units():
		}
		annexB = annexB[:0]
		for _, n := range au.NALUs {
			annexB = append(annexB, 0, 0, 0, 1)
			annexB = append(annexB, n...)
		}
		ts := RTPTime(au.Time)
		payloads := pay.Payload(1200, annexB)
		for i, pl := range payloads {
			pkt := rtp.Packet{Header: rtp.Header{Version: 2, Marker: i == len(payloads)-1, SequenceNumber: seq, Timestamp: ts}, Payload: pl}
			seq++
			if err := track.WriteRTP(&pkt); err != nil {
				return
			}
		}
	}
}

// RTPTime is t on the 90 kHz clock modulo 2^32: the RTP timestamp of a
// picture captured at t.
func RTPTime(t time.Time) uint32 {
	return uint32(uint64(t.UnixMicro()) * 9 / 100)
}

// End closes a session (WHEP's DELETE). It reports whether one was open.
func (w *WebRTC) End(id string) bool {
	w.mu.Lock()
	p, ok := w.sessions[id]
	w.mu.Unlock()
	if ok {
		p.cancel()
		w.end(p)
	}
	return ok
}

func (w *WebRTC) end(p *peer) {
	w.mu.Lock()
	_, ok := w.sessions[p.id]
	delete(w.sessions, p.id)
	w.mu.Unlock()
	if ok {
		p.pc.Close()
		w.log.Info("session ended", "camera", p.camera, "session", p.id)
	}
}

// Close ends every session and releases the port.
func (w *WebRTC) Close() error {
	w.mu.Lock()
	w.closed = true
	ps := make([]*peer, 0, len(w.sessions))
	for _, p := range w.sessions {
		ps = append(ps, p)
	}
	w.mu.Unlock()
	for _, p := range ps {
		p.cancel()
		w.end(p)
	}
	w.mux.Close()
	return w.conn.Close()
}

// randomID names a session; unguessable, as it is part of a URL.
func randomID() string { return strings.ToLower(crand.Text()) }

// WebRTCSettings configures live video to browsers over WebRTC (the fallback,
// fragmented MP4 over the HTTP port's WebSocket, needs nothing).
type WebRTCSettings struct {
	// Enabled turns WebRTC on. It defaults to true.
	Enabled bool `yaml:"enabled"`
	// Address is the one UDP port every session shares. It defaults to ":8189".
	Address string `yaml:"address"`
	// PublicIPs are announced instead of the interfaces' addresses (a
	// server behind 1:1 NAT). It defaults to none.
	PublicIPs []string `yaml:"public_ips"`
	// MaxSessions bounds concurrent viewers. It defaults to 64.
	MaxSessions int `yaml:"max_sessions"`
}
