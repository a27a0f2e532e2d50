#!/usr/bin/env bash
# Usage: scripts/vm-run.sh KERNEL OUTDIR SCRIPT [ARGS...]
# Boots one of the kernels scripts/kernels.sh installed (KERNEL: a series such as 6.1, or a
# release under $GOZT_CACHE/kernels) in a QEMU VM with virtme-ng: the host's root shared
# read-only, $GOZT_CACHE shared read-only (the guest's /var/cache is empty otherwise),
# OUTDIR shared read-write, 2 vCPUs, 2 GiB. Runs SCRIPT ARGS... as root in the guest and exits
# with its status; the guest's stdout and stderr are this script's. KVM is used if it
# boots a kernel here (tested once, the verdict cached), else QEMU's emulation (TCG).
# Needs no terminal and no standard input. With GOZT_VM_LOCK set, the boot holds that file's
# lock (flock) while the VM runs, so VMs on a shared machine boot one at a time.
# GOZT_VM_APPEND adds to the guest kernel's command line.
set -euo pipefail
GOZT_CACHE=${GOZT_CACHE:-/var/cache/gozt}

die() {
  echo "vm-run: $*" >&2
  exit 125
}

(($# >= 3)) || die "usage: vm-run.sh KERNEL OUTDIR SCRIPT [ARGS...]"
kernel=$1 outdir=$2 script=$3
shift 3
kdir="$GOZT_CACHE/kernels/$kernel"
vmlinuz=$(ls "$kdir"/boot/vmlinuz-* 2>/dev/null | head -1 || true)
[[ -n "$vmlinuz" ]] || die "no kernel $kernel under $GOZT_CACHE/kernels (run scripts/kernels.sh)"
[[ -d "$outdir" ]] || die "OUTDIR $outdir is not a directory"
outdir=$(cd "$outdir" && pwd)
[[ -f "$script" && -x "$script" ]] || die "no executable script $script"
script=$(cd "$(dirname "$script")" && pwd)/$(basename "$script")
# The guest sees the host's root, but empty tmpfs over these (and $GOZT_CACHE shared again).
case "$script" in
  "$GOZT_CACHE"/*) ;;
  /var/tmp/* | /var/cache/* | /var/log/* | /run/*) die "$script is under a directory the guest does not see" ;;
esac
[[ -x "$GOZT_CACHE/vng/bin/vng" ]] || die "no virtme-ng under $GOZT_CACHE/vng (run scripts/kernels.sh)"
export PATH="$GOZT_CACHE/vng/bin:$PATH"

# vng runs its command as one string under the guest's sh: the command and its arguments go
# into a script in OUTDIR, quoted, and the guest runs that; it first leaves a mark, which
# tells a VM that never started from a guest script that failed.
cmd="$outdir/.vm-run-cmd"
mark="$outdir/.vm-run-started"
rm -f "$mark"
{
  printf '#!/bin/bash\n: >%q\nexec' "$mark"
  printf ' %q' "$script" "$@"
  printf '\n'
} >"$cmd"

# Modules for the emulated machine's devices that no test needs (KVM, the watchdog, the
# CD-ROM, ACPI buttons, SMBus, crypto acceleration...): under emulation udev spent minutes
# loading them (Debian's 5.10 reached its init after 260 s, 77 s without them).
unneeded="kvm,kvm_amd,kvm_intel,irqbypass,ccp,iTCO_wdt,iTCO_vendor_support,intel_pmc_bxt,lpc_ich"
unneeded+=",i2c_i801,i2c_smbus,pcspkr,sr_mod,cdrom,sg,ahci,libahci,libata,psmouse,serio_raw,evdev"
unneeded+=",button,i6300esb,qemu_fw_cfg,crct10dif_pclmul,crc32_pclmul,ghash_clmulni_intel"
unneeded+=",sha512_ssse3,sha256_ssse3,sha1_ssse3,aesni_intel,crypto_simd,cryptd,rapl"
unneeded+=",intel_rapl_msr,intel_rapl_common,joydev,drm,bochs_drm"
vng_args=(--busybox /bin/busybox --force-9p -m 2G -p 2 ${GOZT_VM_QEMU_OPTS:+--qemu-opts="$GOZT_VM_QEMU_OPTS"}
  --append="module_blacklist=$unneeded${GOZT_VM_APPEND:+ $GOZT_VM_APPEND}" --rodir="$GOZT_CACHE" --rwdir="$outdir")

lock=()
[[ -z "${GOZT_VM_LOCK:-}" ]] || lock=(flock "$GOZT_VM_LOCK")

# KVM: does a kernel boot under it here? Asked once per host kernel, and remembered.
verdict_file="$GOZT_CACHE/kernels/kvm-verdict"
host=$(uname -r)
verdict=
if [[ -r "$verdict_file" ]]; then
  read -r vhost verdict <"$verdict_file" || true
  [[ "$vhost" == "$host" ]] || verdict=
fi
if [[ -z "$verdict" ]]; then
  verdict=tcg
  if [[ -w /dev/kvm ]]; then
    probe=$(mktemp -d)
    printf '#!/bin/sh\necho kvm-ok >%q/ok\n' "$probe" >"$probe/ok.sh"
    # A boot to a shell command takes a second or two under KVM; a hang means no.
    if "${lock[@]}" timeout -k 5 30 vng --busybox /bin/busybox --force-9p -m 2G -p 2 --rwdir="$probe" \
      --run "$vmlinuz" -- /bin/sh "$probe/ok.sh" </dev/null >/dev/null 2>&1 &&
      grep -q kvm-ok "$probe/ok" 2>/dev/null; then
      verdict=kvm
    fi
    rm -rf "$probe"
  fi
  echo "$host $verdict" >"$verdict_file.$$" && mv "$verdict_file.$$" "$verdict_file"
  echo "vm-run: KVM verdict for this host: $verdict (cached in $verdict_file)" >&2
fi
[[ "$verdict" == kvm ]] || vng_args+=(--disable-kvm)

# QEMU opens stdout and stderr separately: give it pipes, never one file twice.
boot() {
  "${lock[@]}" timeout -k 10 "$vm_timeout" vng "${vng_args[@]}" "$@" --run "$vmlinuz" -- /bin/bash "$cmd" </dev/null 2> >(cat >&2) | cat
  return "${PIPESTATUS[0]}"
}
# A VM that hangs ends, and says so.
vm_timeout=${GOZT_VM_TIMEOUT:-900}
set +e
boot
status=$?
((status != 124)) || echo "vm-run: the $kernel VM timed out after $vm_timeout s" >&2
if [[ ! -e "$mark" ]]; then
  # vng says why it did not start the VM only when verbose: once more, verbose.
  echo "vm-run: vng exited $status before the guest ran; again with -v:" >&2
  boot -v
  status=$?
  [[ -e "$mark" ]] || echo "vm-run: the $kernel VM did not start (vng exited $status)" >&2
fi
set -e
rm -f "$cmd" "$mark"
exit "$status"
