package analysis

import (
	"time"

	"gocv.io/x/gocv"

	"github.com/smarteye/smarteye/vision"
)

// evidenceFrames is how many recent analysed frames with detections are
// kept for alert evidence: an alert is opened within a second of its
// frame, so a few suffice.
const evidenceFrames = 4

// evidence keeps copies of the last analysed frames that had detections
// (pixels in Go memory, so no Mat outlives the analysis goroutine) for
// alert snapshots, which are drawn only when an alert asks.
type evidence struct {
	ring [evidenceFrames]kept
	next int
}

type kept struct {
	time       time.Time
	rows, cols int
	typ        gocv.MatType
	pix        []byte
	dets       []vision.Detection
}

// keep copies img and its detections, reusing the oldest slot's buffer.
func (e *evidence) keep(img gocv.Mat, dets []vision.Detection, t time.Time) {
	k := &e.ring[e.next]
	e.next = (e.next + 1) % evidenceFrames
	// A view of the Mat's pixels, copied once into the slot's buffer
	// (ToBytes would copy twice).
	b, err := img.DataPtrUint8()
	if err != nil || !img.IsContinuous() {
		b = img.ToBytes()
	}
	k.pix = append(k.pix[:0], b...)
	k.time, k.rows, k.cols, k.typ = t, img.Rows(), img.Cols(), img.Type()
	k.dets = append(k.dets[:0], dets...)
}

// find is the kept frame taken at t, else the nearest within window.
func (e *evidence) find(t time.Time, window time.Duration) *kept {
	var best *kept
	var bestDt time.Duration
	for i := range e.ring {
		k := &e.ring[i]
		if k.pix == nil {
			continue
		}
		dt := k.time.Sub(t)
		if dt < 0 {
			dt = -dt
		}
		if dt <= window && (best == nil || dt < bestDt) {
			best, bestDt = k, dt
		}
	}
	return best
}

// Evidence widths: the full snapshot and the small copy for phones.
const (
	evidenceWidth = 960
	thumbWidth    = 320
)

// Evidence returns a JPEG of the analysed frame taken at t (or the nearest
// within 2 s) with every box drawn and track's highlighted, and a small
// copy; nil when no such frame is kept. Safe for concurrent use.
func (a *Analyzer) Evidence(t time.Time, track uint64) (jpeg, thumb []byte) {
	return a.EvidenceWithin(t, track, 2*time.Second)
}

// EvidenceWithin is Evidence with the nearest frame taken within window
// of t: a remark's snapshot of "now" takes the newest analysed picture
// even when a loaded machine analyses a few seconds behind.
func (a *Analyzer) EvidenceWithin(t time.Time, track uint64, window time.Duration) (jpeg, thumb []byte) {
	a.evMu.Lock()
	k := a.ev.find(t, window)
	if k == nil {
		a.evMu.Unlock()
		return nil, nil
	}
	img, err := gocv.NewMatFromBytes(k.rows, k.cols, k.typ, k.pix)
	dets := append([]vision.Detection(nil), k.dets...)
	at := k.time
	if err == nil {
		// NewMatFromBytes shares the buffer: copy before letting go.
		c := img.Clone()
		img.Close()
		img = c
	}
	a.evMu.Unlock()
	if err != nil {
		return nil, nil
	}
	defer img.Close()
	var d vision.Detection
	for _, o := range dets {
		if o.TrackID == track {
			d = o
		}
	}
	encode := func(width, quality int) []byte {
		canvas := img.Clone()
		defer canvas.Close()
		annotate(&canvas, dets, d, at, width)
		buf, err := gocv.IMEncodeWithParams(gocv.JPEGFileExt, canvas, []int{gocv.IMWriteJpegQuality, quality})
		if err != nil {
			return nil
		}
		defer buf.Close()
		return append([]byte(nil), buf.GetBytes()...)
	}
	return encode(evidenceWidth, 80), encode(thumbWidth, 70)
}
