package analysis

import (
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestPruneSnapshots(t *testing.T) {
	dir := t.TempDir()
	mk := func(p string) {
		if err := os.MkdirAll(filepath.Join(dir, p), 0o755); err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, p, "1.jpg"), []byte{0xff, 0xd8}, 0o644)
	}
	mk("cam-a/2026-01-01")
	mk("cam-a/2026-03-01")
	mk("cam-b/2026-01-02")
	mk("cam-b/not-a-day")
	n, err := PruneSnapshots(dir, time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC))
	if err != nil || n != 2 {
		t.Fatalf("removed %d, %v", n, err)
	}
	for p, want := range map[string]bool{"cam-a/2026-01-01": false, "cam-a/2026-03-01": true, "cam-b/2026-01-02": false, "cam-b/not-a-day": true} {
		_, err := os.Stat(filepath.Join(dir, p))
		if (err == nil) != want {
			t.Errorf("%s exists: %v, want %v", p, err == nil, want)
		}
	}
	if n, err := PruneSnapshots(filepath.Join(dir, "missing"), time.Now()); err != nil || n != 0 {
		t.Fatalf("missing dir: %d %v", n, err)
	}
}
