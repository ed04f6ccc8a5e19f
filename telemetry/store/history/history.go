// Package history reads back what happened, from the tables that package
// store writes and keeps: a vehicle's track downsampled in the database
// (telemetry and its per-second summary track_1s), the events and
// detections of a range or of a map's bound, all of them row by row for
// exports and replay, the vehicles heard and the index of recorded video.
// It only reads; the schema, its upkeep and every write are package
// store's.
package history

import (
	"errors"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/smarteye/smarteye/telemetry"
)

// Store reads history on a connection pool (the store's).
type Store struct {
	pool *pgxpool.Pool
}

// New is the history of the database behind pool.
func New(pool *pgxpool.Pool) *Store { return &Store{pool: pool} }

// TrackPoint is one point of a vehicle's stored track.
type TrackPoint struct {
	Time        time.Time `json:"t"`
	Lat         float64   `json:"lat"`
	Lon         float64   `json:"lon"`
	AltMSL      *float32  `json:"alt_msl,omitempty"`
	AltRel      *float32  `json:"alt_rel,omitempty"`
	Heading     *float32  `json:"heading,omitempty"`
	GroundSpeed *float32  `json:"ground_speed,omitempty"`
	// Where the camera looked (Track only): the vehicle's yaw and the
	// gimbal's pitch and yaw relative to it, in degrees.
	Yaw         *float32 `json:"yaw,omitempty"`
	GimbalPitch *float32 `json:"gimbal_pitch,omitempty"`
	GimbalYaw   *float32 `json:"gimbal_yaw,omitempty"`
}

// ErrNotFound: no such row.
var ErrNotFound = telemetry.ErrNotFound

// ErrRange is returned for a time range that is empty or reversed.
var ErrRange = errors.New("store: 'to' must be after 'from'")
