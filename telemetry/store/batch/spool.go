package batch

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
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
