//! The trace report as text (bcc funclatency-style log2 histograms, then
//! goroutine and caller tables) and as JSON (schema: docs/report.schema.json).
//!
//! The text fits [`WIDTH`] columns: lines of several fields wrap, and a
//! name too long for its line is written short (`zstd.(*Encoder).EncodeAll`,
//! as the live view shows it), then cut in the middle. Durations and sizes
//! are in the live view's units (`6.09ms`, `228K`), or raw nanoseconds and
//! bytes with [`TextOptions::raw_ns`]; what a stream API does not observe is
//! "n/a".

use std::fmt::Write as _;
use std::time::Duration;

use crate::go_binary::names::short_name;
use crate::render::format::{bytes, fit, nanos, percent};
use crate::stats::{Bucket, Counters, Ending, Finding, FunctionReport, Report, Sampling};

/// The widest line of the text report.
pub const WIDTH: usize = 100;

/// How the text report is written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TextOptions {
    /// Nanoseconds and bytes as raw numbers (`--ns`), not in human units.
    pub raw_ns: bool,
}

impl TextOptions {
    /// A duration in nanoseconds, in units or raw.
    pub fn time(self, ns: u64) -> String {
        if self.raw_ns {
            ns.to_string()
        } else {
            nanos(ns)
        }
    }

    fn size(self, n: u64, observed: bool) -> String {
        match (observed, self.raw_ns) {
            (false, _) => "n/a".to_string(),
            (true, true) => n.to_string(),
            (true, false) => bytes(n),
        }
    }
}

/// Pretty JSON.
pub fn json(r: &Report) -> String {
    let mut s = serde_json::to_string_pretty(r).expect("the report serializes");
    s.push('\n');
    s
}

/// JSON on one line: the last line of `--interval --json`'s JSON Lines.
pub fn json_line(r: &Report) -> String {
    let mut s = serde_json::to_string(r).expect("the report serializes");
    s.push('\n');
    s
}

/// The failure rate, and its 95 % interval once payloads are eligible.
fn rate(c: &Counters) -> String {
    if c.eligible == 0 {
        return percent(c.failure_rate, 3);
    }
    format!(
        "{} (95%: {}-{})",
        percent(c.failure_rate, 3),
        percent(c.failure_rate_low, 3),
        percent(c.failure_rate_high, 3)
    )
}

/// ` ALERT`, ` likely` or ` too few` after a rate (`sep` before it),
/// nothing when ok.
fn verdict(c: &Counters, sep: &str) -> String {
    match c.state {
        crate::stats::State::Alert => format!("{sep}ALERT"),
        crate::stats::State::Likely => format!("{sep}LIKELY (the interval reaches the threshold)"),
        crate::stats::State::TooFew => format!("{sep}(too few to judge)"),
        crate::stats::State::Ok => String::new(),
    }
}

/// `first` then `parts`, `sep` apart, wrapped at [`WIDTH`] between parts;
/// wrapped lines are indented by `indent`.
pub(crate) fn fields(out: &mut String, first: &str, parts: &[String], sep: &str, indent: usize) {
    let mut line = first.to_string();
    for p in parts {
        let blank = line.trim().is_empty();
        if !blank && line.chars().count() + sep.len() + p.chars().count() > WIDTH {
            let _ = writeln!(out, "{line}");
            line = " ".repeat(indent);
        } else if !line.is_empty() && !line.ends_with(' ') {
            line.push_str(sep);
        }
        line.push_str(p);
    }
    let _ = writeln!(out, "{line}");
}

/// `parts` with a comma after each but the last.
fn commas(parts: &[String]) -> Vec<String> {
    let last = parts.len().saturating_sub(1);
    parts
        .iter()
        .enumerate()
        .map(|(i, p)| if i < last { format!("{p},") } else { p.clone() })
        .collect()
}

/// `name` as long as `room` allows: in full, else its short name, else
/// cut in the middle.
fn name_in(name: &str, room: usize) -> String {
    if name.chars().count() <= room {
        name.to_string()
    } else {
        fit(short_name(name), room)
    }
}

fn hist(out: &mut String, buckets: &[Bucket], o: TextOptions) {
    let max = buckets.iter().map(|b| b.count).max().unwrap_or(0).max(1);
    let (unit, w) = if o.raw_ns {
        ("nsecs", 10)
    } else {
        ("latency", 8)
    };
    let _ = writeln!(
        out,
        "{:>w$} : {:<8} distribution",
        unit,
        "count",
        w = 2 * w + 4
    );
    for b in buckets {
        let stars = (b.count * 40).div_ceil(max) as usize;
        let _ = writeln!(
            out,
            "{:>w$} -> {:<w$} : {:<8} |{:<40}|",
            o.time(b.min),
            // bcc's inclusive bound raw; in units, where the next begins.
            o.time(if o.raw_ns { b.max } else { b.max + 1 }),
            b.count,
            "*".repeat(stars)
        );
    }
}

/// Goroutines listed in the text report.
const TOP_GOROUTINES: usize = 20;

/// With `--duration`: when its clock started, and why the run ended sooner
/// when it did (a second line).
fn duration_lines(asked: f64, traced: f64, ended_by: Option<Ending>) -> String {
    let asked = humantime::format_duration(Duration::from_millis((asked * 1e3).round() as u64));
    let start = format!("--duration {asked}, counted from when the probes were in place");
    match ended_by {
        None | Some(Ending::Duration) => start,
        Some(why) => format!(
            "{start}\nended sooner, after {traced:.1}s: {}",
            why.reason()
        ),
    }
}

/// The human report: its head, the findings, then a section per function,
/// the goroutines, the callers and, with several targets, each one's calls.
pub fn text(r: &Report, o: &TextOptions) -> String {
    let o = *o;
    let mut out = String::new();
    head(&mut out, r, o);
    findings(&mut out, &r.findings);
    for f in &r.functions {
        function(&mut out, f, o);
    }
    let _ = writeln!(out);
    goroutines(&mut out, r, o);
    let _ = writeln!(out);
    callers(&mut out, r, o);
    routes(&mut out, r, o);
    downstream(&mut out, r, o);
    encoders(&mut out, r, o);
    super::target::per_target(&mut out, r, WIDTH);
    out
}

/// Where the payloads' bytes went next, by caller and by route (with
/// downstream writes traced): the payloads' time beside their writes'.
fn downstream(out: &mut String, r: &Report, o: TextOptions) {
    let callers = r.callers.iter().filter_map(|c| {
        let d = c.downstream.as_ref().filter(|d| d.payloads > 0)?;
        Some((
            format!("{} -> {}", short_name(&c.caller), short_name(&c.function)),
            d,
        ))
    });
    let routes = r
        .routes
        .iter()
        .filter_map(|x| Some((x.route.clone(), x.downstream.as_ref()?)));
    let rows: Vec<(String, &crate::stats::Downstream)> = callers.chain(routes).collect();
    if rows.iter().all(|(_, d)| d.writes == 0) {
        return;
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "downstream writes (each payload's next write to a socket, file or pipe on its goroutine):"
    );
    for (name, d) in rows {
        let kinds: Vec<String> = d.kinds.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let kinds = if kinds.is_empty() {
            String::new()
        } else {
            format!("  ({})", kinds.join(", "))
        };
        let _ = writeln!(
            out,
            "{}{kinds}",
            fit(&name, WIDTH.saturating_sub(kinds.chars().count()))
        );
        if d.writes == 0 {
            let _ = writeln!(out, "  {} payloads, none written", d.payloads);
            continue;
        }
        fields(
            out,
            "",
            &[
                format!(
                    "  {} payloads, {} written ({}), {} not",
                    d.payloads,
                    d.writes,
                    o.size(d.bytes, true),
                    d.without_write
                ),
                format!(
                    "compress p50 {} p99 {} sum {}",
                    o.time(d.compress_latency_ns.p50),
                    o.time(d.compress_latency_ns.p99),
                    o.time(d.compress_time_ns)
                ),
                format!(
                    "write p50 {} p99 {} sum {} ({} of the time)",
                    o.time(d.write_latency_ns.p50),
                    o.time(d.write_latency_ns.p99),
                    o.time(d.write_time_ns),
                    percent(d.write_share, 1)
                ),
                format!("gap p50 {}", o.time(d.gap_latency_ns.p50)),
                format!("errors {}", d.errors),
            ],
            "; ",
            4,
        );
    }
}

/// Encoders and decoders by library (with constructors traced): the
/// library's builds and resets against all its payloads, then each
/// caller's part (a pool's `New` builds, a handler resets, the first
/// `Write` builds lazily), with its own payloads when it made any.
fn encoders(out: &mut String, r: &Report, o: TextOptions) {
    if r.encoders.is_empty() {
        return;
    }
    let _ = writeln!(out);
    let resets = r.encoders.iter().any(|e| e.resets.is_some());
    let _ = writeln!(
        out,
        "{}",
        if resets {
            "encoders (writers and readers built and reset, by library, then by caller):"
        } else {
            "encoders (writers and readers built, by library, then by caller; resets with --resets):"
        }
    );
    let mut libraries: Vec<(&str, crate::probe::catalog::Op)> = r
        .encoders
        .iter()
        .map(|e| (e.library.as_str(), e.op))
        .collect();
    libraries.sort();
    libraries.dedup();
    for (library, op) in libraries {
        let rows: Vec<_> = r
            .encoders
            .iter()
            .filter(|e| e.library == library && e.op == op)
            .collect();
        let sum =
            |f: fn(&crate::stats::EncoderReport) -> u64| rows.iter().map(|e| f(e)).sum::<u64>();
        let builds = sum(|e| e.builds);
        let building = sum(|e| e.build_time_ns + e.lazy_build_time_ns);
        let payloads = r.library_payloads(library, op);
        let kind = match op {
            crate::probe::catalog::Op::Compress => "writers",
            crate::probe::catalog::Op::Decompress => "readers",
        };
        let per = if builds > 0 {
            format!(" ({:.1} per build)", payloads as f64 / builds as f64)
        } else {
            String::new()
        };
        let head = if resets {
            vec![
                format!(
                    "{builds} built, {} reset, {payloads} payloads{per}",
                    sum(|e| e.resets.unwrap_or(0))
                ),
                format!(
                    "building {}, resets {}",
                    o.time(building),
                    o.time(sum(|e| e.reset_time_ns.unwrap_or(0)))
                ),
            ]
        } else {
            vec![
                format!("{builds} built, {payloads} payloads{per}"),
                format!("building {}", o.time(building)),
            ]
        };
        fields(out, &format!("{library} {kind}: "), &head, "; ", 2);
        for e in rows {
            let mut parts = Vec::new();
            if e.builds > 0 {
                parts.push(format!(
                    "{} built (p50 {} p99 {}, {})",
                    e.builds,
                    o.time(e.build_latency_ns.p50),
                    o.time(e.build_latency_ns.p99),
                    o.time(e.build_time_ns)
                ));
            }
            if e.lazy_builds > 0 {
                parts.push(format!(
                    "{} built at first use ({})",
                    e.lazy_builds,
                    o.time(e.lazy_build_time_ns)
                ));
            }
            if let (Some(n @ 1..), Some(ns)) = (e.resets, e.reset_time_ns) {
                parts.push(format!("{n} reset ({})", o.time(ns)));
            }
            if e.payloads > 0 {
                let per = e
                    .payloads_per_build
                    .map_or_else(String::new, |x| format!(", {x:.1} per build"));
                let share = e.build_share.map_or_else(String::new, |x| {
                    format!(", building {} of its path", percent(x, 1))
                });
                parts.push(format!("its {} payloads{per}{share}", e.payloads));
            }
            if e.errors > 0 {
                parts.push(format!("errors {}", e.errors));
            }
            fields(
                out,
                &format!("  {}: ", short_name(&e.caller)),
                &parts,
                "; ",
                4,
            );
        }
    }
}

/// Payloads by the HTTP route they were made serving, when any was: the
/// route last, after its counts, then, where the line has room, the
/// function that took most of its payloads' time (`+N` more: all of them
/// in --json).
fn routes(out: &mut String, r: &Report, o: TextOptions) {
    if r.routes.is_empty() {
        return;
    }
    let (p99, time, tw) = if o.raw_ns {
        ("P99_NS", "TIME_NS", 12)
    } else {
        ("P99", "TIME", 8)
    };
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>tw$} {:>tw$}  ROUTE  (FUNCTION)",
        "PAYLOADS", "ELIGIBLE", "FAILURES", "FAIL%", "STATE", "RATIO", p99, time
    );
    for route in &r.routes {
        let c = &route.counters;
        let state = match c.state {
            crate::stats::State::Alert => "ALERT",
            crate::stats::State::Likely => "LIKELY",
            crate::stats::State::Ok => "ok",
            crate::stats::State::TooFew => "-",
        };
        let ratio = route
            .ratio
            .map_or_else(|| "n/a".to_string(), |x| format!("{x:.3}"));
        let prefix = format!(
            "{:>8} {:>8} {:>8} {:>8} {:>6} {:>6} {:>tw$} {:>tw$}  ",
            c.payloads,
            c.eligible,
            c.failures,
            percent(c.failure_rate, 3),
            state,
            ratio,
            o.time(route.latency_ns.p99),
            o.time(route.time_ns)
        );
        let most = route.functions.iter().max_by_key(|f| f.time_ns);
        let function = most.map_or(String::new(), |f| {
            let more = route.functions.len() - 1;
            let more = if more > 0 {
                format!(" +{more}")
            } else {
                String::new()
            };
            format!("  ({}{more})", short_name(&f.function))
        });
        let room = WIDTH.saturating_sub(prefix.chars().count()).max(16);
        let name = fit(&route.route, room);
        let function = if name.chars().count() + function.chars().count() <= room {
            function
        } else {
            String::new()
        };
        let _ = writeln!(out, "{prefix}{name}{function}");
    }
}

/// Who was traced and the totals by the rules, then how the run went:
/// sampling, losses, the command's status, warnings.
fn head(out: &mut String, r: &Report, o: TextOptions) {
    for t in &r.targets {
        for line in super::target::lines(t, WIDTH) {
            let _ = writeln!(out, "{line}");
        }
    }
    let t = &r.totals;
    let _ = writeln!(
        out,
        "traced {:.1}s: {} calls, {} payloads, {} errors, {} incompressible, {} not judged",
        r.duration_s, t.calls, t.payloads, t.errors, t.incompressible, t.not_judged
    );
    if let Some(asked) = r.requested_duration_s {
        let _ = writeln!(out, "{}", duration_lines(asked, r.duration_s, r.ended_by));
    }
    let _ = writeln!(
        out,
        "failure rate {} of {} eligible (threshold {}){}",
        rate(t),
        t.eligible,
        percent(r.alert_threshold, 3),
        verdict(t, "  ")
    );
    let _ = writeln!(
        out,
        "rules: payloads over min-size {} bytes (original size), or errored; a verdict needs {} eligible",
        r.min_size, r.min_eligible
    );
    if r.open_streams > 0 {
        let _ = writeln!(
            out,
            "streams still open at the end: {} (not counted)",
            r.open_streams
        );
    }
    if let Some(s) = &r.sampling {
        sampling(out, s, o);
    }
    let losses: Vec<String> = r
        .lost
        .iter()
        .filter(|(c, _)| c.is_loss())
        .map(|(c, n)| format!("{n} {}", c.label()))
        .collect();
    fields(out, "lost: ", &commas(&losses), " ", 6);
    if let Some(status) = r.command_exit_status {
        let _ = writeln!(out, "command exited with status {status}");
    }
    for w in &r.warnings {
        let words: Vec<String> = w.split(' ').map(str::to_string).collect();
        fields(out, "warning:", &words, " ", 9);
    }
}

/// The findings, the most time first: what, where, the evidence, the fix.
fn findings(out: &mut String, findings: &[Finding]) {
    if findings.is_empty() {
        return;
    }
    let _ = writeln!(out, "\nfindings, the most time first:");
    let words = |s: &str| -> Vec<String> { s.split(' ').map(str::to_string).collect() };
    for (i, f) in findings.iter().take(SHOWN_FINDINGS).enumerate() {
        let _ = writeln!(out, "{:>2}. {}: {}", i + 1, f.kind.name(), f.place());
        fields(out, "    ", &words(&f.evidence), " ", 4);
        fields(out, "    fix:", &words(&f.fix), " ", 9);
    }
    if findings.len() > SHOWN_FINDINGS {
        let _ = writeln!(
            out,
            "    and {} more (the JSON report lists them all)",
            findings.len() - SHOWN_FINDINGS
        );
    }
}

/// Findings the text report shows.
const SHOWN_FINDINGS: usize = 5;

/// With --max-overhead: how the probes were sampled.
fn sampling(out: &mut String, s: &Sampling, o: TextOptions) {
    fields(
        out,
        "sampled: ",
        &[
            format!(
                "probes attached {:.1} of {:.1} s in {} windows (counts x {:.2} for the whole run),",
                s.attached_s, s.traced_s, s.windows, s.factor
            ),
            format!(
                "estimated cost {} of the targets' CPU (budget {}:",
                percent(s.estimated_overhead, 3),
                percent(s.max_overhead, 3)
            ),
            format!(
                "{} traps at {} ({} of them at an emulated branch, at {}), {} in gozt's programs)",
                s.traps,
                o.time(s.trap_ns),
                s.emulated_traps,
                o.time(s.emulated_trap_ns),
                o.time(s.bpf_run_ns)
            ),
        ],
        " ",
        2,
    );
}

/// One function's section: its name and kind, its counts, its latency
/// percentiles and log2 histogram.
fn function(out: &mut String, f: &FunctionReport, o: TextOptions) {
    let _ = writeln!(out);
    let kind = format!(" ({} {} {})", f.codec.name(), f.op.name(), f.api.name());
    let room = WIDTH - kind.len();
    let _ = writeln!(out, "{}{kind}", name_in(&f.function, room));
    if let Some(outer) = &f.outer {
        let _ = writeln!(
            out,
            "  inner: made inside {} (no payloads of its own)",
            name_in(outer, WIDTH - 30)
        );
    }
    fields(out, "", &counts(f, o), "  ", 2);
    let q = &f.latency_ns;
    let what = if o.raw_ns {
        "  latency ns: "
    } else {
        "  latency: "
    };
    fields(
        out,
        what,
        &[
            format!("p50 {}", o.time(q.p50)),
            format!("p90 {}", o.time(q.p90)),
            format!("p99 {}", o.time(q.p99)),
            format!("p99.9 {}", o.time(q.p999)),
            format!("max {}", o.time(q.max)),
            format!("mean {}", o.time(q.mean)),
        ],
        " ",
        4,
    );
    if f.traps_inside > 0 {
        fields(
            out,
            "  gozt's traps inside: ",
            &[
                f.traps_inside.to_string(),
                format!("taken out {}", o.time(f.correction_ns)),
                format!("uncorrected {} (as measured)", f.uncorrected),
            ],
            "  ",
            4,
        );
    }
    hist(out, &f.histogram, o);
}

/// A function's calls, bytes and (for an outer function with payloads)
/// its payloads by the rules.
fn counts(f: &FunctionReport, o: TextOptions) -> Vec<String> {
    let c = &f.counters;
    let mut parts = vec![
        format!("  calls {}", c.calls),
        format!("call errors {}", c.call_errors),
        format!("call bytes in {}", o.size(f.bytes_in, f.bytes_in_observed)),
        format!("out {}", o.size(f.bytes_out, f.bytes_out_observed)),
    ];
    if f.inner || c.payloads == 0 {
        return parts;
    }
    let packed = match f.payload_ratio {
        Some(r) => format!(
            "{} (ratio {r:.3})",
            o.size(f.payload_compressed_bytes, true)
        ),
        None => "n/a".to_string(),
    };
    let small_share = if f.payload_time_ns == 0 {
        0.0
    } else {
        f.small_time_ns as f64 / f.payload_time_ns as f64
    };
    parts.extend([
        format!("payloads {}", c.payloads),
        format!(
            "payload bytes original {}",
            o.size(f.payload_original_bytes, true)
        ),
        format!("compressed {packed}"),
        format!("eligible {}", c.eligible),
        format!("not judged {}", c.not_judged),
        format!("failures {}", c.failures),
        format!("(errors {}", c.errors),
        format!("incompressible {})", c.incompressible),
        format!("failure rate {}{}", rate(c), verdict(c, " ")),
        format!(
            "small payloads {} ({} of payload time)",
            f.small_payloads,
            percent(small_share, 1)
        ),
    ]);
    parts
}

/// The goroutines that spent the most time compressing first; a busy
/// server has thousands, the JSON report holds them all.
fn goroutines(out: &mut String, r: &Report, o: TextOptions) {
    let mut goroutines: Vec<_> = r.goroutines.iter().collect();
    goroutines.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(a.goid.cmp(&b.goid)));
    let top = &goroutines[..goroutines.len().min(TOP_GOROUTINES)];
    // Ids are never cut: the column is as wide as the longest.
    let gw = top
        .iter()
        .map(|g| g.goid.to_string().len())
        .max()
        .unwrap_or(0)
        .max(8);
    let (p99, time, tw) = if o.raw_ns {
        ("P99_NS", "TIME_NS", 14)
    } else {
        ("P99", "TIME", 8)
    };
    let _ = writeln!(
        out,
        "{:>7} {:>gw$} {:>9} {:>9} {:>7} {:>7} {:>8} {:>tw$} {:>tw$}",
        "PID", "GOID", "CALLS", "PAYLOADS", "ERRORS", "INCOMP", "FAIL%", p99, time
    );
    for g in top {
        let _ = writeln!(
            out,
            "{:>7} {:>gw$} {:>9} {:>9} {:>7} {:>7} {:>8} {:>tw$} {:>tw$}",
            g.pid,
            g.goid,
            g.counters.calls,
            g.counters.payloads,
            g.counters.errors,
            g.counters.incompressible,
            percent(g.counters.failure_rate, 3),
            o.time(g.latency_ns.p99),
            o.time(g.time_ns)
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
            "... and {} goroutines no longer tracked one by one (the least recently active, and those of targets no longer listed)",
            r.goroutines_dropped
        );
    }
}

/// Calls per caller: names in full when the line has room, else short.
fn callers(out: &mut String, r: &Report, o: TextOptions) {
    let (p99, pw) = if o.raw_ns { ("P99_NS", 12) } else { ("P99", 8) };
    let _ = writeln!(out, "{:>8} {:>pw$}  CALLER -> FUNCTION", "CALLS", p99);
    for c in &r.callers {
        let prefix = format!("{:>8} {:>pw$}  ", c.calls, o.time(c.latency_ns.p99));
        let room = WIDTH - prefix.chars().count() - " -> ".len();
        let len = |s: &str| s.chars().count();
        let (mut caller, mut function) = (c.caller.clone(), c.function.clone());
        // The function's short name first (its full name heads its section
        // above), then the caller's, then both cut.
        if len(&caller) + len(&function) > room {
            function = short_name(&c.function).to_string();
        }
        if len(&caller) + len(&function) > room {
            caller = short_name(&c.caller).to_string();
        }
        if len(&caller) + len(&function) > room {
            function = fit(&function, room.saturating_sub(len(&caller)).max(room / 2));
            caller = fit(&caller, room - len(&function));
        }
        let _ = writeln!(out, "{prefix}{caller} -> {function}");
    }
}
