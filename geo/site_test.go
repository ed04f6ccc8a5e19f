package geo

import (
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
