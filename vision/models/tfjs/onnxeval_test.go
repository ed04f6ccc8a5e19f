package tfjs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
)

// A minimal ONNX reader and evaluator, to check the converter's output
// without onnx or OpenCV.

type pbField struct {
	num  int
	wire int
	v    uint64
	b    []byte
}

func pbParse(b []byte) ([]pbField, error) {
	var out []pbField
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errors.New("bad tag")
		}
		b = b[n:]
		f := pbField{num: int(tag >> 3), wire: int(tag & 7)}
		switch f.wire {
		case 0:
			v, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errors.New("bad varint")
			}
			f.v, b = v, b[n:]
		case 2:
			l, n := binary.Uvarint(b)
			if n <= 0 || uint64(len(b)-n) < l {
				return nil, errors.New("bad length")
			}
			f.b, b = b[n:n+int(l)], b[n+int(l):]
		case 5:
			if len(b) < 4 {
				return nil, errors.New("short fixed32")
			}
			f.v, b = uint64(binary.LittleEndian.Uint32(b)), b[4:]
		default:
			return nil, fmt.Errorf("wire type %d", f.wire)
		}
		out = append(out, f)
	}
	return out, nil
}

type xModel struct {
	ir, opset int64
	domain    string
	nodes     []xNode
	inits     map[string]xTensor
	initOrder []string
	inputs    []xValue
	outputs   []xValue
}

type xNode struct {
	name, op string
	in, out  []string
	attrs    map[string]xAttr
}

// xAttrFloat is AttributeProto.FLOAT, written out here so that the
// reader does not lean on the writer it checks.
const xAttrFloat = 1

type xAttr struct {
	typ    int64
	f      float32
	i      int64
	s      string
	ints   []int64
	floats []float32
}

type xTensor struct {
	dims  []int64
	dtype int64
	raw   []byte
}

type xValue struct {
	name string
	elem int64
	dims []int64
}

func (t xTensor) values() []float64 {
	var out []float64
	switch t.dtype {
	case onnx.Float:
		for i := 0; i+4 <= len(t.raw); i += 4 {
			out = append(out, float64(math.Float32frombits(binary.LittleEndian.Uint32(t.raw[i:]))))
		}
	case onnx.Int64:
		for i := 0; i+8 <= len(t.raw); i += 8 {
			out = append(out, float64(int64(binary.LittleEndian.Uint64(t.raw[i:]))))
		}
	}
	return out
}

func (t xTensor) ints() []int64 {
	var out []int64
	for _, v := range t.values() {
		out = append(out, int64(v))
	}
	return out
}

func parseONNX(b []byte) (*xModel, error) {
	fs, err := pbParse(b)
	if err != nil {
		return nil, err
	}
	m := &xModel{inits: map[string]xTensor{}}
	for _, f := range fs {
		switch f.num {
		case 1:
			m.ir = int64(f.v)
		case 7:
			if err := m.parseGraph(f.b); err != nil {
				return nil, err
			}
		case 8:
			os, err := pbParse(f.b)
			if err != nil {
				return nil, err
			}
			for _, o := range os {
				switch o.num {
				case 1:
					m.domain = string(o.b)
				case 2:
					m.opset = int64(o.v)
				}
			}
		}
	}
	return m, nil
}

func (m *xModel) parseGraph(b []byte) error {
	fs, err := pbParse(b)
	if err != nil {
		return err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			n, err := parseNode(f.b)
			if err != nil {
				return err
			}
			m.nodes = append(m.nodes, n)
		case 5:
			t, name, err := parseTensor(f.b)
			if err != nil {
				return err
			}
			if _, dup := m.inits[name]; dup {
				return fmt.Errorf("initializer %q twice", name)
			}
			m.inits[name] = t
			m.initOrder = append(m.initOrder, name)
		case 11, 12:
			v, err := parseValueInfo(f.b)
			if err != nil {
				return err
			}
			if f.num == 11 {
				m.inputs = append(m.inputs, v)
			} else {
				m.outputs = append(m.outputs, v)
			}
		}
	}
	return nil
}

func parseNode(b []byte) (xNode, error) {
	n := xNode{attrs: map[string]xAttr{}}
	fs, err := pbParse(b)
	if err != nil {
		return n, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			n.in = append(n.in, string(f.b))
		case 2:
			n.out = append(n.out, string(f.b))
		case 3:
			n.name = string(f.b)
		case 4:
			n.op = string(f.b)
		case 5:
			as, err := pbParse(f.b)
			if err != nil {
				return n, err
			}
			var a xAttr
			var name string
			for _, x := range as {
				switch x.num {
				case 1:
					name = string(x.b)
				case 2:
					a.f = math.Float32frombits(uint32(x.v))
				case 3:
					a.i = int64(x.v)
				case 4:
					a.s = string(x.b)
				case 7:
					a.floats = append(a.floats, math.Float32frombits(uint32(x.v)))
				case 8:
					a.ints = append(a.ints, int64(x.v))
				case 20:
					a.typ = int64(x.v)
				}
			}
			n.attrs[name] = a
		}
	}
	return n, nil
}

func parseTensor(b []byte) (xTensor, string, error) {
	var t xTensor
	var name string
	fs, err := pbParse(b)
	if err != nil {
		return t, "", err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			t.dims = append(t.dims, int64(f.v))
		case 2:
			t.dtype = int64(f.v)
		case 8:
			name = string(f.b)
		case 9:
			t.raw = f.b
		}
	}
	return t, name, nil
}

func parseValueInfo(b []byte) (xValue, error) {
	var v xValue
	fs, err := pbParse(b)
	if err != nil {
		return v, err
	}
	for _, f := range fs {
		switch f.num {
		case 1:
			v.name = string(f.b)
		case 2: // TypeProto
			tf, err := pbParse(f.b)
			if err != nil {
				return v, err
			}
			for _, t := range tf {
				if t.num != 1 {
					continue
				}
				tt, err := pbParse(t.b)
				if err != nil {
					return v, err
				}
				for _, x := range tt {
					switch x.num {
					case 1:
						v.elem = int64(x.v)
					case 2:
						ds, err := pbParse(x.b)
						if err != nil {
							return v, err
						}
						for _, d := range ds {
							dv, err := pbParse(d.b)
							if err != nil {
								return v, err
							}
							for _, y := range dv {
								if y.num == 1 {
									v.dims = append(v.dims, int64(y.v))
								}
							}
						}
					}
				}
			}
		}
	}
	return v, nil
}

// ops counts the model's nodes by op type.
func (m *xModel) ops() map[string]int {
	out := map[string]int{}
	for _, n := range m.nodes {
		out[n.op]++
	}
	return out
}

// eval runs the model on the named inputs, checking as it goes that
// every tensor is defined once, before it is read.
func (m *xModel) eval(inputs map[string]*nd) (map[string]*nd, error) {
	vals := map[string]*nd{}
	for _, in := range m.inputs {
		x, ok := inputs[in.name]
		if !ok {
			return nil, fmt.Errorf("no value for input %q", in.name)
		}
		vals[in.name] = x
	}
	for _, name := range m.initOrder {
		t := m.inits[name]
		shape := make([]int, len(t.dims))
		for i, d := range t.dims {
			shape[i] = int(d)
		}
		vals[name] = newND(shape, t.values())
	}
	ints := func(a *nd) []int {
		out := make([]int, len(a.data))
		for i, v := range a.data {
			out[i] = int(v)
		}
		return out
	}
	for _, n := range m.nodes {
		var in []*nd
		for _, s := range n.in {
			v, ok := vals[s]
			if !ok {
				return nil, fmt.Errorf("node %q: input %q undefined", n.name, s)
			}
			in = append(in, v)
		}
		var out []*nd
		a := n.attrs
		switch n.op {
		case "Identity":
			out = []*nd{in[0]}
		case "Transpose":
			p := make([]int, len(a["perm"].ints))
			for i, v := range a["perm"].ints {
				p[i] = int(v)
			}
			out = []*nd{ndTranspose(in[0], p)}
		case "Add":
			out = []*nd{ndBinary(in[0], in[1], func(x, y float64) float64 { return x + y })}
		case "Sub":
			out = []*nd{ndBinary(in[0], in[1], func(x, y float64) float64 { return x - y })}
		case "Mul":
			out = []*nd{ndBinary(in[0], in[1], func(x, y float64) float64 { return x * y })}
		case "Relu":
			out = []*nd{ndUnary(in[0], func(x float64) float64 { return max(x, 0) })}
		case "LeakyRelu":
			al := float64(a["alpha"].f)
			out = []*nd{ndUnary(in[0], func(x float64) float64 {
				if x < 0 {
					return al * x
				}
				return x
			})}
		case "Sigmoid":
			out = []*nd{ndUnary(in[0], sigmoid)}
		case "Concat":
			ax := int(a["axis"].i)
			out = []*nd{ndConcat(ax, in)}
		case "Split":
			var sizes []int
			for _, s := range a["split"].ints {
				sizes = append(sizes, int(s))
			}
			out = ndSplit(in[0], int(a["axis"].i), sizes)
		case "Reshape":
			shape := ints(in[1])
			if i := slices.Index(shape, -1); i >= 0 {
				shape[i] = 1
				p := 1
				for _, s := range shape {
					p *= s
				}
				shape[i] = len(in[0].data) / p
			}
			for _, s := range shape {
				if s == 0 {
					return nil, errors.New("reshape with 0")
				}
			}
			out = []*nd{newND(shape, in[0].data)}
		case "Pad":
			p := ints(in[1])
			r := len(p) / 2
			out = []*nd{ndPad(in[0], p[:r], p[r:], in[2].data[0])}
		case "Conv":
			var bias *nd
			if len(in) > 2 {
				bias = in[2]
			}
			out = []*nd{onnxConv(in[0], in[1], bias, a)}
		case "MaxPool":
			out = []*nd{onnxMaxPool(in[0], a)}
		case "Resize":
			if len(in[1].data) != 0 || len(in) != 3 {
				return nil, errors.New("resize: want an empty roi and scales")
			}
			out = []*nd{onnxResize(in[0], in[2].data, a["coordinate_transformation_mode"].s)}
		default:
			return nil, fmt.Errorf("eval: op %q", n.op)
		}
		if len(out) != len(n.out) {
			return nil, fmt.Errorf("node %q: %d outputs, want %d", n.name, len(n.out), len(out))
		}
		for i, o := range n.out {
			if _, dup := vals[o]; dup {
				return nil, fmt.Errorf("node %q: tensor %q defined twice", n.name, o)
			}
			vals[o] = out[i]
		}
	}
	res := map[string]*nd{}
	for _, o := range m.outputs {
		v, ok := vals[o.name]
		if !ok {
			return nil, fmt.Errorf("output %q undefined", o.name)
		}
		res[o.name] = v
	}
	return res, nil
}

// onnxPads returns ONNX's pads (begin, end) for a window, SAME_UPPER
// when auto_pad says so.
func onnxPads(a map[string]xAttr, in, k, s, d, dim int) (int, int) {
	if a["auto_pad"].s == "SAME_UPPER" {
		out := (in + s - 1) / s
		total := max(0, (out-1)*s+d*(k-1)+1-in)
		return total / 2, total - total/2
	}
	p := a["pads"].ints
	return int(p[dim]), int(p[dim+2])
}

func onnxConv(x, w, bias *nd, a map[string]xAttr) *nd {
	st, dl := a["strides"].ints, a["dilations"].ints
	group := max(int(a["group"].i), 1)
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	O, CI, KH, KW := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	if C != CI*group {
		panic("conv: channels")
	}
	sh, sw, dh, dw := int(st[0]), int(st[1]), int(dl[0]), int(dl[1])
	pt, pb := onnxPads(a, H, KH, sh, dh, 0)
	pl, pr := onnxPads(a, W, KW, sw, dw, 1)
	OH := (H+pt+pb-(dh*(KH-1)+1))/sh + 1
	OW := (W+pl+pr-(dw*(KW-1)+1))/sw + 1
	out := newND([]int{N, O, OH, OW}, nil)
	k := 0
	for n := range N {
		for o := range O {
			g := o / (O / group)
			for oy := range OH {
				for ox := range OW {
					sum := 0.0
					if bias != nil {
						sum = bias.data[o]
					}
					for ci := range CI {
						for ky := range KH {
							y := oy*sh + ky*dh - pt
							if y < 0 || y >= H {
								continue
							}
							for kx := range KW {
								xx := ox*sw + kx*dw - pl
								if xx >= 0 && xx < W {
									sum += x.data[((n*C+g*CI+ci)*H+y)*W+xx] * w.data[((o*CI+ci)*KH+ky)*KW+kx]
								}
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

func onnxMaxPool(x *nd, a map[string]xAttr) *nd {
	ks, st := a["kernel_shape"].ints, a["strides"].ints
	KH, KW, sh, sw := int(ks[0]), int(ks[1]), int(st[0]), int(st[1])
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	pt, pb := onnxPads(a, H, KH, sh, 1, 0)
	pl, pr := onnxPads(a, W, KW, sw, 1, 1)
	OH, OW := (H+pt+pb-KH)/sh+1, (W+pl+pr-KW)/sw+1
	out := newND([]int{N, C, OH, OW}, nil)
	k := 0
	each(out.shape, func(idx []int) {
		m := math.Inf(-1)
		for ky := range KH {
			for kx := range KW {
				y, xx := idx[2]*sh+ky-pt, idx[3]*sw+kx-pl
				if y >= 0 && y < H && xx >= 0 && xx < W {
					m = max(m, x.at([]int{idx[0], idx[1], y, xx}))
				}
			}
		}
		out.data[k] = m
		k++
	})
	return out
}

// onnxResize is ONNX Resize, mode linear, from scales, per the spec.
func onnxResize(x *nd, scales []float64, ctm string) *nd {
	N, C, H, W := x.shape[0], x.shape[1], x.shape[2], x.shape[3]
	OH := int(math.Floor(float64(H) * scales[2]))
	OW := int(math.Floor(float64(W) * scales[3]))
	coord := func(o, in, out int, scale float64) (int, int, float64) {
		var v float64
		switch ctm {
		case "half_pixel":
			v = (float64(o)+0.5)/scale - 0.5
		case "align_corners":
			if out > 1 {
				v = float64(o) * float64(in-1) / float64(out-1)
			}
		default: // asymmetric
			v = float64(o) / scale
		}
		v = min(max(v, 0), float64(in-1))
		lo := int(math.Floor(v))
		return lo, min(lo+1, in-1), v - float64(lo)
	}
	out := newND([]int{N, C, OH, OW}, nil)
	k := 0
	each(out.shape, func(idx []int) {
		y0, y1, fy := coord(idx[2], H, OH, scales[2])
		x0, x1, fx := coord(idx[3], W, OW, scales[3])
		p := func(y, xx int) float64 { return x.at([]int{idx[0], idx[1], y, xx}) }
		top := p(y0, x0) + (p(y0, x1)-p(y0, x0))*fx
		bot := p(y1, x0) + (p(y1, x1)-p(y1, x0))*fx
		out.data[k] = top + (bot-top)*fy
		k++
	})
	return out
}
