#!/usr/bin/env bash
# gozt for arm64 (aarch64-unknown-linux-gnu), from an x86-64 Debian 12 machine without rustup
# targets:
#   scripts/arm64.sh setup            install and unpack what the commands below need (idempotent;
#                                     a second run downloads nothing); prints a summary line;
#                                     under the cache's set-up lock (scripts/setup-lock.sh)
#   scripts/arm64.sh build [ARGS...]  cross-build gozt, statically linked, into
#                                     $CARGO_TARGET_DIR/aarch64-unknown-linux-gnu/release/gozt
#                                     (ARGS go to cargo build, e.g. --target-dir DIR)
#   scripts/arm64.sh env              the environment `build` uses, as shell exports
#   scripts/arm64.sh vmlinux          regenerate vmlinux/arm64/vmlinux.h from the guest kernel's BTF
#
# What setup puts under $GOZT_CACHE/arm64 (a clean clone on the same machine reuses it):
#   rust/    Debian's rustc-web (bookworm-security) with its std for x86-64 and aarch64, and
#            libllvm22, which rustc-web needs but does not list as a dependency; unpacked with
#            dpkg-deb, not installed (rustc-web conflicts with rustup's toolchain). rustup's
#            cargo drives it through RUSTC=.
#   sysroot/ libelf-dev:arm64 and zlib1g-dev:arm64: the static libelf.a and libz.a that
#            libbpf-sys links into an aarch64 gozt
#   kernel/  Debian's linux-image-6.1.*-arm64-unsigned (the newest 6.1 the archive has)
#   busybox  busybox-static:arm64, for the guest's initramfs (scripts/arm64-vm.sh)
# Host packages from apt: the cross linker (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross), QEMU
# (qemu-system-arm) and cpio. arm64 packages come through a private apt state (its own lists,
# arm64 added to its architectures), so the machine's apt configuration is left as it was.
set -euo pipefail
# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
# shellcheck source=setup-lock.sh
source "$(dirname "$0")/setup-lock.sh"
here=$(cd "$(dirname "$0")/.." && pwd)
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
RUST_VERSION=${RUST_VERSION:-1.96}
KERNEL_SERIES=${KERNEL_SERIES:-6.1}
APT_PACKAGES="gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-system-arm cpio"
cache="$GOZT_CACHE/arm64"
TARGET=aarch64-unknown-linux-gnu

die() {
  echo "arm64: $*" >&2
  exit 1
}

rust_ready() {
  [[ -x "$cache/rust/usr/bin/rustc" && -d "$cache/rust/usr/lib/rustlib/$TARGET/lib" ]] &&
    LD_LIBRARY_PATH="$cache/rust/usr/lib/x86_64-linux-gnu" "$cache/rust/usr/bin/rustc" --version >/dev/null 2>&1
}

kernel_image() {
  local k
  k=$(ls "$cache/kernel/boot"/vmlinuz-* 2>/dev/null | head -1)
  [[ -n "$k" ]] && echo "$k"
}

setup() {
  setup_lock arm64 setup
  apt_ensure arm64 --no-install-recommends $APT_PACKAGES
  mkdir -p "$cache"
  local need_rust=0 need_sysroot=0 need_kernel=0 need_busybox=0
  rust_ready || need_rust=1
  [[ -e "$cache/sysroot/usr/lib/aarch64-linux-gnu/libelf.a" && -e "$cache/sysroot/usr/lib/aarch64-linux-gnu/libz.a" ]] ||
    need_sysroot=1
  [[ -n "$(kernel_image)" ]] || need_kernel=1
  [[ -x "$cache/busybox" ]] || need_busybox=1
  if ((need_rust + need_sysroot + need_kernel + need_busybox)); then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    : >"$tmp/sources.list"
    mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb"
    # The machine's sources (bookworm, bookworm-security), with arm64 as a second architecture
    # and lists of their own.
    local apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::State::Lists=$tmp/lists"
      -o "Dir::Cache=$tmp/cache" -o "APT::Architectures::=amd64" -o "APT::Architectures::=arm64")
    echo "arm64: apt-get update (private lists, amd64 + arm64)" >&2
    apt-get "${apt_opts[@]}" update -qq >/dev/null 2>"$tmp/update.err" ||
      die "apt-get update failed: $(tail -1 "$tmp/update.err")"
    local pkgs=()
    if ((need_rust)); then
      local ver
      ver=$(apt-cache "${apt_opts[@]}" madison rustc-web | awk -v v="$RUST_VERSION" '$3 ~ "^"v"\\." {print $3; exit}')
      [[ -n "$ver" ]] || die "no rustc-web $RUST_VERSION in the archive"
      pkgs+=("rustc-web=$ver" "libstd-rust-web-$RUST_VERSION=$ver" "libstd-rust-web-dev=$ver"
        "libstd-rust-web-$RUST_VERSION:arm64=$ver" "libstd-rust-web-dev:arm64=$ver")
      local llvm
      llvm=$(apt-cache "${apt_opts[@]}" show "rustc-web=$ver" | sed -n 's/^Depends:.*\(libllvm[0-9]*\).*/\1/p' | head -1)
      # rustc-web links libLLVM.so.22 without naming the package.
      pkgs+=("${llvm:-libllvm22}")
    fi
    local kpkg=""
    if ((need_kernel)); then
      kpkg=$(apt-cache "${apt_opts[@]}" pkgnames "linux-image-$KERNEL_SERIES." |
        grep -E "^linux-image-${KERNEL_SERIES//./\\.}\.[0-9.-]+-arm64-unsigned$" | sort -V | tail -1)
      [[ -n "$kpkg" ]] || die "no linux-image-$KERNEL_SERIES.*-arm64-unsigned in the archive"
      pkgs+=("$kpkg:arm64")
    fi
    ((need_sysroot)) && pkgs+=("libelf-dev:arm64" "zlib1g-dev:arm64")
    ((need_busybox)) && pkgs+=("busybox-static:arm64")
    echo "arm64: apt-get download ${pkgs[*]}" >&2
    (cd "$tmp/deb" && apt-get "${apt_opts[@]}" download -qq "${pkgs[@]}" >/dev/null 2>"$tmp/download.err") ||
      die "apt-get download failed: $(tail -1 "$tmp/download.err")"
    if ((need_rust)); then
      rm -rf "$cache/rust.partial"
      for deb in "$tmp"/deb/rustc-web_*.deb "$tmp"/deb/libstd-rust-web*.deb "$tmp"/deb/libllvm*.deb; do
        dpkg-deb -x "$deb" "$cache/rust.partial"
      done
      rm -rf "$cache/rust"
      mv "$cache/rust.partial" "$cache/rust"
      rust_ready || die "the unpacked rustc does not run (LD_LIBRARY_PATH=$cache/rust/usr/lib/x86_64-linux-gnu)"
    fi
    if ((need_sysroot)); then
      rm -rf "$cache/sysroot.partial" "$cache/sysroot"
      for deb in "$tmp"/deb/libelf-dev_*.deb "$tmp"/deb/zlib1g-dev_*.deb; do
        dpkg-deb -x "$deb" "$cache/sysroot.partial"
      done
      mv "$cache/sysroot.partial" "$cache/sysroot"
    fi
    if ((need_kernel)); then
      rm -rf "$cache/kernel.partial" "$cache/kernel"
      dpkg-deb -x "$tmp"/deb/linux-image-*.deb "$cache/kernel.partial"
      # The guest needs no modules: drop them (about 300 MB).
      rm -rf "$cache/kernel.partial/lib/modules" "$cache/kernel.partial/usr"
      mv "$cache/kernel.partial" "$cache/kernel"
    fi
    if ((need_busybox)); then
      dpkg-deb -x "$tmp"/deb/busybox-static_*.deb "$tmp/bb"
      install -m 755 "$tmp/bb/bin/busybox" "$cache/busybox"
    fi
  fi
  local k
  k=$(kernel_image) || die "no kernel under $cache/kernel"
  echo "arm64: ready ($(LD_LIBRARY_PATH="$cache/rust/usr/lib/x86_64-linux-gnu" "$cache/rust/usr/bin/rustc" --version); kernel ${k##*/vmlinuz-}; under $cache)"
}

rust_env() {
  cat <<EOF
export RUSTC=$cache/rust/usr/bin/rustc
export LD_LIBRARY_PATH=$cache/rust/usr/lib/x86_64-linux-gnu\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUSTFLAGS='-C target-feature=+crt-static -L native=$cache/sysroot/usr/lib/aarch64-linux-gnu'
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc
export AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
EOF
}

build() {
  rust_ready && [[ -d "$cache/sysroot" ]] || die "run scripts/arm64.sh setup first"
  eval "$(rust_env)"
  # build.rs runs on the host: its rustc is the same unpacked one (it builds for x86-64 too).
  cd "$here"
  cargo build --release --locked --target "$TARGET" "$@"
}

vmlinux() {
  local k
  k=$(kernel_image) || die "run scripts/arm64.sh setup first"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The image is a gzip-compressed Image; its .BTF is found by bpftool in the ELF vmlinux only,
  # so the raw BTF blob is cut out of the Image by its magic (0xeb9f, version 1).
  zcat "$k" >"$tmp/Image" 2>/dev/null || cp "$k" "$tmp/Image"
  python3 - "$tmp/Image" "$tmp/btf" <<'PY'
import struct, sys
data = open(sys.argv[1], "rb").read()
best = None
at = data.find(b"\x9f\xeb\x01\x00")
while at >= 0:
    hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from("<IIIII", data, at + 4)
    size = hdr_len + str_off + str_len
    if hdr_len == 24 and type_off == 0 and str_off == type_len and size > 1 << 20:
        best = (at, size)
        break
    at = data.find(b"\x9f\xeb\x01\x00", at + 1)
if best is None:
    sys.exit("no BTF blob in the kernel image")
open(sys.argv[2], "wb").write(data[best[0]:best[0] + best[1]])
PY
  mkdir -p "$here/vmlinux/arm64"
  bpftool btf dump file "$tmp/btf" format c >"$here/vmlinux/arm64/vmlinux.h"
  echo "arm64: wrote vmlinux/arm64/vmlinux.h from ${k##*/}"
}

case "${1:-}" in
  setup) setup ;;
  build) shift; build "$@" ;;
  env) rust_env ;;
  vmlinux) vmlinux ;;
  *) die "usage: scripts/arm64.sh setup | build [cargo args] | env | vmlinux" ;;
esac
