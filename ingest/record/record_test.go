package record

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) {
	if os.Getenv("SMARTEYE_RECORD_CHILD") != "" {
		os.Exit(recordChild())
	}
	os.Exit(storetest.Main(m))
}

func testLog() *slog.Logger {
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.DiscardHandler)
}

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

// camera publishes ffmpeg's test pattern (10 fps, a keyframe every second)
// on a local RTSP server and returns its URL.
func camera(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("ffprobe"); err != nil {
		t.Fatal("ffmpeg/ffprobe missing: run `make deps` (Debian's ffmpeg)")
	}
	srv := &sim.RTSPServer{}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pub := &sim.Publisher{Source: "testsrc2", Width: 320, Height: 240, FPS: 10, GOP: 10, URL: srv.URL("cam"), Log: testLog()}
	done := make(chan struct{})
	go func() { pub.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; srv.Close() })
	waitFor(t, 15*time.Second, "the publisher", func() bool { return srv.Ready("cam") })
	return srv.URL("cam")
}

func newStore(t *testing.T) *store.Store {
	t.Helper()
	s, err := store.New(store.Config{URL: storetest.URL(t), Log: testLog()}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { s.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done; s.Close() })
	waitFor(t, 60*time.Second, "store ready", s.Ready)
	return s
}

// ffprobe runs ffprobe with args and decodes its JSON.
func ffprobe(t *testing.T, args ...string) map[string]any {
	t.Helper()
	out, err := exec.Command("ffprobe", append([]string{"-v", "error", "-of", "json"}, args...)...).Output()
	if err != nil {
		t.Fatalf("ffprobe %v: %v", args, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// probeClip is a file's or playlist's duration and decoded frame count.
func probeClip(t *testing.T, url string) (time.Duration, int) {
	t.Helper()
	v := ffprobe(t, "-count_frames", "-show_entries", "stream=nb_read_frames:format=duration", url)
	d, _ := strconv.ParseFloat(v["format"].(map[string]any)["duration"].(string), 64)
	n, _ := strconv.Atoi(v["streams"].([]any)[0].(map[string]any)["nb_read_frames"].(string))
	return time.Duration(d * float64(time.Second)), n
}

// decodes reports whether ffmpeg decodes a file without a single error.
func decodes(t *testing.T, path string) error {
	t.Helper()
	var stderr bytes.Buffer
	cmd := exec.Command("ffmpeg", "-v", "error", "-i", path, "-f", "null", "-")
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil || stderr.Len() > 0 {
		return fmt.Errorf("%s: %v %s", filepath.Base(path), err, stderr.String())
	}
	return nil
}

// truth counts the stream's pictures from its first keyframe on, as a
// second consumer beside the recorder.
type truth struct {
	mu          sync.Mutex
	first, last time.Time
	frames      int
}

func (tr *truth) run(ctx context.Context, q *rtsp.Queue) {
	var buf []*rtsp.AccessUnit
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.Ready():
			buf, _ = q.Take(buf[:0])
			tr.mu.Lock()
			for _, au := range buf {
				if tr.frames == 0 && !au.Key {
					continue
				}
				if tr.frames == 0 {
					tr.first = au.Time
				}
				tr.frames++
				tr.last = au.Time
			}
			tr.mu.Unlock()
		}
	}
}

func (tr *truth) get() (time.Time, time.Time, int) {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.first, tr.last, tr.frames
}

// record records url for d after its first keyframe into a recorder
// configured by cfg, and returns the truth.
func record(t *testing.T, url string, cfg Config, d time.Duration) (*Recorder, *truth) {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	stream, err := rtsp.New(rtsp.Config{Camera: "cam", URL: url, Transport: rtsp.TransportTCP, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	q, tq := stream.Subscribe("record", 1024), stream.Subscribe("truth", 1024)
	rctx, rstop := context.WithCancel(context.Background())
	sctx, sstop := context.WithCancel(context.Background())
	cctx, cstop := context.WithCancel(context.Background())
	var wg, cams sync.WaitGroup
	tr := &truth{}
	cam := r.Camera(CameraConfig{ID: "cam"})
	streamDone := make(chan struct{})
	wg.Add(1)
	cams.Add(2)
	go func() { defer wg.Done(); r.Run(rctx) }()
	go func() { defer close(streamDone); stream.Run(sctx) }()
	go func() { defer cams.Done(); cam.Run(cctx, q) }()
	go func() { defer cams.Done(); tr.run(cctx, tq) }()
	waitFor(t, 20*time.Second, "the first keyframe", func() bool { _, _, n := tr.get(); return n > 0 })
	// d of pictures by their capture times (a slow machine records as much).
	waitFor(t, d+20*time.Second, fmt.Sprint(d, " of pictures"), func() bool { first, last, _ := tr.get(); return last.Sub(first) >= d })
	sstop()
	select {
	case <-streamDone: // nothing more enters the queues
	case <-time.After(testkit.Scale(10 * time.Second)):
		t.Fatal("the stream did not stop")
	}
	waitFor(t, 10*time.Second, "the queues to drain", func() bool { return q.Len() == 0 && tq.Len() == 0 })
	// Every unit is taken; each consumer handles what it took before it
	// looks at its context again.
	cstop()
	cams.Wait() // the last segment has reached Run
	rstop()
	wg.Wait()
	return r, tr
}

func TestRecordAndPlayBack(t *testing.T) {
	url := camera(t)
	st := newStore(t)
	dir := t.TempDir()
	r, tr := record(t, url, Config{Dir: dir, SegmentLength: 4 * time.Second, Index: st, MinFree: 1, Log: testLog()}, 30*time.Second)
	first, last, frames := tr.get()
	truthDur := last.Sub(first) + 100*time.Millisecond // the last picture lasts a frame
	const gop = time.Second
	ctx := context.Background()

	segs, err := st.Recordings(ctx, "cam", first.Add(-time.Minute), last.Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	if files := r.Segments(); len(segs) != len(files) || len(segs) < 7 {
		t.Fatalf("%d segments indexed, %d files, want the same and at least 7 for 30 s in 4-s segments", len(segs), len(files))
	}
	total := 0
	for i, s := range segs {
		// Every segment starts at a keyframe (ffprobe's view), runs its
		// length (cut at the first keyframe after 4 s) and meets the next.
		v := ffprobe(t, "-select_streams", "v", "-show_frames", "-read_intervals", "%+#1", "-show_entries", "frame=key_frame,pict_type", filepath.Join(dir, s.Path))
		f0 := v["frames"].([]any)[0].(map[string]any)
		if f0["key_frame"].(float64) != 1 || f0["pict_type"] != "I" {
			t.Errorf("segment %d starts with %v, not a keyframe", i, f0)
		}
		if i < len(segs)-1 {
			if d := s.Duration(); d < 4*time.Second || d > 4*time.Second+gop+200*time.Millisecond {
				t.Errorf("segment %d lasts %s, want 4 s to 4 s + a GOP", i, d)
			}
			if g := segs[i+1].Start.Sub(s.End); g.Abs() > 10*time.Millisecond {
				t.Errorf("segments %d and %d are %s apart", i, i+1, g)
			}
		}
		if err := decodes(t, filepath.Join(dir, s.Path)); err != nil {
			t.Error(err)
		}
		total += s.Frames
	}
	if d := segs[0].Start.Sub(first); d.Abs() > 10*time.Millisecond {
		t.Errorf("the recording starts %s from the first keyframe", d)
	}
	if total != frames {
		t.Errorf("%d pictures in the segments, the stream had %d from its first keyframe", total, frames)
	}

	srv := httptest.NewServer(playbackHandler(t, st, dir))
	defer srv.Close()
	q := func(a, z time.Time) string {
		return fmt.Sprintf("from=%s&to=%s", a.UTC().Format(time.RFC3339Nano), z.UTC().Format(time.RFC3339Nano))
	}
	// The whole range: what ffprobe plays equals the truth within a GOP.
	pl := srv.URL + "/playlist.m3u8?" + q(first.Add(-5*time.Second), last.Add(5*time.Second))
	d, n := probeClip(t, pl)
	t.Logf("playlist: %s and %d frames; truth %s and %d frames", d, n, truthDur, frames)
	if (d-truthDur).Abs() > gop || math.Abs(float64(n-frames)) > 10 {
		t.Errorf("the playlist plays %s and %d frames, the stream had %s and %d", d, n, truthDur, frames)
	}
	// Only the range's edges beyond the recording are gaps.
	body := get(t, pl)
	if strings.Count(body, "# gap") != 2 || strings.Contains(body, "DISCONTINUITY") {
		t.Errorf("gaps in a continuous recording:\n%s", body)
	}
	if g := Gaps(segs, first, last); len(g) != 0 {
		t.Errorf("gaps %v", g)
	}
	// A range inside: 10 s, from the keyframe at or before its start.
	a, z := first.Add(10*time.Second+300*time.Millisecond), first.Add(20*time.Second+300*time.Millisecond)
	d, n = probeClip(t, srv.URL+"/playlist.m3u8?"+q(a, z))
	if d < 10*time.Second-100*time.Millisecond || d > 10*time.Second+gop+100*time.Millisecond || n < 99 || n > 111 {
		t.Errorf("10 s inside the recording plays %s and %d frames", d, n)
	}
	// The same range as an MP4 file.
	mp4 := filepath.Join(t.TempDir(), "clip.mp4")
	f, err := os.Create(mp4)
	if err != nil {
		t.Fatal(err)
	}
	var progress []float64
	inRange, _ := st.Recordings(ctx, "cam", a, z)
	if _, err := WriteMP4(f, dir, inRange, a, z, MP4Options{Progress: func(done, total int64) { progress = append(progress, float64(done)/float64(total)) }}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	d, n = probeClip(t, mp4)
	if d < 10*time.Second-100*time.Millisecond || d > 10*time.Second+gop+100*time.Millisecond || n < 99 || n > 111 {
		t.Errorf("the 10-s MP4 clip has %s and %d frames", d, n)
	}
	if len(progress) == 0 || progress[len(progress)-1] != 1 || !slices.IsSorted(progress) {
		t.Errorf("progress %v", progress)
	}
	if err := decodes(t, mp4); err != nil {
		t.Error(err)
	}
	// A range with a hole: the playlist marks it.
	holed := []telemetry.Recording{segs[0], segs[2]}
	var b strings.Builder
	Playlist(&b, holed, segs[0].Start, segs[2].End, func(s telemetry.Recording, a, z time.Time) (string, string) { return "i", "m" })
	if !strings.Contains(b.String(), "#EXT-X-DISCONTINUITY") || !strings.Contains(b.String(), "# gap "+segs[0].End.UTC().Format(time.RFC3339Nano)) {
		t.Errorf("a hole is not marked:\n%s", b.String())
	}
}

// playbackHandler serves a playlist and its segments as the dashboard does.
func playbackHandler(t *testing.T, st *store.Store, dir string) http.Handler {
	mux := http.NewServeMux()
	rng := func(r *http.Request) (time.Time, time.Time) {
		a, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("from"))
		z, _ := time.Parse(time.RFC3339Nano, r.URL.Query().Get("to"))
		return a, z
	}
	seg := func(r *http.Request) telemetry.Recording {
		id, _ := strconv.ParseInt(r.PathValue("id"), 10, 64)
		s, err := st.RecordingByID(r.Context(), id)
		if err != nil {
			t.Error(err)
		}
		return s
	}
	mux.HandleFunc("GET /playlist.m3u8", func(w http.ResponseWriter, r *http.Request) {
		a, z := rng(r)
		segs, err := st.Recordings(r.Context(), "cam", a, z)
		if err != nil {
			t.Error(err)
		}
		w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
		Playlist(w, segs, a, z, func(s telemetry.Recording, a, z time.Time) (string, string) {
			return fmt.Sprintf("init/%d.mp4", s.ID), fmt.Sprintf("media/%d.m4s?from=%s&to=%s", s.ID, a.UTC().Format(time.RFC3339Nano), z.UTC().Format(time.RFC3339Nano))
		})
	})
	mux.HandleFunc("GET /init/{id}", func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimSuffix(r.PathValue("id"), ".mp4")
		r.SetPathValue("id", id)
		if err := WriteInit(w, dir, seg(r)); err != nil {
			t.Error(err)
		}
	})
	mux.HandleFunc("GET /media/{id}", func(w http.ResponseWriter, r *http.Request) {
		r.SetPathValue("id", strings.TrimSuffix(r.PathValue("id"), ".m4s"))
		a, z := rng(r)
		if err := WriteMedia(w, dir, seg(r), a, z); err != nil {
			t.Error(err)
		}
	})
	return mux
}

func get(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(res.Body)
	return b.String()
}

// recordChild records SMARTEYE_RECORD_URL into SMARTEYE_RECORD_DIR until
// it is killed (TestKilledWhileRecording's victim).
func recordChild() int {
	r, err := New(Config{Dir: os.Getenv("SMARTEYE_RECORD_DIR"), SegmentLength: 3 * time.Second, MinFree: 1})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	stream, err := rtsp.New(rtsp.Config{Camera: "cam", URL: os.Getenv("SMARTEYE_RECORD_URL"), Transport: rtsp.TransportTCP})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	q := stream.Subscribe("record", 1024)
	ctx := context.Background()
	go r.Run(ctx)
	go r.Camera(CameraConfig{ID: "cam"}).Run(ctx, q)
	stream.Run(ctx)
	return 0
}

func TestKilledWhileRecording(t *testing.T) {
	url := camera(t)
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SMARTEYE_RECORD_CHILD=1", "SMARTEYE_RECORD_URL="+url, "SMARTEYE_RECORD_DIR="+dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	files := func(suffix string) []string {
		m, _ := filepath.Glob(filepath.Join(dir, "cam", "*", "*"+suffix))
		return m
	}
	// Kill it in the middle of a segment (of 3 s, in fragments of 1 s), a
	// few segments in: once the unfinished one holds a whole fragment.
	waitFor(t, 40*time.Second, "three finished segments", func() bool { return len(files(".mp4")) >= 3 })
	var part string
	waitFor(t, 20*time.Second, "a whole fragment in the unfinished segment", func() bool {
		parts := files(".part")
		if len(parts) != 1 {
			return false
		}
		part = parts[0]
		return wholeFragments(part) > 0
	})
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if _, err := os.Stat(part); err != nil {
		t.Fatalf("the segment was no longer unfinished when the recorder was killed: %v", err)
	}
	finished := files(".mp4")
	for _, f := range finished {
		if err := decodes(t, f); err != nil {
			t.Error(err)
		}
	}
	// The next start salvages the unfinished one: it plays too.
	r, err := New(Config{Dir: dir, MinFree: 1, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if left := files(".part"); len(left) != 0 {
		t.Errorf("still unfinished after a restart: %v", left)
	}
	segs := r.Segments()
	if len(segs) != len(finished)+1 || !segs[len(segs)-1].Recovered {
		t.Fatalf("%d segments after the restart (last recovered: %v), want %d and the unfinished one", len(segs), segs[len(segs)-1].Recovered, len(finished)+1)
	}
	rec := filepath.Join(dir, segs[len(segs)-1].Path)
	if err := decodes(t, rec); err != nil {
		t.Error(err)
	}
	if d, n := probeClip(t, rec); d < 500*time.Millisecond || n < 5 {
		t.Errorf("the salvaged segment has %s and %d frames", d, n)
	}
	// A torn write (a tail cut in its last fragment) salvages to its whole
	// fragments; one without a whole fragment goes.
	b, _ := os.ReadFile(finished[0])
	os.WriteFile(filepath.Join(dir, "cam", "torn.mp4.part"), b[:len(b)-333], 0o644)
	os.WriteFile(filepath.Join(dir, "cam", "empty.mp4.part"), b[:100], 0o644)
	r, err = New(Config{Dir: dir, MinFree: 1, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "cam", "empty.mp4.part")); !os.IsNotExist(err) {
		t.Error("an unfinished segment without a whole fragment was kept")
	}
	if err := decodes(t, filepath.Join(dir, "cam", "torn.mp4")); err != nil {
		t.Error(err)
	}
	if len(r.Segments()) != len(segs)+1 {
		t.Errorf("%d segments, want %d", len(r.Segments()), len(segs)+1)
	}
}

// wholeFragments is how many whole fragments a segment file holds now.
func wholeFragments(path string) int {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0
	}
	sf, err := Scan(f, fi.Size())
	if err != nil {
		return 0
	}
	return len(sf.Fragments)
}

func TestRetentionAndDiskGuard(t *testing.T) {
	url := camera(t)
	st := newStore(t)
	dir := t.TempDir()
	r, _ := record(t, url, Config{Dir: dir, SegmentLength: time.Second, Index: st, MinFree: 1, Log: testLog()}, 8*time.Second)
	all := r.Segments()
	if len(all) < 6 {
		t.Fatalf("%d segments of 1 s in 8 s", len(all))
	}
	// A budget of the newest three segments: the oldest go, the index
	// follows the files.
	budget := all[len(all)-1].Bytes + all[len(all)-2].Bytes + all[len(all)-3].Bytes
	var events []telemetry.Event
	var mu sync.Mutex
	r, err := New(Config{Dir: dir, MaxBytes: budget, Index: st, MinFree: 1, Tick: 50 * time.Millisecond, Log: testLog(),
		Event: func(e telemetry.Event) { mu.Lock(); events = append(events, e); mu.Unlock() }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { r.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	onDisk := func() []string {
		m, _ := filepath.Glob(filepath.Join(dir, "cam", "*", "*.mp4"))
		for i := range m {
			m[i], _ = filepath.Rel(dir, m[i])
		}
		slices.Sort(m)
		return m
	}
	indexed := func() []string {
		p, err := st.RecordingPaths(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(p)
		return p
	}
	waitFor(t, 10*time.Second, "the budget to be kept", func() bool { return len(onDisk()) == 3 && slices.Equal(onDisk(), indexed()) })
	for i, s := range all[len(all)-3:] {
		if onDisk()[i] != s.Path {
			t.Errorf("kept %v, want the newest three", onDisk())
		}
	}
	// Age: everything is older than a millisecond.
	r.mu.Lock()
	r.cfg.MaxAge = time.Millisecond
	r.mu.Unlock()
	r.wake <- struct{}{}
	waitFor(t, 10*time.Second, "age retention", func() bool { return len(onDisk()) == 0 && len(indexed()) == 0 })

	// The disk guard: more free space asked for than there is stops
	// recording with an event, and it resumes when there is room again.
	r.mu.Lock()
	r.cfg.MinFree = 1 << 62
	r.mu.Unlock()
	waitFor(t, 10*time.Second, "recording to stop", r.Paused)
	cam := r.Camera(CameraConfig{ID: "guarded"})
	stream, err := rtsp.New(rtsp.Config{Camera: "guarded", URL: url, Transport: rtsp.TransportTCP, Log: testLog()})
	if err != nil {
		t.Fatal(err)
	}
	q := stream.Subscribe("record", 1024)
	// The stream queues each unit for the camera, then for the witness: a
	// unit the witness has is in the camera's queue already.
	witness := stream.Subscribe("witness", 1024)
	sctx, sstop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); stream.Run(sctx) }()
	go func() { defer wg.Done(); cam.Run(sctx, q) }()
	defer func() { sstop(); wg.Wait() }()
	// The paused camera handles two keyframes and more. It handles a batch
	// before it takes the next, so once it has taken a unit queued after
	// everything up to the second keyframe had been taken, those units
	// have been handled.
	var seen []*rtsp.AccessUnit
	keys, mark := 0, -1
	take := func() {
		n := len(seen)
		seen, _ = witness.Take(seen)
		for _, au := range seen[n:] {
			if au.Key {
				keys++
			}
		}
	}
	waitFor(t, 20*time.Second, "the paused camera to handle two keyframes", func() bool {
		take()
		if q.Len() != 0 {
			return false // the camera has not taken all that the witness has
		}
		if mark < 0 {
			if keys >= 2 {
				// The witness's second unit from here on was queued for
				// the camera after the check above.
				take()
				mark = len(seen)
			}
			return false
		}
		return len(seen) >= mark+2
	})
	// Nothing written (finished segments would be gone already: the age
	// limit is a millisecond; the byte counter keeps count).
	if n := testutil.ToFloat64(r.m.bytes.WithLabelValues("guarded")); n != 0 {
		t.Errorf("%v bytes recorded while the disk guard stopped recording", n)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, "guarded", "*", "*")); len(m) != 0 {
		t.Errorf("recorded while the disk guard stopped recording: %v", m)
	}
	r.mu.Lock()
	r.cfg.MinFree = 1
	r.mu.Unlock()
	waitFor(t, 10*time.Second, "recording to resume", func() bool { return !r.Paused() })
	waitFor(t, 10*time.Second, "a segment after resuming", func() bool {
		m, _ := filepath.Glob(filepath.Join(dir, "guarded", "*", "*.mp4*"))
		return len(m) > 0
	})
	mu.Lock()
	defer mu.Unlock()
	var kinds []string
	for _, e := range events {
		kinds = append(kinds, e.Kind)
	}
	if !slices.Equal(kinds, []string{"recording.stopped", "recording.resumed"}) || !strings.Contains(events[0].Message, "free") {
		t.Errorf("events %v", events)
	}
}
