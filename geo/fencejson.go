package geo

import (
	"errors"
	"time"

	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"
)

// Feature is the fence as a GeoJSON Feature: its polygon, and its name,
// kind, site, dwell_s, classes and source (where it comes from: "config",
// "api") as properties.
func (f Fence) Feature(source string) *geojson.Feature {
	feat := geojson.NewFeature(f.Polygon)
	feat.ID = f.ID
	feat.Properties["name"] = f.Name
	feat.Properties["kind"] = string(f.Kind)
	if f.Site != "" {
		feat.Properties["site"] = f.Site
	}
	feat.Properties["dwell_s"] = f.Dwell.Seconds()
	classes := f.Classes
	if classes == nil {
		classes = []string{}
	}
	feat.Properties["classes"] = classes
	feat.Properties["source"] = source
	return feat
}

// ParseFenceFeature reads a GeoJSON Feature with a Polygon geometry as a
// fence, with the id given (or, when "", the feature's) and validates it.
func ParseFenceFeature(body []byte, id string) (Fence, error) {
	feat, err := geojson.UnmarshalFeature(body)
	if err != nil {
		return Fence{}, errors.New("not a GeoJSON Feature: " + err.Error())
	}
	poly, ok := feat.Geometry.(orb.Polygon)
	if !ok {
		return Fence{}, errors.New("the geometry must be a Polygon")
	}
	f := Fence{ID: id, Polygon: poly}
	if f.ID == "" {
		if s, ok := feat.ID.(string); ok {
			f.ID = s
		}
		if f.ID == "" {
			f.ID, _ = feat.Properties["id"].(string)
		}
	}
	f.Name, _ = feat.Properties["name"].(string)
	kind, _ := feat.Properties["kind"].(string)
	f.Kind = FenceKind(kind)
	f.Site, _ = feat.Properties["site"].(string)
	if d, ok := feat.Properties["dwell_s"].(float64); ok {
		if d < 0 || d > 7*24*3600 {
			return f, errors.New("dwell_s: 0 to 604800 seconds")
		}
		f.Dwell = time.Duration(d * float64(time.Second))
	}
	if cs, ok := feat.Properties["classes"].([]any); ok {
		for _, c := range cs {
			if s, ok := c.(string); ok && s != "" {
				f.Classes = append(f.Classes, s)
			}
		}
	}
	if !validFenceID(f.ID) {
		return f, errors.New("id: 1-64 letters, digits, '.', '_' or '-'")
	}
	if f.Name == "" {
		f.Name = f.ID
	}
	return f, f.Validate()
}

func validFenceID(s string) bool {
	if len(s) == 0 || len(s) > 64 {
		return false
	}
	for i, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || (i > 0 && (c == '.' || c == '_' || c == '-'))
		if !ok {
			return false
		}
	}
	return true
}
