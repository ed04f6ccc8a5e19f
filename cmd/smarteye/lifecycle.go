package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/smarteye/smarteye/telemetry"
)

// component is a long-running part of smarteye.
type component struct {
	name string
	run  func(context.Context) error // returns nil when its context ends
}

// runAll runs the components until ctx ends or one of them returns, then
// stops them in reverse order of start, each only after the one started
// after it has returned. Every component gets its own context so that this
// order holds even though ctx ends for all at once.
func runAll(ctx context.Context, log *slog.Logger, board *telemetry.Board, comps ...component) error {
	type exit struct {
		i   int
		err error
	}
	cancels := make([]context.CancelFunc, len(comps))
	dones := make([]chan error, len(comps))
	exited := make(chan exit, len(comps))
	for i, c := range comps {
		cctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		cancels[i], dones[i] = cancel, make(chan error, 1)
		// Running as far as the lifecycle knows; components with more to
		// say (store, writer, database) refine it on the board.
		board.Set(c.name, telemetry.StateOK, "running")
		go func() {
			err := c.run(cctx)
			dones[i] <- err
			exited <- exit{i, err}
		}()
	}

	var errs []error
	select {
	case <-ctx.Done():
		log.Info("shutting down")
	case e := <-exited:
		// Nothing should return before it is told to.
		err := e.err
		if err == nil {
			err = errors.New("exited unexpectedly")
		}
		errs = append(errs, fmt.Errorf("%s: %w", comps[e.i].name, err))
		log.Error("component stopped; shutting down", "component", comps[e.i].name, "err", err)
	}
	for i := len(comps) - 1; i >= 0; i-- {
		cancels[i]()
		if err := <-dones[i]; err != nil && !errors.Is(err, context.Canceled) {
			if len(errs) == 0 || !errors.Is(errs[0], err) {
				errs = append(errs, fmt.Errorf("%s: %w", comps[i].name, err))
			}
		}
		board.Set(comps[i].name, telemetry.StateStopped, "")
		log.Debug("stopped", "component", comps[i].name)
	}
	return errors.Join(errs...)
}
