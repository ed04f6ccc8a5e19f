package tfjs

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
)

// supported lists the TensorFlow ops the converter maps.
var supported = map[string]bool{
	"Placeholder": true, "Const": true, "Identity": true, "Transpose": true,
	"Conv2D": true, "MaxPool": true, "ResizeBilinear": true,
	"Pad": true, "PadV2": true, "ConcatV2": true, "SplitV": true, "Split": true,
	"Reshape": true, "SparseToDense": true,
	"Add": true, "AddV2": true, "BiasAdd": true, "Sub": true, "Mul": true,
	"Relu": true, "LeakyRelu": true, "Sigmoid": true,
}

// convertNode converts one node, its inputs converted, returning the
// values of its outputs in order.
func (c *converter) convertNode(n *tfNode) ([]*value, error) {
	switch n.Op {
	case "Placeholder":
		return c.placeholder(n)
	case "Const":
		t := c.consts[n.Name]
		if t == nil {
			return nil, errors.New("constant missing from the weights manifest")
		}
		return one(&value{konst: t})
	case "Identity":
		if err := wantInputs(n, 1); err != nil {
			return nil, err
		}
		x, err := c.input(n, 0)
		if err != nil {
			return nil, err
		}
		return one(c.passOn(n, x))
	case "Transpose":
		return c.transpose(n)
	case "Conv2D":
		return c.conv2D(n)
	case "MaxPool":
		return c.maxPool(n)
	case "ResizeBilinear":
		return c.resizeBilinear(n)
	case "Pad", "PadV2":
		return c.pad(n)
	case "ConcatV2":
		return c.concat(n)
	case "SplitV", "Split":
		return c.split(n)
	case "Reshape":
		return c.reshape(n)
	case "SparseToDense":
		return c.sparseToDense(n)
	case "Add", "AddV2", "BiasAdd", "Sub", "Mul":
		return c.binary(n)
	case "Relu", "LeakyRelu", "Sigmoid":
		return c.unary(n)
	}
	return nil, fmt.Errorf("unsupported op %q", n.Op)
}

func one(v *value) ([]*value, error) { return []*value{v}, nil }

// wantInputs checks that n has k data inputs.
func wantInputs(n *tfNode, k int) error {
	if len(n.data) != k {
		return fmt.Errorf("want %d inputs, got %d", k, len(n.data))
	}
	return nil
}

// input returns the value of n's i-th data input.
func (c *converter) input(n *tfNode, i int) (*value, error) {
	if i >= len(n.data) {
		return nil, fmt.Errorf("want at least %d inputs, got %d", i+1, len(n.data))
	}
	r := n.data[i]
	v := c.vals[r]
	if v == nil {
		return nil, fmt.Errorf("input %q has no output %d", r.node, r.out)
	}
	return v, nil
}

// constInput returns n's i-th input, which must be a constant; what
// names it for errors.
func (c *converter) constInput(n *tfNode, i int, what string) (*tensor, error) {
	v, err := c.input(n, i)
	if err != nil {
		return nil, err
	}
	if v.konst == nil {
		return nil, fmt.Errorf("%s (input %d, %q) must be a constant", what, i, n.data[i].node)
	}
	return v.konst, nil
}

// tensorInput returns n's i-th input, which must not be a constant.
func (c *converter) tensorInput(n *tfNode, i int) (*value, error) {
	v, err := c.input(n, i)
	if err != nil {
		return nil, err
	}
	if v.konst != nil {
		return nil, fmt.Errorf("input %d (%q) is a constant; want a tensor computed from the model input", i, n.data[i].node)
	}
	return v, nil
}

// sole reports whether n is the only consumer of its i-th input.
func (c *converter) sole(n *tfNode, i int) bool { return c.uses[n.data[i]] == 1 }

// passOn returns n's first input as n's output, unchanged but for
// forgetting a foldable Conv that n is not the only reader of.
func (c *converter) passOn(n *tfNode, x *value) *value {
	u := *x
	if !c.sole(n, 0) {
		u.conv = nil
	}
	return &u
}

// tensorName returns a fresh ONNX name for n's output k.
func (c *converter) tensorName(n *tfNode, k int) string {
	if k == 0 {
		return c.fresh(n.Name)
	}
	return c.fresh(n.Name + ":" + strconv.Itoa(k))
}

func (c *converter) placeholder(n *tfNode) ([]*value, error) {
	if a, ok := n.Attr["dtype"]; ok && a.Type != "" && a.Type != "DT_FLOAT" {
		return nil, fmt.Errorf("input of type %s; only DT_FLOAT is supported", a.Type)
	}
	var shape []int64
	if c.inputNames[n.Name] == "" {
		return nil, errors.New("internal: unnamed input")
	}
	switch sig, sigOK := c.signatureInput(n.Name); {
	case c.opts.InputShape != nil:
		shape = slices.Clone(c.opts.InputShape)
	case sigOK:
		shape = sig
	default:
		s, ok := n.Attr["shape"].Shape.dims()
		if !ok {
			return nil, errors.New("input of unknown rank; set Options.InputShape")
		}
		shape = s
	}
	if len(shape) > maxRank {
		return nil, fmt.Errorf("input of rank %d", len(shape))
	}
	for _, d := range shape {
		if d < 1 || d > maxDim {
			return nil, fmt.Errorf("input shape %v has unknown or bad dimensions; set Options.InputShape", shape)
		}
	}
	name := c.inputNames[n.Name]
	c.inputs = append(c.inputs, valueInfo{name: name, dtype: onnxFloat, dims: slices.Clone(shape)})
	return one(&value{name: name, shape: shape, perm: identity(len(shape))})
}

// signatureInput returns the shape the signature declares for input
// node name.
func (c *converter) signatureInput(name string) ([]int64, bool) {
	for _, k := range []string{name + ":0", name} {
		if s, ok := c.model.Signature.Inputs[k]; ok {
			return s.TensorShape.dims()
		}
	}
	return nil, false
}

func (c *converter) transpose(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 2); err != nil {
		return nil, err
	}
	x, err := c.input(n, 0)
	if err != nil {
		return nil, err
	}
	pt, err := c.constInput(n, 1, "perm")
	if err != nil {
		return nil, err
	}
	p64, err := pt.ints("perm")
	if err != nil {
		return nil, err
	}
	r := len(x.logical())
	if len(p64) != r {
		return nil, fmt.Errorf("perm %v for a tensor of rank %d", p64, r)
	}
	p := make([]int, r)
	seen := make([]bool, r)
	for i, v := range p64 {
		if v < 0 || v >= int64(r) || seen[v] {
			return nil, fmt.Errorf("perm %v is not a permutation", p64)
		}
		seen[v] = true
		p[i] = int(v)
	}
	if x.konst != nil {
		return one(&value{konst: x.konst.transpose(p)})
	}
	u := c.passOn(n, x)
	u.perm = make([]int, r)
	for i := range p {
		u.perm[i] = x.perm[p[i]]
	}
	return one(u)
}

// layout reads a spatial op's data_format: the perm a logical tensor in
// it has when physically NCHW, and where H and W are in its attribute
// lists.
func layout(n *tfNode) (perm []int, h, w int, err error) {
	df, err := n.str("data_format", "NHWC")
	if err != nil {
		return nil, 0, 0, err
	}
	switch df {
	case "NHWC":
		return nhwc, 1, 2, nil
	case "NCHW":
		return identity(4), 2, 3, nil
	}
	return nil, 0, 0, fmt.Errorf("unsupported data_format %q", df)
}

// spatialAttr returns the H and W entries of a 4-entry list attribute
// (strides, dilations, ksize), def when absent; the batch and channel
// entries must be 1.
func spatialAttr(n *tfNode, key string, h, w int, def int64) ([2]int64, error) {
	l := n.ints(key)
	if l == nil {
		return [2]int64{def, def}, nil
	}
	if len(l) != 4 {
		return [2]int64{}, fmt.Errorf("%s %v: want 4 values", key, l)
	}
	for i, v := range l {
		if v < 1 || v > maxDim || (i != h && i != w && v != 1) {
			return [2]int64{}, fmt.Errorf("unsupported %s %v", key, l)
		}
	}
	return [2]int64{l[h], l[w]}, nil
}

// padding reads a spatial op's padding: true for SAME, false for VALID.
func padding(n *tfNode) (bool, error) {
	p, err := n.str("padding", "VALID")
	if err != nil {
		return false, err
	}
	switch p {
	case "VALID":
		return false, nil
	case "SAME":
		return true, nil
	}
	return false, fmt.Errorf("unsupported padding %q", p)
}

// spatialInput makes x physically NCHW for an op whose logical layout
// perm names. A pending pad of value padV on H and W only becomes the
// op's pads (top, left, bottom, right) when fold allows; any other
// pending pad is written out.
func (c *converter) spatialInput(x *value, perm []int, padV float32, fold bool) (*value, [4]int64, error) {
	var pads [4]int64
	if len(x.perm) != 4 {
		return nil, pads, fmt.Errorf("input of rank %d, want 4", len(x.perm))
	}
	if x.padB != nil && fold && slices.Equal(x.perm, perm) && x.padV == padV &&
		x.padB[0] == 0 && x.padB[1] == 0 && x.padE[0] == 0 && x.padE[1] == 0 {
		pads = [4]int64{x.padB[2], x.padB[3], x.padE[2], x.padE[3]}
		return &value{name: x.name, shape: x.shape, perm: x.perm}, pads, nil
	}
	u, err := c.materialise(x, perm)
	return u, pads, err
}

// outDim returns the output extent of a convolution or pooling window.
func outDim(in, k, stride, dil, pb, pe int64, same bool) (int64, error) {
	if same {
		return (in + stride - 1) / stride, nil
	}
	eff := dil*(k-1) + 1
	span := in + pb + pe - eff
	if span < 0 {
		return 0, fmt.Errorf("window of %d is larger than the padded input of %d", eff, in+pb+pe)
	}
	return span/stride + 1, nil
}

// windowAttrs returns the attributes of an ONNX Conv or MaxPool.
func windowAttrs(k, strides [2]int64, pads [4]int64, same bool) []onnxAttr {
	a := []onnxAttr{intsAttr("kernel_shape", k[0], k[1]), intsAttr("strides", strides[0], strides[1])}
	if same {
		return append(a, stringAttr("auto_pad", "SAME_UPPER"))
	}
	return append(a, intsAttr("pads", pads[:]...))
}

func (c *converter) conv2D(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 2); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, 0)
	if err != nil {
		return nil, err
	}
	w, err := c.constInput(n, 1, "filter")
	if err != nil {
		return nil, err
	}
	if !w.float || len(w.shape) != 4 {
		return nil, fmt.Errorf("filter of shape %v: want a 4-D float constant", w.shape)
	}
	perm, h, wi, err := layout(n)
	if err != nil {
		return nil, err
	}
	strides, err := spatialAttr(n, "strides", h, wi, 1)
	if err != nil {
		return nil, err
	}
	dil, err := spatialAttr(n, "dilations", h, wi, 1)
	if err != nil {
		return nil, err
	}
	same, err := padding(n)
	if err != nil {
		return nil, err
	}
	x, pads, err := c.spatialInput(x, perm, 0, !same)
	if err != nil {
		return nil, err
	}
	kh, kw, ci, co := w.shape[0], w.shape[1], w.shape[2], w.shape[3]
	ch := x.shape[1]
	if kh < 1 || kw < 1 || ci < 1 || co < 1 || ch%ci != 0 || co%(ch/ci) != 0 {
		return nil, fmt.Errorf("filter of shape %v on %d input channels", w.shape, ch)
	}
	group := ch / ci
	oh, err := outDim(x.shape[2], kh, strides[0], dil[0], pads[0], pads[2], same)
	if err != nil {
		return nil, err
	}
	ow, err := outDim(x.shape[3], kw, strides[1], dil[1], pads[1], pads[3], same)
	if err != nil {
		return nil, err
	}
	attrs := windowAttrs([2]int64{kh, kw}, strides, pads, same)
	attrs = append(attrs, intsAttr("dilations", dil[0], dil[1]))
	if group > 1 {
		attrs = append(attrs, intAttr("group", group))
	}
	weights := c.initializer(n.data[1].node, w.transpose([]int{3, 2, 0, 1})) // HWIO → OIHW
	name := c.tensorName(n, 0)
	node := c.emit(n.Name, "Conv", []string{x.name, weights}, []string{name}, attrs...)
	return one(&value{name: name, shape: []int64{x.shape[0], co, oh, ow}, perm: slices.Clone(perm), conv: node})
}

func (c *converter) maxPool(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 1); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, 0)
	if err != nil {
		return nil, err
	}
	perm, h, wi, err := layout(n)
	if err != nil {
		return nil, err
	}
	k, err := spatialAttr(n, "ksize", h, wi, 0)
	if err != nil {
		return nil, err
	}
	strides, err := spatialAttr(n, "strides", h, wi, 0)
	if err != nil {
		return nil, err
	}
	if k[0] < 1 || strides[0] < 1 {
		return nil, errors.New("ksize and strides are required")
	}
	same, err := padding(n)
	if err != nil {
		return nil, err
	}
	x, pads, err := c.spatialInput(x, perm, float32(math.Inf(-1)), !same)
	if err != nil {
		return nil, err
	}
	oh, err := outDim(x.shape[2], k[0], strides[0], 1, pads[0], pads[2], same)
	if err != nil {
		return nil, err
	}
	ow, err := outDim(x.shape[3], k[1], strides[1], 1, pads[1], pads[3], same)
	if err != nil {
		return nil, err
	}
	name := c.tensorName(n, 0)
	c.emit(n.Name, "MaxPool", []string{x.name}, []string{name}, windowAttrs(k, strides, pads, same)...)
	return one(&value{name: name, shape: []int64{x.shape[0], x.shape[1], oh, ow}, perm: slices.Clone(perm)})
}

// resizeScale returns the float32 scale that ONNX (floor(in·scale)) and
// OpenCV (in·scale truncated, in float) both turn into out.
func resizeScale(in, out int64) (float32, error) {
	s := float32(float64(out) / float64(in))
	for range 8 {
		got64 := int64(math.Floor(float64(s) * float64(in)))
		got32 := int64(float32(in) * s)
		if got64 == out && got32 == out {
			return s, nil
		}
		if min(got64, got32) < out {
			s = math.Nextafter32(s, float32(math.Inf(1)))
		} else {
			s = math.Nextafter32(s, 0)
		}
	}
	return 0, fmt.Errorf("no float32 scale resizes %d to %d", in, out)
}

func (c *converter) resizeBilinear(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 2); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, 0)
	if err != nil {
		return nil, err
	}
	st, err := c.constInput(n, 1, "size")
	if err != nil {
		return nil, err
	}
	size, err := st.ints("size")
	if err != nil {
		return nil, err
	}
	if len(size) != 2 || size[0] < 1 || size[1] < 1 || size[0] > maxDim || size[1] > maxDim {
		return nil, fmt.Errorf("bad size %v", size)
	}
	ac, hp := n.boolean("align_corners", false), n.boolean("half_pixel_centers", false)
	mode := "asymmetric"
	switch {
	case ac && hp:
		return nil, errors.New("align_corners and half_pixel_centers both set")
	case ac:
		mode = "align_corners"
	case hp:
		mode = "half_pixel"
	}
	if x.rank() != 4 {
		return nil, fmt.Errorf("input of rank %d, want 4", x.rank())
	}
	x, err = c.materialise(x, nhwc)
	if err != nil {
		return nil, err
	}
	sh, err := resizeScale(x.shape[2], size[0])
	if err != nil {
		return nil, err
	}
	sw, err := resizeScale(x.shape[3], size[1])
	if err != nil {
		return nil, err
	}
	if c.roi == "" {
		c.roi = c.initializer("resize/roi", &tensor{shape: []int64{0}, float: true, f: []float32{}})
	}
	scales := c.initializer(n.Name+"/scales", &tensor{shape: []int64{4}, float: true, f: []float32{1, 1, sh, sw}})
	name := c.tensorName(n, 0)
	c.emit(n.Name, "Resize", []string{x.name, c.roi, scales}, []string{name},
		stringAttr("coordinate_transformation_mode", mode), stringAttr("mode", "linear"))
	return one(&value{name: name, shape: []int64{x.shape[0], x.shape[1], size[0], size[1]}, perm: slices.Clone(nhwc)})
}

func (c *converter) pad(n *tfNode) ([]*value, error) {
	want := 2
	if n.Op == "PadV2" {
		want = 3
	}
	if err := wantInputs(n, want); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, 0)
	if err != nil {
		return nil, err
	}
	pt, err := c.constInput(n, 1, "paddings")
	if err != nil {
		return nil, err
	}
	p, err := pt.ints("paddings")
	if err != nil {
		return nil, err
	}
	r := x.rank()
	if !slices.Equal(pt.shape, []int64{int64(r), 2}) {
		return nil, fmt.Errorf("paddings of shape %v for a tensor of rank %d", pt.shape, r)
	}
	var val float32
	if n.Op == "PadV2" {
		vt, err := c.constInput(n, 2, "constant_values")
		if err != nil {
			return nil, err
		}
		if val, err = vt.scalarFloat("constant_values"); err != nil {
			return nil, err
		}
	}
	zero := true
	for _, v := range p {
		if v < 0 || v > maxDim {
			return nil, fmt.Errorf("unsupported paddings %v", p)
		}
		zero = zero && v == 0
	}
	if zero {
		return one(c.passOn(n, x))
	}
	if x.padB != nil && x.padV != val {
		if x, err = c.materialise(x, x.perm); err != nil {
			return nil, err
		}
	}
	u := &value{name: x.name, shape: x.shape, perm: x.perm, padV: val,
		padB: make([]int64, r), padE: make([]int64, r)}
	if x.padB != nil {
		copy(u.padB, x.padB)
		copy(u.padE, x.padE)
	}
	for i := range r {
		u.padB[x.perm[i]] += p[2*i]
		u.padE[x.perm[i]] += p[2*i+1]
		if u.shape[x.perm[i]]+u.padB[x.perm[i]]+u.padE[x.perm[i]] > maxDim {
			return nil, fmt.Errorf("padded shape too large")
		}
	}
	return one(u)
}

// normAxis resolves a possibly negative axis against rank r.
func normAxis(a int64, r int) (int, error) {
	if a < 0 {
		a += int64(r)
	}
	if a < 0 || a >= int64(r) {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, r)
	}
	return int(a), nil
}

func (c *converter) concat(n *tfNode) ([]*value, error) {
	k := len(n.data) - 1
	if k < 1 {
		return nil, fmt.Errorf("want at least 2 inputs, got %d", len(n.data))
	}
	at, err := c.constInput(n, k, "axis")
	if err != nil {
		return nil, err
	}
	a, err := at.scalarInt("axis")
	if err != nil {
		return nil, err
	}
	var first *value
	for i := range k {
		v, err := c.input(n, i)
		if err != nil {
			return nil, err
		}
		if v.konst == nil && first == nil {
			first = v
		}
	}
	if first == nil {
		return nil, errors.New("concatenation of constants only is not supported")
	}
	perm := first.perm
	axis, err := normAxis(a, len(perm))
	if err != nil {
		return nil, err
	}
	if k == 1 {
		return one(c.passOn(n, first))
	}
	var names []string
	var shape []int64
	for i := range k {
		v, _ := c.input(n, i)
		ls := v.logical()
		if len(ls) != len(perm) {
			return nil, fmt.Errorf("input %d of rank %d, want %d", i, len(ls), len(perm))
		}
		var u *value
		if v.konst != nil {
			pc, err := physicalConst(v.konst, perm)
			if err != nil {
				return nil, err
			}
			u = &value{name: c.initializer(n.data[i].node, pc), shape: pc.shape}
		} else if u, err = c.materialise(v, perm); err != nil {
			return nil, err
		}
		if shape == nil {
			shape = slices.Clone(u.shape)
		} else {
			for d := range shape {
				if d != perm[axis] && shape[d] != u.shape[d] {
					return nil, fmt.Errorf("input %d has physical shape %v, want %v off axis %d", i, u.shape, shape, perm[axis])
				}
			}
			shape[perm[axis]] += u.shape[perm[axis]]
		}
		names = append(names, u.name)
	}
	name := c.tensorName(n, 0)
	c.emit(n.Name, "Concat", names, []string{name}, intAttr("axis", int64(perm[axis])))
	return one(&value{name: name, shape: shape, perm: slices.Clone(perm)})
}

func (c *converter) split(n *tfNode) ([]*value, error) {
	xi, di, want := 0, 2, 3 // SplitV(value, size_splits, split_dim)
	if n.Op == "Split" {
		xi, di, want = 1, 0, 2 // Split(split_dim, value)
	}
	if err := wantInputs(n, want); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, xi)
	if err != nil {
		return nil, err
	}
	dt, err := c.constInput(n, di, "split_dim")
	if err != nil {
		return nil, err
	}
	d, err := dt.scalarInt("split_dim")
	if err != nil {
		return nil, err
	}
	axis, err := normAxis(d, x.rank())
	if err != nil {
		return nil, err
	}
	total := x.logical()[axis]
	var sizes []int64
	if n.Op == "SplitV" {
		st, err := c.constInput(n, 1, "size_splits")
		if err != nil {
			return nil, err
		}
		if sizes, err = st.ints("size_splits"); err != nil {
			return nil, err
		}
		sizes = slices.Clone(sizes)
		if len(st.shape) != 1 || len(sizes) < 1 || len(sizes) > 1<<12 {
			return nil, fmt.Errorf("size_splits of shape %v", st.shape)
		}
		fill, sum := -1, int64(0)
		for i, s := range sizes {
			switch {
			case s == -1 && fill < 0:
				fill = i
			case s < 1 || s > maxDim:
				return nil, fmt.Errorf("unsupported size_splits %v", sizes)
			default:
				sum += s
			}
		}
		if fill >= 0 {
			sizes[fill] = total - sum
			sum = total
			if sizes[fill] < 1 {
				return nil, fmt.Errorf("size_splits %v for %d", sizes, total)
			}
		}
		if sum != total {
			return nil, fmt.Errorf("size_splits %v do not add up to %d", sizes, total)
		}
	} else {
		k, ok := n.Attr["num_split"]
		if !ok || k.I == nil || *k.I < 1 || *k.I > 1<<12 || total%int64(*k.I) != 0 {
			return nil, fmt.Errorf("bad num_split for an axis of %d", total)
		}
		sizes = make([]int64, *k.I)
		for i := range sizes {
			sizes[i] = total / int64(*k.I)
		}
	}
	if len(sizes) == 1 {
		return one(c.passOn(n, x))
	}
	u, err := c.materialise(x, x.perm)
	if err != nil {
		return nil, err
	}
	pa := u.perm[axis]
	var outs []*value
	var names []string
	for k, s := range sizes {
		name := c.tensorName(n, k)
		shape := slices.Clone(u.shape)
		shape[pa] = s
		outs = append(outs, &value{name: name, shape: shape, perm: slices.Clone(u.perm)})
		names = append(names, name)
	}
	c.emit(n.Name, "Split", []string{u.name}, names, intAttr("axis", int64(pa)), intsAttr("split", sizes...))
	return outs, nil
}

func (c *converter) reshape(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 2); err != nil {
		return nil, err
	}
	x, err := c.input(n, 0)
	if err != nil {
		return nil, err
	}
	st, err := c.constInput(n, 1, "shape")
	if err != nil {
		return nil, err
	}
	want, err := st.ints("shape")
	if err != nil {
		return nil, err
	}
	if len(st.shape) != 1 || len(want) > maxRank {
		return nil, fmt.Errorf("shape constant of shape %v", st.shape)
	}
	total := numel(x.logical())
	shape := slices.Clone(want)
	fill, prod := -1, int64(1)
	for i, d := range shape {
		switch {
		case d == -1 && fill < 0:
			fill = i
		case d < 1 || d > maxDim:
			return nil, fmt.Errorf("unsupported shape %v", want)
		default:
			prod *= d
			if prod > total {
				return nil, fmt.Errorf("cannot reshape %v to %v", x.logical(), want)
			}
		}
	}
	if fill >= 0 {
		if total%prod != 0 || total == 0 {
			return nil, fmt.Errorf("cannot reshape %v to %v", x.logical(), want)
		}
		shape[fill] = total / prod
	} else if prod != total {
		return nil, fmt.Errorf("cannot reshape %v to %v", x.logical(), want)
	}
	if x.konst != nil {
		t := *x.konst
		t.shape = shape
		return one(&value{konst: &t})
	}
	u, err := c.materialise(x, identity(x.rank()))
	if err != nil {
		return nil, err
	}
	st64 := &tensor{shape: []int64{int64(len(want))}, i: want}
	name := c.tensorName(n, 0)
	c.emit(n.Name, "Reshape", []string{u.name, c.initializer(n.data[1].node, st64)}, []string{name})
	return one(&value{name: name, shape: shape, perm: identity(len(shape))})
}

func (c *converter) sparseToDense(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 4); err != nil {
		return nil, err
	}
	var in [4]*tensor
	for i, what := range []string{"sparse_indices", "output_shape", "sparse_values", "default_value"} {
		t, err := c.constInput(n, i, what)
		if err != nil {
			return nil, err
		}
		in[i] = t
	}
	t, err := sparseToDense(in[0], in[1], in[2], in[3])
	if err != nil {
		return nil, err
	}
	return one(&value{konst: t})
}

// convBias returns constant k as the bias of the Conv that produced v,
// when adding k to v is adding a bias: k varies along the channels only.
func convBias(k *tensor, v *value) (*tensor, bool) {
	if !k.float || len(k.shape) > v.rank() || v.padB != nil {
		return nil, false
	}
	ch := v.shape[1] // a Conv's output is physically NCHW
	off := v.rank() - len(k.shape)
	for i, d := range k.shape {
		if d != 1 && (v.perm[off+i] != 1 || d != ch) {
			return nil, false
		}
	}
	b := &tensor{shape: []int64{ch}, float: true, f: make([]float32, ch)}
	switch len(k.f) {
	case 1:
		for i := range b.f {
			b.f[i] = k.f[0]
		}
	case int(ch):
		copy(b.f, k.f)
	default:
		return nil, false
	}
	return b, true
}

func (c *converter) binary(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 2); err != nil {
		return nil, err
	}
	a, err := c.input(n, 0)
	if err != nil {
		return nil, err
	}
	b, err := c.input(n, 1)
	if err != nil {
		return nil, err
	}
	op, onnxOp := "add", "Add"
	switch n.Op {
	case "Sub":
		op, onnxOp = "sub", "Sub"
	case "Mul":
		op, onnxOp = "mul", "Mul"
	case "BiasAdd":
		if b.konst == nil || len(b.konst.shape) != 1 {
			return nil, errors.New("bias must be a 1-D constant")
		}
		df, err := n.str("data_format", "NHWC")
		if err != nil {
			return nil, err
		}
		if df == "NCHW" {
			// [C] → [C, 1, …, 1] so that it broadcasts along dim 1.
			r := len(a.logical())
			if r < 2 {
				return nil, fmt.Errorf("NCHW bias on a tensor of rank %d", r)
			}
			t := *b.konst
			t.shape = append([]int64{b.konst.shape[0]}, slices.Repeat([]int64{1}, r-2)...)
			b = &value{konst: &t}
		}
	}
	if a.konst != nil && b.konst != nil {
		t, err := binaryConst(op, a.konst, b.konst)
		if err != nil {
			return nil, err
		}
		return one(&value{konst: t})
	}
	// A bias after a Conv folds into it.
	for _, side := range []int{0, 1} {
		x, k := a, b
		if side == 1 {
			x, k = b, a
		}
		if x.konst != nil || k.konst == nil || x.conv == nil || !c.sole(n, side) ||
			len(x.conv.inputs) != 2 || op == "mul" || (op == "sub" && side == 1) {
			continue
		}
		bias, ok := convBias(k.konst, x)
		if !ok {
			continue
		}
		if op == "sub" {
			for i := range bias.f {
				bias.f[i] = -bias.f[i]
			}
		}
		x.conv.inputs = append(x.conv.inputs, c.initializer(n.data[1-side].node, bias))
		u := *x
		u.conv = nil
		return one(&u)
	}
	var ins [2]*value
	var perm []int
	switch {
	case a.konst == nil && b.konst == nil:
		perm = a.perm
		if a.rank() != b.rank() {
			perm = identity(max(a.rank(), b.rank()))
		}
		for i, v := range []*value{a, b} {
			p := perm
			if v.rank() != len(perm) {
				p = identity(v.rank())
			}
			if ins[i], err = c.materialise(v, p); err != nil {
				return nil, err
			}
		}
	default:
		di := 0
		if a.konst != nil {
			di = 1
		}
		x := []*value{a, b}[di]
		k := []*value{a, b}[1-di].konst
		perm = x.perm
		if ins[di], err = c.materialise(x, perm); err != nil {
			return nil, err
		}
		pc, err := physicalConst(k, perm)
		if err != nil {
			return nil, err
		}
		if !pc.float {
			return nil, errors.New("integer constant in float arithmetic")
		}
		ins[1-di] = &value{name: c.initializer(n.data[1-di].node, pc), shape: pc.shape}
	}
	shape, err := broadcastShape(ins[0].shape, ins[1].shape)
	if err != nil {
		return nil, err
	}
	if len(shape) != len(perm) {
		return nil, fmt.Errorf("result of rank %d", len(shape))
	}
	name := c.tensorName(n, 0)
	c.emit(n.Name, onnxOp, []string{ins[0].name, ins[1].name}, []string{name})
	return one(&value{name: name, shape: shape, perm: slices.Clone(perm)})
}

func (c *converter) unary(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 1); err != nil {
		return nil, err
	}
	x, err := c.tensorInput(n, 0)
	if err != nil {
		return nil, err
	}
	if x, err = c.materialise(x, x.perm); err != nil {
		return nil, err
	}
	var attrs []onnxAttr
	if n.Op == "LeakyRelu" {
		attrs = append(attrs, floatAttr("alpha", float32(n.float("alpha", 0.2))))
	}
	name := c.tensorName(n, 0)
	c.emit(n.Name, n.Op, []string{x.name}, []string{name}, attrs...)
	return one(&value{name: name, shape: x.shape, perm: slices.Clone(x.perm)})
}
