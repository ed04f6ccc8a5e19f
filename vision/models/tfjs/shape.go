package tfjs

import (
	"errors"
	"fmt"
	"slices"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

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
	p, err := pt.Ints("paddings")
	if err != nil {
		return nil, err
	}
	r := x.rank()
	if !slices.Equal(pt.Shape, []int64{int64(r), 2}) {
		return nil, fmt.Errorf("paddings of shape %v for a tensor of rank %d", pt.Shape, r)
	}
	var val float32
	if n.Op == "PadV2" {
		vt, err := c.constInput(n, 2, "constant_values")
		if err != nil {
			return nil, err
		}
		if val, err = vt.ScalarFloat("constant_values"); err != nil {
			return nil, err
		}
	}
	zero := true
	for _, v := range p {
		if v < 0 || v > tensor.MaxDim {
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
		if u.shape[x.perm[i]]+u.padB[x.perm[i]]+u.padE[x.perm[i]] > tensor.MaxDim {
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
	a, err := at.ScalarInt("axis")
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
			u = &value{name: c.initializer(n.data[i].node, pc), shape: pc.Shape}
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
	c.emit(n.Name, "Concat", names, []string{name}, onnx.IntAttr("axis", int64(perm[axis])))
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
	d, err := dt.ScalarInt("split_dim")
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
		if sizes, err = st.Ints("size_splits"); err != nil {
			return nil, err
		}
		sizes = slices.Clone(sizes)
		if len(st.Shape) != 1 || len(sizes) < 1 || len(sizes) > 1<<12 {
			return nil, fmt.Errorf("size_splits of shape %v", st.Shape)
		}
		fill, sum := -1, int64(0)
		for i, s := range sizes {
			switch {
			case s == -1 && fill < 0:
				fill = i
			case s < 1 || s > tensor.MaxDim:
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
	c.emit(n.Name, "Split", []string{u.name}, names, onnx.IntAttr("axis", int64(pa)), onnx.IntsAttr("split", sizes...))
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
	want, err := st.Ints("shape")
	if err != nil {
		return nil, err
	}
	if len(st.Shape) != 1 || len(want) > tensor.MaxRank {
		return nil, fmt.Errorf("shape constant of shape %v", st.Shape)
	}
	total := tensor.Numel(x.logical())
	shape := slices.Clone(want)
	fill, prod := -1, int64(1)
	for i, d := range shape {
		switch {
		case d == -1 && fill < 0:
			fill = i
		case d < 1 || d > tensor.MaxDim:
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
		t.Shape = shape
		return one(&value{konst: &t})
	}
	u, err := c.materialise(x, identity(x.rank()))
	if err != nil {
		return nil, err
	}
	st64 := &tensor.Tensor{Shape: []int64{int64(len(want))}, I: want}
	name := c.tensorName(n, 0)
	c.emit(n.Name, "Reshape", []string{u.name, c.initializer(n.data[1].node, st64)}, []string{name})
	return one(&value{name: name, shape: shape, perm: identity(len(shape))})
}

func (c *converter) sparseToDense(n *tfNode) ([]*value, error) {
	if err := wantInputs(n, 4); err != nil {
		return nil, err
	}
	var in [4]*tensor.Tensor
	for i, what := range []string{"sparse_indices", "output_shape", "sparse_values", "default_value"} {
		t, err := c.constInput(n, i, what)
		if err != nil {
			return nil, err
		}
		in[i] = t
	}
	t, err := tensor.SparseToDense(in[0], in[1], in[2], in[3])
	if err != nil {
		return nil, err
	}
	return one(&value{konst: t})
}
