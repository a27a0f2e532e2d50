//! The only privileged code: loads gozt's BPF programs, attaches them at each
//! planned function's entry and RET sites, and hands completed calls to its
//! caller, who polls. Everything above this module consumes [`CallEvent`]s
//! and never touches BPF; what it gets here is plain data ([`FuncSpec`],
//! [`BinarySites`]), never the probe plan itself.
//!
//! Stages, one module each: [`load`] (open, size, configure, load),
//! [`attach`] (links, RETs before entries), [`ring`] (events), [`inflight`]
//! (calls under way), [`callers`] (the known-callers cache), [`calibrate`]
//! (what a trap costs).

pub mod attach;
pub mod calibrate;
pub mod callers;
pub mod events;
pub mod inflight;
pub mod kernel;
pub mod load;
pub mod ring;
pub mod skel;

use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use libbpf_rs::{Link, MapCore, MapFlags, OpenObject};

pub use attach::{BinarySites, RequestSites, SinkSite};
pub use calibrate::gozt_calibration_target;
use callers::CallerSlots;
use inflight::UnderWay;
pub use kernel::AttachMethod;
pub use load::{FuncSpec, RequestSpec};
use ring::Ring;

use crate::base::exit::Exit;
use crate::base::gozt_h::GOZT_COOKIE_KNOWN;
use crate::base::privileges::{Op, Privileges};
use crate::event::{CallEvent, Lost, TrapCost};
use skel::GoztSkel;

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("must run as root (or with CAP_BPF and CAP_PERFMON) to load BPF programs")]
    NotRoot,
    #[error(
        "kernel has no BTF (/sys/kernel/btf/vmlinux missing): gozt's CO-RE programs cannot load"
    )]
    NoBtf,
    #[error("loading BPF programs failed: {0}")]
    Load(String),
    #[error("attaching uprobes to {path} failed: {reason}")]
    Attach { path: String, reason: String },
    #[error("this kernel cannot run gozt: {0}")]
    Kernel(String),
    #[error("{0}")]
    BpfDenied(String),
    #[error("--btf {path}: {reason}")]
    BtfFile { path: String, reason: String },
}

impl TraceError {
    /// `op` refused with `errno` (EPERM, EACCES) for what gozt holds (a
    /// capability it lacks, a seccomp filter): said as such. Else None (the
    /// verifier's EACCES, say, is said as it came).
    pub fn refused(errno: i32, op: Op) -> Option<TraceError> {
        if errno != libc::EPERM && errno != libc::EACCES {
            return None;
        }
        let p = Privileges::read();
        p.explains(op)
            .then(|| TraceError::BpfDenied(p.refusal(op, errno)))
    }

    /// [`TraceError::refused`] for a libbpf error (its PermissionDenied,
    /// taken as EPERM).
    pub fn refused_libbpf(e: &libbpf_rs::Error, op: Op) -> Option<TraceError> {
        if e.kind() != libbpf_rs::ErrorKind::PermissionDenied {
            return None;
        }
        TraceError::refused(libc::EPERM, op)
    }

    /// How gozt exits with this error.
    pub fn exit(&self) -> Exit {
        match self {
            TraceError::NotRoot => Exit::NotRoot,
            TraceError::NoBtf | TraceError::BtfFile { .. } => Exit::NoBtf,
            TraceError::Kernel(_) => Exit::Kernel,
            TraceError::BpfDenied(_) => Exit::BpfDenied,
            TraceError::Load(_) | TraceError::Attach { .. } => Exit::Bpf,
        }
    }
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Options {
    /// Goroutines (runtime.g) with a record, over all traced processes:
    /// about 500 bytes each in the kernel, allocated as they are seen.
    pub inflight_entries: u32,
    pub ringbuf_bytes: u32,
    /// Probe sites over all binaries (the `sites` map, for kernels without
    /// attach cookies).
    pub site_entries: u32,
    /// Slots of the known-callers cache (a power of two, 8 bytes each).
    pub caller_slots: u32,
    /// Calls under way longer than this when counted at the end are
    /// `aged_out` (left by a panic or runtime.Goexit), the others
    /// `in_flight_at_exit`.
    pub max_call_age: Duration,
    /// Attach the empty floor program instead (benchmarks: the cost of the
    /// traps alone).
    pub floor: bool,
    /// Keep the kernel's BPF run-time statistics (the cost of gozt's
    /// programs, and the trap count, for `--max-overhead`).
    pub stats: bool,
    /// Pass libbpf's own log on to stderr (`-v`); without, it is dropped.
    pub verbose: bool,
    /// CO-RE against this BTF file instead of /sys/kernel/btf/vmlinux.
    pub btf: Option<std::path::PathBuf>,
    /// Attach by this method (`GOZT_ATTACH`) instead of the best one.
    pub attach: Option<String>,
    /// Act as on a kernel without BTF (`GOZT_SIMULATE_NO_BTF`, tests).
    pub simulate_no_btf: bool,
    /// Classic uprobes one per site, never grouped in a tracefs event
    /// (`GOZT_PER_SITE`, tests and benchmarks).
    pub per_site: bool,
    /// Room in the function table for functions of binaries added while
    /// tracing ([`Tracer::add_binary`]).
    pub spare_funcs: u32,
    /// Trace each payload's downstream write (the write tracepoints).
    pub writes: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inflight_entries: 1 << 18,
            ringbuf_bytes: 8 << 20,
            site_entries: 1,
            caller_slots: 8192,
            max_call_age: Duration::from_secs(60),
            floor: false,
            stats: false,
            verbose: false,
            btf: None,
            attach: None,
            simulate_no_btf: false,
            per_site: false,
            spare_funcs: 0,
            writes: false,
        }
    }
}

/// What the probes have cost the targets so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Traps taken at gozt's sites (entry and RET, matched or not).
    pub traps: u64,
    /// Of them, traps at an emulated branch (entries, sinks: cheaper).
    pub emulated: u64,
    /// Time gozt's programs ran, from the kernel's BPF statistics (0 where
    /// the kernel keeps none).
    pub bpf_run_ns: u64,
}

/// The programs' counters, summed over CPUs.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub ringbuf_full: u64,
    pub inflight_full: u64,
    pub ret_unmatched: u64,
    pub ret_dropped: u64,
    pub ret_stopping: u64,
    pub entry_repeated: u64,
    pub entry_abandoned: u64,
    pub read_failed: u64,
    pub traps: u64,
    pub frames_walked: u64,
    pub site_unknown: u64,
    /// Entry traps at an emulated branch (of all traps).
    pub traps_emulated: u64,
    /// `entry_abandoned` by what the new entry found: its g running another
    /// goroutine, a shallower call's frame gone, a call at its depth or
    /// deeper left without a RET.
    pub abandoned_goroutine: u64,
    pub abandoned_caller: u64,
    pub abandoned_frame: u64,
    /// Requests served by net/http (request sites' entries).
    pub requests: u64,
}

/// The last call an entry found abandoned, and that entry (`GOZT_TIMING`):
/// function ids, frame depths (bytes below the stack's top), and where
/// g.sched.pc lay from the new entry's trap.
#[derive(Debug, Clone, Copy)]
pub struct Abandoned {
    pub func_id: u32,
    pub depth: u64,
    pub by_func_id: u32,
    pub by_depth: u64,
    pub sched_pc_from_trap: i64,
}

/// Loaded programs, and their links while attached.
pub struct Tracer<'obj> {
    skel: GoztSkel<'obj>,
    method: AttachMethod,
    ring: Ring<'obj>,
    /// Each binary's links (by index in `sites`) while attached.
    links: Vec<Vec<Link>>,
    /// Whether the probes are in place (a binary detached while the session
    /// runs leaves none of its own).
    on: bool,
    /// Where classic uprobes' grouped events are defined, once found.
    tracefs: Option<events::Tracefs>,
    /// Entries of the function table (ids below it can be added).
    funcs_capacity: u32,
    /// Classic uprobes: each binary's grouped event, by index in `sites`
    /// (None: one uprobe per site). Kept while detached (defined, no
    /// breakpoint is placed); removed after the links (field order).
    events: Vec<Option<events::Event>>,
    notes: Vec<String>,
    attach_parts: [Duration; 3],
    /// Classic uprobes one per site even where tracefs is there.
    per_site: bool,
    sites: Vec<BinarySites>,
    floor: bool,
    callers: CallerSlots,
    stats: Option<OwnedFd>,
    max_call_age: Duration,
    /// Calls found under way when their records were removed (process
    /// exit, the end of a window, the end).
    ended_under_way: UnderWay,
    /// What one trap costs here, as last timed, and when; every figure
    /// timed so far.
    trap: Option<TrapCost>,
    calibrated: Option<Instant>,
    calibrations: Vec<TrapCost>,
    /// The write tracepoints' links while attached, when downstream writes
    /// are traced (`writes`: cleared when they cannot be).
    writes: bool,
    write_links: Vec<Link>,
}

/// The size of a key of the `sites` map.
const SITE_KEY: usize = std::mem::size_of::<skel::types::gozt_site_key>();
const _: () = assert!(SITE_KEY == 16, "gozt_site_key is two u64");

/// How often the trap cost is timed again while calls with traps inside
/// them come in.
pub const RECALIBRATE: Duration = Duration::from_secs(10);

/// Trap-cost timings kept for `GOZT_TIMING`'s report: the latest.
const CALIBRATIONS_KEPT: usize = 1024;

impl<'obj> Tracer<'obj> {
    /// Checks privileges, then opens, sizes, configures and loads the
    /// programs for `funcs` (indexed by their ids).
    pub fn load(
        storage: &'obj mut MaybeUninit<OpenObject>,
        funcs: &[FuncSpec],
        opts: &Options,
    ) -> Result<Tracer<'obj>, TraceError> {
        load::check_privileges(opts.btf.as_deref(), opts.simulate_no_btf)?;
        // Before the kernel is probed: its failed attempts stay quiet.
        load::libbpf_log(opts.verbose);
        let method = kernel::probe(opts.btf.as_deref(), opts.attach.as_deref())?;
        let callers = CallerSlots::new(opts.caller_slots);
        // With a budget, gozt's own programs' run time counts against it,
        // and the statistics' run count is the number of traps; without them
        // the programs count traps themselves.
        let stats = opts.stats.then(calibrate::enable_bpf_stats).flatten();
        let count_traps = opts.stats && stats.is_none();
        let funcs_capacity = funcs.iter().map(|f| f.id + 1).max().unwrap_or(1) + opts.spare_funcs;
        let skel = load::load(
            storage,
            funcs,
            (opts, funcs_capacity),
            method,
            callers.slots(),
            count_traps,
        )?;
        let ring = Ring::new(&skel).map_err(|e| TraceError::Load(e.to_string()))?;
        Ok(Tracer {
            skel,
            method,
            ring,
            links: Vec::new(),
            on: false,
            tracefs: None,
            funcs_capacity,
            events: Vec::new(),
            notes: Vec::new(),
            attach_parts: [Duration::ZERO; 3],
            per_site: opts.per_site,
            sites: Vec::new(),
            floor: opts.floor,
            callers,
            stats,
            max_call_age: opts.max_call_age,
            ended_under_way: UnderWay::default(),
            trap: None,
            calibrated: None,
            calibrations: Vec::new(),
            writes: opts.writes && !opts.floor,
            write_links: Vec::new(),
        })
    }

    /// Whether payloads' downstream writes are traced (the write
    /// tracepoints attached, or to be).
    pub fn writes(&self) -> bool {
        self.writes
    }

    /// Attaches the write tracepoints, if wanted and not in place; where
    /// this kernel has none, downstream writes are not traced (a note).
    fn attach_writes(&mut self) {
        if !self.writes || !self.write_links.is_empty() {
            return;
        }
        let progs = &self.skel.progs;
        // Where no tracefs is mounted (a fresh node, a container), libbpf
        // cannot read the tracepoints' ids: they are read from a tracefs
        // gozt mounts for itself, and attached through perf events.
        let mut tracefs = None;
        let links = [
            (&progs.gozt_write_enter, "sys_enter_write"),
            (&progs.gozt_write_exit, "sys_exit_write"),
        ]
        .into_iter()
        .map(|(p, name)| {
            p.attach_tracepoint(libbpf_rs::TracepointCategory::Syscalls, name)
                .or_else(|e| {
                    // libbpf's error is said too where gozt's way fails.
                    let said = |ours: String| {
                        libbpf_rs::Error::from(std::io::Error::other(format!(
                            "{name}: {e}; through a tracefs of gozt's own: {ours}"
                        )))
                    };
                    let t = match &tracefs {
                        Some(t) => t,
                        None => tracefs.insert(
                            events::Tracefs::find_or_mount()
                                .ok_or_else(|| said("none could be mounted".into()))?,
                        ),
                    };
                    let fd = events::open_tracepoint(t, "syscalls", name)
                        .map_err(|io| said(io.to_string()))?;
                    let link = p.attach_perf_event(std::os::fd::AsRawFd::as_raw_fd(&fd))?;
                    // The link owns the descriptor now (libbpf closes it).
                    let _ = std::os::fd::IntoRawFd::into_raw_fd(fd);
                    Ok(link)
                })
        })
        .collect::<Result<Vec<Link>, libbpf_rs::Error>>();
        match links {
            Ok(links) => self.write_links = links,
            Err(e) => {
                self.writes = false;
                self.notes.push(format!(
                    "downstream writes not traced: the write tracepoints could not be attached ({e})"
                ));
            }
        }
    }

    /// How the programs attach on this kernel.
    pub fn method(&self) -> AttachMethod {
        self.method
    }

    /// Measures what one uprobe trap costs on this machine now (ns): the
    /// figure [`Tracer::trap_ns`] gives from now on.
    pub fn trap_cost(&mut self) -> Result<TrapCost, TraceError> {
        let cost = calibrate::trap_cost(&self.skel, self.method)?;
        self.trap = Some(cost);
        self.calibrated = Some(Instant::now());
        // The latest ones (every RECALIBRATE over days would add up).
        if self.calibrations.len() >= CALIBRATIONS_KEPT {
            self.calibrations.remove(0);
        }
        self.calibrations.push(cost);
        Ok(cost)
    }

    /// What one trap costs, as last timed (None: not timed).
    pub fn trap(&self) -> Option<TrapCost> {
        self.trap
    }

    /// The last call found abandoned, if any (`GOZT_TIMING`).
    pub fn last_abandoned(&self) -> Option<Abandoned> {
        let bss = self.skel.maps.bss_data.as_deref()?;
        (bss.abandoned_last_count > 0).then_some(Abandoned {
            func_id: bss.abandoned_last_func,
            depth: bss.abandoned_last_depth,
            by_func_id: bss.abandoned_last_by,
            by_depth: bss.abandoned_last_by_depth,
            sched_pc_from_trap: bss.abandoned_last_sched_off as i64,
        })
    }

    /// The trap costs timed so far (the latest CALIBRATIONS_KEPT), in ns,
    /// in order.
    pub fn calibrations(&self) -> &[TrapCost] {
        &self.calibrations
    }

    /// Attaches at `sites` (kept for later re-attachment). Classic uprobes
    /// go through one tracefs event per binary where tracefs is writable
    /// (with cookies: where every site lies in the segment at
    /// mm->start_code), else one perf uprobe per site.
    pub fn attach(&mut self, sites: Vec<BinarySites>) -> Result<(), TraceError> {
        let start = Instant::now();
        self.sites = sites;
        if self.method != AttachMethod::UprobeMulti && !self.per_site {
            self.define_events();
        }
        let defined = start.elapsed();
        self.fill_sites(0..self.sites.len())?;
        let filled = start.elapsed();
        self.reattach()?;
        self.attach_parts = [defined, filled - defined, start.elapsed() - filled];
        Ok(())
    }

    /// Each binary's sites as one tracefs uprobe event, where it can be:
    /// with cookies, every site must lie in the segment at mm->start_code.
    fn define_events(&mut self) {
        let Some(tracefs) = events::Tracefs::find_or_mount() else {
            self.notes
                .push("no tracefs could be had: one uprobe per site".to_string());
            return;
        };
        tracefs.remove_stale();
        self.tracefs = Some(tracefs);
        self.events = (0..self.sites.len())
            .map(|i| self.define_event(i))
            .collect();
    }

    /// Binary `i`'s grouped event, where it can have one.
    fn define_event(&mut self, i: usize) -> Option<events::Event> {
        let tracefs = self.tracefs.as_ref()?;
        let b = &self.sites[i];
        let grouped = !b.entries.is_empty()
            && (self.method == AttachMethod::UprobeAddress || b.code_start.is_some());
        if !grouped {
            return None;
        }
        let offsets = b.offsets_and_cookies().0;
        let defined = events::Event::define(tracefs, i, &b.binary, &offsets);
        defined
            .map_err(|e| {
                let b = &self.sites[i];
                self.notes.push(format!(
                    "{}: no grouped uprobe event ({e}): one uprobe per site",
                    b.binary.display()
                ));
            })
            .ok()
    }

    /// How long the last `attach` took to define the uprobe events, fill the
    /// sites map, and open the perf events or links.
    pub fn attach_parts(&self) -> [Duration; 3] {
        self.attach_parts
    }

    /// How many binaries' sites are grouped in one tracefs event each.
    pub fn grouped_events(&self) -> usize {
        self.events.iter().flatten().count()
    }

    /// What gozt should say with `-v`: how the attach went where it did not
    /// go the best way.
    pub fn notes(&self) -> &[String] {
        &self.notes
    }

    /// The `sites` map of classic uprobes that carry no site's cookie:
    /// without attach cookies, each site's cookie by (inode, file offset);
    /// in a binary's grouped event with cookies, by (binary index, offset
    /// from mm->start_code).
    fn fill_sites(&mut self, binaries: std::ops::Range<usize>) -> Result<(), TraceError> {
        let mut keys: Vec<u8> = Vec::new();
        let mut values: Vec<u8> = Vec::new();
        for i in binaries {
            for (key, cookie) in self.site_keys(i) {
                keys.extend_from_slice(bytemuck::bytes_of(&key));
                values.extend((cookie | GOZT_COOKIE_KNOWN).to_ne_bytes());
            }
        }
        let count = keys.len() / SITE_KEY;
        if count == 0 {
            return Ok(());
        }
        let map = &self.skel.maps.sites;
        let fail = |e: libbpf_rs::Error| TraceError::Load(format!("the sites map: {e}"));
        // One call for all (5.6+), else one each.
        if map
            .update_batch(&keys, &values, count as u32, MapFlags::ANY, MapFlags::ANY)
            .is_err()
        {
            for (k, v) in keys.chunks(SITE_KEY).zip(values.chunks(8)) {
                map.update(k, v, MapFlags::ANY).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Binary `i`'s keys in the `sites` map, with their cookies: none where
    /// its cookies come with the attach.
    fn site_keys(&self, i: usize) -> Vec<(skel::types::gozt_site_key, u64)> {
        let b = &self.sites[i];
        let grouped = self.events.get(i).is_some_and(Option::is_some);
        let files: Vec<(u64, u64)> = match (self.method, b.code_start) {
            (AttachMethod::UprobeAddress, _) => b.inodes.iter().map(|&ino| (ino, 0)).collect(),
            (AttachMethod::UprobeCookie, Some(start)) if grouped => vec![(i as u64, start)],
            _ => return Vec::new(),
        };
        let (offsets, cookies) = b.offsets_and_cookies();
        let mut out = Vec::with_capacity(files.len() * offsets.len());
        for &(file, start) in &files {
            for (&offset, &cookie) in offsets.iter().zip(&cookies) {
                let key = skel::types::gozt_site_key {
                    file,
                    offset: offset as u64 - start,
                };
                out.push((key, cookie));
            }
        }
        out
    }

    /// Attaches at one more binary's sites while tracing (a new executable
    /// that matches --binary/--name), its functions' `specs` first (ids
    /// below the function table's room; those of an earlier copy are there
    /// already). Returns its index for [`Tracer::remove_binary`]. While
    /// detached (a duty cycle's pause) it goes in at the next attach.
    pub fn add_binary(
        &mut self,
        specs: &[FuncSpec],
        sites: BinarySites,
    ) -> Result<usize, TraceError> {
        if let Some(f) = specs.iter().find(|f| f.id >= self.funcs_capacity) {
            return Err(TraceError::Attach {
                path: sites.binary.display().to_string(),
                reason: format!(
                    "gozt's function table is full ({} functions; function {} does not fit)",
                    self.funcs_capacity, f.id
                ),
            });
        }
        for f in specs {
            let cfg = f.config();
            self.skel
                .maps
                .funcs
                .update(&f.id.to_ne_bytes(), bytemuck::bytes_of(&cfg), MapFlags::ANY)
                .map_err(|e| TraceError::Load(format!("the function table: {e}")))?;
        }
        let i = self.sites.len();
        self.sites.push(BinarySites::default());
        self.put_binary(i, sites)?;
        Ok(i)
    }

    /// Attaches at `sites` in slot `i`, one left empty (a copy left out of
    /// the first attach, or one detached); its functions are in the table.
    pub fn put_binary(&mut self, i: usize, sites: BinarySites) -> Result<(), TraceError> {
        debug_assert!(self.sites[i].entries.is_empty());
        self.sites[i] = sites;
        if self.method != AttachMethod::UprobeMulti && !self.per_site {
            let event = self.define_event(i);
            if self.events.len() <= i {
                self.events.resize_with(i + 1, || None);
            }
            self.events[i] = event;
        }
        let added = self.fill_sites(i..i + 1).and_then(|()| {
            if self.on {
                let links = self.attach_one(i)?;
                if self.links.len() <= i {
                    self.links.resize_with(i + 1, Vec::new);
                }
                self.links[i] = links;
            }
            Ok(())
        });
        if let Err(e) = added {
            self.remove_binary(i);
            return Err(e);
        }
        Ok(())
    }

    /// Detaches binary `i` (one whose last process has exited): its links,
    /// its grouped event and its keys in the `sites` map go; its slot stays
    /// empty.
    pub fn remove_binary(&mut self, i: usize) {
        if let Some(links) = self.links.get_mut(i) {
            attach::detach(std::mem::take(links));
        }
        let map = &self.skel.maps.sites;
        for (key, _) in self.site_keys(i) {
            let _ = map.delete(bytemuck::bytes_of(&key));
        }
        if let Some(e) = self.events.get_mut(i) {
            *e = None;
        }
        if let Some(b) = self.sites.get_mut(i) {
            *b = BinarySites::default();
        }
    }

    /// Attaches the program at binary `i`'s sites.
    fn attach_one(&self, i: usize) -> Result<Vec<Link>, TraceError> {
        let prog = self.program(self.floor);
        let b = &self.sites[i];
        let event = self.events.get(i).and_then(Option::as_ref);
        match self.method {
            AttachMethod::UprobeMulti => attach::attach_multi(prog, b),
            AttachMethod::UprobeCookie => attach::attach_classic(prog, (i, b), event, true),
            AttachMethod::UprobeAddress => attach::attach_classic(prog, (i, b), event, false),
        }
    }

    /// Attaches again at the sites of the last `attach`, if detached.
    pub fn reattach(&mut self) -> Result<(), TraceError> {
        if self.on {
            return Ok(());
        }
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.stopping = 0;
            bss.attaching = 1;
        }
        self.links = (0..self.sites.len())
            .map(|i| self.attach_one(i))
            .collect::<Result<_, _>>()?;
        self.attach_writes();
        self.on = true;
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.attaching = 0;
        }
        Ok(())
    }

    /// The program at the sites for this method: gozt's, or the floor
    /// (the floor's cookies are ignored, so one classic floor serves both
    /// classic methods).
    fn program(&self, floor: bool) -> &libbpf_rs::ProgramMut<'obj> {
        let progs = &self.skel.progs;
        match (self.method, floor) {
            (AttachMethod::UprobeMulti, false) => &progs.gozt_site,
            (AttachMethod::UprobeMulti, true) => &progs.gozt_floor,
            (AttachMethod::UprobeCookie, false) => &progs.gozt_site_cookie,
            (AttachMethod::UprobeAddress, false) => &progs.gozt_site_ip,
            (_, true) => &progs.gozt_floor_classic,
        }
    }

    pub fn attached(&self) -> bool {
        self.on
    }

    /// Stops cleanly: entries record nothing more, calls under way get up
    /// to `drain` to return, then every link goes. RETs of calls begun after
    /// the entries went off are not counted as unmatched.
    pub fn stop(&mut self, drain: Duration) {
        if !self.on {
            return;
        }
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.stopping = 1;
        }
        // Only the goroutines with calls under way are watched as they drain.
        let deadline = Instant::now() + drain;
        let map = &self.skel.maps.inflight;
        let mut waiting = if drain.is_zero() {
            Vec::new()
        } else {
            inflight::young(map, &inflight::keys(map), self.max_call_age)
        };
        while !waiting.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(2));
            waiting = inflight::young(map, &waiting, self.max_call_age);
        }
        attach::detach(
            std::mem::take(&mut self.links)
                .into_iter()
                .flatten()
                .chain(std::mem::take(&mut self.write_links))
                .collect(),
        );
        self.on = false;
    }

    /// Appends the calls completed since the last poll to `out`.
    pub fn poll(&mut self, out: &mut Vec<CallEvent>) {
        let from = out.len();
        self.ring.drain(out);
        // Once timed (before the first event), the trap cost is timed again
        // every RECALIBRATE while calls with traps inside them come in: the
        // machine's load changes.
        let due = self.calibrated.is_some_and(|t| t.elapsed() >= RECALIBRATE);
        if due && out[from..].iter().any(|e| e.traps_inside > 0) && self.trap_cost().is_err() {
            // Kept as last timed; tried again after as long.
            self.calibrated = Some(Instant::now());
        }
    }

    /// The programs' counters, summed over CPU slots.
    pub fn counters(&self) -> Counters {
        let mut c = Counters::default();
        if let Some(bss) = self.skel.maps.bss_data.as_deref() {
            for s in &bss.counters {
                c.ringbuf_full += s.ringbuf_full;
                c.inflight_full += s.inflight_full;
                c.ret_unmatched += s.ret_unmatched;
                c.ret_dropped += s.ret_dropped;
                c.ret_stopping += s.ret_stopping;
                c.entry_repeated += s.entry_repeated;
                c.entry_abandoned += s.entry_abandoned;
                c.read_failed += s.read_failed;
                c.traps += s.traps;
                c.frames_walked += s.frames_walked;
                c.site_unknown += s.site_unknown;
                c.traps_emulated += s.traps_emulated;
                c.abandoned_goroutine += s.abandoned_goroutine;
                c.abandoned_caller += s.abandoned_caller;
                c.abandoned_frame += s.abandoned_frame;
                c.requests += s.requests;
            }
        }
        c
    }

    /// Losses so far, each counted once under one cause.
    pub fn lost(&self) -> Lost {
        let c = self.counters();
        Lost {
            ringbuf_full: c.ringbuf_full,
            inflight_full: c.inflight_full,
            read_failed: c.read_failed,
            aged_out: self.ended_under_way.old,
            abandoned: c.entry_abandoned,
            in_flight_at_exit: self.ended_under_way.young,
            unmatched_returns: c.ret_unmatched,
            repeated_entries: c.entry_repeated,
        }
    }

    /// What the probes have cost so far.
    pub fn cost(&self) -> Cost {
        if self.stats.is_some() {
            let (bpf_run_ns, traps) = calibrate::run_stats(self.program(false));
            Cost {
                traps,
                emulated: self.counters().traps_emulated,
                bpf_run_ns,
            }
        } else {
            let c = self.counters();
            Cost {
                traps: c.traps,
                emulated: c.traps_emulated,
                bpf_run_ns: 0,
            }
        }
    }

    /// Return addresses (pid, address) found to be callers': the programs
    /// stop walking frames there. A caller without a free slot only keeps
    /// its walks longer.
    pub fn add_callers(&mut self, found: &[(u32, u64)]) {
        for &(tgid, addr) in found {
            let Some((slot, tag)) = self.callers.place(tgid, addr) else {
                continue;
            };
            let _ = self.skel.maps.callers.update(
                &slot.to_ne_bytes(),
                &tag.to_ne_bytes(),
                MapFlags::ANY,
            );
        }
    }

    /// Forgets the callers named for `tgid`: another process has the pid.
    pub fn forget_callers(&mut self, tgid: u32) {
        for slot in self.callers.forget(tgid) {
            let _ = self.skel.maps.callers.update(
                &slot.to_ne_bytes(),
                &0u64.to_ne_bytes(),
                MapFlags::ANY,
            );
        }
    }

    /// Forgets the calls under way of a process that has exited (no
    /// program runs for it any more); they are counted as never returned.
    pub fn forget_process(&mut self, tgid: u32) {
        let n = inflight::remove(&self.skel.maps.inflight, Some(tgid), self.max_call_age);
        self.add_ended(n);
    }

    /// Once stopped: forgets every call under way, counting each.
    pub fn clear(&mut self) {
        debug_assert!(!self.on);
        let n = inflight::remove(&self.skel.maps.inflight, None, self.max_call_age);
        self.add_ended(n);
    }

    fn add_ended(&mut self, n: UnderWay) {
        self.ended_under_way.young += n.young;
        self.ended_under_way.old += n.old;
    }

    /// Benchmarks: makes the site program return at once (the floor), or
    /// trace again.
    pub fn set_floor(&mut self, floor: bool) {
        if let Some(bss) = self.skel.maps.bss_data.as_deref_mut() {
            bss.floor_now = u32::from(floor);
        }
    }
}
