// Package dashboard is smarteye's HTTP face: health and readiness probes,
// Prometheus metrics, the JSON API under /api/v1 and the web app. It owns
// the routing (which permission each route needs), the checks every
// request goes through (logins, rate limits, hostile input, the audit of
// changes), HTTPS, and the handlers of status, vehicles, cameras, events
// and detections, sites, geofences and the map layers. The rest of the
// API is served by its own packages: auth (logins and accounts), feed
// (the live feed), alerts, media (live and recorded video, replay),
// export and supervision. It reads state from telemetry and the store and
// never writes time series itself.
package dashboard

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	_ "embed"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/smarteye/smarteye/dashboard/alerts"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/dashboard/control"
	"github.com/smarteye/smarteye/dashboard/export"
	"github.com/smarteye/smarteye/dashboard/feed"
	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/dashboard/internal/ratelimit"
	"github.com/smarteye/smarteye/dashboard/media"
	"github.com/smarteye/smarteye/dashboard/supervision"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/telemetry/supervise"
)

// Config configures the server.
type Config struct {
	// Address is host:port. It defaults to 127.0.0.1:8080.
	Address string
	// ShutdownTimeout bounds graceful shutdown. It defaults to 10 seconds.
	ShutdownTimeout time.Duration
	// Version is reported by /api/v1/status.
	Version string
	// Database says where the database is: "embedded" or "external".
	Database string
	// Auth has the users and API tokens.
	Auth auth.Config
	// Limits bound each client address's requests; zero fields are none.
	Limits RateLimits
	// TLS, when set, serves HTTPS (plain HTTP on the same port is
	// redirected to it), with TLSInfo reported by /api/v1/status.
	TLS     *tls.Config
	TLSInfo *TLSInfo
}

// RateLimits bound what one client address may ask for; a zero field is
// no limit. Each is a token bucket per address: Burst requests at once,
// refilled at the rate.
type RateLimits struct {
	// API: requests a second to the API, with a burst.
	APIRate  float64
	APIBurst int
	// Logins: attempts a minute (beside the lock-out of a name guessed
	// from an address).
	LoginsPerMinute int
	// WebRTC: sessions opened a minute.
	WebRTCPerMinute int
}

// Store is what the server needs of the store.
type Store interface {
	CheckReady(ctx context.Context) error
	State() store.State
}

// Writer is what the server reports of the batch writer.
type Writer interface {
	QueueDepth() int64
	SpoolBytes() int64
}

// Recordings is the recorded video's index and the history that replay
// and exports read (store.Store is one).
type Recordings interface {
	media.Recordings
	export.Source
}

// Components reports the components' health (telemetry.Board).
type Components interface {
	Snapshot() []telemetry.ComponentStatus
}

// Deps are the parts the server reads from; each is an interface declared
// where it is used, and a nil one serves none of what it holds.
type Deps struct {
	Store  Store
	Writer Writer
	// Board has the components' health for /api/v1/status.
	Board Components
	// Bus is the live feed; nil is an empty one.
	Bus telemetry.Bus
	// History is stored telemetry, events and detections.
	History History
	// Trends reads the trends rollups (and what forecasts are fitted on).
	Trends TrendReader
	// Cameras lists the cameras with their status.
	Cameras CameraSource
	// Geo has the sites and the geofences; when it also places drone
	// cameras' pictures on the ground (media.DroneFootprints), replay
	// shows their footprints.
	Geo Geo
	// Relays are the cameras' live video; WebRTC answers WHEP offers (nil
	// leaves viewers the MSE stream).
	Relays media.Relays
	WebRTC media.WebRTC
	// Alerts runs the rules and the alert lifecycle, AlertStore reads the
	// stored alerts; without either no alerts are served.
	Alerts     alerts.Engine
	AlertStore alerts.Store
	// Recordings indexes recorded video (in RecordingsDir) and answers
	// replay and exports (written to ExportsDir).
	Recordings    Recordings
	RecordingsDir string
	ExportsDir    string
	// ExportsMaxBytes bounds the finished exports' files together (the
	// oldest go first); 0 is 5 GiB.
	ExportsMaxBytes int64
	// Supervision runs the supervision sessions.
	Supervision Supervision
	// Control commands the vehicles; without a Commander nothing can be.
	Control Control
	// Accounts keeps the users, tokens and logins made in the product and
	// the audit log; nil keeps only the configured users and tokens, and
	// logins in memory.
	Accounts auth.AccountStore
	// Cluster describes the cluster for /api/v1/status; nil outside one.
	Cluster  func() any
	Gatherer prometheus.Gatherer
	// Registerer receives the server's own metrics; nil registers none.
	Registerer prometheus.Registerer
	Log        *slog.Logger
}

// Supervision is what the supervision sessions are served from: Store
// keeps them, Rooms runs them (their rooms, start and end,
// notifications); without either none are served. Snapshot is a camera's
// picture near a moment (a JPEG), for remarks; nil, or nil answers, keep
// remarks without one.
type Supervision struct {
	Store    supervision.Store
	Rooms    supervision.Rooms
	Snapshot func(camera string, t time.Time) []byte
}

// Control is what drone command and control is served from: the
// commander (ingest/mavlink), the site's interlocks, and where a refused
// command is told (the live feed and the vehicle's timeline).
type Control struct {
	Commander  control.Commander
	Limits     control.Limits
	Event      func(telemetry.Event)
	ControlTTL time.Duration
}

// Server is the HTTP server: it routes each request, after its checks,
// to the handlers of this package and of the packages that own the rest
// of the API.
type Server struct {
	cfg     Config
	deps    Deps
	log     *slog.Logger
	started time.Time
	ln      net.Listener
	srv     *http.Server

	requests  *prometheus.CounterVec
	duration  *prometheus.HistogramVec
	denied    *prometheus.CounterVec
	throttled *prometheus.CounterVec
	apiLimit  *ratelimit.Limiter

	auth     *auth.Authenticator
	accounts *auth.API
	audit    *auth.Auditor
	feed     *feed.Feed
	alerts   *alerts.API
	media    *media.API
	exports  *export.Manager
	sessions *supervision.API
	control  *control.API
	// closing is closed when shutdown begins: streams that are not
	// hijacked (the session rooms' server-sent events) end then, rather
	// than hold the graceful shutdown to its timeout.
	closing chan struct{}
}

//go:embed status.html
var statusPage []byte

// contentSecurityPolicy is sent with every response. The pages load
// everything from smarteye itself and run no inline script but the status
// page's, allowed by its hash; styles may be inline (the map library and
// the self-contained session report set them); pictures, video and the
// map's workers may come from blob: and data: URLs the pages make.
var contentSecurityPolicy = func() string {
	script := "'self'"
	if _, rest, ok := bytes.Cut(statusPage, []byte("<script type=\"module\">")); ok {
		if body, _, ok := bytes.Cut(rest, []byte("</script>")); ok {
			sum := sha256.Sum256(body)
			script += " 'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
		}
	}
	return strings.Join([]string{
		"default-src 'self'",
		"script-src " + script,
		"style-src 'self' 'unsafe-inline'",
		"img-src 'self' data: blob:",
		"media-src 'self' blob:",
		"worker-src 'self' blob:",
		"connect-src 'self' blob:",
		"font-src 'self' data:",
		"frame-src 'self'",
		"frame-ancestors 'self'",
		"object-src 'none'",
		"base-uri 'none'",
		"form-action 'self'",
	}, "; ")
}()

// New builds the server; Listen binds it. It fails on a bad user or token
// list.
func New(cfg Config, deps Deps) (*Server, error) {
	if cfg.Address == "" {
		cfg.Address = "127.0.0.1:8080"
	}
	if cfg.ShutdownTimeout <= 0 {
		cfg.ShutdownTimeout = 10 * time.Second
	}
	if deps.Log == nil {
		deps.Log = slog.Default()
	}
	if deps.Bus == nil {
		deps.Bus = telemetry.NewHub(nil)
	}
	authn, err := auth.NewAuthenticator(cfg.Auth, deps.Accounts, deps.Log.With("component", "auth"))
	if err != nil {
		return nil, fmt.Errorf("dashboard: %w", err)
	}
	s := &Server{
		auth:    authn,
		closing: make(chan struct{}),
		cfg:     cfg,
		deps:    deps,
		log:     deps.Log.With("component", "dashboard"),
		started: time.Now().UTC(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_http_requests_total",
			Help: "HTTP requests by route pattern and status code.",
		}, []string{"route", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "smarteye_http_request_seconds",
			Help:    "HTTP request duration by route pattern.",
			Buckets: prometheus.DefBuckets,
		}, []string{"route"}),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_http_denied_total",
			Help: "API requests refused: unauthenticated (401), forbidden for the role (403), or bad_input (400: a NUL, a control character or invalid UTF-8 in the path or a query parameter).",
		}, []string{"reason"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "smarteye_http_throttled_total",
			Help: "Requests refused with 429 because their address exceeded a limit: api, login, webrtc.",
		}, []string{"limit"}),
	}
	s.apiLimit = ratelimit.New("api", cfg.Limits.APIRate, cfg.Limits.APIBurst, s.throttled)
	if deps.Registerer != nil {
		deps.Registerer.MustRegister(s.requests, s.duration, s.denied, s.throttled)
	}
	s.build(authn)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(deps.Gatherer, promhttp.HandlerOpts{ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}))
	for _, rt := range s.routes() {
		mux.HandleFunc(rt.pattern, s.allow(rt.perm, rt.h))
	}
	mux.HandleFunc("POST /api/v1/auth/login", s.accounts.Login)
	mux.HandleFunc("POST /api/v1/auth/logout", s.accounts.Logout)
	mux.HandleFunc("GET /api/", func(w http.ResponseWriter, r *http.Request) {
		api.WriteError(w, http.StatusNotFound, "no such API endpoint: "+r.Method+" "+r.URL.Path)
	})
	status := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(statusPage)
	}
	// The command-centre map at /, the status page at /status (and at /
	// too when the web app was not built).
	mux.HandleFunc("GET /status", status)
	if app, ok := webApp(); ok {
		mux.Handle("GET /{$}", app)
		mux.Handle("GET /assets/", app)
		// The field page: phone-sized alerts for field teams.
		page := func(file string) http.HandlerFunc {
			return func(w http.ResponseWriter, r *http.Request) {
				r2 := r.Clone(r.Context())
				r2.URL.Path = file
				app.ServeHTTP(w, r2)
			}
		}
		mux.HandleFunc("GET /field", page("/field.html"))
		// Replay: history on one time slider.
		mux.HandleFunc("GET /replay", page("/replay.html"))
		// Trends: counts per zone over a range, the previous period and
		// the forecast, and the heat map of the range.
		mux.HandleFunc("GET /trends", page("/trends.html"))
		// Supervision sessions: the list and (?id=) each one's live room
		// and, once it has ended, its record.
		mux.HandleFunc("GET /sessions", page("/session.html"))
		// Accounts: one's own password and logins; for admins users, API
		// tokens, everybody's logins and the audit log.
		mux.HandleFunc("GET /admin", page("/admin.html"))
	} else {
		mux.HandleFunc("GET /{$}", status)
	}
	s.srv = &http.Server{
		Handler:           s.instrument(mux),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	s.srv.RegisterOnShutdown(func() { close(s.closing) })
	return s, nil
}

// build makes the packages that serve the rest of the API from the
// server's deps.
func (s *Server) build(authn *auth.Authenticator) {
	cfg, deps := s.cfg, s.deps
	cameraKnown := func(id string) bool { _, ok := s.camera(id); return ok }
	loginLimit := ratelimit.New("login", float64(cfg.Limits.LoginsPerMinute)/60, cfg.Limits.LoginsPerMinute, s.throttled)
	s.audit = auth.NewAuditor(deps.Accounts, deps.Registerer, s.log)
	s.accounts = auth.NewAPI(authn, s.audit, loginLimit, deps.Registerer, s.log)
	s.feed = feed.New(deps.Bus, deps.Registerer)
	s.alerts = alerts.New(alerts.Config{Engine: deps.Alerts, Store: deps.AlertStore, Map: deps.Geo, Log: s.log})
	mc := media.Config{Recordings: deps.Recordings, RecordingsDir: deps.RecordingsDir, Relays: deps.Relays, WebRTC: deps.WebRTC,
		WebRTCLimit: ratelimit.New("webrtc", float64(cfg.Limits.WebRTCPerMinute)/60, cfg.Limits.WebRTCPerMinute, s.throttled),
		Bus:         deps.Bus, SiteKnown: func(id string) bool { _, ok := s.site(id); return ok }, Alerts: deps.AlertStore,
		Registerer: deps.Registerer, Log: s.log,
		Cameras: func() []media.Camera {
			var out []media.Camera
			if deps.Cameras != nil {
				for _, c := range deps.Cameras.Cameras() {
					out = append(out, media.Camera{ID: c.ID, Name: c.Name, Kind: c.Kind, VehicleID: c.VehicleID})
				}
			}
			return out
		}}
	if df, ok := deps.Geo.(media.DroneFootprints); ok {
		mc.Footprints = df
	}
	s.media = media.New(mc)
	s.exports = export.New(export.Config{Dir: deps.ExportsDir, MaxBytes: deps.ExportsMaxBytes, Source: deps.Recordings,
		RecordingsDir: deps.RecordingsDir, Camera: cameraKnown, Log: s.log})
	names := supervise.Names{Camera: cameraKnown, User: auth.ValidUserName}
	if deps.Geo != nil {
		names.Sites = func() []string {
			var ids []string
			for _, x := range deps.Geo.Sites() {
				ids = append(ids, x.ID)
			}
			return ids
		}
	}
	cc := control.Config{Commander: deps.Control.Commander, Limits: deps.Control.Limits, Event: deps.Control.Event, ControlTTL: deps.Control.ControlTTL, Log: s.log}
	if deps.Accounts != nil {
		cc.Audit = deps.Accounts
	}
	if deps.Geo != nil {
		cc.Fences = func() []geo.Fence { fs, _ := deps.Geo.Geofences(); return fs }
	}
	s.control = control.New(cc)
	sv := deps.Supervision
	s.sessions = supervision.New(supervision.Config{Store: sv.Store, Rooms: sv.Rooms, Snapshot: sv.Snapshot, Events: deps.History, Trends: trendsOf(deps),
		Names: names, SiteName: func(id string) string { x, _ := s.site(id); return x.Name }, Closing: s.closing, Log: s.log})
}

// route is one API endpoint and the permission it needs.
type route struct {
	pattern string
	perm    auth.Permission
	h       http.HandlerFunc
}

// routes are the API endpoints that need a login: all but logging in and
// out. The probes and /metrics stay open for orchestrators and Prometheus.
func (s *Server) routes() []route {
	return []route{
		{"GET /api/v1/auth/me", auth.PermView, s.accounts.Me},
		{"POST /api/v1/auth/password", auth.PermView, s.accounts.ChangePassword},
		{"GET /api/v1/auth/sessions", auth.PermView, s.accounts.ListLogins},
		{"DELETE /api/v1/auth/sessions/{id}", auth.PermView, s.accounts.RevokeLogin},
		{"GET /api/v1/users", auth.PermAccounts, s.accounts.ListUsers},
		{"POST /api/v1/users", auth.PermAccounts, s.accounts.CreateUser},
		{"PATCH /api/v1/users/{name}", auth.PermAccounts, s.accounts.PatchUser},
		{"DELETE /api/v1/users/{name}", auth.PermAccounts, s.accounts.DeleteUser},
		{"GET /api/v1/tokens", auth.PermAccounts, s.accounts.ListTokens},
		{"POST /api/v1/tokens", auth.PermAccounts, s.accounts.CreateToken},
		{"DELETE /api/v1/tokens/{id}", auth.PermAccounts, s.accounts.RevokeToken},
		{"GET /api/v1/audit", auth.PermAccounts, s.accounts.ListAudit},
		{"GET /api/v1/status", auth.PermView, s.status},
		{"GET /api/v1/vehicles", auth.PermView, s.listVehicles},
		{"GET /api/v1/vehicles/{id}", auth.PermView, s.getVehicle},
		{"GET /api/v1/vehicles/{id}/track", auth.PermHistory, s.vehicleTrack},
		{"GET /api/v1/vehicles/{id}/control", auth.PermView, s.control.GetControl},
		{"POST /api/v1/vehicles/{id}/control", auth.PermCommand, s.control.PostControl},
		{"GET /api/v1/vehicles/{id}/commands", auth.PermView, s.control.ListCommands},
		{"POST /api/v1/vehicles/{id}/commands", auth.PermCommand, s.control.PostCommand},
		{"GET /api/v1/vehicles/{id}/commands/{cid}", auth.PermView, s.control.GetCommand},
		{"GET /api/v1/cameras", auth.PermView, s.listCameras},
		{"GET /api/v1/cameras/{id}", auth.PermView, s.getCamera},
		{"PUT /api/v1/cameras/{id}/calibration", auth.PermCalibrate, s.putCalibration},
		{"GET /api/v1/cameras/{id}/live", auth.PermVideo, s.media.LiveMSE},
		{"POST /api/v1/cameras/{id}/whep", auth.PermVideo, s.media.WHEPOffer},
		{"DELETE /api/v1/cameras/{id}/whep/{session}", auth.PermVideo, s.media.WHEPDelete},
		{"GET /api/v1/events", auth.PermHistory, s.listEvents},
		{"GET /api/v1/detections", auth.PermHistory, s.listDetections},
		{"GET /api/v1/trends", auth.PermHistory, s.trends},
		{"GET /api/v1/sites", auth.PermView, s.listSites},
		{"GET /api/v1/sites/{id}/model", auth.PermView, s.siteModel},
		{"GET /api/v1/sites/{id}/basemap.pmtiles", auth.PermView, s.siteBasemap},
		{"GET /api/v1/geofences", auth.PermView, s.listGeofences},
		{"POST /api/v1/geofences", auth.PermGeofences, s.putGeofence},
		{"GET /api/v1/geofences/{id}", auth.PermView, s.getGeofence},
		{"PUT /api/v1/geofences/{id}", auth.PermGeofences, s.putGeofence},
		{"DELETE /api/v1/geofences/{id}", auth.PermGeofences, s.deleteGeofence},
		{"GET /api/v1/geo/detections", auth.PermView, s.geoDetections},
		{"GET /api/v1/geo/events", auth.PermView, s.geoEvents},
		{"GET /api/v1/geo/footprints", auth.PermView, s.geoFootprints},
		{"GET /api/v1/tiles/detections/{z}/{x}/{y}", auth.PermView, s.detectionTile},
		{"GET /api/v1/live", auth.PermView, s.feed.ServeHTTP},
		{"GET /api/v1/rules", auth.PermView, s.alerts.ListRules},
		{"POST /api/v1/rules", auth.PermRules, s.alerts.PutRule},
		{"GET /api/v1/rules/{id}", auth.PermView, s.alerts.GetRule},
		{"PUT /api/v1/rules/{id}", auth.PermRules, s.alerts.PutRule},
		{"DELETE /api/v1/rules/{id}", auth.PermRules, s.alerts.DeleteRule},
		{"GET /api/v1/alerts", auth.PermView, s.alerts.List},
		{"GET /api/v1/alerts/{id}", auth.PermView, s.alerts.Get},
		{"GET /api/v1/alerts/{id}/snapshot.jpg", auth.PermView, s.alerts.Snapshot},
		{"GET /api/v1/alerts/{id}/map.svg", auth.PermView, s.alerts.Map},
		{"POST /api/v1/alerts/{id}/ack", auth.PermRespond, s.alerts.Step(telemetry.AlertAcknowledged)},
		{"POST /api/v1/alerts/{id}/resolve", auth.PermRespond, s.alerts.Step(telemetry.AlertResolved)},
		{"POST /api/v1/alerts/{id}/dismiss", auth.PermRespond, s.alerts.Step(telemetry.AlertDismissed)},
		{"GET /api/v1/cameras/{id}/recordings", auth.PermPlayback, s.media.ListRecordings},
		{"GET /api/v1/cameras/{id}/playback", auth.PermPlayback, s.media.Playback},
		{"GET /api/v1/recordings/{id}/init.mp4", auth.PermPlayback, s.media.RecordingInit},
		{"GET /api/v1/recordings/{id}/media.m4s", auth.PermPlayback, s.media.RecordingMedia},
		{"GET /api/v1/replay", auth.PermHistory, s.media.Replay},
		{"GET /api/v1/exports", auth.PermPlayback, s.exports.List},
		{"POST /api/v1/exports", auth.PermPlayback, s.exports.Create},
		{"GET /api/v1/exports/{id}", auth.PermPlayback, s.exports.Get},
		{"GET /api/v1/exports/{id}/file", auth.PermPlayback, s.exports.File},
		{"GET /api/v1/sessions", auth.PermView, s.sessions.List},
		{"POST /api/v1/sessions", auth.PermSessions, s.sessions.Create},
		{"GET /api/v1/sessions/{id}", auth.PermView, s.sessions.Get},
		{"PATCH /api/v1/sessions/{id}", auth.PermSessions, s.sessions.Patch},
		{"POST /api/v1/sessions/{id}/remarks", auth.PermSessions, s.sessions.AddRemark},
		{"GET /api/v1/sessions/{id}/remarks/{remark}/snapshot.jpg", auth.PermView, s.sessions.RemarkSnapshot},
		{"GET /api/v1/sessions/{id}/attendance", auth.PermView, s.sessions.Attendance},
		{"GET /api/v1/sessions/{id}/audit", auth.PermView, s.sessions.Audit},
		{"GET /api/v1/sessions/{id}/notices", auth.PermView, s.sessions.Notices},
		{"GET /api/v1/sessions/{id}/room", auth.PermView, s.sessions.Room},
		{"GET /api/v1/sessions/{id}/report.html", auth.PermView, s.sessions.ReportHTML},
		{"GET /api/v1/sessions/{id}/report.pdf", auth.PermView, s.sessions.ReportPDF},
	}
}

// allow wraps h so that only principals with perm reach it: 401 without a
// valid session or token, 403 without the permission.
func (s *Server) allow(perm auth.Permission, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.apiLimit.Allow(w, r) {
			return
		}
		p, ok := s.auth.Principal(r)
		if !ok {
			s.denied.WithLabelValues("unauthenticated").Inc()
			w.Header().Set("WWW-Authenticate", `Bearer realm="smarteye"`)
			api.WriteError(w, http.StatusUnauthorized, "log in first: POST /api/v1/auth/login, or send Authorization: Bearer TOKEN")
			return
		}
		if !p.Can(perm) {
			s.denied.WithLabelValues("forbidden").Inc()
			api.WriteError(w, http.StatusForbidden, fmt.Sprintf("the %s role may not do this (it needs the %q permission)", p.Role, perm))
			return
		}
		if !api.CheckRequest(w, r) {
			s.denied.WithLabelValues("bad_input").Inc()
			return
		}
		ctx := auth.WithPrincipal(r.Context(), p)
		if !changes(r) {
			h(w, r.WithContext(ctx))
			return
		}
		s.audited(w, r.WithContext(ctx), h)
	}
}

// Listen binds the address, so that a busy port fails at start-up.
func (s *Server) Listen() error {
	ln, err := net.Listen("tcp", s.cfg.Address)
	if err != nil {
		return fmt.Errorf("dashboard: listen on %s: %w (another smarteye running? choose another with --http)", s.cfg.Address, err)
	}
	s.ln = ln
	return nil
}

// Addr is the bound address (useful with port 0); nil before Listen.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// URL is the dashboard's URL as a user on this machine opens it.
func (s *Server) URL() string {
	a, ok := s.Addr().(*net.TCPAddr)
	if !ok {
		return ""
	}
	host := a.IP.String()
	if a.IP.IsUnspecified() {
		host = "127.0.0.1"
	}
	scheme := "http://"
	if s.cfg.TLS != nil {
		scheme = "https://"
	}
	return scheme + net.JoinHostPort(host, strconv.Itoa(a.Port)) + "/"
}

// Run serves until ctx ends, then shuts down gracefully within
// ShutdownTimeout. Listen must have succeeded.
func (s *Server) Run(ctx context.Context) error {
	if s.ln == nil {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	var redirect *http.Server
	if s.cfg.TLS != nil {
		tlsLn, plainLn := newChanListener(s.ln.Addr()), newChanListener(s.ln.Addr())
		go func() { _ = split(s.ln, tlsLn, plainLn) }()
		redirect = &http.Server{Handler: http.HandlerFunc(redirectToHTTPS), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
		go func() { _ = redirect.Serve(plainLn) }()
		s.srv.TLSConfig = s.cfg.TLS
		go func() { errc <- s.srv.ServeTLS(tlsLn, "", "") }()
	} else {
		go func() { errc <- s.srv.Serve(s.ln) }()
	}
	ectx, stopExports := context.WithCancel(ctx)
	defer stopExports()
	go s.exports.Run(ectx)
	authDone := make(chan struct{})
	go func() { defer close(authDone); s.auth.Run(ectx) }()
	defer func() { stopExports(); <-authDone }()
	s.log.Info("serving", "url", s.URL())
	select {
	case err := <-errc:
		return fmt.Errorf("dashboard: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.cfg.ShutdownTimeout)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		s.log.Warn("graceful shutdown timed out; closing connections", "err", err)
		s.srv.Close()
	}
	if redirect != nil {
		redirect.Close()
		s.ln.Close() // ends the splitter
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("dashboard: %w", err)
	}
	return nil
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) {
	r.code = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

func (s *Server) instrument(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		// Only smarteye's own pages may frame its pages (the session page
		// shows the replay of its recording).
		h.Set("X-Frame-Options", "SAMEORIGIN")
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("Referrer-Policy", "no-referrer")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", hstsMaxAge)
		}
		rec := &statusRecorder{ResponseWriter: w, code: http.StatusOK}
		next.ServeHTTP(rec, r)
		route := r.Pattern
		if route == "" {
			route = "unmatched" // keeps label cardinality bounded against scanners
		}
		s.requests.WithLabelValues(route, strconv.Itoa(rec.code)).Inc()
		s.duration.WithLabelValues(route).Observe(time.Since(start).Seconds())
		s.log.Debug("request", "method", r.Method, "path", r.URL.Path, "code", rec.code, "took", time.Since(start))
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	api.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz is 200 when the store is reachable and migrated, 503 otherwise.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.deps.Store.CheckReady(ctx); err != nil {
		api.WriteJSON(w, http.StatusServiceUnavailable, map[string]any{"ready": false, "reason": "store: " + err.Error()})
		return
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"ready": true})
}

// Status is the body of GET /api/v1/status.
type Status struct {
	Version    string                      `json:"version"`
	Go         string                      `json:"go"`
	StartedAt  time.Time                   `json:"started_at"`
	Uptime     float64                     `json:"uptime_seconds"`
	Store      StoreStatus                 `json:"store"`
	Components []telemetry.ComponentStatus `json:"components"`
	// TLS is the certificate served, when smarteye serves HTTPS itself.
	TLS *TLSInfo `json:"tls,omitempty"`
	// Cluster is the cluster as this node sees it: its nodes and which
	// node owns each camera and singleton (absent outside a cluster).
	Cluster any `json:"cluster,omitempty"`
}

// StoreStatus reports the store and its writer.
type StoreStatus struct {
	store.State
	Database   string `json:"database"`
	QueueDepth int64  `json:"writer_queue_depth"`
	SpoolBytes int64  `json:"writer_spool_bytes"`
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	st := Status{
		Version:   s.cfg.Version,
		Go:        runtime.Version(),
		StartedAt: s.started,
		Uptime:    time.Since(s.started).Seconds(),
		Store:     StoreStatus{State: s.deps.Store.State(), Database: s.cfg.Database},
		TLS:       s.cfg.TLSInfo,
	}
	if s.deps.Writer != nil {
		st.Store.QueueDepth, st.Store.SpoolBytes = s.deps.Writer.QueueDepth(), s.deps.Writer.SpoolBytes()
	}
	if s.deps.Board != nil {
		st.Components = s.deps.Board.Snapshot()
	}
	if s.deps.Cluster != nil {
		st.Cluster = s.deps.Cluster()
	}
	api.WriteJSON(w, http.StatusOK, st)
}

// trendsOf is the trends reader for the supervision reports (nil when
// there is none: a nil *store.Store would not be a nil interface).
func trendsOf(deps Deps) supervision.Trends {
	if deps.Trends == nil {
		return nil
	}
	return deps.Trends
}
