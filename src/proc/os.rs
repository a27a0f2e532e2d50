//! What a session asks the operating system about its targets, as a trait:
//! [`ProcOs`] answers from /proc (through the `procfs` crate), and tests put
//! a fake in its place, so the session's logic runs without root or real
//! processes.

use std::path::Path;

use crate::base::pid::Pid;

pub use crate::proc::identity::{FileId, ProcId, ProcessFacts};

/// One mapping of a file: start and end address, file offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mapping {
    pub start: u64,
    pub end: u64,
    pub offset: u64,
}

/// A process's mappings of its executable, found by the file they map
/// (device and inode), not by any path.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExeMappings {
    /// The (device, inode) pairs /proc/PID/maps gives them (an overlay's
    /// file maps as the file beneath it).
    pub files: Vec<FileId>,
    pub ranges: Vec<Mapping>,
}

/// The questions a session asks about processes.
pub trait Os {
    /// Whether `pid` still runs: it exists and is not a zombie (a dead
    /// process keeps its /proc entry until its parent reaps it).
    fn alive(&self, pid: u32) -> bool;
    /// User plus system CPU time of `pid`, in nanoseconds.
    fn cpu_ns(&self, pid: u32) -> Option<u64>;
    /// Who `pid` is and what it runs.
    fn facts(&self, pid: u32) -> Option<ProcessFacts>;
    /// The mappings of `pid`'s executable, once its text is mapped: exec
    /// switches /proc/PID/exe before it maps the segments, and until the
    /// executable one is in, the mappings are not yet the program's.
    fn exe_mappings(&self, pid: u32) -> Option<ExeMappings>;
    /// Processes whose executable is the file `path` (same device and
    /// inode), or is `path` as the process itself sees it (in its own mount
    /// namespace and root), or (with `name`) whose comm or executable's
    /// base name is `name`.
    fn running(&self, want: &crate::proc::identity::Wanted) -> Vec<ProcId>;
}

/// The real system.
#[derive(Debug, Default, Clone, Copy)]
pub struct ProcOs;

impl Os for ProcOs {
    fn alive(&self, pid: u32) -> bool {
        procfs::process::Process::new(Pid::from_tgid(pid).raw())
            .and_then(|p| p.stat())
            .is_ok_and(|s| !matches!(s.state, 'Z' | 'X' | 'x'))
    }

    fn cpu_ns(&self, pid: u32) -> Option<u64> {
        let stat = procfs::process::Process::new(Pid::from_tgid(pid).raw())
            .ok()?
            .stat()
            .ok()?;
        let tick = procfs::ticks_per_second().max(1);
        Some((stat.utime + stat.stime) * (1_000_000_000 / tick))
    }

    fn facts(&self, pid: u32) -> Option<ProcessFacts> {
        crate::proc::identity::read_facts(Path::new(&format!("/proc/{pid}")), pid)
    }

    fn exe_mappings(&self, pid: u32) -> Option<ExeMappings> {
        use std::os::unix::fs::MetadataExt;
        let process = procfs::process::Process::new(Pid::from_tgid(pid).raw()).ok()?;
        let exe = std::fs::metadata(format!("/proc/{pid}/exe")).ok()?;
        let exe = FileId {
            dev: exe.dev(),
            ino: exe.ino(),
        };
        let exe_name = std::fs::read_link(format!("/proc/{pid}/exe")).ok();
        let maps = process.maps().ok()?;
        // The executable's (device, inode) as the maps give them: the
        // mapping whose map_files link is the exe file, else the one of the
        // same name (both names come from this process's view of the files).
        let mut files: Vec<FileId> = Vec::new();
        for m in &maps {
            let procfs::process::MMapPath::Path(p) = &m.pathname else {
                continue;
            };
            let id = FileId {
                dev: libc::makedev(m.dev.0 as u32, m.dev.1 as u32),
                ino: m.inode,
            };
            let link = format!("/proc/{pid}/map_files/{:x}-{:x}", m.address.0, m.address.1);
            let same_file =
                std::fs::metadata(&link).is_ok_and(|f| f.dev() == exe.dev && f.ino() == exe.ino);
            let same_name = exe_name.as_ref().is_some_and(|e| e == p);
            if (same_file || same_name || id == exe) && !files.contains(&id) {
                files.push(id);
            }
        }
        let ranges = executable_mappings(maps.into_iter().filter_map(|m| {
            let id = FileId {
                dev: libc::makedev(m.dev.0 as u32, m.dev.1 as u32),
                ino: m.inode,
            };
            files.contains(&id).then_some((
                Mapping {
                    start: m.address.0,
                    end: m.address.1,
                    offset: m.offset,
                },
                m.perms.contains(procfs::process::MMPermissions::EXECUTE),
            ))
        }))?;
        Some(ExeMappings { files, ranges })
    }

    fn running(&self, want: &crate::proc::identity::Wanted) -> Vec<ProcId> {
        let Ok(all) = procfs::process::all_processes() else {
            return Vec::new();
        };
        all.filter_map(Result::ok)
            .filter_map(|p| {
                let dir = Path::new("/proc").join(p.pid.to_string());
                let facts = crate::proc::identity::read_exe_facts(&dir, Pid::from(p.pid).tgid())?;
                want.matches(&facts).then_some(facts.id)
            })
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
        use crate::proc::identity::Wanted;
        let os = ProcOs;
        let me = std::process::id();
        assert!(os.alive(me));
        assert!(!os.alive(u32::MAX >> 1));
        assert!(os.cpu_ns(me).is_some());
        let facts = os.facts(me).unwrap();
        assert_eq!(facts.id.pid, me);
        let exe = std::fs::read_link("/proc/self/exe").unwrap();
        assert_eq!(facts.exe, exe.display().to_string());
        let by_path = Wanted::binary(&exe);
        assert!(os.running(&by_path).contains(&facts.id));
        let nowhere = Wanted::binary(Path::new("/nonexistent"));
        assert!(os.running(&nowhere).is_empty());
        let maps = os.exe_mappings(me).unwrap();
        let here = the_real_system_answers_about_this_process as *const () as u64;
        assert!(maps.ranges.iter().any(|m| (m.start..m.end).contains(&here)));
        let file = std::fs::metadata(&exe).unwrap();
        use std::os::unix::fs::MetadataExt;
        assert!(maps.files.contains(&FileId {
            dev: file.dev(),
            ino: file.ino()
        }));
    }
}
