package alert

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
)

// chanSource is an EventSource the test feeds, recording acknowledgements.
type chanSource struct {
	ch    chan Input
	mu    sync.Mutex
	acked map[telemetry.UUID]int
}

func newChanSource() *chanSource {
	return &chanSource{ch: make(chan Input, 64), acked: map[telemetry.UUID]int{}}
}

func (s *chanSource) Events(ctx context.Context) (<-chan Input, error) {
	out := make(chan Input)
	go func() {
		defer close(out)
		for {
			select {
			case <-ctx.Done():
				return
			case in := <-s.ch:
				select {
				case out <- in:
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return out, nil
}

func (s *chanSource) send(e telemetry.Event) {
	s.ch <- Input{Event: e, Ack: func() { s.mu.Lock(); s.acked[e.ID]++; s.mu.Unlock() }}
}

func (s *chanSource) ackedAll(ids ...telemetry.UUID) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		if s.acked[id] == 0 {
			return false
		}
	}
	return true
}

// Events from a stream are acknowledged once their alert is stored; an
// engine that takes over and gets events again that the one before had
// judged (its node died before acknowledging) neither opens a second
// alert nor counts them twice, while it still counts the new ones.
func TestEventsDeliveredAgainCountOnce(t *testing.T) {
	st := newStore(t, storetest.URL(t))
	hub := telemetry.NewHub(nil)
	src := newChanSource()
	_, stop := runEngine(t, Config{Rules: []Rule{worksRule}, Tick: 50 * time.Millisecond, Events: src, OnDemand: true}, st, hub)
	now := time.Now()
	var evs []telemetry.Event
	for i := range 4 {
		evs = append(evs, intrusion(now.Add(time.Duration(i)*time.Second), uint64(i+1)))
	}
	// On the live feed the events are not judged: they come from the stream.
	hub.PublishEvent(intrusion(now, 50))
	for _, e := range evs {
		src.send(e)
	}
	waitFor(t, 10*time.Second, "one alert counting four events, all acknowledged", func() bool {
		as := openAlerts(t, st)
		return len(as) == 1 && as[0].Occurrences == 4 && src.ackedAll(evs[0].ID, evs[1].ID, evs[2].ID, evs[3].ID)
	})
	stop()

	// The next engine gets the first and third again, and a new one.
	src2 := newChanSource()
	runEngine(t, Config{Rules: []Rule{worksRule}, Tick: 50 * time.Millisecond, Events: src2, OnDemand: true}, st, hub)
	fresh := intrusion(now.Add(10*time.Second), 9)
	for _, e := range []telemetry.Event{evs[0], evs[2], fresh} {
		src2.send(e)
	}
	waitFor(t, 10*time.Second, "the three acknowledged", func() bool { return src2.ackedAll(evs[0].ID, evs[2].ID, fresh.ID) })
	waitFor(t, 10*time.Second, "the new event counted once more", func() bool {
		as := openAlerts(t, st)
		return len(as) == 1 && as[0].Occurrences == 5
	})
	// And nothing later changes it: the repeats were not counted.
	time.Sleep(300 * time.Millisecond)
	if as := openAlerts(t, st); len(as) != 1 || as[0].Occurrences != 5 {
		t.Fatalf("alerts %+v", as)
	}
}
