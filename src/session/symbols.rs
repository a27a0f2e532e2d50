//! Names the functions at runtime addresses of traced processes: through the
//! process's mappings of its executable (PIE), or directly for fixed-address
//! executables, whose runtime addresses are their link-time ones.

use std::collections::HashMap;

use crate::go_binary::GoBinary;
use crate::os::{Mapping, Os};
use crate::stats::Symbolizer;

/// The symbolizer of a session.
pub struct ProcSymbols<'a> {
    binaries: &'a [GoBinary],
    /// pid -> (binary index, its executable's mappings).
    maps: HashMap<u32, (usize, Vec<Mapping>)>,
    cache: HashMap<(u32, u64), Option<String>>,
    /// The binary each named target runs.
    binary_of_pid: HashMap<u32, usize>,
    /// With --binary, the one binary every process runs.
    single_binary: Option<usize>,
}

impl<'a> ProcSymbols<'a> {
    pub fn new(
        binaries: &'a [GoBinary],
        binary_of_pid: HashMap<u32, usize>,
        single_binary: Option<usize>,
    ) -> ProcSymbols<'a> {
        ProcSymbols {
            binaries,
            maps: HashMap::new(),
            cache: HashMap::new(),
            binary_of_pid,
            single_binary,
        }
    }

    /// Whether `pid`'s mappings are known.
    pub fn knows(&self, pid: u32) -> bool {
        self.maps.contains_key(&pid)
    }

    fn binary_of(&self, pid: u32) -> Option<usize> {
        self.binary_of_pid.get(&pid).copied().or(self.single_binary)
    }

    /// Reads `pid`'s mappings of its executable, if it runs the binary it is
    /// traced for (until a traced command has exec'd, its pid runs /bin/sh).
    pub fn learn(&mut self, os: &dyn Os, pid: u32) {
        let Some(b) = self.binary_of(pid) else {
            return;
        };
        let exe = os.exe(pid);
        if exe.is_none() || exe != std::fs::canonicalize(&self.binaries[b].path).ok() {
            return;
        }
        if let Some(ranges) = os.exe_mappings(pid) {
            self.maps.insert(pid, (b, ranges));
        }
    }
}

impl Symbolizer for ProcSymbols<'_> {
    fn function_at(&mut self, pid: u32, addr: u64) -> Option<String> {
        if let Some(hit) = self.cache.get(&(pid, addr)) {
            return hit.clone();
        }
        let name = match self.maps.get(&pid) {
            Some((bin, ranges)) => {
                let bin = &self.binaries[*bin];
                ranges
                    .iter()
                    .find(|m| addr >= m.start && addr < m.end)
                    .and_then(|m| bin.layout.vaddr_of_offset(addr - m.start + m.offset))
                    .and_then(|v| bin.function_at(v))
                    .map(|f| f.name.clone())
            }
            // A fixed-address executable needs no mappings. A short-lived
            // target may be gone before its mappings were read.
            None => {
                let bin = &self.binaries[self.binary_of(pid)?];
                if bin.pie {
                    return None;
                }
                bin.function_at(addr).map(|f| f.name.clone())
            }
        };
        self.cache.insert((pid, addr), name.clone());
        name
    }
}
