package dashboard

import (
	"context"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Limits of the map outputs.
const (
	maxGeoFeatures  = 50000 // per GeoJSON answer
	maxTileFeatures = 20000 // per vector tile: dense history is thinned by time (newest kept)
	defaultTileSpan = 24 * time.Hour
)

// parseBBox reads bbox=west,south,east,north (degrees); absent: the world.
func parseBBox(r *http.Request) ([4]float64, error) {
	v := r.URL.Query().Get("bbox")
	if v == "" {
		return [4]float64{-180, -90, 180, 90}, nil
	}
	parts := strings.Split(v, ",")
	var b [4]float64
	if len(parts) != 4 {
		return b, errors.New("bbox: west,south,east,north in degrees")
	}
	for i, p := range parts {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return b, errors.New("bbox: west,south,east,north in degrees")
		}
		b[i] = f
	}
	if b[0] < -180 || b[2] > 180 || b[1] < -90 || b[3] > 90 || b[0] >= b[2] || b[1] >= b[3] {
		return b, errors.New("bbox: west < east within ±180 and south < north within ±90")
	}
	return b, nil
}

// placed is the detections of ds placed on the ground, for the map layers.
func placed(ds []store.DetectionRecord) []geo.DetectionPoint {
	out := make([]geo.DetectionPoint, 0, len(ds))
	for _, d := range ds {
		if d.Lat != nil && d.Lon != nil {
			out = append(out, geo.DetectionPoint{Time: d.Time, Camera: d.CameraID, Class: d.Class, Confidence: d.Confidence, TrackID: d.TrackID,
				Lat: *d.Lat, Lon: *d.Lon, Error: d.PositionError})
		}
	}
	return out
}

// geoWindow parses a map query's time window, row limit and bounding box,
// answering errors itself.
func (s *Server) geoWindow(w http.ResponseWriter, r *http.Request, def time.Duration) (from, to time.Time, limit int, bbox [4]float64, ok bool) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	if from, to, limit, ok = pageParams(w, r, def); !ok {
		return
	}
	bbox, err := parseBBox(r)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return from, to, limit, bbox, false
	}
	return from, to, limit, bbox, true
}

// GET /api/v1/geo/detections?from=&to=&bbox=&camera=&limit=: placed
// detections as a GeoJSON FeatureCollection of points, newest first.
func (s *Server) geoDetections(w http.ResponseWriter, r *http.Request) {
	from, to, limit, bbox, ok := s.geoWindow(w, r, time.Hour)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ds, err := s.deps.History.PlacedDetections(ctx, from, to, bbox, r.URL.Query().Get("camera"), min(limit, maxGeoFeatures))
	if err != nil {
		s.log.Warn("geo detections query failed", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "detections unavailable: the database did not answer")
		return
	}
	fc := geojson.NewFeatureCollection()
	for _, d := range placed(ds) {
		fc.Append(d.Feature())
	}
	writeGeoJSON(w, fc)
}

// GET /api/v1/geo/events?from=&to=&bbox=&kind=&limit=: events with a
// position (track, zone, geofence, vehicle events) as GeoJSON points.
func (s *Server) geoEvents(w http.ResponseWriter, r *http.Request) {
	from, to, limit, bbox, ok := s.geoWindow(w, r, 24*time.Hour)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	evs, err := s.deps.History.PlacedEvents(ctx, from, to, bbox, r.URL.Query().Get("kind"), min(limit, maxGeoFeatures))
	if err != nil {
		s.log.Warn("geo events query failed", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "events unavailable: the database did not answer")
		return
	}
	fc := geojson.NewFeatureCollection()
	for _, e := range evs {
		if e.Lat == nil || e.Lon == nil {
			continue
		}
		f := geojson.NewFeature(orb.Point{*e.Lon, *e.Lat})
		f.ID = e.ID
		f.Properties["time"] = e.Time.UTC().Format(time.RFC3339Nano)
		f.Properties["kind"] = e.Kind
		for k, v := range map[string]*string{"camera": e.CameraID, "vehicle": e.Vehicle, "site": e.Site, "message": e.Message} {
			if v != nil {
				f.Properties[k] = *v
			}
		}
		if e.TrackID != nil {
			f.Properties["track_id"] = *e.TrackID
		}
		fc.Append(f)
	}
	writeGeoJSON(w, fc)
}

// GET /api/v1/geo/footprints: every camera's footprint now, as polygons.
func (s *Server) geoFootprints(w http.ResponseWriter, r *http.Request) {
	fc := geojson.NewFeatureCollection()
	if s.deps.Bus != nil {
		for _, c := range s.deps.Bus.Cameras() {
			if len(c.Footprint) < 4 {
				continue
			}
			ring := make(orb.Ring, len(c.Footprint))
			for i, p := range c.Footprint {
				ring[i] = orb.Point{p[0], p[1]}
			}
			f := geojson.NewFeature(orb.Polygon{ring})
			f.ID = c.ID
			f.Properties["camera"] = c.ID
			f.Properties["kind"] = c.Kind
			f.Properties["status"] = c.Status
			if c.VehicleID != "" {
				f.Properties["vehicle"] = c.VehicleID
			}
			f.Properties["updated"] = c.Updated.UTC().Format(time.RFC3339Nano)
			fc.Append(f)
		}
	}
	writeGeoJSON(w, fc)
}

func writeGeoJSON(w http.ResponseWriter, fc *geojson.FeatureCollection) {
	b, err := fc.MarshalJSON()
	if err != nil {
		api.WriteError(w, http.StatusInternalServerError, "encoding GeoJSON failed")
		return
	}
	w.Header().Set("Content-Type", "application/geo+json")
	w.Write(b)
}

// GET /api/v1/tiles/detections/{z}/{x}/{y}.mvt?from=&to=&camera=: placed
// detections as a Mapbox vector tile (layer "detections"; default: the
// last 24 hours), for dense history on the map.
func (s *Server) detectionTile(w http.ResponseWriter, r *http.Request) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	tile, err := geo.ParseTile(r.PathValue("z"), r.PathValue("x"), r.PathValue("y"))
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	from, to, err := api.ParseRange(r, defaultTileSpan)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if to.Sub(from) > maxRange {
		api.WriteError(w, http.StatusBadRequest, "the range is longer than 31 days")
		return
	}
	b := tile.Bound()
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	ds, err := s.deps.History.PlacedDetections(ctx, from, to, [4]float64{b.Min[0], b.Min[1], b.Max[0], b.Max[1]}, r.URL.Query().Get("camera"), maxTileFeatures)
	if err != nil {
		s.log.Warn("tile query failed", "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "tile unavailable: the database did not answer")
		return
	}
	data, err := geo.DetectionTile(tile, placed(ds))
	if err != nil {
		api.WriteError(w, http.StatusInternalServerError, "encoding the tile failed")
		return
	}
	w.Header().Set("Content-Type", "application/vnd.mapbox-vector-tile")
	w.Write(data)
}
