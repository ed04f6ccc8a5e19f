package embedded_test

import (
	"context"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry/store/embedded"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func exec1(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	if _, err := conn.Exec(t.Context(), sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, url, sql string) int {
	t.Helper()
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.WithoutCancel(t.Context()))
	var n int
	if err := conn.QueryRow(t.Context(), sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil }

// waitFor waits on a condition, with a deadline scaled for load.
var waitFor = testkit.WaitFor

func TestInitStartStopReuse(t *testing.T) {
	dir := filepath.Join(storetest.TempDir(t), "pg")
	c, err := embedded.New(embedded.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	pid := c.Pid()
	exec1(t, c.URL(), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (42)")
	if err := c.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if alive(pid) {
		t.Fatalf("postmaster %d still alive after Stop", pid)
	}
	if _, err := os.Stat(filepath.Join(dir, "postmaster.pid")); !os.IsNotExist(err) {
		t.Fatalf("postmaster.pid left after a clean stop: %v", err)
	}

	// A second run reuses the cluster and its data.
	c2, err := embedded.New(embedded.Config{Dir: dir, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c2.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c2.Stop(30 * time.Second)
	if n := count(t, c2.URL(), "SELECT v FROM kept"); n != 42 {
		t.Fatalf("got %d, want 42", n)
	}
	if !strings.HasPrefix(c2.URL(), "postgres://smarteye@/smarteye?") {
		t.Fatalf("unexpected URL %s", c2.URL())
	}
}

func TestKilledPostmasterIsRestarted(t *testing.T) {
	c := storetest.NewCluster(t)
	exec1(t, c.URL(), "CREATE TABLE kept (v int); INSERT INTO kept VALUES (7)")
	ctx, cancel := context.WithCancel(t.Context())
	runErr := make(chan error, 1)
	go func() { runErr <- c.Run(ctx) }()

	old := c.Pid()
	if err := syscall.Kill(old, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "a new postmaster", func() bool {
		p := c.Pid()
		return p != 0 && p != old
	})
	if n := count(t, c.URL(), "SELECT v FROM kept"); n != 7 {
		t.Fatalf("after crash recovery got %d, want 7", n)
	}
	cancel()
	if err := <-runErr; err != nil {
		t.Fatal(err)
	}
	if c.Pid() != 0 {
		t.Fatal("server still registered after Run returned")
	}
}

func TestStalePidFileOfAnotherProcess(t *testing.T) {
	c := storetest.NewCluster(t)
	if err := c.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	// A crash left a postmaster.pid naming a pid that now belongs to an
	// unrelated live process (this test binary).
	pidFile := filepath.Join(c.Dir(), "postmaster.pid")
	content := strconv.Itoa(os.Getpid()) + "\n" + c.Dir() + "\n"
	if err := os.WriteFile(pidFile, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		// The server account must be able to replace it.
		st, _ := os.Stat(c.Dir())
		sys := st.Sys().(*syscall.Stat_t)
		os.Chown(pidFile, int(sys.Uid), int(sys.Gid))
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatalf("start over a stale postmaster.pid: %v", err)
	}
	if count(t, c.URL(), "SELECT 1") != 1 {
		t.Fatal("server not usable")
	}
}

func TestOrphanedServerOfEarlierRunIsStopped(t *testing.T) {
	old := storetest.NewCluster(t)
	oldPid := old.Pid()
	// smarteye was killed (its lock went with it); its server was not. A
	// new smarteye starts on the same cluster directory.
	embedded.ReleaseLock(old)
	c, err := embedded.New(embedded.Config{Dir: old.Dir(), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(30 * time.Second)
	select {
	case <-old.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the orphaned server was not stopped")
	}
	if c.Pid() == oldPid || alive(oldPid) {
		t.Fatal("expected a new server process")
	}
	if count(t, c.URL(), "SELECT 1") != 1 {
		t.Fatal("server not usable")
	}
}

// A second smarteye on the data directory of a live one never stops its
// server: Start says who holds the cluster, and the second uses the
// running server as a client. Once the owner stops, the cluster is free.
func TestLiveOwnersServerIsNeverStopped(t *testing.T) {
	owner := storetest.NewCluster(t)
	pid := owner.Pid()
	second, err := embedded.New(embedded.Config{Dir: owner.Dir(), Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	err = second.Start(t.Context())
	var inUse *embedded.InUseError
	if !errors.As(err, &inUse) || !strings.Contains(inUse.Holder, "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second start: %v", err)
	}
	if held, holder := second.InUse(); !held || holder != inUse.Holder {
		t.Fatalf("InUse: %v %q", held, holder)
	}
	select {
	case <-owner.Done():
		t.Fatal("the owner's server was stopped")
	case <-time.After(500 * time.Millisecond):
	}
	if owner.Pid() != pid || count(t, second.URL(), "SELECT 1") != 1 {
		t.Fatal("the running server is not usable as a client")
	}
	if err := owner.Stop(30 * time.Second); err != nil {
		t.Fatal(err)
	}
	if held, _ := second.InUse(); held {
		t.Fatal("still in use after the owner stopped")
	}
	if err := second.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer second.Stop(30 * time.Second)
	if count(t, second.URL(), "SELECT 1") != 1 {
		t.Fatal("server not usable")
	}
}

func TestErrorsAUserCanActOn(t *testing.T) {
	t.Run("missing binaries", func(t *testing.T) {
		_, err := embedded.New(embedded.Config{Dir: t.TempDir() + "/pg", BinDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "apt-get install postgresql-15") {
			t.Fatalf("got %v, want an error naming the install command", err)
		}
	})
	t.Run("not a cluster", func(t *testing.T) {
		dir := filepath.Join(storetest.TempDir(t), "pg")
		os.Mkdir(dir, 0o700)
		os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("mine"), 0o600)
		if os.Geteuid() == 0 {
			u, err := user.Lookup("postgres")
			if err != nil {
				t.Fatal(err)
			}
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			os.Chown(dir, uid, gid)
		}
		c, err := embedded.New(embedded.Config{Dir: dir, Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(t.Context())
		if err == nil || !strings.Contains(err.Error(), "is not a PostgreSQL cluster") {
			t.Fatalf("got %v", err)
		}
	})
	if os.Geteuid() != 0 {
		return // the rest is about running the server as another account
	}
	t.Run("owned by someone else", func(t *testing.T) {
		dir := filepath.Join(storetest.TempDir(t), "pg")
		os.Mkdir(dir, 0o700)
		os.Chown(dir, 65534, 65534)
		c, err := embedded.New(embedded.Config{Dir: dir, Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(t.Context())
		if err == nil || !strings.Contains(err.Error(), "is owned by uid 65534") || !strings.Contains(err.Error(), "chown -R") {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unreachable for the server account", func(t *testing.T) {
		private := t.TempDir() // 0700, owned by root
		c, err := embedded.New(embedded.Config{Dir: filepath.Join(private, "var", "pg"), Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		err = c.Start(t.Context())
		if err == nil || !strings.Contains(err.Error(), "is not searchable") || !strings.Contains(err.Error(), private) {
			t.Fatalf("got %v", err)
		}
	})
	t.Run("unreachable with a fallback", func(t *testing.T) {
		private := t.TempDir()
		fallback := filepath.Join(storetest.TempDir(t), "clusters")
		c, err := embedded.New(embedded.Config{Dir: filepath.Join(private, "var", "pg"), FallbackDir: fallback, Fast: true})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(c.Dir(), fallback+"/pg-") {
			t.Fatalf("cluster dir %s, want one under %s", c.Dir(), fallback)
		}
		if err := c.Start(t.Context()); err != nil {
			t.Fatal(err)
		}
		defer c.Stop(30 * time.Second)
		if count(t, c.URL(), "SELECT 1") != 1 {
			t.Fatal("server not usable")
		}
	})
	// The fallback cluster lives and dies with its data directory: a data
	// directory deleted and made again, empty, at the same path gets a new
	// empty database, not the old one; another start sweeps away the
	// clusters of deleted data directories, an orphaned server on one
	// included.
	t.Run("fallback follows its data directory", func(t *testing.T) {
		fallback := filepath.Join(storetest.TempDir(t), "clusters")
		start := func(data string) *embedded.Cluster {
			c, err := embedded.New(embedded.Config{Dir: filepath.Join(data, "pg"), FallbackDir: fallback, Fast: true})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Start(t.Context()); err != nil {
				t.Fatal(err)
			}
			return c
		}
		root := t.TempDir() // 0700, owned by root: PostgreSQL cannot reach it
		data := filepath.Join(root, "var")
		c := start(data)
		exec1(t, c.URL(), "CREATE TABLE kept (x int)")
		first := c.Dir()
		c.Stop(30 * time.Second)
		// The same data directory again: the same cluster, with its table.
		c = start(data)
		if c.Dir() != first || count(t, c.URL(), "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'") != 1 {
			t.Fatal("the data directory's own cluster was not reused")
		}
		c.Stop(30 * time.Second)
		// Deleted and made again, empty: a new empty database.
		os.RemoveAll(data)
		os.MkdirAll(data, 0o755)
		c = start(data)
		if n := count(t, c.URL(), "SELECT count(*) FROM pg_tables WHERE tablename = 'kept'"); n != 0 {
			t.Fatal("an empty data directory got the old database back")
		}
		// Killed with its server still running, then its data deleted: the
		// next start of any data directory stops that server and removes it.
		embedded.ReleaseLock(c)
		orphan := c.Pid()
		os.RemoveAll(data)
		other := start(filepath.Join(root, "other"))
		defer other.Stop(30 * time.Second)
		select {
		case <-c.Done():
		case <-time.After(30 * time.Second):
			t.Fatal("the orphaned server of a deleted data directory still runs")
		}
		if alive(orphan) {
			t.Fatal("orphan alive")
		}
		if _, err := os.Stat(first); !os.IsNotExist(err) {
			t.Fatalf("the cluster of the deleted data directory is still there: %v", err)
		}
		left, _ := filepath.Glob(filepath.Join(fallback, "pg-*"))
		for _, f := range left {
			if !strings.HasPrefix(f, other.Dir()) {
				t.Errorf("left behind: %s", f)
			}
		}
	})
}

func TestLongDataDirGetsShortSocketDir(t *testing.T) {
	base := storetest.TempDir(t)
	long := filepath.Join(base, strings.Repeat("d", 90), "pg")
	os.MkdirAll(filepath.Dir(long), 0o755)
	c, err := embedded.New(embedded.Config{Dir: long, Fast: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SocketDir())+len("/.s.PGSQL.5432") > 107 {
		t.Fatalf("socket dir too long: %s", c.SocketDir())
	}
	if err := c.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer c.Stop(30 * time.Second)
	if count(t, c.URL(), "SELECT 1") != 1 {
		t.Fatal("server not usable")
	}
}

// A data directory missing because its volume is not mounted is not a
// deleted one: the nearest existing ancestor is on another device than
// the one recorded, and its cluster is kept.
func TestSameDevice(t *testing.T) {
	dir := t.TempDir()
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	here := strconv.FormatUint(uint64(st.Dev), 10)
	gone := filepath.Join(dir, "deleted", "var")
	if !embedded.SameDevice(gone, here) {
		t.Fatal("a deleted directory on the same device is not deleted")
	}
	if embedded.SameDevice(gone, strconv.FormatUint(uint64(st.Dev)+1, 10)) {
		t.Fatal("a directory whose ancestor is on another device (an unmounted volume) counts as deleted")
	}
	if !embedded.SameDevice(gone, "") {
		t.Fatal("no record: deleted")
	}
}
