package cv

import (
	"fmt"
	"image"
	"image/color"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// NanoDet's preprocessing: BGR, (x − mean) / std per channel, as it was
// trained (RangiLyu/nanodet's config).
var (
	nanoMean = [3]float64{103.53, 116.28, 123.675}
	nanoStd  = [3]float32{57.375, 57.12, 58.395}
)

// NetInput is the network input NanoDet runs a w×h image region on:
// the region scaled by scale (0: scaled to fit input, never enlarged),
// then shrunk if its longest side still exceeds input, each side rounded
// up to a multiple of 32 (the largest stride), at least 64. It also
// returns the scale the region is resized by to fit that input.
func NetInput(w, h int, scale float64, input int) (image.Point, float64) {
	if w <= 0 || h <= 0 || input <= 0 {
		return image.Point{}, 0
	}
	long := float64(max(w, h))
	if scale <= 0 {
		scale = min(1, float64(input)/long)
	}
	scale = min(scale, float64(input)/long)
	up := func(v int) int { return max(64, (v+31)/32*32) }
	sw, sh := int(float64(w)*scale+0.5), int(float64(h)*scale+0.5)
	return image.Pt(up(max(sw, 1)), up(max(sh, 1))), scale
}

type nanodet struct {
	net    gocv.Net
	cfg    ModelConfig
	names  []string
	layers []string
}

func loadNanoDet(c ModelConfig) (model, error) {
	names, err := classNames(c.Names, vision.COCOClasses)
	if err != nil {
		return nil, err
	}
	net, layers, err := loadNet(c)
	if err != nil {
		return nil, err
	}
	m := &nanodet{net: net, cfg: c, names: names, layers: layers}
	// A model that is not a NanoDet head (wrong outputs) fails here.
	if err := trialRun(m, c); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *nanodet) close() { m.net.Close() }

// detect runs the network on img, which the caller has already scaled
// (NetInput): img is padded at the right and bottom to in with the mean
// colour (zero after normalisation), so boxes come back in img's pixels.
// With no in, img is scaled to fit the model's input here.
func (m *nanodet) detect(img gocv.Mat, in image.Point) ([]vision.Detection, error) {
	src := img
	scale := 1.0
	if in == (image.Point{}) {
		in, scale = NetInput(img.Cols(), img.Rows(), 0, m.cfg.Input)
		if scale != 1 {
			src = gocv.NewMat()
			defer src.Close()
			gocv.Resize(img, &src, image.Pt(int(float64(img.Cols())*scale+0.5), int(float64(img.Rows())*scale+0.5)), 0, 0, gocv.InterpolationLinear)
		}
	}
	if src.Cols() > in.X || src.Rows() > in.Y || in.X%32 != 0 || in.Y%32 != 0 {
		return nil, fmt.Errorf("nanodet: a %dx%d image does not fit input %dx%d (multiples of 32)", src.Cols(), src.Rows(), in.X, in.Y)
	}
	padded := gocv.NewMat()
	defer padded.Close()
	gocv.CopyMakeBorder(src, &padded, 0, in.Y-src.Rows(), 0, in.X-src.Cols(), gocv.BorderConstant,
		color.RGBA{B: uint8(nanoMean[0] + 0.5), G: uint8(nanoMean[1] + 0.5), R: uint8(nanoMean[2] + 0.5)})
	blob := gocv.BlobFromImage(padded, 1.0, in, gocv.NewScalar(nanoMean[0], nanoMean[1], nanoMean[2], 0), false, false)
	defer blob.Close()
	px, err := blob.DataPtrFloat32()
	if err != nil {
		return nil, fmt.Errorf("nanodet: blob: %w", err)
	}
	plane := in.X * in.Y
	for c := range 3 {
		inv := 1 / nanoStd[c]
		p := px[c*plane : (c+1)*plane]
		for i := range p {
			p[i] *= inv
		}
	}
	m.net.SetInput(blob, "")
	outs := m.net.ForwardLayers(m.layers)
	defer func() {
		for _, o := range outs {
			o.Close()
		}
	}()
	levels, err := nanoLevels(outs, in, len(m.names))
	if err != nil {
		return nil, err
	}
	lb := vision.Letterbox{Scale: 1, FrameW: src.Cols(), FrameH: src.Rows(), InputW: in.X, InputH: in.Y}
	dets, err := vision.DecodeNanoDet(vision.NanoDetParams{
		Letterbox: lb, Classes: m.names, Keep: m.cfg.Keep, Confidence: m.cfg.Confidence,
		ClassConfidence: m.cfg.ClassConfidence, NMS: m.cfg.NMS,
	}, levels)
	if err != nil {
		return nil, err
	}
	if scale != 1 {
		for i := range dets {
			b := &dets[i].Box
			b.X, b.Y, b.W, b.H = b.X/scale, b.Y/scale, b.W/scale, b.H/scale
		}
	}
	return dets, nil
}

// nanoLevels pairs the network's outputs by grid: a NanoDet head has, for
// each stride, a [1, cells, classes] score tensor and a [1, cells, 4×bins]
// distance tensor. The stride follows from the cells and the input; the
// score tensor is the one as wide as the class list.
func nanoLevels(outs []gocv.Mat, in image.Point, classes int) ([]vision.NanoDetLevel, error) {
	type pair struct{ scores, dists []float32 }
	byCells := map[int]*pair{}
	var order []int
	for _, o := range outs {
		sz := o.Size()
		if len(sz) != 3 || sz[0] != 1 {
			return nil, fmt.Errorf("nanodet: output of shape %v: want [1, cells, values]", sz)
		}
		f, err := o.DataPtrFloat32()
		if err != nil {
			return nil, fmt.Errorf("nanodet: output: %w", err)
		}
		p := byCells[sz[1]]
		if p == nil {
			p = &pair{}
			byCells[sz[1]] = p
			order = append(order, sz[1])
		}
		dst := &p.dists
		if sz[2] == classes {
			dst = &p.scores
		}
		if *dst != nil {
			return nil, fmt.Errorf("nanodet: two outputs of %d cells and %d values", sz[1], sz[2])
		}
		*dst = f
	}
	var levels []vision.NanoDetLevel
	for _, cells := range order {
		p := byCells[cells]
		if p.scores == nil || p.dists == nil {
			return nil, fmt.Errorf("nanodet: the output of %d cells has no pair (%d classes)", cells, classes)
		}
		stride := 0
		for _, s := range []int{8, 16, 32, 64} {
			if ((in.X+s-1)/s)*((in.Y+s-1)/s) == cells {
				stride = s
			}
		}
		if stride == 0 {
			return nil, fmt.Errorf("nanodet: %d cells match no stride of input %dx%d", cells, in.X, in.Y)
		}
		levels = append(levels, vision.NanoDetLevel{Stride: stride, Scores: p.scores, Dists: p.dists})
	}
	return levels, nil
}
