#!/usr/bin/env bash
# The README's test command: installs every dependency on a fresh machine (apt, pip,
# cargo), checks formatting and lints, builds the Go test matrix (cached), and runs the
# whole test suite. Tests that need root run for real; with CI=true nothing is skipped.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
start=$(date +%s)
# Build outputs live with the toolchains, so a clean clone reuses them: one target
# directory per checkout path, because cargo's freshness check goes by file times and
# paths relative to the package, so a build made at another path can look fresh here
# while its tests still hold that path (env!("CARGO_MANIFEST_DIR")).
export GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$GOZT_CACHE/target-$(printf %s "$here" | sha256sum | cut -c1-12)}
# No incremental compilation: a run builds once, and its incremental data was 632 MB of
# the target directory (measured).
export CARGO_INCREMENTAL=0
scripts/toolchains.sh
# Debian's Chromium, for the --html page's browser test (tests/html).
# shellcheck source=apt-ensure.sh
source scripts/apt-ensure.sh && apt_ensure tests --no-install-recommends chromium fonts-dejavu-core
# The arm64 cross toolchain (the arm64 test programs and the arm64 guest's gozt).
scripts/arm64.sh setup
# QEMU, virtme-ng and Debian's 5.10, 6.1 and 6.12 kernels (the kernel matrix, tests/kernels.rs).
scripts/kernels.sh
rustup component list --installed 2>/dev/null | grep -q '^rustfmt' || rustup component add rustfmt
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy
cargo fmt --check
cargo clippy --quiet --all-targets -- -D warnings
GOZT_TESTBINS=$(scripts/build-testdata.sh)
export GOZT_TESTBINS
# The aarch64 gozt that tests/arm64_vm.rs runs in its arm64 guest, without debug info (less
# disk, CPU and memory than the release profile's).
CARGO_PROFILE_RELEASE_DEBUG=0 scripts/arm64.sh build --quiet --target-dir "$CARGO_TARGET_DIR/cross"
export GOZT_ARM64_GOZT=$CARGO_TARGET_DIR/cross/aarch64-unknown-linux-gnu/release/gozt
# The optimized gozt that tests/kernels.rs runs in its emulated guests, without debug info
# too (the release profile's line tables made its directory 794 MB, measured).
CARGO_PROFILE_RELEASE_DEBUG=0 cargo build --release --quiet
export GOZT_MATRIX_GOZT=$CARGO_TARGET_DIR/release/gozt
# gozt's image (Containerfile: a static gozt FROM scratch) and podman with runc, for the
# node agent's test (tests/image.rs); the static build is kept under $GOZT_CACHE.
GOZT_IMAGE=$(scripts/image.sh --tag localhost/gozt:test)
export GOZT_IMAGE
echo "test programs: $GOZT_TESTBINS ($(($(date +%s) - start)) s so far)"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
set +e
cargo test --no-fail-fast -- --include-ignored 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e
passed=$(grep -Eo '^test result: .* ([0-9]+) passed' "$log" | grep -Eo '[0-9]+ passed' | awk '{s+=$1} END {print s+0}')
failed=$(grep -Eo '^test result: .* ([0-9]+) failed' "$log" | grep -Eo '[0-9]+ failed' | awk '{s+=$1} END {print s+0}')
echo "total $(($(date +%s) - start)) s"
echo "tests: $passed passed, $failed failed"
exit "$status"
