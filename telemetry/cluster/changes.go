package cluster

import (
	"log/slog"

	"github.com/nats-io/nats.go"
)

// changedSubject + a kind ("rules", "geofences", "calibrations") says that
// what is stored of that kind changed; the header From names the node.
const changedSubject = "smarteye.changed."

// Changes tells the other nodes when something made through the API is
// stored (a rule, a geofence, a calibration), so that each reloads it from
// the database: the database stays the record, the message only says
// when to read it.
type Changes struct {
	nc   *nats.Conn
	node string
	log  *slog.Logger
}

// NewChanges sends and hears changes on nc as node.
func NewChanges(nc *nats.Conn, node string, log *slog.Logger) *Changes {
	return &Changes{nc: nc, node: node, log: log.With("component", "cluster")}
}

// Notify tells the other nodes that kind changed.
func (c *Changes) Notify(kind string) {
	m := nats.NewMsg(changedSubject + kind)
	m.Header.Set("From", c.node)
	if err := c.nc.PublishMsg(m); err != nil {
		c.log.Warn("cannot tell the other nodes of a change; they see it at their next start", "kind", kind, "err", err)
	}
}

// OnChange runs reload when another node says kind changed; reload runs on
// NATS' delivery goroutine for this subscription, one at a time.
func (c *Changes) OnChange(kind string, reload func() error) error {
	_, err := c.nc.Subscribe(changedSubject+kind, func(m *nats.Msg) {
		if m.Header.Get("From") == c.node {
			return
		}
		if err := reload(); err != nil {
			c.log.Warn("reloading after another node's change failed", "kind", kind, "from", m.Header.Get("From"), "err", err)
			return
		}
		c.log.Info("reloaded after another node's change", "kind", kind, "from", m.Header.Get("From"))
	})
	return err
}
