package dashboard

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
)

// siteView is a site as the API shows it.
type siteView struct {
	geo.Site
	// Model is the URL of its buildings (GeoJSON), when it has some.
	Model string `json:"model,omitempty"`
	// Basemap is {"type": "pmtiles", "url": …} (served here, with Range
	// requests) or {"type": "xyz", "url": template}, when configured.
	Basemap map[string]string `json:"basemap,omitempty"`
}

func viewSite(s geo.Site) siteView {
	v := siteView{Site: s}
	if s.Model != "" || s.Synthetic {
		v.Model = "/api/v1/sites/" + s.ID + "/model"
	}
	switch {
	case s.PMTiles != "":
		v.Basemap = map[string]string{"type": "pmtiles", "url": "/api/v1/sites/" + s.ID + "/basemap.pmtiles"}
	case s.XYZ != "":
		v.Basemap = map[string]string{"type": "xyz", "url": s.XYZ}
	}
	return v
}

// Geo is the dashboard's view of the sites and the geofences.
type Geo interface {
	Sites() []geo.Site
	// SiteModel returns a site's buildings as GeoJSON; nil when it has none.
	SiteModel(id string) ([]byte, error)
	// SiteBasemap is a site's PMTiles file, when it has one.
	SiteBasemap(id string) (path string, ok bool)
	// Geofences are every fence and where it comes from ("config", "api").
	Geofences() ([]geo.Fence, map[string]string)
	// PutGeofence creates or replaces an API fence (ErrConfigured for one
	// defined in the configuration file).
	PutGeofence(ctx context.Context, f geo.Fence) error
	// DeleteGeofence removes an API fence (ErrNotFound, ErrConfigured).
	DeleteGeofence(ctx context.Context, id string) error
	// Calibrate fits and stores a fixed camera's control points and
	// reports the fit (ErrNotFound for an unknown camera; other errors
	// explain why the points cannot be used).
	Calibrate(ctx context.Context, camera string, pts []geo.ControlPoint) (map[string]any, error)
}

// Errors of Geo.
var (
	ErrNotFound   = geo.ErrNotFound
	ErrConfigured = geo.ErrConfigured
	ErrInvalid    = geo.ErrInvalid
)

// site looks a site up by id.
func (s *Server) site(id string) (geo.Site, bool) {
	if s.deps.Geo == nil {
		return geo.Site{}, false
	}
	for _, x := range s.deps.Geo.Sites() {
		if x.ID == id {
			return x, true
		}
	}
	return geo.Site{}, false
}

func (s *Server) listSites(w http.ResponseWriter, r *http.Request) {
	sites := []siteView{}
	if s.deps.Geo != nil {
		for _, x := range s.deps.Geo.Sites() {
			sites = append(sites, viewSite(x))
		}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"sites": sites})
}

func (s *Server) siteModel(w http.ResponseWriter, r *http.Request) {
	if s.deps.Geo == nil {
		api.WriteError(w, http.StatusNotFound, "no sites")
		return
	}
	b, err := s.deps.Geo.SiteModel(r.PathValue("id"))
	switch {
	case errors.Is(err, ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no site "+strconv.Quote(r.PathValue("id")))
	case err != nil:
		s.log.Warn("site model", "site", r.PathValue("id"), "err", err)
		api.WriteError(w, http.StatusInternalServerError, "the site's model cannot be read: "+err.Error())
	case b == nil:
		api.WriteError(w, http.StatusNotFound, "the site has no building model")
	default:
		w.Header().Set("Content-Type", "application/geo+json")
		w.Write(b)
	}
}

// siteBasemap serves a site's PMTiles file; the map reads it with Range
// requests (http.ServeContent answers them).
func (s *Server) siteBasemap(w http.ResponseWriter, r *http.Request) {
	if s.deps.Geo == nil {
		api.WriteError(w, http.StatusNotFound, "no sites")
		return
	}
	path, ok := s.deps.Geo.SiteBasemap(r.PathValue("id"))
	if !ok {
		api.WriteError(w, http.StatusNotFound, "the site has no PMTiles basemap")
		return
	}
	f, err := os.Open(path)
	if err != nil {
		s.log.Warn("basemap", "path", path, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the basemap file cannot be read")
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		api.WriteError(w, http.StatusServiceUnavailable, "the basemap file cannot be read")
		return
	}
	w.Header().Set("Content-Type", "application/vnd.pmtiles")
	http.ServeContent(w, r, filepath.Base(path), st.ModTime(), f)
}

// GET /api/v1/geofences: every fence as a GeoJSON FeatureCollection.
func (s *Server) listGeofences(w http.ResponseWriter, r *http.Request) {
	fc := geojson.NewFeatureCollection()
	if s.deps.Geo != nil {
		fences, sources := s.deps.Geo.Geofences()
		for _, f := range fences {
			fc.Append(f.Feature(sources[f.ID]))
		}
	}
	writeGeoJSON(w, fc)
}

func (s *Server) getGeofence(w http.ResponseWriter, r *http.Request) {
	if s.deps.Geo != nil {
		fences, sources := s.deps.Geo.Geofences()
		for _, f := range fences {
			if f.ID == r.PathValue("id") {
				b, _ := f.Feature(sources[f.ID]).MarshalJSON()
				w.Header().Set("Content-Type", "application/geo+json")
				w.Write(b)
				return
			}
		}
	}
	api.WriteError(w, http.StatusNotFound, "no geofence "+strconv.Quote(r.PathValue("id")))
}

// maxControlPoints bounds a calibration (its degeneracy check grows fast).
const maxControlPoints = 50

// maxFenceBody bounds a geofence request: a polygon of ~20,000 positions.
const maxFenceBody = 1 << 20

// readFence reads a GeoJSON Feature with a Polygon geometry as a fence.
func readFence(r *http.Request, id string) (geo.Fence, error) {
	body, err := io.ReadAll(io.LimitReader(r.Body, maxFenceBody+1))
	if err != nil {
		return geo.Fence{}, errors.New("reading the body failed")
	}
	if len(body) > maxFenceBody {
		return geo.Fence{}, errors.New("the geofence is larger than 1 MiB")
	}
	return geo.ParseFenceFeature(body, id)
}

// POST /api/v1/geofences (a Feature with an id) and PUT /api/v1/geofences/{id}.
func (s *Server) putGeofence(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	if s.deps.Geo == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no geofence store")
		return
	}
	id := r.PathValue("id")
	f, err := readFence(r, id)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if r.Method == http.MethodPost {
		if fences, _ := s.deps.Geo.Geofences(); containsFence(fences, f.ID) {
			api.WriteError(w, http.StatusConflict, "geofence "+strconv.Quote(f.ID)+" exists; PUT /api/v1/geofences/"+f.ID+" replaces it")
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	switch err := s.deps.Geo.PutGeofence(ctx, f); {
	case errors.Is(err, ErrConfigured):
		api.WriteError(w, http.StatusConflict, "geofence "+strconv.Quote(f.ID)+" is "+err.Error())
	case err != nil:
		s.log.Warn("put geofence", "id", f.ID, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the geofence could not be stored: the database did not answer")
	default:
		code := http.StatusOK
		if r.Method == http.MethodPost {
			code = http.StatusCreated
		}
		b, _ := f.Feature("api").MarshalJSON()
		w.Header().Set("Content-Type", "application/geo+json")
		w.WriteHeader(code)
		w.Write(b)
	}
}

func containsFence(fs []geo.Fence, id string) bool {
	for _, f := range fs {
		if f.ID == id {
			return true
		}
	}
	return false
}

func (s *Server) deleteGeofence(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	if s.deps.Geo == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no geofence store")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	id := r.PathValue("id")
	switch err := s.deps.Geo.DeleteGeofence(ctx, id); {
	case errors.Is(err, ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no geofence "+strconv.Quote(id))
	case errors.Is(err, ErrConfigured):
		api.WriteError(w, http.StatusConflict, "geofence "+strconv.Quote(id)+" is "+err.Error())
	case err != nil:
		s.log.Warn("delete geofence", "id", id, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the geofence could not be deleted: the database did not answer")
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

// PUT /api/v1/cameras/{id}/calibration: {"control_points": [{"u", "v",
// "lat", "lon"}, …]} (at least 4, spread over the scene). The fit is
// stored and in force at once; the answer reports its reprojection error.
func (s *Server) putCalibration(w http.ResponseWriter, r *http.Request) {
	if !api.SameOrigin(w, r) {
		return
	}
	if s.deps.Geo == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no camera geometry")
		return
	}
	var req struct {
		ControlPoints []geo.ControlPoint `json:"control_points"`
	}
	dec := json.NewDecoder(io.LimitReader(r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		api.WriteError(w, http.StatusBadRequest, `want {"control_points": [{"u": …, "v": …, "lat": …, "lon": …}, …]}: `+err.Error())
		return
	}
	if len(req.ControlPoints) > maxControlPoints {
		api.WriteError(w, http.StatusBadRequest, "at most "+strconv.Itoa(maxControlPoints)+" control points")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	fit, err := s.deps.Geo.Calibrate(ctx, r.PathValue("id"), req.ControlPoints)
	switch {
	case errors.Is(err, ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no camera "+strconv.Quote(r.PathValue("id")))
	case errors.Is(err, ErrInvalid):
		api.WriteError(w, http.StatusBadRequest, strings.TrimPrefix(err.Error(), ErrInvalid.Error()+": "))
	case err != nil:
		s.log.Warn("calibration", "camera", r.PathValue("id"), "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "the calibration could not be stored: the database did not answer")
	default:
		api.WriteJSON(w, http.StatusOK, fit)
	}
}
