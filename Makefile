# smarteye — the two commands a user needs are `make demo` and `make test`.
GO      ?= go
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS := -X main.version=$(VERSION)
BIN     := bin/smarteye

.PHONY: all build demo test vet bench soak fuzz deps clean

all: build

# Debian packages (PostgreSQL 15, PostGIS, build tools), npm packages, the
# sample footage and the trained detector (var/models); quick when present.
deps:
	@bash deploy/install-deps.sh

build: deps
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/smarteye

# Runs smarteye on its embedded defaults with its own PostgreSQL in ./var.
demo: build
	./$(BIN) demo --data-dir ./var

# matprofile makes gocv count open Mats; the vision and decoder tests
# assert that none is leaked.
TAGS ?= matprofile

vet:
	$(GO) vet -tags $(TAGS) ./...

# Every test, with the race detector. Tests start their own PostgreSQL.
# The browser tests leave their screenshots in var/test-artifacts.
# The end-to-end tests (cmd/smarteye: the real binary, browsers playing
# the demo's video) run first and alone: on a 2-core machine the vision
# packages' tests beside them starve the browsers. Both runs always run;
# either failing fails the target.
TESTENV := TEST_ARTIFACTS=$(CURDIR)/var/test-artifacts DETECTOR_MODELS=$(CURDIR)/var/models
test: deps vet
	@status=0; \
	$(TESTENV) $(GO) test -race -tags $(TAGS) -count=1 -timeout 30m ./cmd/smarteye/ || status=1; \
	$(TESTENV) $(GO) test -race -tags $(TAGS) -count=1 -timeout 30m $$($(GO) list ./... | grep -v '/cmd/smarteye$$') || status=1; \
	(cd deploy/validate && $(GO) test -count=1 ./...) || status=1; \
	exit $$status

# Each fuzz target for FUZZTIME (default 30s); the seed corpora run in `make test`.
FUZZTIME ?= 30s
fuzz:
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeBatch$$' -fuzztime $(FUZZTIME) ./telemetry/store/batch/
	$(GO) test -run '^$$' -fuzz '^FuzzPlacedDecoder$$' -fuzztime $(FUZZTIME) ./telemetry/store/history/
	$(GO) test -run '^$$' -fuzz '^FuzzColumnLine$$' -fuzztime $(FUZZTIME) ./dashboard/media/
	$(GO) test -run '^$$' -fuzz '^FuzzParseFenceFeature$$' -fuzztime $(FUZZTIME) ./geo/
	$(GO) test -run '^$$' -fuzz '^FuzzParseDuration$$' -fuzztime $(FUZZTIME) ./telemetry/
	$(GO) test -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME) ./cmd/smarteye/internal/config/
	$(GO) test -run '^$$' -fuzz '^FuzzFrames$$' -fuzztime $(FUZZTIME) ./ingest/mavlink/
	$(GO) test -run '^$$' -fuzz '^FuzzReadLog$$' -fuzztime $(FUZZTIME) ./ingest/mavlink/
	$(GO) test -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) ./ingest/mavlink/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeH264$$' -fuzztime $(FUZZTIME) ./ingest/decode/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeYOLO$$' -fuzztime $(FUZZTIME) ./vision/
	$(GO) test -run '^$$' -fuzz '^FuzzDecodeNanoDet$$' -fuzztime $(FUZZTIME) ./vision/
	$(GO) test -run '^$$' -fuzz '^FuzzConvert$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 2s ./vision/models/tfjs/
	$(GO) test -run '^$$' -fuzz '^FuzzScan$$' -fuzztime $(FUZZTIME) ./ingest/record/
	$(GO) test -run '^$$' -fuzz '^FuzzRule$$' -fuzztime $(FUZZTIME) ./telemetry/alert/
	$(GO) test -run '^$$' -fuzz '^FuzzParseClassNames$$' -fuzztime $(FUZZTIME) ./vision/
	$(GO) test -run '^$$' -fuzz '^FuzzDarknetWeights$$' -fuzztime $(FUZZTIME) ./vision/
	$(GO) test -tags $(TAGS) -run '^$$' -fuzz '^FuzzReadMsg$$' -fuzztime $(FUZZTIME) ./vision/cv/
	$(GO) test -run '^$$' -fuzz '^FuzzJPEGSize$$' -fuzztime $(FUZZTIME) ./ingest/rtsp/
	$(GO) test -run '^$$' -fuzz '^FuzzReadFence$$' -fuzztime $(FUZZTIME) ./dashboard/
	$(GO) test -run '^$$' -fuzz '^FuzzMuxer$$' -fuzztime $(FUZZTIME) ./ingest/live/
	$(GO) test -run '^$$' -fuzz '^FuzzCheckPassword$$' -fuzztime $(FUZZTIME) ./dashboard/
	$(GO) test -run '^$$' -fuzz '^FuzzTrendQuery$$' -fuzztime $(FUZZTIME) ./dashboard/
	$(GO) test -run '^$$' -fuzz '^FuzzForecastEvent$$' -fuzztime $(FUZZTIME) ./telemetry/alert/

# Benchmarks against their baselines; writes BENCHMARKS.md.
bench:
	@bash deploy/install-deps.sh
	$(GO) run ./deploy/bench -out BENCHMARKS.md

# The soak: the real binary for 20 minutes under faults (PostgreSQL
# restarts, cameras killed and frozen, MAVLink garbage, a client that never
# reads, a full disk); writes the Soak section of BENCHMARKS.md.
soak:
	@bash deploy/install-deps.sh
	$(GO) run ./deploy/soak -duration 20m -out BENCHMARKS.md

clean:
	rm -rf bin
