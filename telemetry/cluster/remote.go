package cluster

import (
	"encoding/binary"
	"encoding/json"
	"log/slog"
	"time"

	"github.com/nats-io/nats.go"
)

// Subjects of the cameras' pictures and recording holds across nodes.
const (
	holdSubject     = "smarteye.camera.hold"
	evidenceSubject = "smarteye.camera.evidence." // + camera
	snapshotSubject = "smarteye.camera.snapshot." // + camera
	pictureWait     = 3 * time.Second
)

// Cameras is what a node's camera supervisor offers the cluster: holding
// a camera's recording, and its analysed pictures (nil from a node that
// does not run the camera).
type Cameras interface {
	Hold(camera string, until time.Time) bool
	Evidence(camera string, t time.Time, track uint64) (jpeg, thumb []byte)
	Snapshot(camera string, t time.Time) []byte
}

// Remote gives what runs on one node (the alert engine, the supervision
// scheduler) the cameras of every node: a recording hold reaches every
// node's recorder, so whichever node runs the camera now, or takes it
// over later, records; an alert's evidence and a remark's snapshot come
// from the node that runs the camera.
type Remote struct {
	nc    *nats.Conn
	local Cameras
	log   *slog.Logger
	subs  []*nats.Subscription
}

type holdMsg struct {
	Camera string    `json:"camera"`
	Until  time.Time `json:"until"`
}

type pictureReq struct {
	Time  time.Time `json:"time"`
	Track uint64    `json:"track,omitempty"`
}

// NewRemote serves local's cameras to the other nodes over nc (a
// connection that does not echo: this node applies its own holds itself).
func NewRemote(nc *nats.Conn, local Cameras, log *slog.Logger) (*Remote, error) {
	r := &Remote{nc: nc, local: local, log: log.With("component", "cluster.cameras")}
	handlers := map[string]nats.MsgHandler{
		holdSubject: func(m *nats.Msg) {
			var h holdMsg
			if json.Unmarshal(m.Data, &h) == nil {
				local.Hold(h.Camera, h.Until)
			}
		},
		evidenceSubject + "*": func(m *nats.Msg) {
			var q pictureReq
			if json.Unmarshal(m.Data, &q) != nil {
				return
			}
			if j, th := local.Evidence(m.Subject[len(evidenceSubject):], q.Time, q.Track); j != nil {
				m.Respond(pictures(j, th))
			}
		},
		snapshotSubject + "*": func(m *nats.Msg) {
			var q pictureReq
			if json.Unmarshal(m.Data, &q) != nil {
				return
			}
			if j := local.Snapshot(m.Subject[len(snapshotSubject):], q.Time); j != nil {
				m.Respond(pictures(j, nil))
			}
		},
	}
	for subject, h := range handlers {
		s, err := nc.Subscribe(subject, h)
		if err != nil {
			r.Close()
			return nil, err
		}
		r.subs = append(r.subs, s)
	}
	return r, nil
}

// Close stops serving.
func (r *Remote) Close() {
	for _, s := range r.subs {
		s.Unsubscribe()
	}
}

// Hold holds a camera's recording until until on every node; false for a
// camera this node does not know.
func (r *Remote) Hold(camera string, until time.Time) bool {
	ok := r.local.Hold(camera, until)
	b, _ := json.Marshal(holdMsg{Camera: camera, Until: until})
	if err := r.nc.Publish(holdSubject, b); err != nil {
		r.log.Warn("cannot tell the other nodes to hold a camera's recording", "camera", camera, "err", err)
	}
	return ok
}

// Evidence is an alert's picture, from this node or the one that runs the
// camera (nil when none answers within a few seconds).
func (r *Remote) Evidence(camera string, t time.Time, track uint64) (jpeg, thumb []byte) {
	if j, th := r.local.Evidence(camera, t, track); j != nil || !validToken(camera) {
		return j, th
	}
	return r.ask(evidenceSubject+camera, pictureReq{Time: t, Track: track})
}

// Snapshot is a remark's picture, from this node or the one that runs the
// camera.
func (r *Remote) Snapshot(camera string, t time.Time) []byte {
	if j := r.local.Snapshot(camera, t); j != nil || !validToken(camera) {
		return j
	}
	j, _ := r.ask(snapshotSubject+camera, pictureReq{Time: t})
	return j
}

func (r *Remote) ask(subject string, q pictureReq) (jpeg, thumb []byte) {
	b, _ := json.Marshal(q)
	m, err := r.nc.Request(subject, b, pictureWait)
	if err != nil {
		return nil, nil
	}
	return unpictures(m.Data)
}

// pictures packs a JPEG and its thumbnail: the JPEG's length (4 bytes),
// the JPEG, the thumbnail.
func pictures(jpeg, thumb []byte) []byte {
	b := binary.BigEndian.AppendUint32(nil, uint32(len(jpeg)))
	return append(append(b, jpeg...), thumb...)
}

func unpictures(b []byte) (jpeg, thumb []byte) {
	if len(b) < 4 || uint64(len(b)-4) < uint64(binary.BigEndian.Uint32(b)) {
		return nil, nil
	}
	n := binary.BigEndian.Uint32(b)
	jpeg, thumb = b[4:4+n], b[4+n:]
	if len(thumb) == 0 {
		thumb = nil
	}
	return jpeg, thumb
}
