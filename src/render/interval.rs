//! `--interval` reports, one per interval (the calls of that interval
//! only): as text, a header line with the time and the interval's totals,
//! then a line per function called, within the text report's 100 columns (the first
//! report is preceded by the columns' titles, as `perf stat -I` does); as
//! JSON, one object on one line (JSON Lines; docs/interval.schema.json).

use std::fmt::Write as _;

use super::report::{fields, TextOptions};
use crate::go_binary::names::short_name;
use crate::render::format::{fit, percent};
use crate::stats::{IntervalFunction, IntervalReport};

/// Room for a function's name.
const NAME: usize = 38;

/// The titles of the function lines' columns.
pub fn titles(o: &TextOptions) -> String {
    let (p50, p99) = if o.raw_ns {
        ("P50_NS", "P99_NS")
    } else {
        ("P50", "P99")
    };
    format!(
        "# each interval: its end (UTC), length and totals, then its functions\n  {:<NAME$} {:>8} {:>9} {:>9} {:>7} {:>7} {:>8}\n",
        "FUNCTION", "CALLS", p50, p99, "ERRORS", "INCOMP", "FAIL%"
    )
}

fn function_line(f: &IntervalFunction, o: &TextOptions) -> String {
    let name = if f.function.chars().count() <= NAME {
        f.function.clone()
    } else {
        fit(short_name(&f.function), NAME)
    };
    let c = &f.counters;
    format!(
        "  {name:<NAME$} {:>8} {:>9} {:>9} {:>7} {:>7} {:>8}{}",
        c.calls,
        o.time(f.latency_ns.p50),
        o.time(f.latency_ns.p99),
        c.errors,
        c.incompressible,
        percent(c.failure_rate, 3),
        if f.inner {
            " inner"
        } else if c.alert {
            " ALERT"
        } else {
            ""
        }
    )
}

/// The interval's end as the text shows it: to the second, or with
/// `millis` to the millisecond (as the JSON always has it).
fn time(r: &IntervalReport, millis: bool) -> String {
    match (millis, r.time.find('.'), r.time.ends_with('Z')) {
        (false, Some(dot), true) => format!("{}Z", &r.time[..dot]),
        _ => r.time.clone(),
    }
}

/// One interval as text; `first` adds the titles; `millis` gives the time
/// to the millisecond (for intervals under a second).
pub fn text(r: &IntervalReport, o: &TextOptions, first: bool, millis: bool) -> String {
    let mut out = if first { titles(o) } else { String::new() };
    let t = &r.totals;
    let lost = r.lost.calls_lost();
    let mut parts = vec![
        format!("{} calls,", t.calls),
        format!("{} payloads,", t.payloads),
        format!("{} errors,", t.errors),
        format!("{} incompressible,", t.incompressible),
        format!(
            "{} of {} failed{}",
            percent(t.failure_rate, 3),
            t.eligible,
            if lost > 0 { "," } else { "" }
        ),
    ];
    if lost > 0 {
        parts.push(format!("{lost} lost"));
    }
    match t.state {
        crate::stats::State::Alert => parts.push("ALERT".to_string()),
        crate::stats::State::Likely => parts.push("(likely)".to_string()),
        crate::stats::State::TooFew => parts.push("(too few)".to_string()),
        crate::stats::State::Ok => {}
    }
    let first = format!("{} {:.1}s: ", time(r, millis), r.interval_s);
    fields(&mut out, &first, &parts, " ", 2);
    for f in &r.functions {
        let _ = writeln!(out, "{}", function_line(f, o));
    }
    out
}

/// One interval as one JSON line.
pub fn json(r: &IntervalReport) -> String {
    let mut s = serde_json::to_string(r).expect("the interval serializes");
    s.push('\n');
    s
}
