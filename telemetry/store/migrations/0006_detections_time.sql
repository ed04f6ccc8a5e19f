-- Replay reads a range's placed detections in time order across every
-- camera; the (camera_id, time) index cannot serve that, and a day's
-- partition was scanned whole. TimescaleDB's hypertables have a time index
-- already.
{{if .TimescaleDB}}
SELECT 1;
{{else}}
CREATE INDEX detections_time ON detections (time);
{{end}}
