package main

import (
	"context"
	"log/slog"
	"time"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/ingest/sim"
	"github.com/smarteye/smarteye/telemetry/store"
)

// demoHistory is how much generated past the demo's zones get: enough for
// a month of trends and a forecast (two weeks at least).
const demoHistory = 5 * 7 * 24 * time.Hour

// syncSites writes the sites and cameras to the store once it answers
// (their time zones and which camera is on which site are what the
// trends are counted by), then, in the demo, a generated past for the
// simulated cameras' zones if none was written before.
func syncSites(st *store.Store, cfg config.Config, sites []geo.Site, cams []config.Camera, demo bool, log *slog.Logger) func(context.Context) error {
	return func(ctx context.Context) error {
		var recs []store.SiteRecord
		for _, s := range sites {
			recs = append(recs, store.SiteRecord{ID: s.ID, Name: s.Name, Timezone: s.Timezone, Elevation: s.Elevation, Synthetic: s.Synthetic})
		}
		var cr []store.CameraRecord
		for _, c := range cams {
			name := c.Name
			if name == "" {
				name = c.ID
			}
			cr = append(cr, store.CameraRecord{ID: c.ID, Name: name, Kind: c.Kind, Site: c.Geo.Site})
		}
		for {
			if st.Ready() {
				err := st.SyncSites(ctx, recs, cr)
				if err == nil && demo {
					err = demoPast(ctx, st, cfg, sites, log)
				}
				if err == nil {
					break
				}
				log.Warn("sites not written to the store yet; trying again", "err", err)
			}
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(2 * time.Second):
			}
		}
		<-ctx.Done()
		return nil
	}
}

// demoPast writes five weeks of generated visits to each simulated
// camera's zones (labelled synthetic), once, and refreshes the trends.
func demoPast(ctx context.Context, st *store.Store, cfg config.Config, sites []geo.Site, log *slog.Logger) error {
	if done, err := st.HasSyntheticEvents(ctx); err != nil || done {
		return err
	}
	loc := siteZones(sites)(cfg.Sim.Site.ID)
	if loc == nil {
		loc = time.UTC
	}
	to := time.Now().Add(-time.Minute)
	from := to.Add(-demoHistory)
	for i, c := range cfg.Sim.Cameras {
		for j, z := range c.Zones {
			start := time.Now()
			evs := sim.ZoneHistory(c.ID, z.Name, from, to, loc, uint64(i*100+j+1))
			if err := st.ImportEvents(ctx, evs); err != nil {
				return err
			}
			log.Info("demo: wrote a generated past (synthetic) for the trends", "camera", c.ID, "zone", z.Name,
				"weeks", int(demoHistory.Hours()/24/7), "events", len(evs), "took", time.Since(start).Round(time.Millisecond))
		}
	}
	start := time.Now()
	n, err := st.RefreshTrends(ctx)
	if err == nil {
		log.Info("demo: trends of the generated past ready", "buckets", n, "took", time.Since(start).Round(time.Millisecond))
	}
	return err
}

// siteZones is each configured site's time zone (nil for a site with none
// or an unknown one).
func siteZones(sites []geo.Site) func(string) *time.Location {
	zones := map[string]*time.Location{}
	for _, s := range sites {
		if s.Timezone == "" {
			continue
		}
		if l, err := time.LoadLocation(s.Timezone); err == nil {
			zones[s.ID] = l
		}
	}
	return func(site string) *time.Location { return zones[site] }
}
