// Package config loads smarteye's configuration: defaults, then one strict
// YAML file (deploy/smarteye.yml documents every key), then SMARTEYE_*
// environment overrides (for secrets), then command-line flags, then
// Validate. It owns no behaviour: main maps it onto each component's Config.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/smarteye/smarteye/geo"
	"github.com/smarteye/smarteye/geo/place"
	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/ingest/live"
	"github.com/smarteye/smarteye/ingest/mavlink"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/telemetry/cluster"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/vision/analysis"
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
	Cluster   Cluster    `yaml:"cluster"`
	Sim       Sim        `yaml:"sim"`
}

// Cluster runs several smarteye processes as one (telemetry/cluster).
type Cluster = cluster.Settings

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

// The camera settings are ingest/camera's (composing the streams', the
// analysis' and the recorder's), the placement's geo/place's and
// WebRTC's ingest/live's; the configuration composes them.
type (
	Video     = camera.Config
	Recording = record.Settings
	Camera    = camera.Camera
	Tiles     = analysis.Tiles
	Model     = analysis.ModelSettings
	Zone      = analysis.ZoneSettings
	WebRTC    = live.WebRTCSettings
	CameraGeo = place.CameraConfig
	Geofence  = place.Geofence
)

// The telemetry ingest's settings are ingest/mavlink's, the store's
// telemetry/store's.
type (
	MAVLink   = mavlink.Settings
	Link      = mavlink.LinkSettings
	Vehicle   = mavlink.VehicleSettings
	Store     = store.Settings
	Retention = store.Retention
)

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
	// OnGround starts it disarmed on the ground at its route's first
	// point, waiting to be flown from the dashboard; PreArm is how long it
	// refuses to arm after start (a real autopilot's checks settling).
	OnGround bool     `yaml:"on_ground"`
	PreArm   Duration `yaml:"pre_arm"`
	// NoMount: it has no gimbal (gimbal commands fail).
	NoMount bool `yaml:"no_mount"`
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

// LDAP configures directory logins (see auth.LDAPConfig).
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
		Store:     store.DefaultSettings(),
		MAVLink:   mavlink.DefaultSettings(),
		Video:     camera.DefaultConfig(),
		Sites:     []Site{},
		Geofences: []Geofence{},
		Alerts:    Alerts{Rules: []alert.Rule{}, Channels: []alert.Channel{}},
		Cluster:   cluster.DefaultSettings(),
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
// scalar key (the YAML path upper-cased, dots as underscores), and every
// list of words, comma-separated (SMARTEYE_CLUSTER_ROUTES).
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
		name, opts, _ := strings.Cut(t.Field(i).Tag.Get("yaml"), ",")
		f := v.Field(i)
		if opts == "inline" {
			collectEnv(f, prefix, out) // a component's settings among its owner's
			continue
		}
		key := prefix + strings.ToUpper(name)
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
	case reflect.Slice:
		if f.Type().Elem().Kind() != reflect.String {
			return fmt.Errorf("cannot be set from the environment")
		}
		// A list of words: comma-separated.
		list := []string{}
		for w := range strings.SplitSeq(s, ",") {
			if w = strings.TrimSpace(w); w != "" {
				list = append(list, w)
			}
		}
		f.Set(reflect.ValueOf(list).Convert(f.Type()))
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
	}, Site: Site{ID: demoSite, Name: "Futian CBD block (synthetic)", Lat: 22.5400, Lon: 114.0555, Elevation: 10, Timezone: "Asia/Shanghai", Synthetic: true},
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
			// On the ground by the plaza, for the command centre to fly.
			{Name: "drone-4", SystemID: 4, Type: "quadrotor", Speed: 8, Altitude: 40, Battery: Duration(30 * time.Minute),
				Route: [][2]float64{{22.5398, 114.0542}, {22.5402, 114.0548}}, OnGround: true, PreArm: Duration(20 * time.Second)},
		}}
}

// demoRules are the demo's alert rules, for the field teams "plaza" (on
// foot by the plaza) and "air" (drone operations), escalating to
// "command".
func demoRules() []alert.Rule {
	d := func(x time.Duration) alert.Duration { return alert.Duration(x) }
	cool := d(2 * time.Minute)
	forecastCool := d(2 * time.Hour)
	return []alert.Rule{
		{ID: "works-intrusion", Name: "Person in the plaza works area", Condition: alert.CondIntrusion, Zones: []string{"works-north"},
			Classes: []string{"person"}, Severity: "critical", Team: "plaza", Cooldown: &cool,
			Escalation: alert.Escalation{After: d(5 * time.Minute), Team: "command"}},
		{ID: "crossing-crowd", Name: "Crowd on the plaza crossing", Condition: alert.CondCrowd, Zones: []string{"crossing"},
			MinCount: 4, For: d(10 * time.Second), Severity: "warning", Team: "plaza"},
		{ID: "crossing-forecast", Name: "Crowd forecast on the plaza crossing", Condition: alert.CondCrowdForecast, Zones: []string{"crossing"},
			MinCount: 6, Within: d(2 * time.Hour), Severity: "info", Team: "plaza", Cooldown: &forecastCool},
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
