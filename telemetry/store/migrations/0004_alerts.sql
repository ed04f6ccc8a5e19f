-- Alerts as the rules engine makes them: what was matched, how often
-- (matches within a rule's cooldown fold into one alert), escalation, and
-- the evidence; the outbox that delivers them; rules made through the API.
ALTER TABLE alerts
    ADD COLUMN event_kind     text NOT NULL DEFAULT '',
    ADD COLUMN rule_name      text NOT NULL DEFAULT '',
    ADD COLUMN track_id       bigint,
    ADD COLUMN received       timestamptz,              -- when the triggering frame or message reached smarteye
    ADD COLUMN dedup_key      text NOT NULL DEFAULT '', -- rule|subject: later matches within the cooldown fold in
    ADD COLUMN occurrences    bigint NOT NULL DEFAULT 1,
    ADD COLUMN last_seen      timestamptz NOT NULL DEFAULT now(),
    ADD COLUMN escalated_team text,
    ADD COLUMN escalated_at   timestamptz,
    ADD COLUMN event          jsonb;                    -- the triggering event
CREATE INDEX alerts_dedup_seen ON alerts (dedup_key, last_seen DESC);
CREATE INDEX alerts_escalation ON alerts (created_at) WHERE status = 'open' AND escalated_at IS NULL;

-- The triggering frame with its box drawn (JPEG), and a small copy for
-- phones on slow links.
CREATE TABLE alert_snapshots (
    alert_id uuid PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    jpeg     bytea NOT NULL,
    thumb    bytea
);

-- Persist first, then deliver: one row per alert step per channel, written
-- in the transaction that makes the step, marked delivered once the channel
-- took it. delivery_id is sent along so a receiver can drop a repeat.
CREATE TABLE alert_outbox (
    id           bigserial PRIMARY KEY,
    delivery_id  uuid NOT NULL UNIQUE,
    alert_id     uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    channel      text NOT NULL,
    action       text NOT NULL,                         -- opened, escalated, acknowledged, resolved, dismissed
    payload      jsonb NOT NULL,                        -- the alert as it was at this step
    status       text NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'delivered')),
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz NOT NULL DEFAULT now(),
    last_error   text,
    created_at   timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz
);
CREATE INDEX alert_outbox_due ON alert_outbox (next_attempt) WHERE status = 'pending';
CREATE INDEX alert_outbox_alert ON alert_outbox (alert_id, id);

-- Rules made through the API (those in the configuration file live there).
CREATE TABLE alert_rules (
    id         text PRIMARY KEY,
    rule       jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now()
);
