package media

import (
	"encoding/json"
	"math"
	"strconv"
)

// columnLine writes one NDJSON line of columns — {"type":…,"key":[…],…} —
// straight into a byte slice: replay's tracks and detections are tens of
// thousands of numbers a line, which encoding/json would take by
// reflection, value by value. Numbers are written as encoding/json writes
// them, or rounded to a few decimals (degrees, appendValue); a NaN or an
// infinity (which JSON lacks) as null.
type columnLine struct {
	b      []byte
	quoted map[string][]byte // strings seen, JSON-quoted: ids and classes repeat
}

// begin starts a line of the given type.
func (l *columnLine) begin(typ string) {
	l.b = append(l.b[:0], `{"type":`...)
	l.b = l.str(l.b, typ)
}

// end closes the line and returns it, newline included; it is valid until
// the next begin.
func (l *columnLine) end() []byte {
	l.b = append(l.b, '}', '\n')
	return l.b
}

func (l *columnLine) key(k string) {
	l.b = append(l.b, ',')
	l.b = l.str(l.b, k)
	l.b = append(l.b, ':')
}

// str appends s quoted, from the cache when it was seen before.
func (l *columnLine) str(b []byte, s string) []byte {
	q, ok := l.quoted[s]
	if !ok {
		q, _ = json.Marshal(s) // a string always marshals
		if l.quoted == nil {
			l.quoted = map[string][]byte{}
		}
		if len(l.quoted) < 10000 {
			l.quoted[s] = q
		}
	}
	return append(b, q...)
}

func (l *columnLine) text(k, v string) {
	l.key(k)
	l.b = l.str(l.b, v)
}

// column writes an array of n values, each appended by value.
func (l *columnLine) column(k string, n int, value func(b []byte, i int) []byte) {
	l.key(k)
	l.b = append(l.b, '[')
	for i := range n {
		if i > 0 {
			l.b = append(l.b, ',')
		}
		l.b = value(l.b, i)
	}
	l.b = append(l.b, ']')
}

func (l *columnLine) texts(k string, vs []string) {
	l.column(k, len(vs), func(b []byte, i int) []byte { return l.str(b, vs[i]) })
}

func (l *columnLine) ints(k string, vs []int64) {
	l.column(k, len(vs), func(b []byte, i int) []byte { return strconv.AppendInt(b, vs[i], 10) })
}

// degrees writes positions to degreeDecimals decimals.
func (l *columnLine) degrees(k string, vs []float64) {
	l.column(k, len(vs), func(b []byte, i int) []byte { return appendFixed(b, vs[i], degreeDecimals) })
}

// Decimals written: 1e-7 degree is about a centimetre on the ground; a
// centimetre, a hundredth of a degree or of a metre a second for the rest
// — beyond what the sensors give, and fewer digits to write and to send.
const (
	degreeDecimals = 7
	valueDecimals  = 2
)

// appendValue appends an optional value to valueDecimals: nil is null.
func appendValue(b []byte, v *float32) []byte {
	if v == nil {
		return append(b, "null"...)
	}
	return appendFixed(b, float64(*v), valueDecimals)
}

var pow10 = [...]int64{1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9}

// appendFixed appends f rounded to dec decimals (at most 9), without
// trailing zeros, in integer arithmetic (a shortest-form float formatting
// costs several times more); a NaN or an infinity is null, and a value
// too large for that is written as encoding/json writes it.
func appendFixed(b []byte, f float64, dec int) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	scale := pow10[dec]
	x := math.Round(f * float64(scale))
	if math.Abs(x) >= 1<<53 {
		return appendJSONFloat(b, f)
	}
	n := int64(x)
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	b = strconv.AppendInt(b, n/scale, 10)
	frac := n % scale
	if frac == 0 {
		return b
	}
	var d [9]byte
	for i := dec - 1; i >= 0; i-- {
		d[i] = byte('0' + frac%10)
		frac /= 10
	}
	j := dec
	for d[j-1] == '0' {
		j--
	}
	b = append(b, '.')
	return append(b, d[:j]...)
}

// appendJSONFloat formats a finite f as encoding/json does: the shortest
// form that reads back as the same float64, with an exponent outside
// 1e-6…1e21.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7, as encoding/json does.
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
