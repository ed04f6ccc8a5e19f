package store

import (
	"context"
	"fmt"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
)

// ReportStatus keeps the status board's store, writer and database entries
// current for /api/v1/status.
func ReportStatus(ctx context.Context, board *telemetry.Board, st *Store, w *Writer, cluster *embedded.Cluster) error {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		s := st.State()
		switch {
		case s.Ready:
			board.Set("store", telemetry.StateOK, fmt.Sprintf("%s mode, schema version %d", s.Mode, s.SchemaVersion))
		default:
			board.Set("store", telemetry.StateDown, s.Error)
		}
		if b := w.SpoolBytes(); b > 0 {
			board.Set("writer", telemetry.StateDegraded, fmt.Sprintf("database unavailable: %d bytes spooled", b))
		} else {
			board.Set("writer", telemetry.StateOK, fmt.Sprintf("%d rows queued", w.QueueDepth()))
		}
		if cluster != nil {
			if cluster.Pid() != 0 {
				board.Set("database", telemetry.StateOK, fmt.Sprintf("embedded PostgreSQL %d, pid %d", cluster.Version(), cluster.Pid()))
			} else {
				board.Set("database", telemetry.StateDown, "embedded PostgreSQL not running")
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}
