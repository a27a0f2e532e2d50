//! Error kinds of the gozt library, each with the exit code the CLI returns.
//!
//! Every kind renders as one line that names the file or process and says what
//! is wrong; callers match on the kind, the CLI maps it to [`Error::exit_code`].

use std::path::PathBuf;

/// Result alias for the library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong, from bad input to a malformed binary.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file does not exist.
    #[error("{}: no such file", .path.display())]
    NotFound { path: PathBuf },
    /// The file exists but cannot be read.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not an ELF object.
    #[error("{}: not an ELF file", .path.display())]
    NotElf { path: PathBuf },
    /// An ELF file for an architecture gozt does not trace.
    #[error("{}: unsupported architecture {arch} (gozt traces x86-64 Go binaries)", .path.display())]
    UnsupportedArch { path: PathBuf, arch: String },
    /// An ELF file without Go's pclntab or build info.
    #[error("{}: not a Go binary (no .gopclntab and no Go build info)", .path.display())]
    NotGo { path: PathBuf },
    /// A Go binary built before the register ABI (Go 1.17).
    #[error("{}: built with {version}; gozt needs go1.17 or newer (register ABI)", .path.display())]
    GoTooOld { path: PathBuf, version: String },
    /// A Go binary in which no catalog function was found.
    #[error("{}: no compression functions found ({version}, {functions} functions searched)", .path.display())]
    NoCompression {
        path: PathBuf,
        version: String,
        functions: usize,
    },
    /// A structure inside the binary is inconsistent.
    #[error("{}: malformed Go binary: {what}", .path.display())]
    Malformed { path: PathBuf, what: String },
    /// The process does not exist (or has exited).
    #[error("process {pid} not found (exited, or never existed)")]
    NoSuchProcess { pid: i32 },
    /// A file given to `gozt report` that holds no gozt JSON report.
    #[error("{}: not a gozt JSON report ({what})", .path.display())]
    NotReport { path: PathBuf, what: String },
    /// The process exists but its executable cannot be opened.
    #[error("process {pid}: permission denied opening /proc/{pid}/exe (run gozt as root)")]
    ProcessPermission { pid: i32 },
}

impl Error {
    /// The process exit code for this kind; documented in the README.
    pub fn exit_code(&self) -> u8 {
        match self {
            Error::NotFound { .. } | Error::Io { .. } => 3,
            Error::NotElf { .. } | Error::UnsupportedArch { .. } => 4,
            Error::NotGo { .. } | Error::Malformed { .. } => 5,
            Error::GoTooOld { .. } => 6,
            Error::NoCompression { .. } => 7,
            Error::NoSuchProcess { .. } => 8,
            Error::ProcessPermission { .. } => 9,
            Error::NotReport { .. } => 14,
        }
    }

    pub(crate) fn malformed(path: &std::path::Path, what: impl Into<String>) -> Self {
        Error::Malformed {
            path: path.to_path_buf(),
            what: what.into(),
        }
    }
}
