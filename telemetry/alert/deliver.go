package alert

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/smarteye/smarteye/telemetry"
)

// Channel is a delivery channel beyond the live feed.
type Channel struct {
	// Name identifies the channel in rules and delivery statuses.
	Name string `json:"name" yaml:"name"`
	// Type is webhook or mqtt.
	Type string `json:"type" yaml:"type"`

	// URL receives webhook POSTs.
	URL string `json:"url,omitempty" yaml:"url"`
	// Format of a webhook's body: json (the alert, signed with Secret in
	// X-Smarteye-Signature), dingtalk or wecom (group-robot markdown
	// messages; for DingTalk, Secret is the robot's signing secret).
	Format string `json:"format,omitempty" yaml:"format"`
	Secret string `json:"-" yaml:"secret"`

	// Broker is the MQTT server: tcp://host:1883 or ssl://host:8883.
	Broker string `json:"broker,omitempty" yaml:"broker"`
	// TopicPrefix starts every topic. It defaults to "smarteye".
	TopicPrefix string `json:"topic_prefix,omitempty" yaml:"topic_prefix"`
	ClientID    string `json:"-" yaml:"client_id"`
	Username    string `json:"-" yaml:"username"`
	Password    string `json:"-" yaml:"password"`

	// Actions are the alert steps sent: opened, escalated, acknowledged,
	// resolved, dismissed. It defaults to opened and escalated.
	Actions []string `json:"actions,omitempty" yaml:"actions"`
	// Teams limits the channel to alerts for these teams (or escalated to
	// them); empty: every team.
	Teams []string `json:"teams,omitempty" yaml:"teams"`
	// Timeout bounds one attempt. It defaults to 10 seconds.
	Timeout Duration `json:"timeout,omitempty" yaml:"timeout"`
}

var actions = []string{"opened", "escalated", telemetry.AlertAcknowledged, telemetry.AlertResolved, telemetry.AlertDismissed}

func (c *Channel) wants(a *telemetry.Alert, action string) bool {
	acts := c.Actions
	if len(acts) == 0 {
		acts = []string{"opened", "escalated"}
	}
	if !slices.Contains(acts, action) {
		return false
	}
	return len(c.Teams) == 0 || slices.Contains(c.Teams, a.Team) || (a.EscalatedTeam != "" && slices.Contains(c.Teams, a.EscalatedTeam))
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// ValidateChannels checks channel configurations, returning every problem.
func ValidateChannels(cs []Channel) error {
	var errs []error
	seen := map[string]bool{}
	for i, c := range cs {
		bad := func(format string, args ...any) {
			errs = append(errs, fmt.Errorf("channel %d (%s): %s", i, c.Name, fmt.Sprintf(format, args...)))
		}
		if !nameRE.MatchString(c.Name) {
			bad("name: use 1 to 64 letters, digits, '-' or '_'")
		}
		if seen[c.Name] {
			bad("name is used twice")
		}
		seen[c.Name] = true
		for _, a := range c.Actions {
			if !slices.Contains(actions, a) {
				bad("actions: %q is not one of %s", a, strings.Join(actions, ", "))
			}
		}
		if c.Timeout < 0 {
			bad("timeout must be positive")
		}
		switch c.Type {
		case "webhook":
			u, err := url.Parse(c.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				bad("url: write http(s)://host/path")
			}
			if !slices.Contains([]string{"", "json", "dingtalk", "wecom"}, c.Format) {
				bad("format: %q is not one of json, dingtalk, wecom", c.Format)
			}
		case "mqtt":
			u, err := url.Parse(c.Broker)
			if err != nil || !slices.Contains([]string{"tcp", "mqtt", "ssl", "tls", "mqtts", "ws", "wss"}, u.Scheme) || u.Host == "" {
				bad("broker: write tcp://host:1883 or ssl://host:8883")
			}
			if strings.ContainsAny(c.TopicPrefix, "+#") {
				bad("topic_prefix must not contain + or #")
			}
		default:
			bad("type: %q is not one of webhook, mqtt", c.Type)
		}
	}
	return errors.Join(errs...)
}

// Notice is what a channel receives: the alert as it was after a step.
type Notice struct {
	Action     string          `json:"action"`
	DeliveryID string          `json:"delivery_id,omitempty"`
	Alert      telemetry.Alert `json:"alert"`
}

// sender delivers to one channel.
type sender interface {
	send(ctx context.Context, d *telemetry.Delivery, n *Notice) error
	close()
}

// Deliverer sends the outbox: each pending delivery until its channel
// takes it, with capped exponential backoff, across restarts.
type Deliverer struct {
	store    Store
	log      *slog.Logger
	channels map[string]*Channel
	senders  map[string]sender
	order    []string
	wake     chan struct{}

	mu       sync.Mutex
	inflight map[int64]bool
	// reads counts the outbox reads begun; finished holds, for each
	// attempt that ended, the count when it did. A read begun at or before
	// that may hold the delivery as it was before the attempt was recorded
	// (still pending, the old attempt count): it must not send it again.
	reads    uint64
	finished map[int64]uint64

	sent    *prometheus.CounterVec
	pending prometheus.Gauge
}

func newDeliverer(cs []Channel, st Store, log *slog.Logger, reg prometheus.Registerer) *Deliverer {
	d := &Deliverer{store: st, log: log, channels: map[string]*Channel{}, senders: map[string]sender{}, wake: make(chan struct{}, 1), inflight: map[int64]bool{}, finished: map[int64]uint64{},
		sent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "smarteye_alert_deliveries_total",
			Help: "Alert delivery attempts, by channel and result (delivered, failed)."}, []string{"channel", "result"}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{Name: "smarteye_alert_outbox_pending",
			Help: "Deliveries waiting in the outbox (not yet taken by their channel)."}),
	}
	for i := range cs {
		c := &cs[i]
		d.channels[c.Name] = c
		d.order = append(d.order, c.Name)
		switch c.Type {
		case "webhook":
			d.senders[c.Name] = &webhook{c: c, client: &http.Client{}}
		case "mqtt":
			d.senders[c.Name] = &mqttSender{c: c, log: log}
		}
	}
	if reg != nil {
		reg.MustRegister(d.sent, d.pending)
	}
	return d
}

func (d *Deliverer) names() []string { return slices.Clone(d.order) }

// kick wakes the deliverer: something was queued.
func (d *Deliverer) kick() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// backoff is the wait after the n-th failed attempt: 1 s doubling to
// 5 min, with ±20 % jitter so that many alerts do not retry in step.
func backoff(n int) time.Duration {
	b := time.Second << min(n-1, 9)
	b = min(b, 5*time.Minute)
	return time.Duration(float64(b) * (0.8 + 0.4*rand.Float64()))
}

func (d *Deliverer) run(ctx context.Context) {
	defer func() {
		for _, s := range d.senders {
			s.close()
		}
	}()
	if len(d.senders) == 0 {
		return
	}
	poll := time.NewTicker(time.Second)
	defer poll.Stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, 8) // attempts in flight at once
	for {
		d.mu.Lock()
		d.reads++
		read := d.reads
		for id, at := range d.finished {
			if at < read {
				delete(d.finished, id) // this read and later ones see its outcome
			}
		}
		d.mu.Unlock()
		qctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		due, err := d.store.DueDeliveries(qctx, 100)
		if n, err := d.store.PendingDeliveries(qctx); err == nil {
			d.pending.Set(float64(n))
		}
		cancel()
		if err != nil && ctx.Err() == nil {
			d.log.Debug("outbox not read", "err", err)
		}
		for i := range due {
			dl := due[i]
			d.mu.Lock()
			_, stale := d.finished[dl.ID]
			busy := d.inflight[dl.ID] || stale
			if !busy {
				d.inflight[dl.ID] = true
			}
			d.mu.Unlock()
			if busy {
				continue
			}
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer func() { <-slots }()
				d.attempt(ctx, &dl)
				d.mu.Lock()
				delete(d.inflight, dl.ID)
				d.finished[dl.ID] = d.reads
				d.mu.Unlock()
				d.kick() // the alert's next step may be due now
			}()
		}
		select {
		case <-ctx.Done():
			return
		case <-d.wake:
		case <-poll.C:
		}
	}
}

// attempt sends one delivery and records the outcome.
func (d *Deliverer) attempt(ctx context.Context, dl *telemetry.Delivery) {
	s, c := d.senders[dl.Channel], d.channels[dl.Channel]
	var err error
	if s == nil {
		err = fmt.Errorf("channel %q is not configured any more", dl.Channel)
	} else {
		var n Notice
		if err = json.Unmarshal(dl.Payload, &n); err == nil {
			n.DeliveryID = dl.DeliveryID.String()
			timeout := 10 * time.Second
			if c.Timeout > 0 {
				timeout = time.Duration(c.Timeout)
			}
			sctx, cancel := context.WithTimeout(ctx, timeout)
			err = s.send(sctx, dl, &n)
			cancel()
		}
	}
	if ctx.Err() != nil {
		return // shutting down: the delivery stays pending for the next start
	}
	mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	attempts := dl.Attempts + 1
	if err == nil {
		d.sent.WithLabelValues(dl.Channel, "delivered").Inc()
		if merr := d.store.MarkDelivered(mctx, dl.ID, attempts); merr != nil {
			// The channel has it but the outbox does not know: it will be
			// sent again with the same delivery id, which receivers use to
			// drop the repeat.
			d.log.Warn("delivered but not marked; it will be repeated with the same delivery id", "channel", dl.Channel, "delivery", dl.DeliveryID.String(), "err", merr)
		}
		d.log.Debug("alert delivered", "channel", dl.Channel, "action", dl.Action, "alert", dl.AlertID.String(), "attempts", attempts)
		return
	}
	d.sent.WithLabelValues(dl.Channel, "failed").Inc()
	next := time.Now().Add(backoff(attempts))
	if attempts == 1 || attempts%10 == 0 {
		d.log.Warn("alert delivery failed; retrying", "channel", dl.Channel, "alert", dl.AlertID.String(), "attempts", attempts, "next", next.Format(time.RFC3339), "err", err)
	}
	if merr := d.store.MarkFailed(mctx, dl.ID, attempts, next, err.Error()); merr != nil {
		d.log.Warn("delivery failure not recorded", "err", merr)
	}
}

// webhook posts to a URL.
type webhook struct {
	c      *Channel
	client *http.Client
}

func (w *webhook) close() { w.client.CloseIdleConnections() }

func (w *webhook) send(ctx context.Context, d *telemetry.Delivery, n *Notice) error {
	target := w.c.URL
	var body []byte
	var err error
	ts := time.Now()
	switch w.c.Format {
	case "dingtalk":
		text := markdown(n, false)
		body, err = json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"title": headline(n), "text": text}})
		if w.c.Secret != "" {
			// DingTalk's signed robots: sign = base64(HMAC-SHA256(secret,
			// timestamp "\n" secret)), timestamp in milliseconds.
			ms := strconv.FormatInt(ts.UnixMilli(), 10)
			m := hmac.New(sha256.New, []byte(w.c.Secret))
			m.Write([]byte(ms + "\n" + w.c.Secret))
			sep := "?"
			if strings.Contains(target, "?") {
				sep = "&"
			}
			target += sep + "timestamp=" + ms + "&sign=" + url.QueryEscape(base64.StdEncoding.EncodeToString(m.Sum(nil)))
		}
	case "wecom":
		body, err = json.Marshal(map[string]any{"msgtype": "markdown", "markdown": map[string]string{"content": markdown(n, true)}})
	default:
		body, err = json.Marshal(n)
	}
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "smarteye")
	req.Header.Set("X-Smarteye-Delivery", n.DeliveryID)
	req.Header.Set("X-Smarteye-Event", "alert."+n.Action)
	if w.c.Format == "" || w.c.Format == "json" {
		sec := strconv.FormatInt(ts.Unix(), 10)
		req.Header.Set("X-Smarteye-Timestamp", sec)
		if w.c.Secret != "" {
			req.Header.Set("X-Smarteye-Signature", "sha256="+Sign(w.c.Secret, sec, body))
		}
	}
	resp, err := w.client.Do(req)
	if err != nil {
		return fmt.Errorf("post: %w", redactURL(err, w.c.URL))
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("receiver answered %s: %.200s", resp.Status, reply)
	}
	if w.c.Format == "dingtalk" || w.c.Format == "wecom" {
		// The robots answer 200 with an error code in the body.
		var r struct {
			Code int    `json:"errcode"`
			Msg  string `json:"errmsg"`
		}
		if err := json.Unmarshal(reply, &r); err != nil {
			return fmt.Errorf("robot's answer is not JSON: %.200s", reply)
		}
		if r.Code != 0 {
			return fmt.Errorf("robot refused the message: errcode %d: %s", r.Code, r.Msg)
		}
	}
	return nil
}

// Sign is a JSON webhook's signature: hex HMAC-SHA256 over the
// X-Smarteye-Timestamp header, ".", and the body. Receivers recompute it
// and compare in constant time (and refuse old timestamps).
func Sign(secret, timestamp string, body []byte) string {
	m := hmac.New(sha256.New, []byte(secret))
	m.Write([]byte(timestamp))
	m.Write([]byte{'.'})
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// redactURL keeps a robot's access token (in its URL) out of errors.
func redactURL(err error, raw string) error {
	u, perr := url.Parse(raw)
	if perr != nil || u.RawQuery == "" {
		return err
	}
	return errors.New(strings.ReplaceAll(err.Error(), u.RawQuery, "…"))
}

func headline(n *Notice) string {
	a := &n.Alert
	return fmt.Sprintf("[%s] %s", strings.ToUpper(a.Severity), a.Title)
}

// markdown is a group-robot message: what, where, when, which step.
func markdown(n *Notice, wecom bool) string {
	a := &n.Alert
	var b strings.Builder
	title := headline(n)
	if wecom && a.Severity == telemetry.SeverityCritical {
		title = `<font color="warning">` + title + `</font>`
	}
	fmt.Fprintf(&b, "### %s\n", title)
	if a.Message != "" {
		fmt.Fprintf(&b, "%s\n\n", a.Message)
	}
	fmt.Fprintf(&b, "- step: %s\n- time: %s\n", n.Action, a.EventTime.UTC().Format("2006-01-02 15:04:05Z"))
	if a.CameraID != "" {
		fmt.Fprintf(&b, "- camera: %s\n", a.CameraID)
	}
	if a.VehicleID != "" {
		fmt.Fprintf(&b, "- vehicle: %s\n", a.VehicleID)
	}
	if a.Lat != nil && a.Lon != nil {
		fmt.Fprintf(&b, "- position: %.6f, %.6f\n", *a.Lat, *a.Lon)
	}
	team := a.Team
	if a.EscalatedTeam != "" {
		team = a.EscalatedTeam + " (escalated)"
	}
	if team != "" {
		fmt.Fprintf(&b, "- team: %s\n", team)
	}
	if a.Actor != "" && n.Action != "opened" {
		fmt.Fprintf(&b, "- by: %s", a.Actor)
		if a.Comment != "" {
			fmt.Fprintf(&b, " (%s)", a.Comment)
		}
		b.WriteString("\n")
	}
	fmt.Fprintf(&b, "- alert: %s\n", a.ID)
	return b.String()
}

// mqttSender publishes with QoS 1 and waits for the broker's PUBACK.
//
// Topics: <prefix>/alerts/<site>/<team>/<severity>, with "_" for an empty
// level (and topic wildcards and slashes in names replaced by "_"); the
// payload is the Notice as JSON. Subscribe to <prefix>/alerts/# for all,
// or <prefix>/alerts/+/north-field/# for one team.
type mqttSender struct {
	c   *Channel
	log *slog.Logger

	mu     sync.Mutex
	client mqtt.Client
}

// Topic is where a notice for a is published.
func Topic(prefix string, a *telemetry.Alert) string {
	if prefix == "" {
		prefix = "smarteye"
	}
	level := func(s string) string {
		if s == "" {
			return "_"
		}
		return strings.NewReplacer("/", "_", "+", "_", "#", "_").Replace(s)
	}
	team := a.Team
	if a.EscalatedTeam != "" {
		team = a.EscalatedTeam
	}
	return prefix + "/alerts/" + level(a.Site) + "/" + level(team) + "/" + level(a.Severity)
}

func (m *mqttSender) connect(ctx context.Context) (mqtt.Client, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client != nil && m.client.IsConnectionOpen() {
		return m.client, nil
	}
	if m.client != nil {
		m.client.Disconnect(0)
		m.client = nil
	}
	id := m.c.ClientID
	if id == "" {
		id = "smarteye-" + m.c.Name
	}
	o := mqtt.NewClientOptions().AddBroker(m.c.Broker).SetClientID(id).SetCleanSession(true).
		SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).SetWriteTimeout(10 * time.Second).
		SetOrderMatters(true).SetUsername(m.c.Username).SetPassword(m.c.Password)
	c := mqtt.NewClient(o)
	t := c.Connect()
	select {
	case <-t.Done():
	case <-ctx.Done():
		return nil, fmt.Errorf("connect to %s: %w", m.c.Broker, ctx.Err())
	}
	if err := t.Error(); err != nil {
		return nil, fmt.Errorf("connect to %s: %w", m.c.Broker, err)
	}
	m.client = c
	return c, nil
}

func (m *mqttSender) send(ctx context.Context, d *telemetry.Delivery, n *Notice) error {
	c, err := m.connect(ctx)
	if err != nil {
		return err
	}
	b, err := json.Marshal(n)
	if err != nil {
		return err
	}
	t := c.Publish(Topic(m.c.TopicPrefix, &n.Alert), 1, false, b)
	select {
	case <-t.Done():
	case <-ctx.Done():
		return fmt.Errorf("publish: no PUBACK from %s: %w", m.c.Broker, ctx.Err())
	}
	if err := t.Error(); err != nil {
		return fmt.Errorf("publish: %w", err)
	}
	return nil
}

func (m *mqttSender) close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.client != nil {
		m.client.Disconnect(250)
		m.client = nil
	}
}
