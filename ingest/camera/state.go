package camera

import (
	"fmt"
	"time"

	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/rtsp"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision/analysis"
)

// AnalysisInfo is a camera's analysis as the API shows it: its figures,
// and how often it was started again after failing, and why it last did.
type AnalysisInfo struct {
	analysis.Stats
	Restarts uint64 `json:"restarts"`
	Stopped  string `json:"stopped,omitempty"`
}

// Cameras describes every camera, in configuration order. A camera that
// runs in another process has no stream or analysis figures here; Node
// names where it runs.
func (s *Supervisor) Cameras() []telemetry.CameraInfo {
	out := make([]telemetry.CameraInfo, 0, len(s.cams))
	for _, c := range s.cams {
		in := telemetry.CameraInfo{ID: c.cfg.ID, Name: c.cfg.Name, Kind: c.kind(), VehicleID: c.cfg.Vehicle, URL: rtsp.Redact(c.cfg.URL),
			Calibration: s.deps.Place.Calibration(c.cfg.ID), Node: s.owner.OwnerOf("camera." + c.cfg.ID)}
		if r := c.current(); r != nil {
			in.Stream = r.stream.Stats()
			if r.analyzer != nil {
				c.mu.Lock()
				in.Analysis = AnalysisInfo{Stats: r.analyzer.Stats(), Restarts: c.restarts, Stopped: c.analysisErr}
				c.mu.Unlock()
			}
		}
		out = append(out, in)
	}
	return out
}

// state is the camera as the live feed shows it (it runs here).
func (s *Supervisor) state(c *cam) telemetry.Camera {
	tc := telemetry.Camera{
		ID: c.cfg.ID, Name: c.cfg.Name, Kind: c.kind(), VehicleID: c.cfg.Vehicle, Node: s.node,
		Detector: analysis.DetectorNone, Updated: time.Now(),
	}
	r := c.current()
	if r == nil {
		return tc
	}
	st := r.stream.Stats()
	tc.Status, tc.Since, tc.Reason, tc.Codec = string(st.Status), st.Since, st.Reason, st.Codec
	tc.Width, tc.Height, tc.FPS, tc.Bitrate = st.Width, st.Height, st.FPS, st.Bitrate
	if r.analyzer != nil {
		as := r.analyzer.Stats()
		tc.Detector, tc.DetectorError, tc.AnalysisFPS, tc.Tracks = as.Detector, as.DetectorError, as.AnalysisFPS, as.Tracks
		tc.Counts = r.analyzer.Counts()
		c.mu.Lock()
		if c.analysisErr != "" {
			tc.DetectorError = "analysis stopped: " + c.analysisErr + "; starting it again"
		}
		c.mu.Unlock()
	}
	tc.Footprint = s.deps.Place.Footprint(c.cfg.ID, st.Width, st.Height)
	tc.Zones = s.deps.Place.GroundZones(c.cfg.ID, c.zones, st.Width, st.Height)
	tc.Calibration = s.deps.Place.Calibration(c.cfg.ID)
	return tc
}

// boardState grades a camera for the status board: down when its stream
// is, degraded when stalled or when its detector cannot run.
func boardState(c telemetry.Camera) string {
	switch {
	case c.Status == string(rtsp.StatusDown):
		return telemetry.StateDown
	case c.Status != string(rtsp.StatusLive) || c.DetectorError != "":
		return telemetry.StateDegraded
	}
	return telemetry.StateOK
}

func boardDetail(c telemetry.Camera) string {
	switch {
	case c.Status != string(rtsp.StatusLive):
		return fmt.Sprintf("%s: %s", c.Status, c.Reason)
	case c.DetectorError != "":
		return fmt.Sprintf("live %.0f fps; %s cannot run: %s", c.FPS, c.Detector, c.DetectorError)
	case c.Detector == analysis.DetectorNone:
		return fmt.Sprintf("live %s %dx%d %.0f fps, not analysed", c.Codec, c.Width, c.Height, c.FPS)
	}
	return fmt.Sprintf("live %s %dx%d %.0f fps; %s %.1f frames/s, %d tracks", c.Codec, c.Width, c.Height, c.FPS, c.Detector, c.AnalysisFPS, c.Tracks)
}

// Hold records camera until until whatever its recording mode (a
// supervision session); false for an unknown camera.
func (s *Supervisor) Hold(camera string, until time.Time) bool {
	if c := s.find(camera); c != nil {
		c.recorder.Hold(until)
		return true
	}
	return false
}

// Trigger starts event-mode recording around a camera's event at t.
func (s *Supervisor) Trigger(camera string, t time.Time) {
	if c := s.find(camera); c != nil {
		c.recorder.Trigger(t)
	}
}

// Relay is a camera's live relay (dashboard.Relays), while it runs here.
func (s *Supervisor) Relay(id string) (*live.Relay, bool) {
	if c := s.find(id); c != nil {
		if r := c.current(); r != nil {
			return r.relay, true
		}
	}
	return nil, false
}

// Evidence is an alert's snapshot: the camera's analysed frame at t with
// track's box drawn (alert.Evidence).
func (s *Supervisor) Evidence(camera string, t time.Time, track uint64) (jpeg, thumb []byte) {
	return s.evidenceWithin(camera, t, track, 2*time.Second)
}

// Snapshot is a remark's picture: the camera's analysed frame nearest t,
// up to 10 s away (the analysis of a loaded machine runs behind).
func (s *Supervisor) Snapshot(camera string, t time.Time) []byte {
	j, _ := s.evidenceWithin(camera, t, 0, 10*time.Second)
	return j
}

func (s *Supervisor) evidenceWithin(camera string, t time.Time, track uint64, window time.Duration) (jpeg, thumb []byte) {
	if c := s.find(camera); c != nil {
		if r := c.current(); r != nil && r.analyzer != nil {
			return r.analyzer.EvidenceWithin(t, track, window)
		}
	}
	return nil, nil
}

func (s *Supervisor) find(id string) *cam {
	for _, c := range s.cams {
		if c.cfg.ID == id {
			return c
		}
	}
	return nil
}
