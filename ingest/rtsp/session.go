package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v4"
	"github.com/bluenviron/gortsplib/v4/pkg/base"
	"github.com/bluenviron/gortsplib/v4/pkg/description"
	"github.com/bluenviron/gortsplib/v4/pkg/format"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph264"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtph265"
	"github.com/bluenviron/gortsplib/v4/pkg/format/rtpmjpeg"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/pion/rtp"
)

// firstPicture is the least a new session waits for its first picture,
// which needs a keyframe (cameras send one every 1-10 s).
const firstPicture = 15 * time.Second

// maxFuture is how far in the future a camera's RTCP time may claim a
// picture was captured before it is distrusted.
const maxFuture = 100 * time.Millisecond

// ticks converts RTP clock ticks to a duration without overflowing
// (ticks × 1e9 overflows int64 after 28 hours at 90 kHz).
func ticks(n, rate int64) time.Duration {
	return time.Duration(n/rate)*time.Second + time.Duration(n%rate)*time.Second/time.Duration(rate)
}

var errNoVideo = errors.New("no H.264, H.265 or MJPEG video in the stream")

// depacketiser turns RTP packets of one format into access units.
type depacketiser struct {
	codec  string
	decode func(*rtp.Packet) ([][]byte, error)
	// params are the parameter sets (VPS, SPS, PPS) last seen, in band or
	// from the SDP, prepended to keyframes that lack them.
	params [][]byte
	isKey  func([][]byte) bool
	// jpegW, jpegH are the last MJPEG picture's size.
	jpegW, jpegH int
}

// jpegSize reads the size from a JPEG's start-of-frame segment.
func jpegSize(b []byte) (w, h int, ok bool) {
	for i := 2; i+9 <= len(b); {
		if b[i] != 0xff {
			return 0, 0, false
		}
		m := b[i+1]
		if m == 0xd8 || m == 0x01 || (m >= 0xd0 && m <= 0xd7) {
			i += 2
			continue
		}
		if m >= 0xc0 && m <= 0xcf && m != 0xc4 && m != 0xc8 && m != 0xcc {
			return int(b[i+7])<<8 | int(b[i+8]), int(b[i+5])<<8 | int(b[i+6]), true
		}
		n := int(b[i+2])<<8 | int(b[i+3])
		if n < 2 {
			return 0, 0, false
		}
		i += 2 + n
	}
	return 0, 0, false
}

func newDepacketiser(desc *description.Session) (*description.Media, format.Format, *depacketiser, error) {
	var h264f *format.H264
	if medi := desc.FindFormat(&h264f); medi != nil {
		dec, err := h264f.CreateDecoder()
		if err != nil {
			return nil, nil, nil, err
		}
		d := &depacketiser{codec: H264, decode: dec.Decode, isKey: h264.IsRandomAccess}
		sps, pps := h264f.SafeParams()
		d.params = nonEmpty(sps, pps)
		return medi, h264f, d, nil
	}
	var h265f *format.H265
	if medi := desc.FindFormat(&h265f); medi != nil {
		dec, err := h265f.CreateDecoder()
		if err != nil {
			return nil, nil, nil, err
		}
		d := &depacketiser{codec: H265, decode: dec.Decode, isKey: h265.IsRandomAccess}
		vps, sps, pps := h265f.SafeParams()
		d.params = nonEmpty(vps, sps, pps)
		return medi, h265f, d, nil
	}
	var mjpegf *format.MJPEG
	if medi := desc.FindFormat(&mjpegf); medi != nil {
		dec, err := mjpegf.CreateDecoder()
		if err != nil {
			return nil, nil, nil, err
		}
		d := &depacketiser{codec: MJPEG, isKey: func([][]byte) bool { return true }}
		d.decode = func(p *rtp.Packet) ([][]byte, error) {
			img, err := dec.Decode(p)
			if err != nil {
				return nil, err
			}
			if w, h, ok := jpegSize(img); ok {
				d.jpegW, d.jpegH = w, h
			}
			return [][]byte{img}, nil
		}
		return medi, mjpegf, d, nil
	}
	return nil, nil, nil, errNoVideo
}

func nonEmpty(bs ...[]byte) [][]byte {
	var out [][]byte
	for _, b := range bs {
		if len(b) > 0 {
			out = append(out, b)
		}
	}
	return out
}

// setParam stores a parameter set in its slot (VPS, SPS, PPS order for
// H.265; SPS, PPS for H.264), keeping the others.
func (d *depacketiser) setParam(slot int, n []byte) {
	n = append([]byte(nil), n...)
	for i, p := range d.params {
		if s, _ := d.isParam(p); s == slot {
			d.params[i] = n
			return
		}
	}
	d.params = append(d.params, n)
	slices.SortFunc(d.params, func(a, b []byte) int {
		sa, _ := d.isParam(a)
		sb, _ := d.isParam(b)
		return sa - sb
	})
}

// isParam reports whether a NAL unit is a parameter set.
func (d *depacketiser) isParam(n []byte) (slot int, ok bool) {
	switch d.codec {
	case H264:
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			return 0, true
		case h264.NALUTypePPS:
			return 1, true
		}
	case H265:
		if len(n) < 2 {
			return 0, false
		}
		switch h265.NALUType((n[0] >> 1) & 0x3f) {
		case h265.NALUType_VPS_NUT:
			return 0, true
		case h265.NALUType_SPS_NUT:
			return 1, true
		case h265.NALUType_PPS_NUT:
			return 2, true
		}
	}
	return 0, false
}

// unit copies the depacketised NAL units into one buffer the consumers
// may keep (the depacketiser reuses its own), adding the parameter sets
// to a keyframe that came without them.
func (d *depacketiser) unit(nalus [][]byte) (out [][]byte, key bool) {
	key = d.isKey(nalus)
	hasParams := false
	if d.codec != MJPEG {
		for _, n := range nalus {
			if len(n) == 0 {
				continue
			}
			if _, ok := d.isParam(n); ok {
				hasParams = true
			}
		}
		if hasParams {
			// Replace each parameter set by its own kind: a unit that
			// repeats only the PPS keeps the stored SPS (and VPS).
			for _, n := range nalus {
				if len(n) > 0 {
					if slot, ok := d.isParam(n); ok {
						d.setParam(slot, n)
					}
				}
			}
		}
	}
	size := 0
	for _, n := range nalus {
		size += len(n)
	}
	prefix := !hasParams && key && d.codec != MJPEG
	if prefix {
		for _, p := range d.params {
			size += len(p)
		}
	}
	buf := make([]byte, 0, size)
	out = make([][]byte, 0, len(nalus)+3)
	add := func(n []byte) {
		start := len(buf)
		buf = append(buf, n...)
		out = append(out, buf[start:len(buf):len(buf)])
	}
	if prefix {
		for _, p := range d.params {
			add(p)
		}
	}
	for _, n := range nalus {
		if len(n) > 0 {
			add(n)
		}
	}
	return out, key
}

// dimensions reads the picture size from the SPS, when there is one.
func (d *depacketiser) dimensions() (w, h int) {
	if d.codec == MJPEG {
		return d.jpegW, d.jpegH
	}
	for _, p := range d.params {
		if slot, ok := d.isParam(p); ok {
			switch {
			case d.codec == H264 && slot == 0:
				var sps h264.SPS
				if sps.Unmarshal(p) == nil {
					return sps.Width(), sps.Height()
				}
			case d.codec == H265 && slot == 1:
				var sps h265.SPS
				if sps.Unmarshal(p) == nil {
					return sps.Width(), sps.Height()
				}
			}
		}
	}
	return 0, 0
}

// session runs one RTSP session until it fails or ctx ends. wentLive
// reports that at least one picture arrived.
func (s *Stream) session(ctx context.Context) (wentLive bool, err error) {
	s.mu.Lock()
	s.stats.Transport = s.cfg.Transport
	s.rate = rateWindow{}
	s.mu.Unlock()
	u, err := base.ParseURL(s.cfg.URL)
	if err != nil {
		return false, fmt.Errorf("url: %w", redactErr(err))
	}
	c := &gortsplib.Client{
		Scheme:       u.Scheme,
		Host:         u.Host,
		ReadTimeout:  s.cfg.ReadTimeout,
		WriteTimeout: s.cfg.ReadTimeout,
		UserAgent:    "smarteye",
	}
	if u.Scheme == "rtsps" {
		c.TLSConfig = s.cfg.tlsConfig(u.Hostname())
	}
	c.UDPReadBufferSize = s.cfg.UDPReadBuffer
	switch {
	case s.cfg.Transport == TransportTCP || s.cfg.Transport == TransportAuto && s.lossTCP.Load():
		t := gortsplib.TransportTCP
		c.Transport = &t
	case s.cfg.Transport == TransportUDP:
		t := gortsplib.TransportUDP
		c.Transport = &t
	}
	// onUDP: this session's packets come over UDP (auto starts there
	// unless loss moved the camera to TCP; gortsplib may switch it later).
	var onUDP atomic.Bool
	onUDP.Store(c.Transport == nil || *c.Transport == gortsplib.TransportUDP)
	if onUDP.Load() {
		warnRmemMax(s.cfg.UDPReadBuffer, s.log)
	}
	if s.cfg.Transport == TransportAuto {
		transport := "auto: udp"
		if s.lossTCP.Load() {
			transport = "auto: tcp (udp lost too much)"
		}
		s.mu.Lock()
		s.stats.Transport = transport
		s.mu.Unlock()
	}
	c.OnPacketsLost = func(lost uint64) {
		s.mu.Lock()
		s.stats.RTPLost += lost
		s.mu.Unlock()
	}
	c.OnDecodeError = func(err error) {
		s.mu.Lock()
		s.stats.RTPErrors++
		s.mu.Unlock()
		s.log.Debug("rtp decode error", "err", err)
	}
	c.OnTransportSwitch = func(err error) {
		s.log.Info("transport switched to TCP", "reason", err)
		onUDP.Store(false)
		s.mu.Lock()
		s.stats.Transport = "auto: tcp"
		s.mu.Unlock()
	}

	if err := c.Start2(); err != nil {
		return false, fmt.Errorf("connect: %w", err)
	}
	// Close the client when ctx ends so that every blocking call returns.
	stop := context.AfterFunc(ctx, c.Close)
	defer func() {
		stop()
		c.Close()
	}()

	desc, _, err := c.Describe(u)
	if err != nil {
		return false, fmt.Errorf("describe: %w", err)
	}
	medi, forma, dep, err := newDepacketiser(desc)
	if err != nil {
		return false, fmt.Errorf("describe: %w", err)
	}
	if _, err := c.Setup(desc.BaseURL, medi, 0, 0); err != nil {
		return false, fmt.Errorf("setup: %w", err)
	}

	w, h := dep.dimensions()
	s.mu.Lock()
	s.stats.Codec = dep.codec
	s.stats.Width, s.stats.Height = w, h
	s.mu.Unlock()

	var (
		anchorWall time.Time // arrival time of the first picture
		anchorPTS  int64     // its RTP time
		live       = make(chan struct{})
		signalled  bool      // only the reader goroutine touches it
		clock      string    // rtcp or arrival, decided at the first sender report
		lastAt     time.Time // the last picture's time
		clockRate  = int64(forma.ClockRate())
		// lastPicture is when this session's last picture arrived (unix
		// ns), for stall detection; it starts at the session's start.
		lastPicture atomic.Int64
	)
	lastPicture.Store(time.Now().UnixNano())
	c.OnPacketRTP(medi, forma, func(pkt *rtp.Packet) {
		s.mu.Lock()
		s.stats.RTPPackets++
		s.mu.Unlock()
		// Every packet goes through the time decoder: it starts at the
		// first packet that begins a random-access picture.
		pts, ptsOK := c.PacketPTS2(medi, pkt)
		nalus, err := dep.decode(pkt)
		if err != nil {
			if !errors.Is(err, rtph264.ErrMorePacketsNeeded) && !errors.Is(err, rtph265.ErrMorePacketsNeeded) &&
				!errors.Is(err, rtpmjpeg.ErrMorePacketsNeeded) && !errors.Is(err, rtph264.ErrNonStartingPacketAndNoPrevious) &&
				!errors.Is(err, rtph265.ErrNonStartingPacketAndNoPrevious) && !errors.Is(err, rtpmjpeg.ErrNonStartingPacketAndNoPrevious) {
				s.mu.Lock()
				s.stats.RTPErrors++
				s.mu.Unlock()
				s.log.Debug("depacketise", "err", err)
			}
			return
		}
		if len(nalus) == 0 {
			return
		}
		now := time.Now()
		if !ptsOK {
			return // before the first keyframe
		}
		if anchorWall.IsZero() {
			anchorWall, anchorPTS = now, pts
		}
		at := anchorWall.Add(ticks(pts-anchorPTS, clockRate))
		skewed := false
		// The camera's clock is judged once, at its first sender report,
		// and kept for the session: switching per picture would make
		// times jump back and forth on jitter.
		if clock == "" {
			if ntp, ok := c.PacketNTP(medi, pkt); ok {
				// A picture cannot be captured after it arrived: allow a
				// little for clocks synchronised by NTP, distrust more.
				if d := now.Sub(ntp); d < s.cfg.MaxClockSkew && d > -maxFuture {
					clock = "rtcp"
				} else {
					clock = "arrival"
					skewed = true
				}
			}
		}
		source := "arrival"
		if clock == "rtcp" {
			if ntp, ok := c.PacketNTP(medi, pkt); ok {
				at, source = ntp, "rtcp"
			}
		}
		// Never backwards within a session (the switch from arrival time to
		// the camera's clock may step back by up to MaxClockSkew).
		if at.Before(lastAt) {
			at = lastAt
		}
		lastAt = at
		lastPicture.Store(now.UnixNano())
		units, key := dep.unit(nalus)
		au := &AccessUnit{
			Camera:   s.cfg.Camera,
			Codec:    dep.codec,
			Time:     at,
			PTS:      ticks(pts, clockRate),
			Key:      key,
			NALUs:    units,
			Received: now,
		}
		size := au.Size()

		s.mu.Lock()
		s.stats.Frames++
		s.stats.Bytes += uint64(size)
		s.stats.LastFrame = now
		s.stats.ClockSource = source
		if skewed {
			s.stats.ClockSkewed++
		}
		if key {
			s.stats.Keyframes++
			s.stats.LastKeyframe = now
			if s.stats.Width == 0 {
				s.stats.Width, s.stats.Height = dep.dimensions()
			}
		}
		s.rate.add(now, size)
		queues := s.queues
		s.mu.Unlock()
		for _, q := range queues {
			q.push(au)
		}
		if !signalled {
			signalled = true
			close(live)
		}
	})

	if _, err := c.Play(nil); err != nil {
		return false, fmt.Errorf("play: %w", err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()

	// The packet callback runs on gortsplib's reader goroutine; this one
	// watches for the first picture and for stalls.
	tick := time.NewTicker(s.cfg.StallTimeout / 4)
	defer tick.Stop()
	gotFirst := false
	// RTP loss over UDP, per tick: above AutoTCPLoss since lossySince.
	var lastPackets, lastLost uint64
	var lossySince time.Time
	for {
		select {
		case err := <-done:
			return gotFirst, err
		case <-live:
			live = nil
			gotFirst = true
			s.setStatus(StatusLive, "")
		case <-tick.C:
			if s.cfg.Transport == TransportAuto && onUDP.Load() {
				s.mu.Lock()
				packets, lost := s.stats.RTPPackets, s.stats.RTPLost
				s.mu.Unlock()
				dp, dl := packets-lastPackets, lost-lastLost
				lastPackets, lastLost = packets, lost
				switch ratio := float64(dl) / float64(max(dp+dl, 1)); {
				case dp+dl == 0:
				case ratio <= s.cfg.AutoTCPLoss:
					lossySince = time.Time{}
				case lossySince.IsZero():
					lossySince = time.Now()
				case time.Since(lossySince) >= s.cfg.AutoTCPAfter:
					s.lossTCP.Store(true)
					return gotFirst, fmt.Errorf("RTP loss over UDP above %.0f%% for %s (%.0f%% in the last %s): switching this camera to TCP",
						100*s.cfg.AutoTCPLoss, s.cfg.AutoTCPAfter, 100*ratio, s.cfg.StallTimeout/4)
				}
			}
			quiet := time.Since(time.Unix(0, lastPicture.Load()))
			switch st := s.Status(); {
			case gotFirst && quiet > s.cfg.StallTimeout && st == StatusLive:
				s.setStatus(StatusStalled, fmt.Sprintf("no picture for %s", quiet.Round(100*time.Millisecond)))
			case gotFirst && quiet <= s.cfg.StallTimeout && st == StatusStalled:
				s.setStatus(StatusLive, "")
			case gotFirst && st == StatusStalled && quiet > s.cfg.StallTimeout+s.cfg.StalledReconnect:
				// The session is alive but the video is not: a hung
				// encoder. Connect again.
				return true, fmt.Errorf("stalled: no picture for %s on a live session; reconnecting", quiet.Round(100*time.Millisecond))
			case !gotFirst && quiet > max(s.cfg.ReadTimeout, firstPicture):
				// Packets arrive (or not) but never a whole picture: a
				// lying camera. Give up on this session. (The first
				// picture waits for a keyframe: a long GOP is allowed.)
				return false, fmt.Errorf("no picture within %s", max(s.cfg.ReadTimeout, firstPicture))
			}
		}
	}
}

// rmemOnce logs once per process that the kernel caps UDP receive buffers
// below what a camera asks for.
var rmemOnce sync.Once

func warnRmemMax(want int, log *slog.Logger) {
	rmemOnce.Do(func() {
		b, err := os.ReadFile("/proc/sys/net/core/rmem_max")
		if err != nil {
			return
		}
		if max, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && max < want {
			log.Warn("the kernel caps UDP receive buffers below what cameras ask for: high-bitrate cameras over UDP may lose packets (raise it: sysctl -w net.core.rmem_max=N, or use transport tcp)",
				"net.core.rmem_max", max, "asked", want)
		}
	})
}
