//! gozt as root under a seccomp filter that denies bpf(), as a container
//! runtime's default profile does: it must say so, in one line with its own
//! exit code (17), and not blame the kernel (it once said "no BPF ring
//! buffer (Linux 5.8 or newer is needed)" on 6.18). `gozt info` under the
//! same filter reads the kernel's features from its BTF and names the
//! filter as what is missing. Without one of the capabilities the node
//! agent's manifest gives it, gozt names the one it lacks. Needs root; with
//! CI=true its absence fails.

mod common;

use std::os::unix::process::CommandExt;
use std::process::Command;

use serde_json::Value;

/// One test at a time: each checks that no gozt of its own is left.
static ONE: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The filter: bpf() fails with EPERM, every other call is allowed.
fn deny_bpf() -> std::io::Result<()> {
    #[cfg(target_arch = "x86_64")]
    const ARCH: u32 = 0xc000_003e; // AUDIT_ARCH_X86_64
    #[cfg(target_arch = "aarch64")]
    const ARCH: u32 = 0xc000_00b7; // AUDIT_ARCH_AARCH64
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const RET_K: u16 = 0x06;
    const ALLOW: u32 = 0x7fff_0000;
    const ERRNO: u32 = 0x0005_0000;
    let op = |code, jt, jf, k| libc::sock_filter { code, jt, jf, k };
    let filter = [
        // seccomp_data: nr at 0, arch at 4.
        op(LD_W_ABS, 0, 0, 4),
        op(JEQ_K, 0, 3, ARCH),
        op(LD_W_ABS, 0, 0, 0),
        op(JEQ_K, 0, 1, libc::SYS_bpf as u32),
        op(RET_K, 0, 0, ERRNO | libc::EPERM as u32),
        op(RET_K, 0, 0, ALLOW),
    ];
    let prog = libc::sock_fprog {
        len: filter.len() as u16,
        filter: filter.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prctl with PR_SET_NO_NEW_PRIVS takes plain integers; with
    // PR_SET_SECCOMP a pointer to a filter program that outlives the call
    // (the kernel copies it).
    unsafe {
        if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0
            || libc::prctl(
                libc::PR_SET_SECCOMP,
                libc::SECCOMP_MODE_FILTER,
                &prog as *const libc::sock_fprog,
            ) != 0
        {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

/// gozt ARGS under the filter: (exit code, stdout, stderr).
fn filtered(args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_gozt"));
    cmd.args(args);
    // SAFETY: the closure runs in the child between fork and exec and only
    // makes two prctl calls.
    unsafe {
        cmd.pre_exec(deny_bpf);
    }
    let out = cmd.output().expect("run gozt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
#[ignore = "needs root: cargo test -- --include-ignored"]
fn a_seccomp_filter_denying_bpf_is_named_not_the_kernel() {
    common::require_privileged();
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let workload = common::newest("workload-stripped");
    let w = workload.to_str().unwrap();
    let (code, out, err) = filtered(&[
        "trace",
        "--json",
        "-q",
        "--",
        w,
        "-goroutines",
        "1",
        "-rounds",
        "1",
    ]);
    assert_eq!(code, 17, "stdout {out}\nstderr {err}");
    assert_eq!(err.lines().count(), 1, "one line: {err}");
    assert!(err.contains("seccomp filter"), "{err}");
    assert!(err.contains("seccomp=unconfined"), "{err}");
    assert!(
        !err.contains("ring buffer") && !err.contains("kernel"),
        "{err}"
    );
    assert!(!err.contains("panicked"), "{err}");
    // The held command was never let go, and nothing of gozt's is left.
    assert!(common::gozt_processes().is_empty());

    // The same refusal for attach to a running Go program, before any
    // probe; the program is untouched.
    let mut target = common::waiting_workload(&workload, &["-goroutines", "1", "-rounds", "1"]);
    let pid = target.id().to_string();
    let (code, _, err) = filtered(&["attach", "--pid", &pid, "--duration", "1s"]);
    assert_eq!(code, 17, "{err}");
    assert!(err.contains("seccomp filter"), "{err}");
    assert!(
        target.try_wait().unwrap().is_none(),
        "the target still runs"
    );
    let _ = target.kill();
    let _ = target.wait();

    // gozt info: the features from BTF (none reported absent), the filter
    // as what is missing, and no attach method refused for the kernel's sake.
    let (code, out, err) = filtered(&["info", "--json"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    for f in ["ring_buffer", "uprobe_multi", "attach_cookies"] {
        assert_eq!(v[f]["present"], true, "{f}: {v}");
        assert_eq!(v[f]["how"], "btf", "{f}: {v}");
    }
    assert_eq!(v["attach_method"], "uprobe_multi", "{v}");
    let missing = v["missing"].as_array().unwrap();
    assert_eq!(missing.len(), 1, "{v}");
    assert!(
        missing[0].as_str().unwrap().contains("seccomp filter"),
        "{v}"
    );
}

/// gozt as root without one of the capabilities the manifest gives it (a
/// pod spec that forgot one): the one missing is named, with the line to
/// add, and its exit code; the target is untouched.
#[test]
#[ignore = "needs root: cargo test -- --include-ignored"]
fn a_missing_capability_is_named_with_the_manifests_fix() {
    common::require_privileged();
    let _one = ONE.lock().unwrap_or_else(|e| e.into_inner());
    let workload = common::newest("workload-stripped");
    let mut target = common::waiting_workload(&workload, &["-goroutines", "1", "-rounds", "1"]);
    let pid = target.id().to_string();
    // Dropped from the bounding set, a capability is not in root's
    // effective set once gozt is exec'd.
    for (drop, code, named, add) in [
        ("-bpf,-sys_admin", 17, "gozt lacks CAP_BPF:", "add \"BPF\""),
        (
            "-perfmon,-sys_admin",
            17,
            "gozt lacks CAP_PERFMON:",
            "add \"PERFMON\"",
        ),
        (
            "-sys_ptrace",
            9,
            "gozt lacks CAP_SYS_PTRACE",
            "add \"SYS_PTRACE\"",
        ),
    ] {
        let out = Command::new("setpriv")
            .arg(format!("--bounding-set={drop}"))
            .arg("--")
            .arg(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--pid", &pid, "--duration", "1s"])
            .output()
            .expect("setpriv (util-linux)");
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{drop}: {err}");
        assert_eq!(err.lines().count(), 1, "{drop}: one line: {err}");
        assert!(err.contains(named) && err.contains(add), "{drop}: {err}");
        assert!(!err.contains("seccomp"), "{drop}: {err}");
        assert!(
            target.try_wait().unwrap().is_none(),
            "the target still runs"
        );
    }
    let _ = target.kill();
    let _ = target.wait();
    assert!(common::gozt_processes().is_empty());
}
