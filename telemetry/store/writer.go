package store

import (
	"context"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// WriterConfig configures a Writer.
type WriterConfig = batch.Config

// Writer is the one writer of all time-series rows (see batch.Writer for
// its batching, backpressure and outage spool), with the rows of samples,
// events and detections made from telemetry's types: it implements the
// small writer interfaces of package telemetry.
type Writer struct{ *batch.Writer }

// NewWriter opens the spool (recovering it after a crash) and returns a
// writer ready to Run; db is normally the *Store.
func NewWriter(db batch.Copier, cfg WriterConfig) (*Writer, error) {
	w, err := batch.NewWriter(db, cfg)
	if err != nil {
		return nil, err
	}
	return &Writer{w}, nil
}

// WriteSample implements telemetry.SampleWriter.
func (w *Writer) WriteSample(v *telemetry.Vehicle, t time.Time) error {
	return w.Add(Telemetry, TelemetryRow(v, t)...)
}

// WriteEvent implements telemetry.EventWriter.
func (w *Writer) WriteEvent(e *telemetry.Event) error { return w.Add(Events, EventRow(e)...) }

// WriteDetections implements telemetry.DetectionWriter: one row per
// object; the first error (a full queue) is returned after trying them all.
func (w *Writer) WriteDetections(d *telemetry.Detections) error {
	var first error
	for i := range d.Objects {
		if err := w.Add(Detections, DetectionRow(d, &d.Objects[i])...); err != nil && first == nil {
			first = err
		}
	}
	return first
}

// WriteSampleWait implements telemetry.WaitWriter.
func (w *Writer) WriteSampleWait(ctx context.Context, v *telemetry.Vehicle, t time.Time) error {
	return w.AddWait(ctx, Telemetry, TelemetryRow(v, t)...)
}

// WriteEventWait implements telemetry.WaitWriter.
func (w *Writer) WriteEventWait(ctx context.Context, e *telemetry.Event) error {
	return w.AddWait(ctx, Events, EventRow(e)...)
}
