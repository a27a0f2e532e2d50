#!/usr/bin/env bash
# A long run of the binary reader's mutation fuzzer (tests/fuzz_reader.rs), by hand:
#   scripts/fuzz.sh [ITERATIONS [SEED]]       e.g. scripts/fuzz.sh 100000 7
# More base binaries: GOZT_FUZZ_CORPUS=/usr/bin/prometheus:/usr/bin/other scripts/fuzz.sh
# A debug build (the default) also catches arithmetic overflow; FUZZ_RELEASE=1 runs the
# release build, ~5x more mutants per second. Failing mutants are kept in $GOZT_FUZZ_KEEP
# (default /tmp/gozt-fuzz-failures) with the seed and case that replay them.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
export GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$GOZT_CACHE/target-$(printf %s "$here" | sha256sum | cut -c1-12)}
export GOZT_FUZZ_ITERATIONS=${1:-20000}
export GOZT_FUZZ_SEED=${2:-$(date +%s)}
export GOZT_FUZZ_JOBS=${GOZT_FUZZ_JOBS:-$(nproc)}
export GOZT_TESTBINS=${GOZT_TESTBINS:-$(scripts/build-testdata.sh)}
profile=()
if [[ ${FUZZ_RELEASE:-} == 1 ]]; then
	profile=(--release)
fi
echo "fuzz: $GOZT_FUZZ_ITERATIONS mutants from seed $GOZT_FUZZ_SEED, $GOZT_FUZZ_JOBS at a time"
exec cargo test "${profile[@]}" --test fuzz_reader mutants_of_the_matrix -- --nocapture
