package rtsp

import (
	"github.com/smarteye/smarteye/telemetry"
)

// Settings are the streams' settings in the configuration file (the
// `video` section's), shared by every camera.
type Settings struct {
	// ReadTimeout ends an RTSP session that receives nothing. It defaults to 10 seconds.
	ReadTimeout telemetry.Duration `yaml:"read_timeout"`
	// StallTimeout marks a stream stalled when no picture arrives. It defaults to 3 seconds.
	StallTimeout telemetry.Duration `yaml:"stall_timeout"`
	// StalledReconnect reconnects a stream that has been stalled this long
	// (a hung encoder can keep its session alive while sending no video).
	// It defaults to ReadTimeout.
	StalledReconnect telemetry.Duration `yaml:"stalled_reconnect"`
	// UDPReadBuffer is the receive buffer asked for each camera's UDP
	// sockets ("4MiB"; the kernel caps it at net.core.rmem_max, logged).
	UDPReadBuffer telemetry.Size `yaml:"udp_read_buffer"`
	// AutoTCPLoss and AutoTCPAfter move a camera with transport auto to
	// TCP when its RTP loss over UDP stays above AutoTCPLoss (a fraction,
	// default 0.02) for AutoTCPAfter (default 10 s).
	AutoTCPLoss  float64            `yaml:"auto_tcp_loss"`
	AutoTCPAfter telemetry.Duration `yaml:"auto_tcp_after"`
	// MaxBackoff caps the wait between reconnections. It defaults to 30 seconds.
	MaxBackoff telemetry.Duration `yaml:"max_backoff"`
}

// DefaultSettings are the streams' defaults.
func DefaultSettings() Settings {
	return Settings{ReadTimeout: telemetry.Duration(defaultReadTimeout), StallTimeout: telemetry.Duration(defaultStallTimeout), UDPReadBuffer: 4 << 20,
		AutoTCPLoss: 0.02, AutoTCPAfter: telemetry.Duration(defaultAutoTCPAfter), MaxBackoff: telemetry.Duration(defaultMaxBackoff)}
}

// Check records what is wrong with the settings.
func (s Settings) Check(p *telemetry.Problems) {
	p.Positive("read_timeout", s.ReadTimeout)
	p.Positive("stall_timeout", s.StallTimeout)
	if s.UDPReadBuffer < 0 || s.UDPReadBuffer > 1<<30 {
		p.Add("udp_read_buffer", "out of range 0..1GiB")
	}
	if s.AutoTCPLoss < 0 || s.AutoTCPLoss >= 1 {
		p.Add("auto_tcp_loss", "%g is not a fraction in [0, 1)", s.AutoTCPLoss)
	}
	if s.AutoTCPAfter < 0 {
		p.Add("auto_tcp_after", "must be 0 (10s) or positive")
	}
	if s.StalledReconnect < 0 {
		p.Add("stalled_reconnect", "must be 0 (read_timeout) or positive, e.g. 10s")
	}
	p.Positive("max_backoff", s.MaxBackoff)
}

// Config is a camera's stream with these settings.
func (s Settings) Config(camera, url, transport, fingerprint string) Config {
	return Config{Camera: camera, URL: url, Transport: transport, TLSFingerprint: fingerprint,
		ReadTimeout: s.ReadTimeout.D(), StallTimeout: s.StallTimeout.D(), StalledReconnect: s.StalledReconnect.D(),
		UDPReadBuffer: int(s.UDPReadBuffer), AutoTCPLoss: s.AutoTCPLoss, AutoTCPAfter: s.AutoTCPAfter.D(), MaxBackoff: s.MaxBackoff.D()}
}
