-- Detections per 5 minutes per camera and class: the history charts and the
-- heat map read this instead of scanning raw detections.
--
-- TimescaleDB: a continuous aggregate refreshed by its own policy. Creating
-- one cannot run inside a transaction, hence the marker below.
-- PostgreSQL: a plain table that smarteye refreshes (store.refreshSummary).
-- Both have the same columns, so queries do not care which mode is in use.
{{if .TimescaleDB}}
-- smarteye:no-transaction
CREATE MATERIALIZED VIEW IF NOT EXISTS detections_5m
WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '5 minutes', time) AS bucket,
       camera_id,
       class,
       count(*)::bigint AS detections,
       avg(confidence)::real AS mean_confidence
FROM detections
GROUP BY 1, 2, 3
WITH NO DATA;
SELECT add_continuous_aggregate_policy('detections_5m',
    start_offset => INTERVAL '1 day',
    end_offset => INTERVAL '5 minutes',
    schedule_interval => INTERVAL '5 minutes',
    if_not_exists => true);
{{else}}
CREATE TABLE detections_5m (
    bucket          timestamptz NOT NULL,
    camera_id       text NOT NULL,
    class           text NOT NULL,
    detections      bigint NOT NULL,
    mean_confidence real NOT NULL,
    PRIMARY KEY (bucket, camera_id, class)
);
-- How far the summary has been refreshed.
CREATE TABLE store_summary_state (
    name      text PRIMARY KEY,
    refreshed timestamptz NOT NULL
);
{{end}}
