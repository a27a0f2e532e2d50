#!/usr/bin/env python3
"""The latency benchmark (root): Debian's prometheus serves its /metrics gzipped to curl;
gozt attaches to it, once counting the gzip streams' output at their sink sites (a trap per
write inside each Close, taken out of Close's time) and once with --no-stream-output (no trap
inside Close: the reference), in turn, RUNS times on a quiet machine and RUNS times with every
core busy with a CPU hog. Prints one table: per run, gzip Close's calls, p50 with sinks
(corrected) and without, their ratio, the calls at 1 ns, the traps inside, the calls left
uncorrected, and PASS when the corrected p50 is within +-25% of the reference and no call is
at 1 ns. Pass or fail is on those rules, not on absolute times.

usage: latency-bench.py GOZT [PROMETHEUS]; LAT_RUNS (10), LAT_SCRAPES (200) scrapes a run,
LAT_EXTRA (extra gozt flags, e.g. --no-correction), LAT_LOADS (quiet,loaded)."""

import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time

CLOSE = "compress/gzip.(*Writer).Close"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def scrape(port, n):
    for _ in range(n):
        subprocess.run(
            ["curl", "-sf", "-H", "Accept-Encoding: gzip", "-o", "/dev/null",
             f"http://127.0.0.1:{port}/metrics"],
            check=True)


def traced(gozt, pid, port, scrapes, flags):
    """One gozt run over `scrapes` scrapes: gzip Close's row of its JSON report."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        g = subprocess.Popen(
            [gozt, "attach", "--pid", str(pid), "--json", "-q", "-o", out.name, *flags],
            stderr=subprocess.PIPE)
        # Attached once the report's target is known: wait for the probes.
        time.sleep(1.5)
        scrape(port, scrapes)
        time.sleep(0.3)
        g.send_signal(2)
        _, err = g.communicate(timeout=60)
        if g.returncode != 0:
            sys.exit(f"gozt failed ({g.returncode}): {err.decode(errors='replace')}")
        report = json.load(open(out.name))
    rows = [f for f in report["functions"] if f["function"] == CLOSE and not f["inner"]]
    if not rows:
        sys.exit(f"no {CLOSE} in the report")
    return rows[0]


def at_1ns(row):
    return sum(b["count"] for b in row["histogram"] if b["max"] <= 1)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    gozt = sys.argv[1]
    prom = sys.argv[2] if len(sys.argv) > 2 else "/usr/bin/prometheus"
    runs = int(os.environ.get("LAT_RUNS", "10"))
    scrapes = int(os.environ.get("LAT_SCRAPES", "200"))
    extra = shlex.split(os.environ.get("LAT_EXTRA", ""))
    loads = os.environ.get("LAT_LOADS", "quiet,loaded").split(",")
    port = free_port()
    work = tempfile.TemporaryDirectory()
    cfg = os.path.join(work.name, "prometheus.yml")
    with open(cfg, "w") as f:
        f.write("global:\n  scrape_interval: 1h\n")
    server = subprocess.Popen(
        [prom, f"--config.file={cfg}", f"--storage.tsdb.path={work.name}/data",
         f"--web.listen-address=127.0.0.1:{port}"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    hogs = []
    failed = 0
    try:
        for _ in range(100):
            try:
                scrape(port, 1)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        scrape(port, 10)
        print(f"prometheus {prom} (pid {server.pid}), {scrapes} gzip scrapes a run, "
              f"{os.cpu_count()} cores; gozt {' '.join(extra) or '(defaults)'}")
        print(f"{'load':<7}{'run':>4}{'calls':>7}{'p50 sinks':>12}{'p50 ref':>10}{'ratio':>7}"
              f"{'at 1ns':>8}{'traps':>8}{'uncorr':>8}  verdict")
        for load in loads:
            if load == "loaded":
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(os.cpu_count() or 2)]
                time.sleep(0.5)
            for run in range(1, runs + 1):
                sinks = traced(gozt, server.pid, port, scrapes, extra)
                ref = traced(gozt, server.pid, port, scrapes, ["--no-stream-output", *extra])
                p50, p50_ref = sinks["latency_ns"]["p50"], ref["latency_ns"]["p50"]
                ratio = p50 / p50_ref if p50_ref else float("inf")
                ones = at_1ns(sinks) + at_1ns(ref)
                ok = 0.75 <= ratio <= 1.25 and ones == 0
                failed += not ok
                print(f"{load:<7}{run:>4}{sinks['calls']:>7}{p50 / 1e3:>10.1f}us"
                      f"{p50_ref / 1e3:>8.1f}us{ratio:>7.2f}{ones:>8}"
                      f"{sinks.get('traps_inside', 0):>8}{sinks.get('uncorrected', 0):>8}  "
                      f"{'PASS' if ok else 'FAIL'}", flush=True)
            for h in hogs:
                h.kill()
                h.wait()
            hogs = []
    finally:
        for h in hogs:
            h.kill()
        server.terminate()
        server.wait()
    print(f"{failed} run(s) failed" if failed else "every run passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
