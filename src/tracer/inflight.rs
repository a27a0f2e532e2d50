//! The in-flight map as user space sees it. The programs insert a
//! goroutine's record at its first call and write it in place from then on;
//! user space never deletes a record a program may be using: it reads them,
//! and deletes those of processes that have exited (no program runs for
//! them) and, once the probes are detached, all of them.

use std::time::Duration;

use libbpf_rs::{MapCore, MapFlags};

use super::skel::types::{gozt_inflight, gozt_key};

/// Calls found under way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnderWay {
    /// Began within `max_age` of now.
    pub young: u64,
    /// Older: left by a panic or runtime.Goexit, almost surely.
    pub old: u64,
}

/// CLOCK_MONOTONIC in nanoseconds: what bpf_ktime_get_ns reads.
pub fn monotonic_ns() -> u64 {
    let ts = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The record at key `raw`, if any.
fn record(map: &dyn MapCore, raw: &[u8]) -> Option<gozt_inflight> {
    let value = map.lookup(raw, MapFlags::ANY).ok()??;
    Some(bytemuck::pod_read_unaligned(
        value.get(..size_of::<gozt_inflight>())?,
    ))
}

/// The map's records: (key bytes, key, record).
fn records(map: &dyn MapCore) -> Vec<(Vec<u8>, gozt_key, gozt_inflight)> {
    let keys: Vec<Vec<u8>> = map.keys().collect();
    keys.into_iter()
        .filter_map(|raw| {
            let key: gozt_key = bytemuck::pod_read_unaligned(raw.get(..size_of::<gozt_key>())?);
            let rec = record(map, &raw)?;
            Some((raw, key, rec))
        })
        .collect()
}

fn count(rec: &gozt_inflight, now_ns: u64, max_age: Duration, into: &mut UnderWay) {
    for c in rec.calls.iter().filter(|c| c.active != 0) {
        if Duration::from_nanos(now_ns.saturating_sub(c.start_ns)) > max_age {
            into.old += 1;
        } else {
            into.young += 1;
        }
    }
}

/// The keys of all records.
pub fn keys(map: &dyn MapCore) -> Vec<Vec<u8>> {
    map.keys().collect()
}

/// Which of `keys` have calls under way for less than `max_age`.
pub fn young(map: &dyn MapCore, keys: &[Vec<u8>], max_age: Duration) -> Vec<Vec<u8>> {
    let now = monotonic_ns();
    keys.iter()
        .filter(|raw| {
            record(map, raw).is_some_and(|rec| {
                let mut n = UnderWay::default();
                count(&rec, now, max_age, &mut n);
                n.young > 0
            })
        })
        .cloned()
        .collect()
}

/// Deletes the records of `tgid` (all when None), which no program may use
/// any more: the process has exited, or the probes are detached. Returns
/// the calls they held under way.
pub fn remove(map: &dyn MapCore, tgid: Option<u32>, max_age: Duration) -> UnderWay {
    let now = monotonic_ns();
    let mut n = UnderWay::default();
    for (raw, key, rec) in records(map) {
        if tgid.is_none_or(|t| t == key.tgid) {
            count(&rec, now, max_age, &mut n);
            let _ = map.delete(&raw);
        }
    }
    n
}
