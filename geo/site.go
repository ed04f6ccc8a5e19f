package geo

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// SyntheticBlock generates a business-district block around (lat, lon):
// a grid of towers with street gaps, heights from 30 to 240 m, an open
// plaza in the middle, deterministic for a seed. Every feature is
// labelled synthetic: it is the demo's digital twin, not a survey.
func SyntheticBlock(lat, lon float64, seed uint64) *geojson.FeatureCollection {
	l := NewLocal(lat, lon)
	r := rand.New(rand.NewPCG(seed, seed^0x5eed))
	fc := geojson.NewFeatureCollection()
	const (
		pitch = 70.0 // metres between lot centres (towers plus streets)
		span  = 4    // lots each way from the centre
		plaza = 110.0
	)
	for i := -span; i <= span; i++ {
		for j := -span; j <= span; j++ {
			e, n := float64(i)*pitch, float64(j)*pitch
			if math.Hypot(e, n) < plaza {
				continue // the open plaza the demo's cameras watch
			}
			w := 28 + r.Float64()*22
			d := 28 + r.Float64()*22
			h := 30 + math.Round(r.Float64()*r.Float64()*210)
			ring := orb.Ring{l.Point(e-w/2, n-d/2), l.Point(e+w/2, n-d/2), l.Point(e+w/2, n+d/2), l.Point(e-w/2, n+d/2), l.Point(e-w/2, n-d/2)}
			f := geojson.NewFeature(orb.Polygon{ring})
			f.ID = fmt.Sprintf("tower-%c%d", 'A'+i+span, j+span+1)
			f.Properties["name"] = fmt.Sprintf("Tower %c%d", 'A'+i+span, j+span+1)
			f.Properties["height"] = h
			f.Properties["min_height"] = 0.0
			f.Properties["synthetic"] = true
			fc.Append(f)
		}
	}
	return fc
}
