package record

import (
	"slices"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Settings configure the video recorder in the configuration file (the
// `video.recording` section): cameras' video remuxed, not re-encoded,
// into fragmented-MP4 segments on disk.
type Settings struct {
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

// Defaults of Config and CameraConfig (and of the configuration file's
// Settings).
const (
	defaultSegment  = time.Minute
	defaultPreRoll  = 10 * time.Second
	defaultPostRoll = 20 * time.Second
	defaultMinFree  = 1 << 30
)

// DefaultSettings are the recorder's defaults.
func DefaultSettings() Settings {
	return Settings{Mode: ModeContinuous, Segment: telemetry.Duration(defaultSegment), PreRoll: telemetry.Duration(defaultPreRoll),
		PostRoll: telemetry.Duration(defaultPostRoll), MaxAge: telemetry.Duration(7 * 24 * time.Hour), MaxSize: 20 << 30, MinFree: defaultMinFree}
}

// Modes are the recording modes, in the order the configuration names them.
var Modes = []string{ModeContinuous, ModeEvents, ModeOff}

// Check records what is wrong with the settings.
func (s Settings) Check(p *telemetry.Problems) {
	if !slices.Contains(Modes, s.Mode) {
		p.Add("mode", "%q is not one of continuous, events, off", s.Mode)
	}
	if d := s.Segment.D(); d < time.Second || d > time.Hour {
		p.Add("segment", "%s is out of range 1s..1h", d)
	}
	p.Positive("pre_roll", s.PreRoll)
	p.Positive("post_roll", s.PostRoll)
	if s.MaxAge < 0 {
		p.Add("max_age", "must not be negative")
	}
	if s.MaxSize != 0 && s.MaxSize < 16<<20 {
		p.Add("max_size", "%s is less than 16MiB (0 sets no budget)", s.MaxSize)
	}
	if s.MinFree < 1 {
		p.Add("min_free", "must be at least one byte")
	}
}
