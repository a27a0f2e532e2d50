//! What a session traces: its targets resolved into binaries, probe plans,
//! the session's function table, and the plain data the tracer attaches by;
//! and, in trace mode, the command, started and held before `exec`
//! ([`super::gate`]).

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use super::gate::Gate;
use super::{SessionConfig, SessionError};
use crate::arch::SinkLen;
use crate::base::error::Error;
use crate::base::gozt_h::GOZT_SINK_LEN_REG;
use crate::base::pid::Pid;
use crate::go_binary::GoBinary;
use crate::probe::catalog::{Loc, Point, Role, StreamOut};
use crate::probe::plan::{Plan, Probe, RequestSite};
use crate::proc::identity::{FileId, ProcessFacts, Wanted};
use crate::proc::os::Os;
use crate::stats::{FuncMeta, TargetInfo};
use crate::tracer::{BinarySites, FuncSpec, RequestSites, RequestSpec, SinkSite};

/// `--binary` and `--name`: the processes wanted, and the binaries they
/// run, by binary index: a name for reports and the Go version.
#[derive(Debug, Clone)]
pub struct BinaryTarget {
    pub wanted: Wanted,
    pub binaries: Vec<BinaryName>,
}

/// A binary of a `--binary`/`--name` session.
#[derive(Debug, Clone)]
pub struct BinaryName {
    pub name: String,
    pub go_version: String,
    pub module_version: Option<String>,
    pub build_id: Option<String>,
    pub file: Option<FileId>,
}

impl BinaryName {
    /// The binary `bin`, named `name`, read from `file`.
    pub fn of(name: String, bin: &GoBinary, file: Option<FileId>) -> BinaryName {
        BinaryName {
            name,
            go_version: bin.build.go_version.clone(),
            module_version: bin.build.main_version().map(str::to_string),
            build_id: bin.build_id.clone(),
            file,
        }
    }

    /// The target `pid` running it, with what was read of its process.
    pub fn target(&self, pid: u32, facts: Option<&ProcessFacts>) -> TargetInfo {
        let mut t = target_info(pid, self.name.clone(), self.go_version.clone(), facts);
        t.module_version.clone_from(&self.module_version);
        t.build_id.clone_from(&self.build_id);
        t
    }
}

impl BinaryTarget {
    /// The binaries' names, each once, in order.
    pub fn names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for b in &self.binaries {
            if !names.contains(&b.name.as_str()) {
                names.push(&b.name);
            }
        }
        names
    }

    /// The binary `facts`'s process runs: the one of the same file, else
    /// binary `hint` (of one of its calls' functions), else the first.
    pub fn index_of(&self, facts: Option<&ProcessFacts>, hint: Option<usize>) -> Option<usize> {
        let file = facts.and_then(|f| f.exe_file);
        self.binaries
            .iter()
            .position(|b| file.is_some() && b.file == file)
            .or(hint.filter(|&i| i < self.binaries.len()))
            .or((!self.binaries.is_empty()).then_some(0))
    }
}

/// A target's facts in the report: who it is, what it runs.
pub fn target_info(
    pid: u32,
    binary: String,
    go_version: String,
    facts: Option<&ProcessFacts>,
) -> TargetInfo {
    let mut t = TargetInfo {
        pid,
        binary,
        go_version,
        ..TargetInfo::default()
    };
    if let Some(f) = facts {
        t.ns_pid = f.ns_pid;
        t.container_id = f.container_id.clone();
        t.exe = f.exe.clone();
        t.exe_deleted = f.exe_deleted;
        t.start_ticks = f.id.start_ticks;
        t.start_time = crate::proc::identity::start_time(f.id);
    }
    t
}

/// What to trace.
#[derive(Debug, Clone)]
pub enum Targets {
    Pids(Vec<Pid>),
    /// Every process running this executable, including later ones: the
    /// file at this path on gozt's side (same device and inode), or this
    /// path as a process sees it in its own mount namespace and root.
    Binary(PathBuf),
    /// Every process whose comm or executable's base name is this,
    /// including later ones running the same files.
    Name(String),
    /// Start this command and trace it from its first instruction.
    Command(Vec<String>),
}

/// Targets resolved.
#[derive(Default)]
pub struct Resolved {
    pub binaries: Vec<GoBinary>,
    /// The session's functions, indexed by function id.
    pub funcs: Vec<FuncMeta>,
    /// What the programs read of each, by the same ids.
    pub specs: Vec<FuncSpec>,
    pub sites: Vec<BinarySites>,
    /// The processes named on the command line (or started).
    pub targets: Vec<TargetInfo>,
    pub binary_of_pid: HashMap<u32, usize>,
    /// With --binary or --name: which processes, and each binary's name
    /// and Go version for the processes seen running it.
    pub binary_target: Option<BinaryTarget>,
    /// Each binary's file as gozt read it, by binary index.
    pub files: Vec<Option<FileId>>,
    /// By function id: its binary and its RETs' link-time addresses.
    pub rets: Vec<(usize, Vec<u64>)>,
    /// Trace mode: the command, held before exec.
    pub command: Option<Gate>,
    /// The programs read so far, with their function ids: a copy read
    /// later (another container's file of one image) shares them.
    pub copies: Copies,
}

/// Whether the session traces probe `p` (--codec, --func).
fn selected(cfg: &SessionConfig, p: &Probe) -> bool {
    let codec_ok = cfg
        .codecs
        .as_ref()
        .is_none_or(|cs| cs.contains(&p.entry.codec));
    let func_ok = crate::probe::select::matches(&cfg.func_globs, &p.function);
    let lifecycle_ok = match p.entry.role {
        Role::New => cfg.lifecycle,
        Role::Reset => cfg.lifecycle && cfg.resets,
        _ => true,
    };
    codec_ok && func_ok && lifecycle_ok && p.usable()
}

/// Register index of a value read from a register, in the programs' order.
fn reg_index(loc: Option<Loc>) -> Option<u8> {
    match loc {
        Some(Loc::Reg(r)) => Some(r.bpf_index()),
        _ => None,
    }
}

/// What the programs read of a binary's requests at its request site.
pub fn request_spec(q: &RequestSite) -> RequestSpec {
    RequestSpec {
        reg: q.request_reg.bpf_index(),
        method_offset: q.layout.method,
        url_offset: q.layout.url,
        url_path_offset: q.layout.url_path,
        pattern_offset: q.layout.pattern,
    }
}

/// What the programs read of probe `p` of binary `bin`, as function `id`;
/// `sinks` when the binary's sink sites are attached; `request` when its
/// request site is.
pub fn func_spec(
    id: u32,
    p: &Probe,
    bin: &GoBinary,
    sinks: bool,
    request: Option<RequestSpec>,
) -> FuncSpec {
    let l = &p.layout;
    let receiver = match (p.entry.receiver, l.arg_locs.first()) {
        (Some(_), Some(crate::probe::abi::ValueLoc::Regs(regs))) => {
            regs.first().map(|r| r.bpf_index())
        }
        _ => None,
    };
    FuncSpec {
        obj_reg: receiver,
        out_from_sinks: sinks && p.entry.stream_out == StreamOut::Sinks,
        totals_offset: p.totals_offset,
        entry_emulated: p.entry_emulated(),
        id,
        in_reg: reg_index(l.bytes_in.as_ref().map(|v| v.loc)),
        in_at_ret: l.bytes_in.as_ref().is_some_and(|v| v.at == Point::Return),
        out_reg: reg_index(l.bytes_out.as_ref().map(|v| v.loc)),
        minus_reg: reg_index(l.bytes_out.as_ref().and_then(|v| v.minus)),
        err_reg: reg_index(l.error),
        eof_is_success: p.entry.eof_is_success,
        size: p.size,
        goid_offset: bin.goid_offset,
        stack_hi_offset: bin.stack_hi_offset,
        sched_pc_offset: bin.sched_pc_offset,
        async_preempt: bin.async_preempt.map(|(addr, size)| {
            let trap = p.address + (p.entry_site - p.file_offset);
            (addr.wrapping_sub(trap) as i64, size)
        }),
        request,
        ends_payload: matches!(p.entry.role, Role::Whole | Role::Close),
        ends_at_eof: p.entry.role == Role::Read,
        lifecycle: !p.entry.role.is_payload_call(),
    }
}

/// An executable to attach to, for one process or all.
type Exe = (PathBuf, Option<Pid>);

/// The executables of the processes `wanted`, one per file: the file at
/// `host` if it exists, then each other file those processes run (read
/// through /proc/PID/exe), with a representative process.
fn wanted_files(os: &dyn Os, wanted: &Wanted, host: Option<&PathBuf>) -> Vec<Exe> {
    let mut files: Vec<Option<FileId>> = Vec::new();
    let mut exes = Vec::new();
    if let Some(path) = host.filter(|p| p.exists()) {
        files.push(FileId::of(path));
        exes.push((path.clone(), None));
    }
    for id in os.running(wanted) {
        let exe = PathBuf::from(format!("/proc/{}/exe", id.pid));
        let file = FileId::of(&exe);
        if file.is_some() && !files.contains(&file) {
            files.push(file);
            exes.push((exe, None));
        }
    }
    exes
}

/// With `--binary` or `--name`, when nothing matches yet (no such file on
/// gozt's side, no process running it or so named): what gozt waits for,
/// in words. None when something matches, or for other targets.
pub fn awaited(cfg: &SessionConfig, os: &dyn Os) -> Option<String> {
    match &cfg.targets {
        Targets::Binary(path) => wanted_files(os, &Wanted::binary(path), Some(path))
            .is_empty()
            .then(|| format!("a process running {}", crate::base::text::path(path))),
        Targets::Name(name) => wanted_files(os, &Wanted::name(name), None)
            .is_empty()
            .then(|| format!("a process named {name}")),
        Targets::Pids(_) | Targets::Command(_) => None,
    }
}

/// Which executables to attach to; and the command.
fn executables(cfg: &SessionConfig, os: &dyn Os) -> Result<(Vec<Exe>, Option<Gate>), Error> {
    match &cfg.targets {
        Targets::Pids(list) => Ok((
            list.iter()
                .map(|&pid| Ok((crate::proc::exe::exe_path(pid)?, Some(pid))))
                .collect::<Result<_, Error>>()?,
            None,
        )),
        Targets::Binary(path) => {
            let exes = wanted_files(os, &Wanted::binary(path), Some(path));
            if exes.is_empty() {
                return Err(Error::NotFound { path: path.clone() });
            }
            Ok((exes, None))
        }
        Targets::Name(name) => {
            let exes = wanted_files(os, &Wanted::name(name), None);
            if exes.is_empty() {
                return Err(Error::NoProcessNamed { name: name.clone() });
            }
            Ok((exes, None))
        }
        Targets::Command(argv) => {
            let path = which::which(&argv[0]).map_err(|_| Error::NotFound {
                path: PathBuf::from(&argv[0]),
            })?;
            let path = path.canonicalize().unwrap_or(path);
            // Read the binary before starting anything.
            GoBinary::open(&path)?.require_host_arch()?;
            let gate = Gate::spawn(&path, &argv[1..], cfg.command_output.as_ref())?;
            let pid = Pid::from_tgid(gate.pid());
            Ok((vec![(path, Some(pid))], Some(gate)))
        }
    }
}

/// What makes two binaries' probes the same: each function's name, what
/// the programs read of it, its entry and RETs.
pub type Signature = (String, FuncSpec, u64, Vec<u64>);

/// The programs read so far, by what their probes are, with their
/// function ids.
pub type Copies = Vec<(Vec<Signature>, Vec<u32>)>;

/// A target's binary as named in reports: where /proc/PID/exe leads.
fn link_name(path: &Path) -> String {
    std::fs::read_link(path)
        .unwrap_or_else(|_| path.to_path_buf())
        .display()
        .to_string()
}

/// Resolves the session's targets: binaries read, plans built, functions
/// selected.
pub fn resolve(cfg: &SessionConfig, os: &dyn Os) -> Result<Resolved, SessionError> {
    // On an error below, the command is dropped: killed before its exec.
    let (exes, command) = executables(cfg, os)?;
    let mut r = Resolved::default();
    for (path, pid) in &exes {
        // Processes that run the same file share its binary and function
        // ids (their calls add up per function; `per_target` splits them).
        let file = FileId::of(path);
        let read = r.files.iter().position(|f| f.is_some() && *f == file);
        if let (Some(b), Some(pid)) = (read, pid) {
            if r.add_process(b, path, *pid, os) {
                continue;
            }
        }
        r.add_binary(cfg, os, (path, *pid, file))
            .map_err(|e| gone_or(e, *pid, os))?;
    }
    r.binary_target = binary_target(cfg, os, &exes, &r);
    r.command = command;
    Ok(r)
}

/// A process read through /proc/PID/exe that has exited since (its file
/// vanishes with it) is not found (exit 8), not a missing file.
pub(super) fn gone_or(e: SessionError, pid: Option<Pid>, os: &dyn Os) -> SessionError {
    match (&e, pid) {
        (SessionError::Input(Error::NotFound { .. } | Error::Io { .. }), Some(pid))
            if !os.alive(pid.tgid()) =>
        {
            SessionError::Input(Error::NoSuchProcess { pid })
        }
        _ => e,
    }
}

impl Resolved {
    /// Process `pid` runs `path`, the file of binary `b`, read already: it
    /// gets that binary's sites. False when `b` has none.
    fn add_process(&mut self, b: usize, path: &Path, pid: Pid, os: &dyn Os) -> bool {
        let Some(mut sites) = self.sites.iter().find(|s| s.binary_index == b).cloned() else {
            return false;
        };
        sites.pid = Some(pid);
        sites.binary = path.to_path_buf();
        self.sites.push(sites);
        self.add_target(b, path, pid, os);
        true
    }

    /// Reads the binary at `path` (run by process `pid`, if any; the file
    /// `file`): its plan, the functions the session selects there, and
    /// their sites.
    fn add_binary(
        &mut self,
        cfg: &SessionConfig,
        os: &dyn Os,
        (path, pid, file): (&Path, Option<Pid>, Option<FileId>),
    ) -> Result<(), SessionError> {
        let i = self.binaries.len();
        let (bin, mut sites) = self.read_binary(cfg, path, i)?;
        sites.pid = pid;
        // A held command's process runs the shell that holds it until its
        // exec, and maps the shell: not its mappings.
        let held = matches!(cfg.targets, Targets::Command(_));
        sites.inodes = inodes(file, pid.filter(|_| !held), os);
        self.sites.push(sites);
        self.files.push(file);
        if let Some(pid) = pid {
            self.binaries.push(bin);
            self.add_target(i, path, pid, os);
        } else {
            self.binaries.push(bin);
        }
        Ok(())
    }

    /// Reads the binary at `path` as binary `i`: its plan, the functions
    /// the session selects there (an earlier copy's, else new ones), and
    /// their sites, for every process (no pid, no inodes yet).
    pub(super) fn read_binary(
        &mut self,
        cfg: &SessionConfig,
        path: &Path,
        i: usize,
    ) -> Result<(GoBinary, BinarySites), SessionError> {
        let bin = GoBinary::open(path)?;
        bin.require_host_arch()?;
        let Plan {
            probes,
            sinks,
            request,
            ..
        } = Plan::build(&bin)?;
        let request = request.filter(|_| cfg.routes);
        let request_spec = request.as_ref().map(request_spec);
        let want_sinks = cfg.stream_output
            && !sinks.is_empty()
            && probes
                .iter()
                .any(|p| selected(cfg, p) && p.entry.stream_out == StreamOut::Sinks);
        // A library's internal work goes with any selection: the calls
        // made inside it (pgzip's flate streams) must not count as payloads
        // of their own, whatever --codec and --func keep.
        let any = probes
            .iter()
            .any(|p| p.entry.role != Role::Internal && selected(cfg, p));
        let probes: Vec<Probe> = probes
            .into_iter()
            .filter(|p| match p.entry.role {
                Role::Internal => any && p.usable(),
                _ => selected(cfg, p),
            })
            .collect();
        let mut copies = std::mem::take(&mut self.copies);
        let ids = self.function_ids(i, &bin, &probes, (want_sinks, request_spec), &mut copies);
        self.copies = copies;
        let mut sites = BinarySites {
            binary: path.to_path_buf(),
            binary_index: i,
            ..Default::default()
        };
        for (p, &id) in probes.iter().zip(&ids) {
            sites.entries.push((p.entry_site, id));
            sites.rets.extend(p.ret_offsets.iter().map(|&o| (o, id)));
        }
        if want_sinks {
            // Any function of the binary lends its runtime.g offsets.
            let func_id = ids.first().copied().unwrap_or(self.funcs.len() as u32);
            sites.sinks = sinks
                .iter()
                .map(|k| {
                    let at_call = SinkSite {
                        keyed: k.keyed,
                        ..SinkSite::at_call(k.file_offset, func_id, k.header)
                    };
                    match k.branch {
                        None => at_call,
                        Some(b) => SinkSite {
                            branch: Some(b.condition),
                            len_reg: match b.len {
                                SinkLen::Reg(r) | SinkLen::LowByte(r) => r.bpf_index(),
                                SinkLen::Const(_) => GOZT_SINK_LEN_REG as u8,
                            },
                            len_const: match b.len {
                                SinkLen::Const(n) => Some(n),
                                _ => None,
                            },
                            len_byte: matches!(b.len, SinkLen::LowByte(_)),
                            ..at_call
                        },
                    }
                })
                .collect();
        }
        if let (Some(q), Some(&func_id)) = (&request, ids.first()) {
            sites.request = Some(RequestSites {
                entry: q.entry_site,
                emulated: q.entry_emulated,
                // A RET trap costs a stepped one on amd64, where the
                // request's end is found from its frame instead; arm64
                // simulates it.
                rets: if bin.arch == crate::arch::Arch::Arm64 {
                    q.ret_offsets.clone()
                } else {
                    Vec::new()
                },
                func_id,
            });
        }
        if sites.entries.is_empty() {
            return Err(SessionError::NothingSelected {
                path: path.display().to_string(),
                available: crate::probe::select::available(&bin),
            });
        }
        sites.code_start = bin.layout.code_start(
            sites
                .entries
                .iter()
                .chain(&sites.rets)
                .map(|&(o, _)| o)
                .chain(sites.sinks.iter().map(|k| k.offset))
                .chain(
                    sites
                        .request
                        .iter()
                        .flat_map(|q| std::iter::once(q.entry).chain(q.rets.iter().copied())),
                ),
        );
        Ok((bin, sites))
    }

    /// The function ids of `probes` of binary `i`: an earlier copy's of the
    /// same program (containers with their own copy of an image's file:
    /// each function is listed once), else new ones.
    fn function_ids(
        &mut self,
        i: usize,
        bin: &GoBinary,
        probes: &[Probe],
        (sinks, request): (bool, Option<RequestSpec>),
        copies: &mut Copies,
    ) -> Vec<u32> {
        let signature: Vec<Signature> = probes
            .iter()
            .map(|p| {
                let spec = func_spec(0, p, bin, sinks, request);
                (
                    p.function.clone(),
                    spec,
                    p.file_offset,
                    p.ret_offsets.clone(),
                )
            })
            .collect();
        if let Some((_, ids)) = copies.iter().find(|(sig, _)| *sig == signature) {
            return ids.clone();
        }
        let ids: Vec<u32> = probes
            .iter()
            .map(|p| self.add_function(i, bin, p, (sinks, request)))
            .collect();
        copies.push((signature, ids.clone()));
        ids
    }

    /// A new function of the session: probe `p` of binary `i`.
    fn add_function(
        &mut self,
        i: usize,
        bin: &GoBinary,
        p: &Probe,
        (sinks, request): (bool, Option<RequestSpec>),
    ) -> u32 {
        let id = self.funcs.len() as u32;
        self.specs.push(func_spec(id, p, bin, sinks, request));
        let rets = p.ret_offsets.iter();
        self.rets.push((
            i,
            rets.filter_map(|&o| bin.layout.vaddr_of_offset(o))
                .collect(),
        ));
        self.funcs.push(FuncMeta {
            function: p.function.clone(),
            entry: p.entry,
            target: i,
            sinks: sinks && p.entry.stream_out == StreamOut::Sinks,
        });
        id
    }

    /// Process `pid`, running `path` (binary `b`), is a target.
    fn add_target(&mut self, b: usize, path: &Path, pid: Pid, os: &dyn Os) {
        let tgid = pid.tgid();
        self.binary_of_pid.insert(tgid, b);
        let facts = os.facts(tgid);
        let name = BinaryName::of(link_name(path), &self.binaries[b], None);
        self.targets.push(name.target(tgid, facts.as_ref()));
    }
}

/// The inodes a binary's mappings may carry: its file's, and for a
/// process, those of its mappings of it (an overlay maps the file beneath
/// its own).
pub(super) fn inodes(file: Option<FileId>, pid: Option<Pid>, os: &dyn Os) -> Vec<u64> {
    let mut inodes: Vec<u64> = file.map(|f| f.ino).into_iter().collect();
    if let Some(m) = pid.and_then(|p| os.exe_mappings(p.tgid())) {
        inodes.extend(m.files.iter().map(|f| f.ino));
    }
    inodes.sort_unstable();
    inodes.dedup();
    inodes
}

/// With --binary or --name: which processes, and each binary read (one per
/// executable, in order) as reports name it.
fn binary_target(
    cfg: &SessionConfig,
    os: &dyn Os,
    exes: &[Exe],
    r: &Resolved,
) -> Option<BinaryTarget> {
    let wanted = match &cfg.targets {
        Targets::Binary(path) => Wanted::binary(path),
        Targets::Name(name) => Wanted::name(name),
        _ => return None,
    };
    let binaries = exes
        .iter()
        .zip(&r.binaries)
        .zip(&r.files)
        .map(|(((path, _), bin), file)| {
            // A file read through a process is named as it sees it.
            let name = match (&cfg.targets, path.starts_with("/proc")) {
                (Targets::Binary(p), false) => p.display().to_string(),
                _ => os
                    .running(&wanted)
                    .into_iter()
                    .filter_map(|id| os.facts(id.pid))
                    .find(|f| f.exe_file == *file)
                    .map_or_else(|| path.display().to_string(), |f| f.exe),
            };
            BinaryName::of(name, bin, *file)
        })
        .collect();
    Some(BinaryTarget { wanted, binaries })
}
