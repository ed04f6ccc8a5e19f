package vision

import (
	"cmp"
	"math"
	"slices"
	"time"
)

// Track event kinds.
const (
	EventTrackStart = "track_start"
	EventTrackEnd   = "track_end"
)

// Tracker defaults, applied to zero fields of TrackerConfig.
const (
	// Two matched frames: one frame is not enough to tell an object from
	// detector flicker, and at 10 fps a second frame costs 100 ms.
	DefaultMinHits = 2
	// Long enough to bridge a detector missing a few frames or an object
	// passing behind a pole, short enough that a departed object leaves
	// the map promptly.
	DefaultMaxAge = 2 * time.Second
	// Lower than the 0.3 of SORT because the predicted box lags behind
	// objects that accelerate; the centre-distance fallback covers the rest.
	DefaultIoUThreshold = 0.2
)

const (
	// velocityGain is the weight of the newest measurement in the
	// exponential filter of a track's velocity: 0.5 follows a turning
	// object within two or three frames while halving the jitter of the
	// detector's boxes.
	velocityGain = 0.5
	// minVelocityDT is the shortest interval that updates a velocity:
	// below it (equal or near-equal timestamps) a few pixels of box
	// jitter would turn into thousands of pixels per second.
	minVelocityDT = time.Millisecond
	// maxSizeRatio bounds the width and height change accepted by the
	// centre-distance fallback: a box twice as large or small is more
	// likely a different object than the same one moving fast.
	maxSizeRatio = 2
)

// TrackerConfig configures a Tracker. Zero fields take the defaults.
type TrackerConfig struct {
	// MinHits is the number of matched frames, in a row, that confirm a
	// track. It defaults to 2.
	MinHits int
	// MaxAge is how long a confirmed track survives without a match; a
	// track unmatched for longer ends. It defaults to 2 seconds.
	MaxAge time.Duration
	// IoUThreshold is the least intersection over union between a track's
	// predicted box and a detection for them to match. It defaults to 0.2.
	IoUThreshold float64
	// HighConfidence splits the detections in two (ByteTrack's
	// association): those at or above it are matched first and may start
	// tracks; those below it are matched afterwards to the tracks still
	// unmatched, keeping a half-hidden person's track alive, and never
	// start one. 0, the default, treats every detection as high.
	HighConfidence float64
	// ConfirmConfidence is the least mean confidence of a tentative
	// track's detections for it to be confirmed (Frigate's median score,
	// as a mean): a traffic cone seen as a person at 0.43 frame after
	// frame stays tentative, and unreported. 0, the default, confirms on
	// MinHits alone.
	ConfirmConfidence float64
}

func (c TrackerConfig) withDefaults() TrackerConfig {
	if c.MinHits <= 0 {
		c.MinHits = DefaultMinHits
	}
	if c.MaxAge <= 0 {
		c.MaxAge = DefaultMaxAge
	}
	if !(c.IoUThreshold > 0) || c.IoUThreshold > 1 { // also catches NaN
		c.IoUThreshold = DefaultIoUThreshold
	}
	return c
}

// TrackResult is the outcome of one Tracker.Update.
type TrackResult struct {
	// Detections are the detections matched to confirmed tracks in this
	// frame, in input order, with TrackID set, the detection's own box and
	// the track's class; then, with Carried set, the confirmed tracks
	// outside the searched regions (UpdateSearched) at their last box.
	// Detections of tentative tracks are left out.
	Detections []Detection
	// Events are the track_end events of expired tracks, then the
	// track_start events of tracks confirmed in this frame, each group by
	// track id.
	Events []TrackEvent
	// Improved are the ids, ascending, of confirmed tracks whose best
	// confidence rose in this frame or that were confirmed in it: the
	// caller takes a snapshot of those.
	Improved []uint64
}

// TrackEvent is the start or end of a confirmed track.
type TrackEvent struct {
	Kind    string    `json:"kind"` // EventTrackStart or EventTrackEnd
	TrackID uint64    `json:"track_id"`
	Class   string    `json:"class"`
	Time    time.Time `json:"time"` // start: the confirming frame; end: LastSeen
	// Box is the latest matched box, in frame pixels.
	Box            Box       `json:"box"`
	FirstSeen      time.Time `json:"first_seen"`
	LastSeen       time.Time `json:"last_seen"`
	BestConfidence float64   `json:"best_confidence"`
	Hits           int       `json:"hits"` // matched frames
}

// Tracker follows the objects of one camera across frames: it matches each
// frame's detections to tracks by intersection over union with the box
// each track is predicted to have now (constant velocity), so that an
// object keeps its TrackID. A Tracker is not safe for concurrent use: each
// camera's analysis goroutine owns one.
type Tracker struct {
	cfg    TrackerConfig
	tracks []*track // in creation order
	seq    uint64   // creation counter, for deterministic tie-breaks
	lastID uint64   // last TrackID handed out
}

// track is one followed object. Tentative tracks have id 0: ids are handed
// out on confirmation so that the ids operators see are consecutive rather
// than riddled with flicker.
type track struct {
	seq    uint64
	id     uint64
	class  string
	box    Box     // latest matched box
	vx, vy float64 // centre velocity, pixels/second
	hasVel bool
	first  time.Time
	last   time.Time // time of the latest match
	hits   int
	best   float64 // best confidence
	conf   float64 // latest confidence
	sum    float64 // of the matched detections' confidences
}

// NewTracker returns a Tracker with cfg's zero fields set to the defaults.
func NewTracker(cfg TrackerConfig) *Tracker {
	return &Tracker{cfg: cfg.withDefaults()}
}

// associate matches the detections of one stage to the tracks still
// unmatched. Every pair of one NMS group (a car may match a truck: one
// van) that passes either test is a candidate; the best are taken
// greedily. Greedy matching in descending IoU is what the Hungarian
// method gives in practice for well-separated objects, at a fraction of
// the code.
func (t *Tracker) associate(st int, stage []int, dets []Detection, preds []Box, unseen, matched []bool, trackOf []*track) {
	var cands []candidate
	for ti, tr := range t.tracks {
		if matched[ti] || unseen[ti] {
			continue
		}
		pred := preds[ti]
		pc := pred.Center()
		for dj, d := range dets {
			if stage[dj] != st || NMSGroup(d.Class) != NMSGroup(tr.class) {
				continue
			}
			if iou := pred.IoU(d.Box); iou >= t.cfg.IoUThreshold {
				cands = append(cands, candidate{tier: 0, score: iou, ti: ti, dj: dj})
				continue
			}
			// Small fast objects (a drone, a bird) may not overlap their
			// prediction at all; accept them when the centre moved less
			// than half the detection's size and the size held.
			dc := d.Box.Center()
			dist := math.Hypot(dc.X-pc.X, dc.Y-pc.Y)
			if dist < math.Hypot(d.Box.W, d.Box.H)/2 && similarSize(pred, d.Box) {
				cands = append(cands, candidate{tier: 1, score: -dist, ti: ti, dj: dj})
			}
		}
	}
	slices.SortFunc(cands, func(a, b candidate) int {
		return cmp.Or(
			cmp.Compare(a.tier, b.tier),
			cmp.Compare(b.score, a.score),
			cmp.Compare(t.tracks[a.ti].seq, t.tracks[b.ti].seq),
			cmp.Compare(a.dj, b.dj),
		)
	})
	for _, c := range cands {
		if matched[c.ti] || trackOf[c.dj] != nil {
			continue
		}
		matched[c.ti] = true
		trackOf[c.dj] = t.tracks[c.ti]
	}
}

// inside reports whether at least half of b lies in one of the regions.
func inside(b Box, regions []Box) bool {
	a := b.Area()
	if a <= 0 {
		return false
	}
	for _, r := range regions {
		x0, y0 := max(b.X, r.X), max(b.Y, r.Y)
		x1, y1 := min(b.X+b.W, r.X+r.W), min(b.Y+b.H, r.Y+r.H)
		if x1 > x0 && y1 > y0 && (x1-x0)*(y1-y0) >= a/2 {
			return true
		}
	}
	return false
}

// candidate is a possible (track, detection) pair.
type candidate struct {
	tier  int     // 0: IoU match, 1: centre-distance fallback
	score float64 // higher is better: IoU, or minus the centre distance
	ti    int     // index in t.tracks
	dj    int     // index in dets
}

// Update matches one frame's detections, taken at now, to the tracks.
// Detections with a non-finite or empty box or a non-finite confidence
// are ignored. now may equal or precede the previous frame's time.
func (t *Tracker) Update(now time.Time, dets []Detection) TrackResult {
	return t.UpdateSearched(now, dets, nil)
}

// UpdateSearched is Update for a frame where the detector looked only
// inside searched (the moving regions of a gated camera; none at all when
// searched is empty but not nil; the whole frame when nil). A track whose
// predicted box lies mostly outside them was not looked for: it is not
// matched, not counted as missed (a tentative one survives), and a
// confirmed one is reported as Carried at its last box. Expiry still runs
// from the track's last match, so a track carried for longer than MaxAge
// ends.
func (t *Tracker) UpdateSearched(now time.Time, dets []Detection, searched []Box) TrackResult {
	var res TrackResult

	// Expire first, so that a stale track cannot take a detection that
	// belongs to a new object. The age is taken in both directions: a
	// clock stepping back by more than MaxAge breaks the timeline just as
	// a gap does.
	live := t.tracks[:0]
	var ended []TrackEvent
	for _, tr := range t.tracks {
		if age := now.Sub(tr.last); age > t.cfg.MaxAge || age < -t.cfg.MaxAge {
			if tr.id != 0 {
				ended = append(ended, tr.event(EventTrackEnd, tr.last))
			}
			continue
		}
		live = append(live, tr)
	}
	clear(t.tracks[len(live):])
	t.tracks = live
	sortEvents(ended)
	res.Events = ended

	// Stage 1 takes the high-confidence detections, stage 2 the others
	// (for the tracks stage 1 left unmatched); a detection that is not
	// usable takes part in neither.
	stage := make([]int, len(dets))
	for j, d := range dets {
		switch {
		case !usable(d):
			stage[j] = 0
		case d.Confidence >= t.cfg.HighConfidence:
			stage[j] = 1
		default:
			stage[j] = 2
		}
	}
	// Tracks outside the searched regions sit this frame out.
	unseen := make([]bool, len(t.tracks))
	preds := make([]Box, len(t.tracks))
	for ti, tr := range t.tracks {
		preds[ti] = tr.predict(now, t.cfg.MaxAge)
		unseen[ti] = searched != nil && !inside(preds[ti], searched)
	}
	trackOf := make([]*track, len(dets)) // detection index → matched track
	matched := make([]bool, len(t.tracks))
	t.associate(1, stage, dets, preds, unseen, matched, trackOf)
	t.associate(2, stage, dets, preds, unseen, matched, trackOf)

	// A tentative track must be matched in every frame it was looked for
	// until confirmed: one that misses a frame was most likely flicker.
	live = t.tracks[:0]
	var carried []*track
	for ti, tr := range t.tracks {
		if matched[ti] || tr.id != 0 || unseen[ti] {
			live = append(live, tr)
		}
		if unseen[ti] && tr.id != 0 {
			carried = append(carried, tr)
		}
	}
	clear(t.tracks[len(live):])
	t.tracks = live

	// Apply matches and start tracks in input order, so that tracks
	// confirmed in the same frame get their ids in a deterministic order.
	var started []TrackEvent
	for j, d := range dets {
		if stage[j] == 0 {
			continue
		}
		tr := trackOf[j]
		rose := false
		if tr == nil {
			if stage[j] == 2 {
				continue // a weak detection never starts a track
			}
			t.seq++
			tr = &track{seq: t.seq, class: d.Class, box: d.Box, first: now, last: now, hits: 1, best: d.Confidence, conf: d.Confidence, sum: d.Confidence}
			t.tracks = append(t.tracks, tr)
		} else {
			rose = tr.update(now, d)
		}
		wasConfirmed := tr.id != 0
		if !wasConfirmed && tr.hits >= t.cfg.MinHits && tr.sum/float64(tr.hits) >= t.cfg.ConfirmConfidence {
			t.lastID++
			tr.id = t.lastID
			started = append(started, tr.event(EventTrackStart, now))
		}
		if tr.id == 0 {
			continue
		}
		if !wasConfirmed || rose {
			res.Improved = append(res.Improved, tr.id)
		}
		d.TrackID = tr.id
		d.Class = tr.class
		res.Detections = append(res.Detections, d)
	}
	for _, tr := range carried {
		res.Detections = append(res.Detections, Detection{Class: tr.class, Confidence: tr.conf, Box: tr.box, TrackID: tr.id, Carried: true})
	}
	sortEvents(started)
	res.Events = append(res.Events, started...)
	slices.Sort(res.Improved)
	return res
}

// Flush ends every confirmed track, for a stream that went down or a
// shutdown, and forgets the tentative ones. The events carry each track's
// LastSeen as Time, as expiry does, rather than now: the object was last
// seen then, not when the stream was noticed down. Ids keep increasing
// after a Flush.
func (t *Tracker) Flush(now time.Time) []TrackEvent {
	var evs []TrackEvent
	for _, tr := range t.tracks {
		if tr.id != 0 {
			evs = append(evs, tr.event(EventTrackEnd, tr.last))
		}
	}
	clear(t.tracks)
	t.tracks = t.tracks[:0]
	sortEvents(evs)
	return evs
}

// Active is the number of confirmed tracks alive, matched in the latest
// frame or not.
func (t *Tracker) Active() int {
	n := 0
	for _, tr := range t.tracks {
		if tr.id != 0 {
			n++
		}
	}
	return n
}

// predict is the track's box moved along its velocity to now. The
// extrapolation is capped at maxAge (a track is never older) and never
// runs backwards in time.
func (tr *track) predict(now time.Time, maxAge time.Duration) Box {
	if !tr.hasVel {
		return tr.box
	}
	dt := min(max(now.Sub(tr.last), 0), maxAge).Seconds()
	b := tr.box
	b.X += tr.vx * dt
	b.Y += tr.vy * dt
	return b
}

// update folds a matched detection into the track and reports whether it
// raised the best confidence.
func (tr *track) update(now time.Time, d Detection) (rose bool) {
	if dt := now.Sub(tr.last); dt >= minVelocityDT {
		c0, c1 := tr.box.Center(), d.Box.Center()
		s := dt.Seconds()
		vx, vy := (c1.X-c0.X)/s, (c1.Y-c0.Y)/s
		if tr.hasVel {
			vx = tr.vx + velocityGain*(vx-tr.vx)
			vy = tr.vy + velocityGain*(vy-tr.vy)
		}
		if isFinite(vx) && isFinite(vy) {
			tr.vx, tr.vy, tr.hasVel = vx, vy, true
		}
	}
	tr.box = d.Box
	tr.last = now
	tr.conf = d.Confidence
	tr.sum += d.Confidence
	if now.Before(tr.first) {
		tr.first = now
	}
	tr.hits++
	if d.Confidence > tr.best {
		tr.best = d.Confidence
		// The class of the best sighting: a van seen as a car, then more
		// surely as a truck, is a truck.
		tr.class = d.Class
		return true
	}
	return false
}

func (tr *track) event(kind string, at time.Time) TrackEvent {
	return TrackEvent{
		Kind:           kind,
		TrackID:        tr.id,
		Class:          tr.class,
		Time:           at,
		Box:            tr.box,
		FirstSeen:      tr.first,
		LastSeen:       tr.last,
		BestConfidence: tr.best,
		Hits:           tr.hits,
	}
}

func sortEvents(evs []TrackEvent) {
	slices.SortFunc(evs, func(a, b TrackEvent) int { return cmp.Compare(a.TrackID, b.TrackID) })
}

// usable reports whether a detection can be tracked: NaN or infinite
// values would poison the velocity of whatever track they matched.
func usable(d Detection) bool {
	b := d.Box
	return isFinite(b.X) && isFinite(b.Y) && isFinite(b.W) && isFinite(b.H) &&
		b.W > 0 && b.H > 0 && isFinite(d.Confidence)
}

// similarSize reports whether width and height each changed by less than
// maxSizeRatio.
func similarSize(a, b Box) bool {
	within := func(x, y float64) bool { return x > 0 && y > 0 && x <= y*maxSizeRatio && y <= x*maxSizeRatio }
	return within(a.W, b.W) && within(a.H, b.H)
}

func isFinite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }
