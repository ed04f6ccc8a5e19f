package dashboard

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/smarteye/smarteye/dashboard/internal/api"
	"github.com/smarteye/smarteye/telemetry"
	"github.com/smarteye/smarteye/telemetry/store"
)

// History is what the server reads of stored telemetry.
type History interface {
	Vehicles(ctx context.Context) ([]store.VehicleRecord, error)
	Track(ctx context.Context, vehicle string, from, to time.Time, maxPoints int) ([]store.TrackPoint, error)
	Events(ctx context.Context, q store.EventQuery) ([]store.EventRecord, error)
	Detections(ctx context.Context, q store.DetectionQuery) ([]store.DetectionRecord, error)
	PlacedDetections(ctx context.Context, from, to time.Time, bound [4]float64, camera string, limit int) ([]store.DetectionRecord, error)
	PlacedEvents(ctx context.Context, from, to time.Time, bound [4]float64, kind string, limit int) ([]store.EventRecord, error)
}

// Track limits.
const (
	defaultTrackPoints = 1000
	maxTrackPoints     = 20000
	defaultTrackRange  = time.Hour
)

// vehicles merges the live state with vehicles known only from history
// (heard before a restart): those are listed with their link lost.
func (s *Server) vehicles(ctx context.Context) ([]telemetry.Vehicle, error) {
	live := s.deps.Bus.Vehicles()
	if s.deps.History == nil {
		return live, nil
	}
	recs, err := s.deps.History.Vehicles(ctx)
	if err != nil {
		return live, err
	}
	for _, r := range recs {
		if slices.ContainsFunc(live, func(v telemetry.Vehicle) bool { return v.ID == r.ID }) {
			continue
		}
		v := telemetry.Vehicle{ID: r.ID, Name: r.Name, Link: r.Link, SystemID: uint8(r.SystemID), Type: r.Type, Autopilot: r.Autopilot, Discovered: r.Discovered,
			Health: telemetry.Health{State: telemetry.LinkLost}}
		if r.LastSeen != nil {
			v.Health.LastHeard = *r.LastSeen
			v.Updated = *r.LastSeen
		}
		live = append(live, v)
	}
	slices.SortFunc(live, func(a, b telemetry.Vehicle) int { return strings.Compare(a.ID, b.ID) })
	return live, nil
}

func (s *Server) listVehicles(w http.ResponseWriter, r *http.Request) {
	vs, err := s.vehicles(r.Context())
	if err != nil {
		s.log.Warn("vehicle history unavailable; listing live vehicles only", "err", err)
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"vehicles": vs})
}

func (s *Server) getVehicle(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	if v, ok := s.deps.Bus.Vehicle(id); ok {
		api.WriteJSON(w, http.StatusOK, v)
		return
	}
	vs, _ := s.vehicles(r.Context())
	for _, v := range vs {
		if v.ID == id {
			api.WriteJSON(w, http.StatusOK, v)
			return
		}
	}
	api.WriteError(w, http.StatusNotFound, "no vehicle "+strconv.Quote(id))
}

// vehicleKnown reports whether id is a vehicle live now or in history.
func (s *Server) vehicleKnown(ctx context.Context, id string) (bool, error) {
	if _, ok := s.deps.Bus.Vehicle(id); ok {
		return true, nil
	}
	recs, err := s.deps.History.Vehicles(ctx)
	if err != nil {
		return false, err
	}
	for _, v := range recs {
		if v.ID == id {
			return true, nil
		}
	}
	return false, nil
}

func (s *Server) vehicleTrack(w http.ResponseWriter, r *http.Request) {
	if s.deps.History == nil {
		api.WriteError(w, http.StatusServiceUnavailable, "no history store")
		return
	}
	id := r.PathValue("id")
	from, to, err := api.ParseRange(r, defaultTrackRange)
	if err != nil {
		api.WriteError(w, http.StatusBadRequest, err.Error())
		return
	}
	if known, err := s.vehicleKnown(r.Context(), id); err != nil {
		api.StoreFailed(s.log, w, r, "the track could not be read", err)
		return
	} else if !known {
		api.WriteError(w, http.StatusNotFound, "no vehicle "+strconv.Quote(id))
		return
	}
	n := defaultTrackPoints
	if s := r.URL.Query().Get("max_points"); s != "" {
		n, err = strconv.Atoi(s)
		if err != nil || n < 2 || n > maxTrackPoints {
			api.WriteError(w, http.StatusBadRequest, "max_points: a whole number from 2 to "+strconv.Itoa(maxTrackPoints))
			return
		}
	}
	ctx, cancel := context.WithTimeout(r.Context(), 30*time.Second)
	defer cancel()
	pts, err := s.deps.History.Track(ctx, id, from, to, n)
	if err != nil {
		s.log.Warn("track query failed", "vehicle", id, "err", err)
		api.WriteError(w, http.StatusServiceUnavailable, "track unavailable: the database did not answer")
		return
	}
	if pts == nil {
		pts = []store.TrackPoint{}
	}
	api.WriteJSON(w, http.StatusOK, map[string]any{"vehicle": id, "from": from.UTC(), "to": to.UTC(), "max_points": n, "points": pts})
}
