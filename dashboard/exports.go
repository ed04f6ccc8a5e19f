package dashboard

import (
	"bufio"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Export kinds and formats.
const (
	ExportVideo  = "video"  // one camera's recording: mp4
	ExportTracks = "tracks" // vehicle tracks: geojson, kml, csv
	ExportEvents = "events" // events: geojson, kml, csv
)

// Export job states.
const (
	exportQueued  = "queued"
	exportRunning = "running"
	exportDone    = "done"
	exportFailed  = "failed"
)

// Export bounds.
const (
	maxExportJobs      = 16 // waiting or running
	maxVideoExport     = 24 * time.Hour
	maxDataExport      = 31 * 24 * time.Hour
	exportKeep         = 24 * time.Hour // a finished export's file is kept this long
	maxExportBodyBytes = 4 << 10
)

// Export is a background export job as the API shows it.
type Export struct {
	ID         string     `json:"id"`
	Kind       string     `json:"kind"`
	Format     string     `json:"format"`
	Camera     string     `json:"camera_id,omitempty"`
	Vehicle    string     `json:"vehicle_id,omitempty"`
	From       time.Time  `json:"from"`
	To         time.Time  `json:"to"`
	Status     string     `json:"status"`
	Progress   float64    `json:"progress"` // 0..1
	Bytes      int64      `json:"bytes"`
	Note       string     `json:"note,omitempty"`
	Error      string     `json:"error,omitempty"`
	User       string     `json:"user"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at,omitempty"`
	Download   string     `json:"download,omitempty"`

	file string
}

// exporter runs export jobs one at a time, in order.
type exporter struct {
	dir      string
	maxBytes int64 // the finished files together
	mu       sync.Mutex
	jobs     map[string]*Export
	todo     chan string
}

func newExporter(dir string, maxBytes int64) *exporter {
	if maxBytes <= 0 {
		maxBytes = 5 << 30
	}
	return &exporter{dir: dir, maxBytes: maxBytes, jobs: map[string]*Export{}, todo: make(chan string, maxExportJobs)}
}

// makeRoom removes the oldest finished exports other than keep until the
// finished ones and need bytes fit the quota. It reports whether they do.
func (e *exporter) makeRoom(keep string, need int64) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	var done []*Export
	total := need
	for _, j := range e.jobs {
		if j.Status == exportDone && j.ID != keep {
			done = append(done, j)
			total += j.Bytes
		}
	}
	slices.SortFunc(done, func(a, b *Export) int { return a.FinishedAt.Compare(*b.FinishedAt) })
	for _, j := range done {
		if total <= e.maxBytes {
			break
		}
		os.Remove(j.file)
		delete(e.jobs, j.ID)
		total -= j.Bytes
	}
	return total <= e.maxBytes
}

// errExportTooLarge: one export alone is over the quota.
type errExportTooLarge struct{ max int64 }

func (e errExportTooLarge) Error() string {
	return fmt.Sprintf("the export is larger than the disk allowed for exports (http.exports_max_size, %d MiB); export a shorter range", e.max>>20)
}

// quotaWriter fails a write that takes the file past max bytes.
type quotaWriter struct {
	w   io.Writer
	n   int64
	max int64
}

func (q *quotaWriter) Write(p []byte) (int, error) {
	if q.n+int64(len(p)) > q.max {
		return 0, errExportTooLarge{q.max}
	}
	q.n += int64(len(p))
	return q.w.Write(p)
}

// visible reports whether p may see j: its owner and admins may.
func visible(j Export, p *Principal) bool {
	return p.Can(PermAccounts) || strings.EqualFold(j.User, p.Name)
}

func (e *exporter) get(id string) (Export, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	j, ok := e.jobs[id]
	if !ok {
		return Export{}, false
	}
	return *j, true
}

func (e *exporter) update(id string, fn func(j *Export)) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j, ok := e.jobs[id]; ok {
		fn(j)
	}
}

// runExports works through the queue until ctx ends, and removes
// finished exports after a day.
func (s *Server) runExports(ctx context.Context) {
	e := s.exports
	tick := time.NewTicker(time.Minute)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			e.mu.Lock()
			for id, j := range e.jobs {
				if j.FinishedAt != nil && time.Since(*j.FinishedAt) > exportKeep {
					os.Remove(j.file)
					delete(e.jobs, id)
				}
			}
			e.mu.Unlock()
		case id := <-e.todo:
			s.runExport(ctx, id)
		}
	}
}

func (s *Server) runExport(ctx context.Context, id string) {
	e := s.exports
	j, ok := e.get(id)
	if !ok {
		return
	}
	e.update(id, func(j *Export) { j.Status = exportRunning })
	progress := func(p float64) { e.update(id, func(j *Export) { j.Progress = min(max(p, 0), 1) }) }
	note, err := s.writeExport(ctx, j, progress)
	var size int64
	if st, serr := os.Stat(j.file); serr == nil {
		size = st.Size()
	}
	now := time.Now().UTC()
	e.update(id, func(j *Export) {
		j.FinishedAt, j.Note, j.Bytes = &now, note, size
		if err != nil {
			j.Status, j.Error = exportFailed, err.Error()
			os.Remove(j.file)
			return
		}
		j.Status, j.Progress, j.Download = exportDone, 1, "/api/v1/exports/"+id+"/file"
	})
	if err == nil {
		e.makeRoom(id, size)
	}
	if err != nil {
		s.log.Warn("export failed", "export", id, "kind", j.Kind, "err", err)
	} else {
		s.log.Info("export done", "export", id, "kind", j.Kind, "format", j.Format, "bytes", size)
	}
}

// writeExport writes the job's file (via a temporary name).
func (s *Server) writeExport(ctx context.Context, j Export, progress func(float64)) (note string, err error) {
	if err := os.MkdirAll(filepath.Dir(j.file), 0o755); err != nil {
		return "", err
	}
	tmp := j.file + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", err
	}
	defer os.Remove(tmp)
	bw := bufio.NewWriterSize(&quotaWriter{w: f, max: s.exports.maxBytes}, 256<<10)
	rec := s.deps.Recordings
	switch j.Kind {
	case ExportVideo:
		var segs []store.Recording
		segs, err = rec.Recordings(ctx, j.Camera, j.From, j.To)
		if err == nil {
			note, err = record.WriteMP4(bw, s.deps.RecordingsDir, segs, j.From, j.To, record.MP4Options{Progress: func(done, total int64) {
				if done%(1<<20) < 64<<10 || done == total {
					progress(float64(done) / float64(total))
				}
			}})
		}
	case ExportTracks:
		err = exportTracks(ctx, bw, rec, j, progress)
	case ExportEvents:
		err = exportEvents(ctx, bw, rec, j, progress)
	}
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", err
	}
	return note, os.Rename(tmp, j.file)
}

// rowProgress reports done/total every 1,000 rows.
func rowProgress(ctx context.Context, rec Recordings, table string, from, to time.Time, progress func(float64)) func() {
	total, _ := rec.CountRows(ctx, table, from, to)
	n := 0
	return func() {
		if n++; total > 0 && n%1000 == 0 {
			progress(float64(n) / float64(total))
		}
	}
}

func exportTracks(ctx context.Context, w io.Writer, rec Recordings, j Export, progress func(float64)) error {
	vehicles := []string{j.Vehicle}
	if j.Vehicle == "" {
		var err error
		if vehicles, err = rec.TrackVehicles(ctx, j.From, j.To); err != nil {
			return err
		}
	}
	step := rowProgress(ctx, rec, store.Telemetry.Name, j.From, j.To, progress)
	var cw *csv.Writer
	switch j.Format {
	case "geojson":
		io.WriteString(w, `{"type":"FeatureCollection","features":[`)
	case "kml":
		io.WriteString(w, xml.Header+`<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><name>smarteye tracks</name>`+"\n")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write([]string{"time", "vehicle_id", "lat", "lon", "alt_msl", "alt_rel", "heading", "ground_speed"})
	}
	for i, v := range vehicles {
		var pts []store.TrackPoint
		err := rec.EachTrackPoint(ctx, v, j.From, j.To, func(p store.TrackPoint) error {
			step()
			if cw != nil {
				return cw.Write([]string{p.Time.UTC().Format(time.RFC3339Nano), v, ftoa(p.Lat), ftoa(p.Lon), f32(p.AltMSL), f32(p.AltRel), f32(p.Heading), f32(p.GroundSpeed)})
			}
			pts = append(pts, p)
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case j.Format == "geojson" && len(pts) > 0:
			if i > 0 {
				io.WriteString(w, ",")
			}
			coords := make([][3]float64, len(pts))
			times := make([]string, len(pts))
			for k, p := range pts {
				coords[k] = [3]float64{p.Lon, p.Lat, float64(deref(p.AltMSL))}
				times[k] = p.Time.UTC().Format(time.RFC3339Nano)
			}
			b, _ := json.Marshal(map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": coords},
				"properties": map[string]any{"vehicle_id": v, "start": pts[0].Time.UTC(), "end": pts[len(pts)-1].Time.UTC(), "coordTimes": times}})
			w.Write(b)
		case j.Format == "kml" && len(pts) > 0:
			fmt.Fprintf(w, "<Placemark><name>%s</name><gx:Track><altitudeMode>absolute</altitudeMode>\n", xmlText(v))
			for _, p := range pts {
				fmt.Fprintf(w, "<when>%s</when>\n", p.Time.UTC().Format(time.RFC3339Nano))
			}
			for _, p := range pts {
				fmt.Fprintf(w, "<gx:coord>%s %s %s</gx:coord>\n", ftoa(p.Lon), ftoa(p.Lat), f32(p.AltMSL))
			}
			io.WriteString(w, "</gx:Track></Placemark>\n")
		}
	}
	switch j.Format {
	case "geojson":
		_, err := io.WriteString(w, "]}\n")
		return err
	case "kml":
		_, err := io.WriteString(w, "</Document></kml>\n")
		return err
	}
	cw.Flush()
	return cw.Error()
}

func exportEvents(ctx context.Context, w io.Writer, rec Recordings, j Export, progress func(float64)) error {
	step := rowProgress(ctx, rec, store.Events.Name, j.From, j.To, progress)
	var cw *csv.Writer
	switch j.Format {
	case "geojson":
		io.WriteString(w, `{"type":"FeatureCollection","features":[`)
	case "kml":
		io.WriteString(w, xml.Header+`<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>smarteye events</name>`+"\n")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write([]string{"time", "id", "kind", "camera_id", "vehicle_id", "track_id", "lat", "lon", "message"})
	}
	first := true
	err := rec.EachEvent(ctx, j.From, j.To, j.Camera, j.Vehicle, func(e store.EventRecord) error {
		step()
		switch j.Format {
		case "csv":
			tr := ""
			if e.TrackID != nil {
				tr = strconv.FormatInt(*e.TrackID, 10)
			}
			lat, lon := "", ""
			if e.Lat != nil && e.Lon != nil {
				lat, lon = ftoa(*e.Lat), ftoa(*e.Lon)
			}
			return cw.Write([]string{e.Time.UTC().Format(time.RFC3339Nano), e.ID, e.Kind, derefS(e.CameraID), derefS(e.Vehicle), tr, lat, lon, derefS(e.Message)})
		case "geojson":
			var geom any
			if e.Lat != nil && e.Lon != nil {
				geom = map[string]any{"type": "Point", "coordinates": []float64{*e.Lon, *e.Lat}}
			}
			b, err := json.Marshal(map[string]any{"type": "Feature", "id": e.ID, "geometry": geom, "properties": e})
			if err != nil {
				return err
			}
			if !first {
				io.WriteString(w, ",")
			}
			first = false
			_, err = w.Write(b)
			return err
		default: // kml: placed events only
			if e.Lat == nil || e.Lon == nil {
				return nil
			}
			_, err := fmt.Fprintf(w, "<Placemark><name>%s</name><description>%s</description><TimeStamp><when>%s</when></TimeStamp><Point><coordinates>%s,%s</coordinates></Point></Placemark>\n",
				xmlText(e.Kind), xmlText(derefS(e.Message)), e.Time.UTC().Format(time.RFC3339Nano), ftoa(*e.Lon), ftoa(*e.Lat))
			return err
		}
	})
	if err != nil {
		return err
	}
	switch j.Format {
	case "geojson":
		_, err = io.WriteString(w, "]}\n")
	case "kml":
		_, err = io.WriteString(w, "</Document></kml>\n")
	default:
		cw.Flush()
		err = cw.Error()
	}
	return err
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func f32(p *float32) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*p), 'f', -1, 32)
}

func deref(p *float32) float32 {
	if p == nil {
		return 0
	}
	return *p
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}

var exportFormats = map[string][]string{ExportVideo: {"mp4"}, ExportTracks: {"geojson", "kml", "csv"}, ExportEvents: {"geojson", "kml", "csv"}}

// POST /api/v1/exports {kind, format, camera_id, vehicle_id, from, to}:
// 202 with the job; GET /api/v1/exports/{id} follows its progress.
func (s *Server) postExport(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(w, r) || !s.historyReady(w) {
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
	if !decodeBody(w, r, maxExportBodyBytes, &req, `send {"kind": "video|tracks|events", "format": "…", "camera_id": "…", "from": "RFC 3339", "to": "RFC 3339"}`) {
		return
	}
	formats, ok := exportFormats[req.Kind]
	switch {
	case !ok:
		writeError(w, http.StatusBadRequest, fmt.Sprintf("kind: %q is not one of video, tracks, events", req.Kind))
		return
	case req.Format == "" && len(formats) > 0:
		req.Format = formats[0]
	case !slices.Contains(formats, req.Format):
		writeError(w, http.StatusBadRequest, fmt.Sprintf("format: %q is not one of %v for %s", req.Format, formats, req.Kind))
		return
	}
	limit := maxDataExport
	if req.Kind == ExportVideo {
		limit = maxVideoExport
	}
	if _, known := s.camera(req.Camera); !known && (req.Kind == ExportVideo || req.Camera != "") {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("camera_id: no camera %q", req.Camera))
		return
	}
	if len(req.Vehicle) > 128 {
		writeError(w, http.StatusBadRequest, "vehicle_id: too long")
		return
	}
	if req.From.IsZero() || !req.To.After(req.From) || req.To.Sub(req.From) > limit {
		writeError(w, http.StatusBadRequest, fmt.Sprintf("from and to: RFC 3339 times, to after from, at most %s apart", limit))
		return
	}
	id := telemetry.NewUUID().String()
	ext := req.Format
	j := &Export{ID: id, Kind: req.Kind, Format: req.Format, Camera: req.Camera, Vehicle: req.Vehicle, From: req.From.UTC(), To: req.To.UTC(),
		Status: exportQueued, User: Who(r.Context()).Name, CreatedAt: time.Now().UTC(), file: filepath.Join(s.exports.dir, id+"."+ext)}
	e := s.exports
	e.mu.Lock()
	busy := 0
	for _, x := range e.jobs {
		if x.FinishedAt == nil {
			busy++
		}
	}
	if busy >= maxExportJobs {
		e.mu.Unlock()
		writeError(w, http.StatusTooManyRequests, "too many exports waiting; try again when one is done")
		return
	}
	e.jobs[id] = j
	out := *j
	e.mu.Unlock()
	e.todo <- id // cannot block: at most maxExportJobs are unfinished
	w.Header().Set("Location", "/api/v1/exports/"+id)
	writeJSON(w, http.StatusAccepted, out)
}

// GET /api/v1/exports: the caller's exports of the last day (an admin's:
// everybody's), newest first.
func (s *Server) listExports(w http.ResponseWriter, r *http.Request) {
	e, p := s.exports, Who(r.Context())
	e.mu.Lock()
	out := make([]Export, 0, len(e.jobs))
	for _, j := range e.jobs {
		if visible(*j, p) {
			out = append(out, *j)
		}
	}
	e.mu.Unlock()
	slices.SortFunc(out, func(a, b Export) int { return b.CreatedAt.Compare(a.CreatedAt) })
	writeJSON(w, http.StatusOK, out)
}

// visibleExport is {id} when the caller may see it.
func (s *Server) visibleExport(r *http.Request) (Export, bool) {
	j, ok := s.exports.get(r.PathValue("id"))
	return j, ok && visible(j, Who(r.Context()))
}

// GET /api/v1/exports/{id}
func (s *Server) getExport(w http.ResponseWriter, r *http.Request) {
	j, ok := s.visibleExport(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no export "+strconv.Quote(r.PathValue("id")))
		return
	}
	writeJSON(w, http.StatusOK, j)
}

var exportTypes = map[string]string{"mp4": "video/mp4", "geojson": "application/geo+json", "kml": "application/vnd.google-earth.kml+xml", "csv": "text/csv; charset=utf-8"}

// GET /api/v1/exports/{id}/file: the finished file, as a download.
func (s *Server) exportFile(w http.ResponseWriter, r *http.Request) {
	j, ok := s.visibleExport(r)
	if !ok {
		writeError(w, http.StatusNotFound, "no export "+strconv.Quote(r.PathValue("id")))
		return
	}
	if j.Status != exportDone {
		writeError(w, http.StatusConflict, "the export is "+j.Status)
		return
	}
	f, err := os.Open(j.file)
	if err != nil {
		writeError(w, http.StatusGone, "the export's file is gone")
		return
	}
	defer f.Close()
	subject := j.Camera
	if j.Kind != ExportVideo {
		subject = j.Kind
	}
	name := fmt.Sprintf("smarteye-%s-%s.%s", subject, j.From.Format("20060102T150405Z"), j.Format)
	w.Header().Set("Content-Type", exportTypes[j.Format])
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	http.ServeContent(w, r, name, *j.FinishedAt, f)
}
