//! The live view's state: the latest report, calls per second and the
//! failure rate of each past second, the sort, the panes and selections.

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use ratatui::widgets::TableState;

use crate::event::Lost;
use crate::probe::catalog::Op;
use crate::stats::{Counters, FunctionReport, GoroutineReport, Report};

use crate::go_binary::names::short_name;

/// Seconds of failure-rate history kept per function.
const HISTORY_SECONDS: usize = 120;

/// The failure rate of the reports, for FAIL% (since the start) and for each
/// second of the sparkline (the last second's counts).
pub use crate::stats::failure_rate;

/// The failure rate of counters since the start.
pub fn counters_rate(c: &Counters) -> f64 {
    failure_rate(c.failures, c.eligible)
}

/// Which table has the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Functions,
    Goroutines,
    /// The HTTP routes, in the goroutines' place (when payloads were made
    /// serving requests).
    Routes,
}

/// Columns of the functions table; `s` cycles the sort through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Function,
    Codec,
    Op,
    Calls,
    Rate,
    P50,
    P99,
    Max,
    BytesIn,
    BytesOut,
    Ratio,
    Errors,
    Incompressible,
    FailureRate,
}

impl Column {
    pub const ALL: [Column; 14] = [
        Column::Function,
        Column::Codec,
        Column::Op,
        Column::Calls,
        Column::Rate,
        Column::P50,
        Column::P99,
        Column::Max,
        Column::BytesIn,
        Column::BytesOut,
        Column::Ratio,
        Column::Errors,
        Column::Incompressible,
        Column::FailureRate,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Column::Function => "FUNCTION",
            Column::Codec => "CODEC",
            Column::Op => "OP",
            Column::Calls => "CALLS",
            Column::Rate => "CALLS/S",
            Column::P50 => "P50",
            Column::P99 => "P99",
            Column::Max => "MAX",
            Column::BytesIn => "IN",
            Column::BytesOut => "OUT",
            Column::Ratio => "RATIO",
            Column::Errors => "ERR",
            Column::Incompressible => "INCOMP",
            Column::FailureRate => "FAIL%",
        }
    }

    /// The width of the column's values.
    fn value_width(self) -> u16 {
        match self {
            Column::Function => 24,
            Column::Codec => 6,
            Column::Op => 4,
            Column::Calls | Column::Rate => 7,
            Column::P50 | Column::P99 | Column::Max | Column::BytesIn | Column::BytesOut => 6,
            Column::Ratio => 5,
            Column::Errors => 5,
            Column::Incompressible => 6,
            Column::FailureRate => 7,
        }
    }

    /// The column's width: its values, or its title and the sort arrow,
    /// whichever is wider, so the arrow always shows.
    pub fn width(self) -> u16 {
        self.value_width().max(self.title().len() as u16 + 1)
    }

    /// Which columns stay when the terminal is narrow, most important first.
    pub fn priority(self) -> u8 {
        match self {
            Column::Function => 0,
            Column::Calls => 1,
            Column::FailureRate => 2,
            Column::P99 => 3,
            Column::Rate => 4,
            Column::Errors => 5,
            Column::Incompressible => 6,
            Column::P50 => 7,
            Column::Max => 8,
            Column::Ratio => 9,
            Column::BytesIn => 10,
            Column::BytesOut => 11,
            Column::Codec => 12,
            Column::Op => 13,
        }
    }

    /// The next (or with `back`, previous) column in the sort cycle.
    pub fn step(self, back: bool) -> Column {
        let n = Column::ALL.len();
        let i = Column::ALL.iter().position(|c| *c == self).unwrap_or(0);
        Column::ALL[if back { (i + n - 1) % n } else { (i + 1) % n }]
    }
}

/// Per-function counts at the start of the current one-second window.
#[derive(Debug, Clone, Default)]
struct Mark {
    at: Duration,
    /// Calls, failures and eligible calls.
    calls: HashMap<String, (u64, u64, u64)>,
    total_calls: u64,
}

/// The state of the live view.
pub struct App {
    pub(super) report: Option<Report>,
    pub(super) lost: Lost,
    pub(super) elapsed: Duration,
    mark: Mark,
    /// Calls per second over the last whole second, per function and total.
    pub(super) rates: HashMap<String, f64>,
    pub(super) total_rate: f64,
    /// The failure rate of each past second, per function.
    pub(super) history: HashMap<String, VecDeque<f64>>,
    pub pane: Pane,
    pub sort: Column,
    pub paused: bool,
    pub help: bool,
    /// The selections, by function and by goroutine, not by row: each
    /// stays on its own as rows re-sort, across pauses and resets. The first
    /// row shown is selected until a key moves the selection.
    pub(super) sel_function: Option<String>,
    pub(super) sel_goroutine: Option<(u32, u64)>,
    pub(super) sel_route: Option<String>,
    pub(super) functions: TableState,
    pub(super) goroutines: TableState,
    pub(super) routes: TableState,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App {
            report: None,
            lost: Lost::default(),
            elapsed: Duration::ZERO,
            mark: Mark::default(),
            rates: HashMap::new(),
            total_rate: 0.0,
            history: HashMap::new(),
            pane: Pane::Functions,
            sort: Column::Calls,
            paused: false,
            help: false,
            sel_function: None,
            sel_goroutine: None,
            sel_route: None,
            functions: TableState::default().with_selected(Some(0)),
            goroutines: TableState::default().with_selected(Some(0)),
            routes: TableState::default().with_selected(Some(0)),
        }
    }

    /// Takes a new snapshot of the session (ignored while paused, but for
    /// the first after a reset).
    pub fn update(&mut self, mut report: Report, lost: Lost, elapsed: Duration) {
        if self.paused && self.report.is_some() {
            return;
        }
        // Inner calls are part of their outer calls' rows here (the final
        // report lists them on their own).
        report.functions.retain(|f| !f.inner);
        let window = elapsed.saturating_sub(self.mark.at);
        if window >= Duration::from_secs(1) || self.report.is_none() {
            let secs = window.as_secs_f64().max(1e-9);
            let mut now = HashMap::new();
            for f in &report.functions {
                let c = &f.counters;
                let (calls0, fail0, elig0) = self
                    .mark
                    .calls
                    .get(&f.function)
                    .copied()
                    .unwrap_or_default();
                if self.report.is_some() {
                    self.rates.insert(
                        f.function.clone(),
                        c.calls.saturating_sub(calls0) as f64 / secs,
                    );
                    let h = self.history.entry(f.function.clone()).or_default();
                    h.push_back(failure_rate(
                        c.failures.saturating_sub(fail0),
                        c.eligible.saturating_sub(elig0),
                    ));
                    if h.len() > HISTORY_SECONDS {
                        h.pop_front();
                    }
                }
                now.insert(f.function.clone(), (c.calls, c.failures, c.eligible));
            }
            if self.report.is_some() {
                self.total_rate =
                    report.totals.calls.saturating_sub(self.mark.total_calls) as f64 / secs;
            }
            self.mark = Mark {
                at: elapsed,
                calls: now,
                total_calls: report.totals.calls,
            };
        }
        self.report = Some(report);
        self.lost = lost;
        self.elapsed = elapsed;
        // What shows selected from the first rows on is what stays selected.
        if self.sel_function.is_none() {
            self.sel_function = self.function_names().into_iter().next();
        }
        if self.sel_goroutine.is_none() {
            self.sel_goroutine = self.goroutine_ids().into_iter().next();
        }
    }

    /// Shows a saved report (`gozt report --live`): its counts, and as
    /// calls per second their averages over the run (it has no
    /// second-by-second history, so the sparkline stays empty).
    pub fn show_saved(&mut self, report: Report) {
        let secs = report.duration_s.max(1e-9);
        let elapsed = Duration::from_secs_f64(report.duration_s.max(0.0));
        let paused = std::mem::replace(&mut self.paused, false);
        self.update(report.clone(), report.lost, elapsed);
        self.paused = paused;
        self.rates = report
            .functions
            .iter()
            .map(|f| (f.function.clone(), f.counters.calls as f64 / secs))
            .collect();
        self.total_rate = report.totals.calls as f64 / secs;
    }

    /// Forgets every count (after the session reset its aggregation); the
    /// selections stay, and show again once their function or goroutine
    /// is called again.
    pub fn reset(&mut self) {
        self.report = None;
        self.mark = Mark::default();
        self.rates.clear();
        self.total_rate = 0.0;
        self.history.clear();
    }

    /// The selected function's row among `names`, if it has one now.
    pub(super) fn function_index(&self, names: &[String]) -> Option<usize> {
        let s = self.sel_function.as_ref()?;
        names.iter().position(|n| n == s)
    }

    /// The selected goroutine's row among `ids`, if it has one now.
    pub(super) fn goroutine_index(&self, ids: &[(u32, u64)]) -> Option<usize> {
        let s = self.sel_goroutine?;
        ids.iter().position(|i| *i == s)
    }

    /// Calls per second of `function` over the last whole second.
    pub(super) fn rate(&self, function: &str) -> f64 {
        self.rates.get(function).copied().unwrap_or(0.0)
    }

    /// Functions in display order.
    pub(super) fn sorted_functions(&self) -> Vec<&FunctionReport> {
        let Some(r) = &self.report else {
            return Vec::new();
        };
        let mut fs: Vec<&FunctionReport> = r.functions.iter().collect();
        let key = |f: &FunctionReport| -> f64 {
            match self.sort {
                Column::Function | Column::Codec | Column::Op => 0.0,
                Column::Calls => f.counters.calls as f64,
                Column::Rate => self.rate(&f.function),
                Column::P50 => f.latency_ns.p50 as f64,
                Column::P99 => f.latency_ns.p99 as f64,
                Column::Max => f.latency_ns.max as f64,
                Column::BytesIn => sizes(f).0.map_or(-1.0, |n| n as f64),
                Column::BytesOut => sizes(f).1.map_or(-1.0, |n| n as f64),
                Column::Ratio => ratio(f).unwrap_or(-1.0),
                Column::Errors => f.counters.errors as f64,
                Column::Incompressible => f.counters.incompressible as f64,
                Column::FailureRate => counters_rate(&f.counters),
            }
        };
        fs.sort_by(|a, b| match self.sort {
            Column::Function => short_name(&a.function).cmp(short_name(&b.function)),
            Column::Codec => a.codec.name().cmp(b.codec.name()),
            Column::Op => a.op.name().cmp(b.op.name()),
            // Largest first; ties by name, so the order is stable.
            _ => key(b)
                .total_cmp(&key(a))
                .then_with(|| a.function.cmp(&b.function)),
        });
        fs
    }

    /// Goroutines by time spent compressing, most first.
    pub(super) fn sorted_goroutines(&self) -> Vec<&GoroutineReport> {
        let Some(r) = &self.report else {
            return Vec::new();
        };
        let mut gs: Vec<&GoroutineReport> = r.goroutines.iter().collect();
        gs.sort_by(|a, b| {
            b.time_ns
                .cmp(&a.time_ns)
                .then((a.pid, a.goid).cmp(&(b.pid, b.goid)))
        });
        gs
    }

    /// The selected function's full name: the first row shown until a key
    /// moves the selection; after a reset, also while it has no row again.
    pub fn selected_function(&self) -> Option<String> {
        self.sel_function.clone()
    }

    /// The selected goroutine, (pid, goid).
    pub fn selected_goroutine(&self) -> Option<(u32, u64)> {
        self.sel_goroutine
    }

    pub(super) fn function_names(&self) -> Vec<String> {
        self.sorted_functions()
            .iter()
            .map(|f| f.function.clone())
            .collect()
    }

    pub(super) fn goroutine_ids(&self) -> Vec<(u32, u64)> {
        self.sorted_goroutines()
            .iter()
            .map(|g| (g.pid, g.goid))
            .collect()
    }

    /// The routes, in the report's order (the most payloads first).
    pub(super) fn route_names(&self) -> Vec<String> {
        self.report
            .as_ref()
            .map(|r| r.routes.iter().map(|x| x.route.clone()).collect())
            .unwrap_or_default()
    }

    /// The selected route's row among `names`, if it has one now.
    pub(super) fn route_index(&self, names: &[String]) -> Option<usize> {
        let s = self.sel_route.as_ref()?;
        names.iter().position(|n| n == s)
    }

    /// The selected route: the first row until a key moves the selection.
    pub fn selected_route(&self) -> Option<String> {
        self.sel_route
            .clone()
            .or_else(|| self.route_names().into_iter().next())
    }

    /// Whether the report has routes (payloads made serving requests).
    pub fn has_routes(&self) -> bool {
        self.report.as_ref().is_some_and(|r| !r.routes.is_empty())
    }
}

/// The IN and OUT columns of row `f` (None: not known). A row that ends
/// payloads (a one-shot call, a stream's `Close`, a reader's last `Read`)
/// shows its payloads' sizes, whatever calls they came from (compress:
/// original in, compressed out; decompress: the other way round); others
/// their calls' own bytes.
pub fn sizes(f: &FunctionReport) -> (Option<u64>, Option<u64>) {
    if !f.inner && f.counters.payloads > 0 {
        let packed = f.payload_ratio.map(|_| f.payload_compressed_bytes);
        let plain = Some(f.payload_original_bytes);
        return match f.op {
            Op::Compress => (plain, packed),
            Op::Decompress => (packed, plain),
        };
    }
    (
        f.bytes_in_observed.then_some(f.bytes_in),
        f.bytes_out_observed.then_some(f.bytes_out),
    )
}

/// OUT over IN, when both are known (compress: below 1 is good). A
/// payload row's is its payloads' whose compressed size is known (lz4's
/// declined blocks left out).
pub fn ratio(f: &FunctionReport) -> Option<f64> {
    if !f.inner && f.counters.payloads > 0 {
        return f.payload_ratio.map(|r| match f.op {
            Op::Compress => r,
            Op::Decompress if r > 0.0 => 1.0 / r,
            Op::Decompress => 0.0,
        });
    }
    match sizes(f) {
        (Some(i), Some(o)) if i > 0 => Some(o as f64 / i as f64),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::{failure_rate, Column};

    #[test]
    fn one_failure_rate() {
        assert_eq!(failure_rate(0, 0), 0.0);
        assert_eq!(failure_rate(1, 4), 0.25);
    }

    #[test]
    fn every_column_has_room_for_its_title_and_the_arrow() {
        for c in Column::ALL {
            assert!(c.width() as usize > c.title().len(), "{c:?}");
        }
        assert_eq!(Column::FailureRate.step(false), Column::Function);
        assert_eq!(Column::Function.step(true), Column::FailureRate);
    }
}
