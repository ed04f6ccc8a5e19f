package config

import "github.com/smarteye/smarteye/telemetry"

// Duration and Size are the components' one duration and size types.
type (
	Duration = telemetry.Duration
	Size     = telemetry.Size
)

// ParseDuration and ParseSize read them.
var (
	ParseDuration = telemetry.ParseDuration
	ParseSize     = telemetry.ParseSize
)
