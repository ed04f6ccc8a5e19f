package cluster

import (
	"encoding/json"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/telemetry/supervise"
)

// Subjects of the supervision rooms across nodes.
const (
	roomSubject     = "smarteye.room.msg"
	presenceSubject = "smarteye.room.presence"
	presenceAsk     = "smarteye.room.ask"
	// presenceEvery is how often a node tells the others who is in its
	// rooms again (they forget it after 15 s: supervise.Manager).
	presenceEvery = 5 * time.Second
)

// RoomHost is a node's supervision rooms (supervise.Manager).
type RoomHost interface {
	Deliver(session string, msg supervise.Message)
	PeerPresent(node, session string, p supervise.Presence, now time.Time)
	LocalPresence() map[string]supervise.Presence
}

// Rooms joins the supervision rooms of every node into one
// (supervise.Peers): a remark made through node A, a notice from the node
// running the scheduler, and who is present reach a browser connected to
// node B. Nothing of it is stored: the remarks and notices are in the
// database already; this only carries them live.
type Rooms struct {
	nc   *nats.Conn
	node string
	log  *slog.Logger

	mu    sync.Mutex
	host  RoomHost
	subs  []*nats.Subscription
	stop  chan struct{}
	wg    sync.WaitGroup
	warns *rareLog
}

type roomMsg struct {
	From    string          `json:"from"`
	Session string          `json:"session"`
	Type    string          `json:"type"`
	Data    json.RawMessage `json:"data"`
}

type presenceMsg struct {
	From     string             `json:"from"`
	Session  string             `json:"session"`
	Presence supervise.Presence `json:"presence"`
}

// NewRooms carries rooms over nc as node; Start gives it the rooms here.
func NewRooms(nc *nats.Conn, node string, log *slog.Logger) *Rooms {
	log = log.With("component", "cluster.rooms")
	return &Rooms{nc: nc, node: node, log: log, stop: make(chan struct{}), warns: &rareLog{log: log}}
}

// Start delivers what the other nodes' rooms hear to host, and tells them
// who is in host's rooms every presenceEvery until Close.
func (r *Rooms) Start(host RoomHost) error {
	r.mu.Lock()
	r.host = host
	r.mu.Unlock()
	handlers := map[string]nats.MsgHandler{
		roomSubject: func(m *nats.Msg) {
			var x roomMsg
			if json.Unmarshal(m.Data, &x) != nil || x.From == r.node || x.Session == "" {
				return
			}
			host.Deliver(x.Session, supervise.Message{Type: x.Type, Data: x.Data})
		},
		presenceSubject: func(m *nats.Msg) {
			var x presenceMsg
			if json.Unmarshal(m.Data, &x) != nil || x.From == r.node || x.Session == "" {
				return
			}
			host.PeerPresent(x.From, x.Session, x.Presence, time.Now())
		},
		presenceAsk: func(m *nats.Msg) {
			if string(m.Data) != r.node {
				r.announce()
			}
		},
	}
	for subj, h := range handlers {
		sub, err := r.nc.Subscribe(subj, h)
		if err != nil {
			r.Close()
			return err
		}
		r.subs = append(r.subs, sub)
	}
	// A node that starts asks the others who is in their rooms.
	r.nc.Publish(presenceAsk, []byte(r.node))
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTicker(presenceEvery)
		defer t.Stop()
		for {
			select {
			case <-r.stop:
				return
			case <-t.C:
				r.announce()
			}
		}
	}()
	return nil
}

// announce tells the other nodes who is in each room here.
func (r *Rooms) announce() {
	r.mu.Lock()
	host := r.host
	r.mu.Unlock()
	if host == nil {
		return
	}
	for session, p := range host.LocalPresence() {
		r.Present(session, p)
	}
}

// Send carries msg to session's room on the other nodes.
func (r *Rooms) Send(session string, msg supervise.Message) {
	data, err := json.Marshal(msg.Data)
	if err == nil {
		data, err = json.Marshal(roomMsg{From: r.node, Session: session, Type: msg.Type, Data: data})
	}
	if err == nil {
		err = r.nc.Publish(roomSubject, data)
	}
	if err != nil {
		r.warns.warn("a room's message did not reach the other nodes", err)
	}
}

// Present tells the other nodes who is in session's room here.
func (r *Rooms) Present(session string, p supervise.Presence) {
	data, _ := json.Marshal(presenceMsg{From: r.node, Session: session, Presence: p})
	if err := r.nc.Publish(presenceSubject, data); err != nil {
		r.warns.warn("who is in a room did not reach the other nodes", err)
	}
}

// Close stops carrying the rooms.
func (r *Rooms) Close() {
	r.mu.Lock()
	subs := r.subs
	r.subs = nil
	select {
	case <-r.stop:
	default:
		close(r.stop)
	}
	r.mu.Unlock()
	for _, s := range subs {
		s.Unsubscribe()
	}
	r.wg.Wait()
}
