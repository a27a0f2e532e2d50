//! A run of gozt: a parsed command line carried out. `attach` and `trace`
//! run a session, shown in the live view or headless (with `--interval`'s
//! reports written as they come), then write the final report; `report`
//! renders a saved one; `probes`, `completions` and `man` print what they
//! make.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use super::cli::{Cli, Command, ReportArgs, TraceOptions};
use super::{config, manual};
use crate::base::error::{Error, Result};
use crate::base::exit::Exit;
use crate::monitor::IntervalSink;
use crate::render;
use crate::render::format::percent;
use crate::render::html::Timeline;
use crate::render::report::TextOptions;
use crate::session::{self, SessionConfig, Targets};
use crate::stats::{IntervalReport, Report, State};
use crate::tui::term::{browse, Live};

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
    /// How gozt exits with this error.
    pub fn exit(&self) -> Exit {
        match self {
            RunError::Input(e) => e.exit(),
            RunError::Session(e) => e.exit(),
            RunError::Usage(_) => Exit::Usage,
            RunError::Alert { .. } => Exit::Alert,
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
    text: TextOptions,
    /// Times to the millisecond: intervals under a second.
    millis: bool,
    written: usize,
    error: Option<Error>,
    /// `--html`: the intervals are kept for the page's heatmap instead.
    timeline: Option<Timeline>,
}

impl IntervalSink for IntervalWriter<'_, '_> {
    fn interval(&mut self, r: &IntervalReport) -> bool {
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
fn trace(targets: Targets, o: &TraceOptions, out: &mut dyn Write) -> Result<u8, RunError> {
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
    if live && matches!(cfg.targets, Targets::Command(_)) {
        cfg.command_output = Some(config::command_log());
    }
    let (report, status, intervals) = if live {
        let (report, status) = watched(&cfg)?;
        (report, status, Written::default())
    } else {
        headless(&cfg, o, &mut to)?
    };
    if let Some(log) = &cfg.command_output {
        eprintln!("gozt: the command's output is in {}", log.display());
    }
    to.append(final_report(&report, o, intervals).as_bytes())?;
    for w in &report.warnings {
        eprintln!("gozt: warning: {w}");
    }
    if cfg.exit_on_alert && report.totals.state == State::Alert {
        return Err(RunError::Alert {
            rate: percent(report.totals.failure_rate, 3),
            eligible: report.totals.eligible,
        });
    }
    // `trace` exits with its command's status (or, when that could not be
    // had, as an internal error: the report says why); gozt's own failures
    // above have their own codes.
    Ok(match (status, &cfg.targets) {
        (Some(status), _) => exit_status(status),
        (None, Targets::Command(_)) => Exit::Internal.code(),
        (None, _) => Exit::Success.code(),
    })
}

/// A session in the live view; the terminal is restored before the report.
fn watched(cfg: &SessionConfig) -> Result<(Report, Option<i32>), RunError> {
    let mut view = Live::new();
    let result = session::run(cfg, Some(&mut view), None);
    view.restore();
    if let Some(e) = view.error.take() {
        eprintln!("gozt: {e}; the report follows");
    }
    Ok(result?)
}

/// What a headless session did with its `--interval` reports.
#[derive(Default)]
struct Written {
    /// Whether any was written out.
    any: bool,
    /// `--html`: those kept for the page's heatmap instead.
    timeline: Option<Timeline>,
}

/// A headless session, its `--interval` reports written to `to` as they
/// come (or, with `--html`, kept); also what became of them.
fn headless(
    cfg: &SessionConfig,
    o: &TraceOptions,
    to: &mut Destination<'_>,
) -> Result<(Report, Option<i32>, Written), RunError> {
    let mut intervals = IntervalWriter {
        to,
        json: o.json,
        text: config::text_options(o),
        millis: o.interval.is_some_and(|i| i < Duration::from_secs(1)),
        written: 0,
        error: None,
        timeline: o.html.then(Timeline::new),
    };
    let (report, status) = session::run(cfg, None, Some(&mut intervals))?;
    if let Some(e) = intervals.error.take() {
        return Err(e.into());
    }
    let written = Written {
        any: intervals.written > 0,
        timeline: intervals.timeline.take(),
    };
    Ok((report, status, written))
}

/// The final report as `o` asks: the HTML page (with the intervals'
/// heatmap when there were), JSON (on one line after `--interval --json`'s),
/// or text (after a blank line when intervals came before).
fn final_report(report: &Report, o: &TraceOptions, intervals: Written) -> String {
    match (o.json, o.interval.is_some()) {
        _ if o.html => render::html::page(
            report,
            &intervals
                .timeline
                .filter(|t| !t.columns().is_empty())
                .unwrap_or_else(|| Timeline::of_report(report)),
        ),
        // JSON Lines: the final report is the last line.
        (true, true) => render::report::json_line(report),
        (true, false) => render::report::json(report),
        (false, _) => {
            let t = render::report::text(report, &config::text_options(o));
            if intervals.any {
                format!("\n{t}")
            } else {
                t
            }
        }
    }
}

/// A command's exit status as gozt's: 0-255 as is; out of range, 255.
fn exit_status(status: i32) -> u8 {
    u8::try_from(status).unwrap_or(255)
}

/// `gozt report FILE`: a saved report as text or HTML, or in the live view.
fn report(args: &ReportArgs, out: &mut dyn Write) -> Result<(), RunError> {
    // A bad -o fails before the file is read.
    let to = config::Output::open(args.output.as_deref())?;
    let mut timeline = Timeline::new();
    let report = if args.html {
        render::saved::read_with(&args.file, Some(&mut |r| timeline.push(r)))?
    } else {
        render::saved::read(&args.file)?
    };
    if args.live {
        if !std::io::stdout().is_terminal() {
            return Err(RunError::Usage(
                "report --live needs a terminal on stdout (without --live: the text report)"
                    .to_string(),
            ));
        }
        return browse(report).map_err(|e| RunError::Usage(format!("terminal: {e}")));
    }
    let text = if args.html {
        if timeline.columns().is_empty() {
            timeline = Timeline::of_report(&report);
        }
        render::html::page(&report, &timeline)
    } else {
        render::report::text(&report, &TextOptions { raw_ns: args.ns })
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
                (Some(b), _) => Targets::Binary(b),
                (None, Some(n)) => Targets::Name(n),
                (None, None) => Targets::Pids(a.pids),
            };
            trace(targets, &a.common, out)
        }
        Command::Trace(t) => trace(Targets::Command(t.command), &t.common, out),
        Command::Report(r) => report(&r, out).map(|()| 0),
        Command::Info(i) => {
            let env = config::environment();
            let info = super::info::read(i.btf.as_deref(), env.attach.as_deref());
            let text = if i.json {
                super::info::json(&info)
            } else {
                super::info::text(&info)
            };
            Ok(write_out(out, text.as_bytes()).map(|()| 0)?)
        }
        Command::Completions(c) => Ok(write_out(out, &manual::completions(c.shell)).map(|()| 0)?),
        Command::Man(m) => Ok(write_out(out, &manual::man(m.dir.as_deref())?).map(|()| 0)?),
        Command::Probes(args) => {
            let exe = config::Executable::resolve(args.path, args.pid)?;
            let bin = crate::go_binary::GoBinary::open(&exe.open_path)?;
            let plan = crate::probe::plan::Plan::build(&bin)?;
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
