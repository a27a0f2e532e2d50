//! How a target reads in text and in the live view: its host pid, then
//! what a node agent needs to find it again: its pid in its own namespace,
//! its container, its executable as it sees it, whether that was deleted.

use crate::stats::TargetInfo;

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
/// 4c01db0b339c] /usr/local/bin/app (go1.25.5)`, then, when the process
/// sees its executable elsewhere or it was deleted, `  runs PATH
/// (deleted)`.
pub fn lines(t: &TargetInfo) -> Vec<String> {
    let mut out = vec![format!(
        "target pid {}{} {} ({})",
        t.pid,
        tags(t),
        t.binary,
        t.go_version
    )];
    let elsewhere = !t.exe.is_empty() && t.exe != t.binary;
    if elsewhere || t.exe_deleted {
        let deleted = if t.exe_deleted { " (deleted)" } else { "" };
        out.push(format!("  runs {}{deleted}", t.exe));
    }
    out
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
        assert_eq!(lines(&host), ["target pid 4242 /srv/app (go1.27.3)"]);
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
            lines(&boxed),
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
    }
}
