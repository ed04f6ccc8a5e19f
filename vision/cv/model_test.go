package cv_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/telemetry/testkit"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

const (
	darknetCfg = "/usr/share/darknet/cfg/yolov3-tiny.cfg" // Debian's darknet
	cocoNames  = "/usr/share/darknet/data/coco.names"
	fullbody   = "/usr/share/opencv4/haarcascades/haarcascade_fullbody.xml" // Debian's opencv-data
)

func vtestMat(t *testing.T) gocv.Mat {
	t.Helper()
	frames, _ := vtestFrames(t, 1)
	m, err := gocv.NewMatFromBytes(576, 768, gocv.MatTypeCV8UC3, frames[0])
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// generatedWeights writes a Darknet weights file of small positive random
// values: enough for OpenCV to load yolov3-tiny and run it. It detects
// nothing meaningful, and the tests below only check shapes and timing.
func generatedWeights(t *testing.T) string {
	t.Helper()
	const floats = 9_000_000 // yolov3-tiny has 8.86 M parameters; the rest is ignored
	buf := make([]byte, 20+4*floats)
	binary.LittleEndian.PutUint32(buf[0:], 0) // major
	binary.LittleEndian.PutUint32(buf[4:], 2) // minor: a 64-bit "seen" follows
	binary.LittleEndian.PutUint32(buf[8:], 0) // revision
	r := rand.New(rand.NewPCG(7, 7))
	for i := 0; i < floats; i++ {
		binary.LittleEndian.PutUint32(buf[20+4*i:], math.Float32bits(0.001+0.01*r.Float32()))
	}
	p := filepath.Join(t.TempDir(), "generated.weights")
	if err := os.WriteFile(p, buf, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestYOLOWithGeneratedWeights(t *testing.T) {
	weights := generatedWeights(t)
	r, err := cv.NewRemote(cv.ModelConfig{Kind: "yolo", Config: darknetCfg, Weights: weights, Names: cocoNames, Input: 416, Confidence: 0.9}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if err := r.Start(); err != nil {
		t.Fatal(err)
	}
	info, err := r.Status()
	if err != nil || !strings.Contains(info, "80 classes") || !strings.Contains(info, "darknet") {
		t.Fatalf("status %q %v", info, err)
	}
	img := vtestMat(t)
	defer img.Close()
	start := time.Now()
	const runs = 3
	for range runs {
		dets, err := r.Detect(img, image.Rectangle{})
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range dets {
			if d.Box.X < 0 || d.Box.Y < 0 || d.Box.X+d.Box.W > 768.01 || d.Box.Y+d.Box.H > 576.01 {
				t.Fatalf("box outside the frame: %v", d)
			}
		}
	}
	t.Logf("yolov3-tiny 416 (generated weights, timing only): %s per frame including the pipe", time.Since(start)/runs)
}

func TestCascade(t *testing.T) {
	r, err := cv.NewRemote(cv.ModelConfig{Kind: "cascade", Cascade: fullbody, MinSize: 64}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img := vtestMat(t)
	defer img.Close()
	dets, err := r.Detect(img, image.Rectangle{})
	if err != nil {
		t.Fatal(err)
	}
	// A region offsets the boxes into the frame's coordinates.
	roi := image.Rect(300, 100, 768, 576)
	in, err := r.Detect(img, roi)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range in {
		if d.Box.X < 300 || d.Box.Y < 100 || d.Class != "person" {
			t.Fatalf("region detection %v", d)
		}
	}
	t.Logf("full-body cascade: %d in the frame, %d in %v", len(dets), len(in), roi)
	checkWorkerNice(t, r)
}

// checkWorkerNice: a worker runs below the live video's priority, every
// one of its threads (OpenCV's included) at WorkerNice, and this process
// is not reniced.
func checkWorkerNice(t *testing.T, r *cv.Remote) {
	t.Helper()
	pid := cv.WorkerPID(r)
	tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	if err != nil || len(tasks) < 2 {
		t.Fatalf("worker %d threads: %v %v", pid, tasks, err)
	}
	for _, task := range tasks {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
		if err != nil {
			t.Fatal(err)
		}
		// The fields after the command's closing parenthesis: state is
		// the 3rd field of stat, nice the 19th.
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if nice := f[19-3]; nice != strconv.Itoa(cv.WorkerNice) {
			t.Fatalf("worker thread %s runs at nice %s, want %d", task.Name(), nice, cv.WorkerNice)
		}
	}
	if p, _ := syscall.Getpriority(syscall.PRIO_PROCESS, 0); 20-p != 0 {
		t.Fatalf("the test process itself was reniced to %d", 20-p)
	}
}

// Broken models: a clear error, and the process (this test) lives on.
func TestBrokenModels(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	garbageONNX := write("model.onnx", strings.Repeat("\x08\x07not a protobuf at all\xff", 100))
	truncatedWeights := write("short.weights", "\x00\x00\x00\x00\x02\x00\x00\x00")
	notXML := write("cascade.xml", "<?xml version=\"1.0\"?><opencv_storage><cascade>garbage")
	// Counts as a network with weights of the right size, but its yolo
	// layer's mask points past its anchors: OpenCV's reader throws.
	badCfg := write("bad.cfg", "[net]\nwidth=416\nheight=416\nchannels=3\n[convolutional]\nfilters=255\nsize=1\n[yolo]\nmask=7\nanchors=10,14\nclasses=80\nnum=1\n")
	badWeights := write("bad.weights", strings.Repeat("\x00", 20+4*(255+255*3)))

	for _, tc := range []struct {
		name string
		cfg  cv.ModelConfig
		want string
	}{
		{"garbage onnx", cv.ModelConfig{Kind: "yolo", ONNX: garbageONNX}, "yolo:model.onnx"},
		{"bad cfg", cv.ModelConfig{Kind: "yolo", Config: badCfg, Weights: badWeights}, "yolo:bad.cfg"},
		{"not a cascade", cv.ModelConfig{Kind: "cascade", Cascade: notXML}, "cascade:cascade.xml"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := cv.NewRemote(tc.cfg, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			err = r.Start()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("start: %v, want an error naming %q", err, tc.want)
			}
			t.Logf("%v", err)
			// Until the backoff passes, Detect answers at once with the reason.
			img := gocv.NewMatWithSize(64, 64, gocv.MatTypeCV8UC3)
			defer img.Close()
			_, err = r.Detect(img, image.Rectangle{})
			if !errors.Is(err, cv.ErrWorkerDown) {
				t.Fatalf("detect: %v", err)
			}
		})
	}

	// Configurations rejected before any worker starts.
	for _, c := range []cv.ModelConfig{
		{Kind: "magic"},
		{Kind: "yolo", ONNX: filepath.Join(dir, "missing.onnx")},
		{Kind: "yolo", ONNX: garbageONNX, Config: darknetCfg},
		{Kind: "yolo", Config: darknetCfg, Weights: truncatedWeights, Layout: "yolov9"},
		{Kind: "yolo", Config: darknetCfg, Weights: truncatedWeights, Input: 100},
		{Kind: "cascade", Cascade: dir},
		{Kind: "yolo", Config: darknetCfg, Weights: truncatedWeights}, // truncated: OpenCV would run it on garbage
	} {
		if _, err := cv.NewRemote(c, 0, nil); err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// A worker that dies mid-stream is reported and restarted.
func TestWorkerCrashRestarts(t *testing.T) {
	r, err := cv.NewRemote(cv.ModelConfig{Kind: "cascade", Cascade: fullbody}, 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	img := vtestMat(t)
	defer img.Close()
	if _, err := r.Detect(img, image.Rectangle{}); err != nil {
		t.Fatal(err)
	}
	if err := cv.KillWorker(r); err != nil {
		t.Fatal(err)
	}
	_, err = r.Detect(img, image.Rectangle{})
	if err == nil || !strings.Contains(err.Error(), "model worker failed while detecting") {
		t.Fatalf("after the kill: %v", err)
	}
	if r.Crashes() != 1 {
		t.Fatalf("crashes %d", r.Crashes())
	}
	testkit.WaitFor(t, 10*time.Second, "the worker restarted and detecting", func() bool {
		_, err := r.Detect(img, image.Rectangle{})
		return err == nil
	})
}

func TestMotion(t *testing.T) {
	frames, _ := vtestFrames(t, 30)
	m := cv.NewMotion(cv.MotionParams{})
	defer m.Close()
	var moving int
	for i, f := range frames {
		img, err := gocv.NewMatFromBytes(576, 768, gocv.MatTypeCV8UC3, f)
		if err != nil {
			t.Fatal(err)
		}
		regions, frac := m.Detect(img)
		img.Close()
		if i >= 10 && len(regions) > 0 {
			moving++
		}
		if frac < 0 || frac > 1 {
			t.Fatalf("fraction %v", frac)
		}
		for _, r := range regions {
			if !r.In(image.Rect(0, 0, 768, 576)) {
				t.Fatalf("region %v outside the frame", r)
			}
		}
	}
	// People walk through every frame of vtest.
	if !m.Warm() || moving < 15 {
		t.Fatalf("motion in %d of 20 warm frames", moving)
	}

	// A still scene: nothing moves once the background is learnt.
	still := gocv.NewMatWithSize(480, 640, gocv.MatTypeCV8UC3)
	defer still.Close()
	s := cv.NewMotion(cv.MotionParams{})
	defer s.Close()
	var regions []image.Rectangle
	for range 20 {
		regions, _ = s.Detect(still)
	}
	if len(regions) != 0 {
		t.Fatalf("still scene moves: %v", regions)
	}
}

func TestAnalysisRegions(t *testing.T) {
	frame := image.Rect(0, 0, 768, 576)
	win := image.Pt(64, 128)
	for _, tc := range []struct {
		name string
		in   []image.Rectangle
		want int // regions out; -1: the whole frame
	}{
		{"none", nil, 0},
		{"one small grows to the window", []image.Rectangle{image.Rect(100, 100, 110, 110)}, 1},
		{"two overlapping merge", []image.Rectangle{image.Rect(100, 100, 140, 200), image.Rect(130, 150, 170, 260)}, 1},
		{"two apart", []image.Rectangle{image.Rect(10, 10, 40, 80), image.Rect(600, 400, 640, 480)}, 2},
		{"most of the frame", []image.Rectangle{image.Rect(0, 0, 700, 500)}, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := cv.AnalysisRegions(tc.in, frame, win, 0.25, 0.6)
			if tc.want == -1 {
				if len(got) != 1 || got[0] != frame {
					t.Fatalf("%v", got)
				}
				return
			}
			if len(got) != tc.want {
				t.Fatalf("%v", got)
			}
			for _, g := range got {
				if g.Dx() < win.X || g.Dy() < win.Y || !g.In(frame) {
					t.Fatalf("region %v: smaller than the window or outside", g)
				}
			}
		})
	}
}

// ONNX networks in both YOLO output layouts, built with generated weights:
// they load, run, and their outputs decode into boxes inside the frame.
func TestYOLOONNXLayouts(t *testing.T) {
	img := vtestMat(t)
	defer img.Close()
	for _, layout := range []string{"yolov5", "yolov8"} {
		t.Run(layout, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), layout+".onnx")
			if out, err := exec.Command("/usr/bin/python3", "testdata/make_onnx.py", layout, "256", file).CombinedOutput(); err != nil {
				t.Fatalf("make_onnx.py (Debian's python3-onnx): %v\n%s", err, out)
			}
			r, err := cv.NewRemote(cv.ModelConfig{Kind: "yolo", ONNX: file, Layout: vision.Layout(layout), Input: 256, Names: cocoNames, Confidence: 0.5}, 0, nil)
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Start(); err != nil {
				t.Fatal(err)
			}
			info, _ := r.Status()
			if !strings.Contains(info, layout) || !strings.Contains(info, "80 classes") {
				t.Fatalf("status %q", info)
			}
			start := time.Now()
			dets, err := r.Detect(img, image.Rectangle{})
			if err != nil {
				t.Fatal(err)
			}
			// Generated outputs: boxes spread over the input with high
			// scores, decoded, mapped back through the letterbox and clipped.
			if len(dets) == 0 {
				t.Fatal("no box decoded from the generated outputs")
			}
			for _, d := range dets {
				if d.Box.X < 0 || d.Box.Y < 0 || d.Box.X+d.Box.W > 768.01 || d.Box.Y+d.Box.H > 576.01 || d.Confidence < 0.5 || d.Class == "" {
					t.Fatalf("detection %v", d)
				}
			}
			t.Logf("%s: %d boxes from generated weights in %s (shapes and timing only)", layout, len(dets), time.Since(start))
		})
	}
}
