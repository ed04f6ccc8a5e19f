// Package geo places what cameras see on the ground: camera models, drone
// camera pose and footprint, fixed-camera homographies, geofences and the
// site model. Geometry uses github.com/paulmach/orb (points are {lon, lat}).
package geo
