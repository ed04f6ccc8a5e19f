// Package projection measures the geo package: placing a pixel on the
// ground from a drone's camera and by a fixed camera's homography, a
// camera's footprint, and geofence checks of many moving objects. It
// writes that section of BENCHMARKS.md.
package projection

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/paulmach/orb"

	"github.com/smarteye/smarteye/deploy/bench/internal/measure"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/vision/cv"
)

// Bench times ground projection and geofence checks with
// testing.Benchmark, median of runs.
func Bench(runs int) (string, error) {
	in, err := geo.FromFOV(1920, 1080, 84, 0)
	if err != nil {
		return "", err
	}
	in.K1 = -0.1
	drone := geo.Projector{In: in, Pose: geo.Pose{Lat: 22.54, Lon: 114.055, AltMSL: 100, Heading: 30, Pitch: -50, SigmaAngle: 1.5, SigmaAlt: 1.5, SigmaPos: 2}}
	var pts []geo.ControlPoint
	for _, px := range [][2]float64{{100, 700}, {1800, 700}, {1700, 1050}, {200, 1050}} {
		g, _, _ := drone.Locate(px[0], px[1])
		pts = append(pts, geo.ControlPoint{U: px[0], V: px[1], Lat: g[1], Lon: g[0]})
	}
	hom, err := geo.Calibrate(pts, cv.FindHomography)
	if err != nil {
		return "", err
	}
	r := rand.New(rand.NewPCG(3, 4))
	var fences []geo.Fence
	for i := range 100 {
		lon, lat, d := 114.05+r.Float64()*0.02, 22.53+r.Float64()*0.02, 0.0003+r.Float64()*0.0005
		fences = append(fences, geo.Fence{ID: fmt.Sprint(i), Name: fmt.Sprint(i), Kind: geo.Restricted,
			Polygon: orb.Polygon{{{lon - d, lat - d}, {lon + d, lat - d}, {lon + d, lat + d}, {lon - d, lat + d}, {lon - d, lat - d}}}})
	}
	fs, err := geo.NewFences(fences)
	if err != nil {
		return "", err
	}
	objs := make([]geo.Object, 1000)
	for i := range objs {
		objs[i] = geo.Object{ID: fmt.Sprint(i), Class: "person", Point: orb.Point{114.05 + r.Float64()*0.02, 22.53 + r.Float64()*0.02}}
	}
	now := time.Now()
	cases := []struct {
		name, unit string
		per        float64 // operations per benchmark iteration
		f          func(b *testing.B)
	}{
		{"drone camera: pixel → ground with error estimate (distortion on)", "projections/s", 1, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				drone.Locate(float64(i%1920), float64(540+i%540))
			}
		}},
		{"fixed camera: pixel → ground by homography", "projections/s", 1, func(b *testing.B) {
			for i := 0; b.Loop(); i++ {
				hom.Locate(float64(i%1920), float64(700+i%380), 0)
			}
		}},
		{"drone camera footprint (64 border rays)", "footprints/s", 1, func(b *testing.B) {
			for b.Loop() {
				drone.Footprint()
			}
		}},
		{"100 fences × 1,000 moving objects, one update of every object", "cycles/s", 1, func(b *testing.B) {
			for b.Loop() {
				now = now.Add(time.Second)
				for i := range objs {
					objs[i].Point[0] += (r.Float64() - 0.5) * 0.0001
					objs[i].Point[1] += (r.Float64() - 0.5) * 0.0001
					objs[i].Time = now
					fs.Update(objs[i])
				}
			}
		}},
	}
	var sb strings.Builder
	sb.WriteString("## Geo: ground projection and geofences\n\n")
	sb.WriteString("Go benchmarks (`testing.Benchmark`) of `geo` on one core, median of " + fmt.Sprint(runs) + " runs: a 1920×1080 camera with 84° horizontal field of view and radial distortion, 100 m up, 50° down; the homography fitted by OpenCV from four control points; 100 square fences of 60–160 m scattered over 2 km and 1,000 objects random-walking among them (the grid index looks at the fences near each object only).\n\n")
	sb.WriteString("| Operation | median | per operation | runs (ns/op) |\n|---|---:|---:|---|\n")
	for _, c := range cases {
		var ns []float64
		for range runs {
			res := testing.Benchmark(c.f)
			ns = append(ns, float64(res.NsPerOp()))
		}
		m := measure.Median(ns)
		measure.Progress("geo: %s: %.0f ns/op", c.name, m)
		var runsText []string
		for _, v := range ns {
			runsText = append(runsText, fmt.Sprintf("%.0f", v))
		}
		fmt.Fprintf(&sb, "| %s | %s %s | %s | %s |\n", c.name, measure.Thousands(int(1e9/m)), c.unit, time.Duration(m).String(), strings.Join(runsText, ", "))
	}
	sb.WriteString("\nGoal for the fences: well under 1 ms per update cycle of all objects.\n\n")
	return sb.String(), nil
}
