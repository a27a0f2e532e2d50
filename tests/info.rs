//! `gozt info` on this machine's kernel: as root it asks the kernel, as an
//! unprivileged user it reads the kernel's BTF, and both must name the same
//! features and attach method (tests/kernels.rs does the same in each
//! kernel of the matrix). The root half needs root; with CI=true its absence
//! fails the run.

mod common;

use std::process::Command;

use serde_json::Value;

/// `gozt info ARGS` as root or as nobody; (exit code, stdout).
fn info(args: &[&str], nobody: bool, env: &[(&str, &str)]) -> (i32, String) {
    let mut cmd = if nobody {
        let mut c = Command::new("setpriv");
        c.args(["--reuid", "65534", "--regid", "65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_gozt"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_gozt"))
    };
    cmd.arg("info").args(args).envs(env.iter().copied());
    let out = cmd.output().expect("run gozt info");
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
    )
}

fn json(nobody: bool, env: &[(&str, &str)]) -> Value {
    let (code, out) = info(&["--json"], nobody, env);
    assert_eq!(code, 0);
    serde_json::from_str(&out).unwrap()
}

#[test]
#[ignore = "needs root: cargo test -- --include-ignored"]
fn info_says_the_same_with_and_without_root() {
    common::require_privileged();
    let root = json(false, &[]);
    let user = json(true, &[]);
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    for v in [&root, &user] {
        assert_eq!(v["release"], release.trim());
        assert_eq!(v["btf"], "/sys/kernel/btf/vmlinux");
        assert_eq!(v["uprobes"], true);
        // This machine (6.6+): uprobe.multi.
        assert_eq!(v["attach_method"], "uprobe_multi", "{v}");
        assert_eq!(v["attach_method_forced"], false);
        // 6.1 replaced the list of mappings by a maple tree.
        assert_eq!(v["mappings_listed"]["present"], false);
        assert_eq!(v["mappings_listed"]["how"], "btf");
    }
    for f in ["ring_buffer", "uprobe_multi", "attach_cookies"] {
        assert_eq!(root[f]["how"], "probed", "{f}");
        assert_eq!(user[f]["how"], "btf", "{f}");
        assert_eq!(root[f]["present"], true, "{f}");
        assert_eq!(user[f]["present"], true, "{f}");
    }
    assert_eq!(root["root"], true);
    assert_eq!(root["missing"], serde_json::json!([]));
    assert!(root["capabilities"]
        .as_array()
        .unwrap()
        .contains(&Value::from("CAP_BPF")));
    assert_eq!(user["root"], false);
    assert_eq!(user["capabilities"], serde_json::json!([]));
    assert_eq!(user["tracefs"], Value::Null);
    assert_eq!(
        user["missing"],
        serde_json::json!(["root: gozt attach and trace must run as root"])
    );

    // The text: one line each, without root too.
    let (code, text) = info(&[], true, &[]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = text.lines().map(|l| &l[..15]).collect();
    assert_eq!(
        keys,
        [
            "kernel         ",
            "btf            ",
            "uprobes        ",
            "ring buffer    ",
            "uprobe.multi   ",
            "attach cookies ",
            "mappings list  ",
            "tracefs        ",
            "attach method  ",
            "privileges     ",
            "missing        ",
        ],
        "{text}"
    );
    assert!(
        text.contains("\nuprobe.multi    yes (from BTF)\n"),
        "{text}"
    );
    assert!(text.contains("\nattach method   uprobe_multi\n"), "{text}");
    assert!(
        text.ends_with("\nprivileges      not root, no capabilities\nmissing         root: gozt attach and trace must run as root\n"),
        "{text}"
    );

    // GOZT_ATTACH picks a method the kernel has, and names one it lacks.
    let forced = json(true, &[("GOZT_ATTACH", "uprobe_cookie")]);
    assert_eq!(forced["attach_method"], "uprobe_cookie");
    assert_eq!(forced["attach_method_forced"], true);
    let lacking = json(false, &[("GOZT_ATTACH", "uprobe_address")]);
    assert_eq!(lacking["attach_method"], Value::Null);
    assert_eq!(
        lacking["missing"],
        serde_json::json!(["an attach method: GOZT_ATTACH=uprobe_address: this kernel lacks it"])
    );
}
