//! The start banner of a headless run, on stderr once the probes are in
//! place (bpftrace's "Attaching N probes...", bcc's "Hit Ctrl-C to end").

use std::path::Path;
use std::time::Duration;

use crate::stats::TargetInfo;

/// What the banner says.
pub struct Banner<'a> {
    /// Sites attached: entries, RETs and sinks.
    pub probes: usize,
    pub functions: usize,
    /// Of them, sink sites (streams' writes to their io.Writer).
    pub sinks: usize,
    /// Of them, request sites (where net/http's requests begin, and on
    /// arm64 end: the payloads' routes).
    pub requests: usize,
    /// The processes named (or the command started).
    pub targets: &'a [TargetInfo],
    /// With --binary: its path, and how many processes run it now.
    pub binary: Option<(&'a str, usize)>,
    pub duration: Option<Duration>,
    /// The attach method (`uprobe_multi`, `uprobe_cookie`, `uprobe_address`).
    pub method: &'a str,
}

/// Processes listed by pid at most; the others are counted.
const LISTED: usize = 3;

fn plural(n: usize, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

/// The banner's one line, `gozt: ` first.
pub fn banner(b: &Banner<'_>) -> String {
    let sinks = if b.sinks > 0 {
        format!("; {} of streams' output", plural(b.sinks, "sink", "sinks"))
    } else {
        String::new()
    };
    let requests = if b.requests > 0 {
        format!("; {} of HTTP requests", plural(b.requests, "site", "sites"))
    } else {
        String::new()
    };
    let probes = format!(
        "{} ({}: entries and RETs{sinks}{requests})",
        plural(b.probes, "probe", "probes"),
        plural(b.functions, "function", "functions")
    );
    let into = match b.binary {
        Some((path, running)) => format!(
            "{path}, {} now (and those that start later)",
            plural(running, "process runs it", "processes run it")
        ),
        None => {
            let named: Vec<String> = b
                .targets
                .iter()
                .take(LISTED)
                .map(|t| {
                    let name = Path::new(&t.binary)
                        .file_name()
                        .map_or(t.binary.clone(), |n| n.to_string_lossy().into_owned());
                    format!("{} {name}", t.pid)
                })
                .collect();
            let more = b.targets.len().saturating_sub(LISTED);
            format!(
                "{} (pid{} {}{})",
                plural(b.targets.len(), "process", "processes"),
                if b.targets.len() == 1 { "" } else { "s" },
                named.join(", "),
                if more > 0 {
                    format!(" and {more} more")
                } else {
                    String::new()
                }
            )
        }
    };
    let end = match b.duration {
        Some(d) => format!(
            "Tracing for {}; Ctrl-C ends sooner",
            humantime::format_duration(d)
        ),
        None => "Hit Ctrl-C to end".to_string(),
    };
    format!(
        "gozt: attached {probes} with {} in {into}. {end}.",
        b.method
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(pid: u32, binary: &str) -> TargetInfo {
        TargetInfo {
            pid,
            binary: binary.into(),
            go_version: "go1.27.3".into(),
            ..TargetInfo::default()
        }
    }

    #[test]
    fn the_banner_says_what_is_traced_and_how_it_ends() {
        let one = [target(1234, "/srv/demo-service")];
        let b = Banner {
            probes: 46,
            functions: 8,
            sinks: 0,
            requests: 0,
            targets: &one,
            binary: None,
            duration: None,
            method: "uprobe_multi",
        };
        assert_eq!(
            banner(&b),
            "gozt: attached 46 probes (8 functions: entries and RETs) with uprobe_multi in \
             1 process (pid 1234 demo-service). Hit Ctrl-C to end."
        );
        let many: Vec<TargetInfo> = (1..=5).map(|p| target(p, "/srv/app")).collect();
        let b = Banner {
            probes: 1,
            functions: 1,
            sinks: 0,
            requests: 0,
            targets: &many,
            binary: None,
            duration: Some(Duration::from_secs(30)),
            method: "uprobe_cookie",
        };
        assert_eq!(
            banner(&b),
            "gozt: attached 1 probe (1 function: entries and RETs) with uprobe_cookie in \
             5 processes (pids 1 app, 2 app, 3 app and 2 more). Tracing for 30s; Ctrl-C \
             ends sooner."
        );
        let b = Banner {
            probes: 46,
            functions: 8,
            sinks: 0,
            requests: 0,
            targets: &[],
            binary: Some(("/usr/local/bin/app", 2)),
            duration: None,
            method: "uprobe_multi",
        };
        assert_eq!(
            banner(&b),
            "gozt: attached 46 probes (8 functions: entries and RETs) with uprobe_multi in \
             /usr/local/bin/app, 2 processes run it now (and those that start later). Hit \
             Ctrl-C to end."
        );
        let b = Banner {
            probes: 47,
            sinks: 9,
            requests: 1,
            ..b
        };
        assert_eq!(
            banner(&b),
            "gozt: attached 47 probes (8 functions: entries and RETs; 9 sinks of streams' \
             output; 1 site of HTTP requests) with uprobe_multi in /usr/local/bin/app, 2 \
             processes run it now (and those that start later). Hit Ctrl-C to end."
        );
    }
}
