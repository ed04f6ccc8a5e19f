// Package testkit has the helpers the tests of every package share:
// waiting on a condition (never on a sleep) with deadlines that stretch
// on a loaded machine.
package testkit

import (
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"
)

// Scale stretches a test deadline for a busy machine: by the one-minute
// load average over the number of cores (when above 1, at most 4×), and
// by TEST_TIMEOUT_SCALE when set (a number, e.g. 2 on a slow runner).
func Scale(d time.Duration) time.Duration {
	f := 1.0
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		if fields := strings.Fields(string(b)); len(fields) > 0 {
			if load, err := strconv.ParseFloat(fields[0], 64); err == nil {
				f = min(max(load/float64(runtime.NumCPU()), 1), 4)
			}
		}
	}
	if v, err := strconv.ParseFloat(os.Getenv("TEST_TIMEOUT_SCALE"), 64); err == nil && v > 0 {
		f *= v
	}
	return time.Duration(float64(d) * f)
}

// WaitFor polls cond every 20 ms until it holds, failing the test when it
// has not within d (scaled for load); what says what was awaited.
func WaitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	limit := Scale(d)
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", limit.Round(time.Millisecond), what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FreePorts returns n TCP ports free on the loopback address now (held
// together while picked, so they differ).
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}
