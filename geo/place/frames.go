package place

import (
	"strings"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/vision"
)

// Frame places each detection on the ground (the box's bottom centre),
// checks it against the geofences, stores it and publishes the frame and
// the fence events it raised (vision/analysis' Sink).
func (p *Placer) Frame(f vision.Frame) {
	d := telemetry.Detections{Camera: f.Camera, Time: f.Time, Received: f.Received, Width: f.Width, Height: f.Height, Objects: make([]telemetry.Object, 0, len(f.Detections)),
		Fence: f.Fence}
	var fenceEvents []telemetry.Event
	for _, o := range f.Detections {
		box := [4]float64{o.Box.X, o.Box.Y, o.Box.W, o.Box.H}
		obj := telemetry.Object{TrackID: o.TrackID, Class: o.Class, Confidence: o.Confidence, Box: box, Carried: o.Carried}
		pl := p.locate(f.Camera, f.Time, box, f.Width, f.Height)
		obj.GeoStatus = string(pl.status)
		if pl.status == geo.StatusOK {
			obj.Lat, obj.Lon, obj.Error = &pl.lat, &pl.lon, pl.sigma
			es, v := p.track(f.Camera, o.TrackID, o.Class, pl, f.Time)
			if v != nil {
				obj.VNorth, obj.VEast = &v.north, &v.east
			}
			for _, e := range es {
				e.Received, e.Fence = f.Received, f.Fence
				e.Data["class"], e.Data["confidence"] = o.Class, o.Confidence
				fenceEvents = append(fenceEvents, e)
			}
		}
		d.Objects = append(d.Objects, obj)
	}
	if p.cfg.Writer != nil {
		_ = p.cfg.Writer.WriteDetections(&d) // a full queue is counted by the writer
	}
	p.cfg.Bus.PublishDetections(d)
	for _, e := range fenceEvents {
		p.Publish(e)
	}
}

// Event stores and publishes a track, zone or stream event, placed where
// its track was last seen on the ground; a track's end also ends its
// fences (vision/analysis' Sink).
func (p *Placer) Event(e telemetry.Event) {
	if e.TrackID != 0 && e.Lat == nil {
		if pt, ok := p.lastPosition(e.CameraID, e.TrackID); ok {
			lat, lon := pt[1], pt[0]
			e.Lat, e.Lon = &lat, &lon
		}
	}
	p.Publish(e)
	if e.Kind == "track.end" {
		class, _ := e.Data["class"].(string)
		for _, x := range p.trackEnded(e.CameraID, e.TrackID, class, e.Time) {
			x.Fence = e.Fence
			p.Publish(x)
		}
	}
}

// Publish sends an event to the live feed and stores it; a camera's
// event (but its stream's) starts event-mode recording around it.
func (p *Placer) Publish(e telemetry.Event) {
	if p.cfg.Trigger != nil && e.CameraID != "" && !strings.HasPrefix(e.Kind, "stream.") {
		p.cfg.Trigger(e.CameraID, e.Time)
	}
	p.cfg.Bus.PublishEvent(e)
	if p.cfg.Writer != nil {
		_ = p.cfg.Writer.WriteEvent(&e)
	}
}
