package cluster

import (
	"encoding/json"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/telemetry/supervise"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

// A supervision room is one room across nodes: a browser on node 1 hears
// a remark made through node 2, once, and who is present counts both
// nodes' browsers, also after one leaves.
func TestRoomsAcrossNodes(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	var mgrs []*supervise.Manager
	for i := range 2 {
		nc := testConn(t, i, ports, nats.NoEcho())
		r := NewRooms(nc, []string{"node-1", "node-2"}[i], quiet())
		m := supervise.New(supervise.Config{Peers: r})
		if err := r.Start(m); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(r.Close)
		mgrs = append(mgrs, m)
	}
	sue, leaveSue := mgrs[0].Subscribe("s1", "sue")
	defer leaveSue()
	testkit.WaitFor(t, 10*time.Second, "node 2 to see sue in the room", func() bool {
		return slices.Equal(mgrs[1].Present("s1").People, []string{"sue"})
	})
	if p := mgrs[1].Present("s2"); p.Browsers != 0 {
		t.Fatalf("another session's room: %+v", p)
	}
	_, leavePat := mgrs[1].Subscribe("s1", "pat")
	// node 1's room hears that pat joined on node 2.
	next := func(want string) supervise.Message {
		t.Helper()
		deadline := time.After(testkit.Scale(10 * time.Second))
		for {
			select {
			case m := <-sue:
				if m.Type == want {
					return m
				}
			case <-deadline:
				t.Fatalf("no %q message on node 1", want)
			}
		}
	}
	for {
		p := next("presence").Data.(supervise.Presence)
		if p.Browsers == 2 {
			if !slices.Equal(p.People, []string{"pat", "sue"}) {
				t.Fatalf("presence %+v", p)
			}
			break
		}
	}
	// A remark made through node 2 reaches node 1's browser once.
	mgrs[1].Publish("s1", supervise.Message{Type: "remark", Data: map[string]any{"id": 7, "text": "scaffold net missing"}})
	m := next("remark")
	var rem struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	}
	raw, _ := m.Data.(json.RawMessage)
	if err := json.Unmarshal(raw, &rem); err != nil || rem.ID != 7 || rem.Text != "scaffold net missing" {
		t.Fatalf("remark %#v (%v)", m.Data, err)
	}
	// A remark made here is heard here once, not echoed back from node 2.
	mgrs[0].Publish("s1", supervise.Message{Type: "remark", Data: "local"})
	if m := next("remark"); m.Data != "local" {
		t.Fatalf("local remark %#v", m.Data)
	}
	select {
	case m := <-sue:
		if m.Type == "remark" {
			t.Fatalf("a second remark %#v", m.Data)
		}
	case <-time.After(300 * time.Millisecond):
	}
	// pat leaves node 2: node 1 hears the room is down to one.
	leavePat()
	for next("presence").Data.(supervise.Presence).Browsers != 1 {
	}
	if p := mgrs[0].Present("s1"); p.Browsers != 1 || !slices.Equal(p.People, []string{"sue"}) {
		t.Fatalf("after pat left: %+v", p)
	}
}
