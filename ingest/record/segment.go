package record

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/mp4"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
)

// partSuffix marks a segment still being written; a crash leaves it behind
// and Recover salvages it.
const partSuffix = ".part"

// timeLayout names segment files by their start (UTC, sortable, no colons).
const timeLayout = "20060102T150405.000000Z"

// segmentPath is a segment's path relative to the recordings directory:
// <camera>/<day>/<camera>_<start>.mp4.
func segmentPath(camera string, start time.Time) string {
	start = start.UTC()
	return filepath.Join(camera, start.Format("2006-01-02"), camera+"_"+start.Format(timeLayout)+".mp4")
}

// pending is a picture waiting for the next one to know its duration.
type pending struct {
	s   *fmp4.Sample
	dts int64
}

// segment is a segment file being written: the init segment, then one
// fragment per second or so (a fragment ends before a keyframe or once it
// spans FragmentLength), each written as soon as it is whole, so that a
// crash loses at most the fragment in memory.
type segment struct {
	rel   string // final path, relative
	dir   string
	f     *os.File
	track *mux.Track
	rec   telemetry.Recording

	frag     []pending
	seq      uint32
	first    int64 // decode time of the first picture
	end      int64 // decode time after the last written picture
	bytes    int64
	frames   int
	buf      seekablebuffer.Buffer
	fragSpan int64
}

func openSegment(dir, camera string, track *mux.Track, start time.Time, fragment time.Duration) (*segment, error) {
	rel := segmentPath(camera, start)
	full := filepath.Join(dir, rel)
	if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	f, err := os.OpenFile(full+partSuffix, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if _, err := f.Write(track.Init()); err != nil {
		f.Close()
		os.Remove(full + partSuffix)
		return nil, fmt.Errorf("record: %w", err)
	}
	w, h := track.Size()
	s := &segment{rel: rel, dir: dir, f: f, track: track, first: -1, bytes: int64(len(track.Init())), fragSpan: mux.Ticks(fragment),
		rec: telemetry.Recording{Camera: camera, Path: rel, Codec: track.Codec(), Width: w, Height: h, InitSize: len(track.Init())}}
	return s, nil
}

// add queues a picture; the fragment before it is written first when it
// is whole (the picture is a keyframe, or the fragment spans enough).
func (s *segment) add(smp *fmp4.Sample, dts int64) error {
	if len(s.frag) > 0 && (!smp.IsNonSyncSample || dts-s.frag[0].dts >= s.fragSpan) {
		if err := s.flush(dts); err != nil {
			return err
		}
	}
	if s.first < 0 {
		s.first = dts
	}
	s.frag = append(s.frag, pending{smp, dts})
	return nil
}

// spans is how long the segment is so far, in ticks.
func (s *segment) spans(dts int64) int64 {
	if s.first < 0 {
		return 0
	}
	return dts - s.first
}

// flush writes the queued pictures as one fragment; next is the decode
// time of the picture after them (-1: unknown, the last keeps its guess).
func (s *segment) flush(next int64) error {
	if len(s.frag) == 0 {
		return nil
	}
	for i := range s.frag {
		n := next
		if i+1 < len(s.frag) {
			n = s.frag[i+1].dts
		}
		if d := n - s.frag[i].dts; n >= 0 && d > 0 && d < 10*mux.TimeScale {
			s.frag[i].s.Duration = uint32(d)
		}
	}
	samples := make([]*fmp4.Sample, len(s.frag))
	for i, p := range s.frag {
		samples[i] = p.s
	}
	s.seq++
	part := fmp4.Part{SequenceNumber: s.seq, Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(s.frag[0].dts), Samples: samples}}}
	s.buf.Reset()
	if err := part.Marshal(&s.buf); err != nil {
		return fmt.Errorf("record: fragment: %w", err)
	}
	if _, err := s.f.Write(s.buf.Bytes()); err != nil {
		return fmt.Errorf("record: %w", err)
	}
	last := s.frag[len(s.frag)-1]
	s.end = last.dts + int64(last.s.Duration)
	s.bytes += int64(len(s.buf.Bytes()))
	s.frames += len(s.frag)
	s.frag = s.frag[:0]
	return nil
}

// finish writes what is queued, syncs the file to disk and gives it its
// final name. A segment without a picture is removed (ok false).
func (s *segment) finish(next int64) (telemetry.Recording, bool, error) {
	err := s.flush(next)
	if err == nil {
		err = s.f.Sync()
	}
	if cerr := s.f.Close(); err == nil {
		err = cerr
	}
	full := filepath.Join(s.dir, s.rel)
	if err != nil || s.frames == 0 {
		os.Remove(full + partSuffix)
		return telemetry.Recording{}, false, err
	}
	if err := os.Rename(full+partSuffix, full); err != nil {
		return telemetry.Recording{}, false, fmt.Errorf("record: %w", err)
	}
	syncDir(filepath.Dir(full))
	r := s.rec
	r.Start, r.End = mux.Epoch.Add(mux.Duration(s.first)).UTC(), mux.Epoch.Add(mux.Duration(s.end)).UTC()
	r.Bytes, r.Frames = s.bytes, s.frames
	return r, true, nil
}

// abandon closes and removes the file (a write failed: the disk is full
// or gone).
func (s *segment) abandon() {
	s.f.Close()
	os.Remove(filepath.Join(s.dir, s.rel) + partSuffix)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// Probe describes a finished segment file from its contents (used when
// the index lacks it). rel is its path relative to dir.
func Probe(dir, rel string) (telemetry.Recording, error) {
	full := filepath.Join(dir, rel)
	f, err := os.Open(full)
	if err != nil {
		return telemetry.Recording{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return telemetry.Recording{}, err
	}
	sc, err := Scan(f, st.Size())
	if err != nil {
		return telemetry.Recording{}, err
	}
	if len(sc.Fragments) == 0 {
		return telemetry.Recording{}, errors.New("record: a segment without pictures")
	}
	init := make([]byte, sc.InitSize)
	if _, err := f.ReadAt(init, 0); err != nil {
		return telemetry.Recording{}, err
	}
	var in fmp4.Init
	if err := in.Unmarshal(bytes.NewReader(init)); err != nil || len(in.Tracks) != 1 {
		return telemetry.Recording{}, fmt.Errorf("record: %s: unreadable init segment", rel)
	}
	r := telemetry.Recording{Camera: strings.SplitN(filepath.ToSlash(rel), "/", 2)[0], Path: rel, Bytes: sc.Complete, InitSize: int(sc.InitSize)}
	r.Codec, r.Width, r.Height = describeCodec(in.Tracks[0])
	first, last := sc.Fragments[0], sc.Fragments[len(sc.Fragments)-1]
	r.Start = mux.Epoch.Add(mux.Duration(first.Start)).UTC()
	r.End = mux.Epoch.Add(mux.Duration(last.Start + last.Duration)).UTC()
	for _, fr := range sc.Fragments {
		r.Frames += fr.Samples
	}
	return r, nil
}

// salvage turns an unfinished segment (name.mp4.part) into a finished one
// holding its whole fragments, or removes it when it has none.
func salvage(dir, relPart string) (telemetry.Recording, bool, error) {
	full := filepath.Join(dir, relPart)
	f, err := os.OpenFile(full, os.O_RDWR, 0)
	if err != nil {
		return telemetry.Recording{}, false, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return telemetry.Recording{}, false, err
	}
	sc, err := Scan(f, st.Size())
	if err != nil || len(sc.Fragments) == 0 || !sc.Fragments[0].Key {
		f.Close()
		return telemetry.Recording{}, false, os.Remove(full)
	}
	err = f.Truncate(sc.Complete)
	if err == nil {
		err = f.Sync()
	}
	f.Close()
	if err != nil {
		return telemetry.Recording{}, false, err
	}
	rel := strings.TrimSuffix(relPart, partSuffix)
	if err := os.Rename(full, filepath.Join(dir, rel)); err != nil {
		return telemetry.Recording{}, false, err
	}
	r, err := Probe(dir, rel)
	if err != nil {
		return telemetry.Recording{}, false, err
	}
	r.Recovered = true
	return r, true, nil
}

// describeCodec names an init track's codec and picture size.
func describeCodec(t *fmp4.InitTrack) (codec string, w, h int) {
	switch c := t.Codec.(type) {
	case *mp4.CodecH264:
		var s h264.SPS
		if s.Unmarshal(c.SPS) == nil {
			w, h = s.Width(), s.Height()
		}
		return rtsp.H264, w, h
	case *mp4.CodecH265:
		var s h265.SPS
		if s.Unmarshal(c.SPS) == nil {
			w, h = s.Width(), s.Height()
		}
		return rtsp.H265, w, h
	}
	return fmt.Sprintf("%T", t.Codec), 0, 0
}
