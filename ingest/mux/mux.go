// Package mux turns a camera's access units into fragmented-MP4 samples:
// the initialisation segment from a keyframe's parameter sets, and for
// each picture a sample with its decode time on a capture-time line. The
// live relay (one fragment per picture, for low latency) and the recorder
// (fragments of about a second in segment files) both build on it.
package mux

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

// TimeScale is the MP4 track's clock (the RTP video clock).
const TimeScale = 90000

// ErrNeedKeyframe means the track lost its timing (a unit it could not
// place) and must be given a keyframe next.
var ErrNeedKeyframe = errors.New("mux: waiting for a keyframe")

// ErrUnsupported is a codec MP4 cannot carry here (MJPEG).
var ErrUnsupported = errors.New("mux: only H.264 and H.265 go into MP4")

// Track is one video track's timing and parameters.
//
// Time 0 of the track is its origin: a sample's decode time is in
// TimeScale ticks from the origin, and its presentation time is the unit's
// capture time. The live relay's origin is its first unit (a player reads
// capture time as origin + media time); the recorder's is the Unix epoch,
// so that a recording's media time is wall-clock time and segments follow
// one another on one timeline.
type Track struct {
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
	started bool
}

// NewTrack starts a track at key, a keyframe that carries its parameter
// sets (the rtsp package puts them there), with time 0 at origin.
func NewTrack(key *rtsp.AccessUnit, origin time.Time) (*Track, error) {
	if !key.Key {
		return nil, ErrNeedKeyframe
	}
	t := &Track{codec: key.Codec, origin: origin, lastDur: TimeScale / 25}
	var codec mp4.Codec
	switch key.Codec {
	case rtsp.H264:
		var sps, pps []byte
		for _, n := range key.NALUs {
			if len(n) == 0 {
				continue
			}
			switch h264.NALUType(n[0] & 0x1f) {
			case h264.NALUTypeSPS:
				sps = n
			case h264.NALUTypePPS:
				pps = n
			}
		}
		var s h264.SPS
		if sps == nil || pps == nil || len(sps) < 4 || s.Unmarshal(sps) != nil {
			return nil, errors.New("mux: the keyframe has no usable SPS and PPS")
		}
		t.width, t.height = s.Width(), s.Height()
		t.mime = fmt.Sprintf(`video/mp4; codecs="avc1.%02x%02x%02x"`, sps[1], sps[2], sps[3])
		codec = &mp4.CodecH264{SPS: sps, PPS: pps}
		t.dts264 = h264.NewDTSExtractor()
	case rtsp.H265:
		var vps, sps, pps []byte
		for _, n := range key.NALUs {
			if len(n) == 0 {
				continue
			}
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
			return nil, errors.New("mux: the keyframe has no usable VPS, SPS and PPS")
		}
		t.width, t.height = s.Width(), s.Height()
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
		t.mime = fmt.Sprintf(`video/mp4; codecs="hvc1.%d.%X.%s%d.B0"`, ptl.GeneralProfileIdc, compat, tier, ptl.GeneralLevelIdc)
		codec = &mp4.CodecH265{VPS: vps, SPS: sps, PPS: pps}
		t.dts265 = h265.NewDTSExtractor()
	default:
		return nil, ErrUnsupported
	}
	init := fmp4.Init{Tracks: []*fmp4.InitTrack{{ID: 1, TimeScale: TimeScale, Codec: codec}}}
	var b seekablebuffer.Buffer
	if err := init.Marshal(&b); err != nil {
		return nil, fmt.Errorf("mux: init segment: %w", err)
	}
	t.init = b.Bytes()
	return t, nil
}

// Init is the initialisation segment (ftyp+moov).
func (t *Track) Init() []byte { return t.init }

// Codec is the track's codec (rtsp.H264 or rtsp.H265).
func (t *Track) Codec() string { return t.codec }

// MIME is the type and codec string for MediaSource.addSourceBuffer.
func (t *Track) MIME() string { return t.mime }

// Origin is the capture time at media time 0.
func (t *Track) Origin() time.Time { return t.origin }

// Size is the picture size from the SPS.
func (t *Track) Size() (w, h int) { return t.width, t.height }

// Sample turns au into a sample and its decode time in ticks from the
// origin. The sample's Duration is the previous interval between decode
// times (a guess until the next unit is known; the recorder sets it from
// the next unit). ErrNeedKeyframe asks for a keyframe before the next call
// (after a reconnection that restarted the camera's clock, say); other
// units until then are to be dropped.
func (t *Track) Sample(au *rtsp.AccessUnit) (s *fmp4.Sample, dts int64, err error) {
	if au.Codec != t.codec {
		return nil, 0, fmt.Errorf("mux: the codec changed from %s to %s", t.codec, au.Codec)
	}
	// A clock that went back is a new session: start the DTS anew there.
	if t.started && au.PTS < t.lastPTS && au.Key {
		t.resetDTS()
	}
	pts := Ticks(au.Time.Sub(t.origin))
	sessionPTS := Ticks(au.PTS)
	if t.dts264 != nil {
		dts, err = t.dts264.Extract(au.NALUs, sessionPTS)
	} else {
		dts, err = t.dts265.Extract(au.NALUs, sessionPTS)
	}
	if err != nil {
		t.resetDTS()
		return nil, 0, ErrNeedKeyframe
	}
	// The same reordering delay on the capture-time line.
	dts = pts - (sessionPTS - dts)
	if t.started && dts <= t.lastDTS {
		dts = t.lastDTS + 1
	}
	if t.started {
		if d := dts - t.lastDTS; d > 0 && d < 10*TimeScale {
			t.lastDur = uint32(d)
		}
	}
	if dts < 0 {
		dts = 0
	}
	if t.dts264 != nil {
		s, err = fmp4.NewSampleH264(int32(pts-dts), au.NALUs)
	} else {
		s, err = fmp4.NewSampleH265(int32(pts-dts), au.NALUs)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("mux: sample: %w", err)
	}
	s.Duration = t.lastDur
	s.IsNonSyncSample = !au.Key
	t.started, t.lastDTS, t.lastPTS = true, dts, au.PTS
	return s, dts, nil
}

func (t *Track) resetDTS() {
	if t.dts264 != nil {
		t.dts264 = h264.NewDTSExtractor()
	} else {
		t.dts265 = h265.NewDTSExtractor()
	}
}

// Ticks is d in TimeScale ticks, without overflowing for long durations
// (a Unix time's worth of nanoseconds times 90,000 would).
func Ticks(d time.Duration) int64 {
	return int64(d/time.Second)*TimeScale + int64(d%time.Second)*TimeScale/int64(time.Second)
}

// Duration is n ticks as a duration.
func Duration(n int64) time.Duration {
	return time.Duration(n/TimeScale)*time.Second + time.Duration(n%TimeScale)*time.Second/TimeScale
}

// Epoch is the recorder's origin: media time is Unix time.
var Epoch = time.Unix(0, 0)
