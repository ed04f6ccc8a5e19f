package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/cmd/smarteye/internal/tlsconf"
	"github.com/smarteye/smarteye/dashboard"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/control"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/cluster"
	"github.com/smarteye/smarteye/telemetry/forecast"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/store/embedded"
	"github.com/smarteye/smarteye/telemetry/supervise"
	"github.com/smarteye/smarteye/vision/cv"
)

// fallbackClusterDir holds the embedded cluster when smarteye runs as root
// and the PostgreSQL account cannot reach <data_dir>/pg (under /root, say).
const fallbackClusterDir = "/var/lib/smarteye"

// database starts the embedded cluster when no URL is configured and returns
// the URL to use; cluster is nil for an external database. When another
// smarteye owns the data directory's cluster, a client (import, migrate)
// uses that running server and cluster is nil; serve refuses, saying who
// holds it.
func database(ctx context.Context, cfg config.Config, log *slog.Logger, client bool) (url string, cluster *embedded.Cluster, err error) {
	if cfg.Database.URL != "" {
		return cfg.Database.URL, nil, nil
	}
	e := cfg.Database.Embedded
	cluster, err = embedded.New(embedded.Config{
		Dir:          filepath.Join(cfg.DataDir, "pg"),
		BinDir:       e.BinDir,
		RunAs:        e.RunAs,
		Listen:       e.Listen,
		StartTimeout: e.StartTimeout.D(),
		FallbackDir:  fallbackClusterDir,
		Log:          log,
	})
	if err != nil {
		return "", nil, err
	}
	if err := cluster.Start(ctx); err != nil {
		var inUse *embedded.InUseError
		if !errors.As(err, &inUse) {
			return "", nil, err
		}
		if client {
			log.Info("the data directory's database is run by another smarteye; using it", "holder", inUse.Holder)
			return cluster.URL(), nil, nil
		}
		return "", nil, fmt.Errorf("data directory %s is in use by %s: stop it first (smarteye import and migrate can run beside it)", cfg.DataDir, inUse.Holder)
	}
	return cluster.URL(), cluster, nil
}

func storeConfig(cfg config.Config, url string, log *slog.Logger) store.Config {
	d := cfg.Database
	return cfg.Store.Config(url, d.Mode, d.MaxConns, d.ConnectTimeout.D(), log)
}

// prepareDataDir makes the data directory and checks that it is usable.
func prepareDataDir(cfg *config.Config) error {
	abs, err := filepath.Abs(cfg.DataDir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return fmt.Errorf("data directory: %w", err)
	}
	probe, err := os.CreateTemp(abs, ".write-test-")
	if err != nil {
		return fmt.Errorf("data directory %s is not writable: %w", abs, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	cfg.DataDir = abs
	return nil
}

// serve runs the platform until ctx ends.
func serve(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer, demo bool) error {
	if err := prepareDataDir(&cfg); err != nil {
		return err
	}
	log.Info("starting smarteye", "version", versionString(), "data_dir", cfg.DataDir, "demo", demo)

	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "smarteye_build_info",
			Help:        "Always 1; the version is a label.",
			ConstLabels: prometheus.Labels{"version": versionString()},
		}, func() float64 { return 1 }),
	)
	board := telemetry.NewBoard()

	url, pg, err := database(ctx, cfg, log, false)
	if err != nil {
		return err
	}
	dbKind := "external"
	if pg != nil {
		dbKind = "embedded"
		// Stopped last, after everything that writes to it.
		defer pg.Stop(30 * time.Second)
	}

	st, err := store.New(storeConfig(cfg, url, log), reg)
	if err != nil {
		return err
	}
	defer st.Close()
	w, err := store.NewWriter(st, cfg.Store.WriterConfig(cfg.DataDir, log, reg))
	if err != nil {
		return err
	}
	hub := telemetry.NewHub(reg)
	// Alone, the hub is the live bus; in a cluster the bus also carries
	// every update to the other nodes' hubs, and the nodes share the work.
	nd, err := joinCluster(cfg, log, reg, hub)
	if err != nil {
		return err
	}
	defer nd.close()
	bus := nd.bus
	if nd.on() {
		st.SetStandby(true) // until this node owns the store's upkeep
	}
	var ingest []component
	var mav *mavlink.Ingest
	if nd.has(cluster.RoleWorker) {
		var owner telemetry.Owner
		if nd.on() {
			owner = nd.owner
		}
		if ingest, mav, err = ingestComponents(cfg, log, demo, bus, w, reg, owner); err != nil {
			return err
		}
		commandEvents(mav.Commander(), bus, w, st.Audit, log)
	}
	// A frame's walk: camera (stream, decode, analysis) → placement on the
	// ground and geofences → live bus and store.
	sites, fences := sitesAndFences(cfg, demo)
	rec := &trigger{}
	pl, err := place.New(place.Config{Sites: sites, Fences: fences, Solve: cv.FindHomography, Store: st, Bus: bus, Writer: w,
		Trigger: rec.fire, Changed: nd.changed(), Log: log})
	if err != nil {
		return err
	}
	simCams, cams, ready, err := demoCameras(cfg, log, demo)
	if err != nil {
		return err
	}
	allCams := cams
	if !nd.on() && !nd.has(cluster.RoleWorker) {
		cams = nil
	}
	// In a cluster a node without the worker role is never given a camera
	// (telemetry/cluster); it still lists them all and relays their video.
	sup, err := camera.New(cfg.Video, cams, cameraOptions(cfg), camera.Deps{Bus: bus, Place: pl, Index: st, Board: board, Ready: ready,
		Owner: nd.owner, Node: nd.settings.Node, Registerer: reg, Log: log})
	if err != nil {
		return err
	}
	rec.sup = sup
	shared, closeShared, err := nd.cameras(sup, log)
	if err != nil {
		return err
	}
	defer closeShared()
	// Drone cameras without a video stream still have a footprint on the
	// map, from their vehicle's telemetry.
	for _, v := range mavlinkConfig(cfg, log, demo).Vehicles {
		if v.Camera != "" {
			pl.AddVideoless(v.Camera, v.Name)
		}
	}
	ingest = append(ingest, component{"geo", pl.Run})
	if simCams != nil && nd.has(cluster.RoleWorker) {
		ingest = append(ingest, *simCams)
	}
	ingest = append(ingest, component{"cameras", sup.Run})
	auth, adminPassword, err := authConfig(cfg)
	if err != nil {
		return err
	}
	auth.Tally = nd.tally()
	rules := cfg.Alerts.Rules
	if demo {
		rules = append(slices.Clone(rules), cfg.Sim.Rules...)
	}
	alerts, err := alert.NewEngine(alert.Config{Rules: rules, Channels: cfg.Alerts.Channels, OnDemand: nd.on(), Changed: nd.changed(),
		Events: nd.eventSource()}, st, bus, shared.Evidence, log, reg)
	if err != nil {
		return fmt.Errorf("alerts: %w", err)
	}
	// In a cluster, what another node's API changed is read again here.
	for kind, reload := range map[string]func(context.Context) error{"rules": alerts.ReloadRules, "geofences": pl.ReloadGeofences, "calibrations": pl.ReloadCalibrations} {
		if err := nd.onChange(kind, reload); err != nil {
			return fmt.Errorf("cluster: %w", err)
		}
	}
	// Supervision sessions: started and ended on time, their cameras
	// recorded throughout, supervisors told when one goes live or loses
	// a camera.
	sessions := supervise.New(supervise.Config{Store: st, Bus: bus, Event: pl.Publish, Hold: shared.Hold,
		PostRoll: cfg.Video.Recording.PostRoll.D(), Peers: nd.roomPeers(log), Log: log, Registerer: reg})
	closeRooms, err := nd.startRooms(sessions)
	if err != nil {
		return err
	}
	defer closeRooms()
	rtc := live.OpenWebRTC(cfg.Video.WebRTC, log, board)
	if rtc != nil {
		defer rtc.Close()
	}
	deps := dashboard.Deps{Store: st, Writer: w, Board: board, Bus: bus, History: st, Trends: st, Cameras: sup, Relays: sup, Geo: pl,
		Alerts: alerts, AlertStore: st, Gatherer: reg, Registerer: reg, Log: log,
		Recordings: st, RecordingsDir: recordingsDir(cfg), ExportsDir: filepath.Join(cfg.DataDir, "exports"),
		ExportsMaxBytes: int64(cfg.HTTP.ExportsMaxSize),
		Supervision:     dashboard.Supervision{Store: st, Rooms: sessions, Snapshot: shared.Snapshot}, Accounts: st}
	if nd.on() {
		deps.Cluster = nd.status
		// A camera another node runs is watched through a relay here, fed
		// from that node over NATS.
		video, err := nd.video(sup, log, reg)
		if err != nil {
			return err
		}
		defer video.Close()
		deps.Relays = video
	}
	if mav != nil {
		cs := cfg.MAVLink.Commands
		deps.Control = dashboard.Control{Commander: mav.Commander(), Event: func(e telemetry.Event) { bus.PublishEvent(e); _ = w.WriteEvent(&e) },
			Limits: control.Limits{Ceiling: cs.Ceiling, Floor: cs.Floor, MinTakeoffBattery: cs.MinTakeoffBattery}, ControlTTL: cs.ControlTTL.D()}
	}
	if rtc != nil { // a nil *live.WebRTC would not be a nil interface
		deps.WebRTC = rtc
	}
	var tlsCfg *tls.Config
	var tlsInfo *dashboard.TLSInfo
	if t := cfg.HTTP.TLS; t.Enabled {
		if tlsCfg, tlsInfo, err = tlsconf.Server(t.CertFile, t.KeyFile, cfg.DataDir, cfg.HTTP.Address, log); err != nil {
			return err
		}
	}
	srv, err := dashboard.New(dashboard.Config{
		Address:         cfg.HTTP.Address,
		ShutdownTimeout: cfg.HTTP.ShutdownTimeout.D(),
		Version:         versionString(),
		Database:        dbKind,
		Auth:            auth,
		Limits: dashboard.RateLimits{APIRate: cfg.HTTP.RateLimit.APIRate, APIBurst: cfg.HTTP.RateLimit.APIBurst,
			LoginsPerMinute: cfg.HTTP.RateLimit.LoginsPerMinute, WebRTCPerMinute: cfg.HTTP.RateLimit.WebRTCPerMinute},
		TLS:     tlsCfg,
		TLSInfo: tlsInfo,
	}, deps)
	if err != nil {
		return err
	}
	if nd.has(cluster.RoleAPI) {
		if err := srv.Listen(); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "smarteye %s: dashboard at %s (Ctrl-C stops)\n", versionString(), srv.URL())
	} else {
		fmt.Fprintf(stdout, "smarteye %s: node %s runs %s (no dashboard here; Ctrl-C stops)\n", versionString(), nd.settings.Node, strings.Join(nd.settings.Roles, ", "))
	}
	if adminPassword != "" {
		fmt.Fprintf(stdout, "log in as admin with password %s (no users are configured; set %s to choose it)\n", adminPassword, config.AdminPasswordEnv)
	}

	// Start order; shutdown runs in reverse: the HTTP server stops taking
	// requests, the drones and links stop, the vehicle registry writes its
	// last update, then the writer flushes or spools what it holds (nothing
	// writes after it), then the store's upkeep stops, then the embedded
	// PostgreSQL stops (deferred above, after the pool closes).
	comps := []component{}
	if pg != nil {
		comps = append(comps, component{"database", pg.Run})
	}
	clusterFirst, handover := nd.components(board, log)
	comps = append(comps,
		component{"store", st.Run},
		component{"writer", w.Run},
	)
	comps = append(comps, clusterFirst...)
	comps = append(comps,
		component{"vehicle registry", nd.singleton("registry", log, func(ctx context.Context) error { return st.SyncVehicles(ctx, hub.Vehicles, 5*time.Second) })},
		component{"status board", func(ctx context.Context) error { return store.ReportStatus(ctx, board, st, w, pg) }},
		// Started before ingest and stopped after it: the last events are
		// still judged, and their alerts stored, before the store closes.
		component{"alerts", nd.singleton("alerts", log, func(ctx context.Context) error {
			// Zone crowd forecasts, made beside the engine that judges them
			// (its rules say how far ahead to look).
			fctx, stop := context.WithCancel(ctx)
			done := make(chan struct{})
			go func() {
				defer close(done)
				forecast.Watch(fctx, forecast.WatchConfig{Source: st, Horizon: alerts.ForecastHorizon, Zone: siteZones(sites), Log: log.With("component", "forecast"),
					Publish: func(e telemetry.Event) { bus.PublishEvent(e); _ = w.WriteEvent(&e) }})
			}()
			err := alerts.Run(ctx)
			stop()
			<-done
			return err
		})},
		component{"supervision sessions", nd.singleton("supervision", log, sessions.Run)},
		component{"sites", nd.singleton("sites", log, syncSites(st, cfg, sites, allCams, demo, log))},
	)
	if nd.on() {
		comps = append(comps, component{"store upkeep", nd.singleton("upkeep", log, func(ctx context.Context) error {
			st.SetStandby(false)
			<-ctx.Done()
			st.SetStandby(true)
			return nil
		})})
	}
	comps = append(comps, ingest...)
	if nd.on() {
		comps = append(comps, handover)
	}
	if nd.has(cluster.RoleAPI) {
		comps = append(comps, component{"http", srv.Run})
	}
	return runAll(ctx, log, board, comps...)
}

// authConfig is the configured users and tokens; with neither, an admin
// whose password is SMARTEYE_ADMIN_PASSWORD or a random one, returned to
// be printed.
func authConfig(cfg config.Config) (a auth.Config, printed string, err error) {
	a = auth.Config{SessionTTL: cfg.Auth.SessionTTL.D(), IdleTimeout: cfg.Auth.IdleTimeout.D(),
		PasswordMinLength: cfg.Auth.PasswordMinLength, SecureCookie: cfg.Auth.SecureCookie}
	if l := cfg.Auth.LDAP; l.URL != "" {
		a.LDAP = &auth.LDAPConfig{URL: l.URL, StartTLS: l.StartTLS, CAFile: l.CAFile, UserDN: l.UserDN, BaseDN: l.BaseDN,
			UserFilter: l.UserFilter, BindDN: l.BindDN, BindPassword: l.BindPassword, GroupBaseDN: l.GroupBaseDN,
			GroupFilter: l.GroupFilter, Timeout: l.Timeout.D()}
		for _, g := range l.Groups {
			a.LDAP.Groups = append(a.LDAP.Groups, auth.LDAPGroup{Group: g.Group, Role: g.Role, Team: g.Team})
		}
	}
	for _, u := range cfg.Auth.Users {
		a.Users = append(a.Users, auth.User{Name: u.Name, Role: u.Role, PasswordHash: u.PasswordHash, Team: u.Team})
	}
	for _, t := range cfg.Auth.Tokens {
		a.Tokens = append(a.Tokens, auth.Token{Name: t.Name, Role: t.Role, SHA256: t.SHA256, Team: t.Team})
	}
	if len(a.Users) > 0 || len(a.Tokens) > 0 {
		return a, "", nil
	}
	password := os.Getenv(config.AdminPasswordEnv)
	if password == "" {
		password = rand.Text()[:16]
		printed = password
	}
	hash, err := auth.HashPassword(password)
	if err != nil {
		return a, "", fmt.Errorf("%s: %w", config.AdminPasswordEnv, err)
	}
	a.Users = []auth.User{{Name: "admin", Role: auth.RoleAdmin, PasswordHash: hash}}
	return a, printed, nil
}

// openStore opens the store for a one-off command (migrate, import),
// starting the embedded cluster when no URL is configured; closeStore
// closes the pool, then stops the cluster.
func openStore(ctx context.Context, cfg config.Config, log *slog.Logger) (st *store.Store, closeStore func(), err error) {
	if err := prepareDataDir(&cfg); err != nil {
		return nil, nil, err
	}
	url, cluster, err := database(ctx, cfg, log, true)
	if err != nil {
		return nil, nil, err
	}
	stop := func() {
		if cluster != nil {
			cluster.Stop(30 * time.Second)
		}
	}
	st, err = store.New(storeConfig(cfg, url, log), nil)
	if err != nil {
		stop()
		return nil, nil, err
	}
	return st, func() { st.Close(); stop() }, nil
}

// migrate applies the migrations and reports the schema.
func migrate(ctx context.Context, cfg config.Config, log *slog.Logger, stdout io.Writer) error {
	st, closeStore, err := openStore(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer closeStore()
	n, err := st.Migrate(ctx)
	if err != nil {
		return err
	}
	s := st.State()
	fmt.Fprintf(stdout, "applied %d migration(s); schema version %d, store mode %s\n", n, s.SchemaVersion, s.Mode)
	return nil
}
