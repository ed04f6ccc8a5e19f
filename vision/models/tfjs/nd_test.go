package tfjs

import (
	"fmt"
	"math"
	"slices"
)

// nd is a dense float64 array for the tests' reference evaluators.
type nd struct {
	shape []int
	data  []float64
}

func newND(shape []int, data []float64) *nd {
	n := 1
	for _, d := range shape {
		n *= d
	}
	if data == nil {
		data = make([]float64, n)
	}
	if len(data) != n {
		panic(fmt.Sprintf("nd: %d values for shape %v", len(data), shape))
	}
	return &nd{shape: slices.Clone(shape), data: data}
}

func ndStrides(shape []int) []int {
	s := make([]int, len(shape))
	acc := 1
	for i := len(shape) - 1; i >= 0; i-- {
		s[i] = acc
		acc *= shape[i]
	}
	return s
}

// each calls f with every index of shape, in row-major order.
func each(shape []int, f func(idx []int)) {
	n := 1
	for _, d := range shape {
		n *= d
	}
	idx := make([]int, len(shape))
	for k := 0; k < n; k++ {
		f(idx)
		for d := len(shape) - 1; d >= 0; d-- {
			idx[d]++
			if idx[d] < shape[d] {
				break
			}
			idx[d] = 0
		}
	}
}

func (a *nd) at(idx []int) float64 {
	off := 0
	for i, s := range ndStrides(a.shape) {
		off += idx[i] * s
	}
	return a.data[off]
}

// ndTranspose: output dim j is input dim p[j].
func ndTranspose(a *nd, p []int) *nd {
	shape := make([]int, len(p))
	for j := range p {
		shape[j] = a.shape[p[j]]
	}
	out := newND(shape, nil)
	in := make([]int, len(p))
	k := 0
	each(shape, func(idx []int) {
		for j := range p {
			in[p[j]] = idx[j]
		}
		out.data[k] = a.at(in)
		k++
	})
	return out
}

func ndBinary(a, b *nd, f func(x, y float64) float64) *nd {
	r := max(len(a.shape), len(b.shape))
	pad := func(s []int) []int { return append(slices.Repeat([]int{1}, r-len(s)), s...) }
	sa, sb := pad(a.shape), pad(b.shape)
	shape := make([]int, r)
	for i := range r {
		shape[i] = max(sa[i], sb[i])
		if (sa[i] != shape[i] && sa[i] != 1) || (sb[i] != shape[i] && sb[i] != 1) {
			panic(fmt.Sprintf("nd: shapes %v and %v do not broadcast", a.shape, b.shape))
		}
	}
	out := newND(shape, nil)
	ia, ib := make([]int, r), make([]int, r)
	A, B := &nd{sa, a.data}, &nd{sb, b.data}
	k := 0
	each(shape, func(idx []int) {
		for i := range r {
			ia[i] = min(idx[i], sa[i]-1)
			ib[i] = min(idx[i], sb[i]-1)
		}
		out.data[k] = f(A.at(ia), B.at(ib))
		k++
	})
	return out
}

func ndUnary(a *nd, f func(float64) float64) *nd {
	out := newND(a.shape, nil)
	for i, v := range a.data {
		out.data[i] = f(v)
	}
	return out
}

func ndConcat(axis int, xs []*nd) *nd {
	shape := slices.Clone(xs[0].shape)
	shape[axis] = 0
	for _, x := range xs {
		shape[axis] += x.shape[axis]
	}
	out := newND(shape, nil)
	k := 0
	in := make([]int, len(shape))
	each(shape, func(idx []int) {
		copy(in, idx)
		for _, x := range xs {
			if in[axis] < x.shape[axis] {
				out.data[k] = x.at(in)
				break
			}
			in[axis] -= x.shape[axis]
		}
		k++
	})
	return out
}

func ndSplit(a *nd, axis int, sizes []int) []*nd {
	var outs []*nd
	start := 0
	for _, s := range sizes {
		shape := slices.Clone(a.shape)
		shape[axis] = s
		out := newND(shape, nil)
		in := make([]int, len(shape))
		k := 0
		each(shape, func(idx []int) {
			copy(in, idx)
			in[axis] += start
			out.data[k] = a.at(in)
			k++
		})
		outs = append(outs, out)
		start += s
	}
	return outs
}

func ndPad(a *nd, begin, end []int, v float64) *nd {
	shape := slices.Clone(a.shape)
	for i := range shape {
		shape[i] += begin[i] + end[i]
	}
	out := newND(shape, nil)
	in := make([]int, len(shape))
	k := 0
	each(shape, func(idx []int) {
		inside := true
		for i := range idx {
			in[i] = idx[i] - begin[i]
			inside = inside && in[i] >= 0 && in[i] < a.shape[i]
		}
		if inside {
			out.data[k] = a.at(in)
		} else {
			out.data[k] = v
		}
		k++
	})
	return out
}

func sigmoid(x float64) float64 { return 1 / (1 + math.Exp(-x)) }

// maxDiff returns the largest absolute difference of a and b, +Inf
// when their shapes differ.
func maxDiff(a, b *nd) float64 {
	if !slices.Equal(a.shape, b.shape) {
		return math.Inf(1)
	}
	d := 0.0
	for i := range a.data {
		d = max(d, math.Abs(a.data[i]-b.data[i]))
	}
	return d
}
