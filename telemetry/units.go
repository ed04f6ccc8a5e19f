package telemetry

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// The one duration type and the one size type of every configuration and
// API: components' Config types and the alert rules use them.

// Duration is a time.Duration written as in Go ("500ms", "10s", "1h30m")
// with two more units for retention periods: d (24 h) and w (7 d), e.g.
// "30d" or "1w2d". A bare 0 is zero.
type Duration time.Duration

// ParseDuration parses a Duration. Units are ms, s, m, h, d, w; a number
// without a unit is an error (is "30" seconds or days?).
func ParseDuration(s string) (time.Duration, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	if in == "" {
		return 0, fmt.Errorf("empty duration; write a number and a unit, e.g. 10s or 30d")
	}
	var total time.Duration
	rest := in
	for rest != "" {
		i := 0
		for i < len(rest) && (rest[i] >= '0' && rest[i] <= '9' || rest[i] == '.') {
			i++
		}
		j := i
		for j < len(rest) && (rest[j] >= 'a' && rest[j] <= 'z' || rest[j] == 'µ') {
			j++
		}
		num, unit := rest[:i], rest[i:j]
		if num == "" || unit == "" {
			return 0, fmt.Errorf("invalid duration %q; write a number and a unit (ms, s, m, h, d, w), e.g. 10s or 30d", s)
		}
		var d time.Duration
		switch unit {
		case "d", "w":
			n, err := strconv.ParseFloat(num, 64)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q", s)
			}
			per := 24 * time.Hour
			if unit == "w" {
				per *= 7
			}
			if n*float64(per) > float64(1<<62) {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			d = time.Duration(n * float64(per))
		default:
			var err error
			d, err = time.ParseDuration(num + unit)
			if err != nil {
				return 0, fmt.Errorf("invalid duration %q; units are ms, s, m, h, d, w", s)
			}
		}
		if total > 1<<62-d {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += d
		rest = rest[j:]
	}
	return total, nil
}

// UnmarshalYAML reads a duration string.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind != yaml.ScalarNode {
		return fmt.Errorf("line %d: want a duration such as 10s", n.Line)
	}
	v, err := ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration the way it is read back.
func (d Duration) MarshalYAML() (any, error) { return d.String(), nil }

// String writes whole days as "30d", anything else as Go does.
func (d Duration) String() string {
	td := time.Duration(d)
	if td != 0 && td%(24*time.Hour) == 0 {
		return strconv.FormatInt(int64(td/(24*time.Hour)), 10) + "d"
	}
	return td.String()
}

// D returns the time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// MarshalText writes the duration as Go does ("24h0m0s"): JSON readers
// that know only Go's units read it back.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText reads what ParseDuration reads.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := ParseDuration(string(b))
	if err != nil {
		return err
	}
	*d = Duration(v)
	return nil
}

// UnmarshalJSON refuses bare numbers: "30" would be 30 ns.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("durations are strings, e.g. \"30s\", not %s", b)
	}
	return d.UnmarshalText([]byte(s))
}

// Size is a number of bytes written with a binary or decimal unit:
// "512MiB", "20GiB", "1TB", "1048576B"; a bare 0 is zero.
type Size int64

var sizeUnits = map[string]int64{
	"B": 1, "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40,
	"KB": 1e3, "kB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
}

// ParseSize parses a Size.
func ParseSize(s string) (Size, error) {
	in := strings.TrimSpace(s)
	if in == "0" {
		return 0, nil
	}
	i := 0
	for i < len(in) && (in[i] >= '0' && in[i] <= '9' || in[i] == '.') {
		i++
	}
	num, unit := in[:i], strings.TrimSpace(in[i:])
	mult, ok := sizeUnits[unit]
	f, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return 0, fmt.Errorf("invalid size %q; write a number and a unit (B, KiB, MiB, GiB, TiB, KB, MB, GB, TB), e.g. 20GiB", s)
	}
	return Size(f * float64(mult)), nil
}

// UnmarshalYAML implements yaml.Unmarshaler.
func (z *Size) UnmarshalYAML(n *yaml.Node) error {
	v, err := ParseSize(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %w", n.Line, err)
	}
	*z = v
	return nil
}

// MarshalYAML implements yaml.Marshaler.
func (z Size) MarshalYAML() (any, error) { return z.String(), nil }

// String writes the size with the largest binary unit that divides it.
func (z Size) String() string {
	for _, u := range []string{"TiB", "GiB", "MiB", "KiB"} {
		if m := sizeUnits[u]; z != 0 && int64(z)%m == 0 {
			return strconv.FormatInt(int64(z)/m, 10) + u
		}
	}
	return strconv.FormatInt(int64(z), 10) + "B"
}
