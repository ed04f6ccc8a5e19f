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
		a := Assign(keys(n), nodes("node-1", "node-2", "node-3"))
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
		if n == 6 && most > 3 {
			t.Errorf("6 keys: a node has %d (%v)", most, loads(a))
		}
		// Every node computes the same placement, whatever the order it
		// lists the nodes or the keys in.
		b := Assign(keys(n), nodes("node-3", "node-1", "node-2"))
		if !maps.Equal(a, b) {
			t.Fatalf("%d keys: the placement depends on the order of the nodes", n)
		}
	}
}

func TestAssignMovesFewWhenANodeJoinsOrLeaves(t *testing.T) {
	ks := keys(300)
	three := Assign(ks, nodes("node-1", "node-2", "node-3"))
	four := Assign(ks, nodes("node-1", "node-2", "node-3", "node-4"))
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
	two := Assign(ks, nodes("node-1", "node-2"))
	stayed := 0
	for k, n := range three {
		if n != "node-3" && two[k] == n {
			stayed++
		}
	}
	if kept := float64(stayed) / float64(len(ks)-loads(three)["node-3"]); kept < 0.85 {
		t.Errorf("when node-3 left, only %.2f of the survivors' keys stayed put", kept)
	}
}

func TestAssignHonoursWeightsAndMax(t *testing.T) {
	a := Assign(keys(300), []Candidate{{Name: "big", Weight: 2}, {Name: "small", Weight: 1}})
	l := loads(a)
	if l["big"] < 180 || l["big"] > 220 {
		t.Errorf("weights 2:1 gave %v", l)
	}
	a = Assign(keys(30), []Candidate{{Name: "a", Max: 5}, {Name: "b"}, {Name: "c"}})
	if l := loads(a); l["a"] > 5 || len(a) != 30 {
		t.Errorf("max 5 on a gave %v (%d placed)", l, len(a))
	}
	if a := Assign(keys(10), []Candidate{{Name: "a", Max: 2}, {Name: "b", Max: 3}}); len(a) != 5 {
		t.Errorf("room for 5 placed %d", len(a))
	}
	if a := Assign(keys(3), nil); len(a) != 0 {
		t.Errorf("no nodes placed %d", len(a))
	}
}
