package analysis

import (
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

// Detector names.
const (
	DetectorHOG     = "hog"
	DetectorMotion  = "motion"
	DetectorCascade = "cascade"
	DetectorYOLO    = "yolo"
	DetectorNanoDet = "nanodet"
	DetectorNone    = "none"
)

// Config configures one camera's analysis.
type Config struct {
	Camera string
	// Fence is this process's fencing token for the camera (its
	// ownership's revision in a cluster; 0 alone), stamped on every frame
	// and event it analyses.
	Fence uint64
	// Drone cameras move: no motion gate.
	Drone bool
	// Detector is nanodet, hog, motion, cascade, yolo or none. It
	// defaults to hog (the caller picks nanodet when its model is
	// installed).
	Detector string
	// Warning is shown with the camera's analysis (why the detector is
	// not the one a user would expect, e.g. HOG for want of a model).
	Warning string
	// Model is the cascade, YOLO or NanoDet model.
	Model *cv.ModelConfig
	// Tiles runs the model on a grid of enlarged tiles instead of the
	// whole frame (NanoDet on a drone's high camera: small objects). Zero
	// runs the whole frame.
	Tiles Tiles
	// Rate is how many frames per second are analysed. It defaults to 2.
	Rate float64
	// Gate runs the motion gate on a fixed camera: only moving regions are
	// analysed, and still frames not at all (but the whole frame at least
	// every FullEvery). It defaults to true; drones never gate.
	Gate *bool
	// FullEvery bounds how long a gated camera goes without a full-frame
	// detection (people standing still). It defaults to 3 seconds.
	FullEvery time.Duration
	// MinConfidence drops weaker detections. It defaults to 0.
	MinConfidence float64
	HOG           cv.HOGParams
	Motion        cv.MotionParams
	Tracker       vision.TrackerConfig
	Zones         []vision.Zone
	// SnapshotDir receives a JPEG of each track's best frame (boxes drawn);
	// empty keeps none.
	SnapshotDir string
	Log         *slog.Logger
}

const (
	// DefaultHighConfidence is NanoDet's tracker threshold between strong
	// detections (match first, start tracks) and weak ones (extend
	// tracks only).
	DefaultHighConfidence = 0.4
	// DefaultConfirmConfidence is the mean confidence a NanoDet track
	// needs to be confirmed. On the hand-labelled vtest frames, people's
	// boxes of at least 0.5 have precision 0.99 and recall 0.95 at IoU
	// 0.5; from 0.4, 0.85 and 0.96: traffic cones and a sign post come in
	// between, steadily, and stay tentative.
	DefaultConfirmConfidence = 0.5
)

func (c *Config) defaults() {
	if c.Detector == "" {
		c.Detector = DetectorHOG
	}
	if c.Rate <= 0 {
		c.Rate = 2
	}
	if c.FullEvery <= 0 {
		c.FullEvery = 3 * time.Second
	}
	if c.Detector == DetectorNanoDet && c.Tracker.HighConfidence == 0 {
		// NanoDet reports down to 0.25: weaker boxes only extend tracks,
		// and a track is reported once its boxes are sure on average.
		c.Tracker.HighConfidence = DefaultHighConfidence
		if c.Tracker.ConfirmConfidence == 0 {
			c.Tracker.ConfirmConfidence = DefaultConfirmConfidence
		}
	}
	if c.Tracker.MaxAge == 0 {
		// Long enough to bridge a few analysed frames and a gated pause.
		c.Tracker.MaxAge = max(3*time.Duration(float64(time.Second)/c.Rate), c.FullEvery+time.Second)
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch c.Detector {
	case "", DetectorHOG, DetectorMotion, DetectorNone:
	case DetectorCascade, DetectorYOLO, DetectorNanoDet:
		if c.Model == nil {
			return fmt.Errorf("detector %s needs a model", c.Detector)
		}
		if c.Model.Kind != c.Detector {
			return fmt.Errorf("detector %s with a %s model", c.Detector, c.Model.Kind)
		}
		// The model's files are checked by New, where a bad one leaves the
		// camera running with the reason in its stats, not by Validate:
		// a broken model must not keep the platform from starting.
	default:
		return fmt.Errorf("detector %q: want nanodet, hog, motion, cascade, yolo or none", c.Detector)
	}
	if err := c.Tiles.validate(); err != nil {
		return err
	}
	if c.Tiles.Cols > 0 && c.Detector != DetectorNanoDet {
		return fmt.Errorf("tiles need the nanodet detector, not %s", c.Detector)
	}
	if c.Detector == DetectorMotion && c.Drone {
		return errors.New("the motion detector needs a fixed camera")
	}
	if c.Rate < 0 || c.Rate > 60 {
		return fmt.Errorf("rate %v: want 0 to 60 frames per second", c.Rate)
	}
	if _, err := vision.NewZones(c.Zones); err != nil {
		return err
	}
	return nil
}
