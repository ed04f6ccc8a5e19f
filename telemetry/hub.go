package telemetry

import (
	"encoding/json"
	"maps"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Update is one message of the live feed: a vehicle's or a camera's new
// state, an event, or one frame's detections. Exactly one of the pointers
// is set.
type Update struct {
	// Type is "vehicle", "camera", "event", "detections" or "alert".
	Type       string      `json:"type"`
	Vehicle    *Vehicle    `json:"vehicle,omitempty"`
	Camera     *Camera     `json:"camera,omitempty"`
	Event      *Event      `json:"event,omitempty"`
	Detections *Detections `json:"detections,omitempty"`
	Alert      *Alert      `json:"alert,omitempty"`

	// enc is the update's JSON, made once for every subscriber that sends
	// it (500 live clients must not marshal it 500 times).
	enc *encoded
}

type encoded struct {
	once sync.Once
	b    []byte
	err  error
}

// JSON is the update marshalled, computed once per published update and
// shared by every copy; the bytes must not be modified.
func (u *Update) JSON() ([]byte, error) {
	if u.enc == nil {
		return json.Marshal(u)
	}
	u.enc.once.Do(func() { u.enc.b, u.enc.err = json.Marshal(u) })
	return u.enc.b, u.enc.err
}

// Bus is the live feed as its producers and consumers see it. The Hub is
// the in-process implementation; a networked bus (NATS) can replace it
// without changing either side.
type Bus interface {
	PublishVehicle(v Vehicle)
	PublishEvent(e Event)
	PublishCamera(c Camera)
	PublishDetections(d Detections)
	PublishAlert(a Alert)
	Subscribe(queue int) *Subscription
	Vehicles() []Vehicle
	Vehicle(id string) (Vehicle, bool)
	Cameras() []Camera
	Camera(id string) (Camera, bool)
}

// Hub keeps the latest state of every vehicle and fans every update out to
// its subscribers. Publishing never blocks on a subscriber: each has a
// bounded queue that drops its oldest update when full, and counts it.
type Hub struct {
	mu       sync.RWMutex
	vehicles map[string]Vehicle
	cameras  map[string]Camera
	subs     map[*Subscription]struct{}

	published *prometheus.CounterVec
	dropped   prometheus.Counter
}

var _ Bus = (*Hub)(nil)

// NewHub returns an empty hub; reg receives its metrics and may be nil.
func NewHub(reg prometheus.Registerer) *Hub {
	h := &Hub{
		vehicles: make(map[string]Vehicle),
		cameras:  make(map[string]Camera),
		subs:     make(map[*Subscription]struct{}),
		published: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_hub_updates_total",
			Help: "Live updates published, by type.",
		}, []string{"type"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "smarteye_hub_dropped_total",
			Help: "Live updates dropped because a subscriber's queue was full (a slow client).",
		}),
	}
	if reg != nil {
		reg.MustRegister(h.published, h.dropped, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "smarteye_hub_subscribers",
			Help: "Live-feed subscribers (browsers, services).",
		}, func() float64 {
			h.mu.RLock()
			defer h.mu.RUnlock()
			return float64(len(h.subs))
		}))
	}
	return h
}

// PublishVehicle records v as the latest state of v.ID and sends it to
// every subscriber.
func (h *Hub) PublishVehicle(v Vehicle) {
	h.mu.Lock()
	h.vehicles[v.ID] = v
	h.mu.Unlock()
	h.fanOut(Update{Type: "vehicle", Vehicle: &v})
	h.published.WithLabelValues("vehicle").Inc()
}

// PublishEvent sends e to every subscriber.
func (h *Hub) PublishEvent(e Event) {
	h.fanOut(Update{Type: "event", Event: &e})
	h.published.WithLabelValues("event").Inc()
}

func (h *Hub) fanOut(u Update) {
	u.enc = &encoded{}
	h.mu.RLock()
	defer h.mu.RUnlock()
	for s := range h.subs {
		if s.push(u) {
			h.dropped.Inc()
		}
	}
}

// Vehicles returns the latest state of every vehicle, ordered by ID.
func (h *Hub) Vehicles() []Vehicle {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return byKey(h.vehicles)
}

// byKey lists a map's values in the order of their keys (the ids).
func byKey[T any](m map[string]T) []T {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]T, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// Vehicle returns the latest state of one vehicle.
func (h *Hub) Vehicle(id string) (Vehicle, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	v, ok := h.vehicles[id]
	return v, ok
}

// Subscribe starts a subscription whose queue holds up to queue updates
// (at least 1). Close it when done.
func (h *Hub) Subscribe(queue int) *Subscription {
	s := &Subscription{hub: h, buf: make([]Update, max(queue, 1)), ready: make(chan struct{}, 1)}
	h.mu.Lock()
	h.subs[s] = struct{}{}
	h.mu.Unlock()
	return s
}

// Subscription is one consumer's view of the feed.
type Subscription struct {
	hub   *Hub
	ready chan struct{}

	mu      sync.Mutex
	buf     []Update // ring
	head, n int
	dropped atomic.Uint64
}

// push queues u, dropping the oldest update when full; it reports a drop.
func (s *Subscription) push(u Update) (dropped bool) {
	s.mu.Lock()
	if s.n == len(s.buf) {
		s.buf[s.head] = Update{}
		s.head = (s.head + 1) % len(s.buf)
		s.n--
		dropped = true
		s.dropped.Add(1)
	}
	s.buf[(s.head+s.n)%len(s.buf)] = u
	s.n++
	s.mu.Unlock()
	select {
	case s.ready <- struct{}{}:
	default:
	}
	return dropped
}

// Ready receives when updates may be waiting; then call Take.
func (s *Subscription) Ready() <-chan struct{} { return s.ready }

// Take appends every queued update to dst, oldest first, and empties the queue.
func (s *Subscription) Take(dst []Update) []Update {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; s.n > 0; s.n-- {
		dst = append(dst, s.buf[s.head])
		s.buf[s.head] = Update{}
		s.head = (s.head + 1) % len(s.buf)
	}
	return dst
}

// Dropped counts the updates this subscriber lost to a full queue.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription.
func (s *Subscription) Close() {
	s.hub.mu.Lock()
	delete(s.hub.subs, s)
	s.hub.mu.Unlock()
}
