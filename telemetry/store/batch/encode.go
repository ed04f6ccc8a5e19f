package batch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

const batchVersion = 1

// encodeBatch appends the spool payload of b to dst:
//
//	version byte | id [16] | table name | column count | (name, kind byte)... |
//	row count | for each row and column: 0 (NULL) or 1 followed by the value
//
// Strings are a uvarint length and bytes; integers and times (Unix
// nanoseconds) varints; floats their IEEE bits little-endian.
func encodeBatch(dst []byte, b *Batch) []byte {
	dst = append(dst, batchVersion)
	dst = append(dst, b.ID[:]...)
	dst = appendString(dst, b.Table.Name)
	dst = binary.AppendUvarint(dst, uint64(len(b.Table.Columns)))
	for _, c := range b.Table.Columns {
		dst = appendString(dst, c.Name)
		dst = append(dst, byte(c.Kind))
	}
	dst = binary.AppendUvarint(dst, uint64(len(b.Rows)))
	for _, row := range b.Rows {
		for _, v := range row {
			if v == nil {
				dst = append(dst, 0)
				continue
			}
			dst = append(dst, 1)
			switch v := v.(type) {
			case time.Time:
				dst = binary.AppendVarint(dst, v.UnixNano())
			case float64:
				dst = binary.LittleEndian.AppendUint64(dst, math.Float64bits(v))
			case float32:
				dst = binary.LittleEndian.AppendUint32(dst, math.Float32bits(v))
			case int64:
				dst = binary.AppendVarint(dst, v)
			case int32:
				dst = binary.AppendVarint(dst, int64(v))
			case int16:
				dst = binary.AppendVarint(dst, int64(v))
			case string:
				dst = appendString(dst, v)
			case bool:
				if v {
					dst = append(dst, 1)
				} else {
					dst = append(dst, 0)
				}
			case [16]byte:
				dst = append(dst, v[:]...)
			case []byte:
				dst = binary.AppendUvarint(dst, uint64(len(v)))
				dst = append(dst, v...)
			}
		}
	}
	return dst
}

func appendString(dst []byte, s string) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s)))
	return append(dst, s...)
}

type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) byte() byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *decoder) bytes(n uint64) []byte {
	if d.err != nil || uint64(len(d.b)) < n {
		d.fail("truncated")
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}

func (d *decoder) uvarint() uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) string() string { return string(d.bytes(d.uvarint())) }

// decodeBatch parses a spool payload. It never trusts a count or length
// beyond what the payload can hold.
func decodeBatch(p []byte) (*Batch, error) {
	d := &decoder{b: p}
	if v := d.byte(); d.err == nil && v != batchVersion {
		return nil, fmt.Errorf("unknown batch version %d", v)
	}
	b := &Batch{Table: &Table{}}
	copy(b.ID[:], d.bytes(16))
	b.Table.Name = d.string()
	ncol := d.uvarint()
	if d.err == nil && (ncol == 0 || ncol > uint64(len(d.b))/2) {
		return nil, fmt.Errorf("bad column count %d", ncol)
	}
	for i := uint64(0); i < ncol && d.err == nil; i++ {
		c := Column{Name: d.string(), Kind: Kind(d.byte())}
		if d.err == nil && (c.Kind == 0 || c.Kind >= kindEnd) {
			return nil, fmt.Errorf("column %q: bad kind %d", c.Name, c.Kind)
		}
		b.Table.Columns = append(b.Table.Columns, c)
	}
	if d.err == nil && (len(b.Table.Columns) == 0 || b.Table.Columns[0].Kind != KindTime) {
		return nil, errors.New("first column is not a time")
	}
	nrow := d.uvarint()
	// Every value takes at least its NULL flag byte.
	if d.err == nil && nrow > uint64(len(d.b))/ncol {
		return nil, fmt.Errorf("bad row count %d", nrow)
	}
	b.Rows = make([][]any, 0, nrow)
	for r := uint64(0); r < nrow && d.err == nil; r++ {
		row := make([]any, ncol)
		for i, c := range b.Table.Columns {
			switch d.byte() {
			case 0:
				continue
			case 1:
			default:
				d.fail("bad null flag")
			}
			switch c.Kind {
			case KindTime:
				row[i] = time.Unix(0, d.varint()).UTC()
			case KindFloat64:
				row[i] = math.Float64frombits(binary.LittleEndian.Uint64(pad(d.bytes(8), 8)))
			case KindFloat32:
				row[i] = math.Float32frombits(binary.LittleEndian.Uint32(pad(d.bytes(4), 4)))
			case KindInt64:
				row[i] = d.varint()
			case KindInt32:
				v := d.varint()
				if v < math.MinInt32 || v > math.MaxInt32 {
					d.fail("int32 out of range")
				}
				row[i] = int32(v)
			case KindInt16:
				v := d.varint()
				if v < math.MinInt16 || v > math.MaxInt16 {
					d.fail("int16 out of range")
				}
				row[i] = int16(v)
			case KindText:
				row[i] = d.string()
			case KindBool:
				row[i] = d.byte() != 0
			case KindUUID:
				var id [16]byte
				copy(id[:], d.bytes(16))
				row[i] = id
			case KindJSON:
				row[i] = append([]byte(nil), d.bytes(d.uvarint())...)
			}
		}
		if d.err == nil && row[0] == nil {
			d.fail("row %d has no time", r)
		}
		b.Rows = append(b.Rows, row)
	}
	if d.err != nil {
		return nil, d.err
	}
	if len(d.b) != 0 {
		return nil, fmt.Errorf("%d trailing bytes", len(d.b))
	}
	return b, nil
}

// pad keeps fixed-size reads safe when the decoder has already failed.
func pad(b []byte, n int) []byte {
	if len(b) == n {
		return b
	}
	return make([]byte, n)
}
