#!/usr/bin/env bash
# The overhead benchmark (root): builds gozt and the call-loop target, then prints one
# table of per-call costs (bare, the uprobe floor, gozt, bpftrace), the sustained rate with
# both cores busy, startup time and memory on a 50 MB stripped Go binary (Debian's
# prometheus), what --max-overhead 1% costs the target, each attach method's per-call cost,
# attach and detach times (BENCH_PARTS=methods), and what attaching costs a real server
# (BENCH_PARTS=server: Debian's caddy under wrk). Medians over BENCH_REPEATS (5).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
scripts/toolchains.sh >/dev/null
source scripts/apt-ensure.sh && apt_ensure bench --no-install-recommends bpftrace caddy wrk curl >/dev/null
cargo build --release --quiet
loop="$GOZT_CACHE/bench/callloop"
mkdir -p "$(dirname "$loop")"
(cd bench/callloop && GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= CGO_ENABLED=0 \
  GOCACHE="$GOZT_CACHE/gocache/bench" "$GOZT_CACHE/go-1.27.3/bin/go" build -o "$loop" .)
# The ground-truth workload (every catalog function): attach and detach times by method.
workload="$(scripts/build-testdata.sh)/go1.27.3/workload-pie-stripped"
echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r)"
echo "target: $loop (go1.27.3); bpftrace $(bpftrace --version | cut -d' ' -f2)"
echo
python3 scripts/bench.py "${CARGO_TARGET_DIR:-target}/release/gozt" "$loop" /usr/bin/prometheus "$workload"
