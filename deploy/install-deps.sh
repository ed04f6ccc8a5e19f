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
)
BUILD=(
  gcc                      # cgo (later: the decoder and OpenCV detectors)
  make
)

TEST=()
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
  for dir in ingest/mavlink/testdata/nodepeer; do
    if [[ ! -f $dir/node_modules/.package-lock.json || $dir/package-lock.json -nt $dir/node_modules/.package-lock.json ]]; then
      echo "install-deps: npm ci in $dir" >&2
      (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
    fi
  done
}

if ((${#missing[@]} == 0)); then
  npm_deps
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
