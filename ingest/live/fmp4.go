package live

import (
	"errors"
	"fmt"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// timeScale is the MP4 track's clock (the RTP video clock).
const timeScale = 90000

// ErrNeedKeyframe means the muxer lost its timing (a unit it could not
// place) and must be given a keyframe next.
var ErrNeedKeyframe = errors.New("live: waiting for a keyframe")

// ErrUnsupported is a codec MP4 live cannot carry (MJPEG).
var ErrUnsupported = errors.New("live: only H.264 and H.265 can be relayed")

// Muxer turns one viewer's access units into fragmented MP4: an
// initialisation segment, then one fragment (moof+mdat) per picture, for
// the lowest latency Media Source Extensions allow.
//
// The track's time 0 is Origin, the capture time of the first unit, so a
// player converts the media time of the frame on screen into its capture
// time (origin + media time): the overlay is drawn from the detections of
// that instant, and latency is now minus that instant.
type Muxer struct {
	codec  string
	mime   string
	init   []byte
	origin time.Time
	width  int
	height int

	dts264  *h264.DTSExtractor
	dts265  *h265.DTSExtractor
	lastPTS time.Duration
	lastDTS int64
	lastDur uint32
	seq     uint32
	started bool
	buf     seekablebuffer.Buffer
}

// NewMuxer starts a muxer at key, a keyframe that carries its parameter
// sets (the rtsp package puts them there).
func NewMuxer(key *rtsp.AccessUnit) (*Muxer, error) {
	if !key.Key {
		return nil, ErrNeedKeyframe
	}
	m := &Muxer{codec: key.Codec, origin: key.Time, lastDur: timeScale / 25}
	var codec mp4.Codec
	switch key.Codec {
	case rtsp.H264:
		var sps, pps []byte
		for _, n := range key.NALUs {
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		var s h264.SPS
		if sps == nil || pps == nil || len(sps) < 4 || s.Unmarshal(sps) != nil {
			return nil, errors.New("live: the keyframe has no usable SPS and PPS")
		}
		m.width, m.height = s.Width(), s.Height()
		m.mime = fmt.Sprintf(`video/mp4; codecs="avc1.%02x%02x%02x"`, sps[1], sps[2], sps[3])
		codec = &mp4.CodecH264{SPS: sps, PPS: pps}
		m.dts264 = h264.NewDTSExtractor()
	case rtsp.H265:
		var vps, sps, pps []byte
		for _, n := range key.NALUs {
			switch h265.NALUType((n[0] >> 1) & 0x3f) {
			case h265.NALUType_VPS_NUT:
				vps = n
			case h265.NALUType_SPS_NUT:
				sps = n
			case h265.NALUType_PPS_NUT:
				pps = n
			}
		}
		var s h265.SPS
		if vps == nil || sps == nil || pps == nil || s.Unmarshal(sps) != nil {
			return nil, errors.New("live: the keyframe has no usable VPS, SPS and PPS")
		}
		m.width, m.height = s.Width(), s.Height()
		ptl := s.ProfileTierLevel
		tier := "L"
		if ptl.GeneralTierFlag != 0 {
			tier = "H"
		}
		compat := uint32(0)
		for i, f := range ptl.GeneralProfileCompatibilityFlag {
			if f {
				compat |= 1 << i // the flags in reverse bit order, as ISO/IEC 14496-15 writes them
			}
		}
		m.mime = fmt.Sprintf(`video/mp4; codecs="hvc1.%d.%X.%s%d.B0"`, ptl.GeneralProfileIdc, compat, tier, ptl.GeneralLevelIdc)
		codec = &mp4.CodecH265{VPS: vps, SPS: sps, PPS: pps}
		m.dts265 = h265.NewDTSExtractor()
	default:
		return nil, ErrUnsupported
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: timeScale, Codec: codec}}}
	var b seekablebuffer.Buffer
	if err := init.Marshal(&b); err != nil {
		return nil, fmt.Errorf("live: init segment: %w", err)
	}
	m.init = b.Bytes()
	return m, nil
}

// Init is the initialisation segment (ftyp+moov).
func (m *Muxer) Init() []byte { return m.init }

// MIME is the type and codec string for MediaSource.addSourceBuffer.
func (m *Muxer) MIME() string { return m.mime }

// Origin is the capture time at media time 0.
func (m *Muxer) Origin() time.Time { return m.origin }

// Size is the picture size from the SPS.
func (m *Muxer) Size() (w, h int) { return m.width, m.height }

// Fragment muxes one unit into a fragment. ErrNeedKeyframe asks for a
// keyframe before the next call (after a reconnection that restarted the
// camera's clock, say); other units until then are to be dropped.
func (m *Muxer) Fragment(au *rtsp.AccessUnit) ([]byte, error) {
	if au.Codec != m.codec {
		return nil, fmt.Errorf("live: the codec changed from %s to %s", m.codec, au.Codec)
	}
	// A clock that went back is a new session: start the DTS anew there.
	if m.started && au.PTS < m.lastPTS && au.Key {
		m.resetDTS()
	}
	pts := ticks90(au.Time.Sub(m.origin))
	sessionPTS := ticks90(au.PTS)
	var dts int64
	var err error
	if m.dts264 != nil {
		dts, err = m.dts264.Extract(au.NALUs, sessionPTS)
	} else {
		dts, err = m.dts265.Extract(au.NALUs, sessionPTS)
	}
	if err != nil {
		m.resetDTS()
		return nil, ErrNeedKeyframe
	}
	// The same reordering delay on the capture-time line.
	dts = pts - (sessionPTS - dts)
	if m.started && dts <= m.lastDTS {
		dts = m.lastDTS + 1
	}
	if m.started {
		if d := dts - m.lastDTS; d > 0 && d < 10*timeScale {
			m.lastDur = uint32(d)
		}
	}
	if dts < 0 {
		dts = 0
	}
	var s *fmp4.Sample
	if m.dts264 != nil {
		s, err = fmp4.NewSampleH264(int32(pts-dts), au.NALUs)
	} else {
		s, err = fmp4.NewSampleH265(int32(pts-dts), au.NALUs)
	}
	if err != nil {
		return nil, fmt.Errorf("live: sample: %w", err)
	}
	s.Duration = m.lastDur
	s.IsNonSyncSample = !au.Key
	m.seq++
	part := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(dts), Samples: []*fmp4.Sample{s}}}}
	m.buf.Reset()
	if err := part.Marshal(&m.buf); err != nil {
		return nil, fmt.Errorf("live: fragment: %w", err)
	}
	m.started, m.lastDTS, m.lastPTS = true, dts, au.PTS
	return append([]byte(nil), m.buf.Bytes()...), nil
}

func (m *Muxer) resetDTS() {
	if m.dts264 != nil {
		m.dts264 = h264.NewDTSExtractor()
	} else {
		m.dts265 = h265.NewDTSExtractor()
	}
}

// ticks90 is d in 90 kHz ticks, without overflowing for long runs.
func ticks90(d time.Duration) int64 {
	return int64(d/time.Second)*timeScale + int64(d%time.Second)*timeScale/int64(time.Second)
}
