package auth

import (
	"context"
	"encoding/json"
	"sync"
	"time"
)

// Tally keeps the failed-login counts, each a small record under a key.
// Alone, they are this process's memory; in a cluster every node shares
// one (telemetry/cluster.Tally, a replicated NATS key-value bucket), so a
// name guessed at through every node is locked out as soon as through one,
// and a restarted node still remembers.
//
// Get returns nil for a key that holds nothing. Update replaces a key's
// record by fn's result, atomically: fn sees the record stored at the
// moment of the write (nil for none), and may be called again when
// another writer came first.
type Tally interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Update(ctx context.Context, key string, fn func(old []byte) []byte) error
	Delete(ctx context.Context, key string) error
}

// FailureWindow is how long a failed login is counted: a shared Tally may
// forget a record this long after its last write.
const FailureWindow = failureWindow

// failures is the record a Tally keeps for a name from an address, or for
// an address.
type failures struct {
	N     int       `json:"n"`
	First time.Time `json:"first"`
	Until time.Time `json:"until,omitzero"`
}

func decodeFailures(b []byte) (f failures, ok bool) {
	if b == nil || json.Unmarshal(b, &f) != nil {
		return failures{}, false
	}
	return f, true
}

func (f failures) encode() []byte {
	b, _ := json.Marshal(f)
	return b
}

// Tally keys: a name from an address, and an address.
func nameKey(lname, addr string) string { return "name\x00" + lname + "\x00" + addr }
func addrKey(addr string) string        { return "addr\x00" + addr }

// memTally is a Tally in this process's memory, bounded: when it is full
// the records of a flood of made-up names are forgotten.
type memTally struct {
	mu  sync.Mutex
	m   map[string][]byte
	max int
}

func newMemTally(max int) *memTally { return &memTally{m: map[string][]byte{}, max: max} }

func (t *memTally) Get(_ context.Context, key string) ([]byte, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.m[key], nil
}

func (t *memTally) Update(_ context.Context, key string, fn func(old []byte) []byte) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if _, ok := t.m[key]; !ok && len(t.m) >= t.max {
		clear(t.m) // a flood of made-up names must not grow this forever
	}
	t.m[key] = fn(t.m[key])
	return nil
}

func (t *memTally) Delete(_ context.Context, key string) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	delete(t.m, key)
	return nil
}

// lockedOut reports a lock-out in force at now: the address's first, then
// the name's from that address.
func (a *Authenticator) lockedOut(ctx context.Context, lname, addr string, now time.Time) (reason string, err error) {
	if f, ok := decodeFailures(a.tallyGet(ctx, addrKey(addr))); ok && now.Before(f.Until) {
		return "address slowed down", errLocked{f.Until.Sub(now), "this address"}
	}
	if f, ok := decodeFailures(a.tallyGet(ctx, nameKey(lname, addr))); ok && now.Before(f.Until) {
		return "name locked out from this address", errLocked{f.Until.Sub(now), "this name from this address"}
	}
	return "", nil
}

// countFailure counts a wrong password: MaxFailures for a name from an
// address within failureWindow lock it out for lockout; maxAddrFailures
// for an address slow each of its further tries down, doubling.
func (a *Authenticator) countFailure(ctx context.Context, lname, addr string, now time.Time) {
	a.tallyUpdate(ctx, nameKey(lname, addr), func(old []byte) []byte {
		f, ok := decodeFailures(old)
		if !ok || now.Sub(f.First) > failureWindow {
			f = failures{First: now}
		}
		if f.N++; f.N >= MaxFailures {
			f.Until, f.N, f.First = now.Add(lockout), 0, now
		}
		return f.encode()
	})
	a.tallyUpdate(ctx, addrKey(addr), func(old []byte) []byte {
		f, ok := decodeFailures(old)
		if !ok || now.Sub(f.First) > failureWindow {
			f = failures{First: now}
		}
		if f.N++; f.N >= maxAddrFailures {
			f.Until = now.Add(min(2*time.Second<<min(f.N-maxAddrFailures, 16), maxAddrDelay))
		}
		return f.encode()
	})
}

// The shared tally's operations, falling back on this process's memory
// (with a warning a minute at most) while it does not answer: a node cut
// off from the others still locks out what it sees itself.
func (a *Authenticator) tallyGet(ctx context.Context, key string) []byte {
	if a.shared != nil {
		b, err := a.shared.Get(ctx, key)
		if err == nil {
			return b
		}
		a.tallyFailed(err)
	}
	b, _ := a.local.Get(ctx, key)
	return b
}

func (a *Authenticator) tallyUpdate(ctx context.Context, key string, fn func([]byte) []byte) {
	if a.shared != nil {
		err := a.shared.Update(ctx, key, fn)
		if err == nil {
			return
		}
		a.tallyFailed(err)
	}
	a.local.Update(ctx, key, fn)
}

func (a *Authenticator) tallyDelete(ctx context.Context, key string) {
	if a.shared != nil {
		if err := a.shared.Delete(ctx, key); err != nil {
			a.tallyFailed(err)
		}
	}
	a.local.Delete(ctx, key)
}

func (a *Authenticator) tallyFailed(err error) {
	a.mu.Lock()
	now := time.Now()
	warn := now.Sub(a.tallyWarned) >= time.Minute
	if warn {
		a.tallyWarned = now
	}
	a.mu.Unlock()
	if warn {
		a.log.Warn("the shared failed-login counts did not answer; counting on this node alone meanwhile", "err", err)
	}
}
