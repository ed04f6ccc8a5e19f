package live

import (
	"fmt"

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
// initialisation segment, then one fragment (moof+mdat) per picture, for
// the lowest latency Media Source Extensions allow.
//
// The track's time 0 is Origin, the capture time of the first unit, so a
// player converts the media time of the frame on screen into its capture
// time (origin + media time): the overlay is drawn from the detections of
// that instant, and latency is now minus that instant.
type Muxer struct {
	*mux.Track
	seq uint32
	buf seekablebuffer.Buffer
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

// Fragment muxes one unit into a fragment. ErrNeedKeyframe asks for a
// keyframe before the next call (after a reconnection that restarted the
// camera's clock, say); other units until then are to be dropped.
func (m *Muxer) Fragment(au *rtsp.AccessUnit) ([]byte, error) {
	s, dts, err := m.Sample(au)
	if err != nil {
		return nil, err
	}
	m.seq++
	part := fmp4.Part{SequenceNumber: m.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(dts), Samples: []*fmp4.Sample{s}}}}
	m.buf.Reset()
	if err := part.Marshal(&m.buf); err != nil {
		return nil, fmt.Errorf("live: fragment: %w", err)
	}
	return append([]byte(nil), m.buf.Bytes()...), nil
}
