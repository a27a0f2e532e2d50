//! The trace report as text (bcc funclatency-style log2 histograms, then
//! goroutine and caller tables) and as JSON (schema: docs/report.schema.json).

use std::fmt::Write as _;

use crate::stats::{Bucket, Counters, Report};

/// Pretty JSON.
pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("the report serializes");
    s.push('\n');
    s
}

fn rate(c: &Counters) -> String {
    format!("{:.3}%", c.failure_rate * 100.0)
}

fn hist(out: &mut String, buckets: &[Bucket]) {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let _ = writeln!(out, "{:>24} : {:<8} distribution", "nsecs", "count");
    for b in buckets {
        let stars = (b.count * 40).div_ceil(max) as usize;
        let _ = writeln!(
            out,
            "{:>10} -> {:<10} : {:<8} |{:<40}|",
            b.min,
            b.max,
            b.count,
            "*".repeat(stars)
        );
    }
}

/// Goroutines listed in the text report.
const TOP_GOROUTINES: usize = 20;

/// The human report.
pub fn text(r: &Report) -> String {
    let mut out = String::new();
    for t in &r.targets {
        let _ = writeln!(out, "target pid {} {} ({})", t.pid, t.binary, t.go_version);
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "traced {:.1}s: {} calls, {} errors, {} incompressible, failure rate {} of {} eligible (threshold {:.3}%){}",
        r.duration_s,
        t.calls,
        t.errors,
        t.incompressible,
        rate(t),
        t.eligible,
        r.alert_threshold * 100.0,
        if t.alert { "  ALERT" } else { "" }
    );
    if let Some(s) = &r.sampling {
        let _ = writeln!(
            out,
            "sampled: probes attached {:.1} of {:.1} s in {} windows (counts x {:.2} for the whole run), estimated cost {:.3}% of the targets' CPU (budget {:.3}%: {} traps at {} ns, {:.1} ms in gozt's programs)",
            s.attached_s,
            s.traced_s,
            s.windows,
            s.factor,
            s.estimated_overhead * 100.0,
            s.max_overhead * 100.0,
            s.traps,
            s.trap_ns,
            s.bpf_run_ns as f64 / 1e6
        );
    }
    let l = &r.lost;
    let _ = writeln!(
        out,
        "lost: {} ring buffer full, {} in-flight map full, {} aged out, {} abandoned, {} in flight at exit, {} unmatched returns",
        l.ringbuf_full, l.inflight_full, l.aged_out, l.abandoned, l.in_flight_at_exit, l.unmatched_returns
    );
    for f in &r.functions {
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{} ({} {} {})",
            f.function,
            f.codec.name(),
            f.op.name(),
            f.api.name()
        );
        let bytes = |n: u64, seen: bool| {
            if seen {
                n.to_string()
            } else {
                "n/a".to_string()
            }
        };
        let _ = writeln!(
            out,
            "  calls {}  errors {}  incompressible {}  failure rate {}{}  in {} B  out {} B",
            f.counters.calls,
            f.counters.errors,
            f.counters.incompressible,
            rate(&f.counters),
            if f.counters.alert { " ALERT" } else { "" },
            bytes(f.bytes_in, f.bytes_in_observed),
            bytes(f.bytes_out, f.bytes_out_observed),
        );
        let q = &f.latency_ns;
        let _ = writeln!(
            out,
            "  latency ns: p50 {} p90 {} p99 {} p99.9 {} max {} mean {}",
            q.p50, q.p90, q.p99, q.p999, q.max, q.mean
        );
        hist(&mut out, &f.histogram);
    }
    let _ = writeln!(out);
    // Goroutines that spent the most time compressing first; a busy server
    // has thousands, the JSON report holds them all.
    let mut goroutines: Vec<_> = r.goroutines.iter().collect();
    goroutines.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(a.goid.cmp(&b.goid)));
    let _ = writeln!(
        out,
        "{:>7} {:>8} {:>7} {:>6} {:>6} {:>8} {:>10} {:>9}",
        "PID", "GOID", "CALLS", "ERRORS", "INCOMP", "FAIL%", "P99_NS", "TIME_MS"
    );
    for g in goroutines.iter().take(TOP_GOROUTINES) {
        let _ = writeln!(
            out,
            "{:>7} {:>8} {:>7} {:>6} {:>6} {:>8} {:>10} {:>9.3}",
            g.pid,
            g.goid,
            g.counters.calls,
            g.counters.errors,
            g.counters.incompressible,
            rate(&g.counters),
            g.latency_ns.p99,
            g.time_ns as f64 / 1e6
        );
    }
    if goroutines.len() > TOP_GOROUTINES {
        let _ = writeln!(
            out,
            "... and {} more goroutines (all of them in --json)",
            goroutines.len() - TOP_GOROUTINES
        );
    }
    if r.goroutines_dropped > 0 {
        let _ = writeln!(
            out,
            "... and {} less recently active goroutines no longer tracked one by one",
            r.goroutines_dropped
        );
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{:>8} {:>12}  CALLER -> FUNCTION", "CALLS", "P99_NS");
    for c in &r.callers {
        let _ = writeln!(
            out,
            "{:>8} {:>12}  {} -> {}",
            c.calls, c.latency_ns.p99, c.caller, c.function
        );
    }
    out
}
