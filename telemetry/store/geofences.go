package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
)

// GeofenceRecord is a stored geofence; Polygon is a GeoJSON geometry.
type GeofenceRecord struct {
	ID      string
	Site    string
	Name    string
	Kind    string
	Polygon json.RawMessage
	Dwell   time.Duration
	Classes []string
}

// Geofences returns the stored geofences, by id.
func (s *Store) Geofences(ctx context.Context) ([]GeofenceRecord, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(site_id, ''), name, kind, polygon, dwell_s, classes FROM geofences ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: geofences: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (GeofenceRecord, error) {
		var g GeofenceRecord
		var dwell float32
		err := r.Scan(&g.ID, &g.Site, &g.Name, &g.Kind, &g.Polygon, &dwell, &g.Classes)
		g.Dwell = time.Duration(float64(dwell) * float64(time.Second))
		return g, err
	})
}

// PutGeofence creates or replaces a geofence.
func (s *Store) PutGeofence(ctx context.Context, g GeofenceRecord) error {
	if g.Classes == nil {
		g.Classes = []string{}
	}
	_, err := s.pool.Exec(ctx, `INSERT INTO geofences (id, site_id, name, kind, polygon, geom, dwell_s, classes)
		VALUES ($1, nullif($2, ''), $3, $4, $5::text::jsonb, ST_SetSRID(ST_GeomFromGeoJSON($5::text), 4326), $6, $7)
		ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name, kind = EXCLUDED.kind,
			polygon = EXCLUDED.polygon, geom = EXCLUDED.geom, dwell_s = EXCLUDED.dwell_s, classes = EXCLUDED.classes, updated_at = now()`,
		g.ID, g.Site, g.Name, g.Kind, string(g.Polygon), float32(g.Dwell.Seconds()), g.Classes)
	if err != nil {
		return fmt.Errorf("store: put geofence: %w", err)
	}
	return nil
}

// DeleteGeofence removes a geofence; false when there was none.
func (s *Store) DeleteGeofence(ctx context.Context, id string) (bool, error) {
	tag, err := s.pool.Exec(ctx, `DELETE FROM geofences WHERE id = $1`, id)
	if err != nil {
		return false, fmt.Errorf("store: delete geofence: %w", err)
	}
	return tag.RowsAffected() == 1, nil
}

// CameraCalibrations returns the calibrations set through the API, by
// camera id (JSON as stored).
func (s *Store) CameraCalibrations(ctx context.Context) (map[string]json.RawMessage, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, calibration FROM cameras WHERE calibration IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("store: calibrations: %w", err)
	}
	defer rows.Close()
	out := map[string]json.RawMessage{}
	for rows.Next() {
		var id string
		var c []byte
		if err := rows.Scan(&id, &c); err != nil {
			return nil, err
		}
		out[id] = c
	}
	return out, rows.Err()
}

// PutCameraCalibration stores a camera's calibration (creating its row).
func (s *Store) PutCameraCalibration(ctx context.Context, camera, name, kind string, calibration []byte) error {
	_, err := s.pool.Exec(ctx, `INSERT INTO cameras (id, name, kind, calibration) VALUES ($1, $2, $3, $4::text::jsonb)
		ON CONFLICT (id) DO UPDATE SET calibration = EXCLUDED.calibration, updated_at = now()`, camera, name, kind, string(calibration))
	if err != nil {
		return fmt.Errorf("store: put calibration: %w", err)
	}
	return nil
}
