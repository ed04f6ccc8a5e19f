-- Events the alert engine turned into an alert by a rule, opened or
-- folded into one: in a cluster an event whose acknowledgement was lost (the engine's
-- node died after storing, before acknowledging) is delivered again, and
-- it must neither open a second alert nor count twice. Written in the
-- same transaction as the alert or its count; kept a week.
CREATE TABLE alert_inputs (
    event_id uuid NOT NULL,
    rule_id  text NOT NULL,
    alert_id uuid NOT NULL,
    at       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (event_id, rule_id)
);
CREATE INDEX alert_inputs_at ON alert_inputs (at);
