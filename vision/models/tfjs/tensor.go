package tfjs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const (
	// maxRank bounds the rank of any tensor the converter handles.
	maxRank = 8
	// maxDim bounds one dimension of an inferred activation shape.
	maxDim = 1 << 31
	// maxFolded bounds the elements of a tensor made by constant folding
	// (SparseToDense, broadcasting arithmetic): folding never builds more
	// than the model's own weights hold, and a hostile file must not make
	// it allocate gigabytes.
	maxFolded = 1 << 20
)

// tensor is a constant: the value of a Const node or of a folded
// subgraph, in TensorFlow's (logical) layout, row-major.
type tensor struct {
	shape []int64
	float bool      // f holds the data, else i does
	f     []float32 // float32 (and dequantised) data
	i     []int64   // integer (and bool) data
}

// numel returns the number of elements of shape, or -1 when it is
// negative or implausibly large.
func numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d > maxDim {
			return -1
		}
		if d != 0 && n > math.MaxInt64/4/d {
			return -1
		}
		n *= d
	}
	return n
}

func (t *tensor) len() int {
	if t.float {
		return len(t.f)
	}
	return len(t.i)
}

// ints returns an integer tensor's values; what names it for an error.
func (t *tensor) ints(what string) ([]int64, error) {
	if t.float {
		return nil, fmt.Errorf("%s: want an integer constant, got a float one", what)
	}
	return t.i, nil
}

// scalarInt returns the one value of an integer tensor of one element.
func (t *tensor) scalarInt(what string) (int64, error) {
	v, err := t.ints(what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: want one value, got shape %v", what, t.shape)
	}
	return v[0], nil
}

// scalarFloat returns the one value of a tensor of one element.
func (t *tensor) scalarFloat(what string) (float32, error) {
	if t.len() != 1 {
		return 0, fmt.Errorf("%s: want one value, got shape %v", what, t.shape)
	}
	if t.float {
		return t.f[0], nil
	}
	return float32(t.i[0]), nil
}

// strides returns the row-major strides of shape.
func strides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// transpose returns t with its dimensions permuted: output dimension j
// is input dimension p[j]. p must be a permutation of t's rank.
func (t *tensor) transpose(p []int) *tensor {
	r := len(t.shape)
	out := &tensor{shape: make([]int64, r), float: t.float}
	for j := range p {
		out.shape[j] = t.shape[p[j]]
	}
	n := int64(t.len())
	inStr := strides(t.shape)
	// step[j] is how far the input index moves per step of output dim j.
	step := make([]int64, r)
	for j := range p {
		step[j] = inStr[p[j]]
	}
	if t.float {
		out.f = make([]float32, n)
	} else {
		out.i = make([]int64, n)
	}
	if n == 0 {
		return out
	}
	idx := make([]int64, r)
	src := int64(0)
	for k := int64(0); k < n; k++ {
		if t.float {
			out.f[k] = t.f[src]
		} else {
			out.i[k] = t.i[src]
		}
		for j := r - 1; j >= 0; j-- {
			idx[j]++
			src += step[j]
			if idx[j] < out.shape[j] {
				break
			}
			src -= step[j] * idx[j]
			idx[j] = 0
		}
	}
	return out
}

// broadcastShape returns the NumPy broadcast of a and b.
func broadcastShape(a, b []int64) ([]int64, error) {
	r := max(len(a), len(b))
	out := make([]int64, r)
	for i := range r {
		da, db := int64(1), int64(1)
		if k := i - (r - len(a)); k >= 0 {
			da = a[k]
		}
		if k := i - (r - len(b)); k >= 0 {
			db = b[k]
		}
		switch {
		case da == db, db == 1:
			out[i] = da
		case da == 1:
			out[i] = db
		default:
			return nil, fmt.Errorf("shapes %v and %v do not broadcast", a, b)
		}
	}
	return out, nil
}

// binaryConst folds an elementwise op on two constants of one kind.
func binaryConst(op string, a, b *tensor) (*tensor, error) {
	if a.float != b.float {
		return nil, errors.New("mixes float and integer constants")
	}
	shape, err := broadcastShape(a.shape, b.shape)
	if err != nil {
		return nil, err
	}
	n := numel(shape)
	if n < 0 || n > maxFolded {
		return nil, fmt.Errorf("folded constant of shape %v is too large", shape)
	}
	r := len(shape)
	// Per-operand strides over the output index, 0 along broadcast dims.
	bstr := func(s []int64) []int64 {
		st := strides(s)
		out := make([]int64, r)
		for i := range r {
			if k := i - (r - len(s)); k >= 0 && s[k] != 1 {
				out[i] = st[k]
			}
		}
		return out
	}
	sa, sb := bstr(a.shape), bstr(b.shape)
	out := &tensor{shape: shape, float: a.float}
	if a.float {
		out.f = make([]float32, n)
	} else {
		out.i = make([]int64, n)
	}
	idx := make([]int64, r)
	for k := int64(0); k < n; k++ {
		ia, ib := int64(0), int64(0)
		for d := range r {
			ia += idx[d] * sa[d]
			ib += idx[d] * sb[d]
		}
		if a.float {
			x, y := a.f[ia], b.f[ib]
			switch op {
			case "add":
				out.f[k] = x + y
			case "sub":
				out.f[k] = x - y
			case "mul":
				out.f[k] = x * y
			}
		} else {
			x, y := a.i[ia], b.i[ib]
			switch op {
			case "add":
				out.i[k] = x + y
			case "sub":
				out.i[k] = x - y
			case "mul":
				out.i[k] = x * y
			}
		}
		for d := r - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
	return out, nil
}

// sparseToDense folds TensorFlow's SparseToDense on constants.
func sparseToDense(indices, outShape, values, def *tensor) (*tensor, error) {
	shape, err := outShape.ints("output_shape")
	if err != nil {
		return nil, err
	}
	if len(outShape.shape) > 1 || len(shape) > maxRank {
		return nil, fmt.Errorf("output_shape has shape %v", outShape.shape)
	}
	n := numel(shape)
	if n < 0 || n > maxFolded {
		return nil, fmt.Errorf("output shape %v is too large or negative", shape)
	}
	if values.float != def.float {
		return nil, errors.New("sparse_values and default_value differ in type")
	}
	if def.len() != 1 {
		return nil, fmt.Errorf("default_value has shape %v, want a scalar", def.shape)
	}
	idx, err := indices.ints("sparse_indices")
	if err != nil {
		return nil, err
	}
	// indices: scalar (one index into a 1-D output), [k] (k indices into
	// a 1-D output) or [k, rank].
	var count, width int64
	switch len(indices.shape) {
	case 0:
		count, width = 1, 1
	case 1:
		count, width = indices.shape[0], 1
	case 2:
		count, width = indices.shape[0], indices.shape[1]
	default:
		return nil, fmt.Errorf("sparse_indices has shape %v", indices.shape)
	}
	if count > 0 && width != int64(len(shape)) {
		return nil, fmt.Errorf("sparse_indices of width %d for an output of rank %d", width, len(shape))
	}
	if vl := int64(values.len()); vl != 1 && vl != count {
		return nil, fmt.Errorf("%d sparse_values for %d indices", vl, count)
	}
	out := &tensor{shape: append([]int64(nil), shape...), float: def.float}
	if def.float {
		out.f = make([]float32, n)
		for k := range out.f {
			out.f[k] = def.f[0]
		}
	} else {
		out.i = make([]int64, n)
		for k := range out.i {
			out.i[k] = def.i[0]
		}
	}
	st := strides(shape)
	for k := int64(0); k < count; k++ {
		off := int64(0)
		for d := int64(0); d < width; d++ {
			v := idx[k*width+d]
			if v < 0 || v >= shape[d] {
				return nil, fmt.Errorf("sparse index %d out of range [0, %d)", v, shape[d])
			}
			off += v * st[d]
		}
		vk := k
		if values.len() == 1 {
			vk = 0
		}
		if def.float {
			out.f[off] = values.f[vk]
		} else {
			out.i[off] = values.i[vk]
		}
	}
	return out, nil
}

// halfToFloat converts an IEEE 754 binary16 value to float32.
func halfToFloat(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	man := uint32(h) & 0x3ff
	switch {
	case exp == 0:
		// Zero or subnormal: man × 2⁻²⁴, exact in float32.
		f := float32(man) / (1 << 24)
		if sign != 0 {
			f = -f
		}
		return f
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | man<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | man<<13)
	}
}

// rawFloats returns data as little-endian float32 bytes.
func rawFloats(data []float32) []byte {
	b := make([]byte, 0, 4*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// rawInts returns data as little-endian int64 bytes.
func rawInts(data []int64) []byte {
	b := make([]byte, 0, 8*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}
