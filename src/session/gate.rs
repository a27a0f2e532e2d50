//! A traced command, started and held before `exec` until the probes are
//! in place (trace mode), then let go; its exit status at the end.

use std::io::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;

use crate::base::error::Error;

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
    pub(super) fn spawn(
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

    /// Whether the command has exited.
    pub fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// The command's exit status as a shell reports it (128 + the signal
    /// that ended it); a command still running is killed first (gozt stops
    /// with it). An error when its status cannot be had.
    pub fn finish(mut self) -> std::io::Result<i32> {
        let st = match self.child.try_wait()? {
            Some(st) => st,
            None => {
                let _ = self.child.kill();
                self.child.wait()?
            }
        };
        Ok(st
            .code()
            .unwrap_or(128 + std::os::unix::process::ExitStatusExt::signal(&st).unwrap_or(0)))
    }
}
