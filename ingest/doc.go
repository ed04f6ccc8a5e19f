// Package ingest is the home of smarteye's inputs: RTSP video (ingest/rtsp,
// ingest/decode), MAVLink telemetry (ingest/mavlink), recording
// (ingest/record) and the simulated drones and cameras of the demo
// (ingest/sim). Each converts at its boundary to the types of telemetry and
// vision and never writes to the database directly: rows go through the
// store's batch writer.
package ingest
