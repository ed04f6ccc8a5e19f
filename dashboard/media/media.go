// Package media serves the dashboard's video and history over time: live
// video to browsers (fragmented MP4 over a WebSocket for Media Source
// Extensions, and WHEP offers for WebRTC), the recorded video (segments,
// HLS playlists, their init and media sections) and replay, a site's
// history on one time slider as NDJSON. It reads the relays, the
// recordings' index and the store through small interfaces and writes
// nothing.
package media

import (
	"context"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/dashboard/internal/ratelimit"
	"github.com/smarteye/smarteye/telemetry"
)

// Camera is what the media routes need of a camera.
type Camera struct {
	ID, Name, Kind, VehicleID string
}

// Alerts reads stored alerts (store.Store).
type Alerts interface {
	Alerts(ctx context.Context, q telemetry.AlertQuery) ([]telemetry.Alert, error)
}

// Config is what the API serves from; a nil source serves none of what it
// holds.
type Config struct {
	// Recordings indexes the recorded video in RecordingsDir and answers
	// replay.
	Recordings    Recordings
	RecordingsDir string
	// Relays are the cameras' live video; WebRTC answers WHEP offers (nil
	// leaves viewers the MSE stream), at most WebRTCLimit a client address
	// (nil: no limit).
	Relays      Relays
	WebRTC      WebRTC
	WebRTCLimit *ratelimit.Limiter
	// Bus has the live cameras (drone cameras without video, footprints).
	Bus telemetry.Bus
	// Cameras lists the cameras.
	Cameras func() []Camera
	// SiteKnown reports whether a site exists.
	SiteKnown func(id string) bool
	// Footprints places drone cameras' pictures on the ground in replay.
	Footprints DroneFootprints
	// Alerts are replayed.
	Alerts     Alerts
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// API serves live and recorded video and replay.
type API struct {
	cfg     Config
	log     *slog.Logger
	viewers prometheus.Gauge
}

// New serves cfg; its metrics are registered on cfg.Registerer (nil:
// none).
func New(cfg Config) *API {
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Bus == nil {
		cfg.Bus = telemetry.NewHub(nil)
	}
	h := &API{cfg: cfg, log: cfg.Log, viewers: prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "smarteye_video_mse_viewers",
		Help: "Open live video streams over WebSocket (fragmented MP4).",
	})}
	if reg := cfg.Registerer; reg != nil {
		reg.MustRegister(h.viewers)
		if cfg.WebRTC != nil {
			reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
				Name: "smarteye_video_webrtc_sessions",
				Help: "Open WebRTC (WHEP) video sessions.",
			}, func() float64 { return float64(cfg.WebRTC.Sessions()) }))
		}
	}
	return h
}

// cameraKnown reports whether id is a camera.
func (h *API) cameraKnown(id string) bool {
	if h.cfg.Cameras != nil {
		for _, c := range h.cfg.Cameras() {
			if c.ID == id {
				return true
			}
		}
	}
	return false
}
