package export

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// The finished exports' files stay within the quota: the oldest go first,
// and a file that alone would pass it fails while being written.
func TestQuota(t *testing.T) {
	dir := t.TempDir()
	e := New(Config{Dir: dir, MaxBytes: 1000})
	now := time.Now()
	for i, size := range []int64{400, 400, 400} {
		id := string(rune('a' + i))
		f := filepath.Join(dir, id)
		os.WriteFile(f, make([]byte, size), 0o644)
		at := now.Add(time.Duration(i) * time.Second)
		e.jobs[id] = &Job{ID: id, Status: Done, Bytes: size, FinishedAt: &at, file: f}
		if !e.makeRoom(id, size) {
			t.Fatalf("%s does not fit", id)
		}
	}
	if _, ok := e.jobs["a"]; ok {
		t.Fatal("the oldest export was kept past the quota")
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); !os.IsNotExist(err) {
		t.Fatal("the oldest export's file was kept")
	}
	if len(e.jobs) != 2 {
		t.Fatalf("%d exports kept", len(e.jobs))
	}
	q := &quotaWriter{w: &strings.Builder{}, max: 1000}
	if _, err := q.Write(make([]byte, 900)); err != nil {
		t.Fatal(err)
	}
	var big errExportTooLarge
	if _, err := q.Write(make([]byte, 200)); !errors.As(err, &big) || !strings.Contains(err.Error(), "exports_max_size") {
		t.Fatalf("past the quota: %v", err)
	}
}
