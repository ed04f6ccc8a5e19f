package telemetry

import "time"

// Recording is one recorded segment file (ingest/record writes them, the store indexes them).
type Recording struct {
	ID        int64     `json:"id"`
	Camera    string    `json:"camera_id"`
	Start     time.Time `json:"start"`
	End       time.Time `json:"end"`
	Path      string    `json:"-"` // relative to the recordings directory
	Bytes     int64     `json:"bytes"`
	Codec     string    `json:"codec"`
	Width     int       `json:"width"`
	Height    int       `json:"height"`
	InitSize  int       `json:"-"`
	Frames    int       `json:"frames"`
	Recovered bool      `json:"recovered,omitempty"`
}

// Duration is the segment's length.
func (r Recording) Duration() time.Duration { return r.End.Sub(r.Start) }
