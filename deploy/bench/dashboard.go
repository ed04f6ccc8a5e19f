package main

import (
	"context"
	"time"
)

var dashboardBench bool

// benchDashboard: the live feed's fan-out, then the browser's figures.
func benchDashboard(ctx context.Context, runs int) (string, error) {
	out, err := benchFanout(ctx, 20*time.Second)
	if err != nil {
		return "", err
	}
	return out, nil
}
