//! What the running kernel offers, probed at start (never guessed from its
//! version, since distributions backport): BTF, uprobes and the ring buffer,
//! which gozt needs; and how to attach, best first — one `uprobe.multi` link
//! per binary (6.6+), classic uprobes with attach cookies (5.15+), or
//! classic uprobes whose program finds its site from the trap's address.

use std::os::fd::{FromRawFd, OwnedFd};

use serde::{Deserialize, Serialize};

use super::TraceError;

/// How the programs are attached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AttachMethod {
    /// One uprobe.multi link per binary, cookies for the sites (6.6+).
    UprobeMulti,
    /// One classic uprobe per site, each with its cookie (5.15+).
    UprobeCookie,
    /// One classic uprobe per site; the program finds the site from the
    /// trap's address through the mapping that holds it.
    UprobeAddress,
}

impl AttachMethod {
    pub fn name(self) -> &'static str {
        match self {
            AttachMethod::UprobeMulti => "uprobe_multi",
            AttachMethod::UprobeCookie => "uprobe_cookie",
            AttachMethod::UprobeAddress => "uprobe_address",
        }
    }

    pub fn parse(s: &str) -> Option<AttachMethod> {
        [
            AttachMethod::UprobeMulti,
            AttachMethod::UprobeCookie,
            AttachMethod::UprobeAddress,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// Whether a feature is there, and how gozt found out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Feature {
    /// None: it could not be told (no BTF to read it from).
    pub present: Option<bool>,
    /// `probed`: the kernel was asked (a map or program loaded, privileged);
    /// `btf`: read from the kernel's BTF (types and enum values), as
    /// without privileges.
    pub how: How,
}

/// How a [`Feature`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum How {
    Probed,
    Btf,
}

impl Feature {
    fn yes(self) -> bool {
        self.present == Some(true)
    }
}

/// What the running kernel offers gozt, each part found without attaching
/// anything: with privileges the kernel is asked, without them its BTF is
/// read (`gozt info` needs no root).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Features {
    /// `uname -r`.
    pub release: String,
    /// The BTF the programs relocate against (`--btf FILE`, else the
    /// kernel's own), if readable.
    pub btf: Option<String>,
    /// Uprobes as a perf event source (CONFIG_UPROBE_EVENTS).
    pub uprobes: bool,
    pub ring_buffer: Feature,
    pub uprobe_multi: Feature,
    pub attach_cookies: Feature,
    /// `mm_struct.mmap` (before 6.1): what `uprobe_address` walks.
    pub mappings_listed: Feature,
}

impl Features {
    /// Reads them: `privileged` asks the kernel, else its BTF is read.
    pub fn read(btf_file: Option<&std::path::Path>, privileged: bool) -> Features {
        let btf = match btf_file {
            Some(p) => Btf::parse(p),
            None => Btf::vmlinux(),
        };
        let from_btf = |present: Option<bool>| Feature {
            present,
            how: How::Btf,
        };
        let probed = |present: bool| Feature {
            present: Some(present),
            how: How::Probed,
        };
        let btf_path = btf.as_ref().map(|_| {
            btf_file.map_or_else(
                || "/sys/kernel/btf/vmlinux".to_string(),
                |p| p.display().to_string(),
            )
        });
        let enum_has = |e: &str, v: &str| btf.as_ref().map(|b| b.enum_has(e, v));
        let (ring_buffer, uprobe_multi, attach_cookies) = if privileged {
            (
                probed(ringbuf()),
                probed(uprobe_multi()),
                probed(attach_cookie()),
            )
        } else {
            (
                from_btf(enum_has("bpf_map_type", "BPF_MAP_TYPE_RINGBUF")),
                from_btf(enum_has("bpf_attach_type", "BPF_TRACE_UPROBE_MULTI")),
                from_btf(enum_has("bpf_func_id", "BPF_FUNC_get_attach_cookie")),
            )
        };
        Features {
            release: release(),
            btf: btf_path,
            uprobes: std::path::Path::new("/sys/bus/event_source/devices/uprobe/type").exists(),
            ring_buffer,
            uprobe_multi,
            attach_cookies,
            mappings_listed: from_btf(btf.as_ref().map(|b| b.mappings_listed())),
        }
    }

    /// The best method this kernel has, or what it lacks for any.
    pub fn best(&self) -> Result<AttachMethod, String> {
        if !self.uprobes {
            return Err(
                "no uprobes (/sys/bus/event_source/devices/uprobe missing: CONFIG_UPROBE_EVENTS)"
                    .into(),
            );
        }
        if self.ring_buffer.present == Some(false) {
            return Err("no BPF ring buffer (Linux 5.8 or newer is needed)".into());
        }
        if self.uprobe_multi.yes() {
            Ok(AttachMethod::UprobeMulti)
        } else if self.attach_cookies.yes() {
            Ok(AttachMethod::UprobeCookie)
        } else if self.mappings_listed.yes() {
            Ok(AttachMethod::UprobeAddress)
        } else {
            Err(
                "neither attach cookies nor a list of mappings to find a site by its address"
                    .into(),
            )
        }
    }

    /// The method to use: `wanted` (GOZT_ATTACH) if the kernel has it, else
    /// the best.
    pub fn method(&self, wanted: Option<&str>) -> Result<AttachMethod, String> {
        let best = self.best()?;
        let Some(name) = wanted.filter(|w| !w.is_empty()) else {
            return Ok(best);
        };
        let wanted = AttachMethod::parse(name).ok_or_else(|| {
            format!(
                "GOZT_ATTACH={name}: not a method (uprobe_multi, uprobe_cookie, uprobe_address)"
            )
        })?;
        let has = match wanted {
            AttachMethod::UprobeMulti => self.uprobe_multi.yes(),
            AttachMethod::UprobeCookie => self.attach_cookies.yes(),
            AttachMethod::UprobeAddress => self.mappings_listed.yes(),
        };
        if has {
            Ok(wanted)
        } else {
            Err(format!("GOZT_ATTACH={name}: this kernel lacks it"))
        }
    }
}

/// The features gozt cannot do without, then the method: the best the
/// kernel has (uprobe.multi, else classic uprobes with attach cookies,
/// else classic uprobes found by address), or the one
/// `GOZT_ATTACH=uprobe_multi|uprobe_cookie|uprobe_address` names if the
/// kernel has it (tests and benchmarks run each on a kernel that has them
/// all).
pub fn probe(
    btf: Option<&std::path::Path>,
    wanted: Option<&str>,
) -> Result<AttachMethod, TraceError> {
    // Asked of a kernel that refuses bpf() itself, every feature would seem
    // missing: say what refuses it instead.
    bpf_allowed().map_err(TraceError::BpfDenied)?;
    Features::read(btf, true)
        .method(wanted)
        .map_err(TraceError::Kernel)
}

/// Whether this process may use bpf() at all: a one-entry array map (Linux
/// 3.19's) is made and freed. Else why not, in one line: a seccomp filter
/// (a container runtime's default profile denies bpf), another refusal, or
/// no bpf() in this kernel.
pub fn bpf_allowed() -> Result<(), String> {
    // SAFETY: bpf_map_create takes a null name and null options; it returns
    // a new descriptor or a negative errno.
    let fd = unsafe {
        libbpf_sys::bpf_map_create(
            libbpf_sys::BPF_MAP_TYPE_ARRAY,
            std::ptr::null(),
            4,
            4,
            1,
            std::ptr::null(),
        )
    };
    if fd >= 0 {
        // SAFETY: fd is a descriptor we own.
        drop(unsafe { <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd) });
        return Ok(());
    }
    Err(crate::base::privileges::Privileges::read().refusal(crate::base::privileges::Op::Bpf, -fd))
}

/// Whether the kernel has the BPF ring buffer (5.8+): a map is made.
fn ringbuf() -> bool {
    // SAFETY: the probe loads and frees a map of the given type; a null
    // options pointer is allowed.
    unsafe {
        libbpf_sys::libbpf_probe_bpf_map_type(libbpf_sys::BPF_MAP_TYPE_RINGBUF, std::ptr::null())
            == 1
    }
}

/// A BTF object of libbpf's, freed when dropped.
struct Btf(std::ptr::NonNull<libbpf_sys::btf>);

impl Btf {
    /// The kernel's own (/sys/kernel/btf/vmlinux, readable without
    /// privileges).
    fn vmlinux() -> Option<Btf> {
        // SAFETY: libbpf parses the file into an object it allocates, or
        // returns null (or an error pointer, which libbpf 1.x never does).
        std::ptr::NonNull::new(unsafe { libbpf_sys::btf__load_vmlinux_btf() }).map(Btf)
    }

    fn parse(path: &std::path::Path) -> Option<Btf> {
        let path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
        // SAFETY: a NUL-terminated path; the result is an object libbpf
        // allocates, or null.
        std::ptr::NonNull::new(unsafe {
            libbpf_sys::btf__parse(path.as_ptr(), std::ptr::null_mut())
        })
        .map(Btf)
    }

    /// Whether the kernel keeps a process's mappings in a list
    /// (`mm_struct.mmap`, before the maple tree of 6.1), which the program
    /// without cookies walks (the field sits in an anonymous struct inside
    /// mm_struct on those kernels).
    fn mappings_listed(&self) -> bool {
        // SAFETY: the BTF is live while self is; the name is NUL-terminated.
        unsafe {
            let id = libbpf_sys::btf__find_by_name_kind(
                self.0.as_ptr(),
                c"mm_struct".as_ptr(),
                libbpf_sys::BTF_KIND_STRUCT,
            );
            id > 0 && has_member(self.0.as_ptr(), id as u32, b"mmap", 4)
        }
    }

    /// Whether enum `name` has a value named `value` (the kernel's UAPI
    /// enums say which map types, attach types and helpers it knows).
    fn enum_has(&self, name: &str, value: &str) -> bool {
        const KIND_ENUM: u32 = 6;
        let Ok(cname) = std::ffi::CString::new(name) else {
            return false;
        };
        // SAFETY: the BTF is live while self is; libbpf returns null or a
        // record of it, and an enum's values follow its btf_type.
        unsafe {
            let btf = self.0.as_ptr();
            let id = libbpf_sys::btf__find_by_name_kind(btf, cname.as_ptr(), KIND_ENUM);
            if id <= 0 {
                return false;
            }
            let t = libbpf_sys::btf__type_by_id(btf, id as u32);
            if t.is_null() {
                return false;
            }
            let vlen = ((*t).info & 0xffff) as usize;
            let values = t.add(1).cast::<libbpf_sys::btf_enum>();
            (0..vlen).any(|i| {
                let n = libbpf_sys::btf__name_by_offset(btf, (*values.add(i)).name_off);
                !n.is_null() && std::ffi::CStr::from_ptr(n).to_bytes() == value.as_bytes()
            })
        }
    }
}

impl Drop for Btf {
    fn drop(&mut self) {
        // SAFETY: the object is libbpf's, freed once here.
        unsafe { libbpf_sys::btf__free(self.0.as_ptr()) }
    }
}

/// Whether struct or union `id` of `btf` has a member `name`, directly or
/// in an anonymous struct or union member (`depth` levels down at most).
///
/// # Safety
/// `btf` must be a live BTF object of libbpf's.
unsafe fn has_member(btf: *const libbpf_sys::btf, id: u32, name: &[u8], depth: u32) -> bool {
    const KIND_STRUCT: u32 = 4;
    const KIND_UNION: u32 = 5;
    // SAFETY: the caller's btf is live; libbpf returns null or a record of
    // it, and a struct's or union's members follow its btf_type.
    unsafe {
        let t = libbpf_sys::btf__type_by_id(btf, id);
        if t.is_null() {
            return false;
        }
        let kind = ((*t).info >> 24) & 0x1f;
        if kind != KIND_STRUCT && kind != KIND_UNION {
            return false;
        }
        let vlen = ((*t).info & 0xffff) as usize;
        let members = t.add(1).cast::<libbpf_sys::btf_member>();
        (0..vlen).any(|i| {
            let m = &*members.add(i);
            if m.name_off == 0 {
                return depth > 0 && has_member(btf, m.type_, name, depth - 1);
            }
            let n = libbpf_sys::btf__name_by_offset(btf, m.name_off);
            !n.is_null() && std::ffi::CStr::from_ptr(n).to_bytes() == name
        })
    }
}

/// The kernel's release (`uname -r`).
fn release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

/// Whether BPF programs of uprobes can read their attach cookie.
fn attach_cookie() -> bool {
    // SAFETY: the probe loads a tiny program calling the helper; a null
    // options pointer is allowed.
    unsafe {
        libbpf_sys::libbpf_probe_bpf_helper(
            libbpf_sys::BPF_PROG_TYPE_KPROBE,
            libbpf_sys::BPF_FUNC_get_attach_cookie,
            std::ptr::null(),
        ) == 1
    }
}

/// Whether uprobe.multi links work, with the process filter gozt needs
/// (the first kernels with them filtered by thread, not process: a Go
/// program's calls on its other threads would be missed). Nothing is
/// attached: a link for a directory fails with EBADF on kernels that know the
/// link type, and one with pid -1 as well fails with EINVAL once the filter
/// is by process (as libbpf probes it).
fn uprobe_multi() -> bool {
    // r0 = 0; exit
    let mut insns = [libbpf_sys::bpf_insn::default(); 2];
    insns[0].code = 0xb7;
    insns[1].code = 0x95;
    let mut opts = libbpf_sys::bpf_prog_load_opts {
        sz: std::mem::size_of::<libbpf_sys::bpf_prog_load_opts>() as _,
        expected_attach_type: libbpf_sys::BPF_TRACE_UPROBE_MULTI,
        ..Default::default()
    };
    // SAFETY: two valid instructions and sized options; the result is a new
    // descriptor or a negative error.
    let prog = unsafe {
        libbpf_sys::bpf_prog_load(
            libbpf_sys::BPF_PROG_TYPE_KPROBE,
            c"gozt_probe".as_ptr(),
            c"GPL".as_ptr(),
            insns.as_ptr(),
            insns.len() as _,
            &mut opts,
        )
    };
    if prog < 0 {
        return false;
    }
    // SAFETY: a non-negative return is a descriptor we now own.
    let prog = unsafe { OwnedFd::from_raw_fd(prog) };
    let link_error = |pid: i32| -> Option<i32> {
        let offsets: [std::os::raw::c_ulong; 1] = [0];
        let mut link_opts = libbpf_sys::bpf_link_create_opts {
            sz: std::mem::size_of::<libbpf_sys::bpf_link_create_opts>() as _,
            ..Default::default()
        };
        link_opts.__bindgen_anon_1.uprobe_multi =
            libbpf_sys::bpf_link_create_opts__bindgen_ty_1__bindgen_ty_3 {
                cnt: 1,
                path: c"/".as_ptr(),
                offsets: offsets.as_ptr(),
                pid: pid as u32,
                ..Default::default()
            };
        // SAFETY: the options point at live values for the duration of the
        // call; a link, should one be made, is closed at once.
        let link = unsafe {
            libbpf_sys::bpf_link_create(
                std::os::fd::AsRawFd::as_raw_fd(&prog),
                -1,
                libbpf_sys::BPF_TRACE_UPROBE_MULTI,
                &link_opts,
            )
        };
        if link >= 0 {
            // SAFETY: a descriptor we now own, closed here.
            drop(unsafe { OwnedFd::from_raw_fd(link) });
            return None;
        }
        std::io::Error::last_os_error().raw_os_error()
    };
    link_error(0) == Some(libc::EBADF) && link_error(-1) == Some(libc::EINVAL)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_round_trip() {
        for m in [
            AttachMethod::UprobeMulti,
            AttachMethod::UprobeCookie,
            AttachMethod::UprobeAddress,
        ] {
            assert_eq!(AttachMethod::parse(m.name()), Some(m));
        }
        assert_eq!(AttachMethod::parse("kprobe"), None);
    }
}
