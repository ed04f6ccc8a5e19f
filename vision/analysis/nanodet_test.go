package analysis_test

import (
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/analysis"
	"github.com/smarteye/smarteye/vision/cv"
	"github.com/smarteye/smarteye/vision/models"
)

func nanodetConfig(t *testing.T) *cv.ModelConfig {
	t.Helper()
	dir := models.DevDir()
	if !models.Installed(dir) {
		t.Fatalf("the NanoDet model is not installed in %s: run `make deps`", dir)
	}
	return &cv.ModelConfig{Kind: "nanodet", ONNX: models.Path(dir)}
}

// scaledCamera publishes vtest scaled to w×h, as a camera of that
// resolution would send it. The first 400 frames are encoded once and
// then looped as they are: a live 1080p encoder would take a core from
// the tests running beside this one.
func scaledCamera(t *testing.T, path string, w, h int) string {
	t.Helper()
	footage, _ := sim.Footage("")
	clip := filepath.Join(t.TempDir(), "clip.mkv")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", footage, "-frames:v", "400", "-vf", fmt.Sprintf("scale=%d:%d", w, h),
		"-an", "-c:v", "libx264", "-preset", "veryfast", "-g", "5", "-bf", "0", "-pix_fmt", "yuv420p", clip).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	return publish(t, path, false, &sim.Publisher{Source: clip, Copy: true})
}

// offlinePeople runs the model on every step-th of the first n frames
// of vtest scaled to w×h, whole, and a tracker as the analysis runs it,
// and returns the mean persons reported per frame after the first four.
func offlinePeople(t *testing.T, m *cv.ModelConfig, w, h, n, step int) float64 {
	t.Helper()
	footage, _ := sim.Footage("")
	file := filepath.Join(t.TempDir(), "frames.bgr")
	if out, err := exec.Command("ffmpeg", "-v", "error", "-i", footage, "-frames:v", fmt.Sprint(n),
		"-vf", fmt.Sprintf("scale=%d:%d", w, h), "-f", "rawvideo", "-pix_fmt", "bgr24", file).CombinedOutput(); err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	r, err := cv.NewRemote(*m, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	size := w * h * 3
	total, frames := 0, 0
	tr := vision.NewTracker(vision.TrackerConfig{MaxAge: 4 * time.Second,
		HighConfidence: analysis.DefaultHighConfidence, ConfirmConfidence: analysis.DefaultConfirmConfidence})
	for i := 0; (i+1)*size <= len(data); i += step {
		img, err := gocv.NewMatFromBytes(h, w, gocv.MatTypeCV8UC3, data[i*size:(i+1)*size])
		if err != nil {
			t.Fatal(err)
		}
		dets, err := r.Detect(img, image.Rectangle{})
		img.Close()
		if err != nil {
			t.Fatal(err)
		}
		res := tr.Update(time.Unix(0, 0).Add(time.Duration(i)*100*time.Millisecond), dets)
		if i/step < 4 {
			continue // as the pipeline's first frames, left out
		}
		for _, d := range res.Detections {
			if d.Class == "person" {
				total++
			}
		}
		frames++
	}
	return float64(total) / float64(frames)
}

// The live pipeline loses nothing the detector sees: over RTSP at 1080p
// and 720p, motion-gated as fixed cameras are by default (regions,
// scaling and carried tracks included), the persons per analysed frame
// stay within a band of the same model and tracker run offline on the
// same whole frames.
func TestNanoDetPipelineMatchesOffline(t *testing.T) {
	m := nanodetConfig(t)
	for _, size := range []image.Point{{1920, 1080}, {1280, 720}} {
		t.Run(fmt.Sprintf("%dp", size.Y), func(t *testing.T) {
			// The pipeline's first 20 s cover the clip's first 200 frames.
			want := offlinePeople(t, m, size.X, size.Y, 200, 5)
			url := scaledCamera(t, "street", size.X, size.Y)
			pool, err := analysis.NewPool(1, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer pool.Close()
			rec := &recorder{}
			a, _, stop := start(t, url, analysis.Config{Camera: "street", Detector: analysis.DetectorNanoDet, Model: m, Rate: 2}, pool, rec)
			waitFor(t, 3*time.Minute, "30 analysed frames", func() bool { return a.Stats().Analysed >= 30 })
			stop()
			frames, events := rec.snapshot()
			// The first frames warm the motion gate and confirm tracks.
			frames = frames[4:]
			total, carried := 0, 0
			ids := map[uint64]bool{}
			for _, f := range frames {
				if f.Width != size.X || f.Height != size.Y {
					t.Fatalf("frame %dx%d", f.Width, f.Height)
				}
				for _, d := range f.Detections {
					if d.Class == "person" {
						total++
						ids[d.TrackID] = true
					}
					if d.Carried {
						carried++
					}
				}
			}
			got := float64(total) / float64(len(frames))
			seen := float64(total-carried) / float64(len(frames))
			st := a.Stats()
			t.Logf("%dx%d: %.2f persons per analysed frame, %.2f of them seen in it, the rest carried (offline on whole frames: %.2f); %d tracks; %d region passes, %d whole-frame, %d gated; %.1f analysed frames/s of %.0f asked; %d events",
				size.X, size.Y, got, seen, want, len(ids), st.Regions, st.FullFrames, st.Gated, st.AnalysisFPS, st.Rate, len(events))
			// Nothing lost: with the people carried where the regions
			// did not look, at least as many as on whole frames. Nothing
			// made up: those seen in the frame no more than on whole
			// frames, and the carried ones a fraction.
			if got < 0.85*want || seen > 1.15*want || got > 1.4*want {
				t.Fatalf("%.2f persons per frame, %.2f seen: want at least 0.85×, seen at most 1.15× and all at most 1.4× the %.2f offline", got, seen, want)
			}
			if st.DetectErrors != 0 || st.Detector != "nanodet:"+filepath.Base(m.ONNX) {
				t.Fatalf("stats %+v", st)
			}
		})
	}
}
