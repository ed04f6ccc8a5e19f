package main

import (
	"context"
	"time"
)

var dashboardBench bool

// benchDashboard: the live feed's fan-out, then the browser's figures.
func benchDashboard(ctx context.Context, root string) (string, error) {
	out, err := benchFanout(ctx, 20*time.Second)
	if err != nil {
		return "", err
	}
	br, err := benchBrowser(ctx, root)
	if err != nil {
		return "", err
	}
	return out + br, nil
}
