// Package alert turns events into alerts a person must see, and makes
// sure they arrive.
//
// A [Rule] names a condition over events and vehicle states (intrusion
// into a zone or geofence, a crowd held for a while, dwelling, a vehicle's
// geofence breach, low battery, a lost link, a stream down), a severity, a
// team, a cooldown and a schedule. The [Evaluator] applies the rules; it
// is pure (time comes from the events and from Tick), so it is tested by
// tables. The [Engine] runs the evaluator on the live feed, persists each
// new alert with its evidence and its deliveries in one transaction (the
// outbox) and only then publishes it; a [Deliverer] sends the outbox to
// webhooks (plain JSON signed with HMAC-SHA256, DingTalk and WeCom group
// robots) and MQTT (QoS 1), retrying with backoff until each channel has
// taken it, across restarts.
//
// The package owns no HTTP: the dashboard serves rules and alerts through
// the Engine's methods. It must not block the live feed: events reach it
// through a bounded subscription whose drops are counted.
package alert
