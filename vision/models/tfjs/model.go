package tfjs

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/smarteye/smarteye/vision/models/tfjs/internal/tensor"
)

// modelJSON is the part of a TF.js graph model's model.json the
// converter reads.
type modelJSON struct {
	Format        string `json:"format"`
	ModelTopology struct {
		Node []*tfNode `json:"node"`
	} `json:"modelTopology"`
	Signature struct {
		Inputs  map[string]sigTensor `json:"inputs"`
		Outputs map[string]sigTensor `json:"outputs"`
	} `json:"signature"`
	WeightsManifest []struct {
		Paths   []string        `json:"paths"`
		Weights []manifestEntry `json:"weights"`
	} `json:"weightsManifest"`
}

// sigTensor is one input or output of the model's signature.
type sigTensor struct {
	Name        string   `json:"name"`
	Dtype       string   `json:"dtype"`
	TensorShape *tfShape `json:"tensorShape"`
}

// manifestEntry describes one weight in the binary file.
type manifestEntry struct {
	Name         string    `json:"name"`
	Shape        []jsonInt `json:"shape"`
	Dtype        string    `json:"dtype"`
	Quantization *struct {
		Dtype string  `json:"dtype"`
		Scale float64 `json:"scale"`
		Min   float64 `json:"min"`
	} `json:"quantization"`
}

// tfNode is a TensorFlow NodeDef in its JSON form.
type tfNode struct {
	Name  string            `json:"name"`
	Op    string            `json:"op"`
	Input []string          `json:"input"`
	Attr  map[string]tfAttr `json:"attr"`

	data []ref // the data inputs, control inputs dropped
}

// tfAttr is a TensorFlow AttrValue in its JSON form; only the kinds the
// converter reads are decoded.
type tfAttr struct {
	S     *string    `json:"s"` // base64
	I     *jsonInt   `json:"i"`
	F     *jsonFloat `json:"f"`
	B     *bool      `json:"b"`
	Type  string     `json:"type"`
	Shape *tfShape   `json:"shape"`
	List  *struct {
		I []jsonInt   `json:"i"`
		S []string    `json:"s"`
		F []jsonFloat `json:"f"`
	} `json:"list"`
}

// tfShape is a TensorShapeProto in its JSON form.
type tfShape struct {
	Dim []struct {
		Size jsonInt `json:"size"`
	} `json:"dim"`
	UnknownRank bool `json:"unknownRank"`
}

// jsonInt is an int64 written either as a JSON number or, as the
// protobuf JSON mapping does, as a string.
type jsonInt int64

func (j *jsonInt) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		var err error
		if s, err = strconv.Unquote(s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("bad integer %s", b)
	}
	*j = jsonInt(v)
	return nil
}

// jsonFloat is a float written as a JSON number or, for the values JSON
// lacks, as "NaN", "Infinity" or "-Infinity".
type jsonFloat float64

func (j *jsonFloat) UnmarshalJSON(b []byte) error {
	s := string(b)
	if len(s) >= 2 && s[0] == '"' {
		var err error
		if s, err = strconv.Unquote(s); err != nil {
			return err
		}
	}
	v, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return fmt.Errorf("bad number %s", b)
	}
	*j = jsonFloat(v)
	return nil
}

// ref names one output of a node.
type ref struct {
	node string
	out  int
}

func (r ref) String() string { return r.node + ":" + strconv.Itoa(r.out) }

// parseRef parses a node input: "name", "name:k", or "^name" (a control
// input, reported by ctl).
func parseRef(s string) (r ref, ctl bool, err error) {
	if strings.HasPrefix(s, "^") {
		return ref{node: s[1:]}, true, nil
	}
	name, k, found := strings.Cut(s, ":")
	if !found {
		return ref{node: s}, false, nil
	}
	out, err := strconv.Atoi(k)
	if err != nil || out < 0 || out > 1<<16 || name == "" {
		return ref{}, false, fmt.Errorf("bad input %q", s)
	}
	return ref{node: name, out: out}, false, nil
}

// str returns a string attribute (base64 in the JSON), or def.
func (n *tfNode) str(key, def string) (string, error) {
	a, ok := n.Attr[key]
	if !ok || a.S == nil {
		return def, nil
	}
	b, err := base64.StdEncoding.DecodeString(*a.S)
	if err != nil {
		return "", fmt.Errorf("attribute %s: %w", key, err)
	}
	return string(b), nil
}

// float returns a float attribute, or def.
func (n *tfNode) float(key string, def float64) float64 {
	if a, ok := n.Attr[key]; ok && a.F != nil {
		return float64(*a.F)
	}
	return def
}

// boolean returns a bool attribute, or def.
func (n *tfNode) boolean(key string, def bool) bool {
	if a, ok := n.Attr[key]; ok && a.B != nil {
		return *a.B
	}
	return def
}

// ints returns an int-list attribute, or nil.
func (n *tfNode) ints(key string) []int64 {
	a, ok := n.Attr[key]
	if !ok || a.List == nil {
		return nil
	}
	out := make([]int64, len(a.List.I))
	for i, v := range a.List.I {
		out[i] = int64(v)
	}
	return out
}

// shapeDims returns a shape's dimensions, -1 for an unknown one, and
// false when the rank is unknown.
func (s *tfShape) dims() ([]int64, bool) {
	if s == nil || s.UnknownRank {
		return nil, false
	}
	out := make([]int64, len(s.Dim))
	for i, d := range s.Dim {
		out[i] = int64(d.Size)
	}
	return out, true
}

// elemBytes returns the stored size of one element of a manifest entry.
func (e *manifestEntry) elemBytes() (int64, error) {
	switch e.Dtype {
	case "float32", "int32", "bool":
	default:
		return 0, fmt.Errorf("weight %q: unsupported dtype %q", e.Name, e.Dtype)
	}
	if q := e.Quantization; q != nil {
		switch q.Dtype {
		case "float16", "uint16":
			return 2, nil
		case "uint8":
			return 1, nil
		}
		return 0, fmt.Errorf("weight %q: unsupported quantization %q", e.Name, q.Dtype)
	}
	if e.Dtype == "bool" {
		return 1, nil
	}
	return 4, nil
}

// readWeights decodes the weights of every manifest entry from bin,
// which must be exactly as long as the manifest says.
func readWeights(m *modelJSON, bin []byte) (map[string]*tensor.Tensor, error) {
	type item struct {
		e     *manifestEntry
		shape []int64
		n     int64
		size  int64
	}
	var items []item
	need := int64(0)
	for g := range m.WeightsManifest {
		for k := range m.WeightsManifest[g].Weights {
			e := &m.WeightsManifest[g].Weights[k]
			if len(e.Shape) > tensor.MaxRank {
				return nil, fmt.Errorf("tfjs: weight %q: rank %d", e.Name, len(e.Shape))
			}
			shape := make([]int64, len(e.Shape))
			for i, d := range e.Shape {
				shape[i] = int64(d)
			}
			n := tensor.Numel(shape)
			if n < 0 {
				return nil, fmt.Errorf("tfjs: weight %q: bad shape %v", e.Name, shape)
			}
			eb, err := e.elemBytes()
			if err != nil {
				return nil, fmt.Errorf("tfjs: %w", err)
			}
			size := n * eb
			if need > math.MaxInt64/2-size {
				return nil, fmt.Errorf("tfjs: weights: the manifest needs more than %d bytes, got %d", need, len(bin))
			}
			need += size
			items = append(items, item{e, shape, n, size})
		}
	}
	if need != int64(len(bin)) {
		return nil, fmt.Errorf("tfjs: weights: the manifest needs %d bytes, got %d", need, len(bin))
	}
	out := make(map[string]*tensor.Tensor, len(items))
	off := int64(0)
	for _, it := range items {
		e := it.e
		if _, dup := out[e.Name]; dup {
			return nil, fmt.Errorf("tfjs: weight %q listed twice in the manifest", e.Name)
		}
		b := bin[off : off+it.size]
		off += it.size
		t := &tensor.Tensor{Shape: it.shape, Float: e.Dtype == "float32"}
		// Stored values as float64, then into t's kind.
		vals := make([]float64, it.n)
		var ivals []int64
		switch q := e.Quantization; {
		case q != nil && q.Dtype == "float16":
			for i := range vals {
				vals[i] = float64(tensor.HalfToFloat(binary.LittleEndian.Uint16(b[2*i:])))
			}
		case q != nil && q.Dtype == "uint16":
			for i := range vals {
				vals[i] = float64(binary.LittleEndian.Uint16(b[2*i:]))*q.Scale + q.Min
			}
		case q != nil: // uint8
			for i := range vals {
				vals[i] = float64(b[i])*q.Scale + q.Min
			}
		case e.Dtype == "float32":
			for i := range vals {
				vals[i] = float64(math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:])))
			}
		case e.Dtype == "int32":
			ivals = make([]int64, it.n)
			for i := range ivals {
				ivals[i] = int64(int32(binary.LittleEndian.Uint32(b[4*i:])))
			}
		default: // bool
			ivals = make([]int64, it.n)
			for i := range ivals {
				if b[i] != 0 {
					ivals[i] = 1
				}
			}
		}
		switch {
		case t.Float:
			t.F = make([]float32, it.n)
			for i, v := range vals {
				t.F[i] = float32(v)
			}
		case ivals != nil:
			t.I = ivals
		default: // dequantised integers
			t.I = make([]int64, it.n)
			for i, v := range vals {
				t.I[i] = int64(math.Round(v))
			}
		}
		out[e.Name] = t
	}
	return out, nil
}

// decodeModel parses model.json, refusing trailing garbage.
func decodeModel(graphJSON []byte) (*modelJSON, error) {
	var m modelJSON
	if err := json.Unmarshal(graphJSON, &m); err != nil {
		return nil, fmt.Errorf("tfjs: model JSON: %w", err)
	}
	if m.Format != "" && m.Format != "graph-model" {
		return nil, fmt.Errorf("tfjs: model JSON: format %q, want a graph-model", m.Format)
	}
	if len(m.ModelTopology.Node) == 0 {
		return nil, fmt.Errorf("tfjs: model JSON: no modelTopology.node")
	}
	for i, n := range m.ModelTopology.Node {
		if n == nil {
			return nil, fmt.Errorf("tfjs: model JSON: node %d is null", i)
		}
	}
	return &m, nil
}
