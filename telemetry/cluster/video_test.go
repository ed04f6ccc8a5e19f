package cluster

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry/testkit"
)

func unit(i int) *rtsp.AccessUnit {
	au := &rtsp.AccessUnit{Codec: rtsp.H264, Key: i%10 == 0, PTS: time.Duration(i) * 100 * time.Millisecond,
		Time: time.Unix(1_700_000_000, int64(i)*1e8), Received: time.Unix(1_700_000_000, int64(i)*1e8+5e6)}
	if au.Key {
		au.NALUs = append(au.NALUs, []byte{0x67, 1, 2}, []byte{0x68, 3})
	}
	return append2(au, bytes.Repeat([]byte{byte(i)}, 100+i))
}

func append2(au *rtsp.AccessUnit, n []byte) *rtsp.AccessUnit {
	au.NALUs = append(au.NALUs, n)
	return au
}

func TestUnitRoundTrip(t *testing.T) {
	stream := [8]byte{1, 2, 3, 4, 5, 6, 7, 8}
	for i := range 12 {
		in := unit(i)
		out, s, seq, err := decodeUnit(encodeUnit(nil, in, stream, uint64(i+1)))
		if err != nil || s != stream || seq != uint64(i+1) {
			t.Fatalf("unit %d: %v %v %d", i, err, s, seq)
		}
		if out.Key != in.Key || out.Codec != in.Codec || out.PTS != in.PTS || !out.Time.Equal(in.Time) || !out.Received.Equal(in.Received) || len(out.NALUs) != len(in.NALUs) {
			t.Fatalf("unit %d: %+v, want %+v", i, out, in)
		}
		for j := range in.NALUs {
			if !bytes.Equal(in.NALUs[j], out.NALUs[j]) {
				t.Fatalf("unit %d NALU %d differs", i, j)
			}
		}
	}
	good := encodeUnit(nil, unit(0), stream, 1)
	for _, bad := range [][]byte{nil, {2, 0, 0}, good[:len(good)-1], append(good[:len(good):len(good)], 0), {1, 7, 0}} {
		if _, _, _, err := decodeUnit(bad); err == nil {
			t.Errorf("%x decoded", bad)
		}
	}
}

func FuzzDecodeUnit(f *testing.F) {
	f.Add(encodeUnit(nil, unit(0), [8]byte{}, 1))
	f.Add(encodeUnit(nil, unit(3), [8]byte{9}, 7))
	f.Fuzz(func(t *testing.T, b []byte) {
		au, s, seq, err := decodeUnit(b)
		if err != nil {
			return
		}
		// What decodes encodes back to the same bytes.
		if again := encodeUnit(nil, au, s, seq); !bytes.Equal(again, b) {
			t.Fatalf("%x decoded and encoded to %x", b, again)
		}
	})
}

// A viewer on node A of a camera node B runs gets B's units from its last
// keyframe; when the camera moves to node C, A's viewers go on from C's
// next keyframe.
func TestVideoAcrossNodes(t *testing.T) {
	ports := testkit.FreePorts(t, 3)
	var videos []*Video
	var mu sync.Mutex
	locals := make([]map[string]*live.Relay, 3)
	set := func(i int, r *live.Relay) {
		mu.Lock()
		defer mu.Unlock()
		if r == nil {
			delete(locals[i], "gate")
		} else {
			locals[i]["gate"] = r
		}
	}
	for i := range 3 {
		nc := testConn(t, i, ports, nats.NoEcho())
		locals[i] = map[string]*live.Relay{}
		own := locals[i]
		v, err := NewVideo(nc, func(c string) (*live.Relay, bool) { mu.Lock(); defer mu.Unlock(); r, ok := own[c]; return r, ok },
			func(c string) bool { return c == "gate" }, quiet(), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer v.Close()
		videos = append(videos, v)
	}
	// Node B (2) runs the camera: its relay has a GOP.
	onB := live.NewRelay("gate")
	set(1, onB)
	for i := range 15 {
		onB.Push(unit(i))
	}
	if _, ok := videos[0].Relay("nowhere"); ok {
		t.Fatal("a camera no one configured got a relay")
	}
	relay, ok := videos[0].Relay("gate")
	if !ok {
		t.Fatal("no relay for node B's camera on node A")
	}
	viewer, err := relay.Join()
	if err != nil {
		t.Fatal(err)
	}
	defer viewer.Leave()
	// The first unit is B's last keyframe (unit 10), then what B gets.
	next := func() *rtsp.AccessUnit {
		t.Helper()
		select {
		case au := <-viewer.Units():
			return au
		case <-time.After(testkit.Scale(10 * time.Second)):
			t.Fatal("no unit from node B")
		}
		return nil
	}
	stop := make(chan struct{})
	go func() {
		for i := 15; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
				onB.Push(unit(i))
			}
		}
	}()
	first := next()
	if !first.Key || first.PTS != time.Second || !bytes.Equal(first.NALUs[2], unit(10).NALUs[2]) {
		t.Fatalf("first unit on node A: key %v pts %s", first.Key, first.PTS)
	}
	for want := 11; want < 25; want++ {
		if au := next(); au.PTS != time.Duration(want)*100*time.Millisecond {
			t.Fatalf("unit %s, want %d", au.PTS, want)
		}
	}
	close(stop)
	// The camera moves to node C: B's relay ends, C's starts.
	set(1, nil)
	onB.Close()
	onC := live.NewRelay("gate")
	set(2, onC)
	go func() {
		for i := 1000; i < 1100; i++ {
			onC.Push(unit(i))
			time.Sleep(20 * time.Millisecond)
		}
	}()
	testkit.WaitFor(t, 15*time.Second, "node C's units on node A", func() bool {
		au := next()
		return au.PTS >= 1000*100*time.Millisecond
	})
}
