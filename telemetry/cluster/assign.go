package cluster

import (
	"cmp"
	"crypto/sha256"
	"encoding/binary"
	"math"
	"slices"
)

// Candidate is a node that may be given work.
type Candidate struct {
	Name string
	// Weight is the node's share relative to the others' (1 when 0).
	Weight float64
	// Max bounds the keys of one kind it takes (0: no bound of its own).
	Max int
}

// Assign places every key on one of the candidates by weighted rendezvous
// hashing (SHA-256 of key and node), filling no node beyond its cap: its
// weighted share of the keys rounded up, and no more than its own Max.
//
// A key stays with its current owner (current; nil: none) while that
// owner is a candidate within its cap: its keys beyond the cap go first
// where it scores lowest. So a node that dies moves only its own keys, and a
// node that joins takes only the others' excess, each key moving once.
//
// The result depends only on the arguments, so every node that sees the
// same cluster computes the same placement; a key whose candidates are
// all full is left out. Keys without a place are placed in the order of
// their own hash, so that the keys pushed past a full node are spread
// evenly rather than by name.
func Assign(keys []string, nodes []Candidate, current map[string]string) map[string]string {
	out := make(map[string]string, len(keys))
	if len(nodes) == 0 {
		return out
	}
	caps := capacities(len(keys), nodes)
	load := make([]int, len(nodes))
	index := make(map[string]int, len(nodes))
	for i, n := range nodes {
		index[n.Name] = i
	}
	// Kept: each candidate's current keys, its best-scoring first, up to
	// its cap.
	mine := make([][]string, len(nodes))
	for _, k := range keys {
		if i, ok := index[current[k]]; ok {
			mine[i] = append(mine[i], k)
		}
	}
	for i, ks := range mine {
		slices.SortFunc(ks, func(a, b string) int {
			return cmp.Or(cmp.Compare(Score(b, nodes[i]), Score(a, nodes[i])), cmp.Compare(a, b))
		})
		for _, k := range ks[:min(len(ks), caps[i])] {
			out[k] = nodes[i].Name
			load[i]++
		}
	}
	var order []string
	for _, k := range keys {
		if _, kept := out[k]; !kept {
			order = append(order, k)
		}
	}
	slices.SortFunc(order, func(a, b string) int {
		return cmp.Or(cmp.Compare(hash64(a, ""), hash64(b, "")), cmp.Compare(a, b))
	})
	ranked := make([]int, len(nodes))
	scores := make([]float64, len(nodes))
	for _, k := range order {
		for i, n := range nodes {
			ranked[i], scores[i] = i, Score(k, n)
		}
		slices.SortFunc(ranked, func(a, b int) int {
			return cmp.Or(cmp.Compare(scores[b], scores[a]), cmp.Compare(nodes[a].Name, nodes[b].Name))
		})
		for _, i := range ranked {
			if load[i] < caps[i] {
				load[i]++
				out[k] = nodes[i].Name
				break
			}
		}
	}
	return out
}

// capacities is each node's cap: its weighted share of the keys rounded
// up, and no more than its own Max; the share a node's Max leaves over is
// spread over the others by weight.
func capacities(keys int, nodes []Candidate) []int {
	caps := make([]int, len(nodes))
	fixed := make([]bool, len(nodes))
	left := keys
	for {
		total := 0.0
		for i, n := range nodes {
			if !fixed[i] {
				total += weight(n)
			}
		}
		changed := false
		for i, n := range nodes {
			if fixed[i] {
				continue
			}
			caps[i] = int(math.Ceil(float64(left)*weight(n)/total - 1e-9))
			if n.Max > 0 && n.Max < caps[i] {
				caps[i], fixed[i], changed = n.Max, true, true
				left = max(left-n.Max, 0)
			}
		}
		if !changed {
			return caps
		}
	}
}

// Score is the weighted rendezvous score of key on node: −w / ln(u), u
// uniform in (0,1) from the SHA-256 of both. The node with the highest
// score is the key's first choice.
func Score(key string, n Candidate) float64 {
	u := (float64(hash64(key, n.Name)>>11) + 0.5) / (1 << 53)
	return -weight(n) / math.Log(u)
}

func weight(n Candidate) float64 {
	if n.Weight <= 0 {
		return 1
	}
	return n.Weight
}

func hash64(key, node string) uint64 {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write([]byte(node))
	var sum [sha256.Size]byte
	return binary.BigEndian.Uint64(h.Sum(sum[:0]))
}
