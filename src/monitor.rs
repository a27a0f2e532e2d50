//! What a live view sees of a running session, and how it is called: the
//! session drives a [`Monitor`] after every poll with a [`Snapshot`], and
//! hands each `--interval` report to an [`IntervalSink`]. Both the session
//! and the views depend on this module, not on each other.

use std::time::Duration;

use crate::event::Lost;
use crate::stats::{Aggregator, IntervalReport, Report, TargetInfo};

/// Watches a session while it runs: the live view.
pub trait Monitor {
    /// Called after every poll of the tracer (every 50 ms); false ends the
    /// session.
    fn tick(&mut self, snap: &mut Snapshot<'_>) -> bool;
}

/// Takes the report of each interval (`--interval`) as it ends.
pub trait IntervalSink {
    /// False ends the session (the output is gone).
    fn interval(&mut self, report: &IntervalReport) -> bool;
}

/// The session as a monitor sees it.
pub struct Snapshot<'a> {
    agg: &'a mut Aggregator,
    targets: Vec<TargetInfo>,
    pub lost: Lost,
    /// Since the start, or since the last reset.
    pub elapsed: Duration,
    reset: bool,
}

impl<'a> Snapshot<'a> {
    pub fn new(
        agg: &'a mut Aggregator,
        targets: Vec<TargetInfo>,
        lost: Lost,
        elapsed: Duration,
    ) -> Snapshot<'a> {
        Snapshot {
            agg,
            targets,
            lost,
            elapsed,
            reset: false,
        }
    }

    /// The report so far.
    pub fn report(&self) -> Report {
        self.agg
            .report(self.targets.clone(), self.elapsed.as_secs_f64(), self.lost)
    }

    /// Forgets every call counted so far; the session's clock starts again.
    pub fn reset(&mut self) {
        self.agg.reset();
        self.elapsed = Duration::ZERO;
        self.reset = true;
    }

    /// Whether the monitor reset the counts.
    pub fn was_reset(&self) -> bool {
        self.reset
    }
}
