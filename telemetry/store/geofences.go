package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/paulmach/orb"
	"github.com/paulmach/orb/geojson"

	"github.com/smarteye/smarteye/geo"
)

// Geofences returns the stored geofences, by id. A fence whose stored
// polygon cannot be read comes back without one, for the caller's
// Validate to refuse and report.
func (s *Store) Geofences(ctx context.Context) ([]geo.Fence, error) {
	rows, err := s.pool.Query(ctx, `SELECT id, coalesce(site_id, ''), name, kind, polygon, dwell_s, classes FROM geofences ORDER BY id`)
	if err != nil {
		return nil, fmt.Errorf("store: geofences: %w", err)
	}
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (geo.Fence, error) {
		var f geo.Fence
		var kind string
		var poly []byte
		var dwell float32
		if err := r.Scan(&f.ID, &f.Site, &f.Name, &kind, &poly, &dwell, &f.Classes); err != nil {
			return f, err
		}
		f.Kind, f.Dwell = geo.FenceKind(kind), time.Duration(float64(dwell)*float64(time.Second))
		if g, err := geojson.UnmarshalGeometry(poly); err == nil {
			f.Polygon, _ = g.Geometry().(orb.Polygon)
		}
		return f, nil
	})
}

// PutGeofence creates or replaces a geofence.
func (s *Store) PutGeofence(ctx context.Context, f geo.Fence) error {
	poly, err := geojson.NewGeometry(f.Polygon).MarshalJSON()
	if err != nil {
		return fmt.Errorf("store: put geofence: %w", err)
	}
	classes := f.Classes
	if classes == nil {
		classes = []string{}
	}
	_, err = s.pool.Exec(ctx, `INSERT INTO geofences (id, site_id, name, kind, polygon, geom, dwell_s, classes)
		VALUES ($1, nullif($2, ''), $3, $4, $5::text::jsonb, ST_SetSRID(ST_GeomFromGeoJSON($5::text), 4326), $6, $7)
		ON CONFLICT (id) DO UPDATE SET site_id = EXCLUDED.site_id, name = EXCLUDED.name, kind = EXCLUDED.kind,
			polygon = EXCLUDED.polygon, geom = EXCLUDED.geom, dwell_s = EXCLUDED.dwell_s, classes = EXCLUDED.classes, updated_at = now()`,
		f.ID, f.Site, f.Name, string(f.Kind), string(poly), float32(f.Dwell.Seconds()), classes)
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
