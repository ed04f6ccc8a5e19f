package dashboard

import (
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// RateLimits bound what one client address may ask for; a zero field is
// no limit. Each is a token bucket per address: Burst requests at once,
// refilled at the rate.
type RateLimits struct {
	// API: requests a second to the API, with a burst.
	APIRate  float64
	APIBurst int
	// Logins: attempts a minute (beside the lock-out of a name guessed
	// from an address).
	LoginsPerMinute int
	// WebRTC: sessions opened a minute.
	WebRTCPerMinute int
}

// maxBuckets bounds the addresses remembered per limit: beyond it, the
// buckets that are full again (idle) are forgotten, then all of them.
const maxBuckets = 10000

type bucket struct {
	tokens float64
	at     time.Time
}

// limiter is a token bucket per key.
type limiter struct {
	rate  float64 // tokens a second
	burst float64
	now   func() time.Time

	mu      sync.Mutex
	buckets map[string]*bucket
}

func newLimiter(perSecond float64, burst int) *limiter {
	if perSecond <= 0 {
		return nil
	}
	return &limiter{rate: perSecond, burst: float64(max(burst, 1)), now: time.Now, buckets: map[string]*bucket{}}
}

// take spends a token of key's bucket; when there is none it says how long
// until there is. A nil limiter allows everything.
func (l *limiter) take(key string) (ok bool, wait time.Duration) {
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

func (l *limiter) sweepLocked(now time.Time) {
	for k, b := range l.buckets {
		if b.tokens+now.Sub(b.at).Seconds()*l.rate >= l.burst {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= maxBuckets {
		clear(l.buckets)
	}
}

// throttle answers 429 with Retry-After when r's address has spent its
// tokens of l, counting it under name; it reports whether r may go on.
func (s *Server) throttle(w http.ResponseWriter, r *http.Request, l *limiter, name string) bool {
	ok, wait := l.take(clientIP(r))
	if ok {
		return true
	}
	s.throttled.WithLabelValues(name).Inc()
	secs := int(math.Ceil(wait.Seconds()))
	w.Header().Set("Retry-After", strconv.Itoa(max(secs, 1)))
	writeError(w, http.StatusTooManyRequests, "too many requests from this address ("+name+"); try again in "+strconv.Itoa(max(secs, 1))+" s")
	return false
}
