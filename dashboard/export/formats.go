package export

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/telemetry/store"
)

// rowProgress reports done/total every 1,000 rows.
func rowProgress(ctx context.Context, rec Source, table string, from, to time.Time, progress func(float64)) func() {
	total, _ := rec.CountRows(ctx, table, from, to)
	n := 0
	return func() {
		if n++; total > 0 && n%1000 == 0 {
			progress(float64(n) / float64(total))
		}
	}
}

func exportTracks(ctx context.Context, w io.Writer, rec Source, j Job, progress func(float64)) error {
	vehicles := []string{j.Vehicle}
	if j.Vehicle == "" {
		var err error
		if vehicles, err = rec.TrackVehicles(ctx, j.From, j.To); err != nil {
			return err
		}
	}
	step := rowProgress(ctx, rec, store.Telemetry.Name, j.From, j.To, progress)
	var cw *csv.Writer
	switch j.Format {
	case "geojson":
		io.WriteString(w, `{"type":"FeatureCollection","features":[`)
	case "kml":
		io.WriteString(w, xml.Header+`<kml xmlns="http://www.opengis.net/kml/2.2" xmlns:gx="http://www.google.com/kml/ext/2.2"><Document><name>smarteye tracks</name>`+"\n")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write([]string{"time", "vehicle_id", "lat", "lon", "alt_msl", "alt_rel", "heading", "ground_speed"})
	}
	for i, v := range vehicles {
		var pts []store.TrackPoint
		err := rec.EachTrackPoint(ctx, v, j.From, j.To, func(p store.TrackPoint) error {
			step()
			if cw != nil {
				return cw.Write([]string{p.Time.UTC().Format(time.RFC3339Nano), v, ftoa(p.Lat), ftoa(p.Lon), f32(p.AltMSL), f32(p.AltRel), f32(p.Heading), f32(p.GroundSpeed)})
			}
			pts = append(pts, p)
			return nil
		})
		if err != nil {
			return err
		}
		switch {
		case j.Format == "geojson" && len(pts) > 0:
			if i > 0 {
				io.WriteString(w, ",")
			}
			coords := make([][3]float64, len(pts))
			times := make([]string, len(pts))
			for k, p := range pts {
				coords[k] = [3]float64{p.Lon, p.Lat, float64(deref(p.AltMSL))}
				times[k] = p.Time.UTC().Format(time.RFC3339Nano)
			}
			b, _ := json.Marshal(map[string]any{"type": "Feature", "geometry": map[string]any{"type": "LineString", "coordinates": coords},
				"properties": map[string]any{"vehicle_id": v, "start": pts[0].Time.UTC(), "end": pts[len(pts)-1].Time.UTC(), "coordTimes": times}})
			w.Write(b)
		case j.Format == "kml" && len(pts) > 0:
			fmt.Fprintf(w, "<Placemark><name>%s</name><gx:Track><altitudeMode>absolute</altitudeMode>\n", xmlText(v))
			for _, p := range pts {
				fmt.Fprintf(w, "<when>%s</when>\n", p.Time.UTC().Format(time.RFC3339Nano))
			}
			for _, p := range pts {
				fmt.Fprintf(w, "<gx:coord>%s %s %s</gx:coord>\n", ftoa(p.Lon), ftoa(p.Lat), f32(p.AltMSL))
			}
			io.WriteString(w, "</gx:Track></Placemark>\n")
		}
	}
	switch j.Format {
	case "geojson":
		_, err := io.WriteString(w, "]}\n")
		return err
	case "kml":
		_, err := io.WriteString(w, "</Document></kml>\n")
		return err
	}
	cw.Flush()
	return cw.Error()
}

func exportEvents(ctx context.Context, w io.Writer, rec Source, j Job, progress func(float64)) error {
	step := rowProgress(ctx, rec, store.Events.Name, j.From, j.To, progress)
	var cw *csv.Writer
	switch j.Format {
	case "geojson":
		io.WriteString(w, `{"type":"FeatureCollection","features":[`)
	case "kml":
		io.WriteString(w, xml.Header+`<kml xmlns="http://www.opengis.net/kml/2.2"><Document><name>smarteye events</name>`+"\n")
	case "csv":
		cw = csv.NewWriter(w)
		cw.Write([]string{"time", "id", "kind", "camera_id", "vehicle_id", "track_id", "lat", "lon", "message"})
	}
	first := true
	err := rec.EachEvent(ctx, j.From, j.To, j.Camera, j.Vehicle, func(e store.EventRecord) error {
		step()
		switch j.Format {
		case "csv":
			tr := ""
			if e.TrackID != nil {
				tr = strconv.FormatInt(*e.TrackID, 10)
			}
			lat, lon := "", ""
			if e.Lat != nil && e.Lon != nil {
				lat, lon = ftoa(*e.Lat), ftoa(*e.Lon)
			}
			return cw.Write([]string{e.Time.UTC().Format(time.RFC3339Nano), e.ID, e.Kind, derefS(e.CameraID), derefS(e.Vehicle), tr, lat, lon, derefS(e.Message)})
		case "geojson":
			var geom any
			if e.Lat != nil && e.Lon != nil {
				geom = map[string]any{"type": "Point", "coordinates": []float64{*e.Lon, *e.Lat}}
			}
			b, err := json.Marshal(map[string]any{"type": "Feature", "id": e.ID, "geometry": geom, "properties": e})
			if err != nil {
				return err
			}
			if !first {
				io.WriteString(w, ",")
			}
			first = false
			_, err = w.Write(b)
			return err
		default: // kml: placed events only
			if e.Lat == nil || e.Lon == nil {
				return nil
			}
			_, err := fmt.Fprintf(w, "<Placemark><name>%s</name><description>%s</description><TimeStamp><when>%s</when></TimeStamp><Point><coordinates>%s,%s</coordinates></Point></Placemark>\n",
				xmlText(e.Kind), xmlText(derefS(e.Message)), e.Time.UTC().Format(time.RFC3339Nano), ftoa(*e.Lon), ftoa(*e.Lat))
			return err
		}
	})
	if err != nil {
		return err
	}
	switch j.Format {
	case "geojson":
		_, err = io.WriteString(w, "]}\n")
	case "kml":
		_, err = io.WriteString(w, "</Document></kml>\n")
	default:
		cw.Flush()
		err = cw.Error()
	}
	return err
}

func ftoa(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

func f32(p *float32) string {
	if p == nil {
		return ""
	}
	return strconv.FormatFloat(float64(*p), 'f', -1, 32)
}

func deref(p *float32) float32 {
	if p == nil {
		return 0
	}
	return *p
}

func derefS(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func xmlText(s string) string {
	var b strings.Builder
	xml.EscapeText(&b, []byte(s))
	return b.String()
}
