//! Resolves parsed flags into what to do: which executable, from which
//! process; percentages, the `--prometheus` address, `-o`.

use std::path::PathBuf;

use crate::base::error::{Error, Result};
use crate::base::pid::Pid;
use crate::probe::catalog::Codec;
use crate::proc::exe;
use crate::stats::Rules;

/// The executable a command reads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Executable {
    /// The path to open (`/proc/PID/exe` for a process, which works across
    /// mount namespaces).
    pub open_path: PathBuf,
    pub pid: Option<Pid>,
}

impl Executable {
    /// From `gozt probes PATH` or `--pid PID`.
    pub fn resolve(path: Option<PathBuf>, pid: Option<Pid>) -> Result<Executable> {
        match (path, pid) {
            (_, Some(pid)) => Ok(Executable {
                open_path: exe::exe_path(pid)?,
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
    o: &crate::app::cli::TraceOptions,
) -> std::result::Result<crate::session::SessionConfig, String> {
    let threshold = parse_share("--alert-threshold", &o.alert_threshold)?;
    let max_overhead = match &o.max_overhead {
        Some(v) => {
            let f = parse_share("--max-overhead", v)?;
            if f <= 0.0 {
                return Err(format!("invalid --max-overhead '{v}': it must be above 0%"));
            }
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
                    Codec::parse(c.trim())
                        .ok_or_else(|| format!("unknown codec '{c}' ({})", Codec::list(", ")))
                })
                .collect::<std::result::Result<Vec<_>, _>>()?,
        )
    };
    crate::probe::select::validate(&o.funcs)?;
    let prometheus = o.prometheus.as_deref().map(listen_address).transpose()?;
    if let Some(i) = o.interval.filter(|i| *i < MIN_INTERVAL) {
        return Err(format!(
            "invalid --interval '{}': it must be at least 100ms",
            humantime::format_duration(i)
        ));
    }
    Ok(crate::session::SessionConfig {
        targets,
        duration: o.duration,
        rules: Rules {
            min_size: o.min_size,
            alert_threshold: threshold,
            min_eligible: o.min_eligible,
            incompressible_caller: parse_share(
                "--incompressible-caller",
                &o.incompressible_caller,
            )?,
            small_share: parse_share("--small-payload-share", &o.small_payload_share)?,
            route_depth: o.route_depth as usize,
            max_routes: o.max_routes as usize,
            downstream: !o.no_downstream,
            builds_per_payload: parse_share("--builds-per-payload", &o.builds_per_payload)?,
            resets: o.resets,
        },
        exit_on_alert: o.exit_on_alert,
        stream_output: !o.no_stream_output,
        routes: !o.no_routes,
        lifecycle: !o.no_lifecycle,
        resets: o.resets,
        correct: !o.no_correction,
        codecs,
        func_globs: o.funcs.clone(),
        command_output: None,
        prometheus,
        series_grace: o.series_grace,
        max_overhead,
        probe_floor: o.probe_floor,
        probe_alternate: o.probe_alternate,
        interval: o.interval,
        quiet: o.quiet,
        verbose: o.verbose,
        btf: o.btf.clone(),
        env: environment(),
    })
}

/// What the environment asks of a session (and `gozt info`): read here,
/// once.
pub fn environment() -> crate::session::Environment {
    crate::session::Environment {
        timing: std::env::var_os("GOZT_TIMING").is_some(),
        attach: std::env::var("GOZT_ATTACH").ok().filter(|m| !m.is_empty()),
        simulate_no_btf: std::env::var_os("GOZT_SIMULATE_NO_BTF").is_some(),
        per_site: std::env::var_os("GOZT_PER_SITE").is_some(),
    }
}

/// Where a traced command's output goes while the live view has the
/// terminal: `$TMPDIR/gozt-trace-<gozt's pid>.log`.
pub fn command_log() -> PathBuf {
    std::env::temp_dir().join(format!("gozt-trace-{}.log", std::process::id()))
}

/// The shortest `--interval`.
const MIN_INTERVAL: std::time::Duration = std::time::Duration::from_millis(100);

/// How the text report is written, from `--ns`.
pub fn text_options(o: &crate::app::cli::TraceOptions) -> crate::render::report::TextOptions {
    crate::render::report::TextOptions { raw_ns: o.ns }
}

/// The one reading of every percentage flag: `N%` with N from 0 to 100, or
/// a ratio from 0 up to (not including) 1. A bare number of 1 or more is
/// refused with a hint (`1` is not taken as 100%, nor as 1%).
pub fn parse_share(flag: &str, s: &str) -> std::result::Result<f64, String> {
    let t = s.trim();
    let number = |n: &str| n.trim().parse::<f64>().ok().filter(|v| v.is_finite());
    let bad = || {
        format!(
            "invalid {flag} '{s}': expected a percentage like 0.3% or a ratio below 1 like 0.003"
        )
    };
    if let Some(p) = t.strip_suffix('%') {
        let p = number(p).ok_or_else(bad)?;
        if !(0.0..=100.0).contains(&p) {
            return Err(format!(
                "invalid {flag} '{s}': a percentage is from 0% to 100%"
            ));
        }
        return Ok(p / 100.0);
    }
    let v = number(t).ok_or_else(bad)?;
    match v {
        v if (0.0..1.0).contains(&v) => Ok(v),
        v if (1.0..=100.0).contains(&v) => Err(format!(
            "invalid {flag} '{s}': a bare number is a ratio below 1; did you mean {t}%?"
        )),
        _ => Err(bad()),
    }
}

/// `--prometheus` as an address to bind: `PORT` is loopback
/// (127.0.0.1:PORT), `:PORT` every interface (0.0.0.0:PORT), `HOST:PORT`
/// (`[V6]:PORT` for IPv6) as given.
pub fn listen_address(s: &str) -> std::result::Result<String, String> {
    let port = |p: &str| p.parse::<u16>().is_ok();
    if port(s) {
        return Ok(format!("127.0.0.1:{s}"));
    }
    if let Some(p) = s.strip_prefix(':').filter(|p| port(p)) {
        return Ok(format!("0.0.0.0:{p}"));
    }
    let host_port = match s.rsplit_once(':') {
        Some((h, p)) if h.starts_with('[') => h.ends_with(']') && h.len() > 2 && port(p),
        Some((h, p)) => !h.is_empty() && !h.contains(':') && port(p),
        None => false,
    };
    if host_port {
        Ok(s.to_string())
    } else {
        Err(format!(
            "invalid --prometheus '{s}': expected PORT (loopback), :PORT (all interfaces) or HOST:PORT"
        ))
    }
}

/// Where `-o` sends the report: a file opened before tracing starts, so
/// that a bad path fails at once; `None` (no `-o`, or `-o -`) is stdout.
pub struct Output {
    path: PathBuf,
    file: std::fs::File,
    /// gozt made the file: it is removed again if no report is written.
    created: bool,
    written: bool,
}

impl Output {
    /// Opens (or creates) `path` for writing, without truncating it yet:
    /// an earlier report there survives a run that fails.
    pub fn open(path: Option<&std::path::Path>) -> Result<Option<Output>> {
        let Some(path) = path.filter(|p| p.as_os_str() != "-") else {
            return Ok(None);
        };
        let io = |e| Error::Io {
            path: path.to_path_buf(),
            source: e,
        };
        let mut created = true;
        let file = match std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(path)
        {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                created = false;
                std::fs::OpenOptions::new().write(true).open(path)
            }
            other => other,
        }
        .map_err(io)?;
        Ok(Some(Output {
            path: path.to_path_buf(),
            file,
            created,
            written: false,
        }))
    }

    /// Replaces the file's content with `bytes`.
    pub fn write(mut self, bytes: &[u8]) -> Result<()> {
        self.append(bytes)
    }

    /// Writes `bytes` after what this run wrote before (the first write
    /// replaces the file's content), flushed: `--interval` appends each
    /// interval as it comes.
    pub fn append(&mut self, bytes: &[u8]) -> Result<()> {
        use std::io::Write as _;
        let regular = self.file.metadata().is_ok_and(|m| m.is_file());
        let result = (if regular && !self.written {
            self.file.set_len(0)
        } else {
            Ok(())
        })
        .and_then(|()| self.file.write_all(bytes))
        .and_then(|()| self.file.flush());
        self.written = true;
        result.map_err(|e| Error::Io {
            path: self.path.clone(),
            source: e,
        })
    }
}

impl Drop for Output {
    fn drop(&mut self) {
        if self.created && !self.written {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{listen_address, parse_share, Output};

    #[test]
    fn shares_are_read_one_way() {
        let p = |s| parse_share("--alert-threshold", s);
        assert_eq!(p("0.3%").unwrap(), 0.003);
        assert_eq!(p("1%").unwrap(), 0.01);
        assert_eq!(p("100%").unwrap(), 1.0);
        assert_eq!(p("0.01").unwrap(), 0.01);
        assert_eq!(p("0").unwrap(), 0.0);
        assert_eq!(
            p("1").unwrap_err(),
            "invalid --alert-threshold '1': a bare number is a ratio below 1; did you mean 1%?"
        );
        assert!(p("3").unwrap_err().ends_with("did you mean 3%?"));
        assert!(p("150%").unwrap_err().contains("from 0% to 100%"));
        assert!(p("abc").unwrap_err().contains("expected a percentage"));
        assert!(p("-0.1").is_err());
        assert!(p("150").is_err());
        assert!(p("NaN").is_err());
        assert!(parse_share("--max-overhead", "1")
            .unwrap_err()
            .starts_with("invalid --max-overhead '1'"));
    }

    #[test]
    fn prometheus_addresses() {
        assert_eq!(listen_address("9443").unwrap(), "127.0.0.1:9443");
        assert_eq!(listen_address(":9434").unwrap(), "0.0.0.0:9434");
        assert_eq!(listen_address("0.0.0.0:9433").unwrap(), "0.0.0.0:9433");
        assert_eq!(listen_address("localhost:0").unwrap(), "localhost:0");
        assert_eq!(listen_address("[::1]:9433").unwrap(), "[::1]:9433");
        for bad in [
            "",
            "abc",
            "99999",
            ":",
            "host:",
            "::1",
            "[::1]",
            "host:port",
        ] {
            assert!(listen_address(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn output_is_opened_first_and_removed_if_unused() {
        let dir = std::env::temp_dir().join(format!("gozt-out-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(Output::open(Some(std::path::Path::new("-")))
            .unwrap()
            .is_none());
        assert!(Output::open(None).unwrap().is_none());
        assert!(Output::open(Some(&dir)).is_err(), "a directory");
        assert!(Output::open(Some(&dir.join("no/such/dir"))).is_err());
        // Unused: a new file is removed, an old one keeps its content.
        let new = dir.join("new.txt");
        drop(Output::open(Some(&new)).unwrap());
        assert!(!new.exists());
        let old = dir.join("old.txt");
        std::fs::write(&old, "earlier report").unwrap();
        drop(Output::open(Some(&old)).unwrap());
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "earlier report");
        // Written: the content is replaced.
        Output::open(Some(&old))
            .unwrap()
            .unwrap()
            .write(b"new")
            .unwrap();
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "new");
        // Appended: the first write replaces, the next ones follow it.
        let mut o = Output::open(Some(&old)).unwrap().unwrap();
        o.append(b"one\n").unwrap();
        o.append(b"two\n").unwrap();
        drop(o);
        assert_eq!(std::fs::read_to_string(&old).unwrap(), "one\ntwo\n");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
