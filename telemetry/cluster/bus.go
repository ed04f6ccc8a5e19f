package cluster

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// liveSubject carries the live feed: liveSubject + the update's type.
const liveSubject = "smarteye.live."

// Bus is the live feed of the whole cluster (telemetry.Bus): what this
// node publishes goes to its own hub at once and to every other node
// over NATS; what the others publish arrives in this node's hub, whose
// subscribers (browsers, the alert engine) keep their bounded,
// drop-oldest queues. Its connection must not echo (nats.NoEcho), so
// that the node's own updates are not delivered twice.
type Bus struct {
	*telemetry.Hub
	nc  *nats.Conn
	sub *nats.Subscription
	log *slog.Logger

	sent, received, bad prometheus.Counter
	rare                rareLog
	// events, when set, also takes every event this node publishes, for
	// the alert engine wherever it runs.
	events *Events
}

// SetEvents puts every event this node publishes on the events' stream
// too (before the bus is used).
func (b *Bus) SetEvents(ev *Events) { b.events = ev }

var _ telemetry.Bus = (*Bus)(nil)

// NewBus joins the cluster's live feed on nc, feeding hub.
func NewBus(nc *nats.Conn, hub *telemetry.Hub, log *slog.Logger, reg prometheus.Registerer) (*Bus, error) {
	b := &Bus{Hub: hub, nc: nc, log: log.With("component", "cluster.bus"), rare: rareLog{log: log.With("component", "cluster.bus")},
		sent: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_bus_sent_total",
			Help: "Live updates this node sent to the other nodes."}),
		received: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_bus_received_total",
			Help: "Live updates this node received from the other nodes."}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_bus_bad_total",
			Help: "Live updates from other nodes that could not be read, or not be sent to them."}),
	}
	if reg != nil {
		reg.MustRegister(b.sent, b.received, b.bad)
	}
	sub, err := nc.Subscribe(liveSubject+"*", b.receive)
	if err != nil {
		return nil, fmt.Errorf("cluster bus: %w", err)
	}
	// A burst (every camera's detections at once) waits in the client
	// rather than cutting this node off as a slow consumer.
	if err := sub.SetPendingLimits(1<<16, 256<<20); err != nil {
		sub.Unsubscribe()
		return nil, fmt.Errorf("cluster bus: %w", err)
	}
	b.sub = sub
	return b, nil
}

// Close leaves the feed.
func (b *Bus) Close() { b.sub.Unsubscribe() }

func (b *Bus) send(u telemetry.Update) {
	data, err := json.Marshal(u)
	if err == nil {
		err = b.nc.Publish(liveSubject+u.Type, data)
	}
	if err != nil {
		b.bad.Inc()
		b.warn("cannot send a live update to the other nodes", err)
		return
	}
	b.sent.Inc()
}

func (b *Bus) receive(m *nats.Msg) {
	var u telemetry.Update
	if err := json.Unmarshal(m.Data, &u); err != nil {
		b.bad.Inc()
		b.warn("unreadable live update from another node", err)
		return
	}
	b.received.Inc()
	switch {
	case u.Type == "vehicle" && u.Vehicle != nil:
		b.Hub.PublishVehicle(*u.Vehicle)
	case u.Type == "camera" && u.Camera != nil:
		b.Hub.PublishCamera(*u.Camera)
	case u.Type == "event" && u.Event != nil:
		b.Hub.PublishEvent(*u.Event)
	case u.Type == "detections" && u.Detections != nil:
		b.Hub.PublishDetections(*u.Detections)
	case u.Type == "alert" && u.Alert != nil:
		b.Hub.PublishAlert(*u.Alert)
	default:
		b.bad.Inc()
		b.warn("live update of no known type from another node", fmt.Errorf("type %q", u.Type))
	}
}

func (b *Bus) warn(msg string, err error) {
	b.rare.warn(msg+" (counted in smarteye_cluster_bus_bad_total)", err)
}

// rareLog logs a warning at most once a minute: a flood of one failure is
// counted in a metric, not logged line by line.
type rareLog struct {
	log  *slog.Logger
	last atomic.Int64
}

func (r *rareLog) warn(msg string, err error) {
	now := time.Now().Unix()
	if last := r.last.Load(); now-last >= 60 && r.last.CompareAndSwap(last, now) {
		r.log.Warn(msg+" (logged once a minute)", "err", err)
	}
}

// PublishVehicle publishes v here and to the other nodes.
func (b *Bus) PublishVehicle(v telemetry.Vehicle) {
	b.Hub.PublishVehicle(v)
	b.send(telemetry.Update{Type: "vehicle", Vehicle: &v})
}

// PublishCamera publishes c here and to the other nodes.
func (b *Bus) PublishCamera(c telemetry.Camera) {
	b.Hub.PublishCamera(c)
	b.send(telemetry.Update{Type: "camera", Camera: &c})
}

// PublishEvent publishes e here and to the other nodes.
func (b *Bus) PublishEvent(e telemetry.Event) {
	b.Hub.PublishEvent(e)
	b.send(telemetry.Update{Type: "event", Event: &e})
	if b.events != nil {
		b.events.Publish(e)
	}
}

// PublishDetections publishes d here and to the other nodes.
func (b *Bus) PublishDetections(d telemetry.Detections) {
	b.Hub.PublishDetections(d)
	b.send(telemetry.Update{Type: "detections", Detections: &d})
}

// PublishAlert publishes a here and to the other nodes.
func (b *Bus) PublishAlert(a telemetry.Alert) {
	b.Hub.PublishAlert(a)
	b.send(telemetry.Update{Type: "alert", Alert: &a})
}
