package media

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Replay bounds.
const (
	maxReplayRange       = 7 * 24 * time.Hour
	defaultReplayPoints  = 2000   // per vehicle: what a screen can show
	maxReplayPoints      = 20000  //
	maxReplayDetections  = 200000 // placed detections in one answer
	replayChunk          = 2000   // events per line
	replayDetectionChunk = 10000  // detections per line
)

// Replay is GET /api/v1/replay?site=&from=&to=&points=: everything needed to show
// a site's state at any moment of the range, as NDJSON (one JSON object
// per line, streamed as the database answers):
//
//	{"type":"range", "site", "from", "to", "cameras": [...]}            first
//	{"type":"track", "vehicle_id", "t": [ms…], "lat", "lon", "alt", "heading", "speed"}
//	{"type":"footprints", "camera", "t": [ms…], "rings": [[[lon, lat]…] | null…]}  drone cameras
//	{"type":"alerts", "items": [...]}
//	{"type":"events", "items": [...]}                                  oldest first, chunked
//	{"type":"detections", "t", "camera", "track", "class", "lat", "lon"} columns, chunked
//	{"type":"end", "truncated": bool, "elapsed_ms"}                    last
//
// Times in the columnar lines are Unix milliseconds; positions are written
// to 7 decimals of a degree (about a centimetre), altitude, heading and
// speed to 2 decimals (without reflection: see columnLine). Tracks of a
// second or more a point come from the per-second track summary
// (store.Track). Cameras carry their recorded spans and gaps, and their
// footprint (fixed cameras); a drone camera's footprint moves, so it comes
// as a line of its own, one ring per point of its vehicle's track, placed
// from the recorded position, yaw and gimbal angles the way the live
// footprint is.
func (h *API) Replay(w http.ResponseWriter, r *http.Request) {
	if !h.historyReady(w) {
		return
	}
	start := time.Now()
	from, to, err := api.ParseRange(r, time.Hour)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if to.Sub(from) > maxReplayRange {
		api.WriteError(w, http.StatusBadRequest, "the range is longer than 7 days; replay less at a time")
		return
	}
	q := r.URL.Query()
	site := q.Get("site")
	if site != "" && (h.cfg.SiteKnown == nil || !h.cfg.SiteKnown(site)) {
		api.WriteError(w, http.StatusNotFound, "no site "+strconv.Quote(site))
		return
	}
	points := defaultReplayPoints
	if v := q.Get("points"); v != "" {
		if points, err = strconv.Atoi(v); err != nil || points < 2 || points > maxReplayPoints {
			api.WriteError(w, http.StatusBadRequest, "points: a whole number from 2 to "+strconv.Itoa(maxReplayPoints))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Minute)
	defer cancel()
	rec := h.cfg.Recordings

	// The placed detections (bounded), the bulk of the answer, are read
	// into memory from the start, while the tracks are read (several at
	// once), written, and the events streamed; they are written last,
	// when the tracks no longer need the CPU.
	var dets []*detectionColumns
	var truncated bool
	var detErr error
	detsRead := make(chan struct{})
	go func() {
		defer close(detsRead)
		cur := newDetectionColumns(replayDetectionChunk)
		truncated, detErr = rec.EachPlacedDetection(ctx, from, to, maxReplayDetections, func(d store.PlacedDetection) error {
			if cur.add(d); len(cur.T) == replayDetectionChunk {
				dets, cur = append(dets, cur), newDetectionColumns(replayDetectionChunk)
			}
			return nil
		})
		if len(cur.T) > 0 {
			dets = append(dets, cur)
		}
	}()
	defer func() { cancel(); <-detsRead }() // an early return stops it

	vehicles, err := rec.TrackVehicles(ctx, from, to)
	if err != nil {
		h.replayFailed(w, err)
		return
	}
	tracks := make([][]store.TrackPoint, len(vehicles))
	errs := make([]error, len(vehicles))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 4)
	for i, v := range vehicles {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sem <- struct{}{}
			defer func() { <-sem }()
			tracks[i], errs[i] = rec.Track(ctx, v, from, to, points)
		}()
	}
	segs, err := rec.Recordings(ctx, "", from, to)
	wg.Wait()
	for _, e := range errs {
		err = cmp.Or(err, e)
	}
	if err != nil {
		h.replayFailed(w, err)
		return
	}

	w.Header().Set("Content-Type", "application/x-ndjson")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	bw := bufio.NewWriterSize(w, 64<<10)
	enc := json.NewEncoder(bw)
	flush := func() {
		bw.Flush()
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
	}
	cams := h.replayCameras(segs, from, to)
	enc.Encode(map[string]any{"type": "range", "site": site, "from": from.UTC(), "to": to.UTC(), "cameras": cams})
	var cl columnLine
	for i, v := range vehicles {
		bw.Write(trackLine(&cl, v, tracks[i]))
	}
	if df := h.cfg.Footprints; df != nil {
		for _, c := range cams {
			if i := slices.Index(vehicles, c.VehicleID); c.VehicleID != "" && i >= 0 {
				enc.Encode(footprintLine(df, c, tracks[i]))
			}
		}
	}
	flush()
	if h.cfg.Alerts != nil {
		as, err := h.cfg.Alerts.Alerts(ctx, telemetry.AlertQuery{From: from, To: to, Limit: 10000})
		if err == nil {
			if as == nil {
				as = []telemetry.Alert{}
			}
			enc.Encode(map[string]any{"type": "alerts", "items": as})
		} else {
			h.log.Warn("replay: alerts", "err", err)
		}
	}
	chunk := make([]store.EventRecord, 0, replayChunk)
	err = rec.EachEvent(ctx, from, to, "", "", func(e store.EventRecord) error {
		if chunk = append(chunk, e); len(chunk) == replayChunk {
			enc.Encode(map[string]any{"type": "events", "items": chunk})
			chunk = chunk[:0]
			flush()
		}
		return nil
	})
	if err != nil {
		h.log.Warn("replay: events", "err", err)
		enc.Encode(map[string]any{"type": "error", "error": "events: the database did not answer"})
	}
	if len(chunk) > 0 {
		enc.Encode(map[string]any{"type": "events", "items": chunk})
	}
	<-detsRead
	if detErr != nil {
		h.log.Warn("replay: detections", "err", detErr)
		enc.Encode(map[string]any{"type": "error", "error": "detections: the database did not answer"})
	}
	for _, d := range dets {
		bw.Write(d.line(&cl))
	}
	enc.Encode(map[string]any{"type": "end", "truncated": truncated, "elapsed_ms": time.Since(start).Milliseconds()})
	flush()
}

func (h *API) replayFailed(w http.ResponseWriter, err error) {
	h.log.Warn("replay query failed", "err", err)
	api.WriteError(w, http.StatusServiceUnavailable, "replay unavailable: the database did not answer")
}

// replayCamera is a camera in replay: where it looks and what is recorded.
type replayCamera struct {
	ID        string       `json:"id"`
	Name      string       `json:"name,omitempty"`
	Kind      string       `json:"kind"`
	VehicleID string       `json:"vehicle_id,omitempty"`
	Footprint [][2]float64 `json:"footprint,omitempty"`
	Segments  [][2]int64   `json:"segments"` // [start, end] ms, merged where they meet
	Gaps      []record.Gap `json:"gaps"`
	Codec     string       `json:"codec,omitempty"`
	Size      [2]int       `json:"size,omitempty"`
}

func (h *API) replayCameras(segs []telemetry.Recording, from, to time.Time) []replayCamera {
	byCam := map[string][]telemetry.Recording{}
	for _, sg := range segs {
		byCam[sg.Camera] = append(byCam[sg.Camera], sg)
	}
	var out []replayCamera
	var list []Camera
	if h.cfg.Cameras != nil {
		list = h.cfg.Cameras()
	}
	// Drone cameras without video are on the live feed only: their
	// footprints still replay.
	for _, c := range h.cfg.Bus.Cameras() {
		if c.Kind == "drone" && c.VehicleID != "" && !slices.ContainsFunc(list, func(x Camera) bool { return x.ID == c.ID }) {
			list = append(list, Camera{ID: c.ID, Name: c.Name, Kind: c.Kind, VehicleID: c.VehicleID})
		}
	}
	for _, c := range list {
		rc := replayCamera{ID: c.ID, Name: c.Name, Kind: c.Kind, VehicleID: c.VehicleID, Segments: [][2]int64{}}
		if st, ok := h.cfg.Bus.Camera(c.ID); ok && c.Kind != "drone" {
			rc.Footprint = st.Footprint
		}
		cs := byCam[c.ID]
		for _, sg := range cs {
			a, z := sg.Start.UnixMilli(), sg.End.UnixMilli()
			if n := len(rc.Segments); n > 0 && a-rc.Segments[n-1][1] <= record.GapThreshold.Milliseconds() {
				rc.Segments[n-1][1] = z
			} else {
				rc.Segments = append(rc.Segments, [2]int64{a, z})
			}
			rc.Codec, rc.Size = sg.Codec, [2]int{sg.Width, sg.Height}
		}
		rc.Gaps = record.Gaps(cs, from, to)
		if rc.Gaps == nil {
			rc.Gaps = []record.Gap{}
		}
		out = append(out, rc)
	}
	if out == nil {
		out = []replayCamera{}
	}
	return out
}

// DroneFootprints places a drone camera's image on the ground for a
// recorded pose.
type DroneFootprints interface {
	DroneFootprint(camera string, pose geo.Pose, width, height int) [][2]float64
}

// footprintLine is a drone camera's footprint at each point of its
// vehicle's track: null where the pose is unknown or sees no ground.
func footprintLine(df DroneFootprints, c replayCamera, pts []store.TrackPoint) map[string]any {
	t := make([]int64, len(pts))
	rings := make([][][2]float64, len(pts))
	for i, p := range pts {
		t[i] = p.Time.UnixMilli()
		if p.AltMSL == nil {
			continue
		}
		heading := p.Yaw
		if heading == nil {
			heading = p.Heading
		}
		if heading == nil {
			continue
		}
		pitch, yaw := -90.0, 0.0 // no gimbal report: a camera looking down
		if p.GimbalPitch != nil {
			pitch = float64(*p.GimbalPitch)
			if p.GimbalYaw != nil {
				yaw = float64(*p.GimbalYaw)
			}
		}
		rings[i] = df.DroneFootprint(c.ID, geo.DronePose(p.Lat, p.Lon, float64(*p.AltMSL), float64(*heading), pitch, yaw), c.Size[0], c.Size[1])
	}
	return map[string]any{"type": "footprints", "camera": c.ID, "t": t, "rings": rings}
}

// trackLine writes a vehicle's downsampled track in columns.
func trackLine(l *columnLine, vehicle string, pts []store.TrackPoint) []byte {
	l.begin("track")
	l.text("vehicle_id", vehicle)
	l.column("t", len(pts), func(b []byte, i int) []byte { return strconv.AppendInt(b, pts[i].Time.UnixMilli(), 10) })
	l.column("lat", len(pts), func(b []byte, i int) []byte { return appendFixed(b, pts[i].Lat, degreeDecimals) })
	l.column("lon", len(pts), func(b []byte, i int) []byte { return appendFixed(b, pts[i].Lon, degreeDecimals) })
	l.column("alt", len(pts), func(b []byte, i int) []byte {
		if pts[i].AltMSL == nil {
			return appendValue(b, pts[i].AltRel)
		}
		return appendValue(b, pts[i].AltMSL)
	})
	l.column("heading", len(pts), func(b []byte, i int) []byte { return appendValue(b, pts[i].Heading) })
	l.column("speed", len(pts), func(b []byte, i int) []byte { return appendValue(b, pts[i].GroundSpeed) })
	return l.end()
}

// detectionColumns is a chunk of placed detections in columns.
type detectionColumns struct {
	T      []int64
	Camera []string
	Track  []int64
	Class  []string
	Lat    []float64
	Lon    []float64
}

func newDetectionColumns(n int) *detectionColumns {
	return &detectionColumns{T: make([]int64, 0, n), Camera: make([]string, 0, n), Track: make([]int64, 0, n),
		Class: make([]string, 0, n), Lat: make([]float64, 0, n), Lon: make([]float64, 0, n)}
}

func (c *detectionColumns) add(d store.PlacedDetection) {
	c.T = append(c.T, d.Time.UnixMilli())
	c.Camera = append(c.Camera, d.Camera)
	c.Track = append(c.Track, d.TrackID)
	c.Class = append(c.Class, d.Class)
	c.Lat = append(c.Lat, d.Lat)
	c.Lon = append(c.Lon, d.Lon)
}

// line writes the chunk as one replay line.
func (c *detectionColumns) line(l *columnLine) []byte {
	l.begin("detections")
	l.ints("t", c.T)
	l.texts("camera", c.Camera)
	l.ints("track", c.Track)
	l.texts("class", c.Class)
	l.degrees("lat", c.Lat)
	l.degrees("lon", c.Lon)
	return l.end()
}
