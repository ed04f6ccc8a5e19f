// Package ratelimit bounds what one client address may ask of the
// dashboard: a token bucket per address, and a 429 answer with
// Retry-After when it is spent.
package ratelimit

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/internal/api"
)

// maxBuckets bounds the addresses remembered per limit: beyond it, the
// buckets that are full again (idle) are forgotten, then all of them.
const maxBuckets = 10000

type bucket struct {
	tokens float64
	at     time.Time
}

// Limiter is a token bucket per key. A nil Limiter allows everything.
type Limiter struct {
	name      string
	throttled *prometheus.CounterVec // by name
	rate      float64                // tokens a second
	burst     float64
	now       func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

// New makes a limiter of perSecond tokens a second and a burst, named (in
// its 429 answers) name and counting its refusals in throttled under that
// name; nil when perSecond is not positive (no limit).
func New(name string, perSecond float64, burst int, throttled *prometheus.CounterVec) *Limiter {
	if perSecond <= 0 {
		return nil
	}
	return &Limiter{name: name, throttled: throttled, rate: perSecond, burst: float64(max(burst, 1)), now: time.Now, buckets: map[string]*bucket{}}
}

// Take spends a token of key's bucket; when there is none it says how long
// until there is.
func (l *Limiter) Take(key string) (ok bool, wait time.Duration) {
	if l == nil {
		return true, 0
	}
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		if len(l.buckets) >= maxBuckets {
			l.sweepLocked(now)
		}
		b = &bucket{tokens: l.burst, at: now}
		l.buckets[key] = b
	}
	b.tokens = math.Min(l.burst, b.tokens+now.Sub(b.at).Seconds()*l.rate)
	b.at = now
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
}

func (l *Limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// Allow answers 429 with Retry-After when r's address has spent its
// tokens, counting it; it reports whether r may go on.
func (l *Limiter) Allow(w http.ResponseWriter, r *http.Request) bool {
	ok, wait := l.Take(api.ClientIP(r))
	if ok {
		return true
	}
	l.throttled.WithLabelValues(l.name).Inc()
	secs := max(int(math.Ceil(wait.Seconds())), 1)
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	api.WriteError(w, http.StatusTooManyRequests, "too many requests from this address ("+l.name+"); try again in "+strconv.Itoa(secs)+" s")
	return false
}
