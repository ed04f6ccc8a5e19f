package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The keys the deployment files rely on are documented, as nested keys.
func TestSettingsDocumentClusterKeys(t *testing.T) {
	s, err := LoadSettings(settingsFile)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{
		"cluster.mode", "cluster.node", "cluster.listen", "cluster.routes",
		"cluster.client_listen", "cluster.urls", "cluster.replicas", "cluster.roles",
		"video.recording.dir", "database.url", "log.format",
	} {
		if v, ok := s.Lookup(k); !ok {
			t.Errorf("%s is not documented in %s", k, settingsFile)
		} else if _, section := v.(map[string]any); section {
			t.Errorf("%s is a section in %s, not a key", k, settingsFile)
		}
	}
}

func TestSettingsEnv(t *testing.T) {
	s, err := LoadSettings(settingsFile)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"SMARTEYE_DATABASE_URL":             "database.url",
		"SMARTEYE_VIDEO_RECORDING_DIR":      "video.recording.dir",
		"SMARTEYE_HTTP_RATE_LIMIT_API_RATE": "http.rate_limit.api_rate",
		"SMARTEYE_DATA_DIR":                 "data_dir",
		"SMARTEYE_CLUSTER_NODE":             "cluster.node",
		"SMARTEYE_CLUSTER_CLIENT_LISTEN":    "cluster.client_listen",
		"SMARTEYE_ADMIN_PASSWORD":           "", // read, but no setting
	} {
		got, err := s.Env(name)
		if err != nil || got != want {
			t.Errorf("Env(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	for name, want := range map[string]string{
		"SMARTEYE_DB_PASSWORD":     "not a documented key",
		"SMARTEYE_CLUSTER_NODES":   "not a documented key",
		"SMARTEYE_HTTP":            "section",
		"SMARTEYE_HTTP_RATE_LIMIT": "section",
		"SMARTEYE_MAVLINK_LINKS":   "list of entries",
		"SMARTEYE_":                "does not start",
	} {
		if _, err := s.Env(name); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Env(%s): %v, want an error saying %q", name, err, want)
		}
	}
}

// Keys with underscores and sections with the same prefix: the tree decides.
func TestSettingsEnvAmbiguous(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.yml")
	if err := os.WriteFile(p, []byte("a:\n  b_c: 1\n  b:\n    d: 2\nx_y:\n  z: 3\nx:\n  y_w: 4\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{
		"SMARTEYE_A_B_C": "a.b_c",
		"SMARTEYE_A_B_D": "a.b.d",
		"SMARTEYE_X_Y_Z": "x_y.z",
		"SMARTEYE_X_Y_W": "x.y_w",
	} {
		if got, err := s.Env(name); err != nil || got != want {
			t.Errorf("Env(%s) = %q, %v; want %q", name, got, err, want)
		}
	}
	if _, err := s.Env("SMARTEYE_A_B"); err == nil {
		t.Error("SMARTEYE_A_B names a section but was accepted")
	}
}

func TestSettingsCheckConfig(t *testing.T) {
	s, err := LoadSettings(settingsFile)
	if err != nil {
		t.Fatal(err)
	}
	ok := map[string]any{"log": map[string]any{"format": "json"}, "video": map[string]any{"recording": map[string]any{"dir": "/r"}}}
	if err := s.CheckConfig("t", ok); err != nil {
		t.Error(err)
	}
	bad := map[string]any{
		"log":  map[string]any{"formats": "json"},
		"http": "127.0.0.1:8080",
		"video": map[string]any{
			"recording": map[string]any{"dir": map[string]any{"path": "/r"}},
		},
	}
	wantProblem(t, s.CheckConfig("t", bad), "log.formats is not a documented key", "http is a section", "video.recording.dir is a value")
}

// A settings file without the cluster section rejects the cluster variables.
func TestSettingsWithoutKey(t *testing.T) {
	p := filepath.Join(t.TempDir(), "s.yml")
	if err := os.WriteFile(p, []byte("cluster:\n  mode: off\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := LoadSettings(p)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Env("SMARTEYE_CLUSTER_NODE"); err == nil {
		t.Error("SMARTEYE_CLUSTER_NODE accepted without cluster.node")
	}
	if _, err := s.Env("SMARTEYE_CLUSTER_MODE"); err != nil {
		t.Error(err)
	}
}
