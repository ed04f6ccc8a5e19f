package vision

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// row is one box of a synthetic YOLO output in network-input pixels,
// whatever the layout; tensor lays it out.
type row struct {
	cx, cy, w, h float32
	obj          float32 // objectness; yolov8 has none
	scores       []float32
}

// tensor lays rows out as layout does: Darknet normalises the coordinates
// to the input size, YOLOv8 transposes.
func tensor(layout Layout, lb Letterbox, nc int, rows []row) ([]float32, []int) {
	attrs := 5 + nc
	if layout == LayoutV8 {
		attrs = 4 + nc
	}
	n := len(rows)
	out := make([]float32, n*attrs)
	for i, r := range rows {
		vals := []float32{r.cx, r.cy, r.w, r.h}
		if layout == LayoutDarknet {
			iw, ih := float32(lb.InputW), float32(lb.InputH)
			vals = []float32{r.cx / iw, r.cy / ih, r.w / iw, r.h / ih}
		}
		if layout != LayoutV8 {
			vals = append(vals, r.obj)
		}
		vals = append(vals, r.scores...)
		for a, v := range vals {
			if layout == LayoutV8 {
				out[a*n+i] = v
			} else {
				out[i*attrs+a] = v
			}
		}
	}
	switch layout {
	case LayoutDarknet:
		return out, []int{n, attrs}
	case LayoutV5:
		return out, []int{1, n, attrs}
	default:
		return out, []int{1, attrs, n}
	}
}

// truthRow is the row that a model would output for an object of class
// with confidence conf at box, in frame pixels.
func truthRow(layout Layout, lb Letterbox, nc, class int, conf float64, box Box) row {
	r := row{
		cx: float32(box.X*lb.Scale + lb.PadX + box.W*lb.Scale/2),
		cy: float32(box.Y*lb.Scale + lb.PadY + box.H*lb.Scale/2),
		w:  float32(box.W * lb.Scale),
		h:  float32(box.H * lb.Scale),
		// Darknet's scores already include the objectness; YOLOv5's
		// are multiplied by it.
		obj:    0.9,
		scores: make([]float32, nc),
	}
	for c := range r.scores {
		r.scores[c] = 0.01
	}
	r.scores[class] = float32(conf)
	if layout == LayoutV5 {
		r.obj = 0.8
		r.scores[class] = float32(conf / 0.8)
	}
	return r
}

// diffDets describes how got differs from want ("" when it does not),
// boxes compared within 1e-3 pixels.
func diffDets(got, want []Detection) string {
	if len(got) != len(want) {
		return fmt.Sprintf("%d detections %v, want %d %v", len(got), got, len(want), want)
	}
	for i := range got {
		g, w := got[i], want[i]
		near := func(a, b float64) bool { return math.Abs(a-b) <= 1e-3 }
		if g.Class != w.Class || !near(g.Confidence, w.Confidence) ||
			!near(g.Box.X, w.Box.X) || !near(g.Box.Y, w.Box.Y) || !near(g.Box.W, w.Box.W) || !near(g.Box.H, w.Box.H) {
			return fmt.Sprintf("detection %d = %v %+v, want %v %+v", i, g, g.Box, w, w.Box)
		}
	}
	return ""
}

var testClasses = []string{"person", "bicycle", "car", "motorbike"} // 6 in the tensors: 4 and 5 unnamed

func TestDecodeYOLOLayouts(t *testing.T) {
	type truth struct {
		class int
		conf  float64
		box   Box // frame pixels
	}
	// Inside a 576×576 square, so they fit both orientations; the dog
	// touches the frame's left edge and a 576-high frame's bottom.
	truths := []truth{
		{0, 0.9, Box{100, 200, 50, 120}},
		{2, 0.8, Box{350, 300, 200, 100}},
		{0, 0.7, Box{500, 100, 40, 90}},
		{5, 0.6, Box{300, 50, 80, 80}},
		{4, 0.55, Box{0, 500, 60, 76}},
	}
	sizes := []struct{ fw, fh, iw, ih int }{
		{768, 576, 640, 640},
		{768, 576, 416, 416},
		{576, 768, 640, 640},
		{1280, 720, 640, 384},
	}
	for _, layout := range []Layout{LayoutDarknet, LayoutV5, LayoutV8} {
		for _, sz := range sizes {
			name := fmt.Sprintf("%s %dx%d in %dx%d", layout, sz.fw, sz.fh, sz.iw, sz.ih)
			t.Run(name, func(t *testing.T) {
				lb := NewLetterbox(sz.fw, sz.fh, sz.iw, sz.ih)
				var rows []row
				var want []Detection
				for i, tr := range truths {
					rows = append(rows, truthRow(layout, lb, 6, tr.class, tr.conf, tr.box))
					// Background rows below the threshold between the objects.
					bg := truthRow(layout, lb, 6, i, 0.1, Box{10, 10, 30, 30})
					rows = append(rows, bg)
					want = append(want, Detection{Class: []string{"person", "bicycle", "car", "motorbike", "class4", "class5"}[tr.class], Confidence: tr.conf, Box: tr.box})
				}
				out, shape := tensor(layout, lb, 6, rows)
				got, err := DecodeYOLO(YOLOParams{Layout: layout, Letterbox: lb, Classes: testClasses}, out, shape)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffDets(got, want); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestDecodeYOLOFilters(t *testing.T) {
	square := NewLetterbox(640, 640, 640, 640) // frame pixels = input pixels
	scores := func(s ...float32) []float32 { return append(s, make([]float32, 4-len(s))...) }
	det := func(class string, conf float64, x, y, w, h float64) Detection {
		return Detection{Class: class, Confidence: conf, Box: Box{x, y, w, h}}
	}
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	cases := []struct {
		name   string
		params YOLOParams // Layout defaults to yolov8, Letterbox to square
		rows   []row
		want   []Detection
	}{
		{"default confidence", YOLOParams{}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(0.2)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(0.3)},
			{cx: 500, cy: 100, w: 20, h: 20, scores: scores(0.25)},
		}, []Detection{det("person", 0.3, 290, 90, 20, 20), det("person", 0.25, 490, 90, 20, 20)}},
		{"custom confidence", YOLOParams{Confidence: 0.5}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(0.45)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(0, 0.5)},
		}, []Detection{det("bicycle", 0.5, 290, 90, 20, 20)}},
		{"keep", YOLOParams{Keep: []string{"car", "motorbike"}}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(0.9)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(0, 0, 0.8)},
			{cx: 500, cy: 100, w: 20, h: 20, scores: scores(0, 0, 0, 0.7)},
		}, []Detection{det("car", 0.8, 290, 90, 20, 20), det("motorbike", 0.7, 490, 90, 20, 20)}},
		{"best class decides before keep", YOLOParams{Keep: []string{"person"}}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(0.5, 0.6)},
		}, nil},
		{"class names missing or empty", YOLOParams{Classes: []string{"person", ""}}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(0, 0.9)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(0, 0, 0.8)},
		}, []Detection{det("class1", 0.9, 90, 90, 20, 20), det("class2", 0.8, 290, 90, 20, 20)}},
		{"yolov5 objectness multiplies", YOLOParams{Layout: LayoutV5}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, obj: 0.5, scores: scores(0.6)},
			{cx: 300, cy: 100, w: 20, h: 20, obj: 0.4, scores: scores(0.6)},
		}, []Detection{det("person", 0.3, 90, 90, 20, 20)}},
		{"darknet scores include objectness", YOLOParams{Layout: LayoutDarknet}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, obj: 0.1, scores: scores(0.5)},
		}, []Detection{det("person", 0.5, 90, 90, 20, 20)}},
		{"non-finite and empty boxes skipped", YOLOParams{}, []row{
			{cx: nan, cy: 100, w: 20, h: 20, scores: scores(0.9)},
			{cx: 100, cy: inf, w: 20, h: 20, scores: scores(0.9)},
			{cx: 100, cy: 100, w: inf, h: 20, scores: scores(0.9)},
			{cx: 100, cy: 100, w: 20, h: nan, scores: scores(0.9)},
			{cx: 100, cy: 100, w: -20, h: 20, scores: scores(0.9)},
			{cx: 100, cy: 100, w: 20, h: 0, scores: scores(0.9)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(0.8)},
		}, []Detection{det("person", 0.8, 290, 90, 20, 20)}},
		{"non-finite scores", YOLOParams{}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, scores: scores(nan, 0.7)},
			{cx: 300, cy: 100, w: 20, h: 20, scores: scores(inf)},
			{cx: 500, cy: 100, w: 20, h: 20, scores: scores(nan, nan, nan, nan)},
		}, []Detection{det("bicycle", 0.7, 90, 90, 20, 20)}},
		{"yolov5 non-finite objectness", YOLOParams{Layout: LayoutV5}, []row{
			{cx: 100, cy: 100, w: 20, h: 20, obj: nan, scores: scores(0.9)},
			{cx: 300, cy: 100, w: 20, h: 20, obj: inf, scores: scores(0.9)},
		}, nil},
		// 768×576 in 640×640: the image spans input y 80..560.
		{"padding", YOLOParams{Letterbox: NewLetterbox(768, 576, 640, 640)}, []row{
			{cx: 100, cy: 40, w: 20, h: 40, scores: scores(0.9)},  // wholly in the top padding
			{cx: 300, cy: 80, w: 20, h: 40, scores: scores(0.8)},  // half in it: clipped
			{cx: 500, cy: 600, w: 20, h: 20, scores: scores(0.7)}, // in the bottom padding
			{cx: 630, cy: 300, w: 40, h: 20, scores: scores(0.6)}, // past the right edge: clipped
		}, []Detection{det("person", 0.8, 348, 0, 24, 24), det("person", 0.6, 732, 252, 36, 24)}},
	}
	for _, c := range cases {
		for _, layout := range []Layout{LayoutDarknet, LayoutV5, LayoutV8} {
			if c.params.Layout != "" && c.params.Layout != layout {
				continue
			}
			t.Run(c.name+"/"+string(layout), func(t *testing.T) {
				p := c.params
				p.Layout = layout
				if p.Letterbox == (Letterbox{}) {
					p.Letterbox = square
				}
				if p.Classes == nil {
					p.Classes = testClasses
				}
				rows := slices.Clone(c.rows)
				if c.params.Layout == "" && layout != LayoutV8 {
					for i := range rows {
						rows[i].obj = 1 // neutral objectness
					}
				}
				out, shape := tensor(layout, p.Letterbox, 4, rows)
				got, err := DecodeYOLO(p, out, shape)
				if err != nil {
					t.Fatal(err)
				}
				if d := diffDets(got, c.want); d != "" {
					t.Error(d)
				}
			})
		}
	}
}

func TestDecodeYOLONMS(t *testing.T) {
	lb := NewLetterbox(640, 640, 640, 640)
	rows := []row{
		{cx: 100, cy: 100, w: 40, h: 40, scores: []float32{0.7, 0}},
		{cx: 104, cy: 102, w: 40, h: 40, scores: []float32{0.9, 0}}, // same person, more confident
		{cx: 102, cy: 100, w: 40, h: 40, scores: []float32{0, 0.6}}, // a bicycle under them
		{cx: 300, cy: 100, w: 40, h: 40, scores: []float32{0.5, 0}}, // another person
	}
	out, shape := tensor(LayoutV8, lb, 2, rows)
	got, err := DecodeYOLO(YOLOParams{Layout: LayoutV8, Letterbox: lb, Classes: testClasses}, out, shape)
	if err != nil {
		t.Fatal(err)
	}
	want := []Detection{
		{Class: "person", Confidence: 0.9, Box: Box{84, 82, 40, 40}},
		{Class: "bicycle", Confidence: 0.6, Box: Box{82, 80, 40, 40}},
		{Class: "person", Confidence: 0.5, Box: Box{280, 80, 40, 40}},
	}
	if d := diffDets(got, want); d != "" {
		t.Error(d)
	}
}

func TestNMS(t *testing.T) {
	d := func(class string, conf, x float64) Detection {
		return Detection{Class: class, Confidence: conf, Box: Box{X: x, Y: 0, W: 10, H: 10}}
	}
	cases := []struct {
		name string
		dets []Detection
		iou  float64
		want []Detection
	}{
		{"empty", nil, 0.45, nil},
		{"overlapping, same class", []Detection{d("car", 0.6, 0), d("car", 0.9, 1)}, 0.45, []Detection{d("car", 0.9, 1)}},
		{"overlapping, other classes", []Detection{d("car", 0.6, 0), d("truck", 0.9, 1)}, 0.45, []Detection{d("truck", 0.9, 1), d("car", 0.6, 0)}},
		{"apart, same class", []Detection{d("car", 0.6, 0), d("car", 0.9, 50)}, 0.45, []Detection{d("car", 0.9, 50), d("car", 0.6, 0)}},
		// x 0, 5, 10: IoU 1/3 between neighbours, 0 between the ends.
		{"chain keeps both ends", []Detection{d("car", 0.9, 0), d("car", 0.8, 5), d("car", 0.7, 10)}, 0.3, []Detection{d("car", 0.9, 0), d("car", 0.7, 10)}},
		{"IoU at the threshold is kept", []Detection{d("car", 0.9, 0), d("car", 0.8, 5)}, 1.0 / 3, []Detection{d("car", 0.9, 0), d("car", 0.8, 5)}},
		{"ties keep input order", []Detection{d("car", 0.5, 1), d("car", 0.5, 0)}, 0.45, []Detection{d("car", 0.5, 1)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := slices.Clone(c.dets)
			got := NMS(in, c.iou)
			if !slices.Equal(got, c.want) {
				t.Errorf("NMS = %v, want %v", got, c.want)
			}
			if !slices.Equal(in, c.dets) {
				t.Errorf("NMS modified its input: %v", in)
			}
		})
	}
}

func TestDecodeYOLOErrors(t *testing.T) {
	lb := NewLetterbox(768, 576, 640, 640)
	cases := []struct {
		name   string
		params YOLOParams
		n      int // len(out)
		shape  []int
		want   string
	}{
		{"unknown layout", YOLOParams{Layout: "yolov9"}, 85, []int{1, 85}, `yolo: unknown layout "yolov9"`},
		{"no letterbox", YOLOParams{Layout: LayoutV8, Letterbox: Letterbox{}}, 84, []int{1, 84, 1}, "letterbox: frame size 0x0"},
		{"letterbox without scale", YOLOParams{Layout: LayoutV8, Letterbox: Letterbox{FrameW: 1, FrameH: 1, InputW: 1, InputH: 1}}, 84, []int{1, 84, 1}, "want a positive scale"},
		{"letterbox of a zero frame", YOLOParams{Layout: LayoutV8, Letterbox: NewLetterbox(0, 576, 640, 640)}, 84, []int{1, 84, 1}, "frame size 0x576"},
		{"confidence above 1", YOLOParams{Layout: LayoutV8, Letterbox: lb, Confidence: 1.5}, 84, []int{1, 84, 1}, "confidence threshold 1.5 is outside 0..1"},
		{"NaN NMS", YOLOParams{Layout: LayoutV8, Letterbox: lb, NMS: math.NaN()}, 84, []int{1, 84, 1}, "NMS threshold NaN"},
		{"one dimension", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 85, []int{85}, "want 2 or 3 dimensions"},
		{"four dimensions", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 85, []int{1, 1, 1, 85}, "want 2 or 3 dimensions"},
		{"no shape", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 0, nil, "want 2 or 3 dimensions"},
		{"batch of two", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 170, []int{2, 1, 85}, "batch size 2, want 1"},
		{"negative dimension", YOLOParams{Layout: LayoutV8, Letterbox: lb}, 84, []int{1, -84, -1}, "negative dimension"},
		{"too few values", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 84, []int{1, 1, 85}, "does not hold 84 values"},
		{"too many values", YOLOParams{Layout: LayoutDarknet, Letterbox: lb}, 86, []int{1, 85}, "does not hold 86 values"},
		{"overflowing shape", YOLOParams{Layout: LayoutV8, Letterbox: lb}, 84, []int{1, 1 << 62, 1 << 62}, "does not hold 84 values"},
		{"overflowing to the length", YOLOParams{Layout: LayoutV8, Letterbox: lb}, 0, []int{1, 1 << 32, 1 << 32}, "does not hold 0 values"},
		{"yolov5 without classes", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 5, []int{1, 1, 5}, "5 values per box, want at least 6"},
		{"darknet without classes", YOLOParams{Layout: LayoutDarknet, Letterbox: lb}, 0, []int{0, 0}, "0 values per box, want at least 6"},
		{"yolov8 without classes", YOLOParams{Layout: LayoutV8, Letterbox: lb}, 8, []int{1, 4, 2}, "4 values per box, want at least 5"},
		// A YOLOv8 tensor declared as YOLOv5 has 8400 values per box.
		{"yolov8 read as yolov5, wrong length", YOLOParams{Layout: LayoutV5, Letterbox: lb}, 84 * 8400, []int{1, 8400, 85}, "does not hold 705600 values"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeYOLO(c.params, make([]float32, c.n), c.shape)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("DecodeYOLO = %v, %v; want an error containing %q", got, err, c.want)
			}
		})
	}
}

func TestDecodeYOLOEmpty(t *testing.T) {
	lb := NewLetterbox(768, 576, 640, 640)
	cases := []struct {
		name   string
		layout Layout
		shape  []int
	}{
		{"darknet, no rows", LayoutDarknet, []int{0, 85}},
		{"yolov5, no rows", LayoutV5, []int{1, 0, 85}},
		{"yolov5 without batch", LayoutV5, []int{0, 85}},
		{"yolov8, no boxes", LayoutV8, []int{1, 84, 0}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := DecodeYOLO(YOLOParams{Layout: c.layout, Letterbox: lb}, nil, c.shape)
			if err != nil || len(got) != 0 {
				t.Errorf("DecodeYOLO = %v, %v; want nothing", got, err)
			}
		})
	}
}

func TestDecodeYOLOMulti(t *testing.T) {
	lb := NewLetterbox(768, 576, 416, 416)
	p := YOLOParams{Layout: LayoutDarknet, Letterbox: lb, Classes: testClasses}
	// The same person found at two scales, a car at one.
	person := Box{100, 200, 50, 120}
	a, as := tensor(LayoutDarknet, lb, 4, []row{
		truthRow(LayoutDarknet, lb, 4, 0, 0.7, person),
	})
	b, bs := tensor(LayoutDarknet, lb, 4, []row{
		truthRow(LayoutDarknet, lb, 4, 0, 0.8, Box{102, 198, 50, 122}),
		truthRow(LayoutDarknet, lb, 4, 2, 0.6, Box{400, 300, 120, 80}),
	})
	got, err := DecodeYOLOMulti(p, [][]float32{a, b}, [][]int{as, bs})
	if err != nil {
		t.Fatal(err)
	}
	want := []Detection{
		{Class: "person", Confidence: 0.8, Box: Box{102, 198, 50, 122}},
		{Class: "car", Confidence: 0.6, Box: Box{400, 300, 120, 80}},
	}
	if d := diffDets(got, want); d != "" {
		t.Error(d)
	}

	errs := []struct {
		name   string
		outs   [][]float32
		shapes [][]int
		want   string
	}{
		{"counts differ", [][]float32{a, b}, [][]int{as}, "yolo: 2 outputs but 1 shapes"},
		{"second blob bad", [][]float32{a, b}, [][]int{as, {7, 9}}, "output 1: yolo darknet: shape [7 9] does not hold 18 values"},
	}
	for _, c := range errs {
		t.Run(c.name, func(t *testing.T) {
			if _, err := DecodeYOLOMulti(p, c.outs, c.shapes); err == nil || err.Error() != c.want {
				t.Errorf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestNewLetterbox(t *testing.T) {
	cases := []struct {
		name              string
		fw, fh, iw, ih    int
		scale, padX, padY float64
	}{
		{"4:3 in 640 square", 768, 576, 640, 640, 640.0 / 768, 0, 80},
		{"4:3 in 416 square", 768, 576, 416, 416, 416.0 / 768, 0, 52},
		{"portrait", 576, 768, 640, 640, 640.0 / 768, 80, 0},
		{"16:9 in 640 square", 1280, 720, 640, 640, 0.5, 0, 140},
		{"same aspect", 1280, 720, 640, 360, 0.5, 0, 0},
		{"upscaled", 320, 240, 640, 640, 2, 0, 80},
		{"odd padding", 100, 99, 100, 100, 1, 0, 0.5},
		{"zero frame", 0, 576, 640, 640, 0, 0, 0},
		{"negative input", 768, 576, -1, 640, 0, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := NewLetterbox(c.fw, c.fh, c.iw, c.ih)
			if math.Abs(l.Scale-c.scale) > 1e-12 || math.Abs(l.PadX-c.padX) > 1e-9 || math.Abs(l.PadY-c.padY) > 1e-9 {
				t.Errorf("NewLetterbox = %+v, want scale %v, padding %v, %v", l, c.scale, c.padX, c.padY)
			}
			if l.FrameW != c.fw || l.FrameH != c.fh || l.InputW != c.iw || l.InputH != c.ih {
				t.Errorf("sizes not kept: %+v", l)
			}
		})
	}
}

func TestLetterboxToFrame(t *testing.T) {
	lb := NewLetterbox(768, 576, 640, 640) // scale 5/6, image at input y 80..560
	cases := []struct {
		name string
		lb   Letterbox
		in   Box // network-input pixels
		want Box // frame pixels
	}{
		{"whole image", lb, Box{0, 80, 640, 480}, Box{0, 0, 768, 576}},
		{"inside", lb, Box{100, 180, 50, 100}, Box{120, 120, 60, 120}},
		{"into the top padding", lb, Box{100, 60, 50, 40}, Box{120, 0, 60, 24}},
		{"into the bottom padding", lb, Box{100, 550, 50, 40}, Box{120, 564, 60, 12}},
		{"past the right edge", lb, Box{620, 100, 40, 40}, Box{744, 24, 24, 48}},
		{"wholly in the padding", lb, Box{100, 0, 50, 40}, Box{120, 0, 60, 0}},
		{"left of the input", lb, Box{-100, 100, 50, 50}, Box{0, 24, 0, 60}},
		{"no scale", Letterbox{FrameW: 10, FrameH: 10}, Box{1, 1, 1, 1}, Box{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := c.lb.ToFrame(c.in)
			if d := diffDets([]Detection{{Box: got}}, []Detection{{Box: c.want}}); d != "" {
				t.Errorf("ToFrame(%v) = %v, want %v", c.in, got, c.want)
			}
		})
	}
}

func TestParseClassNames(t *testing.T) {
	long := strings.Repeat("x", 200)
	cases := []struct {
		name string
		in   string
		want []string
		err  string
	}{
		{"coco head", "person\nbicycle\ncar\n", []string{"person", "bicycle", "car"}, ""},
		{"no final newline", "person\nbicycle", []string{"person", "bicycle"}, ""},
		{"CRLF", "person\r\nbicycle\r\n", []string{"person", "bicycle"}, ""},
		{"whitespace trimmed", "  person \n\ttraffic light\t\n", []string{"person", "traffic light"}, ""},
		{"trailing empty lines", "person\ncar\n\n \n\n", []string{"person", "car"}, ""},
		{"byte order mark", "\ufeffperson\ncar\n", []string{"person", "car"}, ""},
		{"unicode", "personne\nvoiture\n自転車\n", []string{"personne", "voiture", "自転車"}, ""},
		{"200 bytes", long + "\n", []string{long}, ""},

		{"empty", "", nil, "class names: no names"},
		{"only blank lines", "\n \n\t\n", nil, "class names: no names"},
		{"empty line before a name", "person\n\ncar\n", nil, "class names: line 2: empty name"},
		{"leading empty line", "\nperson\n", nil, "class names: line 1: empty name"},
		{"201 bytes", "person\n" + long + "x\n", nil, "class names: line 2: longer than 200 bytes"},
		{"far too long", "person\ncar\n" + strings.Repeat("y", 10000), nil, "class names: line 3: longer than 200 bytes"},
		{"lone CR", "person\rcar\n", nil, "class names: line 1: control character \"\\r\""},
		{"tab inside", "traffic\tlight\n", nil, "class names: line 1: control character \"\\t\""},
		{"binary", "person\n\xff\xfe\x00\n", nil, "class names: line 2: not valid UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := ParseClassNames(strings.NewReader(c.in))
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != c.err || !slices.Equal(got, c.want) {
				t.Errorf("ParseClassNames = %q, %q; want %q, %q", got, gotErr, c.want, c.err)
			}
		})
	}
}

type failingReader struct{}

func (failingReader) Read([]byte) (int, error) { return 0, fmt.Errorf("disk on fire") }

func TestParseClassNamesReadError(t *testing.T) {
	if _, err := ParseClassNames(failingReader{}); err == nil || err.Error() != "class names: disk on fire" {
		t.Errorf("err = %v", err)
	}
}

// BenchmarkDecodeYOLOv8 decodes the output of a 640×640 YOLOv8 COCO model:
// 8400 boxes of 84 values, a few dozen over the threshold.
func BenchmarkDecodeYOLOv8(b *testing.B) {
	lb := NewLetterbox(1920, 1080, 640, 640)
	rows := make([]row, 8400)
	for i := range rows {
		rows[i] = row{cx: float32(i % 640), cy: float32(80 + i%480), w: 30, h: 60, scores: make([]float32, 80)}
		rows[i].scores[i%80] = 0.01
		if i%200 == 0 {
			rows[i].scores[i%80] = 0.9
		}
	}
	out, shape := tensor(LayoutV8, lb, 80, rows)
	p := YOLOParams{Layout: LayoutV8, Letterbox: lb}
	for b.Loop() {
		if _, err := DecodeYOLO(p, out, shape); err != nil {
			b.Fatal(err)
		}
	}
}
