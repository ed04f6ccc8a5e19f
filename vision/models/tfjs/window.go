package tfjs

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/onnx"
	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

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
		if v < 1 || v > tensor.MaxDim || (i != h && i != w && v != 1) {
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
func windowAttrs(k, strides [2]int64, pads [4]int64, same bool) []onnx.Attr {
	a := []onnx.Attr{onnx.IntsAttr("kernel_shape", k[0], k[1]), onnx.IntsAttr("strides", strides[0], strides[1])}
	if same {
		return append(a, onnx.StringAttr("auto_pad", "SAME_UPPER"))
	}
	return append(a, onnx.IntsAttr("pads", pads[:]...))
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
	if !w.Float || len(w.Shape) != 4 {
		return nil, fmt.Errorf("filter of shape %v: want a 4-D float constant", w.Shape)
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
	kh, kw, ci, co := w.Shape[0], w.Shape[1], w.Shape[2], w.Shape[3]
	ch := x.shape[1]
	if kh < 1 || kw < 1 || ci < 1 || co < 1 || ch%ci != 0 || co%(ch/ci) != 0 {
		return nil, fmt.Errorf("filter of shape %v on %d input channels", w.Shape, ch)
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
	attrs = append(attrs, onnx.IntsAttr("dilations", dil[0], dil[1]))
	if group > 1 {
		attrs = append(attrs, onnx.IntAttr("group", group))
	}
	weights := c.initializer(n.data[1].node, w.Transpose([]int{3, 2, 0, 1})) // HWIO → OIHW
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
	size, err := st.Ints("size")
	if err != nil {
		return nil, err
	}
	if len(size) != 2 || size[0] < 1 || size[1] < 1 || size[0] > tensor.MaxDim || size[1] > tensor.MaxDim {
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
		c.roi = c.initializer("resize/roi", &tensor.Tensor{Shape: []int64{0}, Float: true, F: []float32{}})
	}
	scales := c.initializer(n.Name+"/scales", &tensor.Tensor{Shape: []int64{4}, Float: true, F: []float32{1, 1, sh, sw}})
	name := c.tensorName(n, 0)
	c.emit(n.Name, "Resize", []string{x.name, c.roi, scales}, []string{name},
		onnx.StringAttr("coordinate_transformation_mode", mode), onnx.StringAttr("mode", "linear"))
	return one(&value{name: name, shape: []int64{x.shape[0], x.shape[1], size[0], size[1]}, perm: slices.Clone(nhwc)})
}
