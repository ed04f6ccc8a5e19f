package export

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
)

var exportFormats = map[string][]string{Video: {"mp4"}, Tracks: {"geojson", "kml", "csv"}, Events: {"geojson", "kml", "csv"}}

// Create is POST /api/v1/exports {kind, format, camera_id, vehicle_id,
// from, to}: 202 with the job; GET /api/v1/exports/{id} follows its
// progress.
func (e *Manager) Create(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	if e.cfg.Source == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	var req struct {
		Kind    string    `json:"kind"`
		Format  string    `json:"format"`
		Camera  string    `json:"camera_id"`
		Vehicle string    `json:"vehicle_id"`
		From    time.Time `json:"from"`
		To      time.Time `json:"to"`
	}
	if !api.DecodeBody(w, r, maxExportBodyBytes, &req, `send {"kind": "video|tracks|events", "format": "…", "camera_id": "…", "from": "RFC 3339", "to": "RFC 3339"}`) {
		return
	}
	formats, ok := exportFormats[req.Kind]
	switch {
	case !ok:
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("kind: %q is not one of video, tracks, events", req.Kind))
		return
	case req.Format == "" && len(formats) > 0:
		req.Format = formats[0]
	case !slices.Contains(formats, req.Format):
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("format: %q is not one of %v for %s", req.Format, formats, req.Kind))
		return
	}
	limit := maxDataExport
	if req.Kind == Video {
		limit = maxVideoExport
	}
	if known := e.cfg.Camera != nil && e.cfg.Camera(req.Camera); !known && (req.Kind == Video || req.Camera != "") {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("camera_id: no camera %q", req.Camera))
		return
	}
	if len(req.Vehicle) > 128 {
		api.WriteError(w, http.StatusBadRequest, "vehicle_id: too long")
		return
	}
	if req.From.IsZero() || !req.To.After(req.From) || req.To.Sub(req.From) > limit {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("from and to: RFC 3339 times, to after from, at most %s apart", limit))
		return
	}
	id := telemetry.NewUUID().String()
	ext := req.Format
	j := &Job{ID: id, Kind: req.Kind, Format: req.Format, Camera: req.Camera, Vehicle: req.Vehicle, From: req.From.UTC(), To: req.To.UTC(),
		Status: Queued, User: auth.Who(r.Context()).Name, CreatedAt: time.Now().UTC(), file: filepath.Join(e.cfg.Dir, id+"."+ext)}
	e.mu.Lock()
	busy := 0
	for _, x := range e.jobs {
		if x.FinishedAt == nil {
			busy++
		}
	}
	if busy >= maxExportJobs {
		e.mu.Unlock()
		api.WriteError(w, http.StatusTooManyRequests, "too many exports waiting; try again when one is done")
		return
	}
	e.jobs[id] = j
	out := *j
	e.mu.Unlock()
	e.todo <- id // cannot block: at most maxExportJobs are unfinished
	w.Header().Set("Location", "/api/v1/exports/"+id)
	api.WriteJSON(w, http.StatusAccepted, out)
}

// List is GET /api/v1/exports: the caller's exports of the last day (an
// admin's: everybody's), newest first.
func (e *Manager) List(w http.ResponseWriter, r *http.Request) {
	p := auth.Who(r.Context())
	e.mu.Lock()
	out := make([]Job, 0, len(e.jobs))
	for _, j := range e.jobs {
		if visible(*j, p) {
			out = append(out, *j)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Job) int { return b.CreatedAt.Compare(a.CreatedAt) })
	api.WriteJSON(w, http.StatusOK, out)
}

// visibleJob is {id} when the caller may see it.
func (e *Manager) visibleJob(r *http.Request) (Job, bool) {
	j, ok := e.get(r.PathValue("id"))
	return j, ok && visible(j, auth.Who(r.Context()))
}

// Get is GET /api/v1/exports/{id}.
func (e *Manager) Get(w http.ResponseWriter, r *http.Request) {
	j, ok := e.visibleJob(r)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no export "+strconv.Quote(r.PathValue("id")))
		return
	}
	api.WriteJSON(w, http.StatusOK, j)
}

var exportTypes = map[string]string{"mp4": "video/mp4", "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml", "csv": "text/csv; charset=utf-8"}

// File is GET /api/v1/exports/{id}/file: the finished file, as a
// download.
func (e *Manager) File(w http.ResponseWriter, r *http.Request) {
	j, ok := e.visibleJob(r)
	if !ok {
		api.WriteError(w, http.StatusNotFound, "no export "+strconv.Quote(r.PathValue("id")))
		return
	}
	if j.Status != Done {
		api.WriteError(w, http.StatusConflict, "the export is "+j.Status)
		return
	}
	f, err := os.Open(j.file)
	if err != nil {
		api.WriteError(w, http.StatusGone, "the export's file is gone")
		return
	}
	defer f.Close()
	subject := j.Camera
	if j.Kind != Video {
		subject = j.Kind
	}
	name := fmt.Sprintf("smarteye-%s-%s.%s", subject, j.From.Format("20060102T150405Z"), j.Format)
	w.Header().Set("Content-Type", exportTypes[j.Format])
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(w, r, name, *j.FinishedAt, f)
}
