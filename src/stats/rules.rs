//! The rules, in one place: what a call's byte counts are, what a payload's
//! original size is, when a payload is eligible, when it failed, and the
//! failure rate and its state. README's "Rules" section says the same in
//! words.

use serde::{Deserialize, Serialize};

use crate::event::CallEvent;
use crate::probe::catalog::{Entry, Role, Size};

/// The rules' parameters, taken whole by every count (the session's, each
/// interval's, each target's, the exporter's): a payload is eligible when
/// its original size is above `min_size` (or it errored); a verdict needs
/// `min_eligible` eligible payloads; above `alert_threshold` failures per
/// eligible payload it is an alert. The findings' thresholds
/// (stats::findings): a caller whose eligible payloads do not compress in
/// more than `incompressible_caller` of them; a function whose payloads at
/// or below `min_size` take at least `small_share` of its payloads' time.
/// Routes (stats::routes): a path is cut to its first `route_depth`
/// segments, and at most `max_routes` routes are told apart. With
/// `downstream`, payloads' downstream writes were traced: callers and
/// routes say how many payloads had one. A caller that built at least
/// `builds_per_payload` encoders per payload of a library builds them per
/// payload (stats::findings); with `resets`, encoders' resets were traced.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rules {
    pub min_size: u64,
    pub alert_threshold: f64,
    pub min_eligible: u64,
    pub incompressible_caller: f64,
    pub small_share: f64,
    pub route_depth: usize,
    pub max_routes: usize,
    pub downstream: bool,
    pub builds_per_payload: f64,
    /// Resets were traced (`--resets`): encoders' rows count them.
    pub resets: bool,
}

impl Rules {
    /// The command line's defaults (`--min-size 1024 --alert-threshold
    /// 0.3% --min-eligible 1000`, the shipped alert rule's minimum;
    /// `--incompressible-caller 50% --small-payload-share 25%`,
    /// `--route-depth 2 --max-routes 100`, downstream writes traced).
    pub const DEFAULT: Rules = Rules {
        min_size: 1024,
        alert_threshold: 0.003,
        min_eligible: 1000,
        incompressible_caller: 0.5,
        small_share: 0.25,
        route_depth: 2,
        max_routes: 100,
        downstream: true,
        builds_per_payload: 0.5,
        resets: false,
    };

    /// Judges one payload by these rules ([`judge`]).
    pub fn judge(&self, p: &PayloadFacts, judgeable: bool) -> Judged {
        judge(p, self.min_size, judgeable)
    }

    /// The state of `failures` out of `eligible` payloads by these rules
    /// ([`state`]).
    pub fn state(&self, failures: u64, eligible: u64) -> State {
        state(failures, eligible, self.alert_threshold, self.min_eligible)
    }
}

impl Default for Rules {
    fn default() -> Rules {
        Rules::DEFAULT
    }
}

/// One call's byte counts, as they count: sizes the catalog says are
/// observed; an error's output is none, except a `Read`'s (Go's readers
/// return the bytes they delivered with the error); lz4's "did not
/// compress" (a 0 return) produced nothing, and its output is 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct CallBytes {
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// The output was seen (observed, or lz4's declined 0).
    pub out_known: bool,
    /// lz4's block encoders returned 0: the input did not compress.
    pub declined: bool,
}

/// The byte counts of call `ev` of `entry`.
pub fn call_bytes(ev: &CallEvent, entry: &Entry) -> CallBytes {
    let observed = |v: Option<u64>, size: Size| v.filter(|_| size != Size::Unobserved);
    // Sink-counted outputs are observed although the catalog's size is not
    // per call: the event says so.
    let out = ev.bytes_out.filter(|_| {
        entry.bytes_out != Size::Unobserved
            || entry.stream_out == crate::probe::catalog::StreamOut::Sinks
    });
    let bytes_in = observed(ev.bytes_in, entry.bytes_in).unwrap_or(0);
    let declined = !ev.error && entry.zero_out_is_incompressible && out == Some(0);
    let bytes_out = match (ev.error, declined) {
        (true, _) if entry.role == Role::Read => out.unwrap_or(0),
        (true, _) | (false, true) => 0,
        (false, false) => out.unwrap_or(0),
    };
    CallBytes {
        bytes_in,
        bytes_out,
        out_known: out.is_some() && !ev.error,
        declined,
    }
}

/// What is known of one payload when it ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PayloadFacts {
    pub compress: bool,
    /// Uncompressed bytes seen: the input of a compress payload, the output
    /// of a decompress one.
    pub plain_bytes: u64,
    /// Compressed bytes, when known.
    pub packed_bytes: Option<u64>,
    /// Some call of it returned an error.
    pub error: bool,
    /// A block encoder declined to compress it (lz4).
    pub declined: bool,
}

/// One payload judged by the rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Judged {
    /// The original (uncompressed) size.
    pub original_bytes: u64,
    /// Its compressed size is not known: it is counted, never eligible,
    /// never a failure.
    pub not_judged: bool,
    pub eligible: bool,
    pub error: bool,
    pub incompressible: bool,
    /// Original size at or below min-size.
    pub small: bool,
    /// Its compressed size (a compress payload's output, a decompress
    /// one's input), when known: None for payloads not judged, a compress
    /// call that errored, and decoding streams (their input is read from
    /// the stream's own io.Reader, unseen).
    pub compressed_bytes: Option<u64>,
    /// lz4 declined to compress it (compressed 0: nothing was produced).
    pub declined: bool,
}

impl Judged {
    pub fn failed(&self) -> bool {
        self.eligible && (self.error || self.incompressible)
    }
}

/// Judges one payload: eligible when its original size is above `min_size`
/// or it errored; failed when it errored or, compressing, its output was
/// not smaller than its original size. A compress payload without an error
/// whose output is not known is not judged; so is any payload whose output
/// cannot be known (`judgeable` false), errors included, so that a family
/// whose successes cannot be judged does not count only its failures.
pub fn judge(p: &PayloadFacts, min_size: u64, judgeable: bool) -> Judged {
    let small = p.plain_bytes <= min_size;
    let incompressible = p.compress
        && !p.error
        && !small
        && (p.declined || p.packed_bytes.is_some_and(|out| out >= p.plain_bytes));
    let not_judged =
        !judgeable || (p.compress && !p.error && !p.declined && p.packed_bytes.is_none());
    Judged {
        original_bytes: p.plain_bytes,
        not_judged,
        eligible: !not_judged && (!small || p.error),
        error: p.error,
        incompressible: !not_judged && incompressible,
        small,
        compressed_bytes: p.packed_bytes.filter(|_| !not_judged),
        declined: p.declined && !not_judged,
    }
}

/// Where a failure rate stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// At or below the threshold, over enough eligible payloads.
    #[default]
    Ok,
    /// Above the threshold, and so is the whole 95 % interval of the rate
    /// (its lower bound), over enough eligible payloads.
    Alert,
    /// Above the threshold, but the interval reaches down to it: the
    /// payloads seen cannot tell an alert from chance.
    Likely,
    /// Fewer eligible payloads than min-eligible: no verdict.
    TooFew,
}

impl State {
    pub fn name(self) -> &'static str {
        match self {
            State::Ok => "ok",
            State::Alert => "alert",
            State::Likely => "likely",
            State::TooFew => "too_few",
        }
    }
}

/// The failure rate: failures over eligible payloads, 0 with none
/// eligible. The one definition, for the reports, the live view and its
/// sparkline.
pub fn failure_rate(failures: u64, eligible: u64) -> f64 {
    if eligible == 0 {
        0.0
    } else {
        failures as f64 / eligible as f64
    }
}

/// z for a two-sided 95 % interval.
const Z95: f64 = 1.959_963_984_540_054;

/// The 95 % interval of the failure rate `failures` / `eligible` (Wilson's
/// score interval: right near 0 and with few payloads, where the normal
/// approximation is not); (0, 1) with none eligible. The payloads seen are
/// taken as a sample of the payloads the program makes: of those made
/// while gozt watched, or, with `--max-overhead`, of those judged in its
/// windows.
pub fn rate_interval(failures: u64, eligible: u64) -> (f64, f64) {
    if eligible == 0 {
        return (0.0, 1.0);
    }
    let n = eligible as f64;
    let p = failures as f64 / n;
    let z2 = Z95 * Z95;
    let centre = (p + z2 / (2.0 * n)) / (1.0 + z2 / n);
    let half = Z95 / (1.0 + z2 / n) * (p * (1.0 - p) / n + z2 / (4.0 * n * n)).sqrt();
    ((centre - half).max(0.0), (centre + half).min(1.0))
}

/// The state of `failures` out of `eligible` payloads: too few for a
/// verdict, else an alert when the rate's 95 % interval lies above the
/// threshold, likely when only the rate does, else ok.
pub fn state(failures: u64, eligible: u64, threshold: f64, min_eligible: u64) -> State {
    if eligible < min_eligible.max(1) {
        State::TooFew
    } else if failure_rate(failures, eligible) <= threshold {
        State::Ok
    } else if rate_interval(failures, eligible).0 > threshold {
        State::Alert
    } else {
        State::Likely
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn compress(plain: u64, out: Option<u64>) -> PayloadFacts {
        PayloadFacts {
            compress: true,
            plain_bytes: plain,
            packed_bytes: out,
            ..Default::default()
        }
    }

    #[test]
    fn the_size_test_is_on_the_original_size() {
        // Decompression: a 200-byte frame of 4 KiB is eligible.
        let d = judge(
            &PayloadFacts {
                plain_bytes: 4096,
                packed_bytes: Some(200),
                ..Default::default()
            },
            1024,
            true,
        );
        assert!(d.eligible && !d.failed());
        // An error is eligible whatever its size.
        let e = judge(
            &PayloadFacts {
                error: true,
                ..Default::default()
            },
            1024,
            true,
        );
        assert!(e.eligible && e.failed());
    }

    #[test]
    fn incompressible_and_not_judged() {
        assert!(judge(&compress(2000, Some(2000)), 1024, true).incompressible);
        assert!(!judge(&compress(2000, Some(1999)), 1024, true).failed());
        assert!(!judge(&compress(1000, Some(1100)), 1024, true).eligible);
        let unknown = judge(&compress(5000, None), 1024, true);
        assert!(unknown.not_judged && !unknown.eligible);
        let mut failed = compress(5000, None);
        failed.error = true;
        assert!(judge(&failed, 1024, true).failed());
        assert!(!judge(&failed, 1024, false).eligible, "not judgeable");
    }

    #[test]
    fn too_few_before_alert() {
        assert_eq!(state(1, 44, 0.003, 1000), State::TooFew);
        // 0.4 %: above 0.3 %, but its interval (0.16-1.03 %) reaches below.
        assert_eq!(state(4, 1000, 0.003, 1000), State::Likely);
        // 1.0 %: its interval (0.54-1.83 %) is all above.
        assert_eq!(state(10, 1000, 0.003, 1000), State::Alert);
        assert_eq!(state(3, 1000, 0.003, 1000), State::Ok);
        assert_eq!(state(0, 0, 0.003, 0), State::TooFew);
    }
}
