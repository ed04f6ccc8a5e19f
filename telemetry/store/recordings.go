package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry"
)

// Recording is one recorded segment file (telemetry.Recording).
type Recording = telemetry.Recording

// AddRecordings indexes segments; a path already indexed is left as it is.
func (s *Store) AddRecordings(ctx context.Context, rs []Recording) error {
	if len(rs) == 0 {
		return nil
	}
	b := &pgx.Batch{}
	for _, r := range rs {
		b.Queue(`INSERT INTO recordings (camera_id, start_time, end_time, path, bytes, codec, width, height, init_size, frames, recovered)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (path) DO NOTHING`,
			r.Camera, r.Start, r.End, r.Path, r.Bytes, r.Codec, r.Width, r.Height, r.InitSize, r.Frames, r.Recovered)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: index recordings: %w", err)
	}
	return nil
}

// DeleteRecordings removes segments from the index by path.
func (s *Store) DeleteRecordings(ctx context.Context, paths []string) error {
	if len(paths) == 0 {
		return nil
	}
	if _, err := s.pool.Exec(ctx, "DELETE FROM recordings WHERE path = ANY($1)", paths); err != nil {
		return fmt.Errorf("store: delete recordings: %w", err)
	}
	return nil
}

// RecordingPaths lists every indexed path.
func (s *Store) RecordingPaths(ctx context.Context) ([]string, error) {
	rows, err := s.pool.Query(ctx, "SELECT path FROM recordings")
	if err != nil {
		return nil, fmt.Errorf("store: recordings: %w", err)
	}
	ps, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, fmt.Errorf("store: recordings: %w", err)
	}
	return ps, nil
}
