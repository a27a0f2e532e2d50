//! Command-line syntax (clap derive). Parsing only validates shapes; the
//! `config` module resolves what the flags mean.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// bpftrace-style profiler for the compression paths of running Go programs.
#[derive(Debug, Parser)]
#[command(name = "gozt", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the compression functions of a Go binary and where gozt would
    /// probe them (entry and every RET), without privileges.
    Probes(ProbesArgs),
    /// Trace running processes: by pid, or every process running a binary.
    Attach(AttachArgs),
    /// Start a command and trace it from its first instruction.
    Trace(TraceArgs),
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// A process to trace (repeatable).
    #[arg(long = "pid", required_unless_present = "binary")]
    pub pids: Vec<i32>,
    /// Trace every process running this executable, including later ones.
    #[arg(long, conflicts_with = "pids")]
    pub binary: Option<PathBuf>,
    #[command(flatten)]
    pub common: TraceOptions,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub common: TraceOptions,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TraceOptions {
    /// Stop after this long (e.g. 60s, 5m, 1h30m).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Print the report as JSON (docs/report.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Write the report to FILE instead of stdout.
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    /// Calls with input larger than this many bytes count toward the failure rate.
    #[arg(long, default_value_t = 1024)]
    pub min_size: u64,
    /// Failure rate above which gozt alerts, e.g. 0.3% or 0.003.
    #[arg(long, default_value = "0.3%")]
    pub alert_threshold: String,
    /// Only these codecs (comma-separated: zstd,gzip,flate,zlib,snappy,s2,lz4).
    #[arg(long, value_delimiter = ',')]
    pub codec: Vec<String>,
    /// Only functions matching this glob (repeatable), e.g. '*zstd*'.
    #[arg(long = "func")]
    pub funcs: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics while tracing, headless
    /// (ADDR defaults to 127.0.0.1:9433: loopback only unless told).
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::exporter::DEFAULT_ADDR)]
    pub prometheus: Option<String>,
    /// Keep the estimated cost to the targets within this share of their CPU
    /// time (e.g. 1%) by attaching the probes in windows; counts are then
    /// sampled, and the report says by what factor.
    #[arg(long, value_name = "PERCENT")]
    pub max_overhead: Option<String>,
    /// Benchmarks only: attach an empty program at the same sites (the cost
    /// of the traps alone); no calls are measured.
    #[arg(long, hide = true)]
    pub probe_floor: bool,
    /// Benchmarks only: every this often, switch between full tracing and
    /// the floor (the program returning at once), printing each switch's
    /// time on stderr, so that both are timed in one running target.
    #[arg(long, hide = true, value_parser = humantime::parse_duration, conflicts_with = "probe_floor")]
    pub probe_alternate: Option<std::time::Duration>,
}

#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// The Go executable to read.
    #[arg(required_unless_present = "pid", conflicts_with = "pid")]
    pub path: Option<PathBuf>,
    /// Read the executable of a running process (through /proc/PID/exe).
    #[arg(long)]
    pub pid: Option<i32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
