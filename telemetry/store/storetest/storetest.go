// Package storetest starts real, throwaway PostgreSQL clusters for tests.
//
// A test never depends on a system cluster or on anything installed by hand:
// NewCluster runs initdb (once per test binary; later clusters copy that
// directory) and starts a server on a Unix socket in a temp directory. When
// the server binaries are missing the test fails with the install command:
// `make test` installs them first.
package storetest

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.uber.org/goleak"

	"github.com/smarteye/smarteye/telemetry/store/embedded"
)

var (
	templateOnce sync.Once
	templateDir  string
	templateErr  error

	sharedMu      sync.Mutex
	shared        *embedded.Cluster
	sharedCleanup func()
	dbSeq         atomic.Int64
)

// tempRoot makes a temp directory the server account can traverse (tests
// usually run as root, and the server runs as "postgres").
func tempRoot(pattern string) (string, error) {
	d, err := os.MkdirTemp("", pattern)
	if err != nil {
		return "", err
	}
	return d, os.Chmod(d, 0o711)
}

// TempDir is t.TempDir for clusters: a directory the server account can
// reach, removed at cleanup.
func TempDir(t testing.TB) string {
	t.Helper()
	d, err := tempRoot("smarteye-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func template() (string, error) {
	templateOnce.Do(func() {
		root, err := tempRoot("smarteye-pgtemplate-")
		if err != nil {
			templateErr = err
			return
		}
		c, err := embedded.New(embedded.Config{Dir: filepath.Join(root, "pg"), Fast: true, Log: quiet()})
		if err != nil {
			templateErr = err
			return
		}
		// Start once so that the copy has the smarteye database already.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := c.Start(ctx); err != nil {
			templateErr = err
			return
		}
		templateErr = c.Stop(30 * time.Second)
		templateDir = filepath.Join(root, "pg")
	})
	return templateDir, templateErr
}

func quiet() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// Options adjust NewClusterWith.
type Options struct {
	// Log defaults to warnings and errors on stderr.
	Log *slog.Logger
}

// NewCluster starts a throwaway cluster, stopped and removed at cleanup.
func NewCluster(t testing.TB) *embedded.Cluster {
	t.Helper()
	c, cleanup, err := startCluster(Options{})
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	t.Cleanup(cleanup)
	return c
}

func startCluster(o Options) (*embedded.Cluster, func(), error) {
	tmpl, err := template()
	if err != nil {
		return nil, nil, err
	}
	root, err := tempRoot("smarteye-pg-")
	if err != nil {
		return nil, nil, err
	}
	dir := filepath.Join(root, "pg")
	// cp -a keeps the server account's ownership and modes.
	if out, err := exec.Command("cp", "-a", tmpl, dir).CombinedOutput(); err != nil {
		os.RemoveAll(root)
		return nil, nil, fmt.Errorf("copy template cluster: %v: %s", err, out)
	}
	if o.Log == nil {
		o.Log = quiet()
	}
	c, err := embedded.New(embedded.Config{Dir: dir, Fast: true, Log: o.Log})
	if err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := c.Start(ctx); err != nil {
		os.RemoveAll(root)
		return nil, nil, err
	}
	return c, func() {
		_ = c.Stop(30 * time.Second)
		os.RemoveAll(root)
	}, nil
}

// URL returns the URL of a new, empty database on a cluster shared by the
// whole test binary. Call Main from TestMain to stop that cluster.
func URL(t testing.TB) string {
	t.Helper()
	sharedMu.Lock()
	if shared == nil {
		c, cleanup, err := startCluster(Options{})
		if err != nil {
			sharedMu.Unlock()
			t.Fatalf("storetest: %v", err)
		}
		shared, sharedCleanup = c, cleanup
	}
	c := shared
	sharedMu.Unlock()

	name := fmt.Sprintf("test_%d_%d", os.Getpid(), dbSeq.Add(1))
	conn, err := pgx.Connect(t.Context(), c.URL())
	if err != nil {
		t.Fatalf("storetest: %v", err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), "CREATE DATABASE "+name); err != nil {
		t.Fatalf("storetest: create database: %v", err)
	}
	return c.DatabaseURL(name)
}

// Main runs the tests, stops the shared cluster, removes the template and,
// when the tests passed, fails the run if goroutines leaked. Use it as
// TestMain's body: os.Exit(storetest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	sharedMu.Lock()
	if sharedCleanup != nil {
		sharedCleanup()
	}
	sharedMu.Unlock()
	if templateDir != "" {
		os.RemoveAll(filepath.Dir(templateDir))
	}
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goleak:", err)
			code = 1
		}
	}
	return code
}
