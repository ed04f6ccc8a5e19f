package ratelimit

import (
	"strconv"
	"testing"
	"time"
)

// A bucket per address: the burst at once, then one token per 1/rate;
// other addresses are not touched; idle buckets are forgotten when many.
func TestLimiter(t *testing.T) {
	l := New("test", 2, 3, nil)
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.Take("a"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.Take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %v", ok, wait)
	}
	if ok, _ := l.Take("b"); !ok {
		t.Fatal("another address was limited")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.Take("a"); !ok {
		t.Fatal("a token after 1/rate was refused")
	}
	if ok, _ := l.Take("a"); ok {
		t.Fatal("two tokens after 1/rate")
	}
	var off *Limiter
	if ok, _ := off.Take("a"); !ok {
		t.Fatal("no limit refused")
	}
	// Many addresses: bounded.
	for i := range 3 * maxBuckets {
		l.Take(strconv.Itoa(i))
		now = now.Add(time.Second)
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets", len(l.buckets))
	}
}
