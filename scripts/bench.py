#!/usr/bin/env python3
"""gozt's overhead benchmark (run through scripts/bench.sh, as root).

Prints one table, every number measured in this run, medians over repeats:
  1. per-call cost to a Go program calling github.com/golang/snappy.Encode in
     a tight loop, for several input sizes: bare; gozt attached (full per-call
     data); the floor (the same traps at the same sites with a program that
     returns at once: gozt's own, switched every ALT_MS ms, and the empty
     program of gozt --probe-floor as a check); Debian's bpftrace doing what
     it can; all timed in one running loop per size;
  2. the highest call rate gozt sustains with both cores busy, and its losses;
  3. discovery + attach time and peak RSS on a large stripped Go binary;
  4. --max-overhead 1%: the target's measured slowdown and added kernel time
     against the budget;
  5. what counting gzip streams' compressed output (sink sites) costs: ns per
     stream bare, traced, and traced with --no-stream-output;
  6. each attach method side by side (methods): per-call cost over the
     two-trap floor, BPF time per call, attach and detach times;
  6b. what timing each payload's downstream write costs (downstream): a
     16 KiB gzip stream then written to a TCP socket, per payload, gozt's
     default against --no-downstream (the write tracepoints alone);
  6c. what tracing encoders' constructors and resets costs (lifecycle): a
     16 KiB gzip stream per payload, its writer reset (pooled) or built
     (per payload), gozt's default against --no-lifecycle;
  7. a real server (server): Debian's caddy serving 2 KB, 20 KB and 200 KB
     text gzipped and zstd'ed to wrk, throughput and p50/p99 latency against
     bare windows for gozt's default, --no-stream-output, --max-overhead 1%
     and a one-trap bpftrace anchor (BENCH_GOZT_BEFORE: another gozt's
     default beside), gozt's CPU, and its payload count against wrk's.
"""
import json
import random
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

GOZT = sys.argv[1]
LOOP = sys.argv[2]
BIG = sys.argv[3]
WORKLOAD = sys.argv[4]
REPEATS = int(os.environ.get("BENCH_REPEATS", "5"))
BUDGET_CALLS = int(os.environ.get("BENCH_BUDGET_CALLS", "300000000"))
WINDOW_S = float(os.environ.get("BENCH_WINDOW_S", "2"))
TICK = 100
ALT_MS = int(os.environ.get("BENCH_ALT_MS", "100"))
FUNC = "github.com/golang/snappy.Encode"


def start_loop(args):
    """The call loop, waiting for SIGUSR1."""
    p = subprocess.Popen([LOOP, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert "waiting" in p.stderr.readline()
    return p


def finish_loop(p):
    p.send_signal(signal.SIGUSR1)
    out, _ = p.communicate()
    return json.loads(out)


def gozt_programs():
    out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
    return len(re.findall(r"name gozt_(site|floor)", out))


def wait_attached(want):
    deadline = time.time() + 15
    while gozt_programs() < want:
        assert time.time() < deadline, "gozt did not attach"
        time.sleep(0.02)
    time.sleep(0.3)


def traced(args, gozt_args):
    """Runs the loop under `gozt attach`; returns (loop result, gozt report)."""
    p = start_loop(args)
    with tempfile.NamedTemporaryFile(suffix=".json") as rep:
        g = subprocess.Popen([GOZT, "attach", "--pid", str(p.pid), "--json", "-o", rep.name, *gozt_args],
                             stderr=subprocess.DEVNULL)
        wait_attached(2)
        r = finish_loop(p)
        g.wait()
        report = json.load(open(rep.name))
    return r, report


def median(xs):
    return statistics.median(xs)


rows = []


notes = []


def row(*cells):
    rows.append(cells)


def bpf_run_ns(args, gozt_args):
    """Average BPF run time per call of the programs gozt attaches (bpf_stats)."""
    subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=1"], check=True)
    try:
        p = start_loop(args)
        g = subprocess.Popen([GOZT, "attach", "--pid", str(p.pid), "-o", "/dev/null", *gozt_args],
                             stderr=subprocess.DEVNULL)
        wait_attached(2)
        p.send_signal(signal.SIGUSR1)
        time.sleep(0.5)
        out = subprocess.run(["bpftool", "prog", "show"], capture_output=True, text=True).stdout
        p.communicate()
        g.send_signal(signal.SIGINT)
        g.wait()
    finally:
        subprocess.run(["sysctl", "-qw", "kernel.bpf_stats_enabled=0"], check=True)
    total_ns = traps = 0
    for name, ns, cnt in re.findall(r"name (gozt_\w+) .*?run_time_ns (\d+) run_cnt (\d+)", out):
        total_ns += int(ns)
        traps += int(cnt)
    # Two traps per call: its entry and its RET.
    return total_ns / max(traps / 2, 1)


def window(p, start, stop):
    """Times one window of the running loop `p` with `start()`'s tracer in
    place; returns (t0, t1) in Unix seconds."""
    stopper = start(p)
    t0 = time.time()
    time.sleep(WINDOW_S)
    t1 = time.time()
    stop(stopper)
    return t0, t1


def gozt_window(extra):
    def start(p):
        g = subprocess.Popen([GOZT, "attach", "--pid", str(p.pid), "-o", "/dev/null", *extra],
                             stderr=subprocess.DEVNULL)
        wait_attached(2)
        return g

    def stop(g):
        g.send_signal(signal.SIGINT)
        g.wait()
    return start, stop


def bpftrace_window():
    prog = 'uprobe:%s:"%s" { @calls = count(); @bytes_in = sum(reg("si")); }' % (LOOP, FUNC)

    def start(p):
        b = subprocess.Popen(["bpftrace", "-e", prog], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                             text=True)
        assert "Attaching" in b.stdout.readline()
        time.sleep(0.3)
        return b

    def stop(b):
        b.send_signal(signal.SIGINT)
        out, _ = b.communicate()
        assert re.search(r"@calls: [1-9]", out), out
    return start, stop


def bare_window():
    return (lambda p: time.sleep(0.3)), (lambda _: None)


def alternate_window(p):
    """gozt attached to the running loop `p` with --probe-alternate: full
    tracing and the floor take turns every ALT_MS ms. Returns the switches,
    [(mode, Unix ns)], the last one marking the end."""
    g = subprocess.Popen([GOZT, "attach", "--pid", str(p.pid), "-o", "/dev/null",
                          "--probe-alternate", f"{ALT_MS}ms"], stderr=subprocess.PIPE, text=True)
    wait_attached(2)
    time.sleep(2 * WINDOW_S)
    g.send_signal(signal.SIGINT)
    _, err = g.communicate()
    switches = [(m, int(ns)) for m, ns in re.findall(r"gozt: alternate: (\w+) (\d+)", err)]
    assert len(switches) >= 4, f"gozt --probe-alternate switched {len(switches)} times: {err}"
    return switches[:-1] + [("end", switches[-1][1])]


def typical(ticks, t0, t1, mean=False):
    """ns per call from the loop's ticks between Unix ns t0 and t1: their
    median, or with `mean` their average (stalls included)."""
    ts = [t for t in ticks if t0 <= t <= t1]
    if len(ts) < 10:
        return None
    if mean:
        return (ts[-1] - ts[0]) / ((len(ts) - 1) * TICK)
    return median(b - a for a, b in zip(ts, ts[1:])) / TICK


def stretch_ratios(ticks, switches, mean):
    """gozt over the mean of the floors either side, per full-tracing
    stretch. A stretch starts 2 ms after its switch, which a running call
    may straddle; the first (callers not yet named) is left out."""
    stretch = [(m, typical(ticks, a + 2e6, b, mean)) for (m, a), (_, b) in zip(switches, switches[1:])][1:]
    return [g / ((f0 + f1) / 2) for (m0, f0), (m1, g), (m2, f1) in zip(stretch, stretch[1:], stretch[2:])
            if (m0, m1, m2) == ("floor", "gozt", "floor") and f0 and g and f1], stretch


def alternation_ratios(ticks, alternations):
    """Over alternate_window runs: (floor ns, gozt ns, gozt/floor per
    stretch from median ticks, the same from the stretches' averages)."""
    floor, full, ratio, ratio_mean = [], [], [], []
    for switches in alternations:
        r, stretch = stretch_ratios(ticks, switches, False)
        ratio += r
        ratio_mean += stretch_ratios(ticks, switches, True)[0]
        floor += [x for m, x in stretch if m == "floor" and x]
        full += [x for m, x in stretch if m == "gozt" and x]
    assert len(ratio) >= 4 and len(ratio_mean) >= 4, \
        f"{len(ratio)} gozt stretches between floor ones: BENCH_WINDOW_S too short for BENCH_ALT_MS"
    return floor, full, ratio, ratio_mean


def per_call():
    """Per-call cost, in one running loop per input size, REPEATS rounds of:
    a bare window, a window of the empty floor program (--probe-floor), a
    bpftrace window, and a window where gozt switches between full tracing
    and the floor every ALT_MS ms (--probe-alternate). The loop notes the
    time every TICK calls; a stretch's ns per call is the median over its
    ticks. gozt/floor compares each full-tracing stretch with the floor
    stretches on either side of it: this VM's speed drifts by several percent
    over seconds, and stalls a vCPU now and then, whatever runs, which would
    swamp a 5 % difference between windows seconds apart."""
    row(f"per-call cost, snappy.Encode in a loop ({REPEATS} rounds; ns per call: median over {TICK}-call ticks; "
        f"floor and gozt alternating every {ALT_MS} ms)", "", "", "", "", "", "")
    row("input", "bare ns", "floor ns", "gozt ns", "bpftrace ns", "gozt/floor", "middle half of stretches")
    modes = {
        "bare": bare_window(),
        "empty": gozt_window(["--probe-floor"]),
        "bpftrace": bpftrace_window(),
    }
    floor_1k = None
    for size in (64, 1024, 16384):
        p = subprocess.Popen([LOOP, "-now", "-size", str(size), "-calls", str(10**9), "-ticks", str(TICK)],
                             stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        spans = {m: [] for m in modes}
        alternations = []
        for _ in range(REPEATS):
            for m, (start, stop) in modes.items():
                spans[m].append(window(p, start, stop))
            alternations.append(alternate_window(p))
        p.send_signal(signal.SIGUSR2)
        out, _ = p.communicate()
        ticks = json.loads(out)["ticks"]

        ns = {m: [typical(ticks, a * 1e9, b * 1e9) for a, b in spans[m]] for m in modes}
        assert all(x for xs in ns.values() for x in xs), "a window too short for its ticks"
        floor, full, ratio, ratio_mean = alternation_ratios(ticks, alternations)
        q = statistics.quantiles(ratio, n=4)
        qm = statistics.quantiles(ratio_mean, n=4)
        if size == 1024:
            floor_1k = median(floor)
        row(f"{size} B", f"{median(ns['bare']):.0f}", f"{median(floor):.0f}", f"{median(full):.0f}",
            f"{median(ns['bpftrace']):.0f}", f"{median(ratio):.3f}", f"{q[0]:.3f}-{q[2]:.3f} of {len(ratio)}")
        notes.append(f"{size} B: the empty floor program in its own windows took {median(ns['empty']):.0f} ns "
                     f"per call (per round: {' '.join(f'{x:.0f}' for x in ns['empty'])}); the floor "
                     f"alternating with gozt, {median(floor):.0f}; gozt/floor from the stretches' averages "
                     f"(stalls included) instead of their median ticks: {median(ratio_mean):.3f} "
                     f"(middle half {qm[0]:.3f}-{qm[2]:.3f})")
    loop = ["-size", "1024", "-calls", "50000"]
    g = median(bpf_run_ns(loop, []) for _ in range(REPEATS))
    f = median(bpf_run_ns(loop, ["--probe-floor"]) for _ in range(REPEATS))
    row("BPF run time per call (bpf_stats)", "", f"{f:.0f}", f"{g:.0f}", "", "", "")
    # The part of a traced call gozt's code decides, against the 1024 B
    # floor measured above.
    row("  floor + gozt's added BPF time", "", "", "", "", f"{(floor_1k + g - f) / floor_1k:.3f}", "")


def max_rate():
    row("", "", "", "", "", "", "")
    row("sustained rate, 2 goroutines on 2 cores", "calls", "calls/s", "lost", "unmatched", "", "")
    for size in (64, 4096):
        r, rep = traced(["-size", str(size), "-calls", "100000", "-workers", "2"], [])
        lost = sum(rep["lost"][k] for k in ("ringbuf_full", "inflight_full", "aged_out", "abandoned"))
        f = [x for x in rep["functions"] if x["function"] == FUNC][0]
        assert f["calls"] == r["calls"]
        row(f"{size} B input", str(f["calls"]), f"{r['calls_per_s']:.0f}", str(lost),
            str(rep["lost"]["unmatched_returns"]), "", "")


def gozt_cpu(args):
    """Attaches gozt to the loop, which makes its calls, and gozt ends with
    it. Returns (gozt's CPU seconds, calls it counted)."""
    p = start_loop(args)
    with tempfile.NamedTemporaryFile(suffix=".json") as rep:
        g = subprocess.Popen([GOZT, "attach", "--pid", str(p.pid), "--json", "-o", rep.name],
                             stderr=subprocess.DEVNULL)
        wait_attached(2)
        finish_loop(p)
        _, _, ru = os.wait4(g.pid, 0)
        calls = json.load(open(rep.name))["totals"]["calls"]
    return ru.ru_utime + ru.ru_stime, calls


def cpu_per_event():
    """gozt's own CPU per event, by calling pattern: the difference in its
    CPU time between a run of 3N calls and a run of N, over the 2N calls
    between (startup, attach, polling, detach and the report's size cancel
    out: a report holds at most 2,000 goroutines either way)."""
    row("", "", "", "", "", "", "")
    row("gozt's CPU per event, 1024 B input", "calls", "ns per event", "per run", "", "", "")
    n = 20000
    for name, args in (("one goroutine calling in a loop", ["-workers", "1"]),
                       ("two goroutines calling", ["-workers", "2"]),
                       ("a new goroutine per call", ["-spawn"])):
        per = []
        for _ in range(REPEATS):
            small, calls_small = gozt_cpu(["-size", "1024", "-calls", str(n), *args])
            big, calls_big = gozt_cpu(["-size", "1024", "-calls", str(3 * n), *args])
            per.append((big - small) / (calls_big - calls_small) * 1e9)
        row(name, str(calls_big - calls_small), f"{median(per):.0f}", " ".join(f"{x:.0f}" for x in per),
            "", "", "")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def big_server():
    """The large binary (Debian's prometheus) running, idle, on loopback."""
    d = tempfile.mkdtemp()
    cfg = os.path.join(d, "p.yml")
    open(cfg, "w").write("global:\n  scrape_interval: 1h\n")
    srv = subprocess.Popen([BIG, f"--config.file={cfg}", f"--storage.tsdb.path={d}/data",
                            f"--web.listen-address=127.0.0.1:{free_port()}"],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(2)
    return srv


def startup():
    row("", "", "", "", "", "", "")
    size_mb = os.path.getsize(BIG) / 1e6
    row(f"startup on {os.path.basename(BIG)} ({size_mb:.0f} MB, stripped)", "ms", "peak RSS MB", "", "", "", "")
    probes = []
    rss = []
    for _ in range(REPEATS):
        t = time.time()
        out = subprocess.run(["/usr/bin/time", "-f", "%M", GOZT, "probes", BIG], capture_output=True, text=True)
        probes.append((time.time() - t) * 1e3)
        rss.append(int(out.stderr.strip().splitlines()[-1]) / 1024)
    row("gozt probes (discovery)", f"{median(probes):.0f}", f"{median(rss):.1f}", "", "", "", "")
    srv = big_server()
    times, rss = [], []
    for _ in range(REPEATS):
        out = subprocess.run(["/usr/bin/time", "-f", "%M", GOZT, "attach", "--pid", str(srv.pid),
                              "--duration", "100ms", "--json", "-o", "/dev/null"],
                             capture_output=True, text=True, env={**os.environ, "GOZT_TIMING": "1"})
        m = re.search(r"discovery ([\d.]+) ms, attach ([\d.]+) ms", out.stderr)
        assert m, out.stderr
        times.append(float(m.group(1)) + float(m.group(2)))
        rss.append(int(out.stderr.strip().splitlines()[-1]) / 1024)
    srv.terminate()
    srv.wait()
    row("gozt attach --pid (discovery + attach)", f"{median(times):.0f}", f"{median(rss):.1f}", "", "", "", "")


METHODS = ("uprobe_multi", "uprobe_cookie", "uprobe_address")


def has_method(method):
    """Whether this kernel has `method` (gozt info, GOZT_ATTACH forcing it)."""
    out = subprocess.run([GOZT, "info", "--json"], capture_output=True, text=True,
                         env={**os.environ, "GOZT_ATTACH": method})
    return json.loads(out.stdout)["attach_method"] == method


class Env:
    """Environment variables set for the gozt runs inside `with`."""

    def __init__(self, **kv):
        self.kv = kv

    def __enter__(self):
        self.old = {k: os.environ.get(k) for k in self.kv}
        os.environ.update(self.kv)

    def __exit__(self, *_):
        for k, v in self.old.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def attach_detach(env, runs):
    """gozt attach --duration on the waiting workload (WORKLOAD: every catalog
    function), GOZT_TIMING: (sites, how, attach ms per run, detach ms per run)."""
    w = subprocess.Popen([WORKLOAD, "-wait", "-goroutines", "1", "-rounds", "1"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    assert "waiting" in w.stderr.readline()
    attach, detach, sites, how = [], [], "", ""
    try:
        for _ in range(runs):
            out = subprocess.run([GOZT, "attach", "--pid", str(w.pid), "--duration", "1s", "--json", "-o",
                                  "/dev/null"], capture_output=True, text=True,
                                 env={**os.environ, **env, "GOZT_TIMING": "1"})
            m = re.search(r"attach ([\d.]+) ms \((\w+), (\d+) sites(, [\w ]+)?\)", out.stderr)
            d = re.search(r"detach ([\d.]+) ms", out.stderr)
            assert m and d, out.stderr
            attach.append(float(m.group(1)))
            detach.append(float(d.group(1)))
            sites, how = m.group(3), (m.group(4) or "").lstrip(", ")
    finally:
        w.kill()
        w.wait()
    return sites, how, attach, detach


def methods():
    """Each attach method this kernel has, side by side in one run
    (GOZT_ATTACH forces each): the per-call cost over the two-trap floor
    (gozt and the floor program taking turns every ALT_MS ms in one running
    loop, the methods taking turns each round, as in per_call), the BPF run
    time per call, and attach and detach times on the workload's sites
    (classic methods also as one uprobe per site, GOZT_PER_SITE: the way
    before their sites were grouped in one tracefs event per binary)."""
    have = [m for m in METHODS if has_method(m)]
    row("", "", "", "", "", "", "")
    row(f"attach methods, 1024 B loop ({REPEATS} rounds, the methods taking turns)", "floor ns", "gozt ns",
        "gozt/floor", "middle half of stretches", "BPF ns per call", "")
    p = subprocess.Popen([LOOP, "-now", "-size", "1024", "-calls", str(10**9), "-ticks", str(TICK)],
                         stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    alternations = {m: [] for m in have}
    for _ in range(REPEATS):
        for m in have:
            with Env(GOZT_ATTACH=m):
                alternations[m].append(alternate_window(p))
    p.send_signal(signal.SIGUSR2)
    out, _ = p.communicate()
    ticks = json.loads(out)["ticks"]
    for m in METHODS:
        if m not in have:
            row(m, "not on this kernel", "", "", "", "", "")
            continue
        floor, full, ratio, ratio_mean = alternation_ratios(ticks, alternations[m])
        q = statistics.quantiles(ratio, n=4)
        with Env(GOZT_ATTACH=m):
            ns = median(bpf_run_ns(["-size", "1024", "-calls", "50000"], []) for _ in range(REPEATS))
        row(m, f"{median(floor):.0f}", f"{median(full):.0f}", f"{median(ratio):.3f}",
            f"{q[0]:.3f}-{q[2]:.3f} of {len(ratio)}", f"{ns:.0f}", "")
        notes.append(f"{m}: gozt/floor from the stretches' averages (stalls included): "
                     f"{median(ratio_mean):.3f}")
    row("", "", "", "", "", "", "")
    row(f"attach and detach, {os.path.basename(WORKLOAD)} (ms)", "sites", "attach", "detach", "how",
        "attach per run", "detach per run")
    for m in have:
        variants = [(m, {"GOZT_ATTACH": m}, REPEATS)]
        if m != "uprobe_multi":
            # One uprobe per site detaches in tens of seconds: one run.
            variants.append((f"{m}, one per site", {"GOZT_ATTACH": m, "GOZT_PER_SITE": "1"}, 1))
        for name, env, runs in variants:
            sites, how, a, d = attach_detach(env, runs)
            row(name, sites, f"{median(a):.1f}", f"{median(d):.1f}", how, " ".join(f"{x:.0f}" for x in a),
                " ".join(f"{x:.0f}" for x in d))


def budget():
    row("", "", "", "", "", "", "")
    row(f"--max-overhead 1%, 64 B loop, {BUDGET_CALLS // 1000000}M calls", "bare s", "gozt s", "slowdown",
        "added kernel time", "gozt estimate", "attached")
    args = ["-size", "64", "-calls", str(BUDGET_CALLS)]
    pairs = []
    # Bare and budgeted runs alternate, and each slowdown is of a pair.
    for _ in range(REPEATS):
        b = finish_loop(start_loop(args))
        r, rep = traced(args, ["--max-overhead", "1%"])
        s = rep["sampling"]
        pairs.append({
            "bare": b["seconds"],
            "gozt": r["seconds"],
            "slowdown": r["seconds"] / b["seconds"] - 1,
            # uprobe traps and gozt's programs run in the kernel, on the
            # target's time: what tracing added to its system time, over
            # its CPU time.
            "kernel": (r["system_s"] - b["system_s"]) / (r["user_s"] + r["system_s"]),
            "estimate": s["estimated_overhead"],
            "attached": f"{s['attached_s']:.2f} of {s['traced_s']:.2f} s, {s['windows']} windows",
        })
    mid = sorted(pairs, key=lambda p: p["slowdown"])[len(pairs) // 2]
    row("", f"{median(p['bare'] for p in pairs):.3f}", f"{median(p['gozt'] for p in pairs):.3f}",
        f"{median(p['slowdown'] for p in pairs) * 100:.2f}%",
        f"{median(p['kernel'] for p in pairs) * 100:.2f}%",
        f"{median(p['estimate'] for p in pairs) * 100:.2f}%", mid["attached"])
    notes.append("--max-overhead pairs, slowdown: " + " ".join(f"{p['slowdown'] * 100:+.2f}%" for p in pairs)
                 + "; added kernel time: " + " ".join(f"{p['kernel'] * 100:.2f}%" for p in pairs)
                 + "; estimate: " + " ".join(f"{p['estimate'] * 100:.2f}%" for p in pairs))


def streams():
    """Per gzip stream (Reset, Write, Close of text), REPEATS runs each:
    bare; gozt tracing compress/gzip with its sink sites (one trap per write
    of compressed bytes to the stream's io.Writer); and with
    --no-stream-output (entries and RETs only, the streams not judged)."""
    row("", "", "", "", "", "", "")
    row("gzip streams (ns per stream)", "bare", "gozt", "no sinks", "out B/stream", "gozt/bare",
        "no sinks/bare")
    for size in (1024, 16384, 262144):
        args = ["-gzip", "-size", str(size), "-calls", str(max(200, 40_000_000 // size))]
        bare, full, plain, out = [], [], [], []
        for _ in range(REPEATS):
            bare.append(finish_loop(start_loop(args))["ns_per_call"])
            r, rep = traced(args, ["--func", "compress/gzip.*", "-q"])
            full.append(r["ns_per_call"])
            close = next(f for f in rep["functions"] if f["function"].endswith("gzip.(*Writer).Close"))
            assert close["payloads"] == r["calls"] and close["not_judged"] == 0, close
            out.append(sum(x["bytes_out"] for x in rep["functions"]) / close["payloads"])
            r, rep = traced(args, ["--func", "compress/gzip.*", "-q", "--no-stream-output"])
            plain.append(r["ns_per_call"])
        b, f, n = median(bare), median(full), median(plain)
        row(f"{size} B", f"{b:.0f}", f"{f:.0f}", f"{n:.0f}", f"{median(out):.0f}", f"{f / b:.3f}",
            f"{n / b:.3f}")
    notes.append("gzip streams: gozt counts each stream's output at its writes to the io.Writer "
                 "(flate writes every 240 bytes or so of compressed output), one trap each.")


def downstream():
    """Per payload (a gzip stream of text, then its output written to a TCP
    socket), REPEATS runs each: bare; gozt with --no-downstream; gozt's
    default, which also times each payload's write (two tracepoint programs
    on every write(2), no trap). Checks every payload's write was seen."""
    row("", "", "", "", "", "", "")
    row("gzip + socket write (ns per payload)", "bare", "no downstr.", "gozt", "writes/payload",
        "gozt/no downstr.", "gozt/bare")
    for size in (16384,):
        args = ["-gzip", "-sock", "-size", str(size), "-calls", str(max(200, 20_000_000 // size))]
        bare, plain, full, seen = [], [], [], []
        for _ in range(REPEATS):
            bare.append(finish_loop(start_loop(args))["ns_per_call"])
            r, _ = traced(args, ["--func", "compress/gzip.*", "-q", "--no-downstream"])
            plain.append(r["ns_per_call"])
            r, rep = traced(args, ["--func", "compress/gzip.*", "-q"])
            full.append(r["ns_per_call"])
            caller = [c for c in rep["callers"] if c["function"].endswith("gzip.(*Writer).Close")]
            d = caller[0]["downstream"]
            assert d["payloads"] == r["calls"], d
            seen.append(d["writes"] / d["payloads"])
        b, n, f = median(bare), median(plain), median(full)
        row(f"{size} B", f"{b:.0f}", f"{n:.0f}", f"{f:.0f}", f"{median(seen):.3f}", f"{f / n:.3f}",
            f"{f / b:.3f}")
    notes.append("downstream: the issue's target is at most 5% added per payload (gozt/no downstr.).")


def lifecycle():
    """Per payload (a gzip stream of text), REPEATS runs each, with its
    writer reset (pooled, as servers do) or built for it: bare; gozt with
    --no-lifecycle; gozt's default, which also traps constructors (and the
    flate compressor's build inside a new writer's first Write); and with
    --resets, which traps resets too. Checks every build and reset was
    seen."""
    row("", "", "", "", "", "", "")
    row("gzip writer per payload (ns)", "bare", "no lifecycle", "gozt", "--resets",
        "gozt/no lifecycle", "--resets/no lifecycle")
    for how, extra in (("reset", []), ("built", ["-build"])):
        args = ["-gzip", *extra, "-size", "16384", "-calls", "1200"]
        bare, plain, full, resets = [], [], [], []
        for _ in range(REPEATS):
            bare.append(finish_loop(start_loop(args))["ns_per_call"])
            r, _ = traced(args, ["--func", "compress/*", "-q", "--no-lifecycle"])
            plain.append(r["ns_per_call"])
            r, rep = traced(args, ["--func", "compress/*", "-q"])
            full.append(r["ns_per_call"])
            gzip = [e for e in rep["encoders"] if e["library"] == "compress/gzip"]
            built = sum(e["builds"] for e in gzip)
            assert built == (r["calls"] if how == "built" else 0), gzip
            r, rep = traced(args, ["--func", "compress/*", "-q", "--resets"])
            resets.append(r["ns_per_call"])
            gzip = [e for e in rep["encoders"] if e["library"] == "compress/gzip"]
            seen = sum(e["builds"] + e["resets"] for e in gzip)
            assert seen == r["calls"], gzip
        b, n, f, x = median(bare), median(plain), median(full), median(resets)
        row(f"16384 B, {how}", f"{b:.0f}", f"{n:.0f}", f"{f:.0f}", f"{x:.0f}", f"{f / n:.3f}",
            f"{x / n:.3f}")
    notes.append("lifecycle: by default a pooled writer's payload pays no trap of it; a writer "
                 "built per payload pays its constructor's entry and RET and those of the flate "
                 "compressor built at its first Write; --resets adds a reset's entry and RET.")


CADDY = os.environ.get("BENCH_CADDY", "/usr/bin/caddy")
SERVER_S = float(os.environ.get("BENCH_SERVER_S", "5"))
SERVER_REPEATS = int(os.environ.get("BENCH_SERVER_REPEATS", "3"))
SERVER_CLOSE = {"gzip": "github.com/klauspost/compress/gzip.(*Writer).Close",
                "zstd": "github.com/klauspost/compress/zstd.(*Encoder).Close"}


def wrk(port, name, encoding):
    """wrk on the other core from caddy, one connection, SERVER_S seconds: (requests, req/s,
    p50 us, p99 us)."""
    out = subprocess.run(["taskset", "-c", "1", "wrk", "-t1", "-c1", f"-d{SERVER_S:g}s", "--latency",
                          "-H", f"Accept-Encoding: {encoding}", f"http://127.0.0.1:{port}/{name}"],
                         capture_output=True, text=True, check=True).stdout
    unit = {"us": 1.0, "ms": 1e3, "s": 1e6}

    def pct(p):
        m = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)$", out, re.M)
        return float(m.group(1)) * unit[m.group(2)]
    requests = int(re.search(r"(\d+) requests in", out).group(1))
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    return requests, rate, pct(50), pct(99)


def cpu_s(pid):
    """A process's user + system CPU time so far, in seconds."""
    f = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(f[11]) + int(f[12])) / os.sysconf("SC_CLK_TCK")


def server_window(mode, pid, port, name, codec, offsets):
    """One wrk window with `mode` attached to caddy: wrk's figures, gozt's CPU share of the
    window, and gozt's payloads of the codec's Close (None when not gozt) and its sampling
    factor."""
    encoding = codec
    if mode == "bare":
        return (*wrk(port, name, encoding), None, None, None)
    if mode == "bpftrace":
        prog = f"uprobe:{CADDY}:{offsets[codec]:#x} {{ @ = count(); }}"
        bt = subprocess.Popen(["bpftrace", "-q", "--unsafe", "-e", prog],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(3)
        res = wrk(port, name, encoding)
        bt.send_signal(signal.SIGINT)
        bt.wait()
        return (*res, None, None, None)
    flags = {"default": [], "no-sinks": ["--no-stream-output"],
             "no-attribution": ["--no-routes", "--no-downstream"],
             "budget 1%": ["--max-overhead", "1%"], "before": []}[mode]
    gozt = os.environ["BENCH_GOZT_BEFORE"] if mode == "before" else GOZT
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        g = subprocess.Popen([gozt, "attach", "--pid", str(pid), "--json", "-q", "-o", out.name,
                              *flags], stderr=subprocess.PIPE, text=True)
        time.sleep(2)
        c0, t0 = cpu_s(g.pid), time.monotonic()
        res = wrk(port, name, encoding)
        gozt_cpu = (cpu_s(g.pid) - c0) / (time.monotonic() - t0)
        time.sleep(0.2)
        g.send_signal(signal.SIGINT)
        _, err = g.communicate(timeout=60)
        if g.returncode != 0:
            sys.exit(f"gozt failed ({g.returncode}): {err}")
        rep = json.load(open(out.name))
    close = [f for f in rep["functions"] if f["function"].endswith(SERVER_CLOSE[codec].split("/")[-1])
             and not f["inner"]]
    payloads = sum(f["payloads"] for f in close)
    factor = rep["sampling"]["factor"] if rep.get("sampling") else 1.0
    return (*res, gozt_cpu, payloads, factor)


def server():
    """Debian's caddy serving text with `encode gzip zstd` to wrk (one connection, caddy and wrk
    on a core each): throughput and latency with gozt attached, to bare, in windows taken in
    turn (bare, default, --no-routes --no-downstream, --no-stream-output, --max-overhead 1%,
    and bpftrace with one trap per
    response; with BENCH_GOZT_BEFORE, another gozt's default too), SERVER_REPEATS times. gozt's
    payload count is checked against wrk's requests."""
    work = tempfile.mkdtemp()
    rng = random.Random(1)
    words = ["gozt ", "zstd ", "gzip ", "latency ", "payload ", "goroutine ", "compress "]
    sizes = {"2k": 2000, "20k": 20000, "200k": 200000}
    for name, n in sizes.items():
        with open(os.path.join(work, f"{name}.txt"), "w") as f:
            f.write("".join(rng.choice(words) for _ in range(n // 4))[:n])
    port = free_port()
    cfg = os.path.join(work, "Caddyfile")
    with open(cfg, "w") as f:
        f.write("{\n\tadmin off\n\tauto_https off\n}\n"
                f":{port} {{\n\troot * {work}\n\tencode gzip zstd\n\tfile_server\n}}\n")
    caddy = subprocess.Popen(["taskset", "-c", "0", CADDY, "run", "--config", cfg, "--adapter",
                              "caddyfile"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(100):
            if subprocess.run(["curl", "-sf", "-o", "/dev/null", f"http://127.0.0.1:{port}/2k.txt"]).returncode == 0:
                break
            time.sleep(0.1)
        probes = json.loads(subprocess.run([GOZT, "probes", "--json", CADDY], capture_output=True,
                                           text=True, check=True).stdout)
        offsets = {c: next(p["file_offset"] for p in probes["probes"] if p["function"] == f)
                   for c, f in SERVER_CLOSE.items()}
        modes = ["bare", "default", "no-attribution", "no-sinks", "budget 1%", "bpftrace"]
        # Another gozt's default, for a before/after in one run.
        if os.environ.get("BENCH_GOZT_BEFORE"):
            modes.insert(2, "before")
        # BENCH_SERVER_MODES picks some (bare always runs: the ratios are to it).
        if os.environ.get("BENCH_SERVER_MODES"):
            picked = os.environ["BENCH_SERVER_MODES"].split(",")
            modes = ["bare"] + [m for m in modes[1:] if m in picked]
        row("", "", "", "", "", "", "")
        row(f"caddy ({os.path.basename(CADDY)}), wrk 1 connection, {SERVER_S:g} s windows x "
            f"{SERVER_REPEATS}", "throughput", "spread", "p50", "p99", "gozt CPU",
            "payloads : requests")
        for codec in ("gzip", "zstd"):
            for name in sizes:
                got = {m: [] for m in modes}
                for _ in range(SERVER_REPEATS):
                    for m in modes:
                        got[m].append(server_window(m, caddy.pid, port, f"{name}.txt", codec,
                                                    offsets))
                bare = got["bare"]
                for m in modes:
                    runs = got[m]
                    # Each window against the bare window of its round.
                    thr = [r[1] / b[1] for r, b in zip(runs, bare)]
                    p50 = [r[2] / b[2] for r, b in zip(runs, bare)]
                    p99 = [r[3] / b[3] for r, b in zip(runs, bare)]
                    counted = ""
                    if runs[0][5] is not None:
                        est = [r[5] * r[6] / r[0] for r in runs]
                        counted = (f"{median(est):.2f}" if m == "budget 1%" else
                                   " ".join(f"{r[5]}:{r[0]}" for r in runs))
                    cpu = f"{median(r[4] for r in runs) * 100:.1f}%" if runs[0][4] is not None else ""
                    label = f"{codec} {name}, {m}" + (f" ({median(r[1] for r in runs):.0f} req/s)"
                                                      if m == "bare" else "")
                    row(label, f"{median(thr):.2f}", f"{min(thr):.2f}-{max(thr):.2f}",
                        f"{median(p50):.2f}", f"{median(p99):.2f}", cpu, counted)
    finally:
        caddy.terminate()
        caddy.wait()
    notes.append("caddy: throughput, p50 and p99 are ratios to the bare window of the same round "
                 "(medians; spread over rounds). payloads : requests is gozt's payload count of "
                 "the codec's Close against the requests wrk completed in the window, per round "
                 "(gozt attaches before wrk starts and detaches after it ends); under "
                 "--max-overhead it is payloads x the report's factor over requests.")


def main():
    # BENCH_PARTS picks parts of the table (all by default).
    parts = {"per_call": per_call, "max_rate": max_rate, "cpu": cpu_per_event, "startup": startup,
             "downstream": downstream,
             "lifecycle": lifecycle,
             "methods": methods, "budget": budget, "streams": streams, "server": server}
    for name in os.environ.get("BENCH_PARTS", " ".join(parts)).split():
        parts[name]()
    # Section titles (a first cell alone) neither set nor follow the widths.
    cells = [r for r in rows if any(r[1:])]
    widths = [max(len(r[i]) for r in cells) for i in range(len(rows[0]))]
    for r in rows:
        print("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() if any(r[1:]) else r[0])
    for n in notes:
        print()
        print(n)


main()
