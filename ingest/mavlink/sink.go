package mavlink

import (
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Writer is what the ingest stores: samples and events. It never blocks
// (a full queue drops the row and counts it); telemetry/store's batch
// writer implements it.
type Writer interface {
	telemetry.SampleWriter
	telemetry.EventWriter
}

// LiveSink sends state and events to the live bus and samples and events
// to the store's writer. The vehicle registry (the vehicles table) follows
// the bus: see store.SyncVehicles.
type LiveSink struct {
	Bus    telemetry.Bus
	Writer Writer // nil stores nothing
}

// Vehicle implements Sink.
func (s LiveSink) Vehicle(v *telemetry.Vehicle) { s.Bus.PublishVehicle(*v) }

// State implements Sink.
func (s LiveSink) State(v *telemetry.Vehicle) { s.Bus.PublishVehicle(*v) }

// Sample implements Sink.
func (s LiveSink) Sample(v *telemetry.Vehicle, t time.Time) {
	if s.Writer != nil {
		_ = s.Writer.WriteSample(v, t) // a full queue is counted by the writer
	}
}

// Event implements Sink.
func (s LiveSink) Event(e telemetry.Event) {
	s.Bus.PublishEvent(e)
	if s.Writer != nil {
		_ = s.Writer.WriteEvent(&e)
	}
}
