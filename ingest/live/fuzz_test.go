package live

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// A camera may send anything after a good keyframe: the muxer returns
// fragments or errors, never panics, and keeps its timeline moving forward.
func FuzzMuxer(f *testing.F) {
	sps, _ := hex.DecodeString("6742c00dda0507ec0440000003004000000ca3c50aa8")
	pps := []byte{0x68, 0xce, 0x0f, 0xc8}
	idr := []byte{0x65, 0x88, 0x84, 0x00, 0x33, 0xff}
	f.Add([]byte{0x41, 0x9a, 0x22, 0xbc}, int64(40), true)
	f.Add([]byte{0x65, 0x88}, int64(-5), false)
	f.Add([]byte{}, int64(0), true)
	f.Fuzz(func(t *testing.T, nalu []byte, stepMs int64, key bool) {
		t0 := time.Unix(1795400000, 0)
		m, err := NewMuxer(&rtsp.AccessUnit{Codec: rtsp.H264, Key: true, Time: t0, NALUs: [][]byte{sps, pps, idr}})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := m.Fragment(&rtsp.AccessUnit{Codec: rtsp.H264, Key: true, Time: t0, NALUs: [][]byte{sps, pps, idr}}); err != nil {
			t.Fatal(err)
		}
		units := [][]byte{nalu}
		if len(nalu) == 0 {
			units = nil
		}
		for i := int64(1); i <= 3; i++ {
			d := time.Duration(stepMs*i) * time.Millisecond
			b, err := m.Fragment(&rtsp.AccessUnit{Codec: rtsp.H264, Key: key, Time: t0.Add(d), PTS: d, NALUs: units})
			if err == nil && len(b) < 8 {
				t.Fatalf("a %d-byte fragment", len(b))
			}
		}
	})
}
