#!/usr/bin/env bash
# The README's demo command: installs what is needed, builds gozt and the bundled demo
# service (stripped, as production ships), starts the service with its load generator on
# loopback, and points gozt at the running process.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/toolchains.sh
cargo build --release --quiet
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
demo="$GOZT_CACHE/demo-service"
(cd examples/demo-service && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0 \
  GOCACHE="$GOZT_CACHE/gocache/demo" go build -ldflags="-s -w" -o "$demo" .)

"$demo" -load 4 -duration 60s &
pid=$!
trap 'kill $pid 2>/dev/null || true; wait $pid 2>/dev/null || true' EXIT
sleep 1
echo "\$ gozt probes --pid $pid"
target/release/gozt probes --pid "$pid"
echo
echo "\$ gozt attach --pid $pid --duration 10s"
target/release/gozt attach --pid "$pid" --duration 10s
