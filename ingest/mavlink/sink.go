package mavlink

import (
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// RowWriter is the batch writer as ingest uses it: Add never blocks (a full
// queue drops the row and counts it), AddWait does (for imports).
type RowWriter interface {
	Add(t *store.Table, values ...any) error
}

// LiveSink sends state and events to the live bus and samples and events
// to the store's writer. The vehicle registry (the vehicles table) follows
// the bus: see store.SyncVehicles.
type LiveSink struct {
	Bus    telemetry.Bus
	Writer RowWriter // nil stores nothing
}

// Vehicle implements Sink.
func (s LiveSink) Vehicle(v *telemetry.Vehicle) { s.Bus.PublishVehicle(*v) }

// State implements Sink.
func (s LiveSink) State(v *telemetry.Vehicle) { s.Bus.PublishVehicle(*v) }

// Sample implements Sink.
func (s LiveSink) Sample(v *telemetry.Vehicle, t time.Time) {
	if s.Writer != nil {
		_ = s.Writer.Add(store.Telemetry, store.TelemetryRow(v, t)...) // a full queue is counted by the writer
	}
}

// Event implements Sink.
func (s LiveSink) Event(e telemetry.Event) {
	s.Bus.PublishEvent(e)
	if s.Writer != nil {
		_ = s.Writer.Add(store.Events, store.EventRow(&e)...)
	}
}
