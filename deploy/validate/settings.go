// Package validate checks smarteye's deployment files offline: the
// three-node compose file (deploy/compose.cluster.yml and its Caddyfile)
// and the Kubernetes manifests (deploy/k8s, rendered with kustomize),
// against each other and against the documented settings in
// deploy/smarteye.yml. Each check is a function of the files' paths, so
// the tests also run it on broken copies to see that it notices.
package validate

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts every environment variable that sets a key: the key's
// YAML path upper-cased, dots as underscores (SMARTEYE_DATABASE_URL is
// database.url).
const EnvPrefix = "SMARTEYE_"

// notSettings are SMARTEYE_ variables smarteye reads that are no key of
// the configuration file.
var notSettings = map[string]bool{
	"SMARTEYE_ADMIN_PASSWORD": true, // the first admin's password
}

// Settings is the tree of documented keys: the YAML of deploy/smarteye.yml.
type Settings struct {
	path string
	root map[string]any
}

// LoadSettings reads the documented configuration file.
func LoadSettings(path string) (*Settings, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var root map[string]any
	if err := yaml.Unmarshal(b, &root); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(root) == 0 {
		return nil, fmt.Errorf("%s: no keys", path)
	}
	return &Settings{path: path, root: root}, nil
}

// Lookup returns the documented value of a dotted key path (cluster.node).
func (s *Settings) Lookup(key string) (any, bool) {
	return lookupDoc(s.root, key)
}

// Env returns the key path that the environment variable name sets
// (SMARTEYE_VIDEO_RECORDING_DIR: video.recording.dir), or why it sets none.
// Keys contain underscores themselves, so the name is matched against the
// tree of documented keys rather than split. Variables that smarteye reads
// but that are not settings (SMARTEYE_ADMIN_PASSWORD) return "".
func (s *Settings) Env(name string) (string, error) {
	if notSettings[name] {
		return "", nil
	}
	rest, ok := strings.CutPrefix(name, EnvPrefix)
	if !ok || rest == "" {
		return "", fmt.Errorf("%s does not start with %s", name, EnvPrefix)
	}
	var keys, sections, lists []string
	var walk func(m map[string]any, rest, path string)
	walk = func(m map[string]any, rest, path string) {
		for k, v := range m {
			upper := strings.ToUpper(k)
			switch sub, isMap := v.(map[string]any); {
			case rest == upper && isMap:
				sections = append(sections, path+k)
			case rest == upper && isEntryList(v):
				lists = append(lists, path+k)
			case rest == upper:
				keys = append(keys, path+k)
			case isMap && strings.HasPrefix(rest, upper+"_"):
				walk(sub, strings.TrimPrefix(rest, upper+"_"), path+k+".")
			}
		}
	}
	walk(s.root, rest, "")
	switch {
	case len(keys) > 0:
		sort.Strings(keys)
		return keys[0], nil
	case len(lists) > 0:
		return "", fmt.Errorf("%s would set %s, a list of entries, which the environment cannot set", name, lists[0])
	case len(sections) > 0:
		return "", fmt.Errorf("%s names the section %s, not a key", name, sections[0])
	}
	return "", fmt.Errorf("%s is not a documented key of %s (no key path %s)", name, s.path, strings.ToLower(strings.ReplaceAll(rest, "_", ".")))
}

// isEntryList tells a list of mappings (mavlink.links) from a list of
// scalars, which the environment sets comma-separated.
func isEntryList(v any) bool {
	l, ok := v.([]any)
	if !ok || len(l) == 0 {
		return false
	}
	_, ok = l[0].(map[string]any)
	return ok
}

// CheckConfig reports every key of a configuration file (parsed YAML)
// that is not documented. Lists are not descended into: their entries'
// keys are documented in comments only.
func (s *Settings) CheckConfig(name string, doc map[string]any) error {
	var errs []error
	var walk func(doc, documented map[string]any, path string)
	walk = func(doc, documented map[string]any, path string) {
		for _, k := range sortedKeys(doc) {
			d, ok := documented[k]
			if !ok {
				errs = append(errs, fmt.Errorf("%s: %s%s is not a documented key of %s", name, path, k, s.path))
				continue
			}
			sub, isMap := doc[k].(map[string]any)
			dsub, dIsMap := d.(map[string]any)
			switch {
			case isMap && dIsMap:
				walk(sub, dsub, path+k+".")
			case dIsMap && doc[k] != nil:
				errs = append(errs, fmt.Errorf("%s: %s%s is a section, not a value", name, path, k))
			case isMap && !dIsMap:
				errs = append(errs, fmt.Errorf("%s: %s%s is a value, not a section", name, path, k))
			}
		}
	}
	walk(doc, s.root, "")
	return errors.Join(errs...)
}

// checkEnvNames reports the SMARTEYE_ variables among names that set no
// documented key; where says where they are set.
func (s *Settings) checkEnvNames(where string, names []string) []error {
	var errs []error
	for _, n := range names {
		if !strings.HasPrefix(n, EnvPrefix) {
			continue
		}
		if _, err := s.Env(n); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// lookupDoc returns the value at a dotted key path of a parsed YAML file.
func lookupDoc(doc map[string]any, key string) (any, bool) {
	var v any = doc
	for _, part := range strings.Split(key, ".") {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[part]; !ok {
			return nil, false
		}
	}
	return v, true
}

// splitList splits a list value given in the environment (comma-separated).
func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}
