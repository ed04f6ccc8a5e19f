// Package tensor holds the constants of a TF.js graph being converted:
// weights and folded subgraphs, in TensorFlow's (logical) layout, with
// the few operations the converter evaluates on them at conversion time
// (transpose, broadcasting arithmetic, SparseToDense) and the bounds
// that keep a hostile model from making it allocate gigabytes. It runs
// no network: everything it computes becomes an ONNX initialiser.
package tensor

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

const (
	// MaxRank bounds the rank of any tensor the converter handles.
	MaxRank = 8
	// MaxDim bounds one dimension of an inferred activation shape.
	MaxDim = 1 << 31
	// MaxFolded bounds the elements of a tensor made by constant folding
	// (SparseToDense, broadcasting arithmetic): folding never builds more
	// than the model's own weights hold, and a hostile file must not make
	// it allocate gigabytes.
	MaxFolded = 1 << 20
)

// Tensor is a constant: the value of a Const node or of a folded
// subgraph, in TensorFlow's (logical) layout, row-major.
type Tensor struct {
	Shape []int64
	Float bool      // F holds the data, else I does
	F     []float32 // float32 (and dequantised) data
	I     []int64   // integer (and bool) data
}

// Numel returns the number of elements of shape, or -1 when it is
// negative or implausibly large.
func Numel(shape []int64) int64 {
	n := int64(1)
	for _, d := range shape {
		if d < 0 || d > MaxDim {
			return -1
		}
		if d != 0 && n > math.MaxInt64/4/d {
			return -1
		}
		n *= d
	}
	return n
}

// Len returns the number of elements.
func (t *Tensor) Len() int {
	if t.Float {
		return len(t.F)
	}
	return len(t.I)
}

// Ints returns an integer tensor's values; what names it for an error.
func (t *Tensor) Ints(what string) ([]int64, error) {
	if t.Float {
		return nil, fmt.Errorf("%s: want an integer constant, got a float one", what)
	}
	return t.I, nil
}

// ScalarInt returns the one value of an integer tensor of one element.
func (t *Tensor) ScalarInt(what string) (int64, error) {
	v, err := t.Ints(what)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: want one value, got shape %v", what, t.Shape)
	}
	return v[0], nil
}

// ScalarFloat returns the one value of a tensor of one element.
func (t *Tensor) ScalarFloat(what string) (float32, error) {
	if t.Len() != 1 {
		return 0, fmt.Errorf("%s: want one value, got shape %v", what, t.Shape)
	}
	if t.Float {
		return t.F[0], nil
	}
	return float32(t.I[0]), nil
}

// Strides returns the row-major strides of shape.
func Strides(shape []int64) []int64 {
	s := make([]int64, len(shape))
	acc := int64(1)
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// Transpose returns t with its dimensions permuted: output dimension j
// is input dimension p[j]. p must be a permutation of t's rank.
func (t *Tensor) Transpose(p []int) *Tensor {
	r := len(t.Shape)
	out := &Tensor{Shape: make([]int64, r), Float: t.Float}
	for j := range p {
		out.Shape[j] = t.Shape[p[j]]
	}
	n := int64(t.Len())
	inStr := Strides(t.Shape)
	// step[j] is how far the input index moves per step of output dim j.
	step := make([]int64, r)
	for j := range p {
		step[j] = inStr[p[j]]
	}
	if t.Float {
		out.F = make([]float32, n)
	} else {
		out.I = make([]int64, n)
	}
	if n == 0 {
		return out
	}
	idx := make([]int64, r)
	src := int64(0)
	for k := int64(0); k < n; k++ {
		if t.Float {
			out.F[k] = t.F[src]
		} else {
			out.I[k] = t.I[src]
		}
		for j := r - 1; j >= 0; j-- {
			idx[j]++
			src += step[j]
			if idx[j] < out.Shape[j] {
				break
			}
			src -= step[j] * idx[j]
			idx[j] = 0
		}
	}
	return out
}

// BroadcastShape returns the NumPy broadcast of a and b.
func BroadcastShape(a, b []int64) ([]int64, error) {
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

// Binary folds an elementwise op (op is "add", "sub" or "mul") on two
// constants of one kind.
func Binary(op string, a, b *Tensor) (*Tensor, error) {
	if a.Float != b.Float {
		return nil, errors.New("mixes float and integer constants")
	}
	shape, err := BroadcastShape(a.Shape, b.Shape)
	if err != nil {
		return nil, err
	}
	n := Numel(shape)
	if n < 0 || n > MaxFolded {
		return nil, fmt.Errorf("folded constant of shape %v is too large", shape)
	}
	r := len(shape)
	// Per-operand Strides over the output index, 0 along broadcast dims.
	bstr := func(s []int64) []int64 {
		st := Strides(s)
		out := make([]int64, r)
		for i := range r {
			if k := i - (r - len(s)); k >= 0 && s[k] != 1 {
				out[i] = st[k]
			}
		}
		return out
	}
	sa, sb := bstr(a.Shape), bstr(b.Shape)
	out := &Tensor{Shape: shape, Float: a.Float}
	if a.Float {
		out.F = make([]float32, n)
	} else {
		out.I = make([]int64, n)
	}
	idx := make([]int64, r)
	for k := int64(0); k < n; k++ {
		ia, ib := int64(0), int64(0)
		for d := range r {
			ia += idx[d] * sa[d]
			ib += idx[d] * sb[d]
		}
		if a.Float {
			x, y := a.F[ia], b.F[ib]
			switch op {
			case "add":
				out.F[k] = x + y
			case "sub":
				out.F[k] = x - y
			case "mul":
				out.F[k] = x * y
			}
		} else {
			x, y := a.I[ia], b.I[ib]
			switch op {
			case "add":
				out.I[k] = x + y
			case "sub":
				out.I[k] = x - y
			case "mul":
				out.I[k] = x * y
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

// SparseToDense folds TensorFlow's SparseToDense on constants.
func SparseToDense(indices, outShape, values, def *Tensor) (*Tensor, error) {
	shape, err := outShape.Ints("output_shape")
	if err != nil {
		return nil, err
	}
	if len(outShape.Shape) > 1 || len(shape) > MaxRank {
		return nil, fmt.Errorf("output_shape has shape %v", outShape.Shape)
	}
	n := Numel(shape)
	if n < 0 || n > MaxFolded {
		return nil, fmt.Errorf("output shape %v is too large or negative", shape)
	}
	if values.Float != def.Float {
		return nil, errors.New("sparse_values and default_value differ in type")
	}
	if def.Len() != 1 {
		return nil, fmt.Errorf("default_value has shape %v, want a scalar", def.Shape)
	}
	idx, err := indices.Ints("sparse_indices")
	if err != nil {
		return nil, err
	}
	// indices: scalar (one index into a 1-D output), [k] (k indices into
	// a 1-D output) or [k, rank].
	var count, width int64
	switch len(indices.Shape) {
	case 0:
		count, width = 1, 1
	case 1:
		count, width = indices.Shape[0], 1
	case 2:
		count, width = indices.Shape[0], indices.Shape[1]
	default:
		return nil, fmt.Errorf("sparse_indices has shape %v", indices.Shape)
	}
	if count > 0 && width != int64(len(shape)) {
		return nil, fmt.Errorf("sparse_indices of width %d for an output of rank %d", width, len(shape))
	}
	if vl := int64(values.Len()); vl != 1 && vl != count {
		return nil, fmt.Errorf("%d sparse_values for %d indices", vl, count)
	}
	out := &Tensor{Shape: append([]int64(nil), shape...), Float: def.Float}
	if def.Float {
		out.F = make([]float32, n)
		for k := range out.F {
			out.F[k] = def.F[0]
		}
	} else {
		out.I = make([]int64, n)
		for k := range out.I {
			out.I[k] = def.I[0]
		}
	}
	st := Strides(shape)
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
		if values.Len() == 1 {
			vk = 0
		}
		if def.Float {
			out.F[off] = values.F[vk]
		} else {
			out.I[off] = values.I[vk]
		}
	}
	return out, nil
}

// HalfToFloat converts an IEEE 754 binary16 value to float32.
func HalfToFloat(h uint16) float32 {
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

// RawFloats returns data as little-endian float32 bytes.
func RawFloats(data []float32) []byte {
	b := make([]byte, 0, 4*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint32(b, math.Float32bits(v))
	}
	return b
}

// RawInts returns data as little-endian int64 bytes.
func RawInts(data []int64) []byte {
	b := make([]byte, 0, 8*len(data))
	for _, v := range data {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	return b
}
