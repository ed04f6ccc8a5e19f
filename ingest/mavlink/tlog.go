package mavlink

import (
	"context"
	"errors"
	"io"
	"slices"
	"time"

	"github.com/bluenviron/gomavlib/v3/pkg/dialects/ardupilotmega"
	"github.com/bluenviron/gomavlib/v3/pkg/message"
	"github.com/bluenviron/gomavlib/v3/pkg/tlog"
)

// Telemetry logs (.tlog, as QGroundControl and Mission Planner write them)
// are frames each preceded by a big-endian microsecond Unix timestamp.

// maxLogErrors is how many unreadable entries in a row end a log: past
// that it is not a telemetry log.
const maxLogErrors = 1000

// LogScan is what a first pass over a log found.
type LogScan struct {
	Frames uint64
	Errors uint64
	// Vehicles are the system ids that sent an autopilot HEARTBEAT, in
	// order of appearance.
	Vehicles []uint8
	// First and Last are the first and last entries' times.
	First, Last time.Time
}

// entries reads a log's entries, skipping unreadable ones and entries with
// impossible timestamps; fn returning an error stops it.
func entries(r io.Reader, fn func(e *tlog.Entry) error) (frames, errs uint64, err error) {
	tr := &tlog.Reader{ByteReader: r}
	if err := tr.Initialize(); err != nil {
		return 0, 0, err
	}
	lo, hi := time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC), time.Now().Add(48*time.Hour)
	run := 0
	for {
		e, err := tr.Read()
		switch {
		case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
			return frames, errs, nil
		case err != nil:
			errs++
			if run++; run > maxLogErrors {
				return frames, errs, errors.New("not a telemetry log: too many unreadable entries in a row")
			}
			continue
		case e.Time.Before(lo) || e.Time.After(hi):
			errs++
			continue
		}
		run = 0
		frames++
		if err := fn(e); err != nil {
			return frames, errs, err
		}
	}
}

// ScanLog lists the vehicles in a log.
func ScanLog(r io.Reader) (LogScan, error) {
	var s LogScan
	var err error
	s.Frames, s.Errors, err = entries(r, func(e *tlog.Entry) error {
		if s.First.IsZero() {
			s.First = e.Time
		}
		s.Last = e.Time
		raw, ok := e.Frame.GetMessage().(*message.MessageRaw)
		if !ok || raw.ID != 0 || slices.Contains(s.Vehicles, e.Frame.GetSystemID()) {
			return nil
		}
		msg, err := dialectRW.GetMessage(0).Read(raw, true)
		if err != nil {
			return nil
		}
		if hb := msg.(*ardupilotmega.MessageHeartbeat); isVehicle(hb.Type, hb.Autopilot) {
			s.Vehicles = append(s.Vehicles, e.Frame.GetSystemID())
		}
		return nil
	})
	return s, err
}

// LogResult is what ReadLog read.
type LogResult struct {
	Frames, Errors uint64
	First, Last    time.Time
}

// ReadLog feeds a log's frames through a Processor, at the log's own
// timestamps: samples are stored at the recorded times.
func ReadLog(ctx context.Context, r io.Reader, cfg ProcessorConfig, sink Sink) (LogResult, error) {
	if cfg.LinkTimeout <= 0 {
		cfg.LinkTimeout = 5 * time.Second
	}
	p := NewProcessor(cfg, sink)
	var res LogResult
	var nextTick time.Time
	var err error
	res.Frames, res.Errors, err = entries(r, func(e *tlog.Entry) error {
		if res.First.IsZero() {
			res.First = e.Time
			nextTick = e.Time.Add(time.Second)
		}
		for !e.Time.Before(nextTick) {
			p.Tick(nextTick)
			nextTick = nextTick.Add(time.Second)
			if e.Time.Sub(nextTick) > time.Minute { // a gap in the log
				nextTick = e.Time
			}
		}
		res.Last = e.Time
		p.Frame(e.Frame, e.Time)
		return ctx.Err()
	})
	if !res.Last.IsZero() {
		p.Tick(res.Last.Add(time.Second))
	}
	return res, err
}
