package batch

import "github.com/prometheus/client_golang/prometheus"

// What the tests of package batch_test (writer_test.go) see of the
// writer's insides.

// Metrics are a writer's counters.
type Metrics struct {
	Written, Spooled, Replayed, Rejected, Dropped *prometheus.CounterVec
	Duplicates                                    prometheus.Counter
}

func (w *Writer) Metrics() Metrics {
	return Metrics{Written: w.m.written, Spooled: w.m.spooled, Replayed: w.m.replayed, Rejected: w.m.rejected,
		Dropped: w.m.dropped, Duplicates: w.m.duplicates}
}

// CloseSpool closes the spool of a writer that never ran.
func (w *Writer) CloseSpool() error { return w.spool.Close() }

// OpenSpool opens a spool directory (the dead-letter one, say) to read it.
var OpenSpool = openSpool
