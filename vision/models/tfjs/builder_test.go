package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
)

// graph builds a synthetic TF.js graph model in the shape onnx-tf and
// tensorflowjs_converter give one, and evaluates it with TensorFlow's
// semantics as a reference.
type graph struct {
	nodes   []tnode
	weights []tweight
	consts  map[string]*nd
	outputs []string
	inShape []int
	rng     *rand.Rand
	// resizeRatio scales ResizeBilinear's constant sizes in reference,
	// to run a graph made for one input size at another.
	resizeRatio float64
}

type tnode struct {
	name, op string
	inputs   []string
	attr     map[string]any // string, bool, float64, int64, []int64
}

type tweight struct {
	name  string
	shape []int
	dtype string // float32, float16 (quantised float32), int32
	data  []float64
}

// newGraph starts a graph whose Placeholder input_1 has shape in.
func newGraph(in ...int) *graph {
	g := &graph{consts: map[string]*nd{}, inShape: in, rng: rand.New(rand.NewPCG(1, 2))}
	g.nodes = append(g.nodes, tnode{name: "input_1", op: "Placeholder",
		attr: map[string]any{"dtype": "DT_FLOAT"}})
	return g
}

func (g *graph) konst(name string, shape []int, dtype string, data []float64) string {
	g.weights = append(g.weights, tweight{name, shape, dtype, data})
	g.consts[name] = newND(shape, data)
	g.nodes = append(g.nodes, tnode{name: name, op: "Const"})
	return name
}

// ints adds an int32 constant.
func (g *graph) ints(name string, shape []int, v ...int64) string {
	d := make([]float64, len(v))
	for i, x := range v {
		d[i] = float64(x)
	}
	return g.konst(name, shape, "int32", d)
}

// random adds a float16-quantised constant of small values that float16
// holds exactly.
func (g *graph) random(name string, shape ...int) string {
	n := 1
	for _, d := range shape {
		n *= d
	}
	d := make([]float64, n)
	for i := range d {
		d[i] = float64(g.rng.IntN(129)-64) / 64
	}
	return g.konst(name, shape, "float16", d)
}

func (g *graph) scalar(name string, v float64) string {
	return g.konst(name, nil, "float32", []float64{v})
}

func (g *graph) op(name, op string, attr map[string]any, inputs ...string) string {
	g.nodes = append(g.nodes, tnode{name: name, op: op, inputs: inputs, attr: attr})
	return name
}

// output adds an Identity named name reading x and makes it an output.
func (g *graph) output(name, x string) {
	g.op(name, "Identity", nil, x)
	g.outputs = append(g.outputs, name)
}

// Helpers for the onnx-tf idiom.
var (
	toNHWC = []int64{0, 2, 3, 1}
	toNCHW = []int64{0, 3, 1, 2}
)

func (g *graph) transpose(name, x string, perm []int64) string {
	return g.op(name, "Transpose", nil, x, g.ints(name+"/perm", []int{len(perm)}, perm...))
}

func convAttr(stride int64, padding string) map[string]any {
	return map[string]any{"strides": []int64{1, stride, stride, 1}, "dilations": []int64{1, 1, 1, 1},
		"padding": padding, "data_format": "NHWC", "T": "DT_FLOAT"}
}

// convNCHW adds onnx-tf's Conv: transpose, Conv2D, bias Add, transpose.
func (g *graph) convNCHW(name, x string, k, ci, co int, stride int64) string {
	t := g.transpose(name+"/in", x, toNHWC)
	c := g.op(name, "Conv2D", convAttr(stride, "VALID"), t, g.random(name+"/filter", k, k, ci, co))
	b := g.op(name+"/add", "Add", nil, c, g.random(name+"/bias", co))
	return g.transpose(name+"/out", b, toNCHW)
}

func (g *graph) padNCHW(name, x string, p int64) string {
	return g.op(name, "Pad", nil, x, g.ints(name+"/paddings", []int{4, 2}, 0, 0, 0, 0, p, p, p, p))
}

// build returns model.json and the weights file.
func (g *graph) build() (graphJSON, bin []byte) {
	attrJSON := func(v any) map[string]any {
		switch v := v.(type) {
		case string:
			if len(v) > 3 && v[:3] == "DT_" {
				return map[string]any{"type": v}
			}
			return map[string]any{"s": base64.StdEncoding.EncodeToString([]byte(v))}
		case bool:
			return map[string]any{"b": v}
		case float64:
			return map[string]any{"f": v}
		case int64:
			return map[string]any{"i": strconv.FormatInt(v, 10)}
		case []int64:
			l := []string{}
			for _, x := range v {
				l = append(l, strconv.FormatInt(x, 10))
			}
			return map[string]any{"list": map[string]any{"i": l}}
		}
		panic(fmt.Sprintf("attr %T", v))
	}
	var nodes []map[string]any
	for _, n := range g.nodes {
		m := map[string]any{"name": n.name, "op": n.op}
		if len(n.inputs) > 0 {
			m["input"] = n.inputs
		}
		attr := map[string]any{}
		for k, v := range n.attr {
			attr[k] = attrJSON(v)
		}
		if n.op == "Placeholder" {
			dims := []map[string]string{}
			for _, d := range g.inShape {
				dims = append(dims, map[string]string{"size": strconv.Itoa(d)})
			}
			attr["shape"] = map[string]any{"shape": map[string]any{"dim": dims}}
		}
		m["attr"] = attr
		nodes = append(nodes, m)
	}
	var weights []map[string]any
	for _, w := range g.weights {
		m := map[string]any{"name": w.name, "shape": w.shape, "dtype": w.dtype}
		if w.shape == nil {
			m["shape"] = []int{}
		}
		switch w.dtype {
		case "float16":
			m["dtype"] = "float32"
			m["quantization"] = map[string]any{"dtype": "float16", "original_dtype": "float32"}
			for _, v := range w.data {
				bin = binary.LittleEndian.AppendUint16(bin, floatToHalf(v))
			}
		case "float32":
			for _, v := range w.data {
				bin = binary.LittleEndian.AppendUint32(bin, math.Float32bits(float32(v)))
			}
		case "int32":
			for _, v := range w.data {
				bin = binary.LittleEndian.AppendUint32(bin, uint32(int32(v)))
			}
		}
		weights = append(weights, m)
	}
	outs := map[string]any{}
	for _, o := range g.outputs {
		outs[o+":0"] = map[string]any{"name": o + ":0", "dtype": "DT_FLOAT"}
	}
	model := map[string]any{
		"format":      "graph-model",
		"generatedBy": "test",
		"signature":   map[string]any{"outputs": outs},
		"modelTopology": map[string]any{
			"node": nodes, "library": map[string]any{}, "versions": map[string]any{}},
		"weightsManifest": []any{map[string]any{"paths": []string{"model.bin"}, "weights": weights}},
	}
	j, err := json.Marshal(model)
	if err != nil {
		panic(err)
	}
	return j, bin
}

// floatToHalf converts a value float16 holds exactly (normal or zero).
func floatToHalf(v float64) uint16 {
	if v == 0 {
		return 0
	}
	b := math.Float32bits(float32(v))
	sign := uint16(b>>16) & 0x8000
	exp := int(b>>23&0xff) - 127 + 15
	man := uint16(b>>13) & 0x3ff
	if exp <= 0 || exp >= 31 || b&0x1fff != 0 {
		panic(fmt.Sprintf("floatToHalf(%v): not exact", v))
	}
	return sign | uint16(exp)<<10 | man
}

// reference evaluates the graph on in with TensorFlow's semantics and
// returns its outputs.
func (g *graph) reference(in *nd) map[string]*nd {
	byName := map[string]*tnode{}
	for i := range g.nodes {
		byName[g.nodes[i].name] = &g.nodes[i]
	}
	vals := map[string]*nd{}
	var get func(s string) *nd
	ints := func(a *nd) []int {
		out := make([]int, len(a.data))
		for i, v := range a.data {
			out[i] = int(v)
		}
		return out
	}
	eval := func(n *tnode) {
		var inputs []string
		for _, s := range n.inputs {
			if s[0] != '^' {
				inputs = append(inputs, s)
			}
		}
		I := func(i int) *nd { return get(inputs[i]) }
		var out []*nd
		switch n.op {
		case "Placeholder":
			out = []*nd{in}
		case "Const":
			out = []*nd{g.consts[n.name]}
		case "Identity":
			out = []*nd{I(0)}
		case "Transpose":
			out = []*nd{ndTranspose(I(0), ints(I(1)))}
		case "Add", "AddV2", "BiasAdd":
			out = []*nd{ndBinary(I(0), I(1), func(x, y float64) float64 { return x + y })}
		case "Sub":
			out = []*nd{ndBinary(I(0), I(1), func(x, y float64) float64 { return x - y })}
		case "Mul":
			out = []*nd{ndBinary(I(0), I(1), func(x, y float64) float64 { return x * y })}
		case "Relu":
			out = []*nd{ndUnary(I(0), func(x float64) float64 { return max(x, 0) })}
		case "LeakyRelu":
			a := float64(float32(n.attr["alpha"].(float64)))
			out = []*nd{ndUnary(I(0), func(x float64) float64 {
				if x < 0 {
					return a * x
				}
				return x
			})}
		case "Sigmoid":
			out = []*nd{ndUnary(I(0), sigmoid)}
		case "Pad", "PadV2":
			p := ints(I(1))
			v := 0.0
			if n.op == "PadV2" {
				v = I(2).data[0]
			}
			var b, e []int
			for i := 0; i < len(p); i += 2 {
				b, e = append(b, p[i]), append(e, p[i+1])
			}
			out = []*nd{ndPad(I(0), b, e, v)}
		case "ConcatV2":
			var xs []*nd
			for i := range len(inputs) - 1 {
				xs = append(xs, I(i))
			}
			ax := int(I(len(inputs) - 1).data[0])
			if ax < 0 {
				ax += len(xs[0].shape)
			}
			out = []*nd{ndConcat(ax, xs)}
		case "SplitV":
			x := I(0)
			ax := int(I(2).data[0])
			if ax < 0 {
				ax += len(x.shape)
			}
			sizes := ints(I(1))
			if i := slices.Index(sizes, -1); i >= 0 {
				sizes[i] = 0
				sum := 0
				for _, s := range sizes {
					sum += s
				}
				sizes[i] = x.shape[ax] - sum
			}
			out = ndSplit(x, ax, sizes)
		case "Split":
			x := I(1)
			ax := int(I(0).data[0])
			k := int(n.attr["num_split"].(int64))
			out = ndSplit(x, ax, slices.Repeat([]int{x.shape[ax] / k}, k))
		case "Reshape":
			x := I(0)
			shape := ints(I(1))
			if i := slices.Index(shape, -1); i >= 0 {
				shape[i] = 1
				p := 1
				for _, s := range shape {
					p *= s
				}
				shape[i] = len(x.data) / p
			}
			out = []*nd{newND(shape, x.data)}
		case "SparseToDense":
			shape, def := ints(I(1)), I(3).data[0]
			o := newND(shape, nil)
			for i := range o.data {
				o.data[i] = def
			}
			if len(I(0).data) != 0 {
				panic("reference: SparseToDense with indices")
			}
			out = []*nd{o}
		case "Conv2D":
			out = []*nd{refConv(I(0), I(1), n.attr)}
		case "MaxPool":
			out = []*nd{refMaxPool(I(0), n.attr)}
		case "ResizeBilinear":
			size := ints(I(1))
			if g.resizeRatio != 0 {
				for i := range size {
					size[i] = int(math.Round(float64(size[i]) * g.resizeRatio))
				}
			}
			out = []*nd{refResize(I(0), size, n.attr)}
		default:
			panic("reference: op " + n.op)
		}
		for k, v := range out {
			vals[n.name+":"+strconv.Itoa(k)] = v
		}
	}
	get = func(s string) *nd {
		name, k, ok := cutRef(s)
		if !ok {
			name, k = s, 0
		}
		key := name + ":" + strconv.Itoa(k)
		if v, ok := vals[key]; ok {
			return v
		}
		eval(byName[name])
		return vals[key]
	}
	res := map[string]*nd{}
	for _, o := range g.outputs {
		res[o] = get(o)
	}
	return res
}

func cutRef(s string) (string, int, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			k, err := strconv.Atoi(s[i+1:])
			return s[:i], k, err == nil
		}
	}
	return s, 0, false
}

// tfSamePads returns TensorFlow's SAME padding before and after.
func tfSamePads(in, k, s, d int) (int, int, int) {
	out := (in + s - 1) / s
	eff := d*(k-1) + 1
	total := max(0, (out-1)*s+eff-in)
	return total / 2, total - total/2, out
}

// refConv is TensorFlow's Conv2D, NHWC, filter HWIO, groups allowed.
func refConv(x, f *nd, attr map[string]any) *nd {
	st, dl := attr["strides"].([]int64), attr["dilations"].([]int64)
	sh, sw, dh, dw := int(st[1]), int(st[2]), int(dl[1]), int(dl[2])
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	KH, KW, CI, CO := f.shape[0], f.shape[1], f.shape[2], f.shape[3]
	groups := C / CI
	var pt, pl, OH, OW int
	if attr["padding"] == "SAME" {
		pt, _, OH = tfSamePads(H, KH, sh, dh)
		pl, _, OW = tfSamePads(W, KW, sw, dw)
	} else {
		OH, OW = (H-(dh*(KH-1)+1))/sh+1, (W-(dw*(KW-1)+1))/sw+1
	}
	out := newND([]int{N, OH, OW, CO}, nil)
	k := 0
	for n := range N {
		for oy := range OH {
			for ox := range OW {
				for o := range CO {
					g := o / (CO / groups)
					sum := 0.0
					for ky := range KH {
						y := oy*sh + ky*dh - pt
						if y < 0 || y >= H {
							continue
						}
						for kx := range KW {
							xx := ox*sw + kx*dw - pl
							if xx < 0 || xx >= W {
								continue
							}
							xo := ((n*H+y)*W+xx)*C + g*CI
							fo := (ky*KW+kx)*CI*CO + o
							for ci := range CI {
								sum += x.data[xo+ci] * f.data[fo+ci*CO]
							}
						}
					}
					out.data[k] = sum
					k++
				}
			}
		}
	}
	return out
}

// refMaxPool is TensorFlow's MaxPool, NHWC.
func refMaxPool(x *nd, attr map[string]any) *nd {
	ks, st := attr["ksize"].([]int64), attr["strides"].([]int64)
	KH, KW, sh, sw := int(ks[1]), int(ks[2]), int(st[1]), int(st[2])
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	var pt, pl, OH, OW int
	if attr["padding"] == "SAME" {
		pt, _, OH = tfSamePads(H, KH, sh, 1)
		pl, _, OW = tfSamePads(W, KW, sw, 1)
	} else {
		OH, OW = (H-KH)/sh+1, (W-KW)/sw+1
	}
	out := newND([]int{N, OH, OW, C}, nil)
	k := 0
	each(out.shape, func(idx []int) {
		m := math.Inf(-1)
		for ky := range KH {
			for kx := range KW {
				y, xx := idx[1]*sh+ky-pt, idx[2]*sw+kx-pl
				if y >= 0 && y < H && xx >= 0 && xx < W {
					m = max(m, x.at([]int{idx[0], y, xx, idx[3]}))
				}
			}
		}
		out.data[k] = m
		k++
	})
	return out
}

// refResize is TensorFlow's ResizeBilinear, NHWC.
func refResize(x *nd, size []int, attr map[string]any) *nd {
	ac, _ := attr["align_corners"].(bool)
	hp, _ := attr["half_pixel_centers"].(bool)
	N, H, W, C := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	coord := func(o, in, out int) (int, int, float64) {
		scale := float64(in) / float64(out)
		if ac && out > 1 {
			scale = float64(in-1) / float64(out-1)
		}
		v := float64(o) * scale
		if hp {
			v = (float64(o)+0.5)*scale - 0.5
		}
		lo := math.Floor(v)
		return max(int(lo), 0), min(int(math.Ceil(v)), in-1), v - lo
	}
	out := newND([]int{N, size[0], size[1], C}, nil)
	k := 0
	each(out.shape, func(idx []int) {
		y0, y1, fy := coord(idx[1], H, size[0])
		x0, x1, fx := coord(idx[2], W, size[1])
		p := func(y, xx int) float64 { return x.at([]int{idx[0], y, xx, idx[3]}) }
		top := p(y0, x0) + (p(y0, x1)-p(y0, x0))*fx
		bot := p(y1, x0) + (p(y1, x1)-p(y1, x0))*fx
		out.data[k] = top + (bot-top)*fy
		k++
	})
	return out
}
