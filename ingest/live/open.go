package live

import (
	"fmt"
	"log/slog"
	"net"

	"github.com/smarteye/smarteye/telemetry"
)

// OpenWebRTC opens the WebRTC port; without it (busy, say) viewers get the
// MSE stream, and the status board says why.
func OpenWebRTC(wc WebRTCSettings, log *slog.Logger, board *telemetry.Board) *WebRTC {
	if !wc.Enabled {
		board.Set("webrtc", telemetry.StateOK, "off: live video over WebSocket (MSE) only")
		return nil
	}
	rtc, err := NewWebRTC(WebRTCConfig{UDPAddress: wc.Address, PublicIPs: wc.PublicIPs, MaxSessions: wc.MaxSessions, Log: log})
	if err != nil {
		log.Warn("WebRTC unavailable; live video over WebSocket (MSE) only", "err", err)
		board.Set("webrtc", telemetry.StateDegraded, err.Error()+"; live video over WebSocket (MSE) only")
		return nil
	}
	board.Set("webrtc", telemetry.StateOK, fmt.Sprintf("UDP port %d", rtc.Port()))
	return rtc
}

// DefaultWebRTCSettings are WebRTC's defaults.
func DefaultWebRTCSettings() WebRTCSettings {
	return WebRTCSettings{Enabled: true, Address: ":8189", PublicIPs: []string{}, MaxSessions: 64}
}

// Check records what is wrong with the settings.
func (w WebRTCSettings) Check(p *telemetry.Problems) {
	if !w.Enabled {
		return
	}
	if err := telemetry.CheckAddr(w.Address); err != nil {
		p.Add("address", "%v; write host:port, e.g. :8189", err)
	}
	for _, ip := range w.PublicIPs {
		if net.ParseIP(ip) == nil {
			p.Add("public_ips", "%q is not an IP address", ip)
		}
	}
	if w.MaxSessions < 1 || w.MaxSessions > 10000 {
		p.Add("max_sessions", "%d is out of range 1..10000", w.MaxSessions)
	}
}
