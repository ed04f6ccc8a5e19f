package analysis

import (
	"context"
	"errors"
	"fmt"
	"image"
	"time"

	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
	"github.com/smarteye/smarteye/vision/cv"
)

func (a *Analyzer) analyse(ctx context.Context, todo <-chan *frame, free chan<- *frame) {
	var motion *cv.Motion
	gate := a.cfg.Gate == nil || *a.cfg.Gate
	if a.cfg.Drone {
		gate = false
	}
	if gate || a.cfg.Detector == DetectorMotion {
		motion = cv.NewMotion(a.cfg.Motion)
		defer motion.Close()
	}
	tracker := vision.NewTracker(a.cfg.Tracker)
	zones, _ := vision.NewZones(a.cfg.Zones) // validated in New
	snaps := newSnapshots(a.cfg.SnapshotDir, a.cfg.Camera)
	var lastFull, lastTime, lastWall time.Time
	tick := time.NewTicker(time.Second)
	defer tick.Stop()

	for {
		var f *frame
		select {
		case next, ok := <-todo:
			if !ok {
				// The stream ended: every track ends.
				if !lastTime.IsZero() {
					a.expire(tracker.Flush(lastTime), tracker, zones, snaps)
				}
				return
			}
			f = next
		case <-tick.C:
			// No picture for longer than a track lives (the stream is down
			// or stalled): the tracks end now, not when pictures return.
			if quiet := time.Since(lastWall); !lastTime.IsZero() && tracker.Active() > 0 && quiet > a.cfg.Tracker.MaxAge {
				a.expire(tracker.Update(lastTime.Add(quiet), nil).Events, tracker, zones, snaps)
			}
			continue
		}
		lastWall = time.Now()
		start := lastWall
		a.analysed.Add(1)
		a.mu.Lock()
		a.rateWin[a.rateNext%len(a.rateWin)] = start
		a.rateNext++
		a.mu.Unlock()
		lastTime = f.time
		frameRect := image.Rect(0, 0, f.mat.Cols(), f.mat.Rows())

		var dets []vision.Detection
		var err error
		var regions []image.Rectangle
		runDetector := true
		rois := []image.Rectangle{{}} // the whole frame
		scale := 0.0                  // of the regions (models that scale)
		var searched []vision.Box     // nil: the whole frame
		if a.cfg.Tiles.Cols > 0 {
			rois, scale = a.cfg.Tiles.regions(frameRect), a.cfg.Tiles.Scale
		}
		if motion != nil {
			regions, _ = motion.Detect(f.mat)
			if a.cfg.Detector != DetectorMotion && gate && motion.Warm() && f.time.Sub(lastFull) < a.cfg.FullEvery {
				if len(regions) == 0 {
					runDetector = false
					a.gated.Add(1)
				} else if r, sc := a.regions(regions, frameRect); r != nil {
					rois, scale = r, sc
					searched = outside(frameRect)
					for _, roi := range rois {
						searched = append(searched, vision.Box{X: float64(roi.Min.X), Y: float64(roi.Min.Y), W: float64(roi.Dx()), H: float64(roi.Dy())})
					}
				}
			}
		}
		if runDetector {
			if searched == nil {
				lastFull = f.time
				a.fullRuns.Add(1)
			} else {
				a.regionRuns.Add(1)
			}
			dets, err = a.detect(ctx, f.mat, rois, scale, regions)
			a.mu.Lock()
			a.stats.DetectTime = time.Since(start)
			if err != nil {
				a.stats.DetectorError = err.Error()
			} else {
				a.stats.DetectorError = ""
			}
			a.mu.Unlock()
			if err != nil {
				if ctx.Err() != nil {
					// Cancelled, not failed: the camera is stopping.
					free <- f
					continue
				}
				a.detectErrs.Add(1)
				if !errors.Is(err, cv.ErrWorkerDown) {
					a.log.Warn("detector failed", "err", err)
				}
				free <- f
				continue
			}
		} else if tracker.Active() == 0 {
			// Nothing moves and nothing is tracked: nothing to report.
			a.publish(f, nil, tracker, zones, snaps, nil)
			free <- f
			continue
		}
		if a.cfg.MinConfidence > 0 {
			kept := dets[:0]
			for _, d := range dets {
				if d.Confidence >= a.cfg.MinConfidence {
					kept = append(kept, d)
				}
			}
			dets = kept
		}
		var res vision.TrackResult
		if runDetector {
			res = tracker.UpdateSearched(f.time, dets, searched)
		} else {
			// Gated: nothing new was looked for; the tracks are where
			// they were, and age.
			res = tracker.UpdateSearched(f.time, nil, outside(frameRect))
		}
		a.publish(f, res.Detections, tracker, zones, snaps, &res)
		free <- f
	}
}

// expire reports tracks that ended without a frame (the stream stopped).
func (a *Analyzer) expire(events []vision.TrackEvent, tracker *vision.Tracker, zones *vision.Zones, snaps *snapshots) {
	var ended []vision.TrackEvent
	for _, e := range events {
		if e.Kind == vision.EventTrackEnd {
			ended = append(ended, e)
		}
	}
	for _, e := range a.leaveZones(ended, zones) {
		a.sink.Event(e)
	}
	a.endTracks(ended, snaps)
	a.mu.Lock()
	a.stats.Tracks = tracker.Active()
	a.counts = zones.Counts()
	a.mu.Unlock()
}

// publish hands a frame's tracked detections and its events to the sink.
func (a *Analyzer) publish(f *frame, dets []vision.Detection, tracker *vision.Tracker, zones *vision.Zones, snaps *snapshots, res *vision.TrackResult) {
	for i := range dets {
		dets[i].TrackID += a.idBase
	}
	var events []telemetry.Event
	if len(dets) > 0 {
		a.evMu.Lock()
		a.ev.keep(f.mat, dets, f.time)
		a.evMu.Unlock()
	}
	if res != nil {
		for _, e := range res.Events {
			switch e.Kind {
			case vision.EventTrackStart:
				events = append(events, a.event("track.start", e.Time, e.TrackID+a.idBase, e.Class,
					fmt.Sprintf("%s %d appeared", e.Class, e.TrackID+a.idBase), map[string]any{"box": e.Box}))
			}
		}
		if len(res.Improved) > 0 && snaps != nil {
			for _, id := range res.Improved {
				for _, d := range dets {
					if d.TrackID == id+a.idBase {
						if snaps.offer(f.mat, dets, d, f.time) {
							a.snaps.Add(1)
						}
					}
				}
			}
		}
		var ended []vision.TrackEvent
		for _, e := range res.Events {
			if e.Kind == vision.EventTrackEnd {
				ended = append(ended, e)
			}
		}
		// Tracks that ended leave their zones before this frame's
		// positions count: no dwell or count from someone already gone.
		events = append(events, a.leaveZones(ended, zones)...)
		for _, ze := range zones.Update(f.time, dets) {
			events = append(events, a.zoneEvent(ze))
		}
		for _, e := range events {
			// The frame's arrival (alert latency) and the detection's
			// confidence (rules may ask for a minimum).
			e.Received = f.received
			for _, d := range dets {
				if d.TrackID == e.TrackID && e.TrackID != 0 {
					e.Data["confidence"] = d.Confidence
				}
			}
			a.sink.Event(e)
		}
		a.endTracks(ended, snaps)
	}
	a.dets.Add(uint64(len(dets)))
	a.mu.Lock()
	a.stats.Tracks = tracker.Active()
	a.counts = zones.Counts()
	a.mu.Unlock()
	a.sink.Frame(vision.Frame{Camera: a.cfg.Camera, Time: f.time, Received: f.received, Width: f.mat.Cols(), Height: f.mat.Rows(), Detections: dets, Fence: a.cfg.Fence})
}

// leaveZones takes ended tracks out of their zones: the zone exits.
func (a *Analyzer) leaveZones(ended []vision.TrackEvent, zones *vision.Zones) []telemetry.Event {
	var out []telemetry.Event
	for _, e := range ended {
		for _, ze := range zones.End(e.Time, e.TrackID+a.idBase) {
			out = append(out, a.zoneEvent(ze))
		}
	}
	return out
}

// endTracks reports ended tracks (out of their zones already): track.end
// with the track's summary and its snapshot.
func (a *Analyzer) endTracks(ended []vision.TrackEvent, snaps *snapshots) {
	for _, e := range ended {
		id := e.TrackID + a.idBase
		data := map[string]any{
			"first_seen": e.FirstSeen, "last_seen": e.LastSeen, "duration_s": e.LastSeen.Sub(e.FirstSeen).Seconds(),
			"best_confidence": e.BestConfidence, "hits": e.Hits, "box": e.Box,
		}
		if snaps != nil {
			if path, err := snaps.write(id); err != nil {
				a.log.Warn("snapshot", "err", err)
			} else if path != "" {
				data["snapshot"] = path
			}
		}
		a.sink.Event(a.event("track.end", e.Time, id, e.Class,
			fmt.Sprintf("%s %d left after %s", e.Class, id, e.LastSeen.Sub(e.FirstSeen).Round(100*time.Millisecond)), data))
	}
}

func (a *Analyzer) event(kind string, t time.Time, track uint64, class, msg string, data map[string]any) telemetry.Event {
	if data == nil {
		data = map[string]any{}
	}
	data["class"] = class
	return telemetry.Event{Time: t, ID: telemetry.NewUUID(), Kind: kind, CameraID: a.cfg.Camera, TrackID: track, Message: msg, Data: data, Fence: a.cfg.Fence}
}

func (a *Analyzer) zoneEvent(ze vision.ZoneEvent) telemetry.Event {
	data := map[string]any{"zone": ze.Zone, "count": ze.Count}
	if ze.Dwell > 0 {
		data["dwell_s"] = ze.Dwell.Seconds()
	}
	var msg string
	switch ze.Kind {
	case vision.EventZoneEnter:
		msg = fmt.Sprintf("%s %d entered %s (%d inside)", ze.Class, ze.TrackID, ze.Zone, ze.Count)
	case vision.EventZoneExit:
		msg = fmt.Sprintf("%s %d left %s after %s", ze.Class, ze.TrackID, ze.Zone, ze.Dwell.Round(time.Second))
	case vision.EventZoneDwell:
		msg = fmt.Sprintf("%s %d has been in %s for %s", ze.Class, ze.TrackID, ze.Zone, ze.Dwell.Round(time.Second))
	case vision.EventZoneCount:
		msg = fmt.Sprintf("%d inside %s", ze.Count, ze.Zone)
	}
	return a.event(ze.Kind, ze.Time, ze.TrackID, ze.Class, msg, data)
}
