package history

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// EventQuery selects events; empty fields do not filter.
type EventQuery struct {
	From, To time.Time // [From, To), required
	Camera   string
	Vehicle  string
	Kind     string // exact, or a prefix ending in "." (e.g. "zone.")
	Limit    int    // newest first; at most this many
}

// EventRecord is a stored event.
type EventRecord struct {
	Time     time.Time       `json:"time"`
	ID       string          `json:"id"`
	Kind     string          `json:"kind"`
	Site     *string         `json:"site,omitempty"`
	CameraID *string         `json:"camera_id,omitempty"`
	Vehicle  *string         `json:"vehicle_id,omitempty"`
	TrackID  *int64          `json:"track_id,omitempty"`
	Lat      *float64        `json:"lat,omitempty"`
	Lon      *float64        `json:"lon,omitempty"`
	Message  *string         `json:"message,omitempty"`
	Data     json.RawMessage `json:"data,omitempty"`
}

// filter builds a WHERE clause over a time range, adding conditions whose
// "?" becomes the next placeholder.
type filter struct {
	where []string
	args  []any
}

func newFilter(from, to time.Time) *filter {
	return &filter{where: []string{"time >= $1", "time < $2"}, args: []any{from, to}}
}

func (f *filter) add(cond string, v any) {
	f.args = append(f.args, v)
	f.where = append(f.where, strings.ReplaceAll(cond, "?", "$"+strconv.Itoa(len(f.args))))
}

// sql is " WHERE … ORDER BY time DESC LIMIT n".
func (f *filter) sql(limit int) string {
	return " WHERE " + strings.Join(f.where, " AND ") + " ORDER BY time DESC LIMIT " + strconv.Itoa(max(limit, 1))
}

// Events returns the events matching q, newest first.
func (s *Store) Events(ctx context.Context, q EventQuery) ([]EventRecord, error) {
	if !q.To.After(q.From) {
		return nil, ErrRange
	}
	f := newFilter(q.From, q.To)
	if q.Camera != "" {
		f.add("camera_id = ?", q.Camera)
	}
	if q.Vehicle != "" {
		f.add("vehicle_id = ?", q.Vehicle)
	}
	if k := q.Kind; k != "" {
		if strings.HasSuffix(k, ".") {
			f.add("starts_with(kind, ?)", k)
		} else {
			f.add("kind = ?", k)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT time, id::text, kind, site_id, camera_id, vehicle_id, track_id, lat, lon, message, data
		FROM events`+f.sql(q.Limit), f.args...)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: events: %w", err)
	}
	return out, nil
}

// DetectionQuery selects detections.
type DetectionQuery struct {
	From, To time.Time // required
	Camera   string
	Class    string
	TrackID  int64
	Limit    int // newest first
}

// DetectionRecord is a stored detection.
type DetectionRecord struct {
	Time          time.Time  `json:"time"`
	CameraID      string     `json:"camera_id"`
	TrackID       *int64     `json:"track_id,omitempty"`
	Class         string     `json:"class"`
	Confidence    float32    `json:"confidence"`
	Box           [4]float32 `json:"box"` // x, y, w, h in pixels
	Lat           *float64   `json:"lat,omitempty"`
	Lon           *float64   `json:"lon,omitempty"`
	PositionError *float32   `json:"position_error,omitempty"`
	GeoStatus     *string    `json:"geo_status,omitempty"`
}

// Detections returns the detections matching q, newest first.
func (s *Store) Detections(ctx context.Context, q DetectionQuery) ([]DetectionRecord, error) {
	if !q.To.After(q.From) {
		return nil, ErrRange
	}
	f := newFilter(q.From, q.To)
	if q.Camera != "" {
		f.add("camera_id = ?", q.Camera)
	}
	if q.Class != "" {
		f.add("class = ?", q.Class)
	}
	if q.TrackID != 0 {
		f.add("track_id = ?", q.TrackID)
	}
	rows, err := s.pool.Query(ctx, `SELECT time, camera_id, track_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon, position_error, geo_status
		FROM detections`+f.sql(q.Limit), f.args...)
	if err != nil {
		return nil, fmt.Errorf("store: detections: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDetection)
	if err != nil {
		return nil, fmt.Errorf("store: detections: %w", err)
	}
	return out, nil
}

// PlacedDetections returns the detections placed on the ground inside the
// bound [west, south, east, north] (degrees) in [from, to), newest first,
// at most limit: the map's and the tiles' query (GiST on geom).
func (s *Store) PlacedDetections(ctx context.Context, from, to time.Time, bound [4]float64, camera string, limit int) ([]DetectionRecord, error) {
	if !to.After(from) {
		return nil, ErrRange
	}
	f := newFilter(from, to)
	f.args = append(f.args, bound[0], bound[1], bound[2], bound[3])
	f.where = append(f.where, "geom && ST_MakeEnvelope($3, $4, $5, $6, 4326)")
	if camera != "" {
		f.add("camera_id = ?", camera)
	}
	rows, err := s.pool.Query(ctx, `SELECT time, camera_id, track_id, class, confidence, box_x, box_y, box_w, box_h, lat, lon, position_error, geo_status
		FROM detections`+f.sql(limit), f.args...)
	if err != nil {
		return nil, fmt.Errorf("store: placed detections: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanDetection)
	if err != nil {
		return nil, fmt.Errorf("store: placed detections: %w", err)
	}
	return out, nil
}

func scanDetection(r pgx.CollectableRow) (DetectionRecord, error) {
	var d DetectionRecord
	err := r.Scan(&d.Time, &d.CameraID, &d.TrackID, &d.Class, &d.Confidence, &d.Box[0], &d.Box[1], &d.Box[2], &d.Box[3], &d.Lat, &d.Lon, &d.PositionError, &d.GeoStatus)
	return d, err
}

// PlacedEvents returns the events with a position inside the bound
// [west, south, east, north] in [from, to), newest first; kind as in
// EventQuery (exact or a prefix ending in ".").
func (s *Store) PlacedEvents(ctx context.Context, from, to time.Time, bound [4]float64, kind string, limit int) ([]EventRecord, error) {
	if !to.After(from) {
		return nil, ErrRange
	}
	f := newFilter(from, to)
	f.args = append(f.args, bound[0], bound[1], bound[2], bound[3])
	f.where = append(f.where, "geom && ST_MakeEnvelope($3, $4, $5, $6, 4326)")
	if kind != "" {
		if strings.HasSuffix(kind, ".") {
			f.add("starts_with(kind, ?)", kind)
		} else {
			f.add("kind = ?", kind)
		}
	}
	rows, err := s.pool.Query(ctx, `SELECT time, id::text, kind, site_id, camera_id, vehicle_id, track_id, lat, lon, message, data
		FROM events`+f.sql(limit), f.args...)
	if err != nil {
		return nil, fmt.Errorf("store: placed events: %w", err)
	}
	out, err := pgx.CollectRows(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("store: placed events: %w", err)
	}
	return out, nil
}

func scanEvent(r pgx.CollectableRow) (EventRecord, error) {
	var e EventRecord
	var data []byte
	err := r.Scan(&e.Time, &e.ID, &e.Kind, &e.Site, &e.CameraID, &e.Vehicle, &e.TrackID, &e.Lat, &e.Lon, &e.Message, &data)
	e.Data = data
	return e, err
}
