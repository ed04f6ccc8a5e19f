package history

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// VehicleRecord is a row of the vehicles table.
type VehicleRecord struct {
	ID         string     `json:"id"`
	Name       string     `json:"name"`
	Link       string     `json:"link"`
	SystemID   int        `json:"system_id"`
	Type       string     `json:"type,omitempty"`
	Autopilot  string     `json:"autopilot,omitempty"`
	Discovered bool       `json:"discovered"`
	FirstSeen  *time.Time `json:"first_seen,omitempty"`
	LastSeen   *time.Time `json:"last_seen,omitempty"`
}

// Vehicles lists the vehicles table by id.
func (s *Store) Vehicles(ctx context.Context) ([]VehicleRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, name, link, system_id, COALESCE(vehicle_type, ''), COALESCE(autopilot, ''), discovered, first_seen, last_seen FROM vehicles ORDER BY id`)
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (VehicleRecord, error) {
		var v VehicleRecord
		err := r.Scan(&v.ID, &v.Name, &v.Link, &v.SystemID, &v.Type, &v.Autopilot, &v.Discovered, &v.FirstSeen, &v.LastSeen)
		return v, err
	})
}
