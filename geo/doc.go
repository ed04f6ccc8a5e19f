// Package geo places what cameras see on the ground: camera models, drone
// camera pose and footprint, fixed-camera homographies, geofences and the
// site model; and draws the map outputs: placed detections and fences as
// GeoJSON, detections as Mapbox vector tiles, the SVG map of a spot's
// surroundings. Geometry uses github.com/paulmach/orb (points are {lon, lat}).
package geo
