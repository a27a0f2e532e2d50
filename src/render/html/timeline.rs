//! The heatmap's columns: the `--interval` reports of a run, in order, one
//! column each; past [`MAX_COLUMNS`] neighbouring columns are merged in
//! pairs (their counts added, their rate and state judged again by the
//! run's rules), so that a long run keeps a bounded page and memory. A run
//! without intervals is one column: its final report.

use std::collections::BTreeMap;

use crate::stats::{rules, Counters, IntervalReport, Report};

/// Columns kept; a run with more intervals has wider columns.
pub const MAX_COLUMNS: usize = 120;

/// One column: one interval, or several merged.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    /// The end of its last interval (RFC 3339, UTC).
    pub end: String,
    /// Seconds it spans.
    pub seconds: f64,
    /// Intervals merged into it.
    pub intervals: usize,
    /// All functions' calls.
    pub totals: Counters,
    /// Each function's calls, by name; functions called inside another
    /// traced call (`inner`) make no payloads and are left out.
    pub functions: BTreeMap<String, Counters>,
}

/// The columns of a run, as its intervals come.
#[derive(Debug, Clone)]
pub struct Timeline {
    columns: Vec<Column>,
    /// Intervals per full column.
    span: usize,
}

/// Adds the counts of `b` to `a`; the rate and state are judged later.
fn add(a: &mut Counters, b: &Counters) {
    a.calls += b.calls;
    a.call_errors += b.call_errors;
    a.payloads += b.payloads;
    a.eligible += b.eligible;
    a.errors += b.errors;
    a.incompressible += b.incompressible;
    a.failures += b.failures;
    a.not_judged += b.not_judged;
}

/// `c`'s rate and state by the rules of `report` (threshold, min-eligible),
/// as the aggregator judges them.
pub fn judged(c: &Counters, report: &Report) -> Counters {
    let state = rules::state(
        c.failures,
        c.eligible,
        report.alert_threshold,
        report.min_eligible,
    );
    let (low, high) = rules::rate_interval(c.failures, c.eligible);
    Counters {
        failure_rate: rules::failure_rate(c.failures, c.eligible),
        failure_rate_low: low,
        failure_rate_high: high,
        state,
        alert: state == rules::State::Alert,
        ..*c
    }
}

impl Column {
    fn of(r: &IntervalReport) -> Column {
        Column {
            end: r.time.clone(),
            seconds: r.interval_s,
            intervals: 1,
            totals: r.totals,
            functions: r
                .functions
                .iter()
                .filter(|f| !f.inner)
                .map(|f| (f.function.clone(), f.counters))
                .collect(),
        }
    }

    /// Adds the later column `next` to this one.
    fn merge(&mut self, next: &Column) {
        self.end.clone_from(&next.end);
        self.seconds += next.seconds;
        self.intervals += next.intervals;
        add(&mut self.totals, &next.totals);
        for (name, c) in &next.functions {
            add(self.functions.entry(name.clone()).or_default(), c);
        }
    }

    /// The counts of `function` (None: the totals), judged; None when it
    /// made no call here.
    pub fn counters(&self, function: Option<&str>, report: &Report) -> Option<Counters> {
        let c = match function {
            None => &self.totals,
            Some(f) => self.functions.get(f)?,
        };
        // One interval's counts are as its report judged them.
        Some(if self.intervals == 1 {
            *c
        } else {
            judged(c, report)
        })
    }
}

impl Default for Timeline {
    fn default() -> Timeline {
        Timeline::new()
    }
}

impl Timeline {
    pub fn new() -> Timeline {
        Timeline {
            columns: Vec::new(),
            span: 1,
        }
    }

    /// A run without intervals: its final report, one column.
    pub fn of_report(report: &Report) -> Timeline {
        let mut t = Timeline::new();
        t.push(&IntervalReport::new(report, report.meta.ended.clone()));
        t
    }

    /// Adds the next interval.
    pub fn push(&mut self, r: &IntervalReport) {
        let column = Column::of(r);
        match self.columns.last_mut() {
            Some(last) if last.intervals < self.span => last.merge(&column),
            _ => self.columns.push(column),
        }
        if self.columns.len() > MAX_COLUMNS {
            let pairs = std::mem::take(&mut self.columns);
            let mut it = pairs.into_iter();
            while let Some(mut a) = it.next() {
                if let Some(b) = it.next() {
                    a.merge(&b);
                }
                self.columns.push(a);
            }
            self.span *= 2;
        }
    }

    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// Intervals per column (the last one may hold fewer).
    pub fn span(&self) -> usize {
        self.span
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::{IntervalFunction, State};

    fn interval(i: u64, failures: u64, eligible: u64) -> IntervalReport {
        let c = Counters {
            calls: eligible,
            payloads: eligible,
            eligible,
            failures,
            errors: failures,
            failure_rate: rules::failure_rate(failures, eligible),
            state: rules::state(failures, eligible, 0.01, 10),
            ..Counters::default()
        };
        IntervalReport {
            kind: "interval".into(),
            time: format!("2026-11-30T12:00:{i:02}.000Z"),
            interval_s: 1.0,
            totals: c,
            functions: vec![IntervalFunction {
                function: "f".into(),
                codec: crate::probe::catalog::Codec::Zstd,
                op: crate::probe::catalog::Op::Compress,
                counters: c,
                bytes_in: 0,
                bytes_out: 0,
                latency_ns: crate::stats::Latency {
                    p50: 0,
                    p90: 0,
                    p99: 0,
                    p999: 0,
                    max: 0,
                    mean: 0,
                },
                inner: false,
                outer: None,
            }],
            lost: Default::default(),
        }
    }

    #[test]
    fn long_runs_merge_neighbours_and_judge_them_again() {
        let mut report = crate::stats::Aggregator::new(
            Vec::new(),
            crate::stats::Rules {
                min_size: 1024,
                alert_threshold: 0.01,
                min_eligible: 10,
                ..crate::stats::Rules::DEFAULT
            },
        )
        .report(Vec::new(), 1.0, Default::default());
        report.min_eligible = 10;
        let mut t = Timeline::default();
        let n = MAX_COLUMNS as u64 + 3;
        for i in 0..n {
            // 6 eligible each: too few alone, judged in pairs.
            t.push(&interval(i % 60, u64::from(i % 2 == 0), 6));
        }
        assert_eq!(t.span(), 2);
        assert_eq!(t.columns().len(), (MAX_COLUMNS + 3).div_ceil(2));
        let first = t.columns()[0].counters(Some("f"), &report).unwrap();
        assert_eq!((first.failures, first.eligible), (1, 12));
        assert_eq!(first.state, State::Alert);
        assert_eq!(t.columns()[0].seconds, 2.0);
        let last = t.columns().last().unwrap();
        assert_eq!(last.intervals, 1);
        assert_eq!(
            last.counters(None, &report).unwrap().state,
            State::TooFew,
            "one interval: as its report judged it"
        );
        let sum: u64 = t.columns().iter().map(|c| c.totals.eligible).sum();
        assert_eq!(sum, 6 * n);
        assert!(t.columns()[0].counters(Some("g"), &report).is_none());
    }
}
