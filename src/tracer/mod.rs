//! The only privileged code: loads gozt's BPF programs, attaches them at each
//! planned function's entry and RET sites (uprobe.multi links with the function
//! id as cookie), and streams completed calls to an [`EventSink`].
//!
//! Everything above this module consumes [`CallEvent`]s and never touches BPF.

pub mod skel;

use std::cell::RefCell;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::rc::Rc;
use std::time::{Duration, Instant};

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, RingBufferBuilder, UprobeMultiOpts};

use crate::catalog::{Loc, Point};
use crate::event::{CallEvent, Lost};
use crate::probe_plan::Probe;

use skel::types::{gozt_call, gozt_event, gozt_func, gozt_inflight};
use skel::GoztSkelBuilder;

/// Why tracing could not start.
#[derive(Debug, thiserror::Error)]
pub enum TraceError {
    #[error("gozt must run as root (or with CAP_BPF and CAP_PERFMON) to load BPF programs")]
    NotRoot,
    #[error(
        "kernel has no BTF (/sys/kernel/btf/vmlinux missing): gozt's CO-RE programs cannot load"
    )]
    NoBtf,
    #[error("loading BPF programs failed: {0}")]
    Load(String),
    #[error("attaching uprobes to {path} failed: {reason}")]
    Attach { path: String, reason: String },
}

/// Register index in Go's integer-argument order, or none.
fn reg_index(loc: Option<Loc>) -> u8 {
    match loc {
        Some(Loc::Reg(r)) => crate::abi::INT_REGS
            .iter()
            .position(|x| *x == r)
            .map_or(NONE, |i| i as u8),
        _ => NONE,
    }
}

const NONE: u8 = 0xff;
const IN_AT_RET: u8 = 0x1;
const EOF_IS_SUCCESS: u8 = 0x4;
const EV_ERROR: u32 = 0x1;
const EV_IN_VALID: u32 = 0x2;
const EV_OUT_VALID: u32 = 0x4;
/// GOZT_COOKIE_RET: set in the attach cookie of RET sites.
const COOKIE_RET: u64 = 1 << 32;

/// One attachment: a probe of one binary, for one process or all (`pid` None).
#[derive(Debug, Clone)]
pub struct Site {
    pub func_id: u32,
    pub probe: Probe,
    pub goid_offset: u64,
    pub stack_hi_offset: u64,
    pub sched_pc_offset: u64,
}

/// The probes of one binary, attached for `pid` (or every process running it).
#[derive(Debug, Clone)]
pub struct Attachment {
    pub binary: PathBuf,
    pub pid: Option<i32>,
    pub sites: Vec<Site>,
}

/// Tuning.
#[derive(Debug, Clone)]
pub struct Options {
    /// Goroutines with a record of calls in flight (one per runtime.g seen
    /// calling in the last second, about 500 bytes each in the kernel).
    pub inflight_entries: u32,
    pub ringbuf_bytes: u32,
    /// Slots of the known-callers cache (a power of two, 8 bytes each).
    pub caller_slots: u32,
    pub poll_interval: Duration,
    /// In-flight calls older than this (panics, Goexit) are dropped and counted.
    pub max_call_age: Duration,
    /// Attach the empty floor program instead (benchmarks: the cost of the
    /// traps alone).
    pub floor: bool,
    /// Switch between full tracing and the floor this often, saying when on
    /// stderr (benchmarks: both timed in one running target).
    pub alternate: Option<Duration>,
    /// Measure what one uprobe trap costs on this machine before attaching
    /// (reported through `EventSink::trap_cost`).
    pub calibrate: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            inflight_entries: 32768,
            ringbuf_bytes: 8 << 20,
            caller_slots: 8192,
            poll_interval: Duration::from_millis(50),
            max_call_age: Duration::from_secs(60),
            floor: false,
            alternate: None,
            calibrate: false,
        }
    }
}

/// What the session loop asks its driver between polls.
pub trait EventSink {
    fn event(&mut self, ev: CallEvent);
    /// Called after each poll with the loss counters so far; return false to
    /// stop tracing.
    fn keep_going(&mut self, lost: &Lost) -> bool;
    /// Called once everything is attached.
    fn attached(&mut self) {}
    /// The measured cost of one uprobe trap (with `Options::calibrate`).
    fn trap_cost(&mut self, _ns: f64) {}
    /// Called after each poll with what the probes have cost the targets so
    /// far: None detaches the probes (until it says otherwise); Some(d) has
    /// them attached, and the next poll comes within d.
    fn probes_wanted(&mut self, _cost: Cost) -> Option<Duration> {
        Some(Duration::MAX)
    }
    /// Return addresses (pid, address) found to be callers' since the last
    /// call: the programs stop walking frames there.
    fn new_callers(&mut self) -> Vec<(u32, u64)> {
        Vec::new()
    }
}

/// What the probes have cost the targets so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Cost {
    /// Traps taken at gozt's sites (entry and RET, matched or not).
    pub traps: u64,
    /// Time gozt's programs ran, from the kernel's BPF statistics (with
    /// `Options::calibrate`; 0 where the kernel keeps none).
    pub bpf_run_ns: u64,
}

/// Keeps the kernel's BPF run-time statistics on while held (dropping the
/// descriptor turns them off again unless somebody else holds one).
fn enable_bpf_stats() -> Option<OwnedFd> {
    // SAFETY: bpf_enable_stats takes a plain enum and returns a new
    // descriptor or a negative error; nothing else is touched.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    // SAFETY: a non-negative return is a descriptor we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Total run time and run count of `prog` so far, from the kernel's
/// statistics.
fn run_stats(prog: &impl AsFd) -> (u64, u64) {
    let mut info = libbpf_sys::bpf_prog_info::default();
    let mut len = std::mem::size_of::<libbpf_sys::bpf_prog_info>() as u32;
    // SAFETY: info is a bpf_prog_info of len bytes; the kernel writes at most
    // len bytes into it and updates len.
    let rc = unsafe {
        libbpf_sys::bpf_prog_get_info_by_fd(prog.as_fd().as_raw_fd(), &mut info, &mut len)
    };
    if rc == 0 {
        (info.run_time_ns, info.run_cnt)
    } else {
        (0, 0)
    }
}

/// The cost counters of a loaded skeleton.
fn cost(skel: &skel::GoztSkel<'_>, stats: bool) -> Cost {
    if stats {
        let (bpf_run_ns, traps) = run_stats(&skel.progs.gozt_site);
        Cost { traps, bpf_run_ns }
    } else {
        Cost {
            traps: skel.maps.bss_data.as_ref().map_or(0, |b| b.traps),
            bpf_run_ns: 0,
        }
    }
}

fn check_privileges() -> Result<(), TraceError> {
    if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists()
        || std::env::var_os("GOZT_SIMULATE_NO_BTF").is_some()
    {
        return Err(TraceError::NoBtf);
    }
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Err(TraceError::NotRoot);
    }
    Ok(())
}

/// Loads, attaches, and streams events to `sink` until it says stop; returns
/// the loss counters. Links are dropped (detached) before returning, on every
/// path.
pub fn run(
    attachments: &[Attachment],
    opts: &Options,
    sink: &mut dyn EventSink,
) -> Result<(Lost, Sampled), TraceError> {
    check_privileges()?;
    let n_funcs: u32 = attachments
        .iter()
        .flat_map(|a| a.sites.iter().map(|s| s.func_id + 1))
        .max()
        .unwrap_or(1);
    let mut storage = MaybeUninit::uninit();
    let mut open = GoztSkelBuilder::default()
        .open(&mut storage)
        .map_err(|e| TraceError::Load(e.to_string()))?;
    let load_err = |e: libbpf_rs::Error| TraceError::Load(e.to_string());
    open.maps.funcs.set_max_entries(n_funcs).map_err(load_err)?;
    open.maps
        .inflight
        .set_max_entries(opts.inflight_entries)
        .map_err(load_err)?;
    open.maps
        .events
        .set_max_entries(opts.ringbuf_bytes)
        .map_err(load_err)?;
    let caller_slots = opts.caller_slots.max(2).next_power_of_two();
    let mut caller_tags = CallerSlots(vec![0; caller_slots as usize]);
    open.maps
        .callers
        .set_max_entries(caller_slots)
        .map_err(load_err)?;
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.caller_mask = caller_slots - 1;
        rodata.caller_mix = CALLER_MIX;
    }
    // With a budget, gozt's own programs' run time counts against it, and
    // the statistics' run count is the number of traps; without them the
    // programs count traps themselves.
    let stats = opts.calibrate.then(enable_bpf_stats).flatten();
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.count_traps = u8::from(opts.calibrate && stats.is_none());
    }
    let mut skel = open.load().map_err(|e| {
        if e.kind() == libbpf_rs::ErrorKind::PermissionDenied {
            TraceError::NotRoot
        } else {
            TraceError::Load(e.to_string())
        }
    })?;

    for site in attachments.iter().flat_map(|a| &a.sites) {
        let cfg = func_config(site);
        // SAFETY: gozt_func is a plain-old-data C struct generated from gozt.h.
        let bytes = unsafe { plain_bytes(&cfg) };
        skel.maps
            .funcs
            .update(&site.func_id.to_ne_bytes(), bytes, MapFlags::ANY)
            .map_err(load_err)?;
    }

    if opts.calibrate {
        sink.trap_cost(calibrate(&skel)?);
    }
    let mut links = attach_all(&skel, attachments, opts.floor)?;
    let mut attached_at = Some(Instant::now());

    let pending: Rc<RefCell<Vec<CallEvent>>> = Rc::default();
    let mut builder = RingBufferBuilder::new();
    let into = Rc::clone(&pending);
    builder
        .add(&skel.maps.events, move |data: &[u8]| {
            if let Some(ev) = decode(data) {
                into.borrow_mut().push(ev);
            }
            0
        })
        .map_err(load_err)?;
    let ring = builder.build().map_err(load_err)?;
    let drain = |sink: &mut dyn EventSink| {
        let _ = ring.consume();
        let events = std::mem::take(&mut *pending.borrow_mut());
        for ev in events {
            sink.event(ev);
        }
    };
    sink.attached();

    let mut lost = Lost::default();
    let mut edge_unmatched = 0;
    let mut sampled = Sampled {
        on: Duration::ZERO,
        windows: 1,
        cost: Cost::default(),
    };
    let mut last_sweep = Instant::now();
    // --probe-alternate switches at a poll.
    let poll_interval = opts
        .alternate
        .map_or(opts.poll_interval, |p| p.min(opts.poll_interval));
    let mut next_poll = poll_interval;
    let mut switched = Instant::now();
    if opts.alternate.is_some() {
        say_switch(false);
    }
    loop {
        // Timer-driven: the programs submit without wakeups.
        std::thread::sleep(next_poll);
        if let Some(period) = opts.alternate {
            if switched.elapsed() >= period {
                if let Some(bss) = skel.maps.bss_data.as_deref_mut() {
                    let floor = bss.floor_now == 0;
                    bss.floor_now = u32::from(floor);
                    say_switch(floor);
                }
                switched = Instant::now();
            }
        }
        drain(sink);
        if last_sweep.elapsed() >= Duration::from_secs(1) {
            lost.aged_out += sweep(&skel.maps.inflight, opts.max_call_age);
            last_sweep = Instant::now();
        }
        read_counters(&skel, &mut lost);
        lost.unmatched_returns -= edge_unmatched;
        for (tgid, addr) in sink.new_callers() {
            // Without a slot the walks from there stay longer: no loss.
            let Some((slot, tag)) = caller_tags.place(tgid, addr) else {
                continue;
            };
            let _ =
                skel.maps
                    .callers
                    .update(&slot.to_ne_bytes(), &tag.to_ne_bytes(), MapFlags::ANY);
        }
        if !sink.keep_going(&lost) {
            break;
        }
        // Duty cycling (--max-overhead): the sink says when probes should be
        // in place.
        let wanted = sink.probes_wanted(cost(&skel, stats.is_some()));
        next_poll = wanted.map_or(poll_interval, |d| {
            d.clamp(Duration::from_millis(1), poll_interval)
        });
        match (wanted.is_some(), links.is_empty()) {
            (false, false) => {
                // RETs of calls made while the links go are not anomalies.
                let before = unmatched(&skel);
                links.clear();
                edge_unmatched += unmatched(&skel) - before;
                drain(sink);
                // Calls cut by the window's end never reach a RET.
                lost.in_flight_at_exit += clear(&skel.maps.inflight);
                if let Some(t) = attached_at.take() {
                    sampled.on += t.elapsed();
                }
            }
            (true, true) => {
                links = attach_all(&skel, attachments, opts.floor)?;
                attached_at = Some(Instant::now());
                sampled.windows += 1;
            }
            _ => {}
        }
    }
    if let Some(t) = attached_at.take() {
        sampled.on += t.elapsed();
    }
    // Detach first, then collect what is still buffered.
    let detaching = Instant::now();
    drop(links);
    if std::env::var_os("GOZT_TIMING").is_some() {
        eprintln!(
            "gozt: timing: detach {:.1} ms",
            detaching.elapsed().as_secs_f64() * 1e3
        );
    }
    drain(sink);
    read_counters(&skel, &mut lost);
    if std::env::var_os("GOZT_TIMING").is_some() {
        if let Some(bss) = skel.maps.bss_data.as_ref() {
            eprintln!("gozt: timing: frames walked {}", bss.frames_walked);
        }
    }
    sampled.cost = cost(&skel, stats.is_some());
    lost.unmatched_returns -= edge_unmatched;
    lost.in_flight_at_exit += under_way(&skel.maps.inflight);
    Ok((lost, sampled))
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

/// How long probes were in place, in how many windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sampled {
    pub on: Duration,
    pub windows: u64,
    /// What the probes cost over the whole run.
    pub cost: Cost,
}

/// RETs seen without an entry so far.
fn unmatched(skel: &skel::GoztSkel<'_>) -> u64 {
    skel.maps.bss_data.as_ref().map_or(0, |b| b.ret_unmatched)
}

/// Attaches the entry and RET programs (or the empty floor program at the
/// same sites) for every attachment; the links detach when dropped.
fn attach_all(
    skel: &skel::GoztSkel<'_>,
    attachments: &[Attachment],
    floor: bool,
) -> Result<Vec<libbpf_rs::Link>, TraceError> {
    let prog = if floor {
        &skel.progs.gozt_floor
    } else {
        &skel.progs.gozt_site
    };
    let mut links = Vec::new();
    for a in attachments {
        let usable: Vec<&Site> = a.sites.iter().filter(|s| s.probe.usable()).collect();
        if usable.is_empty() {
            continue;
        }
        // One link for the entries and RETs of every function: it attaches
        // and detaches as a whole.
        let (offsets, cookies): (Vec<usize>, Vec<u64>) = usable
            .iter()
            .flat_map(|s| {
                let id = u64::from(s.func_id);
                std::iter::once((s.probe.file_offset as usize, id)).chain(
                    s.probe
                        .ret_offsets
                        .iter()
                        .map(move |&o| (o as usize, id | COOKIE_RET)),
                )
            })
            .unzip();
        let sites = UprobeMultiOpts {
            offsets,
            cookies,
            ..Default::default()
        };
        let pid = a.pid.unwrap_or(-1);
        links.push(
            prog.attach_uprobe_multi_with_opts(pid, &a.binary, "", sites)
                .map_err(|e| TraceError::Attach {
                    path: a.binary.display().to_string(),
                    reason: e.to_string(),
                })?,
        );
    }
    Ok(links)
}

/// What gozt probes in itself to time a trap.
#[inline(never)]
#[no_mangle]
pub extern "C" fn gozt_calibration_target(x: u64) -> u64 {
    std::hint::black_box(x).wrapping_mul(31)
}

/// The nanoseconds one uprobe trap with an empty program adds to a call, on
/// this machine now: times calls of a function of gozt's own with and without
/// the floor program on its entry.
fn calibrate(skel: &skel::GoztSkel<'_>) -> Result<f64, TraceError> {
    const CALLS: u64 = 4000;
    let fail = |reason: String| TraceError::Attach {
        path: "/proc/self/exe".into(),
        reason: format!("trap-cost calibration: {reason}"),
    };
    let f: extern "C" fn(u64) -> u64 = std::hint::black_box(gozt_calibration_target);
    let addr = f as usize as u64;
    let (path, offset) = own_file_offset(addr).ok_or_else(|| fail("own code not mapped".into()))?;
    let time = || {
        let t = Instant::now();
        for i in 0..CALLS {
            std::hint::black_box(f(std::hint::black_box(i)));
        }
        t.elapsed()
    };
    let bare = time();
    let link = skel
        .progs
        .gozt_floor
        .attach_uprobe_multi_with_opts(
            std::process::id() as i32,
            &path,
            "",
            UprobeMultiOpts {
                offsets: vec![offset as usize],
                cookies: vec![0],
                ..Default::default()
            },
        )
        .map_err(|e| fail(e.to_string()))?;
    let probed = time();
    drop(link);
    Ok(probed.saturating_sub(bare).as_nanos() as f64 / CALLS as f64)
}

/// The file and offset that hold the code at `addr` of this process.
fn own_file_offset(addr: u64) -> Option<(PathBuf, u64)> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines().find_map(|l| {
        let mut f = l.split_whitespace();
        let (range, perms, off) = (f.next()?, f.next()?, f.next()?);
        let path = f.nth(2)?;
        let (start, end) = range.split_once('-')?;
        let (start, end) = (
            u64::from_str_radix(start, 16).ok()?,
            u64::from_str_radix(end, 16).ok()?,
        );
        let off = u64::from_str_radix(off, 16).ok()?;
        (perms.contains('x') && (start..end).contains(&addr))
            .then(|| (PathBuf::from(path), addr - start + off))
    })
}

/// Calls of a goroutine's record still under way (their RET has not run).
fn active(rec: &gozt_inflight) -> impl Iterator<Item = &gozt_call> {
    rec.calls.iter().filter(|c| c.active != 0)
}

/// Deletes every goroutine's record; returns how many calls were under way.
fn clear(map: &dyn MapCore) -> u64 {
    let mut under_way = 0;
    for (key, rec) in records(map) {
        under_way += active(&rec).count() as u64;
        let _ = map.delete(&key);
    }
    under_way
}

/// Calls still under way.
fn under_way(map: &dyn MapCore) -> u64 {
    records(map).map(|(_, r)| active(&r).count() as u64).sum()
}

/// The in-flight map's records, one per goroutine.
fn records(map: &dyn MapCore) -> impl Iterator<Item = (Vec<u8>, gozt_inflight)> + '_ {
    let keys: Vec<Vec<u8>> = map.keys().collect();
    keys.into_iter().filter_map(move |key| {
        let value = map.lookup(&key, MapFlags::ANY).ok()??;
        if value.len() < std::mem::size_of::<gozt_inflight>() {
            return None;
        }
        // SAFETY: the value is one gozt_inflight, a plain C struct.
        let rec: gozt_inflight = unsafe { std::ptr::read_unaligned(value.as_ptr().cast()) };
        Some((key, rec))
    })
}

/// Copies the programs' loss counters (in .bss, memory-mapped) into `lost`.
fn read_counters(skel: &skel::GoztSkel<'_>, lost: &mut Lost) {
    if let Some(bss) = skel.maps.bss_data.as_ref() {
        lost.ringbuf_full = bss.lost_ringbuf_full;
        lost.inflight_full = bss.lost_inflight_full;
        lost.unmatched_returns = bss.ret_unmatched;
        lost.repeated_entries = bss.entry_repeated;
        lost.abandoned = bss.entry_abandoned;
    }
}

/// The multiplier of the known-callers cache's tags and slots (rodata
/// `caller_mix`).
const CALLER_MIX: u64 = 0x9e37_79b9_7f4a_7c15;

/// The tag of return address `addr` of process `tgid` in the known-callers
/// cache and its first slot (the other is `slot ^ 1`), as bpf/gozt.bpf.c
/// computes them (see gozt.h).
fn caller_slot(tgid: u32, addr: u64, mask: u32) -> (u32, u64) {
    let tag = addr ^ u64::from(tgid).wrapping_mul(CALLER_MIX);
    let slot = (tag.wrapping_mul(CALLER_MIX) >> 32) as u32 & mask;
    (slot, tag)
}

/// The known-callers cache as user space wrote it: the slot a new caller's
/// tag goes in, of its two, or None when both hold other tags.
struct CallerSlots(Vec<u64>);

impl CallerSlots {
    fn place(&mut self, tgid: u32, addr: u64) -> Option<(u32, u64)> {
        let mask = self.0.len() as u32 - 1;
        let (first, tag) = caller_slot(tgid, addr, mask);
        let slot = [first, first ^ 1]
            .into_iter()
            .find(|&i| self.0[i as usize] == 0 || self.0[i as usize] == tag)?;
        self.0[slot as usize] = tag;
        Some((slot, tag))
    }
}

fn func_config(site: &Site) -> gozt_func {
    let l = &site.probe.layout;
    let mut flags = 0u8;
    if l.bytes_in.as_ref().is_some_and(|v| v.at == Point::Return) {
        flags |= IN_AT_RET;
    }
    if site.probe.entry.eof_is_success {
        flags |= EOF_IS_SUCCESS;
    }
    gozt_func {
        goid_off: site.goid_offset as u32,
        stack_hi_off: site.stack_hi_offset as u32,
        in_reg: reg_index(l.bytes_in.as_ref().map(|v| v.loc)),
        out_reg: reg_index(l.bytes_out.as_ref().map(|v| v.loc)),
        minus_reg: reg_index(l.bytes_out.as_ref().and_then(|v| v.minus)),
        err_reg: reg_index(l.error),
        flags,
        pad: [0; 3],
        sched_pc_off: site.sched_pc_offset as u32,
        size: u32::try_from(site.probe.size).unwrap_or(u32::MAX),
    }
}

/// # Safety
/// `T` must be a `#[repr(C)]` type without padding-sensitive invariants.
unsafe fn plain_bytes<T>(v: &T) -> &[u8] {
    // SAFETY: the caller guarantees T is plain old data; the slice covers
    // exactly the value and lives as long as the borrow.
    unsafe { std::slice::from_raw_parts((v as *const T).cast::<u8>(), std::mem::size_of::<T>()) }
}

fn decode(data: &[u8]) -> Option<CallEvent> {
    if data.len() < std::mem::size_of::<gozt_event>() {
        return None;
    }
    // SAFETY: the ring buffer record holds one gozt_event written by the BPF
    // program; read_unaligned copes with the buffer's alignment.
    let ev: gozt_event = unsafe { std::ptr::read_unaligned(data.as_ptr().cast()) };
    Some(CallEvent {
        tgid: ev.tgid,
        goid: ev.goid,
        func_id: ev.func_id,
        start_ns: ev.start_ns,
        duration_ns: ev.duration_ns,
        bytes_in: (ev.flags & EV_IN_VALID != 0).then_some(ev.bytes_in),
        bytes_out: (ev.flags & EV_OUT_VALID != 0).then_some(ev.bytes_out),
        error: ev.flags & EV_ERROR != 0,
        stack: ev.stack.iter().copied().take_while(|&a| a != 0).collect(),
    })
}

/// Deletes the records of goroutines whose calls under way are all older
/// than `max_age`, and returns how many calls that drops; and records with
/// nothing under way whose latest call began over a second ago, left for a
/// next call of that goroutine that has not come.
fn sweep(map: &dyn MapCore, max_age: Duration) -> u64 {
    const IDLE: Duration = Duration::from_secs(1);
    // SAFETY: CLOCK_MONOTONIC is what bpf_ktime_get_ns reads.
    let now = unsafe {
        let mut ts: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts);
        ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
    };
    let age = |ns: u64| Duration::from_nanos(now.saturating_sub(ns));
    let mut aged = 0;
    for (key, rec) in records(map) {
        let under_way = active(&rec).count() as u64;
        if under_way == 0 {
            if age(rec.last_ns) > IDLE {
                let _ = map.delete(&key);
            }
        } else if active(&rec).all(|c| age(c.start_ns) > max_age) && map.delete(&key).is_ok() {
            aged += under_way;
        }
    }
    aged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_caller_takes_the_free_one_of_its_two_slots() {
        let mut slots = CallerSlots(vec![0; 8]);
        let (first, tag) = caller_slot(7, 0x4a1234, 7);
        assert_eq!(slots.place(7, 0x4a1234), Some((first, tag)));
        // Again: the same slot, nothing new.
        assert_eq!(slots.place(7, 0x4a1234), Some((first, tag)));
        // Another process's same address is another tag.
        assert_ne!(caller_slot(7 + (1 << 17), 0x4a1234, 7).1, tag);
        // With both slots taken by other tags, a caller finds none.
        let mut full = CallerSlots(vec![u64::MAX; 8]);
        assert_eq!(full.place(7, 0x4a1234), None);
        full.0[(first ^ 1) as usize] = 0;
        assert_eq!(full.place(7, 0x4a1234), Some((first ^ 1, tag)));
    }
}
