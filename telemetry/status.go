// Package telemetry holds smarteye's live state: vehicle and stream state,
// the samples ingest produces, the hub that fans updates out, and the
// component status board that /api/v1/status reports. It must not import
// the store, ingest or the dashboard.
package telemetry

import (
	"sort"
	"sync"
	"time"
)

// Component states.
const (
	StateStarting = "starting"
	StateOK       = "ok"
	StateDegraded = "degraded"
	StateDown     = "down"
	StateStopped  = "stopped"
)

// ComponentStatus is one component's state as reported to operators.
type ComponentStatus struct {
	Name   string    `json:"name"`
	State  string    `json:"state"`
	Since  time.Time `json:"since"`
	Detail string    `json:"detail,omitempty"`
}

// Board collects component states. It is safe for concurrent use.
type Board struct {
	mu sync.Mutex
	m  map[string]ComponentStatus
}

// NewBoard returns an empty board.
func NewBoard() *Board { return &Board{m: map[string]ComponentStatus{}} }

// Set records a component's state; Since changes only when State does.
func (b *Board) Set(name, state, detail string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	cur, ok := b.m[name]
	if !ok || cur.State != state {
		cur.Since = time.Now().UTC()
	}
	cur.Name, cur.State, cur.Detail = name, state, detail
	b.m[name] = cur
}

// Snapshot returns every component, sorted by name.
func (b *Board) Snapshot() []ComponentStatus {
	b.mu.Lock()
	defer b.mu.Unlock()
	out := make([]ComponentStatus, 0, len(b.m))
	for _, s := range b.m {
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}
