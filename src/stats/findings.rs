//! Findings: what a report's counts say an engineer can act on, each in one
//! line (the caller, the evidence, the fix), ranked by the time it accounts
//! for. Made from the report model alone, so a saved report shows the same.
//! None fires on fewer payloads than `min_eligible` asks of a verdict.

use serde::{Deserialize, Serialize};

use super::model::{CallerReport, EncoderReport, FunctionReport, Report};
use super::rules::Rules;
use crate::base::units::nanos as time;
use crate::go_binary::names::short_name as short;
use crate::probe::catalog::Op;

/// What a finding is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    /// A caller whose eligible payloads mostly do not compress.
    IncompressibleCaller,
    /// A caller whose decoders failed on its input.
    DecoderErrors,
    /// A compressor whose small payloads take a large share of its time.
    SmallPayloads,
    /// A caller that builds an encoder (or decoder) for about every
    /// payload instead of keeping one.
    EncoderPerPayload,
}

impl FindingKind {
    pub fn name(self) -> &'static str {
        match self {
            FindingKind::IncompressibleCaller => "incompressible caller",
            FindingKind::DecoderErrors => "decoder errors",
            FindingKind::SmallPayloads => "small payloads",
            FindingKind::EncoderPerPayload => "encoder built per payload",
        }
    }
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// The compression function (its row), or for an encoder finding the
    /// library's writers or readers (`compress/gzip writer`).
    pub function: String,
    /// The caller, for findings about one.
    pub caller: Option<String>,
    /// The time of the calls it is about (what acting on it can save at
    /// most), in ns: the ranking.
    pub time_ns: u64,
    pub evidence: String,
    pub fix: String,
}

impl Finding {
    /// Where, as the text report and the live view say it: `caller ->
    /// function` (short), or the function alone.
    pub fn place(&self) -> String {
        match &self.caller {
            Some(c) => format!("{c} -> {}", short(&self.function)),
            None => short(&self.function).to_string(),
        }
    }
}

/// The findings of `report` by `rules`, the one accounting for the most time
/// first.
pub fn findings(report: &Report, rules: &Rules) -> Vec<Finding> {
    let op_of = |function: &str| {
        report
            .functions
            .iter()
            .find(|f| f.function == function && !f.inner)
            .map(|f| f.op)
    };
    let mut out = Vec::new();
    for c in &report.callers {
        match op_of(&c.function) {
            Some(Op::Compress) => out.extend(incompressible_caller(c, rules)),
            Some(Op::Decompress) => out.extend(decoder_errors(c, rules)),
            None => {}
        }
    }
    for f in report.functions.iter().filter(|f| !f.inner) {
        out.extend(small_payloads(f, rules));
    }
    for e in &report.encoders {
        out.extend(encoder_per_payload(e, report, rules));
    }
    out.sort_by(|a, b| {
        b.time_ns
            .cmp(&a.time_ns)
            .then_with(|| (&a.function, &a.caller).cmp(&(&b.function, &b.caller)))
    });
    out
}

/// `part` of `whole` as a percentage with one decimal.
fn pct(part: u64, whole: u64) -> String {
    format!("{:.1}%", 100.0 * part as f64 / whole.max(1) as f64)
}

fn incompressible_caller(c: &CallerReport, rules: &Rules) -> Option<Finding> {
    if c.eligible < rules.min_eligible.max(1) {
        return None;
    }
    let share = c.incompressible as f64 / c.eligible as f64;
    if share <= rules.incompressible_caller {
        return None;
    }
    let spent = c.incompressible_time_ns;
    Some(Finding {
        kind: FindingKind::IncompressibleCaller,
        function: c.function.clone(),
        caller: Some(c.caller.clone()),
        time_ns: spent,
        evidence: format!(
            "{} of its {} eligible payloads to {} came out no smaller ({}), about {} spent on them",
            c.incompressible,
            c.eligible,
            short(&c.function),
            pct(c.incompressible, c.eligible),
            time(spent)
        ),
        fix: "skip compression for this data (already compressed or random: check the content \
              type, or compress only when a sample shrinks)"
            .to_string(),
    })
}

fn decoder_errors(c: &CallerReport, rules: &Rules) -> Option<Finding> {
    if c.errors == 0 || c.payloads < rules.min_eligible.max(1) {
        return None;
    }
    let spent = c.error_time_ns;
    Some(Finding {
        kind: FindingKind::DecoderErrors,
        function: c.function.clone(),
        caller: Some(c.caller.clone()),
        time_ns: spent,
        evidence: format!(
            "{} of its {} payloads decoded by {} failed ({})",
            c.errors,
            c.payloads,
            short(&c.function),
            pct(c.errors, c.payloads)
        ),
        fix: "find where the input is cut or damaged (truncated read, wrong codec, corrupt \
              storage); log the error"
            .to_string(),
    })
}

/// A caller's builds of a library's encoders against its payloads with the
/// library (all callers' when it made none itself: it builds them for
/// others, a helper or a pool's `New`).
fn encoder_per_payload(e: &EncoderReport, report: &Report, rules: &Rules) -> Option<Finding> {
    let label = format!(
        "{} {}",
        e.library,
        if e.op == Op::Compress {
            "writer"
        } else {
            "reader"
        }
    );
    let (payloads, whose) = if e.payloads > 0 {
        (e.payloads, "its")
    } else {
        (report.library_payloads(&e.library, e.op), "all")
    };
    if e.builds == 0 || payloads < rules.min_eligible.max(1) {
        return None;
    }
    let per = e.builds as f64 / payloads as f64;
    if per < rules.builds_per_payload {
        return None;
    }
    let spent = e.build_time_ns + e.lazy_build_time_ns;
    let each = spent / e.builds;
    Some(Finding {
        kind: FindingKind::EncoderPerPayload,
        function: label.clone(),
        caller: Some(e.caller.clone()),
        time_ns: spent,
        evidence: format!(
            "built {} {label}s for {whose} {payloads} payloads ({per:.2} per payload), {} each, \
             {} in all ({} of its {} path)",
            e.builds,
            time(each),
            time(spent),
            e.build_share
                .map_or_else(|| "-".to_string(), |s| format!("{:.1}%", 100.0 * s)),
            e.library
        ),
        fix: "keep them: a sync.Pool of writers (or readers) and Reset on each, or one per \
              goroutine"
            .to_string(),
    })
}

fn small_payloads(f: &FunctionReport, rules: &Rules) -> Option<Finding> {
    if f.op != Op::Compress
        || f.counters.payloads < rules.min_eligible.max(1)
        || f.payload_time_ns == 0
    {
        return None;
    }
    let share = f.small_time_ns as f64 / f.payload_time_ns as f64;
    if f.small_payloads == 0 || share < rules.small_share {
        return None;
    }
    let loss = match f.loss_below_bytes {
        Some(b) => format!("; below {b} B its output was no smaller than its input"),
        None => String::new(),
    };
    let floor = f.loss_below_bytes.unwrap_or(0).max(rules.min_size + 1);
    Some(Finding {
        kind: FindingKind::SmallPayloads,
        function: f.function.clone(),
        caller: None,
        time_ns: f.small_time_ns,
        evidence: format!(
            "{} of its {} payloads were {} B or less ({}) and took {} of its payloads' time ({}){loss}",
            f.small_payloads,
            f.counters.payloads,
            rules.min_size,
            pct(f.small_payloads, f.counters.payloads),
            pct(f.small_time_ns, f.payload_time_ns),
            time(f.small_time_ns)
        ),
        fix: format!("compress only payloads of {floor} B or more, send the rest as they are"),
    })
}
