#!/usr/bin/env bash
# Builds gozt's container image from the Containerfile: a statically linked gozt (glibc's
# static libraries, and libelf's and zlib's from Debian's -dev packages) FROM scratch.
#
#   scripts/image.sh [--arch arm64] [--tag NAME]   prints the image's name on its last line
#
# x86_64 by default (this machine); --arch arm64 cross-builds through scripts/arm64.sh.
# Installs podman and runc (Debian's) if missing. Build outputs go under $GOZT_CACHE.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
arch=x86_64
tag=""
while (($#)); do
  case $1 in
    --arch) arch=$2; shift 2 ;;
    --tag) tag=$2; shift 2 ;;
    *) echo "image.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
cache=${GOZT_CACHE:-/var/cache/gozt}
# shellcheck source=apt-ensure.sh
source scripts/apt-ensure.sh && apt_ensure image --no-install-recommends podman runc libelf-dev zlib1g-dev binutils >&2
target_dir=$cache/image-target
case $arch in
  x86_64 | amd64)
    RUSTFLAGS='-C target-feature=+crt-static' CARGO_PROFILE_RELEASE_DEBUG=0 \
      cargo build --release --locked --quiet --target x86_64-unknown-linux-gnu --target-dir "$target_dir" >&2
    bin=$target_dir/x86_64-unknown-linux-gnu/release/gozt
    platform=linux/amd64
    tag=${tag:-localhost/gozt:$version}
    ;;
  arm64 | aarch64)
    scripts/arm64.sh setup >&2
    CARGO_PROFILE_RELEASE_DEBUG=0 scripts/arm64.sh build --quiet --target-dir "$target_dir" >&2
    bin=$target_dir/aarch64-unknown-linux-gnu/release/gozt
    platform=linux/arm64
    tag=${tag:-localhost/gozt:$version-arm64}
    ;;
  *) echo "image.sh: --arch x86_64 or arm64, not $arch" >&2; exit 2 ;;
esac
# FROM scratch has no loader: the binary must not ask for one.
if readelf -l "$bin" | grep -q 'Requesting program interpreter'; then
  echo "image.sh: $bin is not statically linked" >&2
  exit 1
fi
context=$(mktemp -d)
trap 'rm -rf "$context"' EXIT
cp Containerfile "$context/"
cp "$bin" "$context/gozt"
podman build --quiet --platform "$platform" -t "$tag" -f "$context/Containerfile" "$context" >&2
echo "$tag"
