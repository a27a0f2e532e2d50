//! Resolves parsed flags into what to do: which executable, from which process.

use std::path::PathBuf;

use crate::error::Result;
use crate::process;

/// The executable a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The path to open (`/proc/PID/exe` for a process, which works across
    /// mount namespaces).
    pub open_path: PathBuf,
    pub pid: Option<i32>,
}

impl Executable {
    /// From `gozt probes PATH` or `--pid PID`.
    pub fn resolve(path: Option<PathBuf>, pid: Option<i32>) -> Result<Executable> {
        match (path, pid) {
            (_, Some(pid)) => Ok(Executable {
                open_path: process::exe_path(pid)?,
                pid: Some(pid),
            }),
            (Some(path), None) => Ok(Executable {
                open_path: path,
                pid: None,
            }),
            (None, None) => unreachable!("clap requires a path or --pid"),
        }
    }
}
