package supervision

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// records are what a session's report is made of: the store's, who joined
// the room (from the audit log) and the notifications (from the events).
type records struct {
	Store
	h *API
}

func (r records) Joined(ctx context.Context, session string) ([]string, error) {
	log, err := r.AuditLog(ctx, "session", session, 100000)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range log {
		if e.Action == "session.join" {
			out = append(out, e.Actor)
		}
	}
	return out, nil
}

func (r records) Notices(ctx context.Context, x supervise.Session) ([]supervise.Notice, error) {
	evs, err := r.h.notices(ctx, x)
	if err != nil {
		return nil, err
	}
	out := make([]supervise.Notice, len(evs))
	for i, e := range evs {
		out[i] = supervise.Notice{Time: e.Time, Kind: e.Kind, Message: e.Message}
	}
	return out, nil
}

func (h *API) report(w http.ResponseWriter, r *http.Request) (*supervise.Report, bool) {
	x, ok := h.visible(w, r)
	if !ok {
		return nil, false
	}
	site := ""
	if h.cfg.SiteName != nil {
		site = h.cfg.SiteName(x.Site)
	}
	rp, err := supervise.NewReport(r.Context(), records{h.cfg.Store, h}, x, site, time.Now())
	if err != nil {
		api.StoreFailed(h.log, w, r, "the report could not be built", err)
		return nil, false
	}
	return rp, true
}

// ReportHTML is GET /api/v1/sessions/{id}/report.html: the report as one
// self-contained page (?download=1 saves it).
func (h *API) ReportHTML(w http.ResponseWriter, r *http.Request) {
	rp, ok := h.report(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := rp.HTML(&b); err != nil {
		api.WriteError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if r.URL.Query().Get("download") != "" {
		w.Header().Set("Content-Disposition", `attachment; filename="`+rp.FileName("html")+`"`)
	}
	w.Write(b.Bytes())
}

// ReportPDF is GET /api/v1/sessions/{id}/report.pdf.
func (h *API) ReportPDF(w http.ResponseWriter, r *http.Request) {
	rp, ok := h.report(w, r)
	if !ok {
		return
	}
	var b bytes.Buffer
	if err := rp.PDF(&b); err != nil {
		h.log.Warn("rendering a session report failed", "session", rp.Session.ID, "err", err)
		api.WriteError(w, http.StatusInternalServerError, "the PDF could not be rendered: "+err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/pdf")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Content-Disposition", `inline; filename="`+rp.FileName("pdf")+`"`)
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.Write(b.Bytes())
}
