package geo

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/encoding/mvt"
	"github.com/paulmach/orb/geojson"
	"github.com/paulmach/orb/maptile"
)

// DetectionPoint is a detection placed on the ground, as the map layers
// show it.
type DetectionPoint struct {
	Time       time.Time
	Camera     string
	Class      string
	Confidence float32
	TrackID    *int64 // nil: untracked
	Lat, Lon   float64
	Error      *float32 // metres, one sigma; nil: unknown
}

// Feature is the detection as a GeoJSON point with its time (RFC 3339),
// camera, class, confidence (3 decimals) and, when known, track_id and
// error_m (2 decimals).
func (d DetectionPoint) Feature() *geojson.Feature {
	f := geojson.NewFeature(orb.Point{d.Lon, d.Lat})
	f.Properties["time"] = d.Time.UTC().Format(time.RFC3339Nano)
	f.Properties["camera"] = d.Camera
	f.Properties["class"] = d.Class
	f.Properties["confidence"] = roundTo(float64(d.Confidence), 3)
	if d.TrackID != nil {
		f.Properties["track_id"] = *d.TrackID
	}
	if d.Error != nil {
		f.Properties["error_m"] = roundTo(float64(*d.Error), 2)
	}
	return f
}

func roundTo(v float64, digits int) float64 {
	p, _ := strconv.ParseFloat(strconv.FormatFloat(v, 'f', digits, 64), 64)
	return p
}

// DetectionTile is the Mapbox vector tile of ds (layer "detections", each
// a point with Feature's properties but the time as Unix seconds, which a
// tile carries compactly), clipped to the tile.
func DetectionTile(tile maptile.Tile, ds []DetectionPoint) ([]byte, error) {
	fc := geojson.NewFeatureCollection()
	for _, d := range ds {
		f := d.Feature()
		f.Properties["time"] = d.Time.Unix()
		fc.Append(f)
	}
	layers := mvt.NewLayers(map[string]*geojson.FeatureCollection{"detections": fc})
	layers.ProjectToTile(tile)
	layers.Clip(mvt.MapboxGLDefaultExtentBound)
	layers.RemoveEmpty(0, 0)
	return mvt.Marshal(layers)
}

// ParseTile reads a tile's z (0 to 22), x and y as a URL has them (y may
// end in ".mvt").
func ParseTile(zs, xs, ys string) (maptile.Tile, error) {
	ys = strings.TrimSuffix(ys, ".mvt")
	z, err1 := strconv.ParseUint(zs, 10, 8)
	x, err2 := strconv.ParseUint(xs, 10, 32)
	y, err3 := strconv.ParseUint(ys, 10, 32)
	if err1 != nil || err2 != nil || err3 != nil || z > 22 || x >= 1<<z || y >= 1<<z {
		return maptile.Tile{}, fmt.Errorf("tile %s/%s/%s: want z 0-22 and x, y within 0..2^z-1", zs, xs, ys)
	}
	return maptile.New(uint32(x), uint32(y), maptile.Zoom(z)), nil
}
