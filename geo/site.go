package geo

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"regexp"
	"strings"
	"time"

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

// Site is an area under watch: a reference point whose elevation is the
// ground detections are placed on, and optionally its buildings (the
// digital twin) and a basemap. The configuration file and the API read
// the same type.
type Site struct {
	ID   string `yaml:"id" json:"id"`
	Name string `yaml:"name" json:"name"`
	// Lat, Lon are the site's reference point; Elevation is its ground,
	// metres above mean sea level (detections are placed on it).
	Lat       float64 `yaml:"lat" json:"lat"`
	Lon       float64 `yaml:"lon" json:"lon"`
	Elevation float64 `yaml:"elevation" json:"elevation"`
	// Model is a GeoJSON file of building footprints with a "height"
	// property in metres: the digital twin.
	Model string `yaml:"model" json:"-"`
	// Timezone is the site's IANA time zone (default UTC): its trends'
	// days run from its midnight.
	Timezone string `yaml:"timezone" json:"timezone,omitempty"`
	// Synthetic marks generated (demo) data.
	Synthetic bool `yaml:"synthetic" json:"synthetic"`
	// PMTiles is a local basemap file; XYZ a tile URL template instead.
	PMTiles string `yaml:"pmtiles" json:"-"`
	XYZ     string `yaml:"xyz" json:"-"`
}

// Errors of the site, fence and calibration operations.
var (
	ErrNotFound   = errors.New("not found")
	ErrConfigured = errors.New("defined in the configuration file; change it there")
	ErrInvalid    = errors.New("invalid")
)

// siteID is what a site id may be: it appears in URLs and file names.
var siteID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Check reports what is wrong with a site through add, each problem under
// the key it concerns relative to the site ("" for the site itself):
// telemetry.Problems' Add has its shape.
func (s Site) Check(add func(key, format string, args ...any)) {
	if !siteID.MatchString(s.ID) {
		add("id", "%q: use 1-64 letters, digits, '.', '_' or '-'", s.ID)
	}
	if !Finite(s.Lat, s.Lon, s.Elevation) || s.Lat < -90 || s.Lat > 90 || s.Lon < -180 || s.Lon > 180 || (s.Lat == 0 && s.Lon == 0) {
		add("", "lat/lon %g, %g is not the site's reference point", s.Lat, s.Lon)
	}
	if _, err := time.LoadLocation(s.Timezone); err != nil || strings.EqualFold(s.Timezone, "local") {
		add("timezone", "%q is not an IANA time zone such as Asia/Shanghai", s.Timezone)
	}
	if s.PMTiles != "" && s.XYZ != "" {
		add("", "give pmtiles or xyz, not both")
	}
	if s.XYZ != "" && !(strings.Contains(s.XYZ, "{z}") && strings.Contains(s.XYZ, "{x}") && strings.Contains(s.XYZ, "{y}")) {
		add("xyz", "a tile URL template with {z}, {x} and {y}")
	}
}

// maxModel bounds a site model file.
const maxModel = 64 << 20

// ModelJSON is the site's buildings as GeoJSON: its model file, or the
// generated block of a synthetic site; nil when it has neither.
func (s Site) ModelJSON() ([]byte, error) {
	if s.Model == "" {
		if !s.Synthetic {
			return nil, nil
		}
		return SyntheticBlock(s.Lat, s.Lon, 1).MarshalJSON()
	}
	st, err := os.Stat(s.Model)
	if err != nil {
		return nil, err
	}
	if st.Size() > maxModel {
		return nil, fmt.Errorf("%s is larger than 64 MiB", s.Model)
	}
	b, err := os.ReadFile(s.Model)
	if err != nil {
		return nil, err
	}
	if _, err := geojson.UnmarshalFeatureCollection(b); err != nil {
		return nil, fmt.Errorf("%s is not a GeoJSON FeatureCollection: %w", s.Model, err)
	}
	return b, nil
}
