// Package embedded runs smarteye's own PostgreSQL cluster from the system's
// server binaries, so that a user without a database still gets one.
//
// It owns one cluster directory: initdb on first start, the postmaster as a
// child process listening on a Unix socket (TCP only when asked), readiness,
// a clean stop, and recovery from what a crash leaves behind (a stale
// postmaster.pid, an orphaned postmaster of an earlier run). It knows nothing
// of smarteye's schema: the store applies migrations on the URL it reports.
//
// PostgreSQL refuses to run as root. When smarteye runs as root, initdb and
// the server run as an unprivileged account (Config.RunAs, Debian's package
// creates "postgres") that owns the cluster directory.
package embedded

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// InstallHint is the command that installs what the embedded cluster needs on
// Debian 12.
const InstallHint = "apt-get install postgresql-15 postgresql-15-postgis-3 (or run deploy/install-deps.sh)"

// maxSocketPath is the longest Unix socket path the kernel accepts (sun_path
// is 108 bytes including the terminating NUL).
const maxSocketPath = 107

// Config configures a Cluster.
type Config struct {
	// Dir is the cluster directory (PGDATA). initdb creates it on first start.
	Dir string
	// BinDir holds initdb and postgres. Empty: the newest
	// /usr/lib/postgresql/*/bin, then $PATH.
	BinDir string
	// RunAs is the account initdb and the server run as when this process is
	// root. It defaults to "postgres".
	RunAs string
	// Listen is a TCP host:port to listen on as well as the Unix socket.
	// Empty: Unix socket only.
	Listen string
	// Database is created on first start. It defaults to "smarteye".
	Database string
	// User is the superuser initdb creates. It defaults to "smarteye".
	User string
	// StartTimeout bounds start-up, crash recovery included. It defaults to 60 seconds.
	StartTimeout time.Duration
	// Fast trades durability against power loss for speed (initdb
	// --no-sync, fsync=off): for throwaway test clusters only. A killed
	// server still keeps every commit.
	Fast bool
	// FallbackDir is where the cluster goes when this process is root and
	// the server account cannot reach Dir (a data directory under /root,
	// say): FallbackDir/pg-<hash of Dir>, with a warning in the log. Empty:
	// that case is an error naming the fix.
	FallbackDir string
	// Settings are extra server settings passed as -c name=value.
	Settings map[string]string
	// Log receives lifecycle messages. It defaults to slog.Default().
	Log *slog.Logger
}

// Binaries are the PostgreSQL server programs a Cluster runs.
type Binaries struct {
	Dir     string
	Version int // major version, e.g. 15
}

// FindBinaries locates initdb, postgres and pg_ctl: in dir when it is not
// empty, otherwise in the newest /usr/lib/postgresql/*/bin (Debian's layout,
// not on $PATH), then on $PATH. The error names the install command.
func FindBinaries(dir string) (Binaries, error) {
	var candidates []string
	if dir != "" {
		candidates = []string{dir}
	} else {
		found, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
		sort.Slice(found, func(i, j int) bool { return majorOf(found[i]) > majorOf(found[j]) })
		candidates = found
		if p, err := exec.LookPath("postgres"); err == nil {
			if r, err := filepath.EvalSymlinks(p); err == nil {
				candidates = append(candidates, filepath.Dir(r))
			}
		}
	}
	for _, c := range candidates {
		if !isExecutable(filepath.Join(c, "initdb")) || !isExecutable(filepath.Join(c, "postgres")) {
			continue
		}
		out, err := exec.Command(filepath.Join(c, "postgres"), "--version").Output()
		if err != nil {
			continue
		}
		v, err := parseVersion(string(out))
		if err != nil {
			continue
		}
		return Binaries{Dir: c, Version: v}, nil
	}
	where := "in /usr/lib/postgresql/*/bin or $PATH"
	if dir != "" {
		where = "in " + dir
	}
	return Binaries{}, fmt.Errorf("PostgreSQL server binaries (initdb, postgres) not found %s; install them with: %s", where, InstallHint)
}

func majorOf(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

func isExecutable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// parseVersion reads the major version from "postgres (PostgreSQL) 15.18 (Debian ...)".
func parseVersion(s string) (int, error) {
	f := strings.Fields(s)
	if len(f) < 3 {
		return 0, fmt.Errorf("unexpected version string %q", s)
	}
	major, _, _ := strings.Cut(f[2], ".")
	v, err := strconv.Atoi(major)
	if err != nil {
		return 0, fmt.Errorf("unexpected version string %q", s)
	}
	return v, nil
}

// Cluster is one embedded PostgreSQL cluster.
type Cluster struct {
	cfg       Config
	bin       Binaries
	log       *slog.Logger
	socketDir string
	port      string              // also names the socket file: .s.PGSQL.<port>
	cred      *syscall.Credential // nil when not root
	runAs     string
	wanted    string // the data directory's own cluster path, when the cluster is in FallbackDir (fallback.go)

	mu   sync.Mutex
	proc *exec.Cmd
	done chan struct{} // closed when proc exits
	lock *os.File      // held from Start to Stop (lock.go)
}

// New checks the configuration and finds the binaries; it starts nothing.
func New(cfg Config) (*Cluster, error) {
	if cfg.Dir == "" {
		return nil, errors.New("embedded postgres: cluster directory is empty")
	}
	dir, err := filepath.Abs(cfg.Dir)
	if err != nil {
		return nil, fmt.Errorf("embedded postgres: %w", err)
	}
	cfg.Dir = dir
	if cfg.RunAs == "" {
		cfg.RunAs = "postgres"
	}
	if cfg.Database == "" {
		cfg.Database = "smarteye"
	}
	if cfg.User == "" {
		cfg.User = "smarteye"
	}
	if cfg.StartTimeout <= 0 {
		cfg.StartTimeout = 60 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Listen != "" {
		if _, _, err := net.SplitHostPort(cfg.Listen); err != nil {
			return nil, fmt.Errorf("embedded postgres: listen address %q: %w", cfg.Listen, err)
		}
	}
	bin, err := FindBinaries(cfg.BinDir)
	if err != nil {
		return nil, err
	}
	c := &Cluster{cfg: cfg, bin: bin, log: cfg.Log.With("component", "store.embedded")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup(cfg.RunAs)
		if err != nil {
			return nil, fmt.Errorf("embedded postgres: PostgreSQL refuses to run as root and account %q does not exist: %w; create it (Debian's postgresql package does) or set database.embedded.run_as", cfg.RunAs, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		c.runAs = cfg.RunAs
	} else if u, err := user.Current(); err == nil {
		c.runAs = u.Username
	}
	c.port = "5432"
	if cfg.Listen != "" {
		_, c.port, _ = net.SplitHostPort(cfg.Listen)
	}
	if c.cred != nil && cfg.FallbackDir != "" {
		if err := checkSearchable(dir, c.cred.Uid, c.cred.Gid, c.runAs); err != nil {
			h := sha256.Sum256([]byte(dir))
			fb := filepath.Join(cfg.FallbackDir, "pg-"+hex.EncodeToString(h[:4]))
			c.log.Warn("the PostgreSQL account cannot reach the data directory; keeping the cluster elsewhere", "wanted", dir, "using", fb, "reason", err)
			if err := os.MkdirAll(cfg.FallbackDir, 0o755); err != nil {
				return nil, fmt.Errorf("embedded postgres: %w", err)
			}
			c.wanted = dir
			c.cfg.Dir, dir = fb, fb
		}
	}
	c.socketDir = socketDir(dir)
	return c, nil
}

// socketDir keeps the socket beside the cluster when the path is short enough,
// otherwise in a short per-cluster directory under the system temp dir.
func socketDir(clusterDir string) string {
	if len(filepath.Join(clusterDir, ".s.PGSQL.65535.lock")) <= maxSocketPath {
		return clusterDir
	}
	h := sha256.Sum256([]byte(clusterDir))
	return filepath.Join(os.TempDir(), "smarteye-pg-"+hex.EncodeToString(h[:4]))
}

// Version is the PostgreSQL major version of the binaries.
func (c *Cluster) Version() int { return c.bin.Version }

// BinDir is the directory of the server binaries.
func (c *Cluster) BinDir() string { return c.bin.Dir }

// Dir is the cluster directory.
func (c *Cluster) Dir() string { return c.cfg.Dir }

// SocketDir is the directory of the server's Unix socket.
func (c *Cluster) SocketDir() string { return c.socketDir }

// URL is the connection URL of the cluster's database over the Unix socket.
func (c *Cluster) URL() string { return c.DatabaseURL(c.cfg.Database) }

// DatabaseURL is the connection URL of another database of the cluster.
func (c *Cluster) DatabaseURL(db string) string {
	q := url.Values{"host": {c.socketDir}, "port": {c.port}, "sslmode": {"disable"}}
	return "postgres://" + url.PathEscape(c.cfg.User) + "@/" + url.PathEscape(db) + "?" + q.Encode()
}

// TimescaleDB reports whether the TimescaleDB library is installed for these
// binaries; the server then preloads it.
func (c *Cluster) TimescaleDB() bool {
	m, _ := filepath.Glob(filepath.Join(filepath.Dir(c.bin.Dir), "lib", "timescaledb*.so"))
	return len(m) > 0
}

// Start initialises the cluster if needed, starts the server and waits until
// it accepts connections and the database exists. An orphaned server of an
// earlier run is stopped first; a stale postmaster.pid is removed. When
// another live process owns the cluster, Start returns an *InUseError and
// touches nothing.
func (c *Cluster) Start(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc != nil {
		select {
		case <-c.done: // stopped behind our back (pg_ctl, a crash): start again
			c.proc, c.done = nil, nil
		default:
			return errors.New("embedded postgres: already started")
		}
	}
	if c.cred != nil && c.cfg.FallbackDir != "" && c.lock == nil {
		c.sweepFallback(c.cfg.FallbackDir)
	}
	if c.wanted != "" && c.lock == nil {
		if err := c.adoptFallback(c.wanted, c.cfg.Dir); err != nil {
			return err
		}
	}
	if err := c.prepareDirs(); err != nil {
		return err
	}
	if err := c.acquire(); err != nil {
		return err
	}
	err := c.initdb(ctx)
	if err == nil {
		err = c.clearStale(ctx)
	}
	if err == nil {
		err = c.startLocked(ctx)
	}
	if err != nil && c.proc == nil {
		c.release()
	}
	return err
}

func (c *Cluster) prepareDirs() error {
	parent := filepath.Dir(c.cfg.Dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	for _, d := range uniq(c.cfg.Dir, c.socketDir) {
		st, err := os.Stat(d)
		switch {
		case errors.Is(err, os.ErrNotExist):
			if err := os.Mkdir(d, 0o700); err != nil {
				return fmt.Errorf("embedded postgres: %w", err)
			}
			if c.cred != nil {
				if err := os.Chown(d, int(c.cred.Uid), int(c.cred.Gid)); err != nil {
					return fmt.Errorf("embedded postgres: %w", err)
				}
			}
		case err != nil:
			return fmt.Errorf("embedded postgres: %w", err)
		case !st.IsDir():
			return fmt.Errorf("embedded postgres: %s is not a directory", d)
		default:
			owner := st.Sys().(*syscall.Stat_t).Uid
			want := uint32(os.Geteuid())
			if c.cred != nil {
				want = c.cred.Uid
			}
			if owner != want {
				return fmt.Errorf("embedded postgres: %s is owned by uid %d but PostgreSQL runs as %s (uid %d); fix with: chown -R %s %s, or choose another --data-dir",
					d, owner, c.runAs, want, c.runAs, d)
			}
		}
	}
	if c.cred != nil {
		return checkSearchable(c.cfg.Dir, c.cred.Uid, c.cred.Gid, c.runAs)
	}
	return nil
}

func uniq(a, b string) []string {
	if a == b {
		return []string{a}
	}
	return []string{a, b}
}

// checkSearchable makes sure that the server account can reach dir: every
// ancestor must be searchable by it. /root, for one, is not.
func checkSearchable(dir string, uid, gid uint32, name string) error {
	for p := filepath.Dir(dir); ; p = filepath.Dir(p) {
		st, err := os.Stat(p)
		if err != nil {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		sys := st.Sys().(*syscall.Stat_t)
		mode := st.Mode().Perm()
		ok := false
		switch {
		case sys.Uid == uid:
			ok = mode&0o100 != 0
		case sys.Gid == gid:
			ok = mode&0o010 != 0
		default:
			ok = mode&0o001 != 0
		}
		if !ok {
			return fmt.Errorf("embedded postgres: PostgreSQL runs as %s, which cannot reach %s: directory %s is not searchable by it (mode %04o); choose a --data-dir elsewhere (e.g. /var/lib/smarteye) or run: chmod o+x %s",
				name, dir, p, mode, p)
		}
		if p == "/" || p == filepath.Dir(p) {
			return nil
		}
	}
}

func (c *Cluster) initdb(ctx context.Context) error {
	pgv, err := os.ReadFile(filepath.Join(c.cfg.Dir, "PG_VERSION"))
	if err == nil {
		v, _ := strconv.Atoi(strings.TrimSpace(string(pgv)))
		if v != c.bin.Version {
			return fmt.Errorf("embedded postgres: cluster %s was made by PostgreSQL %d but the binaries in %s are %d; use matching binaries (database.embedded.bin_dir) or pg_upgrade", c.cfg.Dir, v, c.bin.Dir, c.bin.Version)
		}
		return nil
	}
	entries, err := os.ReadDir(c.cfg.Dir)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	for _, e := range entries {
		// The socket may live in the cluster directory; anything else means
		// this is somebody else's directory.
		if !strings.HasPrefix(e.Name(), ".s.PGSQL.") {
			return fmt.Errorf("embedded postgres: %s is not empty and is not a PostgreSQL cluster; move its contents away or choose another --data-dir", c.cfg.Dir)
		}
	}
	start := time.Now()
	args := []string{"-D", c.cfg.Dir, "-U", c.cfg.User, "--auth=trust", "-E", "UTF8", "--locale=C"}
	if c.cfg.Fast {
		args = append(args, "--no-sync")
	}
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin.Dir, "initdb"), args...)
	c.prepare(cmd)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("embedded postgres: initdb %s: %w: %s", c.cfg.Dir, err, lastLines(out, 10))
	}
	c.log.Info("initialised PostgreSQL cluster", "dir", c.cfg.Dir, "version", c.bin.Version, "took", time.Since(start).Round(time.Millisecond))
	return nil
}

// prepare makes cmd run as the server account in its own process group, so
// that a Ctrl-C aimed at smarteye does not stop the server before smarteye
// has flushed what it holds.
func (c *Cluster) prepare(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: c.cred}
	cmd.Dir = c.cfg.Dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
}

// clearStale deals with a postmaster.pid left behind by a crash: when the
// process it names is a server still running on this cluster (smarteye was
// killed, its server was not), that server is stopped; otherwise the file is
// removed.
func (c *Cluster) clearStale(ctx context.Context) error {
	pidFile := filepath.Join(c.cfg.Dir, "postmaster.pid")
	b, err := os.ReadFile(pidFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	first, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(first))
	if err != nil || pid <= 0 {
		c.log.Warn("removing unreadable postmaster.pid", "file", pidFile)
		return os.Remove(pidFile)
	}
	if !c.isOurPostmaster(pid) {
		c.log.Warn("removing stale postmaster.pid left by a crash", "pid", pid)
		if err := os.Remove(pidFile); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded postgres: %w", err)
		}
		return nil
	}
	c.log.Warn("a PostgreSQL server of an earlier run is still running on this cluster; stopping it", "pid", pid)
	p, _ := os.FindProcess(pid)
	_ = p.Signal(syscall.SIGINT) // fast shutdown
	if waitGone(ctx, pid, 30*time.Second) {
		return nil
	}
	_ = p.Signal(syscall.SIGQUIT) // immediate shutdown
	if waitGone(ctx, pid, 10*time.Second) {
		return nil
	}
	return fmt.Errorf("embedded postgres: an earlier server (pid %d) on %s does not stop", pid, c.cfg.Dir)
}

// isOurPostmaster reports whether pid is a live postgres whose working
// directory is this cluster (the server chdirs into its data directory).
func (c *Cluster) isOurPostmaster(pid int) bool {
	if err := syscall.Kill(pid, 0); err != nil && !errors.Is(err, syscall.EPERM) {
		return false
	}
	exe, err := os.Readlink(fmt.Sprintf("/proc/%d/exe", pid))
	if err != nil || !strings.HasPrefix(filepath.Base(exe), "postgres") {
		return false
	}
	cwd, err := os.Readlink(fmt.Sprintf("/proc/%d/cwd", pid))
	return err == nil && cwd == c.cfg.Dir
}

func waitGone(ctx context.Context, pid int, d time.Duration) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
			return true
		}
		select {
		case <-ctx.Done():
			return false
		case <-time.After(20 * time.Millisecond):
		}
	}
	return false
}

func (c *Cluster) logFile() string { return c.cfg.Dir + ".log" }

func (c *Cluster) startLocked(ctx context.Context) error {
	args := []string{"-D", c.cfg.Dir, "-k", c.socketDir, "-p", c.port,
		"-c", "listen_addresses=" + listenHost(c.cfg.Listen),
		"-c", "unix_socket_permissions=0700"}
	if c.cfg.Fast {
		// Not synchronous_commit=off: a killed server would then lose
		// commits still in its WAL buffers, which crash tests must not see.
		args = append(args, "-c", "fsync=off", "-c", "full_page_writes=off")
	}
	if c.TimescaleDB() {
		args = append(args, "-c", "shared_preload_libraries=timescaledb", "-c", "timescaledb.telemetry_level=off")
	}
	keys := make([]string, 0, len(c.cfg.Settings))
	for k := range c.cfg.Settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		args = append(args, "-c", k+"="+c.cfg.Settings[k])
	}
	logf, err := openLog(c.logFile())
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	cmd := exec.Command(filepath.Join(c.bin.Dir, "postgres"), args...)
	c.prepare(cmd)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("embedded postgres: start: %w", err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		logf.Close()
		close(done)
	}()
	c.proc, c.done = cmd, done

	ctx, cancel := context.WithTimeout(ctx, c.cfg.StartTimeout)
	defer cancel()
	if err := c.waitReady(ctx, done); err != nil {
		c.stopLocked(5 * time.Second)
		return fmt.Errorf("embedded postgres: %w; server log %s ends with: %s", err, c.logFile(), tail(c.logFile(), 8))
	}
	if err := c.createDatabase(ctx); err != nil {
		c.stopLocked(5 * time.Second)
		return err
	}
	c.log.Info("PostgreSQL started", "pid", cmd.Process.Pid, "version", c.bin.Version, "socket_dir", c.socketDir, "tcp", c.cfg.Listen, "timescaledb_library", c.TimescaleDB())
	return nil
}

func listenHost(addr string) string {
	if addr == "" {
		return ""
	}
	h, _, _ := net.SplitHostPort(addr)
	return h
}

// openLog appends to the server log, keeping one previous generation when it
// has grown past 16 MiB.
func openLog(p string) (*os.File, error) {
	if st, err := os.Stat(p); err == nil && st.Size() > 16<<20 {
		_ = os.Rename(p, p+".1")
	}
	return os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o640)
}

func (c *Cluster) waitReady(ctx context.Context, done <-chan struct{}) error {
	for {
		cctx, cancel := context.WithTimeout(ctx, time.Second)
		conn, err := pgconn.Connect(cctx, c.DatabaseURL("postgres"))
		cancel()
		if err == nil {
			return conn.Close(ctx)
		}
		select {
		case <-done:
			return errors.New("server exited during start-up")
		case <-ctx.Done():
			return fmt.Errorf("server not ready: %w (last: %v)", ctx.Err(), err)
		case <-time.After(25 * time.Millisecond):
		}
	}
}

func (c *Cluster) createDatabase(ctx context.Context) error {
	conn, err := pgconn.Connect(ctx, c.DatabaseURL("postgres"))
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	res := conn.ExecParams(ctx, "SELECT 1 FROM pg_database WHERE datname = $1", [][]byte{[]byte(c.cfg.Database)}, nil, nil, nil).Read()
	if res.Err != nil {
		return fmt.Errorf("embedded postgres: %w", res.Err)
	}
	if len(res.Rows) > 0 {
		return nil
	}
	q := "CREATE DATABASE " + quoteIdent(c.cfg.Database)
	if _, err := conn.Exec(ctx, q).ReadAll(); err != nil {
		return fmt.Errorf("embedded postgres: %s: %w", q, err)
	}
	return nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// Done is closed when the running server exits, for whatever reason. It is
// nil before Start.
func (c *Cluster) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.done
}

// Pid is the postmaster's process id, 0 when not running.
func (c *Cluster) Pid() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.proc == nil {
		return 0
	}
	return c.proc.Process.Pid
}

// Run supervises a started server until ctx ends, then stops it. A server
// that exits by itself (killed, crashed) is started again with a capped
// backoff; PostgreSQL's crash recovery then replays its WAL.
func (c *Cluster) Run(ctx context.Context) error {
	backoff := time.Second
	for {
		done := c.Done()
		if done == nil {
			return errors.New("embedded postgres: Run before Start")
		}
		select {
		case <-ctx.Done():
			return c.Stop(30 * time.Second)
		case <-done:
		}
		c.mu.Lock()
		c.proc, c.done = nil, nil
		c.mu.Unlock()
		c.log.Error("PostgreSQL exited unexpectedly; restarting", "log", c.logFile(), "last_lines", tail(c.logFile(), 3))
		for {
			err := c.Start(ctx)
			if err == nil {
				backoff = time.Second
				break
			}
			if ctx.Err() != nil {
				return nil
			}
			c.log.Warn("PostgreSQL restart failed", "err", err, "retry_in", backoff)
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, 30*time.Second)
		}
	}
}

// Stop shuts the server down: a fast shutdown (sessions are ended,
// everything committed is on disk), then immediate after timeout.
func (c *Cluster) Stop(timeout time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	defer c.release()
	return c.stopLocked(timeout)
}

func (c *Cluster) stopLocked(timeout time.Duration) error {
	if c.proc == nil {
		return nil
	}
	p, done := c.proc, c.done
	c.proc, c.done = nil, nil
	_ = p.Process.Signal(syscall.SIGINT)
	select {
	case <-done:
		c.log.Info("PostgreSQL stopped")
		return nil
	case <-time.After(timeout):
	}
	c.log.Warn("PostgreSQL fast shutdown timed out; immediate shutdown", "timeout", timeout)
	_ = p.Process.Signal(syscall.SIGQUIT)
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
	}
	_ = p.Process.Kill()
	<-done
	return errors.New("embedded postgres: server had to be killed")
}

// PgCtl runs pg_ctl with args against this cluster as the server account
// (for tests and operators: "stop -m immediate").
func (c *Cluster) PgCtl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin.Dir, "pg_ctl"), append([]string{"-D", c.cfg.Dir}, args...)...)
	c.prepare(cmd)
	return cmd.CombinedOutput()
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

// tail returns the last n lines of a file, joined, for error messages.
func tail(p string, n int) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil && st.Size() > 64<<10 {
		_, _ = f.Seek(st.Size()-64<<10, 0)
	}
	var buf bytes.Buffer
	s := bufio.NewScanner(f)
	for s.Scan() {
		buf.Write(s.Bytes())
		buf.WriteByte('\n')
	}
	return lastLines(buf.Bytes(), n)
}
