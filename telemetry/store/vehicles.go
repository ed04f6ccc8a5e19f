package store

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store/batch"
)

// UpsertVehicles records vehicles in the vehicles table: identity, and
// first and last heard.
func (s *Store) UpsertVehicles(ctx context.Context, vs []telemetry.Vehicle) error {
	if len(vs) == 0 {
		return nil
	}
	if !s.Ready() {
		return batch.ErrNotReady
	}
	b := &pgx.Batch{}
	for _, v := range vs {
		var seen any
		if !v.Health.LastHeard.IsZero() {
			seen = v.Health.LastHeard
		}
		b.Queue(`INSERT INTO vehicles (id, site_id, name, link, system_id, vehicle_type, autopilot, discovered, first_seen, last_seen)
			VALUES ($1, (SELECT id FROM sites WHERE id = $2), $3, $4, $5, NULLIF($6, ''), NULLIF($7, ''), $8, $9, $9)
			ON CONFLICT (id) DO UPDATE SET
				name = EXCLUDED.name, link = EXCLUDED.link, system_id = EXCLUDED.system_id,
				vehicle_type = COALESCE(EXCLUDED.vehicle_type, vehicles.vehicle_type),
				autopilot = COALESCE(EXCLUDED.autopilot, vehicles.autopilot),
				discovered = EXCLUDED.discovered,
				first_seen = COALESCE(vehicles.first_seen, EXCLUDED.first_seen),
				last_seen = GREATEST(vehicles.last_seen, EXCLUDED.last_seen)`,
			v.ID, v.Site, v.Name, v.Link, int(v.SystemID), v.Type, v.Autopilot, v.Discovered, seen)
	}
	if err := s.pool.SendBatch(ctx, b).Close(); err != nil {
		return fmt.Errorf("store: upsert vehicles: %w", err)
	}
	return nil
}

// SyncVehicles keeps the vehicles table in step with the live state that
// list returns, every interval and once more when ctx ends: a vehicle is
// written when it is new or was heard since its last write. A database
// outage only delays it.
func (s *Store) SyncVehicles(ctx context.Context, list func() []telemetry.Vehicle, interval time.Duration) error {
	written := map[string]time.Time{}
	sync := func(ctx context.Context) {
		var todo []telemetry.Vehicle
		for _, v := range list() {
			if last, ok := written[v.ID]; !ok || v.Health.LastHeard.After(last) {
				todo = append(todo, v)
			}
		}
		if len(todo) == 0 || !s.Ready() {
			return
		}
		if err := s.UpsertVehicles(ctx, todo); err != nil {
			s.log.Warn("vehicle registry not updated; will retry", "err", err)
			return
		}
		for _, v := range todo {
			written[v.ID] = v.Health.LastHeard
		}
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			sync(fctx)
			cancel()
			return nil
		case <-t.C:
			sync(ctx)
		}
	}
}
