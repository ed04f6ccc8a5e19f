package telemetry

import (
	"context"
	"errors"
	"sync"
	"time"
)

// Owner decides which process runs each piece of work that must run in
// exactly one place: a camera, a MAVLink link, or a singleton such as the
// alert engine. One process alone owns everything (Solo); in a cluster
// (telemetry/cluster) the nodes share the work and move it when one of
// them leaves.
//
// Keys name the work as "<kind>.<id>": "camera.gate-3", "link.field",
// "singleton.alerts".
type Owner interface {
	// Acquire blocks until this process owns key or ctx ends (then it
	// returns ctx's error). The lease's context ends when the ownership
	// does: the work must then stop, and call Lease.Done once it has.
	Acquire(ctx context.Context, key string) (*Lease, error)
	// OwnerOf names the process that owns key now ("" when none does, or
	// it is unknown).
	OwnerOf(key string) string
}

// Lease is the ownership of one piece of work.
type Lease struct {
	// Context ends when the ownership does.
	Context context.Context
	// Fence grows with every change of owner of the key: a fencing token
	// to stamp on what the owner writes (0 for Solo).
	Fence uint64

	once sync.Once
	done func()
}

// NewLease is a lease whose context is ctx; done runs once, at the first
// Done.
func NewLease(ctx context.Context, fence uint64, done func()) *Lease {
	return &Lease{Context: ctx, Fence: fence, done: done}
}

// Done tells the owner that the work has stopped, so that the key may
// pass to another process. Later calls do nothing.
func (l *Lease) Done() {
	l.once.Do(func() {
		if l.done != nil {
			l.done()
		}
	})
}

// Solo is the Owner of a process that runs alone: it owns every key at
// once and for as long as it asks.
type Solo struct {
	// Name is what OwnerOf reports.
	Name string
}

// Acquire returns a lease on ctx at once.
func (s Solo) Acquire(ctx context.Context, key string) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return NewLease(ctx, 0, nil), nil
}

// OwnerOf is always this process.
func (s Solo) OwnerOf(string) string { return s.Name }

// RunOwned runs work whenever this process owns key, until ctx ends: work
// gets the lease and must return when its context ends. Work that returns
// while it still owns key is reported to onErr (nil: not reported) and
// started again after a second.
func RunOwned(ctx context.Context, o Owner, key string, work func(*Lease) error, onErr func(error)) {
	for {
		l, err := o.Acquire(ctx, key)
		if err != nil {
			return
		}
		for {
			err := work(l)
			if l.Context.Err() != nil {
				break
			}
			if onErr != nil {
				if err == nil {
					err = errors.New("returned before it was told to stop")
				}
				onErr(err)
			}
			select {
			case <-l.Context.Done():
			case <-time.After(time.Second):
				continue
			}
			break
		}
		l.Done()
	}
}
