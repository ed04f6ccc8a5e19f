package dashboard

import (
	"io"
	"net/http"
	"strconv"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

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
