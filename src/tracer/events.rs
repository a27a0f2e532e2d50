//! Classic uprobes grouped through tracefs (kernels without uprobe.multi):
//! one uprobe event per binary holds every site of it (a multi-probe event,
//! Linux 5.4+), and one perf event turns them all on and off together.
//!
//! Why: a perf event's teardown waits for an RCU grace period (and an SRCU
//! one) while holding the kernel's global `event_mutex`
//! (`perf_uprobe_destroy`, `perf_trace_event_unreg`), so one perf uprobe per
//! site detaches one grace period after another, however many threads close
//! them: 22 s for 261 sites on 6.18. A grouped event waits once.
//!
//! The definitions live in `uprobe_events` until gozt removes them; a gozt
//! killed outright leaves them defined but unused (no breakpoint is placed
//! while no perf event holds them), and the next gozt removes those of
//! groups whose process is gone.

use std::ffi::CString;
use std::fs::File;
use std::io::Write;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Arc;

/// Where uprobe events are defined: a tracefs, held by a descriptor of its
/// root directory (so that one gozt mounted itself can be unmounted at
/// once and still used).
#[derive(Debug, Clone)]
pub struct Tracefs {
    dir: Arc<OwnedFd>,
    /// Where it is mounted, or how gozt got it.
    shown: String,
}

/// The usual mount points.
const MOUNTED: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

impl Tracefs {
    /// A mounted tracefs whose `uprobe_events` this process can write.
    pub fn find() -> Option<Tracefs> {
        MOUNTED.into_iter().find_map(|d| {
            let t = Tracefs {
                dir: Arc::new(open_dir(Path::new(d)).ok()?),
                shown: d.to_string(),
            };
            t.open("uprobe_events", true).ok().map(|_| t)
        })
    }

    /// A mounted one, else one gozt mounts on a directory of its own and
    /// detaches from every path at once (MNT_DETACH: the descriptor keeps
    /// it usable, and nothing shows in the mount table but for that
    /// instant). Root only.
    pub fn find_or_mount() -> Option<Tracefs> {
        Tracefs::find().or_else(|| {
            let point = std::env::temp_dir().join(format!("gozt-tracefs-{}", std::process::id()));
            std::fs::create_dir(&point).ok()?;
            let dir = mount_and_open(&point);
            let _ = std::fs::remove_dir(&point);
            let t = Tracefs {
                dir: Arc::new(dir?),
                shown: "mounted by gozt while it runs".to_string(),
            };
            t.open("uprobe_events", true).ok().map(|_| t)
        })
    }

    /// Where it is (for `gozt info` and `-v`).
    pub fn shown(&self) -> &str {
        &self.shown
    }

    /// A file of it, by its path below the root.
    fn open(&self, rel: &str, append: bool) -> std::io::Result<File> {
        let c = CString::new(rel).map_err(std::io::Error::other)?;
        let flags = libc::O_CLOEXEC
            | if append {
                libc::O_WRONLY | libc::O_APPEND
            } else {
                libc::O_RDONLY
            };
        // SAFETY: a NUL-terminated relative path under a directory
        // descriptor we hold; the result is a new descriptor or -1.
        let fd = unsafe { libc::openat(self.dir.as_raw_fd(), c.as_ptr(), flags) };
        if fd < 0 {
            return Err(std::io::Error::last_os_error());
        }
        // SAFETY: a non-negative return is a descriptor we now own.
        Ok(unsafe { File::from_raw_fd(fd) })
    }

    fn read(&self, rel: &str) -> std::io::Result<String> {
        std::io::read_to_string(self.open(rel, false)?)
    }

    /// Runs commands in `uprobe_events`, all in one write (the kernel runs
    /// them line by line, and stops at the first that fails), never
    /// truncating it: that would delete every uprobe event of the machine.
    fn command(&self, lines: &[String]) -> std::io::Result<()> {
        if lines.is_empty() {
            return Ok(());
        }
        let mut f = self.open("uprobe_events", true)?;
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        f.write_all(text.as_bytes()).map_err(|e| {
            let what = match lines {
                [one] => format!("`{one}`"),
                _ => format!("{} lines from `{}`", lines.len(), lines[0]),
            };
            self.explained(e, &what)
        })
    }

    /// An error with the kernel's reason when it logged one.
    fn explained(&self, e: std::io::Error, what: &str) -> std::io::Error {
        let reason = self
            .read("error_log")
            .ok()
            .and_then(|log| {
                log.lines()
                    .rev()
                    .find(|l| l.contains("trace_uprobe:"))
                    .map(|l| l.trim().to_string())
            })
            .map_or(String::new(), |r| format!(" ({r})"));
        std::io::Error::new(e.kind(), format!("{what}: {e}{reason}"))
    }

    /// Removes the events of gozt groups whose process is gone (a gozt
    /// killed outright).
    pub fn remove_stale(&self) {
        let Ok(defs) = self.read("uprobe_events") else {
            return;
        };
        let mut stale: Vec<String> = Vec::new();
        for def in defs.lines() {
            let Some((group, event)) = def
                .split_whitespace()
                .next()
                .and_then(|d| d.split_once(':'))
                .and_then(|(_, name)| name.split_once('/'))
            else {
                continue;
            };
            let Some(pid) = group.strip_prefix(GROUP_PREFIX) else {
                continue;
            };
            let name = format!("{group}/{event}");
            if !alive(pid) && !stale.contains(&name) {
                stale.push(name);
            }
        }
        for name in stale {
            let _ = self.command(&[format!("-:{name}")]);
        }
    }
}

/// A directory, opened to be used as a base for openat.
fn open_dir(path: &Path) -> std::io::Result<OwnedFd> {
    let c = CString::new(path.as_os_str().as_encoded_bytes()).map_err(std::io::Error::other)?;
    // SAFETY: a NUL-terminated path; the result is a new descriptor or -1.
    let fd = unsafe {
        libc::open(
            c.as_ptr(),
            libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Mounts a tracefs on `point`, opens its root, and detaches the mount.
fn mount_and_open(point: &Path) -> Option<OwnedFd> {
    let target = CString::new(point.as_os_str().as_encoded_bytes()).ok()?;
    // SAFETY: NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            c"tracefs".as_ptr(),
            target.as_ptr(),
            c"tracefs".as_ptr(),
            libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return None;
    }
    let dir = open_dir(point);
    // SAFETY: the mount point made above; a lazy unmount of it.
    unsafe { libc::umount2(target.as_ptr(), libc::MNT_DETACH) };
    dir.ok()
}

/// The prefix of gozt's event groups: `gozt_<pid>`.
const GROUP_PREFIX: &str = "gozt_";

/// Whether process `pid` lives (whatever it runs now: a gozt's events are
/// left alone while its pid is taken).
fn alive(pid: &str) -> bool {
    pid.parse::<u32>().is_ok() && Path::new("/proc").join(pid).exists()
}

/// One binary's sites as one uprobe event; removed when dropped.
#[derive(Debug)]
pub struct Event {
    tracefs: Tracefs,
    name: String,
    id: u64,
}

impl Event {
    /// Defines event `index` of this gozt on `binary` at `offsets`, in that
    /// order (the kernel places them in it when the event is enabled).
    pub fn define(
        tracefs: &Tracefs,
        index: usize,
        binary: &Path,
        offsets: &[usize],
    ) -> std::io::Result<Event> {
        let group = format!("{GROUP_PREFIX}{}", std::process::id());
        let name = format!("{group}/b{index}");
        // The kernel splits a definition at white space: such a path goes
        // by a descriptor of ours (resolved while the line is parsed).
        let file;
        let path = match binary.to_str() {
            Some(p) if !p.chars().any(|c| c.is_whitespace() || c.is_control()) => p.to_string(),
            _ => {
                file = std::fs::File::open(binary)?;
                format!("/proc/self/fd/{}", file.as_raw_fd())
            }
        };
        let lines: Vec<String> = offsets
            .iter()
            .map(|off| format!("p:{name} {path}:{off:#x}"))
            .collect();
        let mut event = Event {
            tracefs: tracefs.clone(),
            name,
            id: 0,
        };
        // Dropped on failure: the lines written so far go.
        tracefs.command(&lines)?;
        let id_file = format!("events/{group}/b{index}/id");
        event.id = tracefs
            .read(&id_file)?
            .trim()
            .parse()
            .map_err(|_| std::io::Error::other(format!("{id_file}: not a number")))?;
        Ok(event)
    }

    /// A perf event of it, for process `pid` or every process, disabled
    /// until a program is attached: opening it places the breakpoints.
    pub fn open(&self, pid: Option<i32>) -> std::io::Result<OwnedFd> {
        open_trace_event(self.id, pid)
    }
}

/// A perf event of the kernel's tracepoint `category/name` (its id read
/// from `tracefs`), for every process, disabled until a program is
/// attached: where libbpf finds no tracefs mounted to read the id from
/// (gozt's own mount is not at a path).
pub fn open_tracepoint(tracefs: &Tracefs, category: &str, name: &str) -> std::io::Result<OwnedFd> {
    let id_file = format!("events/{category}/{name}/id");
    let id = tracefs
        .read(&id_file)?
        .trim()
        .parse()
        .map_err(|_| std::io::Error::other(format!("{id_file}: not a number")))?;
    open_trace_event(id, None)
}

/// A perf event of trace event `id`, for process `pid` or every process,
/// disabled until a program is attached.
fn open_trace_event(id: u64, pid: Option<i32>) -> std::io::Result<OwnedFd> {
    let mut attr = libbpf_sys::perf_event_attr {
        type_: libbpf_sys::PERF_TYPE_TRACEPOINT,
        size: std::mem::size_of::<libbpf_sys::perf_event_attr>() as u32,
        config: id,
        ..Default::default()
    };
    attr.set_disabled(1);
    // Every process: one event on CPU 0 (the program runs on every CPU: it
    // hangs off the trace event, not off the perf event).
    let (pid, cpu) = match pid {
        Some(p) => (p, -1),
        None => (-1, 0),
    };
    // SAFETY: attr is a sized perf_event_attr; the result is a new
    // descriptor or -1.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_perf_event_open,
            &attr as *const libbpf_sys::perf_event_attr,
            pid,
            cpu,
            -1,
            libbpf_sys::PERF_FLAG_FD_CLOEXEC as libc::c_ulong,
        )
    };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a non-negative return is a descriptor we now own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

impl Drop for Event {
    fn drop(&mut self) {
        let _ = self.tracefs.command(&[format!("-:{}", self.name)]);
    }
}
