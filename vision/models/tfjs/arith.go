package tfjs

import (
	"errors"
	"fmt"
	"slices"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

// convBias returns constant k as the bias of the Conv that produced v,
// when adding k to v is adding a bias: k varies along the channels only.
func convBias(k *tensor.Tensor, v *value) (*tensor.Tensor, bool) {
	if !k.Float || len(k.Shape) > v.rank() || v.padB != nil {
		return nil, false
	}
	ch := v.shape[1] // a Conv's output is physically NCHW
	off := v.rank() - len(k.Shape)
	for i, d := range k.Shape {
		if d != 1 && (v.perm[off+i] != 1 || d != ch) {
			return nil, false
		}
	}
	b := &tensor.Tensor{Shape: []int64{ch}, Float: true, F: make([]float32, ch)}
	switch len(k.F) {
	case 1:
		for i := range b.F {
			b.F[i] = k.F[0]
		}
	case int(ch):
		copy(b.F, k.F)
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
		if b.konst == nil || len(b.konst.Shape) != 1 {
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
			t.Shape = append([]int64{b.konst.Shape[0]}, slices.Repeat([]int64{1}, r-2)...)
			b = &value{konst: &t}
		}
	}
	if a.konst != nil && b.konst != nil {
		t, err := tensor.Binary(op, a.konst, b.konst)
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
			len(x.conv.Inputs) != 2 || op == "mul" || (op == "sub" && side == 1) {
			continue
		}
		bias, ok := convBias(k.konst, x)
		if !ok {
			continue
		}
		if op == "sub" {
			for i := range bias.F {
				bias.F[i] = -bias.F[i]
			}
		}
		x.conv.Inputs = append(x.conv.Inputs, c.initializer(n.data[1-side].node, bias))
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
		if !pc.Float {
			return nil, errors.New("integer constant in float arithmetic")
		}
		ins[1-di] = &value{name: c.initializer(n.data[1-di].node, pc), shape: pc.Shape}
	}
	shape, err := tensor.BroadcastShape(ins[0].shape, ins[1].shape)
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
	var attrs []onnx.Attr
	if n.Op == "LeakyRelu" {
		attrs = append(attrs, onnx.FloatAttr("alpha", float32(n.float("alpha", 0.2))))
	}
	name := c.tensorName(n, 0)
	c.emit(n.Name, n.Op, []string{x.name}, []string{name}, attrs...)
	return one(&value{name: name, shape: x.shape, perm: slices.Clone(x.perm)})
}
