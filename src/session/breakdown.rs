//! Each target's own calls, when a session traces several: the report's
//! functions and callers add every target up (processes running one file
//! share its function ids), and `per_target` splits them again, by process
//! identity (pid and start time).

use std::collections::BTreeMap;

use crate::event::Lost;
use crate::proc::identity::ProcId;
use crate::stats::{Aggregator, Call, CallSink, FuncMeta, Symbolizer, TargetCalls};

/// Targets broken down one by one at most, at once; calls of later ones
/// stay in the totals only. Exited targets go with the report's list of
/// targets (MAX_EXITED_LISTED of them), so over days of restarts the
/// latest ones are always broken down.
pub const MAX_TARGETS: usize = 1024;

/// Per-target aggregation.
pub struct Breakdown {
    /// An empty aggregator of the session's functions and rules, copied for
    /// each target; None: nothing broken down (a session of one target).
    template: Option<Aggregator>,
    by: BTreeMap<ProcId, Aggregator>,
}

impl Breakdown {
    /// Breaks nothing down.
    pub fn none() -> Breakdown {
        Breakdown {
            template: None,
            by: BTreeMap::new(),
        }
    }

    /// Breaks down by target what `agg` counts, by its functions and rules.
    pub fn like(agg: &Aggregator) -> Breakdown {
        Breakdown {
            // Goroutines are the report's; one is kept here, no more.
            template: Some(agg.alike().with_max_goroutines(1).coarse()),
            by: BTreeMap::new(),
        }
    }

    /// Forgets target `id`'s own counts (its calls stay in the session's).
    pub fn forget_target(&mut self, id: ProcId) {
        self.by.remove(&id);
    }

    /// Each target's calls, by pid and start time.
    pub fn report(&self, duration_s: f64) -> Vec<TargetCalls> {
        self.by
            .iter()
            .map(|(id, agg)| {
                let r = agg.report(Vec::new(), duration_s, Lost::default());
                TargetCalls {
                    pid: id.pid,
                    start_ticks: id.start_ticks,
                    totals: r.totals,
                    functions: r.functions,
                    callers: r.callers,
                }
            })
            .collect()
    }
}

/// Each target's calls, beside the session's.
impl CallSink for Breakdown {
    /// Adds the call to its process's counts (none named: the session's
    /// count names callers).
    fn observe(&mut self, call: &Call<'_>, sym: &mut dyn Symbolizer) -> Option<u64> {
        let template = self.template.as_ref()?;
        if !self.by.contains_key(&call.process) && self.by.len() >= MAX_TARGETS {
            return None;
        }
        self.by
            .entry(call.process)
            .or_insert_with(|| template.alike().with_max_goroutines(1))
            .observe(call, sym);
        None
    }

    /// Streams are judged by the session's count: nothing to forget.
    fn forget_process(&mut self, _pid: u32) {}

    fn forget_frames(&mut self, pid: u32) {
        for (id, agg) in &mut self.by {
            if id.pid == pid {
                agg.forget_frames(pid);
            }
        }
    }

    fn reset(&mut self) {
        self.by.clear();
    }

    fn functions(&mut self, funcs: &[FuncMeta]) {
        for agg in self.template.iter_mut().chain(self.by.values_mut()) {
            agg.set_functions(funcs);
        }
    }
}
