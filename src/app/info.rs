//! `gozt info`: what this node offers gozt, in the spirit of `bpftrace
//! --info` — the kernel, BTF, uprobes, the ring buffer, uprobe.multi, attach
//! cookies, the attach method gozt would use, the privileges it has, and
//! what is missing, one line each. Needs no root: without privileges the
//! kernel's features are read from its BTF instead of asked of it.

use serde::Serialize;

use crate::base::privileges::{Cap, Op, Privileges};
use crate::tracer::events::Tracefs;
use crate::tracer::kernel::{Feature, Features, How};

/// What `gozt info` reports.
#[derive(Debug, Clone, Serialize)]
pub struct Info {
    #[serde(flatten)]
    pub features: Features,
    /// `uname -m`.
    pub arch: String,
    /// The tracefs where gozt can define uprobe events (classic uprobes are
    /// grouped one event per binary there), if one is writable.
    pub tracefs: Option<String>,
    /// The method gozt would attach with here, if any.
    pub attach_method: Option<String>,
    /// GOZT_ATTACH chose it.
    pub attach_method_forced: bool,
    /// Effective uid 0.
    pub root: bool,
    /// Those of [`Cap::ALL`] in the effective set.
    pub capabilities: Vec<String>,
    /// What stops gozt from tracing here, one line each.
    pub missing: Vec<String>,
}

/// Reads this node: asks the kernel when privileged, else reads its BTF;
/// `wanted` is the method `GOZT_ATTACH` names, if any.
pub fn read(btf: Option<&std::path::Path>, wanted: Option<&str>) -> Info {
    let privileges = Privileges::read();
    let root = rustix::process::geteuid().is_root();
    // Loading a probe program needs CAP_SYS_ADMIN, or CAP_BPF and
    // CAP_PERFMON (5.8+).
    // (A memlock limit is raised by libbpf, or said at load.)
    let privileged = privileges
        .missing(Op::Load)
        .iter()
        .all(|c| *c == Cap::SysResource);
    // Privileged, but refused bpf() (a seccomp filter, say): the kernel's
    // features are read from its BTF, and the refusal is what is missing.
    let denied = privileged
        .then(crate::tracer::kernel::bpf_allowed)
        .and_then(Result::err);
    let features = Features::read(btf, privileged && denied.is_none());
    let wanted = wanted.filter(|w| !w.is_empty());
    let method = features.method(wanted);
    let mut missing = Vec::new();
    if !root {
        missing.push("root: gozt attach and trace must run as root".to_string());
    } else {
        for op in [Op::Load, Op::ReadProcess] {
            let lacks = privileges.missing(op);
            if !lacks.is_empty() {
                missing.push(privileges.cause(op, libc::EPERM));
            }
        }
    }
    if features.btf.is_none() {
        missing.push(match btf {
            Some(p) => format!("BTF: --btf {} cannot be read", p.display()),
            None => "BTF: no /sys/kernel/btf/vmlinux (give gozt --btf FILE)".to_string(),
        });
    }
    if let Some(why) = &denied {
        missing.push(why.clone());
    }
    if let Err(e) = &method {
        missing.push(format!("an attach method: {e}"));
    }
    Info {
        arch: std::env::consts::ARCH.to_string(),
        tracefs: Tracefs::find().map(|t| t.shown().to_string()),
        attach_method: method.as_ref().ok().map(|m| m.name().to_string()),
        attach_method_forced: wanted.is_some() && method.is_ok(),
        root,
        capabilities: Cap::ALL
            .iter()
            .filter(|c| privileges.has(**c))
            .map(|c| c.name().to_string())
            .collect(),
        missing,
        features,
    }
}

fn feature(f: Feature) -> String {
    let how = match f.how {
        How::Probed => "probed",
        How::Btf => "from BTF",
    };
    match f.present {
        Some(true) => format!("yes ({how})"),
        Some(false) => format!("no ({how})"),
        None => "unknown (no BTF to read)".to_string(),
    }
}

/// The text of `gozt info`: one `name  value` line each.
pub fn text(i: &Info) -> String {
    let f = &i.features;
    let yes = |b: bool| if b { "yes" } else { "no" };
    let mut lines: Vec<(&str, String)> = vec![
        ("kernel", format!("{} ({})", f.release, i.arch)),
        ("btf", f.btf.clone().unwrap_or_else(|| "none".into())),
        ("uprobes", yes(f.uprobes).to_string()),
        ("ring buffer", feature(f.ring_buffer)),
        ("uprobe.multi", feature(f.uprobe_multi)),
        ("attach cookies", feature(f.attach_cookies)),
        ("mappings list", feature(f.mappings_listed)),
        (
            "tracefs",
            match &i.tracefs {
                Some(d) => format!("{d} (classic uprobes: one event per binary)"),
                None if !i.root => "not writable without root".into(),
                None => "none mounted (gozt mounts its own while it runs)".into(),
            },
        ),
        (
            "attach method",
            match &i.attach_method {
                Some(m) if i.attach_method_forced => format!("{m} (GOZT_ATTACH)"),
                Some(m) => m.clone(),
                None => "none".into(),
            },
        ),
        (
            "privileges",
            format!(
                "{}{}",
                if i.root { "root" } else { "not root" },
                if i.capabilities.is_empty() {
                    ", no capabilities".to_string()
                } else {
                    format!(": {}", i.capabilities.join(" "))
                }
            ),
        ),
    ];
    if i.missing.is_empty() {
        lines.push(("missing", "nothing".into()));
    }
    lines.extend(i.missing.iter().map(|m| ("missing", m.clone())));
    lines
        .iter()
        .map(|(k, v)| format!("{k:<15} {v}\n"))
        .collect()
}

/// The JSON of `gozt info --json`.
pub fn json(i: &Info) -> String {
    let mut s = serde_json::to_string_pretty(i).expect("the info serializes");
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(root: bool, missing: Vec<String>) -> Info {
        let probed = |p| Feature {
            present: Some(p),
            how: How::Probed,
        };
        Info {
            features: Features {
                release: "6.1.0-44-amd64".into(),
                btf: Some("/sys/kernel/btf/vmlinux".into()),
                uprobes: true,
                ring_buffer: probed(true),
                uprobe_multi: probed(false),
                attach_cookies: probed(true),
                mappings_listed: Feature {
                    present: Some(false),
                    how: How::Btf,
                },
            },
            arch: "x86_64".into(),
            tracefs: root.then(|| "/sys/kernel/tracing".into()),
            attach_method: Some("uprobe_cookie".into()),
            attach_method_forced: false,
            root,
            capabilities: if root {
                vec!["CAP_SYS_ADMIN".into(), "CAP_BPF".into()]
            } else {
                vec![]
            },
            missing,
        }
    }

    #[test]
    fn one_line_each() {
        assert_eq!(
            text(&info(true, vec![])),
            "kernel          6.1.0-44-amd64 (x86_64)
btf             /sys/kernel/btf/vmlinux
uprobes         yes
ring buffer     yes (probed)
uprobe.multi    no (probed)
attach cookies  yes (probed)
mappings list   no (from BTF)
tracefs         /sys/kernel/tracing (classic uprobes: one event per binary)
attach method   uprobe_cookie
privileges      root: CAP_SYS_ADMIN CAP_BPF
missing         nothing
"
        );
        let t = text(&info(false, vec!["root: x".into(), "BTF: y".into()]));
        assert!(
            t.contains("\nprivileges      not root, no capabilities\n"),
            "{t}"
        );
        assert!(
            t.ends_with("\nmissing         root: x\nmissing         BTF: y\n"),
            "{t}"
        );
    }

    #[test]
    fn the_json_has_every_field_at_the_top() {
        let v: serde_json::Value = serde_json::from_str(&json(&info(true, vec![]))).unwrap();
        assert_eq!(v["release"], "6.1.0-44-amd64");
        assert_eq!(v["uprobe_multi"]["present"], false);
        assert_eq!(v["uprobe_multi"]["how"], "probed");
        assert_eq!(v["mappings_listed"]["how"], "btf");
        assert_eq!(v["attach_method"], "uprobe_cookie");
        assert_eq!(v["missing"], serde_json::json!([]));
    }
}
