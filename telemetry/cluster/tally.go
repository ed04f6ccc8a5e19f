package cluster

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// tallyBucket keeps the failed-login counts every node shares.
const tallyBucket = "smarteye-logins"

// maxTallyTries bounds Update's compare-and-set attempts when other nodes
// keep writing the same key.
const maxTallyTries = 16

// Tally is a set of small records every node shares, each changed by
// compare-and-set in a replicated key-value bucket (dashboard/auth's
// failed-login counts: a name guessed at through three nodes is counted
// once, not three times apart). A record is forgotten ttl after its last
// write. Keys are hashed: a record's key may hold any bytes (a user name,
// an address) and is never stored as it was given.
type Tally struct {
	nc       *nats.Conn
	replicas int
	ttl      time.Duration

	mu     sync.Mutex
	kv     jetstream.KeyValue // nil until first opened
	failed time.Time          // the last failed attempt to open it
}

// tallyRetry is how long after a failed attempt to open the bucket (a
// cluster still forming) the tally answers unavailable at once, rather
// than make each login wait for JetStream again.
const tallyRetry = 5 * time.Second

// NewTally keeps records on nc's JetStream with replicas copies for ttl.
// The bucket is made on first use, so a cluster still forming does not
// hold a node's start.
func NewTally(nc *nats.Conn, replicas int, ttl time.Duration) *Tally {
	return &Tally{nc: nc, replicas: max(replicas, 1), ttl: ttl}
}

func (t *Tally) bucket(ctx context.Context) (jetstream.KeyValue, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.kv != nil {
		return t.kv, nil
	}
	if since := time.Since(t.failed); since < tallyRetry {
		return nil, fmt.Errorf("the failed-login bucket is not ready yet (tried %s ago)", since.Round(time.Millisecond))
	}
	js, err := jetstream.New(t.nc)
	if err != nil {
		return nil, err
	}
	// A cluster still electing its JetStream leader may not answer: try
	// again on the next use rather than hang on this one.
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: tallyBucket, History: 1, TTL: t.ttl,
		Replicas: t.replicas, Storage: jetstream.FileStorage, MaxValueSize: 1024,
		Description: "smarteye: failed-login counts, shared by every node"})
	if err != nil {
		t.failed = time.Now()
		return nil, fmt.Errorf("the failed-login bucket: %w", err)
	}
	t.kv = kv
	return kv, nil
}

func tallyKey(key string) string {
	h := sha256.Sum256([]byte(key))
	return "k" + hex.EncodeToString(h[:20])
}

// Get is key's record; nil when it has none.
func (t *Tally) Get(ctx context.Context, key string) ([]byte, error) {
	kv, err := t.bucket(ctx)
	if err != nil {
		return nil, err
	}
	e, err := kv.Get(ctx, tallyKey(key))
	switch {
	case errors.Is(err, jetstream.ErrKeyNotFound):
		return nil, nil
	case err != nil:
		return nil, err
	}
	return e.Value(), nil
}

// Update replaces key's record by fn's result, by compare-and-set: fn
// sees the record as stored, and is called again when another node wrote
// it between the read and the write.
func (t *Tally) Update(ctx context.Context, key string, fn func(old []byte) []byte) error {
	kv, err := t.bucket(ctx)
	if err != nil {
		return err
	}
	k := tallyKey(key)
	for range maxTallyTries {
		e, err := kv.Get(ctx, k)
		switch {
		case errors.Is(err, jetstream.ErrKeyNotFound):
			_, err = kv.Create(ctx, k, fn(nil))
		case err != nil:
			return err
		default:
			_, err = kv.Update(ctx, k, fn(e.Value()), e.Revision())
		}
		if err == nil {
			return nil
		}
		if !conflict(err) {
			return err
		}
	}
	return fmt.Errorf("failed-login count %s: still contended after %d tries", k, maxTallyTries)
}

// conflict reports a compare-and-set that lost to another writer.
func conflict(err error) bool {
	return errors.Is(err, jetstream.ErrKeyExists) || errors.Is(err, jetstream.ErrKeyRevisionMismatch)
}

// Delete forgets key's record.
func (t *Tally) Delete(ctx context.Context, key string) error {
	kv, err := t.bucket(ctx)
	if err != nil {
		return err
	}
	// Purge rather than delete: nothing of the record is kept.
	if err := kv.Purge(ctx, tallyKey(key)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}
