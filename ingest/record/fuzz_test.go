package record

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

// FuzzScan feeds segment files, whole and mangled, to the box scanner and
// the salvage path: no panic, and what it reports lies inside the file.
func FuzzScan(f *testing.F) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1f, 0xd9, 0x00, 0xf0, 0x11, 0x3a, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0x20, 0xf1, 0x83, 0x24, 0x80}
	pps := []byte{0x68, 0xcb, 0x83, 0xcb, 0x20}
	t0 := time.Unix(1_800_000_000, 0)
	key := &rtsp.AccessUnit{Codec: rtsp.H264, Key: true, Time: t0, NALUs: [][]byte{sps, pps, {0x65, 0x88, 0x84, 0x00}}}
	tr, err := mux.NewTrack(key, mux.Epoch)
	if err != nil {
		f.Fatal(err)
	}
	dir := f.TempDir()
	seg, err := openSegment(dir, "cam", tr, t0, time.Second)
	if err != nil {
		f.Fatal(err)
	}
	for i := range 25 {
		au := &rtsp.AccessUnit{Codec: rtsp.H264, Key: i%10 == 0, Time: t0.Add(time.Duration(i) * 100 * time.Millisecond), PTS: time.Duration(i) * 100 * time.Millisecond, NALUs: [][]byte{{0x41, 0x9a, byte(i)}}}
		if au.Key {
			au.NALUs = key.NALUs
		}
		s, dts, err := tr.Sample(au)
		if err != nil {
			f.Fatal(err)
		}
		if err := seg.add(s, dts); err != nil {
			f.Fatal(err)
		}
	}
	rec, ok, err := seg.finish(-1)
	if err != nil || !ok {
		f.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, rec.Path))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add(b[:len(b)-7])
	f.Add(b[:200])
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, samples := range []bool{false, true} {
			sc, err := scan(bytes.NewReader(b), int64(len(b)), samples)
			if err != nil {
				continue
			}
			if sc.InitSize > int64(len(b)) || sc.Complete > int64(len(b)) {
				t.Fatalf("init %d, complete %d in %d bytes", sc.InitSize, sc.Complete, len(b))
			}
			for _, fr := range sc.Fragments {
				if fr.Offset < sc.InitSize || fr.Offset+fr.Size > int64(len(b)) {
					t.Fatalf("fragment %+v outside %d bytes", fr, len(b))
				}
			}
		}
	})
}
