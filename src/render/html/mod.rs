//! The report as one self-contained HTML page (`--html`): the headline,
//! a failure-rate heatmap over the run's intervals, latency and payload
//! size histograms per function, and sortable tables of the functions,
//! callers, goroutines (the top 20), lost events and targets. Charts are
//! SVG (plotters' SVG backend, [`chart`]), each with a data table under it;
//! the style and the sort script are inline and a Content-Security-Policy
//! forbids every fetch, so the page opens offline and loads nothing.
//!
//! Every number comes from the report model (and the intervals' reports),
//! written as shown and raw ([`table`]), so a test can compare the page with
//! the JSON. Sections are drawn in [`page`]'s order, each only when the
//! report has something for it.

pub mod chart;
pub mod table;
pub mod timeline;

use std::fmt::Write as _;

pub use timeline::Timeline;

use crate::render::format::percent;
use crate::stats::{Counters, FunctionReport, Report, State};
use table::{col, text_col, Table, Value};

const STYLE: &str = include_str!("page.css");
const SCRIPT: &str = include_str!("page.js");

/// Goroutines listed (the text report lists as many).
const TOP_GOROUTINES: usize = 20;

/// `s` safe in HTML text and attribute values.
pub fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn pct(rate: f64) -> String {
    percent(rate, 3)
}

fn fit(s: &str, width: usize) -> String {
    crate::render::format::fit(s, width)
}

/// The end of `f` shown: its symbol after the last `k` elements of its
/// package path (`k` 1: `zstd.(*Encoder).EncodeAll`, as the text report
/// shows it); the whole name when the path has fewer.
fn tail(f: &str, k: usize) -> &str {
    let mut start = f.find(".(").or_else(|| f.rfind('.')).unwrap_or(0);
    for _ in 0..k {
        match f[..start].rfind('/') {
            Some(i) => start = i,
            None => return f,
        }
    }
    &f[start + 1..]
}

/// The names the page shows: short, with as much of the package path as
/// tells them apart (`golang/snappy.Decode`, `compress/snappy.Decode`).
struct Names(std::collections::HashMap<String, String>);

impl Names {
    fn of(r: &Report) -> Names {
        let mut all: Vec<&str> = Vec::new();
        for f in &r.functions {
            all.push(&f.function);
            all.extend(f.outer.as_deref());
        }
        for c in &r.callers {
            all.extend([c.caller.as_str(), c.function.as_str()]);
        }
        all.sort_unstable();
        all.dedup();
        let shown = all
            .iter()
            .map(|&name| {
                let k = (1..8)
                    .find(|&k| {
                        let t = tail(name, k);
                        t == name || all.iter().all(|&o| o == name || tail(o, k) != t)
                    })
                    .unwrap_or(8);
                (name.to_string(), tail(name, k).to_string())
            })
            .collect();
        Names(shown)
    }

    fn get<'a>(&'a self, name: &'a str) -> &'a str {
        self.0.get(name).map_or(name, String::as_str)
    }
}

/// The verdict of `c` as a word and its page class.
fn verdict(state: State) -> (&'static str, &'static str) {
    match state {
        State::Alert => ("ALERT", "alert"),
        State::Likely => ("likely above the threshold", "likely"),
        State::TooFew => ("too few to judge", "too-few"),
        State::Ok => ("ok", "ok"),
    }
}

/// A command line as a shell would take it back.
fn shell_line(args: &[String]) -> String {
    args.iter()
        .map(|a| {
            let plain = !a.is_empty()
                && a.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@%+".contains(c));
            if plain {
                a.clone()
            } else {
                format!("'{}'", a.replace('\'', "'\\''"))
            }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A section of the page: its id (the anchor), its heading, its body.
struct Section {
    id: &'static str,
    heading: String,
    body: String,
}

/// The page of `report`; `timeline` holds its intervals (or is the report
/// alone, [`Timeline::of_report`]).
pub fn page(report: &Report, timeline: &Timeline) -> String {
    // The order of the page: the findings (ranked) follow the headline;
    // the routes (which requests asked) follow the callers.
    let names = Names::of(report);
    let sections: Vec<Section> = [
        Some(headline(report)),
        findings(report, &names),
        heatmap(report, timeline, &names),
        functions(report, &names),
        latency(report, &names),
        sizes(report, &names),
        callers(report, &names),
        routes(report, &names),
        goroutines(report),
        Some(lost(report)),
        Some(targets(report)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let t = &report.totals;
    let who = report
        .targets
        .first()
        .map(|t| crate::render::format::base_name(&t.binary).to_string())
        .unwrap_or_else(|| "no target".to_string());
    let host = if report.meta.host.is_empty() {
        String::new()
    } else {
        format!(" on {}", report.meta.host)
    };
    let title = format!(
        "gozt: {} {} of {} eligible, {who}{host}",
        verdict(t.state).0,
        pct(t.failure_rate),
        t.eligible
    );
    let mut s = String::with_capacity(256 * 1024);
    let _ = write!(
        s,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n\
         <meta name=\"generator\" content=\"gozt {}\">\n\
         <link rel=\"icon\" href=\"data:,\">\n<title>{}</title>\n<style>\n{STYLE}</style>\n\
         </head>\n<body>\n<header><h1>{}</h1>\n<nav aria-label=\"Sections\"><ul>",
        escape(&report.meta.gozt_version),
        escape(&title),
        escape(&format!("gozt report: {who}{host}"))
    );
    for sec in &sections {
        let _ = write!(
            s,
            "<li><a href=\"#{}\">{}</a></li>",
            sec.id,
            escape(&sec.heading)
        );
    }
    s.push_str("</ul></nav></header>\n<main>\n");
    for sec in &sections {
        let _ = write!(
            s,
            "<section id=\"{}\" aria-labelledby=\"{}-h\">\n<h2 id=\"{}-h\">{}</h2>\n{}</section>\n",
            sec.id,
            sec.id,
            sec.id,
            escape(&sec.heading),
            sec.body
        );
    }
    let _ = write!(
        s,
        "</main>\n<footer><p>Made by gozt {} from its report (docs/report.schema.json). \
         This page is one file: it loads nothing from the network.</p></footer>\n\
         <script>\n{SCRIPT}</script>\n</body>\n</html>\n",
        escape(&report.meta.gozt_version)
    );
    s
}

/// A fact of the headline: a term and its description (HTML).
fn fact(out: &mut String, term: &str, html: &str) {
    let _ = writeln!(out, "<dt>{}</dt><dd>{html}</dd>", escape(term));
}

fn headline(r: &Report) -> Section {
    let t = &r.totals;
    let (word, class) = verdict(t.state);
    let mut b = format!(
        "<div class=\"verdict {class}\" data-state=\"{}\"><p><span class=\"badge\">{word}</span> \
         failure rate <strong>{}</strong> of {} eligible payloads; threshold {}</p></div>\n<dl class=\"facts\">\n",
        t.state.name(),
        Value::rate("/totals/failure_rate".to_string(), t.failure_rate).span(),
        Value::count("/totals/eligible".to_string(), t.eligible).span(),
        Value::rate("/alert_threshold".to_string(), r.alert_threshold).span(),
    );
    run_facts(&mut b, r);
    more_facts(&mut b, r);
    b.push_str("</dl>\n");
    if !r.warnings.is_empty() {
        b.push_str("<ul class=\"warnings\" aria-label=\"Warnings\">\n");
        for w in &r.warnings {
            let _ = writeln!(b, "<li>warning: {}</li>", escape(w));
        }
        b.push_str("</ul>\n");
    }
    Section {
        id: "summary",
        heading: "Summary".into(),
        body: b,
    }
}

/// The headline's facts of every run: calls, rules, targets, times, host,
/// gozt.
fn run_facts(b: &mut String, r: &Report) {
    let t = &r.totals;
    let n = |field: &str, v: u64| Value::count(format!("/totals/{field}"), v).span();
    fact(
        b,
        "Calls",
        &format!(
            "{} calls, {} payloads, {} failures ({} errors, {} incompressible), {} not judged",
            n("calls", t.calls),
            n("payloads", t.payloads),
            n("failures", t.failures),
            n("errors", t.errors),
            n("incompressible", t.incompressible),
            n("not_judged", t.not_judged)
        ),
    );
    fact(
        b,
        "Rules",
        &format!(
            "payloads over min-size {} bytes (original size), or errored, are eligible; a verdict needs {} eligible",
            Value::count("/min_size".to_string(), r.min_size).span(),
            Value::count("/min_eligible".to_string(), r.min_eligible).span()
        ),
    );
    let targets: Vec<String> = r
        .targets
        .iter()
        .map(|t| {
            escape(&format!(
                "pid {}{} {} ({})",
                t.pid,
                super::target::tags(t),
                t.binary,
                t.go_version
            ))
        })
        .collect();
    fact(
        b,
        "Targets",
        &if targets.is_empty() {
            "none".to_string()
        } else {
            targets.join("<br>")
        },
    );
    meta_facts(b, r);
}

/// The headline's facts of when, where and by what the run was made.
fn meta_facts(b: &mut String, r: &Report) {
    let m = &r.meta;
    let when = if m.started.is_empty() {
        String::new()
    } else {
        format!("{} to {}, ", escape(&m.started), escape(&m.ended))
    };
    fact(
        b,
        "Run",
        &format!(
            "{when}<span data-v=\"{}\" data-u=\"seconds\" data-json=\"/duration_s\">{:.1}</span>&nbsp;s traced",
            r.duration_s, r.duration_s
        ),
    );
    if !m.host.is_empty() {
        let method = if m.attach_method.is_empty() {
            String::new()
        } else {
            format!(", probes by {}", escape(&m.attach_method))
        };
        fact(
            b,
            "Host",
            &format!("{}, kernel {}{method}", escape(&m.host), escape(&m.kernel)),
        );
    }
    if !m.gozt_version.is_empty() {
        fact(
            b,
            "gozt",
            &format!(
                "{} <code>{}</code>",
                escape(&m.gozt_version),
                escape(&shell_line(&m.command_line))
            ),
        );
    }
}

/// The headline's facts of some runs: open streams, sampling, the traced
/// command's status.
fn more_facts(b: &mut String, r: &Report) {
    if r.open_streams > 0 {
        fact(
            b,
            "Open streams",
            &format!(
                "{} still open at the end (not counted)",
                Value::count("/open_streams".to_string(), r.open_streams).span()
            ),
        );
    }
    if let Some(s) = &r.sampling {
        fact(
            b,
            "Sampled",
            &escape(&format!(
                "probes attached {:.1} of {:.1} s in {} windows (counts x {:.2} for the whole run); \
                 estimated cost {} of the targets' CPU (budget {})",
                s.attached_s,
                s.traced_s,
                s.windows,
                s.factor,
                pct(s.estimated_overhead),
                pct(s.max_overhead)
            )),
        );
    }
    if let Some(status) = r.command_exit_status {
        let shown = match u64::try_from(status) {
            Ok(v) => Value::count("/command_exit_status".to_string(), v).span(),
            Err(_) => status.to_string(),
        };
        fact(b, "Command", &format!("exited with status {shown}"));
    }
}

/// A cell's text: `2.458% (97 of 3950)`, with `too few` when it has no
/// verdict.
fn cell_text(c: &Counters) -> String {
    let few = if c.state == State::TooFew {
        "too few: "
    } else {
        ""
    };
    format!(
        "{few}{} ({} of {})",
        pct(c.failure_rate),
        c.failures,
        c.eligible
    )
}

/// The heatmap's rows: all functions, then each function that had eligible
/// payloads (not the calls that make none: stream writes, inner calls),
/// most failures first.
fn heatmap_rows(r: &Report, timeline: &Timeline, names: &Names) -> Vec<(Option<String>, String)> {
    let mut rows: std::collections::BTreeMap<&str, (u64, u64)> = Default::default();
    for f in r.functions.iter().filter(|f| !f.inner) {
        let c = &f.counters;
        rows.insert(&f.function, (c.failures, c.eligible));
    }
    for (name, c) in timeline.columns().iter().flat_map(|c| &c.functions) {
        let e = rows.entry(name).or_default();
        if !r.functions.iter().any(|f| !f.inner && &f.function == name) {
            (e.0, e.1) = (e.0 + c.failures, e.1 + c.eligible);
        }
    }
    let mut rows: Vec<(u64, &str)> = rows
        .into_iter()
        .filter(|(_, (_, eligible))| *eligible > 0)
        .map(|(name, (failures, _))| (failures, name))
        .collect();
    rows.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)));
    std::iter::once((None, "all functions".to_string()))
        .chain(
            rows.into_iter()
                .map(|(_, n)| (Some(n.to_string()), names.get(n).to_string())),
        )
        .collect()
}

/// `12:00:10` of `2026-11-30T12:00:10.000Z`, or the whole when it is not
/// that shape.
fn clock(time: &str) -> String {
    match (time.find('T'), time.find('.').or(time.find('Z'))) {
        (Some(t), Some(end)) if end > t => time[t + 1..end].to_string(),
        _ => time.to_string(),
    }
}

/// The heatmap's cells: the chart's rows and the data table's body, and
/// how many cells have calls, and too few eligible payloads.
struct Cells {
    chart: Vec<chart::Row>,
    body: String,
    with_calls: usize,
    too_few: usize,
}

fn heatmap_cells(r: &Report, timeline: &Timeline, names: &Names) -> Cells {
    let mut out = Cells {
        chart: Vec::new(),
        body: String::new(),
        with_calls: 0,
        too_few: 0,
    };
    for (key, label) in heatmap_rows(r, timeline, names) {
        let mut row = chart::Row {
            label: label.clone(),
            cells: Vec::new(),
        };
        let _ = write!(
            out.body,
            "<tr data-key=\"{}\"><th scope=\"row\" title=\"{}\">{}</th>",
            escape(key.as_deref().unwrap_or("")),
            escape(key.as_deref().unwrap_or(&label)),
            escape(&label)
        );
        for (i, c) in timeline.columns().iter().enumerate() {
            let Some(k) = c.counters(key.as_deref(), r) else {
                row.cells.push(None);
                let _ = write!(
                    out.body,
                    "<td data-col=\"{i}\" data-calls=\"0\">no calls</td>"
                );
                continue;
            };
            out.with_calls += 1;
            out.too_few += usize::from(k.state == State::TooFew);
            row.cells.push(Some(chart::Cell {
                rate: k.failure_rate,
                too_few: k.state == State::TooFew,
                alert: k.state == State::Alert,
            }));
            let _ = write!(
                out.body,
                "<td data-col=\"{i}\" data-v=\"{}\" data-u=\"rate\" data-failures=\"{}\" \
                 data-eligible=\"{}\" data-calls=\"{}\" data-state=\"{}\">{}</td>",
                k.failure_rate,
                k.failures,
                k.eligible,
                k.calls,
                k.state.name(),
                escape(&cell_text(&k))
            );
        }
        out.body.push_str("</tr>\n");
        out.chart.push(row);
    }
    out
}

/// What the heatmap's columns are.
fn columns_are(r: &Report, timeline: &Timeline) -> String {
    let columns = timeline.columns();
    let seconds = columns.first().map_or(0.0, |c| c.seconds);
    if columns.len() == 1 && columns[0].intervals == 1 && seconds == r.duration_s {
        "one column: the whole run (a run with --interval gives one per interval)".to_string()
    } else if timeline.span() > 1 {
        format!(
            "{} columns of {} intervals each (about {seconds:.1} s; the last may be shorter)",
            columns.len(),
            timeline.span()
        )
    } else {
        format!("{} columns, one per interval", columns.len())
    }
}

/// The heatmap's legend: the colour scale, then the marks.
fn legend(r: &Report) -> String {
    format!(
        "<div class=\"legend\"><figure class=\"scale\">{}</figure><ul>\
         <li><span class=\"swatch few\" aria-hidden=\"true\"></span> greyed and hatched: too few \
         eligible payloads for a verdict (under {}), the rate only a hint</li>\
         <li><span class=\"swatch ring\" aria-hidden=\"true\"></span> above the threshold: ALERT</li>\
         <li><span class=\"swatch none\" aria-hidden=\"true\"></span> no calls</li></ul></div>\n",
        chart::scale("heatmap-scale", r.alert_threshold),
        r.min_eligible
    )
}

/// The heatmap's data table: a column per column of the chart (its end,
/// length and intervals in `data-*`), the cells' `body`.
fn heatmap_table(timeline: &Timeline, times: &[String], body: &str) -> String {
    let mut head = String::from("<tr><th scope=\"col\">function</th>");
    for (i, c) in timeline.columns().iter().enumerate() {
        let _ = write!(
            head,
            "<th scope=\"col\" data-col=\"{i}\" data-end=\"{}\" data-seconds=\"{}\" data-intervals=\"{}\">{}</th>",
            escape(&c.end),
            c.seconds,
            c.intervals,
            escape(&times[i])
        );
    }
    head.push_str("</tr>");
    format!(
        "<details><summary>Data table: rate (failures of eligible) per cell</summary>\
         <div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"Heatmap data\">\
         <table data-table=\"heatmap\" class=\"cells\"><caption>Failure rate by function (rows) and \
         interval end (columns)</caption>\n<thead>{head}</thead>\n<tbody>\n{body}</tbody></table></div></details>\n"
    )
}

fn heatmap(r: &Report, timeline: &Timeline, names: &Names) -> Option<Section> {
    if timeline.columns().is_empty() {
        return None;
    }
    let times: Vec<String> = timeline.columns().iter().map(|c| clock(&c.end)).collect();
    let cells = heatmap_cells(r, timeline, names);
    let title = format!(
        "Failure rate over time: a row for all functions, then one per function with eligible \
         payloads; {}. The threshold is {}.",
        columns_are(r, timeline),
        pct(r.alert_threshold)
    );
    let mut b = format!("<p>{}</p>\n{}", escape(&title), legend(r));
    if cells.with_calls > 0 && cells.too_few * 2 > cells.with_calls {
        let _ = writeln!(
            b,
            "<p class=\"note\">{} of {} cells have fewer than {} eligible payloads: \
             no verdict. A longer --interval (or a lower --min-eligible) gives them one.</p>",
            cells.too_few, cells.with_calls, r.min_eligible
        );
    }
    let svg = chart::heatmap(
        "heatmap-title",
        &title,
        &cells.chart,
        &times,
        r.alert_threshold,
    );
    let _ = write!(
        b,
        "<figure class=\"wide\">\n<div class=\"scroll\">{svg}</div>\n<figcaption>Failure rate by \
         function and interval end (UTC).</figcaption>\n</figure>\n{}",
        heatmap_table(timeline, &times, &cells.body)
    );
    Some(Section {
        id: "heatmap",
        heading: "Failure rate over time".into(),
        body: b,
    })
}

fn kind(f: &FunctionReport) -> String {
    format!("{} {} {}", f.codec.name(), f.op.name(), f.api.name())
}

fn functions(r: &Report, names: &Names) -> Option<Section> {
    if r.functions.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "functions",
        "Functions: calls, payloads and latency",
        vec![
            text_col("function", "function"),
            text_col("kind", "kind"),
            col("calls", "calls"),
            col("payloads", "payloads"),
            col("eligible", "eligible"),
            col("failures", "failures"),
            col("errors", "errors"),
            col("incompressible", "incomp."),
            col("failure_rate", "fail rate"),
            text_col("state", "state"),
            col("p50", "p50"),
            col("p99", "p99"),
            col("max", "max"),
            col("bytes_in", "bytes in"),
            col("bytes_out", "bytes out"),
            col("time_ns", "time"),
        ],
        true,
    );
    for (i, f) in r.functions.iter().enumerate() {
        let p = |field: &str| format!("/functions/{i}/{field}");
        let c = &f.counters;
        let state = if f.inner {
            format!(
                "inner (in {})",
                f.outer.as_deref().map(|o| names.get(o)).unwrap_or("?")
            )
        } else {
            c.state.name().replace('_', " ")
        };
        t.row(
            &match &f.outer {
                Some(outer) => format!("{} in {outer}", f.function),
                None => f.function.clone(),
            },
            &[
                Value::text(p("function"), &f.function).short(names.get(&f.function)),
                Value::text(None, &kind(f)),
                Value::count(p("calls"), c.calls),
                Value::count(p("payloads"), c.payloads),
                Value::count(p("eligible"), c.eligible),
                Value::count(p("failures"), c.failures),
                Value::count(p("errors"), c.errors),
                Value::count(p("incompressible"), c.incompressible),
                Value::rate(p("failure_rate"), c.failure_rate),
                Value::text(None, &state),
                Value::ns(p("latency_ns/p50"), f.latency_ns.p50),
                Value::ns(p("latency_ns/p99"), f.latency_ns.p99),
                Value::ns(p("latency_ns/max"), f.latency_ns.max),
                Value::bytes(p("bytes_in"), f.bytes_in, f.bytes_in_observed),
                Value::bytes(p("bytes_out"), f.bytes_out, f.bytes_out_observed),
                Value::ns(p("time_ns"), f.time_ns),
            ],
        );
    }
    Some(Section {
        id: "functions",
        heading: "Functions".into(),
        body: format!(
            "<p>Inner functions are called inside another traced call and make no payloads of \
             their own. Click a column's title to sort.</p>\n{}",
            t.html()
        ),
    })
}

/// A figure per function: its histogram chart, then its data table.
fn histogram_figure(
    f: &FunctionReport,
    name: &str,
    i: usize,
    what: &str,
    field: &str,
    chart: String,
    unit: fn(u64) -> Value,
) -> String {
    let buckets = if field == "histogram" {
        &f.histogram
    } else {
        &f.size_histogram
    };
    let mut t = Table::new(
        &format!("{field}-{i}"),
        &format!("{what} of {name}"),
        vec![col("min", "from"), col("max", "to"), col("count", "count")],
        false,
    );
    for (j, bk) in buckets.iter().enumerate() {
        let p = |k: &str| format!("/functions/{i}/{field}/{j}/{k}");
        let mut min = unit(bk.min);
        min.json = Some(p("min"));
        let mut max = unit(bk.max);
        max.json = Some(p("max"));
        t.row(
            &j.to_string(),
            &[min, max, Value::count(p("count"), bk.count)],
        );
    }
    format!(
        "<figure class=\"hist\">\n<figcaption><h3>{}</h3><span class=\"kind\">{}</span></figcaption>\n\
         {chart}\n<details><summary>Data table</summary>{}</details>\n</figure>\n",
        escape(name),
        escape(&format!(
            "{}{}",
            kind(f),
            if f.inner { ", inner" } else { "" }
        )),
        t.html()
    )
}

fn latency(r: &Report, names: &Names) -> Option<Section> {
    let mut b = String::from(
        "<p>Calls by latency, in log2 buckets (each twice as wide as the one before); the solid \
         line is the median (p50), the dashed one p99.</p>\n<div class=\"grid\">\n",
    );
    let mut any = false;
    for (i, f) in r.functions.iter().enumerate() {
        if f.histogram.is_empty() {
            continue;
        }
        any = true;
        let q = &f.latency_ns;
        let title = format!(
            "Latency of {} ({} calls): p50 {}, p99 {}",
            names.get(&f.function),
            f.counters.calls,
            crate::render::format::nanos(q.p50),
            crate::render::format::nanos(q.p99)
        );
        let buckets: Vec<(u64, u64)> = f.histogram.iter().map(|b| (b.min, b.count)).collect();
        let svg = chart::histogram(
            &format!("latency-{i}-title"),
            &title,
            "latency (bucket from)",
            &buckets,
            &[
                chart::Marker {
                    at: q.p50,
                    label: format!("p50 {}", crate::render::format::nanos(q.p50)),
                    dashed: false,
                },
                chart::Marker {
                    at: q.p99,
                    label: format!("p99 {}", crate::render::format::nanos(q.p99)),
                    dashed: true,
                },
            ],
            &crate::render::format::nanos,
        );
        b.push_str(&histogram_figure(
            f,
            names.get(&f.function),
            i,
            "Latency",
            "histogram",
            svg,
            |v| Value::ns(None, v),
        ));
    }
    b.push_str("</div>\n");
    any.then(|| Section {
        id: "latency",
        heading: "Latency".into(),
        body: b,
    })
}

fn sizes(r: &Report, names: &Names) -> Option<Section> {
    let mut b = format!(
        "<p>Payloads by original (uncompressed) size, in log2 buckets; the dashed line is \
         min-size ({} bytes): payloads at or below it count toward the failure rate only when \
         they error.</p>\n<div class=\"grid\">\n",
        r.min_size
    );
    let mut any = false;
    for (i, f) in r.functions.iter().enumerate() {
        if f.size_histogram.is_empty() {
            continue;
        }
        any = true;
        let title = format!(
            "Payload sizes of {} ({} payloads, {} at or below min-size {} bytes)",
            names.get(&f.function),
            f.counters.payloads,
            f.small_payloads,
            r.min_size
        );
        let buckets: Vec<(u64, u64)> = f.size_histogram.iter().map(|b| (b.min, b.count)).collect();
        let svg = chart::histogram(
            &format!("size-{i}-title"),
            &title,
            "original size in bytes (bucket from)",
            &buckets,
            &[chart::Marker {
                at: r.min_size,
                label: format!("min-size {} B", r.min_size),
                dashed: true,
            }],
            &crate::render::format::bytes,
        );
        b.push_str(&histogram_figure(
            f,
            names.get(&f.function),
            i,
            "Payload sizes",
            "size_histogram",
            svg,
            |v| Value::bytes(None, v, true),
        ));
    }
    b.push_str("</div>\n");
    any.then(|| Section {
        id: "sizes",
        heading: "Payload sizes".into(),
        body: b,
    })
}

/// The findings, the most time first: what, where, the time it accounts
/// for, the evidence and the fix.
fn findings(r: &Report, names: &Names) -> Option<Section> {
    if r.findings.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "findings",
        "What the counts say to act on, the most time first",
        vec![
            text_col("kind", "finding"),
            text_col("where", "where"),
            col("time", "time"),
            text_col("evidence", "evidence"),
            text_col("fix", "fix"),
        ],
        false,
    );
    for (i, f) in r.findings.iter().enumerate() {
        let p = |field: &str| format!("/findings/{i}/{field}");
        let place = match &f.caller {
            Some(c) => format!("{} -> {}", names.get(c), names.get(&f.function)),
            None => names.get(&f.function).to_string(),
        };
        t.row(
            &i.to_string(),
            &[
                Value::text(None, f.kind.name()),
                Value::text(None, &place),
                Value::ns(p("time_ns"), f.time_ns),
                Value::text(p("evidence"), &f.evidence),
                Value::text(p("fix"), &f.fix),
            ],
        );
    }
    Some(Section {
        id: "findings",
        heading: "Findings".into(),
        body: t.html(),
    })
}

fn callers(r: &Report, names: &Names) -> Option<Section> {
    if r.callers.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "callers",
        "Calls by caller and function",
        vec![
            text_col("caller", "caller"),
            text_col("function", "function"),
            col("calls", "calls"),
            col("p50", "p50"),
            col("p99", "p99"),
            col("max", "max"),
        ],
        true,
    );
    for (i, c) in r.callers.iter().enumerate() {
        let p = |field: &str| format!("/callers/{i}/{field}");
        t.row(
            &format!("{} -> {}", c.caller, c.function),
            &[
                Value::text(p("caller"), &c.caller).short(names.get(&c.caller)),
                Value::text(p("function"), &c.function).short(names.get(&c.function)),
                Value::count(p("calls"), c.calls),
                Value::ns(p("latency_ns/p50"), c.latency_ns.p50),
                Value::ns(p("latency_ns/p99"), c.latency_ns.p99),
                Value::ns(p("latency_ns/max"), c.latency_ns.max),
            ],
        );
    }
    Some(Section {
        id: "callers",
        heading: "Callers".into(),
        body: t.html(),
    })
}

/// Payloads by the HTTP route they were made serving (stats::routes).
fn routes(r: &Report, names: &Names) -> Option<Section> {
    if r.routes.is_empty() {
        return None;
    }
    let mut t = Table::new(
        "routes",
        "Payloads by HTTP route",
        vec![
            text_col("route", "route"),
            col("payloads", "payloads"),
            col("eligible", "eligible"),
            col("failures", "failures"),
            col("rate", "failure rate"),
            col("original", "original"),
            col("compressed", "compressed"),
            col("p99", "p99"),
            col("time", "time"),
            text_col("function", "most time in"),
        ],
        true,
    );
    for (i, x) in r.routes.iter().enumerate() {
        let p = |field: &str| format!("/routes/{i}/{field}");
        let c = &x.counters;
        let most = x
            .functions
            .iter()
            .enumerate()
            .max_by_key(|(_, f)| f.time_ns)
            .map(|(k, f)| (format!("/routes/{i}/functions/{k}/function"), &f.function));
        let function = match most {
            Some((path, f)) => Value::text(path, f).short(names.get(f)),
            None => Value::text(None, ""),
        };
        t.row(
            &x.route,
            &[
                Value::text(p("route"), &x.route),
                Value::count(p("counters/payloads"), c.payloads),
                Value::count(p("counters/eligible"), c.eligible),
                Value::count(p("counters/failures"), c.failures),
                Value::rate(p("counters/failure_rate"), c.failure_rate),
                Value::bytes(p("original_bytes"), x.original_bytes, true),
                Value::bytes(p("compressed_bytes"), x.compressed_bytes, x.ratio.is_some()),
                Value::ns(p("latency_ns/p99"), x.latency_ns.p99),
                Value::ns(p("time_ns"), x.time_ns),
                function,
            ],
        );
    }
    Some(Section {
        id: "routes",
        heading: "Routes".into(),
        body: format!(
            "<p>Which requests the payloads were made serving (net/http): the method and the \
             mux's pattern, else the path's first segments (<code>--route-depth</code>); \
             <em>no route</em>: made serving none.</p>\n{}",
            t.html()
        ),
    })
}

fn goroutines(r: &Report) -> Option<Section> {
    if r.goroutines.is_empty() {
        return None;
    }
    // The text report's order: most time compressing first.
    let mut order: Vec<usize> = (0..r.goroutines.len()).collect();
    order.sort_by(|&a, &b| {
        let (a, b) = (&r.goroutines[a], &r.goroutines[b]);
        b.time_ns.cmp(&a.time_ns).then(a.goid.cmp(&b.goid))
    });
    let shown = order.len().min(TOP_GOROUTINES);
    let mut t = Table::new(
        "goroutines",
        &format!(
            "The {shown} goroutines that spent the most time in these calls, of {}",
            r.goroutines.len()
        ),
        vec![
            col("pid", "pid"),
            col("goid", "goroutine"),
            col("calls", "calls"),
            col("payloads", "payloads"),
            col("errors", "errors"),
            col("incompressible", "incomp."),
            col("failure_rate", "fail rate"),
            col("p99", "p99"),
            col("time_ns", "time"),
        ],
        true,
    );
    for &i in &order[..shown] {
        let g = &r.goroutines[i];
        let p = |field: &str| format!("/goroutines/{i}/{field}");
        t.row(
            &format!("{}/{}", g.pid, g.goid),
            &[
                Value::count(p("pid"), u64::from(g.pid)),
                Value::count(p("goid"), g.goid),
                Value::count(p("calls"), g.counters.calls),
                Value::count(p("payloads"), g.counters.payloads),
                Value::count(p("errors"), g.counters.errors),
                Value::count(p("incompressible"), g.counters.incompressible),
                Value::rate(p("failure_rate"), g.counters.failure_rate),
                Value::ns(p("latency_ns/p99"), g.latency_ns.p99),
                Value::ns(p("time_ns"), g.time_ns),
            ],
        );
    }
    let mut b = t.html();
    if r.goroutines.len() > shown {
        let _ = writeln!(
            b,
            "<p>… and {} more goroutines (all of them in the JSON report).</p>",
            r.goroutines.len() - shown
        );
    }
    if r.goroutines_dropped > 0 {
        let _ = writeln!(
            b,
            "<p>… and {} goroutines no longer tracked one by one (the least recently active, and those of targets no longer listed).</p>",
            Value::count("/goroutines_dropped".to_string(), r.goroutines_dropped).span()
        );
    }
    Some(Section {
        id: "goroutines",
        heading: "Goroutines".into(),
        body: b,
    })
}

/// What each loss counter means.
fn lost_meaning(key: &str) -> &'static str {
    match key {
        "ringbuf_full" => "the ring buffer was full: measured, but the event was dropped",
        "inflight_full" => "the in-flight map was full: the call was not measured",
        "read_failed" => "the goroutine (runtime.g) could not be read: not measured",
        "aged_out" => "still under way after 60 s when tracing stopped (panic, Goexit)",
        "abandoned" => "never returned (panic, runtime.Goexit): found by a later call",
        "in_flight_at_exit" => "still under way when tracing stopped or the process exited",
        "unmatched_returns" => "returns without an entry: calls already running at attach",
        "repeated_entries" => "entries seen twice for one call (stack growth); counted once",
        _ => "",
    }
}

fn lost(r: &Report) -> Section {
    let mut t = Table::new(
        "lost",
        "Lost and unusual events",
        vec![
            text_col("cause", "cause"),
            col("count", "count"),
            text_col("meaning", "meaning"),
        ],
        true,
    );
    let value = serde_json::to_value(r.lost).unwrap_or_default();
    if let Some(fields) = value.as_object() {
        for (k, v) in fields {
            let n = v.as_u64().unwrap_or(0);
            t.row(
                k,
                &[
                    Value::text(None, &k.replace('_', " ")),
                    Value::count(format!("/lost/{k}"), n),
                    Value::text(None, lost_meaning(k)),
                ],
            );
        }
    }
    Section {
        id: "lost",
        heading: "Lost events".into(),
        body: t.html(),
    }
}

fn targets(r: &Report) -> Section {
    let mut t = Table::new(
        "targets",
        "Traced processes",
        vec![
            col("pid", "pid"),
            text_col("ns_pid", "ns pid"),
            text_col("container", "container"),
            text_col("binary", "binary"),
            text_col("exe", "runs"),
            text_col("go_version", "Go"),
            text_col("start_time", "started"),
        ],
        true,
    );
    for (i, x) in r.targets.iter().enumerate() {
        let p = |field: &str| format!("/targets/{i}/{field}");
        let exe = format!("{}{}", x.exe, if x.exe_deleted { " (deleted)" } else { "" });
        t.row(
            &format!("{}/{}", x.pid, x.start_ticks),
            &[
                Value::count(p("pid"), u64::from(x.pid)),
                x.ns_pid.map_or_else(
                    || Value::text(None, ""),
                    |n| Value::count(p("ns_pid"), u64::from(n)),
                ),
                x.container_id
                    .as_deref()
                    .map_or_else(
                        || Value::text(None, ""),
                        |c| Value::text(p("container_id"), c),
                    )
                    .short(
                        x.container_id
                            .as_deref()
                            .map(super::target::short_id)
                            .unwrap_or(""),
                    ),
                Value::text(p("binary"), &x.binary),
                Value::text(None, &exe),
                Value::text(p("go_version"), &x.go_version),
                Value::text(None, x.start_time.as_deref().unwrap_or("")),
            ],
        );
    }
    let mut b = t.html();
    if r.per_target.len() > 1 {
        b.push_str(&per_target(r));
    }
    Section {
        id: "targets",
        heading: "Targets".into(),
        body: b,
    }
}

/// With several targets, each one's totals.
fn per_target(r: &Report) -> String {
    let mut pt = Table::new(
        "per_target",
        "Each target's calls",
        vec![
            col("pid", "pid"),
            col("calls", "calls"),
            col("eligible", "eligible"),
            col("failures", "failures"),
            col("failure_rate", "fail rate"),
            text_col("state", "state"),
        ],
        true,
    );
    for (i, x) in r.per_target.iter().enumerate() {
        let p = |field: &str| format!("/per_target/{i}/totals/{field}");
        pt.row(
            &format!("{}/{}", x.pid, x.start_ticks),
            &[
                Value::count(format!("/per_target/{i}/pid"), u64::from(x.pid)),
                Value::count(p("calls"), x.totals.calls),
                Value::count(p("eligible"), x.totals.eligible),
                Value::count(p("failures"), x.totals.failures),
                Value::rate(p("failure_rate"), x.totals.failure_rate),
                Value::text(None, &x.totals.state.name().replace('_', " ")),
            ],
        );
    }
    pt.html()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_command_lines_are_escaped() {
        assert_eq!(escape("a<b>&\"'"), "a&lt;b&gt;&amp;&quot;&#39;");
        assert_eq!(
            shell_line(&[
                "gozt".into(),
                "--func".into(),
                "zstd.(*Encoder).*".into(),
                "it's".into()
            ]),
            "gozt --func 'zstd.(*Encoder).*' 'it'\\''s'"
        );
        assert_eq!(clock("2026-11-30T12:00:10.000Z"), "12:00:10");
        let f = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";
        assert_eq!(tail(f, 1), "zstd.(*Encoder).EncodeAll");
        assert_eq!(tail(f, 2), "compress/zstd.(*Encoder).EncodeAll");
        assert_eq!(tail(f, 9), f);
        assert_eq!(tail("main.main", 1), "main.main");
        assert_eq!(
            tail("github.com/golang/snappy.Decode", 2),
            "golang/snappy.Decode"
        );
        assert_eq!(clock("2026-11-30T12:00:10Z"), "12:00:10");
        assert_eq!(clock(""), "");
    }
}
