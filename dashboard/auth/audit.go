package auth

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Auditor writes rows on the audit log: logins and the changes the
// dashboard's routing records.
type Auditor struct {
	store    AccountStore // nil: no audit log
	failures prometheus.Counter
	log      *slog.Logger
}

// NewAuditor writes to st (nil: nothing); its metric is registered on reg
// (nil: none).
func NewAuditor(st AccountStore, reg prometheus.Registerer, log *slog.Logger) *Auditor {
	a := &Auditor{store: st, log: log, failures: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "smarteye_audit_failures_total",
		Help: "Audit rows that could not be written (the database did not answer); each is logged.",
	})}
	if reg != nil {
		reg.MustRegister(a.failures)
	}
	return a
}

// Write writes an audit row, logging (and counting) one that could not be
// written.
func (a *Auditor) Write(ctx context.Context, e store.AuditEntry) {
	if a.store == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), storeWait)
	defer cancel()
	if err := a.store.Audit(ctx, e); err != nil {
		a.failures.Inc()
		a.log.Error("audit row not written", "actor", e.Actor, "action", e.Action, "object", e.ObjectID, "err", err)
	}
}

// Entry is the audit row of a change the caller of r makes: who, and from
// which address.
func Entry(r *http.Request) store.AuditEntry {
	return store.AuditEntry{Actor: Who(r.Context()).Name, RemoteAddr: api.ClientIP(r)}
}

// AuditDetail is v as an audit row's detail; nil when it says nothing.
func AuditDetail(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil || string(b) == "{}" || string(b) == "null" {
		return nil
	}
	return b
}

// ListAudit is GET /api/v1/audit?user=&kind=&from=&to=&before=&limit=: the
// audit log, newest first; CSV with Accept: text/csv or format=csv.
func (h *API) ListAudit(w http.ResponseWriter, r *http.Request) {
	as, ok := h.accounts(w)
	if !ok {
		return
	}
	q := r.URL.Query()
	aq := store.AuditQuery{Actor: q.Get("user"), Kind: q.Get("kind")}
	for _, p := range []struct {
		key string
		t   *time.Time
	}{{"from", &aq.From}, {"to", &aq.To}} {
		if v := q.Get(p.key); v != "" {
			t, err := time.Parse(time.RFC3339, v)
			if err != nil {
				api.WriteError(w, http.StatusBadRequest, p.key+": not an RFC 3339 time such as 2026-11-23T14:00:00Z")
				return
			}
			*p.t = t
		}
	}
	for _, p := range []struct {
		key string
		max int64
		v   *int64
	}{{"before", 1 << 62, &aq.Before}, {"limit", 10000, new(int64)}} {
		if v := q.Get(p.key); v != "" {
			n, err := strconv.ParseInt(v, 10, 64)
			if err != nil || n < 1 || n > p.max {
				api.WriteError(w, http.StatusBadRequest, p.key+": a whole number from 1 to "+strconv.FormatInt(p.max, 10))
				return
			}
			*p.v = n
			if p.key == "limit" {
				aq.Limit = int(n)
			}
		}
	}
	es, err := as.AuditEntries(r.Context(), aq)
	if err != nil {
		api.StoreFailed(h.log, w, r, "the audit log could not be read", err)
		return
	}
	if api.WantsCSV(r) {
		w.Header().Set("Content-Type", "text/csv; charset=utf-8")
		w.Header().Set("Content-Disposition", `attachment; filename="smarteye-audit.csv"`)
		w.Header().Set("Cache-Control", "no-store")
		cw := csv.NewWriter(w)
		cw.Write([]string{"id", "time", "user", "action", "kind", "object", "address", "detail"})
		for _, e := range es {
			cw.Write([]string{strconv.FormatInt(e.ID, 10), e.Time.UTC().Format(time.RFC3339Nano), api.CSVSafe(e.Actor), e.Action, e.ObjectType, api.CSVSafe(e.ObjectID), e.RemoteAddr, api.CSVSafe(string(e.Detail))})
		}
		cw.Flush()
		return
	}
	if es == nil {
		es = []store.AuditEntry{}
	}
	api.WriteJSON(w, http.StatusOK, es)
}
