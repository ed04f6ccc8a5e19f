package vision

import (
	"bufio"
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Layout is the arrangement of a YOLO model's output tensor.
type Layout string

const (
	// LayoutDarknet is the output of OpenCV's Darknet region layer (YOLOv3,
	// YOLOv4): one or more blobs of shape [N, 5+C], rows of [cx, cy, w, h,
	// objectness, C class scores], coordinates normalised to 0..1 of the
	// network input. The region layer has already multiplied the class
	// scores by the objectness, so a class score is the confidence as is
	// (as OpenCV's object_detection sample reads it).
	LayoutDarknet Layout = "darknet"
	// LayoutV5 is YOLOv5's ONNX export: [1, N, 5+C], rows of [cx, cy, w,
	// h, objectness, C class scores] in network-input pixels; the
	// confidence is objectness × class score.
	LayoutV5 Layout = "yolov5"
	// LayoutV8 is YOLOv8's (and YOLO11's) ONNX export: [1, 4+C, N], the
	// transpose of rows of [cx, cy, w, h, C class scores] in network-input
	// pixels, without objectness.
	LayoutV8 Layout = "yolov8"
)

// Decoding defaults, applied to zero fields of YOLOParams.
const (
	// DefaultConfidence is Ultralytics' default conf.
	DefaultConfidence = 0.25
	// DefaultNMS is the IoU threshold of Darknet and of YOLOv5's detect.py.
	DefaultNMS = 0.45
)

const (
	// maxCandidates bounds the boxes that reach NMS, whose cost is
	// quadratic: an untrained or mis-declared model can put every one of
	// its 8400 anchors over the threshold. Ultralytics' max_nms is the
	// same.
	maxCandidates = 30000
	// maxClassNameLen is the longest line ParseClassNames accepts: class
	// names are words, a longer line is not a names file.
	maxClassNameLen = 200
	// minBoxSize, in frame pixels, drops degenerate boxes: no object is a
	// thousandth of a pixel wide, and at such sizes x+w rounds back to x
	// in frame coordinates, so IoU and NMS would see an empty box.
	minBoxSize = 1e-3
)

// Letterbox maps between frame pixels and network-input pixels when the
// frame was resized by a uniform Scale and centred on the network input,
// the rest padded: the preprocessing of YOLOv5 and later.
type Letterbox struct {
	Scale  float64 // network-input pixels per frame pixel
	PadX   float64 // network-input pixels left of the image
	PadY   float64 // network-input pixels above the image
	FrameW int     // frame pixels
	FrameH int
	InputW int // network-input pixels
	InputH int
}

// NewLetterbox returns the letterbox that fits a frameW×frameH frame into
// an inputW×inputH network input, padding split evenly. The padding may
// be a half pixel: a preprocessor that rounds it is off by at most that.
// With a size that is not positive the result has Scale 0 and DecodeYOLO
// rejects it.
func NewLetterbox(frameW, frameH, inputW, inputH int) Letterbox {
	l := Letterbox{FrameW: frameW, FrameH: frameH, InputW: inputW, InputH: inputH}
	if frameW <= 0 || frameH <= 0 || inputW <= 0 || inputH <= 0 {
		return l
	}
	l.Scale = min(float64(inputW)/float64(frameW), float64(inputH)/float64(frameH))
	l.PadX = (float64(inputW) - float64(frameW)*l.Scale) / 2
	l.PadY = (float64(inputH) - float64(frameH)*l.Scale) / 2
	return l
}

// ToFrame maps a box in network-input pixels to frame pixels, clipped to
// the frame: a box reaching into the padding ends at the frame's edge,
// one wholly in the padding has zero size. With a Scale that is not
// positive and finite it returns the zero Box.
func (l Letterbox) ToFrame(b Box) Box {
	if !(l.Scale > 0) || math.IsInf(l.Scale, 0) {
		return Box{}
	}
	fw, fh := float64(l.FrameW), float64(l.FrameH)
	x0 := clamp((b.X-l.PadX)/l.Scale, 0, fw)
	y0 := clamp((b.Y-l.PadY)/l.Scale, 0, fh)
	x1 := clamp((b.X+b.W-l.PadX)/l.Scale, 0, fw)
	y1 := clamp((b.Y+b.H-l.PadY)/l.Scale, 0, fh)
	return Box{X: x0, Y: y0, W: max(x1-x0, 0), H: max(y1-y0, 0)}
}

func (l Letterbox) validate() error {
	if l.FrameW <= 0 || l.FrameH <= 0 {
		return fmt.Errorf("letterbox: frame size %dx%d is not positive", l.FrameW, l.FrameH)
	}
	if l.InputW <= 0 || l.InputH <= 0 {
		return fmt.Errorf("letterbox: input size %dx%d is not positive", l.InputW, l.InputH)
	}
	if !(l.Scale > 0) || math.IsInf(l.Scale, 0) || !isFinite(l.PadX) || !isFinite(l.PadY) {
		return fmt.Errorf("letterbox: scale %v, padding %v, %v: want a positive scale and finite padding", l.Scale, l.PadX, l.PadY)
	}
	return nil
}

// YOLOParams describes a YOLO model's output and what to keep of it.
type YOLOParams struct {
	Layout    Layout
	Letterbox Letterbox
	// Classes are the class names by class index; a missing or empty name
	// becomes "class<N>".
	Classes []string
	// Keep are the class names to keep; empty keeps all.
	Keep []string
	// Confidence is the least confidence kept, 0..1. It defaults to 0.25.
	Confidence float64
	// NMS is the IoU above which the less confident of two boxes of one
	// class is dropped, 0..1. It defaults to 0.45.
	NMS float64
}

// decoder is YOLOParams checked, with defaults applied.
type decoder struct {
	YOLOParams
	keep map[string]bool // nil: keep all
}

func newDecoder(p YOLOParams) (*decoder, error) {
	switch p.Layout {
	case LayoutDarknet, LayoutV5, LayoutV8:
	default:
		return nil, fmt.Errorf("yolo: unknown layout %q (want %q, %q or %q)", p.Layout, LayoutDarknet, LayoutV5, LayoutV8)
	}
	if err := p.Letterbox.validate(); err != nil {
		return nil, fmt.Errorf("yolo: %w", err)
	}
	if p.Confidence == 0 {
		p.Confidence = DefaultConfidence
	}
	if p.NMS == 0 {
		p.NMS = DefaultNMS
	}
	if !(p.Confidence >= 0 && p.Confidence <= 1) {
		return nil, fmt.Errorf("yolo: confidence threshold %v is outside 0..1", p.Confidence)
	}
	if !(p.NMS > 0 && p.NMS <= 1) {
		return nil, fmt.Errorf("yolo: NMS threshold %v is outside 0..1", p.NMS)
	}
	d := &decoder{YOLOParams: p}
	if len(p.Keep) > 0 {
		d.keep = make(map[string]bool, len(p.Keep))
		for _, c := range p.Keep {
			d.keep[c] = true
		}
	}
	return d, nil
}

func (d *decoder) className(i int) string {
	if i < len(d.Classes) && d.Classes[i] != "" {
		return d.Classes[i]
	}
	return fmt.Sprintf("class%d", i)
}

// DecodeYOLO decodes one output tensor of shape shape: the boxes of at
// least the confidence threshold, of kept classes, mapped to frame
// pixels, after per-class NMS, most confident first. Boxes with NaN or
// infinite values, or that fall wholly in the letterbox padding (less
// than a thousandth of a pixel left after clipping), are skipped. A shape that does not fit len(out) or the layout is an error.
func DecodeYOLO(p YOLOParams, out []float32, shape []int) ([]Detection, error) {
	d, err := newDecoder(p)
	if err != nil {
		return nil, err
	}
	dets, err := d.decode(out, shape)
	if err != nil {
		return nil, err
	}
	return NMS(capCandidates(dets), d.NMS), nil
}

// DecodeYOLOMulti decodes a model with several output blobs (Darknet's
// YOLO layers, one per scale): NMS runs once over all of them, since the
// same object is often found at two scales.
func DecodeYOLOMulti(p YOLOParams, outs [][]float32, shapes [][]int) ([]Detection, error) {
	if len(outs) != len(shapes) {
		return nil, fmt.Errorf("yolo: %d outputs but %d shapes", len(outs), len(shapes))
	}
	d, err := newDecoder(p)
	if err != nil {
		return nil, err
	}
	var all []Detection
	for i := range outs {
		dets, err := d.decode(outs[i], shapes[i])
		if err != nil {
			return nil, fmt.Errorf("output %d: %w", i, err)
		}
		all = append(all, dets...)
	}
	return NMS(capCandidates(all), d.NMS), nil
}

// dims checks shape against n values and the layout and returns the
// number of boxes and of values per box. A leading batch dimension must
// be 1: one frame at a time.
func (d *decoder) dims(n int, shape []int) (boxes, attrs int, err error) {
	if len(shape) != 2 && len(shape) != 3 {
		return 0, 0, fmt.Errorf("yolo %s: shape %v: want 2 or 3 dimensions", d.Layout, shape)
	}
	for _, s := range shape {
		if s < 0 {
			return 0, 0, fmt.Errorf("yolo %s: shape %v: negative dimension", d.Layout, shape)
		}
	}
	s := shape
	if len(s) == 3 {
		if s[0] != 1 {
			return 0, 0, fmt.Errorf("yolo %s: shape %v: batch size %d, want 1", d.Layout, shape, s[0])
		}
		s = s[1:]
	}
	// Multiplying without overflow: a product that would exceed n cannot
	// match it.
	if (s[1] != 0 && s[0] > n/s[1]) || s[0]*s[1] != n {
		return 0, 0, fmt.Errorf("yolo %s: shape %v does not hold %d values", d.Layout, shape, n)
	}
	minAttrs := 6 // box, objectness and at least one class
	boxes, attrs = s[0], s[1]
	if d.Layout == LayoutV8 {
		minAttrs = 5 // box and at least one class
		boxes, attrs = s[1], s[0]
	}
	if attrs < minAttrs {
		return 0, 0, fmt.Errorf("yolo %s: shape %v: %d values per box, want at least %d", d.Layout, shape, attrs, minAttrs)
	}
	return boxes, attrs, nil
}

// decode returns the boxes of one tensor, before NMS.
func (d *decoder) decode(out []float32, shape []int) ([]Detection, error) {
	boxes, attrs, err := d.dims(len(out), shape)
	if err != nil {
		return nil, err
	}
	// Index of value a of box i: out[i*boxStride + a*attrStride].
	boxStride, attrStride, cls0 := attrs, 1, 5
	if d.Layout == LayoutV8 {
		boxStride, attrStride, cls0 = 1, boxes, 4
	}
	inW, inH := float64(d.Letterbox.InputW), float64(d.Letterbox.InputH)
	var dets []Detection
	for i := range boxes {
		base := i * boxStride
		at := func(a int) float64 { return float64(out[base+a*attrStride]) }
		// The class is the best-scoring one; NaN scores never win.
		best, score := -1, math.Inf(-1)
		for c := range attrs - cls0 {
			if s := at(cls0 + c); s > score {
				best, score = c, s
			}
		}
		if best < 0 {
			continue
		}
		if d.Layout == LayoutV5 {
			score *= at(4)
		}
		if !isFinite(score) || score < d.Confidence {
			continue
		}
		cx, cy, w, h := at(0), at(1), at(2), at(3)
		if d.Layout == LayoutDarknet {
			cx, cy, w, h = cx*inW, cy*inH, w*inW, h*inH
		}
		if !isFinite(cx) || !isFinite(cy) || !(w > 0) || !(h > 0) || math.IsInf(w, 0) || math.IsInf(h, 0) {
			continue
		}
		b := d.Letterbox.ToFrame(Box{X: cx - w/2, Y: cy - h/2, W: w, H: h})
		if !(b.W >= minBoxSize && b.H >= minBoxSize) {
			continue
		}
		name := d.className(best)
		if d.keep != nil && !d.keep[name] {
			continue
		}
		dets = append(dets, Detection{Class: name, Confidence: score, Box: b})
	}
	return dets, nil
}

// capCandidates keeps the maxCandidates most confident detections.
func capCandidates(dets []Detection) []Detection {
	if len(dets) <= maxCandidates {
		return dets
	}
	slices.SortStableFunc(dets, func(a, b Detection) int { return cmp.Compare(b.Confidence, a.Confidence) })
	return dets[:maxCandidates]
}

// NMS is greedy non-maximum suppression per class: going from the most
// confident detection down, a detection is dropped when its IoU with a
// kept one of the same class exceeds iou. The result is ordered by
// confidence, descending; equal confidences keep their input order, so
// the result does not depend on map or sort internals. dets is not
// modified.
func NMS(dets []Detection, iou float64) []Detection {
	return NMSBy(dets, iou, func(class string) string { return class })
}

// NMSBy is NMS where boxes suppress one another when group gives their
// classes the same key (NMSGroup merges the vehicle classes); the kept
// box keeps its own class.
func NMSBy(dets []Detection, iou float64, group func(class string) string) []Detection {
	if len(dets) == 0 {
		return nil
	}
	order := make([]int, len(dets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int {
		return cmp.Compare(dets[b].Confidence, dets[a].Confidence)
	})
	var kept []Detection
	byClass := map[string][]Box{}
	for _, i := range order {
		d := dets[i]
		key := group(d.Class)
		boxes := byClass[key]
		if slices.ContainsFunc(boxes, func(k Box) bool { return k.IoU(d.Box) > iou }) {
			continue
		}
		byClass[key] = append(boxes, d.Box)
		kept = append(kept, d)
	}
	return kept
}

// ParseClassNames reads class names, one per line, as in Darknet's
// coco.names: line N names class N-1. Surrounding whitespace is trimmed
// and empty lines at the end are ignored; an empty line before a name
// would shift every later class and is an error, as is a file without
// names, a line longer than 200 bytes, text that is not UTF-8 and control
// characters inside a name.
func ParseClassNames(r io.Reader) ([]string, error) {
	sc := bufio.NewScanner(r)
	// Room for a CRLF-terminated line of the maximum length; a longer one
	// stops the scanner with bufio.ErrTooLong.
	sc.Buffer(make([]byte, 0, 512), 4096)
	var names []string
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\ufeff")) // editors on Windows add a BOM
		}
		if len(b) > maxClassNameLen {
			return nil, fmt.Errorf("class names: line %d: longer than %d bytes", line, maxClassNameLen)
		}
		if !utf8.Valid(b) {
			return nil, fmt.Errorf("class names: line %d: not valid UTF-8", line)
		}
		name := strings.TrimSpace(string(b))
		// A lone CR or a NUL inside a name is a mangled or binary file,
		// and would end up in logs and JSON.
		if i := strings.IndexFunc(name, unicode.IsControl); i >= 0 {
			return nil, fmt.Errorf("class names: line %d: control character %q", line, name[i:i+1])
		}
		names = append(names, name)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("class names: line %d: longer than %d bytes", line+1, maxClassNameLen)
		}
		return nil, fmt.Errorf("class names: %w", err)
	}
	for len(names) > 0 && names[len(names)-1] == "" {
		names = names[:len(names)-1]
	}
	if len(names) == 0 {
		return nil, errors.New("class names: no names")
	}
	if i := slices.Index(names, ""); i >= 0 {
		return nil, fmt.Errorf("class names: line %d: empty name", i+1)
	}
	return names, nil
}

func clamp(v, lo, hi float64) float64 { return min(max(v, lo), hi) }
