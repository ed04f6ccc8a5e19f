-- smarteye core schema.
--
-- Rendered with Go's text/template before it runs: "if .TimescaleDB" picks
-- the TimescaleDB form, otherwise the plain-PostgreSQL form (native range
-- partitioning by day; smarteye creates and drops the partitions itself).
-- Time-series tables register themselves in store_timeseries so that
-- retention, compression and partition upkeep find them.
-- Units are in the column names' comments; positions are WGS 84 degrees.

CREATE EXTENSION IF NOT EXISTS postgis;

-- Which tables are time series, and how to keep them.
CREATE TABLE store_timeseries (
    table_name  text PRIMARY KEY,
    time_column text NOT NULL,
    segment_by  text             -- TimescaleDB compression segment column
);

-- Batches the writer has committed: a replayed batch whose id is here was
-- already written (the commit succeeded but its acknowledgement was lost).
CREATE TABLE store_batches (
    id          uuid PRIMARY KEY,
    table_name  text NOT NULL,
    rows        integer NOT NULL,
    written_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_batches_written_at ON store_batches (written_at);

CREATE TABLE sites (
    id          text PRIMARY KEY,
    name        text NOT NULL,
    boundary    geometry(Polygon, 4326),
    elevation   double precision NOT NULL DEFAULT 0,  -- metres above mean sea level of the ground
    timezone    text NOT NULL DEFAULT 'UTC',
    synthetic   boolean NOT NULL DEFAULT false,        -- generated (demo) data, labelled as such
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sites_boundary ON sites USING gist (boundary);

CREATE TABLE cameras (
    id          text PRIMARY KEY,
    site_id     text REFERENCES sites (id) ON DELETE SET NULL,
    name        text NOT NULL,
    kind        text NOT NULL CHECK (kind IN ('fixed', 'drone')),
    url         text,                                  -- RTSP URL without credentials
    vehicle_id  text,                                  -- drone cameras: the vehicle carrying it
    position    geometry(Point, 4326),                 -- fixed cameras
    calibration jsonb,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX cameras_position ON cameras USING gist (position);

CREATE TABLE vehicles (
    id           text PRIMARY KEY,
    site_id      text REFERENCES sites (id) ON DELETE SET NULL,
    name         text NOT NULL,
    link         text NOT NULL,
    system_id    integer NOT NULL CHECK (system_id BETWEEN 1 AND 255),
    vehicle_type text,
    autopilot    text,
    discovered   boolean NOT NULL DEFAULT false,       -- appeared on a link without being configured
    first_seen   timestamptz,
    last_seen    timestamptz,
    UNIQUE (link, system_id)
);

CREATE TABLE telemetry (
    time              timestamptz NOT NULL,
    vehicle_id        text NOT NULL,
    lat               double precision,                -- degrees; NULL without a 3D fix, never (0, 0)
    lon               double precision,                -- degrees
    alt_msl           real,                            -- metres above mean sea level
    alt_rel           real,                            -- metres above home
    heading           real,                            -- degrees, 0 = north, clockwise
    roll              real,                            -- degrees
    pitch             real,                            -- degrees
    yaw               real,                            -- degrees
    ground_speed      real,                            -- m/s
    climb_rate        real,                            -- m/s, up positive
    battery_voltage   real,                            -- volts
    battery_remaining real,                            -- percent
    mode              text,
    armed             boolean,
    gps_fix           smallint,                        -- MAVLink GPS_FIX_TYPE
    satellites        smallint,
    eph               real,                            -- metres, horizontal position error
    gimbal_pitch      real,                            -- degrees, down negative
    gimbal_yaw        real,                            -- degrees, relative to the vehicle's heading
    geom              geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
){{if not .TimescaleDB}} PARTITION BY RANGE (time){{end}};
CREATE INDEX telemetry_vehicle_time ON telemetry (vehicle_id, time DESC);
CREATE INDEX telemetry_geom ON telemetry USING gist (geom);

CREATE TABLE detections (
    time           timestamptz NOT NULL,
    camera_id      text NOT NULL,
    track_id       bigint,
    class          text NOT NULL,
    confidence     real NOT NULL,                      -- 0..1
    box_x          real NOT NULL,                      -- pixels, top-left corner
    box_y          real NOT NULL,
    box_w          real NOT NULL,
    box_h          real NOT NULL,
    lat            double precision,                   -- ground position of the box's bottom centre
    lon            double precision,
    position_error real,                               -- metres, one sigma
    geo_status     text,                               -- ok, above_horizon, outside_footprint, uncalibrated
    geom           geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
){{if not .TimescaleDB}} PARTITION BY RANGE (time){{end}};
CREATE INDEX detections_camera_time ON detections (camera_id, time DESC);
CREATE INDEX detections_geom ON detections USING gist (geom);

CREATE TABLE events (
    time        timestamptz NOT NULL,
    id          uuid NOT NULL,
    site_id     text,
    kind        text NOT NULL,                         -- e.g. stream.down, link.lost, geofence.enter
    camera_id   text,
    vehicle_id  text,
    track_id    bigint,
    lat         double precision,
    lon         double precision,
    message     text,
    data        jsonb,
    geom        geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
){{if not .TimescaleDB}} PARTITION BY RANGE (time){{end}};
CREATE INDEX events_time ON events (time DESC);
CREATE INDEX events_kind_time ON events (kind, time DESC);
CREATE INDEX events_id ON events (id);
CREATE INDEX events_geom ON events USING gist (geom);

{{if .TimescaleDB}}
-- One-day chunks; compressed segments keep one vehicle's or camera's rows together.
SELECT create_hypertable('telemetry', 'time', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('detections', 'time', chunk_time_interval => INTERVAL '1 day');
SELECT create_hypertable('events', 'time', chunk_time_interval => INTERVAL '1 day');
ALTER TABLE telemetry SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id');
ALTER TABLE detections SET (timescaledb.compress, timescaledb.compress_segmentby = 'camera_id');
ALTER TABLE events SET (timescaledb.compress, timescaledb.compress_segmentby = 'kind');
{{end}}
INSERT INTO store_timeseries VALUES
    ('telemetry', 'time', 'vehicle_id'),
    ('detections', 'time', 'camera_id'),
    ('events', 'time', 'kind');

CREATE TABLE alerts (
    id            uuid PRIMARY KEY,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    event_time    timestamptz NOT NULL,
    event_id      uuid,
    rule_id       text,
    site_id       text,
    camera_id     text,
    vehicle_id    text,
    severity      text NOT NULL CHECK (severity IN ('info', 'warning', 'critical')),
    team          text,
    status        text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved', 'dismissed')),
    title         text NOT NULL,
    message       text,
    lat           double precision,
    lon           double precision,
    snapshot_path text,
    geom          geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX alerts_status_created ON alerts (status, created_at DESC);
CREATE INDEX alerts_team_created ON alerts (team, created_at DESC);
CREATE INDEX alerts_geom ON alerts USING gist (geom);

-- Every step of every alert: who did what, when, and why.
CREATE TABLE alert_log (
    id        bigserial PRIMARY KEY,
    alert_id  uuid NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    time      timestamptz NOT NULL DEFAULT now(),
    action    text NOT NULL,                           -- opened, acknowledged, resolved, dismissed, escalated, delivered
    actor     text NOT NULL,
    comment   text,
    data      jsonb
);
CREATE INDEX alert_log_alert_time ON alert_log (alert_id, time);

-- Every change a person or the API made.
CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    time        timestamptz NOT NULL DEFAULT now(),
    actor       text NOT NULL,
    action      text NOT NULL,
    object_type text,
    object_id   text,
    detail      jsonb,
    remote_addr text
);
CREATE INDEX audit_log_time ON audit_log (time DESC);
CREATE INDEX audit_log_object ON audit_log (object_type, object_id, time DESC);
