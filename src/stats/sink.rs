//! What the session's loop feeds each call to. Every count of a session —
//! its own totals, each interval's, each target's, the exporter's — is a
//! [`CallSink`], and the driver loops over them: a count added later (a
//! route, a downstream write) is one more sink, and none can miss a call or
//! a forget.

use super::payload::Payload;
use super::{Aggregator, FuncMeta, Symbolizer, TargetInfo};
use crate::event::{CallEvent, Lost};
use crate::proc::identity::ProcId;

/// One call as the sinks see it.
#[derive(Debug, Clone, Copy)]
pub struct Call<'a> {
    /// The process that made it.
    pub process: ProcId,
    pub event: &'a CallEvent,
    /// The payload it ended, judged once per session.
    pub payload: Option<&'a Payload>,
}

/// A count of a session's calls.
pub trait CallSink {
    /// Counts one call; `sym` names its caller. Returns the return address
    /// that named the caller, for a sink that names callers.
    fn observe(&mut self, call: &Call<'_>, sym: &mut dyn Symbolizer) -> Option<u64>;
    /// The process on `pid` has exited, and no target runs there now: what
    /// is kept for it goes (its streams under way, its series).
    fn forget_process(&mut self, pid: u32);
    /// Another process has `pid` now: what was named for the earlier one's
    /// return addresses is not this one's.
    fn forget_frames(&mut self, pid: u32);
    /// The live view's reset: every count starts again.
    fn reset(&mut self);
    /// A target is known: its counts may start at zero.
    fn target(&mut self, _target: &TargetInfo) {}
    /// What the tracer has lost so far.
    fn lost(&mut self, _lost: &Lost) {}
    /// The session's functions are `funcs` now: those before, then a new
    /// binary's (read while the session runs).
    fn functions(&mut self, _funcs: &[FuncMeta]) {}
}

/// The session's own totals: the report's counts.
impl CallSink for Aggregator {
    fn observe(&mut self, call: &Call<'_>, sym: &mut dyn Symbolizer) -> Option<u64> {
        self.add_judged(call.event, call.payload, sym)
    }

    fn forget_process(&mut self, pid: u32) {
        Aggregator::forget_process(self, pid);
    }

    fn forget_frames(&mut self, pid: u32) {
        Aggregator::forget_frames(self, pid);
    }

    fn functions(&mut self, funcs: &[FuncMeta]) {
        self.set_functions(funcs);
    }

    fn reset(&mut self) {
        Aggregator::reset(self);
    }
}
