package cv

import (
	"errors"
	"fmt"
	"image"
	"image/color"
	"os"
	"path/filepath"
	"strings"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// ModelConfig describes a model: a Haar/LBP cascade, a YOLO network or
// NanoDet (the trained detector smarteye installs, see package
// vision/models). Models run in a worker process (see Remote): a
// malformed file can abort OpenCV, and must not abort smarteye.
type ModelConfig struct {
	// Kind is "cascade", "yolo" or "nanodet".
	Kind string `json:"kind"`

	// Cascade is the XML file of a Haar or LBP cascade (opencv-data ships
	// haarcascade_fullbody.xml, haarcascade_upperbody.xml, …).
	Cascade string `json:"cascade,omitempty"`
	// Class names what the cascade finds. It defaults to "person".
	Class string `json:"class,omitempty"`
	// MinSize is the smallest object in pixels (height). It defaults to 48.
	MinSize int `json:"min_size,omitempty"`

	// Config and Weights are a Darknet model (yolov3.cfg + .weights,
	// yolov3-tiny.cfg + .weights from Debian's darknet and its authors);
	// ONNX is a YOLOv5 or YOLOv8 export instead, or the NanoDet model.
	Config  string `json:"config,omitempty"`
	Weights string `json:"weights,omitempty"`
	ONNX    string `json:"onnx,omitempty"`
	// Layout is darknet, yolov5 or yolov8; it defaults to darknet for a
	// cfg+weights model and yolov8 for ONNX.
	Layout vision.Layout `json:"layout,omitempty"`
	// Names is the class names file (coco.names), one per line.
	Names string `json:"names,omitempty"`
	// Input is the network's square input size in pixels. It defaults to 416
	// for Darknet and NanoDet and 640 for a YOLO ONNX. NanoDet's input is
	// the longest side: a frame or region is scaled to fit it and the
	// network runs on the rectangle that holds it (16:9 at 416 is
	// 416×256), rounded up to a multiple of 32.
	Input int `json:"input,omitempty"`
	// Confidence and NMS are the score and overlap thresholds. They
	// default to 0.25 and 0.45 (YOLO), 0.25 and 0.6 (NanoDet).
	Confidence float64 `json:"confidence,omitempty"`
	NMS        float64 `json:"nms,omitempty"`
	// ClassConfidence sets the threshold of single classes (NanoDet). It
	// defaults to vision.DefaultClassConfidence.
	ClassConfidence map[string]float64 `json:"class_confidence,omitempty"`
	// Keep lists the classes to report; empty reports all (YOLO), or
	// people and road vehicles (NanoDet: vision.StreetClasses; "all"
	// reports all 80).
	Keep []string `json:"keep,omitempty"`
}

// Validate checks the configuration and that the files exist, without
// loading them (loading happens in the worker).
func (c *ModelConfig) Validate() error {
	exists := func(what, p string) error {
		if p == "" {
			return fmt.Errorf("%s: no file given", what)
		}
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("%s: %w", what, err)
		}
		if st.IsDir() {
			return fmt.Errorf("%s: %s is a directory", what, p)
		}
		return nil
	}
	switch c.Kind {
	case "cascade":
		return exists("cascade", c.Cascade)
	case "yolo":
		if c.ONNX != "" {
			if c.Config != "" || c.Weights != "" {
				return errors.New("yolo: give either onnx or config+weights, not both")
			}
			if err := exists("onnx", c.ONNX); err != nil {
				return err
			}
		} else {
			if err := exists("config", c.Config); err != nil {
				return err
			}
			if err := exists("weights", c.Weights); err != nil {
				return err
			}
			if err := checkWeights(c.Config, c.Weights); err != nil {
				return err
			}
		}
		switch c.Layout {
		case "", vision.LayoutDarknet, vision.LayoutV5, vision.LayoutV8:
		default:
			return fmt.Errorf("yolo: layout %q: want darknet, yolov5 or yolov8", c.Layout)
		}
		if c.Input != 0 && (c.Input < 32 || c.Input > 2048 || c.Input%32 != 0) {
			return fmt.Errorf("yolo: input %d: want a multiple of 32 between 32 and 2048", c.Input)
		}
		if c.Confidence < 0 || c.Confidence >= 1 || c.NMS < 0 || c.NMS > 1 {
			return errors.New("yolo: confidence must be in [0, 1) and nms in [0, 1]")
		}
		if c.Names != "" {
			return exists("names", c.Names)
		}
		return nil
	case "nanodet":
		if err := exists("onnx", c.ONNX); err != nil {
			return err
		}
		if c.Input != 0 && (c.Input < 64 || c.Input > 1280 || c.Input%32 != 0) {
			return fmt.Errorf("nanodet: input %d: want a multiple of 32 between 64 and 1280", c.Input)
		}
		if c.Confidence < 0 || c.Confidence >= 1 || c.NMS < 0 || c.NMS > 1 {
			return errors.New("nanodet: confidence must be in [0, 1) and nms in [0, 1]")
		}
		for k, v := range c.ClassConfidence {
			if !(v >= 0 && v <= 1) {
				return fmt.Errorf("nanodet: class_confidence %s: %v is outside 0..1", k, v)
			}
		}
		if c.Names != "" {
			return exists("names", c.Names)
		}
		return nil
	default:
		return fmt.Errorf("model kind %q: want cascade, yolo or nanodet", c.Kind)
	}
}

// checkWeights compares a Darknet weights file's size with what its cfg
// needs: OpenCV would run a network with a truncated file.
func checkWeights(cfg, weights string) error {
	f, err := os.Open(cfg)
	if err != nil {
		return fmt.Errorf("config: %w", err)
	}
	defer f.Close()
	params, err := vision.DarknetWeights(f)
	if errors.Is(err, vision.ErrUnsupportedLayer) {
		return nil // a newer layer type: OpenCV's reader decides (in the worker)
	}
	if err != nil {
		return fmt.Errorf("config %s: %w", cfg, err)
	}
	st, err := os.Stat(weights)
	if err != nil {
		return fmt.Errorf("weights: %w", err)
	}
	// A 16- or 20-byte header (version, images seen), then float32s.
	if need := 16 + 4*params; st.Size() < need {
		return fmt.Errorf("weights %s: %d bytes, but %s needs %d parameters (%d bytes): truncated or for another network",
			weights, st.Size(), filepath.Base(cfg), params, need+4)
	}
	return nil
}

func (c *ModelConfig) defaults() {
	if c.Class == "" {
		c.Class = "person"
	}
	if c.MinSize == 0 {
		c.MinSize = 48
	}
	if c.Layout == "" {
		c.Layout = vision.LayoutDarknet
		if c.ONNX != "" {
			c.Layout = vision.LayoutV8
		}
	}
	if c.Input == 0 {
		c.Input = 416
		if c.ONNX != "" && c.Kind == "yolo" {
			c.Input = 640
		}
	}
	if c.Kind == "nanodet" {
		if c.ClassConfidence == nil {
			c.ClassConfidence = vision.DefaultClassConfidence
		}
		switch {
		case len(c.Keep) == 0:
			c.Keep = vision.StreetClasses
		case len(c.Keep) == 1 && c.Keep[0] == "all":
			c.Keep = nil
		}
	}
}

// Name describes the model for logs and the API.
func (c *ModelConfig) Name() string {
	switch {
	case c.Kind == "cascade":
		return "cascade:" + filepath.Base(c.Cascade)
	case c.Kind == "nanodet":
		return "nanodet:" + filepath.Base(c.ONNX)
	case c.ONNX != "":
		return "yolo:" + filepath.Base(c.ONNX)
	default:
		return "yolo:" + filepath.Base(c.Config)
	}
}

// model is a loaded model, inside the worker process.
type model interface {
	// detect finds objects in img. in is the network input the caller
	// chose for img (NanoDet, see NetInput); zero means the model's own.
	detect(img gocv.Mat, in image.Point) ([]vision.Detection, error)
	close()
}

func loadModel(c ModelConfig) (model, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	c.defaults()
	switch c.Kind {
	case "cascade":
		cc := gocv.NewCascadeClassifier()
		if !cc.Load(c.Cascade) {
			cc.Close()
			return nil, fmt.Errorf("cascade %s: not a cascade OpenCV can load", c.Cascade)
		}
		return &cascade{cc: cc, cfg: c}, nil
	case "nanodet":
		return loadNanoDet(c)
	default:
		return loadYOLO(c)
	}
}

type cascade struct {
	cc  gocv.CascadeClassifier
	cfg ModelConfig
}

func (m *cascade) close() { m.cc.Close() }

func (m *cascade) detect(img gocv.Mat, _ image.Point) ([]vision.Detection, error) {
	grey := gocv.NewMat()
	defer grey.Close()
	gocv.CvtColor(img, &grey, gocv.ColorBGRToGray)
	gocv.EqualizeHist(grey, &grey)
	min := image.Pt(m.cfg.MinSize/2, m.cfg.MinSize)
	rects := m.cc.DetectMultiScaleWithParams(grey, 1.1, 3, 0, min, image.Point{})
	out := make([]vision.Detection, 0, len(rects))
	for _, r := range rects {
		// Cascades give no score; 0.5 marks "detected, confidence unknown".
		out = append(out, vision.Detection{Class: m.cfg.Class, Confidence: 0.5,
			Box: vision.Box{X: float64(r.Min.X), Y: float64(r.Min.Y), W: float64(r.Dx()), H: float64(r.Dy())}})
	}
	return out, nil
}

type yolo struct {
	net    gocv.Net
	cfg    ModelConfig
	names  []string
	layers []string
}

func loadYOLO(c ModelConfig) (model, error) {
	names, err := classNames(c.Names, nil)
	if err != nil {
		return nil, err
	}
	net, layers, err := loadNet(c)
	if err != nil {
		return nil, err
	}
	m := &yolo{net: net, cfg: c, names: names, layers: layers}
	// OpenCV reads some models lazily: a truncated weights file should
	// fail now, in the worker's start-up, not on the first camera frame.
	if err := trialRun(m, c); err != nil {
		return nil, err
	}
	return m, nil
}

// classNames reads a names file, or returns def when there is none.
func classNames(path string, def []string) ([]string, error) {
	if path == "" {
		return def, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := vision.ParseClassNames(f)
	if err != nil {
		return nil, fmt.Errorf("names %s: %w", path, err)
	}
	return names, nil
}

// loadNet reads c's network (ONNX, or a Darknet cfg and weights) for the
// CPU and names its output layers.
func loadNet(c ModelConfig) (gocv.Net, []string, error) {
	var net gocv.Net
	if c.ONNX != "" {
		net = gocv.ReadNetFromONNX(c.ONNX)
	} else {
		net = gocv.ReadNet(c.Weights, c.Config)
	}
	if net.Empty() {
		net.Close()
		return net, nil, fmt.Errorf("%s: OpenCV could not load the network", c.Name())
	}
	net.SetPreferableBackend(gocv.NetBackendOpenCV)
	net.SetPreferableTarget(gocv.NetTargetCPU)
	var layers []string
	for _, id := range net.GetUnconnectedOutLayers() {
		l := net.GetLayer(id)
		layers = append(layers, l.GetName())
		l.Close()
	}
	if len(layers) == 0 {
		net.Close()
		return net, nil, fmt.Errorf("%s: the network has no output layers", c.Name())
	}
	return net, layers, nil
}

// trialRun runs m once on a blank frame at load time, closing it when
// that fails: a broken or mismatched model fails in the worker's
// start-up, with the reason, not on the first camera frame.
func trialRun(m model, c ModelConfig) error {
	blank := gocv.NewMatWithSize(c.Input, c.Input, gocv.MatTypeCV8UC3)
	defer blank.Close()
	if _, err := m.detect(blank, image.Point{}); err != nil {
		m.close()
		return fmt.Errorf("%s: trial run: %w", c.Name(), err)
	}
	return nil
}

func (m *yolo) close() { m.net.Close() }

// detect letterboxes the frame into the network's square input (scale to
// fit, pad with grey), runs the network and decodes its outputs.
func (m *yolo) detect(img gocv.Mat, _ image.Point) ([]vision.Detection, error) {
	in := m.cfg.Input
	lb := vision.NewLetterbox(img.Cols(), img.Rows(), in, in)
	w, h := int(float64(img.Cols())*lb.Scale+0.5), int(float64(img.Rows())*lb.Scale+0.5)
	resized := gocv.NewMat()
	defer resized.Close()
	gocv.Resize(img, &resized, image.Pt(w, h), 0, 0, gocv.InterpolationLinear)
	padded := gocv.NewMat()
	defer padded.Close()
	top, left := int(lb.PadY), int(lb.PadX)
	gocv.CopyMakeBorder(resized, &padded, top, in-h-top, left, in-w-left, gocv.BorderConstant, color.RGBA{114, 114, 114, 0})
	blob := gocv.BlobFromImage(padded, 1.0/255, image.Pt(in, in), gocv.NewScalar(0, 0, 0, 0), true, false)
	defer blob.Close()
	m.net.SetInput(blob, "")
	outs := m.net.ForwardLayers(m.layers)
	defer func() {
		for _, o := range outs {
			o.Close()
		}
	}()
	var data [][]float32
	var shapes [][]int
	for _, o := range outs {
		f, err := o.DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("output: %w", err)
		}
		data = append(data, f)
		shapes = append(shapes, o.Size())
	}
	return vision.DecodeYOLOMulti(vision.YOLOParams{
		Layout: m.cfg.Layout, Letterbox: lb, Classes: m.names, Keep: m.cfg.Keep,
		Confidence: m.cfg.Confidence, NMS: m.cfg.NMS,
	}, data, shapes)
}

// describe is a short summary of a loaded model for the parent's log.
func describe(m model) string {
	switch m := m.(type) {
	case *yolo:
		return fmt.Sprintf("%s, %d classes, input %d, outputs %s", m.cfg.Layout, len(m.names), m.cfg.Input, strings.Join(m.layers, ","))
	case *cascade:
		return "cascade for " + m.cfg.Class
	case *nanodet:
		return fmt.Sprintf("nanodet, %d classes, input %d", len(m.names), m.cfg.Input)
	}
	return ""
}
