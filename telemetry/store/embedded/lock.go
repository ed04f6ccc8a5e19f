package embedded

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"
	"time"
)

// A cluster's owner holds an exclusive flock on <Dir>.lock for as long as
// it runs the server. A second smarteye on the same data directory finds
// it held: it never takes the owner's server for one an earlier run left
// behind (and stops it), but reports who holds the cluster, and may use it
// as a client (ErrInUse).

// InUseError says that another live process owns the cluster.
type InUseError struct {
	Dir    string
	Holder string // what the owner wrote in the lock file: pid, command, since
}

func (e *InUseError) Error() string {
	h := e.Holder
	if h == "" {
		h = "another process"
	}
	return fmt.Sprintf("embedded postgres: the cluster %s is in use by %s", e.Dir, h)
}

func (c *Cluster) lockFile() string { return c.cfg.Dir + ".lock" }

// acquire takes the cluster's lock (once: it is kept across restarts of
// the server until Stop) and writes this process's description into it.
func (c *Cluster) acquire() error {
	if c.lock != nil {
		return nil
	}
	f, err := os.OpenFile(c.lockFile(), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("embedded postgres: lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		holder := c.holder(f)
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return &InUseError{Dir: c.cfg.Dir, Holder: holder}
		}
		return fmt.Errorf("embedded postgres: lock %s: %w", c.lockFile(), err)
	}
	desc := fmt.Sprintf("pid %d (%s) since %s", os.Getpid(), strings.Join(os.Args, " "), time.Now().Format(time.RFC3339))
	if err := f.Truncate(0); err == nil {
		_, _ = f.WriteAt([]byte(desc+"\n"), 0)
	}
	c.lock = f
	return nil
}

// holder reads the owner's description from the lock file.
func (c *Cluster) holder(f *os.File) string {
	b := make([]byte, 512)
	n, _ := f.ReadAt(b, 0)
	return strings.TrimSpace(string(b[:n]))
}

// release lets the lock go (the file stays: removing it would let two
// processes lock two different files of the same name).
func (c *Cluster) release() {
	if c.lock != nil {
		c.lock.Close()
		c.lock = nil
	}
}

// InUse reports whether another live process owns the cluster, and its
// description; a client (smarteye import beside smarteye serve) then uses
// URL without starting anything.
func (c *Cluster) InUse() (bool, string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.lock != nil {
		return false, ""
	}
	f, err := os.Open(c.lockFile())
	if err != nil {
		return false, ""
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_SH|syscall.LOCK_NB); err != nil {
		return true, c.holder(f)
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false, ""
}
