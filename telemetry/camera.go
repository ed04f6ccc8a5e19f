package telemetry

import "time"

// Camera is a camera's live state as the hub keeps it: its stream's status
// and rates, and what the analysis makes of it.
type Camera struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Kind      string `json:"kind"`                 // fixed or drone
	VehicleID string `json:"vehicle_id,omitempty"` // drone cameras
	// Node is the cluster node that runs the camera ("" outside a cluster).
	Node    string    `json:"node,omitempty"`
	Status  string    `json:"status"` // connecting, live, stalled, down
	Since   time.Time `json:"since"`
	Reason  string    `json:"reason,omitempty"`
	Codec   string    `json:"codec,omitempty"`
	Width   int       `json:"width,omitempty"`
	Height  int       `json:"height,omitempty"`
	FPS     float64   `json:"fps"`
	Bitrate float64   `json:"bitrate"` // bits/s
	// Detector is what analyses the stream (hog, motion, cascade:…, yolo:…,
	// none); DetectorError why it cannot, when it cannot.
	Detector      string  `json:"detector"`
	DetectorError string  `json:"detector_error,omitempty"`
	AnalysisFPS   float64 `json:"analysis_fps"`
	Tracks        int     `json:"tracks"` // confirmed tracks now
	// Counts are the tracks inside each zone now, by class.
	Counts map[string]map[string]int `json:"counts,omitempty"`
	// Footprint is the image's outline on the ground now, a closed ring of
	// [lon, lat]; absent when the camera is not placed or sees no ground.
	// Zones are the camera's image zones placed on the ground (calibrated
	// cameras; a zone with a corner off the ground is left out).
	Zones     []GroundZone `json:"zones,omitempty"`
	Footprint [][2]float64 `json:"footprint,omitempty"`
	// Calibration describes how the camera is placed (homography fit,
	// drone pose) for the API.
	Calibration map[string]any `json:"calibration,omitempty"`
	Updated     time.Time      `json:"updated"`
}

// Object is one tracked detection in a Detections update.
type Object struct {
	TrackID    uint64     `json:"track_id"`
	Class      string     `json:"class"`
	Confidence float64    `json:"confidence"`
	Box        [4]float64 `json:"box"` // x, y, w, h in pixels of the frame
	// Lat, Lon place the box's bottom centre on the ground, with a
	// one-sigma Error in metres; GeoStatus says why not when they are
	// absent (above_horizon, outside_footprint, uncalibrated).
	Lat       *float64 `json:"lat,omitempty"`
	Lon       *float64 `json:"lon,omitempty"`
	Error     float64  `json:"error,omitempty"`
	GeoStatus string   `json:"geo_status"`
	// VNorth, VEast are its ground velocity in m/s, from its track's last
	// positions (absent until the track has moved for long enough).
	VNorth *float64 `json:"v_north,omitempty"`
	VEast  *float64 `json:"v_east,omitempty"`
	// Carried marks an object the frame's detector did not look for (a
	// gated camera's still part): where it was last seen.
	Carried bool `json:"carried,omitempty"`
}

// Detections are the tracked objects of one analysed frame, for the live
// map and the video overlays (aligned with the video by Time).
type Detections struct {
	Camera string    `json:"camera"`
	Time   time.Time `json:"time"` // capture time of the frame
	// Received is when the picture reached smarteye (Time to Received is
	// the camera's and the network's delay; Received to now is ours).
	Received time.Time `json:"received"`
	Width    int       `json:"width"`
	Height   int       `json:"height"`
	Objects  []Object  `json:"objects"`
	// Fence is the fencing token of the process that analysed the frame
	// (its camera's ownership in a cluster; 0 alone).
	Fence uint64 `json:"fence,omitempty"`
}

// PublishCamera records c as the latest state of camera c.ID and sends it
// to every subscriber.
func (h *Hub) PublishCamera(c Camera) {
	h.mu.Lock()
	h.cameras[c.ID] = c
	h.mu.Unlock()
	h.fanOut(Update{Type: "camera", Camera: &c})
	h.published.WithLabelValues("camera").Inc()
}

// PublishDetections sends one frame's detections to every subscriber.
func (h *Hub) PublishDetections(d Detections) {
	h.fanOut(Update{Type: "detections", Detections: &d})
	h.published.WithLabelValues("detections").Inc()
}

// Cameras returns the latest state of every camera, ordered by ID.
func (h *Hub) Cameras() []Camera {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return byKey(h.cameras)
}

// Camera returns the latest state of one camera.
func (h *Hub) Camera(id string) (Camera, bool) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	c, ok := h.cameras[id]
	return c, ok
}

// GroundZone is an image zone on the ground: a closed ring of [lon, lat].
type GroundZone struct {
	Name string       `json:"name"`
	Ring [][2]float64 `json:"ring"`
}

// CameraInfo is a camera as the API lists it: configuration, the stream's
// status and statistics, and its analysis (detector, rates, errors).
type CameraInfo struct {
	ID        string `json:"id"`
	Name      string `json:"name,omitempty"`
	Kind      string `json:"kind"`
	VehicleID string `json:"vehicle_id,omitempty"`
	URL       string `json:"url"`                // password removed
	Stream    any    `json:"stream"`             // status, codec, size, fps, bitrate, RTP loss, reconnects, last keyframe…
	Analysis  any    `json:"analysis,omitempty"` // detector, analysis fps, tracks, decoder counters…
	// Calibration is how the camera is placed on the ground: a homography's
	// fit (reprojection error in metres), a drone's vehicle, or none.
	Calibration map[string]any `json:"calibration,omitempty"`
	// Node is the cluster node that runs the camera ("" outside a
	// cluster, or while none does).
	Node string `json:"node,omitempty"`
}
