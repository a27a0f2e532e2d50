//! A process id, one type from the command line to the kernel: the CLI
//! reads a signed number (the kernel's `pid_t`), `/proc`, libbpf and procfs
//! take it signed, the BPF programs and the report name processes by their
//! unsigned thread-group id. Conversions happen here, nowhere else.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A process id as given (a `pid_t`): valid ones are above 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Pid(i32);

impl Pid {
    /// gozt's own process.
    pub fn myself() -> Pid {
        Pid::from_tgid(std::process::id())
    }

    /// The process of a thread-group id (as the programs and the report
    /// name it); ids beyond `pid_t` (none the kernel hands out) saturate.
    pub fn from_tgid(tgid: u32) -> Pid {
        Pid(i32::try_from(tgid).unwrap_or(i32::MAX))
    }

    /// As the kernel's `pid_t` (procfs, libbpf).
    pub fn raw(self) -> i32 {
        self.0
    }

    /// As a thread-group id: what the programs and the report use (0, no
    /// process's, for an id below it).
    pub fn tgid(self) -> u32 {
        u32::try_from(self.0).unwrap_or(0)
    }
}

impl From<i32> for Pid {
    fn from(pid: i32) -> Pid {
        Pid(pid)
    }
}

impl std::str::FromStr for Pid {
    type Err = std::num::ParseIntError;

    /// A number, as clap reads `-p PID` (its errors are those of i32).
    fn from_str(s: &str) -> Result<Pid, Self::Err> {
        s.parse().map(Pid)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[cfg(test)]
mod tests {
    use super::Pid;

    #[test]
    fn a_pid_converts_both_ways() {
        assert_eq!(Pid::from_tgid(4242).raw(), 4242);
        assert_eq!(Pid::from(4242).tgid(), 4242);
        assert_eq!(Pid::from(-5).tgid(), 0);
        assert_eq!(Pid::from_tgid(u32::MAX).raw(), i32::MAX);
        assert_eq!("17".parse::<Pid>().unwrap().to_string(), "17");
        assert_eq!(
            "abc".parse::<Pid>().unwrap_err().to_string(),
            "invalid digit found in string"
        );
    }
}
