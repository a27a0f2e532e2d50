#!/usr/bin/env python3
"""A week of rollouts in minutes: gozt as a node agent (--binary PATH --prometheus) while
GENERATIONS new copies of the service are put at PATH (a new file each: a rename over it,
as a rollout or a package upgrade leaves it), started, traced and stopped, up to OVERLAP at
once. Each generation is held until gozt serves its series, and its calls and payloads in
gozt's metrics must equal the workload's own truth. Every STEP generations it prints gozt's
resident memory, open descriptors, BPF links, maps and programs, and the targets with
series; at the end, after the series grace period, no gone target's series may remain, and
the JSON report's totals must be every generation's.

    scripts/soak.py [--gozt PATH] [--workload PATH] [--generations 1000] [--overlap 4]

Needs root. Prints a table, then PASS or FAIL lines; exits 1 on a FAIL.
"""

import argparse
import errno
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def metrics(addr):
    with urllib.request.urlopen(f"http://{addr}/metrics", timeout=5) as r:
        return r.read().decode()


def series_sum(text, name, pid):
    """The sum of metric `name`'s series of target `pid`."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(name + "{") and f'pid="{pid}"' in line:
            total += float(line.rsplit(" ", 1)[1])
    return total


def traced_pids(text):
    pids = set()
    for line in text.splitlines():
        if line.startswith("gozt_target_info{"):
            pids.add(line.split('pid="', 1)[1].split('"', 1)[0])
    return pids


def truth_sums(truth):
    calls = payloads = 0
    for g in truth["goroutines"]:
        for c in g["functions"].values():
            if isinstance(c.get("outer"), str):
                continue
            calls += c["calls"]
            payloads += c["payloads"]
    return calls, payloads


def wait_until(check, seconds):
    """Whether `check()` came true within `seconds` (asked every 50 ms)."""
    deadline = time.time() + seconds
    while not check():
        if time.time() > deadline:
            return False
        time.sleep(0.05)
    return True


def footprint(pid):
    """gozt's resident memory (MiB), descriptors, BPF links, maps and programs."""
    with open(f"/proc/{pid}/status") as f:
        rss = next(int(l.split()[1]) for l in f if l.startswith("VmRSS:")) / 1024
    fds = links = maps = progs = 0
    for fd in os.listdir(f"/proc/{pid}/fd"):
        fds += 1
        try:
            with open(f"/proc/{pid}/fdinfo/{fd}") as f:
                info = f.read()
        except OSError:
            continue
        links += "link_id:" in info
        maps += "map_id:" in info
        progs += "prog_id:" in info
    return rss, fds, links, maps, progs


def newest_workload():
    out = subprocess.run(
        ["bash", os.path.join(HERE, "scripts/build-testdata.sh")],
        check=True, capture_output=True, text=True,
    ).stdout
    d = out.strip().splitlines()[-1]
    chains = sorted(p for p in os.listdir(d) if os.path.isdir(os.path.join(d, p)))
    return os.path.join(d, chains[-1], "workload-stripped")


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(HERE, "target"))
    ap.add_argument("--gozt", default=os.path.join(target, "release/gozt"))
    ap.add_argument("--workload")
    ap.add_argument("--generations", type=int, default=1000)
    ap.add_argument("--overlap", type=int, default=4)
    ap.add_argument("--step", type=int, default=100)
    ap.add_argument("--grace", default="5s")
    a = ap.parse_args()
    workload = a.workload or newest_workload()
    tmp = tempfile.mkdtemp(prefix="gozt-soak-")
    svc = os.path.join(tmp, "svc")
    shutil.copy(workload, svc)
    addr = f"127.0.0.1:{free_port()}"
    report = os.path.join(tmp, "report.json")
    log_path = os.path.join(tmp, "gozt.log")
    log = open(log_path, "w")
    gozt = subprocess.Popen(
        [a.gozt, "attach", "--binary", svc, "--prometheus", addr, "--series-grace",
         a.grace, "--json", "-o", report],
        stderr=log, text=True,
    )
    fails = []
    failed_pids = []
    # Seconds from each generation's start to its series.
    pickup = []
    lock = threading.Lock()
    done = {"calls": 0, "payloads": 0, "n": 0}
    try:
        for _ in range(100):
            try:
                metrics(addr)
                break
            except OSError:
                time.sleep(0.1)
        seq = [0]

        def generation():
            # Every generation counts toward the run, traced or not, so that
            # a gozt that stops following fails the run instead of stalling it.
            procs = []
            try:
                one(procs)
            except Exception as e:  # noqa: BLE001 - any failure is the run's
                fails.append(f"a generation failed: {e!r}")
            finally:
                for p in procs:
                    if p.poll() is None:
                        p.kill()
                        p.wait()
                with lock:
                    done["n"] += 1

        def one(procs):
            with lock:
                seq[0] += 1
                nxt = f"{svc}.{seq[0]}"
            shutil.copy(workload, nxt)
            os.rename(nxt, svc)
            for attempt in range(50):
                try:
                    p = subprocess.Popen([svc, "-wait", "-goroutines", "1", "-rounds", "1"],
                                         stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                         text=True)
                    break
                except OSError as e:
                    # Another thread's child, forked while a copy was being
                    # written, holds it open for writing until it execs.
                    if e.errno != errno.ETXTBSY or attempt == 49:
                        raise
                    time.sleep(0.01)
            procs.append(p)
            t0 = time.time()
            p.stderr.readline()
            if not wait_until(lambda: str(p.pid) in traced_pids(metrics(addr)), 20):
                fails.append(f"pid {p.pid}: never traced")
                failed_pids.append(p.pid)
                return
            with lock:
                pickup.append(time.time() - t0)
            os.kill(p.pid, signal.SIGUSR1)
            truth = json.loads(p.stdout.read())
            p.wait()
            calls, payloads = truth_sums(truth)
            got = []

            def counted():
                text = metrics(addr)
                got[:] = [series_sum(text, "gozt_calls_total", p.pid),
                          series_sum(text, "gozt_payloads_total", p.pid)]
                return got == [calls, payloads]

            if not wait_until(counted, 10):
                fails.append(f"pid {p.pid}: calls, payloads {tuple(got)} != truth "
                             f"{(calls, payloads)}")
                failed_pids.append(p.pid)
            with lock:
                done["calls"] += calls
                done["payloads"] += payloads

        def run(n):
            threads = []
            for _ in range(n):
                if gozt.poll() is not None:
                    fails.append(f"gozt exited ({gozt.returncode}) during the run")
                    break
                while len([t for t in threads if t.is_alive()]) >= a.overlap:
                    time.sleep(0.01)
                t = threading.Thread(target=generation)
                t.start()
                threads.append(t)
            for t in threads:
                t.join()

        marks = []
        started = time.time()
        run(min(20, a.generations))
        base = footprint(gozt.pid)
        rows = [("generations", "RSS MiB", "fds", "links", "maps", "progs", "targets with series", "s")]
        rows.append((done["n"], f"{base[0]:.1f}", *base[1:], len(traced_pids(metrics(addr))),
                     f"{time.time() - started:.0f}"))
        while done["n"] < a.generations and gozt.poll() is None:
            run(min(a.step, a.generations - done["n"]))
            f = footprint(gozt.pid)
            marks.append((done["n"], f[0]))
            rows.append((done["n"], f"{f[0]:.1f}", *f[1:], len(traced_pids(metrics(addr))),
                         f"{time.time() - started:.0f}"))
            print("  ".join(str(c) for c in rows[-1]), file=sys.stderr)
        time.sleep(float(a.grace.rstrip("s")) + 2)
        left = traced_pids(metrics(addr))
        end = footprint(gozt.pid)
        gozt.send_signal(signal.SIGINT)
        gozt.wait(timeout=60)
        widths = [max(len(str(r[i])) for r in rows) for i in range(len(rows[0]))]
        for r in rows:
            print("  ".join(str(c).rjust(w) for c, w in zip(r, widths)))
        with open(report) as f:
            rep = json.load(f)
        print(f"after the grace period: {len(left)} targets with series; "
              f"report: {rep['totals']['calls']} calls, {len(rep['targets'])} targets listed")
        pickup.sort()
        if pickup:
            print(f"a new generation traced {1000 * pickup[len(pickup) // 2]:.0f} ms after its "
                  f"start (median; 99th percentile "
                  f"{1000 * pickup[len(pickup) * 99 // 100]:.0f} ms, "
                  f"slowest {1000 * pickup[-1]:.0f} ms)")
        log.flush()
        with open(log_path) as f:
            said = f.read().splitlines()
        reads = sorted(int(l.split("read in ", 1)[1].split(" ms", 1)[0])
                       for l in said if "read in " in l)
        if reads:
            print(f"gozt read {len(reads)} new files in {reads[len(reads) // 2]} ms "
                  f"(median; slowest {reads[-1]} ms)")
        # How long each process had run when its file was probed, as gozt says.
        ages = sorted(int(part.split(" ms before", 1)[0])
                      for l in said if "read in " in l
                      for part in l.split("(started ")[1:])
        if ages:
            print(f"gozt probed {len(ages)} new processes' files {ages[len(ages) // 2]} ms after "
                  f"their start (median; 99th percentile {ages[len(ages) * 99 // 100]} ms, "
                  f"slowest {ages[-1]} ms)")
        if failed_pids:
            print("lost:", json.dumps(rep.get("lost")))
            for pid in failed_pids[:5]:
                for line in said:
                    if f"pid {pid}" in line or f" {pid}," in line or f"({pid})" in line:
                        print(f"  gozt said: {line}")
        # Judged from a mark at least 300 generations in (past the bounded
        # lists' filling), over at least 100 generations after it.
        flat_from = next((m for m in marks if m[0] >= max(300, a.generations * 0.6)), None)
        judged = flat_from is not None and done["n"] - flat_from[0] >= 100
        if not judged:
            print(f"NOTE resident memory not judged: {a.generations} generations are too few "
                  "(it is judged over the last 40 % of 500 or more)")
            flat_from = (done["n"], end[0])
        checks = [
            (not fails, f"every generation's calls and payloads exact ({len(fails)} not): "
                        + "; ".join(fails[:3])),
            (not left, f"no series of gone targets after the grace period ({len(left)} left)"),
            (rep["totals"]["calls"] == done["calls"],
             f"report totals {rep['totals']['calls']} calls = the generations' {done['calls']}"),
            (len(rep["targets"]) <= 257, f"targets listed bounded ({len(rep['targets'])})"),
            (end[1] <= base[1] and end[2] <= base[2] and end[3] <= base[3] and end[4] <= base[4],
             f"descriptors, links, maps, programs back to baseline ({end[1:]} vs {base[1:]})"),
            # Memory fills what is bounded (the last MAX_EXITED_LISTED
            # targets listed, each with its own counts; MAX_GOROUTINES
            # goroutines), then stays: the last 40 % of the generations may
            # not add more than 5 %.
            (end[0] <= flat_from[1] * 1.05 + 1,
             f"resident memory flat over the last {a.generations - flat_from[0]} generations "
             f"({end[0]:.1f} MiB vs {flat_from[1]:.1f} MiB after {flat_from[0]}; "
             f"{base[0]:.1f} MiB after {rows[1][0]})"),
        ]
        if not judged:
            checks.pop()
        for ok, what in checks:
            print(("PASS " if ok else "FAIL ") + what)
        return 0 if all(ok for ok, _ in checks) else 1
    finally:
        if gozt.poll() is None:
            gozt.kill()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
