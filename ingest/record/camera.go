package record

import (
	"context"
	"errors"
	"path/filepath"
	"sync"
	"time"

	"github.com/smarteye/smarteye/ingest/mux"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

// CameraConfig is one camera's recording.
type CameraConfig struct {
	ID string
	// Mode is continuous (default), events or off.
	Mode string
	// PreRoll and PostRoll widen an event's recording (events mode): from
	// the keyframe at or before PreRoll ahead of the event to PostRoll
	// after it. They default to 10 and 20 seconds.
	PreRoll, PostRoll time.Duration
}

// maxJump is the largest step between two pictures' capture times a
// segment spans; a longer silence (a reconnection) ends it.
const maxJump = 3 * time.Second

// idleEnd finishes a segment when no picture came for this long (the
// camera died): it is then playable and indexed at once.
const idleEnd = 4 * time.Second

// Camera records one camera's access units.
type Camera struct {
	r   *Recorder
	cfg CameraConfig

	mu    sync.Mutex
	until time.Time // events mode: record up to here

	seg      *segment
	track    *mux.Track
	segStart time.Time
	last     time.Time // capture time of the last unit written
	lastIn   time.Time // when the last unit arrived
	needKey  bool
	preroll  []*rtsp.AccessUnit
	warned   bool
}

// Camera returns a camera's recorder.
func (r *Recorder) Camera(cfg CameraConfig) *Camera {
	if cfg.Mode == "" {
		cfg.Mode = ModeContinuous
	}
	if cfg.PreRoll == 0 {
		cfg.PreRoll = defaultPreRoll
	}
	if cfg.PostRoll == 0 {
		cfg.PostRoll = defaultPostRoll
	}
	c := &Camera{r: r, cfg: cfg, needKey: true}
	r.mu.Lock()
	r.cams = append(r.cams, c)
	r.mu.Unlock()
	return c
}

// Trigger records around t (events mode; continuous mode records anyway).
func (c *Camera) Trigger(t time.Time) {
	if c.cfg.Mode == ModeOff {
		return // only held
	}
	c.mu.Lock()
	if u := t.Add(c.cfg.PostRoll); u.After(c.until) {
		c.until = u
	}
	c.mu.Unlock()
}

// Hold records until until (a supervision session's end) whatever the
// camera's mode, "off" included: the recorder keeps its pre-roll buffer
// for such a camera too.
func (c *Camera) Hold(until time.Time) {
	c.mu.Lock()
	if until.After(c.until) {
		c.until = until
	}
	c.mu.Unlock()
}

func (c *Camera) active(t time.Time) bool {
	if c.cfg.Mode == ModeContinuous {
		return true
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return !t.After(c.until)
}

// Run records the queue's units until ctx ends, then finishes the open
// segment.
func (c *Camera) Run(ctx context.Context, q *rtsp.Queue) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	var buf []*rtsp.AccessUnit
	for {
		select {
		case <-ctx.Done():
			c.finish(-1)
			return
		case <-q.Ready():
			var gap bool
			buf, gap = q.Take(buf[:0])
			if gap {
				c.r.m.gaps.WithLabelValues(c.cfg.ID).Inc()
				c.finish(-1)
				c.needKey = true
			}
			for _, au := range buf {
				c.handle(au)
			}
			clear(buf)
		case now := <-t.C:
			if c.seg != nil && (now.Sub(c.lastIn) > idleEnd || c.r.Paused() || !c.active(c.last)) {
				c.finish(-1)
			}
		}
	}
}

func (c *Camera) handle(au *rtsp.AccessUnit) {
	if au.Codec != rtsp.H264 && au.Codec != rtsp.H265 {
		if !c.warned {
			c.warned = true
			c.r.log.Warn("this camera's codec is not recorded (H.264 and H.265 are)", "camera", c.cfg.ID, "codec", au.Codec)
		}
		return
	}
	c.lastIn = time.Now()
	if c.r.Paused() {
		c.finish(-1)
		c.needKey, c.preroll = true, nil
		return
	}
	if c.cfg.Mode == ModeEvents {
		c.keepPreroll(au)
		if !c.active(au.Time) {
			if c.seg != nil {
				c.finish(-1)
				c.needKey = true
			}
			return
		}
		if c.seg == nil {
			// Start from the pre-roll: its first unit is a keyframe.
			units := c.preroll
			c.preroll = nil
			for _, u := range units {
				c.write(u)
			}
			return
		}
	}
	c.write(au)
}

// keepPreroll buffers the last PreRoll of units, from a keyframe.
func (c *Camera) keepPreroll(au *rtsp.AccessUnit) {
	if len(c.preroll) == 0 && !au.Key {
		return
	}
	c.preroll = append(c.preroll, au)
	// Drop leading GOPs while the next keyframe is still old enough.
	for {
		next := -1
		for i := 1; i < len(c.preroll); i++ {
			if c.preroll[i].Key {
				next = i
				break
			}
		}
		if next < 0 || au.Time.Sub(c.preroll[next].Time) < c.cfg.PreRoll {
			return
		}
		clear(c.preroll[:next])
		c.preroll = c.preroll[next:]
	}
}

func (c *Camera) write(au *rtsp.AccessUnit) {
	if c.seg != nil {
		if d := au.Time.Sub(c.last); d > maxJump || d < -time.Second {
			c.finish(-1)
			c.needKey = true
		}
	}
	if c.seg != nil && au.Key && au.Time.Sub(c.segStart) >= c.r.cfg.SegmentLength {
		// The keyframe's decode time on the old track ends the segment.
		next := int64(-1)
		if _, dts, err := c.track.Sample(au); err == nil {
			next = dts
		}
		c.finish(next)
	}
	if c.seg == nil {
		if !au.Key {
			c.needKey = true
			return
		}
		tr, err := mux.NewTrack(au, mux.Epoch)
		if err != nil {
			c.r.m.writeErrors.WithLabelValues(c.cfg.ID).Inc()
			c.r.log.Warn("a keyframe could not start a segment", "camera", c.cfg.ID, "err", err)
			return
		}
		seg, err := openSegment(c.r.cfg.Dir, c.cfg.ID, tr, au.Time, c.r.cfg.FragmentLength)
		if err != nil {
			c.r.m.writeErrors.WithLabelValues(c.cfg.ID).Inc()
			c.r.log.Error("a segment could not be opened", "camera", c.cfg.ID, "err", err)
			return
		}
		c.seg, c.track, c.segStart, c.needKey = seg, tr, au.Time, false
	}
	s, dts, err := c.track.Sample(au)
	if errors.Is(err, mux.ErrNeedKeyframe) {
		c.finish(-1)
		c.needKey = true
		return
	}
	if err == nil {
		err = c.seg.add(s, dts)
	}
	if err != nil {
		c.fail(err)
		return
	}
	c.last = au.Time
	c.r.m.bytes.WithLabelValues(c.cfg.ID).Add(float64(au.Size()))
}

// finish closes the open segment and hands it to the recorder.
func (c *Camera) finish(next int64) {
	if c.seg == nil {
		return
	}
	seg := c.seg
	c.seg, c.track = nil, nil
	rec, ok, err := seg.finish(next)
	if err != nil {
		c.fail(err)
		return
	}
	if ok {
		c.r.added(rec)
	}
}

// fail handles a write error (a full or failing disk): what was written
// whole is kept, the rest dropped; the next keyframe tries again.
func (c *Camera) fail(err error) {
	c.r.m.writeErrors.WithLabelValues(c.cfg.ID).Inc()
	c.r.log.Error("recording write failed", "camera", c.cfg.ID, "err", err)
	if c.seg != nil {
		seg := c.seg
		c.seg, c.track = nil, nil
		seg.f.Close()
		if rec, ok, serr := salvage(seg.dir, seg.rel+partSuffix); serr == nil && ok {
			c.r.added(rec)
		} else if serr != nil {
			c.r.log.Warn("a failed segment could not be salvaged", "camera", c.cfg.ID, "path", filepath.Join(seg.dir, seg.rel), "err", serr)
		}
	}
	c.needKey = true
}
