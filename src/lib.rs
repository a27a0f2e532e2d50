//! gozt: a bpftrace-style profiler for the compression paths of running Go
//! programs.
//!
//! Data flows one way. The read-only half: binary ([`go_binary`]) -> catalog
//! and ABI ([`catalog`], [`abi`], [`arch`]) -> plan ([`probe_plan`]) ->
//! renderers ([`render`]). The runtime half: targets ([`session::targets`])
//! -> tracer ([`tracer`], the only privileged code) -> events ([`event`]) ->
//! driver ([`session::driver`]) -> aggregation ([`stats`]) -> report model ->
//! renderers, the live view ([`tui`], through [`monitor`]) and the exporter
//! ([`exporter`]); processes are seen through [`os`].

pub mod abi;
pub mod arch;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod go_binary;
pub mod identity;
pub mod manual;
pub mod probe_plan;
pub mod process;
pub mod render;
pub mod saved;
pub mod select;

use std::io::Write;

pub use error::{Error, Result};

use std::io::IsTerminal;

use cli::{Cli, Command};

/// The exit code of a run that ended in ALERT under `--exit-on-alert`.
pub const EXIT_ALERT: u8 = 16;

/// What `run` can fail with; each kind has an exit code.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Input(#[from] Error),
    #[error(transparent)]
    Session(#[from] session::SessionError),
    #[error("{0}")]
    Usage(String),
    /// `--exit-on-alert`, and the run ended in ALERT.
    #[error("the failure rate {rate} of {eligible} eligible payloads is above the threshold (--exit-on-alert)")]
    Alert { rate: String, eligible: u64 },
}

impl RunError {
    /// The documented exit code.
    pub fn exit_code(&self) -> u8 {
        match self {
            RunError::Input(e) => e.exit_code(),
            RunError::Session(e) => e.exit_code(),
            RunError::Usage(_) => 2,
            RunError::Alert { .. } => EXIT_ALERT,
        }
    }
}

/// Where a run's reports go: `-o FILE`, or stdout.
struct Destination<'a> {
    file: Option<config::Output>,
    stdout: &'a mut dyn Write,
}

impl Destination<'_> {
    /// Writes `bytes` after what was written before (the first write
    /// replaces an `-o` file's content), flushed. False when stdout is a
    /// pipe whose reader has gone (`gozt ... --interval 1s | head`).
    fn append(&mut self, bytes: &[u8]) -> Result<bool> {
        match self.file.as_mut() {
            Some(file) => file.append(bytes).map(|()| true),
            None => write_open(self.stdout, bytes),
        }
    }
}

/// `--interval` reports, written as they come.
struct IntervalWriter<'d, 'a> {
    to: &'d mut Destination<'a>,
    json: bool,
    text: render::report::TextOptions,
    /// Times to the millisecond: intervals under a second.
    millis: bool,
    written: usize,
    error: Option<Error>,
    /// `--html`: the intervals are kept for the page's heatmap instead.
    timeline: Option<render::html::Timeline>,
}

impl session::IntervalSink for IntervalWriter<'_, '_> {
    fn interval(&mut self, r: &stats::IntervalReport) -> bool {
        if let Some(t) = self.timeline.as_mut() {
            t.push(r);
            return true;
        }
        let s = if self.json {
            render::interval::json(r)
        } else {
            render::interval::text(r, &self.text, self.written == 0, self.millis)
        };
        self.written += 1;
        match self.to.append(s.as_bytes()) {
            Ok(open) => open,
            Err(e) => {
                self.error = Some(e);
                false
            }
        }
    }
}

/// Traces; returns gozt's exit code: 0, or the traced command's status.
fn trace(
    targets: session::Targets,
    o: &cli::TraceOptions,
    out: &mut dyn Write,
) -> Result<u8, RunError> {
    let mut cfg = config::session(targets, o).map_err(RunError::Usage)?;
    // A bad -o fails now, not after the trace; `-o -` is stdout.
    let mut to = Destination {
        file: config::Output::open(o.output.as_deref())?,
        stdout: out,
    };
    // Live view when a person watches: stdout a terminal, no --json, no
    // --duration, no --prometheus, no --interval.
    let live = !o.json
        && !o.html
        && o.duration.is_none()
        && o.prometheus.is_none()
        && o.interval.is_none()
        && std::io::stdout().is_terminal();
    let command_log = (live && matches!(cfg.targets, session::Targets::Command(_)))
        .then(|| std::env::temp_dir().join(format!("gozt-trace-{}.log", std::process::id())));
    cfg.command_output = command_log.clone();
    let text_options = config::text_options(o);
    let mut intervals = IntervalWriter {
        to: &mut to,
        json: o.json,
        text: text_options,
        millis: o
            .interval
            .is_some_and(|i| i < std::time::Duration::from_secs(1)),
        written: 0,
        error: None,
        timeline: o.html.then(render::html::Timeline::new),
    };
    let (report, status) = if live {
        let mut view = tui::term::Live::new();
        let result = session::run(&cfg, Some(&mut view), None);
        view.restore();
        if let Some(e) = view.error.take() {
            eprintln!("gozt: {e}; the report follows");
        }
        result?
    } else {
        session::run(&cfg, None, Some(&mut intervals))?
    };
    if let Some(e) = intervals.error.take() {
        return Err(e.into());
    }
    let wrote_intervals = intervals.written > 0;
    let timeline = intervals.timeline.take();
    if let Some(log) = &command_log {
        eprintln!("gozt: the command's output is in {}", log.display());
    }
    let text = match (o.json, o.interval.is_some()) {
        // --html: the page, with the intervals' heatmap when there were.
        _ if o.html => render::html::page(
            &report,
            &timeline
                .filter(|t| !t.columns().is_empty())
                .unwrap_or_else(|| render::html::Timeline::of_report(&report)),
        ),
        // JSON Lines: the final report is the last line.
        (true, true) => render::report::json_line(&report),
        (true, false) => render::report::json(&report),
        (false, _) => {
            let t = render::report::text(&report, &text_options);
            if wrote_intervals {
                format!("\n{t}")
            } else {
                t
            }
        }
    };
    to.append(text.as_bytes())?;
    for w in &report.warnings {
        eprintln!("gozt: warning: {w}");
    }
    if cfg.exit_on_alert && report.totals.state == stats::State::Alert {
        return Err(RunError::Alert {
            rate: tui::format::percent(report.totals.failure_rate, 3),
            eligible: report.totals.eligible,
        });
    }
    // `trace` exits with its command's status; gozt's own failures above
    // have their own codes.
    Ok(status.map_or(0, exit_status))
}

/// A command's exit status as gozt's: 0-255 as is; out of range, 255.
fn exit_status(status: i32) -> u8 {
    u8::try_from(status).unwrap_or(255)
}

/// `gozt report FILE`: a saved report as text or HTML, or in the live view.
fn report(args: &cli::ReportArgs, out: &mut dyn Write) -> Result<(), RunError> {
    // A bad -o fails before the file is read.
    let to = config::Output::open(args.output.as_deref())?;
    let mut timeline = render::html::Timeline::new();
    let report = if args.html {
        saved::read_with(&args.file, Some(&mut |r| timeline.push(r)))?
    } else {
        saved::read(&args.file)?
    };
    if args.live {
        if !std::io::stdout().is_terminal() {
            return Err(RunError::Usage(
                "report --live needs a terminal on stdout (without --live: the text report)"
                    .to_string(),
            ));
        }
        return tui::term::browse(report).map_err(|e| RunError::Usage(format!("terminal: {e}")));
    }
    let text = if args.html {
        if timeline.columns().is_empty() {
            timeline = render::html::Timeline::of_report(&report);
        }
        render::html::page(&report, &timeline)
    } else {
        render::report::text(&report, &render::report::TextOptions { raw_ns: args.ns })
    };
    match to {
        Some(file) => Ok(file.write(text.as_bytes())?),
        None => Ok(write_out(out, text.as_bytes())?),
    }
}

/// Runs a parsed command line, writing results to `out`; returns the exit
/// code of a success: 0, or for `trace` its command's exit status.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<u8, RunError> {
    match cli.command {
        Command::Attach(a) => {
            let targets = match (a.binary, a.name) {
                (Some(b), _) => session::Targets::Binary(b),
                (None, Some(n)) => session::Targets::Name(n),
                (None, None) => session::Targets::Pids(a.pids),
            };
            trace(targets, &a.common, out)
        }
        Command::Trace(t) => trace(session::Targets::Command(t.command), &t.common, out),
        Command::Report(r) => report(&r, out).map(|()| 0),
        Command::Completions(c) => Ok(write_out(out, &manual::completions(c.shell)).map(|()| 0)?),
        Command::Man(m) => Ok(write_out(out, &manual::man(m.dir.as_deref())?).map(|()| 0)?),
        Command::Probes(args) => {
            let exe = config::Executable::resolve(args.path, args.pid)?;
            let bin = go_binary::GoBinary::open(&exe.open_path)?;
            let plan = probe_plan::Plan::build(&bin)?;
            let text = if args.json {
                let mut s =
                    serde_json::to_string_pretty(&render::probes::report(&bin, &plan, exe.pid))
                        .expect("the probes report serializes");
                s.push('\n');
                s
            } else {
                render::probes::table(&bin, &plan, exe.pid)
            };
            Ok(write_out(out, text.as_bytes()).map(|()| 0)?)
        }
    }
}

fn write_out(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    write_open(out, bytes).map(|_| ())
}

/// Writes `bytes` to stdout; false when its reader has gone: a closed pipe
/// (`gozt probes x | head`) is not an error.
fn write_open(out: &mut dyn Write, bytes: &[u8]) -> Result<bool> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(false),
        Err(e) => Err(Error::Io {
            path: "<stdout>".into(),
            source: e,
        }),
        Ok(()) => Ok(true),
    }
}
pub mod event;
pub mod exporter;
pub mod monitor;
pub mod os;
pub mod session;
pub mod stats;
pub mod tracer;
pub mod tui;
