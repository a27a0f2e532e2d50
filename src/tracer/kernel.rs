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

    fn parse(s: &str) -> Option<AttachMethod> {
        [
            AttachMethod::UprobeMulti,
            AttachMethod::UprobeCookie,
            AttachMethod::UprobeAddress,
        ]
        .into_iter()
        .find(|m| m.name() == s)
    }
}

/// The features gozt cannot do without, then the best attach method.
/// Classic uprobes are used only when `GOZT_ATTACH` asks for them: the
/// kernels that need them could only be booted emulated here, where
/// single-steps go wrong now and then whatever traces (see tests/kernels.rs),
/// so their safety on those kernels is not established.
/// `wanted` (`GOZT_ATTACH=uprobe_multi|uprobe_cookie|uprobe_address`) picks
/// a method the kernel has (tests run the others on a kernel that has them
/// all).
pub fn probe(
    btf: Option<&std::path::Path>,
    wanted: Option<&str>,
) -> Result<AttachMethod, TraceError> {
    let missing = |what: &str| TraceError::Kernel(what.to_string());
    if !std::path::Path::new("/sys/bus/event_source/devices/uprobe/type").exists() {
        return Err(missing(
            "no uprobes (/sys/bus/event_source/devices/uprobe missing: CONFIG_UPROBE_EVENTS)",
        ));
    }
    // SAFETY: the probe loads and frees a map of the given type; a null
    // options pointer is allowed.
    let ringbuf = unsafe {
        libbpf_sys::libbpf_probe_bpf_map_type(libbpf_sys::BPF_MAP_TYPE_RINGBUF, std::ptr::null())
    };
    if ringbuf != 1 {
        return Err(missing("no BPF ring buffer (Linux 5.8 or newer is needed)"));
    }
    let best = if uprobe_multi() {
        AttachMethod::UprobeMulti
    } else if attach_cookie() {
        AttachMethod::UprobeCookie
    } else if mappings_listed(btf) {
        AttachMethod::UprobeAddress
    } else {
        return Err(missing(
            "neither attach cookies nor a list of mappings to find a site by its address",
        ));
    };
    match wanted {
        None | Some("") if best != AttachMethod::UprobeMulti => Err(missing(&format!(
            "Linux {} has no uprobe.multi (6.6+); gozt's classic-uprobe methods for older \
             kernels are not yet verified on real hardware, so they run only with GOZT_ATTACH={}",
            release(),
            best.name()
        ))),
        None | Some("") => Ok(best),
        Some(name) => {
            let wanted = AttachMethod::parse(name).ok_or_else(|| {
                missing(&format!(
                    "GOZT_ATTACH={name}: not a method (uprobe_multi, uprobe_cookie, uprobe_address)"
                ))
            })?;
            let has = match wanted {
                AttachMethod::UprobeMulti => best == AttachMethod::UprobeMulti,
                AttachMethod::UprobeCookie => best != AttachMethod::UprobeAddress,
                AttachMethod::UprobeAddress => mappings_listed(btf),
            };
            if has {
                Ok(wanted)
            } else {
                Err(missing(&format!(
                    "GOZT_ATTACH={name}: this kernel lacks it"
                )))
            }
        }
    }
}

/// Whether the kernel keeps a process's mappings in a list
/// (`mm_struct.mmap`, before the maple tree of 6.1), which the program
/// without cookies walks: read from the kernel's BTF (the field sits in an
/// anonymous struct inside mm_struct on those kernels).
fn mappings_listed(btf_file: Option<&std::path::Path>) -> bool {
    // SAFETY: libbpf parses /sys/kernel/btf/vmlinux into a struct it owns,
    // freed below; the type and member records it returns point into it and
    // are read before the free.
    unsafe {
        let btf = match btf_file
            .and_then(|p| std::ffi::CString::new(p.as_os_str().as_encoded_bytes()).ok())
        {
            Some(path) => libbpf_sys::btf__parse(path.as_ptr(), std::ptr::null_mut()),
            None => libbpf_sys::btf__load_vmlinux_btf(),
        };
        if btf.is_null() {
            return false;
        }
        let id = libbpf_sys::btf__find_by_name_kind(
            btf,
            c"mm_struct".as_ptr(),
            libbpf_sys::BTF_KIND_STRUCT,
        );
        let found = id > 0 && has_member(btf, id as u32, b"mmap", 4);
        libbpf_sys::btf__free(btf);
        found
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
