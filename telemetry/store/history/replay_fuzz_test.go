package history

import (
	"encoding/binary"
	"math"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// FuzzPlacedDecoder: any bytes the database could send decode to a
// detection or an error, never a panic; well-formed values read back.
func FuzzPlacedDecoder(f *testing.F) {
	be := func(v uint64) []byte { return binary.BigEndian.AppendUint64(nil, v) }
	f.Add(be(uint64(time.Date(2026, 11, 23, 12, 0, 0, 123456000, time.UTC).UnixMicro()-pgEpochUnix*1e6)), []byte("cam-1"), be(42), []byte("person"), be(math.Float64bits(22.5)), be(math.Float64bits(114.05)), true)
	f.Add(be(math.MaxInt64), []byte{}, be(0), []byte{0xff}, be(0), be(0), true)
	f.Add([]byte{1, 2}, []byte("x"), be(1), []byte("y"), be(1), be(1), false)
	f.Fuzz(func(t *testing.T, ts, camera, track, class, lat, lon []byte, binaryFormat bool) {
		format := int16(pgx.BinaryFormatCode)
		if !binaryFormat {
			format = pgx.TextFormatCode
		}
		fds := make([]pgconn.FieldDescription, 6)
		for i := range fds {
			fds[i].Format = format
		}
		fds[1].Format, fds[3].Format = pgx.TextFormatCode, pgx.TextFormatCode // as pgx asks for text
		var d placedDecoder
		got, err := d.decode(fds, [][]byte{ts, camera, track, class, lat, lon})
		wellFormed := binaryFormat && len(ts) == 8 && camera != nil && len(track) == 8 && class != nil && len(lat) == 8 && len(lon) == 8
		if wellFormed {
			us := int64(binary.BigEndian.Uint64(ts))
			if us == math.MaxInt64 || us == math.MinInt64 {
				if err == nil {
					t.Fatal("an infinite time decoded")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Camera != string(camera) || got.Class != string(class) || got.TrackID != int64(binary.BigEndian.Uint64(track)) ||
				math.Float64bits(got.Lat) != binary.BigEndian.Uint64(lat) || math.Float64bits(got.Lon) != binary.BigEndian.Uint64(lon) {
				t.Fatalf("decoded %+v", got)
			}
			if back := got.Time.Sub(time.Unix(pgEpochUnix, 0)); us > -1<<62/1000 && us < 1<<62/1000 && back != time.Duration(us)*time.Microsecond {
				t.Fatalf("time %d µs decoded as %v", us, got.Time)
			}
			again, _ := d.decode(fds, [][]byte{ts, camera, track, class, lat, lon})
			if again.Camera != got.Camera {
				t.Fatal("a name decoded differently the second time")
			}
		} else if err == nil {
			t.Fatalf("malformed values decoded: %+v", got)
		}
	})
}
