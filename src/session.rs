//! A tracing session: resolves targets into probe plans, starts a traced
//! command when asked, runs the tracer until the duration elapses, Ctrl-C or
//! SIGTERM arrives, or every target has exited, then builds the report.

use std::collections::HashMap;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::catalog::Codec;
use crate::error::{Error, Result};
use crate::event::{CallEvent, Lost};
use crate::go_binary::GoBinary;
use crate::probe_plan::{Plan, Probe};
use crate::stats::{Aggregator, FuncMeta, Report, Symbolizer, TargetInfo};
use crate::tracer::{self, Attachment, Cost, EventSink, Site};

/// What to trace.
#[derive(Debug, Clone)]
pub enum Targets {
    Pids(Vec<i32>),
    /// Every process running this executable, including later ones.
    Binary(PathBuf),
    /// Start this command and trace it from its first instruction.
    Command(Vec<String>),
}

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

/// Duty cycling for `--max-overhead`, as a token bucket: the targets earn
/// `budget` x their CPU time, each trap the programs count spends its measured
/// cost (matched or not, during attach and detach too); probes are attached
/// while the balance is positive
/// and detached until it is again. The balance is capped at one CPU-second's
/// worth, so idle time does not pay for a later burst, and the cost stays
/// within the budget over any stretch longer than a few polls.
struct DutyCycle {
    budget: f64,
    trap_ns: f64,
    tokens_ns: f64,
    on: bool,
    /// What the probes cost so far, and at the last poll.
    cost: Cost,
    cost_seen: Cost,
    /// Calls completed since the last poll (when traps are not counted).
    events: u64,
    /// The targets' CPU time while traced, at the last poll.
    cpu_last: u64,
    /// What the probes cost per nanosecond of wall time when last attached.
    rate_on: f64,
    /// Everything spent so far: traps at their measured cost, plus the
    /// programs' own run time.
    spent_ns_total: f64,
}

impl DutyCycle {
    fn new(budget: f64) -> DutyCycle {
        DutyCycle {
            budget,
            trap_ns: 0.0,
            // Starts with what re-attaching needs, not a full bucket: a
            // burst at start would be spent beyond the budget.
            tokens_ns: Self::cap(budget) / 10.0,
            on: true,
            cost: Cost::default(),
            cost_seen: Cost::default(),
            events: 0,
            cpu_last: 0,
            rate_on: 0.0,
            spent_ns_total: 0.0,
        }
    }

    fn cap(budget: f64) -> f64 {
        budget * 1e9
    }

    /// Takes in what the probes cost since the last call; returns it in ns.
    fn spend(&mut self) -> f64 {
        let traps = if self.cost.traps > self.cost_seen.traps {
            self.cost.traps - self.cost_seen.traps
        } else {
            // No trap count (replayed): two traps per completed call.
            self.events * 2
        };
        let run_ns = self
            .cost
            .bpf_run_ns
            .saturating_sub(self.cost_seen.bpf_run_ns);
        self.cost_seen.traps = self.cost_seen.traps.max(self.cost.traps);
        self.cost_seen.bpf_run_ns = self.cost_seen.bpf_run_ns.max(self.cost.bpf_run_ns);
        self.events = 0;
        let spent = traps as f64 * self.trap_ns + run_ns as f64;
        self.spent_ns_total += spent;
        spent
    }

    /// Whether probes should be attached now, given the targets' CPU time.
    /// Whether probes should be attached now, given the targets' CPU time
    /// and the wall time since the last call: None for off, or on until at
    /// most the returned time from now, when the tokens would run out at the
    /// rate the probes last cost.
    fn wanted(&mut self, cpu_ns: u64, wall_ns: u64) -> Option<Duration> {
        let earned = self.budget * cpu_ns.saturating_sub(self.cpu_last) as f64;
        self.cpu_last = self.cpu_last.max(cpu_ns);
        let spent = self.spend();
        if self.on && wall_ns > 0 {
            self.rate_on = spent / wall_ns as f64;
        }
        self.tokens_ns = (self.tokens_ns + earned - spent).min(Self::cap(self.budget));
        // Hysteresis: back on with half the bucket, so that windows are not
        // all attach and detach.
        self.on = if self.on {
            self.tokens_ns > 0.0
        } else {
            self.tokens_ns >= Self::cap(self.budget) / 2.0
        };
        if !self.on {
            return None;
        }
        let left_ns = if self.rate_on > 0.0 {
            (self.tokens_ns / self.rate_on).min(1e9)
        } else {
            1e9
        };
        Some(Duration::from_nanos(left_ns as u64))
    }
}

/// CPU time the targets used while traced, summed over processes that come
/// and go: each process counts from its first reading.
#[derive(Default)]
struct CpuMeter {
    last: HashMap<u32, u64>,
    total_ns: u64,
}

impl CpuMeter {
    /// Reads `pids` (each once, however often listed); returns the total.
    fn update(&mut self, pids: impl Iterator<Item = u32>) -> u64 {
        let pids: std::collections::BTreeSet<u32> = pids.collect();
        for pid in pids {
            let Some(ns) = cpu_ns(pid) else { continue };
            if let Some(prev) = self.last.insert(pid, ns) {
                self.total_ns += ns.saturating_sub(prev);
            }
        }
        self.total_ns
    }
}

/// User plus system CPU time of `pid`, in nanoseconds.
fn cpu_ns(pid: u32) -> Option<u64> {
    // SAFETY: sysconf has no preconditions.
    let tick = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14 and 15 of stat (utime, stime) are 12 and 13 after the name.
    let ticks = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * (1_000_000_000 / tick))
}

/// Watches a session while it runs: the live view.
pub trait Monitor {
    /// Called after every poll of the tracer (every 50 ms); false ends the
    /// session.
    fn tick(&mut self, snap: &mut Snapshot<'_>) -> bool;
}

/// The session as a monitor sees it.
pub struct Snapshot<'a> {
    agg: &'a mut Aggregator,
    targets: Vec<TargetInfo>,
    pub lost: Lost,
    pub elapsed: Duration,
}

impl Snapshot<'_> {
    /// The report so far.
    pub fn report(&self) -> Report {
        self.agg
            .report(self.targets.clone(), self.elapsed.as_secs_f64(), self.lost)
    }

    /// Forgets every call counted so far.
    pub fn reset(&mut self) {
        self.agg.reset();
    }
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

fn install_signal_handlers() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe.
        unsafe {
            libc::signal(sig, on_signal as *const () as libc::sighandler_t);
        }
    }
}

/// Whether `pid` still runs: it exists and is not a zombie waiting for its
/// parent to reap it (a dead process keeps its /proc entry until then).
fn alive(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the command name, which ends at the last ')'.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

fn selected(cfg: &SessionConfig, p: &Probe) -> bool {
    let codec_ok = cfg
        .codecs
        .as_ref()
        .is_none_or(|cs| cs.contains(&p.entry.codec));
    let func_ok = crate::select::matches(&cfg.func_globs, &p.function);
    codec_ok && func_ok && p.usable()
}

/// The most callers' return addresses the programs are told (half the slots
/// of their cache, tracer::Options::caller_slots).
const MAX_KNOWN_CALLERS: usize = 4096;

/// A mapping of the executable: start, end, file offset.
type Mapping = (u64, u64, u64);

/// Maps runtime addresses to functions through /proc/PID/maps.
struct ProcSymbols<'a> {
    binaries: &'a [GoBinary],
    /// pid -> (binary index, its executable's mappings).
    maps: HashMap<u32, (usize, Vec<Mapping>)>,
    cache: HashMap<(u32, u64), Option<String>>,
    /// The binary each named target runs.
    binary_of_pid: HashMap<u32, usize>,
    /// With --binary, the one binary every process runs.
    single_binary: Option<usize>,
}

impl ProcSymbols<'_> {
    fn learn(&mut self, pid: u32, binary: usize) {
        let Ok(text) = std::fs::read_to_string(format!("/proc/{pid}/maps")) else {
            return;
        };
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        // Until a traced command has exec'd, its pid runs /bin/sh.
        if exe.is_none() || exe != std::fs::canonicalize(&self.binaries[binary].path).ok() {
            return;
        }
        if let Some(ranges) = exe_mappings(&text, exe.as_deref()) {
            self.maps.insert(pid, (binary, ranges));
        }
    }
}

/// The mappings of `exe` in a /proc/PID/maps text, once its text is mapped:
/// exec switches /proc/PID/exe before it maps the segments, and until the
/// executable one is in, the mappings are not yet the program's.
fn exe_mappings(maps: &str, exe: Option<&Path>) -> Option<Vec<Mapping>> {
    let exe = exe?;
    let mut ranges = Vec::new();
    let mut executable = false;
    for line in maps.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() < 6 || Path::new(f[5]) != exe {
            continue;
        }
        let (Some((s, e)), Ok(off)) = (f[0].split_once('-'), u64::from_str_radix(f[2], 16)) else {
            continue;
        };
        if let (Ok(s), Ok(e)) = (u64::from_str_radix(s, 16), u64::from_str_radix(e, 16)) {
            ranges.push((s, e, off));
            executable |= f[1].contains('x');
        }
    }
    executable.then_some(ranges)
}

impl Symbolizer for ProcSymbols<'_> {
    fn function_at(&mut self, pid: u32, addr: u64) -> Option<String> {
        if let Some(hit) = self.cache.get(&(pid, addr)) {
            return hit.clone();
        }
        let name = match self.maps.get(&pid) {
            Some((bin, ranges)) => {
                let bin = &self.binaries[*bin];
                ranges
                    .iter()
                    .find(|(s, e, _)| addr >= *s && addr < *e)
                    .and_then(|(s, _, off)| bin.layout.vaddr_of_offset(addr - s + off))
                    .and_then(|v| bin.function_at(v))
                    .map(|f| f.name.clone())
            }
            // A fixed-address executable needs no mappings: its runtime
            // addresses are its link-time ones. A short-lived target may be
            // gone before its mappings were read.
            None => {
                let b = self
                    .binary_of_pid
                    .get(&pid)
                    .copied()
                    .or(self.single_binary)?;
                let bin = &self.binaries[b];
                if bin.pie {
                    return None;
                }
                bin.function_at(addr).map(|f| f.name.clone())
            }
        };
        self.cache.insert((pid, addr), name.clone());
        name
    }
}

struct Driver<'a, 'm> {
    agg: Aggregator,
    monitor: Option<&'m mut dyn Monitor>,
    started: Instant,
    targets: Vec<TargetInfo>,
    /// With --binary: the binary's path and Go version, for processes seen.
    binary_target: Option<(String, String)>,
    metrics: Option<crate::exporter::Metrics>,
    last_retain: Option<Instant>,
    duty: Option<DutyCycle>,
    cpu: CpuMeter,
    /// Callers' return addresses told to the programs, and those to tell.
    callers_known: std::collections::HashSet<(u32, u64)>,
    callers_new: Vec<(u32, u64)>,
    /// When the duty cycle was last asked.
    last_wanted: Option<Instant>,
    attached_at: Option<Instant>,
    sym: ProcSymbols<'a>,
    deadline: Option<Instant>,
    pids: Vec<i32>,
    child: Option<std::process::Child>,
    release: Option<std::fs::File>,
    seen_pids: Vec<u32>,
}

impl Driver<'_, '_> {
    /// The targets named on the command line, plus with --binary every
    /// process seen running it.
    fn targets_of(
        named: &[TargetInfo],
        binary: &Option<(String, String)>,
        seen: &[u32],
    ) -> Vec<TargetInfo> {
        let mut targets = named.to_vec();
        if let Some((path, version)) = binary {
            targets.extend(seen.iter().map(|&pid| TargetInfo {
                pid,
                binary: path.clone(),
                go_version: version.clone(),
            }));
        }
        targets
    }
}

impl EventSink for Driver<'_, '_> {
    fn event(&mut self, ev: CallEvent) {
        if !self.sym.maps.contains_key(&ev.tgid) {
            let bin = self
                .sym
                .binary_of_pid
                .get(&ev.tgid)
                .copied()
                .or(self.sym.single_binary);
            if let Some(b) = bin {
                self.sym.learn(ev.tgid, b);
            }
        }
        if !self.seen_pids.contains(&ev.tgid) {
            self.seen_pids.push(ev.tgid);
        }
        if let Some(d) = self.duty.as_mut() {
            d.events += 1;
        }
        if let Some(m) = self.metrics.as_mut() {
            let target = self
                .targets
                .iter()
                .find(|t| t.pid == ev.tgid)
                .map(|t| (t.binary.clone(), t.go_version.clone()))
                .or_else(|| self.binary_target.clone());
            if let Some((binary, version)) = target {
                m.target(ev.tgid, &binary, &version);
            }
            m.observe(&ev);
        }
        if let Some(frame) = self.agg.add(&ev, &mut self.sym) {
            if self.callers_known.len() < MAX_KNOWN_CALLERS
                && self.callers_known.insert((ev.tgid, frame))
            {
                self.callers_new.push((ev.tgid, frame));
            }
        }
    }

    fn new_callers(&mut self) -> Vec<(u32, u64)> {
        std::mem::take(&mut self.callers_new)
    }

    fn trap_cost(&mut self, ns: f64) {
        if let Some(d) = self.duty.as_mut() {
            d.trap_ns = ns;
        }
    }

    fn probes_wanted(&mut self, cost: Cost) -> Option<Duration> {
        let pids: Vec<u32> = self
            .targets
            .iter()
            .map(|t| t.pid)
            .chain(self.seen_pids.iter().copied())
            .collect();
        match self.duty.as_mut() {
            Some(d) => {
                let cpu = self.cpu.update(pids.into_iter());
                d.cost = cost;
                let now = Instant::now();
                let wall = self.last_wanted.map_or(0, |t| (now - t).as_nanos() as u64);
                self.last_wanted = Some(now);
                d.wanted(cpu, wall)
            }
            None => Some(Duration::MAX),
        }
    }

    fn attached(&mut self) {
        self.attached_at = Some(Instant::now());
        // Let the traced command exec now that its probes are in place.
        if let Some(mut pipe) = self.release.take() {
            // The child holds a write end too until exec, so close is not
            // enough: send the byte it waits for.
            let _ = std::io::Write::write_all(&mut pipe, b"g\n");
            // Learn the command's mappings as soon as it has exec'd: a short
            // run may be over (a zombie without maps) by the first poll.
            if let Some(&pid) = self.pids.first() {
                let started = Instant::now();
                while self.sym.maps.is_empty() && started.elapsed() < Duration::from_secs(2) {
                    if let Some(&b) = self.sym.binary_of_pid.get(&(pid as u32)) {
                        self.sym.learn(pid as u32, b);
                    }
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        }
        for &pid in &self.pids {
            if let Some(&b) = self.sym.binary_of_pid.get(&(pid as u32)) {
                self.sym.learn(pid as u32, b);
            }
        }
    }

    fn keep_going(&mut self, lost: &Lost) -> bool {
        if STOP.load(Ordering::SeqCst) {
            return false;
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return false;
        }
        if let Some(m) = self.metrics.as_mut() {
            m.lost(lost);
            // Series of exited targets go away; with --binary, processes
            // that started running it get series before their first call.
            if self
                .last_retain
                .is_none_or(|t| t.elapsed() >= Duration::from_secs(2))
            {
                if let Some((path, version)) = &self.binary_target {
                    for pid in crate::process::running(std::path::Path::new(path)) {
                        m.target(pid, path, version);
                        if !self.seen_pids.contains(&pid) {
                            self.seen_pids.push(pid);
                        }
                    }
                }
                let alive = m
                    .target_pids()
                    .into_iter()
                    .filter(|&p| alive(p as i32))
                    .collect();
                m.retain_targets(&alive);
                self.last_retain = Some(Instant::now());
            }
        }
        if let Some(m) = self.monitor.as_mut() {
            let mut snap = Snapshot {
                targets: Self::targets_of(&self.targets, &self.binary_target, &self.seen_pids),
                agg: &mut self.agg,
                lost: *lost,
                elapsed: self.started.elapsed(),
            };
            if !m.tick(&mut snap) {
                return false;
            }
        }
        if let Some(child) = self.child.as_mut() {
            if let Some(pid) = self.pids.first() {
                if !self.sym.maps.contains_key(&(*pid as u32)) {
                    if let Some(&b) = self.sym.binary_of_pid.get(&(*pid as u32)) {
                        self.sym.learn(*pid as u32, b);
                    }
                }
            }
            return !matches!(child.try_wait(), Ok(Some(_)));
        }
        if !self.pids.is_empty() {
            return self.pids.iter().any(|&p| alive(p));
        }
        true
    }
}

/// Runs a session, shown live by `monitor` if given, and returns its report
/// and the traced command's exit status (trace mode).
pub fn run(
    cfg: &SessionConfig,
    monitor: Option<&mut dyn Monitor>,
) -> Result<(Report, Option<i32>), SessionError> {
    install_signal_handlers();
    let mut binaries = Vec::new();
    let mut attach_to: Vec<(PathBuf, Option<i32>)> = Vec::new();
    let mut child = None;
    let mut release = None;
    let mut pids = Vec::new();
    match &cfg.targets {
        Targets::Pids(list) => {
            for &pid in list {
                let exe = crate::process::exe_path(pid)?;
                attach_to.push((exe, Some(pid)));
                pids.push(pid);
            }
        }
        Targets::Binary(path) => attach_to.push((path.clone(), None)),
        Targets::Command(argv) => {
            let path = which(&argv[0]).ok_or_else(|| Error::NotFound {
                path: PathBuf::from(&argv[0]),
            })?;
            // The child blocks reading a pipe before exec until the probes
            // are attached, so tracing starts at its first instruction.
            let (rd, wr) = pipe().map_err(|e| Error::Io {
                path: "pipe".into(),
                source: e,
            })?;
            // std's spawn waits for exec, so the wait happens in a shell
            // that then execs the command (same pid): it reads one byte from
            // fd 3, which gozt writes once the probes are attached. If gozt
            // fails first, the pipe closes unwritten and the command never
            // runs.
            let mut cmd = std::process::Command::new("/bin/sh");
            cmd.arg("-c")
                .arg("read -r _ <&3 || exit 125; exec 3<&-; exec \"$0\" \"$@\"")
                .arg(&path)
                .args(&argv[1..]);
            if let Some(log) = &cfg.command_output {
                let file = std::fs::File::create(log).map_err(|e| Error::Io {
                    path: log.clone(),
                    source: e,
                })?;
                let err = file.try_clone().map_err(|e| Error::Io {
                    path: log.clone(),
                    source: e,
                })?;
                cmd.stdin(std::process::Stdio::null())
                    .stdout(file)
                    .stderr(err);
            }
            let rd_fd = rd;
            // SAFETY: dup2 is async-signal-safe; it runs between fork and exec.
            unsafe {
                cmd.pre_exec(move || {
                    // dup2 onto itself keeps CLOEXEC: clear it then.
                    let ok = if rd_fd == 3 {
                        libc::fcntl(3, libc::F_SETFD, 0) >= 0
                    } else {
                        libc::dup2(rd_fd, 3) >= 0
                    };
                    if !ok {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
            // Read the binary before starting anything.
            let bin = GoBinary::open(&path)?;
            let spawned = cmd.spawn().map_err(|e| Error::Io {
                path: path.clone(),
                source: e,
            })?;
            // SAFETY: rd is our copy of the read end; the child has its own.
            unsafe { libc::close(rd) };
            // SAFETY: wr is a valid fd we own; File closes it on drop.
            release = Some(unsafe { <std::fs::File as std::os::fd::FromRawFd>::from_raw_fd(wr) });
            pids.push(spawned.id() as i32);
            attach_to.push((path, Some(spawned.id() as i32)));
            binaries.push(bin);
            child = Some(spawned);
        }
    }
    if binaries.is_empty() {
        for (path, _) in &attach_to {
            binaries.push(GoBinary::open(path)?);
        }
    }

    let mut funcs = Vec::new();
    let mut attachments = Vec::new();
    let mut targets = Vec::new();
    let mut binary_of_pid = HashMap::new();
    for (i, ((path, pid), bin)) in attach_to.iter().zip(&binaries).enumerate() {
        let plan = Plan::build(bin)?;
        let mut sites = Vec::new();
        for p in plan.probes.into_iter().filter(|p| selected(cfg, p)) {
            let func_id = funcs.len() as u32;
            funcs.push(FuncMeta {
                function: p.function.clone(),
                entry: p.entry,
                target: i,
            });
            sites.push(Site {
                func_id,
                probe: p,
                goid_offset: bin.goid_offset,
                stack_hi_offset: bin.stack_hi_offset,
                sched_pc_offset: bin.sched_pc_offset,
            });
        }
        if sites.is_empty() {
            return Err(SessionError::NothingSelected {
                path: path.display().to_string(),
                available: crate::select::available(bin),
            });
        }
        attachments.push(Attachment {
            binary: path.clone(),
            pid: *pid,
            sites,
        });
        if let Some(pid) = pid {
            binary_of_pid.insert(*pid as u32, i);
            targets.push(TargetInfo {
                pid: *pid as u32,
                binary: std::fs::read_link(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
                go_version: bin.build.go_version.clone(),
            });
        }
    }

    let started = Instant::now();
    let binary_target = match &cfg.targets {
        Targets::Binary(path) => Some((
            path.display().to_string(),
            binaries[0].build.go_version.clone(),
        )),
        _ => None,
    };
    let metrics = match &cfg.prometheus {
        Some(addr) => {
            let m = crate::exporter::Metrics::new(funcs.clone(), cfg.min_size, cfg.alert_threshold);
            let bound =
                crate::exporter::serve(addr, m.registry()).map_err(|e| SessionError::Listen {
                    addr: addr.clone(),
                    source: e,
                })?;
            eprintln!("gozt: serving metrics at http://{bound}/metrics");
            let mut m = m;
            for t in &targets {
                m.target(t.pid, &t.binary, &t.go_version);
            }
            Some(m)
        }
        None => None,
    };
    let target_pids: Vec<u32> = targets.iter().map(|t| t.pid).collect();
    let mut cpu = CpuMeter::default();
    cpu.update(target_pids.iter().copied());
    let duty = cfg.max_overhead.map(DutyCycle::new);
    let mut driver = Driver {
        agg: Aggregator::new(funcs, cfg.min_size, cfg.alert_threshold),
        duty,
        cpu,
        last_wanted: None,
        callers_known: Default::default(),
        callers_new: Vec::new(),
        attached_at: None,
        metrics,
        last_retain: None,
        monitor,
        started,
        targets,
        binary_target,
        sym: ProcSymbols {
            binaries: &binaries,
            maps: HashMap::new(),
            cache: HashMap::new(),
            binary_of_pid,
            single_binary: matches!(cfg.targets, Targets::Binary(_)).then_some(0),
        },
        deadline: cfg.duration.map(|d| started + d),
        pids,
        child,
        release,
        seen_pids: Vec::new(),
    };
    let discovered = started.elapsed();
    let mut opts = tracer::Options {
        floor: cfg.probe_floor,
        alternate: cfg.probe_alternate,
        calibrate: cfg.max_overhead.is_some(),
        ..tracer::Options::default()
    };
    if cfg.max_overhead.is_some() {
        // Probes come off within a poll of the budget running out.
        opts.poll_interval = Duration::from_millis(10);
    }
    let result = tracer::run(&attachments, &opts, &mut driver);
    if std::env::var_os("GOZT_TIMING").is_some() {
        if let Some(at) = driver.attached_at {
            eprintln!(
                "gozt: timing: discovery {:.1} ms, attach {:.1} ms",
                discovered.as_secs_f64() * 1e3,
                (at - started - discovered).as_secs_f64() * 1e3
            );
        }
    }
    let (lost, sampled) = match result {
        Ok(r) => r,
        Err(e) => {
            if let Some(mut c) = driver.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
            return Err(SessionError::Trace(e));
        }
    };
    let targets = Driver::targets_of(&driver.targets, &driver.binary_target, &driver.seen_pids);
    // Trace mode: gozt stops with its command; Ctrl-C reaches both.
    let status = driver.child.take().map(|mut c| {
        let st = match c.try_wait() {
            Ok(Some(st)) => st,
            _ => {
                let _ = c.kill();
                c.wait().expect("wait for the traced command")
            }
        };
        st.code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0))
    });
    let total = started.elapsed();
    let mut report = driver.agg.report(targets, total.as_secs_f64(), lost);
    if let Some(d) = driver.duty.as_mut() {
        let pids = report.targets.iter().map(|t| t.pid);
        let cpu = driver.cpu.update(pids).max(d.cpu_last) as f64;
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

fn pipe() -> std::io::Result<(i32, i32)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // The read end must survive exec's CLOEXEC only until pre_exec reads it:
    // pre_exec runs before exec, so CLOEXEC on both ends is right.
    Ok((fds[0], fds[1]))
}

fn which(cmd: &str) -> Option<PathBuf> {
    if cmd.contains('/') {
        let p = PathBuf::from(cmd);
        return p.exists().then(|| p.canonicalize().unwrap_or(p));
    }
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| PathBuf::from(d).join(cmd))
        .find(|p| p.is_file())
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
            SessionError::Trace(_) => 12,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{exe_mappings, DutyCycle};
    use std::path::Path;

    #[test]
    fn duty_cycle_keeps_the_estimated_cost_within_budget() {
        // A target burning one core, calling a probed function 50,000 times
        // a second while attached (100,000 traps); a trap costs 10 us: fully
        // attached, the probes would cost 100 % of its time. Simulated for
        // 10 min at 0.1 ms steps, with polls when the duty cycle asks for
        // one (at least 1 ms apart, at most 10 ms).
        let mut d = DutyCycle::new(0.01);
        d.trap_ns = 10_000.0;
        let step = 100_000u64;
        let (mut now, mut cpu, mut traps) = (0u64, 0u64, 0u64);
        let (mut next, mut last) = (0u64, 0u64);
        let (mut on, mut on_ns, mut windows) = (true, 0u64, 1u64);
        while now < 600_000_000_000 {
            now += step;
            cpu += step;
            if on {
                traps += step / 10_000;
                on_ns += step;
            }
            if now >= next {
                d.cost.traps = traps;
                let w = d.wanted(cpu, now - last);
                last = now;
                windows += u64::from(w.is_some() && !on);
                on = w.is_some();
                let wait = w.map_or(10_000_000, |w| w.as_nanos() as u64);
                next = now + wait.clamp(1_000_000, 10_000_000);
            }
        }
        let cost = d.spent_ns_total / cpu as f64;
        assert!(cost <= 0.01, "cost {cost}");
        assert!(cost >= 0.009, "the budget is used, not wasted: {cost}");
        // On about a hundredth of the time, in windows of several ms.
        let share = on_ns as f64 / now as f64;
        assert!((0.005..0.02).contains(&share), "on {share}");
        assert!(on_ns / windows >= 2_000_000, "{windows} windows");

        // Cheap probes (1 call a second) stay attached all the time.
        let mut d = DutyCycle::new(0.01);
        d.trap_ns = 10_000.0;
        let mut cpu = 0;
        for i in 0..1000 {
            cpu += 10_000_000;
            assert!(d.wanted(cpu, 10_000_000).is_some(), "poll {i}");
            if i % 100 == 0 {
                d.events += 1;
            }
        }
    }

    const EXE: &str = "/srv/app";

    #[test]
    fn mappings_wait_for_the_text_segment() {
        // Mid-exec: /proc/PID/exe already names the program, only its first
        // (read-only) segment is mapped.
        let partial = "00400000-00401000 r--p 00000000 08:01 12 /srv/app\n";
        assert_eq!(exe_mappings(partial, Some(Path::new(EXE))), None);
        let full = "00400000-00401000 r--p 00000000 08:01 12 /srv/app\n\
                    00401000-00480000 r-xp 00001000 08:01 12 /srv/app\n\
                    00480000-00490000 rw-p 00080000 08:01 12 /srv/app\n\
                    7f0000000000-7f0000001000 r-xp 00000000 08:01 13 /lib/ld.so\n";
        assert_eq!(
            exe_mappings(full, Some(Path::new(EXE))),
            Some(vec![
                (0x400000, 0x401000, 0),
                (0x401000, 0x480000, 0x1000),
                (0x480000, 0x490000, 0x80000)
            ])
        );
        assert_eq!(exe_mappings(full, None), None);
    }
}
