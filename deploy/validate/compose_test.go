package validate

import (
	"context"
	"path/filepath"
	"testing"
)

// copyCompose copies the compose file and its Caddyfile to a temp dir,
// laid out as in deploy/, and returns the copied compose file.
func copyCompose(t *testing.T) (dir, file string) {
	t.Helper()
	dir = copyFiles(t, t.TempDir(), map[string]string{
		"compose.cluster.yml": composeFile,
		"cluster/Caddyfile":   caddyFile,
	})
	return dir, filepath.Join(dir, "compose.cluster.yml")
}

var profiles = map[string][]string{
	"default":       nil,
	"external-nats": {"external-nats"},
}

func TestCompose(t *testing.T) {
	for name, p := range profiles {
		t.Run(name, func(t *testing.T) {
			if err := CheckCompose(context.Background(), composeFile, settingsFile, p); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The profile adds the three NATS servers, and only it.
func TestComposeProfile(t *testing.T) {
	want := map[string]int{"default": 0, "external-nats": 3}
	for name, p := range profiles {
		proj, err := LoadCompose(context.Background(), composeFile, p)
		if err != nil {
			t.Fatal(err)
		}
		c := composeCheck{p: proj}
		if got := len(c.natsServers()); got != want[name] {
			t.Errorf("profile %s: %d NATS servers, want %d", name, got, want[name])
		}
		if got := len(c.nodes()); got != 3 {
			t.Errorf("profile %s: %d smarteye nodes, want 3", name, got)
		}
	}
}

// The switch to external NATS that the compose file's header documents.
func TestComposeExternalSwitch(t *testing.T) {
	dir, file := copyCompose(t)
	apply(t, dir, edit{"compose.cluster.yml",
		`  SMARTEYE_CLUSTER_MODE: embedded
  SMARTEYE_CLUSTER_LISTEN: 0.0.0.0:6222
  SMARTEYE_CLUSTER_ROUTES: nats://smarteye-1:6222,nats://smarteye-2:6222,nats://smarteye-3:6222
  # NATS clients inside the container only: smarteye drain.
  SMARTEYE_CLUSTER_CLIENT_LISTEN: 127.0.0.1:4222
`, `  SMARTEYE_CLUSTER_MODE: external
  SMARTEYE_CLUSTER_URLS: nats://nats-1:4222,nats://nats-2:4222,nats://nats-3:4222
`})
	if err := CheckCompose(context.Background(), file, settingsFile, profiles["external-nats"]); err != nil {
		t.Fatal(err)
	}
	wantProblem(t, CheckCompose(context.Background(), file, settingsFile, nil),
		"names nats-1, which is not started without its profile")
}

// Each check notices a broken copy.
func TestComposeCatches(t *testing.T) {
	const compose, caddy = "compose.cluster.yml", "cluster/Caddyfile"
	for _, tc := range []struct {
		name     string
		profiles []string
		edits    []edit
		want     []string
	}{
		{name: "a route missing",
			edits: []edit{{compose, "nats://smarteye-1:6222,nats://smarteye-2:6222,nats://smarteye-3:6222", "nats://smarteye-1:6222,nats://smarteye-2:6222"}},
			want:  []string{"smarteye-1: SMARTEYE_CLUSTER_ROUTES (nats://smarteye-1:6222,nats://smarteye-2:6222) does not name smarteye-3"}},
		{name: "a route on the wrong port",
			edits: []edit{{compose, "nats://smarteye-3:6222", "nats://smarteye-3:4222"}},
			want:  []string{"nats://smarteye-3:4222 is not on the route port 6222"}},
		{name: "two nodes of one name",
			edits: []edit{{compose, "SMARTEYE_CLUSTER_NODE: smarteye-3", "SMARTEYE_CLUSTER_NODE: smarteye-2"}},
			want:  []string{`smarteye-3: SMARTEYE_CLUSTER_NODE "smarteye-2" is also smarteye-2's`}},
		{name: "a node without a name",
			edits: []edit{{compose, "      SMARTEYE_CLUSTER_NODE: smarteye-1\n", ""}},
			want:  []string{"smarteye-1: SMARTEYE_CLUSTER_NODE is not set"}},
		{name: "a misspelt key",
			edits: []edit{{compose, "  stop_grace_period: 2m", "  stop_grace_periode: 2m"}},
			want:  []string{"stop_grace_periode"}},
		{name: "a misspelt healthcheck key",
			edits: []edit{{compose, "      start_period: 30s", "      start_perod: 30s"}},
			want:  []string{"start_perod"}},
		{name: "no client listener for smarteye drain",
			edits: []edit{{compose, "  SMARTEYE_CLUSTER_CLIENT_LISTEN: 127.0.0.1:4222\n", ""}},
			want:  []string{"smarteye-2: SMARTEYE_CLUSTER_CLIENT_LISTEN is not set: smarteye drain cannot reach the node"}},
		{name: "one replica",
			edits: []edit{{compose, `SMARTEYE_CLUSTER_REPLICAS: "3"`, `SMARTEYE_CLUSTER_REPLICAS: "1"`}},
			want:  []string{`SMARTEYE_CLUSTER_REPLICAS is "1", want 3`}},
		{name: "a fourth node",
			edits: []edit{{compose, "  # The one address users open", "  smarteye-4:\n    <<: *node\n    environment:\n      <<: *cluster\n      SMARTEYE_CLUSTER_NODE: smarteye-4\n    volumes:\n      - data-4:/var/lib/smarteye\n      - recordings:/srv/smarteye/recordings\n\n  # The one address users open"},
				{compose, "  data-3:\n", "  data-3:\n  data-4:\n"}},
			want: []string{"want 3 smarteye nodes", "does not name smarteye-4"}},
		{name: "recordings not mounted on one node",
			edits: []edit{{compose, "      - data-2:/var/lib/smarteye\n      - recordings:/srv/smarteye/recordings\n", "      - data-2:/var/lib/smarteye\n"}},
			want:  []string{"smarteye-2: nothing is mounted at SMARTEYE_VIDEO_RECORDING_DIR /srv/smarteye/recordings"}},
		{name: "recordings on a node's own volume",
			edits: []edit{{compose, "      - data-3:/var/lib/smarteye\n      - recordings:", "      - data-3:/var/lib/smarteye\n      - data-1:"}},
			want:  []string{"smarteye-3: recordings at /srv/smarteye/recordings are on volume data-1, not the shared recordings"}},
		{name: "recording directory elsewhere",
			edits: []edit{{compose, "SMARTEYE_VIDEO_RECORDING_DIR: /srv/smarteye/recordings", "SMARTEYE_VIDEO_RECORDING_DIR: /srv/recordings"}},
			want:  []string{"nothing is mounted at SMARTEYE_VIDEO_RECORDING_DIR /srv/recordings"}},
		{name: "a shared data volume",
			edits: []edit{{compose, "      - data-2:/var/lib/smarteye\n", "      - data-1:/var/lib/smarteye\n"}},
			want:  []string{"smarteye-2: data volume data-1 is also smarteye-1's"}},
		{name: "an undocumented variable",
			edits: []edit{{compose, "SMARTEYE_VIDEO_RECORDING_DIR: /srv", "SMARTEYE_VIDEO_RECORDINGS_DIR: /srv"}},
			want:  []string{"SMARTEYE_VIDEO_RECORDINGS_DIR is not a documented key", "SMARTEYE_VIDEO_RECORDING_DIR is not set"}},
		{name: "no database healthcheck",
			edits: []edit{{compose, `test: ["CMD", "pg_isready", "-U", "smarteye", "-d", "smarteye"]`, `test: ["NONE"]`}},
			want:  []string{"db: no healthcheck"}},
		{name: "not waiting for a healthy database",
			edits: []edit{{compose, "condition: service_healthy", "condition: service_started"}},
			want:  []string{"smarteye-1: does not depend on db with condition service_healthy"}},
		{name: "the database URL elsewhere",
			edits: []edit{{compose, "@db:5432/", "@localhost:5432/"}},
			want:  []string{"SMARTEYE_DATABASE_URL does not name the database service db"}},
		{name: "an upstream missing",
			edits: []edit{{caddy, " smarteye-3:8080 {", " {"}},
			want:  []string{"do not include smarteye-3:8080"}},
		{name: "health checks on /healthz",
			edits: []edit{{caddy, "health_uri /readyz", "health_uri /healthz"}},
			want:  []string{"no active health check on /readyz"}},
		{name: "health check commented out",
			edits: []edit{{caddy, "health_uri /readyz", "# health_uri /readyz"}},
			want:  []string{"no active health check on /readyz"}},
		{name: "upstreams on the wrong port",
			edits: []edit{{compose, `"--http", "0.0.0.0:8080"`, `"--http", "0.0.0.0:9090"`}},
			want:  []string{"do not include smarteye-1:9090"}},
		{name: "no proxy",
			edits: []edit{{compose, "image: caddy:2", "image: nginx:1"}},
			want:  []string{"no caddy:2 service"}},
		{name: "a NATS route missing",
			profiles: []string{"external-nats"},
			edits:    []edit{{compose, `"nats-3", "--cluster_name", "smarteye", "--cluster", "nats://0.0.0.0:6222", "--routes", "nats://nats-1:6222,nats://nats-2:6222,nats://nats-3:6222"`, `"nats-3", "--cluster_name", "smarteye", "--cluster", "nats://0.0.0.0:6222", "--routes", "nats://nats-1:6222,nats://nats-2:6222"`}},
			want:     []string{"nats-3: --routes does not name nats-3"}},
		{name: "NATS without JetStream",
			profiles: []string{"external-nats"},
			edits:    []edit{{compose, `command: ["-js", "-sd", "/data", "--server_name", "nats-2"`, `command: ["-sd", "/data", "--server_name", "nats-2"`}},
			want:     []string{"nats-2: NATS without JetStream"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir, file := copyCompose(t)
			// Unbroken, the copy passes: what fails is the edit.
			if err := CheckCompose(context.Background(), file, settingsFile, tc.profiles); err != nil {
				t.Fatalf("the unbroken copy: %v", err)
			}
			apply(t, dir, tc.edits...)
			wantProblem(t, CheckCompose(context.Background(), file, settingsFile, tc.profiles), tc.want...)
		})
	}
}
