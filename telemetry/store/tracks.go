package store

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry/store/batch"
	"github.com/smarteye/smarteye/telemetry/store/history"
)

// TrackSummary is the name of the per-second track table
// (migrations/0008_track_1s.sql): the first fix of each vehicle-second,
// written with the telemetry it summarises. Its retention is telemetry's.
const TrackSummary = "track_1s"

// retentionOf is the table whose retention a time-series table follows.
func retentionOf(table string) string {
	if table == TrackSummary {
		return Telemetry.Name
	}
	return table
}

// trackPointColumns are the columns a TrackPoint is read from, in order:
// telemetry's and track_1s's alike.
const trackPointColumns = history.PointColumns

// trackColumns are the columns of track_1s after second, in order; each
// is a telemetry column of the same name.
var trackColumns = append([]string{"vehicle_id"}, strings.Split(trackPointColumns, ", ")...)

// trackSeconds is a batch's contribution to track_1s, in columns.
type trackSeconds struct {
	second, time []time.Time
	vehicle      []string
	lat, lon     []float64
	f32          [7][]*float32 // alt_msl … gimbal_yaw
}

// summariseTrack picks, from a batch of telemetry rows, the first fix of
// each vehicle-second. It finds the columns by name, so a batch read back
// from the spool (whose table is rebuilt from the spool's header) works as
// one made now. It returns nil when the batch has no fix.
func summariseTrack(b *batch.Batch) *trackSeconds {
	col := make([]int, len(trackColumns))
	for i, name := range trackColumns {
		if col[i] = slices.IndexFunc(b.Table.Columns, func(c batch.Column) bool { return c.Name == name }); col[i] < 0 && i < 4 {
			return nil // no vehicle, time or position: nothing to summarise
		}
	}
	type key struct {
		vehicle string
		second  int64
	}
	at := map[key]int{}
	var ts trackSeconds
	for _, r := range b.Rows {
		vehicle, _ := r[col[0]].(string)
		t, _ := r[col[1]].(time.Time)
		lat, ok1 := r[col[2]].(float64)
		lon, ok2 := r[col[3]].(float64)
		if !ok1 || !ok2 || vehicle == "" {
			continue
		}
		t = t.Round(time.Microsecond) // as the database keeps it: its second is the stored row's
		sec := t.Truncate(time.Second)
		k := key{vehicle, sec.Unix()}
		i, seen := at[k]
		if seen && !t.Before(ts.time[i]) {
			continue
		}
		if !seen {
			i = len(ts.time)
			at[k] = i
			ts.second, ts.time, ts.vehicle = append(ts.second, sec), append(ts.time, t), append(ts.vehicle, vehicle)
			ts.lat, ts.lon = append(ts.lat, lat), append(ts.lon, lon)
			for j := range ts.f32 {
				ts.f32[j] = append(ts.f32[j], nil)
			}
		}
		ts.time[i], ts.lat[i], ts.lon[i] = t, lat, lon
		for j := range ts.f32 {
			ts.f32[j][i] = nil
			if c := col[4+j]; c >= 0 {
				if v, ok := r[c].(float32); ok {
					ts.f32[j][i] = &v
				}
			}
		}
	}
	if len(ts.time) == 0 {
		return nil
	}
	return &ts
}

// trackInsert and trackKeepFirst frame an insert of seconds into
// track_1s: a second already there keeps the earlier of the two fixes.
var (
	trackInsert    = `INSERT INTO track_1s (second, vehicle_id, ` + trackPointColumns + `)`
	trackKeepFirst = func() string {
		set := strings.Split(trackPointColumns, ", ")
		for i, c := range set {
			set[i] = c + " = EXCLUDED." + c
		}
		return `
		ON CONFLICT (vehicle_id, second) DO UPDATE SET ` + strings.Join(set, ", ") + `
		WHERE EXCLUDED.time < track_1s.time`
	}()
)

// writeTrackSummary adds a batch's seconds to track_1s in tx; a second
// already there keeps the earlier of the two fixes, so batches written out
// of order (a replayed spool) still leave each second's first.
func writeTrackSummary(ctx context.Context, tx pgx.Tx, ts *trackSeconds) error {
	_, err := tx.Exec(ctx, trackInsert+`
		SELECT * FROM unnest($1::timestamptz[], $2::text[], $3::timestamptz[], $4::float8[], $5::float8[],
			$6::real[], $7::real[], $8::real[], $9::real[], $10::real[], $11::real[], $12::real[])`+trackKeepFirst,
		ts.second, ts.vehicle, ts.time, ts.lat, ts.lon, ts.f32[0], ts.f32[1], ts.f32[2], ts.f32[3], ts.f32[4], ts.f32[5], ts.f32[6])
	if err != nil {
		return fmt.Errorf("track summary: %w", err)
	}
	return nil
}

// SummariseTracks rebuilds track_1s from the telemetry rows in [from, to):
// for rows that reached the telemetry table other than through CopyBatch
// (a bulk load in SQL). It returns the seconds written.
func (s *Store) SummariseTracks(ctx context.Context, from, to time.Time) (int64, error) {
	if !to.After(from) {
		return 0, ErrRange
	}
	if err := s.EnsurePartitions(ctx, TrackSummary, from, to); err != nil {
		return 0, err
	}
	tag, err := s.pool.Exec(ctx, trackInsert+`
		SELECT DISTINCT ON (vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'))
			date_bin('1 second', time, '2000-01-01 00:00:00+00'), vehicle_id, `+trackPointColumns+`
		FROM telemetry
		WHERE time >= $1 AND time < $2 AND lat IS NOT NULL AND lon IS NOT NULL
		ORDER BY vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'), time`+trackKeepFirst, from, to)
	if err != nil {
		return 0, fmt.Errorf("store: summarise tracks: %w", err)
	}
	return tag.RowsAffected(), nil
}
