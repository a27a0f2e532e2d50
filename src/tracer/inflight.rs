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

impl UnderWay {
    pub fn total(&self) -> u64 {
        self.young + self.old
    }
}

/// CLOCK_MONOTONIC in nanoseconds: what bpf_ktime_get_ns reads.
pub fn monotonic_ns() -> u64 {
    // SAFETY: clock_gettime writes one timespec.
    unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    }
}

/// The map's records: (key bytes, key, record).
fn records(map: &dyn MapCore) -> Vec<(Vec<u8>, gozt_key, gozt_inflight)> {
    let keys: Vec<Vec<u8>> = map.keys().collect();
    keys.into_iter()
        .filter_map(|raw| {
            if raw.len() < std::mem::size_of::<gozt_key>() {
                return None;
            }
            let value = map.lookup(&raw, MapFlags::ANY).ok()??;
            if value.len() < std::mem::size_of::<gozt_inflight>() {
                return None;
            }
            // SAFETY: the key is one gozt_key and the value one
            // gozt_inflight, plain C structs.
            let (key, rec) = unsafe {
                (
                    std::ptr::read_unaligned(raw.as_ptr().cast::<gozt_key>()),
                    std::ptr::read_unaligned(value.as_ptr().cast::<gozt_inflight>()),
                )
            };
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

/// The keys of records with calls under way for less than `max_age`.
pub fn young(map: &dyn MapCore, max_age: Duration) -> Vec<Vec<u8>> {
    let now = monotonic_ns();
    records(map)
        .into_iter()
        .filter_map(|(raw, _, rec)| {
            let mut n = UnderWay::default();
            count(&rec, now, max_age, &mut n);
            (n.young > 0).then_some(raw)
        })
        .collect()
}

/// Which of `keys` still have calls under way for less than `max_age`.
pub fn still_young(map: &dyn MapCore, keys: &[Vec<u8>], max_age: Duration) -> Vec<Vec<u8>> {
    let now = monotonic_ns();
    keys.iter()
        .filter(|raw| {
            let Ok(Some(value)) = map.lookup(raw, MapFlags::ANY) else {
                return false;
            };
            if value.len() < std::mem::size_of::<gozt_inflight>() {
                return false;
            }
            // SAFETY: the value is one gozt_inflight, a plain C struct.
            let rec = unsafe { std::ptr::read_unaligned(value.as_ptr().cast::<gozt_inflight>()) };
            let mut n = UnderWay::default();
            count(&rec, now, max_age, &mut n);
            n.young > 0
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
