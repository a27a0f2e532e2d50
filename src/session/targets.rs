//! What a session traces: its targets resolved into binaries, probe plans,
//! the session's function table, and the plain data the tracer attaches by;
//! and, in trace mode, the command, started and held before `exec` until the
//! probes are in place.

use std::collections::HashMap;
use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use super::{SessionConfig, SessionError};
use crate::catalog::{Loc, Point};
use crate::error::Error;
use crate::go_binary::GoBinary;
use crate::identity::{FileId, ProcessFacts, Wanted};
use crate::os::Os;
use crate::probe_plan::{Plan, Probe};
use crate::stats::{FuncMeta, TargetInfo};
use crate::tracer::consts::{GOZT_COOKIE_HEADER, GOZT_COOKIE_SINK};
use crate::tracer::{BinarySites, FuncSpec};

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
    pub file: Option<FileId>,
}

impl BinaryTarget {
    /// The binary `facts`'s process runs: the one of the same file, else
    /// the first.
    pub fn binary_of(&self, facts: Option<&ProcessFacts>) -> Option<&BinaryName> {
        let file = facts.and_then(|f| f.exe_file);
        self.binaries
            .iter()
            .find(|b| file.is_some() && b.file == file)
            .or(self.binaries.first())
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
        t.start_time = crate::identity::start_time(f.id);
    }
    t
}

/// What to trace.
#[derive(Debug, Clone)]
pub enum Targets {
    Pids(Vec<i32>),
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
}

/// A started command held before `exec`: its shell reads one byte from fd 3,
/// which [`Gate::open`] writes once the probes are attached. If gozt fails
/// first, the pipe closes unwritten and the command never runs; a gate
/// dropped before [`Gate::finish`] kills its command and reaps it, on every
/// path.
pub struct Gate {
    pub child: std::process::Child,
    release: Option<std::io::PipeWriter>,
}

impl Drop for Gate {
    fn drop(&mut self) {
        // Once finished the child is reaped: both calls then do nothing.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Gate {
    fn spawn(
        path: &std::path::Path,
        args: &[String],
        output: Option<&PathBuf>,
    ) -> Result<Gate, Error> {
        let io_err = |path: PathBuf| move |source| Error::Io { path, source };
        let (rd, wr) = std::io::pipe().map_err(io_err("pipe".into()))?;
        let rd = OwnedFd::from(rd);
        // std's spawn waits for exec, so the wait happens in a shell that
        // then execs the command (same pid).
        let mut cmd = std::process::Command::new("/bin/sh");
        cmd.arg("-c")
            .arg("read -r _ <&3 || exit 125; exec 3<&-; exec \"$0\" \"$@\"")
            .arg(path)
            .args(args);
        if let Some(log) = output {
            let file = std::fs::File::create(log).map_err(io_err(log.clone()))?;
            let err = file.try_clone().map_err(io_err(log.clone()))?;
            cmd.stdin(std::process::Stdio::null())
                .stdout(file)
                .stderr(err);
        }
        let rd_fd = rd.as_raw_fd();
        // SAFETY: dup2 and fcntl are async-signal-safe; this runs between
        // fork and exec, touching only the child's descriptors.
        unsafe {
            cmd.pre_exec(move || {
                // dup2 onto itself keeps CLOEXEC: clear it then.
                let ok = if rd_fd == 3 {
                    libc::fcntl(3, libc::F_SETFD, 0) >= 0
                } else {
                    libc::dup2(rd_fd, 3) >= 0
                };
                if ok {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            });
        }
        let child = cmd.spawn().map_err(io_err(path.to_path_buf()))?;
        // Our copy of the read end closes here; the child has its own.
        drop(rd);
        Ok(Gate {
            child,
            release: Some(wr),
        })
    }

    /// Lets the command exec.
    pub fn open(&mut self) {
        if let Some(mut w) = self.release.take() {
            // The child holds a write end too until exec, so closing is not
            // enough: send the byte it waits for.
            let _ = w.write_all(b"g\n");
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The command's exit status as a shell reports it (128 + the signal
    /// that ended it); a command still running is killed first (gozt stops
    /// with it).
    pub fn finish(mut self) -> i32 {
        let st = match self.child.try_wait() {
            Ok(Some(st)) => st,
            _ => {
                let _ = self.child.kill();
                self.child.wait().expect("wait for the traced command")
            }
        };
        st.code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0))
    }
}

/// Whether the session traces probe `p` (--codec, --func).
fn selected(cfg: &SessionConfig, p: &Probe) -> bool {
    let codec_ok = cfg
        .codecs
        .as_ref()
        .is_none_or(|cs| cs.contains(&p.entry.codec));
    let func_ok = crate::select::matches(&cfg.func_globs, &p.function);
    codec_ok && func_ok && p.usable()
}

/// Register index of a value read from a register, in the programs' order.
fn reg_index(loc: Option<Loc>) -> Option<u8> {
    match loc {
        Some(Loc::Reg(r)) => Some(r.bpf_index()),
        _ => None,
    }
}

/// What the programs read of probe `p` of binary `bin`, as function `id`;
/// `sinks` when the binary's sink sites are attached.
pub fn func_spec(id: u32, p: &Probe, bin: &GoBinary, sinks: bool) -> FuncSpec {
    let l = &p.layout;
    let receiver = match (p.entry.receiver, l.arg_locs.first()) {
        (Some(_), Some(crate::abi::ValueLoc::Regs(regs))) => regs.first().map(|r| r.bpf_index()),
        _ => None,
    };
    FuncSpec {
        obj_reg: receiver,
        out_from_sinks: sinks && p.entry.stream_out == crate::catalog::StreamOut::Sinks,
        totals_offset: p.totals_offset,
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
    }
}

/// An executable to attach to, for one process or all.
type Exe = (PathBuf, Option<i32>);

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

/// Which executables to attach to; and the command.
fn executables(cfg: &SessionConfig, os: &dyn Os) -> Result<(Vec<Exe>, Option<Gate>), Error> {
    match &cfg.targets {
        Targets::Pids(list) => Ok((
            list.iter()
                .map(|&pid| Ok((crate::process::exe_path(pid)?, Some(pid))))
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
            let pid = gate.pid() as i32;
            Ok((vec![(path, Some(pid))], Some(gate)))
        }
    }
}

/// What makes two binaries' probes the same: each function's name, what
/// the programs read of it, its entry and RETs.
type Signature = (String, FuncSpec, u64, Vec<u64>);

/// A target's binary as named in reports: where /proc/PID/exe leads.
fn link_name(path: &std::path::Path) -> String {
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
    let mut r = Resolved {
        binaries: Vec::new(),
        funcs: Vec::new(),
        specs: Vec::new(),
        sites: Vec::new(),
        targets: Vec::new(),
        binary_of_pid: HashMap::new(),
        binary_target: None,
        files: Vec::new(),
        rets: Vec::new(),
        command: None,
    };
    // Each binary's probes and their function ids.
    let mut copies: Vec<(Vec<Signature>, Vec<u32>)> = Vec::new();
    for (path, pid) in &exes {
        // Processes that run the same file share its binary and function
        // ids (their calls add up per function; `per_target` splits them).
        let file = FileId::of(path);
        if let Some(b) = r.files.iter().position(|f| f.is_some() && *f == file) {
            let first = r.sites.iter().find(|s| s.binary_index == b).cloned();
            if let (Some(mut sites), Some(pid)) = (first, pid) {
                sites.pid = Some(*pid);
                sites.binary = path.clone();
                r.sites.push(sites);
                r.binary_of_pid.insert(*pid as u32, b);
                let facts = os.facts(*pid as u32);
                r.targets.push(target_info(
                    *pid as u32,
                    link_name(path),
                    r.binaries[b].build.go_version.clone(),
                    facts.as_ref(),
                ));
                continue;
            }
        }
        let i = r.binaries.len();
        let bin = GoBinary::open(path)?;
        bin.require_host_arch()?;
        let plan = Plan::build(&bin)?;
        let mut sites = BinarySites {
            binary: path.clone(),
            pid: *pid,
            binary_index: i,
            ..Default::default()
        };
        let want_sinks = cfg.stream_output
            && !plan.sinks.is_empty()
            && plan.probes.iter().any(|p| {
                selected(cfg, p) && p.entry.stream_out == crate::catalog::StreamOut::Sinks
            });
        let probes: Vec<Probe> = plan
            .probes
            .into_iter()
            .filter(|p| selected(cfg, p))
            .collect();
        // Copies of one program (containers with their own copy of an
        // image's file) share function ids: each function is listed once.
        let signature: Vec<Signature> = probes
            .iter()
            .map(|p| {
                (
                    p.function.clone(),
                    func_spec(0, p, &bin, want_sinks),
                    p.file_offset,
                    p.ret_offsets.clone(),
                )
            })
            .collect();
        let copy_of = copies.iter().position(|(sig, _)| *sig == signature);
        let mut ids = Vec::new();
        for (k, p) in probes.iter().enumerate() {
            let id = match copy_of {
                Some(j) => copies[j].1[k],
                None => {
                    let id = r.funcs.len() as u32;
                    r.specs.push(func_spec(id, p, &bin, want_sinks));
                    r.rets.push((
                        i,
                        p.ret_offsets
                            .iter()
                            .filter_map(|&o| bin.layout.vaddr_of_offset(o))
                            .collect(),
                    ));
                    r.funcs.push(FuncMeta {
                        function: p.function.clone(),
                        entry: p.entry,
                        target: i,
                        sinks: want_sinks && p.entry.stream_out == crate::catalog::StreamOut::Sinks,
                    });
                    id
                }
            };
            ids.push(id);
            sites.entries.push((p.file_offset, id));
            sites.rets.extend(p.ret_offsets.iter().map(|&o| (o, id)));
        }
        if want_sinks {
            // Any function of the binary lends its runtime.g offsets.
            let first_id = ids.first().copied().unwrap_or(r.funcs.len() as u32);
            sites.sinks = plan
                .sinks
                .iter()
                .map(|k| {
                    let mut cookie = GOZT_COOKIE_SINK | u64::from(first_id);
                    if k.header {
                        cookie |= GOZT_COOKIE_HEADER;
                    }
                    (k.file_offset, cookie)
                })
                .collect();
        }
        copies.push((signature, ids));
        if sites.entries.is_empty() {
            return Err(SessionError::NothingSelected {
                path: path.display().to_string(),
                available: crate::select::available(&bin),
            });
        }
        sites.code_start = bin.layout.code_start(
            sites
                .entries
                .iter()
                .chain(&sites.rets)
                .map(|&(o, _)| o)
                .chain(sites.sinks.iter().map(|&(o, _)| o)),
        );
        // The inodes its mappings may carry: the file's, and for a
        // process, those of its mappings of it (an overlay maps the file
        // beneath its own). Not a held command's: until its exec, its
        // process runs the shell that holds it, and maps the shell.
        sites.inodes.extend(file.map(|f| f.ino));
        let running = pid.filter(|_| command.is_none());
        if let Some(m) = running.and_then(|p| os.exe_mappings(p as u32)) {
            sites.inodes.extend(m.files.iter().map(|f| f.ino));
        }
        sites.inodes.sort_unstable();
        sites.inodes.dedup();
        r.sites.push(sites);
        r.files.push(file);
        if let Some(pid) = pid {
            r.binary_of_pid.insert(*pid as u32, i);
            let facts = os.facts(*pid as u32);
            r.targets.push(target_info(
                *pid as u32,
                link_name(path),
                bin.build.go_version.clone(),
                facts.as_ref(),
            ));
        }
        r.binaries.push(bin);
    }
    let wanted = match &cfg.targets {
        Targets::Binary(path) => Some(Wanted::binary(path)),
        Targets::Name(name) => Some(Wanted::name(name)),
        _ => None,
    };
    if let Some(wanted) = wanted {
        let binaries = exes
            .iter()
            .zip(&r.binaries)
            .zip(&r.files)
            .map(|(((path, _), bin), file)| BinaryName {
                // A file read through a process is named as it sees it.
                name: match (&cfg.targets, path.starts_with("/proc")) {
                    (Targets::Binary(p), false) => p.display().to_string(),
                    _ => os
                        .running(&wanted)
                        .into_iter()
                        .filter_map(|id| os.facts(id.pid))
                        .find(|f| f.exe_file == *file)
                        .map_or_else(|| path.display().to_string(), |f| f.exe),
                },
                go_version: bin.build.go_version.clone(),
                file: *file,
            })
            .collect();
        r.binary_target = Some(BinaryTarget { wanted, binaries });
    }
    r.command = command;
    Ok(r)
}
