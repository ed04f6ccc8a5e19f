package vision

import (
	"math"
	"testing"
)

func TestBoxIoU(t *testing.T) {
	cases := []struct {
		name string
		a, b Box
		want float64
	}{
		{"identical", Box{10, 10, 20, 20}, Box{10, 10, 20, 20}, 1},
		{"disjoint", Box{0, 0, 10, 10}, Box{20, 20, 10, 10}, 0},
		{"touching edges", Box{0, 0, 10, 10}, Box{10, 0, 10, 10}, 0},
		{"half overlap", Box{0, 0, 10, 10}, Box{5, 0, 10, 10}, 50.0 / 150},
		{"contained", Box{0, 0, 10, 10}, Box{2.5, 2.5, 5, 5}, 0.25},
		{"corner overlap", Box{0, 0, 10, 10}, Box{5, 5, 10, 10}, 25.0 / 175},
		{"empty box", Box{0, 0, 0, 10}, Box{0, 0, 10, 10}, 0},
		{"negative size", Box{5, 5, -10, -10}, Box{0, 0, 10, 10}, 0},
		{"both empty", Box{}, Box{}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.a.IoU(c.b); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("%v.IoU(%v) = %v, want %v", c.a, c.b, got, c.want)
			}
			// IoU is symmetric.
			if got := c.b.IoU(c.a); math.Abs(got-c.want) > 1e-12 {
				t.Errorf("%v.IoU(%v) = %v, want %v", c.b, c.a, got, c.want)
			}
		})
	}
}

func TestBoxFootAndCenter(t *testing.T) {
	cases := []struct {
		name         string
		box          Box
		foot, center Point
	}{
		{"origin", Box{0, 0, 10, 20}, Point{5, 20}, Point{5, 10}},
		{"person", Box{100, 50, 40, 120}, Point{120, 170}, Point{120, 110}},
		{"fractional", Box{1.5, 2.5, 3, 5}, Point{3, 7.5}, Point{3, 5}},
		{"empty", Box{7, 9, 0, 0}, Point{7, 9}, Point{7, 9}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := c.box.Foot(); got != c.foot {
				t.Errorf("Foot = %v, want %v", got, c.foot)
			}
			if got := c.box.Center(); got != c.center {
				t.Errorf("Center = %v, want %v", got, c.center)
			}
		})
	}
}
