package cluster

import (
	"fmt"
	"maps"
	"testing"
)

func keys(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("camera.cam-%03d", i)
	}
	return out
}

func nodes(names ...string) []Candidate {
	var out []Candidate
	for _, n := range names {
		out = append(out, Candidate{Name: n})
	}
	return out
}

func loads(a map[string]string) map[string]int {
	l := map[string]int{}
	for _, n := range a {
		l[n]++
	}
	return l
}

func TestAssignBalancesWithinTheCap(t *testing.T) {
	for _, n := range []int{6, 50, 200, 500} {
		a := Assign(keys(n), nodes("node-1", "node-2", "node-3"), nil)
		if len(a) != n {
			t.Fatalf("%d keys: %d placed", n, len(a))
		}
		mean, most := float64(n)/3, 0
		for _, l := range loads(a) {
			most = max(most, l)
		}
		if n >= 50 && float64(most)/mean > 1.15 {
			t.Errorf("%d keys: max/mean %.3f > 1.15 (%v)", n, float64(most)/mean, loads(a))
		}
		if n == 6 && most > 2 {
			t.Errorf("6 keys: a node has %d (%v)", most, loads(a))
		}
		// Every node computes the same placement, whatever the order it
		// lists the nodes or the keys in.
		b := Assign(keys(n), nodes("node-3", "node-1", "node-2"), nil)
		if !maps.Equal(a, b) {
			t.Fatalf("%d keys: the placement depends on the order of the nodes", n)
		}
	}
}

func TestAssignMovesFewWhenANodeJoinsOrLeaves(t *testing.T) {
	ks := keys(300)
	three := Assign(ks, nodes("node-1", "node-2", "node-3"), nil)
	four := Assign(ks, nodes("node-1", "node-2", "node-3", "node-4"), three)
	moved := 0
	for k, n := range three {
		if four[k] != n {
			moved++
		}
	}
	// Ideal: the quarter that goes to the new node.
	if f := float64(moved) / float64(len(ks)); f < 0.2 || f > 0.4 {
		t.Errorf("a fourth node moved %.2f of the keys; want about 1/4", f)
	}
	if l := loads(four); l["node-4"] < 70 || l["node-4"] > 83 {
		t.Errorf("the fourth node got %d of 300 keys", l["node-4"])
	}
	// A node that leaves moves its keys only; when it comes back it takes
	// the others' excess only: no key moves twice.
	two := Assign(ks, nodes("node-1", "node-2"), three)
	for k, n := range three {
		if n != "node-3" && two[k] != n {
			t.Fatalf("%s moved from %s to %s when node-3 left", k, n, two[k])
		}
	}
	again := Assign(ks, nodes("node-1", "node-2", "node-3"), two)
	for k := range again {
		if three[k] != "node-3" && again[k] != two[k] && two[k] != three[k] {
			t.Fatalf("%s moved twice", k)
		}
	}
	l := loads(again)
	for _, n := range []string{"node-1", "node-2", "node-3"} {
		if float64(l[n])/100 > 1.15 {
			t.Errorf("after node-3 came back: %v", l)
		}
	}
}

func TestAssignHonoursWeightsAndMax(t *testing.T) {
	a := Assign(keys(300), []Candidate{{Name: "big", Weight: 2}, {Name: "small", Weight: 1}}, nil)
	l := loads(a)
	if l["big"] < 180 || l["big"] > 220 {
		t.Errorf("weights 2:1 gave %v", l)
	}
	a = Assign(keys(30), []Candidate{{Name: "a", Max: 5}, {Name: "b"}, {Name: "c"}}, nil)
	if l := loads(a); l["a"] > 5 || len(a) != 30 {
		t.Errorf("max 5 on a gave %v (%d placed)", l, len(a))
	}
	if a := Assign(keys(10), []Candidate{{Name: "a", Max: 2}, {Name: "b", Max: 3}}, nil); len(a) != 5 {
		t.Errorf("room for 5 placed %d", len(a))
	}
	if a := Assign(keys(3), nil, nil); len(a) != 0 {
		t.Errorf("no nodes placed %d", len(a))
	}
}
