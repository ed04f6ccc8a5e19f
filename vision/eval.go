package vision

import (
	"cmp"
	"encoding/json"
	"fmt"
	"os"
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

// Labels are frames of a clip labelled by hand: the ground truth that
// the detectors' accuracy and the tracker's hold are measured on.
type Labels struct {
	Source string          `json:"source"`
	Note   string          `json:"note"`
	Frames []LabelledFrame `json:"frames"`
}

// LabelledFrame is one labelled frame, by its index in the clip.
type LabelledFrame struct {
	Frame    int        `json:"frame"`
	People   []LabelBox `json:"people"`
	Vehicles []LabelBox `json:"vehicles,omitempty"`
}

// LabelBox is one labelled object: x, y, w, h in pixels; Ignore for one
// too hidden or cut off to demand; ID names it across frames (walkers).
type LabelBox struct {
	Box    [4]float64 `json:"box"`
	Ignore bool       `json:"ignore,omitempty"`
	ID     string     `json:"id,omitempty"`
}

// ReadLabels reads a labels file.
func ReadLabels(path string) (Labels, error) {
	var l Labels
	b, err := os.ReadFile(path)
	if err != nil {
		return l, err
	}
	if err := json.Unmarshal(b, &l); err != nil {
		return l, fmt.Errorf("labels %s: %w", path, err)
	}
	if len(l.Frames) == 0 {
		return l, fmt.Errorf("labels %s: no frames", path)
	}
	return l, nil
}

// People counts the labelled people that are not ignored.
func (l Labels) People() int {
	n := 0
	for _, f := range l.Frames {
		for _, p := range f.People {
			if !p.Ignore {
				n++
			}
		}
	}
	return n
}

// LastFrame is the highest labelled frame index.
func (l Labels) LastFrame() int {
	last := 0
	for _, f := range l.Frames {
		last = max(last, f.Frame)
	}
	return last
}

// ScorePeople matches the frame's `person` detections of at least
// minConf against its labelled people (Match).
func (f LabelledFrame) ScorePeople(dets []Detection, minConf, iou float64) Score {
	var people []Detection
	for _, d := range dets {
		if d.Class == "person" && d.Confidence >= minConf {
			people = append(people, d)
		}
	}
	truth := make([]Box, len(f.People))
	ignore := make([]bool, len(f.People))
	for i, p := range f.People {
		truth[i] = Box{X: p.Box[0], Y: p.Box[1], W: p.Box[2], H: p.Box[3]}
		ignore[i] = p.Ignore
	}
	return Match(people, truth, ignore, iou)
}
