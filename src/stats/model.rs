//! The report model every renderer consumes (text, JSON, the live view,
//! Prometheus): plain data, serialized as docs/report.schema.json.

use serde::Serialize;

use crate::catalog::{Api, Codec, Op};
use crate::event::Lost;

/// A traced process.
#[derive(Debug, Clone, Serialize)]
pub struct TargetInfo {
    pub pid: u32,
    pub binary: String,
    pub go_version: String,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Counters {
    pub calls: u64,
    pub errors: u64,
    pub incompressible: u64,
    pub failures: u64,
    pub eligible: u64,
    pub failure_rate: f64,
    pub alert: bool,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
}

/// One log2 bucket: `min..=max` nanoseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
pub struct Bucket {
    pub min: u64,
    pub max: u64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct FunctionReport {
    pub function: String,
    pub codec: Codec,
    pub op: Op,
    pub api: Api,
    #[serde(flatten)]
    pub counters: Counters,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// False when the function's input (or output) size is not visible per
    /// call, e.g. the output of a stream Write: the byte count is then 0.
    pub bytes_in_observed: bool,
    pub bytes_out_observed: bool,
    /// Time spent in these calls, summed.
    pub time_ns: u64,
    pub latency_ns: Latency,
    pub histogram: Vec<Bucket>,
}

#[derive(Debug, Clone, Serialize)]
pub struct GoroutineReport {
    pub pid: u32,
    pub goid: u64,
    #[serde(flatten)]
    pub counters: Counters,
    pub bytes_in: u64,
    pub bytes_out: u64,
    /// Time spent in these calls, summed.
    pub time_ns: u64,
    pub latency_ns: Latency,
    pub functions: Vec<FunctionReport>,
}

#[derive(Debug, Clone, Serialize)]
pub struct CallerReport {
    pub caller: String,
    pub function: String,
    pub calls: u64,
    pub latency_ns: Latency,
}

/// The report model every renderer consumes.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub targets: Vec<TargetInfo>,
    pub duration_s: f64,
    pub min_size: u64,
    pub alert_threshold: f64,
    pub totals: Counters,
    pub functions: Vec<FunctionReport>,
    pub goroutines: Vec<GoroutineReport>,
    /// Goroutines no longer listed: beyond MAX_GOROUTINES tracked at once,
    /// the least recently active are dropped from `goroutines` (their calls
    /// stay in every other count).
    pub goroutines_dropped: u64,
    pub callers: Vec<CallerReport>,
    pub lost: Lost,
    /// With --max-overhead: how the probes were duty-cycled; the counts are
    /// of the attached windows only.
    pub sampling: Option<Sampling>,
}

/// Duty cycling under `--max-overhead`.
#[derive(Debug, Clone, Serialize)]
pub struct Sampling {
    /// The budget, as a fraction of the targets' CPU time.
    pub max_overhead: f64,
    /// Measured cost of one uprobe trap at start, in nanoseconds.
    pub trap_ns: u64,
    /// Seconds the probes were attached, out of `traced_s`.
    pub attached_s: f64,
    pub traced_s: f64,
    /// Attached windows.
    pub windows: u64,
    /// traced_s / attached_s: multiply counts by it to estimate the whole run.
    pub factor: f64,
    /// Traps taken at gozt's sites over the whole run.
    pub traps: u64,
    /// Time gozt's programs ran, from the kernel's BPF statistics.
    pub bpf_run_ns: u64,
    /// Estimated cost (traps at trap_ns, plus bpf_run_ns) over the targets'
    /// CPU time, for the whole run.
    pub estimated_overhead: f64,
}
