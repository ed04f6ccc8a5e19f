package batch

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// newID is a random batch id or uuid value: a [16]byte, as the writer takes it.
func newID() [16]byte { return telemetry.NewUUID() }

func testLog() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// allKinds is a table with one column of every kind.
var allKinds = &Table{Name: "all", Columns: []Column{
	{"time", KindTime}, {"f64", KindFloat64}, {"f32", KindFloat32}, {"i64", KindInt64}, {"i32", KindInt32},
	{"i16", KindInt16}, {"text", KindText}, {"bool", KindBool}, {"uuid", KindUUID}, {"json", KindJSON},
}}

func sampleBatch(n int) *Batch {
	b := &Batch{ID: newID(), Table: allKinds}
	for i := range n {
		b.Rows = append(b.Rows, []any{
			time.Unix(1700000000, int64(i)).UTC(), 22.5 + float64(i), float32(i) / 3, int64(-i) << 40, int32(i),
			int16(-i), "name-" + string(rune('a'+i%26)), i%2 == 0, newID(), []byte(`{"i":1}`),
		})
	}
	b.Rows = append(b.Rows, []any{time.Unix(0, 0).UTC(), nil, nil, nil, nil, nil, nil, nil, nil, nil})
	return b
}

func TestBatchRoundTrip(t *testing.T) {
	b := sampleBatch(50)
	got, err := decodeBatch(encodeBatch(nil, b))
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != b.ID || got.Table.Name != b.Table.Name || !reflect.DeepEqual(got.Table.Columns, b.Table.Columns) {
		t.Fatalf("header differs: %+v", got)
	}
	if !reflect.DeepEqual(got.Rows, b.Rows) {
		t.Fatalf("rows differ")
	}
}

func TestDecodeRejectsDamage(t *testing.T) {
	good := encodeBatch(nil, sampleBatch(3))
	for name, p := range map[string][]byte{
		"empty":          {},
		"bad version":    append([]byte{9}, good[1:]...),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(append([]byte(nil), good...), 0),
		"huge row count": func() []byte {
			b := encodeBatch(nil, &Batch{Table: allKinds})
			return append(b[:len(b)-1], 0xff, 0xff, 0xff, 0xff, 0x0f)
		}(),
	} {
		if _, err := decodeBatch(p); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

func FuzzDecodeBatch(f *testing.F) {
	f.Add(encodeBatch(nil, sampleBatch(2)))
	// A telemetry row as the store's table has it (its first columns).
	track := &Table{Name: "telemetry", Columns: []Column{{"time", KindTime}, {"vehicle_id", KindText}, {"lat", KindFloat64}, {"lon", KindFloat64},
		{"alt_msl", KindFloat32}, {"mode", KindText}, {"armed", KindBool}, {"gps_fix", KindInt16}}}
	f.Add(encodeBatch(nil, &Batch{Table: track, Rows: [][]any{{time.Unix(1, 0), "v", 1.0, 2.0, float32(80), "AUTO", true, int16(3)}}}))
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, p []byte) {
		b, err := decodeBatch(p)
		if err != nil {
			return
		}
		// Whatever decodes must re-encode to the same bytes and fit its table.
		for _, r := range b.Rows {
			if err := b.Table.CheckRow(r); err != nil {
				t.Fatalf("decoded row does not fit its columns: %v", err)
			}
		}
		again, err := decodeBatch(encodeBatch(nil, b))
		if err != nil || !reflect.DeepEqual(again.Rows, b.Rows) {
			t.Fatalf("re-encode differs: %v", err)
		}
	})
}

func drain(t *testing.T, s *spool) int {
	t.Helper()
	n := 0
	for {
		b, err := s.Next()
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(b.Rows)
		s.Advance()
	}
}

func TestSpoolOrderAndCursorAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	s, err := openSpool(dir, 0, testLog())
	if err != nil {
		t.Fatal(err)
	}
	var ids [][16]byte
	for range 5 {
		b := sampleBatch(4)
		ids = append(ids, b.ID)
		if err := s.Append(b); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range ids[:2] {
		b, err := s.Next()
		if err != nil || b.ID != want {
			t.Fatalf("got %v, %v", b, err)
		}
		s.Advance()
	}
	s.Close()

	s, err = openSpool(dir, 0, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	b, err := s.Next()
	if err != nil || b.ID != ids[2] {
		t.Fatalf("after reopen got %v, %v; want the third batch", b, err)
	}
	if got := drain(t, s); got != 3*5 {
		t.Fatalf("drained %d rows", got)
	}
	if !s.Empty() {
		t.Fatal("spool not empty after replay")
	}
}

func TestSpoolTornTailIsCutOff(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSpool(dir, 0, testLog())
	s.Append(sampleBatch(3))
	s.Append(sampleBatch(3))
	s.Close()
	// A crash in the middle of writing a third record.
	seg := filepath.Join(dir, segName(1))
	rec := encodeBatch(nil, sampleBatch(3))
	f, _ := os.OpenFile(seg, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(spoolMagic))
	f.Write(rec[:10])
	f.Close()

	s, err := openSpool(dir, 0, testLog())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := drain(t, s); got != 8 {
		t.Fatalf("got %d rows, want the 8 of the two whole batches", got)
	}
	// Appending after repair works.
	if err := s.Append(sampleBatch(1)); err != nil {
		t.Fatal(err)
	}
	if got := drain(t, s); got != 2 {
		t.Fatalf("got %d", got)
	}
}

func TestSpoolCorruptRecordIsSetAside(t *testing.T) {
	dir := t.TempDir()
	s, _ := openSpool(dir, 0, testLog())
	s.Append(sampleBatch(3))
	s.Close()
	seg := filepath.Join(dir, segName(1))
	data, _ := os.ReadFile(seg)
	data[len(data)/2] ^= 0xff // bit rot inside the payload
	os.WriteFile(seg, data, 0o640)

	// The damaged record is the tail: reopening cuts it off as torn.
	s, err := openSpool(dir, 0, testLog())
	if err != nil {
		t.Fatal(err)
	}
	if !s.Empty() {
		t.Fatal("a corrupt tail record was kept")
	}
	s.Close()

	// Damage in an older segment: Next reports it and Skip sets it aside.
	dir2 := t.TempDir()
	s, _ = openSpool(dir2, 0, testLog())
	s.Append(sampleBatch(3))
	s.segs[0].size = spoolSegmentMax // force a new segment for the next record
	s.Append(sampleBatch(2))
	s.Close()
	seg = filepath.Join(dir2, segName(1))
	data, _ = os.ReadFile(seg)
	data[len(data)/2] ^= 0xff
	os.WriteFile(seg, data, 0o640)
	s, _ = openSpool(dir2, 0, testLog())
	defer s.Close()
	if _, err := s.Next(); !errors.Is(err, errCorrupt) {
		t.Fatalf("got %v, want errCorrupt", err)
	}
	s.Skip()
	if got := drain(t, s); got != 3 {
		t.Fatalf("after skip got %d rows, want the 3 of the second segment", got)
	}
	if _, err := os.Stat(seg + ".corrupt"); err != nil {
		t.Fatal("corrupt segment not kept for inspection")
	}
}

func TestSpoolBudget(t *testing.T) {
	s, _ := openSpool(t.TempDir(), 2000, testLog())
	defer s.Close()
	var err error
	for range 100 {
		if err = s.Append(sampleBatch(10)); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrSpoolFull) {
		t.Fatalf("got %v", err)
	}
	if s.Bytes() > 2000 {
		t.Fatalf("spool holds %d bytes over its budget", s.Bytes())
	}
}
