//! The failure rules, in one place: what an error, an incompressible call and
//! an eligible call are, and which byte counts count.

use crate::catalog::{Entry, Op};
use crate::event::CallEvent;

/// One call judged by the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Classified {
    pub error: bool,
    pub incompressible: bool,
    pub eligible: bool,
    pub bytes_in: u64,
    pub bytes_out: u64,
}

/// Judges one call: error, incompressible, eligible, and the byte counts
/// that count (sizes the catalog says are observed).
pub fn classify(ev: &CallEvent, entry: &Entry, min_size: u64) -> Classified {
    // Only sizes the catalog says are read per call count.
    let observed = |v: Option<u64>, size: crate::catalog::Size| {
        v.filter(|_| size != crate::catalog::Size::Unobserved)
    };
    let ev_out = observed(ev.bytes_out, entry.bytes_out);
    let bytes_in = observed(ev.bytes_in, entry.bytes_in).unwrap_or(0);
    let mut bytes_out = if ev.error { 0 } else { ev_out.unwrap_or(0) };
    let mut incompressible = false;
    if !ev.error && entry.op == Op::Compress && bytes_in > min_size {
        if let Some(out) = ev_out {
            if entry.zero_out_is_incompressible && out == 0 {
                // The library declined to compress: the caller stores the input.
                bytes_out = bytes_in;
                incompressible = true;
            } else {
                incompressible = out >= bytes_in;
            }
        }
    } else if !ev.error && entry.zero_out_is_incompressible && ev_out == Some(0) {
        bytes_out = bytes_in;
    }
    Classified {
        error: ev.error,
        incompressible,
        eligible: bytes_in > min_size || ev.error,
        bytes_in,
        bytes_out,
    }
}

/// The failure rate: failures over eligible calls, 0 with none eligible. The
/// one definition, for the reports, the live view and its sparkline.
pub fn failure_rate(failures: u64, eligible: u64) -> f64 {
    if eligible == 0 {
        0.0
    } else {
        failures as f64 / eligible as f64
    }
}
