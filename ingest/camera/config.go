package camera

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"

	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision/analysis"
)

// Config is the cameras and their analysis (the `video` settings): the
// streams', the recorder's and WebRTC's settings are theirs, composed here.
type Config struct {
	// Workers is how many detections run at once across all cameras; 0
	// means one per core. It defaults to 0.
	Workers int `yaml:"workers"`
	// Snapshots keeps a JPEG of each track's best frame under
	// <data_dir>/snapshots, for as long as events are kept. It defaults to true.
	Snapshots     bool `yaml:"snapshots"`
	rtsp.Settings `yaml:",inline"`
	// Models is the directory of the installed trained detector
	// (`smarteye models install`). It defaults to <data_dir>/models.
	Models string `yaml:"models"`
	// Cameras defaults to none (the demo adds its simulated ones).
	Cameras   []Camera            `yaml:"cameras"`
	WebRTC    live.WebRTCSettings `yaml:"webrtc"`
	Recording record.Settings     `yaml:"recording"`
}

// Camera is one RTSP camera: its stream, its analysis (analysis.Settings'
// keys) and how it is placed on the ground.
type Camera struct {
	ID                string `yaml:"id"`
	Name              string `yaml:"name"`
	Kind              string `yaml:"kind"`
	Vehicle           string `yaml:"vehicle"`
	URL               string `yaml:"url"`
	Transport         string `yaml:"transport"`
	TLSFingerprint    string `yaml:"tls_fingerprint"`
	analysis.Settings `yaml:",inline"`
	Geo               place.CameraConfig `yaml:"geo"`
	// Record overrides video.recording.mode for this camera.
	Record string `yaml:"record"`
}

// DefaultConfig is the cameras' defaults: none, with snapshots kept.
func DefaultConfig() Config {
	return Config{Snapshots: true, Settings: rtsp.DefaultSettings(), Cameras: []Camera{},
		WebRTC: live.DefaultWebRTCSettings(), Recording: record.DefaultSettings()}
}

// ID is what a camera id may be: it names snapshot folders and RTSP paths.
var ID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// Check records what is wrong with the settings (sites and vehicles that
// cameras name are the caller's to check).
func (c Config) Check(p *telemetry.Problems) {
	c.WebRTC.Check(p.In("webrtc"))
	if c.Workers < 0 || c.Workers > 256 {
		p.Add("workers", "%d is out of range 0 (one per core)..256", c.Workers)
	}
	c.Settings.Check(p)
	c.Recording.Check(p.In("recording"))
	ids := map[string]bool{}
	for i, cam := range c.Cameras {
		cp := p.In(fmt.Sprintf("cameras[%d]", i))
		if ids[cam.ID] && ID.MatchString(cam.ID) {
			cp.Add("id", "%q is used twice", cam.ID)
		}
		ids[cam.ID] = true
		cam.Check(cp)
	}
}

// Check records what is wrong with a camera.
func (c Camera) Check(p *telemetry.Problems) {
	if !ID.MatchString(c.ID) {
		p.Add("id", "%q: use 1-64 letters, digits, '.', '_' or '-' (it names files and URL paths)", c.ID)
	}
	switch c.Kind {
	case "", "fixed":
	case "drone":
		if c.Vehicle == "" {
			p.Add("vehicle", "a drone camera names the vehicle that carries it")
		}
	default:
		p.Add("kind", "%q is not one of fixed, drone", c.Kind)
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
		p.Add("url", "want rtsp://[user:password@]host[:port]/path or rtsps://…")
	}
	switch c.Transport {
	case "", rtsp.TransportAuto, rtsp.TransportTCP, rtsp.TransportUDP:
	default:
		p.Add("transport", "%q is not one of auto, tcp, udp", c.Transport)
	}
	c.Settings.Check(p)
	if c.Record != "" && !slices.Contains(record.Modes, c.Record) {
		p.Add("record", "%q is not one of continuous, events, off", c.Record)
	}
	c.Geo.Check(p.In("geo"))
}
