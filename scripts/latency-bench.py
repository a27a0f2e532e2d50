#!/usr/bin/env python3
"""The latency benchmark (root): the same calls measured with and without gozt's traps inside
them must agree. Two real programs built by others, from Debian's packages:
  gzip  prometheus serves its /metrics gzipped to curl. gzip Close is timed once with its
        stream's output counted at its sink sites (a trap per write inside each Close, taken
        out of Close's time) and once with --no-stream-output (no trap inside: the reference).
  zstd  caddy serves a 20 KB text file with `encode zstd` (a pooled klauspost encoder whose
        Close encodes the one block with EncodeAll). zstd Close is timed once with its inner
        EncodeAll traced (its entry and RET trap inside Close, taken out) and once with only
        Close probed (--func: the reference); the inner EncodeAll's p50 is printed beside.
Each case runs RUNS times on a quiet machine and RUNS times with every core busy with a CPU hog.
A run is SPLIT pairs of gozt sessions taken in turn (with traps inside, then the reference), each
over REQUESTS/SPLIT requests; each side's p50 is the median of its sessions' p50s, so that a
stretch of the run in which a hog held the target's core more than usual moves neither side
alone (with both cores hogged, one session's p50 moved by 25 % between consecutive sessions). One table: per run the calls, the corrected p50 and the
reference's, their ratio, the calls at 1 ns, the traps inside, the calls left uncorrected, and
PASS when the corrected p50 is within +-25% of the reference, no call is at 1 ns, and (zstd) the
outer Close's p50 is not below its inner EncodeAll's. Pass or fail is on those rules, not on
absolute times.

usage: latency-bench.py GOZT; LAT_RUNS (10) runs per case and load, LAT_REQUESTS (200) requests
a run, LAT_SPLIT (5) session pairs a run, LAT_CASES (gzip,zstd), LAT_LOADS (quiet,loaded), LAT_EXTRA (extra gozt flags, e.g.
--no-correction), LAT_PROMETHEUS (/usr/bin/prometheus), LAT_CADDY (/usr/bin/caddy)."""

import json
import os
import random
import shlex
import socket
import subprocess
import sys
import tempfile
import time

GZIP_CLOSE = "compress/gzip.(*Writer).Close"
ZSTD_CLOSE = "github.com/klauspost/compress/zstd.(*Encoder).Close"
ZSTD_INNER = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def fetch(url, encoding, n):
    """n requests on one connection (curl reuses it for repeated URLs)."""
    subprocess.run(["curl", "-sf", "-H", f"Accept-Encoding: {encoding}", "-o", "/dev/null",
                    *(["-o", "/dev/null"] * (n - 1)), *([url] * n)], check=True)


def wait_up(url, encoding):
    for _ in range(200):
        try:
            fetch(url, encoding, 1)
            return
        except subprocess.CalledProcessError:
            time.sleep(0.1)
    sys.exit(f"{url} never answered")


def serve(argv, url, encoding):
    """Starts the server `argv`, waits until `url` answers and warms it up."""
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_up(url, encoding)
    fetch(url, encoding, 10)
    return proc


def traced(gozt, pid, load_fn, flags):
    """One gozt run around `load_fn`: its JSON report."""
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        g = subprocess.Popen(
            [gozt, "attach", "--pid", str(pid), "--json", "-q", "-o", out.name, *flags],
            stderr=subprocess.PIPE)
        # Attached once the probes are in: give it time.
        time.sleep(1.5)
        load_fn()
        time.sleep(0.3)
        g.send_signal(2)
        _, err = g.communicate(timeout=60)
        if g.returncode != 0:
            sys.exit(f"gozt failed ({g.returncode}): {err.decode(errors='replace')}")
        return json.load(open(out.name))


def pooled(rows):
    """Sessions' rows of one function as one: calls, traps and calls at 1 ns summed, p50 the
    median of the sessions' p50s."""
    p50s = sorted(r["latency_ns"]["p50"] for r in rows)
    return {
        "calls": sum(r["calls"] for r in rows),
        "p50": p50s[len(p50s) // 2],
        "at_1ns": sum(at_1ns(r) for r in rows),
        "traps_inside": sum(r.get("traps_inside", 0) for r in rows),
        "uncorrected": sum(r.get("uncorrected", 0) for r in rows),
    }


def row(report, function, inner=False):
    rows = [f for f in report["functions"] if f["function"] == function and f["inner"] == inner]
    if not rows:
        sys.exit(f"no {function} (inner {inner}) in the report")
    return rows[0]


def at_1ns(r):
    return sum(b["count"] for b in r["histogram"] if b["max"] <= 1)


class Gzip:
    name = "gzip"

    def __init__(self, work):
        prom = os.environ.get("LAT_PROMETHEUS", "/usr/bin/prometheus")
        port = free_port()
        cfg = os.path.join(work, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1h\n")
        self.url = f"http://127.0.0.1:{port}/metrics"
        self.proc = serve([prom, f"--config.file={cfg}", f"--storage.tsdb.path={work}/prom",
                           f"--web.listen-address=127.0.0.1:{port}"], self.url, "gzip")
        self.what = f"prometheus {prom} (pid {self.proc.pid}), gzip /metrics"

    def pair(self, gozt, requests, extra):
        load = lambda: fetch(self.url, "gzip", requests)  # noqa: E731
        sinks = row(traced(gozt, self.proc.pid, load, extra), GZIP_CLOSE)
        ref = row(traced(gozt, self.proc.pid, load, ["--no-stream-output", *extra]), GZIP_CLOSE)
        return sinks, ref, None


class Zstd:
    name = "zstd"

    def __init__(self, work):
        caddy = os.environ.get("LAT_CADDY", "/usr/bin/caddy")
        port = free_port()
        rng = random.Random(1)
        words = ["gozt ", "zstd ", "gzip ", "latency ", "payload ", "goroutine "]
        with open(os.path.join(work, "page.txt"), "w") as f:
            f.write("".join(rng.choice(words) for _ in range(4000))[:20000])
        cfg = os.path.join(work, "Caddyfile")
        with open(cfg, "w") as f:
            f.write("{\n\tadmin off\n\tauto_https off\n}\n"
                    f":{port} {{\n\troot * {work}\n\tencode zstd\n\tfile_server\n}}\n")
        self.url = f"http://127.0.0.1:{port}/page.txt"
        self.proc = serve([caddy, "run", "--config", cfg, "--adapter", "caddyfile"],
                          self.url, "zstd")
        self.what = f"caddy {caddy} (pid {self.proc.pid}), 20 KB text with encode zstd"

    def pair(self, gozt, requests, extra):
        load = lambda: fetch(self.url, "zstd", requests)  # noqa: E731
        nested = traced(gozt, self.proc.pid, load, extra)
        only = traced(gozt, self.proc.pid, load, ["--func", "zstd.(*Encoder).Close", *extra])
        return row(nested, ZSTD_CLOSE), row(only, ZSTD_CLOSE), row(nested, ZSTD_INNER, True)


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    gozt = sys.argv[1]
    runs = int(os.environ.get("LAT_RUNS", "10"))
    requests = int(os.environ.get("LAT_REQUESTS", "200"))
    split = int(os.environ.get("LAT_SPLIT", "5"))
    extra = shlex.split(os.environ.get("LAT_EXTRA", ""))
    loads = os.environ.get("LAT_LOADS", "quiet,loaded").split(",")
    kinds = {"gzip": Gzip, "zstd": Zstd}
    cases = os.environ.get("LAT_CASES", "gzip,zstd").split(",")
    work = tempfile.TemporaryDirectory()
    servers = []
    hogs = []
    failed = 0
    try:
        for c in cases:
            os.makedirs(os.path.join(work.name, c))
            servers.append(kinds[c](os.path.join(work.name, c)))
        print(f"{requests} requests a run in {split} session pairs, {os.cpu_count()} cores; "
              f"gozt {' '.join(extra) or '(defaults)'}")
        for s in servers:
            print(f"  {s.name}: {s.what}")
        print(f"{'case':<6}{'load':<7}{'run':>4}{'calls':>7}{'p50 corr':>11}{'p50 ref':>11}"
              f"{'ratio':>7}{'inner p50':>11}{'at 1ns':>7}{'traps':>7}{'uncorr':>7}  verdict")
        for load in loads:
            if load == "loaded":
                hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"])
                        for _ in range(os.cpu_count() or 2)]
                time.sleep(0.5)
            for s in servers:
                for run in range(1, runs + 1):
                    pairs = [s.pair(gozt, max(1, requests // split), extra)
                             for _ in range(split)]
                    got, ref = pooled([p[0] for p in pairs]), pooled([p[1] for p in pairs])
                    inner = pooled([p[2] for p in pairs]) if pairs[0][2] else None
                    p50, p50_ref = got["p50"], ref["p50"]
                    ratio = p50 / p50_ref if p50_ref else float("inf")
                    ones = got["at_1ns"] + ref["at_1ns"] + (inner["at_1ns"] if inner else 0)
                    inner_p50 = inner["p50"] if inner else None
                    ok = 0.75 <= ratio <= 1.25 and ones == 0 and (
                        inner_p50 is None or p50 >= inner_p50)
                    failed += not ok
                    inner_text = f"{inner_p50 / 1e3:>9.1f}us" if inner else f"{'-':>11}"
                    print(f"{s.name:<6}{load:<7}{run:>4}{got['calls']:>7}{p50 / 1e3:>9.1f}us"
                          f"{p50_ref / 1e3:>9.1f}us{ratio:>7.2f}{inner_text}{ones:>7}"
                          f"{got.get('traps_inside', 0):>7}{got.get('uncorrected', 0):>7}  "
                          f"{'PASS' if ok else 'FAIL'}", flush=True)
            for h in hogs:
                h.kill()
                h.wait()
            hogs = []
    finally:
        for h in hogs:
            h.kill()
        for s in servers:
            s.proc.terminate()
            s.proc.wait()
    print(f"{failed} run(s) failed" if failed else "every run passed")
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
