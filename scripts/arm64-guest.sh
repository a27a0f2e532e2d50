#!/bin/sh
# The init of scripts/arm64-vm.sh's guest (busybox sh, Debian's arm64 6.1 kernel): gozt on
# arm64, against the workload's own ground truth. Results go to the console as files
# (base64 between "@@gozt-file NAME" and "@@gozt-end"):
#   - trace: `gozt trace --json` on workload-stripped and workload-default with the kernel's
#     default method (6.1 has no uprobe.multi: uprobe_cookie): report-<build>.json, the
#     workload's truth-<build>.json, gozt's status-<build> and stderr-<build>;
#   - info.json: `gozt info --json`;
#   - probes-<build>.json: `gozt probes --json` in the guest;
#   - kernel (uname -r), guest-done last. Powers off at the end.
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
mount -t tmpfs tmpfs /tmp
mount -t tracefs tracefs /sys/kernel/tracing
mount -t debugfs debugfs /sys/kernel/debug
mount -t bpf bpf /sys/fs/bpf
ulimit -l unlimited
# The workload serves HTTP to a client of its own over loopback.
ip link set lo up
out=/tmp/out
mkdir -p "$out"
uname -r >"$out/kernel"
step_timeout=240

for build in stripped default; do
  GOZT_TIMING=1 timeout "$step_timeout" /gozt/gozt trace --json \
    -o "$out/report-$build.json" -- "/gozt/workload-$build" -goroutines 4 -rounds 3 -harm 3 \
    >"$out/truth-$build.json" 2>"$out/stderr-$build"
  echo "$?" >"$out/status-$build"
  /gozt/gozt probes --json "/gozt/workload-$build" >"$out/probes-$build.json" 2>&1
done
/gozt/gozt info --json >"$out/info.json" 2>&1
: >"$out/guest-done"

for f in "$out"/*; do
  echo "@@gozt-file ${f##*/}"
  base64 <"$f"
  echo "@@gozt-end"
done
sync
poweroff -f
