package mavlink

import (
	"crypto/subtle"
	"fmt"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialect"
	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/frame"
	"github.com/bluenviron/gomavlib/v3/pkg/message"

	"github.com/smarteye/smarteye/telemetry"
)

// Sink receives what a Processor makes of the frames. Calls come from one
// goroutine per Processor; v is only valid during the call.
type Sink interface {
	// Vehicle is called when a vehicle appears or its identity (type,
	// autopilot) changes: the vehicle registry.
	Vehicle(v *telemetry.Vehicle)
	// State is called on every change of a vehicle's state: the live feed.
	State(v *telemetry.Vehicle)
	// Sample is called at most StoredRate times a second per vehicle with
	// the state to store, at time t.
	Sample(v *telemetry.Vehicle, t time.Time)
	// Event is called for every event.
	Event(e telemetry.Event)
}

// Drop reasons, the "reason" label of smarteye_mavlink_frames_dropped_total.
const (
	DropParse          = iota // not a frame: bad magic byte, truncated, bad length
	DropBadCRC                // checksum does not match the message
	DropDecode                // payload does not decode
	DropUnsigned              // the vehicle has a key and the frame is not signed
	DropBadSignature          // signed with another key
	DropReplayed              // signature timestamp too old
	DropNotVehicle            // from a ground station, camera or other non-vehicle
	DropTooManySystems        // more unconfigured vehicles than max_discovered
	DropOutOfRange            // a value no vehicle can have: outside WGS 84, an absurd altitude or speed, not a number
	DropImpossibleJump        // a position further from the last than any aircraft could fly meanwhile
	numDrops
)

// DropReasons names the drop reasons, indexed by the Drop constants.
var DropReasons = [numDrops]string{"parse", "bad_crc", "decode", "unsigned", "bad_signature", "replayed_signature", "not_a_vehicle", "too_many_systems",
	"out_of_range", "impossible_jump"}

// Counts are a Processor's frame counters; they may be read while it runs.
type Counts struct {
	Frames   atomic.Uint64 // accepted frames
	Unknown  atomic.Uint64 // accepted frames whose message is not in the dialect
	Lost     atomic.Uint64 // frames missing from sequence numbers
	Dropped  [numDrops]atomic.Uint64
	Vehicles atomic.Int64
	// Suspect counts frames that claimed a known vehicle from a second
	// source, or that its key refused.
	Suspect atomic.Uint64
}

// DroppedTotal sums the drops of every reason.
func (c *Counts) DroppedTotal() uint64 {
	var n uint64
	for i := range c.Dropped {
		n += c.Dropped[i].Load()
	}
	return n
}

// ProcessorConfig configures a Processor.
type ProcessorConfig struct {
	// Link names the link; discovered vehicles are called "<link>-<system id>".
	Link string
	// Vehicles are the configured vehicles on this link.
	Vehicles []VehicleConfig
	// StoredRate is the most samples stored per vehicle per second; 0 stores none.
	StoredRate float64
	// LinkTimeout is the silence after which a vehicle's link is lost.
	LinkTimeout time.Duration
	// MaxDiscovered caps the unconfigured vehicles tracked on the link, so
	// that a flood of system ids cannot exhaust memory.
	MaxDiscovered int
	// Site is the site vehicles belong to.
	Site string
	// Observe, when set, sees every decoded message from a vehicle after
	// it is applied to the vehicle's state (the commander: acks, texts,
	// the mission protocol).
	Observe func(v *telemetry.Vehicle, comp uint8, msg message.Message)
}

// Processor turns one link's frames into vehicle state, samples and events.
// It is not safe for concurrent use: one goroutine feeds it.
type Processor struct {
	cfg        ProcessorConfig
	sink       Sink
	rw         *dialect.ReadWriter
	configured map[uint8]VehicleConfig
	vehicles   map[uint8]*tracker
	discovered int
	counts     *Counts
}

var dialectRW = func() *dialect.ReadWriter {
	rw := &dialect.ReadWriter{Dialect: ardupilotmega.Dialect}
	if err := rw.Initialize(); err != nil {
		panic(err)
	}
	return rw
}()

// NewProcessor returns a Processor for one link.
func NewProcessor(cfg ProcessorConfig, sink Sink) *Processor {
	p := &Processor{
		cfg:        cfg,
		sink:       sink,
		rw:         dialectRW,
		configured: make(map[uint8]VehicleConfig),
		vehicles:   make(map[uint8]*tracker),
		counts:     new(Counts),
	}
	for _, vc := range cfg.Vehicles {
		p.configured[vc.SystemID] = vc
	}
	return p
}

// Counts returns the live counters.
func (p *Processor) Counts() *Counts { return p.counts }

// tracker is one vehicle's state and bookkeeping.
type tracker struct {
	p             *Processor
	state         telemetry.Vehicle
	key           *frame.V2Key
	autopilotComp uint8
	heartbeats    uint64

	lastGlobal                        ardupilotmega.MessageGlobalPositionInt
	haveGlobal, fixKnown              bool
	batteryStatus, gimbalDevice       bool
	mountOrientation, identityChanged bool
	textID                            uint16
	textBuf                           []byte
	seq                               map[uint8]uint8 // last sequence number per component
	sigTime                           uint64
	lastStored                        time.Time
	source                            string                                 // where its first accepted frame came from
	lastSuspect                       time.Time                              // the last vehicle.suspect event
	lastImplausible                   time.Time                              // the last vehicle.implausible event
	lastRejectShown                   time.Time                              // the last state published for a refusal
	jumpLast                          ardupilotmega.MessageGlobalPositionInt // the last position refused as a jump
	jumpAt                            time.Time
	jumpCount                         int       // consistent refused jumps in a row
	lastFix                           time.Time // when lastGlobal was accepted, for the jump check
	dirty                             bool      // changed since last stored
	windowStart                       time.Time
	windowFrames, windowLost          uint64
	events                            []telemetry.Event
}

func (t *tracker) event(now time.Time, kind, msg string, data map[string]any) {
	e := telemetry.Event{Time: now, ID: telemetry.NewUUID(), Kind: kind, Site: t.state.Site, VehicleID: t.state.ID, CameraID: t.state.Camera, Message: msg, Data: data}
	if t.state.Position.Valid {
		lat, lon := t.state.Position.Lat, t.state.Position.Lon
		e.Lat, e.Lon = &lat, &lon
	}
	t.events = append(t.events, e)
}

func (p *Processor) drop(reason int) { p.counts.Dropped[reason].Add(1) }

// ParseError counts bytes that did not make a frame.
func (p *Processor) ParseError() { p.drop(DropParse) }

// Frame processes one frame received at now, from no particular source
// (a log file).
func (p *Processor) Frame(f frame.Frame, now time.Time) { p.FrameFrom(f, "", now) }

// FrameFrom processes one frame received at now from source (the
// sender's address). Frames must carry raw messages (a node without a
// dialect): signatures are checked on the bytes as sent, then the message
// is decoded here. A vehicle's frames that come from a second source, or
// that its key refuses, are told (an event, the vehicle's health).
func (p *Processor) FrameFrom(f frame.Frame, source string, now time.Time) {
	raw, ok := f.GetMessage().(*message.MessageRaw)
	if !ok {
		p.drop(DropDecode)
		return
	}
	sys, comp := f.GetSystemID(), f.GetComponentID()
	t := p.vehicles[sys]
	switch {
	case t != nil && t.key != nil:
		if reason, ok := p.checkSignature(t.key, &t.sigTime, &t.state.Health, f); !ok {
			t.suspect(now, source, fmt.Sprintf("frames refused by its key (%s) from %s", DropReasons[reason], sourceName(source)))
			p.flushEvents(t)
			return
		}
	case t == nil:
		if vc, ok := p.configured[sys]; ok && vc.key != nil {
			var sigTime uint64
			if _, ok := p.checkSignature(vc.key, &sigTime, nil, f); !ok {
				return
			}
		}
	}
	mp := p.rw.GetMessage(raw.ID)
	if mp == nil {
		// Not in the dialect: it still shows the vehicle is alive.
		if t != nil {
			p.counts.Unknown.Add(1)
			p.heard(t, f, comp, now)
		}
		return
	}
	var sum uint16
	switch ff := f.(type) {
	case *frame.V1Frame:
		sum = ff.GenerateChecksum(mp.CRCExtra())
	case *frame.V2Frame:
		sum = ff.GenerateChecksum(mp.CRCExtra())
	}
	if sum != f.GetChecksum() {
		p.drop(DropBadCRC)
		return
	}
	// Decoded with MAVLink 2's rules whatever the frame's version: the
	// payload layout is the same, and MAVLink 1 senders that append the
	// extension fields (node-mavlink, some routers) then decode too.
	msg, err := mp.Read(raw, true)
	if err != nil {
		p.drop(DropDecode)
		return
	}
	if t == nil {
		if t = p.admit(sys, comp, msg, now); t == nil {
			return
		}
		if v2, ok := f.(*frame.V2Frame); ok && t.key != nil {
			t.sigTime = v2.SignatureTimestamp
		}
	}
	if source != "" {
		if t.source == "" {
			t.source = source
		} else if source != t.source {
			t.suspect(now, source, fmt.Sprintf("frames from %s as well as %s", source, t.source))
		}
	}
	p.heard(t, f, comp, now)
	// A change that waited for the stored rate is stored now, before this
	// message replaces it, when the rate allows: a position that came
	// soon after a stored sample (a tick's, a heartbeat's) is kept, not
	// overwritten by the next one.
	p.maybeStore(t, now)
	changed := t.apply(msg, comp, now)
	if p.cfg.Observe != nil {
		p.cfg.Observe(&t.state, comp, msg)
	}
	if changed || t.identityChanged {
		t.dirty = true
		t.state.Updated = now
		if t.identityChanged {
			t.identityChanged = false
			p.sink.Vehicle(&t.state)
		}
		p.sink.State(&t.state)
		p.maybeStore(t, now)
	}
	p.flushEvents(t)
}

// admit decides whether an unknown system is a vehicle: a configured
// system is one as soon as it is heard; another becomes one with its first
// autopilot HEARTBEAT (ground stations, cameras and gimbals never do).
func (p *Processor) admit(sys, comp uint8, msg message.Message, now time.Time) *tracker {
	vc, configured := p.configured[sys]
	hb, isHB := msg.(*ardupilotmega.MessageHeartbeat)
	if !configured {
		if !isHB || !isVehicle(hb.Type, hb.Autopilot) {
			p.drop(DropNotVehicle)
			return nil
		}
		if p.discovered >= p.cfg.MaxDiscovered {
			p.drop(DropTooManySystems)
			return nil
		}
		p.discovered++
		id := p.cfg.Link + "-" + strconv.Itoa(int(sys))
		vc = VehicleConfig{Name: id, SystemID: sys}
	}
	t := &tracker{p: p, seq: make(map[uint8]uint8), key: vc.key, autopilotComp: 1, windowStart: now}
	if isHB && isVehicle(hb.Type, hb.Autopilot) {
		t.autopilotComp = comp
	}
	t.state = telemetry.Vehicle{
		ID: vc.Name, Name: vc.Name, Link: p.cfg.Link, SystemID: sys, Discovered: !configured,
		Camera: vc.Camera, Site: p.cfg.Site, Health: telemetry.Health{State: telemetry.LinkOK},
	}
	p.vehicles[sys] = t
	p.counts.Vehicles.Add(1)
	t.identityChanged = true // announced to the sink once the first message is applied
	if !configured {
		t.event(now, "vehicle.discovered", fmt.Sprintf("new vehicle: system %d on link %s", sys, p.cfg.Link), map[string]any{"system_id": sys, "link": p.cfg.Link})
	}
	return t
}

// checkSignature enforces MAVLink 2 signing for a vehicle with a key:
// frames must be signed with it, with timestamps that do not go back more
// than a few seconds (replays).
// h, when not nil, counts the rejection.
func (p *Processor) checkSignature(key *frame.V2Key, sigTime *uint64, h *telemetry.Health, f frame.Frame) (reason int, ok bool) {
	reject := func(reason int) (int, bool) {
		p.drop(reason)
		if h != nil {
			h.Rejected++
		}
		return reason, false
	}
	v2, ok := f.(*frame.V2Frame)
	if !ok || v2.Signature == nil {
		return reject(DropUnsigned)
	}
	if sig := v2.GenerateSignature(key); subtle.ConstantTimeCompare(sig[:], v2.Signature[:]) != 1 {
		return reject(DropBadSignature)
	}
	const replayWindow = 10 * 100000 // 10 s in the signature's 10 µs units
	if *sigTime > replayWindow && v2.SignatureTimestamp < *sigTime-replayWindow {
		return reject(DropReplayed)
	}
	*sigTime = max(*sigTime, v2.SignatureTimestamp)
	return 0, true
}

// suspectEvery bounds the vehicle.suspect events: one a minute per vehicle.
const suspectEvery = time.Minute

// suspect marks the vehicle's health with why its frames are in doubt and
// tells it with a vehicle.suspect event, at most once a minute.
func (t *tracker) suspect(now time.Time, source, why string) {
	t.p.counts.Suspect.Add(1)
	if t.state.Health.Warning != why {
		t.state.Health.Warning = why
		t.dirty = true
		t.p.sink.State(&t.state)
	}
	if now.Sub(t.lastSuspect) < suspectEvery {
		return
	}
	t.lastSuspect = now
	t.event(now, "vehicle.suspect", t.state.Name+": "+why, map[string]any{"source": source, "reason": why})
}

func sourceName(s string) string {
	if s == "" {
		return "a log"
	}
	return s
}

// heard updates link health from an accepted frame.
func (p *Processor) heard(t *tracker, f frame.Frame, comp uint8, now time.Time) {
	p.counts.Frames.Add(1)
	h := &t.state.Health
	seq := f.GetSequenceNumber()
	if last, ok := t.seq[comp]; ok {
		if gap := uint64(seq - last - 1); gap > 0 && gap < 128 {
			// A jump of 128 or more is a reboot or a reordered frame, not loss.
			h.Lost += gap
			p.counts.Lost.Add(gap)
			t.windowLost += gap
		}
	} else if len(t.seq) >= 32 {
		clear(t.seq) // bounded: a vehicle has few components
	}
	t.seq[comp] = seq
	h.Received++
	t.windowFrames++
	h.LastHeard = now
	if h.State == telemetry.LinkLost {
		h.State = telemetry.LinkOK
		t.event(now, "link.regained", t.state.Name+" link regained", map[string]any{"link": p.cfg.Link})
		t.dirty = true
		p.sink.State(&t.state)
	}
}

// maybeStore hands the state to the sink for storage at most StoredRate
// times a second.
func (p *Processor) maybeStore(t *tracker, now time.Time) {
	if p.cfg.StoredRate <= 0 || !t.dirty {
		return
	}
	if !t.lastStored.IsZero() && now.Sub(t.lastStored) < time.Duration(float64(time.Second)/p.cfg.StoredRate) {
		return
	}
	t.lastStored = now
	t.dirty = false
	p.sink.Sample(&t.state, t.state.Updated)
}

func (p *Processor) flushEvents(t *tracker) {
	for _, e := range t.events {
		p.sink.Event(e)
	}
	clear(t.events)
	t.events = t.events[:0]
}

// Tick updates message rates and declares links lost; call it about once a
// second.
func (p *Processor) Tick(now time.Time) {
	for _, t := range p.vehicles {
		h := &t.state.Health
		if d := now.Sub(t.windowStart); d >= time.Second {
			h.Rate = float64(t.windowFrames) / d.Seconds()
			if n := t.windowFrames + t.windowLost; n > 0 {
				h.LossRatio = float64(t.windowLost) / float64(n)
			} else {
				h.LossRatio = 0
			}
			t.windowStart, t.windowFrames, t.windowLost = now, 0, 0
		}
		if h.State == telemetry.LinkOK && !h.LastHeard.IsZero() && now.Sub(h.LastHeard) > p.cfg.LinkTimeout {
			h.State = telemetry.LinkLost
			h.Rate = 0
			t.event(now, "link.lost", fmt.Sprintf("%s link lost: silent for %s", t.state.Name, now.Sub(h.LastHeard).Round(time.Second)),
				map[string]any{"link": p.cfg.Link, "last_heard": h.LastHeard})
		}
		// Store what changed and waited for the rate limit.
		p.maybeStore(t, now)
		p.sink.State(&t.state)
		p.flushEvents(t)
	}
}
