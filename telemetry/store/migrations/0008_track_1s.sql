-- One position per vehicle and second: the first fix of each second,
-- written by the store in the same transaction as the telemetry rows it
-- summarises (store.CopyBatch). Tracks downsampled to a second or coarser
-- (replay, a vehicle's history) read this instead of the raw 10-Hz rows:
-- an hour of a drone is 3,600 rows read in one range scan rather than
-- 36,000 rows or one index probe per bucket.
--
-- `second` is the second the point falls in and the table's time column
-- (it partitions); `time` is the point's own time. Retention follows
-- telemetry's (store.Maintain).
CREATE TABLE track_1s (
    second       timestamptz NOT NULL,
    vehicle_id   text NOT NULL,
    time         timestamptz NOT NULL,
    lat          double precision NOT NULL,
    lon          double precision NOT NULL,
    alt_msl      real,
    alt_rel      real,
    heading      real,
    ground_speed real,
    yaw          real,
    gimbal_pitch real,
    gimbal_yaw   real,
    PRIMARY KEY (vehicle_id, second)
){{if not .TimescaleDB}} PARTITION BY RANGE (second){{end}};
{{if .TimescaleDB}}
SELECT create_hypertable('track_1s', 'second', chunk_time_interval => INTERVAL '1 day');
ALTER TABLE track_1s SET (timescaledb.compress, timescaledb.compress_segmentby = 'vehicle_id');
{{else}}
-- A partition for every day telemetry has one, with the same bounds.
DO $$
DECLARE p record;
BEGIN
    FOR p IN SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) AS bound
        FROM pg_inherits i
        JOIN pg_class c ON c.oid = i.inhrelid
        JOIN pg_class t ON t.oid = i.inhparent
        WHERE t.relname = 'telemetry' AND c.relname LIKE 'telemetry\_p%'
    LOOP
        EXECUTE format('CREATE TABLE %I PARTITION OF track_1s %s',
            'track_1s_p' || substr(p.relname, length('telemetry_p') + 1), p.bound);
    END LOOP;
END $$;
{{end}}
INSERT INTO store_timeseries VALUES ('track_1s', 'second', 'vehicle_id');

-- The history written before this table existed.
INSERT INTO track_1s (second, vehicle_id, time, lat, lon, alt_msl, alt_rel, heading, ground_speed, yaw, gimbal_pitch, gimbal_yaw)
SELECT DISTINCT ON (vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'))
       date_bin('1 second', time, '2000-01-01 00:00:00+00'), vehicle_id, time, lat, lon,
       alt_msl, alt_rel, heading, ground_speed, yaw, gimbal_pitch, gimbal_yaw
FROM telemetry
WHERE lat IS NOT NULL AND lon IS NOT NULL
ORDER BY vehicle_id, date_bin('1 second', time, '2000-01-01 00:00:00+00'), time;
