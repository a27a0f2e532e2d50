//! Error kinds of the gozt library, each with the exit code the CLI returns.
//!
//! Every kind renders as one line that names the file or process and says what
//! is wrong; callers match on the kind, the CLI exits with [`Error::exit`].
//! Paths and text read from a binary are escaped when rendered
//! ([`crate::base::text`]), so a crafted name cannot break the line.

use std::path::PathBuf;

use super::exit::Exit;
use super::pid::Pid;
use super::text::{self, escape};

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong, from bad input to a malformed binary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("{}: no such file", text::path(.path))]
    NotFound { path: PathBuf },
    /// The file exists but cannot be read.
    #[error("{}: {}", text::path(.path), escape(&.source.to_string()))]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// Larger than any executable gozt reads.
    #[error("{}: {size} bytes; gozt reads executables of up to {max} bytes", text::path(.path))]
    TooLarge { path: PathBuf, size: u64, max: u64 },
    /// The file is not an ELF object.
    #[error("{}: not an ELF file", text::path(.path))]
    NotElf { path: PathBuf },
    /// Not a regular file (a directory, FIFO, device or socket).
    #[error("{}: not an ELF file ({kind})", text::path(.path))]
    NotRegular { path: PathBuf, kind: &'static str },
    /// An ELF file for an architecture gozt does not trace.
    #[error("{}: unsupported architecture {arch} (gozt reads amd64 and arm64 Go binaries)", text::path(.path))]
    UnsupportedArch { path: PathBuf, arch: String },
    /// A Go binary of an architecture gozt reads but cannot trace here.
    #[error("{}: an {arch} binary; this gozt traces {host} programs (`gozt probes` reads it; trace it with gozt built for {arch})", text::path(.path))]
    ForeignArch {
        path: PathBuf,
        arch: &'static str,
        host: &'static str,
    },
    /// An ELF file without Go's pclntab or build info.
    #[error("{}: not a Go binary ({missing})", text::path(.path))]
    NotGo {
        path: PathBuf,
        missing: &'static str,
    },
    /// A Go shared library (`-buildmode=c-shared` or `shared`).
    #[error(
        "{}: a Go shared library ({}); gozt reads Go executables (static or PIE), not libraries",
        text::path(.path),
        escape(.version)
    )]
    GoLibrary { path: PathBuf, version: String },
    /// A Go binary built before the register ABI (Go 1.17).
    #[error("{}: built with {}; gozt needs go1.{since} or newer on {arch} (register ABI)", text::path(.path), escape(.version))]
    GoTooOld {
        path: PathBuf,
        version: String,
        arch: &'static str,
        since: u32,
    },
    /// A Go binary in which no catalog function was found.
    #[error(
        "{}: no compression functions found ({}, {functions} functions searched)",
        text::path(.path),
        escape(.version)
    )]
    NoCompression {
        path: PathBuf,
        version: String,
        functions: usize,
    },
    /// A structure inside the binary is inconsistent.
    #[error("{}: malformed Go binary: {}", text::path(.path), escape(.what))]
    Malformed { path: PathBuf, what: String },
    /// The process does not exist (or has exited).
    #[error("process {pid} not found (exited, or never existed)")]
    NoSuchProcess { pid: Pid },
    /// `--name`: no process has that comm or executable base name.
    #[error("no process named {} (by comm or executable base name)", escape(.name))]
    NoProcessNamed { name: String },
    /// A file given to `gozt report` that holds no gozt JSON report.
    #[error("{}: not a gozt JSON report ({what})", .path.display())]
    NotReport { path: PathBuf, what: String },
    /// The process exists but its executable cannot be opened.
    #[error("process {pid}: permission denied opening /proc/{pid}/exe: {why}")]
    ProcessPermission { pid: Pid, why: String },
}

impl Error {
    /// How gozt exits with this kind.
    pub fn exit(&self) -> Exit {
        match self {
            Error::NotFound { .. } | Error::Io { .. } | Error::TooLarge { .. } => Exit::File,
            Error::NotElf { .. }
            | Error::NotRegular { .. }
            | Error::UnsupportedArch { .. }
            | Error::ForeignArch { .. } => Exit::NotElf,
            Error::NotGo { .. } | Error::GoLibrary { .. } | Error::Malformed { .. } => Exit::NotGo,
            Error::GoTooOld { .. } => Exit::GoTooOld,
            Error::NoCompression { .. } => Exit::NoCompression,
            Error::NoSuchProcess { .. } | Error::NoProcessNamed { .. } => Exit::NoProcess,
            Error::ProcessPermission { .. } => Exit::ProcessPermission,
            Error::NotReport { .. } => Exit::NotReport,
        }
    }

    pub(crate) fn malformed(path: &std::path::Path, what: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_one_line_whatever_the_input() {
        let e = Error::malformed(
            std::path::Path::new("/tmp/a\nb"),
            "function main.\x1b[2Jf: bad",
        );
        assert_eq!(
            e.to_string(),
            "/tmp/a\\nb: malformed Go binary: function main.\\x1b[2Jf: bad"
        );
        assert_eq!(e.exit(), Exit::NotGo);
    }
}
