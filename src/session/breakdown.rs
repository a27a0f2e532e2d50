//! Each target's own calls, when a session traces several: the report's
//! functions and callers add every target up (processes running one file
//! share its function ids), and `per_target` splits them again, by process
//! identity (pid and start time).

use std::collections::BTreeMap;

use crate::event::{CallEvent, Lost};
use crate::identity::ProcId;
use crate::stats::{Aggregator, FuncMeta, Symbolizer, TargetCalls};

/// Targets broken down one by one at most; calls of later ones stay in
/// the totals only (a --binary run over days sees many restarts).
pub const MAX_TARGETS: usize = 256;

/// Per-target aggregation.
pub struct Breakdown {
    /// None: nothing broken down (a session of one target).
    funcs: Option<Vec<FuncMeta>>,
    min_size: u64,
    threshold: f64,
    by: BTreeMap<ProcId, Aggregator>,
}

impl Breakdown {
    /// Breaks nothing down.
    pub fn none() -> Breakdown {
        Breakdown {
            funcs: None,
            min_size: 0,
            threshold: 0.0,
            by: BTreeMap::new(),
        }
    }

    pub fn new(funcs: Vec<FuncMeta>, min_size: u64, threshold: f64) -> Breakdown {
        Breakdown {
            funcs: Some(funcs),
            min_size,
            threshold,
            by: BTreeMap::new(),
        }
    }

    /// Adds one call of process `id`.
    pub fn add(&mut self, id: ProcId, ev: &CallEvent, sym: &mut dyn Symbolizer) {
        let Some(funcs) = self.funcs.as_ref() else {
            return;
        };
        if !self.by.contains_key(&id) && self.by.len() >= MAX_TARGETS {
            return;
        }
        let (min, thr) = (self.min_size, self.threshold);
        self.by
            .entry(id)
            // Goroutines are the report's; one is kept here, no more.
            .or_insert_with(|| Aggregator::new(funcs.clone(), min, thr).with_max_goroutines(1))
            .add(ev, sym);
    }

    /// Another process has `pid` now: names of its frames are stale.
    pub fn forget_frames(&mut self, pid: u32) {
        for (id, agg) in &mut self.by {
            if id.pid == pid {
                agg.forget_frames(pid);
            }
        }
    }

    /// Process `pid` has exited: its calls under way never end.
    pub fn forget_process(&mut self, pid: u32) {
        for (id, agg) in &mut self.by {
            if id.pid == pid {
                agg.forget_process(pid);
            }
        }
    }

    /// Forgets every call (the live view's reset).
    pub fn reset(&mut self) {
        self.by.clear();
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
