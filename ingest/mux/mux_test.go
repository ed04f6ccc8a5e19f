package mux_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/big"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"
	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h265"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4"
	"github.com/bluenviron/mediacommon/v2/pkg/formats/fmp4/seekablebuffer"
	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// frames is how many pictures each encoded clip has: two GOPs at 25 fps.
const frames = 50

// encode has ffmpeg encode two seconds of its test pattern (320×240,
// 25 fps, a keyframe every second, two B-frames so that decode order is
// not presentation order) into MPEG-TS, and returns the pictures as access
// units in decode order, as the rtsp package hands them over: PTS from the
// session's start, Time the capture time (start + PTS), parameter sets in
// front of every keyframe. ffprobe lists the packets (their PTS and sizes);
// the bitstream, copied out as Annex-B, is cut at those sizes.
func encode(t *testing.T, codec string, start time.Time) []*rtsp.AccessUnit {
	t.Helper()
	dir := t.TempDir()
	ts, raw := filepath.Join(dir, "clip.ts"), filepath.Join(dir, "clip.raw")
	args := []string{"-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x240:rate=25", "-frames:v", strconv.Itoa(frames)}
	rawFormat := "h264"
	switch codec {
	case rtsp.H264:
		args = append(args, "-c:v", "libx264", "-bf", "2", "-g", "25")
	case rtsp.H265:
		args = append(args, "-c:v", "libx265", "-x265-params", "log-level=error:bframes=2:keyint=25:repeat-headers=1")
		rawFormat = "hevc"
	}
	args = append(args, "-pix_fmt", "yuv420p", "-f", "mpegts", ts)
	for _, a := range [][]string{args, {"-v", "error", "-i", ts, "-c", "copy", "-f", rawFormat, raw}} {
		if out, err := exec.Command("ffmpeg", a...).CombinedOutput(); err != nil {
			t.Fatalf("ffmpeg: %v: %s", err, out)
		}
	}
	stream, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}
	var units []*rtsp.AccessUnit
	first := int64(-1)
	for _, l := range ffprobe(t, "-select_streams", "v:0", "-show_entries", "packet=pts,size", "-of", "csv=p=0", ts) {
		if l = strings.Trim(l, ", "); l == "" {
			continue
		}
		f := strings.Split(l, ",")
		pts, err1 := strconv.ParseInt(f[0], 10, 64)
		size, err2 := strconv.Atoi(f[len(f)-1])
		if len(f) != 2 || err1 != nil || err2 != nil || size > len(stream) {
			t.Fatalf("ffprobe packet %q (%d bytes left)", l, len(stream))
		}
		var au h264.AnnexB
		if err := au.Unmarshal(stream[:size]); err != nil {
			t.Fatalf("packet %d: %v", len(units), err)
		}
		stream = stream[size:]
		// Drop the access unit delimiter, as the RTP depacketisers do.
		nalus := [][]byte(au)
		key := false
		switch codec {
		case rtsp.H264:
			if h264.NALUType(nalus[0][0]&0x1f) == h264.NALUTypeAccessUnitDelimiter {
				nalus = nalus[1:]
			}
			key = h264.IsRandomAccess(nalus)
		case rtsp.H265:
			if h265.NALUType((nalus[0][0]>>1)&0x3f) == h265.NALUType_AUD_NUT {
				nalus = nalus[1:]
			}
			key = h265.IsRandomAccess(nalus)
		}
		if first < 0 {
			first = pts
		}
		d := mux.Duration(pts - first)
		units = append(units, &rtsp.AccessUnit{Camera: "c1", Codec: codec, Time: start.Add(d), PTS: d, Key: key, NALUs: nalus})
	}
	if len(units) != frames || len(stream) != 0 || !units[0].Key {
		t.Fatalf("the clip has %d units (want %d), %d bytes left over, the first key: %v", len(units), frames, len(stream), len(units) > 0 && units[0].Key)
	}
	return units
}

// write muxes units into a fragmented MP4 file the way the live relay does
// (one fragment per picture, its duration the interval to the next), and
// returns the file and each unit's decode time.
func write(t *testing.T, units []*rtsp.AccessUnit, origin time.Time) (*mux.Track, string, []int64) {
	t.Helper()
	tr, err := mux.NewTrack(units[0], origin)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	out.Write(tr.Init())
	var samples []*fmp4.Sample
	var dts []int64
	for i, au := range units {
		s, d, err := tr.Sample(au)
		if err != nil {
			t.Fatalf("unit %d: %v", i, err)
		}
		if s.IsNonSyncSample == au.Key {
			t.Fatalf("unit %d: key %v, sample non-sync %v", i, au.Key, s.IsNonSyncSample)
		}
		if i > 0 && d <= dts[i-1] {
			t.Fatalf("unit %d: decode time %d after %d", i, d, dts[i-1])
		}
		if s.PTSOffset < 0 {
			t.Fatalf("unit %d: presented %d ticks before it is decoded", i, -s.PTSOffset)
		}
		samples, dts = append(samples, s), append(dts, d)
	}
	for i, s := range samples {
		if i+1 < len(samples) {
			s.Duration = uint32(dts[i+1] - dts[i])
		}
		part := fmp4.Part{SequenceNumber: uint32(i + 1), Tracks: []*fmp4.PartTrack{{ID: 1, BaseTime: uint64(dts[i]), Samples: []*fmp4.Sample{s}}}}
		var b seekablebuffer.Buffer
		if err := part.Marshal(&b); err != nil {
			t.Fatal(err)
		}
		out.Write(b.Bytes())
	}
	file := filepath.Join(t.TempDir(), "out.mp4")
	if err := os.WriteFile(file, out.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return tr, file, dts
}

func ffprobe(t *testing.T, args ...string) []string {
	t.Helper()
	out, err := exec.Command("ffprobe", append([]string{"-v", "error"}, args...)...).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("ffprobe %v: %v: %s", args, err, ee.Stderr)
		}
		t.Fatalf("ffprobe: %v", err)
	}
	return strings.Split(strings.TrimSpace(string(out)), "\n")
}

// ffprobe, an independent MP4 reader, finds in the muxed file every
// picture, presented at its capture time on the track's timeline, keyframes
// where the camera had them, decodable to the end; the MIME type names the
// stream's profile and level.
func TestTrackMuxesWhatFFmpegPlays(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name   string
		codec  string
		origin time.Time // zero: the first unit's capture time (the live relay)
	}{
		{"h264/live", rtsp.H264, time.Time{}},
		{"h264/recorder", rtsp.H264, mux.Epoch},
		{"h265/live", rtsp.H265, time.Time{}},
		{"h265/recorder", rtsp.H265, mux.Epoch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			units := encode(t, tc.codec, start)
			origin := tc.origin
			if origin.IsZero() {
				origin = units[0].Time
			}
			tr, file, _ := write(t, units, origin)
			if tr.Codec() != tc.codec || !tr.Origin().Equal(origin) {
				t.Fatalf("codec %s origin %s", tr.Codec(), tr.Origin())
			}
			if w, h := tr.Size(); w != 320 || h != 240 {
				t.Fatalf("size %d×%d", w, h)
			}

			st := ffprobe(t, "-count_frames", "-select_streams", "v:0", "-show_entries",
				"stream=codec_name,width,height,profile,level,nb_read_frames", "-of", "default=nw=1", file)
			info := map[string]string{}
			for _, l := range st {
				k, v, _ := strings.Cut(l, "=")
				info[k] = v
			}
			wantName := map[string]string{rtsp.H264: "h264", rtsp.H265: "hevc"}[tc.codec]
			if info["codec_name"] != wantName || info["width"] != "320" || info["height"] != "240" || info["nb_read_frames"] != strconv.Itoa(frames) {
				t.Fatalf("ffprobe reads %v", info)
			}
			level, _ := strconv.Atoi(info["level"])
			var wantMIME string
			switch tc.codec {
			case rtsp.H264: // x264's High profile, no constraint flags
				if info["profile"] != "High" {
					t.Fatalf("profile %q", info["profile"])
				}
				wantMIME = fmt.Sprintf(`video/mp4; codecs="avc1.6400%02x"`, level)
			case rtsp.H265: // Main: profile 1, compatible with 1 and 2
				if info["profile"] != "Main" {
					t.Fatalf("profile %q", info["profile"])
				}
				wantMIME = fmt.Sprintf(`video/mp4; codecs="hvc1.1.6.L%d.B0"`, level)
			}
			if tr.MIME() != wantMIME {
				t.Fatalf("MIME %s, want %s", tr.MIME(), wantMIME)
			}

			// Packets in decode order: their presentation times are the
			// units' capture times on the track's timeline.
			pk := ffprobe(t, "-select_streams", "v:0", "-show_entries", "packet=pts,dts,flags", "-of", "csv=p=0", file)
			if len(pk) != frames {
				t.Fatalf("%d packets, want %d", len(pk), frames)
			}
			var lastDTS int64 = -1 << 62
			for i, l := range pk {
				f := strings.Split(strings.Trim(l, ","), ",")
				if len(f) < 3 {
					t.Fatalf("packet %d: %q", i, l)
				}
				pts, err1 := strconv.ParseInt(f[0], 10, 64)
				dts, err2 := strconv.ParseInt(f[1], 10, 64)
				if err1 != nil || err2 != nil {
					t.Fatalf("packet %d: %q", i, l)
				}
				if want := mux.Ticks(units[i].Time.Sub(origin)); pts != want {
					t.Fatalf("packet %d presented at %d, captured at %d", i, pts, want)
				}
				if dts <= lastDTS || dts > pts {
					t.Fatalf("packet %d: dts %d after %d, pts %d", i, dts, lastDTS, pts)
				}
				lastDTS = dts
				if key := strings.HasPrefix(f[2], "K"); key != units[i].Key {
					t.Fatalf("packet %d: key %v, unit key %v", i, key, units[i].Key)
				}
			}

			// And every picture decodes.
			if out, err := exec.Command("ffmpeg", "-v", "error", "-xerror", "-i", file, "-f", "null", "-").CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("ffmpeg decode: %v: %s", err, out)
			}
		})
	}
}

// A camera that reconnects starts its clock again: its first keyframe
// with an earlier PTS starts the decode times anew, on the capture-time
// line and after those already given, with no keyframe asked for.
func TestTrackFollowsARestartedCameraClock(t *testing.T) {
	for _, codec := range []string{rtsp.H264, rtsp.H265} {
		t.Run(codec, func(t *testing.T) {
			start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
			first := encode(t, codec, start)
			// The same clip again, 10 s later, by a clock that restarted at 0.
			again := encode(t, codec, start.Add(10*time.Second))
			tr, err := mux.NewTrack(first[0], mux.Epoch)
			if err != nil {
				t.Fatal(err)
			}
			last := int64(-1)
			for i, au := range append(first, again...) {
				s, dts, err := tr.Sample(au)
				if err != nil {
					t.Fatalf("unit %d: %v", i, err)
				}
				if dts <= last {
					t.Fatalf("unit %d: decode time %d after %d", i, dts, last)
				}
				last = dts
				if pts := dts + int64(s.PTSOffset); pts != mux.Ticks(au.Time.Sub(mux.Epoch)) {
					t.Fatalf("unit %d presented at %s, captured at %s", i, mux.Epoch.Add(mux.Duration(pts)), au.Time)
				}
			}
		})
	}
}

// A sample's duration is the interval between the last two decode times
// (40 ms, a guess, for the first).
func TestTrackSampleDurationIsTheLastInterval(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	units := encode(t, rtsp.H264, start)
	tr, err := mux.NewTrack(units[0], units[0].Time)
	if err != nil {
		t.Fatal(err)
	}
	var prev []int64
	for i, au := range units {
		s, dts, err := tr.Sample(au)
		if err != nil {
			t.Fatal(err)
		}
		want := uint32(mux.TimeScale / 25)
		if i > 0 {
			want = uint32(dts - prev[i-1])
		}
		if s.Duration != want {
			t.Fatalf("unit %d: duration %d, want %d", i, s.Duration, want)
		}
		prev = append(prev, dts)
	}
}

func TestNewTrackRefuses(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	h264Units, h265Units := encode(t, rtsp.H264, start), encode(t, rtsp.H265, start)
	var delta *rtsp.AccessUnit
	for _, au := range h264Units {
		if !au.Key {
			delta = au
			break
		}
	}
	// The keyframes without their parameter sets.
	bare := func(key *rtsp.AccessUnit, param func(n []byte) bool) *rtsp.AccessUnit {
		b := *key
		b.NALUs = nil
		for _, n := range key.NALUs {
			if !param(n) {
				b.NALUs = append(b.NALUs, n)
			}
		}
		if len(b.NALUs) == len(key.NALUs) {
			t.Fatal("the keyframe had no parameter sets to take away")
		}
		return &b
	}
	h264Bare := bare(h264Units[0], func(n []byte) bool {
		typ := h264.NALUType(n[0] & 0x1f)
		return typ == h264.NALUTypeSPS || typ == h264.NALUTypePPS
	})
	h265NoVPS := bare(h265Units[0], func(n []byte) bool { return h265.NALUType((n[0]>>1)&0x3f) == h265.NALUType_VPS_NUT })
	for _, tc := range []struct {
		name string
		au   *rtsp.AccessUnit
		want error // nil: any error
	}{
		{"not a keyframe", delta, mux.ErrNeedKeyframe},
		{"MJPEG", &rtsp.AccessUnit{Codec: rtsp.MJPEG, Key: true, NALUs: [][]byte{{0xff, 0xd8, 0xff, 0xd9}}}, mux.ErrUnsupported},
		{"H.264 without SPS and PPS", h264Bare, nil},
		{"H.265 without VPS", h265NoVPS, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tr, err := mux.NewTrack(tc.au, start)
			if err == nil || tr != nil {
				t.Fatalf("NewTrack: %v, %v", tr, err)
			}
			if tc.want != nil && !errors.Is(err, tc.want) {
				t.Fatalf("NewTrack: %v, want %v", err, tc.want)
			}
		})
	}
	// The keyframes as they are make tracks.
	for _, key := range []*rtsp.AccessUnit{h264Units[0], h265Units[0]} {
		if _, err := mux.NewTrack(key, start); err != nil {
			t.Fatalf("%s: %v", key.Codec, err)
		}
	}
}

func TestSampleRefusesAnotherCodec(t *testing.T) {
	start := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	units := encode(t, rtsp.H264, start)
	tr, err := mux.NewTrack(units[0], start)
	if err != nil {
		t.Fatal(err)
	}
	other := *units[1]
	other.Codec = rtsp.H265
	if _, _, err := tr.Sample(&other); err == nil || !strings.Contains(err.Error(), "codec changed") {
		t.Fatalf("Sample of an H.265 unit on an H.264 track: %v", err)
	}
	// The track is unharmed: its own units still go in.
	if _, _, err := tr.Sample(units[0]); err != nil {
		t.Fatal(err)
	}
}

// Ticks and Duration convert exactly (to the tick) for durations as long as
// Unix time, where d × 90,000 in nanoseconds would overflow an int64.
func TestTicksAndDuration(t *testing.T) {
	for _, tc := range []struct {
		name string
		d    time.Duration
	}{
		{"zero", 0},
		{"one tick", time.Second / mux.TimeScale},
		{"a frame at 25 fps", 40 * time.Millisecond},
		{"a second and a bit", time.Second + 123456789},
		{"a day", 24 * time.Hour},
		{"Unix time in 2025", time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.UTC).Sub(mux.Epoch)},
		{"Unix time in 2200", time.Date(2200, 1, 1, 0, 0, 0, 999999999, time.UTC).Sub(mux.Epoch)},
		{"before the epoch", -90 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Exact: d × 90,000 / 10⁹, truncated toward zero.
			want := new(big.Int).Mul(big.NewInt(int64(tc.d)), big.NewInt(mux.TimeScale))
			want.Quo(want, big.NewInt(int64(time.Second)))
			got := mux.Ticks(tc.d)
			if !want.IsInt64() || got != want.Int64() {
				t.Fatalf("Ticks(%s) = %d, want %s", tc.d, got, want)
			}
			// Back to within a tick of d (toward zero).
			back := mux.Duration(got)
			if diff := (tc.d - back).Abs(); diff > time.Second/mux.TimeScale || (tc.d >= 0) != (back >= 0) && back != 0 {
				t.Fatalf("Duration(%d) = %s, %s from %s", got, back, diff, tc.d)
			}
			// Duration truncates to the nanosecond below, so the way back
			// may lose that fraction: a tick at most.
			if again := mux.Ticks(back); again != got && again != got-1 {
				t.Fatalf("Ticks(Duration(%d)) = %d", got, again)
			}
		})
	}
}
