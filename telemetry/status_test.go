package telemetry

import (
	"sync"
	"testing"
)

func TestBoardKeepsSinceUntilStateChanges(t *testing.T) {
	b := NewBoard()
	b.Set("writer", StateOK, "0 rows queued")
	first := b.Snapshot()[0].Since
	b.Set("writer", StateOK, "12 rows queued")
	if s := b.Snapshot()[0]; !s.Since.Equal(first) || s.Detail != "12 rows queued" {
		t.Fatalf("same state must keep Since and take the new detail: %+v", s)
	}
	b.Set("writer", StateDegraded, "spooling")
	if s := b.Snapshot()[0]; s.Since.Before(first) || s.State != StateDegraded {
		t.Fatalf("%+v", s)
	}
	b.Set("alpha", StateDown, "")
	if snap := b.Snapshot(); len(snap) != 2 || snap[0].Name != "alpha" {
		t.Fatalf("snapshot not sorted by name: %+v", snap)
	}
}

func TestBoardConcurrentUse(t *testing.T) {
	b := NewBoard()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 200 {
				b.Set(string(rune('a'+i)), StateOK, "")
				if j%10 == 0 {
					b.Snapshot()
				}
			}
		}()
	}
	wg.Wait()
	if len(b.Snapshot()) != 8 {
		t.Fatal("lost components")
	}
}
