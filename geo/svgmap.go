package geo

import (
	"fmt"
	"math"
	"strings"

	"github.com/paulmach/orb"
)

// The surroundings map: what the field page shows instead of a map
// library, a few kilobytes of SVG around a spot (buildings, geofences, the
// spot), north up. The page puts the phone on it with the same projection.
const (
	SurroundingsWidth, SurroundingsHeight = 320, 200 // pixels
	SurroundingsScale                     = 1.0      // pixels per metre: 320 × 200 m around the spot
)

// SurroundingsSVG draws the buildings (polygons) and fences near the spot
// (lat, lon) at its centre, with a north arrow and a 50 m scale bar.
func SurroundingsSVG(lat0, lon0 float64, buildings []orb.Polygon, fences []Fence) []byte {
	const w, h, scale = SurroundingsWidth, SurroundingsHeight, SurroundingsScale
	// Local metres (equirectangular: exact enough over 300 m) → pixels.
	mPerDegLat := 111_132.0
	mPerDegLon := 111_320.0 * math.Cos(lat0*math.Pi/180)
	px := func(p orb.Point) (float64, float64) {
		x := (p[0]-lon0)*mPerDegLon*scale + w/2
		y := h/2 - (p[1]-lat0)*mPerDegLat*scale
		return x, y
	}
	near := func(ring orb.Ring) bool {
		for _, p := range ring {
			x, y := px(p)
			if x > -50 && x < w+50 && y > -50 && y < h+50 {
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
	fmt.Fprintf(&svg, `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 %d %d" width="%d" height="%d" font-family="sans-serif" font-size="10">`, w, h, w, h)
	fmt.Fprintf(&svg, `<rect width="%d" height="%d" fill="#eef1f4"/>`, w, h)
	if buildings != nil {
		svg.WriteString(`<g fill="#c9ced6" stroke="#9aa3ae" stroke-width=".5">`)
		for _, poly := range buildings {
			if len(poly) > 0 && near(poly[0]) {
				fmt.Fprintf(&svg, `<path d="%s"/>`, path(poly[0]))
			}
		}
		svg.WriteString(`</g>`)
	}
	for _, f := range fences {
		if len(f.Polygon) == 0 || !near(f.Polygon[0]) {
			continue
		}
		fmt.Fprintf(&svg, `<path d="%s" fill="#e5484d" fill-opacity=".18" stroke="#e5484d" stroke-dasharray="4 2"/>`, path(f.Polygon[0]))
	}
	// The spot, a north arrow and a 50 m scale bar.
	fmt.Fprintf(&svg, `<circle cx="%d" cy="%d" r="9" fill="none" stroke="#e5484d" stroke-width="2"/><circle cx="%d" cy="%d" r="3.5" fill="#e5484d"/>`,
		w/2, h/2, w/2, h/2)
	svg.WriteString(`<path d="M300 8 l5 12 h-10 Z" fill="#333"/><text x="300" y="32" text-anchor="middle">N</text>`)
	fmt.Fprintf(&svg, `<path d="M10 %d h%.0f" stroke="#333" stroke-width="2"/><text x="10" y="%d">50 m</text>`, h-10, 50*scale, h-14)
	svg.WriteString(`</svg>`)
	return []byte(svg.String())
}
