package cluster

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// Events reach the engine once per publish id, and one the engine did not
// acknowledge (its node died) comes again to the next reader.
func TestEventsStreamRedeliversUnacknowledged(t *testing.T) {
	old := eventsAckWait
	eventsAckWait = time.Second
	defer func() { eventsAckWait = old }()
	ports := testkit.FreePorts(t, 1)
	nc := testConn(t, 0, ports[:1])
	ev, err := NewEvents(nc, 1, quiet(), nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var sent []telemetry.Event
	for i := range 3 {
		sent = append(sent, telemetry.Event{ID: telemetry.NewUUID(), Kind: "zone.enter", CameraID: "cam", Message: fmt.Sprint(i), Time: time.Now()})
	}
	// Published before the stream exists (as while its leader is elected):
	// refused, and sent again until it is taken.
	ev.Publish(sent[0])
	testkit.WaitFor(t, 5*time.Second, "the stream to refuse it", func() bool { return len(ev.again) > 0 })
	go ev.Run(ctx)
	testkit.WaitFor(t, 10*time.Second, "the stream", ev.ready.Load)
	ev.Publish(sent[1])
	ev.Publish(sent[2])
	ev.Publish(sent[1]) // the same event again: stored once
	first, stop := context.WithCancel(ctx)
	ch, _ := ev.Events(first)
	var got []alert.Input
	testkit.WaitFor(t, 10*time.Second, "three events", func() bool {
		select {
		case in := <-ch:
			got = append(got, in)
		case <-time.After(100 * time.Millisecond):
		}
		return len(got) >= 3
	})
	byID := map[telemetry.UUID]alert.Input{}
	for _, in := range got {
		byID[in.Event.ID] = in
	}
	for i, e := range sent {
		if in, ok := byID[e.ID]; !ok || in.Event.Message != fmt.Sprint(i) {
			t.Fatalf("event %d: %+v", i, in.Event)
		}
	}
	byID[sent[0].ID].Ack()
	byID[sent[2].ID].Ack()
	stop() // the engine's node dies with event 1 unacknowledged
	for range ch {
	}
	ch2, _ := ev.Events(ctx)
	select {
	case in := <-ch2:
		if in.Event.ID != sent[1].ID {
			t.Fatalf("delivered again: %+v, want the unacknowledged one", in.Event)
		}
		in.Ack()
	case <-time.After(testkit.Scale(15 * time.Second)):
		t.Fatal("the unacknowledged event was not delivered again")
	}
	select {
	case in := <-ch2:
		t.Fatalf("an acknowledged event came again: %+v", in.Event)
	case <-time.After(2 * time.Second):
	}
}
