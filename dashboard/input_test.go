package dashboard

import (
	"net/http"
	"strings"
	"testing"
)

// Every route refuses a NUL, a control character or invalid UTF-8 in its
// path parameters and query with 400 and a message, before anything
// reaches the database; bodies with a NUL in any string are refused too.
// Nothing answers with PostgreSQL's text.
func TestHostileInputIsRefused(t *testing.T) {
	base, _ := serve(t)
	s := &Server{}
	n := 0
	for _, rt := range s.routes() {
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		for _, bad := range []string{"%00", "%ff", "%1b"} {
			path := pattern
			if strings.Contains(path, "{") {
				parts := strings.Split(path, "/")
				for i, p := range parts {
					if strings.HasPrefix(p, "{") {
						parts[i] = "x" + bad
					}
				}
				path = strings.Join(parts, "/")
			}
			for _, u := range []string{path, pattern + "?camera=" + bad + "&class=" + bad} {
				if u == pattern {
					continue // a route without parameters: the query case covers it
				}
				u = strings.ReplaceAll(strings.ReplaceAll(u, "{", ""), "}", "")
				code, msg := send(t, method, base+strings.TrimPrefix(u, "/"), "application/json", "{}", nil)
				if code != http.StatusBadRequest || msg == "" || strings.HasPrefix(msg, "{") || strings.Contains(msg, "SQLSTATE") {
					t.Errorf("%s %s: %d %s", method, u, code, msg)
				}
				n++
			}
		}
	}
	t.Logf("%d hostile requests refused", n)

}

// A track of a vehicle nobody knows is 404, not an empty 200.
func TestTrackOfUnknownVehicle(t *testing.T) {
	base, st := serve(t)
	if _, err := st.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if code, body := get(t, base+"api/v1/vehicles/ghost/track"); code != http.StatusNotFound || !strings.Contains(body, "no vehicle") {
		t.Fatalf("%d %s", code, body)
	}
}
