#!/usr/bin/env bash
# The --html page of a real run (root; loads BPF, so it takes the BPF lock): the demo
# (scripts/demo.sh) for 60 s with --interval 10s (GOZT_DEMO_INTERVAL; at the demo's rate a
# 10 s cell of the heatmap has enough eligible payloads for a verdict), then the page's size,
# the time gozt takes to write it (five runs), and the time Debian's Chromium takes to open it
# (five loads, from the browser test tests/html, which also checks the page: no console error
# or request, every chart painted, every number equal to the JSON's). Prints a table; asserts
# no time. GOZT_SCREENSHOTS=DIR keeps the page's screenshots there (docs/ holds the README's).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
# shellcheck source=apt-ensure.sh
source scripts/apt-ensure.sh
apt_ensure html-bench --no-install-recommends chromium fonts-dejavu-core
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Built first, without the lock (the demo's own build is then done).
cargo build --release --quiet
interval=${GOZT_DEMO_INTERVAL:-10s}
echo "demo run: 60 s, --interval $interval (scripts/demo.sh; its output in $log while it runs)"
GOZT_DEMO_DURATION=60s GOZT_DEMO_INTERVAL=$interval flock /var/lock/gozt-bpf.lock scripts/demo.sh >"$log" 2>&1 || { cat "$log"; exit 1; }
run=target/demo/run.jsonl page=target/demo/page.html
gozt=target/release/gozt
grep -E '^(traced|failure rate)|own tally' "$log"
times=()
for _ in 1 2 3 4 5; do
  t0=$(date +%s%N)
  "$gozt" report "$run" --html -o "$page"
  times+=($((($(date +%s%N) - t0) / 1000000)))
done
mapfile -t sorted < <(printf '%s\n' "${times[@]}" | sort -n)
printf '%-34s %12s\n' "run (JSON Lines, bytes)" "$(stat -c %s "$run")"
printf '%-34s %12s\n' "intervals" "$(($(wc -l <"$run") - 1))"
printf '%-34s %12s\n' "page (bytes)" "$(stat -c %s "$page")"
printf '%-34s %12s\n' "gozt report --html (ms, median of 5)" "${sorted[2]}"
echo
# The tests' build directory, as scripts/test.sh has it (the demo built into target/).
export GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$GOZT_CACHE/target-$(printf %s "$here" | sha256sum | cut -c1-12)}
export GOZT_HTML_PAGE=$here/$page GOZT_HTML_RUN=$here/$run
# The browser test checks it too (and the test pages); its table ends with the five loads.
cargo test --quiet --test html -- --nocapture the_page_opens 2>&1 | grep -E '^(PAGE|given|"Chrome)'
[[ -z "${GOZT_SCREENSHOTS:-}" ]] || echo "screenshots: $GOZT_SCREENSHOTS/given-*.png"
