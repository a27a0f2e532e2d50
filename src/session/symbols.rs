//! Names the functions at runtime addresses of traced processes. A process
//! is its pid and start time ([`ProcId`]): a pid reused by another process
//! starts afresh. Its executable is found by the file it maps (device and
//! inode, /proc/PID/maps and map_files), never by a path resolved in
//! gozt's own mount namespace, so containers, deleted and renamed binaries
//! and a gozt in its own namespace are all named. A PIE is placed by its
//! mappings of the executable; a process gone before they were read is
//! placed by the address of the RET that ended one of its calls (the
//! function's RET offsets are known, its load address is page-aligned).
//! Fixed-address executables need neither.

use std::collections::HashMap;

use crate::event::CallEvent;
use crate::go_binary::GoBinary;
use crate::proc::identity::{FileId, ProcId};
use crate::proc::os::{Mapping, Os};
use crate::stats::Symbolizer;

/// Where a process's executable is loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Placement {
    /// Its mappings of the executable.
    Maps(Vec<Mapping>),
    /// Runtime address = link-time address + this.
    Bias(u64),
}

/// A binary read while the session runs.
enum Later {
    Own(Box<GoBinary>),
    Copy(usize),
}

/// Why a process's callers could not be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unnamed {
    /// Its mappings could not be read (it had exited) and no RET of its
    /// calls placed its executable.
    NotPlaced,
    /// It runs another file than the binary gozt read.
    OtherFile,
}

impl Unnamed {
    pub fn reason(self) -> &'static str {
        match self {
            Unnamed::NotPlaced => {
                "its mappings could not be read (it had exited) and no call placed its executable"
            }
            Unnamed::OtherFile => "it runs another file than the binary gozt read",
        }
    }
}

/// The symbolizer of a session.
pub struct ProcSymbols<'a> {
    binaries: &'a [GoBinary],
    /// Binaries read while the session runs (new executables that match
    /// --binary/--name), indexed after `binaries`: each its own, or (a
    /// copy) the index of the one it is the same program as.
    later: Vec<Later>,
    /// Each binary's file on gozt's side, by binary index.
    files: Vec<Option<FileId>>,
    /// By function id: its binary and its RETs' link-time addresses.
    rets: Vec<(usize, Vec<u64>)>,
    /// The process now behind each pid: the latest one seen.
    current: HashMap<u32, ProcId>,
    placed: HashMap<ProcId, (usize, Placement)>,
    /// Processes whose mappings were looked for in vain, and why.
    unplaced: HashMap<ProcId, Unnamed>,
    cache: HashMap<(ProcId, u64), Option<String>>,
    /// The binary each named target runs.
    binary_of_pid: HashMap<u32, usize>,
    /// With --binary or --name: a process runs the binary of its file.
    by_file: bool,
}

impl<'a> ProcSymbols<'a> {
    /// The symbolizer of `binaries`: of the named targets' (by pid), or
    /// with `by_file` of any process that runs one of their files.
    pub fn new(
        binaries: &'a [GoBinary],
        binary_of_pid: HashMap<u32, usize>,
        by_file: bool,
    ) -> ProcSymbols<'a> {
        ProcSymbols {
            binaries,
            later: Vec::new(),
            files: binaries.iter().map(|b| FileId::of(&b.path)).collect(),
            rets: Vec::new(),
            current: HashMap::new(),
            placed: HashMap::new(),
            unplaced: HashMap::new(),
            cache: HashMap::new(),
            binary_of_pid,
            by_file,
        }
    }

    /// Each function's binary and RET addresses, by function id: they place
    /// a process gone before its mappings were read.
    pub fn with_rets(mut self, rets: Vec<(usize, Vec<u64>)>) -> Self {
        self.rets = rets;
        self
    }

    /// The binaries' files as gozt opened them (a binary read through
    /// /proc/PID/exe is that process's file).
    pub fn with_files(mut self, files: Vec<Option<FileId>>) -> Self {
        self.files = files;
        self
    }

    /// A binary read while the session runs: its file as gozt opened it,
    /// and its new functions' binary and RETs (by function id, after those
    /// before). Its index is the next.
    pub fn add_binary(
        &mut self,
        bin: GoBinary,
        file: Option<FileId>,
        rets: Vec<(usize, Vec<u64>)>,
    ) {
        self.files.resize(self.count(), None);
        self.files.push(file);
        self.later.push(Later::Own(Box::new(bin)));
        self.rets.extend(rets);
    }

    /// A copy of binary `of` read while the session runs, from `file`: its
    /// index is the next, its symbols `of`'s (nothing more is kept).
    pub fn add_copy(&mut self, of: usize, file: Option<FileId>) {
        self.files.resize(self.count(), None);
        self.files.push(file);
        self.later.push(Later::Copy(of));
    }

    /// File `file` is no longer known (detached and forgotten: its inode
    /// may be another file's later): no process is taken for one of its
    /// binaries by it.
    pub fn forget_file(&mut self, file: FileId) {
        for f in &mut self.files {
            if *f == Some(file) {
                *f = None;
            }
        }
    }

    /// What is kept for process `id`, once it has exited and its calls are
    /// counted: its placement and the names looked up for it (why its
    /// callers could not be named stays, for the report's warnings).
    pub fn forget(&mut self, id: ProcId) {
        self.placed.remove(&id);
        self.cache.retain(|(p, _), _| *p != id);
        if self.current.get(&id.pid) == Some(&id) {
            self.current.remove(&id.pid);
        }
    }

    /// How many binaries it names by.
    fn count(&self) -> usize {
        self.binaries.len() + self.later.len()
    }

    /// Binary `i`: one read at the start, or later.
    fn binary(&self, i: usize) -> Option<&GoBinary> {
        match i.checked_sub(self.binaries.len()) {
            None => self.binaries.get(i),
            Some(j) => match self.later.get(j)? {
                Later::Own(b) => Some(b),
                // A copy of a copy is not made: `of` is a program's first.
                Later::Copy(of) if *of < i => self.binary(*of),
                Later::Copy(_) => None,
            },
        }
    }

    fn id_of(&self, pid: u32) -> ProcId {
        self.current.get(&pid).copied().unwrap_or(ProcId {
            pid,
            start_ticks: 0,
        })
    }

    /// Whether the process now behind `pid` is placed.
    pub fn knows(&self, pid: u32) -> bool {
        self.placed.contains_key(&self.id_of(pid))
    }

    /// Why the process `id`'s callers could not be named, if so.
    pub fn unnamed(&self, id: ProcId) -> Option<Unnamed> {
        if self.placed.contains_key(&id) {
            return None;
        }
        self.unplaced.get(&id).copied()
    }

    /// The binary of the process behind `pid`: the named target's, or with
    /// --binary/--name the one binary (which file, `learn` checks).
    fn binary_of(&self, pid: u32) -> Option<usize> {
        self.binary_of_pid
            .get(&pid)
            .copied()
            .or_else(|| (self.by_file && self.count() == 1).then_some(0))
    }

    /// Reads the mappings of the process behind `pid`, if it runs the file
    /// it is traced for (until a traced command has exec'd, its pid runs
    /// /bin/sh). True once placed.
    pub fn learn(&mut self, os: &dyn Os, pid: u32) -> bool {
        let Some(facts) = os.facts(pid) else {
            return false;
        };
        self.current.insert(pid, facts.id);
        self.learn_facts(os, facts.id, facts.exe_file)
    }

    fn learn_facts(&mut self, os: &dyn Os, id: ProcId, exe: Option<FileId>) -> bool {
        let Some(maps) = os.exe_mappings(id.pid) else {
            return false;
        };
        // The same file: through /proc/PID/exe, or as the maps name it.
        let same = |b: usize| {
            let want = self.files.get(b).copied().flatten();
            want.is_some() && (exe == want || maps.files.iter().any(|f| Some(*f) == want))
        };
        let b = match self.binary_of_pid.get(&id.pid) {
            Some(&b) => Some(b).filter(|&b| same(b)),
            None if self.by_file => (0..self.count()).find(|&b| same(b)),
            None => None,
        };
        let Some(b) = b else {
            self.unplaced.insert(id, Unnamed::OtherFile);
            return false;
        };
        self.unplaced.remove(&id);
        self.placed.insert(id, (b, Placement::Maps(maps.ranges)));
        true
    }

    /// Takes note of the process of one call, before its caller is named:
    /// a pid now run by another process starts afresh, and a process seen
    /// for the first time is placed. True when the pid was another
    /// process's before (the caller names cached for it are stale).
    pub fn observe(&mut self, os: &dyn Os, ev: &CallEvent) -> bool {
        let id = ProcId::of_event(ev.tgid, ev.proc_start_ns);
        let before = self.current.insert(ev.tgid, id);
        let reused = before.is_some_and(|b| b != id && ev.proc_start_ns != 0);
        if reused {
            self.cache.retain(|(p, _), _| p.pid != ev.tgid);
        }
        if self.placed.contains_key(&id) {
            return reused;
        }
        if !self.unplaced.contains_key(&id) {
            // The pid's process now, if still the one of the event.
            let now = os.facts(ev.tgid);
            if let Some(f) = now.filter(|f| ev.proc_start_ns == 0 || f.id == id) {
                if self.learn_facts(os, id, f.exe_file) {
                    return reused;
                }
            }
            self.unplaced.entry(id).or_insert(Unnamed::NotPlaced);
        }
        if self.unplaced.get(&id) == Some(&Unnamed::NotPlaced) {
            if let Some(p) = self.place_by_ret(ev) {
                self.unplaced.remove(&id);
                self.placed.insert(id, p);
            }
        }
        reused
    }

    /// Where the executable of `ev`'s process is loaded, from the address
    /// of the RET that ended its call.
    fn place_by_ret(&self, ev: &CallEvent) -> Option<(usize, Placement)> {
        let (b, rets) = self.rets.get(ev.func_id as usize)?;
        if !self.binary(*b)?.pie {
            return Some((*b, Placement::Bias(0)));
        }
        load_bias(ev.ret_ip, rets).map(|bias| (*b, Placement::Bias(bias)))
    }
}

/// The load address of a PIE (runtime minus link-time address) from the
/// runtime address `ret_ip` of one of the RETs at link-time `rets`: the one
/// page-aligned difference; None when none or several fit.
fn load_bias(ret_ip: u64, rets: &[u64]) -> Option<u64> {
    if ret_ip == 0 {
        return None;
    }
    let mut biases = rets
        .iter()
        .map(|&v| ret_ip.wrapping_sub(v))
        .filter(|bias| bias % 4096 == 0);
    let bias = biases.next()?;
    // Two RETs whose distance is a multiple of a page could both fit.
    biases.all(|other| other == bias).then_some(bias)
}

impl Symbolizer for ProcSymbols<'_> {
    fn function_at(&mut self, pid: u32, addr: u64) -> Option<String> {
        let id = self.id_of(pid);
        if let Some(hit) = self.cache.get(&(id, addr)) {
            return hit.clone();
        }
        let name = match self.placed.get(&id) {
            Some((bin, Placement::Maps(ranges))) => {
                let bin = self.binary(*bin)?;
                ranges
                    .iter()
                    .find(|m| addr >= m.start && addr < m.end)
                    .and_then(|m| bin.layout.vaddr_of_offset(addr - m.start + m.offset))
                    .and_then(|v| bin.function_at(v))
                    .map(|f| f.name.clone())
            }
            Some((bin, Placement::Bias(bias))) => self
                .binary(*bin)?
                .function_at(addr.wrapping_sub(*bias))
                .map(|f| f.name.clone()),
            // A fixed-address executable needs no mappings.
            None => {
                let bin = self.binary(self.binary_of(pid)?)?;
                if bin.pie {
                    return None;
                }
                bin.function_at(addr).map(|f| f.name.clone())
            }
        };
        self.cache.insert((id, addr), name.clone());
        name
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ret_address_places_a_pie_by_its_page_aligned_load_address() {
        let base = 0x5555_5550_0000;
        let rets = [0x4_1234, 0x4_1290, 0x4_12f0];
        for r in rets {
            assert_eq!(load_bias(base + r, &rets), Some(base), "{r:#x}");
        }
        // Unknown address, or no RET fits.
        assert_eq!(load_bias(0, &rets), None);
        assert_eq!(load_bias(base + 0x4_1235, &rets), None);
        // Two RETs a page apart: either could have trapped.
        assert_eq!(load_bias(base + 0x5_1234, &[0x4_1234, 0x5_1234]), None);
    }
}
