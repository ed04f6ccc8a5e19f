package store

import (
	"log/slog"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Settings configure the batch writer and upkeep in the configuration file
// (the `store` section).
type Settings struct {
	// BatchSize is the most rows per COPY. It defaults to 5000.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits. It defaults to 500 milliseconds.
	FlushInterval telemetry.Duration `yaml:"flush_interval"`
	// QueueSize is the rows queued before new ones are dropped. It defaults to 100000.
	QueueSize int `yaml:"queue_size"`
	// SpoolMaxBytes caps the outage spool; 0 is no cap. It defaults to 0.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// PartitionsAhead is days of partitions made ahead. It defaults to 3.
	PartitionsAhead int `yaml:"partitions_ahead"`
	// MaintenanceInterval is how often upkeep runs. It defaults to 1 hour.
	MaintenanceInterval telemetry.Duration `yaml:"maintenance_interval"`
	// SummaryInterval is how often detections_5m is refreshed. It defaults to 1 minute.
	SummaryInterval telemetry.Duration `yaml:"summary_interval"`
	// CompressAfter is when TimescaleDB compresses. It defaults to 7 days.
	CompressAfter telemetry.Duration `yaml:"compress_after"`
	Retention     Retention          `yaml:"retention"`
}

// Retention is how long each time-series table keeps rows; 0 keeps them forever.
type Retention struct {
	// Telemetry defaults to 30 days.
	Telemetry telemetry.Duration `yaml:"telemetry"`
	// Detections defaults to 90 days.
	Detections telemetry.Duration `yaml:"detections"`
	// Events defaults to 365 days.
	Events telemetry.Duration `yaml:"events"`
}

const day = 24 * time.Hour

// DefaultSettings are the store's defaults.
func DefaultSettings() Settings {
	return Settings{
		BatchSize: 5000, FlushInterval: telemetry.Duration(500 * time.Millisecond), QueueSize: 100000,
		PartitionsAhead: 3, MaintenanceInterval: telemetry.Duration(time.Hour), SummaryInterval: telemetry.Duration(time.Minute),
		CompressAfter: telemetry.Duration(7 * day),
		Retention:     Retention{Telemetry: telemetry.Duration(30 * day), Detections: telemetry.Duration(90 * day), Events: telemetry.Duration(365 * day)},
	}
}

// Check records what is wrong with the settings.
func (s Settings) Check(p *telemetry.Problems) {
	if s.BatchSize < 1 || s.BatchSize > 100000 {
		p.Add("batch_size", "%d is out of range 1..100000", s.BatchSize)
	}
	p.Positive("flush_interval", s.FlushInterval)
	if s.QueueSize < s.BatchSize {
		p.Add("queue_size", "%d is smaller than store.batch_size (%d)", s.QueueSize, s.BatchSize)
	}
	if s.SpoolMaxBytes < 0 {
		p.Add("spool_max_bytes", "must be 0 (no cap) or more")
	}
	if s.PartitionsAhead < 1 || s.PartitionsAhead > 60 {
		p.Add("partitions_ahead", "%d is out of range 1..60 days", s.PartitionsAhead)
	}
	p.Positive("maintenance_interval", s.MaintenanceInterval)
	p.Positive("summary_interval", s.SummaryInterval)
	p.Positive("compress_after", s.CompressAfter)
	r := p.In("retention")
	for _, x := range []struct {
		key string
		d   telemetry.Duration
	}{{"telemetry", s.Retention.Telemetry}, {"detections", s.Retention.Detections}, {"events", s.Retention.Events}} {
		if x.d < 0 {
			r.Add(x.key, "must be 0 (keep forever) or positive")
		} else if x.d > 0 && time.Duration(x.d) < day {
			r.Add(x.key, "%s is less than a day, the partition size; use 1d or more", x.d)
		}
	}
}

// Config is the store on the database at url with these settings; the
// connection's settings are the caller's.
func (s Settings) Config(url, mode string, maxConns int, connectTimeout time.Duration, log *slog.Logger) Config {
	return Config{
		URL: url, Mode: mode, MaxConns: int32(maxConns), ConnectTimeout: connectTimeout,
		PartitionsAhead: s.PartitionsAhead, MaintenanceInterval: s.MaintenanceInterval.D(),
		SummaryInterval: s.SummaryInterval.D(), CompressAfter: s.CompressAfter.D(),
		Retention: map[string]time.Duration{"telemetry": s.Retention.Telemetry.D(), "detections": s.Retention.Detections.D(), "events": s.Retention.Events.D()},
		Log:       log,
	}
}

// WriterConfig is the batch writer with these settings, spooling under
// dataDir.
func (s Settings) WriterConfig(dataDir string, log *slog.Logger, reg prometheus.Registerer) WriterConfig {
	return WriterConfig{BatchSize: s.BatchSize, FlushInterval: s.FlushInterval.D(), QueueSize: s.QueueSize,
		SpoolDir: filepath.Join(dataDir, "spool"), SpoolMaxBytes: s.SpoolMaxBytes, Log: log, Registerer: reg}
}
