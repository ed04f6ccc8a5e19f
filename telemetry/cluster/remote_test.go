package cluster

import (
	"bytes"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/telemetry/testkit"
)

// fakeCameras runs some cameras: it has pictures of them and records
// holds of every camera it knows.
type fakeCameras struct {
	runs  map[string]bool
	mu    sync.Mutex
	holds map[string]time.Time
}

func (f *fakeCameras) Hold(c string, until time.Time) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.holds[c] = until
	return true
}

func (f *fakeCameras) held(c string) time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holds[c]
}

func (f *fakeCameras) Evidence(c string, t time.Time, track uint64) ([]byte, []byte) {
	if !f.runs[c] {
		return nil, nil
	}
	return []byte(fmt.Sprintf("jpeg %s %d %d", c, t.Unix(), track)), []byte("thumb " + c)
}

func (f *fakeCameras) Snapshot(c string, t time.Time) []byte {
	j, _ := f.Evidence(c, t, 0)
	return j
}

// The alert engine on node 1 gets its evidence from node 2, which runs
// the camera; a supervision hold made on node 1 reaches every node.
func TestRemoteCameras(t *testing.T) {
	ports := testkit.FreePorts(t, 2)
	var remotes []*Remote
	var fakes []*fakeCameras
	for i := range 2 {
		nc := testConn(t, i, ports, nats.NoEcho())
		f := &fakeCameras{runs: map[string]bool{}, holds: map[string]time.Time{}}
		if i == 1 {
			f.runs["gate"] = true
		}
		r, err := NewRemote(nc, f, quiet())
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		remotes, fakes = append(remotes, r), append(fakes, f)
	}
	at := time.Unix(1_700_000_000, 0)
	var j, th []byte
	testkit.WaitFor(t, 10*time.Second, "node 2's evidence on node 1", func() bool {
		j, th = remotes[0].Evidence("gate", at, 7)
		return j != nil
	})
	if string(j) != "jpeg gate 1700000000 7" || string(th) != "thumb gate" {
		t.Fatalf("evidence %q %q", j, th)
	}
	if s := remotes[0].Snapshot("gate", at); string(s) != "jpeg gate 1700000000 0" {
		t.Fatalf("snapshot %q", s)
	}
	start := time.Now()
	if j, _ := remotes[0].Evidence("nowhere", at, 1); j != nil || time.Since(start) > testkit.Scale(5*time.Second) {
		t.Fatalf("a camera no node runs: %q after %s", j, time.Since(start))
	}
	until := time.Now().Add(time.Hour).Round(time.Second)
	remotes[0].Hold("gate", until)
	if !fakes[0].held("gate").Equal(until) {
		t.Fatal("the hold did not reach this node's recorder")
	}
	testkit.WaitFor(t, 5*time.Second, "the hold on node 2", func() bool { return fakes[1].held("gate").Equal(until) })
	for _, b := range [][]byte{nil, {0, 0, 0, 9, 1}, pictures([]byte("x"), nil)} {
		j, th := unpictures(b)
		if len(b) > 0 && bytes.Equal(b, pictures([]byte("x"), nil)) && (string(j) != "x" || th != nil) {
			t.Fatalf("unpictures %x: %q %q", b, j, th)
		}
	}
}
