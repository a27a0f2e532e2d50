//! Who a process is, as a node agent sees it: its identity (pid and start
//! time, so that a reused pid is another process), its pid in its own pid
//! namespace, the container it runs in (from its cgroup), and its
//! executable as the process itself sees it, and whether that file was
//! deleted. Read from a /proc/PID directory, so tests can hand it any.

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// A file's identity: its device and inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FileId {
    pub dev: u64,
    pub ino: u64,
}

impl FileId {
    /// The identity of the file at `path` (links followed).
    pub fn of(path: &Path) -> Option<FileId> {
        let m = std::fs::metadata(path).ok()?;
        Some(FileId {
            dev: m.dev(),
            ino: m.ino(),
        })
    }
}

/// A process: its pid and its start time in clock ticks since boot
/// (/proc/PID/stat's `starttime`). Two processes that share a pid, one
/// after the other, have different start times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct ProcId {
    pub pid: u32,
    pub start_ticks: u64,
}

impl ProcId {
    /// The process of an event: `start_ns` since boot as the kernel keeps
    /// it (the BPF side reads it), in clock ticks as /proc gives it.
    pub fn of_event(pid: u32, start_ns: u64) -> ProcId {
        ProcId {
            pid,
            start_ticks: start_ns / ns_per_tick(),
        }
    }

    /// How long ago it started (to a clock tick).
    pub fn age(&self) -> std::time::Duration {
        let now = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
        let now_ns = (now.tv_sec as u64) * 1_000_000_000 + now.tv_nsec as u64;
        std::time::Duration::from_nanos(now_ns.saturating_sub(self.start_ticks * ns_per_tick()))
    }
}

/// Nanoseconds per clock tick (USER_HZ).
fn ns_per_tick() -> u64 {
    let hz = rustix::param::clock_ticks_per_second();
    1_000_000_000 / Some(hz).filter(|&h| h > 0).unwrap_or(100)
}

/// What a node agent knows of a process.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ProcessFacts {
    pub id: ProcId,
    /// Its pid in its own pid namespace (the last of NSpid).
    pub ns_pid: Option<u32>,
    pub comm: String,
    /// Its executable's path as the process sees it (in its own mount
    /// namespace and under its own root), without " (deleted)".
    pub exe: String,
    /// The executable was deleted (or replaced) since the process started.
    pub exe_deleted: bool,
    /// The executable's device and inode (through /proc/PID/exe).
    pub exe_file: Option<FileId>,
    /// The container it runs in, from its cgroup.
    pub container_id: Option<String>,
}

const DELETED: &str = " (deleted)";

/// Reads the facts of process `pid` from its /proc directory `dir`.
pub fn read_facts(dir: &Path, pid: u32) -> Option<ProcessFacts> {
    let mut f = read_exe_facts(dir, pid)?;
    f.ns_pid = std::fs::read_to_string(dir.join("status"))
        .ok()
        .and_then(|s| parse_ns_pid(&s));
    f.container_id = std::fs::read_to_string(dir.join("cgroup"))
        .ok()
        .and_then(|s| container_id(&s));
    Some(f)
}

/// What tells which processes a session wants: identity, comm and
/// executable (no namespace pid, no container: a scan of every process
/// reads only these).
pub fn read_exe_facts(dir: &Path, pid: u32) -> Option<ProcessFacts> {
    let stat = std::fs::read_to_string(dir.join("stat")).ok()?;
    let (comm, start_ticks) = parse_stat(&stat)?;
    let link = std::fs::read_link(dir.join("exe")).ok();
    let root = std::fs::read_link(dir.join("root")).ok();
    let meta = std::fs::metadata(dir.join("exe")).ok();
    let (exe, suffix_deleted) = match &link {
        Some(l) => seen_path(&l.to_string_lossy(), root.as_deref()),
        None => (String::new(), false),
    };
    Some(ProcessFacts {
        id: ProcId { pid, start_ticks },
        ns_pid: None,
        comm,
        exe,
        exe_deleted: suffix_deleted || meta.as_ref().is_some_and(|m| m.nlink() == 0),
        exe_file: meta.map(|m| FileId {
            dev: m.dev(),
            ino: m.ino(),
        }),
        container_id: None,
    })
}

/// comm and starttime (field 22) of /proc/PID/stat; comm may hold spaces
/// and parentheses, so the fields are counted from its last ')'.
fn parse_stat(stat: &str) -> Option<(String, u64)> {
    let open = stat.find('(')?;
    let close = stat.rfind(')')?;
    let comm = stat.get(open + 1..close)?.to_string();
    // After ") ": field 3 (state) onwards; starttime is field 22.
    let start = stat.get(close + 1..)?.split_whitespace().nth(19)?;
    Some((comm, start.parse().ok()?))
}

/// The pid in the innermost pid namespace, from /proc/PID/status.
fn parse_ns_pid(status: &str) -> Option<u32> {
    let line = status.lines().find(|l| l.starts_with("NSpid:"))?;
    line.split_whitespace().last()?.parse().ok()
}

/// The executable as the process sees it: the link's target with the
/// process's root (as this process sees that) taken off; and whether the
/// kernel marked it deleted.
fn seen_path(link: &str, root: Option<&Path>) -> (String, bool) {
    let (path, deleted) = match link.strip_suffix(DELETED) {
        Some(p) => (p, true),
        None => (link, false),
    };
    let root = root.map(|r| r.to_string_lossy().trim_end_matches('/').to_string());
    let seen = match root.as_deref() {
        Some(r) if !r.is_empty() => match path.strip_prefix(r) {
            Some(rest) if rest.starts_with('/') => rest,
            _ => path,
        },
        _ => path,
    };
    (seen.to_string(), deleted)
}

/// Container runtimes' prefixes of a cgroup directory holding a container
/// (systemd scopes name them `<prefix><id>.scope`).
const RUNTIME_PREFIXES: [&str; 5] = [
    "docker-",
    "cri-containerd-",
    "crio-",
    "libpod-",
    "containerd-",
];

/// The container a process runs in, from /proc/PID/cgroup: the 64-hex-digit
/// id of docker, containerd (CRI and plain), CRI-O and podman, whether the
/// cgroup driver is cgroupfs (`/docker/<id>`, `/kubepods/.../<id>`) or
/// systemd (`docker-<id>.scope`, `cri-containerd-<id>.scope`,
/// `crio-<id>.scope`, `libpod-<id>.scope`); or the machine name of a
/// systemd-nspawn container (`machine-<name>.scope`). The innermost match
/// of the first hierarchy that has one wins; None for a process in no
/// container.
pub fn container_id(cgroup: &str) -> Option<String> {
    cgroup.lines().find_map(|line| {
        let path = line.splitn(3, ':').nth(2)?;
        path.rsplit('/').find_map(container_of_dir)
    })
}

/// The container a cgroup directory's name holds, if any.
fn container_of_dir(dir: &str) -> Option<String> {
    let is_id = |s: &str| s.len() == 64 && s.bytes().all(|b| b.is_ascii_hexdigit());
    if is_id(dir) {
        return Some(dir.to_ascii_lowercase());
    }
    let stem = dir.strip_suffix(".scope").unwrap_or(dir);
    // podman's conmon runs beside the container, not in it.
    if stem.starts_with("libpod-conmon-") {
        return None;
    }
    for prefix in RUNTIME_PREFIXES {
        if let Some(id) = stem.strip_prefix(prefix).filter(|id| is_id(id)) {
            return Some(id.to_ascii_lowercase());
        }
    }
    // systemd-nspawn / machinectl: "machine-<name>.scope", with systemd's
    // escaping of '-' as \x2d.
    let machine = dir.strip_suffix(".scope")?.strip_prefix("machine-")?;
    (!machine.is_empty()).then(|| machine.replace("\\x2d", "-"))
}

/// The processes a `--binary` or `--name` session traces.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Wanted {
    /// The file at the path on gozt's side (same device and inode).
    pub file: Option<FileId>,
    /// The path as a process sees it.
    pub path: Option<String>,
    /// comm or the executable's base name.
    pub name: Option<String>,
}

impl Wanted {
    /// `--binary PATH`: the same file, or PATH as the process sees it.
    pub fn binary(path: &Path) -> Wanted {
        Wanted {
            file: FileId::of(path),
            path: Some(path.to_string_lossy().into_owned()),
            name: None,
        }
    }

    /// `--name NAME`.
    pub fn name(name: &str) -> Wanted {
        Wanted {
            name: Some(name.to_string()),
            ..Wanted::default()
        }
    }

    /// Whether the process of `facts` is one of them.
    pub fn matches(&self, facts: &ProcessFacts) -> bool {
        if facts.exe.is_empty() {
            // A kernel thread, or a process gozt may not look into.
            return false;
        }
        let same_file = self.file.is_some() && facts.exe_file == self.file;
        let same_path = self.path.as_deref() == Some(facts.exe.as_str());
        let same_name = self.name.as_deref().is_some_and(|n| {
            n == facts.comm || Path::new(&facts.exe).file_name().is_some_and(|b| b == n)
        });
        same_file || same_path || same_name
    }
}

/// The system's boot time, in seconds since the epoch (/proc/stat btime).
fn boot_time_s() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    stat.lines()
        .find_map(|l| l.strip_prefix("btime "))
        .and_then(|v| v.trim().parse().ok())
}

/// A process's start time, RFC 3339 in UTC, to the clock tick.
pub fn start_time(id: ProcId) -> Option<String> {
    let boot = boot_time_s()?;
    let ns =
        u128::from(boot) * 1_000_000_000 + u128::from(id.start_ticks) * u128::from(ns_per_tick());
    let t = std::time::UNIX_EPOCH + std::time::Duration::from_nanos(u64::try_from(ns).ok()?);
    Some(humantime::format_rfc3339_millis(t).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4c01db0b339c7a2c9c6d5b1d8a6c4b5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c";

    #[test]
    fn container_ids_of_each_runtime_and_cgroup_driver() {
        let cases = [
            (format!("0::/system.slice/docker-{ID}.scope\n"), Some(ID)),
            (format!("12:memory:/docker/{ID}\n0::/\n"), Some(ID)),
            (
                format!(
                    "0::/kubepods.slice/kubepods-burstable.slice/\
                     kubepods-burstable-pod1f2e.slice/cri-containerd-{ID}.scope\n"
                ),
                Some(ID),
            ),
            (
                format!("0::/kubepods/besteffort/pod0d5c-11ee/{ID}\n"),
                Some(ID),
            ),
            (format!("0::/kubepods.slice/crio-{ID}.scope\n"), Some(ID)),
            (
                format!(
                    "0::/user.slice/user-1000.slice/user@1000.service/user.slice/\
                     libpod-{ID}.scope/container\n"
                ),
                Some(ID),
            ),
            (
                format!("0::/machine.slice/libpod-conmon-{ID}.scope\n"),
                None,
            ),
            ("0::/init.scope\n".to_string(), None),
            (
                "0::/user.slice/user-0.slice/session-3.scope\n".to_string(),
                None,
            ),
            // A 32-digit id is no container runtime's.
            (
                "4:memory:/process_api/1775be77459d8b7abb0189573f5d1ba6\n0::/\n".to_string(),
                None,
            ),
        ];
        for (cgroup, want) in cases {
            assert_eq!(container_id(&cgroup).as_deref(), want, "{cgroup}");
        }
        assert_eq!(
            container_id("0::/machine.slice/machine-web\\x2d1.scope\n").as_deref(),
            Some("web-1")
        );
    }

    #[test]
    fn stat_fields_are_counted_after_the_comm() {
        let stat = "4242 (a) b (c)) S 1 4242 4242 0 -1 4194560 100 0 0 0 5 3 0 0 20 0 \
                    4 0 987654 1000000 200 18446744073709551615";
        assert_eq!(parse_stat(stat), Some(("a) b (c)".to_string(), 987654)));
        assert_eq!(parse_stat("garbage"), None);
    }

    #[test]
    fn the_namespace_pid_is_the_innermost() {
        assert_eq!(parse_ns_pid("Name:\tapp\nNSpid:\t31337\t7\t1\n"), Some(1));
        assert_eq!(parse_ns_pid("Name:\tapp\nNSpid:\t31337\n"), Some(31337));
        assert_eq!(parse_ns_pid("Name:\tapp\n"), None);
    }

    #[test]
    fn the_executable_is_named_as_the_process_sees_it() {
        let root = Path::new("/var/lib/ctr/rootfs");
        assert_eq!(
            seen_path("/var/lib/ctr/rootfs/usr/local/bin/app", Some(root)),
            ("/usr/local/bin/app".to_string(), false)
        );
        assert_eq!(
            seen_path("/var/lib/ctr/rootfs/app (deleted)", Some(root)),
            ("/app".to_string(), true)
        );
        // Outside its root (a file passed in), or root "/": unchanged.
        assert_eq!(
            seen_path("/usr/bin/app", Some(root)),
            ("/usr/bin/app".to_string(), false)
        );
        assert_eq!(
            seen_path("/usr/bin/app", Some(Path::new("/"))),
            ("/usr/bin/app".to_string(), false)
        );
        // A sibling directory with the root's name as a prefix is not in it.
        assert_eq!(
            seen_path("/var/lib/ctr/rootfs2/app", Some(root)),
            ("/var/lib/ctr/rootfs2/app".to_string(), false)
        );
    }

    #[test]
    fn wanted_processes_by_file_path_or_name() {
        let facts = ProcessFacts {
            id: ProcId {
                pid: 9,
                start_ticks: 5,
            },
            comm: "app-worker".into(),
            exe: "/usr/local/bin/app".into(),
            exe_file: Some(FileId { dev: 1, ino: 2 }),
            ..ProcessFacts::default()
        };
        let by = |file, path: Option<&str>, name: Option<&str>| Wanted {
            file,
            path: path.map(str::to_string),
            name: name.map(str::to_string),
        };
        assert!(by(Some(FileId { dev: 1, ino: 2 }), Some("/host/x"), None).matches(&facts));
        assert!(by(None, Some("/usr/local/bin/app"), None).matches(&facts));
        assert!(!by(Some(FileId { dev: 1, ino: 3 }), Some("/app"), None).matches(&facts));
        assert!(by(None, None, Some("app")).matches(&facts));
        assert!(by(None, None, Some("app-worker")).matches(&facts));
        assert!(!by(None, None, Some("ap")).matches(&facts));
        let kernel_thread = ProcessFacts {
            exe: String::new(),
            ..facts
        };
        assert!(!by(None, None, Some("app-worker")).matches(&kernel_thread));
    }

    #[test]
    fn this_process_is_read_from_its_proc_directory() {
        let me = std::process::id();
        let f = read_facts(Path::new("/proc/self"), me).unwrap();
        assert_eq!(f.id.pid, me);
        assert!(f.id.start_ticks > 0);
        assert_eq!(
            f.exe,
            std::fs::read_link("/proc/self/exe")
                .unwrap()
                .display()
                .to_string()
        );
        assert!(!f.exe_deleted);
        assert_eq!(f.exe_file, FileId::of(Path::new("/proc/self/exe")));
        assert!(f.ns_pid.is_some());
        assert!(start_time(f.id).unwrap().ends_with('Z'));
    }
}
