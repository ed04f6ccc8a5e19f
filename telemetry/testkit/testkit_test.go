package testkit

import (
	"testing"
	"time"
)

func TestScaleNeverShortens(t *testing.T) {
	t.Setenv("TEST_TIMEOUT_SCALE", "")
	if d := Scale(time.Second); d < time.Second || d > 4*time.Second {
		t.Fatalf("Scale(1s) = %s", d)
	}
	t.Setenv("TEST_TIMEOUT_SCALE", "3")
	if d := Scale(time.Second); d < 3*time.Second || d > 12*time.Second {
		t.Fatalf("Scale(1s) with TEST_TIMEOUT_SCALE=3 = %s", d)
	}
}

func TestWaitForReturnsWhenTheConditionHolds(t *testing.T) {
	n := 0
	start := time.Now()
	WaitFor(t, time.Minute, "the third look", func() bool { n++; return n == 3 })
	if n != 3 || time.Since(start) > 5*time.Second {
		t.Fatalf("%d looks in %s", n, time.Since(start))
	}
}

// A condition that never holds fails the test (run in a sub-test that is
// expected to fail, through a recorder).
func TestWaitForFailsOnTimeout(t *testing.T) {
	rec := &failRecorder{TB: t}
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer func() { recover() }() // Fatalf ends the goroutine
		WaitFor(rec, 30*time.Millisecond, "nothing", func() bool { return false })
	}()
	<-done
	if !rec.failed {
		t.Fatal("a condition that never held did not fail the test")
	}
}

type failRecorder struct {
	testing.TB
	failed bool
}

func (r *failRecorder) Helper() {}
func (r *failRecorder) Fatalf(string, ...any) {
	r.failed = true
	panic("fatal")
}
