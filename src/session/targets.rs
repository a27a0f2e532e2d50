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
use crate::probe_plan::{Plan, Probe};
use crate::stats::{FuncMeta, TargetInfo};
use crate::tracer::consts::{GOZT_COOKIE_HEADER, GOZT_COOKIE_SINK};
use crate::tracer::{BinarySites, FuncSpec};

/// What to trace.
#[derive(Debug, Clone)]
pub enum Targets {
    Pids(Vec<i32>),
    /// Every process running this executable, including later ones.
    Binary(PathBuf),
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
    /// With --binary: its path and Go version, for the processes seen.
    pub binary_target: Option<(String, String)>,
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

/// Which executables to attach to; and the command.
fn executables(cfg: &SessionConfig) -> Result<(Vec<Exe>, Option<Gate>), Error> {
    match &cfg.targets {
        Targets::Pids(list) => Ok((
            list.iter()
                .map(|&pid| Ok((crate::process::exe_path(pid)?, Some(pid))))
                .collect::<Result<_, Error>>()?,
            None,
        )),
        Targets::Binary(path) => Ok((vec![(path.clone(), None)], None)),
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

/// Resolves the session's targets: binaries read, plans built, functions
/// selected.
pub fn resolve(cfg: &SessionConfig) -> Result<Resolved, SessionError> {
    // On an error below, the command is dropped: killed before its exec.
    let (exes, command) = executables(cfg)?;
    let mut r = Resolved {
        binaries: Vec::new(),
        funcs: Vec::new(),
        specs: Vec::new(),
        sites: Vec::new(),
        targets: Vec::new(),
        binary_of_pid: HashMap::new(),
        binary_target: None,
        command: None,
    };
    for (i, (path, pid)) in exes.iter().enumerate() {
        let bin = GoBinary::open(path)?;
        bin.require_host_arch()?;
        let plan = Plan::build(&bin)?;
        let mut sites = BinarySites {
            binary: path.clone(),
            pid: *pid,
            ..Default::default()
        };
        let first_id = r.funcs.len() as u32;
        let want_sinks = cfg.stream_output
            && !plan.sinks.is_empty()
            && plan.probes.iter().any(|p| {
                selected(cfg, p) && p.entry.stream_out == crate::catalog::StreamOut::Sinks
            });
        for p in plan.probes.into_iter().filter(|p| selected(cfg, p)) {
            let id = r.funcs.len() as u32;
            r.specs.push(func_spec(id, &p, &bin, want_sinks));
            sites.entries.push((p.file_offset, id));
            sites.rets.extend(p.ret_offsets.iter().map(|&o| (o, id)));
            r.funcs.push(FuncMeta {
                function: p.function.clone(),
                entry: p.entry,
                target: i,
                sinks: want_sinks && p.entry.stream_out == crate::catalog::StreamOut::Sinks,
            });
        }
        if want_sinks {
            // Any function of the binary lends its runtime.g offsets.
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
        if sites.entries.is_empty() {
            return Err(SessionError::NothingSelected {
                path: path.display().to_string(),
                available: crate::select::available(&bin),
            });
        }
        r.sites.push(sites);
        if let Some(pid) = pid {
            r.binary_of_pid.insert(*pid as u32, i);
            r.targets.push(TargetInfo {
                pid: *pid as u32,
                binary: std::fs::read_link(path)
                    .unwrap_or_else(|_| path.clone())
                    .display()
                    .to_string(),
                go_version: bin.build.go_version.clone(),
            });
        }
        r.binaries.push(bin);
    }
    if let Targets::Binary(path) = &cfg.targets {
        r.binary_target = Some((
            path.display().to_string(),
            r.binaries[0].build.go_version.clone(),
        ));
    }
    r.command = command;
    Ok(r)
}
