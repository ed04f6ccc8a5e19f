package geo

import (
	"fmt"
	"testing"

	"github.com/paulmach/orb"
)

func TestSyntheticBlock(t *testing.T) {
	a, b := SyntheticBlock(22.54, 114.0555, 1), SyntheticBlock(22.54, 114.0555, 1)
	ja, _ := a.MarshalJSON()
	jb, _ := b.MarshalJSON()
	if string(ja) != string(jb) || len(a.Features) < 40 {
		t.Fatalf("%d buildings; deterministic %v", len(a.Features), string(ja) == string(jb))
	}
	for _, f := range a.Features {
		p := f.Geometry.(orb.Polygon)
		if p[0].Orientation() != orb.CCW || f.Properties["synthetic"] != true {
			t.Fatalf("%v", f.Properties)
		}
		h := f.Properties["height"].(float64)
		if h < 30 || h > 240 {
			t.Fatalf("height %v", h)
		}
		// Nothing stands on the plaza the demo cameras watch.
		c := p.Bound().Center()
		if Distance(22.54, 114.0555, c[1], c[0]) < 100 {
			t.Fatalf("a tower on the plaza at %v", c)
		}
	}
}

func TestSiteCheck(t *testing.T) {
	var got []string
	add := func(key, format string, args ...any) { got = append(got, key+": "+fmt.Sprintf(format, args...)) }
	Site{ID: "cbd", Lat: 22.54, Lon: 114.05, XYZ: "https://tiles/{z}/{x}/{y}.png"}.Check(add)
	if len(got) != 0 {
		t.Fatalf("a good site: %v", got)
	}
	Site{ID: "bad id", PMTiles: "a.pmtiles", XYZ: "https://tiles/"}.Check(add)
	want := []string{
		`id: "bad id": use 1-64 letters, digits, '.', '_' or '-'`,
		": lat/lon 0, 0 is not the site's reference point",
		": give pmtiles or xyz, not both",
		"xyz: a tile URL template with {z}, {x} and {y}",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("got %q", got)
	}
}
