-- Trends: counts per camera, camera zone and geofence, per class, in
-- 5-minute, hourly and daily buckets, kept by smarteye in both modes
-- (store.RefreshTrends). They outlive the raw rows' retention.
--
-- Maintained incrementally: every transaction that writes detections,
-- events or alerts also appends the 5-minute buckets it wrote to
-- trends_dirty, with the table it wrote. A refresh takes the committed
-- rows, recomputes exactly those buckets from the raw rows (detections
-- through detections_5m, which it recomputes only where detections were
-- written), and deletes the rows it took in the same transaction as the
-- recompute. A recompute replaces a bucket, never adds to it, so a late
-- batch (an imported old flight, a spool replayed after an outage) counts
-- exactly once however often a refresh is interrupted or repeated.

CREATE TABLE trends_dirty (
    id        bigserial PRIMARY KEY,
    source    text NOT NULL,                        -- detections, events, alerts
    from_time timestamptz NOT NULL,
    to_time   timestamptz NOT NULL                  -- inclusive
);

-- scope: camera (name ''), zone (a camera's image zone: camera_id + name),
-- fence (a geofence: name is its id, camera_id '') or site (alerts on
-- something of no camera, a vehicle: both '').
-- detections: detector boxes (camera scope); entries and exits: track
-- starts and ends (camera), zone or fence enters and exits; dwell_s and
-- dwell_n: the summed stay of the exits and how many; peak: the most
-- inside a zone at once, as its events reported; breaches: geofence
-- breaches; alerts: alerts opened on the scope's events.
CREATE TABLE trends_5m (
    bucket     timestamptz NOT NULL,
    scope      text NOT NULL CHECK (scope IN ('camera', 'zone', 'fence', 'site')),
    camera_id  text NOT NULL DEFAULT '',
    name       text NOT NULL DEFAULT '',
    class      text NOT NULL DEFAULT '',
    site_id    text NOT NULL DEFAULT '',
    detections bigint NOT NULL DEFAULT 0,
    entries    bigint NOT NULL DEFAULT 0,
    exits      bigint NOT NULL DEFAULT 0,
    dwell_s    double precision NOT NULL DEFAULT 0,  -- seconds, summed
    dwell_n    bigint NOT NULL DEFAULT 0,
    peak       integer NOT NULL DEFAULT 0,
    breaches   bigint NOT NULL DEFAULT 0,
    alerts     bigint NOT NULL DEFAULT 0,
    PRIMARY KEY (bucket, scope, camera_id, name, class)
);
CREATE INDEX trends_5m_key ON trends_5m (scope, camera_id, name, bucket);
CREATE INDEX trends_5m_site ON trends_5m (site_id, scope, bucket);

-- Hourly (UTC hours) and daily (midnight to midnight in the site's time
-- zone) rollups of trends_5m, with the same columns.
CREATE TABLE trends_1h (LIKE trends_5m INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE trends_1h ADD PRIMARY KEY (bucket, scope, camera_id, name, class);
CREATE INDEX trends_1h_key ON trends_1h (scope, camera_id, name, bucket);
CREATE INDEX trends_1h_site ON trends_1h (site_id, scope, bucket);
CREATE TABLE trends_1d (LIKE trends_5m INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE trends_1d ADD PRIMARY KEY (bucket, scope, camera_id, name, class);
CREATE INDEX trends_1d_key ON trends_1d (scope, camera_id, name, bucket);
CREATE INDEX trends_1d_site ON trends_1d (site_id, scope, bucket);

-- Alerts are counted by the time of their event.
CREATE INDEX alerts_event_time ON alerts (event_time);

-- Everything written before this migration is dirty once, each table's
-- span (all of it still kept).
INSERT INTO trends_dirty (source, from_time, to_time)
SELECT 'detections', min(time), max(time) FROM detections HAVING count(*) > 0;
INSERT INTO trends_dirty (source, from_time, to_time)
SELECT 'events', min(time), max(time) FROM events HAVING count(*) > 0;
INSERT INTO trends_dirty (source, from_time, to_time)
SELECT 'alerts', min(event_time), max(event_time) FROM alerts HAVING count(*) > 0;
