// Package live relays cameras' video to viewers without re-encoding:
// fragmented MP4 for Media Source Extensions (over a WebSocket) and WebRTC
// with WHEP signalling, both fed by one Relay per camera.
//
// A Relay keeps the access units since the last keyframe, so a viewer that
// joins starts at once with a picture it can decode, and fans the stream
// out to viewers each with its own bounded queue: a slow viewer loses
// pictures up to the next keyframe, never delays the camera or the others.
package live

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/smarteye/smarteye/ingest/rtsp"
)

// Limits of a relay.
const (
	// maxGOP bounds the keyframe cache in units; a camera whose keyframes
	// are further apart than this starts new viewers at the next one.
	maxGOP = 600
	// maxGOPBytes bounds it in bytes.
	maxGOPBytes = 32 << 20
	// viewerQueue is each viewer's queue in units (about 4 s at 30 fps).
	viewerQueue = 128
)

// ErrClosed is returned by Join once the relay's stream has ended.
var ErrClosed = errors.New("live: the camera's stream has ended")

// Relay fans one camera's access units out to viewers.
type Relay struct {
	camera string

	mu       sync.Mutex
	gop      []*rtsp.AccessUnit // from the last keyframe on; nil while waiting for one
	gopBytes int
	codec    string
	viewers  map[*Viewer]struct{}
	closed   bool

	units   atomic.Uint64
	dropped atomic.Uint64
}

// NewRelay makes the relay of one camera; Run feeds it.
func NewRelay(camera string) *Relay {
	return &Relay{camera: camera, viewers: map[*Viewer]struct{}{}}
}

// Camera is the camera's id.
func (r *Relay) Camera() string { return r.camera }

// Codec is the stream's codec (rtsp.H264, rtsp.H265, rtsp.MJPEG), empty
// before the first unit.
func (r *Relay) Codec() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.codec
}

// Stats are a relay's counters.
type Stats struct {
	Viewers int    `json:"viewers"`
	Units   uint64 `json:"units"`
	Dropped uint64 `json:"dropped"` // units viewers lost to full queues
}

// Stats reports the relay's counters.
func (r *Relay) Stats() Stats {
	r.mu.Lock()
	n := len(r.viewers)
	r.mu.Unlock()
	return Stats{Viewers: n, Units: r.units.Load(), Dropped: r.dropped.Load()}
}

// Run takes units from q until the queue closes or ctx ends, then ends
// every viewer.
func (r *Relay) Run(ctx context.Context, q *rtsp.Queue) {
	defer r.close()
	var batch []*rtsp.AccessUnit
	for {
		select {
		case <-ctx.Done():
			return
		case <-q.Ready():
		}
		var gap bool
		batch, gap = q.Take(batch[:0])
		if gap {
			r.gap()
		}
		for _, au := range batch {
			r.Push(au)
		}
		clear(batch)
		if q.Closed() && q.Len() == 0 {
			return
		}
	}
}

// gap: the relay itself lost units, so every viewer must wait for a keyframe.
func (r *Relay) gap() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.gop, r.gopBytes = nil, 0
	for v := range r.viewers {
		v.waitKey = true
	}
}

// Push hands one unit to the relay (Run does this for a queue).
func (r *Relay) Push(au *rtsp.AccessUnit) {
	r.units.Add(1)
	size := au.Size()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.codec = au.Codec
	switch {
	case au.Key:
		clear(r.gop)
		r.gop, r.gopBytes = append(r.gop[:0], au), size
	case r.gop != nil && len(r.gop) < maxGOP && r.gopBytes+size <= maxGOPBytes:
		r.gop = append(r.gop, au)
		r.gopBytes += size
	default:
		r.gop, r.gopBytes = nil, 0 // too long a GOP: start viewers at the next keyframe
	}
	for v := range r.viewers {
		v.offer(au, &r.dropped)
	}
}

// Lost tells the relay that units were lost before it: every viewer waits
// for the next keyframe (a relay fed from another node's, when a message
// went missing).
func (r *Relay) Lost() { r.gap() }

// Close ends the relay and every viewer (for a relay fed by Push; Run
// closes its own at the end).
func (r *Relay) Close() { r.close() }

// Join adds a viewer that receives the units since the last keyframe, then
// every new one. Leave it when done.
func (r *Relay) Join() (*Viewer, error) {
	v := &Viewer{relay: r, ch: make(chan *rtsp.AccessUnit, viewerQueue), done: make(chan struct{}), waitKey: true, joined: time.Now()}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, ErrClosed
	}
	for _, au := range r.gop {
		v.offer(au, &r.dropped)
	}
	r.viewers[v] = struct{}{}
	return v, nil
}

func (r *Relay) leave(v *Viewer) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.viewers[v]; ok {
		delete(r.viewers, v)
		close(v.done)
	}
}

func (r *Relay) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for v := range r.viewers {
		delete(r.viewers, v)
		close(v.done)
	}
	r.gop = nil
}

// Viewer is one viewer's queue of units.
type Viewer struct {
	relay  *Relay
	ch     chan *rtsp.AccessUnit
	done   chan struct{}
	joined time.Time
	// waitKey drops units until the next keyframe (at the start and after
	// a loss); guarded by the relay's mutex.
	waitKey bool
	dropped uint64
}

// offer queues au without waiting; called with the relay's mutex held.
func (v *Viewer) offer(au *rtsp.AccessUnit, dropped *atomic.Uint64) {
	if v.waitKey {
		if !au.Key {
			return
		}
		v.waitKey = false
	}
	select {
	case v.ch <- au:
	default:
		// Full: this viewer cannot keep up. Skip to the next keyframe.
		v.waitKey = true
		v.dropped++
		dropped.Add(1)
	}
}

// Units delivers the viewer's units; see Done for the end.
func (v *Viewer) Units() <-chan *rtsp.AccessUnit { return v.ch }

// Done is closed when the viewer left or the stream ended.
func (v *Viewer) Done() <-chan struct{} { return v.done }

// Leave removes the viewer from the relay.
func (v *Viewer) Leave() { v.relay.leave(v) }
