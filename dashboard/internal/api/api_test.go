package api

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// A NUL inside a JSON string (\u0000 decodes to one, and no text column
// takes it) is refused by DecodeBody, wherever the string is.
func TestDecodeBodyRefusesNUL(t *testing.T) {
	type inner struct {
		Tags []string          `json:"tags"`
		Meta map[string]string `json:"meta"`
	}
	for _, tc := range []struct {
		body, where string
	}{
		{`{"title":"a\u0000b"}`, "title"},
		{`{"inner":{"tags":["ok","x\u0000"]}}`, "inner.tags[1]"},
		{`{"inner":{"meta":{"k":"\u0000"}}}`, "inner.meta.k"},
		{`{"ptr":"\u0000"}`, "ptr"},
		{`{"title":"fine \u00e9"}`, ""},
	} {
		var v struct {
			Title string  `json:"title"`
			Inner inner   `json:"inner"`
			Ptr   *string `json:"ptr"`
		}
		w := httptest.NewRecorder()
		r := httptest.NewRequest("POST", "/", strings.NewReader(tc.body))
		ok := DecodeBody(w, r, 1<<10, &v, "send a thing")
		if tc.where == "" {
			if !ok {
				t.Errorf("%s refused: %s", tc.body, w.Body)
			}
			continue
		}
		if ok || w.Code != http.StatusBadRequest || !strings.Contains(w.Body.String(), tc.where+" contains a NUL") {
			t.Errorf("%s: %v %d %s", tc.body, ok, w.Code, w.Body)
		}
	}
}
