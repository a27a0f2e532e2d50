//! How a target reads in text and in the live view: its host pid, then
//! what a node agent needs to find it again: its pid in its own namespace,
//! its container, its executable as it sees it, whether that was deleted.

use crate::go_binary::names::short_name;
use crate::render::format::{fit, percent};
use crate::stats::{Report, TargetInfo};

/// Characters of a container id shown (as `docker ps` shows them).
const SHORT_ID: usize = 12;

/// The identity tags of `t`: `[ns pid 1, container 4c01db0b339c]`, or empty
/// for a host process.
pub fn tags(t: &TargetInfo) -> String {
    let mut tags = Vec::new();
    if let Some(ns) = t.ns_pid.filter(|&n| n != t.pid) {
        tags.push(format!("ns pid {ns}"));
    }
    if let Some(c) = &t.container_id {
        tags.push(format!("container {}", short_id(c)));
    }
    if tags.is_empty() {
        String::new()
    } else {
        format!(" [{}]", tags.join(", "))
    }
}

/// A container id as listed: a runtime's 64 hex digits shortened, a
/// machine name whole.
pub fn short_id(id: &str) -> &str {
    if id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit()) {
        &id[..SHORT_ID]
    } else {
        id
    }
}

/// The text report's lines of `t`: `target pid 31337 [ns pid 1, container
/// 4c01db0b339c] /usr/local/bin/app (go1.25.5, v1.4.2)` (its main module's
/// version where the build info has one), then, when the process
/// sees its executable elsewhere or it was deleted, `  runs PATH
/// (deleted)`.
/// At most `width` columns each: a long path is cut in its middle, the
/// identity never.
pub fn lines(t: &TargetInfo, width: usize) -> Vec<String> {
    let head = format!("target pid {}{} ", t.pid, tags(t));
    let tail = match t.module_version.as_deref() {
        Some(v) => format!(" ({}, {v})", t.go_version),
        None => format!(" ({})", t.go_version),
    };
    let room = width.saturating_sub(head.len() + tail.len()).max(8);
    let mut out = vec![format!("{head}{}{tail}", fit(&t.binary, room))];
    let elsewhere = !t.exe.is_empty() && t.exe != t.binary;
    if elsewhere || t.exe_deleted {
        let deleted = if t.exe_deleted { " (deleted)" } else { "" };
        let room = width.saturating_sub(7 + deleted.len()).max(8);
        out.push(format!("  runs {}{deleted}", fit(&t.exe, room)));
    }
    out
}

/// With several targets, each one's calls: a header (its identity and
/// totals), its functions, its callers.
pub fn per_target(out: &mut String, r: &Report, width: usize) {
    use std::fmt::Write as _;
    for tc in &r.per_target {
        let t = r
            .targets
            .iter()
            .find(|t| t.pid == tc.pid && t.start_ticks == tc.start_ticks);
        let tags = t.map(tags).unwrap_or_default();
        let c = &tc.totals;
        let _ = writeln!(out);
        let _ = writeln!(
            out,
            "{}",
            fit(
                &format!(
                    "pid {}{tags}: {} calls, {} errors, {} incompressible, failure rate {}",
                    tc.pid,
                    c.calls,
                    c.errors,
                    c.incompressible,
                    percent(c.failure_rate, 3)
                ),
                width
            )
        );
        let _ = writeln!(
            out,
            "{:>8} {:>7} {:>7}  FUNCTION",
            "CALLS", "ERRORS", "INCOMP"
        );
        let room = width.saturating_sub(26);
        for f in &tc.functions {
            let c = &f.counters;
            let _ = writeln!(
                out,
                "{:>8} {:>7} {:>7}  {}",
                c.calls,
                c.errors,
                c.incompressible,
                fit(short_name(&f.function), room)
            );
        }
        for k in &tc.callers {
            let line = format!("{} -> {}", k.caller, short_name(&k.function));
            let _ = writeln!(out, "{:>8}  {}", k.calls, fit(&line, width - 10));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "4c01db0b339c7a2c9c6d5b1d8a6c4b5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c";

    #[test]
    fn a_host_process_reads_as_before_and_a_container_one_says_where_it_is() {
        let host = TargetInfo {
            pid: 4242,
            binary: "/srv/app".into(),
            go_version: "go1.27.3".into(),
            ns_pid: Some(4242),
            exe: "/srv/app".into(),
            ..TargetInfo::default()
        };
        assert_eq!(lines(&host, 100), ["target pid 4242 /srv/app (go1.27.3)"]);
        let boxed = TargetInfo {
            pid: 31337,
            binary: "/proc/31337/exe".into(),
            ns_pid: Some(1),
            container_id: Some(ID.into()),
            exe: "/usr/local/bin/app".into(),
            exe_deleted: true,
            ..host.clone()
        };
        assert_eq!(
            lines(&boxed, 100),
            [
                "target pid 31337 [ns pid 1, container 4c01db0b339c] /proc/31337/exe (go1.27.3)",
                "  runs /usr/local/bin/app (deleted)"
            ]
        );
        let machine = TargetInfo {
            container_id: Some("web-1".into()),
            ..host
        };
        assert_eq!(tags(&machine), " [container web-1]");
        // A long path is cut, the identity kept.
        let long = TargetInfo {
            binary: format!(
                "/var/lib/containerd/{}/rootfs/usr/local/bin/app",
                "x".repeat(80)
            ),
            ..boxed
        };
        let first = &lines(&long, 100)[0];
        assert!(first.starts_with("target pid 31337 [ns pid 1, container 4c01db0b339c] /var/"));
        assert!(first.ends_with("bin/app (go1.27.3)"), "{first}");
        assert_eq!(first.chars().count(), 100, "{first}");
    }
}
