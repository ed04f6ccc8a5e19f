package tfjs

import (
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
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
func (c *converter) constInput(n *tfNode, i int, what string) (*tensor.Tensor, error) {
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
	if len(shape) > tensor.MaxRank {
		return nil, fmt.Errorf("input of rank %d", len(shape))
	}
	for _, d := range shape {
		if d < 1 || d > tensor.MaxDim {
			return nil, fmt.Errorf("input shape %v has unknown or bad dimensions; set Options.InputShape", shape)
		}
	}
	name := c.inputNames[n.Name]
	c.inputs = append(c.inputs, onnx.ValueInfo{Name: name, Dtype: onnx.Float, Dims: slices.Clone(shape)})
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
	p64, err := pt.Ints("perm")
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
		return one(&value{konst: x.konst.Transpose(p)})
	}
	u := c.passOn(n, x)
	u.perm = make([]int, r)
	for i := range p {
		u.perm[i] = x.perm[p[i]]
	}
	return one(u)
}
