#!/usr/bin/env bash
# The kernel matrix alone (root): installs QEMU, virtme-ng and Debian's 5.10, 6.1 and 6.12
# kernels (scripts/kernels.sh, cached), builds the Go test programs, and runs tests/kernels.rs,
# which boots each kernel in an emulated VM and checks gozt there. scripts/test.sh runs it
# with the rest of the suite.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$GOZT_CACHE/target-$(printf %s "$here" | sha256sum | cut -c1-12)}
scripts/toolchains.sh
scripts/kernels.sh
GOZT_TESTBINS=$(scripts/build-testdata.sh)
export GOZT_TESTBINS
cargo build --release --quiet
export GOZT_MATRIX_GOZT=$CARGO_TARGET_DIR/release/gozt
exec cargo test --test kernels -- --include-ignored --test-threads 1
