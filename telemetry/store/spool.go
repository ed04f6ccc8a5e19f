package store

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The spool keeps batches the database could not take, in order, until it
// can. It is a directory of append-only segment files; each record is
//
//	magic "SESP" | payload length (uint32 LE) | CRC-32C of payload (uint32 LE) | payload
//
// and the payload is one batch (encodeBatch). A record is fsynced before the
// writer counts its rows as spooled. A file "cursor" remembers how far replay
// got; it is a hint only: replaying a batch twice is harmless because the
// store skips batch ids it has already committed.

const (
	spoolMagic      = "SESP"
	spoolHeaderLen  = 12
	spoolSegmentMax = 64 << 20 // bytes; a new segment starts past this
	// maxRecord bounds one record so that a corrupt length cannot make the
	// reader allocate gigabytes.
	maxRecord = 256 << 20
)

var (
	crcTable = crc32.MakeTable(crc32.Castagnoli)

	// ErrSpoolFull is returned when appending would exceed the spool's byte budget.
	ErrSpoolFull = errors.New("spool full")
	// errCorrupt marks a record that fails its checksum or does not decode.
	errCorrupt = errors.New("corrupt spool record")
)

type segment struct {
	seq  uint64
	size int64
}

type spool struct {
	dir      string
	maxBytes int64
	log      *slog.Logger

	segs []segment // oldest first; the last one is appended to
	w    *os.File  // the last segment, open for append

	rseq uint64 // replay cursor: segment and offset of the next record
	roff int64
	r    *os.File // open on segment rseq
	// next is the length of the record Next returned, consumed by Advance.
	next int64
}

func segName(seq uint64) string { return fmt.Sprintf("%016d.spool", seq) }

// openSpool opens or creates the spool in dir. A record cut short by a crash
// at the end of the last segment is removed (its rows never counted as
// spooled); nothing else is touched.
func openSpool(dir string, maxBytes int64, log *slog.Logger) (*spool, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s := &spool{dir: dir, maxBytes: maxBytes, log: log}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasSuffix(name, ".spool") {
			continue
		}
		seq, err := strconv.ParseUint(strings.TrimSuffix(name, ".spool"), 10, 64)
		if err != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.segs = append(s.segs, segment{seq: seq, size: info.Size()})
	}
	sort.Slice(s.segs, func(i, j int) bool { return s.segs[i].seq < s.segs[j].seq })
	if len(s.segs) == 0 {
		s.segs = []segment{{seq: 1}}
	} else if err := s.repairTail(); err != nil {
		return nil, err
	}
	last := s.segs[len(s.segs)-1]
	s.w, err = os.OpenFile(filepath.Join(dir, segName(last.seq)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
	if err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	s.rseq, s.roff = s.segs[0].seq, 0
	s.readCursor()
	return s, nil
}

// repairTail truncates the last segment after its last whole, valid record.
func (s *spool) repairTail() error {
	last := &s.segs[len(s.segs)-1]
	p := filepath.Join(s.dir, segName(last.seq))
	f, err := os.Open(p)
	if err != nil {
		return fmt.Errorf("spool: %w", err)
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 1<<20)
	var good int64
	for {
		n, _, err := readRecord(br)
		if err != nil {
			break
		}
		good += n
	}
	if good < last.size {
		s.log.Warn("spool: removing a record cut short by a crash", "segment", p, "bytes", last.size-good)
		if err := os.Truncate(p, good); err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		last.size = good
	}
	return nil
}

func (s *spool) readCursor() {
	b, err := os.ReadFile(filepath.Join(s.dir, "cursor"))
	if err != nil {
		return
	}
	f := strings.Fields(string(b))
	if len(f) != 2 {
		return
	}
	seq, err1 := strconv.ParseUint(f[0], 10, 64)
	off, err2 := strconv.ParseInt(f[1], 10, 64)
	if err1 != nil || err2 != nil {
		return
	}
	for _, sg := range s.segs {
		if sg.seq == seq && off >= 0 && off <= sg.size {
			s.rseq, s.roff = seq, off
			return
		}
	}
}

func (s *spool) writeCursor() {
	tmp := filepath.Join(s.dir, "cursor.tmp")
	if err := os.WriteFile(tmp, []byte(fmt.Sprintf("%d %d\n", s.rseq, s.roff)), 0o640); err == nil {
		_ = os.Rename(tmp, filepath.Join(s.dir, "cursor"))
	}
}

// Bytes is the size of what is still to be replayed.
func (s *spool) Bytes() int64 {
	var n int64
	for _, sg := range s.segs {
		n += sg.size
		if sg.seq == s.rseq {
			n -= s.roff
		}
	}
	return n
}

// Empty reports whether everything spooled has been replayed.
func (s *spool) Empty() bool { return s.Bytes() == 0 }

// Append writes b at the end of the spool and syncs it to disk.
func (s *spool) Append(b *Batch) error {
	payload := encodeBatch(nil, b)
	if len(payload) > maxRecord {
		return fmt.Errorf("spool: batch of %d bytes exceeds the record limit", len(payload))
	}
	if s.maxBytes > 0 && s.Bytes()+int64(len(payload))+spoolHeaderLen > s.maxBytes {
		return ErrSpoolFull
	}
	last := &s.segs[len(s.segs)-1]
	if last.size >= spoolSegmentMax {
		f, err := os.OpenFile(filepath.Join(s.dir, segName(last.seq+1)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err != nil {
			return fmt.Errorf("spool: %w", err)
		}
		s.w.Close()
		s.w = f
		s.segs = append(s.segs, segment{seq: last.seq + 1})
		last = &s.segs[len(s.segs)-1]
	}
	rec := make([]byte, spoolHeaderLen, spoolHeaderLen+len(payload))
	copy(rec, spoolMagic)
	binary.LittleEndian.PutUint32(rec[4:], uint32(len(payload)))
	binary.LittleEndian.PutUint32(rec[8:], crc32.Checksum(payload, crcTable))
	rec = append(rec, payload...)
	n, err := s.w.Write(rec)
	if err == nil {
		err = s.w.Sync()
	}
	if err != nil {
		// Cut off whatever part made it, so the segment stays well formed.
		_ = s.w.Truncate(last.size)
		return fmt.Errorf("spool: write: %w", err)
	}
	last.size += int64(n)
	return nil
}

// Next returns the batch at the replay cursor without consuming it; io.EOF
// when there is none. A record that fails its checksum or does not decode
// returns an error wrapping errCorrupt; Skip then drops its segment.
func (s *spool) Next() (*Batch, error) {
	for {
		seg := s.segIndex(s.rseq)
		if s.roff < s.segs[seg].size {
			break
		}
		if seg == len(s.segs)-1 {
			return nil, io.EOF
		}
		s.finishSegment(seg)
	}
	if s.r == nil {
		f, err := os.Open(filepath.Join(s.dir, segName(s.rseq)))
		if err != nil {
			return nil, fmt.Errorf("spool: %w", err)
		}
		s.r = f
	}
	if _, err := s.r.Seek(s.roff, io.SeekStart); err != nil {
		return nil, fmt.Errorf("spool: %w", err)
	}
	n, payload, err := readRecord(bufio.NewReaderSize(s.r, 64<<10))
	if err != nil {
		return nil, fmt.Errorf("spool: segment %s offset %d: %w", segName(s.rseq), s.roff, err)
	}
	b, err := decodeBatch(payload)
	if err != nil {
		return nil, fmt.Errorf("spool: segment %s offset %d: %w: %v", segName(s.rseq), s.roff, errCorrupt, err)
	}
	s.next = n
	return b, nil
}

// Advance consumes the record Next returned.
func (s *spool) Advance() {
	s.roff += s.next
	s.next = 0
	seg := s.segIndex(s.rseq)
	if s.roff >= s.segs[seg].size && seg < len(s.segs)-1 {
		s.finishSegment(seg)
	} else if s.roff >= s.segs[seg].size {
		// Everything is replayed: start the spool afresh.
		s.resetLast()
	}
	s.writeCursor()
}

// Skip abandons the rest of the current segment after a corrupt record. The
// segment is kept, renamed *.corrupt, for inspection.
func (s *spool) Skip() {
	seg := s.segIndex(s.rseq)
	name := filepath.Join(s.dir, segName(s.rseq))
	if seg == len(s.segs)-1 {
		// The segment being appended to: close it and start a new one.
		s.w.Close()
		next := s.rseq + 1
		f, err := os.OpenFile(filepath.Join(s.dir, segName(next)), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
		if err == nil {
			s.w = f
		}
		s.segs = append(s.segs, segment{seq: next})
	}
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	_ = os.Rename(name, name+".corrupt")
	s.segs = append(s.segs[:seg], s.segs[seg+1:]...)
	s.rseq, s.roff = s.segs[0].seq, 0
	s.writeCursor()
}

func (s *spool) segIndex(seq uint64) int {
	for i, sg := range s.segs {
		if sg.seq == seq {
			return i
		}
	}
	return 0
}

// finishSegment removes a fully replayed segment that is not the last one.
func (s *spool) finishSegment(i int) {
	if s.r != nil {
		s.r.Close()
		s.r = nil
	}
	_ = os.Remove(filepath.Join(s.dir, segName(s.segs[i].seq)))
	s.segs = append(s.segs[:i], s.segs[i+1:]...)
	s.rseq, s.roff = s.segs[0].seq, 0
}

// resetLast empties the last segment once all of it is replayed.
func (s *spool) resetLast() {
	last := &s.segs[len(s.segs)-1]
	if err := s.w.Truncate(0); err != nil {
		return // keep the cursor; the next Append goes after it
	}
	last.size = 0
	s.roff = 0
}

func (s *spool) Close() error {
	if s.r != nil {
		s.r.Close()
	}
	return s.w.Close()
}

// readRecord reads one record; n is its length on disk.
func readRecord(r io.Reader) (n int64, payload []byte, err error) {
	var h [spoolHeaderLen]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		if err == io.EOF {
			return 0, nil, io.EOF
		}
		return 0, nil, fmt.Errorf("%w: short header", errCorrupt)
	}
	if string(h[:4]) != spoolMagic {
		return 0, nil, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	size := binary.LittleEndian.Uint32(h[4:])
	if size > maxRecord {
		return 0, nil, fmt.Errorf("%w: record length %d", errCorrupt, size)
	}
	payload = make([]byte, size)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, fmt.Errorf("%w: short record", errCorrupt)
	}
	if crc32.Checksum(payload, crcTable) != binary.LittleEndian.Uint32(h[8:]) {
		return 0, nil, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	return int64(spoolHeaderLen) + int64(size), payload, nil
}

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
