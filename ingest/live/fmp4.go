package live

import (
	"fmt"
	"math"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

// ErrNeedKeyframe means the muxer lost its timing (a unit it could not
// place) and must be given a keyframe next.
var ErrNeedKeyframe = mux.ErrNeedKeyframe

// ErrUnsupported is a codec MP4 live cannot carry (MJPEG).
var ErrUnsupported = mux.ErrUnsupported

// Muxer turns one viewer's access units into fragmented MP4: an
// initialisation segment, then one fragment (moof+mdat) per picture.
//
// A picture's fragment goes out when the next picture arrives, so that its
// duration is the real interval to that picture: the fragments tile the
// timeline with no gap. A guessed duration (the previous interval, or 40 ms
// for the first picture) that turns out short is a gap in decode times
// larger than twice the last frame's duration, which Media Source
// Extensions take for a discontinuity: the browser then drops every
// picture up to the next keyframe. A 10 fps camera whose frames arrive
// unevenly on a busy machine showed one picture every GOP that way. The
// price is one frame interval of latency.
//
// The track's time 0 is Origin, the capture time of the first unit, so a
// player converts the media time of the frame on screen into its capture
// time (origin + media time): the overlay is drawn from the detections of
// that instant, and latency is now minus that instant.
type Muxer struct {
	*mux.Track
	seq uint32
	buf seekablebuffer.Buffer

	held    *fmp4.Sample // the last picture, waiting for its duration
	heldDTS int64
}

// NewMuxer starts a muxer at key, a keyframe that carries its parameter
// sets (the rtsp package puts them there).
func NewMuxer(key *rtsp.AccessUnit) (*Muxer, error) {
	t, err := mux.NewTrack(key, key.Time)
	if err != nil {
		return nil, err
	}
	return &Muxer{Track: t}, nil
}

// Fragment muxes one unit and returns the fragment of the unit before it,
// now that its duration is known: nil for the first unit. ErrNeedKeyframe
// asks for a keyframe before the next call (after a reconnection that
// restarted the camera's clock, say); other units until then are to be
// dropped, and the held picture is let go.
func (m *Muxer) Fragment(au *rtsp.AccessUnit) ([]byte, error) {
	s, dts, err := m.Sample(au)
	if err != nil {
		m.held = nil
		return nil, err
	}
	prev, prevDTS := m.held, m.heldDTS
	m.held, m.heldDTS = s, dts
	if prev == nil {
		return nil, nil
	}
	if d := dts - prevDTS; d > 0 && d <= math.MaxUint32 {
		prev.Duration = uint32(d)
	}
	m.seq++
	part := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(prevDTS), Samples: []*fmp4.Sample{prev}}}}
	m.buf.Reset()
	if err := part.Marshal(&m.buf); err != nil {
		return nil, fmt.Errorf("live: fragment: %w", err)
	}
	return append([]byte(nil), m.buf.Bytes()...), nil
}
