package analysis

import (
	"fmt"
	"log/slog"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
	"github.com/smarteye/smarteye/vision/models"
)

// Settings are a camera's analysis in the configuration file (keys of
// the camera's own section).
type Settings struct {
	// Detector is nanodet, hog, motion, cascade, yolo or none; empty picks
	// nanodet when the trained model is installed, hog otherwise.
	Detector string `yaml:"detector"`
	// Rate is analysed frames per second.
	Rate float64 `yaml:"rate"`
	// Gate runs the detector only where there is motion (fixed cameras).
	Gate          *bool          `yaml:"gate"`
	MinConfidence float64        `yaml:"min_confidence"`
	Model         ModelSettings  `yaml:"model"`
	Tiles         Tiles          `yaml:"tiles"`
	Zones         []ZoneSettings `yaml:"zones"`
}

// ModelSettings are a cascade, YOLO or NanoDet model file set.
type ModelSettings struct {
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

// ZoneSettings are a polygon in a camera's image.
type ZoneSettings struct {
	Name     string             `yaml:"name"`
	Polygon  [][2]float64       `yaml:"polygon"`
	Classes  []string           `yaml:"classes"`
	Dwell    telemetry.Duration `yaml:"dwell"`
	MinCount int                `yaml:"min_count"`
}

// Check records what is wrong with the settings, keys relative to the
// camera.
func (s Settings) Check(p *telemetry.Problems) {
	switch s.Detector {
	case "", DetectorNanoDet, DetectorHOG, DetectorMotion, DetectorCascade, DetectorYOLO, DetectorNone:
	default:
		p.Add("detector", "%q is not one of nanodet, hog, motion, cascade, yolo, none", s.Detector)
	}
	if s.Rate < 0 || s.Rate > 60 {
		p.Add("rate", "%g is out of range 0..60 analysed frames per second", s.Rate)
	}
	names := map[string]bool{}
	for j, z := range s.Zones {
		zp := p.In(fmt.Sprintf("zones[%d]", j))
		if z.Name == "" || names[z.Name] {
			zp.Add("name", "zone names must be unique and not empty")
		}
		names[z.Name] = true
		if len(z.Polygon) < 3 {
			zp.Add("polygon", "a polygon needs at least 3 [x, y] points")
		}
		if z.Dwell < 0 || z.MinCount < 0 {
			zp.Add("", "dwell and min_count must not be negative")
		}
	}
	if (s.Detector == DetectorCascade && s.Model.Cascade == "") || (s.Detector == DetectorYOLO && s.Model.ONNX == "" && s.Model.Weights == "") {
		p.Add("model", "the %s detector needs its model files", s.Detector)
	}
	if s.Tiles != (Tiles{}) && s.Detector != DetectorNanoDet && s.Detector != "" {
		p.Add("tiles", "tiles need the nanodet detector, not %s", s.Detector)
	}
}

// visionZones are the zones as the analysis checks them.
func (s Settings) visionZones() []vision.Zone {
	var out []vision.Zone
	for _, z := range s.Zones {
		vz := vision.Zone{Name: z.Name, Classes: z.Classes, Dwell: z.Dwell.D(), MinCount: z.MinCount}
		for _, p := range z.Polygon {
			vz.Polygon = append(vz.Polygon, vision.Point{X: p[0], Y: p[1]})
		}
		out = append(out, vz)
	}
	return out
}

// Config is camera's analysis with these settings. A camera that names
// no detector gets the trained one (NanoDet) when it is installed in
// modelsDir, and HOG otherwise, with a warning in the log and in the
// camera's status.
func (s Settings) Config(camera string, drone bool, snapDir, modelsDir string, log *slog.Logger) (Config, error) {
	ac := Config{
		Camera: camera, Drone: drone, Detector: s.Detector, Rate: s.Rate, Gate: s.Gate,
		MinConfidence: s.MinConfidence, SnapshotDir: snapDir, Log: log, Tiles: s.Tiles, Zones: s.visionZones(),
	}
	m := s.Model
	if ac.Detector == "" {
		switch {
		case m.ONNX != "" || models.Installed(modelsDir):
			ac.Detector = DetectorNanoDet
		default:
			ac.Detector = DetectorHOG
			ac.Warning = fmt.Sprintf("no trained detector is installed in %s (run `smarteye models install`): HOG finds only upright people, and no vehicles", modelsDir)
			log.Warn("camera runs HOG: "+ac.Warning, "camera", camera)
		}
	}
	switch ac.Detector {
	case DetectorCascade, DetectorYOLO, DetectorNanoDet:
		onnx := m.ONNX
		if ac.Detector == DetectorNanoDet && onnx == "" {
			onnx = models.Path(modelsDir)
		}
		ac.Model = &cv.ModelConfig{Kind: ac.Detector, Cascade: m.Cascade, Class: m.Class, MinSize: m.MinSize, Config: m.Config, Weights: m.Weights,
			ONNX: onnx, Layout: vision.Layout(m.Layout), Names: m.Names, Input: m.Input, Confidence: m.Confidence, NMS: m.NMS, Keep: m.Keep,
			ClassConfidence: m.ClassConfidence}
	}
	return ac, ac.Validate()
}
