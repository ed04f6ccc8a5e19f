package telemetry

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Problems gathers what is wrong with a configuration, each problem under
// the dotted key it concerns ("video.cameras[0].url: want rtsp://…").
// Each component checks its own settings into the Problems it is given,
// with keys relative to where its settings sit; In narrows to a part.
type Problems struct {
	prefix string
	list   *[]error
}

// In is the Problems of the part under key (a name, or an index such as
// "[2]").
func (p *Problems) In(key string) *Problems {
	if p.list == nil {
		p.list = new([]error)
	}
	return &Problems{prefix: p.join(key), list: p.list}
}

func (p *Problems) join(key string) string {
	switch {
	case key == "":
		return p.prefix
	case p.prefix == "" || strings.HasPrefix(key, "["):
		return p.prefix + key
	}
	return p.prefix + "." + key
}

// Add records a problem of key ("" for the part itself).
func (p *Problems) Add(key, format string, args ...any) {
	if p.list == nil {
		p.list = new([]error)
	}
	*p.list = append(*p.list, fmt.Errorf("%s: %s", p.join(key), fmt.Sprintf(format, args...)))
}

// Positive records a problem unless d is positive.
func (p *Problems) Positive(key string, d Duration) {
	if d <= 0 {
		p.Add(key, "must be positive, e.g. 10s")
	}
}

// Err is every problem recorded, one per line; nil when there is none.
func (p *Problems) Err() error {
	if p.list == nil {
		return nil
	}
	return errors.Join(*p.list...)
}

// CheckAddr checks a host:port address.
func CheckAddr(a string) error {
	_, port, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("port %q is not a number in 0..65535", port)
	}
	return nil
}
