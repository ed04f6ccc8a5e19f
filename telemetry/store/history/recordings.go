package history

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry"
)

// The recorded video's index (the recordings table), as replay and exports
// read it; the recorder keeps it through package store.

const recordingColumns = "id, camera_id, start_time, end_time, path, bytes, codec, width, height, init_size, frames, recovered"

func scanRecording(r pgx.CollectableRow) (telemetry.Recording, error) {
	var x telemetry.Recording
	err := r.Scan(&x.ID, &x.Camera, &x.Start, &x.End, &x.Path, &x.Bytes, &x.Codec, &x.Width, &x.Height, &x.InitSize, &x.Frames, &x.Recovered)
	return x, err
}

// Recordings returns the segments overlapping [from, to), oldest first;
// an empty camera means every camera.
func (s *Store) Recordings(ctx context.Context, camera string, from, to time.Time) ([]telemetry.Recording, error) {
	if !to.After(from) {
		return nil, ErrRange
	}
	rows, err := s.pool.Query(ctx, `SELECT `+recordingColumns+` FROM recordings
		WHERE ($1 = '' OR camera_id = $1) AND start_time < $3 AND end_time > $2
		  AND start_time > $2::timestamptz - interval '1 day'
		ORDER BY camera_id, start_time`, camera, from, to)
	if err != nil {
		return nil, fmt.Errorf("store: recordings: %w", err)
	}
	rs, err := pgx.CollectRows(rows, scanRecording)
	if err != nil {
		return nil, fmt.Errorf("store: recordings: %w", err)
	}
	return rs, nil
}

// RecordingByID returns one segment, or ErrNotFound.
func (s *Store) RecordingByID(ctx context.Context, id int64) (telemetry.Recording, error) {
	rows, err := s.pool.Query(ctx, `SELECT `+recordingColumns+` FROM recordings WHERE id = $1`, id)
	if err != nil {
		return telemetry.Recording{}, fmt.Errorf("store: recording: %w", err)
	}
	r, err := pgx.CollectExactlyOneRow(rows, scanRecording)
	if err == pgx.ErrNoRows {
		return telemetry.Recording{}, ErrNotFound
	}
	if err != nil {
		return telemetry.Recording{}, fmt.Errorf("store: recording: %w", err)
	}
	return r, nil
}
