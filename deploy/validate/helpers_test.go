package validate

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The files under test, relative to this package.
const (
	composeFile  = "../compose.cluster.yml"
	caddyFile    = "../cluster/Caddyfile"
	k8sDir       = "../k8s"
	settingsFile = "../smarteye.yml"
)

// edit is one change to a copied file: old must occur exactly once (or
// be empty: new is then a new file's content).
type edit struct {
	file     string // relative to the copy's root
	old, new string
}

// copyFiles copies src files (paths relative to this package) to dir,
// each at its given relative destination, and returns dir.
func copyFiles(t *testing.T, dir string, files map[string]string) string {
	t.Helper()
	for dst, src := range files {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, dst)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// copyDir copies the regular files of src (not recursively) to dir.
func copyDir(t *testing.T, src, dir string) string {
	t.Helper()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]string{}
	for _, e := range entries {
		if e.Type().IsRegular() {
			files[e.Name()] = filepath.Join(src, e.Name())
		}
	}
	return copyFiles(t, dir, files)
}

// apply makes the edits in the copy at dir; an edit whose old text does
// not occur exactly once fails the test, so that a change to the real
// files cannot turn a check of the checks into a no-op. An edit without
// old text makes a new file.
func apply(t *testing.T, dir string, edits ...edit) {
	t.Helper()
	for _, e := range edits {
		p := filepath.Join(dir, e.file)
		if e.old == "" {
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
			if err == nil {
				_, err = f.WriteString(e.new)
				err = errors.Join(err, f.Close())
			}
			if err != nil {
				t.Fatal(err)
			}
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), e.old); n != 1 {
			t.Fatalf("%s: %q occurs %d times, want once", e.file, e.old, n)
		}
		if err := os.WriteFile(p, []byte(strings.Replace(string(b), e.old, e.new, 1)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// wantProblem fails unless err reports every one of want.
func wantProblem(t *testing.T, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("no problem reported, want %q", want)
	}
	t.Logf("reported:\n%v", err)
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("problems do not mention %q:\n%v", w, err)
		}
	}
}
