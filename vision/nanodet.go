package vision

import (
	"fmt"
	"math"
	"slices"
)

// NanoDet's head: for each stride a grid of cells, each with the score of
// every class (already through a sigmoid) and, for each side of the box
// (left, top, right, bottom), a discrete distribution over Bins distances
// (Generalised Focal Loss): the expected bin times the stride is the
// side's distance in input pixels from the cell's centre.

// NanoDet defaults, applied to zero fields of NanoDetParams.
const (
	// DefaultNanoDetConfidence is the least class score reported. Lower
	// than a YOLO's: the tracker's second stage uses the weak boxes to
	// keep a track through a frame where the person is half hidden, and
	// never starts a track from one (TrackerConfig.HighConfidence, 0.5 in
	// the analysis).
	DefaultNanoDetConfidence = 0.25
	// DefaultNanoDetNMS is NanoDet's own NMS threshold (0.6 in its demo).
	DefaultNanoDetNMS = 0.6
)

// DefaultNanoDetStrides are NanoDet-m/-g's three heads.
var DefaultNanoDetStrides = []int{8, 16, 32}

// DefaultClassConfidence are per-class thresholds above the general one
// for classes a COCO model confuses with common street objects: a pram
// came out as a motorbike at 0.38–0.39 on a real street camera.
var DefaultClassConfidence = map[string]float64{
	"bicycle":   0.45,
	"motorbike": 0.45,
}

// StreetClasses are the COCO classes reported by default by a trained
// detector on a city camera: people and road vehicles. Others (chairs,
// plants, traffic lights) are noise to a command centre; a camera's
// `keep` list reports them.
var StreetClasses = []string{"person", "bicycle", "car", "motorbike", "bus", "truck"}

// VehicleClasses are merged by NMS: a van is often both a `car` and a
// `truck` at once, and is one object.
var VehicleClasses = []string{"car", "truck", "bus"}

// NMSGroup is the key NMS compares boxes under: the class itself, or
// "vehicle" for the VehicleClasses, which suppress one another.
func NMSGroup(class string) string {
	if slices.Contains(VehicleClasses, class) {
		return "vehicle"
	}
	return class
}

// NanoDetLevel is one stride's output: Scores is cells×classes and Dists
// cells×4×bins, cells in row-major order of the stride's grid.
type NanoDetLevel struct {
	Stride int
	Scores []float32
	Dists  []float32
}

// NanoDetParams describes a NanoDet model's outputs and what to keep.
type NanoDetParams struct {
	Letterbox Letterbox
	// Classes are the class names by index (COCO for the shipped model).
	Classes []string
	// Keep are the class names to keep; empty keeps all.
	Keep []string
	// Confidence is the least score kept, 0..1. It defaults to 0.25.
	Confidence float64
	// ClassConfidence raises (or lowers) the threshold of single classes.
	ClassConfidence map[string]float64
	// NMS is the IoU above which the less confident of two boxes of one
	// NMS group is dropped. It defaults to 0.6.
	NMS float64
}

// DecodeNanoDet decodes a NanoDet head: the boxes of at least their
// class's threshold, mapped to frame pixels, after NMS that merges the
// vehicle classes, most confident first. The grid of each level follows
// from the letterbox's input size and the stride; a level whose tensors do
// not fit it, or levels that disagree on the number of classes or bins,
// are an error. Cells with non-finite values are skipped.
func DecodeNanoDet(p NanoDetParams, levels []NanoDetLevel) ([]Detection, error) {
	if err := p.Letterbox.validate(); err != nil {
		return nil, fmt.Errorf("nanodet: %w", err)
	}
	if p.Confidence == 0 {
		p.Confidence = DefaultNanoDetConfidence
	}
	if p.NMS == 0 {
		p.NMS = DefaultNanoDetNMS
	}
	if !(p.Confidence >= 0 && p.Confidence <= 1) || !(p.NMS > 0 && p.NMS <= 1) {
		return nil, fmt.Errorf("nanodet: confidence %v and NMS %v must be in 0..1", p.Confidence, p.NMS)
	}
	if len(levels) == 0 {
		return nil, fmt.Errorf("nanodet: no output levels")
	}
	d := decoder{YOLOParams: YOLOParams{Classes: p.Classes, Letterbox: p.Letterbox}}
	var keep map[string]bool
	if len(p.Keep) > 0 {
		keep = map[string]bool{}
		for _, c := range p.Keep {
			keep[c] = true
		}
	}
	// The threshold of each class index, and whether it is kept at all.
	var thresh []float64
	classes, bins := -1, -1
	var dets []Detection
	for li, l := range levels {
		if l.Stride <= 0 || l.Stride > p.Letterbox.InputW || l.Stride > p.Letterbox.InputH {
			return nil, fmt.Errorf("nanodet: level %d: stride %d does not fit input %dx%d", li, l.Stride, p.Letterbox.InputW, p.Letterbox.InputH)
		}
		gw := (p.Letterbox.InputW + l.Stride - 1) / l.Stride
		gh := (p.Letterbox.InputH + l.Stride - 1) / l.Stride
		cells := gw * gh
		if len(l.Scores)%cells != 0 || len(l.Dists)%(4*cells) != 0 || len(l.Scores) == 0 {
			return nil, fmt.Errorf("nanodet: level %d (stride %d, %dx%d cells): %d scores and %d distances do not fit the grid",
				li, l.Stride, gw, gh, len(l.Scores), len(l.Dists))
		}
		nc, nb := len(l.Scores)/cells, len(l.Dists)/(4*cells)
		if classes < 0 {
			classes, bins = nc, nb
			if bins < 2 {
				return nil, fmt.Errorf("nanodet: %d bins per side: want at least 2", bins)
			}
			thresh = make([]float64, classes)
			for c := range thresh {
				name := d.className(c)
				t, ok := p.ClassConfidence[name]
				if !ok {
					t = p.Confidence
				}
				if keep != nil && !keep[name] {
					t = math.Inf(1)
				}
				thresh[c] = t
			}
		} else if nc != classes || nb != bins {
			return nil, fmt.Errorf("nanodet: level %d has %d classes and %d bins, level 0 %d and %d", li, nc, nb, classes, bins)
		}
		s := float64(l.Stride)
		for k := range cells {
			row := l.Scores[k*classes : (k+1)*classes]
			best, score := -1, 0.0
			for c, v := range row {
				if f := float64(v); f >= thresh[c] && f > score {
					best, score = c, f
				}
			}
			if best < 0 || !isFinite(score) {
				continue
			}
			var side [4]float64
			ok := true
			for e := range 4 {
				side[e] = expectedBin(l.Dists[(k*4+e)*bins : (k*4+e+1)*bins])
				if !isFinite(side[e]) {
					ok = false
				}
			}
			if !ok {
				continue
			}
			cx, cy := (float64(k%gw)+0.5)*s, (float64(k/gw)+0.5)*s
			x0, y0 := cx-side[0]*s, cy-side[1]*s
			x1, y1 := cx+side[2]*s, cy+side[3]*s
			b := p.Letterbox.ToFrame(Box{X: x0, Y: y0, W: x1 - x0, H: y1 - y0})
			if !(b.W >= minBoxSize && b.H >= minBoxSize) {
				continue
			}
			dets = append(dets, Detection{Class: d.className(best), Confidence: score, Box: b})
		}
	}
	return NMSBy(capCandidates(dets), p.NMS, NMSGroup), nil
}

// expectedBin is the mean of the softmax of logits over their indices.
func expectedBin(logits []float32) float64 {
	m := math.Inf(-1)
	for _, v := range logits {
		m = max(m, float64(v))
	}
	if math.IsInf(m, 0) || math.IsNaN(m) {
		return math.NaN()
	}
	var sum, mean float64
	for i, v := range logits {
		e := math.Exp(float64(v) - m)
		sum += e
		mean += float64(i) * e
	}
	return mean / sum
}
