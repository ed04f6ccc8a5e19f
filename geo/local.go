package geo

import (
	"math"

	"github.com/paulmach/orb"
)

// WGS 84.
const (
	wgs84A  = 6378137.0
	wgs84E2 = 6.69437999014e-3
)

// Local is a local tangent plane (east, north, up in metres) around an
// origin: exact enough for a site (at 5 km the error is centimetres), and
// the frame every projection and geofence test works in.
type Local struct {
	Lat, Lon float64 // origin, degrees
	// metres per degree of latitude and of longitude at the origin
	mLat, mLon float64
}

// NewLocal returns the plane around (lat, lon).
func NewLocal(lat, lon float64) Local {
	phi := rad(lat)
	s := math.Sin(phi)
	w := 1 - wgs84E2*s*s
	m := wgs84A * (1 - wgs84E2) / (w * math.Sqrt(w)) // meridional radius
	n := wgs84A / math.Sqrt(w)                       // prime vertical radius
	return Local{Lat: lat, Lon: lon, mLat: rad(m), mLon: rad(n * math.Cos(phi))}
}

// ToENU converts a WGS 84 point to east and north metres from the origin.
func (l Local) ToENU(lat, lon float64) (e, n float64) {
	return (lon - l.Lon) * l.mLon, (lat - l.Lat) * l.mLat
}

// FromENU converts east and north metres back to latitude and longitude.
func (l Local) FromENU(e, n float64) (lat, lon float64) {
	return l.Lat + n/l.mLat, l.Lon + e/l.mLon
}

// Point is the orb point ({lon, lat}) of east, north.
func (l Local) Point(e, n float64) orb.Point {
	lat, lon := l.FromENU(e, n)
	return orb.Point{lon, lat}
}

// Distance is the distance in metres between two nearby WGS 84 points.
func Distance(lat1, lon1, lat2, lon2 float64) float64 {
	e, n := NewLocal(lat1, lon1).ToENU(lat2, lon2)
	return math.Hypot(e, n)
}
