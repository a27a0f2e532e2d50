//! Command-line syntax (clap derive). Parsing only validates shapes; the
//! `config` module resolves what the flags mean. [`usage_error`] turns a
//! parse error into gozt's one line, with a hint for the usual mistakes.

use std::path::PathBuf;

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{ArgGroup, Args, Parser, Subcommand};

use crate::base::exit::Exit;
use crate::base::pid::Pid;
use crate::probe::catalog::Codec;
use crate::stats::Rules;

/// The rule of every percentage flag, for the help texts.
macro_rules! share_rule {
    () => {
        "Percentages (--alert-threshold, --max-overhead): N% from 0% to 100%, or a ratio \
         below 1 (0.003 = 0.3%); a bare number of 1 or more is refused (did you mean 1%?)."
    };
}

/// bpftrace-style profiler for the compression paths of running Go programs.
#[derive(Debug, Parser)]
#[command(
    name = "gozt",
    version,
    about,
    propagate_version = true,
    arg_required_else_help = true,
    after_help = format!("Examples:
  gozt probes ./server                  the functions gozt would trace, no root needed
  gozt attach -p 1234                   live view of process 1234 (root)
  gozt attach -p 1234 --duration 30s    trace 30 s, then print the report
  gozt trace -- ./server -port 8080     start a command and trace it

Run gozt COMMAND --help for each command's options and examples.

{}", Exit::help())
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the compression functions of a Go binary and where gozt would
    /// probe them (entry and every RET), without privileges.
    #[command(after_help = "Examples:
  gozt probes ./server                  the probe table of a binary
  gozt probes -p 1234                   the binary process 1234 runs
  gozt probes --json ./server | jq .probes")]
    Probes(ProbesArgs),
    /// Trace running processes: by pid, or every process running a binary.
    #[command(after_help = concat!("Examples:
  gozt attach -p 1234                   live view (in a terminal, without --duration)
  gozt attach -p 1234 -p 5678 --duration 30s
                                        30 s, then the text report
  gozt attach -p 1234 --func 'zstd.(*Encoder).EncodeAll' --json -o report.json
  gozt attach --binary /usr/local/bin/app --prometheus 9433
                                        metrics on 127.0.0.1:9433 (:9433: all interfaces)
  gozt attach -p 1234 --interval 10s    a compact report every 10 s, until Ctrl-C
  gozt attach -p 1234 --interval 10s --json -o run.jsonl
                                        JSON Lines: one per interval, the final report last
  gozt attach -p 1234 --duration 60s --interval 10s --html -o page.html
                                        one HTML page for a ticket: a heatmap of the intervals

", share_rule!()))]
    Attach(AttachArgs),
    /// Start a command and trace it from its first instruction.
    #[command(after_help = concat!("Examples:
  gozt trace -- ./server -port 8080     live view; the command's output goes to a log
  gozt trace --duration 10s --codec zstd,gzip -- ./bench
  gozt trace --json -o - -- ./batch-job > report.json

", share_rule!()))]
    Trace(TraceArgs),
    /// Render a saved JSON report (--json, or --interval --json's last
    /// line) as the text report, as an HTML page, or browse it in the live
    /// view.
    #[command(after_help = "Examples:
  gozt report report.json               the text report of a saved run
  gozt report --ns report.json          with raw nanoseconds and bytes
  gozt report --live report.json        browse it in the live view (q quits)
  gozt report intervals.jsonl           the final report of --interval --json
  gozt report intervals.jsonl --html -o page.html
                                        one HTML page, with a heatmap of the intervals")]
    Report(ReportArgs),
    /// What this node offers gozt (kernel features, the attach method,
    /// privileges, what is missing), one line each; no root needed.
    #[command(after_help = "Examples:
  gozt info                             the first thing to run on a strange node
  gozt info --json | jq .attach_method")]
    Info(InfoArgs),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  gozt completions bash > /usr/share/bash-completion/completions/gozt
  gozt completions zsh > /usr/local/share/zsh/site-functions/_gozt
  gozt completions fish > ~/.config/fish/completions/gozt.fish")]
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one per command into a directory.
    #[command(after_help = "Examples:
  gozt man | man -l -
  gozt man --dir /usr/local/share/man/man1   gozt.1, gozt-attach.1, ...")]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct ReportArgs {
    /// A JSON report gozt wrote (with --json), or the JSON Lines of
    /// --interval --json.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// Browse it in the live view instead (needs a terminal).
    #[arg(long)]
    pub live: bool,
    /// Raw nanoseconds and bytes in the text report, instead of human units.
    #[arg(long, conflicts_with = "live")]
    pub ns: bool,
    /// One self-contained HTML page instead (charts and tables; from JSON
    /// Lines, a failure-rate heatmap of the intervals).
    #[arg(long, conflicts_with_all = ["live", "ns"])]
    pub html: bool,
    /// Write to FILE instead of stdout (`-` is stdout).
    #[arg(
        short = 'o',
        long = "output",
        value_name = "FILE",
        conflicts_with = "live"
    )]
    pub output: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct InfoArgs {
    /// JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// A BTF file for a kernel built without BTF, as attach and trace take.
    #[arg(long, value_name = "FILE")]
    pub btf: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write gozt.1 and a page per command (gozt-attach.1, ...) here
    /// instead of printing gozt.1.
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
#[command(group(ArgGroup::new("target").required(true).args(["pids", "binary", "name"])))]
pub struct AttachArgs {
    /// A process to trace (repeatable).
    #[arg(short = 'p', long = "pid", value_name = "PID")]
    pub pids: Vec<Pid>,
    /// Trace every process running this executable, including later ones:
    /// this file, or this path as a containerized process sees it. With none
    /// yet, wait for one.
    #[arg(long, value_name = "PATH", conflicts_with = "pids")]
    pub binary: Option<PathBuf>,
    /// Trace every process with this comm or executable base name, and
    /// later ones running the same files. With none yet, wait for one.
    #[arg(long, value_name = "NAME", conflicts_with_all = ["pids", "binary"])]
    pub name: Option<String>,
    #[command(flatten)]
    pub common: TraceOptions,
}

#[derive(Debug, Args)]
pub struct TraceArgs {
    #[command(flatten)]
    pub common: TraceOptions,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TraceOptions {
    /// Stop after this long (e.g. 60s, 5m, 1h30m), counted from when the
    /// probes are in place.
    #[arg(long, value_parser = humantime::parse_duration)]
    pub duration: Option<std::time::Duration>,
    /// Print the report as JSON (docs/report.schema.json).
    #[arg(long)]
    pub json: bool,
    /// Write the report as one self-contained HTML page at the end (charts
    /// and tables; with --interval, a failure-rate heatmap of the
    /// intervals, which are then not printed); headless.
    #[arg(long, conflicts_with = "json")]
    pub html: bool,
    /// Write the report to FILE instead of stdout (`-` is stdout); checked
    /// before tracing starts.
    #[arg(short = 'o', long = "output", value_name = "FILE")]
    pub output: Option<PathBuf>,
    /// Raw nanoseconds and bytes in the text report, instead of human units
    /// (us, ms, K, M).
    #[arg(long)]
    pub ns: bool,
    /// Every this often (e.g. 10s), print a compact report of the calls of
    /// that interval, timestamped; headless (no live view). With --json,
    /// one JSON object a line (JSON Lines), the final report last.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub interval: Option<std::time::Duration>,
    /// No start banner on stderr (nor the metrics address); errors still
    /// print.
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// A BTF file for kernels built without their own
    /// (/sys/kernel/btf/vmlinux): gozt's CO-RE programs are relocated against it.
    #[arg(long, value_name = "PATH")]
    pub btf: Option<std::path::PathBuf>,
    /// Also print libbpf's own log on stderr (each line `gozt: libbpf: `).
    #[arg(short = 'v', long, conflicts_with = "quiet")]
    pub verbose: bool,
    /// Payloads whose original (uncompressed) size is larger than this many
    /// bytes count toward the failure rate (errors always do).
    #[arg(long, default_value_t = Rules::DEFAULT.min_size)]
    pub min_size: u64,
    /// Eligible payloads needed for a verdict: with fewer, the state is
    /// too_few, neither ok nor ALERT.
    #[arg(long, value_name = "N", default_value_t = Rules::DEFAULT.min_eligible)]
    pub min_eligible: u64,
    #[arg(long, help = format!(
        "Exit with code {} when the run ends in ALERT (for cron and CI)", Exit::Alert.code()
    ))]
    pub exit_on_alert: bool,
    /// Do not count the compressed output of gzip, zlib and flate streams
    /// (it costs a trap per write to the stream's io.Writer): their payloads
    /// are then not judged.
    #[arg(long)]
    pub no_stream_output: bool,
    /// Do not read which HTTP request (net/http) each payload was made
    /// serving: no routes table. Routes cost one emulated trap per request.
    #[arg(long)]
    pub no_routes: bool,
    /// Do not time each payload's downstream write (the next write to a
    /// socket, file or pipe on its goroutine). Those cost no trap: two
    /// tracepoint programs on every write(2) of the machine.
    #[arg(long)]
    pub no_downstream: bool,
    /// Do not trace encoders' and decoders' constructors: no encoders
    /// table, no "encoder built per payload" finding. They cost two traps
    /// per constructor (none per payload for a service that keeps them).
    #[arg(long)]
    pub no_lifecycle: bool,
    /// Also trace the resets of writers and readers (a pool's reuse): they
    /// cost two traps per reset, one single-stepped, in most services one
    /// reset per payload.
    #[arg(long, conflicts_with = "no_lifecycle")]
    pub resets: bool,
    /// A route without a ServeMux pattern is the method and the URL path's
    /// first N segments.
    #[arg(long, value_name = "N", default_value_t = Rules::DEFAULT.route_depth as u64,
          value_parser = clap::value_parser!(u64).range(1..=64))]
    pub route_depth: u64,
    /// Routes told apart at most; payloads of later ones count as `other`.
    #[arg(long, value_name = "N", default_value_t = Rules::DEFAULT.max_routes as u64,
          value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub max_routes: u64,
    /// Latencies as measured: gozt's own traps inside a call (its inner
    /// traced calls' entries and returns, its stream's writes) are not
    /// taken out of its time.
    #[arg(long)]
    pub no_correction: bool,
    /// Failure rate above which gozt alerts: a percentage (0.3%) or a ratio
    /// below 1 (0.003).
    #[arg(long, value_name = "PERCENT", default_value = "0.3%")]
    pub alert_threshold: String,
    /// Finding "encoder built per payload": a caller with --min-eligible
    /// payloads or more of a library that built at least this many
    /// encoders per payload (a percentage, or a ratio: 50% is one build
    /// every two payloads).
    #[arg(long, value_name = "PERCENT", default_value = "50%")]
    pub builds_per_payload: String,
    /// Finding "incompressible caller": a caller with --min-eligible eligible
    /// payloads or more of which more than this share did not compress.
    #[arg(long, value_name = "PERCENT", default_value = "50%")]
    pub incompressible_caller: String,
    /// Finding "small payloads": a function with --min-eligible payloads or
    /// more whose payloads of --min-size bytes or less took at least this
    /// share of its payloads' time.
    #[arg(long, value_name = "PERCENT", default_value = "25%")]
    pub small_payload_share: String,
    #[arg(long, value_delimiter = ',', help = format!(
        "Only these codecs (comma-separated: {})", Codec::list(",")
    ))]
    pub codec: Vec<String>,
    /// Only functions matching this glob (repeatable): a full symbol, the
    /// short name the outputs show ('zstd.(*Encoder).EncodeAll'), or a glob
    /// over either ('zstd.*', '*Decode*').
    #[arg(long = "func", value_name = "GLOB")]
    pub funcs: Vec<String>,
    /// Serve Prometheus metrics at http://ADDR/metrics while tracing,
    /// headless. ADDR: PORT binds 127.0.0.1:PORT, :PORT every interface
    /// (0.0.0.0:PORT), HOST:PORT as given; without ADDR, 127.0.0.1:9433.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = crate::exporter::DEFAULT_ADDR)]
    pub prometheus: Option<String>,
    /// With --prometheus: how long an exited target's series stay, so that
    /// the scrapes after its exit see its last counts.
    #[arg(long, value_name = "DURATION", default_value = "5m", value_parser = humantime::parse_duration)]
    pub series_grace: std::time::Duration,
    /// Keep the estimated cost to the targets within this share of their CPU
    /// time (a percentage, 1%, or a ratio below 1, 0.01) by attaching the
    /// probes in windows; counts are then sampled, and the report says by
    /// what factor.
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
    #[arg(short = 'p', long, value_name = "PID")]
    pub pid: Option<Pid>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// The name of the subcommand in `args` (the program name first), if any:
/// the first argument that is not a flag.
fn subcommand(args: &[String]) -> Option<&str> {
    args.iter()
        .skip(1)
        .map(String::as_str)
        .find(|a| !a.starts_with('-'))
        .filter(|a| ["probes", "attach", "trace", "report", "completions", "man"].contains(a))
}

/// A parse error as gozt's one line (without the `gozt: ` prefix): clap's
/// message and tips, or for the usual mistakes what to write instead.
pub fn usage_error(e: &clap::Error, args: &[String]) -> String {
    let sub = subcommand(args);
    let see = match sub {
        Some(s) => format!(" (see gozt {s} --help)"),
        None => " (see gozt --help)".to_string(),
    };
    let invalid = match e.get(ContextKind::InvalidArg) {
        Some(ContextValue::String(s)) => Some(s.as_str()),
        _ => None,
    };
    let hint = match (e.kind(), sub, invalid) {
        (ErrorKind::UnknownArgument, Some("attach"), Some(a)) if a.parse::<u32>().is_ok() => {
            Some(format!(
                "unexpected argument '{a}'; to trace process {a}, write -p {a} or --pid {a}"
            ))
        }
        (ErrorKind::UnknownArgument, Some("trace"), Some(a)) if !a.starts_with('-') => {
            Some(format!(
                "unexpected argument '{a}'; the command goes after --: gozt trace [OPTIONS] -- {a} [ARGS...]"
            ))
        }
        (ErrorKind::MissingRequiredArgument, Some("attach"), _) => Some(
            "attach: a target is required: -p/--pid PID (repeatable), --binary PATH or --name NAME"
                .to_string(),
        ),
        (ErrorKind::MissingRequiredArgument, Some("trace"), _) => Some(
            "trace: a command is required after --: gozt trace [OPTIONS] -- CMD [ARGS...]".to_string(),
        ),
        (ErrorKind::MissingRequiredArgument, Some("report"), _) => Some(
            "report: a saved JSON report is required: gozt report FILE.json (from --json -o FILE.json)"
                .to_string(),
        ),
        (ErrorKind::MissingRequiredArgument, Some("probes"), _) => {
            Some("probes: a Go executable is required: gozt probes PATH, or -p/--pid PID".to_string())
        }
        _ => None,
    };
    let message = hint.unwrap_or_else(|| {
        // clap's message and its tips, without the usage block.
        let rendered = e.render().to_string();
        let lines: Vec<&str> = rendered
            .lines()
            .map(str::trim)
            .take_while(|l| !l.starts_with("Usage:") && !l.starts_with("For more information"))
            .filter(|l| !l.is_empty())
            .collect();
        let joined = lines.join("; ");
        joined
            .strip_prefix("error: ")
            .unwrap_or(&joined)
            .to_string()
    });
    format!("{message}{see}")
}
