package vision

import (
	"cmp"
	"slices"
)

// Score counts a detector's hits against labelled boxes.
type Score struct {
	TP, FP, FN int
}

// Add sums two scores.
func (s Score) Add(o Score) Score { return Score{s.TP + o.TP, s.FP + o.FP, s.FN + o.FN} }

// Precision is TP / (TP + FP), 0 with no detections.
func (s Score) Precision() float64 {
	if s.TP+s.FP == 0 {
		return 0
	}
	return float64(s.TP) / float64(s.TP+s.FP)
}

// Recall is TP / (TP + FN), 0 with no labelled boxes.
func (s Score) Recall() float64 {
	if s.TP+s.FN == 0 {
		return 0
	}
	return float64(s.TP) / float64(s.TP+s.FN)
}

// Match scores detections against labelled boxes as PASCAL VOC and COCO
// do: from the most confident detection down, each takes the unmatched
// labelled box it overlaps most, a hit when the IoU is at least iou.
// Labelled boxes flagged ignore (people too small or too hidden to
// demand) neither count as misses nor make a detection that takes them a
// false positive.
func Match(dets []Detection, truth []Box, ignore []bool, iou float64) Score {
	order := make([]int, len(dets))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return cmp.Compare(dets[b].Confidence, dets[a].Confidence) })
	taken := make([]bool, len(truth))
	var s Score
	for _, i := range order {
		best, bestIoU := -1, iou
		for j, t := range truth {
			if taken[j] {
				continue
			}
			if v := dets[i].Box.IoU(t); v >= bestIoU {
				best, bestIoU = j, v
			}
		}
		switch {
		case best < 0:
			s.FP++
		case best < len(ignore) && ignore[best]:
			taken[best] = true
		default:
			taken[best] = true
			s.TP++
		}
	}
	for j := range truth {
		if !taken[j] && !(j < len(ignore) && ignore[j]) {
			s.FN++
		}
	}
	return s
}
