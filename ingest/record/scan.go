package record

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Fragment is one moof+mdat pair of a segment file.
type Fragment struct {
	Offset int64 // of the moof box
	Size   int64 // moof and mdat together
	// Start is the decode time of the first sample and Duration the sum of
	// the samples' durations, in mux.TimeScale ticks.
	Start, Duration int64
	Samples         int
	// Key: the first sample is a sync sample (a player can start here).
	Key bool
	// Pictures are the samples, when asked for (ScanSamples).
	Pictures []Picture
}

// Picture is one sample of a fragment: where its data is in the file and
// its timing.
type Picture struct {
	Offset   int64
	Size     uint32
	DTS      int64 // ticks
	Duration uint32
	PTSDelta int32 // presentation minus decode time, ticks
	Sync     bool
}

// File is what Scan found in a segment file.
type File struct {
	// InitSize is the bytes of ftyp and moov at the start.
	InitSize  int64
	Fragments []Fragment
	// Complete is where the last whole fragment ends; a file longer than
	// that has a torn tail (a crash while writing).
	Complete int64
}

// ErrNotSegment is a file that does not start with ftyp and moov.
var ErrNotSegment = errors.New("record: not a fragmented MP4 segment (no ftyp and moov at the start)")

// maxMoof bounds a moof box read into memory (a second of pictures has a
// few hundred bytes of them).
const maxMoof = 1 << 20

// maxSamples bounds a fragment's sample count (a trun without per-sample
// fields could claim four billion in a few bytes).
const maxSamples = 1 << 16

// Scan reads a segment's box structure: the init size and every complete
// moof+mdat pair, reading only the moof boxes. It stops without error at a
// torn tail (a box running past size, a moof without its mdat) and reports
// where the whole fragments end.
func Scan(r io.ReaderAt, size int64) (File, error) { return scan(r, size, false) }

// ScanSamples is Scan with every fragment's Pictures.
func ScanSamples(r io.ReaderAt, size int64) (File, error) { return scan(r, size, true) }

func scan(r io.ReaderAt, size int64, withSamples bool) (File, error) {
	var f File
	var hdr [16]byte
	var off int64
	box := func(at int64) (typ string, boxSize, headerLen int64, ok bool) {
		if at+8 > size {
			return "", 0, 0, false
		}
		if _, err := r.ReadAt(hdr[:8], at); err != nil {
			return "", 0, 0, false
		}
		boxSize, headerLen = int64(binary.BigEndian.Uint32(hdr[:4])), 8
		typ = string(hdr[4:8])
		if boxSize == 1 {
			if at+16 > size {
				return "", 0, 0, false
			}
			if _, err := r.ReadAt(hdr[8:16], at+8); err != nil {
				return "", 0, 0, false
			}
			boxSize, headerLen = int64(binary.BigEndian.Uint64(hdr[8:16])), 16
		}
		if boxSize < headerLen || boxSize > size-at {
			return "", 0, 0, false
		}
		return typ, boxSize, headerLen, true
	}
	for _, want := range []string{"ftyp", "moov"} {
		typ, n, _, ok := box(off)
		if !ok || typ != want {
			return f, ErrNotSegment
		}
		off += n
	}
	f.InitSize, f.Complete = off, off
	for {
		typ, n, hl, ok := box(off)
		if !ok {
			return f, nil
		}
		if typ != "moof" {
			// Anything else at the top level (free, mfra…) is skipped.
			off += n
			if typ != "mdat" {
				f.Complete = off
			}
			continue
		}
		if n > maxMoof {
			return f, fmt.Errorf("record: a moof box of %d bytes at %d", n, off)
		}
		mtyp, mn, _, ok := box(off + n)
		if !ok || mtyp != "mdat" {
			return f, nil // torn: the moof's media never made it
		}
		body := make([]byte, n-hl)
		if _, err := r.ReadAt(body, off+hl); err != nil {
			return f, nil
		}
		fr, err := parseMoof(body, off, withSamples)
		if err != nil {
			return f, fmt.Errorf("record: moof at %d: %w", off, err)
		}
		fr.Offset, fr.Size = off, n+mn
		f.Fragments = append(f.Fragments, fr)
		off += n + mn
		f.Complete = off
	}
}

// children calls fn for each box inside b.
func children(b []byte, fn func(typ string, body []byte) error) error {
	for len(b) > 0 {
		if len(b) < 8 {
			return errors.New("truncated box header")
		}
		n := uint64(binary.BigEndian.Uint32(b))
		hl := uint64(8)
		if n == 1 {
			if len(b) < 16 {
				return errors.New("truncated box header")
			}
			n, hl = binary.BigEndian.Uint64(b[8:]), 16
		}
		if n < hl || n > uint64(len(b)) {
			return fmt.Errorf("box %q of %d bytes in %d", b[4:8], n, len(b))
		}
		if err := fn(string(b[4:8]), b[hl:n]); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}

// parseMoof reads the first track's decode time, durations and first
// sample's flags from a moof's body.
func parseMoof(moof []byte, at int64, withSamples bool) (Fragment, error) {
	var fr Fragment
	seenTraf := false
	err := children(moof, func(typ string, traf []byte) error {
		if typ != "traf" || seenTraf {
			return nil
		}
		seenTraf = true
		var defDur, defSize, defFlags uint32
		var base uint64
		haveBase := false
		haveTfdt := false
		return children(traf, func(typ string, b []byte) error {
			switch typ {
			case "tfhd":
				if len(b) < 8 {
					return errors.New("short tfhd")
				}
				flags := binary.BigEndian.Uint32(b) & 0xffffff
				p := 8
				for _, f := range []struct {
					bit  uint32
					size int
					dst  *uint32
				}{{0x1, 8, nil}, {0x2, 4, nil}, {0x8, 4, &defDur}, {0x10, 4, &defSize}, {0x20, 4, &defFlags}} {
					if flags&f.bit == 0 {
						continue
					}
					if len(b) < p+f.size {
						return errors.New("short tfhd")
					}
					if f.bit == 0x1 {
						base, haveBase = binary.BigEndian.Uint64(b[p:]), true
					}
					if f.dst != nil {
						*f.dst = binary.BigEndian.Uint32(b[p:])
					}
					p += f.size
				}
			case "tfdt":
				if len(b) < 8 {
					return errors.New("short tfdt")
				}
				if b[0] == 1 {
					if len(b) < 12 {
						return errors.New("short tfdt")
					}
					fr.Start = int64(binary.BigEndian.Uint64(b[4:]) & (1<<63 - 1))
				} else {
					fr.Start = int64(binary.BigEndian.Uint32(b[4:]))
				}
				haveTfdt = true
			case "trun":
				if !haveTfdt {
					return errors.New("trun before tfdt")
				}
				if len(b) < 8 {
					return errors.New("short trun")
				}
				flags := binary.BigEndian.Uint32(b) & 0xffffff
				count := binary.BigEndian.Uint32(b[4:])
				p := 8
				dataAt := int64(at)
				if haveBase {
					dataAt = int64(base)
				}
				if flags&0x1 != 0 {
					if len(b) < p+4 {
						return errors.New("short trun")
					}
					dataAt += int64(int32(binary.BigEndian.Uint32(b[p:])))
					p += 4
				}
				firstFlags, haveFirst := defFlags, false
				if flags&0x4 != 0 {
					if len(b) < p+4 {
						return errors.New("short trun")
					}
					firstFlags, haveFirst = binary.BigEndian.Uint32(b[p:]), true
					p += 4
				}
				per := 0
				for _, bit := range []uint32{0x100, 0x200, 0x400, 0x800} {
					if flags&bit != 0 {
						per += 4
					}
				}
				if count > maxSamples || uint64(count)*uint64(per) > uint64(len(b)-p) {
					return fmt.Errorf("trun of %d samples in %d bytes", count, len(b))
				}
				for i := range int(count) {
					d, sz, sf, cto := defDur, defSize, defFlags, int32(0)
					q := p
					if flags&0x100 != 0 {
						d = binary.BigEndian.Uint32(b[q:])
						q += 4
					}
					if flags&0x200 != 0 {
						sz = binary.BigEndian.Uint32(b[q:])
						q += 4
					}
					if flags&0x400 != 0 {
						sf = binary.BigEndian.Uint32(b[q:])
						q += 4
					}
					if flags&0x800 != 0 {
						cto = int32(binary.BigEndian.Uint32(b[q:]))
					}
					if i == 0 {
						if haveFirst {
							sf = firstFlags
						} else {
							firstFlags = sf
						}
					}
					if withSamples {
						fr.Pictures = append(fr.Pictures, Picture{Offset: dataAt, Size: sz, DTS: fr.Start + fr.Duration, Duration: d, PTSDelta: cto, Sync: sf&0x10000 == 0})
					}
					dataAt += int64(sz)
					fr.Duration += int64(d)
					p += per
				}
				if fr.Samples == 0 && count > 0 {
					fr.Key = firstFlags&0x10000 == 0 // sample_is_non_sync_sample clear
				}
				fr.Samples += int(count)
			}
			return nil
		})
	})
	if err != nil {
		return fr, err
	}
	if !seenTraf {
		return fr, errors.New("no traf")
	}
	return fr, nil
}
