package config

import (
	"encoding/hex"
	"fmt"
	"net/url"
	"regexp"
	"strings"

	"github.com/smarteye/smarteye/ingest/camera"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/alert"
	"github.com/smarteye/smarteye/vision/analysis"
)

import ()

func (c *Config) Validate() error {
	var p telemetry.Problems
	bad := p.Add
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
	if err := telemetry.CheckAddr(c.HTTP.Address); err != nil {
		bad("http.address", "%v; write host:port, e.g. 127.0.0.1:8080 or :8080", err)
	}
	p.Positive("http.shutdown_timeout", c.HTTP.ShutdownTimeout)
	c.validateAuth(&p)
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
	p.Positive("database.connect_timeout", c.Database.ConnectTimeout)
	p.Positive("database.embedded.start_timeout", c.Database.Embedded.StartTimeout)
	if c.Database.Embedded.RunAs == "" {
		bad("database.embedded.run_as", "must name an account (Debian's PostgreSQL package creates \"postgres\")")
	}
	if l := c.Database.Embedded.Listen; l != "" {
		if err := telemetry.CheckAddr(l); err != nil {
			bad("database.embedded.listen", "%v; write host:port, e.g. 127.0.0.1:5433, or leave empty for the Unix socket only", err)
		}
	}
	c.Store.Check(p.In("store"))
	c.MAVLink.Check(p.In("mavlink"))
	c.Video.Check(p.In("video"))
	cl := c.Cluster
	cl.Defaults()
	cl.Check(p.In("cluster"))
	c.validateSim(&p)
	c.validateVideo(&p)
	c.validateGeo(&p)
	return p.Err()
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

func (c *Config) validateAuth(p *telemetry.Problems) {
	bad := p.Add
	p.Positive("auth.session_ttl", c.Auth.SessionTTL)
	p.Positive("auth.idle_timeout", c.Auth.IdleTimeout)
	if c.Auth.PasswordMinLength < 8 || c.Auth.PasswordMinLength > 64 {
		bad("auth.password_min_length", "%d is out of range 8..64", c.Auth.PasswordMinLength)
	}
	if l := c.Auth.LDAP; l.URL != "" {
		p.Positive("auth.ldap.timeout", l.Timeout)
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
		if !camera.ID.MatchString(u.Name) {
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

func (c *Config) validateVideo(p *telemetry.Problems) {
	bad := p.Add
	if l := c.HTTP.RateLimit; l.APIRate < 0 || l.APIBurst < 0 || l.LoginsPerMinute < 0 || l.WebRTCPerMinute < 0 || l.APIRate > 0 && l.APIBurst < 1 {
		bad("http.rate_limit", "limits are 0 (off) or positive, and api_burst at least 1 when api_rate is set")
	}
	if c.HTTP.ExportsMaxSize < 1<<20 {
		bad("http.exports_max_size", "at least 1MiB, e.g. 5GiB")
	}
	if t := c.HTTP.TLS; (t.CertFile == "") != (t.KeyFile == "") {
		bad("http.tls", "cert_file and key_file go together (neither: a self-signed certificate)")
	}
	for i, s := range c.Sim.Cameras {
		sp := p.In(fmt.Sprintf("sim.cameras[%d]", i))
		if !camera.ID.MatchString(s.ID) {
			sp.Add("id", "%q: use 1-64 letters, digits, '.', '_' or '-' (it names files and URL paths)", s.ID)
		}
		switch s.Codec {
		case "", "h264", "h265":
		default:
			sp.Add("codec", "%q is not one of h264, h265", s.Codec)
		}
		if s.Detector == "cascade" || s.Detector == "yolo" {
			sp.Add("detector", "simulated cameras run nanodet, hog, motion or none")
		}
		analysis.Settings{Detector: s.Detector, Rate: s.Rate, Zones: s.Zones}.Check(sp)
		s.Geo.Check(sp.In("geo"))
	}
	if a := c.Sim.RTSPAddress; a != "" {
		if err := telemetry.CheckAddr(a); err != nil {
			p.Add("sim.rtsp_address", "%v", err)
		}
	}
}

func (c *Config) validateGeo(p *telemetry.Problems) {
	bad := p.Add
	sites := map[string]bool{}
	checkSite := func(key string, s Site) { s.Check(p.In(key).Add) }
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
		if !camera.ID.MatchString(f.ID) || ids[f.ID] {
			bad(key+".id", "%q: unique, 1-64 letters, digits, '.', '_' or '-'", f.ID)
		}
		ids[f.ID] = true
		knownSite(key+".site", f.Site)
		f.Check(p.In(key))
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
	// The cameras check their own geo settings; the sites they name are
	// checked here.
	for i, cam := range c.Video.Cameras {
		knownSite(fmt.Sprintf("video.cameras[%d].geo.site", i), cam.Geo.Site)
	}
	for i, cam := range c.Sim.Cameras {
		knownSite(fmt.Sprintf("sim.cameras[%d].geo.site", i), cam.Geo.Site)
	}
}

func (c *Config) validateSim(p *telemetry.Problems) {
	bad := p.Add
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
		p.Positive(key+".battery", d.Battery)
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

var urlPassword = regexp.MustCompile(`(://[^:/@]*:)[^@]*@`)

func redact(s string) string { return urlPassword.ReplaceAllString(s, "${1}xxxxx@") }
