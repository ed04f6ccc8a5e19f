package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/storetest"
	"github.com/smarteye/smarteye/vision"
)

type cameraView struct {
	telemetry.CameraInfo
	Stream struct {
		Status     string
		Codec      string
		Width      int
		FPS        float64
		Frames     uint64
		Reconnects uint64
	} `json:"stream"`
	Analysis struct {
		Detector    string
		Analysed    uint64
		Detections  uint64
		AnalysisFPS float64 `json:"analysis_fps"`
	} `json:"analysis"`
}

// The demo's cameras: ffmpeg loops OpenCV's pedestrian clip into the
// demo's RTSP server, smarteye pulls and analyses it; people are detected,
// tracked, stored, published live and counted in the zone; a camera that
// dies goes down and comes back.
func TestDemoCamerasAnalysed(t *testing.T) {
	data := storetest.TempDir(t) + "/var"
	began := time.Now().UTC().Add(-time.Second)
	p := start(t, "demo", "--data-dir", data, "--http", "127.0.0.1:0")
	waitReady(t, p)

	// Both cameras live and analysed.
	var list struct{ Cameras []cameraView }
	deadline := time.Now().Add(60 * time.Second)
	for {
		getJSON(t, p.url+"api/v1/cameras", &list)
		ok := len(list.Cameras) == 2
		for _, c := range list.Cameras {
			ok = ok && c.Stream.Status == "live" && c.Analysis.Detections > 0
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("cameras: %+v\n%s", list.Cameras, p.log.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
	for _, c := range list.Cameras {
		if c.Stream.Codec != "H264" || c.Stream.Width != 768 || c.Analysis.Detector != "nanodet:nanodet-g.onnx" || !strings.HasPrefix(c.URL, "rtsp://127.0.0.1:") {
			t.Errorf("camera %+v", c)
		}
	}
	var one cameraView
	if code := getJSON(t, p.url+"api/v1/cameras/plaza-north", &one); code != 200 || one.ID != "plaza-north" || one.Name != "Plaza north" {
		t.Fatalf("GET camera: %d %+v", code, one)
	}
	var e struct{ Error string }
	if code := getJSON(t, p.url+"api/v1/cameras/nope", &e); code != 404 {
		t.Fatalf("unknown camera: %d", code)
	}

	// Live detections, filtered to one camera.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(p.url, "http", "ws", 1)+"api/v1/live?types=detections,camera&cameras=plaza-south", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	persons := 0
	for frames := 0; frames < 6; {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var u struct {
			Type       string
			Cameras    []telemetry.Camera
			Detections *telemetry.Detections
		}
		json.Unmarshal(b, &u)
		switch u.Type {
		case "snapshot":
			if len(u.Cameras) != 1 || u.Cameras[0].ID != "plaza-south" {
				t.Fatalf("snapshot %s", b)
			}
		case "detections":
			if u.Detections.Camera != "plaza-south" || u.Detections.Width != 768 {
				t.Fatalf("detections %s", b)
			}
			if d := time.Since(u.Detections.Time); d < -time.Second || d > 10*time.Second {
				t.Fatalf("frame time %s ago", d)
			}
			persons += len(u.Detections.Objects)
			frames++
		case "camera", "event":
		default:
			t.Fatalf("unexpected %s", b)
		}
	}
	if persons == 0 {
		t.Fatal("no person in 6 live frames")
	}
	c.Close(websocket.StatusNormalClosure, "")

	// Stored: detections with track ids, and the events.
	// Waited for until what is asserted below holds (people, a parked
	// vehicle, two tracks of 4 frames or more), or a minute: a busy
	// machine analyses fewer frames a second, and detection yields the
	// CPU to live video.
	var dets struct{ Detections []store.DetectionRecord }
	deadline = time.Now().Add(60 * time.Second)
	for {
		getJSON(t, p.url+"api/v1/detections?camera=plaza-north&limit=500&from="+began.Format(time.RFC3339Nano), &dets)
		classes, tracks := map[string]int{}, map[int64]int{}
		for _, d := range dets.Detections {
			classes[d.Class]++
			if d.TrackID != nil {
				tracks[*d.TrackID]++
			}
		}
		long := 0
		for _, n := range tracks {
			if n >= 4 {
				long++
			}
		}
		if len(dets.Detections) >= 10 && classes["person"] > 0 && classes["car"]+classes["truck"] > 0 && long >= 2 || time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	if len(dets.Detections) < 10 {
		t.Fatalf("%d stored detections", len(dets.Detections))
	}
	placed := 0
	classes := map[string]int{}
	tracks := map[int64]int{}
	for _, d := range dets.Detections {
		classes[d.Class]++
		if d.CameraID != "plaza-north" || d.TrackID == nil || d.Box[2] <= 0 || d.Box[3] <= 0 || !slices.Contains(vision.StreetClasses, d.Class) {
			t.Fatalf("stored detection %+v", d)
		}
		tracks[*d.TrackID]++
		if d.GeoStatus != nil && *d.GeoStatus == "ok" {
			// On the demo plaza, with the calibration's error.
			if d.Lat == nil || geo.Distance(*d.Lat, *d.Lon, 22.5395, 114.0547) > 100 || d.PositionError == nil || *d.PositionError <= 0 {
				t.Fatalf("placed detection %+v", d)
			}
			placed++
		}
	}
	if placed < len(dets.Detections)/2 {
		t.Fatalf("%d of %d detections placed on the ground", placed, len(dets.Detections))
	}
	// NanoDet: people, and the van and car parked at the top right; tracks
	// that last across frames.
	long := 0
	for _, n := range tracks {
		if n >= 4 {
			long++
		}
	}
	t.Logf("stored detections by class %v; %d tracks, %d of them over 4 frames or more", classes, len(tracks), long)
	if classes["person"] == 0 || classes["car"]+classes["truck"] == 0 || long < 2 {
		t.Fatalf("stored detections by class %v, %d tracks lasting 4 frames: want people, the parked vehicles and lasting tracks", classes, long)
	}

	// Footprints: the calibrated fixed camera's, and a video-less drone
	// camera's from its vehicle's telemetry.
	var cam struct{ Calibration map[string]any }
	getJSON(t, p.url+"api/v1/cameras/plaza-north", &cam)
	if rms, ok := cam.Calibration["rms_m"].(float64); !ok || rms > 0.5 {
		t.Fatalf("calibration %v", cam.Calibration)
	}
	waitFootprint(t, p, "plaza-north")
	waitFootprint(t, p, "drone-1-cam")

	// The first drone's patrol crosses the crane's keep-out area.
	kinds := waitEvents(t, p, began, "vehicle=drone-1&kind=geofence.", func(k map[string]int) bool { return k["geofence.breach"] >= 1 })
	t.Logf("drone-1 geofence events: %v", kinds)
	// Its course predicted the breach before it happened.
	var fevs struct{ Events []store.EventRecord }
	getJSON(t, p.url+"api/v1/events?limit=5000&vehicle=drone-1&kind=geofence.&from="+began.Format(time.RFC3339Nano), &fevs)
	var predicted, breached time.Time
	for i := len(fevs.Events) - 1; i >= 0; i-- { // oldest first
		e := fevs.Events[i]
		var d struct{ Fence string }
		json.Unmarshal(e.Data, &d)
		switch {
		case e.Kind == "geofence.breach_predicted" && predicted.IsZero():
			predicted = e.Time
		case e.Kind == "geofence.breach" && breached.IsZero() && !predicted.IsZero():
			breached = e.Time
		}
	}
	if predicted.IsZero() || breached.IsZero() || breached.Sub(predicted) < time.Second {
		t.Errorf("predicted breach at %v, breach at %v: the prediction did not come first", predicted, breached)
	} else {
		t.Logf("drone-1's breach of the crane zone was predicted %.1f s ahead", breached.Sub(predicted).Seconds())
	}
	kinds = waitEvents(t, p, began, "camera=plaza-north", func(k map[string]int) bool {
		return k["stream.live"] >= 1 && k["track.start"] >= 1 && k["zone.enter"] >= 1 && k["track.end"] >= 1
	})
	t.Logf("events on plaza-north: %v", kinds)
	if kinds["stream.down"] != 0 {
		t.Errorf("the demo camera went down at start-up: %v", kinds)
	}

	var evs struct{ Events []store.EventRecord }
	getJSON(t, p.url+"api/v1/events?kind=track.end&camera=plaza-north&from="+began.Format(time.RFC3339Nano), &evs)
	snap := ""
	for _, ev := range evs.Events {
		var d struct{ Snapshot string }
		json.Unmarshal(ev.Data, &d)
		if d.Snapshot != "" {
			snap = d.Snapshot
		}
	}
	if b, err := os.ReadFile(snap); err != nil || len(b) < 1000 || b[0] != 0xff {
		t.Fatalf("track.end snapshot %q: %v", snap, err)
	}
	for _, bad := range []string{"limit=0", "limit=x", "track=-1", "from=2020-01-01T00:00:00Z&to=2021-01-01T00:00:00Z"} {
		if code := getJSON(t, p.url+"api/v1/detections?"+bad, &e); code != 400 || e.Error == "" {
			t.Errorf("detections?%s: %d %q", bad, code, e.Error)
		}
	}

	// The camera dies (its ffmpeg is killed): down, then live again by itself.
	killed := time.Now().UTC()
	if err := killPublisher(p.cmd.Process.Pid, "plaza-south"); err != nil {
		t.Fatal(err)
	}
	kinds = waitEvents(t, p, killed, "camera=plaza-south&kind=stream.", func(k map[string]int) bool {
		return k["stream.down"] >= 1 && k["stream.live"] >= 1
	})
	t.Logf("after the kill: %v", kinds)
	// The other camera never noticed.
	var n map[string]int
	n = waitEvents(t, p, killed, "camera=plaza-north&kind=stream.", func(map[string]int) bool { return true })
	if n["stream.down"] != 0 {
		t.Fatalf("plaza-north went down too: %v", n)
	}
	// The cameras in the metrics.
	resp, err := http.Get(p.url + "metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`smarteye_camera_up{camera="plaza-north"} 1`, `smarteye_camera_analysed_frames_total{camera="plaza-south"}`, `smarteye_camera_reconnects_total{camera="plaza-south"}`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	stopWith(t, p, syscall.SIGTERM)
	http.DefaultClient.CloseIdleConnections()
}

// waitFootprint waits for a camera's footprint on the live feed.
func waitFootprint(t *testing.T, p *proc, camera string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, strings.Replace(p.url, "http", "ws", 1)+"api/v1/live?types=camera&cameras="+camera, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	for {
		_, b, err := c.Read(ctx)
		if err != nil {
			t.Fatalf("no footprint for %s: %v", camera, err)
		}
		var u struct {
			Cameras []telemetry.Camera
			Camera  *telemetry.Camera
		}
		json.Unmarshal(b, &u)
		cams := u.Cameras
		if u.Camera != nil {
			cams = append(cams, *u.Camera)
		}
		for _, cm := range cams {
			if cm.ID == camera && len(cm.Footprint) >= 4 && cm.Footprint[0] == cm.Footprint[len(cm.Footprint)-1] {
				if d := geo.Distance(cm.Footprint[0][1], cm.Footprint[0][0], 22.54, 114.0555); d > 3000 {
					t.Fatalf("%s footprint %v is %.0f m from the site", camera, cm.Footprint, d)
				}
				c.Close(websocket.StatusNormalClosure, "")
				return
			}
		}
	}
}

func waitEvents(t *testing.T, p *proc, from time.Time, filter string, done func(map[string]int) bool) map[string]int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var evs struct{ Events []store.EventRecord }
		getJSON(t, p.url+"api/v1/events?limit=5000&"+filter+"&from="+from.Format(time.RFC3339Nano), &evs)
		kinds := map[string]int{}
		for _, e := range evs.Events {
			kinds[e.Kind]++
		}
		if done(kinds) {
			return kinds
		}
		if time.Now().After(deadline) {
			t.Fatalf("events %s: %v\n%s", filter, kinds, p.log.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// killPublisher kills the ffmpeg child of pid publishing the camera.
func killPublisher(pid int, camera string) error {
	out, err := exec.Command("pgrep", "-P", strconv.Itoa(pid), "ffmpeg").Output()
	if err != nil {
		return fmt.Errorf("pgrep: %w", err)
	}
	for _, f := range strings.Fields(string(out)) {
		cmdline, _ := os.ReadFile("/proc/" + f + "/cmdline")
		if strings.Contains(string(cmdline), "/"+camera+"\x00") || strings.HasSuffix(string(cmdline), "/"+camera+"\x00") {
			n, _ := strconv.Atoi(f)
			return syscall.Kill(n, syscall.SIGKILL)
		}
	}
	return fmt.Errorf("no ffmpeg publishing %s among %q", camera, out)
}
