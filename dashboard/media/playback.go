package media

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/ingest/record"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// Recordings is the recorded video's index and the queries replay reads
// (store.Store is one).
type Recordings interface {
	Recordings(ctx context.Context, camera string, from, to time.Time) ([]telemetry.Recording, error)
	RecordingByID(ctx context.Context, id int64) (telemetry.Recording, error)
	TrackVehicles(ctx context.Context, from, to time.Time) ([]string, error)
	Track(ctx context.Context, vehicle string, from, to time.Time, maxPoints int) ([]store.TrackPoint, error)
	EachEvent(ctx context.Context, from, to time.Time, camera, vehicle string, fn func(store.EventRecord) error) error
	EachPlacedDetection(ctx context.Context, from, to time.Time, limit int, fn func(store.PlacedDetection) error) (bool, error)
}

// maxPlaybackRange bounds one playlist (a day of one camera is 1,440
// one-minute segments).
const maxPlaybackRange = 24 * time.Hour

func (h *API) recordingsReady(w http.ResponseWriter) bool {
	if h.cfg.Recordings == nil || h.cfg.RecordingsDir == "" {
		api.WriteError(w, http.StatusServiceUnavailable, "no recordings: there is no recordings directory or database")
		return false
	}
	return true
}

func (h *API) historyReady(w http.ResponseWriter) bool {
	if h.cfg.Recordings == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return false
	}
	return true
}

// cameraRange reads {id} (a known camera) and from/to, at most max apart.
func (h *API) cameraRange(w http.ResponseWriter, r *http.Request, def, max time.Duration) (camera string, from, to time.Time, ok bool) {
	camera = r.PathValue("id")
	if !h.cameraKnown(camera) {
		api.WriteError(w, http.StatusNotFound, "no camera "+strconv.Quote(camera))
		return "", from, to, false
	}
	from, to, err := api.ParseRange(r, def)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return "", from, to, false
	}
	if to.Sub(from) > max {
		api.WriteError(w, http.StatusBadRequest, fmt.Sprintf("the range is longer than %s; ask for less", max))
		return "", from, to, false
	}
	return camera, from, to, true
}

// segments reads a camera's segments overlapping [from, to) (never nil).
func (h *API) segments(w http.ResponseWriter, r *http.Request, camera string, from, to time.Time) ([]telemetry.Recording, bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	segs, err := h.cfg.Recordings.Recordings(ctx, camera, from, to)
	if err != nil {
		h.log.Warn("recordings query failed", "camera", camera, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "recordings unavailable: the database did not answer")
		return nil, false
	}
	if segs == nil {
		segs = []telemetry.Recording{}
	}
	return segs, true
}

// ListRecordings is GET /api/v1/cameras/{id}/recordings?from=&to=: the segments and the gaps.
func (h *API) ListRecordings(w http.ResponseWriter, r *http.Request) {
	if !h.recordingsReady(w) {
		return
	}
	camera, from, to, ok := h.cameraRange(w, r, time.Hour, 31*24*time.Hour)
	if !ok {
		return
	}
	segs, ok := h.segments(w, r, camera, from, to)
	if !ok {
		return
	}
	gaps := record.Gaps(segs, from, to)
	if gaps == nil {
		gaps = []record.Gap{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"camera_id": camera, "from": from.UTC(), "to": to.UTC(), "segments": segs, "gaps": gaps,
		"playback": playbackURL(camera, from, to)})
}

func playbackURL(camera string, from, to time.Time) string {
	return fmt.Sprintf("/api/v1/cameras/%s/playback?from=%s&to=%s", camera, from.UTC().Format(time.RFC3339Nano), to.UTC().Format(time.RFC3339Nano))
}

// Playback is GET /api/v1/cameras/{id}/playback?from=&to=: an HLS playlist (fMP4)
// covering exactly the range, gaps marked.
func (h *API) Playback(w http.ResponseWriter, r *http.Request) {
	if !h.recordingsReady(w) {
		return
	}
	camera, from, to, ok := h.cameraRange(w, r, time.Hour, maxPlaybackRange)
	if !ok {
		return
	}
	segs, ok := h.segments(w, r, camera, from, to)
	if !ok {
		return
	}
	if len(segs) == 0 {
		api.WriteError(w, http.StatusNotFound, "nothing was recorded from "+camera+" in that range")
		return
	}
	w.Header().Set("Content-Type", "application/vnd.apple.mpegurl")
	w.Header().Set("Cache-Control", "no-store")
	// Relative to /api/v1/cameras/{id}/playback.
	record.Playlist(w, segs, from, to, func(sg telemetry.Recording, a, z time.Time) (string, string) {
		return fmt.Sprintf("../../recordings/%d/init.mp4", sg.ID),
			fmt.Sprintf("../../recordings/%d/media.m4s?from=%s&to=%s", sg.ID, a.UTC().Format(time.RFC3339Nano), z.UTC().Format(time.RFC3339Nano))
	})
}

// recordingByID reads {id}.
func (h *API) recordingByID(w http.ResponseWriter, r *http.Request) (telemetry.Recording, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 1 {
		api.WriteError(w, http.StatusNotFound, "no recording "+strconv.Quote(r.PathValue("id")))
		return telemetry.Recording{}, false
	}
	ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	rec, err := h.cfg.Recordings.RecordingByID(ctx, id)
	switch {
	case errors.Is(err, store.ErrNotFound):
		api.WriteError(w, http.StatusNotFound, "no recording "+strconv.FormatInt(id, 10))
		return rec, false
	case err != nil:
		api.WriteError(w, http.StatusServiceUnavailable, "recordings unavailable: the database did not answer")
		return rec, false
	}
	return rec, true
}

// RecordingInit is GET /api/v1/recordings/{id}/init.mp4: a segment's initialisation section.
func (h *API) RecordingInit(w http.ResponseWriter, r *http.Request) {
	if !h.recordingsReady(w) {
		return
	}
	rec, ok := h.recordingByID(w, r)
	if !ok {
		return
	}
	w.Header().Set("Content-Type", "video/mp4")
	w.Header().Set("Cache-Control", "private, max-age=86400, immutable")
	if err := record.WriteInit(w, h.cfg.RecordingsDir, rec); err != nil {
		h.recordingGone(w, rec, err)
	}
}

// RecordingMedia is GET /api/v1/recordings/{id}/media.m4s?from=&to=: a segment's fragments
// overlapping the range (all of them without one), from a keyframe.
func (h *API) RecordingMedia(w http.ResponseWriter, r *http.Request) {
	if !h.recordingsReady(w) {
		return
	}
	rec, ok := h.recordingByID(w, r)
	if !ok {
		return
	}
	from, to := rec.Start, rec.End.Add(time.Second)
	if r.URL.Query().Has("from") || r.URL.Query().Has("to") {
		var err error
		if from, to, err = api.ParseRange(r, rec.End.Sub(rec.Start)); err != nil {
			api.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
	}
	w.Header().Set("Content-Type", "video/iso.segment")
	w.Header().Set("Cache-Control", "private, max-age=86400")
	if err := record.WriteMedia(w, h.cfg.RecordingsDir, rec, from, to); err != nil {
		if errors.Is(err, record.ErrOutside) {
			api.WriteError(w, http.StatusRequestedRangeNotSatisfiable, "the range is outside this segment")
			return
		}
		h.recordingGone(w, rec, err)
	}
}

func (h *API) recordingGone(w http.ResponseWriter, rec telemetry.Recording, err error) {
	h.log.Warn("a recorded segment could not be read", "recording", rec.ID, "path", rec.Path, "err", err)
	api.WriteError(w, http.StatusGone, "the segment's file is gone or unreadable (deleted by retention?)")
}
