// Package config loads smarteye's configuration: defaults, then one strict
// YAML file (deploy/smarteye.yml documents every key), then SMARTEYE_*
// environment overrides (for secrets), then command-line flags, then
// Validate. It owns no behaviour: main maps it onto each component's Config.
package config

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/telemetry/alert"
	"io"
	"math"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// Config is the whole configuration. Each field's comment states its default.
type Config struct {
	// DataDir holds the embedded database, the outage spool and, later,
	// recordings. It defaults to "./var".
	DataDir  string   `yaml:"data_dir"`
	Log      Log      `yaml:"log"`
	HTTP     HTTP     `yaml:"http"`
	Auth     Auth     `yaml:"auth"`
	Database Database `yaml:"database"`
	Store    Store    `yaml:"store"`
	MAVLink  MAVLink  `yaml:"mavlink"`
	Video    Video    `yaml:"video"`
	// Sites defaults to none (the demo adds its synthetic one).
	Sites []Site `yaml:"sites"`
	// Geofences defaults to none (the demo adds its own).
	Geofences []Geofence `yaml:"geofences"`
	Alerts    Alerts     `yaml:"alerts"`
	Sim       Sim        `yaml:"sim"`
}

// Alerts are the rules that turn events into alerts and the channels that
// deliver them beyond the dashboard and the field page.
type Alerts struct {
	// Rules defaults to none (the demo adds its own); more can be made
	// through the API.
	Rules []alert.Rule `yaml:"rules"`
	// Channels defaults to none.
	Channels []alert.Channel `yaml:"channels"`
}

// Site is a place smarteye watches (geo.Site).
type Site = geo.Site

// The camera settings are ingest/camera's, the placement's geo/place's
// and WebRTC's ingest/live's; the configuration composes them.
type (
	Video     = camera.Config
	Recording = camera.Recording
	Camera    = camera.Camera
	Tiles     = camera.Tiles
	Model     = camera.Model
	Zone      = camera.Zone
	WebRTC    = live.WebRTCSettings
	CameraGeo = place.CameraConfig
	Geofence  = place.Geofence
)

// MAVLink configures telemetry ingest.
type MAVLink struct {
	// SystemID is smarteye's own system id. It defaults to 254.
	SystemID int `yaml:"system_id"`
	// HeartbeatInterval is how often smarteye's heartbeat is sent on every
	// link; 0 sends none. It defaults to 1 second.
	HeartbeatInterval Duration `yaml:"heartbeat_interval"`
	// StoredRate is the most samples stored per vehicle per second. It defaults to 10.
	StoredRate float64 `yaml:"stored_rate"`
	// LinkTimeout is the silence after which a link is lost. It defaults to 5 seconds.
	LinkTimeout Duration `yaml:"link_timeout"`
	// MaxDiscovered caps unconfigured vehicles per link. It defaults to 64.
	MaxDiscovered int `yaml:"max_discovered"`
	// Links defaults to one UDP server on :14550.
	Links []Link `yaml:"links"`
	// Vehicles defaults to none (every vehicle is discovered).
	Vehicles []Vehicle `yaml:"vehicles"`
}

// Link is one MAVLink endpoint.
type Link struct {
	Name       string `yaml:"name"`
	Type       string `yaml:"type"`
	Address    string `yaml:"address"`
	Baud       int    `yaml:"baud"`
	ReadBuffer int    `yaml:"read_buffer"`
}

// Vehicle is one configured vehicle.
type Vehicle struct {
	Name       string `yaml:"name"`
	Link       string `yaml:"link"`
	SystemID   int    `yaml:"system_id"`
	Camera     string `yaml:"camera"`
	SigningKey string `yaml:"signing_key"`
}

// Sim configures the simulated drones of "smarteye demo" and "smarteye sim".
type Sim struct {
	// Drones defaults to three drones patrolling the demo site.
	Drones []SimDrone `yaml:"drones"`
	// RTSPAddress is where the demo's RTSP server for its simulated cameras
	// listens. It defaults to 127.0.0.1:8554.
	RTSPAddress string `yaml:"rtsp_address"`
	// Footage is the sample video the simulated cameras loop; empty finds
	// OpenCV's vtest.avi (see `make deps`), and without it they show
	// ffmpeg's test pattern. It defaults to "".
	Footage string `yaml:"footage"`
	// Cameras defaults to two fixed cameras over the demo plaza.
	Cameras []SimCamera `yaml:"cameras"`
	// Site defaults to the synthetic CBD block the demo's drones patrol.
	Site Site `yaml:"site"`
	// Geofences default to a crane exclusion zone (keep-out) the first
	// drone's route crosses and a works area (restricted) in front of the
	// plaza cameras.
	Geofences []Geofence `yaml:"geofences"`
	// Rules default to the demo's alert rules: a person in the works area,
	// a crowd on the crossing, a drone breaching a geofence, low battery,
	// a lost link and a stream down.
	Rules []alert.Rule `yaml:"rules"`
}

// SimCamera is one simulated camera: ffmpeg looping footage into the
// demo's RTSP server, analysed like a real camera.
type SimCamera struct {
	ID       string    `yaml:"id"`
	Name     string    `yaml:"name"`
	Source   string    `yaml:"source"`
	Mirror   bool      `yaml:"mirror"`
	Codec    string    `yaml:"codec"`
	Detector string    `yaml:"detector"`
	Rate     float64   `yaml:"rate"`
	Zones    []Zone    `yaml:"zones"`
	Geo      CameraGeo `yaml:"geo"`
	// Record overrides video.recording.mode for this camera.
	Record string `yaml:"record"`
	// Timecode burns the wall-clock time into the picture's top rows as
	// black and white cells (tests read recorded video's time from it).
	Timecode bool `yaml:"timecode"`
}

// SimDrone is one simulated drone.
type SimDrone struct {
	Name     string       `yaml:"name"`
	SystemID int          `yaml:"system_id"`
	Type     string       `yaml:"type"`
	Speed    float64      `yaml:"speed"`
	Altitude float64      `yaml:"altitude"`
	Battery  Duration     `yaml:"battery"`
	Route    [][2]float64 `yaml:"route"`
}

// Log configures logging.
type Log struct {
	// Level is debug, info, warn or error. It defaults to info.
	Level string `yaml:"level"`
	// Format is text or json. It defaults to text.
	Format string `yaml:"format"`
}

// HTTP configures the dashboard and API server.
type HTTP struct {
	// Address is host:port. It defaults to 127.0.0.1:8080.
	Address string `yaml:"address"`
	// ShutdownTimeout bounds graceful shutdown. It defaults to 10 seconds.
	ShutdownTimeout Duration `yaml:"shutdown_timeout"`
	// TLS serves HTTPS on Address (plain HTTP there is redirected to it).
	TLS TLS `yaml:"tls"`
	// RateLimit bounds what one client address may ask for (429 with
	// Retry-After beyond it); 0 turns a limit off.
	RateLimit RateLimit `yaml:"rate_limit"`
	// ExportsMaxSize bounds the disk that finished exports (kept a day)
	// take together: the oldest go first, and an export larger than it
	// fails. It defaults to 5GiB.
	ExportsMaxSize Size `yaml:"exports_max_size"`
}

// RateLimit is per client address.
type RateLimit struct {
	// APIRate is API requests a second, APIBurst how many at once. They
	// default to 50 and 200.
	APIRate  float64 `yaml:"api_rate"`
	APIBurst int     `yaml:"api_burst"`
	// LoginsPerMinute defaults to 20 (beside the lock-out of a name).
	LoginsPerMinute int `yaml:"logins_per_minute"`
	// WebRTCPerMinute is video sessions opened a minute. It defaults to 60.
	WebRTCPerMinute int `yaml:"webrtc_per_minute"`
}

// TLS configures HTTPS.
type TLS struct {
	// Enabled serves HTTPS. It defaults to false.
	Enabled bool `yaml:"enabled"`
	// CertFile and KeyFile are a PEM certificate (chain) and its key.
	// Empty: a self-signed certificate made on first start and kept in
	// <data_dir>/tls, its fingerprint printed and in /api/v1/status.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
}

// Auth configures logins.
type Auth struct {
	// Users are local accounts. With no users and no tokens, smarteye
	// creates "admin" with the password in SMARTEYE_ADMIN_PASSWORD, or a
	// random one it prints at start. It defaults to none.
	Users []User `yaml:"users"`
	// Tokens are API tokens for scripts. It defaults to none.
	Tokens []Token `yaml:"tokens"`
	// SessionTTL is how long a login lasts at most. It defaults to 12
	// hours.
	SessionTTL Duration `yaml:"session_ttl"`
	// IdleTimeout ends a login unused this long. It defaults to 1 hour.
	IdleTimeout Duration `yaml:"idle_timeout"`
	// PasswordMinLength is the shortest password accepted for users made
	// in the product. It defaults to 10.
	PasswordMinLength int `yaml:"password_min_length"`
	// SecureCookie marks the session cookie Secure, for HTTPS through a
	// proxy. It defaults to false.
	SecureCookie bool `yaml:"secure_cookie"`
	// LDAP is a directory users may log in against. It defaults to none.
	LDAP LDAP `yaml:"ldap"`
}

// LDAP configures directory logins (see dashboard.LDAPConfig).
type LDAP struct {
	// URL is ldap://host:389 or ldaps://host:636; empty is no directory.
	URL string `yaml:"url"`
	// StartTLS upgrades ldap:// before sending the password.
	StartTLS bool `yaml:"start_tls"`
	// CAFile is the PEM file the directory's certificate is checked
	// against; empty is the system's.
	CAFile string `yaml:"ca_file"`
	// UserDN is the DN to bind as, {user} for the name typed.
	UserDN string `yaml:"user_dn"`
	// BaseDN and UserFilter find the user when UserDN is empty.
	BaseDN     string `yaml:"base_dn"`
	UserFilter string `yaml:"user_filter"`
	// BindDN and BindPassword search for users (empty: anonymously).
	BindDN       string `yaml:"bind_dn"`
	BindPassword string `yaml:"bind_password"`
	// GroupBaseDN and GroupFilter find the user's groups ({dn}, {user}).
	GroupBaseDN string `yaml:"group_base_dn"`
	GroupFilter string `yaml:"group_filter"`
	// Groups map directory groups to roles and teams, first match first.
	Groups []LDAPGroup `yaml:"groups"`
	// Timeout bounds each exchange with the directory.
	Timeout Duration `yaml:"timeout"`
}

// LDAPGroup maps a directory group (DN or cn) to a role and a team.
type LDAPGroup struct {
	Group string `yaml:"group"`
	Role  string `yaml:"role"`
	Team  string `yaml:"team"`
}

// User is a local account.
type User struct {
	Name string `yaml:"name"`
	// Role is admin, commander, planner, field or supervisor.
	Role string `yaml:"role"`
	// PasswordHash is a bcrypt hash: smarteye hash-password makes one.
	PasswordHash string `yaml:"password_hash"`
	// Team is the user's field team: the field page shows its alerts. It
	// defaults to none (every team's).
	Team string `yaml:"team"`
}

// Token is an API token, sent as "Authorization: Bearer TOKEN".
type Token struct {
	Name string `yaml:"name"`
	Role string `yaml:"role"`
	// SHA256 is the token's SHA-256 in hex: smarteye new-token makes both.
	SHA256 string `yaml:"sha256"`
	// Team, as for users. It defaults to none.
	Team string `yaml:"team"`
}

// Database configures the PostgreSQL connection or the embedded cluster.
type Database struct {
	// URL of a PostgreSQL server with PostGIS (and TimescaleDB if wanted).
	// Empty runs the embedded cluster in <data_dir>/pg. It defaults to "".
	URL string `yaml:"url"`
	// Mode is auto, timescaledb or postgres. It defaults to auto.
	Mode string `yaml:"mode"`
	// MaxConns caps the connection pool. It defaults to 8.
	MaxConns int `yaml:"max_conns"`
	// ConnectTimeout bounds one connection attempt. It defaults to 10 seconds.
	ConnectTimeout Duration `yaml:"connect_timeout"`
	Embedded       Embedded `yaml:"embedded"`
}

// Embedded configures the embedded PostgreSQL cluster.
type Embedded struct {
	// BinDir holds initdb and postgres. Empty finds them. It defaults to "".
	BinDir string `yaml:"bin_dir"`
	// RunAs is the account the server runs as when smarteye runs as root.
	// It defaults to "postgres".
	RunAs string `yaml:"run_as"`
	// Listen is a TCP host:port for other clients; empty is the Unix socket
	// only. It defaults to "".
	Listen string `yaml:"listen"`
	// StartTimeout bounds start-up and crash recovery. It defaults to 60 seconds.
	StartTimeout Duration `yaml:"start_timeout"`
}

// Store configures the batch writer and upkeep.
type Store struct {
	// BatchSize is the most rows per COPY. It defaults to 5000.
	BatchSize int `yaml:"batch_size"`
	// FlushInterval is the longest a row waits. It defaults to 500 milliseconds.
	FlushInterval Duration `yaml:"flush_interval"`
	// QueueSize is the rows queued before new ones are dropped. It defaults to 100000.
	QueueSize int `yaml:"queue_size"`
	// SpoolMaxBytes caps the outage spool; 0 is no cap. It defaults to 0.
	SpoolMaxBytes int64 `yaml:"spool_max_bytes"`
	// PartitionsAhead is days of partitions made ahead. It defaults to 3.
	PartitionsAhead int `yaml:"partitions_ahead"`
	// MaintenanceInterval is how often upkeep runs. It defaults to 1 hour.
	MaintenanceInterval Duration `yaml:"maintenance_interval"`
	// SummaryInterval is how often detections_5m is refreshed. It defaults to 1 minute.
	SummaryInterval Duration `yaml:"summary_interval"`
	// CompressAfter is when TimescaleDB compresses. It defaults to 7 days.
	CompressAfter Duration  `yaml:"compress_after"`
	Retention     Retention `yaml:"retention"`
}

// Retention is how long each time-series table keeps rows; 0 keeps them forever.
type Retention struct {
	// Telemetry defaults to 30 days.
	Telemetry Duration `yaml:"telemetry"`
	// Detections defaults to 90 days.
	Detections Duration `yaml:"detections"`
	// Events defaults to 365 days.
	Events Duration `yaml:"events"`
}

const day = 24 * time.Hour

// Default returns the configuration smarteye runs on without a file (the
// demo's embedded defaults). deploy/smarteye.yml states the same values.
func Default() Config {
	return Config{
		DataDir: "./var",
		Log:     Log{Level: "info", Format: "text"},
		HTTP: HTTP{Address: "127.0.0.1:8080", ShutdownTimeout: Duration(10 * time.Second),
			RateLimit: RateLimit{APIRate: 50, APIBurst: 200, LoginsPerMinute: 20, WebRTCPerMinute: 60}, ExportsMaxSize: 5 << 30},
		Auth: Auth{Users: []User{}, Tokens: []Token{}, SessionTTL: Duration(12 * time.Hour), IdleTimeout: Duration(time.Hour), PasswordMinLength: 10,
			LDAP: LDAP{Groups: []LDAPGroup{}, Timeout: Duration(5 * time.Second)}},
		Database: Database{
			Mode:           "auto",
			MaxConns:       8,
			ConnectTimeout: Duration(10 * time.Second),
			Embedded:       Embedded{RunAs: "postgres", StartTimeout: Duration(time.Minute)},
		},
		Store: Store{
			BatchSize:           5000,
			FlushInterval:       Duration(500 * time.Millisecond),
			QueueSize:           100000,
			PartitionsAhead:     3,
			MaintenanceInterval: Duration(time.Hour),
			SummaryInterval:     Duration(time.Minute),
			CompressAfter:       Duration(7 * day),
			Retention: Retention{
				Telemetry:  Duration(30 * day),
				Detections: Duration(90 * day),
				Events:     Duration(365 * day),
			},
		},
		MAVLink: MAVLink{
			SystemID:          254,
			HeartbeatInterval: Duration(time.Second),
			StoredRate:        10,
			LinkTimeout:       Duration(5 * time.Second),
			MaxDiscovered:     64,
			Links:             []Link{{Name: "udp", Type: "udp-server", Address: ":14550", ReadBuffer: 8 << 20}},
			Vehicles:          []Vehicle{},
		},
		Video: Video{
			Snapshots:     true,
			ReadTimeout:   Duration(10 * time.Second),
			StallTimeout:  Duration(3 * time.Second),
			UDPReadBuffer: 4 << 20,
			AutoTCPLoss:   0.02,
			AutoTCPAfter:  Duration(10 * time.Second),
			MaxBackoff:    Duration(30 * time.Second),
			Cameras:       []Camera{},
			WebRTC:        WebRTC{Enabled: true, Address: ":8189", PublicIPs: []string{}, MaxSessions: 64},
			Recording: Recording{Mode: "continuous", Segment: Duration(time.Minute), PreRoll: Duration(10 * time.Second), PostRoll: Duration(20 * time.Second),
				MaxAge: Duration(7 * day), MaxSize: 20 << 30, MinFree: 1 << 30},
		},
		Sites:     []Site{},
		Geofences: []Geofence{},
		Alerts:    Alerts{Rules: []alert.Rule{}, Channels: []alert.Channel{}},
		Sim:       defaultSim(),
	}
}

// Load reads the file at path over the defaults, applies SMARTEYE_*
// environment overrides and validates the result. path "" loads only the
// defaults and the environment.
func Load(path string) (Config, error) {
	cfg := Default()
	if path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			return cfg, fmt.Errorf("config: %w", err)
		}
		if err := Parse(b, &cfg); err != nil {
			return cfg, fmt.Errorf("config %s: %w", path, err)
		}
	}
	if err := ApplyEnv(&cfg, os.Environ()); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	if err := cfg.Validate(); err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	return cfg, nil
}

var (
	unknownField = regexp.MustCompile(`^line (\d+): field (\S+) not found in type (\w+\.\w+)$`)
	badValue     = regexp.MustCompile("^line (\\d+): cannot unmarshal !!(\\w+) `(.*)` into (.+)$")
)

// Parse decodes YAML strictly over cfg: an unknown key, a duplicate key or a
// value of the wrong type is an error naming the key's line.
func Parse(b []byte, cfg *Config) error {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	err := dec.Decode(cfg)
	if errors.Is(err, io.EOF) {
		return nil // an empty file keeps the defaults
	}
	var te *yaml.TypeError
	if errors.As(err, &te) {
		msgs := make([]string, len(te.Errors))
		for i, e := range te.Errors {
			msgs[i] = e
			if m := unknownField.FindStringSubmatch(e); m != nil {
				msgs[i] = fmt.Sprintf("line %s: unknown key %q (not a setting of %s; see deploy/smarteye.yml)", m[1], m[2], sectionName(m[3]))
			} else if m := badValue.FindStringSubmatch(e); m != nil {
				msgs[i] = fmt.Sprintf("line %s: %q is not a valid %s", m[1], m[3], m[4])
			}
		}
		return errors.New(strings.Join(msgs, "; "))
	}
	if err != nil {
		return err
	}
	// A second document is a mistake, not something to ignore.
	var extra any
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return errors.New("more than one YAML document")
	}
	return nil
}

func sectionName(typ string) string {
	switch typ {
	case "config.Config":
		return "the top level"
	case "config.Embedded":
		return "database.embedded"
	case "config.Retention":
		return "store.retention"
	case "mavlink.LinkConfig", "config.Link":
		return "mavlink.links[]"
	case "mavlink.VehicleConfig", "config.Vehicle":
		return "mavlink.vehicles[]"
	case "config.SimDrone":
		return "sim.drones[]"
	case "camera.Config":
		return "video"
	case "camera.Camera":
		return "video.cameras[]"
	case "camera.Model":
		return "video.cameras[].model"
	case "camera.Tiles":
		return "video.cameras[].tiles"
	case "camera.Zone":
		return "video.cameras[].zones[]"
	case "config.SimCamera":
		return "sim.cameras[]"
	case "camera.Recording":
		return "video.recording"
	case "live.WebRTCSettings":
		return "video.webrtc"
	case "geo.Site":
		return "sites[]"
	case "place.Geofence":
		return "geofences[]"
	case "place.CameraConfig":
		return "video.cameras[].geo"
	}
	_, name, _ := strings.Cut(typ, ".")
	return strings.ToLower(name)
}

// EnvPrefix starts every environment override: SMARTEYE_DATABASE_URL sets
// database.url, SMARTEYE_HTTP_ADDRESS sets http.address, and so on for every
// scalar key (the YAML path upper-cased, dots as underscores).
const EnvPrefix = "SMARTEYE_"

// AdminPasswordEnv is the first-run admin's password (see Auth.Users); it
// is not a setting, so no file ever holds it.
const AdminPasswordEnv = "SMARTEYE_ADMIN_PASSWORD"

// ApplyEnv sets keys from SMARTEYE_* variables in env ("KEY=value" pairs).
// An unknown SMARTEYE_ variable is an error, so that a typo is not ignored.
func ApplyEnv(cfg *Config, env []string) error {
	fields := map[string]reflect.Value{}
	collectEnv(reflect.ValueOf(cfg).Elem(), EnvPrefix, fields)
	var errs []error
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(k, EnvPrefix) || k == AdminPasswordEnv {
			continue
		}
		f, ok := fields[k]
		if !ok {
			errs = append(errs, fmt.Errorf("environment variable %s is not a setting", k))
			continue
		}
		if err := setScalar(f, v); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", k, err))
		}
	}
	return errors.Join(errs...)
}

func collectEnv(v reflect.Value, prefix string, out map[string]reflect.Value) {
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		key := prefix + strings.ToUpper(name)
		f := v.Field(i)
		if f.Kind() == reflect.Struct {
			collectEnv(f, key+"_", out)
			continue
		}
		out[key] = f
	}
}

func setScalar(f reflect.Value, s string) error {
	if d, ok := f.Addr().Interface().(*Duration); ok {
		v, err := ParseDuration(s)
		*d = Duration(v)
		return err
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("%q is not an integer", s)
		}
		f.SetInt(n)
	case reflect.Float64:
		n, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return fmt.Errorf("%q is not a number", s)
		}
		f.SetFloat(n)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%q is not true or false", s)
		}
		f.SetBool(b)
	default:
		return fmt.Errorf("cannot be set from the environment")
	}
	return nil
}

// demoSite is the id of the demo's synthetic site.
const demoSite = "futian-cbd"

// demoRoutes are patrols over the demo's synthetic CBD block ([lat, lon], WGS 84).
var demoRoutes = [][][2]float64{
	{{22.5412, 114.0538}, {22.5412, 114.0572}, {22.5388, 114.0572}, {22.5388, 114.0538}},
	{{22.5420, 114.0545}, {22.5395, 114.0560}, {22.5420, 114.0575}},
	{{22.5405, 114.0530}, {22.5405, 114.0580}},
}

func defaultSim() Sim {
	return Sim{RTSPAddress: "127.0.0.1:8554", Cameras: []SimCamera{
		{ID: "plaza-north", Name: "Plaza north", Source: "vtest", Codec: "h264", Rate: 2, Zones: []Zone{
			{Name: "crossing", Polygon: [][2]float64{{0, 330}, {768, 330}, {768, 576}, {0, 576}}, Classes: []string{"person"}, Dwell: Duration(20 * time.Second), MinCount: 4},
		}, Geo: CameraGeo{Site: demoSite, HFOV: 60, ControlPoints: [][4]float64{
			{80, 260, 22.5395927, 114.0546056}, {690, 260, 22.5395006, 114.0547775}, {720, 560, 22.5394303, 114.0546937}, {50, 560, 22.5394903, 114.0545817},
		}}},
		{ID: "plaza-south", Name: "Plaza south", Source: "vtest", Mirror: true, Codec: "h264", Rate: 2, Geo: CameraGeo{Site: demoSite, HFOV: 60, ControlPoints: [][4]float64{
			{80, 260, 22.5402073, 114.0559944}, {690, 260, 22.5402994, 114.0558225}, {720, 560, 22.5403697, 114.0559063}, {50, 560, 22.5403097, 114.0560183},
		}}},
	}, Site: Site{ID: demoSite, Name: "Futian CBD block (synthetic)", Lat: 22.5400, Lon: 114.0555, Elevation: 10, Synthetic: true},
		Geofences: []Geofence{
			{ID: "crane-1", Name: "Tower crane 1 exclusion", Site: demoSite, Kind: "keep-out",
				Polygon: [][2]float64{{114.0554, 22.5411}, {114.0556, 22.5411}, {114.0556, 22.5413}, {114.0554, 22.5413}, {114.0554, 22.5411}}},
			{ID: "works-north", Name: "Plaza works area", Site: demoSite, Kind: "restricted", Dwell: Duration(30 * time.Second), Classes: []string{"person"},
				Polygon: [][2]float64{{114.0546084, 22.5394760}, {114.0546670, 22.5394446}, {114.0546839, 22.5394749}, {114.0546282, 22.5395047}, {114.0546084, 22.5394760}}},
		},
		Rules: demoRules(),
		Drones: []SimDrone{
			{Name: "drone-1", SystemID: 1, Type: "quadrotor", Speed: 8, Altitude: 60, Battery: Duration(25 * time.Minute), Route: demoRoutes[0]},
			{Name: "drone-2", SystemID: 2, Type: "hexarotor", Speed: 6, Altitude: 45, Battery: Duration(30 * time.Minute), Route: demoRoutes[1]},
			{Name: "drone-3", SystemID: 3, Type: "fixed_wing", Speed: 16, Altitude: 120, Battery: Duration(40 * time.Minute), Route: demoRoutes[2]},
		}}
}

// demoRules are the demo's alert rules, for the field teams "plaza" (on
// foot by the plaza) and "air" (drone operations), escalating to
// "command".
func demoRules() []alert.Rule {
	d := func(x time.Duration) alert.Duration { return alert.Duration(x) }
	cool := d(2 * time.Minute)
	return []alert.Rule{
		{ID: "works-intrusion", Name: "Person in the plaza works area", Condition: alert.CondIntrusion, Zones: []string{"works-north"},
			Classes: []string{"person"}, Severity: "critical", Team: "plaza", Cooldown: &cool,
			Escalation: alert.Escalation{After: d(5 * time.Minute), Team: "command"}},
		{ID: "crossing-crowd", Name: "Crowd on the plaza crossing", Condition: alert.CondCrowd, Zones: []string{"crossing"},
			MinCount: 4, For: d(10 * time.Second), Severity: "warning", Team: "plaza"},
		{ID: "drone-breach", Name: "Drone breached a geofence", Condition: alert.CondGeofenceBreach, Severity: "critical", Team: "air"},
		{ID: "drone-battery", Name: "Drone battery low", Condition: alert.CondLowBattery, BatteryBelow: 30, Severity: "warning", Team: "air"},
		{ID: "drone-link", Name: "Drone link lost", Condition: alert.CondLinkLost, For: d(10 * time.Second), Severity: "critical", Team: "air"},
		{ID: "camera-down", Name: "Camera stream down", Condition: alert.CondStreamDown, For: d(10 * time.Second), Severity: "warning", Team: "command"},
	}
}

// Validate checks every value and returns all problems at once, each naming
// its key and what to do.
// ModelsDir is where the trained detector is installed: video.models, or
// <data_dir>/models.
func (c *Config) ModelsDir() string {
	if c.Video.Models != "" {
		return c.Video.Models
	}
	return filepath.Join(c.DataDir, "models")
}

func (c *Config) Validate() error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.DataDir == "" {
		bad("data_dir", "must not be empty")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "text", "json":
	default:
		bad("log.format", "%q is not one of text, json", c.Log.Format)
	}
	if err := checkAddr(c.HTTP.Address); err != nil {
		bad("http.address", "%v; write host:port, e.g. 127.0.0.1:8080 or :8080", err)
	}
	positive(bad, "http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	c.validateAuth(bad)
	c.validateAlerts(bad)
	if c.Database.URL != "" {
		u, err := url.Parse(c.Database.URL)
		switch {
		case err != nil:
			bad("database.url", "not a URL: %v", redact(err.Error()))
		case u.Scheme != "postgres" && u.Scheme != "postgresql":
			bad("database.url", "scheme %q: write postgres://user:password@host:5432/dbname", u.Scheme)
		}
	}
	switch c.Database.Mode {
	case "auto", "timescaledb", "postgres":
	default:
		bad("database.mode", "%q is not one of auto, timescaledb, postgres", c.Database.Mode)
	}
	if c.Database.MaxConns < 2 || c.Database.MaxConns > 1000 {
		bad("database.max_conns", "%d is out of range 2..1000", c.Database.MaxConns)
	}
	positive(bad, "database.connect_timeout", c.Database.ConnectTimeout)
	positive(bad, "database.embedded.start_timeout", c.Database.Embedded.StartTimeout)
	if c.Database.Embedded.RunAs == "" {
		bad("database.embedded.run_as", "must name an account (Debian's PostgreSQL package creates \"postgres\")")
	}
	if l := c.Database.Embedded.Listen; l != "" {
		if err := checkAddr(l); err != nil {
			bad("database.embedded.listen", "%v; write host:port, e.g. 127.0.0.1:5433, or leave empty for the Unix socket only", err)
		}
	}
	s := c.Store
	if s.BatchSize < 1 || s.BatchSize > 100000 {
		bad("store.batch_size", "%d is out of range 1..100000", s.BatchSize)
	}
	positive(bad, "store.flush_interval", s.FlushInterval)
	if s.QueueSize < s.BatchSize {
		bad("store.queue_size", "%d is smaller than store.batch_size (%d)", s.QueueSize, s.BatchSize)
	}
	if s.SpoolMaxBytes < 0 {
		bad("store.spool_max_bytes", "must be 0 (no cap) or more")
	}
	if s.PartitionsAhead < 1 || s.PartitionsAhead > 60 {
		bad("store.partitions_ahead", "%d is out of range 1..60 days", s.PartitionsAhead)
	}
	positive(bad, "store.maintenance_interval", s.MaintenanceInterval)
	positive(bad, "store.summary_interval", s.SummaryInterval)
	positive(bad, "store.compress_after", s.CompressAfter)
	for key, d := range map[string]Duration{
		"store.retention.telemetry": s.Retention.Telemetry, "store.retention.detections": s.Retention.Detections,
		"store.retention.events": s.Retention.Events,
	} {
		if d < 0 {
			bad(key, "must be 0 (keep forever) or positive")
		} else if d > 0 && time.Duration(d) < day {
			bad(key, "%s is less than a day, the partition size; use 1d or more", d)
		}
	}
	c.validateMAVLink(bad)
	c.validateVideo(bad)
	c.validateGeo(bad)
	return errors.Join(errs...)
}

var roles = map[string]bool{"admin": true, "commander": true, "planner": true, "field": true, "supervisor": true}

func (c *Config) validateAlerts(bad func(string, string, ...any)) {
	names := []string{}
	if err := alert.ValidateChannels(c.Alerts.Channels); err != nil {
		for _, e := range strings.Split(err.Error(), "\n") {
			bad("alerts.channels", "%s", e)
		}
	}
	for _, ch := range c.Alerts.Channels {
		names = append(names, ch.Name)
	}
	seen := map[string]bool{}
	for key, rules := range map[string][]alert.Rule{"alerts.rules": c.Alerts.Rules, "sim.rules": c.Sim.Rules} {
		for i, r := range rules {
			r := r // validated on a copy: Validate fills in defaults
			if err := r.Validate(names); err != nil {
				for _, e := range strings.Split(err.Error(), "\n") {
					bad(fmt.Sprintf("%s[%d]", key, i), "%s", e)
				}
			}
			if key == "alerts.rules" {
				if seen[r.ID] {
					bad(fmt.Sprintf("%s[%d].id", key, i), "%q is listed twice", r.ID)
				}
				seen[r.ID] = true
			}
		}
	}
}

func (c *Config) validateAuth(bad func(string, string, ...any)) {
	positive(bad, "auth.session_ttl", c.Auth.SessionTTL)
	positive(bad, "auth.idle_timeout", c.Auth.IdleTimeout)
	if c.Auth.PasswordMinLength < 8 || c.Auth.PasswordMinLength > 64 {
		bad("auth.password_min_length", "%d is out of range 8..64", c.Auth.PasswordMinLength)
	}
	if l := c.Auth.LDAP; l.URL != "" {
		positive(bad, "auth.ldap.timeout", l.Timeout)
		if u, err := url.Parse(l.URL); err != nil || (u.Scheme != "ldap" && u.Scheme != "ldaps") || u.Host == "" {
			bad("auth.ldap.url", "%q is not ldap://host:port or ldaps://host:port", l.URL)
		}
		if l.UserDN == "" && (l.BaseDN == "" || l.UserFilter == "") {
			bad("auth.ldap.user_dn", "set user_dn, or base_dn and user_filter")
		}
		if len(l.Groups) == 0 {
			bad("auth.ldap.groups", "map at least one directory group to a role")
		}
		for i, g := range l.Groups {
			if g.Group == "" {
				bad(fmt.Sprintf("auth.ldap.groups[%d].group", i), "must not be empty")
			}
			if !roles[g.Role] {
				bad(fmt.Sprintf("auth.ldap.groups[%d].role", i), "%q is not one of admin, commander, planner, field, supervisor", g.Role)
			}
		}
	}
	names := map[string]bool{}
	for i, u := range c.Auth.Users {
		key := fmt.Sprintf("auth.users[%d]", i)
		if !cameraID.MatchString(u.Name) {
			bad(key+".name", "%q: letters, digits, '.', '_' and '-', up to 64", u.Name)
		}
		if names[strings.ToLower(u.Name)] {
			bad(key+".name", "%q is listed twice", u.Name)
		}
		names[strings.ToLower(u.Name)] = true
		if !roles[u.Role] {
			bad(key+".role", "%q is not one of admin, commander, planner, field, supervisor", u.Role)
		}
		if !strings.HasPrefix(u.PasswordHash, "$2") || len(u.PasswordHash) != 60 {
			bad(key+".password_hash", "not a bcrypt hash; make one with: smarteye hash-password")
		}
	}
	for i, t := range c.Auth.Tokens {
		key := fmt.Sprintf("auth.tokens[%d]", i)
		if t.Name == "" {
			bad(key+".name", "must not be empty")
		}
		if !roles[t.Role] {
			bad(key+".role", "%q is not one of admin, commander, planner, field, supervisor", t.Role)
		}
		if b, err := hex.DecodeString(t.SHA256); err != nil || len(b) != 32 {
			bad(key+".sha256", "64 hex digits; make a token and its hash with: smarteye new-token")
		}
	}
}

func (c *Config) validateVideo(bad func(string, string, ...any)) {
	if w := c.Video.WebRTC; w.Enabled {
		if err := checkAddr(w.Address); err != nil {
			bad("video.webrtc.address", "%v; write host:port, e.g. :8189", err)
		}
		for _, ip := range w.PublicIPs {
			if net.ParseIP(ip) == nil {
				bad("video.webrtc.public_ips", "%q is not an IP address", ip)
			}
		}
		if w.MaxSessions < 1 || w.MaxSessions > 10000 {
			bad("video.webrtc.max_sessions", "%d is out of range 1..10000", w.MaxSessions)
		}
	}
	v := c.Video
	if v.Workers < 0 || v.Workers > 256 {
		bad("video.workers", "%d is out of range 0 (one per core)..256", v.Workers)
	}
	positive(bad, "video.read_timeout", v.ReadTimeout)
	if l := c.HTTP.RateLimit; l.APIRate < 0 || l.APIBurst < 0 || l.LoginsPerMinute < 0 || l.WebRTCPerMinute < 0 || l.APIRate > 0 && l.APIBurst < 1 {
		bad("http.rate_limit", "limits are 0 (off) or positive, and api_burst at least 1 when api_rate is set")
	}
	if c.HTTP.ExportsMaxSize < 1<<20 {
		bad("http.exports_max_size", "at least 1MiB, e.g. 5GiB")
	}
	if t := c.HTTP.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		bad("http.tls", "cert_file and key_file go together (neither: a self-signed certificate)")
	}
	positive(bad, "video.stall_timeout", v.StallTimeout)
	if v.UDPReadBuffer < 0 || v.UDPReadBuffer > 1<<30 {
		bad("video.udp_read_buffer", "out of range 0..1GiB")
	}
	if v.AutoTCPLoss < 0 || v.AutoTCPLoss >= 1 {
		bad("video.auto_tcp_loss", "%g is not a fraction in [0, 1)", v.AutoTCPLoss)
	}
	if v.AutoTCPAfter < 0 {
		bad("video.auto_tcp_after", "must be 0 (10s) or positive")
	}
	if v.StalledReconnect < 0 {
		bad("video.stalled_reconnect", "must be 0 (read_timeout) or positive, e.g. 10s")
	}
	positive(bad, "video.max_backoff", v.MaxBackoff)
	recModes := "continuous, events, off"
	if !slices.Contains(strings.Split(recModes, ", "), v.Recording.Mode) {
		bad("video.recording.mode", "%q is not one of %s", v.Recording.Mode, recModes)
	}
	if d := v.Recording.Segment.D(); d < time.Second || d > time.Hour {
		bad("video.recording.segment", "%s is out of range 1s..1h", d)
	}
	positive(bad, "video.recording.pre_roll", v.Recording.PreRoll)
	positive(bad, "video.recording.post_roll", v.Recording.PostRoll)
	if v.Recording.MaxAge < 0 {
		bad("video.recording.max_age", "must not be negative")
	}
	if v.Recording.MaxSize != 0 && v.Recording.MaxSize < 16<<20 {
		bad("video.recording.max_size", "%s is less than 16MiB (0 sets no budget)", v.Recording.MaxSize)
	}
	if v.Recording.MinFree < 1 {
		bad("video.recording.min_free", "must be at least one byte")
	}
	ids := map[string]bool{}
	for i, cam := range v.Cameras {
		key := fmt.Sprintf("video.cameras[%d]", i)
		switch {
		case !cameraID.MatchString(cam.ID):
			bad(key+".id", "%q: use 1-64 letters, digits, '.', '_' or '-' (it names files and URL paths)", cam.ID)
		case ids[cam.ID]:
			bad(key+".id", "%q is used twice", cam.ID)
		}
		ids[cam.ID] = true
		switch cam.Kind {
		case "", "fixed":
		case "drone":
			if cam.Vehicle == "" {
				bad(key+".vehicle", "a drone camera names the vehicle that carries it")
			}
		default:
			bad(key+".kind", "%q is not one of fixed, drone", cam.Kind)
		}
		if u, err := url.Parse(cam.URL); err != nil || (u.Scheme != "rtsp" && u.Scheme != "rtsps") || u.Host == "" {
			bad(key+".url", "want rtsp://[user:password@]host[:port]/path or rtsps://…")
		}
		switch cam.Transport {
		case "", "auto", "tcp", "udp":
		default:
			bad(key+".transport", "%q is not one of auto, tcp, udp", cam.Transport)
		}
		validateAnalysis(bad, key, cam.Detector, cam.Rate, cam.Zones)
		if cam.Record != "" && !slices.Contains(strings.Split(recModes, ", "), cam.Record) {
			bad(key+".record", "%q is not one of %s", cam.Record, recModes)
		}
		if (cam.Detector == "cascade" && cam.Model.Cascade == "") || (cam.Detector == "yolo" && cam.Model.ONNX == "" && cam.Model.Weights == "") {
			bad(key+".model", "the %s detector needs its model files", cam.Detector)
		}
		if t := cam.Tiles; t != (Tiles{}) && cam.Detector != "nanodet" && cam.Detector != "" {
			bad(key+".tiles", "tiles need the nanodet detector, not %s", cam.Detector)
		}
	}
	for i, s := range c.Sim.Cameras {
		key := fmt.Sprintf("sim.cameras[%d]", i)
		if !cameraID.MatchString(s.ID) {
			bad(key+".id", "%q: use 1-64 letters, digits, '.', '_' or '-' (it names files and URL paths)", s.ID)
		}
		switch s.Codec {
		case "", "h264", "h265":
		default:
			bad(key+".codec", "%q is not one of h264, h265", s.Codec)
		}
		if s.Detector == "cascade" || s.Detector == "yolo" {
			bad(key+".detector", "simulated cameras run nanodet, hog, motion or none")
		}
		validateAnalysis(bad, key, s.Detector, s.Rate, s.Zones)
	}
	if a := c.Sim.RTSPAddress; a != "" {
		if err := checkAddr(a); err != nil {
			bad("sim.rtsp_address", "%v", err)
		}
	}
}

func finite(xs ...float64) bool {
	for _, x := range xs {
		if math.IsNaN(x) || math.IsInf(x, 0) {
			return false
		}
	}
	return true
}

// cameraID is what a camera id may be: it names snapshot folders and RTSP paths.
var cameraID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

func (c *Config) validateGeo(bad func(string, string, ...any)) {
	sites := map[string]bool{}
	checkSite := func(key string, s Site) {
		if !cameraID.MatchString(s.ID) {
			bad(key+".id", "%q: use 1-64 letters, digits, '.', '_' or '-'", s.ID)
		}
		if !finite(s.Lat, s.Lon, s.Elevation) || s.Lat < -90 || s.Lat > 90 || s.Lon < -180 || s.Lon > 180 || (s.Lat == 0 && s.Lon == 0) {
			bad(key, "lat/lon %g, %g is not the site's reference point", s.Lat, s.Lon)
		}
		if s.PMTiles != "" && s.XYZ != "" {
			bad(key, "give pmtiles or xyz, not both")
		}
		if s.XYZ != "" && !(strings.Contains(s.XYZ, "{z}") && strings.Contains(s.XYZ, "{x}") && strings.Contains(s.XYZ, "{y}")) {
			bad(key+".xyz", "a tile URL template with {z}, {x} and {y}")
		}
	}
	for i, s := range c.Sites {
		key := fmt.Sprintf("sites[%d]", i)
		checkSite(key, s)
		if sites[s.ID] {
			bad(key+".id", "%q is used twice", s.ID)
		}
		sites[s.ID] = true
	}
	if c.Sim.Site.ID != "" {
		checkSite("sim.site", c.Sim.Site)
	}
	if c.Sim.Site.ID != "" {
		sites[c.Sim.Site.ID] = true // the demo's; referring to it elsewhere fails at serve time only if absent
	}
	knownSite := func(key, id string) {
		if id != "" && !sites[id] {
			bad(key, "no site %q (sites[].id)", id)
		}
	}
	checkFence := func(key string, f Geofence, ids map[string]bool) {
		if !cameraID.MatchString(f.ID) || ids[f.ID] {
			bad(key+".id", "%q: unique, 1-64 letters, digits, '.', '_' or '-'", f.ID)
		}
		ids[f.ID] = true
		knownSite(key+".site", f.Site)
		for _, p := range f.Polygon {
			if !finite(p[0], p[1]) {
				bad(key+".polygon", "positions must be finite numbers")
				break
			}
		}
		switch f.Kind {
		case "keep-out", "keep-in", "restricted":
		default:
			bad(key+".kind", "%q is not one of keep-out, keep-in, restricted", f.Kind)
		}
		if len(f.Polygon) < 4 || f.Polygon[0] != f.Polygon[len(f.Polygon)-1] {
			bad(key+".polygon", "a closed ring of [lon, lat] positions: at least 3 corners and the first repeated at the end")
		}
		if f.Dwell < 0 {
			bad(key+".dwell", "must not be negative")
		}
	}
	// The demo's fences join the configured ones only in the demo, where a
	// clash is reported when they are put in force.
	userFences, simFences := map[string]bool{}, map[string]bool{}
	for i, f := range c.Geofences {
		checkFence(fmt.Sprintf("geofences[%d]", i), f, userFences)
	}
	for i, f := range c.Sim.Geofences {
		checkFence(fmt.Sprintf("sim.geofences[%d]", i), f, simFences)
	}
	checkCam := func(key string, g CameraGeo) {
		if !finite(g.HFOV, g.VFOV, g.Focal, g.Sensor[0], g.Sensor[1], g.K1, g.K2, g.MaxRange) {
			bad(key, "every value must be a finite number")
			return
		}
		if g.HFOV < 0 || g.HFOV >= 179 || g.VFOV < 0 || g.VFOV >= 179 || g.Focal < 0 || g.MaxRange < 0 {
			bad(key, "hfov/vfov in (0, 179) degrees, focal and max_range positive")
		}
		if g.Focal > 0 && (g.Sensor[0] <= 0 || g.Sensor[1] <= 0) {
			bad(key+".sensor", "a focal length needs the sensor's [width, height] in millimetres")
		}
		if g.K1 < -2 || g.K1 > 2 || g.K2 < -2 || g.K2 > 2 {
			bad(key, "k1 and k2 beyond ±2 are not a lens")
		}
		if n := len(g.ControlPoints); n > 0 && (n < 4 || n > 50) {
			bad(key+".control_points", "%d given; a calibration takes 4 to 50 [u, v, lat, lon]", n)
		}
		for _, p := range g.ControlPoints {
			if !finite(p[0], p[1], p[2], p[3]) {
				bad(key+".control_points", "every value must be a finite number")
				break
			}
		}
		knownSite(key+".site", g.Site)
	}
	for i, cam := range c.Video.Cameras {
		checkCam(fmt.Sprintf("video.cameras[%d].geo", i), cam.Geo)
	}
	for i, cam := range c.Sim.Cameras {
		checkCam(fmt.Sprintf("sim.cameras[%d].geo", i), cam.Geo)
	}
}

func validateAnalysis(bad func(string, string, ...any), key, detector string, rate float64, zones []Zone) {
	switch detector {
	case "", "nanodet", "hog", "motion", "cascade", "yolo", "none":
	default:
		bad(key+".detector", "%q is not one of nanodet, hog, motion, cascade, yolo, none", detector)
	}
	if rate < 0 || rate > 60 {
		bad(key+".rate", "%g is out of range 0..60 analysed frames per second", rate)
	}
	names := map[string]bool{}
	for j, z := range zones {
		zk := fmt.Sprintf("%s.zones[%d]", key, j)
		if z.Name == "" || names[z.Name] {
			bad(zk+".name", "zone names must be unique and not empty")
		}
		names[z.Name] = true
		if len(z.Polygon) < 3 {
			bad(zk+".polygon", "a polygon needs at least 3 [x, y] points")
		}
		if z.Dwell < 0 || z.MinCount < 0 {
			bad(zk, "dwell and min_count must not be negative")
		}
	}
}

func (c *Config) validateMAVLink(bad func(string, string, ...any)) {
	m := c.MAVLink
	if m.SystemID < 1 || m.SystemID > 255 {
		bad("mavlink.system_id", "%d is out of range 1..255", m.SystemID)
	}
	if m.HeartbeatInterval < 0 {
		bad("mavlink.heartbeat_interval", "must be 0 (none) or positive")
	}
	if m.StoredRate < 0 || m.StoredRate > 1000 {
		bad("mavlink.stored_rate", "%g is out of range 0..1000 samples per second", m.StoredRate)
	}
	positive(bad, "mavlink.link_timeout", m.LinkTimeout)
	if m.MaxDiscovered < 0 || m.MaxDiscovered > 10000 {
		bad("mavlink.max_discovered", "%d is out of range 0..10000", m.MaxDiscovered)
	}
	links := map[string]bool{}
	for i, l := range m.Links {
		key := fmt.Sprintf("mavlink.links[%d]", i)
		if l.Name == "" || links[l.Name] {
			bad(key+".name", "%q must be set and unique", l.Name)
		}
		links[l.Name] = true
		switch l.Type {
		case "udp-server", "udp-client", "tcp-server", "tcp-client":
			if err := checkAddr(l.Address); err != nil {
				bad(key+".address", "%v; write host:port, e.g. :14550 or 192.168.1.10:14550", err)
			}
		case "serial":
			if l.Address == "" {
				bad(key+".address", "name the serial device, e.g. /dev/ttyUSB0")
			}
			if l.Baud < 0 {
				bad(key+".baud", "must be positive, e.g. 57600")
			}
		default:
			bad(key+".type", "%q is not one of udp-server, udp-client, tcp-server, tcp-client, serial", l.Type)
		}
		if l.ReadBuffer < 0 {
			bad(key+".read_buffer", "must be 0 (default) or a size in bytes")
		}
	}
	ids := map[string]bool{}
	names := map[string]bool{}
	for i, v := range m.Vehicles {
		key := fmt.Sprintf("mavlink.vehicles[%d]", i)
		if v.Name == "" || names[v.Name] || strings.ContainsAny(v.Name, "/?#% ") {
			bad(key+".name", "%q must be set, unique, and without spaces, '/', '?', '#' or '%%'", v.Name)
		}
		names[v.Name] = true
		if !links[v.Link] {
			bad(key+".link", "%q is not one of mavlink.links", v.Link)
		}
		if v.SystemID < 1 || v.SystemID > 255 {
			bad(key+".system_id", "%d is out of range 1..255", v.SystemID)
		}
		if id := fmt.Sprint(v.Link, "/", v.SystemID); ids[id] {
			bad(key+".system_id", "system %d on link %s is configured twice", v.SystemID, v.Link)
		} else {
			ids[id] = true
		}
		if k := v.SigningKey; k != "" && len(k) < 8 {
			bad(key+".signing_key", "a passphrase needs at least 8 characters (or give 64 hex digits)")
		}
	}
	for i, d := range c.Sim.Drones {
		key := fmt.Sprintf("sim.drones[%d]", i)
		if d.Name == "" {
			bad(key+".name", "must be set")
		}
		if d.SystemID < 1 || d.SystemID > 255 {
			bad(key+".system_id", "%d is out of range 1..255", d.SystemID)
		}
		if d.Speed <= 0 || d.Speed > 100 {
			bad(key+".speed", "%g is out of range (0, 100] m/s", d.Speed)
		}
		if d.Altitude <= 0 || d.Altitude > 5000 {
			bad(key+".altitude", "%g is out of range (0, 5000] m", d.Altitude)
		}
		positive(bad, key+".battery", d.Battery)
		if len(d.Route) < 2 {
			bad(key+".route", "needs at least 2 waypoints, each [lat, lon]")
		}
		for j, p := range d.Route {
			if p[0] < -90 || p[0] > 90 || p[1] < -180 || p[1] > 180 {
				bad(fmt.Sprintf("%s.route[%d]", key, j), "[%g, %g] is not [lat, lon] in degrees", p[0], p[1])
			}
		}
	}
}

func positive(bad func(string, string, ...any), key string, d Duration) {
	if d <= 0 {
		bad(key, "must be positive, e.g. 10s")
	}
}

func checkAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}

var urlPassword = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)

func redact(s string) string { return urlPassword.ReplaceAllString(s, "${1}xxxxx@") }
