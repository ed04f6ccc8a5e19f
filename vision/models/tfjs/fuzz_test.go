package tfjs

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
)

// wellFormed checks that every tensor a node reads is defined before it,
// once, and that every output is defined.
func wellFormed(m *xModel) error {
	defined := map[string]bool{}
	for _, in := range m.inputs {
		defined[in.name] = true
	}
	for name := range m.inits {
		if defined[name] {
			return fmt.Errorf("initialiser %q shadows an input", name)
		}
		defined[name] = true
	}
	for _, n := range m.nodes {
		for _, s := range n.in {
			if !defined[s] {
				return fmt.Errorf("node %q reads %q before it is defined", n.name, s)
			}
		}
		for _, s := range n.out {
			if defined[s] {
				return fmt.Errorf("node %q redefines %q", n.name, s)
			}
			defined[s] = true
		}
	}
	for _, o := range m.outputs {
		if !defined[o.name] {
			return fmt.Errorf("output %q undefined", o.name)
		}
	}
	return nil
}

func TestWellFormed(t *testing.T) {
	for _, g := range []*graph{backbone(), fpn(8, 8), head(), misc()} {
		m, _ := convert(t, g)
		if err := wellFormed(m); err != nil {
			t.Error(err)
		}
	}
}

// FuzzConvert feeds the converter mutated models and weights: it must
// return an error or a well-formed model, the same one twice, and never
// panic.
func FuzzConvert(f *testing.F) {
	for _, g := range []*graph{backbone(), fpn(8, 8), head(), misc()} {
		j, b := g.build()
		f.Add(j, b)
	}
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder"}]}}`), []byte{})
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"2"}]}}}},`+
		`{"name":"y","op":"Identity","input":["x"]}]}}`), []byte{})
	f.Add([]byte(`{"modelTopology":{"node":[{"name":"x","op":"Placeholder","attr":{"shape":{"shape":{"dim":[{"size":"1"},{"size":"2"}]}}}},`+
		`{"name":"p","op":"Const"},{"name":"y","op":"Transpose","input":["x","p"]}]},`+
		`"weightsManifest":[{"weights":[{"name":"p","shape":[2],"dtype":"int32"}]}]}`), []byte{1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, j, b []byte) {
		out, err := Convert(j, b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "tfjs: ") {
				t.Fatalf("error without prefix: %v", err)
			}
			return
		}
		m, err := parseONNX(out)
		if err != nil {
			t.Fatalf("output does not parse: %v", err)
		}
		if err := wellFormed(m); err != nil {
			t.Fatal(err)
		}
		again, err := Convert(j, b)
		if err != nil || !bytes.Equal(out, again) {
			t.Fatalf("second conversion differs (%v)", err)
		}
	})
}
