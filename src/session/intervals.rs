//! `--interval`: the calls of each interval, counted beside the session's
//! (a functions-only aggregator that starts again each interval), and
//! handed to the interval sink as each interval ends.

use std::time::{Duration, Instant, SystemTime};

use crate::event::Lost;
use crate::monitor::IntervalSink;
use crate::stats::{Aggregator, Call, CallSink, FuncMeta, IntervalReport, Symbolizer};

/// The calls since the last interval report, and where each report goes.
pub struct Intervals<'a> {
    every: Duration,
    agg: Aggregator,
    began: Instant,
    /// When this interval ends: a multiple of `every` from the start, so
    /// that the reports do not drift by the poll.
    ends: Instant,
    /// Losses before this interval.
    lost_base: Lost,
    sink: &'a mut dyn IntervalSink,
    /// The sink's output is gone: no more reports.
    closed: bool,
}

impl<'a> Intervals<'a> {
    /// Reports of `every`, counted like `agg`, to `sink`.
    pub fn new(every: Duration, agg: &Aggregator, sink: &'a mut dyn IntervalSink) -> Self {
        Intervals {
            every,
            agg: agg.functions_only(),
            began: Instant::now(),
            ends: Instant::now() + every,
            lost_base: Lost::default(),
            sink,
            closed: false,
        }
    }

    pub(super) fn due(&self) -> bool {
        !self.closed && Instant::now() >= self.ends
    }

    /// Reports the interval so far and starts the next; `lost` is what the
    /// source has counted. False when the output is gone.
    pub(super) fn report(&mut self, lost: Lost) -> bool {
        let now = Instant::now();
        let seconds = (now - self.began).as_secs_f64();
        let report = self
            .agg
            .report(Vec::new(), seconds, lost.since(&self.lost_base));
        let time = humantime::format_rfc3339_millis(SystemTime::now()).to_string();
        self.closed = !self.sink.interval(&IntervalReport::new(&report, time));
        self.agg.reset();
        self.began = now;
        self.ends = (self.ends + self.every).max(now);
        self.lost_base = lost;
        !self.closed
    }

    /// At the end: the rest of the last interval, if it had calls.
    pub(super) fn finish(&mut self, lost: Lost) {
        if !self.closed && self.agg.calls() > 0 {
            self.report(lost);
        }
    }
}

/// The current interval's calls, beside the session's.
impl CallSink for Intervals<'_> {
    fn observe(&mut self, call: &Call<'_>, sym: &mut dyn Symbolizer) -> Option<u64> {
        self.agg.observe(call, sym)
    }

    fn forget_process(&mut self, pid: u32) {
        self.agg.forget_process(pid);
    }

    fn forget_frames(&mut self, pid: u32) {
        self.agg.forget_frames(pid);
    }

    fn reset(&mut self) {
        self.agg.reset();
    }

    fn functions(&mut self, funcs: &[FuncMeta]) {
        self.agg.set_functions(funcs);
    }
}
