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

/// Resolves `attach`/`trace` options into a session configuration.
pub fn session(
    targets: crate::session::Targets,
    o: &crate::cli::TraceOptions,
) -> std::result::Result<crate::session::SessionConfig, String> {
    let threshold = parse_threshold(&o.alert_threshold)?;
    let max_overhead = match &o.max_overhead {
        Some(v) => {
            let f = parse_fraction(v)
                .filter(|f| *f > 0.0)
                .ok_or_else(|| format!("invalid --max-overhead '{v}' (e.g. 1% or 0.01)"))?;
            Some(f)
        }
        None => None,
    };
    let codecs = if o.codec.is_empty() {
        None
    } else {
        Some(
            o.codec
                .iter()
                .map(|c| {
                    crate::catalog::Codec::parse(c.trim()).ok_or_else(|| {
                        format!("unknown codec '{c}' (zstd, gzip, flate, zlib, snappy, s2, lz4)")
                    })
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )
    };
    Ok(crate::session::SessionConfig {
        targets,
        duration: o.duration,
        min_size: o.min_size,
        alert_threshold: threshold,
        codecs,
        func_globs: o.funcs.clone(),
        command_output: None,
        prometheus: o.prometheus.clone(),
        max_overhead,
        probe_floor: o.probe_floor,
        probe_alternate: o.probe_alternate,
    })
}

/// `0.3%` -> 0.003; `0.003` -> 0.003.
pub fn parse_threshold(s: &str) -> std::result::Result<f64, String> {
    parse_fraction(s).ok_or_else(|| format!("invalid --alert-threshold '{s}' (e.g. 0.3% or 0.003)"))
}

/// A fraction in 0..=1, written as a percentage (`1%`) or a ratio (`0.01`).
fn parse_fraction(s: &str) -> Option<f64> {
    let v = match s.strip_suffix('%') {
        Some(p) => p.trim().parse::<f64>().ok()? / 100.0,
        None => s.trim().parse::<f64>().ok()?,
    };
    (0.0..=1.0).contains(&v).then_some(v)
}

#[cfg(test)]
mod tests {
    use super::parse_threshold;

    #[test]
    fn thresholds() {
        assert_eq!(parse_threshold("0.3%").unwrap(), 0.003);
        assert_eq!(parse_threshold("0.01").unwrap(), 0.01);
        assert!(parse_threshold("abc").is_err());
        assert!(parse_threshold("150%").is_err());
    }
}
