#!/bin/bash
# Usage (in a VM, through scripts/vm-run.sh): vm-guest.sh OUT GOZT BINDIR
# The guest side of the kernel matrix (tests/kernels.rs): what gozt does on this kernel,
# written to OUT for the host to judge against the workload's own ground truth.
#   - trace: `gozt trace --json` on BINDIR/workload-pie-stripped and workload-default, the
#     report in OUT/report-<build>.json and the workload's truth in OUT/truth-<build>.json,
#     gozt's exit code in OUT/status-<build>, its stderr in OUT/stderr-<build>;
#   - lifecycle: `gozt attach --duration` on a waiting workload-stripped: the bytes at the
#     probe sites the host listed in OUT/sites (one hex address a line) while attached and
#     after exit (OUT/int3-attached, OUT/int3-after: how many hold an INT3), gozt's BPF
#     programs left after exit (OUT/progs-after), and the workload's status once released.
# Exits 0 when every step ran and found nothing wrong, 1 otherwise; the host checks each file.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
out=$1 gozt=$2 bindir=$3
failed=0
# A step that hangs fails (exit 124) instead of holding the VM.
step_timeout=${GOZT_VM_STEP_TIMEOUT:-180}
fail() {
  echo "vm-guest: $*" >&2
  failed=1
}

# What gozt needs of the kernel's file systems (virtme-ng mounts most of them).
mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing
mountpoint -q /sys/kernel/debug || mount -t debugfs debugfs /sys/kernel/debug
mountpoint -q /sys/fs/bpf || mount -t bpf bpf /sys/fs/bpf
# Kernels before 5.11 charge BPF maps to RLIMIT_MEMLOCK.
ulimit -l unlimited
uname -r >"$out/kernel"
[[ -e /sys/kernel/btf/vmlinux ]] || fail "no /sys/kernel/btf/vmlinux"

# gozt's BPF programs loaded now (bpftool prints names cut to 15 characters).
gozt_progs() {
  bpftool prog show >"$out/bpftool" 2>&1 || echo "bpftool failed: $(head -1 "$out/bpftool")"
  grep -E '^[0-9]+: .* name gozt' "$out/bpftool" | cut -d: -f1 | tr '\n' ' '
}

for build in pie-stripped default; do
  start=$(date +%s%N)
  GOZT_TIMING=1 timeout -k 10 "$step_timeout" "$gozt" trace --json -o "$out/report-$build.json" -- "$bindir/workload-$build" \
    -goroutines 4 -rounds 3 -harm 3 >"$out/truth-$build.json" 2>"$out/stderr-$build"
  status=$?
  echo "$status" >"$out/status-$build"
  echo "$((($(date +%s%N) - start) / 1000000))" >"$out/ms-$build"
  sed "s/^/[$build] /" "$out/stderr-$build" >&2
  ((status == 0)) || fail "gozt trace on workload-$build exited $status"
done

# Lifecycle: attach to a waiting target for a while, then read its code back. The duration
# counts from gozt's start, discovery included (seconds on emulated CPUs).
# How many of the sites hold an INT3 in the live process (a live uprobe shows as one there);
# perl (essential in Debian) reads them all in one process: quick even on emulated CPUs.
int3s() {
  perl -e 'open(my $m, "<:raw", "/proc/$ARGV[0]/mem") or die "vm-guest: /proc/$ARGV[0]/mem: $!\n";
    my $n = 0;
    while (my $a = <STDIN>) {
      chomp $a;
      sysseek($m, hex($a), 0) or die "vm-guest: seek $a: $!\n";
      sysread($m, my $b, 1) == 1 or die "vm-guest: read $a: $!\n";
      $n++ if $b eq "\xcc";
    }
    print "$n\n";' "$1" <"$out/sites"
}
bin="$bindir/workload-stripped"
"$bin" -wait -goroutines 2 -rounds 1 >"$out/lifecycle-truth.json" 2>"$out/lifecycle-workload" &
wpid=$!
for _ in $(seq 200); do
  grep -q waiting "$out/lifecycle-workload" && break
  sleep 0.1
done
grep -q waiting "$out/lifecycle-workload" || fail "the waiting workload did not start"
GOZT_TIMING=1 timeout -k 10 "$step_timeout" "$gozt" attach --pid "$wpid" --duration 15s --json -o "$out/lifecycle-report.json" \
  2>"$out/stderr-attach" &
gpid=$!
# Attached once gozt prints its attach time (GOZT_TIMING), or gone.
for _ in $(seq 600); do
  grep -q 'timing: discovery' "$out/stderr-attach" && break
  kill -0 "$gpid" 2>/dev/null || break
  sleep 0.1
done
int3s "$wpid" >"$out/int3-attached"
gozt_progs >"$out/progs-attached"
wait "$gpid"
echo "$?" >"$out/status-attach"
sed "s/^/[attach] /" "$out/stderr-attach" >&2
# The kernel frees programs after an RCU grace period: up to 10 s (emulated CPUs are slow).
for _ in $(seq 100); do
  [[ -z "$(gozt_progs)" ]] && break
  sleep 0.1
done
gozt_progs >"$out/progs-after"
int3s "$wpid" >"$out/int3-after"
kill -USR1 "$wpid"
(sleep "$step_timeout" && kill -KILL "$wpid") 2>/dev/null &
watchdog=$!
wait "$wpid"
echo "$?" >"$out/status-workload"
kill "$watchdog" 2>/dev/null
[[ "$(cat "$out/status-attach")" == 0 ]] || fail "gozt attach exited $(cat "$out/status-attach")"
[[ -s "$out/progs-after" ]] && fail "BPF programs left: $(cat "$out/progs-after")"
[[ "$(cat "$out/int3-after")" == 0 ]] || fail "$(cat "$out/int3-after") INT3s left in the target"
exit "$failed"
