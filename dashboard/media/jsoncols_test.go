package media

import (
	"bytes"
	"encoding/json"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry/store"
)

func TestAppendFixed(t *testing.T) {
	for _, c := range []struct {
		f    float64
		dec  int
		want string
	}{
		{22.5431, 7, "22.5431"},
		{114.05791234567, 7, "114.0579123"},
		{-33.86882, 7, "-33.86882"},
		{-0.00000004, 7, "0"},
		{0.1 + 0.2, 7, "0.3"},
		{120, 2, "120"},
		{123.456, 2, "123.46"},
		{-0.004, 2, "0"},
		{0.01, 2, "0.01"},
		{float64(float32(8.5)), 2, "8.5"},
		{1e300, 7, "1e+300"},
		{-2e9, 7, "-2000000000"},
		{math.NaN(), 7, "null"},
		{math.Inf(-1), 2, "null"},
	} {
		if got := string(appendFixed(nil, c.f, c.dec)); got != c.want {
			t.Errorf("appendFixed(%v, %d) = %s, want %s", c.f, c.dec, got, c.want)
		}
	}
}

// FuzzColumnLine: a line written by columnLine is JSON, one line, with
// the values given: strings and whole numbers as encoding/json writes
// them, degrees to 7 decimals and other values to 2, NaN and infinities
// (which JSON lacks) as null.
func FuzzColumnLine(f *testing.F) {
	f.Add(22.5431, float32(120.5), int64(1763900000123), "cam-1", "person")
	f.Add(1e-7, float32(1e-7), int64(-1), `a "quoted" <id>`, "\u2028\x00")
	f.Add(1e21, float32(3.4e38), int64(math.MaxInt64), "", "é")
	f.Add(-0.0, float32(0), int64(0), "x", "y")
	f.Add(math.NaN(), float32(math.Inf(1)), int64(7), "x", "y")
	f.Fuzz(func(t *testing.T, lat float64, alt float32, ms int64, camera, class string) {
		c := &detectionColumns{T: []int64{ms, 0}, Camera: []string{camera, camera}, Track: []int64{ms, 3},
			Class: []string{class, "person"}, Lat: []float64{lat, 22.5}, Lon: []float64{-lat, 114}}
		var l columnLine
		got := bytes.Clone(c.line(&l))
		var a struct {
			Type          string
			T, Track      []int64
			Camera, Class []string
			Lat, Lon      []*float64
		}
		if err := json.Unmarshal(got, &a); err != nil {
			t.Fatalf("%v: %s", err, got)
		}
		if a.Type != "detections" || !slices.Equal(a.T, c.T) || !slices.Equal(a.Track, c.Track) {
			t.Fatalf("written %s", got)
		}
		for k, v := range map[string]any{"t": c.T, "camera": c.Camera, "track": c.Track, "class": c.Class} {
			want, _ := json.Marshal(v)
			if !bytes.Contains(got, append([]byte(`"`+k+`":`), want...)) {
				t.Fatalf("%s is not %s in %s", k, want, got)
			}
		}
		for i, v := range []float64{lat, -lat} {
			w := []*float64{a.Lat[0], a.Lon[0]}[i]
			switch {
			case math.IsNaN(v) || math.IsInf(v, 0):
				if w != nil {
					t.Fatalf("%v written as %v", v, *w)
				}
			case w == nil || math.Abs(*w-v) > 0.5e-7*(1+1e-9)+math.Abs(v)*1e-15:
				t.Fatalf("%v written as %s", v, got)
			}
		}
		if *a.Lat[1] != 22.5 || *a.Lon[1] != 114 {
			t.Fatalf("written %s", got)
		}
		if got[len(got)-1] != '\n' || bytes.Count(got, []byte("\n")) != 1 {
			t.Fatalf("not one line: %q", got)
		}

		// A track line: optional values are null, the altitude falls back
		// to the relative one.
		rel := float32(12.5)
		pts := []store.TrackPoint{
			{Time: time.UnixMilli(ms), Lat: 22.5, Lon: 114, AltMSL: &alt, Heading: &alt},
			{Time: time.UnixMilli(0), Lat: 22.6, Lon: 114.1, AltRel: &rel},
		}
		line := bytes.Clone(trackLine(&l, camera, pts))
		var tr struct {
			Type         string
			VehicleID    string `json:"vehicle_id"`
			T            []int64
			Lat, Lon     []float64
			Alt, Heading []*float32
			Speed        []*float32
		}
		if err := json.Unmarshal(line, &tr); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		var id string // what the string reads back as (invalid UTF-8 is replaced)
		q, _ := json.Marshal(camera)
		json.Unmarshal(q, &id)
		if tr.VehicleID != id || len(tr.T) != 2 || tr.T[0] != ms || tr.Lat[1] != 22.6 || tr.Speed[0] != nil || tr.Heading[1] != nil ||
			tr.Alt[1] == nil || *tr.Alt[1] != 12.5 {
			t.Fatalf("track line %s", line)
		}
		if a := float64(alt); !math.IsNaN(a) && !math.IsInf(a, 0) {
			if tr.Alt[0] == nil || math.Abs(float64(*tr.Alt[0])-a) > 0.005*(1+1e-6)+math.Abs(a)*1e-6 {
				t.Fatalf("altitude %v written as %s", alt, line)
			}
		} else if tr.Alt[0] != nil {
			t.Fatalf("altitude %v written as %v", alt, *tr.Alt[0])
		}
	})
}
