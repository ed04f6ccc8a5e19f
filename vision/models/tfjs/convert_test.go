package tfjs

import (
	"crypto/sha256"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

// backbone is onnx-tf's idiom for a conv net: NCHW activations, zero
// Pads and a −∞ PadV2 before MaxPool, Transposes around every Conv2D.
func backbone() *graph {
	g := newGraph(1, 3, 13, 11)
	p := g.padNCHW("pad0", "input_1", 1)
	c1 := g.convNCHW("conv1", p, 3, 3, 4, 2) // 7×6
	a1 := g.op("relu1", "LeakyRelu", map[string]any{"alpha": 0.1}, c1)
	pv := g.op("padv2", "PadV2", nil, a1,
		g.ints("padv2/paddings", []int{4, 2}, 0, 0, 0, 0, 1, 1, 1, 1), g.scalar("padv2/value", math.Inf(-1)))
	t := g.transpose("mp/in", pv, toNHWC)
	mp := g.op("mp", "MaxPool", map[string]any{"ksize": []int64{1, 3, 3, 1}, "strides": []int64{1, 2, 2, 1},
		"padding": "VALID", "data_format": "NHWC"}, t) // 4×3
	mpo := g.transpose("mp/out", mp, toNCHW)
	c2 := g.convNCHW("conv2", g.padNCHW("pad1", mpo, 1), 3, 4, 6, 1)
	a2 := g.op("relu2", "LeakyRelu", map[string]any{"alpha": 0.1}, c2)
	cat := g.op("cat", "ConcatV2", nil, a2, mpo, g.ints("cat/axis", nil, 1))
	g.output("Identity", cat)
	return g
}

// fpn resizes up and down, adds branches and concatenates in both
// layouts, as a feature pyramid does, for an input of h×w (even).
func fpn(h, w int64) *graph {
	g := newGraph(1, 4, int(h), int(w))
	c1 := g.convNCHW("down", g.padNCHW("down/pad", "input_1", 1), 3, 4, 4, 2) // 4×4
	t := g.transpose("up/in", c1, toNHWC)
	hp := map[string]any{"half_pixel_centers": true, "align_corners": false}
	up := g.op("up", "ResizeBilinear", hp, t, g.ints("up/size", []int{2}, h, w))
	sum := g.op("sum", "AddV2", nil, "input_1", g.transpose("up/out", up, toNCHW))
	g.output("Identity", sum)
	// A Conv2D's NHWC output read by a ResizeBilinear directly and by a
	// Transpose: its bias still folds.
	cn := g.op("lat", "Conv2D", convAttr(1, "VALID"), g.transpose("lat/in", "input_1", toNHWC), g.random("lat/filter", 1, 1, 4, 4))
	cb := g.op("lat/add", "Add", nil, cn, g.random("lat/bias", 4))
	dn := g.op("dn", "ResizeBilinear", hp, cb, g.ints("dn/size", []int{2}, h/2, w/2))
	cat := g.op("catn", "ConcatV2", nil, dn, t, g.ints("catn/axis", nil, -1))
	g.output("Identity_1", g.transpose("catn/out", cat, toNCHW))
	g.output("Identity_2", g.transpose("lat/out", cb, toNCHW))
	ac := g.op("ac", "ResizeBilinear", map[string]any{"align_corners": true}, t, g.ints("ac/size", []int{2}, h/2*7/4, w/2*7/4))
	g.output("Identity_3", g.transpose("ac/out", ac, toNCHW))
	as := g.op("as", "ResizeBilinear", nil, t, g.ints("as/size", []int{2}, h, w))
	g.output("Identity_4", g.transpose("as/out", as, toNCHW))
	return g
}

// head is NanoDet's: split classes from boxes, sigmoid, reshape to
// [1, C, -1] with a shape computed from constants, transpose.
func head() *graph {
	g := newGraph(1, 6, 4, 4)
	sp := g.op("split", "SplitV", nil, "input_1", g.ints("split/sizes", []int{2}, 2, -1), g.ints("split/dim", nil, 1))
	sg := g.op("sig", "Sigmoid", nil, sp)
	std := g.op("std", "SparseToDense", nil,
		g.ints("where", []int{0, 1}), g.ints("cast", []int{1}, 3), g.ints("gather", []int{0}), g.ints("zeros", nil, 0))
	shape := g.op("shape", "AddV2", nil, g.ints("base", []int{3}, 1, 2, -1), std)
	r := g.op("reshape", "Reshape", nil, sg, shape)
	g.output("Identity", g.transpose("tr", r, []int64{0, 2, 1}))
	r2 := g.op("reshape1", "Reshape", nil, "split:1", g.ints("shape1", []int{3}, 1, 4, -1))
	g.output("Identity_1", g.transpose("tr1", r2, []int64{0, 2, 1}))
	// A split along a Conv2D's NHWC channels, output in NHWC.
	c := g.op("conv", "Conv2D", convAttr(1, "VALID"), g.transpose("conv/in", "input_1", toNHWC), g.random("conv/filter", 1, 1, 6, 6))
	g.op("split2", "SplitV", nil, c, g.ints("split2/sizes", []int{2}, 3, 3), g.ints("split2/dim", nil, -1))
	g.output("Identity_2", g.op("sig2", "Sigmoid", nil, "split2:1"))
	return g
}

// misc covers what does not fold: a Conv read twice, SAME padding,
// a non-zero pad, a channel pad, tensors in different layouts, and the
// remaining ops.
func misc() *graph {
	g := newGraph(1, 4, 6, 6)
	x := g.transpose("x", "input_1", toNHWC)
	c := g.op("c", "Conv2D", convAttr(2, "SAME"), x, g.random("c/filter", 3, 3, 4, 4))
	a1 := g.op("a1", "Add", nil, c, g.random("a1/b", 4))
	a2 := g.op("a2", "Sub", nil, c, g.random("a2/b", 1, 1, 4))
	m := g.op("m", "Mul", nil, a1, a2)
	mp := g.op("mp", "MaxPool", map[string]any{"ksize": []int64{1, 2, 2, 1}, "strides": []int64{1, 2, 2, 1},
		"padding": "SAME", "data_format": "NHWC"}, m)
	g.output("Identity", g.transpose("out0", g.op("relu", "Relu", nil, mp), toNCHW))

	pv := g.op("pv", "PadV2", nil, "input_1", g.ints("pv/p", []int{4, 2}, 0, 0, 0, 0, 1, 1, 1, 1), g.scalar("pv/v", 0.5))
	gc := g.op("gc", "Conv2D", convAttr(1, "VALID"), g.transpose("gc/in", pv, toNHWC), g.random("gc/filter", 3, 3, 2, 4))
	g.output("Identity_1", g.op("gc/bias", "BiasAdd", map[string]any{"data_format": "NHWC"}, gc, g.random("gc/b", 4)))

	y := g.op("y", "Conv2D", convAttr(1, "VALID"), x, g.random("y/filter", 1, 1, 4, 4))
	w := g.op("w", "Reshape", nil, x, g.ints("w/shape", []int{4}, 1, 6, 6, 4))
	g.output("Identity_2", g.transpose("out2", g.op("yw", "Add", nil, y, w), toNCHW))

	s := g.op("s", "Conv2D", convAttr(1, "VALID"), x, g.random("s/filter", 1, 1, 4, 3))
	g.output("Identity_3", g.transpose("out3", g.op("s/sub", "Sub", nil, s, g.random("s/b", 3)), toNCHW))

	g.output("Identity_4", g.op("sp", "Split", map[string]any{"num_split": int64(2)}, g.ints("sp/dim", nil, 1), "input_1"))

	cp := g.op("cp", "Pad", nil, "input_1", g.ints("cp/p", []int{4, 2}, 0, 0, 1, 0, 0, 0, 0, 0))
	cc := g.op("cc", "Conv2D", convAttr(1, "VALID"), g.transpose("cc/in", cp, toNHWC), g.random("cc/filter", 1, 1, 5, 2))
	g.output("Identity_5", g.transpose("out5", cc, toNCHW))
	return g
}

func convert(t *testing.T, g *graph) (*xModel, []byte) {
	t.Helper()
	j, b := g.build()
	out, err := Convert(j, b)
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseONNX(out)
	if err != nil {
		t.Fatalf("own output does not parse: %v", err)
	}
	if m.ir != onnx.IRVersion || m.opset != onnx.OpsetVersion || m.domain != "" {
		t.Errorf("ir %d opset %d %q", m.ir, m.opset, m.domain)
	}
	return m, out
}

// checkNumerics runs the ONNX model and the TF graph on the same random
// input and compares every output.
func checkNumerics(t *testing.T, g *graph, m *xModel) {
	t.Helper()
	in := newND(g.inShape, nil)
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range in.data {
		in.data[i] = rng.Float64()*4 - 2
	}
	want := g.reference(in)
	got, err := m.eval(map[string]*nd{"input": in})
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range g.outputs {
		w, o := want[name], got[name]
		if o == nil {
			t.Errorf("%s: missing", name)
			continue
		}
		if d := maxDiff(w, o); d > 1e-5 {
			t.Errorf("%s: shape %v, want %v; max difference %g", name, o.shape, w.shape, d)
		}
	}
}

func wantOps(t *testing.T, m *xModel, want map[string]int) {
	t.Helper()
	if got := m.ops(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("ops %v, want %v", got, want)
	}
}

func node(t *testing.T, m *xModel, name string) xNode {
	t.Helper()
	for _, n := range m.nodes {
		if n.name == name {
			return n
		}
	}
	t.Fatalf("no node %q", name)
	return xNode{}
}

func wantInts(t *testing.T, what string, got []int64, want ...int64) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s = %v, want %v", what, got, want)
	}
}

func TestBackbone(t *testing.T) {
	g := backbone()
	m, _ := convert(t, g)
	wantOps(t, m, map[string]int{"Concat": 1, "Conv": 2, "LeakyRelu": 2, "MaxPool": 1})
	if len(m.inputs) != 1 || m.inputs[0].name != "input" || m.inputs[0].elem != onnx.Float {
		t.Fatalf("inputs %+v", m.inputs)
	}
	wantInts(t, "input shape", m.inputs[0].dims, 1, 3, 13, 11)
	if len(m.outputs) != 1 || m.outputs[0].name != "Identity" {
		t.Fatalf("outputs %+v", m.outputs)
	}
	wantInts(t, "output shape", m.outputs[0].dims, 1, 10, 4, 3)

	c := node(t, m, "conv1")
	if len(c.in) != 3 || c.in[0] != "input" {
		t.Errorf("conv1 inputs %v, want input, weights, bias", c.in)
	}
	wantInts(t, "conv1 pads", c.attrs["pads"].ints, 1, 1, 1, 1)
	wantInts(t, "conv1 strides", c.attrs["strides"].ints, 2, 2)
	wantInts(t, "conv1 kernel_shape", c.attrs["kernel_shape"].ints, 3, 3)
	w := m.inits[c.in[1]]
	wantInts(t, "conv1 weights dims", w.dims, 4, 3, 3, 3) // OIHW
	// OIHW[o][i][h][w] = HWIO[h][w][i][o].
	f, got := g.consts["conv1/filter"], w.values()
	for _, idx := range [][4]int{{0, 0, 0, 0}, {3, 2, 1, 0}, {1, 2, 0, 2}, {2, 1, 2, 1}} {
		o, i, h, ww := idx[0], idx[1], idx[2], idx[3]
		if a, b := got[((o*3+i)*3+h)*3+ww], f.at([]int{h, ww, i, o}); a != b {
			t.Errorf("weight o%d i%d h%d w%d = %v, want %v", o, i, h, ww, a, b)
		}
	}
	wantInts(t, "bias dims", m.inits[c.in[2]].dims, 4)

	p := node(t, m, "mp")
	wantInts(t, "maxpool pads", p.attrs["pads"].ints, 1, 1, 1, 1)
	wantInts(t, "maxpool kernel", p.attrs["kernel_shape"].ints, 3, 3)
	if a := node(t, m, "relu1").attrs["alpha"]; a.f != float32(0.1) || a.typ != xAttrFloat {
		t.Errorf("alpha %+v", a)
	}
	if a := node(t, m, "cat").attrs["axis"]; a.i != 1 {
		t.Errorf("concat axis %d, want 1", a.i)
	}
	for _, init := range m.inits {
		if init.dtype == onnx.Float && len(init.raw) != 4*int(tensor.Numel(init.dims)) {
			t.Errorf("initialiser of dims %v has %d bytes", init.dims, len(init.raw))
		}
	}
	checkNumerics(t, g, m)
}

func TestFPN(t *testing.T) {
	g := fpn(8, 8)
	m, _ := convert(t, g)
	wantOps(t, m, map[string]int{"Add": 1, "Concat": 1, "Conv": 2, "Resize": 4})
	scales := map[string][]float64{"up": {1, 1, 2, 2}, "dn": {1, 1, 0.5, 0.5}, "ac": {1, 1, 1.75, 1.75}, "as": {1, 1, 2, 2}}
	modes := map[string]string{"up": "half_pixel", "dn": "half_pixel", "ac": "align_corners", "as": "asymmetric"}
	for name, want := range scales {
		n := node(t, m, name)
		if len(n.in) != 3 {
			t.Fatalf("%s inputs %v", name, n.in)
		}
		if roi := m.inits[n.in[1]]; roi.dtype != onnx.Float || len(roi.raw) != 0 {
			t.Errorf("%s roi %+v", name, roi)
		}
		if got := m.inits[n.in[2]].values(); !slices.Equal(got, want) {
			t.Errorf("%s scales %v, want %v", name, got, want)
		}
		if got := n.attrs["coordinate_transformation_mode"].s; got != modes[name] {
			t.Errorf("%s mode %q, want %q", name, got, modes[name])
		}
		if n.attrs["mode"].s != "linear" {
			t.Errorf("%s mode %q", name, n.attrs["mode"].s)
		}
	}
	if lat := node(t, m, "lat"); len(lat.in) != 3 {
		t.Errorf("lat bias not folded: %v", lat.in)
	}
	if a := node(t, m, "catn").attrs["axis"]; a.i != 1 {
		t.Errorf("NHWC concat on physical axis %d, want 1", a.i)
	}
	checkNumerics(t, g, m)
}

func TestHead(t *testing.T) {
	g := head()
	m, _ := convert(t, g)
	wantOps(t, m, map[string]int{"Conv": 1, "Reshape": 2, "Sigmoid": 2, "Split": 2, "Transpose": 3})
	s := node(t, m, "split")
	wantInts(t, "split", s.attrs["split"].ints, 2, 4)
	if s.attrs["axis"].i != 1 {
		t.Errorf("split axis %d", s.attrs["axis"].i)
	}
	wantInts(t, "NHWC split", node(t, m, "split2").attrs["split"].ints, 3, 3)
	if a := node(t, m, "split2").attrs["axis"].i; a != 1 {
		t.Errorf("NHWC split on physical axis %d, want 1", a)
	}
	r := node(t, m, "reshape")
	wantInts(t, "reshape shape", m.inits[r.in[1]].ints(), 1, 2, -1)
	if m.inits[r.in[1]].dtype != onnx.Int64 {
		t.Errorf("shape of type %d", m.inits[r.in[1]].dtype)
	}
	var names []string
	for _, o := range m.outputs {
		names = append(names, o.name)
	}
	if fmt.Sprint(names) != "[Identity Identity_1 Identity_2]" {
		t.Errorf("outputs %v", names)
	}
	wantInts(t, "Identity shape", m.outputs[0].dims, 1, 16, 2)
	wantInts(t, "Identity_1 shape", m.outputs[1].dims, 1, 16, 4)
	wantInts(t, "Identity_2 shape", m.outputs[2].dims, 1, 4, 4, 3)
	for _, n := range m.nodes {
		if n.op == "Transpose" && slices.Equal(n.attrs["perm"].ints, []int64{0, 2, 1}) &&
			!strings.HasPrefix(n.out[0], "Identity") {
			t.Errorf("head transpose writes %q, want the output", n.out[0])
		}
	}
	checkNumerics(t, g, m)
}

func TestMisc(t *testing.T) {
	g := misc()
	m, _ := convert(t, g)
	ops := m.ops()
	for op, want := range map[string]int{"Conv": 5, "Add": 2, "Sub": 1, "Mul": 1, "Pad": 2, "MaxPool": 1, "Relu": 1, "Split": 1} {
		if ops[op] != want {
			t.Errorf("%d %s, want %d (%v)", ops[op], op, want, ops)
		}
	}
	if c := node(t, m, "c"); c.attrs["auto_pad"].s != "SAME_UPPER" || len(c.in) != 2 {
		t.Errorf("SAME conv %+v", c)
	}
	if c := node(t, m, "gc"); c.attrs["group"].i != 2 || len(c.in) != 3 {
		t.Errorf("grouped conv %+v", c)
	}
	if c := node(t, m, "s"); len(c.in) != 3 {
		t.Errorf("Sub bias not folded: %v", c.in)
	}
	checkNumerics(t, g, m)
}

func TestOptions(t *testing.T) {
	j, b := backbone().build()
	out, rep, err := ConvertWithOptions(j, b, Options{InputName: "images", InputShape: []int64{1, 3, 29, 27}})
	if err != nil {
		t.Fatal(err)
	}
	m, err := parseONNX(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.inputs[0].name != "images" || node(t, m, "conv1").in[0] != "images" {
		t.Errorf("input %+v", m.inputs[0])
	}
	wantInts(t, "input", m.inputs[0].dims, 1, 3, 29, 27)
	wantInts(t, "output", m.outputs[0].dims, 1, 10, 8, 7)
	if rep.TFOps["Transpose"] != 6 || rep.ONNXOps["Conv"] != 2 || rep.Initializers != 4 || rep.Params != 3*3*3*4+4+3*3*4*6+6 {
		t.Errorf("report %v", rep)
	}
	if !strings.Contains(rep.String(), "Conv×2") {
		t.Errorf("report %s", rep)
	}
}

// TestSizeIndependent runs a model converted at one input size on
// another: Resize scales and Reshape's −1 carry over.
func TestSizeIndependent(t *testing.T) {
	m, _ := convert(t, fpn(8, 8))
	checkNumerics(t, fpn(16, 12), m)

	h := head()
	m, _ = convert(t, h)
	h.inShape = []int{1, 6, 8, 2}
	checkNumerics(t, h, m)
}

func TestDeterministic(t *testing.T) {
	for name, g := range map[string]*graph{"backbone": backbone(), "fpn": fpn(8, 8), "head": head(), "misc": misc()} {
		j, b := g.build()
		var first [32]byte
		for i := range 5 {
			out, err := Convert(j, b)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(out)
			if i == 0 {
				first = sum
			} else if sum != first {
				t.Fatalf("%s: run %d gave %x, run 0 %x", name, i, sum, first)
			}
		}
	}
}

func TestWeightsLength(t *testing.T) {
	j, b := backbone().build()
	for _, tc := range []struct {
		bin  []byte
		want string
	}{
		{b[:len(b)-1], fmt.Sprintf("tfjs: weights: the manifest needs %d bytes, got %d", len(b), len(b)-1)},
		{append(slices.Clone(b), 0), fmt.Sprintf("tfjs: weights: the manifest needs %d bytes, got %d", len(b), len(b)+1)},
		{nil, fmt.Sprintf("tfjs: weights: the manifest needs %d bytes, got 0", len(b))},
	} {
		_, err := Convert(j, tc.bin)
		if err == nil || err.Error() != tc.want {
			t.Errorf("%d bytes: %v, want %q", len(tc.bin), err, tc.want)
		}
	}
}

func TestUnsupportedOp(t *testing.T) {
	g := newGraph(1, 3, 4, 4)
	g.output("Identity", g.op("weird", "Erf", nil, "input_1"))
	j, b := g.build()
	_, err := Convert(j, b)
	if want := `tfjs: node "weird": unsupported op "Erf"`; err == nil || err.Error() != want {
		t.Errorf("%v, want %s", err, want)
	}
}

func TestErrors(t *testing.T) {
	build := func(f func(g *graph)) ([]byte, []byte) {
		g := newGraph(1, 3, 4, 4)
		f(g)
		return g.build()
	}
	for _, tc := range []struct {
		name string
		f    func(g *graph)
		edit func(j, b []byte) ([]byte, []byte)
		want string
	}{
		{name: "malformed JSON", edit: func(j, b []byte) ([]byte, []byte) { return j[:len(j)/2], b }, want: "tfjs: model JSON:"},
		{name: "not JSON", edit: func(j, b []byte) ([]byte, []byte) { return []byte("\x00"), b }, want: "tfjs: model JSON:"},
		{name: "layers model", edit: func(j, b []byte) ([]byte, []byte) {
			return []byte(strings.Replace(string(j), `"graph-model"`, `"layers-model"`, 1)), b
		}, want: "want a graph-model"},
		{name: "missing const", f: func(g *graph) {
			g.output("Identity", g.op("t", "Transpose", nil, "input_1", "perm"))
			g.nodes = append(g.nodes, tnode{name: "perm", op: "Const"})
		}, want: `node "perm" (Const): constant missing from the weights manifest`},
		{name: "perm not const", f: func(g *graph) {
			g.output("Identity", g.op("t", "Transpose", nil, "input_1", "input_1"))
		}, want: `node "t" (Transpose): perm (input 1, "input_1") must be a constant`},
		{name: "bad perm", f: func(g *graph) {
			g.output("Identity", g.transpose("t", "input_1", []int64{0, 1, 1, 2}))
		}, want: "not a permutation"},
		{name: "conv channels", f: func(g *graph) {
			g.output("Identity", g.convNCHW("c", "input_1", 3, 2, 4, 1))
		}, want: `node "c" (Conv2D): filter of shape [3 3 2 4] on 3 input channels`},
		{name: "conv too small", f: func(g *graph) {
			g.output("Identity", g.convNCHW("c", "input_1", 5, 3, 4, 1))
		}, want: "window of 5 is larger than the padded input of 4"},
		{name: "bad reshape", f: func(g *graph) {
			g.output("Identity", g.op("r", "Reshape", nil, "input_1", g.ints("s", []int{2}, 5, -1)))
		}, want: `node "r" (Reshape): cannot reshape [1 3 4 4] to [5 -1]`},
		{name: "unknown input", f: func(g *graph) {
			g.output("Identity", g.op("s", "Sigmoid", nil, "nowhere"))
		}, want: `tfjs: node "s": input "nowhere" is no node`},
		{name: "no such output", f: func(g *graph) {
			g.output("Identity", "input_1")
			g.nodes = g.nodes[:len(g.nodes)-1]
		}, want: `output "Identity:0": no such node`},
		{name: "cycle", f: func(g *graph) {
			g.op("a", "Sigmoid", nil, "b")
			g.output("Identity", g.op("b", "Sigmoid", nil, "a"))
		}, want: "cycle"},
		{name: "duplicate", f: func(g *graph) {
			g.op("a", "Sigmoid", nil, "input_1")
			g.output("Identity", g.op("a", "Sigmoid", nil, "input_1"))
		}, want: `node "a": defined twice`},
		{name: "wrong arity", f: func(g *graph) {
			g.output("Identity", g.op("a", "Sigmoid", nil, "input_1", "input_1"))
		}, want: `node "a" (Sigmoid): want 1 inputs, got 2`},
		{name: "bad output index", f: func(g *graph) {
			g.output("Identity", g.op("a", "Sigmoid", nil, "input_1:1"))
		}, want: `input "input_1" has no output 1`},
		{name: "split sizes", f: func(g *graph) {
			g.output("Identity", g.op("s", "SplitV", nil, "input_1", g.ints("sz", []int{2}, 1, 1), g.ints("d", nil, 1)))
		}, want: "do not add up to 3"},
		{name: "resize rank", f: func(g *graph) {
			r := g.op("r", "Reshape", nil, "input_1", g.ints("s", []int{2}, 3, -1))
			g.output("Identity", g.op("z", "ResizeBilinear", nil, r, g.ints("sz", []int{2}, 2, 2)))
		}, want: "input of rank 2, want 4"},
		{name: "bad dtype", edit: func(j, b []byte) ([]byte, []byte) {
			return []byte(strings.Replace(string(j), `"dtype":"int32"`, `"dtype":"complex64"`, 1)), b
		}, f: func(g *graph) { g.output("Identity", g.transpose("t", "input_1", toNHWC)) }, want: `unsupported dtype "complex64"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.f
			if f == nil {
				f = func(g *graph) { g.output("Identity", g.op("s", "Sigmoid", nil, "input_1")) }
			}
			j, b := build(f)
			if tc.edit != nil {
				j, b = tc.edit(j, b)
			}
			out, err := Convert(j, b)
			if err == nil {
				t.Fatalf("converted (%d bytes), want error %q", len(out), tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tfjs: ") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestResizeScale(t *testing.T) {
	for _, tc := range []struct {
		in, out int64
		want    float32
	}{{13, 26, 2}, {52, 26, 0.5}, {26, 13, 0.5}, {4, 7, 1.75}, {1, 1, 1}} {
		if got, err := resizeScale(tc.in, tc.out); err != nil || got != tc.want {
			t.Errorf("resizeScale(%d, %d) = %v, %v; want %v", tc.in, tc.out, got, err, tc.want)
		}
	}
	for in := int64(1); in < 200; in++ {
		for _, out := range []int64{1, 3, 7, in / 3, in * 5 / 7, 2*in + 1, 1000} {
			if out < 1 {
				continue
			}
			s, err := resizeScale(in, out)
			if err != nil {
				t.Fatal(err)
			}
			if got := int64(math.Floor(float64(s) * float64(in))); got != out {
				t.Fatalf("resizeScale(%d, %d) = %v, which gives %d", in, out, s, got)
			}
		}
	}
}

func TestNaturalOrder(t *testing.T) {
	got := []string{"Identity_10", "Identity_2", "Identity", "Identity_1", "a", "Identity_02x"}
	slices.SortFunc(got, naturalCmp)
	if want := "[Identity Identity_1 Identity_2 Identity_02x Identity_10 a]"; fmt.Sprint(got) != want {
		t.Errorf("%v, want %s", got, want)
	}
}
