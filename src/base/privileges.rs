//! gozt's own privileges, as the kernel judges them: the capabilities in its
//! effective set, its seccomp mode, its memlock limit, the security module
//! profile it runs under; and from them, why the kernel refused one of
//! gozt's operations (`EPERM`, `EACCES`), in one line that names the cause
//! (the capability missing, the seccomp filter, or the security module)
//! and the fix in the node agent's manifest
//! (examples/kubernetes/daemonset.yaml).

/// A capability gozt may need (linux/capability.h).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cap {
    SysPtrace = 19,
    SysAdmin = 21,
    SysResource = 24,
    Perfmon = 38,
    Bpf = 39,
}

impl Cap {
    /// Those that matter to gozt, in the order `gozt info` lists them.
    pub const ALL: [Cap; 5] = [
        Cap::SysAdmin,
        Cap::Bpf,
        Cap::Perfmon,
        Cap::SysPtrace,
        Cap::SysResource,
    ];

    /// Its name as the kernel's headers spell it.
    pub fn name(self) -> &'static str {
        match self {
            Cap::SysPtrace => "CAP_SYS_PTRACE",
            Cap::SysAdmin => "CAP_SYS_ADMIN",
            Cap::SysResource => "CAP_SYS_RESOURCE",
            Cap::Perfmon => "CAP_PERFMON",
            Cap::Bpf => "CAP_BPF",
        }
    }

    /// Its name in a pod's `securityContext.capabilities.add`.
    fn pod_name(self) -> &'static str {
        &self.name()["CAP_".len()..]
    }
}

/// What gozt asked of the kernel when it was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// bpf() at all: a map made.
    Bpf,
    /// Loading gozt's programs (tracing programs, with their maps).
    Load,
    /// Attaching them: a uprobe's perf event or a uprobe.multi link.
    Attach,
    /// Reading another process: its executable, mappings or memory.
    ReadProcess,
}

impl Op {
    fn what(self) -> &'static str {
        match self {
            Op::Bpf => "bpf()",
            Op::Load => "loading gozt's BPF programs",
            Op::Attach => "attaching uprobes",
            Op::ReadProcess => "reading the process",
        }
    }
}

/// gozt's privileges.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Privileges {
    /// The effective capability set (CapEff).
    pub effective: u64,
    /// The Seccomp field of /proc/self/status: "0" none, "1" strict, "2"
    /// a filter.
    pub seccomp: Option<String>,
    /// The kernel's (major, minor).
    pub kernel: (u32, u32),
    /// RLIMIT_MEMLOCK's hard limit (None: unlimited), which libbpf raises
    /// the soft one to.
    pub memlock_bytes: Option<u64>,
    /// The security module profile gozt runs under, if one confines it
    /// (AppArmor's, or SELinux's context).
    pub confined_by: Option<String>,
}

impl Privileges {
    /// This process's.
    pub fn read() -> Privileges {
        let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .map(|v| v.trim().to_string())
        };
        let memlock = rustix::process::getrlimit(rustix::process::Resource::Memlock);
        Privileges {
            effective: field("CapEff:")
                .and_then(|v| u64::from_str_radix(&v, 16).ok())
                .unwrap_or(0),
            seccomp: field("Seccomp:"),
            kernel: kernel_version(
                std::fs::read_to_string("/proc/sys/kernel/osrelease")
                    .unwrap_or_default()
                    .trim(),
            ),
            memlock_bytes: memlock.maximum,
            confined_by: confinement(),
        }
    }

    /// Whether `cap` is in the effective set.
    pub fn has(&self, cap: Cap) -> bool {
        self.effective & (1u64 << cap as u32) != 0
    }

    /// The capabilities `op` needs that gozt lacks (none when it has them,
    /// or CAP_SYS_ADMIN, which stands for CAP_BPF and CAP_PERFMON).
    pub fn missing(&self, op: Op) -> Vec<Cap> {
        // CAP_BPF and CAP_PERFMON came in 5.8: before, CAP_SYS_ADMIN only.
        let split = self.kernel >= (5, 8);
        let wants: &[Cap] = match op {
            Op::Bpf if split => &[Cap::Bpf],
            Op::Load | Op::Attach if split => &[Cap::Bpf, Cap::Perfmon],
            Op::Bpf | Op::Load | Op::Attach => &[Cap::SysAdmin],
            Op::ReadProcess => &[Cap::SysPtrace],
        };
        let admin = op != Op::ReadProcess && self.has(Cap::SysAdmin);
        let mut missing: Vec<Cap> = wants
            .iter()
            .copied()
            .filter(|c| !self.has(*c) && !admin)
            .collect();
        // Before 5.11 BPF memory is charged to RLIMIT_MEMLOCK, which only
        // CAP_SYS_RESOURCE lets libbpf raise past a finite hard limit: the
        // maps made at load (the one-page probe of bpf() fits any limit).
        if op == Op::Load
            && self.kernel < (5, 11)
            && self.memlock_bytes.is_some()
            && !self.has(Cap::SysResource)
        {
            missing.push(Cap::SysResource);
        }
        missing
    }

    /// Whether a seccomp filter is on gozt.
    fn filtered(&self) -> bool {
        self.seccomp.as_deref() == Some("2")
    }

    /// Whether what gozt holds explains a refusal of `op`: a capability it
    /// lacks, or a seccomp filter (else the refusal may be another's, such
    /// as the verifier's EACCES, and is said as it came).
    pub fn explains(&self, op: Op) -> bool {
        !self.missing(op).is_empty() || (self.filtered() && op != Op::ReadProcess)
    }

    /// Why the kernel refused `op` with `errno` (EPERM or EACCES; others
    /// are said as they are), in one line with the fix.
    pub fn refusal(&self, op: Op, errno: i32) -> String {
        let (perm, acces, nosys) = (libc::EPERM, libc::EACCES, libc::ENOSYS);
        let filtered = self.filtered();
        let err = std::io::Error::from_raw_os_error(errno);
        if errno == nosys {
            return if filtered {
                format!(
                    "{} is not there (ENOSYS) under a seccomp filter on gozt, which may hide it: {}",
                    op.what(),
                    SECCOMP_FIX
                )
            } else {
                "this kernel has no bpf() (CONFIG_BPF_SYSCALL)".to_string()
            };
        }
        if errno != perm && errno != acces {
            return format!("{} failed: {err}", op.what());
        }
        format!("{} refused: {}", op.what(), self.cause(op, errno))
    }

    /// What refused `op` with EPERM or EACCES (`errno`), and the fix.
    pub fn cause(&self, op: Op, errno: i32) -> String {
        let filtered = self.filtered();
        let err = std::io::Error::from_raw_os_error(errno);
        let missing = self.missing(op);
        if !missing.is_empty() {
            let names: Vec<&str> = missing.iter().map(|c| c.name()).collect();
            let add: Vec<String> = missing
                .iter()
                .map(|c| format!("\"{}\"", c.pod_name()))
                .collect();
            let why = if missing.contains(&Cap::SysResource) {
                " (before Linux 5.11 BPF memory counts against RLIMIT_MEMLOCK, which it raises)"
            } else if op == Op::ReadProcess {
                " (reading a process of another user, or of more capabilities, needs it)"
            } else {
                ""
            };
            return format!(
                "gozt lacks {}{why}: add {} to the container's \
                 securityContext.capabilities.add, as examples/kubernetes/daemonset.yaml does",
                names.join(" and "),
                add.join(", ")
            );
        }
        if filtered && op != Op::ReadProcess {
            return format!(
                "a seccomp filter on gozt (Seccomp: 2 in /proc/self/status; a container \
                 runtime's default profile denies bpf): {SECCOMP_FIX}"
            );
        }
        if op == Op::ReadProcess {
            return "gozt has CAP_SYS_PTRACE: a security module or a namespace refuses it".into();
        }
        let by = match &self.confined_by {
            Some(p) => format!("the security module profile gozt runs under ({p})"),
            None => "a security module (SELinux, AppArmor, lockdown)".to_string(),
        };
        format!(
            "{by} ({err}; gozt has the capabilities it needs{}): run gozt's container \
             unconfined by it (securityContext.appArmorProfile or seLinuxOptions), or allow \
             gozt bpf and perf_event_open in its policy",
            if filtered {
                ""
            } else {
                " and no seccomp filter"
            },
        )
    }
}

/// The fix for a seccomp filter that denies bpf(), as the manifest states it.
const SECCOMP_FIX: &str = "set the pod's securityContext.seccompProfile to Unconfined (as \
     examples/kubernetes/daemonset.yaml does; podman: --security-opt seccomp=unconfined), or \
     use a profile that allows bpf and perf_event_open";

/// (major, minor) of a kernel release such as "6.1.0-57-amd64".
fn kernel_version(release: &str) -> (u32, u32) {
    let mut parts = release
        .split(|c: char| !c.is_ascii_digit())
        .map(|p| p.parse().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// The AppArmor profile or SELinux context that confines gozt, if any.
fn confinement() -> Option<String> {
    [
        "/proc/self/attr/apparmor/current",
        "/proc/self/attr/current",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok())
    .map(|s| s.trim_end_matches(['\0', '\n']).trim().to_string())
    .filter(|s| !s.is_empty() && s != "unconfined" && !s.starts_with("unconfined_"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(caps: &[Cap], seccomp: &str, kernel: (u32, u32)) -> Privileges {
        Privileges {
            effective: caps.iter().fold(0, |m, c| m | 1u64 << *c as u32),
            seccomp: Some(seccomp.to_string()),
            kernel,
            memlock_bytes: Some(8 << 20),
            confined_by: None,
        }
    }

    const MANIFEST: [Cap; 4] = [Cap::Bpf, Cap::Perfmon, Cap::SysResource, Cap::SysPtrace];

    #[test]
    fn a_missing_capability_is_named_before_a_filter_is_blamed() {
        let p = with(&[Cap::Perfmon, Cap::SysPtrace], "2", (6, 18));
        let why = p.refusal(Op::Bpf, libc::EPERM);
        assert!(
            why.starts_with("bpf() refused: gozt lacks CAP_BPF: add \"BPF\""),
            "{why}"
        );
        assert!(!why.contains("seccomp"), "{why}");
        let p = with(&[Cap::Bpf], "0", (6, 18));
        let why = p.refusal(Op::Attach, libc::EACCES);
        assert!(
            why.contains("gozt lacks CAP_PERFMON: add \"PERFMON\""),
            "{why}"
        );
        let p = with(&[Cap::Bpf, Cap::Perfmon], "0", (6, 18));
        let why = p.refusal(Op::ReadProcess, libc::EACCES);
        assert!(why.contains("gozt lacks CAP_SYS_PTRACE"), "{why}");
    }

    #[test]
    fn sys_admin_stands_for_bpf_and_perfmon_and_before_5_8_is_needed() {
        let admin = with(&[Cap::SysAdmin], "0", (6, 1));
        assert!(admin.missing(Op::Load).is_empty());
        assert_eq!(admin.missing(Op::ReadProcess), [Cap::SysPtrace]);
        let old = with(&[Cap::Bpf, Cap::Perfmon, Cap::SysResource], "0", (5, 4));
        assert_eq!(old.missing(Op::Load), [Cap::SysAdmin]);
    }

    #[test]
    fn before_5_11_a_memlock_limit_needs_sys_resource() {
        let p = with(&[Cap::Bpf, Cap::Perfmon], "0", (5, 10));
        assert_eq!(p.missing(Op::Load), [Cap::SysResource]);
        assert!(p.refusal(Op::Load, libc::EPERM).contains("RLIMIT_MEMLOCK"));
        // bpf()'s one-page probe fits any limit: a filter is not hidden.
        assert!(p.missing(Op::Bpf).is_empty());
        let unlimited = Privileges {
            memlock_bytes: None,
            ..p.clone()
        };
        assert!(unlimited.missing(Op::Load).is_empty());
        assert!(with(&[Cap::Bpf, Cap::Perfmon], "0", (5, 11))
            .missing(Op::Load)
            .is_empty());
    }

    #[test]
    fn with_every_capability_a_filter_or_a_security_module_is_named() {
        let p = with(&MANIFEST, "2", (6, 18));
        let why = p.refusal(Op::Bpf, libc::EPERM);
        assert!(why.contains("seccomp filter"), "{why}");
        assert!(why.contains("seccompProfile to Unconfined"), "{why}");
        assert!(!why.contains("lacks"), "{why}");
        let confined = Privileges {
            seccomp: Some("0".into()),
            confined_by: Some("containers-default-0.50.0 (enforce)".into()),
            ..p
        };
        let why = confined.refusal(Op::Load, libc::EPERM);
        assert!(
            why.contains("(containers-default-0.50.0 (enforce))"),
            "{why}"
        );
        assert!(why.contains("no seccomp filter"), "{why}");
    }

    #[test]
    fn only_what_gozt_holds_is_blamed() {
        assert!(!with(&MANIFEST, "0", (6, 18)).explains(Op::Load));
        assert!(with(&MANIFEST, "2", (6, 18)).explains(Op::Load));
        assert!(with(&[Cap::Bpf], "0", (6, 18)).explains(Op::Attach));
    }

    #[test]
    fn other_errors_are_said_as_they_are() {
        let p = with(&MANIFEST, "0", (6, 18));
        assert!(p
            .refusal(Op::Bpf, libc::ENOSYS)
            .contains("CONFIG_BPF_SYSCALL"));
        assert!(with(&MANIFEST, "2", (6, 18))
            .refusal(Op::Bpf, libc::ENOSYS)
            .contains("seccompProfile to Unconfined"));
        assert!(p
            .refusal(Op::Attach, libc::EINVAL)
            .starts_with("attaching uprobes failed"));
    }

    #[test]
    fn kernel_releases_parse() {
        assert_eq!(kernel_version("6.1.0-57-amd64"), (6, 1));
        assert_eq!(kernel_version("5.10.0-46-amd64"), (5, 10));
        assert_eq!(kernel_version(""), (0, 0));
    }
}
