package embedded

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A cluster kept in the fallback directory (root, and a data directory the
// server account cannot reach) must live and die with its data directory:
//
//   - the data directory records where its cluster is (<Dir>.location, in
//     the data directory itself), and the cluster records whose it is
//     (<fallback cluster>.owner);
//   - a fallback cluster whose data directory has no record of it belongs
//     to a data directory that was deleted (and perhaps made again, empty,
//     at the same path): it is not reused;
//   - each start sweeps the fallback directory: clusters whose data
//     directory is gone, and that no live smarteye holds, are stopped if an
//     orphaned server still runs on them, and removed.

// locationFile is the record, in the data directory, of where its cluster is.
func locationFile(wanted string) string { return wanted + ".location" }

func ownerFile(cluster string) string { return cluster + ".owner" }

// adoptFallback prepares fb as the cluster of wanted (the data directory's
// own cluster path): a cluster at fb that wanted has no record of is
// removed first.
func (c *Cluster) adoptFallback(wanted, fb string) error {
	rec, err := os.ReadFile(locationFile(wanted))
	ours := err == nil && strings.TrimSpace(string(rec)) == fb
	if !ours {
		if _, err := os.Stat(fb); err == nil {
			c.log.Warn("a cluster of a deleted data directory was at this path; removing it", "cluster", fb, "data", wanted)
			if err := c.removeCluster(fb); err != nil {
				return err
			}
		}
	}
	if err := os.MkdirAll(filepath.Dir(wanted), 0o755); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	if err := os.WriteFile(locationFile(wanted), []byte(fb+"\n"), 0o644); err != nil {
		return fmt.Errorf("embedded postgres: recording the cluster's place: %w", err)
	}
	// The owner file also keeps the device of the data directory's
	// parent: a data directory that is missing because its volume is not
	// mounted is not a deleted one (sweepFallback).
	dev := uint64(0)
	var st syscall.Stat_t
	if syscall.Stat(filepath.Dir(wanted), &st) == nil {
		dev = uint64(st.Dev)
	}
	if err := os.WriteFile(ownerFile(fb), []byte(fmt.Sprintf("%s\n%d\n", wanted, dev)), 0o644); err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	return nil
}

// sweepFallback removes the clusters in dir whose data directory is gone
// (or no longer records them) and that no live process holds. It returns
// the clusters removed.
func (c *Cluster) sweepFallback(dir string) []string {
	owners, _ := filepath.Glob(filepath.Join(dir, "pg-*.owner"))
	var removed []string
	for _, of := range owners {
		fb := strings.TrimSuffix(of, ".owner")
		if fb == c.cfg.Dir {
			continue
		}
		b, err := os.ReadFile(of)
		if err != nil {
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		wanted := lines[0]
		if rec, err := os.ReadFile(locationFile(wanted)); err == nil && strings.TrimSpace(string(rec)) == fb {
			continue // its data directory still has it
		}
		if len(lines) > 1 && !sameDevice(wanted, lines[1]) {
			// The data directory's volume is not there (not mounted): its
			// data is not deleted, only out of reach. Keep the cluster.
			c.log.Info("keeping the cluster of a data directory whose volume is not mounted", "cluster", fb, "data", wanted)
			continue
		}
		if err := c.removeCluster(fb); err != nil {
			c.log.Warn("could not remove a cluster of a deleted data directory", "cluster", fb, "err", err)
			continue
		}
		c.log.Info("removed the cluster of a deleted data directory", "cluster", fb, "data", wanted)
		removed = append(removed, fb)
	}
	return removed
}

// removeCluster removes a cluster directory and its files beside it,
// stopping an orphaned server on it first; a cluster a live process holds
// is refused.
func (c *Cluster) removeCluster(dir string) error {
	lock, err := os.OpenFile(dir+".lock", os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("embedded postgres: %w", err)
	}
	defer lock.Close()
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return &InUseError{Dir: dir, Holder: c.holder(lock)}
	}
	other := &Cluster{cfg: c.cfg, bin: c.bin, log: c.log, cred: c.cred, runAs: c.runAs}
	other.cfg.Dir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	if err := other.clearStale(ctx); err != nil {
		return err
	}
	for _, p := range []string{dir, dir + ".log", dir + ".log.1", dir + ".owner", socketDir(dir)} {
		if err := os.RemoveAll(p); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("embedded postgres: %w", err)
		}
	}
	return os.Remove(dir + ".lock")
}

// sameDevice reports whether the nearest existing ancestor of dir is on the
// device recorded (as a decimal number) when its cluster was made: it is
// when dir was deleted, it is not when dir's volume is not mounted (the
// nearest ancestor is then the mount point, on another device).
func sameDevice(dir, recorded string) bool {
	want, err := strconv.ParseUint(strings.TrimSpace(recorded), 10, 64)
	if err != nil || want == 0 {
		return true // nothing recorded: the data directory is gone
	}
	for d := filepath.Dir(dir); ; d = filepath.Dir(d) {
		var st syscall.Stat_t
		if syscall.Stat(d, &st) == nil {
			return uint64(st.Dev) == want
		}
		if d == filepath.Dir(d) {
			return false
		}
	}
}
