//! Opening, sizing, configuring and loading the programs: map sizes and
//! rodata are set between open and load, and each function's [`FuncSpec`]
//! is written into `funcs`. libbpf's own log (warnings, the verifier's log
//! on a failed load) reaches stderr only with `-v`, each line prefixed
//! `gozt: libbpf: `; gozt's error stays its one line.

use std::mem::MaybeUninit;

use libbpf_rs::skel::{OpenSkel, SkelBuilder};
use libbpf_rs::{MapCore, MapFlags, OpenObject};

use super::kernel::AttachMethod;
use super::skel::types::gozt_func;
use super::skel::{GoztSkel, GoztSkelBuilder, OpenGoztSkel};
use super::{Options, TraceError};
use crate::base::gozt_h::{
    GOZT_ENDS_AT_EOF, GOZT_ENDS_PAYLOAD, GOZT_ENTRY_EMULATED, GOZT_EOF_IS_SUCCESS, GOZT_IN_AT_RET,
    GOZT_LIFECYCLE, GOZT_OUT_FROM_SINKS, GOZT_REG_NONE, GOZT_TOTALS_AT_RET,
};
use crate::base::privileges::Op;

/// What the programs read of one function, as plain data: registers are
/// indexes in the Go register ABI's integer order (`gozt.h`), offsets are
/// those of `runtime.g` in the function's binary.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FuncSpec {
    pub id: u32,
    pub in_reg: Option<u8>,
    /// Read at RET instead of at the entry.
    pub in_at_ret: bool,
    pub out_reg: Option<u8>,
    /// Read at the entry and subtracted from the output (appended bytes).
    pub minus_reg: Option<u8>,
    /// The first word of the returned error.
    pub err_reg: Option<u8>,
    /// An io.EOF error is the normal end of a stream.
    pub eof_is_success: bool,
    /// Bytes of code from the entry.
    pub size: u64,
    pub goid_offset: u64,
    pub stack_hi_offset: u64,
    pub sched_pc_offset: u64,
    /// The receiver, read at the entry: a stream's identity.
    pub obj_reg: Option<u8>,
    /// The output is what the call wrote to its io.Writer (sink sites).
    pub out_from_sinks: bool,
    /// Offset in the receiver of the stream's own counts (output, then
    /// input, two int64s), read at RET.
    pub totals_offset: Option<u64>,
    /// The entry's trap is at the prologue's stack-check branch (emulated).
    pub entry_emulated: bool,
    /// runtime.asyncPreempt2 from the entry's trap (its address less the
    /// trap's) and its size, where the binary has it: where an asynchronous
    /// preemption leaves g.sched.pc.
    pub async_preempt: Option<(i64, u64)>,
    /// Its binary serves HTTP: where the request is at a request site's
    /// entry, and the fields read of it.
    pub request: Option<RequestSpec>,
    /// A call of it (made inside no other) ends a payload; or does when it
    /// returns an error or io.EOF (a reader's Read).
    pub ends_payload: bool,
    pub ends_at_eof: bool,
    /// A constructor or a reset: it leaves a payload's wait for its write.
    pub lifecycle: bool,
}

/// What the programs read of a binary's `http.Request` (gozt.h).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RequestSpec {
    /// The register (gozt.h index) holding it at the request site's entry.
    pub reg: u8,
    pub method_offset: u64,
    pub url_offset: u64,
    pub url_path_offset: u64,
    pub pattern_offset: Option<u64>,
}

impl FuncSpec {
    /// The function table's entry for it.
    pub(super) fn config(&self) -> gozt_func {
        let reg = |r: Option<u8>| r.unwrap_or(GOZT_REG_NONE as u8);
        let mut flags = 0u8;
        if self.in_at_ret {
            flags |= GOZT_IN_AT_RET as u8;
        }
        if self.eof_is_success {
            flags |= GOZT_EOF_IS_SUCCESS as u8;
        }
        if self.out_from_sinks {
            flags |= GOZT_OUT_FROM_SINKS as u8;
        }
        if self.totals_offset.is_some() {
            flags |= GOZT_TOTALS_AT_RET as u8;
        }
        if self.entry_emulated {
            flags |= GOZT_ENTRY_EMULATED as u8;
        }
        if self.ends_payload {
            flags |= GOZT_ENDS_PAYLOAD as u8;
        }
        if self.ends_at_eof {
            flags |= GOZT_ENDS_AT_EOF as u8;
        }
        if self.lifecycle {
            flags |= GOZT_LIFECYCLE as u8;
        }
        gozt_func {
            goid_off: self.goid_offset as u32,
            stack_hi_off: self.stack_hi_offset as u32,
            in_reg: reg(self.in_reg),
            out_reg: reg(self.out_reg),
            minus_reg: reg(self.minus_reg),
            err_reg: reg(self.err_reg),
            flags,
            obj_reg: reg(self.obj_reg),
            pad: 0,
            sched_pc_off: self.sched_pc_offset as u32,
            size: u32::try_from(self.size).unwrap_or(u32::MAX),
            totals_off: self.totals_offset.map_or(0, |o| o as u32),
            preempt_size: self
                .async_preempt
                .map_or(0, |(_, size)| u32::try_from(size).unwrap_or(u32::MAX)),
            preempt_off: self.async_preempt.map_or(0, |(off, _)| off),
            req_reg: self.request.map_or(GOZT_REG_NONE as u8, |q| q.reg),
            req_method_off: self.request.map_or(0, |q| q.method_offset as u32),
            req_url_off: self.request.map_or(0, |q| q.url_offset as u32),
            url_path_off: self.request.map_or(0, |q| q.url_path_offset as u32),
            req_pattern_off: self
                .request
                .and_then(|q| q.pattern_offset)
                .map_or(u32::MAX, |o| o as u32),
        }
    }
}

/// Where libbpf's log goes from now on: with `verbose`, its warnings and
/// information to stderr, a line at a time; else nowhere.
pub fn libbpf_log(verbose: bool) {
    let print: Option<(libbpf_rs::PrintLevel, libbpf_rs::PrintCallback)> =
        verbose.then_some((libbpf_rs::PrintLevel::Info, print_libbpf as _));
    libbpf_rs::set_print(print);
}

fn print_libbpf(_level: libbpf_rs::PrintLevel, msg: String) {
    for line in libbpf_lines(&msg) {
        eprintln!("gozt: libbpf: {line}");
    }
}

/// The lines of one libbpf message, without its own `libbpf: ` prefix.
fn libbpf_lines(msg: &str) -> impl Iterator<Item = &str> {
    msg.lines()
        .map(|l| l.strip_prefix("libbpf: ").unwrap_or(l).trim_end())
        .filter(|l| !l.is_empty())
}

/// Root and BTF (the kernel's, or the file given), before anything is
/// opened; `simulate_no_btf` acts as on a kernel without it (tests).
pub fn check_privileges(
    btf: Option<&std::path::Path>,
    simulate_no_btf: bool,
) -> Result<(), TraceError> {
    match btf {
        Some(path) => {
            let fail = |reason: String| TraceError::BtfFile {
                path: crate::base::text::path(path).to_string(),
                reason,
            };
            let meta = std::fs::metadata(path).map_err(|e| fail(e.to_string()))?;
            if !meta.is_file() {
                return Err(fail("not a file".into()));
            }
        }
        None => {
            if !std::path::Path::new("/sys/kernel/btf/vmlinux").exists() || simulate_no_btf {
                return Err(TraceError::NoBtf);
            }
        }
    }
    if !rustix::process::geteuid().is_root() {
        return Err(TraceError::NotRoot);
    }
    Ok(())
}

/// Opens and loads the skeleton for `funcs` in a function table of
/// `n_funcs`, with `caller_slots` slots of known callers (a power of two).
pub fn load<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    funcs: &[FuncSpec],
    (opts, n_funcs): (&Options, u32),
    method: AttachMethod,
    caller_slots: u32,
    count_traps: bool,
) -> Result<GoztSkel<'obj>, TraceError> {
    let mut open = open(storage, opts.btf.as_deref())?;
    size_maps(&mut open, opts, n_funcs, caller_slots).map_err(load_error)?;
    // Only the programs of the attach method load: the others may use what
    // this kernel lacks (uprobe.multi, attach cookies, its mappings' list).
    let multi = method == AttachMethod::UprobeMulti;
    open.progs.gozt_site.set_autoload(multi);
    open.progs.gozt_floor.set_autoload(multi);
    open.progs
        .gozt_site_cookie
        .set_autoload(method == AttachMethod::UprobeCookie);
    open.progs
        .gozt_site_ip
        .set_autoload(method == AttachMethod::UprobeAddress);
    open.progs.gozt_floor_classic.set_autoload(!multi);
    let writes = opts.writes && !opts.floor;
    open.progs.gozt_write_enter.set_autoload(writes);
    open.progs.gozt_write_exit.set_autoload(writes);
    if let Some(rodata) = open.maps.rodata_data.as_deref_mut() {
        rodata.caller_mask = caller_slots - 1;
        rodata.count_traps = u8::from(count_traps);
        rodata.trace_writes = u8::from(writes);
    }
    let skel = open.load().map_err(load_error)?;
    for f in funcs {
        let cfg = f.config();
        skel.maps
            .funcs
            .update(&f.id.to_ne_bytes(), bytemuck::bytes_of(&cfg), MapFlags::ANY)
            .map_err(load_error)?;
    }
    Ok(skel)
}

fn load_error(e: libbpf_rs::Error) -> TraceError {
    TraceError::refused_libbpf(&e, Op::Load).unwrap_or_else(|| TraceError::Load(e.to_string()))
}

/// Opens the skeleton, CO-RE against `btf` if given (libbpf keeps its own
/// copy of the path), else against the kernel's.
fn open<'obj>(
    storage: &'obj mut MaybeUninit<OpenObject>,
    btf: Option<&std::path::Path>,
) -> Result<OpenGoztSkel<'obj>, TraceError> {
    let Some(path) = btf else {
        return GoztSkelBuilder::default().open(storage).map_err(load_error);
    };
    let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
        .map_err(|_| TraceError::Load("--btf: a path with a NUL byte".into()))?;
    let open_opts = libbpf_sys::bpf_object_open_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_object_open_opts>() as _,
        btf_custom_path: path.as_ptr(),
        ..Default::default()
    };
    GoztSkelBuilder::default()
        .open_opts(open_opts, storage)
        .map_err(load_error)
}

/// Sizes the maps before load: the function table, the in-flight records,
/// the ring buffer, the callers' cache, the sites.
fn size_maps(
    open: &mut OpenGoztSkel<'_>,
    opts: &Options,
    n_funcs: u32,
    caller_slots: u32,
) -> libbpf_rs::Result<()> {
    open.maps.funcs.set_max_entries(n_funcs)?;
    open.maps.inflight.set_max_entries(opts.inflight_entries)?;
    open.maps.events.set_max_entries(opts.ringbuf_bytes)?;
    open.maps.callers.set_max_entries(caller_slots)?;
    open.maps.sites.set_max_entries(opts.site_entries.max(1))
}

#[cfg(test)]
mod tests {
    use super::libbpf_lines;

    #[test]
    fn libbpf_messages_become_lines_without_their_prefix() {
        let msg = "libbpf: prog 'gozt_site': BPF program load failed: Permission denied\n\
                   -- BEGIN PROG LOAD LOG --\n0: (bf) r6 = r1\n\n";
        let lines: Vec<&str> = libbpf_lines(msg).collect();
        assert_eq!(
            lines,
            [
                "prog 'gozt_site': BPF program load failed: Permission denied",
                "-- BEGIN PROG LOAD LOG --",
                "0: (bf) r6 = r1"
            ]
        );
    }
}
