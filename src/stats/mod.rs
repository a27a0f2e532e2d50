//! From call events to the report model: the [`rules`], gozt's traps out
//! of calls' times ([`correct`]), calls grouped into [`payload`]s, the
//! [`aggregate`] state, the [`sink`] trait every count of
//! a session implements, the [`model`] every renderer consumes, and the
//! [`findings`] read from it.
//!
//! Rules (README, "Rules"): calls, latency and bytes are per call; the
//! failure rate is per payload. `eligible` = judged payloads whose original
//! size is above min-size, plus judged payloads that errored; `failures` =
//! eligible payloads that errored or, compressing, whose output was not
//! smaller than their original size; `failure_rate` = failures / eligible;
//! `state` is `too_few` below min-eligible, else `alert` above the
//! threshold, else `ok`.

pub mod aggregate;
pub mod correct;
pub mod findings;
pub mod lifecycle;
pub mod model;
pub mod payload;
pub mod routes;
pub mod rules;
pub mod sink;

pub use aggregate::{Aggregator, MAX_GOROUTINES};
pub use findings::{Finding, FindingKind};
pub use model::*;
pub use rules::{failure_rate, Rules, State};
pub use sink::{Call, CallSink};

use crate::probe::catalog::Entry;

/// A function of the session, indexed by `CallEvent::func_id`.
#[derive(Debug, Clone)]
pub struct FuncMeta {
    pub function: String,
    pub entry: Entry,
    /// Index of the target (binary) it belongs to.
    pub target: usize,
    /// Its output comes from sink sites that are attached.
    pub sinks: bool,
}

/// Turns a runtime return address of process `pid` into a function name.
pub trait Symbolizer {
    fn function_at(&mut self, pid: u32, addr: u64) -> Option<String>;
}

/// Drops the entries of process `tgid` from a cache keyed by (tgid, a
/// goroutine's or a stream's id).
fn forget_process_keys<V>(cache: &mut lru::LruCache<(u32, u64), V>, tgid: u32) {
    let gone: Vec<(u32, u64)> = cache
        .iter()
        .filter(|((t, _), _)| *t == tgid)
        .map(|(k, _)| *k)
        .collect();
    for k in gone {
        cache.pop(&k);
    }
}
