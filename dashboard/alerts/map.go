package alerts

import (
	"net/http"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
)

// Map is GET /api/v1/alerts/{id}/map.svg: the alert's surroundings, north up,
// the alert at the centre, geo.SurroundingsScale pixels per metre (the
// field page puts the phone's position on it with the same projection).
func (h *API) Map(w http.ResponseWriter, r *http.Request) {
	a, ok := h.readAlert(w, r)
	if !ok {
		return
	}
	if a.Lat == nil || a.Lon == nil {
		api.WriteError(w, http.StatusNotFound, "alert "+a.ID.String()+" has no position")
		return
	}
	var buildings []orb.Polygon
	var fences []geo.Fence
	if h.cfg.Map != nil {
		site := a.Site
		if site == "" && len(h.cfg.Map.Sites()) > 0 {
			site = h.cfg.Map.Sites()[0].ID
		}
		if b, err := h.cfg.Map.SiteModel(site); err == nil && b != nil {
			if fc, err := geojson.UnmarshalFeatureCollection(b); err == nil {
				buildings = []orb.Polygon{}
				for _, f := range fc.Features {
					if poly, ok := f.Geometry.(orb.Polygon); ok {
						buildings = append(buildings, poly)
					}
				}
			}
		}
		fences, _ = h.cfg.Map.Geofences()
	}
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write(geo.SurroundingsSVG(*a.Lat, *a.Lon, buildings, fences))
}
