package cluster

import (
	"context"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/testkit"
)

// Two nodes counting the same key at once lose no count (compare-and-set
// retried), a key never written reads nil, and a deleted one is gone.
func TestTallySharedCounts(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	var tallies []*Tally
	for i := range 2 {
		tallies = append(tallies, NewTally(testConn(t, i, ports), 1, time.Minute))
	}
	ctx, cancel := context.WithTimeout(context.Background(), testkit.Scale(60*time.Second))
	defer cancel()
	key := "name\x00Mallory\x00::1"
	// The bucket is made by whichever node writes first; wait for the
	// cluster's JetStream.
	testkit.WaitFor(t, 30*time.Second, "the bucket on both nodes", func() bool {
		for _, tl := range tallies {
			if b, err := tl.Get(ctx, "nothing"); err != nil || b != nil {
				return false
			}
		}
		return true
	})
	const each = 20
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, tl := range tallies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- tl.Update(ctx, key, func(old []byte) []byte {
					n, _ := strconv.Atoi(string(old))
					return []byte(strconv.Itoa(n + 1))
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	for i, tl := range tallies {
		b, err := tl.Get(ctx, key)
		if err != nil || string(b) != strconv.Itoa(2*each) {
			t.Fatalf("node %d reads %q (%v), want %d", i+1, b, err, 2*each)
		}
	}
	if err := tallies[0].Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if b, err := tallies[1].Get(ctx, key); err != nil || b != nil {
		t.Fatalf("after delete: %q %v", b, err)
	}
	if err := tallies[1].Delete(ctx, "never written"); err != nil {
		t.Fatalf("deleting nothing: %v", err)
	}
}
