package tfjs

import (
	"encoding/binary"
	"math"
)

// The ONNX protobuf messages the converter writes (onnx.proto, proto2),
// encoded by hand: fields in field-number order, repeated scalars
// unpacked, so the bytes depend on nothing but the graph.

const (
	// opsetVersion is the ONNX opset written: what OpenCV 4.6's importer
	// knows best (Resize with roi and scales inputs, Pad with pads input,
	// Split with a split attribute).
	opsetVersion = 11
	// irVersion is the IR version of ONNX 1.6, which introduced opset 11.
	irVersion = 6

	onnxFloat = 1 // TensorProto.FLOAT
	onnxInt64 = 7 // TensorProto.INT64

	attrFloat  = 1 // AttributeProto.FLOAT
	attrInt    = 2
	attrString = 3
	attrFloats = 6
	attrInts   = 7
)

// onnxNode is a NodeProto.
type onnxNode struct {
	name    string
	op      string
	inputs  []string
	outputs []string
	attrs   []onnxAttr
}

// onnxAttr is an AttributeProto of one of the kinds used here.
type onnxAttr struct {
	name   string
	kind   int
	f      float32
	i      int64
	s      string
	floats []float32
	ints   []int64
}

func intAttr(name string, v int64) onnxAttr     { return onnxAttr{name: name, kind: attrInt, i: v} }
func intsAttr(name string, v ...int64) onnxAttr { return onnxAttr{name: name, kind: attrInts, ints: v} }
func floatAttr(name string, v float32) onnxAttr { return onnxAttr{name: name, kind: attrFloat, f: v} }
func stringAttr(name string, v string) onnxAttr { return onnxAttr{name: name, kind: attrString, s: v} }

// onnxTensor is an initializer: a TensorProto with raw_data.
type onnxTensor struct {
	name  string
	dims  []int64
	dtype int
	raw   []byte
	n     int64 // elements
}

// valueInfo is a graph input or output: a float tensor of known shape.
type valueInfo struct {
	name  string
	dtype int
	dims  []int64
}

// pb is a protobuf message being written.
type pb struct{ b []byte }

func (p *pb) tag(field, wire int) { p.b = binary.AppendUvarint(p.b, uint64(field)<<3|uint64(wire)) }

func (p *pb) varint(field int, v int64) {
	p.tag(field, 0)
	p.b = binary.AppendUvarint(p.b, uint64(v))
}

func (p *pb) bytes(field int, b []byte) {
	p.tag(field, 2)
	p.b = binary.AppendUvarint(p.b, uint64(len(b)))
	p.b = append(p.b, b...)
}

func (p *pb) str(field int, s string) {
	p.tag(field, 2)
	p.b = binary.AppendUvarint(p.b, uint64(len(s)))
	p.b = append(p.b, s...)
}

func (p *pb) fixed32(field int, v uint32) {
	p.tag(field, 5)
	p.b = binary.LittleEndian.AppendUint32(p.b, v)
}

func (a *onnxAttr) encode() []byte {
	var p pb
	p.str(1, a.name)
	switch a.kind {
	case attrFloat:
		p.fixed32(2, math.Float32bits(a.f))
	case attrInt:
		p.varint(3, a.i)
	case attrString:
		p.str(4, a.s)
	case attrFloats:
		for _, v := range a.floats {
			p.fixed32(7, math.Float32bits(v))
		}
	case attrInts:
		for _, v := range a.ints {
			p.varint(8, v)
		}
	}
	p.varint(20, int64(a.kind))
	return p.b
}

func (n *onnxNode) encode() []byte {
	var p pb
	for _, s := range n.inputs {
		p.str(1, s)
	}
	for _, s := range n.outputs {
		p.str(2, s)
	}
	p.str(3, n.name)
	p.str(4, n.op)
	for i := range n.attrs {
		p.bytes(5, n.attrs[i].encode())
	}
	return p.b
}

func (t *onnxTensor) encode() []byte {
	var p pb
	for _, d := range t.dims {
		p.varint(1, d)
	}
	p.varint(2, int64(t.dtype))
	p.str(8, t.name)
	p.bytes(9, t.raw)
	return p.b
}

func (v *valueInfo) encode() []byte {
	var shape pb
	for _, d := range v.dims {
		var dim pb
		dim.varint(1, d)
		shape.bytes(1, dim.b)
	}
	var tt pb
	tt.varint(1, int64(v.dtype))
	tt.bytes(2, shape.b)
	var typ pb
	typ.bytes(1, tt.b)
	var p pb
	p.str(1, v.name)
	p.bytes(2, typ.b)
	return p.b
}

// encodeModel writes a ModelProto holding one graph.
func encodeModel(graphName string, nodes []*onnxNode, inits []*onnxTensor, inputs, outputs []valueInfo) []byte {
	var g pb
	for _, n := range nodes {
		g.bytes(1, n.encode())
	}
	g.str(2, graphName)
	for _, t := range inits {
		g.bytes(5, t.encode())
	}
	for i := range inputs {
		g.bytes(11, inputs[i].encode())
	}
	for i := range outputs {
		g.bytes(12, outputs[i].encode())
	}
	var opset pb
	opset.str(1, "")
	opset.varint(2, opsetVersion)
	var m pb
	m.varint(1, irVersion)
	m.str(2, "smarteye/vision/models/tfjs")
	m.str(3, "1")
	m.bytes(7, g.b)
	m.bytes(8, opset.b)
	return m.b
}
