package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/rtsp"
)

// Video subjects: a node with viewers of a camera another node runs asks
// for it on videoWatch+camera every videoAsk; the node that runs it sends
// the camera's access units on videoUnits+camera, from its last keyframe,
// until no one has asked for videoLinger.
const (
	videoWatch  = "smarteye.video.watch."
	videoUnits  = "smarteye.video.units."
	videoAsk    = 2 * time.Second
	videoLinger = 3 * videoAsk
	// videoIdle is how long a relay fed from another node is kept
	// without a viewer.
	videoIdle = 10 * time.Second
)

// Video relays live video between nodes: a browser on one node watches a
// camera another node runs through a relay on its own node, fed over
// NATS, so the MSE and WebRTC code serve it as any other.
type Video struct {
	nc    *nats.Conn
	local func(camera string) (*live.Relay, bool)
	// exists reports whether a camera is configured at all.
	exists func(camera string) bool
	log    *slog.Logger
	sub    *nats.Subscription

	mu      sync.Mutex
	serving map[string]*serving
	remote  map[string]*remoteRelay
	closed  bool

	sent, received, lost, tooBig prometheus.Counter
}

type serving struct{ wanted atomic.Int64 } // unix nanoseconds of the last ask

type remoteRelay struct {
	relay *live.Relay
	sub   *nats.Subscription
	stop  chan struct{}
}

// NewVideo serves this node's cameras (local) to the others and relays
// theirs; exists reports whether a camera is configured.
func NewVideo(nc *nats.Conn, local func(string) (*live.Relay, bool), exists func(string) bool, log *slog.Logger, reg prometheus.Registerer) (*Video, error) {
	v := &Video{nc: nc, local: local, exists: exists, log: log.With("component", "cluster.video"),
		serving: map[string]*serving{}, remote: map[string]*remoteRelay{},
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_video_sent_total",
			Help: "Access units this node sent to other nodes' viewers."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_video_received_total",
			Help: "Access units this node received for its viewers of other nodes' cameras."}),
		lost: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_video_lost_total",
			Help: "Gaps in video from other nodes (a unit missing, unreadable, or the camera moved): viewers wait for the next keyframe."}),
		tooBig: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_video_too_big_total",
			Help: "Access units not sent to other nodes because they exceed NATS' largest message."}),
	}
	if reg != nil {
		reg.MustRegister(v.sent, v.received, v.lost, v.tooBig)
	}
	sub, err := nc.Subscribe(videoWatch+"*", v.asked)
	if err != nil {
		return nil, fmt.Errorf("cluster video: %w", err)
	}
	v.sub = sub
	return v, nil
}

// Relay is a camera's live relay: this node's own while it runs the
// camera, otherwise one fed from the node that does (media.Relays).
func (v *Video) Relay(camera string) (*live.Relay, bool) {
	if r, ok := v.local(camera); ok {
		return r, true
	}
	if !v.exists(camera) || !validToken(camera) {
		return nil, false
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil, false
	}
	if rr := v.remote[camera]; rr != nil {
		return rr.relay, true
	}
	rr := &remoteRelay{relay: live.NewRelay(camera), stop: make(chan struct{})}
	var stream [8]byte
	var seq uint64
	sub, err := v.nc.Subscribe(videoUnits+camera, func(m *nats.Msg) {
		au, from, n, err := decodeUnit(m.Data)
		if err != nil {
			v.lost.Inc()
			rr.relay.Lost()
			return
		}
		if from != stream || n != seq+1 {
			// Another sender (the camera moved) or a unit missing.
			if seq != 0 {
				v.lost.Inc()
				rr.relay.Lost()
			}
			stream = from
		}
		seq = n
		au.Camera = camera
		v.received.Inc()
		rr.relay.Push(au)
	})
	if err != nil {
		v.log.Warn("cannot relay a camera from another node", "camera", camera, "err", err)
		return nil, false
	}
	rr.sub = sub
	v.remote[camera] = rr
	go v.watch(camera, rr)
	return rr.relay, true
}

// watch asks for a camera's video while the relay has viewers (or is
// new), then ends it.
func (v *Video) watch(camera string, rr *remoteRelay) {
	t := time.NewTicker(videoAsk)
	defer t.Stop()
	idleSince := time.Now()
	for {
		if rr.relay.Stats().Viewers > 0 {
			idleSince = time.Now()
		}
		if time.Since(idleSince) > videoIdle {
			break
		}
		v.nc.Publish(videoWatch+camera, nil)
		select {
		case <-rr.stop:
			return
		case <-t.C:
		}
	}
	v.mu.Lock()
	if v.remote[camera] == rr {
		delete(v.remote, camera)
	}
	v.mu.Unlock()
	rr.sub.Unsubscribe()
	rr.relay.Close()
}

// asked starts or keeps sending a camera this node runs.
func (v *Video) asked(m *nats.Msg) {
	camera := m.Subject[len(videoWatch):]
	relay, ok := v.local(camera)
	if !ok {
		return
	}
	v.mu.Lock()
	if v.closed {
		v.mu.Unlock()
		return
	}
	s := v.serving[camera]
	fresh := s == nil
	if fresh {
		s = &serving{}
		v.serving[camera] = s
	}
	s.wanted.Store(time.Now().UnixNano())
	v.mu.Unlock()
	if fresh {
		go v.send(camera, relay, s)
	}
}

// send publishes a camera's units, from its last keyframe, until no node
// has asked for videoLinger or the camera stops here.
func (v *Video) send(camera string, relay *live.Relay, s *serving) {
	defer func() {
		v.mu.Lock()
		if v.serving[camera] == s {
			delete(v.serving, camera)
		}
		v.mu.Unlock()
	}()
	viewer, err := relay.Join()
	if err != nil {
		return
	}
	defer viewer.Leave()
	var stream [8]byte
	rand.Read(stream[:])
	var seq uint64
	t := time.NewTicker(time.Second)
	defer t.Stop()
	max := int(v.nc.MaxPayload())
	var buf []byte
	for {
		select {
		case <-viewer.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, s.wanted.Load())) > videoLinger {
				return
			}
		case au := <-viewer.Units():
			seq++
			buf = encodeUnit(buf[:0], au, stream, seq)
			if len(buf) > max {
				v.tooBig.Inc()
				continue // the others see a gap and wait for a keyframe
			}
			if err := v.nc.Publish(videoUnits+camera, buf); err == nil {
				v.sent.Inc()
			}
		}
	}
}

// Close stops relaying.
func (v *Video) Close() {
	v.mu.Lock()
	v.closed = true
	remotes := v.remote
	v.remote = map[string]*remoteRelay{}
	v.mu.Unlock()
	v.sub.Unsubscribe()
	for _, rr := range remotes {
		close(rr.stop)
		rr.sub.Unsubscribe()
		rr.relay.Close()
	}
}

// validToken reports whether s can be one token of a NATS subject.
func validToken(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r <= ' ' || r == '.' || r == '*' || r == '>' || r > '~' {
			return false
		}
	}
	return true
}

// A unit on the wire: version (1), flags (bit 0: keyframe), the codec's
// length (1 byte) and name, the sender's stream id (8 bytes) and the
// unit's sequence number in it, PTS, capture and arrival times (int64
// nanoseconds, big-endian), the NAL unit count (2 bytes), then each NAL
// unit's length (4 bytes) and bytes.
const unitVersion = 1

var errUnit = errors.New("cluster video: unreadable unit")

func encodeUnit(b []byte, au *rtsp.AccessUnit, stream [8]byte, seq uint64) []byte {
	flags := byte(0)
	if au.Key {
		flags = 1
	}
	b = append(b, unitVersion, flags, byte(len(au.Codec)))
	b = append(b, au.Codec...)
	b = append(b, stream[:]...)
	b = binary.BigEndian.AppendUint64(b, seq)
	b = binary.BigEndian.AppendUint64(b, uint64(au.PTS))
	b = binary.BigEndian.AppendUint64(b, uint64(au.Time.UnixNano()))
	b = binary.BigEndian.AppendUint64(b, uint64(au.Received.UnixNano()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(au.NALUs)))
	for _, n := range au.NALUs {
		b = binary.BigEndian.AppendUint32(b, uint32(len(n)))
		b = append(b, n...)
	}
	return b
}

func decodeUnit(b []byte) (au *rtsp.AccessUnit, stream [8]byte, seq uint64, err error) {
	if len(b) < 3 || b[0] != unitVersion || b[1] > 1 {
		return nil, stream, 0, errUnit
	}
	au = &rtsp.AccessUnit{Key: b[1] == 1}
	n := int(b[2])
	b = b[3:]
	if len(b) < n+8+8*4+2 {
		return nil, stream, 0, errUnit
	}
	au.Codec, b = string(b[:n]), b[n:]
	copy(stream[:], b[:8])
	seq = binary.BigEndian.Uint64(b[8:])
	au.PTS = time.Duration(binary.BigEndian.Uint64(b[16:]))
	au.Time = time.Unix(0, int64(binary.BigEndian.Uint64(b[24:])))
	au.Received = time.Unix(0, int64(binary.BigEndian.Uint64(b[32:])))
	count := int(binary.BigEndian.Uint16(b[40:]))
	b = b[42:]
	for range count {
		if len(b) < 4 {
			return nil, stream, 0, errUnit
		}
		l := binary.BigEndian.Uint32(b)
		if uint64(len(b)-4) < uint64(l) {
			return nil, stream, 0, errUnit
		}
		au.NALUs = append(au.NALUs, b[4:4+l:4+l])
		b = b[4+l:]
	}
	if len(b) != 0 {
		return nil, stream, 0, errUnit
	}
	return au, stream, seq, nil
}
