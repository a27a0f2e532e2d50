#!/bin/bash
# Usage (in a VM, through scripts/vm-run.sh): vm-guest.sh OUT GOZT BINDIR
# The guest side of the kernel matrix (tests/kernels.rs): what gozt does on this kernel,
# written to OUT for the host to judge against the workload's own ground truth.
#   - info: `gozt info --json` as root (OUT/info-root.json) and as nobody (info-user.json);
#   - trace: `gozt trace --json` with the kernel's default method (no GOZT_ATTACH) on
#     BINDIR/workload-pie-stripped and workload-default: per attempt K, the report in
#     OUT/report-<build>-K.json, the workload's truth in truth-<build>-K.json, gozt's exit code
#     in status-<build>-K and its stderr (and the workload's) in stderr-<build>-K;
#   - lifecycle: `gozt attach` on a waiting workload-stripped, stopped by SIGINT once the
#     host-listed probe sites (OUT/sites, one hex address a line) were read: per attempt K,
#     how many of them hold an INT3 while attached and after exit (int3-attached-K,
#     int3-after-K), gozt's BPF programs and uprobe events left after exit (progs-after-K,
#     events-after-K), the workload's status once released (status-workload-K).
# The emulator now and then kills a uprobed target whatever traces it (see tests/kernels.rs):
# an attempt whose target died of a signal (its Go runtime printed a fatal signal's report,
# with the signal and address, and it exited non-zero) is made again, up to 3 times; nothing
# else is repeated. OUT/attempts-<step> says how many attempts were made.
# Exits 0 when every step's last attempt ran and found nothing wrong (and says so in
# OUT/guest-status); the host checks each file.
set -u
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
out=$1 gozt=$2 bindir=$3
failed=0
repeats=3
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

"$gozt" info --json >"$out/info-root.json" 2>&1 || fail "gozt info exited $?"
setpriv --reuid 65534 --regid 65534 --clear-groups "$gozt" info --json >"$out/info-user.json" 2>&1 ||
  fail "gozt info (nobody) exited $?"

# gozt's BPF programs loaded now (bpftool prints names cut to 15 characters).
gozt_progs() {
  bpftool prog show >"$out/bpftool" 2>&1 || echo "bpftool failed: $(head -1 "$out/bpftool")"
  grep -E '^[0-9]+: .* name gozt' "$out/bpftool" | cut -d: -f1 | tr '\n' ' '
}

# The first line of a Go runtime's report of a fatal signal in file $1 (the program died of
# it: the runtime prints the signal and its address, and exits 2), else nothing. A signal
# whose stack the runtime could not unwind shows as its sigpanic's bad return address.
go_signal() {
  grep -m1 -E '^\[signal SIG|^SIG[A-Z]+: |unexpected return pc for runtime\.sigpanic called from' "$1" 2>/dev/null
}
# Whether the traced command of report $1 exited non-zero (gozt records its status).
command_failed() {
  grep -qE '"command_exit_status": *[1-9]' "$1" 2>/dev/null
}

for build in pie-stripped default; do
  for k in $(seq $((repeats + 1))); do
    echo "$k" >"$out/attempts-$build"
    GOZT_TIMING=1 timeout -k 10 "$step_timeout" "$gozt" trace --json -o "$out/report-$build-$k.json" -- \
      "$bindir/workload-$build" -goroutines 3 -rounds 2 -harm 2 >"$out/truth-$build-$k.json" 2>"$out/stderr-$build-$k"
    status=$?
    echo "$status" >"$out/status-$build-$k"
    sed "s/^/[$build $k] /" "$out/stderr-$build-$k" >&2
    command_failed "$out/report-$build-$k.json" && [[ -n "$(go_signal "$out/stderr-$build-$k")" ]] || break
  done
  ((status == 0)) || fail "gozt trace on workload-$build exited $status"
done

# Lifecycle: attach to a waiting target, read its code back while attached, stop gozt with
# SIGINT, read the code back again, and release the target.
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
for k in $(seq $((repeats + 1))); do
  echo "$k" >"$out/attempts-attach"
  "$bin" -wait -goroutines 2 -rounds 1 >"$out/lifecycle-truth-$k.json" 2>"$out/lifecycle-workload-$k" &
  wpid=$!
  for _ in $(seq 200); do
    grep -q waiting "$out/lifecycle-workload-$k" && break
    sleep 0.1
  done
  grep -q waiting "$out/lifecycle-workload-$k" || fail "the waiting workload did not start"
  GOZT_TIMING=1 timeout -k 10 "$step_timeout" "$gozt" attach --pid "$wpid" --json \
    -o "$out/lifecycle-report-$k.json" 2>"$out/stderr-attach-$k" &
  gpid=$!
  # Attached once gozt prints its attach time (GOZT_TIMING), or gone.
  for _ in $(seq 600); do
    grep -q 'timing: discovery' "$out/stderr-attach-$k" && break
    kill -0 "$gpid" 2>/dev/null || break
    sleep 0.1
  done
  int3s "$wpid" >"$out/int3-attached-$k"
  gozt_progs >"$out/progs-attached-$k"
  kill -INT "$gpid"
  wait "$gpid"
  echo "$?" >"$out/status-attach-$k"
  sed "s/^/[attach $k] /" "$out/stderr-attach-$k" >&2
  # The kernel frees programs after an RCU grace period: up to 10 s (emulated CPUs are slow).
  for _ in $(seq 100); do
    [[ -z "$(gozt_progs)" ]] && break
    sleep 0.1
  done
  gozt_progs >"$out/progs-after-$k"
  grep -h 'gozt_' /sys/kernel/tracing/uprobe_events >"$out/events-after-$k" 2>/dev/null
  int3s "$wpid" >"$out/int3-after-$k"
  kill -USR1 "$wpid"
  (sleep "$step_timeout" && kill -KILL "$wpid") 2>/dev/null &
  watchdog=$!
  wait "$wpid"
  echo "$?" >"$out/status-workload-$k"
  kill "$watchdog" 2>/dev/null
  [[ "$(cat "$out/status-workload-$k")" != 0 && -n "$(go_signal "$out/lifecycle-workload-$k")" ]] || break
done
[[ "$(cat "$out/status-attach-$k")" == 0 ]] || fail "gozt attach exited $(cat "$out/status-attach-$k")"
[[ -s "$out/progs-after-$k" ]] && fail "BPF programs left: $(cat "$out/progs-after-$k")"
[[ -s "$out/events-after-$k" ]] && fail "uprobe events left: $(cat "$out/events-after-$k")"
[[ "$(cat "$out/int3-after-$k")" == 0 ]] || fail "$(cat "$out/int3-after-$k") INT3s left in the target"
# The guest's verdict, also as a file: virtme-ng's exit code once came back 255 after a
# guest that had run to here.
echo "$failed" >"$out/guest-status"
exit "$failed"
