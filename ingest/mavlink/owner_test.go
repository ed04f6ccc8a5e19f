package mavlink

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// handOwner grants and takes back keys when the test says.
type handOwner struct {
	mu     sync.Mutex
	grant  chan struct{}
	cancel context.CancelFunc
	asked  string
}

func (o *handOwner) Acquire(ctx context.Context, key string) (*telemetry.Lease, error) {
	o.mu.Lock()
	o.asked = key
	o.mu.Unlock()
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-o.grant:
	}
	lctx, cancel := context.WithCancel(ctx)
	o.mu.Lock()
	o.cancel = cancel
	o.mu.Unlock()
	return telemetry.NewLease(lctx, 1, nil), nil
}

func (o *handOwner) OwnerOf(string) string { return "" }

func (o *handOwner) revoke() {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.cancel()
}

// In a cluster a link is open only while this node owns it: its port is
// bound when granted, free again when the link moves away, bound again
// when it comes back.
func TestLinkOpenOnlyWhileOwned(t *testing.T) {
	l, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.LocalAddr().String()
	l.Close()
	in, err := New(Config{Links: []LinkConfig{{Name: "field link", Type: UDPServer, Address: addr}}, Log: quiet()},
		LiveSink{Bus: telemetry.NewHub(nil)}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	o := &handOwner{grant: make(chan struct{})}
	in.SetOwner(o)
	if err := in.Start(); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { in.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	bound := func() bool {
		c, err := net.ListenPacket("udp", addr)
		if err != nil {
			return true
		}
		c.Close()
		return false
	}
	waitFor(t, 5*time.Second, "the link to ask for its key", func() bool {
		o.mu.Lock()
		defer o.mu.Unlock()
		return o.asked != ""
	})
	if o.asked != "link.field=20link" {
		t.Fatalf("asked for %q", o.asked)
	}
	if bound() || in.Addr("field link") != nil {
		t.Fatal("the link is open before it is owned")
	}
	for round := range 2 {
		o.grant <- struct{}{}
		waitFor(t, 5*time.Second, "the link open once owned", func() bool { return bound() && in.Addr("field link") != nil })
		o.revoke()
		waitFor(t, 5*time.Second, "the port free once the link moved away", func() bool { return !bound() && in.Addr("field link") == nil })
		_ = round
	}
}
