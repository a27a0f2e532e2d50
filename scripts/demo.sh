#!/usr/bin/env bash
# The README's demo command: installs what is needed, builds gozt and the bundled demo
# service (stripped, as production ships), shows what gozt would probe in it, then runs it
# with its load generator on loopback under gozt for 10 s, and prints the service's own
# tally of its payloads beside gozt's report.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
scripts/toolchains.sh
cargo build --release --quiet
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
demo="$GOZT_CACHE/demo-service"
(cd examples/demo-service && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0 \
  GOCACHE="$GOZT_CACHE/gocache/demo" go build -ldflags="-s -w" -o "$demo" .)

truth=$(mktemp /tmp/gozt-demo-truth.XXXXXX.json)
trap 'rm -f "$truth"' EXIT
echo "\$ gozt probes $demo"
target/release/gozt probes "$demo"
echo
# The service from its first instruction, for 10 s: it writes its own tally of the payloads
# it made, judged by gozt's rules, to compare with gozt's report.
# Saved as JSON Lines (a line per interval), printed as text, and drawn as one HTML page.
# Intervals of 5 s: the demo makes about 600 to 1500 eligible payloads a second (by the
# machine's load), a function a fifth to two fifths of them, so that a 1 s cell of the
# page's heatmap has too few (--min-eligible 1000) for a verdict.
# Paths relative to the checkout: the page shows the command line.
out=target/demo seconds=${GOZT_DEMO_DURATION:-10s} interval=${GOZT_DEMO_INTERVAL:-5s}
mkdir -p "$out"
echo "\$ gozt trace --interval $interval --json -o $out/run.jsonl -- demo-service -load 4 -duration $seconds -truth $truth"
target/release/gozt trace --interval "$interval" --json -o "$out/run.jsonl" -- "$demo" -load 4 -duration "$seconds" -truth "$truth"
target/release/gozt report "$out/run.jsonl"
target/release/gozt report "$out/run.jsonl" --html -o "$out/page.html"
python3 - "$truth" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
rate = 100 * t["failures"] / t["eligible"] if t["eligible"] else 0
print(f"demo-service's own tally: {t['payloads']} payloads, failure rate {rate:.3f}% "
      f"of {t['eligible']} eligible ({t['failures']} failures)")
PY
echo "the run's page (open it in a browser): $here/$out/page.html"
