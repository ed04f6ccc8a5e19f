package supervision

import (
	"bytes"
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/store/history"
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

// Trends reads the trends rollups (*store.Store).
type Trends interface {
	Trends(ctx context.Context, q history.TrendQuery) ([]history.TrendSeries, error)
}

// sessionStep is a session's trend step: about a hundred points or fewer.
func sessionStep(d time.Duration) time.Duration {
	switch {
	case d <= 4*time.Hour:
		return 5 * time.Minute
	case d <= 12*time.Hour:
		return 15 * time.Minute
	}
	return time.Hour
}

// SessionTrends are the session's cameras during it: people and vehicles
// arriving on each camera, and the most inside each of its zones at once,
// beside the same hours a week before; a camera or zone where nothing was
// counted in either is left out.
func (r records) SessionTrends(ctx context.Context, x supervise.Session, from, to time.Time) ([]supervise.TrendLine, error) {
	if r.h.cfg.Trends == nil || len(x.Cameras) == 0 {
		return nil, nil
	}
	step := sessionStep(to.Sub(from))
	from = from.UTC().Truncate(step)
	grid := history.TrendGrid(from, to, step, time.UTC)
	week := 7 * 24 * time.Hour
	var out []supervise.TrendLine
	for _, cam := range x.Cameras {
		for _, scope := range []string{history.ScopeCamera, history.ScopeZone} {
			q := history.TrendQuery{From: from, To: to, Step: step, Scope: scope, Camera: cam}
			now, err := r.h.cfg.Trends.Trends(ctx, q)
			if err != nil {
				return nil, err
			}
			q.From, q.To = from.Add(-week), to.Add(-week)
			before, err := r.h.cfg.Trends.Trends(ctx, q)
			if err != nil {
				return nil, err
			}
			metric := history.HeadlineMetric(scope)
			lines := map[string]*supervise.TrendLine{}
			var keys []string
			line := func(s history.TrendSeries) *supervise.TrendLine {
				k := s.Key()
				if lines[k] == nil {
					lines[k] = &supervise.TrendLine{Key: k, Metric: metric, Step: step, Times: grid, Values: make([]float64, len(grid))}
					keys = append(keys, k)
				}
				return lines[k]
			}
			for _, s := range now {
				v, _ := s.Metric(metric)
				copy(line(s).Values, v)
			}
			for _, s := range before {
				v, _ := s.Metric(metric)
				l := line(s)
				l.Before = make([]float64, len(l.Values))
				copy(l.Before, v)
			}
			for _, k := range keys {
				if l := lines[k]; anyNonZero(l.Values) || anyNonZero(l.Before) {
					out = append(out, *l)
				}
			}
		}
	}
	return out, nil
}

func anyNonZero(v []float64) bool {
	for _, x := range v {
		if x != 0 {
			return true
		}
	}
	return false
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
