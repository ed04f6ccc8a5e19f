package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/vision/models"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "smarteye-bin-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "smarteye")
	// Every smarteye the tests start has the admin password testPassword;
	// start logs in, and the default client carries the session cookie.
	http.DefaultClient.Jar, _ = cookiejar.New(nil)
	if out, err := exec.Command("go", "build", "-race", "-o", binary, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := storetest.Main(m)
	os.RemoveAll(dir)
	os.Exit(code)
}

type proc struct {
	cmd *exec.Cmd
	url string
	log *syncWriter
}

var urlLine = regexp.MustCompile(`dashboard at (https?://\S+)`)

// start runs smarteye with args and waits for the dashboard URL it prints.
func start(t *testing.T, args ...string) *proc {
	t.Helper()
	return startEnv(t, nil, args...)
}

// startEnv is start with extra environment variables (later ones win).
func startEnv(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startProgram(t, binary, env, args...)
}

// startProgram is startEnv running program (smarteye, or a wrapper that
// runs it, e.g. inside a network namespace).
func startProgram(t *testing.T, program string, env []string, args ...string) *proc {
	t.Helper()
	if args[0] == "serve" || args[0] == "demo" {
		// Tests run side by side: MAVLink on a port the OS picks, not :14550.
		args = append(args, "--mavlink", "127.0.0.1:0")
	}
	if args[0] == "demo" {
		args = append(args, "--rtsp", "127.0.0.1:0")
	}
	cmd := exec.Command(program, args...)
	// The trained detector `make deps` installed, as `make demo` uses it.
	cmd.Env = append(os.Environ(), config.AdminPasswordEnv+"="+testPassword, "SMARTEYE_VIDEO_WEBRTC_ADDRESS=127.0.0.1:0",
		"SMARTEYE_VIDEO_MODELS="+models.DevDir())
	cmd.Env = append(cmd.Env, env...)
	stdout, _ := cmd.StdoutPipe()
	log := &syncWriter{}
	cmd.Stderr = log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	found := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if m := urlLine.FindStringSubmatch(s.Text()); m != nil {
				found <- m[1]
			}
		}
		close(found)
	}()
	select {
	case u, ok := <-found:
		if !ok {
			t.Fatalf("smarteye exited before printing its URL:\n%s", log.String())
		}
		p := &proc{cmd: cmd, url: u, log: log}
		if strings.HasPrefix(u, "http://") { // an HTTPS test logs in with its own client
			logIn(t, p.url)
		}
		return p
	case <-time.After(60 * time.Second):
		t.Fatalf("no dashboard URL within 60s:\n%s", log.String())
	}
	return nil
}

const testPassword = "test-admin-password"

// logIn logs the default client in as admin.
func logIn(t *testing.T, base string) {
	t.Helper()
	resp, err := http.Post(base+"api/v1/auth/login", "application/json", strings.NewReader(`{"username":"admin","password":"`+testPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login: %d", resp.StatusCode)
	}
}

type syncWriter struct {
	mu sync.Mutex
	b  strings.Builder
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if v != nil {
		if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return resp.StatusCode
}

type status struct {
	Version string
	Store   struct {
		Mode     string
		Ready    bool
		Database string
	}
}

func waitReady(t *testing.T, p *proc) status {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var st status
		resp, err := http.Get(p.url + "api/v1/status")
		if err != nil {
			// The process printed its address, so it listens: it is gone.
			t.Fatalf("smarteye unreachable: %v\n%s", err, p.log.String())
		}
		if resp.StatusCode == 200 && json.NewDecoder(resp.Body).Decode(&st) == nil && st.Store.Ready {
			resp.Body.Close()
			return st
		}
		resp.Body.Close()
		if time.Now().After(deadline) {
			t.Fatalf("store not ready in 30s: %+v\n%s", st, p.log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func postmasterPid(t *testing.T, dataDir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dataDir, "pg", "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(first)
	return pid
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

func stopWith(t *testing.T, p *proc, sig os.Signal) {
	t.Helper()
	p.cmd.Process.Signal(sig)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("smarteye exited with %v:\n%s", err, p.log.String())
		}
	case <-time.After(60 * time.Second):
		t.Fatal("smarteye did not stop within 60s")
	}
}

// TestServeEmbeddedLifecycle is what a new user does: start, look at the
// status, Ctrl-C, start again on the same data.
func TestServeEmbeddedLifecycle(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	st := waitReady(t, p)
	if st.Store.Mode != "postgres" || st.Store.Database != "embedded" {
		t.Fatalf("status %+v", st)
	}
	for path, want := range map[string]int{"healthz": 200, "readyz": 200, "metrics": 200, "api/v1/nope": 404, "": 200} {
		resp, err := http.Get(p.url + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != want {
			t.Errorf("GET /%s: %d, want %d", path, resp.StatusCode, want)
		}
		if path == "metrics" && !strings.Contains(string(body), "smarteye_store_rows_written_total") && !strings.Contains(string(body), "smarteye_store_queue_depth") {
			t.Errorf("/metrics lacks the store metrics")
		}
	}
	pid := postmasterPid(t, data)
	stopWith(t, p, os.Interrupt)
	if alive(pid) {
		t.Fatalf("PostgreSQL (pid %d) left running after Ctrl-C", pid)
	}

	// Second run: same cluster, nothing to initialise or migrate.
	p2 := start(t, "serve", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p2)
	stopWith(t, p2, syscall.SIGTERM)
	if s := p2.log.String(); strings.Contains(s, "initialised PostgreSQL cluster") || strings.Contains(s, "applied migration") {
		t.Fatalf("second run initialised or migrated again:\n%s", s)
	}
}

// TestKilledSmarteyeLeavesNoStaleServer: smarteye is SIGKILLed, its
// PostgreSQL lives on; the next start takes over cleanly.
func TestKilledSmarteyeLeavesNoStaleServer(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)
	old := postmasterPid(t, data)
	p.cmd.Process.Kill()
	p.cmd.Wait()

	p2 := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p2)
	if alive(old) {
		t.Fatalf("orphaned PostgreSQL %d still running", old)
	}
	stopWith(t, p2, os.Interrupt)
}

func runCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, binary, args...).CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestMigrateCommand(t *testing.T) {
	data := filepath.Join(storetest.TempDir(t), "var")
	out, code := runCmd(t, "migrate", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "applied 12 migration(s); schema version 12, store mode postgres") {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	out, code = runCmd(t, "migrate", "--data-dir", data)
	if code != 0 || !strings.Contains(out, "applied 0 migration(s); schema version 12") {
		t.Fatalf("second run, exit %d:\n%s", code, out)
	}
}

func TestCommandLineErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yml")
	os.WriteFile(bad, []byte("http:\n  adress: x\n"), 0o600)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"version"}, 0, "smarteye "},
		{[]string{"frobnicate"}, 2, `unknown command "frobnicate"`},
		{[]string{"serve", "-c", bad}, 2, `line 2: unknown key "adress"`},
		{[]string{"serve", "-c", filepath.Join(dir, "missing.yml")}, 2, "no such file"},
		{[]string{"serve", "--http", "nonsense"}, 2, "http.address"},
		{[]string{"demo", "extra"}, 2, `unexpected argument "extra"`},
	} {
		out, code := runCmd(t, tc.args...)
		if code != tc.code || !strings.Contains(out, tc.want) {
			t.Errorf("%v: exit %d, output %q; want exit %d containing %q", tc.args, code, out, tc.code, tc.want)
		}
	}
	// An unreachable external database: smarteye keeps running, not ready.
	t.Setenv("SMARTEYE_DATABASE_URL", "postgres://nobody@127.0.0.1:1/none?connect_timeout=1")
	p := start(t, "serve", "--data-dir", filepath.Join(dir, "var"), "--http", "127.0.0.1:0")
	var st status
	if getJSON(t, p.url+"api/v1/status", &st) != 200 || st.Store.Ready || st.Store.Database != "external" {
		t.Fatalf("status %+v", st)
	}
	if code := getJSON(t, p.url+"readyz", nil); code != 503 {
		t.Fatalf("readyz %d, want 503", code)
	}
	stopWith(t, p, os.Interrupt)
}
