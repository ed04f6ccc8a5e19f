package record

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/pmp4"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/telemetry"
)

// GapThreshold is the silence between two segments that counts as a gap
// (anything shorter is the jitter of a cut).
const GapThreshold = 500 * time.Millisecond

// Gap is a time without recording.
type Gap struct {
	From time.Time `json:"from"`
	To   time.Time `json:"to"`
}

// Gaps lists the times in [from, to) that segs (one camera's, oldest
// first) do not cover.
func Gaps(segs []telemetry.Recording, from, to time.Time) []Gap {
	var gaps []Gap
	at := from
	for _, s := range segs {
		if s.Start.Sub(at) > GapThreshold {
			gaps = append(gaps, Gap{at, minTime(s.Start, to)})
		}
		if s.End.After(at) {
			at = s.End
		}
		if !at.Before(to) {
			break
		}
	}
	if to.Sub(at) > GapThreshold {
		gaps = append(gaps, Gap{at, to})
	}
	return gaps
}

func minTime(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// URIs names a segment's init section and its media for [from, to).
type URIs func(s telemetry.Recording, from, to time.Time) (init, media string)

// Playlist writes an HLS media playlist (VOD, fMP4) of segs — one camera's,
// oldest first — cut to [from, to): each segment clipped to the range at
// fragment boundaries, EXT-X-PROGRAM-DATE-TIME on every segment, and each
// gap marked with EXT-X-DISCONTINUITY and a "# gap" comment giving its
// times.
func Playlist(w io.Writer, segs []telemetry.Recording, from, to time.Time, uris URIs) error {
	var b strings.Builder
	target := 1.0
	for _, s := range segs {
		target = math.Max(target, math.Ceil(minTime(s.End, to).Sub(maxTime(s.Start, from)).Seconds()))
	}
	fmt.Fprintf(&b, "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:%.0f\n#EXT-X-MEDIA-SEQUENCE:0\n#EXT-X-PLAYLIST-TYPE:VOD\n#EXT-X-INDEPENDENT-SEGMENTS\n", target)
	gaps := Gaps(segs, from, to)
	var prevEnd time.Time
	for i, s := range segs {
		a, z := maxTime(s.Start, from), minTime(s.End, to)
		if !z.After(a) {
			continue
		}
		for len(gaps) > 0 && !gaps[0].From.After(a) {
			fmt.Fprintf(&b, "# gap %s %s (%.1f s without recording)\n", gaps[0].From.UTC().Format(time.RFC3339Nano), gaps[0].To.UTC().Format(time.RFC3339Nano), gaps[0].To.Sub(gaps[0].From).Seconds())
			gaps = gaps[1:]
		}
		if i > 0 && !prevEnd.IsZero() && s.Start.Sub(prevEnd) > GapThreshold {
			b.WriteString("#EXT-X-DISCONTINUITY\n")
		}
		init, media := uris(s, a, z)
		fmt.Fprintf(&b, "#EXT-X-MAP:URI=%q\n#EXT-X-PROGRAM-DATE-TIME:%s\n#EXTINF:%.3f,\n%s\n", init, a.UTC().Format("2006-01-02T15:04:05.000Z07:00"), z.Sub(a).Seconds(), media)
		prevEnd = s.End
	}
	for _, g := range gaps {
		fmt.Fprintf(&b, "# gap %s %s (%.1f s without recording)\n", g.From.UTC().Format(time.RFC3339Nano), g.To.UTC().Format(time.RFC3339Nano), g.To.Sub(g.From).Seconds())
	}
	b.WriteString("#EXT-X-ENDLIST\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ErrOutside is a range that misses the segment.
var ErrOutside = errors.New("record: the range is outside the segment")

// openSegmentFile opens a finished segment and scans it.
func openSegmentFile(dir string, s telemetry.Recording, samples bool) (*os.File, File, error) {
	f, err := os.Open(filepath.Join(dir, filepath.FromSlash(s.Path)))
	if err != nil {
		return nil, File{}, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, File{}, err
	}
	sc, err := scan(f, st.Size(), samples)
	if err != nil {
		f.Close()
		return nil, File{}, err
	}
	return f, sc, nil
}

// WriteInit writes a segment's initialisation section (ftyp+moov).
func WriteInit(w io.Writer, dir string, s telemetry.Recording) error {
	f, sc, err := openSegmentFile(dir, s, false)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, io.NewSectionReader(f, 0, sc.InitSize))
	return err
}

// clip picks the fragments overlapping [from, to), starting at the last
// keyframe fragment at or before from, so that the first picture decodes.
func clip(frags []Fragment, from, to time.Time) []Fragment {
	a, z := mux.Ticks(from.Sub(mux.Epoch)), mux.Ticks(to.Sub(mux.Epoch))
	first, last := -1, -1
	for i, fr := range frags {
		if fr.Start >= z {
			break
		}
		if fr.Key && fr.Start <= a {
			first = i
		}
		if fr.Start+fr.Duration > a {
			if first < 0 && fr.Key {
				first = i
			}
			last = i
		}
	}
	if first < 0 || last < first {
		return nil
	}
	return frags[first : last+1]
}

// WriteMedia writes a segment's fragments overlapping [from, to) (media
// for an HLS segment: the fragments as stored, no init section).
func WriteMedia(w io.Writer, dir string, s telemetry.Recording, from, to time.Time) error {
	f, sc, err := openSegmentFile(dir, s, false)
	if err != nil {
		return err
	}
	defer f.Close()
	frags := clip(sc.Fragments, from, to)
	if len(frags) == 0 {
		return ErrOutside
	}
	a := frags[0].Offset
	z := frags[len(frags)-1].Offset + frags[len(frags)-1].Size
	_, err = io.Copy(w, io.NewSectionReader(f, a, z-a))
	return err
}

// MP4Options tunes WriteMP4.
type MP4Options struct {
	// Progress is told the bytes of pictures written so far and in all.
	Progress func(done, total int64)
}

// ErrNoRecording is a range with no recorded picture.
var ErrNoRecording = errors.New("record: nothing was recorded in that range")

// WriteMP4 writes one camera's video over [from, to) as a plain MP4 file
// (moov first, playable everywhere), starting at the keyframe at or
// before from. Pictures are copied as recorded; a gap keeps its length
// (the picture before it stays on screen). A segment whose picture format
// differs from the first one's ends the clip there (note says so).
func WriteMP4(w io.Writer, dir string, segs []telemetry.Recording, from, to time.Time, opt MP4Options) (note string, err error) {
	var (
		files   []*os.File
		samples []*pmp4.Sample
		initB   []byte
		total   int64
		lastDTS int64 = -1
		first   int64 = -1
	)
	defer func() {
		for _, f := range files {
			f.Close()
		}
	}()
	var track *pmp4.Track
	for _, s := range segs {
		f, sc, err := openSegmentFile(dir, s, true)
		if err != nil {
			return "", err
		}
		files = append(files, f)
		ib := make([]byte, sc.InitSize)
		if _, err := f.ReadAt(ib, 0); err != nil {
			return "", err
		}
		if initB == nil {
			var in fmp4.Init
			if err := in.Unmarshal(bytes.NewReader(ib)); err != nil || len(in.Tracks) != 1 {
				return "", fmt.Errorf("record: %s: unreadable init section", s.Path)
			}
			initB = ib
			track = &pmp4.Track{ID: 1, TimeScale: mux.TimeScale, Codec: in.Tracks[0].Codec}
		} else if !bytes.Equal(ib, initB) {
			note = fmt.Sprintf("the clip ends at %s, where the picture format changed", s.Start.UTC().Format(time.RFC3339))
			break
		}
		for _, fr := range clip(sc.Fragments, from, to) {
			for _, p := range fr.Pictures {
				if first >= 0 && mux.Epoch.Add(mux.Duration(p.DTS)).Compare(to) >= 0 {
					break
				}
				if first < 0 {
					first = p.DTS
				}
				if lastDTS >= 0 && len(samples) > 0 {
					// The previous picture lasts until this one (gaps included).
					if d := p.DTS - lastDTS; d > 0 && d < math.MaxUint32 {
						samples[len(samples)-1].Duration = uint32(d)
					}
				}
				off, size := p.Offset, p.Size
				ff := f
				samples = append(samples, &pmp4.Sample{Duration: p.Duration, PTSOffset: p.PTSDelta, IsNonSyncSample: !p.Sync, PayloadSize: size,
					GetPayload: func() ([]byte, error) {
						b := make([]byte, size)
						if _, err := ff.ReadAt(b, off); err != nil {
							return nil, err
						}
						return b, nil
					}})
				total += int64(size)
				lastDTS = p.DTS
			}
		}
	}
	if len(samples) == 0 {
		return "", ErrNoRecording
	}
	if opt.Progress != nil {
		var done int64
		for _, s := range samples {
			get, size := s.GetPayload, int64(s.PayloadSize)
			s.GetPayload = func() ([]byte, error) {
				b, err := get()
				done += size
				opt.Progress(done, total)
				return b, err
			}
		}
	}
	track.Samples = samples
	p := pmp4.Presentation{Tracks: []*pmp4.Track{track}}
	return note, p.Marshal(w)
}
