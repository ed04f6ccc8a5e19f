// Command smarteye is the drone-and-video situational-awareness platform:
// one binary that ingests RTSP video and MAVLink telemetry, detects and
// geolocates what the cameras see, stores it, and serves the dashboard.
//
//	smarteye serve -c smarteye.yml   run with a configuration file
//	smarteye demo                    run on the embedded defaults
//	smarteye migrate -c smarteye.yml apply database migrations and exit
//	smarteye version                 print the version
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	v := "dev"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
			if s.Key == "vcs.modified" && s.Value == "true" {
				v += "-dirty"
			}
		}
	}
	return v
}

const usage = `smarteye: drone and video situational awareness

Usage:
  smarteye serve [-c FILE] [--http ADDR] [--data-dir DIR]   run the platform
  smarteye demo [--http ADDR] [--data-dir DIR]               run on the embedded defaults
  smarteye migrate [-c FILE] [--data-dir DIR]                apply database migrations and exit
  smarteye version                                           print the version

The configuration file is documented in deploy/smarteye.yml. Without -c the
built-in defaults apply: HTTP on 127.0.0.1:8080, data in ./var, and an
embedded PostgreSQL cluster.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("smarteye "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfgPath, httpAddr, dataDir string
	switch cmd {
	case "serve", "migrate":
		fs.StringVar(&cfgPath, "c", "", "configuration file (see deploy/smarteye.yml)")
		fs.StringVar(&cfgPath, "config", "", "same as -c")
	case "demo":
	case "version":
		fmt.Fprintln(stdout, "smarteye", versionString())
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "smarteye: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if cmd != "migrate" {
		fs.StringVar(&httpAddr, "http", "", "HTTP address (default from config: 127.0.0.1:8080)")
	}
	fs.StringVar(&dataDir, "data-dir", "", "data directory (default from config: ./var)")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "smarteye %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}

	cfg, err := config.Load(cfgPath)
	if err == nil {
		if httpAddr != "" {
			cfg.HTTP.Address = httpAddr
		}
		if dataDir != "" {
			cfg.DataDir = dataDir
		}
		err = cfg.Validate()
	}
	if err != nil {
		fmt.Fprintln(stderr, "smarteye:", err)
		return 2
	}
	log := newLogger(cfg.Log, stderr)

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		// After the first signal, a second one gets the default action:
		// a user who presses Ctrl-C twice means it.
		<-ctx.Done()
		stop()
	}()

	switch cmd {
	case "migrate":
		err = migrate(ctx, cfg, log, stdout)
	default:
		err = serve(ctx, cfg, log, stdout, cmd == "demo")
	}
	if err != nil {
		log.Error("smarteye stopped", "err", err)
		return 1
	}
	return 0
}

func newLogger(c config.Log, w io.Writer) *slog.Logger {
	var level slog.Level
	_ = level.UnmarshalText([]byte(c.Level))
	opts := &slog.HandlerOptions{Level: level}
	if c.Format == "json" {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}
