// Package api holds the conventions the dashboard's handlers share:
// JSON answers and errors, request bodies, the checks every request and
// every change goes through, and answers for a store that did not answer.
// It knows nothing of any route.
package api

import (
	"encoding/json"
	"errors"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"
)

// WriteJSON answers v as indented JSON, never cached.
func WriteJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v, "  ") }

// WriteCompactJSON answers v as JSON without indentation: for long
// arrays of numbers (trends), where indentation would be most of the
// answer.
func WriteCompactJSON(w http.ResponseWriter, code int, v any) { writeJSON(w, code, v, "") }

func writeJSON(w http.ResponseWriter, code int, v any, indent string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", indent)
	_ = enc.Encode(v)
}

// WantsCSV tells whether a request asks for CSV: format=csv or Accept:
// text/csv.
func WantsCSV(r *http.Request) bool {
	return r.URL.Query().Get("format") == "csv" || strings.Contains(r.Header.Get("Accept"), "text/csv")
}

// CSVSafe keeps a spreadsheet from running a cell as a formula: text
// that begins like one gets a leading quote.
func CSVSafe(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// WriteError answers {"error": msg}.
func WriteError(w http.ResponseWriter, code int, msg string) {
	WriteJSON(w, code, map[string]string{"error": msg})
}

// DecodeBody reads a JSON body of at most limit bytes into v, refusing
// unknown fields; it answers 413 (too large) or 400 (usage and the reason)
// itself and returns false.
func DecodeBody(w http.ResponseWriter, r *http.Request, limit int64, v any, usage string) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		code := http.StatusBadRequest
		if _, big := errors.AsType[*http.MaxBytesError](err); big {
			code = http.StatusRequestEntityTooLarge
		}
		WriteError(w, code, usage+": "+err.Error())
		return false
	}
	if at := NulText(reflect.ValueOf(v), ""); at != "" {
		WriteError(w, http.StatusBadRequest, usage+": "+at+" contains a NUL character")
		return false
	}
	return true
}

// StoreFailed answers 503 for a store error: what could not be done, and
// that the database did not answer. The error itself (PostgreSQL's text,
// which names tables and constraints) goes to the log, never to the
// client.
func StoreFailed(log *slog.Logger, w http.ResponseWriter, r *http.Request, what string, err error) {
	log.Warn(what+": the database did not answer", "method", r.Method, "path", r.URL.Path, "err", err)
	WriteError(w, http.StatusServiceUnavailable, what+": the database did not answer")
}

// OwnOrigin refuses a state-changing request that a foreign web page made
// (the browser says so in Origin or Sec-Fetch-Site); it answers 403 itself.
func OwnOrigin(w http.ResponseWriter, r *http.Request) bool {
	if r.Header.Get("Sec-Fetch-Site") == "cross-site" {
		WriteError(w, http.StatusForbidden, "cross-site requests may not change smarteye")
		return false
	}
	if o := r.Header.Get("Origin"); o != "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		u, err := url.Parse(o)
		if err != nil || u.Host != r.Host || u.Scheme != scheme {
			WriteError(w, http.StatusForbidden, "requests from another origin may not change smarteye")
			return false
		}
	}
	return true
}

// SameOrigin is OwnOrigin and, but for DELETE, a JSON body, so that a page
// cannot post a "simple" cross-site request; it answers 403 or 415 itself.
func SameOrigin(w http.ResponseWriter, r *http.Request) bool {
	if !OwnOrigin(w, r) {
		return false
	}
	if r.Method != http.MethodDelete {
		ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if ct != "application/json" && ct != "application/geo+json" {
			WriteError(w, http.StatusUnsupportedMediaType, "send JSON: Content-Type application/json or application/geo+json")
			return false
		}
	}
	return true
}

// ClientIP is the request's remote address without the port.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// ParseRange reads from and to (RFC 3339) with defaults: to is now, from is
// def before to.
func ParseRange(r *http.Request, def time.Duration) (from, to time.Time, err error) {
	q := r.URL.Query()
	to = time.Now()
	if s := q.Get("to"); s != "" {
		if to, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, errors.New("to: not an RFC 3339 time such as 2026-11-23T14:00:00Z")
		}
	}
	from = to.Add(-def)
	if s := q.Get("from"); s != "" {
		if from, err = time.Parse(time.RFC3339Nano, s); err != nil {
			return from, to, errors.New("from: not an RFC 3339 time such as 2026-11-23T14:00:00Z")
		}
	}
	if !to.After(from) {
		return from, to, errors.New("to must be after from")
	}
	return from, to, nil
}
