//! What tracing costs: the price of one uprobe trap on this machine, timed on
//! a function of gozt's own, and the kernel's BPF run-time statistics.

use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::Instant;

use libbpf_rs::UprobeMultiOpts;

use super::kernel::AttachMethod;
use super::skel::GoztSkel;
use super::TraceError;
use crate::event::TrapCost;

/// Keeps the kernel's BPF run-time statistics on while held (dropping the
/// descriptor turns them off again unless somebody else holds one).
pub fn enable_bpf_stats() -> Option<OwnedFd> {
    // SAFETY: bpf_enable_stats takes a plain enum and returns a new
    // descriptor or a negative error; nothing else is touched.
    let fd = unsafe { libbpf_sys::bpf_enable_stats(libbpf_sys::BPF_STATS_RUN_TIME) };
    // SAFETY: a non-negative return is a descriptor we now own.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Total run time and run count of `prog` so far, from the kernel's
/// statistics. By hand: libbpf-rs 0.27 reads a program's info only while
/// iterating every program of the machine.
pub fn run_stats(prog: &impl AsFd) -> (u64, u64) {
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

// What gozt probes in itself to time a trap, in assembly so that the
// probed instruction is known whatever the compiler does: a multiply, which
// the kernel single-steps out of line (as at a RET or a sink), and a
// conditional branch to the next instruction, which it emulates (as at a Go
// prologue's stack-check branch). Each has a twin that is never probed: the
// same call without a trap.
#[cfg(target_arch = "x86_64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl gozt_calibration_target",
    ".type gozt_calibration_target, @function",
    "gozt_calibration_target:",
    "imul rax, rdi, 31",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_bare",
    ".type gozt_calibration_bare, @function",
    "gozt_calibration_bare:",
    "imul rax, rdi, 31",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_branch",
    ".type gozt_calibration_branch, @function",
    "gozt_calibration_branch:",
    "jne 2f",
    "2:",
    "imul rax, rdi, 41",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_branch_bare",
    ".type gozt_calibration_branch_bare, @function",
    "gozt_calibration_branch_bare:",
    "jne 3f",
    "3:",
    "imul rax, rdi, 41",
    "ret",
);
#[cfg(target_arch = "aarch64")]
std::arch::global_asm!(
    ".text",
    ".p2align 4",
    ".globl gozt_calibration_target",
    ".type gozt_calibration_target, %function",
    "gozt_calibration_target:",
    "mov x1, #31",
    "mul x0, x0, x1",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_bare",
    ".type gozt_calibration_bare, %function",
    "gozt_calibration_bare:",
    "mov x1, #31",
    "mul x0, x0, x1",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_branch",
    ".type gozt_calibration_branch, %function",
    "gozt_calibration_branch:",
    "b.ne 2f",
    "2:",
    "mov x1, #41",
    "mul x0, x0, x1",
    "ret",
    ".p2align 4",
    ".globl gozt_calibration_branch_bare",
    ".type gozt_calibration_branch_bare, %function",
    "gozt_calibration_branch_bare:",
    "b.ne 3f",
    "3:",
    "mov x1, #41",
    "mul x0, x0, x1",
    "ret",
);

extern "C" {
    /// Probed at its first instruction, which the kernel single-steps.
    pub fn gozt_calibration_target(x: u64) -> u64;
    fn gozt_calibration_bare(x: u64) -> u64;
    /// Probed at its first instruction, a branch the kernel emulates.
    fn gozt_calibration_branch(x: u64) -> u64;
    fn gozt_calibration_branch_bare(x: u64) -> u64;
}

/// One of the calibration functions above.
type CalibrationFn = unsafe extern "C" fn(u64) -> u64;

/// Rounds of a calibration, each timing [`ROUND_CALLS`] calls with and
/// without the trap: short, so that most rounds run unpreempted.
const ROUNDS: usize = 31;
const ROUND_CALLS: u64 = 64;
/// The rank taken of each side's sorted rounds: a low percentile (the
/// 10th), so that rounds inflated by a preemption or an interrupt, however
/// many up to 90 %, do not move the figure.
const RANK: usize = ROUNDS / 10;

/// The nanoseconds one uprobe trap with an empty program adds to a call in
/// the middle of work, on this machine now, for a trap the kernel steps and
/// one it emulates: calls of functions of gozt's own with the floor program
/// on their first instruction, against their unprobed twins, each followed
/// by the same [`work`], in [`ROUNDS`] short rounds taken in turn; each
/// side's low percentile per call. The programs' own run time is timed in
/// them, per call (stats::correct).
pub fn trap_cost(skel: &GoztSkel<'_>, method: AttachMethod) -> Result<TrapCost, TraceError> {
    let probed: CalibrationFn = std::hint::black_box(gozt_calibration_target);
    let bare: CalibrationFn = std::hint::black_box(gozt_calibration_bare);
    let branch: CalibrationFn = std::hint::black_box(gozt_calibration_branch);
    let branch_bare: CalibrationFn = std::hint::black_box(gozt_calibration_branch_bare);
    let _stepped = floor_at(skel, method, probed)?;
    let _emulated = floor_at(skel, method, branch)?;
    let mut ws = vec![0u64; WORKING_SET_BYTES / 8];
    let time = |f: CalibrationFn, ws: &mut [u64]| {
        let t = Instant::now();
        for i in 0..ROUND_CALLS {
            // SAFETY: the calibration functions read only their argument
            // register and return a product; no memory is touched.
            std::hint::black_box(unsafe { f(std::hint::black_box(i)) });
            work(ws, i);
        }
        t.elapsed().as_nanos() as f64 / ROUND_CALLS as f64
    };
    let mut rounds: [Vec<f64>; 4] = Default::default();
    for _ in 0..ROUNDS {
        for (side, f) in [bare, probed, branch_bare, branch].into_iter().enumerate() {
            rounds[side].push(time(f, &mut ws));
        }
    }
    let [without, with, branch_without, branch_with] = &mut rounds;
    Ok(TrapCost {
        stepped_ns: per_trap(with, without).round() as u64,
        emulated_ns: per_trap(branch_with, branch_without).round() as u64,
    })
}

/// The floor program attached at the first instruction of `f`, one of
/// gozt's calibration functions, in this process only.
fn floor_at(
    skel: &GoztSkel<'_>,
    method: AttachMethod,
    f: CalibrationFn,
) -> Result<libbpf_rs::Link, TraceError> {
    let fail = |reason: String| TraceError::Attach {
        path: "/proc/self/exe".into(),
        reason: format!("trap-cost calibration: {reason}"),
    };
    let addr = f as usize as u64;
    let (path, offset) = own_file_offset(addr).ok_or_else(|| fail("own code not mapped".into()))?;
    let pid = crate::base::pid::Pid::myself().raw();
    match method {
        AttachMethod::UprobeMulti => skel.progs.gozt_floor.attach_uprobe_multi_with_opts(
            pid,
            &path,
            "",
            UprobeMultiOpts {
                offsets: vec![offset as usize],
                cookies: vec![0],
                ..Default::default()
            },
        ),
        _ => skel.progs.gozt_floor_classic.attach_uprobe_with_opts(
            pid,
            &path,
            offset as usize,
            libbpf_rs::UprobeOpts::default(),
        ),
    }
    .map_err(|e| fail(e.to_string()))
}

/// The work after each call of a round: a compressor's hot state stands in
/// (deflate's hash chains and window, zstd's tables), [`WORK_LINES`] cache
/// lines of a [`WORKING_SET_BYTES`] set in a scattered order. A trap in the
/// middle of compression costs the work after it the caches the kernel's
/// trap path and the program evicted; timed on a hot loop alone, a trap
/// costs less than it does there (here: 3.9 us alone, 4.2-4.4 us with this
/// set, against 5.0 us implied by a gzip `Close`'s sink traps in Debian's
/// prometheus, 0.23 us of it the sink program's own run).
const WORKING_SET_BYTES: usize = 256 << 10;
const WORK_LINES: usize = WORKING_SET_BYTES / 64;

/// Touches [`WORK_LINES`] cache lines of `ws` in an order seeded by `i`
/// (the same after the probed and the bare call of a pair).
#[inline(never)]
fn work(ws: &mut [u64], i: u64) {
    // A power of two: a mask, not a division (cheap in debug builds too).
    let mask = (ws.len() / 8) as u64 - 1;
    let mut x = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    for _ in 0..WORK_LINES {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let at = ((x & mask) * 8) as usize;
        ws[at] = ws[at].wrapping_add(x);
    }
    std::hint::black_box(&ws);
}

/// One trap's cost from the per-call times of rounds with and without it:
/// the low percentile of each, the difference (never below 0).
pub fn per_trap(with: &mut [f64], without: &mut [f64]) -> f64 {
    let low = |v: &mut [f64]| {
        v.sort_by(f64::total_cmp);
        v.get(RANK.min(v.len().saturating_sub(1)))
            .copied()
            .unwrap_or(0.0)
    };
    (low(with) - low(without)).max(0.0)
}

/// The file and offset that hold the code at `addr` of this process.
pub fn own_file_offset(addr: u64) -> Option<(PathBuf, u64)> {
    let maps = procfs::process::Process::myself().ok()?.maps().ok()?;
    maps.into_iter().find_map(|m| {
        let procfs::process::MMapPath::Path(path) = m.pathname else {
            return None;
        };
        let (start, end) = m.address;
        (m.perms.contains(procfs::process::MMPermissions::EXECUTE) && (start..end).contains(&addr))
            .then(|| (path, addr - start + m.offset))
    })
}
