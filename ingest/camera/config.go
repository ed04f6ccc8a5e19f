package camera

import (
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/telemetry"
)

// Config is the cameras and their analysis (the `video` settings).
type Config struct {
	// Workers is how many detections run at once across all cameras; 0
	// means one per core. It defaults to 0.
	Workers int `yaml:"workers"`
	// Snapshots keeps a JPEG of each track's best frame under
	// <data_dir>/snapshots, for as long as events are kept. It defaults to true.
	Snapshots bool `yaml:"snapshots"`
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
	// Models is the directory of the installed trained detector
	// (`smarteye models install`). It defaults to <data_dir>/models.
	Models string `yaml:"models"`
	// Cameras defaults to none (the demo adds its simulated ones).
	Cameras   []Camera            `yaml:"cameras"`
	WebRTC    live.WebRTCSettings `yaml:"webrtc"`
	Recording Recording           `yaml:"recording"`
}

// Recording configures the video recorder (ingest/record): cameras' video
// remuxed, not re-encoded, into fragmented-MP4 segments on disk.
type Recording struct {
	// Mode is continuous, events (around each camera's events, with pre-
	// and post-roll) or off; a camera's own record setting overrides it. It
	// defaults to continuous.
	Mode string `yaml:"mode"`
	// Dir holds the segments. It defaults to <data_dir>/recordings.
	Dir string `yaml:"dir"`
	// Segment is a segment file's length (cut at the next keyframe). It
	// defaults to 1 minute.
	Segment telemetry.Duration `yaml:"segment"`
	// PreRoll and PostRoll widen an event's recording in events mode. They
	// default to 10 and 20 seconds.
	PreRoll  telemetry.Duration `yaml:"pre_roll"`
	PostRoll telemetry.Duration `yaml:"post_roll"`
	// MaxAge deletes older segments; 0 keeps them while the budget allows.
	// It defaults to 7 days.
	MaxAge telemetry.Duration `yaml:"max_age"`
	// MaxSize is the disk budget for all segments ("20GiB"); the oldest go
	// first. 0 sets none. It defaults to 20GiB.
	MaxSize telemetry.Size `yaml:"max_size"`
	// MinFree stops recording (with a recording.stopped event) while the
	// disk has less free space than this. It defaults to 1GiB.
	MinFree telemetry.Size `yaml:"min_free"`
}

// Camera is one RTSP camera.
type Camera struct {
	ID             string             `yaml:"id"`
	Name           string             `yaml:"name"`
	Kind           string             `yaml:"kind"`
	Vehicle        string             `yaml:"vehicle"`
	URL            string             `yaml:"url"`
	Transport      string             `yaml:"transport"`
	TLSFingerprint string             `yaml:"tls_fingerprint"`
	Detector       string             `yaml:"detector"`
	Rate           float64            `yaml:"rate"`
	Gate           *bool              `yaml:"gate"`
	MinConfidence  float64            `yaml:"min_confidence"`
	Model          Model              `yaml:"model"`
	Tiles          Tiles              `yaml:"tiles"`
	Zones          []Zone             `yaml:"zones"`
	Geo            place.CameraConfig `yaml:"geo"`
	// Record overrides video.recording.mode for this camera.
	Record string `yaml:"record"`
}

// Tiles runs a camera's NanoDet on a grid of enlarged tiles (drone
// cameras looking down: small objects).
type Tiles struct {
	Cols    int     `yaml:"cols"`
	Rows    int     `yaml:"rows"`
	Scale   float64 `yaml:"scale"`
	Overlap float64 `yaml:"overlap"`
}

// Model is a cascade, YOLO or NanoDet model file set.
type Model struct {
	Cascade    string   `yaml:"cascade"`
	Class      string   `yaml:"class"`
	MinSize    int      `yaml:"min_size"`
	Config     string   `yaml:"config"`
	Weights    string   `yaml:"weights"`
	ONNX       string   `yaml:"onnx"`
	Layout     string   `yaml:"layout"`
	Names      string   `yaml:"names"`
	Input      int      `yaml:"input"`
	Confidence float64  `yaml:"confidence"`
	NMS        float64  `yaml:"nms"`
	Keep       []string `yaml:"keep"`
	// ClassConfidence sets single classes' thresholds (NanoDet).
	ClassConfidence map[string]float64 `yaml:"class_confidence"`
}

// Zone is a polygon in a camera's image.
type Zone struct {
	Name     string             `yaml:"name"`
	Polygon  [][2]float64       `yaml:"polygon"`
	Classes  []string           `yaml:"classes"`
	Dwell    telemetry.Duration `yaml:"dwell"`
	MinCount int                `yaml:"min_count"`
}
