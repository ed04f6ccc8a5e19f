package dashboard

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strings"

	"github.com/smarteye/smarteye/dashboard/auth"
)

// The audit log of changes made through the API: allow writes a row for
// every request that changes something and succeeds, unless its handler
// wrote its own in the store's transaction (supervision sessions, users,
// tokens and logins).

// auditBodyBytes is how much of a change's request body its audit row
// keeps (larger bodies are recorded by size).
const auditBodyBytes = 8 << 10

// changes reports whether r is a change.
func changes(r *http.Request) bool {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return false
	}
	return true
}

// auditKinds names the kind of object each API collection holds.
var auditKinds = map[string]string{
	"geofences": "geofence",
	"rules":     "rule",
	"alerts":    "alert",
	"exports":   "export",
	"cameras":   "camera",
}

// auditAction is the kind and action of a change by its route pattern
// ("POST /api/v1/alerts/{id}/ack" → alert, alert.ack); ok is false for
// routes audited by their handlers or that change nothing worth a row
// (starting and ending a WebRTC view).
func auditAction(pattern string) (kind, action string, ok bool) {
	method, path, _ := strings.Cut(pattern, " ")
	segs := strings.Split(strings.TrimPrefix(path, "/api/v1/"), "/")
	kind, ok = auditKinds[segs[0]]
	if !ok || slices.Contains(segs, "whep") {
		return "", "", false
	}
	last := segs[len(segs)-1]
	switch {
	case last == "calibration":
		return "calibration", "calibration.update", true
	case len(segs) > 1 && !strings.HasPrefix(last, "{"):
		return kind, kind + "." + last, true
	}
	switch method {
	case http.MethodPost:
		return kind, kind + ".create", true
	case http.MethodDelete:
		return kind, kind + ".delete", true
	}
	return kind, kind + ".update", true
}

// bodyTee keeps the first auditBodyBytes of a request body as it is read.
type bodyTee struct {
	io.ReadCloser
	buf bytes.Buffer
	n   int64
}

func (b *bodyTee) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if room := auditBodyBytes - b.buf.Len(); room > 0 {
		b.buf.Write(p[:min(n, room)])
	}
	b.n += int64(n)
	return n, err
}

// secretKeys are body fields an audit row never keeps.
var secretKeys = []string{"password", "current", "new", "secret", "token", "key"}

// audited runs a change and writes its audit row when it succeeded.
func (s *Server) audited(w http.ResponseWriter, r *http.Request, h http.HandlerFunc) {
	kind, action, ok := auditAction(r.Pattern)
	if !ok || s.deps.Accounts == nil {
		h(w, r)
		return
	}
	tee := &bodyTee{ReadCloser: r.Body}
	r.Body = tee
	rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
	h(rec, r)
	if rec.code >= 400 {
		return
	}
	detail := map[string]any{}
	var body map[string]any
	switch {
	case tee.n > int64(tee.buf.Len()):
		detail["body_bytes"] = tee.n
	case tee.n > 0 && json.Unmarshal(tee.buf.Bytes(), &body) == nil:
		for k, v := range body {
			if slices.ContainsFunc(secretKeys, func(s string) bool { return strings.Contains(strings.ToLower(k), s) }) {
				v = "(not recorded)"
			}
			detail[k] = v
		}
	}
	id := r.PathValue("id")
	if id == "" {
		if v, ok := body["id"].(string); ok {
			id = v
		}
	}
	e := auth.Entry(r)
	e.Action, e.ObjectType, e.ObjectID, e.Detail = action, kind, id, auth.AuditDetail(detail)
	s.audit.Write(r.Context(), e)
}
