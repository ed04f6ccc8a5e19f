package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
)

// The events' stream: every node publishes the events it makes; the alert
// engine, wherever it runs, reads them through one durable consumer and
// acknowledges each once its alerts are stored, so an engine that moves
// to another node loses none: what its old node had not acknowledged is
// delivered again to the new one. A repeated publish (same event id
// within eventsDuplicates) is stored once. PostgreSQL stays the record:
// the stream keeps an hour.
const (
	eventsStream     = "SMARTEYE_EVENTS"
	eventsSubject    = "smarteye.events"
	eventsConsumer   = "alert-engine"
	eventsDuplicates = 2 * time.Minute
)

// eventsAckWait is how long an event delivered to the engine waits for its
// acknowledgement before it is delivered again (the engine's node died).
var eventsAckWait = 10 * time.Second

// Events is the cluster's stream of events.
type Events struct {
	js       jetstream.JetStream
	replicas int
	log      *slog.Logger
	ready    atomic.Bool

	published, failed, bad prometheus.Counter
	rare                   rareLog
	// again holds events the stream refused (no leader during an
	// election): they are sent again, with the same id, for up to
	// retryFor.
	again chan *nats.Msg
}

// An event the stream refused is sent again every retryEvery for up to
// retryFor (NATS' elections take 4–9 s).
const (
	retryEvery = 500 * time.Millisecond
	retryFor   = time.Minute
	sentHeader = "Smarteye-Sent"
)

var _ alert.EventSource = (*Events)(nil)

// NewEvents publishes and reads the events' stream over nc; Run makes the
// stream.
func NewEvents(nc *nats.Conn, replicas int, log *slog.Logger, reg prometheus.Registerer) (*Events, error) {
	ev := &Events{replicas: replicas, log: log.With("component", "cluster.events"), again: make(chan *nats.Msg, 16384),
		rare: rareLog{log: log.With("component", "cluster.events")},
		published: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_events_published_total",
			Help: "Events this node put on the cluster's stream for the alert engine."}),
		failed: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_events_failed_total",
			Help: "Events the cluster's stream did not take (JetStream unavailable): the alert engine does not judge them."}),
		bad: prometheus.NewCounter(prometheus.CounterOpts{Name: "smarteye_cluster_events_unreadable_total",
			Help: "Messages on the events' stream that could not be read (dropped)."}),
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(8192),
		jetstream.WithPublishAsyncErrHandler(func(_ jetstream.JetStream, m *nats.Msg, err error) {
			ev.retry(m, err)
		}))
	if err != nil {
		return nil, err
	}
	ev.js = js
	if reg != nil {
		reg.MustRegister(ev.published, ev.failed, ev.bad)
	}
	return ev, nil
}

// retry queues a refused event to be sent again, or gives it up.
func (ev *Events) retry(m *nats.Msg, err error) {
	first, _ := time.Parse(time.RFC3339Nano, m.Header.Get(sentHeader))
	if time.Since(first) > retryFor {
		ev.failed.Inc()
		ev.warn("an event did not reach the cluster's stream within a minute; the alert engine does not judge it", err)
		return
	}
	select {
	case ev.again <- m:
	default:
		ev.failed.Inc()
		ev.warn("too many events wait for the cluster's stream; dropped one", err)
	}
}

// resend sends the refused events again until ctx ends.
func (ev *Events) resend(ctx context.Context) {
	t := time.NewTicker(retryEvery)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		for n := len(ev.again); n > 0; n-- {
			m := <-ev.again
			if _, err := ev.js.PublishMsgAsync(m, jetstream.WithStallWait(50*time.Millisecond)); err != nil {
				ev.retry(m, err)
			}
		}
	}
}

func (ev *Events) warn(msg string, err error) { ev.rare.warn(msg, err) }

// Run makes (or finds) the stream, retrying while JetStream is not ready,
// and sends again what the stream refused, until ctx ends.
func (ev *Events) Run(ctx context.Context) error {
	go ev.resend(ctx)
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 5*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, err := ev.js.CreateOrUpdateStream(cctx, jetstream.StreamConfig{Name: eventsStream, Subjects: []string{eventsSubject},
			Description: "smarteye: events on their way to the alert engine", Storage: jetstream.FileStorage, Replicas: ev.replicas,
			MaxAge: time.Hour, Duplicates: eventsDuplicates, Retention: jetstream.LimitsPolicy})
		cancel()
		if err == nil {
			ev.ready.Store(true)
			break
		}
		if ctx.Err() != nil {
			return nil
		}
		ev.log.Debug("events' stream not ready", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(wait):
		}
	}
	<-ctx.Done()
	return nil
}

// Publish puts e on the stream without waiting; what the stream refuses
// is sent again for up to a minute (then counted and logged).
func (ev *Events) Publish(e telemetry.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		ev.failed.Inc()
		return
	}
	m := nats.NewMsg(eventsSubject)
	m.Data = b
	m.Header.Set(jetstream.MsgIDHeader, e.ID.String())
	m.Header.Set(sentHeader, time.Now().Format(time.RFC3339Nano))
	ev.published.Inc()
	if _, err := ev.js.PublishMsgAsync(m, jetstream.WithStallWait(50*time.Millisecond)); err != nil {
		ev.retry(m, err)
	}
}

// Events delivers the stream's events to the alert engine until ctx ends
// (alert.EventSource).
func (ev *Events) Events(ctx context.Context) (<-chan alert.Input, error) {
	out := make(chan alert.Input, 256)
	go func() {
		defer close(out)
		for wait := 100 * time.Millisecond; ctx.Err() == nil; wait = min(2*wait, 5*time.Second) {
			err := ev.consume(ctx, out)
			if ctx.Err() != nil {
				return
			}
			ev.log.Debug("reading the events' stream; again", "err", err, "in", wait)
			select {
			case <-ctx.Done():
				return
			case <-time.After(wait):
			}
		}
	}()
	return out, nil
}

// consume reads through the durable consumer until it fails or ctx ends.
func (ev *Events) consume(ctx context.Context, out chan<- alert.Input) error {
	if !ev.ready.Load() {
		return errors.New("the stream is not made yet")
	}
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	cons, err := ev.js.CreateOrUpdateConsumer(cctx, eventsStream, jetstream.ConsumerConfig{Durable: eventsConsumer,
		Description: "smarteye: the alert engine, wherever it runs", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: eventsAckWait, MaxAckPending: 8192, DeliverPolicy: jetstream.DeliverAllPolicy})
	cancel()
	if err != nil {
		return err
	}
	it, err := cons.Messages()
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, it.Stop)
	defer stop()
	defer it.Stop()
	for {
		m, err := it.Next()
		if err != nil {
			return err
		}
		var e telemetry.Event
		if err := json.Unmarshal(m.Data(), &e); err != nil {
			ev.bad.Inc()
			ev.warn("unreadable event on the stream; dropped", err)
			m.Term()
			continue
		}
		in := alert.Input{Event: e, Ack: func() { m.Ack() }, Progress: func() { m.InProgress() }}
		select {
		case out <- in:
		case <-ctx.Done():
			return fmt.Errorf("stopped: %w", ctx.Err())
		}
	}
}
