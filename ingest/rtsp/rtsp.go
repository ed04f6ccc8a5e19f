// Package rtsp pulls cameras' video over RTSP with gortsplib: one
// supervised client per camera that reconnects with a capped exponential
// backoff, depacketises H.264, H.265 and MJPEG into access units stamped
// with wall-clock time, keeps the stream's status and statistics, and fans
// the units out to its consumers (decoder, recorder, live relay) through
// bounded queues that drop and count rather than stall the RTP reader.
//
// It does not decode: that is ingest/decode's job, and it has no cgo.
package rtsp

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Codec names as in SDP (they match ingest/decode's).
const (
	H264  = "H264"
	H265  = "H265"
	MJPEG = "M-JPEG"
)

// Transport choices.
const (
	TransportAuto = "auto" // UDP first, TCP when no UDP packet arrives
	TransportTCP  = "tcp"  // interleaved in the RTSP connection: through NAT and firewalls
	TransportUDP  = "udp"
)

// Status is a stream's state.
type Status string

// Stream states. A stream is connecting until the first picture arrives,
// then live; stalled when pictures stop arriving on an open session; down
// after a failure, until it is live again (retries do not flap the state).
const (
	StatusConnecting Status = "connecting"
	StatusLive       Status = "live"
	StatusStalled    Status = "stalled"
	StatusDown       Status = "down"
)

// AccessUnit is one picture of compressed video.
type AccessUnit struct {
	Camera string
	Codec  string
	// Time is when the picture was captured, by the camera's clock when it
	// sends RTCP sender reports and that clock agrees with ours within
	// MaxClockSkew, otherwise the arrival time of the stream's first
	// picture plus the RTP timestamp difference.
	Time time.Time
	// PTS is the presentation time relative to the session's start.
	PTS time.Duration
	// Key marks a random-access point; for H.264/H.265 its parameter sets
	// are included (prepended from the SDP when the camera sends them out
	// of band only).
	Key bool
	// NALUs are the unit's NAL units without start codes (MJPEG: one
	// element, the JPEG image). Consumers must not modify them.
	NALUs [][]byte
	// Received is when the last packet of the unit arrived.
	Received time.Time
}

// Size is the unit's payload in bytes.
func (au *AccessUnit) Size() int {
	n := 0
	for _, b := range au.NALUs {
		n += len(b)
	}
	return n
}

// Config configures one camera's stream.
type Config struct {
	// Camera is the camera's id, used in logs, events and metrics.
	Camera string
	// URL is rtsp:// or rtsps://; credentials go in the user info and are
	// sent with digest or basic authentication as the camera asks.
	URL string
	// Transport is auto, tcp or udp. It defaults to auto.
	Transport string
	// TLSFingerprint pins an rtsps camera's certificate by the hex SHA-256
	// of its DER form (self-signed camera certificates); empty verifies
	// against the system's roots.
	TLSFingerprint string
	// ReadTimeout ends a session that receives nothing. It defaults to 10 seconds.
	ReadTimeout time.Duration
	// StallTimeout marks a session stalled when no picture arrives for
	// this long. It defaults to 3 seconds.
	StallTimeout time.Duration
	// StalledReconnect tears down a session that has been stalled this
	// long and connects again (with the usual backoff): a hung encoder
	// can keep its session alive, answering keep-alives and sending RTCP,
	// while sending no video, so the read timeout never fires. It
	// defaults to ReadTimeout.
	StalledReconnect time.Duration
	// UDPReadBuffer is the receive buffer asked of the kernel for each UDP
	// socket, in bytes: a 1080p keyframe arrives as a burst of hundreds of
	// packets. It defaults to 4 MiB; the kernel caps it at
	// net.core.rmem_max (logged once when it does).
	UDPReadBuffer int
	// AutoTCPLoss and AutoTCPAfter: with transport auto, a camera whose
	// RTP loss over UDP stays above AutoTCPLoss (a fraction) for
	// AutoTCPAfter is reconnected over TCP, and stays on TCP. They default
	// to 0.02 and 10 seconds.
	AutoTCPLoss  float64
	AutoTCPAfter time.Duration
	// MinBackoff and MaxBackoff bound the wait between reconnections,
	// which doubles from the first to the second. They default to 1 and
	// 30 seconds.
	MinBackoff, MaxBackoff time.Duration
	// MaxClockSkew is how far in the past a camera's RTCP clock may put a
	// picture before its timestamps are distrusted (a time in the future,
	// beyond 100 ms, always is). It defaults to 5 seconds.
	MaxClockSkew time.Duration
	// OnStatus is called on every status change (from the stream's own
	// goroutine; keep it short).
	OnStatus func(Change)
	Log      *slog.Logger
}

// Change is a status transition.
type Change struct {
	Camera string
	Time   time.Time
	From   Status
	To     Status
	Reason string // why it went down or stalled
}

// Defaults of Config (and of the configuration file's Settings).
const (
	defaultReadTimeout  = 10 * time.Second
	defaultStallTimeout = 3 * time.Second
	defaultAutoTCPAfter = 10 * time.Second
	defaultMaxBackoff   = 30 * time.Second
)

func (c *Config) setDefaults() {
	if c.Transport == "" {
		c.Transport = TransportAuto
	}
	if c.ReadTimeout == 0 {
		c.ReadTimeout = defaultReadTimeout
	}
	if c.StallTimeout == 0 {
		c.StallTimeout = defaultStallTimeout
	}
	if c.StalledReconnect == 0 {
		c.StalledReconnect = c.ReadTimeout
	}
	if c.UDPReadBuffer == 0 {
		c.UDPReadBuffer = 4 << 20
	}
	if c.AutoTCPLoss == 0 {
		c.AutoTCPLoss = 0.02
	}
	if c.AutoTCPAfter == 0 {
		c.AutoTCPAfter = defaultAutoTCPAfter
	}
	if c.MinBackoff == 0 {
		c.MinBackoff = time.Second
	}
	if c.MaxBackoff == 0 {
		c.MaxBackoff = defaultMaxBackoff
	}
	if c.MaxBackoff < c.MinBackoff {
		c.MaxBackoff = c.MinBackoff
	}
	if c.MaxClockSkew == 0 {
		c.MaxClockSkew = 5 * time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration without connecting.
func (c Config) Validate() error {
	if c.Camera == "" {
		return errors.New("camera id is empty")
	}
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("url: %w", redactErr(err))
	}
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return fmt.Errorf("url %s: scheme must be rtsp or rtsps", Redact(c.URL))
	}
	if u.Host == "" {
		return fmt.Errorf("url %s: no host", Redact(c.URL))
	}
	switch c.Transport {
	case "", TransportAuto, TransportTCP, TransportUDP:
	default:
		return fmt.Errorf("transport %q: want auto, tcp or udp", c.Transport)
	}
	if c.TLSFingerprint != "" {
		if b, err := hex.DecodeString(strings.ReplaceAll(c.TLSFingerprint, ":", "")); err != nil || len(b) != sha256.Size {
			return errors.New("tls_fingerprint: want the 64 hex digits of a SHA-256")
		}
	}
	return nil
}

// Redact removes the password from an RTSP URL for logs and the API.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || u.User == nil {
		return raw
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

// redactErr strips the URL from url.Parse's errors, which quote it whole.
func redactErr(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func (c Config) tlsConfig(host string) *tls.Config {
	if c.TLSFingerprint == "" {
		return &tls.Config{ServerName: host}
	}
	want, _ := hex.DecodeString(strings.ReplaceAll(c.TLSFingerprint, ":", ""))
	return &tls.Config{
		// The certificate is checked against the pinned fingerprint below
		// instead of a CA: cameras ship self-signed certificates.
		InsecureSkipVerify: true,
		VerifyConnection: func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("no server certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if hex.EncodeToString(got[:]) != hex.EncodeToString(want) {
				return fmt.Errorf("server certificate fingerprint %x does not match the configured one", got)
			}
			return nil
		},
	}
}

// Stats describe a stream; rates are over the last few seconds.
type Stats struct {
	Status        Status    `json:"status"`
	Since         time.Time `json:"since"` // when the status last changed
	Reason        string    `json:"reason,omitempty"`
	Codec         string    `json:"codec,omitempty"`
	Transport     string    `json:"transport,omitempty"`
	Width         int       `json:"width,omitempty"`
	Height        int       `json:"height,omitempty"`
	FPS           float64   `json:"fps"`
	Bitrate       float64   `json:"bitrate"` // bits/s of video payload
	Frames        uint64    `json:"frames"`
	Bytes         uint64    `json:"bytes"`
	Keyframes     uint64    `json:"keyframes"`
	LastKeyframe  time.Time `json:"last_keyframe,omitzero"`
	LastFrame     time.Time `json:"last_frame,omitzero"`
	RTPPackets    uint64    `json:"rtp_packets"`
	RTPLost       uint64    `json:"rtp_lost"`
	RTPErrors     uint64    `json:"rtp_errors"` // packets that could not be depacketised
	Reconnects    uint64    `json:"reconnects"`
	ClockSource   string    `json:"clock_source,omitempty"` // rtcp or arrival
	ClockSkewed   uint64    `json:"clock_skewed"`           // pictures whose RTCP time was distrusted
	QueueDrops    uint64    `json:"queue_drops"`            // units dropped by slow consumers, all queues
	LastError     string    `json:"last_error,omitempty"`
	LastErrorTime time.Time `json:"last_error_time,omitzero"`
}

// Stream is one camera's supervised RTSP session.
type Stream struct {
	cfg Config
	log *slog.Logger

	mu     sync.Mutex
	stats  Stats
	queues []*Queue
	rate   rateWindow
	// lossTCP: transport auto lost too much over UDP; TCP from now on.
	lossTCP atomic.Bool
}

// New returns a stream for cfg; nothing connects until Run.
func New(cfg Config) (*Stream, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("camera %s: %w", cfg.Camera, err)
	}
	cfg.setDefaults()
	s := &Stream{cfg: cfg, log: cfg.Log.With("component", "ingest.rtsp", "camera", cfg.Camera)}
	s.stats.Status = StatusConnecting
	s.stats.Since = time.Now()
	return s, nil
}

// Camera is the stream's camera id.
func (s *Stream) Camera() string { return s.cfg.Camera }

// Subscribe adds a consumer with a queue of size units. Call before Run.
func (s *Stream) Subscribe(name string, size int) *Queue {
	q := newQueue(name, size)
	s.mu.Lock()
	s.queues = append(s.queues, q)
	s.mu.Unlock()
	return q
}

// Stats returns a snapshot of the stream's status and counters.
func (s *Stream) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.stats
	st.FPS, st.Bitrate = s.rate.rates(time.Now())
	for _, q := range s.queues {
		st.QueueDrops += q.Dropped()
	}
	return st
}

// Status is the stream's current status.
func (s *Stream) Status() Status {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stats.Status
}

func (s *Stream) setStatus(to Status, reason string) {
	s.mu.Lock()
	from := s.stats.Status
	if from == to {
		s.mu.Unlock()
		return
	}
	now := time.Now()
	s.stats.Status, s.stats.Since, s.stats.Reason = to, now, reason
	s.mu.Unlock()
	switch to {
	case StatusDown, StatusStalled:
		s.log.Warn("stream "+string(to), "reason", reason)
	default:
		s.log.Info("stream " + string(to))
	}
	if s.cfg.OnStatus != nil {
		s.cfg.OnStatus(Change{Camera: s.cfg.Camera, Time: now, From: from, To: to, Reason: reason})
	}
}

func (s *Stream) noteError(err error) {
	s.mu.Lock()
	s.stats.LastError, s.stats.LastErrorTime = err.Error(), time.Now()
	s.mu.Unlock()
}

// Run connects and keeps reconnecting until ctx ends; it returns nil then.
// The queues are closed when it returns.
func (s *Stream) Run(ctx context.Context) error {
	defer func() {
		s.mu.Lock()
		for _, q := range s.queues {
			q.close()
		}
		s.mu.Unlock()
	}()
	backoff := s.cfg.MinBackoff
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			s.mu.Lock()
			s.stats.Reconnects++
			s.mu.Unlock()
		}
		wentLive, err := s.session(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			err = errors.New("session ended")
		}
		s.noteError(err)
		s.setStatus(StatusDown, err.Error())
		if wentLive {
			backoff = s.cfg.MinBackoff
		}
		s.log.Debug("reconnecting", "in", backoff, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, s.cfg.MaxBackoff)
	}
}

// rateWindow measures frames and bytes per second over the last seconds.
type rateWindow struct {
	start int64 // the second of the first frame
	slots [5]struct {
		sec           int64
		frames, bytes uint64
	}
}

func (r *rateWindow) add(now time.Time, bytes int) {
	sec := now.Unix()
	if r.start == 0 {
		r.start = sec
	}
	sl := &r.slots[sec%int64(len(r.slots))]
	if sl.sec != sec {
		sl.sec, sl.frames, sl.bytes = sec, 0, 0
	}
	sl.frames++
	sl.bytes += uint64(bytes)
}

// rates averages the complete seconds of the window (the current one is
// still filling) since the first frame.
func (r *rateWindow) rates(now time.Time) (fps, bitrate float64) {
	cur := now.Unix()
	lo := max(cur-int64(len(r.slots)-1), r.start+1) // the first second was partial
	if r.start == 0 || lo >= cur {
		return 0, 0
	}
	var frames, bytes uint64
	for _, sl := range r.slots {
		if sl.sec < cur && sl.sec >= lo {
			frames += sl.frames
			bytes += sl.bytes
		}
	}
	n := cur - lo
	return float64(frames) / float64(n), float64(bytes*8) / float64(n)
}
