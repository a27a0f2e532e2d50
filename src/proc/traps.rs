//! Whether a process's code already traps at given sites: a uprobe puts its
//! breakpoint in every process that maps the probed file, and the kernel
//! probes the file beneath an overlay (its real inode), while /proc shows
//! each container's overlay file as a file of its own. Two containers of
//! one image, or a container started again, run what looks like a new file
//! from /proc, but gozt's probes on the first already trap in them: probing
//! the second too would run gozt's program twice at every trap (each call
//! then counted once, but as abandoned and unmatched too, at twice the
//! cost). Reading the process's memory at the sites tells.

use std::os::unix::fs::FileExt;

use super::os::Os;
use crate::arch::Arch;

/// True when process `pid` has a uprobe breakpoint at every one of
/// `offsets` (file offsets in its executable; at most the first 8 are
/// read) where its executable's own bytes hold none: another probe of the
/// same sites (gozt's, on the file beneath) traps there already. False when
/// anything cannot be read. Processes are gozt's own architecture's.
pub fn already_trapped(os: &dyn Os, pid: u32, offsets: &[u64]) -> bool {
    let brk = Arch::HOST.uprobe_breakpoint();
    let Some(maps) = os.exe_mappings(pid) else {
        return false;
    };
    let (Ok(mem), Ok(exe)) = (
        std::fs::File::open(format!("/proc/{pid}/mem")),
        std::fs::File::open(format!("/proc/{pid}/exe")),
    ) else {
        return false;
    };
    let mut checked = 0;
    for &off in offsets.iter().take(8) {
        let Some(addr) = maps
            .ranges
            .iter()
            .find(|m| off >= m.offset && off - m.offset < m.end - m.start)
            .map(|m| m.start + (off - m.offset))
        else {
            return false;
        };
        let (mut live, mut file) = (vec![0u8; brk.len()], vec![0u8; brk.len()]);
        if mem.read_exact_at(&mut live, addr).is_err() || exe.read_exact_at(&mut file, off).is_err()
        {
            return false;
        }
        if live != brk || file == brk {
            return false;
        }
        checked += 1;
    }
    checked > 0
}
