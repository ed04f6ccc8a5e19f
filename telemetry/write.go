package telemetry

import (
	"context"
	"time"
)

// What producers store, each through the small interface it needs; the
// batch writer of telemetry/store implements them all, so that ingest,
// vision and placement never import the database package.
//
// The Write methods never block: a full queue drops the row and counts it
// (a live source must not stall on the database). The Wait variants block
// until there is room or ctx ends, for imports that must lose nothing.
type (
	// SampleWriter stores a vehicle's state at t (a telemetry row).
	SampleWriter interface {
		WriteSample(v *Vehicle, t time.Time) error
	}
	// EventWriter stores an event.
	EventWriter interface {
		WriteEvent(e *Event) error
	}
	// DetectionWriter stores a frame's detections, one row per object.
	DetectionWriter interface {
		WriteDetections(d *Detections) error
	}
	// Writer is all three, as the store's writer offers them.
	Writer interface {
		SampleWriter
		EventWriter
		DetectionWriter
	}
	// WaitWriter stores samples and events, waiting for room.
	WaitWriter interface {
		WriteSampleWait(ctx context.Context, v *Vehicle, t time.Time) error
		WriteEventWait(ctx context.Context, e *Event) error
	}
)
