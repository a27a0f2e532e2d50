//! The session's loop: polls its event source, feeds every count of the
//! session ([`Counts`]: its own, and with `--interval`, several targets or
//! `--prometheus` the ones beside it), hands newly named callers back to
//! the source, asks the OS layer about processes, drives the monitor and
//! the duty cycle, and decides when to stop. Nothing below it calls up: the
//! source is polled.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::breakdown::Breakdown;
use super::duty::{CpuMeter, Cycles, DutyCycle};
use super::follow::{Addition, Follow, Probed, DETACH_AFTER};
use super::gate::Gate;
use super::intervals::Intervals;
use super::symbols::ProcSymbols;
use super::targets::{target_info, BinaryName, BinaryTarget};
use super::Targets;
use crate::event::{CallEvent, Lost, TrapCost};
use crate::exporter::Metrics;
use crate::monitor::{Monitor, Snapshot};
use crate::proc::identity::{FileId, ProcId, ProcessFacts};
use crate::proc::os::Os;
use crate::stats::correct::Corrector;
use crate::stats::{Aggregator, Call, CallSink, Ending, Report, TargetInfo};
use crate::tracer::{BinarySites, Cost, FuncSpec, TraceError, Tracer};

/// What the driver polls: the tracer, or replayed events in tests.
pub trait Source {
    /// Appends the calls completed since the last poll.
    fn poll(&mut self, out: &mut Vec<CallEvent>);
    fn lost(&self) -> Lost;
    fn cost(&self) -> Cost;
    /// Return addresses (pid, address) named as callers' since last time.
    fn add_callers(&mut self, found: &[(u32, u64)]);
    /// A target has exited: its calls under way never return.
    fn forget_process(&mut self, tgid: u32);
    /// Another process has `tgid` now: the callers named for the earlier
    /// one are not its.
    fn forget_callers(&mut self, tgid: u32);
    fn attached(&self) -> bool;
    /// Detaches, letting calls under way return for up to `drain` first;
    /// those still under way are counted as never returned.
    fn pause(&mut self, drain: Duration);
    fn resume(&mut self) -> Result<(), TraceError>;
    /// Benchmarks: the floor program's behaviour at the same sites.
    fn set_floor(&mut self, floor: bool);
    /// What one of the source's traps costs a call, as last timed (None:
    /// not timed).
    fn trap(&self) -> Option<TrapCost>;
    /// Attaches at one more binary's sites (its new functions' `specs`
    /// first) while the session runs; its index.
    fn add_binary(&mut self, specs: &[FuncSpec], sites: BinarySites) -> Result<usize, TraceError>;
    /// Detaches binary `index`.
    fn remove_binary(&mut self, index: usize);
}

impl Source for Tracer<'_> {
    fn poll(&mut self, out: &mut Vec<CallEvent>) {
        Tracer::poll(self, out);
    }
    fn lost(&self) -> Lost {
        Tracer::lost(self)
    }
    fn cost(&self) -> Cost {
        Tracer::cost(self)
    }
    fn add_callers(&mut self, found: &[(u32, u64)]) {
        Tracer::add_callers(self, found);
    }
    fn forget_process(&mut self, tgid: u32) {
        Tracer::forget_process(self, tgid);
    }
    fn forget_callers(&mut self, tgid: u32) {
        Tracer::forget_callers(self, tgid);
    }
    fn attached(&self) -> bool {
        Tracer::attached(self)
    }
    fn pause(&mut self, drain: Duration) {
        self.stop(drain);
        self.clear();
    }
    fn resume(&mut self) -> Result<(), TraceError> {
        self.reattach()
    }
    fn set_floor(&mut self, floor: bool) {
        Tracer::set_floor(self, floor);
    }
    fn trap(&self) -> Option<TrapCost> {
        Tracer::trap(self)
    }
    fn add_binary(&mut self, specs: &[FuncSpec], sites: BinarySites) -> Result<usize, TraceError> {
        Tracer::add_binary(self, specs, sites)
    }
    fn remove_binary(&mut self, index: usize) {
        Tracer::remove_binary(self, index);
    }
}

/// The most callers' return addresses the programs are told (half the slots
/// of their cache, tracer::Options::caller_slots).
const MAX_KNOWN_CALLERS: usize = 4096;

/// Targets that have exited listed at the most (--binary, --name); the
/// earlier ones' calls stay in every total.
pub const MAX_EXITED_LISTED: usize = 256;

/// How long the calls under way get to return when tracing stops, and when
/// a duty-cycle window ends.
pub const STOP_DRAIN: Duration = Duration::from_millis(250);
/// A duty-cycle window ends at once: its budget is spent (calls cut there
/// count as never returned).
const WINDOW_DRAIN: Duration = Duration::ZERO;

/// How long probes were in place, in how many windows.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Sampled {
    pub on: Duration,
    pub windows: u64,
    /// The whole run's calls over those counted, from each window's cycle
    /// (duty::Cycles); None when no call was counted.
    pub factor: Option<f64>,
    /// What the probes cost over the whole run.
    pub cost: Cost,
}

/// Tuning of the loop.
#[derive(Debug, Clone)]
pub struct Pace {
    pub poll_interval: Duration,
    /// How often processes are looked for (--binary) and checked for exit.
    pub scan_interval: Duration,
    /// Benchmarks: switch between full tracing and the floor this often.
    pub alternate: Option<Duration>,
    /// Print how long detaching took (`GOZT_TIMING`).
    pub timing: bool,
}

/// Every count of the session: each call goes to all of them, and so does
/// each forget.
pub struct Counts<'a> {
    /// The session's own (the report's), which also judges payloads and
    /// names callers.
    pub session: Aggregator,
    /// With `--interval`: the current interval's.
    pub intervals: Option<Intervals<'a>>,
    /// Each target's, for sessions that can have several.
    pub targets: Breakdown,
    /// With `--prometheus`: the exporter's.
    pub metrics: Option<Metrics>,
}

impl<'a> Counts<'a> {
    /// The session's count alone.
    pub fn new(session: Aggregator) -> Counts<'a> {
        Counts {
            session,
            intervals: None,
            targets: Breakdown::none(),
            metrics: None,
        }
    }

    /// Every count, the session's first.
    fn each(&mut self) -> impl Iterator<Item = &mut dyn CallSink> {
        let sinks: [Option<&mut dyn CallSink>; 4] = [
            Some(&mut self.session),
            self.intervals.as_mut().map(|i| i as &mut dyn CallSink),
            Some(&mut self.targets),
            self.metrics.as_mut().map(|m| m as &mut dyn CallSink),
        ];
        sinks.into_iter().flatten()
    }
}

/// What a driver is built from, whole.
pub struct Parts<'a> {
    pub os: &'a dyn Os,
    /// Set by a signal: the session ends.
    pub stop: Arc<AtomicBool>,
    pub counts: Counts<'a>,
    pub sym: ProcSymbols<'a>,
    /// The targets named on the command line (or started).
    pub named: Vec<TargetInfo>,
    /// With --binary or --name: which processes, running what.
    pub binary_target: Option<BinaryTarget>,
    /// With --max-overhead.
    pub duty: Option<DutyCycle>,
    /// When the probes were in place: the counts, and --duration's
    /// clock, start there.
    pub epoch: Instant,
    /// With --duration: when the session ends.
    pub deadline: Option<Instant>,
    /// Trace mode: the command, held before exec.
    pub command: Option<Gate>,
    pub pace: Pace,
    /// Take the source's traps out of the calls' times (false:
    /// `--no-correction`, times as measured).
    pub correct: bool,
    /// With --binary/--name: new executables that match are read and
    /// probed while the session runs.
    pub follow: Option<Follow>,
    /// With --binary: the path on gozt's side, whose file stays probed
    /// while no process runs it.
    pub keep: Option<std::path::PathBuf>,
    /// Say on stderr what following does.
    pub say: bool,
}

/// What a session's counts end with: its report (but for what only the
/// session knows: its metadata) and the traced command's exit status.
pub struct Outcome {
    pub report: Report,
    pub status: Option<i32>,
    /// How long the report's counts ran (since the start, or the monitor's
    /// last reset), to when tracing stopped.
    pub counted: Duration,
    /// When tracing stopped (the calls under way were then let return).
    pub stopped: Option<Instant>,
}

/// The loop's state.
pub struct Driver<'a> {
    os: &'a dyn Os,
    stop: Arc<AtomicBool>,
    counts: Counts<'a>,
    sym: ProcSymbols<'a>,
    named: Vec<TargetInfo>,
    binary_target: Option<BinaryTarget>,
    /// Processes seen running the binary (--binary, --name), in order,
    /// with what was read of them while they ran.
    /// The binary index last: the binary it runs, by its file, else by its
    /// first call's function (what it runs could not be read: it had
    /// exited), as found when it was seen.
    seen: Vec<(ProcId, Option<ProcessFacts>, Option<usize>)>,
    duty: Option<DutyCycle>,
    cpu: CpuMeter,
    deadline: Option<Instant>,
    command: Option<Gate>,
    pace: Pace,
    /// When the counts started (the start, or the monitor's last reset).
    epoch: Instant,
    /// What ended the run, and when tracing stopped (no call begun later
    /// counts), once it has.
    ended_by: Option<Ending>,
    stopped: Option<Instant>,
    /// Losses before the monitor's last reset.
    lost_base: Lost,
    /// Processes that match --binary/--name but run a file that could
    /// not be probed: not traced, and why.
    unprobed: Vec<(ProcId, ProcessFacts, String)>,
    follow: Option<Follow>,
    keep: Option<std::path::PathBuf>,
    say: bool,
    /// Exited targets no longer listed (beyond MAX_EXITED_LISTED).
    unlisted: u64,
    callers_known: HashSet<(ProcId, u64)>,
    /// Pids another process took in the last batch of events.
    reused: Vec<u32>,
    gone: HashSet<ProcId>,
    last_scan: Option<Instant>,
    last_wanted: Option<Instant>,
    events: Vec<CallEvent>,
    /// Without --no-correction: takes the traps out of calls' times.
    corrector: Option<Corrector>,
}

impl<'a> Driver<'a> {
    /// The driver of `parts`; the named targets' counts start at zero.
    pub fn new(parts: Parts<'a>) -> Driver<'a> {
        let mut d = Driver {
            os: parts.os,
            stop: parts.stop,
            counts: parts.counts,
            sym: parts.sym,
            named: parts.named,
            binary_target: parts.binary_target,
            seen: Vec::new(),
            duty: parts.duty,
            cpu: CpuMeter::default(),
            deadline: parts.deadline,
            command: parts.command,
            pace: parts.pace,
            epoch: parts.epoch,
            ended_by: None,
            stopped: None,
            lost_base: Lost::default(),
            unprobed: Vec::new(),
            callers_known: HashSet::new(),
            reused: Vec::new(),
            gone: HashSet::new(),
            last_scan: None,
            last_wanted: None,
            events: Vec::new(),
            corrector: parts.correct.then(Corrector::new),
            follow: parts.follow,
            keep: parts.keep,
            say: parts.say,
            unlisted: 0,
        };
        for t in &d.named {
            for s in d.counts.each() {
                s.target(t);
            }
        }
        d.cpu.update(d.os, d.named.iter().map(|t| t.pid));
        d
    }

    /// Every target so far: those named, plus with --binary every process
    /// seen running it.
    pub fn targets(&self) -> Vec<TargetInfo> {
        let mut targets = self.named.clone();
        if let Some(bt) = &self.binary_target {
            // Each named by the binary found when it was seen (a file
            // detached since is no longer known by its identity).
            targets.extend(self.seen.iter().map(|(id, facts, runs)| {
                let mut t = runs.and_then(|i| bt.binaries.get(i)).map_or_else(
                    || target_info(id.pid, String::new(), String::new(), facts.as_ref()),
                    |b| b.target(id.pid, facts.as_ref()),
                );
                t.start_ticks = id.start_ticks;
                if t.start_time.is_none() {
                    t.start_time = crate::proc::identity::start_time(*id);
                }
                t
            }));
        }
        targets
    }

    /// Every target's identity.
    fn ids(&self) -> Vec<ProcId> {
        self.named
            .iter()
            .map(|t| ProcId {
                pid: t.pid,
                start_ticks: t.start_ticks,
            })
            .chain(self.seen.iter().map(|(id, _, _)| *id))
            .collect()
    }

    fn pids(&self) -> Vec<u32> {
        self.ids().into_iter().map(|id| id.pid).collect()
    }

    /// Whether process `id` still runs (not another one on its pid).
    fn lives(&self, id: ProcId) -> bool {
        self.os.alive(id.pid)
            && (id.start_ticks == 0
                || self
                    .os
                    .facts(id.pid)
                    .is_none_or(|f| f.id.start_ticks == id.start_ticks))
    }

    /// A process seen running the binary (--binary, --name), once.
    /// `probed`: its calls were seen (else it was found by a scan, and may
    /// run a file that gozt has not probed); `func`: one of them.
    fn saw(&mut self, id: ProcId, probed: bool, func: Option<u32>) {
        if self.seen.iter().any(|(s, _, _)| *s == id)
            || self.gone.contains(&id)
            || self.named.iter().any(|t| t.pid == id.pid)
            || self.unprobed.iter().any(|(s, _, _)| *s == id)
        {
            return;
        }
        let facts = self
            .os
            .facts(id.pid)
            .filter(|f| id.start_ticks == 0 || f.id == id);
        let file = facts.as_ref().and_then(|f| f.exe_file);
        let known = |bt: &BinaryTarget| bt.binaries.iter().any(|b| b.file == file);
        if !probed && file.is_some() && self.binary_target.as_ref().is_some_and(|bt| !known(bt)) {
            let (Some(file), Some(f)) = (file, facts) else {
                return;
            };
            let why = match self.follow.as_mut() {
                Some(fw) => match fw.failed.get(&file) {
                    Some(why) => why.clone(),
                    None => {
                        // Read off the loop's thread; seen once probed.
                        let path = std::path::PathBuf::from(format!("/proc/{}/exe", id.pid));
                        fw.want(file, path, id);
                        return;
                    }
                },
                None => "a file that appeared after gozt attached".to_string(),
            };
            self.unprobed.push((id, f, why));
            return;
        }
        let hint = func
            .and_then(|f| self.counts.session.function(f))
            .map(|m| m.target);
        let runs = self
            .binary_target
            .as_ref()
            .and_then(|bt| bt.index_of(facts.as_ref(), hint));
        if let Some(b) = runs.and_then(|i| self.binary_target.as_ref()?.binaries.get(i)) {
            let t = b.target(id.pid, facts.as_ref());
            for s in self.counts.each() {
                s.target(&t);
            }
        }
        self.seen.push((id, facts, runs));
    }

    /// With --binary/--name: the processes that run the binary now.
    fn scan(&mut self) {
        if let Some(bt) = self.binary_target.as_ref() {
            for id in self.os.running(&bt.wanted) {
                self.saw(id, false, None);
            }
        }
    }

    /// Once the probes are attached: learns the mappings of the named
    /// targets, and with --binary/--name names the processes running it
    /// now (a traced command is held until [`Driver::start_command`]).
    pub fn attached(&mut self) {
        for t in &self.named {
            self.sym.learn(self.os, t.pid);
        }
        // With --binary/--name: the processes running it now, named while
        // they surely live (before the trap cost is timed).
        self.scan();
    }

    /// Lets a traced command exec, and learns what it runs.
    pub fn start_command(&mut self) {
        if let Some(gate) = self.command.as_mut() {
            gate.open();
            // Learn the command's mappings as soon as it has exec'd: a short
            // run may be over (a zombie without maps) by the first poll.
            let pid = gate.pid();
            let started = Instant::now();
            while !self.sym.knows(pid) && started.elapsed() < Duration::from_secs(2) {
                self.sym.learn(self.os, pid);
                std::thread::sleep(Duration::from_millis(1));
            }
        }
        // A traced command is known once it has exec'd its program.
        for t in &mut self.named {
            if let Some(f) = self.os.facts(t.pid) {
                let (module_version, build_id) = (t.module_version.take(), t.build_id.take());
                *t = target_info(t.pid, t.binary.clone(), t.go_version.clone(), Some(&f));
                (t.module_version, t.build_id) = (module_version, build_id);
            }
        }
    }

    /// Whether a duty cycle (`--max-overhead`) runs.
    pub fn has_duty(&self) -> bool {
        self.duty.is_some()
    }

    /// A library's internal work on a goroutine of its own, or a call made
    /// inside it (catalog::Role::Internal): counted nowhere.
    fn internal(&self, ev: &CallEvent) -> bool {
        let internal = |id: u32| {
            self.counts
                .session
                .function(id)
                .is_some_and(|m| m.entry.role == crate::probe::catalog::Role::Internal)
        };
        ev.write.is_none() && (internal(ev.func_id) || ev.outer.is_some_and(internal))
    }

    /// Takes one completed call: every count gets it.
    pub fn event(&mut self, ev: &CallEvent, new_callers: &mut Vec<(u32, u64)>) {
        let id = ProcId::of_event(ev.tgid, ev.proc_start_ns);
        if self.sym.observe(self.os, ev) {
            // Another process has the pid now: what was named for the last
            // one is not this one's, and its counts start again (a counter
            // reset to Prometheus).
            for s in self.counts.each() {
                s.forget_frames(ev.tgid);
                s.forget_process(ev.tgid);
            }
            if let Some(c) = self.corrector.as_mut() {
                c.forget_process(ev.tgid);
            }
            self.callers_known.retain(|(p, _)| p.pid != ev.tgid);
            new_callers.retain(|(p, _)| *p != ev.tgid);
            self.reused.push(ev.tgid);
        }
        if self.binary_target.is_some() {
            self.saw(id, true, Some(ev.func_id));
        }
        if let Some(d) = self.duty.as_mut() {
            d.events += 1;
        }
        if let Some(t) = self.named.iter().find(|t| t.pid == ev.tgid) {
            for s in self.counts.each() {
                s.target(t);
            }
        }
        // Each call is judged once, by the session's streams under way.
        let payload = self.counts.session.judge(ev);
        let call = Call {
            process: id,
            event: ev,
            payload: payload.as_ref(),
        };
        let mut named = None;
        for s in self.counts.each() {
            named = named.or(s.observe(&call, &mut self.sym));
        }
        if let Some(frame) = named {
            if self.callers_known.len() < MAX_KNOWN_CALLERS
                && self.callers_known.insert((id, frame))
            {
                new_callers.push((ev.tgid, frame));
            }
        }
    }

    /// Drains `src` into the counts.
    pub fn drain(&mut self, src: &mut dyn Source) {
        let mut events = std::mem::take(&mut self.events);
        src.poll(&mut events);
        let mut new_callers = Vec::new();
        let trap_cost = src.trap();
        for ev in &mut events {
            if self.internal(ev) {
                continue;
            }
            // A downstream write is no call: nothing of gozt's inside it.
            if let (Some(c), None) = (self.corrector.as_mut(), ev.write) {
                c.correct(ev, trap_cost);
            }
            self.event(ev, &mut new_callers);
        }
        events.clear();
        self.events = events;
        for pid in std::mem::take(&mut self.reused) {
            src.forget_callers(pid);
        }
        if !new_callers.is_empty() {
            src.add_callers(&new_callers);
        }
    }

    /// Losses since the counts started.
    pub fn lost_since_epoch(&self, lost: Lost) -> Lost {
        lost.since(&self.lost_base)
    }

    /// With --interval: reports the interval if it has ended. False when
    /// its output is gone.
    fn interval_ended(&mut self, lost: Lost) -> bool {
        match self.counts.intervals.as_mut() {
            Some(iv) if iv.due() => iv.report(lost),
            _ => true,
        }
    }

    /// Records why the session ends; false, for keep_going to return.
    fn end(&mut self, why: Ending) -> bool {
        self.ended_by = Some(why);
        false
    }

    /// The time traced: from the epoch to the stop (or to now, before it).
    fn traced(&self) -> Duration {
        self.stopped
            .unwrap_or_else(Instant::now)
            .saturating_duration_since(self.epoch)
    }

    /// Whether the session goes on; `lost` is what the source has counted.
    fn keep_going(
        &mut self,
        src: &mut dyn Source,
        lost: Lost,
        monitor: &mut Option<&mut dyn Monitor>,
    ) -> bool {
        if self.stop.load(Ordering::SeqCst) {
            return self.end(Ending::Signal);
        }
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return self.end(Ending::Duration);
        }
        // Every few seconds: processes that started running the binary,
        // and those that have exited.
        if self
            .last_scan
            .is_none_or(|t| t.elapsed() >= self.pace.scan_interval)
        {
            self.last_scan = Some(Instant::now());
            self.scan();
            self.forget_exited(src);
            self.keep_probed(src);
        }
        self.follow_reads(src);
        for s in self.counts.each() {
            s.lost(&lost);
        }
        if let Some(m) = monitor.as_deref_mut() {
            if !self.tick(m, lost) {
                return self.end(Ending::Quit);
            }
        }
        if let Some(gate) = self.command.as_mut() {
            if gate.exited() {
                return self.end(Ending::CommandExited);
            }
            return true;
        }
        if !self.named.is_empty() && !self.named.iter().any(|t| self.os.alive(t.pid)) {
            return self.end(Ending::TargetsExited);
        }
        true
    }

    /// With --binary/--name: takes a read that has ended (the new
    /// binary's sites attached, its functions counted, its waiting
    /// processes seen), and starts the next.
    fn follow_reads(&mut self, src: &mut dyn Source) {
        let Some(mut fw) = self.follow.take() else {
            return;
        };
        if let Some((file, took, read)) = fw.step() {
            match read {
                Ok(a) => self.followed(&mut fw, src, (file, took), a),
                Err(e) => {
                    fw.failed
                        .insert(file, format!("gozt could not read it: {e}"));
                }
            }
            // Those left waiting (the file failed): not traced, and why.
            if let (Some(why), Some(ids)) = (fw.failed.get(&file), fw.waiting.remove(&file)) {
                for id in ids {
                    if let Some(f) = self.os.facts(id.pid).filter(|f| f.id == id) {
                        if self.say {
                            eprintln!("gozt: pid {} runs {}: not traced: {why}", id.pid, f.exe);
                        }
                        self.unprobed.push((id, f, why.clone()));
                    }
                }
            }
        }
        self.follow = Some(fw);
    }

    /// A new binary read: every count gets its functions, and the
    /// symbolizer the binary; its sites are attached (through a process
    /// that runs it now) and the processes that waited for it are seen.
    fn followed(
        &mut self,
        fw: &mut Follow,
        src: &mut dyn Source,
        (file, took): (FileId, Duration),
        a: Addition,
    ) {
        for s in self.counts.each() {
            s.functions(&a.funcs);
        }
        let go_version = a.bin.build.go_version.clone();
        let mut named = BinaryName::of(String::new(), &a.bin, None);
        let functions = a.sites.entries.len();
        // Binary indexes follow the reads, attached or not; a copy keeps
        // nothing of its own.
        match a.copy_of {
            Some(of) => self.sym.add_copy(of, Some(file)),
            None => self.sym.add_binary(a.bin, Some(file), a.rets),
        }
        let waiting = fw.waiting.get(&file).cloned().unwrap_or_default();
        let runner = waiting.iter().find_map(|id| {
            self.os
                .facts(id.pid)
                .filter(|f| f.id == *id && f.exe_file == Some(file))
        });
        let mut sites = a.sites;
        let name = runner
            .as_ref()
            .map_or_else(|| sites.binary.display().to_string(), |f| f.exe.clone());
        // Named by binary index, as the symbolizer knows it; matched by
        // file once attached.
        if let Some(bt) = self.binary_target.as_mut() {
            named.name.clone_from(&name);
            bt.binaries.push(named);
        }
        let mut covered = false;
        let index = match &runner {
            // A copy whose process traps at gozt's probes already (the file
            // beneath its overlay is probed): not attached again.
            Some(f)
                if a.specs.is_empty()
                    && crate::proc::traps::already_trapped(
                        self.os,
                        f.id.pid,
                        &super::follow::entry_offsets(&sites),
                    ) =>
            {
                covered = true;
                None
            }
            Some(f) => {
                sites.binary = format!("/proc/{}/exe", f.id.pid).into();
                sites.inodes = super::targets::inodes(
                    Some(file),
                    Some(crate::base::pid::Pid::from_tgid(f.id.pid)),
                    self.os,
                );
                match src.add_binary(&a.specs, sites.clone()) {
                    Ok(i) => Some(i),
                    Err(e) => {
                        fw.failed.insert(file, e.to_string());
                        return;
                    }
                }
            }
            // Its processes are gone: attached when one runs it again.
            None => {
                if !a.specs.is_empty() {
                    // Its functions are known to the programs all the same.
                    let _ = src.add_binary(&a.specs, BinarySites::default());
                }
                None
            }
        };
        if self.say {
            // Each with how long it had run untraced.
            let pids: Vec<String> = waiting
                .iter()
                .map(|id| format!("{} (started {} ms before)", id.pid, id.age().as_millis()))
                .collect();
            eprintln!(
                "gozt: tracing {name} too ({go_version}, {functions} functions{}; read in \
                 {} ms): pid {}",
                match (a.specs.is_empty(), covered) {
                    (true, true) => ", a copy already probed beneath its overlay",
                    (true, false) => ", a copy",
                    _ => "",
                },
                took.as_millis(),
                pids.join(", ")
            );
        }
        if let Some(b) = self
            .binary_target
            .as_mut()
            .and_then(|bt| bt.binaries.last_mut())
        {
            b.file = Some(file);
        }
        fw.probed.push(Probed {
            file,
            sites,
            index,
            last_run: Instant::now(),
            covered,
        });
        for id in fw.waiting.remove(&file).unwrap_or_default() {
            self.saw(id, true, None);
        }
    }

    /// With --binary/--name, at each scan: a probed file that a live
    /// target runs is attached (again, through it, if it was detached); one
    /// that none has run for [`DETACH_AFTER`] is detached, but for the
    /// --binary path's own file.
    fn keep_probed(&mut self, src: &mut dyn Source) {
        let Some(mut fw) = self.follow.take() else {
            return;
        };
        let now = Instant::now();
        let mut runners: std::collections::HashMap<FileId, u32> = Default::default();
        for (id, facts, _) in &self.seen {
            if let Some(file) = facts.as_ref().and_then(|f| f.exe_file) {
                if !self.gone.contains(id) {
                    runners.insert(file, id.pid);
                }
            }
        }
        let kept = self.keep.as_deref().and_then(FileId::of);
        // Processes that trap at another file's probes keep every file
        // attached (which one covers them is not known).
        let covering = fw
            .probed
            .iter()
            .any(|p| p.covered && runners.contains_key(&p.file));
        for p in &mut fw.probed {
            match (runners.get(&p.file), p.index) {
                (Some(_), Some(_)) => p.last_run = now,
                (Some(_), None) if p.covered => p.last_run = now,
                (Some(&pid), None) => {
                    p.last_run = now;
                    let offsets = super::follow::entry_offsets(&p.sites);
                    if crate::proc::traps::already_trapped(self.os, pid, &offsets) {
                        p.covered = true;
                        continue;
                    }
                    p.sites.binary = format!("/proc/{pid}/exe").into();
                    match src.add_binary(&[], p.sites.clone()) {
                        Ok(i) => p.index = Some(i),
                        Err(e) if self.say => {
                            eprintln!("gozt: pid {pid}: not traced again: {e}");
                        }
                        Err(_) => {}
                    }
                }
                (None, Some(i))
                    if now - p.last_run >= DETACH_AFTER && kept != Some(p.file) && !covering =>
                {
                    src.remove_binary(i);
                    p.index = None;
                }
                _ => {}
            }
        }
        // Files detached, and copies no process runs: forgotten (a process
        // that runs one later has it read again), so that what is kept
        // stays bounded over days of rollouts.
        let (keep, gone): (Vec<Probed>, Vec<Probed>) =
            std::mem::take(&mut fw.probed).into_iter().partition(|p| {
                p.index.is_some() || now - p.last_run < DETACH_AFTER || kept == Some(p.file)
            });
        fw.probed = keep;
        for p in &gone {
            self.sym.forget_file(p.file);
        }
        if let Some(bt) = self.binary_target.as_mut() {
            for b in &mut bt.binaries {
                if gone.iter().any(|p| b.file == Some(p.file)) {
                    b.file = None;
                }
            }
        }
        self.follow = Some(fw);
    }

    /// Forgets the targets that have exited: their calls under way never
    /// return, and what every count keeps for them goes.
    fn forget_exited(&mut self, src: &mut dyn Source) {
        let exited: Vec<ProcId> = self
            .ids()
            .into_iter()
            .filter(|id| !self.gone.contains(id) && !self.lives(*id))
            .collect();
        if exited.is_empty() {
            return;
        }
        // Their last events are in the buffer: take them first.
        self.drain(src);
        self.gone.extend(exited.iter().copied());
        let live: HashSet<u32> = self
            .ids()
            .into_iter()
            .filter(|id| !self.gone.contains(id))
            .map(|id| id.pid)
            .collect();
        for id in exited {
            // Its calls are counted and their callers named: what naming
            // them needed goes.
            self.sym.forget(id);
            self.callers_known.retain(|(p, _)| *p != id);
            // The programs know processes by pid: one that another process
            // runs now keeps its calls under way (the exited one's age out).
            if !self.os.alive(id.pid) {
                src.forget_process(id.pid);
            }
            if !live.contains(&id.pid) {
                for s in self.counts.each() {
                    s.forget_process(id.pid);
                }
                if let Some(c) = self.corrector.as_mut() {
                    c.forget_process(id.pid);
                }
            }
        }
        // Over days of restarts and rollouts the list of targets stays
        // bounded: the earliest exited ones go (their calls stay in every
        // total), and the report says how many.
        let exited_seen = self
            .seen
            .iter()
            .filter(|s| self.gone.contains(&s.0))
            .count();
        let pruned = exited_seen.saturating_sub(MAX_EXITED_LISTED);
        if pruned > 0 {
            let mut excess = pruned;
            let (gone, counts) = (&mut self.gone, &mut self.counts);
            self.seen.retain(|s| {
                if excess > 0 && gone.remove(&s.0) {
                    excess -= 1;
                    // Its own counts and its goroutines' go with it.
                    counts.targets.forget_target(s.0);
                    counts.session.forget_goroutines(s.0);
                    return false;
                }
                true
            });
            self.unlisted += pruned as u64;
        }
    }

    /// Shows the session to `monitor`; false when it ends the session.
    fn tick(&mut self, monitor: &mut dyn Monitor, lost: Lost) -> bool {
        let (targets, since) = (self.targets(), self.lost_since_epoch(lost));
        let mut snap = Snapshot::new(
            &mut self.counts.session,
            targets,
            since,
            self.epoch.elapsed(),
        );
        let go_on = monitor.tick(&mut snap);
        if snap.was_reset() {
            for s in self.counts.each() {
                s.reset();
            }
            self.epoch = Instant::now();
            self.lost_base = lost;
        }
        go_on
    }

    /// Runs until the end (duration, signal, targets gone, the monitor);
    /// stops the source cleanly. Returns how long probes were in place.
    pub fn run(
        &mut self,
        src: &mut dyn Source,
        mut monitor: Option<&mut dyn Monitor>,
    ) -> Result<Sampled, TraceError> {
        let mut sampled = Sampled {
            on: Duration::ZERO,
            windows: 1,
            factor: None,
            cost: Cost::default(),
        };
        let mut attached_at = Some(Instant::now());
        let mut cycles = Cycles::default();
        cycles.window_started(Instant::now(), self.counts.session.calls());
        let mut alternate = Alternate::new(self.pace.alternate);
        // --probe-alternate switches at a poll.
        let poll_interval = self
            .pace
            .alternate
            .map_or(self.pace.poll_interval, |p| p.min(self.pace.poll_interval));
        let mut next_poll = poll_interval;
        loop {
            // Timer-driven: the programs submit without wakeups.
            std::thread::sleep(next_poll);
            alternate.at_poll(src);
            self.drain(src);
            let lost = src.lost();
            if !self.interval_ended(lost) {
                self.end(Ending::OutputClosed);
                break;
            }
            if !self.keep_going(src, lost, &mut monitor) {
                break;
            }
            // Duty cycling (--max-overhead): when probes should be in place.
            let wanted = self.probes_wanted(src.cost());
            next_poll = wanted.map_or(poll_interval, |d| {
                d.clamp(Duration::from_millis(1), poll_interval)
            });
            match (wanted.is_some(), src.attached()) {
                (false, true) => {
                    // The window ends when entries stop being recorded, at
                    // the start of the pause: detaching takes tens of ms,
                    // which counted as attached time made the factor too
                    // small by as much as the windows were short.
                    let ended = Instant::now();
                    if let Some(t) = attached_at.take() {
                        sampled.on += ended - t;
                    }
                    src.pause(WINDOW_DRAIN);
                    self.drain(src);
                    cycles.window_ended(ended, self.counts.session.calls());
                }
                (true, false) => {
                    src.resume()?;
                    let now = Instant::now();
                    attached_at = Some(now);
                    sampled.windows += 1;
                    cycles.window_started(now, self.counts.session.calls());
                }
                _ => {}
            }
        }
        let ended = Instant::now();
        if let Some(t) = attached_at.take() {
            sampled.on += ended - t;
        }
        self.stop_source(src);
        cycles.finish(ended, self.counts.session.calls());
        sampled.factor = cycles.factor();
        sampled.cost = src.cost();
        Ok(sampled)
    }

    /// Stops the source cleanly and takes its last events.
    fn stop_source(&mut self, src: &mut dyn Source) {
        let detaching = Instant::now();
        self.stopped = Some(detaching);
        src.pause(STOP_DRAIN);
        if self.pace.timing {
            eprintln!(
                "gozt: timing: detach {:.1} ms",
                detaching.elapsed().as_secs_f64() * 1e3
            );
        }
        self.drain(src);
        // Those that run it at the end are targets too.
        self.scan();
        if let Some(iv) = self.counts.intervals.as_mut() {
            iv.finish(src.lost());
        }
    }

    /// What the duty cycle wants: None for probes off, or on until at most
    /// the returned time from now.
    fn probes_wanted(&mut self, cost: Cost) -> Option<Duration> {
        let pids = self.pids();
        let Some(d) = self.duty.as_mut() else {
            return Some(Duration::MAX);
        };
        let cpu = self.cpu.update(self.os, pids.into_iter());
        d.cost = cost;
        let now = Instant::now();
        let wall = self.last_wanted.map_or(0, |t| (now - t).as_nanos() as u64);
        self.last_wanted = Some(now);
        d.wanted(cpu, wall)
    }

    /// Function `id`'s name.
    pub fn function_name(&self, id: u32) -> Option<&str> {
        self.counts
            .session
            .function(id)
            .map(|f| f.function.as_str())
    }

    /// Ends the session's counts: the command's exit status, and the report
    /// of what was counted, with `lost` the source's losses, each target's
    /// calls, the warnings for a session of `asked`, and under
    /// --max-overhead how the probes were sampled over the time traced.
    pub fn finish(mut self, lost: Lost, asked: &Targets, sampled: &Sampled) -> Outcome {
        // Trace mode: gozt stops with its command; Ctrl-C reaches both.
        let mut warnings = Vec::new();
        let status = self.command.take().and_then(|gate| match gate.finish() {
            Ok(status) => Some(status),
            Err(e) => {
                warnings.push(format!("the command's exit status could not be read: {e}"));
                None
            }
        });
        let targets = self.targets();
        let counted = self.traced();
        let lost = self.lost_since_epoch(lost);
        let mut report = self
            .counts
            .session
            .report(targets, counted.as_secs_f64(), lost);
        // Processes whose file was still being read: not traced.
        if let Some(fw) = self.follow.as_mut() {
            for id in std::mem::take(&mut fw.waiting).into_values().flatten() {
                if let Some(f) = self.os.facts(id.pid).filter(|f| f.id == id) {
                    let why = "gozt stopped before it had read its file".to_string();
                    self.unprobed.push((id, f, why));
                }
            }
        }
        report.warnings = super::warnings::of(
            asked,
            self.binary_target.as_ref(),
            &report.targets,
            &self.sym,
            &self.unprobed,
        );
        report.warnings.extend(warnings);
        if self.unlisted > 0 {
            report.warnings.push(format!(
                "{} earlier targets that exited are not listed (the last {MAX_EXITED_LISTED} \
                 are): their calls are in the totals",
                self.unlisted
            ));
        }
        report.command_exit_status = status;
        report.ended_by = self.ended_by;
        if report.targets.len() > 1 {
            report.per_target = self.counts.targets.report(report.duration_s);
        }
        if let Some(d) = self.duty.as_mut() {
            let pids = report.targets.iter().map(|t| t.pid);
            let cpu = self.cpu.update(self.os, pids).max(d.cpu_last);
            // The report's duration: the attached windows are part of it.
            report.sampling = Some(d.sampling(cpu, counted, sampled));
        }
        Outcome {
            report,
            status,
            counted,
            stopped: self.stopped,
        }
    }
}

/// Benchmarks (`--probe-alternate`): switches between full tracing and the
/// floor every period, saying when on stderr.
struct Alternate {
    period: Option<Duration>,
    switched: Instant,
    floor: bool,
}

impl Alternate {
    fn new(period: Option<Duration>) -> Alternate {
        if period.is_some() {
            say_switch(false);
        }
        Alternate {
            period,
            switched: Instant::now(),
            floor: false,
        }
    }

    /// At a poll: switches if the period is over.
    fn at_poll(&mut self, src: &mut dyn Source) {
        if self.period.is_some_and(|p| self.switched.elapsed() >= p) {
            self.floor = !self.floor;
            src.set_floor(self.floor);
            say_switch(self.floor);
            self.switched = Instant::now();
        }
    }
}

/// Tells a benchmark when `--probe-alternate` switched (Unix ns): to the
/// floor, or to full tracing.
fn say_switch(floor: bool) {
    let ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    eprintln!(
        "gozt: alternate: {} {ns}",
        if floor { "floor" } else { "gozt" }
    );
}

#[cfg(test)]
mod tests {
    use std::cell::RefCell;
    use std::collections::VecDeque;
    use std::path::Path;
    use std::rc::Rc;

    use std::collections::HashMap;

    use super::*;
    use crate::monitor::IntervalSink;
    use crate::proc::identity::Wanted;
    use crate::proc::os::ExeMappings;
    use crate::stats::IntervalReport;

    /// Processes that live until told otherwise.
    #[derive(Default)]
    struct FakeOs {
        alive: Rc<RefCell<HashSet<u32>>>,
        running: RefCell<Vec<u32>>,
    }

    impl Os for FakeOs {
        fn alive(&self, pid: u32) -> bool {
            self.alive.borrow().contains(&pid)
        }
        fn cpu_ns(&self, _: u32) -> Option<u64> {
            Some(0)
        }
        fn facts(&self, _: u32) -> Option<ProcessFacts> {
            None
        }
        fn exe_mappings(&self, _: u32) -> Option<ExeMappings> {
            None
        }
        fn running(&self, _: &Wanted) -> Vec<ProcId> {
            self.running
                .borrow()
                .iter()
                .map(|&pid| ProcId {
                    pid,
                    start_ticks: 0,
                })
                .collect()
        }
    }

    /// What the driver did to its source.
    #[derive(Default)]
    struct Log {
        forgotten: Vec<u32>,
        pauses: Vec<Duration>,
        added: Vec<std::path::PathBuf>,
        removed: Vec<usize>,
    }

    /// Replays batches of events, one batch per poll; then, with `on_empty`,
    /// acts once (a process exits, a signal arrives).
    struct Replay {
        batches: VecDeque<Vec<CallEvent>>,
        log: Rc<RefCell<Log>>,
        on_empty: Option<Box<dyn FnMut()>>,
        trap_cost: Option<TrapCost>,
    }

    impl Source for Replay {
        fn poll(&mut self, out: &mut Vec<CallEvent>) {
            match self.batches.pop_front() {
                Some(b) => out.extend(b),
                None => {
                    if let Some(mut f) = self.on_empty.take() {
                        f();
                    }
                }
            }
        }
        fn lost(&self) -> Lost {
            Lost::default()
        }
        fn cost(&self) -> Cost {
            Cost::default()
        }
        fn add_callers(&mut self, _: &[(u32, u64)]) {}
        fn forget_process(&mut self, tgid: u32) {
            self.log.borrow_mut().forgotten.push(tgid);
        }
        fn forget_callers(&mut self, _: u32) {}
        fn attached(&self) -> bool {
            true
        }
        fn pause(&mut self, drain: Duration) {
            self.log.borrow_mut().pauses.push(drain);
        }
        fn resume(&mut self) -> Result<(), TraceError> {
            Ok(())
        }
        fn set_floor(&mut self, _: bool) {}
        fn trap(&self) -> Option<TrapCost> {
            self.trap_cost
        }
        fn add_binary(&mut self, _: &[FuncSpec], sites: BinarySites) -> Result<usize, TraceError> {
            let mut log = self.log.borrow_mut();
            log.added.push(sites.binary);
            Ok(log.added.len() - 1)
        }
        fn remove_binary(&mut self, index: usize) {
            self.log.borrow_mut().removed.push(index);
        }
    }

    fn call(tgid: u32, goid: u64) -> CallEvent {
        CallEvent {
            tgid,
            proc_start_ns: 0,
            ret_ip: 0,
            goid,
            func_id: 0,
            start_ns: goid,
            duration_ns: 1000,
            bytes_in: Some(4096),
            bytes_out: Some(1000),
            error: false,
            stack: vec![],
            ..Default::default()
        }
    }

    fn driver<'a>(os: &'a FakeOs, named: &[u32], binary: bool) -> Driver<'a> {
        let funcs = crate::probe::catalog::entries()
            .into_iter()
            .take(1)
            .map(|e| crate::stats::FuncMeta {
                function: e.symbol(),
                entry: e,
                target: 0,
                sinks: false,
            })
            .collect();
        Driver::new(Parts {
            os,
            stop: Arc::new(AtomicBool::new(false)),
            counts: Counts::new(Aggregator::new(funcs, crate::stats::Rules::DEFAULT)),
            sym: ProcSymbols::new(&[], HashMap::new(), false),
            named: named
                .iter()
                .map(|&pid| TargetInfo {
                    pid,
                    binary: "/srv/app".into(),
                    go_version: "go1.27.3".into(),
                    ..TargetInfo::default()
                })
                .collect(),
            binary_target: binary.then(|| BinaryTarget {
                wanted: Wanted::binary(Path::new("/srv/app")),
                binaries: vec![super::super::targets::BinaryName {
                    name: "/srv/app".into(),
                    go_version: "go1.27.3".into(),
                    module_version: None,
                    build_id: None,
                    file: None,
                }],
            }),
            duty: None,
            epoch: Instant::now(),
            deadline: None,
            command: None,
            pace: Pace {
                poll_interval: Duration::from_millis(1),
                scan_interval: Duration::from_millis(1),
                alternate: None,
                timing: false,
            },
            correct: true,
            follow: None,
            keep: None,
            say: false,
        })
    }

    /// Targets `pids` that live until `batches` are replayed, and the log
    /// of what the driver did to the source.
    fn until_exit(
        os: &FakeOs,
        pids: &[u32],
        batches: Vec<Vec<CallEvent>>,
    ) -> (Replay, Rc<RefCell<Log>>) {
        os.alive.borrow_mut().extend(pids);
        let log = Rc::new(RefCell::new(Log::default()));
        let alive = Rc::clone(&os.alive);
        let src = Replay {
            batches: batches.into(),
            log: Rc::clone(&log),
            on_empty: Some(Box::new(move || alive.borrow_mut().clear())),
            trap_cost: None,
        };
        (src, log)
    }

    #[test]
    fn the_session_ends_when_its_targets_exit_and_their_calls_under_way_are_forgotten() {
        let os = FakeOs::default();
        // Both targets exit once their calls are replayed.
        let (mut src, log) = until_exit(
            &os,
            &[7, 8],
            vec![vec![call(7, 1), call(8, 2)], vec![call(7, 1)]],
        );
        let mut d = driver(&os, &[7, 8], false);
        d.run(&mut src, None).unwrap();
        let r = d.counts.session.report(d.targets(), 1.0, Lost::default());
        assert_eq!(r.totals.calls, 3, "every replayed call counted");
        assert_eq!(r.goroutines.len(), 2);
        let mut forgotten = log.borrow().forgotten.clone();
        forgotten.sort_unstable();
        assert_eq!(forgotten, vec![7, 8], "each exited target forgotten once");
        assert_eq!(
            log.borrow().pauses,
            vec![STOP_DRAIN],
            "a clean stop at the end"
        );
        assert_eq!(d.ended_by, Some(Ending::TargetsExited));
    }

    #[test]
    fn a_librarys_internal_work_and_the_calls_inside_it_are_counted_nowhere() {
        // Function 1 is pgzip's block compressor, on a goroutine of its
        // own; function 2 klauspost's flate writer, which it drives (inside
        // it: outer 1) and which goroutine 1 also calls for a payload of
        // its own.
        let meta = |symbol: &str| {
            let e = crate::probe::catalog::entries()
                .into_iter()
                .find(|e| e.symbol() == symbol)
                .unwrap();
            crate::stats::FuncMeta {
                function: e.symbol(),
                entry: e,
                target: 0,
                sinks: false,
            }
        };
        let block = meta("github.com/klauspost/pgzip.(*Writer).compressBlock");
        assert_eq!(block.entry.role, crate::probe::catalog::Role::Internal);
        let os = FakeOs::default();
        let mut internal = call(7, 2);
        internal.func_id = 1;
        let mut driven = call(7, 2);
        driven.func_id = 2;
        driven.outer = Some(1);
        let mut own = call(7, 1);
        own.func_id = 2;
        let (mut src, _) = until_exit(&os, &[7], vec![vec![driven, internal, own]]);
        let mut d = driver(&os, &[7], false);
        let mut funcs = vec![d.counts.session.function(0).unwrap().clone()];
        funcs.push(block);
        funcs.push(meta("github.com/klauspost/compress/flate.(*Writer).Write"));
        d.counts.session.set_functions(&funcs);
        d.run(&mut src, None).unwrap();
        let r = d.counts.session.report(d.targets(), 1.0, Lost::default());
        assert_eq!(r.totals.calls, 1, "goroutine 1's own call only");
        assert_eq!(r.goroutines.len(), 1);
        assert_eq!(r.goroutines[0].goid, 1);
        let names: Vec<&str> = r.functions.iter().map(|f| f.function.as_str()).collect();
        assert_eq!(
            names,
            ["github.com/klauspost/compress/flate.(*Writer).Write"]
        );
    }

    #[test]
    fn the_duration_runs_from_the_epoch_to_the_stop() {
        let os = FakeOs::default();
        os.alive.borrow_mut().insert(7);
        let log = Rc::new(RefCell::new(Log::default()));
        let mut src = Replay {
            batches: VecDeque::from([vec![call(7, 1)]]),
            log: Rc::clone(&log),
            on_empty: None,
            trap_cost: None,
        };
        let mut d = driver(&os, &[7], false);
        let asked = Duration::from_millis(30);
        d.deadline = Some(d.epoch + asked);
        d.run(&mut src, None).unwrap();
        assert_eq!(d.ended_by, Some(Ending::Duration));
        let traced = d.traced();
        assert!(traced >= asked, "{traced:?}");
        // The stop ends the time traced: what comes after is not counted.
        std::thread::sleep(Duration::from_millis(5));
        assert_eq!(d.traced(), traced);
        assert_eq!(log.borrow().pauses, vec![STOP_DRAIN]);
    }

    #[test]
    fn the_loop_takes_the_sources_traps_out_of_calls_unless_told_not_to() {
        // On goroutine 1, an inner call (5 us) inside an outer one (10 us,
        // the inner's 2 traps inside); on goroutine 2, a call of 3 us with
        // 4 traps inside. At 1 us a trap: the outer call is 8 us, the
        // other keeps its 3 us, uncorrected.
        let batch = || {
            let mut inner = call(7, 1);
            inner.start_ns = 2_000;
            inner.duration_ns = 5_000;
            inner.outer = Some(0);
            let mut outer = call(7, 1);
            outer.start_ns = 1_000;
            outer.duration_ns = 10_000;
            outer.traps_inside = 2;
            let mut short = call(7, 2);
            short.duration_ns = 3_000;
            short.traps_inside = 4;
            vec![vec![inner], vec![outer, short]]
        };
        for correct in [true, false] {
            let os = FakeOs::default();
            let (mut src, _) = until_exit(&os, &[7], batch());
            src.trap_cost = Some(TrapCost {
                stepped_ns: 1_000,
                emulated_ns: 1_000,
            });
            let mut d = driver(&os, &[7], false);
            if !correct {
                d.corrector = None;
            }
            d.run(&mut src, None).unwrap();
            let r = d.counts.session.report(d.targets(), 1.0, Lost::default());
            let f = r.functions.iter().find(|f| !f.inner).unwrap();
            let inner = r.functions.iter().find(|f| f.inner).unwrap();
            assert_eq!(inner.latency_ns.max, 5_000);
            assert_eq!(f.traps_inside, 6);
            if correct {
                assert_eq!((f.time_ns, f.latency_ns.max), (11_000, 8_000));
                assert_eq!((f.correction_ns, f.uncorrected), (2_000, 1));
            } else {
                assert_eq!((f.time_ns, f.latency_ns.max), (13_000, 10_000));
                assert_eq!((f.correction_ns, f.uncorrected), (0, 0));
            }
        }
    }

    /// Keeps every interval report.
    #[derive(Default)]
    struct Kept(Vec<IntervalReport>);

    impl IntervalSink for Kept {
        fn interval(&mut self, r: &IntervalReport) -> bool {
            self.0.push(r.clone());
            true
        }
    }

    #[test]
    fn each_interval_reports_its_own_calls_and_together_they_are_the_whole_run() {
        let os = FakeOs::default();
        os.alive.borrow_mut().insert(7);
        let log = Rc::new(RefCell::new(Log::default()));
        let alive = Rc::clone(&os.alive);
        let batches = vec![
            vec![call(7, 1), call(7, 2)],
            vec![call(7, 3)],
            vec![call(7, 1), call(7, 4), call(7, 5)],
        ];
        let mut src = Replay {
            batches: batches.clone().into(),
            log: Rc::clone(&log),
            on_empty: Some(Box::new(move || alive.borrow_mut().clear())),
            trap_cost: None,
        };
        let mut kept = Kept::default();
        let mut d = driver(&os, &[7], false);
        // Every poll ends an interval.
        d.counts.intervals = Some(Intervals::new(Duration::ZERO, &d.counts.session, &mut kept));
        d.run(&mut src, None).unwrap();
        let total = d
            .counts
            .session
            .report(d.targets(), 1.0, Lost::default())
            .totals
            .calls;
        drop(d);
        let calls: Vec<u64> = kept.0.iter().map(|r| r.totals.calls).collect();
        let with_calls: Vec<u64> = calls.iter().copied().filter(|&c| c > 0).collect();
        assert_eq!(with_calls, vec![2, 1, 3], "each interval its own calls");
        assert_eq!(calls.iter().sum::<u64>(), total);
        assert_eq!(total, 6);
        for r in &kept.0 {
            assert_eq!(r.kind, "interval");
            let per_function: u64 = r.functions.iter().map(|f| f.counters.calls).sum();
            assert_eq!(per_function, r.totals.calls);
            assert!(r.time.ends_with('Z') && r.time.contains('T'), "{}", r.time);
        }
    }

    #[test]
    fn several_targets_are_broken_down_by_process_and_add_up_to_the_totals() {
        let os = FakeOs::default();
        let (mut src, _) = until_exit(
            &os,
            &[7, 8],
            vec![vec![call(7, 1), call(8, 1), call(8, 2)], vec![call(8, 3)]],
        );
        let mut d = driver(&os, &[7, 8], false);
        d.counts.targets = Breakdown::like(&d.counts.session);
        d.run(&mut src, None).unwrap();
        let per = d.counts.targets.report(1.0);
        let calls: Vec<(u32, u64)> = per.iter().map(|t| (t.pid, t.totals.calls)).collect();
        assert_eq!(calls, vec![(7, 1), (8, 3)]);
        let r = d.counts.session.report(d.targets(), 1.0, Lost::default());
        assert_eq!(r.totals.calls, 4);
        assert_eq!(r.functions.len(), 1, "one function across both targets");
        for t in &per {
            assert_eq!(t.functions.len(), 1);
            assert_eq!(t.functions[0].counters.calls, t.totals.calls);
        }
    }

    #[test]
    fn binary_mode_lists_every_process_seen_and_stops_on_the_flag() {
        let os = FakeOs::default();
        os.alive.borrow_mut().extend([20, 21]);
        os.running.borrow_mut().extend([20, 21]);
        let log = Rc::new(RefCell::new(Log::default()));
        let mut d = driver(&os, &[], true);
        let stop = Arc::clone(&d.stop);
        let mut src = Replay {
            // Only 20 calls; 21 runs the binary but makes no call.
            batches: VecDeque::from([vec![call(20, 1)], vec![], vec![]]),
            log: Rc::clone(&log),
            on_empty: Some(Box::new(move || stop.store(true, Ordering::SeqCst))),
            trap_cost: None,
        };
        d.run(&mut src, None).unwrap();
        let pids: Vec<u32> = d.targets().iter().map(|t| t.pid).collect();
        assert_eq!(
            pids,
            vec![20, 21],
            "processes without calls are targets too"
        );
        assert!(log.borrow().forgotten.is_empty(), "nothing exited");
        assert_eq!(log.borrow().pauses, vec![STOP_DRAIN]);
        assert_eq!(d.ended_by, Some(Ending::Signal));
    }

    #[test]
    fn binary_mode_lists_the_last_exited_targets_and_counts_the_others() {
        let os = FakeOs::default();
        let n = MAX_EXITED_LISTED as u32 + 44;
        // n processes, each with a call, then gone; one that still runs.
        os.alive.borrow_mut().insert(9999);
        let mut d = driver(&os, &[], true);
        d.counts.targets = Breakdown::like(&d.counts.session);
        let mut news = Vec::new();
        for pid in 1..=n {
            d.event(&call(pid, 1), &mut news);
        }
        d.event(&call(9999, 1), &mut news);
        let log = Rc::new(RefCell::new(Log::default()));
        let mut src = Replay {
            batches: VecDeque::new(),
            log,
            on_empty: None,
            trap_cost: None,
        };
        d.forget_exited(&mut src);
        let pids: Vec<u32> = d.targets().iter().map(|t| t.pid).collect();
        assert_eq!(pids.len(), MAX_EXITED_LISTED + 1);
        // The earliest went; the latest and the live one stay.
        assert_eq!(pids[0], 45);
        assert!(pids.contains(&9999));
        let outcome = d.finish(
            Lost::default(),
            &Targets::Binary("/srv/app".into()),
            &Sampled {
                on: Duration::ZERO,
                windows: 1,
                factor: None,
                cost: Cost::default(),
            },
        );
        // Every call is in the totals.
        assert_eq!(outcome.report.totals.calls, u64::from(n) + 1);
        // Each listed target's own counts, and no other's.
        let broken: Vec<u32> = outcome.report.per_target.iter().map(|t| t.pid).collect();
        assert_eq!(broken, pids);
        // And the goroutines of the listed ones only: the others' are dropped.
        let mut of: Vec<u32> = outcome.report.goroutines.iter().map(|g| g.pid).collect();
        of.sort_unstable();
        assert_eq!(of, pids);
        assert_eq!(outcome.report.goroutines_dropped, 44);
        assert!(
            outcome
                .report
                .warnings
                .iter()
                .any(|w| w.starts_with("44 earlier targets that exited are not listed")),
            "{:?}",
            outcome.report.warnings
        );
    }
}
