//! The report model every renderer consumes (text, JSON, the live view,
//! Prometheus): plain data, serialized as docs/report.schema.json.

use serde::{Deserialize, Serialize};

use crate::event::Lost;
use crate::probe::catalog::{Api, Codec, Op};
use crate::stats::rules::State;

/// A traced process: the pid and start time identify it (a pid reused by
/// another process is another target).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct TargetInfo {
    /// Its pid on the host (gozt's pid namespace).
    pub pid: u32,
    pub binary: String,
    pub go_version: String,
    /// Its build's main module version (`(devel)` for a local build) and
    /// Go build ID: with the Go version, which release runs (a rollout's
    /// old and new side by side).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub build_id: Option<String>,
    /// Its pid in its own pid namespace (a container's process 1, say).
    #[serde(default)]
    pub ns_pid: Option<u32>,
    /// The container it runs in, from its cgroup (docker, containerd/CRI,
    /// CRI-O, podman, systemd-nspawn), or null.
    #[serde(default)]
    pub container_id: Option<String>,
    /// Its executable as the process itself sees it (its own mount
    /// namespace and root); empty when it could not be read.
    #[serde(default)]
    pub exe: String,
    /// The executable was deleted or replaced on disk while it ran.
    #[serde(default)]
    pub exe_deleted: bool,
    /// When it started (RFC 3339, UTC), and the same in clock ticks since
    /// boot (/proc/PID/stat's starttime): with the pid, its identity.
    #[serde(default)]
    pub start_time: Option<String>,
    #[serde(default)]
    pub start_ticks: u64,
}

/// Calls, and the payloads they made (stats::rules).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Default)]
pub struct Counters {
    pub calls: u64,
    /// Calls that returned an error.
    #[serde(default)]
    pub call_errors: u64,
    /// Payloads ended (a one-shot call, or a stream at its end).
    #[serde(default)]
    pub payloads: u64,
    /// Judged payloads with an original size above min-size, or an error.
    pub eligible: u64,
    /// Payloads with an error (judged or not).
    pub errors: u64,
    /// Eligible compress payloads whose output was not smaller.
    pub incompressible: u64,
    /// Eligible payloads that errored or were incompressible.
    pub failures: u64,
    /// Payloads whose output could not be known: never eligible.
    #[serde(default)]
    pub not_judged: u64,
    pub failure_rate: f64,
    /// The failure rate's 95 % interval (Wilson), the payloads seen taken
    /// as a sample: (0, 1) with none eligible.
    #[serde(default)]
    pub failure_rate_low: f64,
    #[serde(default = "one")]
    pub failure_rate_high: f64,
    #[serde(default)]
    pub state: State,
    /// `state` is `alert`.
    pub alert: bool,
}

fn one() -> f64 {
    1.0
}

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Latency {
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: u64,
}

/// One log2 bucket: `min..=max` nanoseconds.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
pub struct Bucket {
    pub min: u64,
    pub max: u64,
    pub count: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FunctionReport {
    pub function: String,
    pub codec: Codec,
    pub op: Op,
    pub api: Api,
    #[serde(flatten)]
    pub counters: Counters,
    /// Call-level bytes: what these calls took in and gave out, each call
    /// on its own (a stream's `Write` its input; a gzip stream's header on
    /// its first `Write`). A payload's sizes are `payload_*`.
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
    /// gozt's own traps inside these calls (their inner traced calls'
    /// entries and returns, their streams' writes), the time taken out of
    /// the calls for them, and the calls whose correction was more than
    /// their measured time allows, left as measured.
    #[serde(default)]
    pub traps_inside: u64,
    #[serde(default)]
    pub correction_ns: u64,
    #[serde(default)]
    pub uncorrected: u64,
    /// Calls made inside another traced call (`outer`) on their goroutine:
    /// they add nothing to payloads or totals.
    #[serde(default)]
    pub inner: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<String>,
    /// Payloads with an original size at or below min-size, and the time
    /// in their calls; `payload_time_ns` is the time of all payloads ended
    /// here.
    #[serde(default)]
    pub small_payloads: u64,
    #[serde(default)]
    pub small_time_ns: u64,
    #[serde(default)]
    pub payload_time_ns: u64,
    /// The payloads ended here, whatever calls they came from: their
    /// original (uncompressed) sizes; the compressed sizes of those whose
    /// compressed size is known (a stream's whole output, its header and
    /// trailer included; a zstd stream's from its encoder's counts; lz4's
    /// declined blocks as 0); and compressed over original for those (lz4's
    /// declined left out), null with none.
    #[serde(default)]
    pub payload_original_bytes: u64,
    #[serde(default)]
    pub payload_compressed_bytes: u64,
    #[serde(default)]
    pub payload_ratio: Option<f64>,
    /// Log2 buckets of the payloads' original sizes, in bytes (`min` 0 is
    /// the empty payloads).
    #[serde(default)]
    pub size_histogram: Vec<Bucket>,
    /// A compressor's payloads below this size (bytes) came out no smaller
    /// than they went in, on this data: every size band up to it, together
    /// (null when its smallest payloads compressed, or none are sized).
    #[serde(default)]
    pub loss_below_bytes: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct GoroutineReport {
    pub pid: u32,
    /// Its process's start (clock ticks since boot; 0 when not known): with
    /// the pid, the process, as in `targets`.
    #[serde(default)]
    pub start_ticks: u64,
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

/// Where the payloads' bytes went next: each payload's downstream write
/// (the first write(2) its goroutine made after it, before its next
/// payload or request: a socket, a file, a pipe), beside the payloads'
/// own time.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Downstream {
    /// Payloads, of them followed by a downstream write, and not.
    pub payloads: u64,
    pub writes: u64,
    pub without_write: u64,
    /// Bytes the writes wrote; writes that failed.
    pub bytes: u64,
    pub errors: u64,
    /// The writes' time (each from its first write(2) to the return of
    /// its last), summed, and its percentiles.
    pub write_time_ns: u64,
    pub write_latency_ns: Latency,
    /// The payloads' own time (all their calls), summed, and its
    /// percentiles.
    pub compress_time_ns: u64,
    pub compress_latency_ns: Latency,
    /// write_time over write and compress time together (0 without any).
    pub write_share: f64,
    /// From a payload's end to its write's start.
    pub gap_latency_ns: Latency,
    /// Writes by what they wrote to: tcp, udp, unix, file, pipe, other.
    pub kinds: std::collections::BTreeMap<String, u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CallerReport {
    pub caller: String,
    pub function: String,
    pub calls: u64,
    pub latency_ns: Latency,
    /// The payloads its calls ended (a stream's on the row of the call that
    /// ended it), by the rules; absent in saved reports from before.
    #[serde(default)]
    pub payloads: u64,
    #[serde(default)]
    pub eligible: u64,
    #[serde(default)]
    pub errors: u64,
    #[serde(default)]
    pub incompressible: u64,
    #[serde(default)]
    pub failures: u64,
    /// The time of its calls (corrected for gozt's traps), summed.
    #[serde(default)]
    pub time_ns: u64,
    /// The time of its incompressible payloads, and of those that errored:
    /// each payload's, all its calls (a stream's writes too).
    #[serde(default)]
    pub incompressible_time_ns: u64,
    #[serde(default)]
    pub error_time_ns: u64,
    /// With downstream writes traced: where its payloads' bytes went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Downstream>,
}

/// The payloads made serving one route (stats::routes), or serving none
/// (`no route`), or beyond `--max-routes` (`other`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteReport {
    pub route: String,
    /// Its payloads by the rules (`calls` is the calls that ended them).
    pub counters: Counters,
    /// Original sizes of every payload; compressed sizes of those whose
    /// compressed size is known, and their ratio.
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub ratio: Option<f64>,
    /// Each payload's time (all its calls), summed, and its percentiles.
    pub time_ns: u64,
    pub latency_ns: Latency,
    /// The functions whose calls ended its payloads, by name.
    pub functions: Vec<RouteFunction>,
    /// With downstream writes traced: where its payloads' bytes went.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downstream: Option<Downstream>,
}

/// One function's payloads within a route.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RouteFunction {
    pub function: String,
    pub payloads: u64,
    pub eligible: u64,
    pub failures: u64,
    pub original_bytes: u64,
    pub compressed_bytes: u64,
    pub time_ns: u64,
}

/// Where and when a report was made, and by what.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Meta {
    /// The version of gozt that traced.
    pub gozt_version: String,
    /// The host name of the machine traced.
    pub host: String,
    /// Its kernel release (`uname -r`).
    pub kernel: String,
    /// When the counts started and ended, RFC 3339 in UTC.
    pub started: String,
    pub ended: String,
    /// gozt's own command line, argv[0] first.
    pub command_line: Vec<String>,
    /// How the probes were attached on this kernel: `uprobe_multi` (6.6+),
    /// `uprobe_cookie` (5.15+) or `uprobe_address` (5.10+); empty when
    /// nothing was traced (a saved report of an older gozt).
    #[serde(default)]
    pub attach_method: String,
}

/// What ended a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Ending {
    /// `--duration` ran out.
    Duration,
    /// Ctrl-C, SIGTERM or SIGHUP.
    Signal,
    /// The live view was quit.
    Quit,
    /// Every target exited (attach).
    TargetsExited,
    /// The traced command exited (trace).
    CommandExited,
    /// The output of `--interval` was closed (a pipe's reader went away).
    OutputClosed,
}

impl Ending {
    /// Why the run ended, as the text report says it.
    pub fn reason(self) -> &'static str {
        match self {
            Ending::Duration => "--duration ran out",
            Ending::Signal => "a signal (Ctrl-C, SIGTERM or SIGHUP)",
            Ending::Quit => "the live view was quit",
            Ending::TargetsExited => "every target exited",
            Ending::CommandExited => "the command exited",
            Ending::OutputClosed => "the output was closed",
        }
    }
}

/// The report model every renderer consumes.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Report {
    /// Empty in reports built without a session (and in saved reports from
    /// before it was added).
    #[serde(default)]
    pub meta: Meta,
    /// What the counts say to act on, the most time first
    /// (stats::findings); empty in saved reports from before.
    #[serde(default)]
    pub findings: Vec<super::findings::Finding>,
    pub targets: Vec<TargetInfo>,
    /// Seconds traced: from when the probes were in place (or the live
    /// view's last reset) to when tracing stopped; calls under way then get
    /// a moment to return, and count, but no call begun later does.
    pub duration_s: f64,
    /// `--duration` as given, in seconds (null without it): the clock
    /// starts when the probes are in place, so `duration_s` equals it
    /// unless the run ended sooner, for the reason in `ended_by`.
    #[serde(default)]
    pub requested_duration_s: Option<f64>,
    /// What ended the run; null in reports made without a session (and in
    /// saved reports from before it was added).
    #[serde(default)]
    pub ended_by: Option<Ending>,
    pub min_size: u64,
    /// Eligible payloads needed for a verdict (state `ok` or `alert`).
    #[serde(default)]
    pub min_eligible: u64,
    pub alert_threshold: f64,
    pub totals: Counters,
    /// Streams begun and not ended when the report was made.
    #[serde(default)]
    pub open_streams: u64,
    pub functions: Vec<FunctionReport>,
    pub goroutines: Vec<GoroutineReport>,
    /// Goroutines no longer listed: beyond MAX_GOROUTINES tracked at once,
    /// the least recently active are dropped from `goroutines` (their calls
    /// stay in every other count).
    pub goroutines_dropped: u64,
    pub callers: Vec<CallerReport>,
    /// Payloads by the HTTP route they were made serving, the most
    /// payloads first, `other` and `no route` last; empty when no payload
    /// was made serving a request (and in saved reports from before).
    #[serde(default)]
    pub routes: Vec<RouteReport>,
    /// The encoders and decoders each caller built and reset, by library,
    /// against the payloads it made with that library (stats::lifecycle);
    /// empty without constructors traced (and in saved reports from
    /// before).
    #[serde(default)]
    pub encoders: Vec<EncoderReport>,
    pub lost: Lost,
    /// With --max-overhead: how the probes were duty-cycled; the counts are
    /// of the attached windows only.
    pub sampling: Option<Sampling>,
    /// What the reader should know of the run (also on stderr): no target
    /// matched, a target's binary deleted or replaced, callers that could
    /// not be named and why.
    #[serde(default)]
    pub warnings: Vec<String>,
    /// `gozt trace`: the command's exit status (128 + the signal that
    /// ended it), which gozt exits with.
    #[serde(default)]
    pub command_exit_status: Option<i32>,
    /// With several targets: each one's calls (`functions` and `callers`
    /// above are across all of them), by pid and start time.
    #[serde(default)]
    pub per_target: Vec<TargetCalls>,
}

/// One target's calls, when several were traced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TargetCalls {
    pub pid: u32,
    pub start_ticks: u64,
    pub totals: Counters,
    pub functions: Vec<FunctionReport>,
    pub callers: Vec<CallerReport>,
}

impl Report {
    /// The payloads made with `library`'s writers (`Compress`) or readers,
    /// by every caller.
    pub fn library_payloads(&self, library: &str, op: Op) -> u64 {
        let prefix = format!("{library}.");
        self.functions
            .iter()
            .filter(|f| !f.inner && f.op == op)
            .filter(|f| crate::go_binary::names::unvendored(&f.function).starts_with(&prefix))
            .map(|f| f.counters.payloads)
            .sum()
    }
}

/// One caller's encoders (or decoders) of one library: what building and
/// resetting them cost, next to the payloads it made with the library.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct EncoderReport {
    pub caller: String,
    /// The library's package (`compress/gzip`), and whether its writers
    /// (`compress`) or readers (`decompress`).
    pub library: String,
    pub codec: Codec,
    pub op: Op,
    /// Encoders built: constructors, and resets that had to build (a
    /// reader's first `Reset`, where `NewReader` is inlined).
    pub builds: u64,
    /// Null when resets were not traced (without `--resets`).
    pub resets: Option<u64>,
    /// Constructors and resets that returned an error.
    pub errors: u64,
    /// The constructors' own time: each build's latency and their sum.
    pub build_latency_ns: Latency,
    pub build_time_ns: u64,
    /// State built inside a payload's first call (gzip's flate compressor
    /// at its first `Write`, zstd's block encoders at its first use): how
    /// many times, and the time, part of those calls' time.
    pub lazy_builds: u64,
    pub lazy_build_time_ns: u64,
    pub reset_time_ns: Option<u64>,
    /// This caller's payloads with the library, and the time of its calls
    /// of the library's writers or readers.
    pub payloads: u64,
    pub payload_time_ns: u64,
    /// payloads / builds (null with no build seen).
    pub payloads_per_build: Option<f64>,
    /// Building and resetting (constructors, lazy builds, resets) over the
    /// whole path (constructors, resets and the payloads' calls); null when
    /// the caller made no payload with the library (it builds for others).
    pub build_share: Option<f64>,
}

/// Duty cycling under `--max-overhead`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Sampling {
    /// The budget, as a fraction of the targets' CPU time.
    pub max_overhead: f64,
    /// Measured cost of one uprobe trap at start, in nanoseconds: one the
    /// kernel single-steps (RETs, sinks)...
    pub trap_ns: u64,
    /// ...and one it emulates (entries and sinks at a branch).
    #[serde(default)]
    pub emulated_trap_ns: u64,
    /// Seconds the probes were attached, out of `traced_s`.
    pub attached_s: f64,
    pub traced_s: f64,
    /// Attached windows.
    pub windows: u64,
    /// traced_s / attached_s: multiply counts by it to estimate the whole run.
    pub factor: f64,
    /// Traps taken at gozt's sites over the whole run.
    pub traps: u64,
    /// Of them, traps at an emulated branch (entries, sinks).
    #[serde(default)]
    pub emulated_traps: u64,
    /// Time gozt's programs ran, from the kernel's BPF statistics.
    pub bpf_run_ns: u64,
    /// Estimated cost (traps at trap_ns, plus bpf_run_ns) over the targets'
    /// CPU time, for the whole run.
    pub estimated_overhead: f64,
}

/// One function's calls in one interval (`--interval`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntervalFunction {
    pub function: String,
    pub codec: Codec,
    pub op: Op,
    #[serde(flatten)]
    pub counters: Counters,
    pub bytes_in: u64,
    pub bytes_out: u64,
    pub latency_ns: Latency,
    #[serde(default)]
    pub inner: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub outer: Option<String>,
}

/// The calls of one interval (`--interval`), not cumulative: one JSON line
/// each, as docs/interval.schema.json says.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IntervalReport {
    /// Always "interval": tells these lines from the final report.
    #[serde(rename = "type")]
    pub kind: String,
    /// The interval's end, RFC 3339 in UTC.
    pub time: String,
    /// Its length in seconds (the last one ends with the run, sooner).
    pub interval_s: f64,
    pub totals: Counters,
    /// The functions called in the interval, by name.
    pub functions: Vec<IntervalFunction>,
    /// Losses in the interval.
    pub lost: Lost,
}

impl IntervalReport {
    /// The interval whose calls `report` holds, ended at `time`.
    pub fn new(report: &Report, time: String) -> IntervalReport {
        IntervalReport {
            kind: "interval".to_string(),
            time,
            interval_s: report.duration_s,
            totals: report.totals,
            functions: report
                .functions
                .iter()
                .map(|f| IntervalFunction {
                    function: f.function.clone(),
                    codec: f.codec,
                    op: f.op,
                    counters: f.counters,
                    bytes_in: f.bytes_in,
                    bytes_out: f.bytes_out,
                    latency_ns: f.latency_ns,
                    inner: f.inner,
                    outer: f.outer.clone(),
                })
                .collect(),
            lost: report.lost,
        }
    }
}
