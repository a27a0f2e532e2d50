//! What a session asks the operating system about its targets, as a trait:
//! [`ProcOs`] answers from /proc (through the `procfs` crate), and tests put
//! a fake in its place, so the session's logic runs without root or real
//! processes.

use std::path::{Path, PathBuf};

/// One mapping of a file: start and end address, file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
}

/// The questions a session asks about processes.
pub trait Os {
    /// Whether `pid` still runs: it exists and is not a zombie (a dead
    /// process keeps its /proc entry until its parent reaps it).
    fn alive(&self, pid: u32) -> bool;
    /// User plus system CPU time of `pid`, in nanoseconds.
    fn cpu_ns(&self, pid: u32) -> Option<u64>;
    /// The executable `pid` runs, as /proc/PID/exe names it.
    fn exe(&self, pid: u32) -> Option<PathBuf>;
    /// The mappings of `pid`'s executable, once its text is mapped: exec
    /// switches /proc/PID/exe before it maps the segments, and until the
    /// executable one is in, the mappings are not yet the program's.
    fn exe_mappings(&self, pid: u32) -> Option<Vec<Mapping>>;
    /// Processes whose executable is the file `path` (same device and
    /// inode).
    fn running(&self, path: &Path) -> Vec<u32>;
}

/// The real system.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcOs;

impl Os for ProcOs {
    fn alive(&self, pid: u32) -> bool {
        procfs::process::Process::new(pid as i32)
            .and_then(|p| p.stat())
            .is_ok_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
    }

    fn cpu_ns(&self, pid: u32) -> Option<u64> {
        let stat = procfs::process::Process::new(pid as i32)
            .ok()?
            .stat()
            .ok()?;
        let tick = procfs::ticks_per_second().max(1);
        Some((stat.utime + stat.stime) * (1_000_000_000 / tick))
    }

    fn exe(&self, pid: u32) -> Option<PathBuf> {
        procfs::process::Process::new(pid as i32).ok()?.exe().ok()
    }

    fn exe_mappings(&self, pid: u32) -> Option<Vec<Mapping>> {
        let process = procfs::process::Process::new(pid as i32).ok()?;
        let exe = process.exe().ok()?;
        let maps = process.maps().ok()?;
        executable_mappings(maps.into_iter().filter_map(|m| match m.pathname {
            procfs::process::MMapPath::Path(p) if p == exe => Some((
                Mapping {
                    start: m.address.0,
                    end: m.address.1,
                    offset: m.offset,
                },
                m.perms.contains(procfs::process::MMPermissions::EXECUTE),
            )),
            _ => None,
        }))
    }

    fn running(&self, path: &Path) -> Vec<u32> {
        use std::os::unix::fs::MetadataExt;
        let Ok(want) = std::fs::metadata(path) else {
            return Vec::new();
        };
        let Ok(all) = procfs::process::all_processes() else {
            return Vec::new();
        };
        all.filter_map(Result::ok)
            .filter(|p| {
                std::fs::metadata(format!("/proc/{}/exe", p.pid))
                    .is_ok_and(|m| m.dev() == want.dev() && m.ino() == want.ino())
            })
            .map(|p| p.pid as u32)
            .collect()
    }
}

/// The mappings, once one of them is executable.
fn executable_mappings(maps: impl Iterator<Item = (Mapping, bool)>) -> Option<Vec<Mapping>> {
    let mut executable = false;
    let ranges: Vec<Mapping> = maps
        .map(|(m, x)| {
            executable |= x;
            m
        })
        .collect();
    executable.then_some(ranges)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mappings_wait_for_the_text_segment() {
        let m = |start, end, offset| Mapping { start, end, offset };
        // Mid-exec: only the first (read-only) segment is mapped.
        assert_eq!(
            executable_mappings([(m(0x400000, 0x401000, 0), false)].into_iter()),
            None
        );
        let full = [
            (m(0x400000, 0x401000, 0), false),
            (m(0x401000, 0x480000, 0x1000), true),
        ];
        assert_eq!(
            executable_mappings(full.into_iter()),
            Some(vec![
                m(0x400000, 0x401000, 0),
                m(0x401000, 0x480000, 0x1000)
            ])
        );
    }

    #[test]
    fn the_real_system_answers_about_this_process() {
        let os = ProcOs;
        let me = std::process::id();
        assert!(os.alive(me));
        assert!(!os.alive(u32::MAX >> 1));
        assert!(os.cpu_ns(me).is_some());
        let exe = os.exe(me).unwrap();
        assert!(os.running(&exe).contains(&me));
        assert!(os.running(Path::new("/nonexistent")).is_empty());
        let maps = os.exe_mappings(me).unwrap();
        let here = the_real_system_answers_about_this_process as *const () as u64;
        assert!(maps.iter().any(|m| (m.start..m.end).contains(&here)));
    }
}
