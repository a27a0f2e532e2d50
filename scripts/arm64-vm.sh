#!/usr/bin/env bash
# Usage: scripts/arm64-vm.sh OUTDIR GOZT BINDIR
# Boots Debian's arm64 6.1 kernel (scripts/arm64.sh setup caches it) in qemu-system-aarch64
# (-M virt -cpu cortex-a72, emulated: TCG) with a busybox initramfs holding GOZT (an
# aarch64 gozt, statically linked), BINDIR/workload-default and BINDIR/workload-stripped
# (arm64 builds) and scripts/arm64-guest.sh, which runs as the guest's init and traces them.
# The guest has no shared file system (Debian's 9p and virtio drivers are modules): its
# results come back over the serial console, each file base64-encoded between marks, and
# are written to OUTDIR/<name>; the whole console is in OUTDIR/console. Exits 0 when the
# guest ran to its end (OUTDIR/guest-done), whatever it found; the host judges the files.
# With GOZT_VM_LOCK set, the boot holds that file's lock (flock), so that VMs on a shared
# machine boot one at a time. GOZT_VM_TIMEOUT bounds the whole run (default 600 s).
set -euo pipefail
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}
here=$(cd "$(dirname "$0")/.." && pwd)

die() {
  echo "arm64-vm: $*" >&2
  exit 125
}

(($# == 3)) || die "usage: arm64-vm.sh OUTDIR GOZT BINDIR"
out=$1 gozt=$2 bindir=$3
cache="$GOZT_CACHE/arm64"
vmlinuz=$(ls "$cache"/kernel/boot/vmlinuz-* 2>/dev/null | head -1 || true)
[[ -n "$vmlinuz" && -x "$cache/busybox" ]] || die "no arm64 kernel or busybox under $cache (run scripts/arm64.sh setup)"
[[ -d "$out" ]] || die "OUTDIR $out is not a directory"
for f in "$gozt" "$bindir/workload-default" "$bindir/workload-stripped"; do
  [[ -x "$f" ]] || die "no executable $f"
done
command -v qemu-system-aarch64 >/dev/null || die "no qemu-system-aarch64 (run scripts/arm64.sh setup)"

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,dev,proc,sys,tmp,gozt}
cp "$cache/busybox" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
# Without its debug info: the initramfs is unpacked into the guest's memory.
aarch64-linux-gnu-strip -o "$root/gozt/gozt" "$gozt"
cp "$bindir/workload-default" "$bindir/workload-stripped" "$root/gozt/"
install -m 755 "$here/scripts/arm64-guest.sh" "$root/init"
(cd "$root" && find . | cpio -o -H newc --quiet) >"$root.cpio"
trap 'rm -rf "$root" "$root.cpio"' EXIT

lock=()
[[ -z "${GOZT_VM_LOCK:-}" ]] || lock=(flock "$GOZT_VM_LOCK")
vm_timeout=${GOZT_VM_TIMEOUT:-600}
set +e
# loglevel=1: only emergencies on the console, which carries the results.
"${lock[@]}" timeout -k 10 "$vm_timeout" qemu-system-aarch64 -M virt -cpu cortex-a72 -smp 2 -m 1G \
  -nographic -no-reboot -kernel "$vmlinuz" -initrd "$root.cpio" \
  -append "console=ttyAMA0 quiet loglevel=1 panic=-1" </dev/null >"$out/console" 2> >(cat >&2)
status=$?
set -e
((status != 124)) || echo "arm64-vm: the VM timed out after $vm_timeout s" >&2
# The files: "@@gozt-file NAME", base64 lines, "@@gozt-end".
tr -d '\r' <"$out/console" | awk -v dir="$out" '
  /^@@gozt-file / { name = $2; file = dir "/" name ".b64"; printf "" > file; next }
  /^@@gozt-end/ { if (name != "") { close(file); names[name] = 1 }; name = ""; next }
  name != "" { print >> file }
  END { for (n in names) print n }' | while read -r name; do
  base64 -d <"$out/$name.b64" >"$out/$name" || echo "arm64-vm: $name did not decode" >&2
  rm -f "$out/$name.b64"
done
[[ -e "$out/guest-done" ]] || die "the guest did not finish (qemu exited $status; console in $out/console)"
