package validate

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
)

// LoadCompose loads a compose file the way docker compose does (schema
// validation: an unknown key is an error; interpolation; profiles), with
// a fixed, empty environment so that the result does not depend on the
// shell that runs it.
func LoadCompose(ctx context.Context, file string, profiles []string) (*types.Project, error) {
	opts, err := cli.NewProjectOptions([]string{file},
		cli.WithEnv(nil),
		cli.WithProfiles(profiles),
	)
	if err != nil {
		return nil, err
	}
	return opts.LoadProject(ctx)
}

// CheckCompose loads the cluster's compose file with the given profiles
// and reports everything wrong with it: the smarteye nodes (services
// running `smarteye serve`) must form one cluster (distinct names; in
// embedded mode routes naming every node, in external mode URLs naming
// every NATS server of the file), keep 3 replicas, share the recordings
// volume, keep their own data volume and wait for a healthy database; the
// proxy's Caddyfile must balance all of them with checks on /readyz; and
// every SMARTEYE_ variable must set a key documented in settingsFile.
func CheckCompose(ctx context.Context, file, settingsFile string, profiles []string) error {
	settings, err := LoadSettings(settingsFile)
	if err != nil {
		return err
	}
	p, err := LoadCompose(ctx, file, profiles)
	if err != nil {
		return fmt.Errorf("loading %s: %w", file, err)
	}
	c := composeCheck{p: p, settings: settings}
	c.run()
	return errors.Join(c.errs...)
}

type composeCheck struct {
	p        *types.Project
	settings *Settings
	errs     []error
}

func (c *composeCheck) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Errorf(format, args...))
}

// node is one smarteye service.
type node struct {
	name    string
	svc     types.ServiceConfig
	env     map[string]string
	httpAt  string // the --http address
	dataDir string // the --data-dir
}

func (c *composeCheck) run() {
	for _, name := range sortedKeys(c.p.Services) {
		svc := c.p.Services[name]
		var names []string
		for k := range svc.Environment {
			names = append(names, k)
		}
		sort.Strings(names)
		c.errs = append(c.errs, c.settings.checkEnvNames("service "+name, names)...)
	}

	nodes := c.nodes()
	if len(nodes) != 3 {
		c.fail("want 3 smarteye nodes (services running smarteye serve), found %d", len(nodes))
	}
	if len(nodes) == 0 {
		return
	}
	db := c.database(nodes)
	seen := map[string]string{}
	for _, n := range nodes {
		id := n.env["SMARTEYE_CLUSTER_NODE"]
		switch {
		case id == "":
			c.fail("%s: SMARTEYE_CLUSTER_NODE is not set", n.name)
		case seen[id] != "":
			c.fail("%s: SMARTEYE_CLUSTER_NODE %q is also %s's", n.name, id, seen[id])
		default:
			seen[id] = n.name
		}
		if r := n.env["SMARTEYE_CLUSTER_REPLICAS"]; r != "3" {
			c.fail("%s: SMARTEYE_CLUSTER_REPLICAS is %q, want 3", n.name, r)
		}
		switch mode := n.env["SMARTEYE_CLUSTER_MODE"]; mode {
		case "embedded":
			c.checkRoutes(n, nodes)
		case "external":
			c.checkExternal(n)
		default:
			c.fail("%s: SMARTEYE_CLUSTER_MODE is %q, want embedded or external", n.name, mode)
		}
		if db != "" {
			if dep, ok := n.svc.DependsOn[db]; !ok || dep.Condition != types.ServiceConditionHealthy {
				c.fail("%s: does not depend on %s with condition %s", n.name, db, types.ServiceConditionHealthy)
			}
		}
	}
	c.checkVolumes(nodes)
	c.checkProxy(nodes)
	c.checkNATS()
}

// nodes finds the services that run `smarteye serve`.
func (c *composeCheck) nodes() []node {
	var nodes []node
	for _, name := range sortedKeys(c.p.Services) {
		svc := c.p.Services[name]
		cmd := append(append([]string{}, svc.Entrypoint...), svc.Command...)
		if len(cmd) < 2 || path.Base(cmd[0]) != "smarteye" || cmd[1] != "serve" {
			continue
		}
		n := node{name: name, svc: svc, env: map[string]string{},
			httpAt: flagValue(cmd, "--http"), dataDir: flagValue(cmd, "--data-dir")}
		for k, v := range svc.Environment {
			if v != nil {
				n.env[k] = *v
			}
		}
		nodes = append(nodes, n)
	}
	return nodes
}

// database checks the TimescaleDB service that the nodes' database URL
// names, and returns its name.
func (c *composeCheck) database(nodes []node) string {
	var db string
	for _, name := range sortedKeys(c.p.Services) {
		if strings.HasPrefix(c.p.Services[name].Image, "timescale/timescaledb-ha:") {
			db = name
		}
	}
	if db == "" {
		c.fail("no timescale/timescaledb-ha service")
		return ""
	}
	hc := c.p.Services[db].HealthCheck
	if hc == nil || hc.Disable || len(hc.Test) == 0 || hc.Test[0] == "NONE" {
		c.fail("%s: no healthcheck", db)
	}
	for _, n := range nodes {
		u, err := url.Parse(n.env["SMARTEYE_DATABASE_URL"])
		if err != nil || u.Hostname() != db {
			c.fail("%s: SMARTEYE_DATABASE_URL does not name the database service %s", n.name, db)
		}
	}
	return db
}

// checkRoutes: an embedded node listens for routes and names every node,
// and takes NATS clients (smarteye drain).
func (c *composeCheck) checkRoutes(n node, nodes []node) {
	if cl := n.env["SMARTEYE_CLUSTER_CLIENT_LISTEN"]; cl == "" {
		c.fail("%s: SMARTEYE_CLUSTER_CLIENT_LISTEN is not set: smarteye drain cannot reach the node", n.name)
	} else if _, _, err := splitHostPort(cl); err != nil {
		c.fail("%s: SMARTEYE_CLUSTER_CLIENT_LISTEN: %v", n.name, err)
	}
	_, port, err := splitHostPort(n.env["SMARTEYE_CLUSTER_LISTEN"])
	if err != nil {
		c.fail("%s: SMARTEYE_CLUSTER_LISTEN: %v", n.name, err)
		return
	}
	routes := splitList(n.env["SMARTEYE_CLUSTER_ROUTES"])
	named := map[string]bool{}
	for _, r := range routes {
		u, err := url.Parse(r)
		if err != nil || u.Scheme != "nats" {
			c.fail("%s: SMARTEYE_CLUSTER_ROUTES: %q is not a nats:// URL", n.name, r)
			continue
		}
		if u.Port() != port {
			c.fail("%s: SMARTEYE_CLUSTER_ROUTES: %s is not on the route port %s", n.name, r, port)
		}
		named[u.Hostname()] = true
	}
	for _, m := range nodes {
		if !named[m.name] {
			c.fail("%s: SMARTEYE_CLUSTER_ROUTES (%s) does not name %s", n.name, n.env["SMARTEYE_CLUSTER_ROUTES"], m.name)
		}
	}
	if len(routes) != len(nodes) {
		c.fail("%s: SMARTEYE_CLUSTER_ROUTES has %d routes for %d nodes", n.name, len(routes), len(nodes))
	}
}

// checkExternal: an external node names every NATS server of the file,
// and those are running under the active profiles.
func (c *composeCheck) checkExternal(n node) {
	urls := splitList(n.env["SMARTEYE_CLUSTER_URLS"])
	if len(urls) == 0 {
		c.fail("%s: SMARTEYE_CLUSTER_MODE is external but SMARTEYE_CLUSTER_URLS is empty", n.name)
	}
	named := map[string]bool{}
	for _, s := range urls {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "nats" {
			c.fail("%s: SMARTEYE_CLUSTER_URLS: %q is not a nats:// URL", n.name, s)
			continue
		}
		named[u.Hostname()] = true
		if _, ok := c.p.Services[u.Hostname()]; !ok {
			if _, disabled := c.p.DisabledServices[u.Hostname()]; disabled {
				c.fail("%s: SMARTEYE_CLUSTER_URLS names %s, which is not started without its profile (external-nats)", n.name, u.Hostname())
			} else {
				c.fail("%s: SMARTEYE_CLUSTER_URLS names %s, which is no service", n.name, u.Hostname())
			}
		}
	}
	for _, s := range c.natsServers() {
		if !named[s] {
			c.fail("%s: SMARTEYE_CLUSTER_URLS does not name %s", n.name, s)
		}
	}
}

// natsServers are the enabled services of the official nats image.
func (c *composeCheck) natsServers() []string {
	var out []string
	for _, name := range sortedKeys(c.p.Services) {
		if img := c.p.Services[name].Image; img == "nats" || strings.HasPrefix(img, "nats:") {
			out = append(out, name)
		}
	}
	return out
}

// checkNATS: the external NATS servers, when enabled, run JetStream and
// route to each other.
func (c *composeCheck) checkNATS() {
	servers := c.natsServers()
	for _, s := range servers {
		cmd := c.p.Services[s].Command
		if !slices.Contains(cmd, "-js") && !slices.Contains(cmd, "--jetstream") {
			c.fail("%s: NATS without JetStream (-js)", s)
		}
		named := map[string]bool{}
		for _, r := range splitList(flagValue(cmd, "--routes")) {
			if u, err := url.Parse(r); err == nil {
				named[u.Hostname()] = true
			}
		}
		for _, t := range servers {
			if !named[t] {
				c.fail("%s: --routes does not name %s", s, t)
			}
		}
	}
}

// checkVolumes: all nodes mount the same named volume at the recording
// directory, and each its own at the data directory.
func (c *composeCheck) checkVolumes(nodes []node) {
	var shared string
	dataOwner := map[string]string{}
	for _, n := range nodes {
		dir := n.env["SMARTEYE_VIDEO_RECORDING_DIR"]
		if dir == "" {
			c.fail("%s: SMARTEYE_VIDEO_RECORDING_DIR is not set", n.name)
		} else if m, ok := mountAt(n.svc, dir); !ok {
			c.fail("%s: nothing is mounted at SMARTEYE_VIDEO_RECORDING_DIR %s", n.name, dir)
		} else if m.Type != types.VolumeTypeVolume || m.ReadOnly {
			c.fail("%s: %s is not a writable named volume", n.name, dir)
		} else if shared == "" {
			shared = m.Source
		} else if m.Source != shared {
			c.fail("%s: recordings at %s are on volume %s, not the shared %s", n.name, dir, m.Source, shared)
		}
		if n.dataDir == "" {
			c.fail("%s: no --data-dir", n.name)
		} else if m, ok := mountAt(n.svc, n.dataDir); !ok || m.Type != types.VolumeTypeVolume {
			c.fail("%s: no volume at --data-dir %s", n.name, n.dataDir)
		} else if other := dataOwner[m.Source]; other != "" {
			c.fail("%s: data volume %s is also %s's", n.name, m.Source, other)
		} else {
			dataOwner[m.Source] = n.name
		}
	}
	if shared != "" {
		if _, ok := c.p.Volumes[shared]; !ok {
			c.fail("recordings volume %s is not declared under volumes", shared)
		}
	}
}

func mountAt(svc types.ServiceConfig, target string) (types.ServiceVolumeConfig, bool) {
	for _, v := range svc.Volumes {
		if path.Clean(v.Target) == path.Clean(target) {
			return v, true
		}
	}
	return types.ServiceVolumeConfig{}, false
}

// checkProxy: a caddy:2 service whose Caddyfile balances every node's
// HTTP address with active checks on /readyz.
func (c *composeCheck) checkProxy(nodes []node) {
	var proxy string
	for _, name := range sortedKeys(c.p.Services) {
		if img := c.p.Services[name].Image; img == "caddy:2" || strings.HasPrefix(img, "caddy:2.") {
			proxy = name
		}
	}
	if proxy == "" {
		c.fail("no caddy:2 service")
		return
	}
	m, ok := mountAt(c.p.Services[proxy], "/etc/caddy/Caddyfile")
	if !ok || m.Type != types.VolumeTypeBind {
		c.fail("%s: no Caddyfile bound at /etc/caddy/Caddyfile", proxy)
		return
	}
	src := m.Source
	if !filepath.IsAbs(src) {
		src = filepath.Join(c.p.WorkingDir, src)
	}
	b, err := os.ReadFile(src)
	if err != nil {
		c.fail("%s: %v", proxy, err)
		return
	}
	cf := parseCaddyfile(string(b))
	for _, n := range nodes {
		_, port, err := splitHostPort(n.httpAt)
		if err != nil {
			c.fail("%s: --http: %v", n.name, err)
			continue
		}
		if want := n.name + ":" + port; !slices.Contains(cf.upstreams, want) {
			c.fail("%s: the Caddyfile's reverse_proxy upstreams %v do not include %s", proxy, cf.upstreams, want)
		}
	}
	if !slices.Contains(cf.healthURIs, "/readyz") {
		c.fail("%s: the Caddyfile's reverse_proxy has no active health check on /readyz (health_uri /readyz)", proxy)
	}
}

// caddyfile is what the checks need of a Caddyfile.
type caddyfile struct {
	upstreams  []string // of every reverse_proxy, without scheme
	healthURIs []string
}

// parseCaddyfile reads the reverse_proxy directives' upstreams (on the
// directive's line or in "to" lines) and health_uri subdirectives.
func parseCaddyfile(text string) caddyfile {
	var cf caddyfile
	depth, proxyDepth := 0, -1
	for _, line := range strings.Split(text, "\n") {
		fields := caddyFields(line)
		if len(fields) == 0 {
			continue
		}
		switch {
		case fields[0] == "reverse_proxy":
			args := fields[1:]
			if len(args) > 0 && (strings.HasPrefix(args[0], "/") || strings.HasPrefix(args[0], "@") || args[0] == "*") {
				args = args[1:] // a matcher
			}
			cf.addUpstreams(args)
			if slices.Contains(fields, "{") {
				proxyDepth = depth + 1
			}
		case proxyDepth >= 0 && depth == proxyDepth && fields[0] == "to":
			cf.addUpstreams(fields[1:])
		case proxyDepth >= 0 && depth == proxyDepth && fields[0] == "health_uri" && len(fields) > 1:
			cf.healthURIs = append(cf.healthURIs, fields[1])
		}
		for _, f := range fields {
			switch f {
			case "{":
				depth++
			case "}":
				depth--
			}
		}
		if depth < proxyDepth {
			proxyDepth = -1
		}
	}
	return cf
}

func (cf *caddyfile) addUpstreams(args []string) {
	for _, a := range args {
		if a == "{" {
			return
		}
		a = strings.TrimPrefix(strings.TrimPrefix(a, "http://"), "https://")
		cf.upstreams = append(cf.upstreams, a)
	}
}

// caddyFields splits a Caddyfile line into tokens, without its comment.
func caddyFields(line string) []string {
	fields := strings.Fields(line)
	for i, f := range fields {
		if strings.HasPrefix(f, "#") {
			return fields[:i]
		}
	}
	return fields
}

// flagValue returns the value of a command-line flag (--http ADDR or
// --http=ADDR) in args, or "".
func flagValue(args []string, flag string) string {
	for i, a := range args {
		if a == flag && i+1 < len(args) {
			return args[i+1]
		}
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

// splitHostPort splits host:port and checks that the port is a number.
func splitHostPort(addr string) (host, port string, err error) {
	i := strings.LastIndex(addr, ":")
	if i < 0 {
		return "", "", fmt.Errorf("%q has no port", addr)
	}
	host, port = addr[:i], addr[i+1:]
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return "", "", fmt.Errorf("%q has no valid port", addr)
	}
	return host, port, nil
}
