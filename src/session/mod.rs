//! A tracing session, stage by stage: [`targets`] resolves what to trace into
//! binaries, plans and the tracer's plain data (starting a traced command,
//! held before exec); the tracer is loaded and attached; [`driver`] runs the
//! loop with [`symbols`] naming callers and [`duty`] keeping
//! `--max-overhead`; then the report is built. Processes are seen through
//! the [`crate::os`] layer.

pub mod driver;
pub mod duty;
pub mod symbols;
pub mod targets;

use std::mem::MaybeUninit;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use crate::monitor::{Monitor, Snapshot};
pub use targets::Targets;

use crate::catalog::Codec;
use crate::error::Error;
use crate::os::{Os, ProcOs};
use crate::stats::{Aggregator, Report};
use crate::tracer::{self, Tracer};
use driver::{Driver, Pace};
use duty::DutyCycle;
use symbols::ProcSymbols;

/// Resolved options of `attach` and `trace`.
#[derive(Debug, Clone)]
pub struct SessionConfig {
    pub targets: Targets,
    pub duration: Option<Duration>,
    pub min_size: u64,
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

/// Runs a session, shown live by `monitor` if given, and returns its report
/// and the traced command's exit status (trace mode).
pub fn run(
    cfg: &SessionConfig,
    monitor: Option<&mut dyn Monitor>,
) -> Result<(Report, Option<i32>), SessionError> {
    // Privileges first: without them nothing else can work.
    tracer::load::check_privileges().map_err(SessionError::Trace)?;
    let stop = Arc::new(AtomicBool::new(false));
    let _signals = Signals::register(&stop);
    let started = Instant::now();
    let os = ProcOs;
    let mut resolved = targets::resolve(cfg)?;
    let mut command = resolved.command.take();
    let fail = |command: &mut Option<targets::Gate>, e: SessionError| {
        if let Some(mut g) = command.take() {
            let _ = g.child.kill();
            let _ = g.child.wait();
        }
        e
    };

    let metrics = match &cfg.prometheus {
        Some(addr) => {
            let mut m = crate::exporter::Metrics::new(
                resolved.funcs.clone(),
                cfg.min_size,
                cfg.alert_threshold,
            );
            let bound = crate::exporter::serve(addr, m.registry()).map_err(|e| {
                fail(
                    &mut command,
                    SessionError::Listen {
                        addr: addr.clone(),
                        source: e,
                    },
                )
            })?;
            eprintln!("gozt: serving metrics at http://{bound}/metrics");
            for t in &resolved.targets {
                m.target(t.pid, &t.binary, &t.go_version);
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
        // A binary's sites under two inodes at most (an overlay's and its
        // file's).
        site_entries: u32::try_from(2 * sites).unwrap_or(u32::MAX),
        ..tracer::Options::default()
    };
    let mut storage = MaybeUninit::uninit();
    let mut tracer = Tracer::load(&mut storage, &resolved.specs, &opts)
        .map_err(|e| fail(&mut command, SessionError::Trace(e)))?;
    let mut duty = cfg.max_overhead.map(DutyCycle::new);
    if let Some(d) = duty.as_mut() {
        d.trap_ns = tracer
            .trap_cost()
            .map_err(|e| fail(&mut command, SessionError::Trace(e)))?;
    }
    let discovered = started.elapsed();
    tracer
        .attach(std::mem::take(&mut resolved.sites))
        .map_err(|e| fail(&mut command, SessionError::Trace(e)))?;
    let attached = started.elapsed();

    let sym = ProcSymbols::new(
        &resolved.binaries,
        resolved.binary_of_pid.clone(),
        matches!(cfg.targets, Targets::Binary(_)).then_some(0),
    );
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
        Aggregator::new(resolved.funcs.clone(), cfg.min_size, cfg.alert_threshold),
        sym,
        resolved.targets.clone(),
        resolved.binary_target.clone(),
        pace,
    );
    driver.metrics = metrics;
    driver
        .cpu
        .update(&os, resolved.targets.iter().map(|t| t.pid));
    driver.duty = duty;
    driver.deadline = cfg.duration.map(|d| started + d);
    driver.command = command;
    driver.attached();
    if std::env::var_os("GOZT_TIMING").is_some() {
        eprintln!(
            "gozt: timing: discovery {:.1} ms, attach {:.1} ms ({}, {sites} sites)",
            discovered.as_secs_f64() * 1e3,
            (attached - discovered).as_secs_f64() * 1e3,
            tracer.method().name()
        );
    }
    let result = driver.run(&mut tracer, monitor);
    if std::env::var_os("GOZT_TIMING").is_some() {
        let c = tracer.counters();
        eprintln!("gozt: timing: frames walked {}", c.frames_walked);
        eprintln!(
            "gozt: timing: RETs of calls begun after the stop {}, of calls not measured {}",
            c.ret_stopping, c.ret_dropped
        );
    }
    let sampled = result.map_err(|e| fail(&mut driver.command, SessionError::Trace(e)))?;
    // Trace mode: gozt stops with its command; Ctrl-C reaches both.
    let status = driver.command.take().map(|mut g| {
        let st = match g.child.try_wait() {
            Ok(Some(st)) => st,
            _ => {
                let _ = g.child.kill();
                g.child.wait().expect("wait for the traced command")
            }
        };
        st.code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0))
    });
    let lost = driver.lost_since_epoch(tracer.lost());
    let targets = driver.targets();
    let mut report = driver
        .agg
        .report(targets, driver.epoch.elapsed().as_secs_f64(), lost);
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
            SessionError::Trace(tracer::TraceError::Kernel(_)) => 15,
            SessionError::Trace(_) => 12,
        }
    }
}
