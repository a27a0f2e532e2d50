//! A tracing session, stage by stage ([`run`]): set-up ([`targets`]
//! resolves what to trace into binaries, plans and the tracer's plain data,
//! starting a traced command held before exec by its [`gate`]; the
//! exporter starts); attach (the tracer is loaded and attached); drive
//! ([`driver`] runs the loop, feeding every count of the session, with
//! [`symbols`] naming callers and [`duty`] keeping `--max-overhead`); finish
//! (the report, with [`warnings`]). Processes are seen through the
//! [`crate::proc::os`] layer.

pub mod breakdown;
pub mod driver;
pub mod duty;
pub mod follow;
pub mod gate;
pub mod intervals;
pub mod symbols;
pub mod targets;
pub mod warnings;

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use targets::Targets;

use crate::base::error::Error;
use crate::base::exit::Exit;
use crate::base::pid::Pid;
use crate::event::Lost;
use crate::exporter::Metrics;
use crate::monitor::{IntervalSink, Monitor};
use crate::probe::catalog::Codec;
use crate::proc::os::{Os, ProcOs};
use crate::stats::{Aggregator, Ending, Meta, Report, Rules, TargetInfo};
use crate::tracer::{self, Tracer};
use breakdown::Breakdown;
use driver::{Counts, Driver, Outcome, Pace, Parts};
use duty::DutyCycle;
use intervals::Intervals;
use symbols::ProcSymbols;

/// Resolved options of `attach` and `trace`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub targets: Targets,
    pub duration: Option<Duration>,
    /// The failure rules' parameters.
    pub rules: Rules,
    /// Exit with [`Exit::Alert`] when the run ends in ALERT.
    pub exit_on_alert: bool,
    /// Count gzip/zlib/flate streams' output at their sink sites.
    pub stream_output: bool,
    /// Read the HTTP request each payload was made serving (its route).
    pub routes: bool,
    /// Trace encoders' constructors (stats::lifecycle), and with `resets`
    /// their resets.
    pub lifecycle: bool,
    pub resets: bool,
    /// Take gozt's traps inside a call out of its time (the trap cost is
    /// timed before the first event, and again while running).
    pub correct: bool,
    pub codecs: Option<Vec<Codec>>,
    pub func_globs: Vec<String>,
    /// Trace mode: where the command's stdout and stderr go instead of
    /// gozt's own (the live view owns the terminal); its stdin is then
    /// /dev/null.
    pub command_output: Option<PathBuf>,
    /// Serve Prometheus metrics on this address while tracing.
    pub prometheus: Option<String>,
    /// How long an exited target's series stay.
    pub series_grace: Duration,
    /// Duty-cycle the probes so the estimated cost to the targets stays
    /// within this fraction of their CPU time.
    pub max_overhead: Option<f64>,
    /// Benchmarks: attach an empty program at the same sites instead.
    pub probe_floor: bool,
    /// Benchmarks: alternate between full tracing and the floor.
    pub probe_alternate: Option<Duration>,
    /// Report each interval of this length to the session's interval sink.
    pub interval: Option<Duration>,
    /// No start banner (nor the metrics address) on stderr.
    pub quiet: bool,
    /// libbpf's own log on stderr.
    pub verbose: bool,
    /// CO-RE against this BTF file instead of the kernel's.
    pub btf: Option<PathBuf>,
    /// What the environment asks for.
    pub env: Environment,
}

/// What gozt's environment asks of a session, read once by the config step.
#[derive(Debug, Clone, Default)]
pub struct Environment {
    /// `GOZT_TIMING`: discovery, attach and detach times, the attach method
    /// and the programs' counters on stderr.
    pub timing: bool,
    /// `GOZT_ATTACH`: attach by this method instead of the best one.
    pub attach: Option<String>,
    /// `GOZT_SIMULATE_NO_BTF`: act as on a kernel without BTF (tests).
    pub simulate_no_btf: bool,
    /// `GOZT_PER_SITE`: classic uprobes one per site, not grouped in one
    /// tracefs event per binary (tests and benchmarks).
    pub per_site: bool,
}

/// Ctrl-C, SIGTERM and SIGHUP set the session's stop flag while it runs.
struct Signals(Vec<signal_hook::SigId>);

impl Signals {
    fn register(stop: &Arc<AtomicBool>) -> Signals {
        let ids = [
            signal_hook::consts::SIGINT,
            signal_hook::consts::SIGTERM,
            signal_hook::consts::SIGHUP,
        ]
        .iter()
        .filter_map(|&sig| signal_hook::flag::register(sig, Arc::clone(stop)).ok())
        .collect();
        Signals(ids)
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        for id in self.0.drain(..) {
            signal_hook::low_level::unregister(id);
        }
    }
}

/// Runs a session, stage by stage: set-up, attach, drive, finish. Shown
/// live by `monitor` if given (else headless, with a start banner unless
/// quiet), each `--interval` reported to `intervals`; returns its report
/// and the traced command's exit status (trace mode).
pub fn run(
    cfg: &SessionConfig,
    monitor: Option<&mut dyn Monitor>,
    intervals: Option<&mut dyn IntervalSink>,
) -> Result<(Report, Option<i32>), SessionError> {
    // Privileges first: without them nothing else can work.
    tracer::load::check_privileges(cfg.btf.as_deref(), cfg.env.simulate_no_btf)
        .map_err(SessionError::Trace)?;
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = Signals::register(&stop);
    let os = ProcOs;
    let mut set = match set_up(cfg, &os, stop)? {
        Start::Ready(set) => *set,
        Start::Ended(report) => return Ok((*report, None)),
    };
    let mut storage = MaybeUninit::uninit();
    let mut attached = attach(cfg, &mut set, &mut storage, &os, monitor.is_none())?;
    let outcome = drive(cfg, set, &mut attached, &os, monitor, intervals)?;
    Ok(finish(outcome, attached.tracer.method()))
}

/// What set-up leaves for the stages after it.
struct SetUp {
    started: Instant,
    /// Set by a signal: the session ends.
    stop: Arc<AtomicBool>,
    resolved: targets::Resolved,
    /// Trace mode: the command, held before exec (killed if dropped).
    command: Option<gate::Gate>,
    /// With --prometheus: the exporter, serving.
    metrics: Option<Metrics>,
    /// With --binary/--name: following new executables that match.
    follow: Option<follow::Follow>,
}

/// How set-up ended: ready to attach, or the session ended (a signal,
/// `--duration`) while gozt waited for its first target.
enum Start {
    Ready(Box<SetUp>),
    Ended(Box<Report>),
}

/// How often gozt looks for its first target while none runs.
const WAIT_POLL: Duration = Duration::from_millis(500);

/// Starts the exporter, waits for a first target where `--binary` or
/// `--name` match nothing yet, and resolves the targets (starting a traced
/// command, held).
fn set_up(cfg: &SessionConfig, os: &dyn Os, stop: Arc<AtomicBool>) -> Result<Start, SessionError> {
    let started = Instant::now();
    // Served at once: an agent that waits for its service is scraped too
    // (gozt_targets 0).
    let mut metrics = match &cfg.prometheus {
        Some(addr) => Some(serve_metrics(cfg, addr)?),
        None => None,
    };
    if let Some(what) = targets::awaited(cfg, os) {
        if let Some(ending) = wait_for(cfg, os, &stop, started, &what) {
            return Ok(Start::Ended(Box::new(untraced(
                cfg, started, ending, &what,
            ))));
        }
    }
    let mut resolved = targets::resolve(cfg, os)?;
    // On an error below, the command is dropped: killed (its Gate).
    let command = resolved.command.take();
    if let Some(m) = metrics.as_mut() {
        m.set_functions(resolved.funcs.clone());
    }
    let follow = resolved
        .binary_target
        .is_some()
        .then(|| follow::Follow::new(cfg, &resolved));
    Ok(Start::Ready(Box::new(SetUp {
        started,
        stop,
        resolved,
        command,
        metrics,
        follow,
    })))
}

/// Waits until `what` appears (looked for every [`WAIT_POLL`]); the
/// ending, when the session ended first: a signal, or `--duration`, which
/// bounds a wait as it bounds tracing.
fn wait_for(
    cfg: &SessionConfig,
    os: &dyn Os,
    stop: &AtomicBool,
    started: Instant,
    what: &str,
) -> Option<Ending> {
    if !cfg.quiet {
        eprintln!("gozt: waiting for {what}: none runs yet (Ctrl-C ends)");
    }
    loop {
        if stop.load(std::sync::atomic::Ordering::Relaxed) {
            return Some(Ending::Signal);
        }
        if cfg.duration.is_some_and(|d| started.elapsed() >= d) {
            return Some(Ending::Duration);
        }
        std::thread::sleep(WAIT_POLL);
        if targets::awaited(cfg, os).is_none() {
            break None;
        }
    }
}

/// The report of a session that ended while waiting for its first target:
/// no counts, and a warning that says so.
fn untraced(cfg: &SessionConfig, started: Instant, ending: Ending, what: &str) -> Report {
    let waited = started.elapsed();
    let mut report =
        Aggregator::new(Vec::new(), cfg.rules).report(Vec::new(), 0.0, Lost::default());
    report.ended_by = Some(ending);
    report.requested_duration_s = cfg.duration.map(|d| d.as_secs_f64());
    report.warnings.push(format!(
        "nothing was traced: gozt waited {} for {what}, and none appeared",
        humantime::format_duration(Duration::from_millis(waited.as_millis() as u64))
    ));
    let ended = SystemTime::now();
    // Nothing was attached: no method.
    report.meta = meta(ended - waited, ended, None);
    report
}

/// The exporter, serving at `addr`; the session's functions are set once
/// its targets are resolved.
fn serve_metrics(cfg: &SessionConfig, addr: &str) -> Result<Metrics, SessionError> {
    let m = Metrics::new(Vec::new(), cfg.rules).with_grace(cfg.series_grace);
    let bound = crate::exporter::serve(addr, m.registry()).map_err(|e| SessionError::Listen {
        addr: addr.to_string(),
        source: e,
    })?;
    if !cfg.quiet {
        eprintln!("gozt: serving metrics at http://{bound}/metrics");
    }
    Ok(m)
}

/// What attaching leaves: the tracer with its probes in place.
struct Attached<'obj> {
    tracer: Tracer<'obj>,
    /// With --max-overhead: the duty cycle, its trap cost measured.
    duty: Option<DutyCycle>,
    /// When discovery ended and when the probes were in place, from the
    /// start.
    discovered: Duration,
    attached: Duration,
    /// When the probes were in place: the counts and --duration start.
    in_place: Instant,
    /// Entry and RET sites.
    sites: usize,
}

/// Loads the programs and attaches them at the resolved sites; then, with
/// `banner`, says so on stderr (unless quiet).
fn attach<'obj>(
    cfg: &SessionConfig,
    set: &mut SetUp,
    storage: &'obj mut MaybeUninit<libbpf_rs::OpenObject>,
    os: &dyn Os,
    banner: bool,
) -> Result<Attached<'obj>, SessionError> {
    let r = &mut set.resolved;
    let request_sites =
        |b: &tracer::BinarySites| b.request.as_ref().map_or(0, |q| 1 + q.rets.len());
    let mut sites: usize = r
        .sites
        .iter()
        .map(|b| b.entries.len() + b.rets.len() + request_sites(b))
        .sum();
    let mut sinks: usize = r.sites.iter().map(|b| b.sinks.len()).sum();
    let mut requests: usize = r.sites.iter().map(request_sites).sum();
    let opts = tracer::Options {
        floor: cfg.probe_floor,
        stats: cfg.max_overhead.is_some(),
        verbose: cfg.verbose,
        btf: cfg.btf.clone(),
        attach: cfg.env.attach.clone(),
        simulate_no_btf: cfg.env.simulate_no_btf,
        per_site: cfg.env.per_site,
        // Every site, sinks included, under each inode its mappings may
        // carry; room for those of binaries followed.
        site_entries: u32::try_from(r.sites.iter().map(|b| b.site_keys()).sum::<usize>())
            .unwrap_or(u32::MAX)
            .saturating_add(if set.follow.is_some() {
                follow::SPARE_SITE_KEYS
            } else {
                0
            }),
        spare_funcs: if set.follow.is_some() {
            follow::SPARE_FUNCS
        } else {
            0
        },
        writes: cfg.rules.downstream,
        ..tracer::Options::default()
    };
    let mut tracer = Tracer::load(storage, &r.specs, &opts).map_err(SessionError::Trace)?;
    let mut duty = cfg.max_overhead.map(DutyCycle::new);
    // A budget (--max-overhead) counts every trap from the first: its trap
    // cost is timed before the probes go in.
    if let Some(d) = duty.as_mut() {
        d.trap = tracer.trap_cost().map_err(SessionError::Trace)?;
    }
    let discovered = set.started.elapsed();
    // A copy of a program read through a process (another container of one
    // image) goes in after the others, unless its process traps at their
    // probes already: the kernel probes the file beneath each overlay.
    let mut first = std::mem::take(&mut r.sites);
    let mut copies = Vec::new();
    for i in 0..first.len() {
        let copy = first[..i]
            .iter()
            .any(|s| !s.entries.is_empty() && s.entries == first[i].entries);
        if let (true, Some(pid)) = (copy, follow::runner(&first[i].binary)) {
            copies.push((i, pid, std::mem::take(&mut first[i])));
        }
    }
    tracer
        .attach(first)
        .map_err(|e| attach_error(e, &r.targets, os))?;
    for (i, pid, copy) in copies {
        if crate::proc::traps::already_trapped(os, pid, &follow::entry_offsets(&copy)) {
            if let Some(f) = set.follow.as_mut() {
                f.covered(i);
            }
            sites -= copy.entries.len() + copy.rets.len() + request_sites(&copy);
            sinks -= copy.sinks.len();
            requests -= request_sites(&copy);
            continue;
        }
        tracer
            .put_binary(i, copy)
            .map_err(|e| attach_error(e, &r.targets, os))?;
    }
    // --duration's clock starts here, with the probes in place.
    let in_place = Instant::now();
    let attached = in_place - set.started;
    if cfg.verbose {
        eprintln!(
            "gozt: attach method {}{}",
            tracer.method().name(),
            grouping(&tracer)
        );
        for note in tracer.notes() {
            eprintln!("gozt: {note}");
        }
    }
    if banner && !cfg.quiet {
        announce(
            cfg,
            r,
            os,
            (sites + sinks, sinks, requests),
            tracer.method(),
        );
    }
    Ok(Attached {
        tracer,
        duty,
        discovered,
        attached,
        in_place,
        sites,
    })
}

/// The start banner of a headless run, on stderr.
fn announce(
    cfg: &SessionConfig,
    r: &targets::Resolved,
    os: &dyn Os,
    (probes, sinks, requests): (usize, usize, usize),
    method: tracer::AttachMethod,
) {
    let binary = r
        .binary_target
        .as_ref()
        .map(|bt| (bt.names().join(", "), os.running(&bt.wanted).len()));
    eprintln!(
        "{}",
        crate::render::banner::banner(&crate::render::banner::Banner {
            probes,
            functions: r.funcs.len(),
            sinks,
            requests,
            targets: &r.targets,
            binary: binary.as_ref().map(|(p, n)| (p.as_str(), *n)),
            duration: cfg.duration,
            method: method.name(),
        })
    );
}

/// Runs the session's loop over the probes in place, to its end; returns
/// what the counts end with.
fn drive(
    cfg: &SessionConfig,
    mut set: SetUp,
    a: &mut Attached<'_>,
    os: &dyn Os,
    monitor: Option<&mut dyn Monitor>,
    intervals: Option<&mut dyn IntervalSink>,
) -> Result<Outcome, SessionError> {
    // Downstream writes are said only where their tracepoints are in place.
    let mut traced = cfg.clone();
    traced.rules.downstream &= a.tracer.writes();
    let cfg = &traced;
    let mut parts = parts(cfg, &mut set, a.duty.take(), a.in_place, os);
    if let (Some(every), Some(sink)) = (cfg.interval, intervals) {
        let counts = &mut parts.counts;
        counts.intervals = Some(Intervals::new(every, &counts.session, sink));
    }
    let mut driver = Driver::new(parts);
    driver.attached();
    // The trap's cost, timed before the first event is read (those of calls
    // made meanwhile wait in the ring): a call's correction never waits for
    // it. After the attach and once the targets are known, so that a
    // short-lived target is neither missed nor left unnamed for its sake;
    // before a traced command is let run, whose first calls would wait in
    // the ring unpolled, their callers unnamed, while it is timed. (With a
    // budget it was timed before the attach.)
    if !driver.has_duty() && cfg.correct {
        a.tracer.trap_cost().map_err(SessionError::Trace)?;
    }
    driver.start_command();
    if cfg.env.timing {
        eprintln!(
            "gozt: timing: discovery {:.1} ms, attach {:.1} ms ({}, {} sites{})",
            a.discovered.as_secs_f64() * 1e3,
            (a.attached - a.discovered).as_secs_f64() * 1e3,
            a.tracer.method().name(),
            a.sites,
            grouping(&a.tracer)
        );
        let [events, map, links] = a.tracer.attach_parts().map(|d| d.as_secs_f64() * 1e3);
        eprintln!(
            "gozt: timing: attach: uprobe events {events:.1} ms, sites map {map:.1} ms, \
             perf events and links {links:.1} ms"
        );
    }
    let result = driver.run(&mut a.tracer, monitor);
    if cfg.env.timing {
        let c = a.tracer.counters();
        eprintln!("gozt: timing: frames walked {}", c.frames_walked);
        eprintln!("gozt: timing: requests served {}", c.requests);
        if c.entry_abandoned > 0 {
            let name = |id: u32| driver.function_name(id).unwrap_or("?");
            let last = a.tracer.last_abandoned().map_or(String::new(), |l| {
                format!(
                    "; the last: {} at depth {} found by {} at depth {} (g.sched.pc at {:+} from its trap)",
                    name(l.func_id),
                    l.depth,
                    name(l.by_func_id),
                    l.by_depth,
                    l.sched_pc_from_trap
                )
            });
            eprintln!(
                "gozt: timing: calls found abandoned {} (g running another goroutine {}, \
                 a caller's frame gone {}, left at the depth or deeper {}){last}",
                c.entry_abandoned, c.abandoned_goroutine, c.abandoned_caller, c.abandoned_frame
            );
        }
        eprintln!(
            "gozt: timing: traps {} ({} at an emulated branch; counted with --max-overhead)",
            a.tracer.cost().traps,
            c.traps_emulated
        );
        let timed = a.tracer.calibrations();
        if !timed.is_empty() {
            // Each kind's figures in the order timed, and their median.
            let kind = |f: fn(&crate::event::TrapCost) -> u64| {
                let timed: Vec<u64> = timed.iter().map(f).collect();
                let mut sorted = timed.clone();
                sorted.sort_unstable();
                (sorted[sorted.len() / 2], timed)
            };
            let (stepped, all) = kind(|t| t.stepped_ns);
            let (emulated, all_emulated) = kind(|t| t.emulated_ns);
            eprintln!(
                "gozt: timing: trap cost timed {} times: stepped {all:?} ns (median {stepped} ns), \
                 emulated {all_emulated:?} ns (median {emulated} ns)",
                timed.len()
            );
        }
        eprintln!(
            "gozt: timing: RETs of calls begun after the stop {}, of calls not measured {}; \
             traps at no known site {}",
            c.ret_stopping, c.ret_dropped, c.site_unknown
        );
    }
    let sampled = result.map_err(SessionError::Trace)?;
    let mut outcome = driver.finish(a.tracer.lost(), &cfg.targets, &sampled);
    outcome.report.requested_duration_s = cfg.duration.map(|d| d.as_secs_f64());
    Ok(outcome)
}

/// The driver's parts, from what set-up and attaching left.
fn parts<'a>(
    cfg: &SessionConfig,
    set: &'a mut SetUp,
    duty: Option<DutyCycle>,
    in_place: Instant,
    os: &'a dyn Os,
) -> Parts<'a> {
    let r = &mut set.resolved;
    let sym = ProcSymbols::new(
        &r.binaries,
        r.binary_of_pid.clone(),
        r.binary_target.is_some(),
    )
    .with_files(r.files.clone())
    .with_rets(std::mem::take(&mut r.rets));
    let mut counts = Counts::new(Aggregator::new(r.funcs.clone(), cfg.rules));
    // Only a session that can have several targets breaks them down.
    let several = match &cfg.targets {
        Targets::Pids(pids) => pids.len() > 1,
        Targets::Binary(_) | Targets::Name(_) => true,
        Targets::Command(_) => false,
    };
    if several {
        counts.targets = Breakdown::like(&counts.session);
    }
    counts.metrics = set.metrics.take();
    Parts {
        os,
        stop: Arc::clone(&set.stop),
        counts,
        sym,
        named: r.targets.clone(),
        binary_target: r.binary_target.clone(),
        duty,
        epoch: in_place,
        deadline: cfg.duration.map(|d| in_place + d),
        command: set.command.take(),
        pace: Pace {
            // With a budget, probes come off within a poll of its running
            // out.
            poll_interval: if cfg.max_overhead.is_some() {
                Duration::from_millis(10)
            } else {
                Duration::from_millis(50)
            },
            scan_interval: if set.follow.is_some() {
                follow::FOLLOW_SCAN
            } else {
                Duration::from_secs(2)
            },
            alternate: cfg.probe_alternate,
            timing: cfg.env.timing,
        },
        correct: cfg.correct,
        follow: set.follow.take(),
        keep: match &cfg.targets {
            Targets::Binary(path) => Some(path.clone()),
            _ => None,
        },
        say: !cfg.quiet,
    }
}

/// The report, with its metadata.
fn finish(mut outcome: Outcome, method: tracer::AttachMethod) -> (Report, Option<i32>) {
    // The counts' end is when tracing stopped, before the calls under way
    // were let return.
    let since_stop = outcome.stopped.map_or(Duration::ZERO, |t| t.elapsed());
    let ended = SystemTime::now() - since_stop;
    outcome.report.meta = meta(ended - outcome.counted, ended, Some(method));
    (outcome.report, outcome.status)
}

/// How classic uprobes went in: `, 2 grouped events` (one tracefs event
/// per binary) or `, one per site`; nothing for uprobe.multi.
fn grouping(tracer: &Tracer<'_>) -> String {
    match (tracer.method(), tracer.grouped_events()) {
        (tracer::AttachMethod::UprobeMulti, _) => String::new(),
        (_, 0) => ", one per site".into(),
        (_, 1) => ", 1 grouped event".into(),
        (_, n) => format!(", {n} grouped events"),
    }
}

/// Why attaching failed: a named process that has exited since it was read
/// is gone (exit 8), not a BPF failure.
fn attach_error(e: tracer::TraceError, targets: &[TargetInfo], os: &dyn Os) -> SessionError {
    match targets.iter().find(|t| !os.alive(t.pid)) {
        Some(t) => SessionError::Input(Error::NoSuchProcess {
            pid: Pid::from_tgid(t.pid),
        }),
        None => SessionError::Trace(e),
    }
}

/// The report's metadata: gozt, this host and kernel, the counts' start
/// and end, gozt's command line; the attach method, empty where nothing
/// was attached.
pub fn meta(started: SystemTime, ended: SystemTime, method: Option<tracer::AttachMethod>) -> Meta {
    let (host, kernel) = uname();
    let time = |t| humantime::format_rfc3339_millis(t).to_string();
    Meta {
        gozt_version: env!("CARGO_PKG_VERSION").to_string(),
        host,
        kernel,
        started: time(started),
        ended: time(ended),
        command_line: std::env::args_os()
            .map(|a| a.to_string_lossy().into_owned())
            .collect(),
        attach_method: method.map(|m| m.name().to_string()).unwrap_or_default(),
    }
}

/// The host name and the kernel release, from uname(2).
fn uname() -> (String, String) {
    let u = rustix::system::uname();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    (text(u.nodename()), text(u.release()))
}

/// Errors of a session: bad input, or the tracer could not run.
#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    #[error(transparent)]
    Input(#[from] Error),
    #[error(transparent)]
    Trace(tracer::TraceError),
    #[error("{path}: no function matches --codec/--func; it has {} (see gozt probes {path})", .available.join(", "))]
    NothingSelected {
        path: String,
        /// The short names of the functions gozt can probe there.
        available: Vec<String>,
    },
    #[error("cannot serve metrics on {addr}: {source}")]
    Listen {
        addr: String,
        source: std::io::Error,
    },
}

impl SessionError {
    /// How gozt exits with this error.
    pub fn exit(&self) -> Exit {
        match self {
            SessionError::Input(e) => e.exit(),
            SessionError::NothingSelected { .. } => Exit::NoCompression,
            SessionError::Listen { .. } => Exit::Listen,
            SessionError::Trace(e) => e.exit(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Process 7 lives, 8 has exited.
    struct Seven;

    impl Os for Seven {
        fn alive(&self, pid: u32) -> bool {
            pid == 7
        }
        fn cpu_ns(&self, _: u32) -> Option<u64> {
            None
        }
        fn facts(&self, _: u32) -> Option<crate::proc::identity::ProcessFacts> {
            None
        }
        fn exe_mappings(&self, _: u32) -> Option<crate::proc::os::ExeMappings> {
            None
        }
        fn running(&self, _: &crate::proc::identity::Wanted) -> Vec<crate::proc::identity::ProcId> {
            Vec::new()
        }
    }

    fn target(pid: u32) -> TargetInfo {
        TargetInfo {
            pid,
            binary: "/srv/app".into(),
            go_version: "go1.27.3".into(),
            ..TargetInfo::default()
        }
    }

    fn failed() -> tracer::TraceError {
        tracer::TraceError::Attach {
            path: "/srv/app".into(),
            reason: "No such process".into(),
        }
    }

    #[test]
    fn a_target_that_exits_during_attach_is_not_found_not_a_bpf_failure() {
        let gone = attach_error(failed(), &[target(7), target(8)], &Seven);
        assert_eq!(gone.exit(), Exit::NoProcess);
        assert_eq!(
            gone.to_string(),
            "process 8 not found (exited, or never existed)"
        );
        let bpf = attach_error(failed(), &[target(7)], &Seven);
        assert_eq!(bpf.exit(), Exit::Bpf, "{bpf}");
        assert_eq!(attach_error(failed(), &[], &Seven).exit(), Exit::Bpf);
    }

    #[test]
    fn a_target_whose_exe_vanished_as_it_was_read_is_not_found_not_a_missing_file() {
        let vanished = || {
            SessionError::Input(Error::NotFound {
                path: "/proc/8/exe".into(),
            })
        };
        let gone = targets::gone_or(vanished(), Some(Pid::from_tgid(8)), &Seven);
        assert_eq!(gone.exit(), Exit::NoProcess);
        assert_eq!(
            gone.to_string(),
            "process 8 not found (exited, or never existed)"
        );
        // A process still there, or a file given by path: the file is missing.
        let alive = targets::gone_or(vanished(), Some(Pid::from_tgid(7)), &Seven);
        assert_eq!(alive.exit(), Exit::File);
        assert_eq!(
            targets::gone_or(vanished(), None, &Seven).exit(),
            Exit::File
        );
    }

    #[test]
    fn the_metadata_names_gozt_the_host_and_the_times() {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_764_590_400_250);
        let m = meta(
            t,
            t + Duration::from_secs(10),
            Some(tracer::AttachMethod::UprobeMulti),
        );
        assert_eq!(m.gozt_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(m.started, "2025-12-01T12:00:00.250Z");
        assert_eq!(m.ended, "2025-12-01T12:00:10.250Z");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(m.kernel, release.trim());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(m.host, host.trim());
        assert!(!m.command_line.is_empty());
        assert_eq!(m.attach_method, "uprobe_multi");
        assert_eq!(meta(t, t, None).attach_method, "");
    }
}
