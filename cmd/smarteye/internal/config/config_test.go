package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestGoodFiles(t *testing.T) {
	for _, tc := range []struct {
		file  string
		check func(t *testing.T, c Config)
	}{
		{"minimal.good.yml", func(t *testing.T, c Config) {
			want := Default()
			want.HTTP.Address = ":9090"
			if !reflect.DeepEqual(c, want) {
				t.Fatalf("got %+v", c)
			}
		}},
		{"empty.good.yml", func(t *testing.T, c Config) {
			if !reflect.DeepEqual(c, Default()) {
				t.Fatalf("got %+v", c)
			}
		}},
		{"external_db.good.yml", func(t *testing.T, c Config) {
			if c.Database.URL != "postgres://smarteye@db.internal:5432/smarteye" || c.Database.Mode != "timescaledb" ||
				c.Database.MaxConns != 20 || c.Log.Format != "json" {
				t.Fatalf("got %+v", c.Database)
			}
			r := c.Store.Retention
			if r.Telemetry.D() != 14*24*time.Hour || r.Detections != 0 || r.Events.D() != 36*time.Hour {
				t.Fatalf("retention %+v", r)
			}
			if c.Store.BatchSize != 5000 {
				t.Fatal("unset keys must keep their defaults")
			}
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			c, err := Load(filepath.Join("testdata", tc.file))
			if err != nil {
				t.Fatal(err)
			}
			tc.check(t, c)
		})
	}
}

func TestBadFiles(t *testing.T) {
	for _, tc := range []struct {
		file string
		want []string // every one must appear in the error
	}{
		{"unknown_key.bad.yml", []string{"line 3", `unknown key "adress"`, "http"}},
		{"unknown_top.bad.yml", []string{"line 1", `unknown key "camras"`, "top level"}},
		{"bad_duration.bad.yml", []string{"line 2", `invalid duration "10x"`}},
		{"unitless_duration.bad.yml", []string{"line 2", `"30"`, "unit"}},
		{"bad_type.bad.yml", []string{"line 2", `"many" is not a valid int`}},
		{"bad_values.bad.yml", []string{
			`log.level: "verbose" is not one of debug, info, warn, error`,
			"http.address: address localhost: missing port",
			`database.mode: "mysql"`,
			`database.url: scheme "mysql"`,
			"store.batch_size: 0 is out of range",
			"store.retention.telemetry: 1h0m0s is less than a day",
		}},
		{"duplicate_key.bad.yml", []string{"line 3", `"http" already defined`}},
		{"bad_cameras.bad.yml", []string{
			"video.workers", "video.cameras[0].url", `video.cameras[0].transport: "quic"`, `video.cameras[0].detector: "magic"`,
			"video.cameras[0].rate", "video.cameras[0].zones[0].polygon", `video.cameras[1].id: "gate" is used twice`,
			"video.cameras[1].vehicle", "video.cameras[1].model", `sim.cameras[0].id: ""`, `sim.cameras[0].codec: "vp9"`, `video.cameras[2].id: "../etc"`,
		}},
		{"two_docs.bad.yml", []string{"more than one YAML document"}},
		{"bad_recording.bad.yml", []string{
			`video.recording.mode: "sometimes" is not one of continuous, events, off`, "video.recording.segment: 2h0m0s is out of range 1s..1h",
			"video.recording.max_size: 10MiB is less than 16MiB", "video.recording.min_free: must be at least one byte",
			`video.cameras[0].record: "always" is not one of`,
		}},
		{"bad_size.bad.yml", []string{`line 3: invalid size "20 gigs"`}},
		{"bad_alerts.bad.yml", []string{
			"alerts.rules[0]: min_count: a crowd rule needs", "alerts.rules[0]: schedule: to:", `alerts.rules[0]: channels: "pager" is not a configured channel`,
			`alerts.rules[1].id: "crowd" is listed twice`, `alerts.rules[1]: condition: "fire"`,
			"alerts.channels: channel 0 (ops): url: write http(s)://host/path", `format: "telegram" is not one of json, dingtalk, wecom`,
		}},
	} {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatal("loaded without error")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}

// TestDocumentedFile keeps deploy/smarteye.yml and Default() the same: the
// file documents every key with its default value.
func TestDocumentedFile(t *testing.T) {
	path := filepath.Join("..", "..", "..", "..", "deploy", "smarteye.yml")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) {
		t.Fatalf("deploy/smarteye.yml differs from Default():\nfile:    %+v\ndefault: %+v", c, Default())
	}
	// Every key of the configuration appears in the file with a comment above it.
	b, _ := os.ReadFile(path)
	lines := strings.Split(string(b), "\n")
	keys := map[string]bool{}
	collectKeys(reflectType(), "", keys)
	for key := range keys {
		leaf := key[strings.LastIndex(key, ".")+1:]
		found := false
		for i, l := range lines {
			// A list item's key may be documented in a commented example.
			l = strings.TrimLeft(l, "#- ")
			if strings.HasPrefix(strings.TrimSpace(l), leaf+":") && i > 0 && strings.HasPrefix(strings.TrimSpace(lines[i-1]), "#") {
				found = true
			}
			if strings.HasPrefix(strings.TrimSpace(l), leaf+":") && strings.HasSuffix(strings.TrimSpace(l), ":") {
				found = true // a section: documented by its keys
			}
		}
		if !found && !strings.HasPrefix(key, "store.retention.") {
			t.Errorf("key %s is not documented in deploy/smarteye.yml", key)
		}
	}
}

func TestEnvOverrides(t *testing.T) {
	c := Default()
	err := ApplyEnv(&c, []string{
		"PATH=/usr/bin",
		"SMARTEYE_DATABASE_URL=postgres://u:secret@h/db",
		"SMARTEYE_STORE_BATCH_SIZE=100",
		"SMARTEYE_STORE_RETENTION_EVENTS=2w",
		"SMARTEYE_DATABASE_EMBEDDED_RUN_AS=pgsvc",
		"SMARTEYE_VIDEO_READ_TIMEOUT=20s", // a component's settings inlined in video
	})
	if err != nil {
		t.Fatal(err)
	}
	if c.Database.URL != "postgres://u:secret@h/db" || c.Store.BatchSize != 100 ||
		c.Store.Retention.Events.D() != 14*24*time.Hour || c.Database.Embedded.RunAs != "pgsvc" || c.Video.ReadTimeout.D() != 20*time.Second {
		t.Fatalf("got %+v", c)
	}
	// Lists of words are comma-separated.
	err = ApplyEnv(&c, []string{"SMARTEYE_CLUSTER_MODE=embedded", "SMARTEYE_CLUSTER_NODE=node-2", "SMARTEYE_CLUSTER_LISTEN=0.0.0.0:6222",
		"SMARTEYE_CLUSTER_ROUTES=nats://node-1:6222, nats://node-2:6222,,nats://node-3:6222", "SMARTEYE_CLUSTER_ROLES=worker,control"})
	if err != nil {
		t.Fatal(err)
	}
	if r := c.Cluster.Routes; len(r) != 3 || r[1] != "nats://node-2:6222" || len(c.Cluster.Roles) != 2 || c.Cluster.Roles[1] != "control" {
		t.Fatalf("cluster from the environment: %+v", c.Cluster)
	}
	if err := c.Validate(); err != nil {
		t.Fatalf("a cluster from the environment: %v", err)
	}
	c.Cluster.Mode, c.Cluster.Routes, c.Cluster.Roles = "swarm", []string{"node-1:6222"}, []string{"everything"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `cluster.mode: "swarm" is not off`) || !strings.Contains(err.Error(), `cluster.roles: "everything"`) {
		t.Fatalf("bad cluster settings: %v", err)
	}
	c.Cluster.Mode = "embedded"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `cluster.routes: "node-1:6222" is not nats://host:port`) {
		t.Fatalf("bad route: %v", err)
	}
	c.Cluster = Default().Cluster
	err = ApplyEnv(&c, []string{"SMARTEYE_DATABSE_URL=x", "SMARTEYE_STORE_BATCH_SIZE=lots"})
	if err == nil || !strings.Contains(err.Error(), "SMARTEYE_DATABSE_URL is not a setting") || !strings.Contains(err.Error(), `"lots" is not an integer`) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/external_db.good.yml", "testdata/bad_values.bad.yml", "../../../../deploy/smarteye.yml"} {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		c := Default()
		if err := Parse(b, &c); err != nil {
			return
		}
		_ = c.Validate() // must not panic, whatever was parsed
	})
}
