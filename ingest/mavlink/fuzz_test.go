package mavlink

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/smarteye/smarteye/telemetry"
)

// FuzzFrames feeds arbitrary bytes, as a hostile peer sends them, through
// frame parsing, signature checks, decoding and conversion. Whatever comes
// in: no panic, no position at (0, 0), bounded vehicles, and every byte
// sequence either counted as a frame or as a drop.
func FuzzFrames(f *testing.F) {
	hb := heartbeat(ardupilotmega.MAV_TYPE_QUADROTOR, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 3)
	e := &enc{sys: 1, comp: 1}
	var seed bytes.Buffer
	seed.Write(e.bytes(f, hb))
	seed.Write(e.bytes(f, &ardupilotmega.MessageGpsRawInt{FixType: 3}))
	seed.Write(e.bytes(f, &ardupilotmega.MessageGlobalPositionInt{Lat: 1, Lon: 2}))
	f.Add(seed.Bytes())
	f.Add((&enc{sys: 2, comp: 1, v1: true}).bytes(f, hb))
	key, _ := ParseKey("fuzzing passphrase")
	f.Add((&enc{sys: 5, comp: 1, key: key}).bytes(f, hb))
	f.Add([]byte{0xfd, 0xff, 0x01, 0, 0, 1, 1, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		rec := &recorder{}
		p := NewProcessor(ProcessorConfig{Link: "f", StoredRate: 10, LinkTimeout: time.Second, MaxDiscovered: 2,
			Vehicles: []VehicleConfig{{Name: "signed", SystemID: 5, key: key}}}, rec)
		feed(p, b, t0)
		p.Tick(t0.Add(2 * time.Second))
		if len(p.vehicles) > 3 {
			t.Fatalf("%d vehicles tracked, cap is 2 discovered + 1 configured", len(p.vehicles))
		}
		for _, v := range append(rec.states, rec.samples...) {
			if v.Position.Valid && v.Position.Lat == 0 && v.Position.Lon == 0 {
				t.Fatal("a position at (0, 0)")
			}
		}
	})
}

// FuzzReadLog reads arbitrary bytes as a telemetry log (import).
func FuzzReadLog(f *testing.F) {
	e := &enc{sys: 1, comp: 1}
	var log bytes.Buffer
	for i, m := range []any{
		heartbeat(ardupilotmega.MAV_TYPE_FIXED_WING, ardupilotmega.MAV_AUTOPILOT_ARDUPILOTMEGA, true, 10),
		&ardupilotmega.MessageGlobalPositionInt{Lat: -353629904, Lon: 1491649392},
	} {
		ts := uint64(t0.UnixMicro()) + uint64(i)*100000
		for s := 56; s >= 0; s -= 8 {
			log.WriteByte(byte(ts >> s))
		}
		switch m := m.(type) {
		case *ardupilotmega.MessageHeartbeat:
			log.Write(e.bytes(f, m))
		case *ardupilotmega.MessageGlobalPositionInt:
			log.Write(e.bytes(f, m))
		}
	}
	f.Add(log.Bytes())
	f.Add([]byte("not a log at all"))
	f.Fuzz(func(t *testing.T, b []byte) {
		rec := &recorder{}
		if _, err := ScanLog(bytes.NewReader(b)); err != nil {
			return
		}
		res, _ := ReadLog(context.Background(), bytes.NewReader(b), ProcessorConfig{Link: "import", StoredRate: 10, MaxDiscovered: 1}, rec)
		if res.Frames > 0 && res.Last.Before(res.First) {
			t.Fatalf("log ends before it starts: %+v", res)
		}
	})
}

// A command request from the API, whatever its bytes: decoding and
// validating never panic, and a request that validates builds its
// mission or fence items within the protocol's bounds.
func FuzzRequest(f *testing.F) {
	for _, s := range []string{
		`{"command":"goto","lat":22.54,"lon":114.05,"alt":30}`,
		`{"command":"mission","waypoints":[{"lat":1,"lon":2,"alt":30},{"lat":1.001,"lon":2,"alt":40}],"end":"hold"}`,
		`{"command":"fence","zones":[{"keep":"in","polygon":[[1,1],[1,2],[2,2]]},{"keep":"out","circle":{"lat":1,"lon":1,"radius":50}}]}`,
		`{"command":"gimbal","pitch":-90,"yaw":400}`, `{"command":"takeoff","alt":-1}`, `{"command":"mode","mode":""}`, `{}`, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		var r Request
		if json.Unmarshal(b, &r) != nil {
			return
		}
		if r.Validate() != nil {
			return
		}
		switch r.Command {
		case CmdMission:
			items, wps := missionItems(telemetry.Vehicle{}, r)
			if len(wps) != len(r.Waypoints) || len(items) > MaxWaypoints+2 || items[0].Seq != 0 {
				t.Fatalf("%d items for %d waypoints", len(items), len(r.Waypoints))
			}
		case CmdFence:
			if items := fenceItems(r.Zones); len(items) == 0 || len(items) > MaxFenceZones*MaxVertices {
				t.Fatalf("%d fence items for %d zones", len(items), len(r.Zones))
			}
		}
	})
}
