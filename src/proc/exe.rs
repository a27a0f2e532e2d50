//! Facts about running processes read from /proc.

use std::path::PathBuf;

use crate::base::error::{Error, Result};
use crate::base::pid::Pid;

/// `/proc/PID/exe` after checking that the process exists and its executable
/// can be opened.
pub fn exe_path(pid: Pid) -> Result<PathBuf> {
    if pid.raw() <= 0 {
        return Err(Error::NoSuchProcess { pid });
    }
    let exe = PathBuf::from(format!("/proc/{pid}/exe"));
    match std::fs::File::open(&exe) {
        Ok(_) => Ok(exe),
        Err(e) => match e.raw_os_error() {
            Some(libc_enoent) if libc_enoent == 2 || libc_enoent == 3 => {
                Err(Error::NoSuchProcess { pid })
            }
            Some(errno @ (1 | 13)) => {
                if std::path::Path::new(&format!("/proc/{pid}")).exists() {
                    use crate::base::privileges::{Op, Privileges};
                    let why = if rustix::process::geteuid().is_root() {
                        Privileges::read().cause(Op::ReadProcess, errno)
                    } else {
                        "run gozt as root".to_string()
                    };
                    Err(Error::ProcessPermission { pid, why })
                } else {
                    Err(Error::NoSuchProcess { pid })
                }
            }
            _ => Err(Error::Io {
                path: exe,
                source: e,
            }),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_resolves() {
        let pid = Pid::myself();
        assert_eq!(
            exe_path(pid).unwrap(),
            PathBuf::from(format!("/proc/{pid}/exe"))
        );
    }

    #[test]
    fn missing_process_is_reported() {
        assert!(matches!(
            exe_path(Pid::from(i32::MAX)),
            Err(Error::NoSuchProcess { .. })
        ));
        assert!(matches!(
            exe_path(Pid::from(0)),
            Err(Error::NoSuchProcess { .. })
        ));
    }
}
