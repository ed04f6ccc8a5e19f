package cluster

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Subjects and buckets.
const (
	heartbeatSubject = "smarteye.cluster.heartbeat"
	drainSubject     = "smarteye.cluster.drain." // + node
	ownersBucket     = "smarteye-owners"
)

// forget is how long a node that went silent still counts towards the
// majority a node must hear (external mode, where the cluster's size is
// not configured).
const forget = time.Minute

// heartbeat is what a node says of itself, Heartbeat times a second.
type heartbeat struct {
	Node string `json:"node"`
	// Inc tells this run of the node from its earlier ones: work a node
	// owned before it restarted is not its own any more.
	Inc        string   `json:"inc"`
	Roles      []string `json:"roles"`
	Weight     float64  `json:"weight"`
	MaxCameras int      `json:"max_cameras,omitempty"`
	// UpMS is how long the node has run: it settles after Settle.
	UpMS     int64 `json:"up_ms"`
	Draining bool  `json:"draining,omitempty"`
	Owns     int   `json:"owns"`
	// SentMS is when it was sent (Unix ms, the sender's clock).
	SentMS int64 `json:"sent_ms,omitempty"`
}

// maxSkew is how far the nodes' clocks may disagree (NTP keeps them
// within milliseconds). A heartbeat that arrives later than that after it
// was sent — it waited in a starved process or a buffered route — counts
// as heard when it was sent, plus maxSkew: a node cut off must not take a
// backlog of old heartbeats for a living cluster.
const maxSkew = 500 * time.Millisecond

type member struct {
	hb        heartbeat
	seen      time.Time // last heartbeat
	firstSeen time.Time // of this incarnation
}

// claim is a key's owner as the bucket says.
type claim struct {
	node, inc string
	rev       uint64
}

// item is a key this node runs work for (its Acquire waits or holds).
type item struct {
	key   string
	want  bool
	grant chan *held
	held  *held
	// orphan is when the key was first seen without a living owner.
	orphan time.Time
	// read is when the key was last read past the watch.
	read time.Time
}

// held is a key this node owns.
type held struct {
	rev       uint64
	since     time.Time
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed by Lease.Done
	releasing bool
	lost      bool
}

// Config configures a Node.
type Config struct {
	Settings Settings // Defaults applied
	// Conn is the node's connection to NATS.
	Conn       *nats.Conn
	Log        *slog.Logger
	Registerer prometheus.Registerer
}

// Node is one smarteye process in the cluster: it says it lives, hears
// the others, and owns work (telemetry.Owner).
type Node struct {
	s     Settings
	nc    *nats.Conn
	log   *slog.Logger
	inc   string
	start time.Time
	m     *metrics

	mu       sync.Mutex
	kv       jetstream.KeyValue
	members  map[string]*member
	claims   map[string]claim
	items    map[string]*item
	draining bool
	quorum   bool
	ready    bool // the bucket's initial values are in
	closed   bool
	kick     chan struct{}
	// rewatch restarts the watch of the owners (a node died or came back:
	// a watch served by the dead node's server can stall for many
	// seconds); seen is who was alive at the last tick, by incarnation.
	rewatch chan struct{}
	seen    map[string]string
}

var _ telemetry.Owner = (*Node)(nil)

// NewNode returns the node; Run makes it take part.
func NewNode(cfg Config) *Node {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	n := &Node{s: cfg.Settings, nc: cfg.Conn, log: cfg.Log.With("component", "cluster", "node", cfg.Settings.Node),
		inc: rand.Text()[:10], start: time.Now(), members: map[string]*member{}, claims: map[string]claim{},
		items: map[string]*item{}, kick: make(chan struct{}, 1), rewatch: make(chan struct{}, 1), seen: map[string]string{}}
	n.m = newMetrics(cfg.Registerer, n)
	return n
}

// Name is the node's name.
func (n *Node) Name() string { return n.s.Node }

// Run takes part in the cluster until ctx ends: heartbeats, the bucket
// of owners, claims and releases. When it returns every lease has ended.
func (n *Node) Run(ctx context.Context) error {
	hbSub, err := n.nc.Subscribe(heartbeatSubject, func(m *nats.Msg) {
		var hb heartbeat
		if err := json.Unmarshal(m.Data, &hb); err != nil || hb.Node == "" {
			n.m.badMessages.Inc()
			return
		}
		n.heard(hb)
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer hbSub.Unsubscribe()
	drainSub, err := n.nc.Subscribe(drainSubject+n.s.Node, func(m *nats.Msg) {
		n.log.Info("asked to hand its work over", "by", m.Header.Get("From"))
		dctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
		defer cancel()
		err := n.Drain(dctx)
		reply := "drained"
		if err != nil {
			reply = "not drained: " + err.Error()
		}
		m.Respond([]byte(reply))
	})
	if err != nil {
		return fmt.Errorf("cluster: %w", err)
	}
	defer drainSub.Unsubscribe()

	var wg sync.WaitGroup
	wctx, stopWatch := context.WithCancel(ctx)
	wg.Go(func() { n.openBucket(wctx) })
	// Heartbeats go out on their own beat, whatever claims are waiting on.
	wg.Go(func() {
		t := time.NewTicker(n.s.Heartbeat.D())
		defer t.Stop()
		for {
			n.beat()
			n.guard()
			select {
			case <-wctx.Done():
				return
			case <-t.C:
			}
		}
	})
	t := time.NewTicker(n.s.Heartbeat.D())
	defer t.Stop()
	for {
		n.tick(ctx)
		select {
		case <-ctx.Done():
			stopWatch()
			wg.Wait()
			n.mu.Lock()
			n.closed = true
			for _, it := range n.items {
				if it.held != nil {
					it.held.lost = true
					it.held.cancel()
				}
			}
			n.mu.Unlock()
			return nil
		case <-t.C:
		case <-n.kick:
		}
	}
}

// openBucket makes (or finds) the owners' bucket, retrying while
// JetStream is not ready (a cluster forming), then follows it.
func (n *Node) openBucket(ctx context.Context) {
	js, err := jetstream.New(n.nc)
	if err != nil {
		n.log.Error("jetstream", "err", err)
		return
	}
	for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		kv, err := js.CreateOrUpdateKeyValue(cctx, jetstream.KeyValueConfig{Bucket: ownersBucket, History: 1,
			Replicas: n.s.Replicas, Storage: jetstream.FileStorage, Description: "smarteye: which node owns each camera, link and singleton"})
		cancel()
		if err == nil {
			n.follow(ctx, kv)
			if ctx.Err() != nil {
				return
			}
			continue // the watch ended: start over
		}
		if ctx.Err() != nil {
			return
		}
		n.log.Debug("owners' bucket not ready", "err", err, "retry_in", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// follow keeps n.claims as the bucket says until the watch ends.
func (n *Node) follow(ctx context.Context, kv jetstream.KeyValue) {
	w, err := kv.WatchAll(ctx)
	if err != nil {
		n.log.Warn("watching the owners", "err", err)
		time.Sleep(time.Second)
		return
	}
	// Stopping asks the server to remove the watch: it must not hold up a
	// node whose server is gone (the request waits for its timeout).
	defer func() { go w.Stop() }()
	n.mu.Lock()
	n.kv = kv // claims wait for the first watch's initial values (ready)
	n.mu.Unlock()
	// The initial values replace what an earlier watch left: a key
	// deleted between the two is not reported as a deletion.
	initial := map[string]bool{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-n.rewatch:
			n.log.Debug("reading the owners again: the cluster changed")
			return
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			if e == nil {
				n.mu.Lock()
				// A key the initial values lack was deleted meanwhile, or
				// the watch started before the bucket had a leader: read
				// it to know which.
				for k := range n.claims {
					if initial != nil && !initial[k] {
						go n.refresh(ctx, kv, k)
					}
				}
				initial = nil
				n.ready = true
				n.mu.Unlock()
				n.poke()
				continue // the initial values are all in
			}
			n.mu.Lock()
			if initial != nil {
				initial[e.Key()] = true
			}
			old, had := n.claims[e.Key()]
			if !had || e.Revision() > old.rev {
				if e.Operation() == jetstream.KeyValuePut {
					node, inc, _ := strings.Cut(string(e.Value()), " ")
					n.claims[e.Key()] = claim{node: node, inc: inc, rev: e.Revision()}
				} else {
					delete(n.claims, e.Key())
				}
			}
			n.mu.Unlock()
			n.poke()
		}
	}
}

func (n *Node) poke() {
	select {
	case n.kick <- struct{}{}:
	default:
	}
}

// beat says this node lives.
func (n *Node) beat() {
	n.mu.Lock()
	owns := 0
	for _, it := range n.items {
		if it.held != nil && !it.held.lost {
			owns++
		}
	}
	hb := heartbeat{Node: n.s.Node, Inc: n.inc, Roles: n.s.Roles, Weight: n.s.Weight, MaxCameras: n.s.MaxCameras,
		UpMS: time.Since(n.start).Milliseconds(), Draining: n.draining, Owns: owns, SentMS: time.Now().UnixMilli()}
	n.mu.Unlock()
	b, _ := json.Marshal(hb)
	if err := n.nc.Publish(heartbeatSubject, b); err == nil {
		n.heard(hb) // a node hears itself without a round trip
	}
}

func (n *Node) heard(hb heartbeat) {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.members[hb.Node]
	if m == nil || m.hb.Inc != hb.Inc {
		if m != nil {
			n.log.Info("node restarted", "peer", hb.Node)
		} else if hb.Node != n.s.Node {
			n.log.Info("node joined", "peer", hb.Node)
		}
		m = &member{firstSeen: now}
		n.members[hb.Node] = m
	}
	seen := now
	if hb.SentMS > 0 {
		if late := time.UnixMilli(hb.SentMS).Add(maxSkew); late.Before(now) {
			seen = late
		}
	}
	m.hb = hb
	if seen.After(m.seen) {
		m.seen = seen
	}
}

// quorumLocked reports whether this node hears a majority of the cluster,
// and how many it hears (n.mu held).
func (n *Node) quorumLocked(now time.Time) (bool, int) {
	alive := 0
	for _, m := range n.members {
		if n.alive(m, now) {
			alive++
		}
	}
	return n.nc.IsConnected() && 2*alive > n.expected(now), alive
}

// noteQuorum logs a change of quorum (n.mu held).
func (n *Node) noteQuorum(quorum bool, alive int, now time.Time) {
	if quorum != n.quorum {
		if quorum {
			n.log.Info("hears a majority of the cluster", "alive", alive, "of", n.expected(now))
		} else {
			n.log.Error("cut off from the cluster: stopping its work", "alive", alive, "of", n.expected(now), "connected", n.nc.IsConnected())
		}
		n.quorum = quorum
	}
	n.m.quorum.Set(b2f(quorum))
	n.m.alive.Set(float64(alive))
}

// guard stops every piece of work at once when this node no longer hears
// a majority, on the heartbeat's own beat: a tick waiting on claims that
// cannot reach the bucket (exactly when cut off) must not keep work
// running meanwhile.
func (n *Node) guard() {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	quorum, alive := n.quorumLocked(now)
	if quorum {
		return
	}
	n.noteQuorum(quorum, alive, now)
	for _, it := range n.items {
		if h := it.held; h != nil && !h.releasing && !h.lost {
			n.lose(it, "cut off")
		}
	}
}

// alive reports whether the member's current incarnation is heard.
func (n *Node) alive(m *member, now time.Time) bool {
	return m != nil && now.Sub(m.seen) <= n.s.DeadAfter.D()
}

// settled reports whether a member has run long enough to be given work.
func (n *Node) settled(m *member) bool {
	return time.Duration(m.hb.UpMS)*time.Millisecond >= n.s.Settle.D()
}

// expected is the number of nodes this one must hear a majority of.
func (n *Node) expected(now time.Time) int {
	known := 0
	for _, m := range n.members {
		if now.Sub(m.seen) <= forget {
			known++
		}
	}
	return max(known, len(n.s.Routes), 1)
}

// tick decides, from what this node hears and what the bucket says,
// which keys to claim, release or give up, and does it.
func (n *Node) tick(ctx context.Context) {
	now := time.Now()
	n.mu.Lock()
	quorum, alive := n.quorumLocked(now)
	// A node gone or back: the watch is read again (see rewatch).
	changed := false
	for name, inc := range n.seen {
		if m := n.members[name]; !n.alive(m, now) || m.hb.Inc != inc {
			changed = true
		}
	}
	clear(n.seen)
	for name, m := range n.members {
		if n.alive(m, now) {
			n.seen[name] = m.hb.Inc
		}
	}
	if changed {
		select {
		case n.rewatch <- struct{}{}:
		default:
		}
	}
	n.noteQuorum(quorum, alive, now)
	desired := n.desired(now)
	type op struct {
		it      *item
		release *held // delete the key once the work has stopped
		refresh bool  // read the key again (the watch may lag)
		create  bool
		rev     uint64
	}
	var ops []op
	self := n.members[n.s.Node]
	for _, it := range n.items {
		c, owned := n.claims[it.key]
		if h := it.held; h != nil {
			switch {
			case h.releasing || h.lost:
			case !quorum:
				n.lose(it, "cut off")
			case owned && c.rev > h.rev && (c.node != n.s.Node || c.inc != n.inc):
				n.lose(it, "taken by "+c.node)
			case !owned && n.kv != nil && n.ready:
				n.lose(it, "released in the bucket")
			case n.draining:
				ops = append(ops, op{it: it, release: n.release(it, "draining")})
			case desired[it.key] != "" && desired[it.key] != n.s.Node && now.Sub(h.since) >= n.s.MinHold.D() && n.settled(n.members[desired[it.key]]):
				ops = append(ops, op{it: it, release: n.release(it, "moves to "+desired[it.key])})
			}
			continue
		}
		if !it.want || !quorum || n.draining || n.kv == nil || !n.ready || self == nil || !n.settled(self) || !Has(n.s.Roles, roleOf(it.key)) {
			continue
		}
		living := owned && (c.node == n.s.Node && c.inc == n.inc || c.node != n.s.Node && n.alive(n.members[c.node], now) && n.members[c.node].hb.Inc == c.inc)
		if living && c.node != n.s.Node {
			it.orphan = time.Time{}
			// The watch can lag by seconds after a server of the bucket
			// dies: a key that should be here is read again, once a
			// second, in case its owner let it go meanwhile.
			if desired[it.key] == n.s.Node && now.Sub(it.read) >= time.Second {
				it.read = now
				ops = append(ops, op{it: it, refresh: true})
			}
			continue
		}
		if it.orphan.IsZero() {
			it.orphan = now
		}
		// Its place, or anyone's once it has waited without an owner
		// for long (its place may be a node that cannot take it).
		if desired[it.key] == n.s.Node || now.Sub(it.orphan) > 2*n.s.DeadAfter.D() {
			n.log.Debug("claiming", "key", it.key, "desired", desired[it.key], "orphan_for", now.Sub(it.orphan), "alive", alive)
			ops = append(ops, op{it: it, create: !owned, rev: c.rev})
		}
	}
	kv := n.kv
	n.mu.Unlock()

	// Claims run side by side (each is a replicated write; one that waits
	// on an election must not hold up the rest), at most claimParallel.
	var wg sync.WaitGroup
	sem := make(chan struct{}, claimParallel)
	for _, o := range ops {
		if o.release != nil {
			go n.finishRelease(o.it, o.release, kv)
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if o.refresh {
				n.refresh(ctx, kv, o.it.key)
			} else {
				n.claim(ctx, kv, o.it, o.create, o.rev)
			}
		})
	}
	wg.Wait()
}

// claimParallel bounds the claims in flight at once.
const claimParallel = 32

// desired is where every key this node knows should be, among the living,
// not draining nodes with the key's role.
func (n *Node) desired(now time.Time) map[string]string {
	byRole := map[string][]string{}
	for k := range n.items {
		r := roleOf(k)
		kind, _, _ := strings.Cut(k, ".")
		byRole[r+"/"+kind] = append(byRole[r+"/"+kind], k)
	}
	out := map[string]string{}
	for group, keys := range byRole {
		role, kind, _ := strings.Cut(group, "/")
		var cands []Candidate
		for _, name := range slices.Sorted(maps.Keys(n.members)) {
			m := n.members[name]
			// A node that has not settled yet has its place (it takes it
			// once settled; no one hands it a key before then).
			if !n.alive(m, now) || m.hb.Draining || !Has(m.hb.Roles, role) {
				continue
			}
			c := Candidate{Name: name, Weight: m.hb.Weight}
			if kind == "camera" {
				c.Max = m.hb.MaxCameras
			}
			cands = append(cands, c)
		}
		slices.Sort(keys)
		current := map[string]string{}
		for _, k := range keys {
			if c, ok := n.claims[k]; ok {
				current[k] = c.node
			}
		}
		maps.Copy(out, Assign(keys, cands, current))
	}
	return out
}

// roleOf is the role that runs a key's work.
func roleOf(key string) string {
	if strings.HasPrefix(key, "singleton.") {
		return RoleControl
	}
	return RoleWorker
}

// lose ends a lease the node no longer has (n.mu held).
func (n *Node) lose(it *item, why string) {
	n.log.Warn("lost a key; its work stops", "key", it.key, "why", why)
	it.held.lost = true
	it.held.cancel()
	n.m.lost.Inc()
	h := it.held
	go func() {
		<-h.done
		n.mu.Lock()
		if it.held == h {
			it.held = nil
		}
		n.mu.Unlock()
		n.poke()
	}()
}

// release starts handing a key over (n.mu held): its work is told to stop.
func (n *Node) release(it *item, why string) *held {
	n.log.Info("handing a key over", "key", it.key, "why", why)
	it.held.releasing = true
	it.held.cancel()
	return it.held
}

// finishRelease deletes the key once its work has stopped, so that its
// next owner never runs beside this one.
func (n *Node) finishRelease(it *item, h *held, kv jetstream.KeyValue) {
	select {
	case <-h.done:
	case <-time.After(30 * time.Second):
		n.log.Error("work did not stop within 30s of being handed over; the key stays until it does", "key", it.key)
		<-h.done
	}
	if kv != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		err := kv.Delete(ctx, it.key, jetstream.LastRevision(h.rev))
		cancel()
		if err != nil {
			n.log.Warn("handing over: the key changed meanwhile", "key", it.key, "err", err)
		} else {
			n.m.released.Inc()
		}
	}
	n.mu.Lock()
	if it.held == h {
		it.held = nil
	}
	if c, ok := n.claims[it.key]; ok && c.rev == h.rev {
		delete(n.claims, it.key)
	}
	n.mu.Unlock()
	n.poke()
}

// refresh reads a key from the bucket, past the watch.
func (n *Node) refresh(ctx context.Context, kv jetstream.KeyValue, key string) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	e, err := kv.Get(cctx, key)
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		delete(n.claims, key)
		n.poke()
		return
	}
	if old, ok := n.claims[key]; !ok || e.Revision() > old.rev {
		node, inc, _ := strings.Cut(string(e.Value()), " ")
		n.claims[key] = claim{node: node, inc: inc, rev: e.Revision()}
		n.poke()
	}
}

// claim takes a key by compare-and-set: created when no one has it,
// updated from the revision a dead owner left.
func (n *Node) claim(ctx context.Context, kv jetstream.KeyValue, it *item, create bool, rev uint64) {
	val := []byte(n.s.Node + " " + n.inc)
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var err error
	var got uint64
	if create {
		got, err = kv.Create(cctx, it.key, val)
	} else {
		got, err = kv.Update(cctx, it.key, val, rev)
	}
	if err != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) && ctx.Err() == nil {
			n.log.Debug("claim refused", "key", it.key, "err", err)
		}
		n.m.claimConflicts.Inc()
		// Someone else's claim came first, or the view was stale: read
		// the key, past the watch.
		n.refresh(ctx, kv, it.key)
		return
	}
	lctx, lcancel := context.WithCancel(context.Background())
	h := &held{rev: got, since: time.Now(), ctx: lctx, cancel: lcancel, done: make(chan struct{})}
	n.mu.Lock()
	defer n.mu.Unlock()
	n.claims[it.key] = claim{node: n.s.Node, inc: n.inc, rev: got}
	it.orphan = time.Time{}
	if !it.want || n.closed {
		// The work stopped asking meanwhile: give the key straight back.
		it.held = h
		h.releasing = true
		close(h.done)
		go n.finishRelease(it, h, kv)
		return
	}
	it.held = h
	n.m.claims.Inc()
	n.log.Info("owns", "key", it.key, "fence", got)
	it.grant <- h
}

// Acquire blocks until this node owns key (telemetry.Owner).
func (n *Node) Acquire(ctx context.Context, key string) (*telemetry.Lease, error) {
	n.mu.Lock()
	it := n.items[key]
	if it == nil {
		it = &item{key: key, grant: make(chan *held, 1)}
		n.items[key] = it
	}
	it.want = true
	n.mu.Unlock()
	n.poke()
	select {
	case h := <-it.grant:
		lctx, cancel := context.WithCancel(ctx)
		stop := context.AfterFunc(h.ctx, cancel)
		return telemetry.NewLease(lctx, h.rev, func() {
			stop()
			cancel()
			n.done(it, h)
		}), nil
	case <-ctx.Done():
		n.mu.Lock()
		it.want = false
		select {
		case h := <-it.grant: // granted as we gave up
			n.mu.Unlock()
			n.done(it, h)
		default:
			n.mu.Unlock()
		}
		return nil, ctx.Err()
	}
}

// done is the work of a lease having stopped: a key neither lost nor
// being handed over passes on at once (the work stopped of itself: its
// process is stopping).
func (n *Node) done(it *item, h *held) {
	n.mu.Lock()
	it.want = false
	handOver := !h.releasing && !h.lost && !n.closed
	if handOver {
		h.releasing = true
		h.cancel()
	}
	kv := n.kv
	n.mu.Unlock()
	close(h.done)
	if handOver {
		go n.finishRelease(it, h, kv)
	}
}

// OwnerOf names the node that owns key now.
func (n *Node) OwnerOf(key string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.claims[key].node
}

// Drain hands all of this node's work to the others and returns once it
// owns nothing (or ctx ends); the node then claims nothing more.
func (n *Node) Drain(ctx context.Context) error {
	n.mu.Lock()
	n.draining = true
	n.mu.Unlock()
	n.beat() // the others stop placing work here at once
	n.poke()
	for {
		n.mu.Lock()
		left := 0
		for _, it := range n.items {
			if it.held != nil {
				left++
			}
		}
		n.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("still owns %d key(s): %w", left, ctx.Err())
		case <-time.After(50 * time.Millisecond):
			n.poke()
		}
	}
}

// NodeInfo is one node as this one hears it.
type NodeInfo struct {
	Name     string        `json:"name"`
	Roles    []string      `json:"roles"`
	Alive    bool          `json:"alive"`
	Up       time.Duration `json:"up"`
	Draining bool          `json:"draining,omitempty"`
	Owns     int           `json:"owns"`
}

// Nodes lists the nodes this one has heard, by name.
func (n *Node) Nodes() []NodeInfo {
	now := time.Now()
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []NodeInfo
	for _, name := range slices.Sorted(maps.Keys(n.members)) {
		m := n.members[name]
		out = append(out, NodeInfo{Name: name, Roles: m.hb.Roles, Alive: n.alive(m, now), Up: time.Duration(m.hb.UpMS) * time.Millisecond,
			Draining: m.hb.Draining, Owns: m.hb.Owns})
	}
	return out
}

// Owners is every key's owner as the bucket says.
func (n *Node) Owners() map[string]string {
	n.mu.Lock()
	defer n.mu.Unlock()
	out := make(map[string]string, len(n.claims))
	for k, c := range n.claims {
		out[k] = c.node
	}
	return out
}

// Owned lists the keys this node holds a lease on.
func (n *Node) Owned() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for k, it := range n.items {
		if it.held != nil && !it.held.lost && !it.held.releasing {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}

// RequestDrain asks node, over nc, to hand its work over, and waits for
// its answer.
func RequestDrain(ctx context.Context, nc *nats.Conn, node string) error {
	m := nats.NewMsg(drainSubject + node)
	m.Header.Set("From", "smarteye drain")
	resp, err := nc.RequestMsgWithContext(ctx, m)
	if err != nil {
		return fmt.Errorf("drain %s: %w", node, err)
	}
	if s := string(resp.Data); s != "drained" {
		return fmt.Errorf("drain %s: %s", node, s)
	}
	return nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
