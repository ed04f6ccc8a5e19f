package sim

import (
	"strconv"
)

// Clone makes n drones from base: the routes repeat,
// each copy shifted a little, with system ids 1..n.
func Clone(base []Drone, n int) []Drone {
	out := make([]Drone, n)
	for i := range out {
		d := base[i%len(base)]
		shift := float64(i/len(base)) * 0.0004 // about 45 m north per round
		route := make([][2]float64, len(d.Route))
		for j, p := range d.Route {
			route[j] = [2]float64{p[0] + shift, p[1]}
		}
		d.Route = route
		d.SystemID = uint8(i%255 + 1)
		d.Name = "sim-" + strconv.Itoa(i+1)
		out[i] = d
	}
	return out
}
