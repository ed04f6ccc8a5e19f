package record

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/bluenviron/mediacommon/v2/pkg/codecs/h264"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// benchClip encodes 60 s of ffmpeg's test pattern (768×576, 10 fps, a
// keyframe every 2 s, as the demo's cameras) into access units.
func benchClip(b *testing.B) (units []*rtsp.AccessUnit, raw string) {
	b.Helper()
	raw = filepath.Join(b.TempDir(), "clip.h264")
	out, err := exec.Command("ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc2=size=768x576:rate=10", "-t", "60",
		"-c:v", "libx264", "-preset", "ultrafast", "-g", "20", "-bsf:v", "h264_mp4toannexb", "-f", "h264", raw).CombinedOutput()
	if err != nil {
		b.Fatalf("ffmpeg: %v %s", err, out)
	}
	data, _ := os.ReadFile(raw)
	var au [][]byte
	var sps, pps []byte
	t0 := time.Unix(1_800_000_000, 0)
	flush := func() {
		if len(au) == 0 {
			return
		}
		key := false
		for _, n := range au {
			if h264.NALUType(n[0]&0x1f) == h264.NALUTypeIDR {
				key = true
			}
		}
		if key {
			au = append([][]byte{sps, pps}, au...)
		}
		d := time.Duration(len(units)) * 100 * time.Millisecond
		units = append(units, &rtsp.AccessUnit{Camera: "bench", Codec: rtsp.H264, Key: key, Time: t0.Add(d), PTS: d, NALUs: au})
		au = nil
	}
	for _, n := range bytes.Split(data, []byte{0, 0, 1}) {
		n = bytes.TrimRight(n, "\x00")
		if len(n) == 0 {
			continue
		}
		switch h264.NALUType(n[0] & 0x1f) {
		case h264.NALUTypeSPS:
			flush()
			sps = n
		case h264.NALUTypePPS:
			pps = n
		case h264.NALUTypeAccessUnitDelimiter, h264.NALUTypeSEI:
		default:
			if len(au) > 0 && n[1]&0x80 != 0 { // first_mb_in_slice 0: a new picture
				flush()
			}
			au = append(au, n)
		}
	}
	flush()
	return units, raw
}

// BenchmarkRecordRemux: a minute of one camera remuxed into segment
// files by the recorder; "core%" is the share of one core it takes to
// keep up with a live stream (CPU time per second of video).
func BenchmarkRecordRemux(b *testing.B) {
	units, _ := benchClip(b)
	video := time.Duration(len(units)) * 100 * time.Millisecond
	b.ResetTimer()
	for range b.N {
		r, err := New(Config{Dir: b.TempDir(), SegmentLength: time.Minute, MinFree: 1})
		if err != nil {
			b.Fatal(err)
		}
		c := r.Camera(CameraConfig{ID: "bench"})
		for _, au := range units {
			c.handle(au)
		}
		c.finish(-1)
	}
	b.ReportMetric(float64(b.Elapsed())/float64(b.N)/float64(video)*100, "core%")
}

// BenchmarkFFmpegSegment is the baseline: ffmpeg remuxing the same minute
// into fragmented-MP4 segments (-c copy), CPU time of the process.
func BenchmarkFFmpegSegment(b *testing.B) {
	units, raw := benchClip(b)
	video := time.Duration(len(units)) * 100 * time.Millisecond
	var cpu time.Duration
	b.ResetTimer()
	for range b.N {
		cmd := exec.Command("ffmpeg", "-v", "error", "-r", "10", "-i", raw, "-c", "copy", "-f", "segment", "-segment_time", "60",
			"-segment_format", "mp4", "-segment_format_options", "movflags=+frag_keyframe+empty_moov", filepath.Join(b.TempDir(), "seg%03d.mp4"))
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("ffmpeg: %v %s", err, out)
		}
		u := cmd.ProcessState.SysUsage().(*syscall.Rusage)
		cpu += time.Duration(u.Utime.Nano() + u.Stime.Nano())
	}
	b.ReportMetric(float64(cpu)/float64(b.N)/float64(video)*100, "core%")
}
