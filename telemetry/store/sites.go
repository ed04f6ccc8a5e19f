package store

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// SiteRecord is a configured site as the store keeps it: the trends read
// its time zone (their days) and the site a camera is on.
type SiteRecord struct {
	ID, Name, Timezone string
	Elevation          float64
	Synthetic          bool
}

// CameraRecord is a configured camera: which site it watches.
type CameraRecord struct {
	ID, Name, Kind, Site string
}

// SyncSites writes the configured sites and cameras (their names, kinds
// and sites; a camera's calibration is kept), in one transaction. A camera
// whose site is not configured is on none. When anything changed, the
// trends whose raw rows are still kept are marked to be counted again.
func (s *Store) SyncSites(ctx context.Context, sites []SiteRecord, cameras []CameraRecord) error {
	err := pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		changed := false
		known := map[string]bool{}
		for _, site := range sites {
			tz := site.Timezone
			if tz == "" {
				tz = "UTC"
			}
			tag, err := tx.Exec(ctx, `INSERT INTO sites (id, name, timezone, elevation, synthetic) VALUES ($1, $2, $3, $4, $5)
				ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, timezone = EXCLUDED.timezone, elevation = EXCLUDED.elevation,
					synthetic = EXCLUDED.synthetic, updated_at = now()
				WHERE (sites.name, sites.timezone, sites.elevation, sites.synthetic) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.timezone, EXCLUDED.elevation, EXCLUDED.synthetic)`,
				site.ID, site.Name, tz, site.Elevation, site.Synthetic)
			if err != nil {
				return err
			}
			changed = changed || tag.RowsAffected() > 0
			known[site.ID] = true
		}
		for _, c := range cameras {
			var site any
			if known[c.Site] {
				site = c.Site
			}
			kind := c.Kind
			if kind != "drone" {
				kind = "fixed"
			}
			tag, err := tx.Exec(ctx, `INSERT INTO cameras (id, name, kind, site_id) VALUES ($1, $2, $3, $4)
				ON CONFLICT (id) DO UPDATE SET name = EXCLUDED.name, kind = EXCLUDED.kind, site_id = EXCLUDED.site_id, updated_at = now()
				WHERE (cameras.name, cameras.kind, cameras.site_id) IS DISTINCT FROM (EXCLUDED.name, EXCLUDED.kind, EXCLUDED.site_id)`,
				c.ID, c.Name, kind, site)
			if err != nil {
				return err
			}
			changed = changed || tag.RowsAffected() > 0
		}
		if !changed {
			return nil
		}
		// A site's time zone or a camera's site changed: the trends of
		// what is still kept are counted again (their days, their sites).
		_, err := tx.Exec(ctx, `INSERT INTO trends_dirty (source, from_time, to_time)
			SELECT 'events', min(bucket), max(bucket) FROM trends_5m
			WHERE bucket >= coalesce((SELECT min(time) FROM events), now()) HAVING count(*) > 0`)
		return err
	})
	if err != nil {
		return fmt.Errorf("store: sync sites: %w", err)
	}
	return nil
}

// HasSyntheticEvents tells whether generated (demo) events were written.
func (s *Store) HasSyntheticEvents(ctx context.Context) (bool, error) {
	var ok bool
	err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE kind = 'zone.enter' AND data @> '{"synthetic": true}')`).Scan(&ok)
	return ok, err
}

// ImportEvents writes past events (an imported history, generated demo
// data) in batches of 5,000, each once, and marks the trends to refresh.
func (s *Store) ImportEvents(ctx context.Context, evs []telemetry.Event) error {
	for len(evs) > 0 {
		n := min(len(evs), 5000)
		rows := make([][]any, n)
		for i := range n {
			rows[i] = EventRow(&evs[i])
		}
		if _, err := s.CopyBatch(ctx, &batch.Batch{ID: telemetry.NewUUID(), Table: Events, Rows: rows}); err != nil {
			return err
		}
		evs = evs[n:]
	}
	return nil
}
