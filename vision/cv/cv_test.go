package cv_test

import (
	"encoding/json"
	"fmt"
	"image"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"go.uber.org/goleak"
	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/vision/cv"
)

func TestMain(m *testing.M) {
	if cv.IsWorker() {
		os.Exit(cv.WorkerMain())
	}
	cv.SetThreads(1)
	code := m.Run()
	if n := openMats(); code == 0 && n > 0 {
		fmt.Fprintf(os.Stderr, "%d gocv Mats left open\n", n)
		code = 1
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// vtestFrames returns the first n frames of OpenCV's vtest.avi as raw BGR
// (decoded by ffmpeg) and the file holding them.
func vtestFrames(t *testing.T, n int) (frames [][]byte, file string) {
	return vtestFramesTB(t, n)
}

func vtestFramesTB(t testing.TB, n int) (frames [][]byte, file string) {
	t.Helper()
	src, ok := sim.Footage("")
	if !ok {
		t.Fatal("vtest.avi not found: run `make deps` (it extracts it from Debian's opencv-doc)")
	}
	file = filepath.Join(t.TempDir(), "frames.bgr")
	out, err := exec.Command("ffmpeg", "-v", "error", "-i", src, "-frames:v", strconv.Itoa(n), "-f", "rawvideo", "-pix_fmt", "bgr24", file).CombinedOutput()
	if err != nil {
		t.Fatalf("ffmpeg: %v\n%s", err, out)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	const size = 768 * 576 * 3
	for len(data) >= size {
		frames = append(frames, data[:size])
		data = data[size:]
	}
	if len(frames) != n {
		t.Fatalf("%d frames, want %d", len(frames), n)
	}
	return frames, file
}

// TestHOGMatchesOpenCV runs our HOG (with the copied coefficients) and
// OpenCV's own HOGDescriptor from Python on the same frames.
func TestHOGMatchesOpenCV(t *testing.T) {
	const n = 20
	frames, file := vtestFrames(t, n)
	out, err := exec.Command("/usr/bin/python3", "testdata/hog_baseline.py", file, "768", "576").Output()
	if err != nil {
		t.Fatalf("python baseline (Debian's python3-opencv): %v", err)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if len(lines) != n {
		t.Fatalf("baseline printed %d lines", len(lines))
	}

	hog, err := cv.NewHOG(cv.HOGParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	same, ours, theirs := 0, 0, 0
	for i, f := range frames {
		m, err := gocv.NewMatFromBytes(576, 768, gocv.MatTypeCV8UC3, f)
		if err != nil {
			t.Fatal(err)
		}
		dets, err := hog.Detect(m, image.Rectangle{})
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		var want [][4]int
		if err := json.Unmarshal([]byte(lines[i]), &want); err != nil {
			t.Fatal(err)
		}
		ours += len(dets)
		theirs += len(want)
		if len(dets) == len(want) {
			same++
		}
		for _, d := range dets {
			if d.Class != "person" || d.Confidence < 0.5 || d.Confidence > 1 || d.Box.H < 96 || d.Box.X+d.Box.W > 768+1 {
				t.Fatalf("frame %d: %v", i, d)
			}
		}
	}
	t.Logf("persons: ours %d, OpenCV's %d over %d frames; same count in %d frames", ours, theirs, n, same)
	// Same library, same parameters, same pixels: the same answer.
	if same < n*9/10 || ours < 2*n {
		t.Fatalf("ours %d vs %d persons, same count in only %d of %d frames", ours, theirs, same, n)
	}
}

func TestHOGRegionAndErrors(t *testing.T) {
	frames, _ := vtestFrames(t, 1)
	m, err := gocv.NewMatFromBytes(576, 768, gocv.MatTypeCV8UC3, frames[0])
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	hog, err := cv.NewHOG(cv.HOGParams{})
	if err != nil {
		t.Fatal(err)
	}
	defer hog.Close()
	all, err := hog.Detect(m, image.Rectangle{})
	if err != nil || len(all) == 0 {
		t.Fatalf("%v %v", all, err)
	}
	// A region around the first person finds a person there, in image coordinates.
	b := all[0].Box
	roi := image.Rect(int(b.X)-40, int(b.Y)-40, int(b.X+b.W)+40, int(b.Y+b.H)+40)
	in, err := hog.Detect(m, roi)
	if err != nil || len(in) == 0 {
		t.Fatalf("region %v: %v %v", roi, in, err)
	}
	if in[0].Box.IoU(b) < 0.5 {
		t.Fatalf("in region %v, whole image %v", in[0].Box, b)
	}
	// Regions smaller than the window find nothing, and do not fail.
	if d, err := hog.Detect(m, image.Rect(0, 0, 30, 30)); err != nil || len(d) != 0 {
		t.Fatalf("%v %v", d, err)
	}
	empty := gocv.NewMat()
	defer empty.Close()
	if _, err := hog.Detect(empty, image.Rectangle{}); err == nil {
		t.Fatal("empty image accepted")
	}
}
