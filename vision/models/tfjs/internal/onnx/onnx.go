// Package onnx writes the ONNX protobuf messages the tfjs converter
// produces (onnx.proto, proto2), encoded by hand: fields in field-number
// order, repeated scalars unpacked, so the bytes depend on nothing but
// the graph. It knows nothing of TensorFlow.js and must not: it only
// serialises a graph the converter has built.
package onnx

import (
	"encoding/binary"
	"math"
)

const (
	// OpsetVersion is the ONNX opset written: what OpenCV 4.6's importer
	// knows best (Resize with roi and scales inputs, Pad with pads input,
	// Split with a split attribute).
	OpsetVersion = 11
	// IRVersion is the IR version of ONNX 1.6, which introduced opset 11.
	IRVersion = 6

	Float = 1 // TensorProto.FLOAT
	Int64 = 7 // TensorProto.INT64

	attrFloat  = 1 // AttributeProto.FLOAT
	attrInt    = 2
	attrString = 3
	attrFloats = 6
	attrInts   = 7
)

// Node is a NodeProto.
type Node struct {
	Name    string
	Op      string
	Inputs  []string
	Outputs []string
	Attrs   []Attr
}

// Attr is an AttributeProto of one of the kinds used here; make one with
// IntAttr, IntsAttr, FloatAttr or StringAttr.
type Attr struct {
	name   string
	kind   int
	f      float32
	i      int64
	s      string
	floats []float32
	ints   []int64
}

// IntAttr returns an INT attribute.
func IntAttr(name string, v int64) Attr { return Attr{name: name, kind: attrInt, i: v} }

// IntsAttr returns an INTS attribute.
func IntsAttr(name string, v ...int64) Attr { return Attr{name: name, kind: attrInts, ints: v} }

// FloatAttr returns a FLOAT attribute.
func FloatAttr(name string, v float32) Attr { return Attr{name: name, kind: attrFloat, f: v} }

// StringAttr returns a STRING attribute.
func StringAttr(name string, v string) Attr { return Attr{name: name, kind: attrString, s: v} }

// Tensor is an initializer: a TensorProto with raw_data.
type Tensor struct {
	Name  string
	Dims  []int64
	Dtype int // Float or Int64
	Raw   []byte
	N     int64 // elements
}

// ValueInfo is a graph input or output: a tensor of known shape.
type ValueInfo struct {
	Name  string
	Dtype int // Float or Int64
	Dims  []int64
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

func (a *Attr) encode() []byte {
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

func (n *Node) encode() []byte {
	var p pb
	for _, s := range n.Inputs {
		p.str(1, s)
	}
	for _, s := range n.Outputs {
		p.str(2, s)
	}
	p.str(3, n.Name)
	p.str(4, n.Op)
	for i := range n.Attrs {
		p.bytes(5, n.Attrs[i].encode())
	}
	return p.b
}

func (t *Tensor) encode() []byte {
	var p pb
	for _, d := range t.Dims {
		p.varint(1, d)
	}
	p.varint(2, int64(t.Dtype))
	p.str(8, t.Name)
	p.bytes(9, t.Raw)
	return p.b
}

func (v *ValueInfo) encode() []byte {
	var shape pb
	for _, d := range v.Dims {
		var dim pb
		dim.varint(1, d)
		shape.bytes(1, dim.b)
	}
	var tt pb
	tt.varint(1, int64(v.Dtype))
	tt.bytes(2, shape.b)
	var typ pb
	typ.bytes(1, tt.b)
	var p pb
	p.str(1, v.Name)
	p.bytes(2, typ.b)
	return p.b
}

// EncodeModel writes a ModelProto holding one graph.
func EncodeModel(graphName string, nodes []*Node, inits []*Tensor, inputs, outputs []ValueInfo) []byte {
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
	opset.varint(2, OpsetVersion)
	var m pb
	m.varint(1, IRVersion)
	m.str(2, "smarteye/vision/models/tfjs")
	m.str(3, "1")
	m.bytes(7, g.b)
	m.bytes(8, opset.b)
	return m.b
}
