#!/usr/bin/env bash
# The README's demo command: installs what the demo needs and nothing more
# (scripts/toolchains.sh --demo: Debian's Go 1.19, clang, libelf, zlib), builds gozt and the
# bundled demo service (stripped, as production ships), shows what gozt would probe in it,
# then runs it with its load generator on loopback under gozt for 10 s, and prints the
# service's own tally of its payloads beside gozt's report. Each step says what it does;
# cargo shows its progress.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)
step() { echo "demo: $* ($(($(date +%s) - start)) s so far)" >&2; }
step "installing what the demo needs"
scripts/toolchains.sh --demo
# A debug build: half the CPU of a release build (180 against 360 CPU seconds measured),
# and fast enough for the demo's few thousand calls a second.
step "building gozt (cargo build: about 3 minutes the first time on 2 idle cores)"
cargo build
gozt=${CARGO_TARGET_DIR:-target}/debug/gozt
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
# Beside gozt, so that two clones' demos never share the file.
demo="$(dirname "$gozt")/demo-service"
demo_abs=$(realpath -m "$demo")
step "building the demo service with Go 1.19"
(cd examples/demo-service && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0 \
  GOCACHE="$GOZT_CACHE/gocache/demo" go build -ldflags="-s -w" -o "$demo_abs" .)
step "ready"

truth=$(mktemp /tmp/gozt-demo-truth.XXXXXX.json)
trap 'rm -f "$truth"' EXIT
echo "\$ gozt probes $demo"
"$gozt" probes "$demo"
echo
# The service from its first instruction, for 10 s: it writes its own tally of the payloads
# it made, judged by gozt's rules, to compare with gozt's report.
# Saved as JSON Lines (a line per interval), printed as text, and drawn as one HTML page.
# Intervals of 5 s: the demo makes about 600 to 1500 eligible payloads a second (by the
# machine's load), a function a fifth to two fifths of them, so that a 1 s cell of the
# page's heatmap would hold too few (--min-eligible 1000) for a verdict; 5 s cells hold enough.
# Paths relative to the checkout: the page shows the command line.
out=target/demo seconds=${GOZT_DEMO_DURATION:-10s} interval=${GOZT_DEMO_INTERVAL:-5s}
mkdir -p "$out"
echo "\$ gozt trace --interval $interval --json -o $out/run.jsonl -- demo-service -load 4 -duration $seconds -truth $truth"
"$gozt" trace --interval "$interval" --json -o "$out/run.jsonl" -- "$demo" -load 4 -duration "$seconds" -truth "$truth"
"$gozt" report "$out/run.jsonl"
"$gozt" report "$out/run.jsonl" --html -o "$out/page.html"
python3 - "$truth" <<'PY'
import json, sys
t = json.load(open(sys.argv[1]))
rate = 100 * t["failures"] / t["eligible"] if t["eligible"] else 0
print(f"demo-service's own tally: {t['payloads']} payloads, failure rate {rate:.3f}% "
      f"of {t['eligible']} eligible ({t['failures']} failures)")
PY
echo "the run's page (open it in a browser): $here/$out/page.html"
