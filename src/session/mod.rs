//! A tracing session, stage by stage: [`targets`] resolves what to trace into
//! binaries, plans and the tracer's plain data (starting a traced command,
//! held before exec); the tracer is loaded and attached; [`driver`] runs the
//! loop with [`symbols`] naming callers and [`duty`] keeping
//! `--max-overhead`; then the report is built. Processes are seen through
//! the [`crate::os`] layer.

pub mod breakdown;
pub mod driver;
pub mod duty;
pub mod symbols;
pub mod targets;
pub mod warnings;

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

pub use crate::monitor::{IntervalSink, Monitor, Snapshot};
pub use targets::Targets;

use crate::catalog::Codec;
use crate::error::Error;
use crate::os::{Os, ProcOs};
use crate::stats::{Aggregator, Meta, Report, TargetInfo};
use crate::tracer::{self, Tracer};
use driver::{Driver, Intervals, Pace};
use duty::DutyCycle;
use symbols::ProcSymbols;

/// Resolved options of `attach` and `trace`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub targets: Targets,
    pub duration: Option<Duration>,
    pub min_size: u64,
    /// Eligible payloads needed for a verdict.
    pub min_eligible: u64,
    /// Exit with EXIT_ALERT when the run ends in ALERT.
    pub exit_on_alert: bool,
    /// Count gzip/zlib/flate streams' output at their sink sites.
    pub stream_output: bool,
    pub alert_threshold: f64,
    pub codecs: Option<Vec<Codec>>,
    pub func_globs: Vec<String>,
    /// Trace mode: where the command's stdout and stderr go instead of
    /// gozt's own (the live view owns the terminal); its stdin is then
    /// /dev/null.
    pub command_output: Option<PathBuf>,
    /// Serve Prometheus metrics on this address while tracing.
    pub prometheus: Option<String>,
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

/// Runs a session, shown live by `monitor` if given (else headless, with a
/// start banner unless quiet), each `--interval` reported to `intervals`,
/// and returns its report and the traced command's exit status (trace mode).
pub fn run(
    cfg: &SessionConfig,
    monitor: Option<&mut dyn Monitor>,
    intervals: Option<&mut dyn IntervalSink>,
) -> Result<(Report, Option<i32>), SessionError> {
    // Privileges first: without them nothing else can work.
    tracer::load::check_privileges(cfg.btf.as_deref()).map_err(SessionError::Trace)?;
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = Signals::register(&stop);
    let started = Instant::now();
    let os = ProcOs;
    let mut resolved = targets::resolve(cfg, &os)?;
    // On an error below, the command is dropped: killed (targets::Gate).
    let command = resolved.command.take();

    let metrics = match &cfg.prometheus {
        Some(addr) => {
            let mut m = crate::exporter::Metrics::new(
                resolved.funcs.clone(),
                cfg.min_size,
                cfg.alert_threshold,
                cfg.min_eligible,
            );
            let bound =
                crate::exporter::serve(addr, m.registry()).map_err(|e| SessionError::Listen {
                    addr: addr.clone(),
                    source: e,
                })?;
            if !cfg.quiet {
                eprintln!("gozt: serving metrics at http://{bound}/metrics");
            }
            for t in &resolved.targets {
                m.target(t.pid, &t.binary, &t.go_version, t.container_id.as_deref());
            }
            Some(m)
        }
        None => None,
    };

    let sites: usize = resolved
        .sites
        .iter()
        .map(|b| b.entries.len() + b.rets.len())
        .sum();
    let opts = tracer::Options {
        floor: cfg.probe_floor,
        stats: cfg.max_overhead.is_some(),
        verbose: cfg.verbose,
        btf: cfg.btf.clone(),
        site_entries: u32::try_from(resolved.sites.iter().map(|b| b.site_keys()).sum::<usize>())
            .unwrap_or(u32::MAX),
        ..tracer::Options::default()
    };
    let mut storage = MaybeUninit::uninit();
    let mut tracer =
        Tracer::load(&mut storage, &resolved.specs, &opts).map_err(SessionError::Trace)?;
    let mut duty = cfg.max_overhead.map(DutyCycle::new);
    if let Some(d) = duty.as_mut() {
        d.trap_ns = tracer.trap_cost().map_err(SessionError::Trace)?;
    }
    let discovered = started.elapsed();
    let probes: usize = resolved
        .sites
        .iter()
        .map(|s| s.entries.len() + s.rets.len() + s.sinks.len())
        .sum();
    let sinks: usize = resolved.sites.iter().map(|b| b.sinks.len()).sum();
    tracer
        .attach(std::mem::take(&mut resolved.sites))
        .map_err(|e| attach_error(e, &resolved.targets, &os))?;
    let attached = started.elapsed();
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
    if monitor.is_none() && !cfg.quiet {
        let binary = resolved.binary_target.as_ref().map(|bt| {
            let mut names: Vec<&str> = Vec::new();
            for b in &bt.binaries {
                if !names.contains(&b.name.as_str()) {
                    names.push(&b.name);
                }
            }
            (names.join(", "), os.running(&bt.wanted).len())
        });
        eprintln!(
            "{}",
            crate::render::banner::banner(&crate::render::banner::Banner {
                probes,
                functions: resolved.funcs.len(),
                sinks,
                targets: &resolved.targets,
                binary: binary.as_ref().map(|(p, n)| (p.as_str(), *n)),
                duration: cfg.duration,
                method: tracer.method().name(),
            })
        );
    }

    let sym = ProcSymbols::new(
        &resolved.binaries,
        resolved.binary_of_pid.clone(),
        resolved.binary_target.is_some(),
    )
    .with_files(resolved.files.clone())
    .with_rets(std::mem::take(&mut resolved.rets));
    let pace = Pace {
        // With a budget, probes come off within a poll of its running out.
        poll_interval: if cfg.max_overhead.is_some() {
            Duration::from_millis(10)
        } else {
            Duration::from_millis(50)
        },
        scan_interval: Duration::from_secs(2),
        alternate: cfg.probe_alternate,
    };
    let mut driver = Driver::new(
        &os,
        stop,
        Aggregator::new(resolved.funcs.clone(), cfg.min_size, cfg.alert_threshold)
            .with_min_eligible(cfg.min_eligible),
        sym,
        resolved.targets.clone(),
        resolved.binary_target.clone(),
        pace,
    );
    driver.metrics = metrics;
    // Only a session that can have several targets breaks them down.
    let several = match &cfg.targets {
        Targets::Pids(pids) => pids.len() > 1,
        Targets::Binary(_) | Targets::Name(_) => true,
        Targets::Command(_) => false,
    };
    if several {
        driver.breakdown = breakdown::Breakdown::like(&driver.agg);
    }
    driver
        .cpu
        .update(&os, resolved.targets.iter().map(|t| t.pid));
    driver.duty = duty;
    driver.deadline = cfg.duration.map(|d| started + d);
    driver.command = command;
    if let (Some(every), Some(sink)) = (cfg.interval, intervals) {
        driver.intervals = Some(Intervals::new(every, &driver.agg, sink));
    }
    driver.attached();
    if std::env::var_os("GOZT_TIMING").is_some() {
        eprintln!(
            "gozt: timing: discovery {:.1} ms, attach {:.1} ms ({}, {sites} sites{})",
            discovered.as_secs_f64() * 1e3,
            (attached - discovered).as_secs_f64() * 1e3,
            tracer.method().name(),
            grouping(&tracer)
        );
        let [events, map, links] = tracer.attach_parts().map(|d| d.as_secs_f64() * 1e3);
        eprintln!(
            "gozt: timing: attach: uprobe events {events:.1} ms, sites map {map:.1} ms, \
             perf events and links {links:.1} ms"
        );
    }
    let result = driver.run(&mut tracer, monitor);
    if std::env::var_os("GOZT_TIMING").is_some() {
        let c = tracer.counters();
        eprintln!("gozt: timing: frames walked {}", c.frames_walked);
        eprintln!(
            "gozt: timing: RETs of calls begun after the stop {}, of calls not measured {}; \
             traps at no known site {}",
            c.ret_stopping, c.ret_dropped, c.site_unknown
        );
    }
    let sampled = result.map_err(SessionError::Trace)?;
    // Trace mode: gozt stops with its command; Ctrl-C reaches both.
    let status = driver.command.take().map(targets::Gate::finish);
    let lost = driver.lost_since_epoch(tracer.lost());
    let targets = driver.targets();
    let counted = driver.epoch.elapsed();
    let mut report = driver.agg.report(targets, counted.as_secs_f64(), lost);
    report.warnings = warnings::of(
        &cfg.targets,
        driver.binary_target.as_ref(),
        &report.targets,
        &driver.sym,
        &driver.unprobed,
    );
    report.command_exit_status = status;
    if report.targets.len() > 1 {
        report.per_target = driver.breakdown.report(report.duration_s);
    }
    let ended = SystemTime::now();
    report.meta = meta(ended - counted, ended, tracer.method());
    if let Some(d) = driver.duty.as_mut() {
        let pids = report.targets.iter().map(|t| t.pid);
        let cpu = driver.cpu.update(&os as &dyn Os, pids).max(d.cpu_last) as f64;
        let total = started.elapsed();
        let traced = (total - discovered).as_secs_f64();
        let on = sampled.on.as_secs_f64();
        // What the probes cost since the last poll, to the end.
        d.cost = sampled.cost;
        d.spend();
        report.sampling = Some(crate::stats::Sampling {
            max_overhead: d.budget,
            trap_ns: d.trap_ns.round() as u64,
            attached_s: on,
            traced_s: traced,
            windows: sampled.windows,
            factor: if on > 0.0 { traced / on } else { 0.0 },
            traps: sampled.cost.traps,
            bpf_run_ns: sampled.cost.bpf_run_ns,
            estimated_overhead: if cpu > 0.0 {
                d.spent_ns_total / cpu
            } else {
                0.0
            },
        });
    }
    Ok((report, status))
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
        Some(t) => SessionError::Input(Error::NoSuchProcess { pid: t.pid as i32 }),
        None => SessionError::Trace(e),
    }
}

/// The report's metadata: gozt, this host and kernel, the counts' start
/// and end, gozt's command line.
pub fn meta(started: SystemTime, ended: SystemTime, method: tracer::AttachMethod) -> Meta {
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
        attach_method: method.name().to_string(),
    }
}

/// The host name and the kernel release, from uname(2).
fn uname() -> (String, String) {
    // SAFETY: utsname is plain C data, all zeroes a valid value; uname
    // writes NUL-terminated strings into it and reads nothing.
    let u = unsafe {
        let mut u: libc::utsname = std::mem::zeroed();
        if libc::uname(&mut u) != 0 {
            return (String::new(), String::new());
        }
        u
    };
    let text = |field: &[libc::c_char]| {
        let bytes: Vec<u8> = field
            .iter()
            .take_while(|&&c| c != 0)
            .map(|&c| c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (text(&u.nodename), text(&u.release))
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
    pub fn exit_code(&self) -> u8 {
        match self {
            SessionError::Input(e) => e.exit_code(),
            SessionError::NothingSelected { .. } => 7,
            SessionError::Listen { .. } => 13,
            SessionError::Trace(tracer::TraceError::NotRoot) => 10,
            SessionError::Trace(tracer::TraceError::NoBtf) => 11,
            SessionError::Trace(tracer::TraceError::BtfFile { .. }) => 11,
            SessionError::Trace(tracer::TraceError::Kernel(_)) => 15,
            SessionError::Trace(_) => 12,
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
        fn facts(&self, _: u32) -> Option<crate::identity::ProcessFacts> {
            None
        }
        fn exe_mappings(&self, _: u32) -> Option<crate::os::ExeMappings> {
            None
        }
        fn running(&self, _: &crate::identity::Wanted) -> Vec<crate::identity::ProcId> {
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
        assert_eq!(gone.exit_code(), 8);
        assert_eq!(
            gone.to_string(),
            "process 8 not found (exited, or never existed)"
        );
        let bpf = attach_error(failed(), &[target(7)], &Seven);
        assert_eq!(bpf.exit_code(), 12, "{bpf}");
        assert_eq!(attach_error(failed(), &[], &Seven).exit_code(), 12);
    }

    #[test]
    fn the_metadata_names_gozt_the_host_and_the_times() {
        let t = std::time::UNIX_EPOCH + Duration::from_millis(1_764_590_400_250);
        let m = meta(
            t,
            t + Duration::from_secs(10),
            tracer::AttachMethod::UprobeMulti,
        );
        assert_eq!(m.gozt_version, env!("CARGO_PKG_VERSION"));
        assert_eq!(m.started, "2025-12-01T12:00:00.250Z");
        assert_eq!(m.ended, "2025-12-01T12:00:10.250Z");
        let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        assert_eq!(m.kernel, release.trim());
        let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
        assert_eq!(m.host, host.trim());
        assert!(!m.command_line.is_empty());
    }
}
