package sim

import (
	"math"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/smarteye/smarteye/telemetry"
)

// Crowd is a business district's people at once in a camera zone at t
// (local time in t's location): weekday peaks at 9:00, 12:30 and 18:00,
// quiet nights, weekends at 40 %.
func Crowd(t time.Time) float64 {
	h := float64(t.Hour()) + float64(t.Minute())/60
	c := 0.5 + 4*math.Exp(-math.Pow(h-9, 2)/1.5) + 3*math.Exp(-math.Pow(h-12.5, 2)/1) + 6*math.Exp(-math.Pow(h-18, 2)/2)
	if wd := t.Weekday(); wd == time.Saturday || wd == time.Sunday {
		c *= 0.4
	}
	return c
}

// historyTrackBase keeps generated track ids apart from live ones.
const historyTrackBase = 1 << 40

// ZoneHistory is a generated past of one camera zone between from and to:
// people arrive at random (at the rate that makes Crowd the mean number
// inside at their local time in loc), stay 1 to 8 minutes, and leave; each
// visit is a track.start, zone.enter, zone.exit and track.end with the
// count inside and the stay, as the live analysis tells them. Every
// event's data says synthetic: true. The same seed gives the same past.
func ZoneHistory(camera, zone string, from, to time.Time, loc *time.Location, seed uint64) []telemetry.Event {
	rng := rand.New(rand.NewPCG(seed, 25))
	type visit struct {
		in, out time.Time
		id      uint64
	}
	var visits []visit
	const meanStay = 4.5 * 60 // seconds
	for t := from; t.Before(to); {
		// Arrivals per second keep Crowd(t) inside on average (Little's law).
		rate := Crowd(t.In(loc)) / meanStay
		gap := rng.ExpFloat64() / max(rate, 1e-4)
		t = t.Add(time.Duration(gap * float64(time.Second))).Truncate(time.Millisecond)
		if !t.Before(to) {
			break
		}
		stay := time.Duration((60 + rng.Float64()*420) * float64(time.Second))
		visits = append(visits, visit{in: t, out: t.Add(stay), id: historyTrackBase + uint64(len(visits))})
	}
	type edge struct {
		at    time.Time
		enter bool
		v     visit
	}
	var edges []edge
	for _, v := range visits {
		if v.out.Before(to) {
			edges = append(edges, edge{v.out, false, v})
		}
		edges = append(edges, edge{v.in, true, v})
	}
	slices.SortFunc(edges, func(a, b edge) int { return a.at.Compare(b.at) })
	var out []telemetry.Event
	inside := 0
	ev := func(kind string, at time.Time, id uint64, data map[string]any) {
		data["class"], data["synthetic"] = "person", true
		out = append(out, telemetry.Event{Time: at, ID: telemetry.NewUUID(), Kind: kind, CameraID: camera, TrackID: id, Data: data})
	}
	for _, e := range edges {
		if e.enter {
			inside++
			ev("track.start", e.at, e.v.id, map[string]any{})
			ev("zone.enter", e.at, e.v.id, map[string]any{"zone": zone, "count": inside})
			continue
		}
		inside--
		stay := e.v.out.Sub(e.v.in).Seconds()
		ev("zone.exit", e.at, e.v.id, map[string]any{"zone": zone, "count": inside, "dwell_s": stay})
		ev("track.end", e.at, e.v.id, map[string]any{"duration_s": stay})
	}
	return out
}
