package dashboard

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

// A bucket per address: the burst at once, then one token per 1/rate;
// other addresses are not touched; idle buckets are forgotten when many.
func TestLimiter(t *testing.T) {
	l := newLimiter(2, 3)
	now := time.Unix(1_800_000_000, 0)
	l.now = func() time.Time { return now }
	for i := range 3 {
		if ok, _ := l.take("a"); !ok {
			t.Fatalf("burst request %d refused", i)
		}
	}
	ok, wait := l.take("a")
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("over the burst: %v, wait %v", ok, wait)
	}
	if ok, _ := l.take("b"); !ok {
		t.Fatal("another address was limited")
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := l.take("a"); !ok {
		t.Fatal("a token after 1/rate was refused")
	}
	if ok, _ := l.take("a"); ok {
		t.Fatal("two tokens after 1/rate")
	}
	var off *limiter
	if ok, _ := off.take("a"); !ok {
		t.Fatal("no limit refused")
	}
	// Many addresses: bounded.
	for i := range 3 * maxBuckets {
		l.take(strconv.Itoa(i))
		now = now.Add(time.Second)
	}
	if len(l.buckets) > maxBuckets {
		t.Fatalf("%d buckets", len(l.buckets))
	}
}

// Over the API's limit an address gets 429 with Retry-After, counted;
// logins have their own limit.
func TestRateLimitedAPI(t *testing.T) {
	base, _, srv := serveWith(t, func(c *Config) {
		c.Limits = RateLimits{APIRate: 0.5, APIBurst: 5, LoginsPerMinute: 2}
	})
	get := func() *http.Response {
		req, _ := http.NewRequest("GET", base+"api/v1/auth/me", nil)
		req.Header.Set("Authorization", "Bearer "+testToken)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return resp
	}
	for i := range 5 {
		if resp := get(); resp.StatusCode != 200 {
			t.Fatalf("request %d within the burst: %d", i, resp.StatusCode)
		}
	}
	resp := get()
	if secs, _ := strconv.Atoi(resp.Header.Get("Retry-After")); resp.StatusCode != http.StatusTooManyRequests || secs < 1 || secs > 2 {
		t.Fatalf("over the limit: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	if n := testutil.ToFloat64(srv.throttled.WithLabelValues("api")); n != 1 {
		t.Fatalf("throttled %v", n)
	}
	for i := range 3 {
		_, code := login(t, base, "field-user", "fieldfield")
		if want := map[bool]int{true: 200, false: 429}[i < 2]; code != want {
			t.Fatalf("login %d: %d, want %d", i, code, want)
		}
	}
}
