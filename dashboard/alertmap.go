package dashboard

import (
	"fmt"
	"math"
	"net/http"
	"strings"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/dashboard/internal/api"
)

// The alert map: what the field page shows instead of a map library, a
// few kilobytes of SVG around the alert (buildings, geofences, the spot).
const (
	mapWidth, mapHeight = 320, 200 // pixels
	mapScale            = 1.0      // pixels per metre: 320 × 200 m around the alert
)

// GET /api/v1/alerts/{id}/map.svg: the alert's surroundings, north up,
// the alert at the centre, mapScale pixels per metre (the field page puts
// the phone's position on it with the same projection).
func (s *Server) alertMap(w http.ResponseWriter, r *http.Request) {
	a, ok := s.readAlert(w, r)
	if !ok {
		return
	}
	if a.Lat == nil || a.Lon == nil {
		api.WriteError(w, http.StatusNotFound, "alert "+a.ID.String()+" has no position")
		return
	}
	lat0, lon0 := *a.Lat, *a.Lon
	// Local metres (equirectangular: exact enough over 300 m) → pixels.
	mPerDegLat := 111_132.0
	mPerDegLon := 111_320.0 * math.Cos(lat0*math.Pi/180)
	px := func(p orb.Point) (float64, float64) {
		x := (p[0]-lon0)*mPerDegLon*mapScale + mapWidth/2
		y := mapHeight/2 - (p[1]-lat0)*mPerDegLat*mapScale
		return x, y
	}
	near := func(ring orb.Ring) bool {
		for _, p := range ring {
			x, y := px(p)
			if x > -50 && x < mapWidth+50 && y > -50 && y < mapHeight+50 {
				return true
			}
		}
		return false
	}
	path := func(ring orb.Ring) string {
		var b strings.Builder
		for i, p := range ring {
			x, y := px(p)
			op := "L"
			if i == 0 {
				op = "M"
			}
			fmt.Fprintf(&b, "%s%.1f %.1f", op, x, y)
		}
		b.WriteString("Z")
		return b.String()
	}
	var svg strings.Builder
	fmt.Fprintf(&svg, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="10">`, mapWidth, mapHeight, mapWidth, mapHeight)
	fmt.Fprintf(&svg, `<rect width="%d" height="%d" fill="#eef1f4"/>`, mapWidth, mapHeight)
	if s.deps.Geo != nil {
		site := a.Site
		if site == "" && len(s.deps.Geo.Sites()) > 0 {
			site = s.deps.Geo.Sites()[0].ID
		}
		if b, err := s.deps.Geo.SiteModel(site); err == nil && b != nil {
			if fc, err := geojson.UnmarshalFeatureCollection(b); err == nil {
				svg.WriteString(`<g fill="#c9ced6" stroke="#9aa3ae" stroke-width=".5">`)
				for _, f := range fc.Features {
					if poly, ok := f.Geometry.(orb.Polygon); ok && len(poly) > 0 && near(poly[0]) {
						fmt.Fprintf(&svg, `<path d="%s"/>`, path(poly[0]))
					}
				}
				svg.WriteString(`</g>`)
			}
		}
		fences, _ := s.deps.Geo.Geofences()
		for _, f := range fences {
			if len(f.Polygon) == 0 || !near(f.Polygon[0]) {
				continue
			}
			fmt.Fprintf(&svg, `<path d="%s" fill="#e5484d" fill-opacity=".18" stroke="#e5484d" stroke-dasharray="4 2"/>`, path(f.Polygon[0]))
		}
	}
	// The spot, a north arrow and a 50 m scale bar.
	fmt.Fprintf(&svg, `<circle cx="%d" cy="%d" r="9" fill="none" stroke="#e5484d" stroke-width="2"/><circle cx="%d" cy="%d" r="3.5" fill="#e5484d"/>`,
		mapWidth/2, mapHeight/2, mapWidth/2, mapHeight/2)
	svg.WriteString(`<path d="M300 8 l5 12 h-10 Z" fill="#333"/><text x="300" y="32" text-anchor="middle">N</text>`)
	fmt.Fprintf(&svg, `<path d="M10 %d h%.0f" stroke="#333" stroke-width="2"/><text x="10" y="%d">50 m</text>`, mapHeight-10, 50*mapScale, mapHeight-14)
	svg.WriteString(`</svg>`)
	w.Header().Set("Content-Type", "image/svg+xml")
	w.Header().Set("Cache-Control", "private, max-age=3600")
	w.Write([]byte(svg.String()))
}
