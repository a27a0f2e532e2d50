#!/usr/bin/env bash
# Installs what the kernel matrix (tests/kernels.rs, scripts/vm-run.sh) needs on a fresh
# Debian 12 machine and prints nothing on success but a summary line. Idempotent: a second
# run only checks, and downloads nothing.
#   - apt: QEMU, udev (virtme-ng needs it), a static busybox for the guest's init;
#   - PyPI virtme-ng in a venv under $GOZT_CACHE/vng;
#   - Debian's own kernels, extracted under $GOZT_CACHE/kernels/<release>/: 5.10 (Debian 11,
#     from bullseye-security), 6.1 (bookworm) and 6.12 (bookworm-security; else the newest
#     the archive has). The standard flavour: -cloud- kernels have no 9p.
# The kernel packages come through a private apt state (its own sources list and lists), so
# the machine's apt configuration is left as it was. Runs under the cache's set-up lock
# (scripts/setup-lock.sh).
set -euo pipefail
# shellcheck source=apt-ensure.sh
source "$(dirname "$0")/apt-ensure.sh"
# shellcheck source=setup-lock.sh
source "$(dirname "$0")/setup-lock.sh"
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
VNG_VERSION=${VNG_VERSION:-1.42}
# The matrix, by series: the newest of each series is downloaded once, then kept.
KERNEL_SERIES=${KERNEL_SERIES:-"5.10 6.1 6.12"}
APT_PACKAGES="qemu-system-x86 udev busybox-static kmod python3-venv"

die() {
  echo "kernels: $*" >&2
  exit 1
}

setup_lock kernels "$@"
apt_ensure kernels --no-install-recommends $APT_PACKAGES

venv="$GOZT_CACHE/vng"
if [[ ! -x "$venv/bin/vng" ]] || ! "$venv/bin/vng" --version 2>/dev/null | grep -qF "$VNG_VERSION"; then
  echo "kernels: pip install virtme-ng==$VNG_VERSION" >&2
  rm -rf "$venv"
  mkdir -p "$GOZT_CACHE"
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check "virtme-ng==$VNG_VERSION"
fi

kernels="$GOZT_CACHE/kernels"
mkdir -p "$kernels"

# The release a series (5.10, 6.1, ...) resolved to, kept as the symlink kernels/<series>,
# or nothing while that kernel is not there.
cached() {
  [[ -e "$kernels/$1/boot" ]] || return 0
  local rel
  rel=$(readlink "$kernels/$1")
  [[ -e "$kernels/$rel/boot/vmlinuz-$rel" ]] && echo "$rel"
}

todo=()
for s in $KERNEL_SERIES; do
  [[ -n "$(cached "$s")" ]] || todo+=("$s")
done

if ((${#todo[@]})); then
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  # The archive hosts the machine already uses: Debian's and its security archive.
  sources=/etc/apt/sources.list.d/debian.sources
  security=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*debian-security[^[:space:]]*\).*/\1/p' "$sources" 2>/dev/null | head -1)
  [[ -n "$security" ]] || die "no debian-security URI in $sources"
  keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  cat >"$tmp/sources.list" <<EOF
deb [signed-by=$keyring] $security bullseye-security main
EOF
  mkdir -p "$tmp/lists/partial" "$tmp/cache/archives/partial" "$tmp/deb"
  # The machine's sources (bookworm, bookworm-security) plus bullseye-security, with lists
  # and caches of their own.
  apt_opts=(-o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::State::Lists=$tmp/lists"
    -o "Dir::Cache=$tmp/cache")
  echo "kernels: apt-get update (private lists) for ${todo[*]}" >&2
  apt-get "${apt_opts[@]}" update -qq >/dev/null 2>"$tmp/update.err" ||
    die "apt-get update of the kernel suites failed: $(tail -1 "$tmp/update.err")"
  images=$(apt-cache "${apt_opts[@]}" pkgnames linux-image- |
    grep -E '^linux-image-[0-9][0-9.+~a-z-]*-amd64-unsigned$' | grep -Ev -- '-(cloud|rt)-amd64' |
    sed 's/^linux-image-//; s/-unsigned$//' | sort -V)
  for s in "${todo[@]}"; do
    rel=$(grep -E "^${s//./\\.}\." <<<"$images" | tail -1 || true)
    if [[ -z "$rel" && "$s" == "${KERNEL_SERIES##* }" ]]; then
      # The newest series asked for is not there: the newest kernel the archive has.
      rel=$(tail -1 <<<"$images")
      echo "kernels: no $s kernel in the archive, using $rel" >&2
    fi
    [[ -n "$rel" ]] || die "no linux-image-$s.*-amd64-unsigned in bookworm, bookworm-security or bullseye-security"
    if [[ -e "$kernels/$rel/boot/vmlinuz-$rel" ]]; then
      ln -sfn "$rel" "$kernels/$s"
      continue
    fi
    pkg="linux-image-$rel-unsigned"
    echo "kernels: apt-get download $pkg" >&2
    (cd "$tmp/deb" && apt-get "${apt_opts[@]}" download -qq "$pkg" >/dev/null 2>"$tmp/download.err") ||
      die "apt-get download $pkg failed: $(tail -1 "$tmp/download.err")"
    rm -rf "$kernels/$rel.partial"
    dpkg-deb -x "$tmp/deb/${pkg}"_*.deb "$kernels/$rel.partial"
    [[ -e "$kernels/$rel.partial/boot/vmlinuz-$rel" ]] || die "$pkg has no boot/vmlinuz-$rel"
    # The modules' index, so that the guest's modprobe finds 9p and virtio.
    depmod -b "$kernels/$rel.partial" "$rel" 2>/dev/null || true
    rm -f "$tmp/deb/${pkg}"_*.deb
    mv "$kernels/$rel.partial" "$kernels/$rel"
    ln -sfn "$rel" "$kernels/$s"
  done
fi

have=()
for s in $KERNEL_SERIES; do
  rel=$(cached "$s")
  [[ -n "$rel" ]] || die "no $s kernel under $kernels"
  have+=("$rel")
done
echo "kernels: ready (qemu, virtme-ng $VNG_VERSION; kernels ${have[*]} under $kernels)"
