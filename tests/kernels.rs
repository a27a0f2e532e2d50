//! The kernel matrix: gozt on Debian's own kernels — 5.10 (Debian 11), 6.1 (Debian 12) and
//! 6.12 — each booted in a QEMU VM with the host's root shared read-only
//! (scripts/kernels.sh installs them, scripts/vm-run.sh boots one, scripts/vm-guest.sh runs
//! in it). Each kernel's default attach method must be the one it is known to have —
//! `uprobe_address` on 5.10 (no attach cookies), `uprobe_cookie` on 6.1 (no uprobe.multi),
//! `uprobe_multi` on 6.12 — and `gozt info` must say so, as root and as nobody. In the
//! guest, with no GOZT_ATTACH: the ground-truth trace of a stripped PIE and a default build
//! of the newest Go, whose reports must equal the workload's own truth exactly (the checks
//! of tests/trace_truth.rs; the verifier accepting the method's programs is the first of
//! them), with classic uprobes grouped in one tracefs event per binary; and an attach run on
//! a waiting target, stopped by SIGINT: every probe site holds an INT3 while attached, and
//! after gozt exits no gozt BPF program, uprobe event or INT3 is left and the target
//! completes its work. Each kernel's line gives the attach and detach times.
//!
//! The guests are emulated (QEMU TCG; Debian's kernels do not boot under this host's KVM),
//! and emulated single-steps of a uprobe's displaced instruction now and then resume the
//! target at a wrong address, whatever traces it (bpftrace alone crashed the target in 1
//! run of 20 on 5.10; uprobe.multi on 6.12 once at `lz4.CompressBlock+6`). So a run whose
//! target died of a signal (its Go runtime's fatal-signal report, non-zero exit) is made
//! again in the guest, up to 3 times, and each repeat is printed here with the signal and
//! its address; every other failure — a miscount above all — fails at once, and a
//! repeated run must still have left nothing attached. Needs root; a kernel or a VM that is
//! missing fails the run.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::sync::Mutex;
use std::time::Instant;

use serde_json::Value;

/// One VM at a time: each takes both cores.
static VM: Mutex<()> = Mutex::new(());

/// The builds traced in each guest, of the newest Go.
const BUILDS: &[&str] = &["pie-stripped", "default"];

/// Virtual addresses of every probe site (entries and RETs) of a non-PIE
/// binary, where they are the same in every process.
fn static_probe_sites(bin: &Path) -> Vec<u64> {
    let (code, out, err) = common::gozt(&["probes", "--json", bin.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    let plan: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        plan["pie"],
        false,
        "{}: sites move under PIE",
        bin.display()
    );
    common::probe_sites(&plan)
}

/// What gozt said of its attach and detach (GOZT_TIMING): "attach A ms,
/// detach D ms".
fn times_said(stderr: &str) -> String {
    let attach = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gozt: timing: discovery "))
        .and_then(|l| l.split_once(", attach "))
        .and_then(|(_, a)| a.split_once(" ms"))
        .map_or("?", |(ms, _)| ms);
    let detach = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gozt: timing: detach "))
        .and_then(|d| d.strip_suffix(" ms"))
        .unwrap_or("?");
    format!("attach {attach} ms, detach {detach} ms")
}

/// The Go runtime's report of the fatal signal a program died of, in its
/// stderr: the signal line and the address line after it.
fn signal_said(stderr: &str) -> Option<String> {
    let mut lines = stderr.lines();
    let first = lines.find(|l| l.starts_with("[signal SIG") || sig_header(l) || sigpanic(l))?;
    if let Some(at) = first.find(SIGPANIC) {
        return Some(first[at..].to_string());
    }
    if first.starts_with("[signal") {
        return Some(first.to_string());
    }
    // "SIGILL: illegal instruction" then "PC=0x... m=2 sigcode=2".
    let pc = lines.find(|l| l.starts_with("PC=")).unwrap_or("");
    Some(format!("{first} {pc}").trim().to_string())
}

/// A signal whose stack the Go runtime could not unwind: its sigpanic's
/// return address is nowhere in the program ("runtime: g 1: unexpected
/// return pc for runtime.sigpanic called from 0x...").
const SIGPANIC: &str = "unexpected return pc for runtime.sigpanic called from ";

fn sigpanic(l: &str) -> bool {
    l.starts_with("runtime: ") && l.contains(SIGPANIC)
}

fn sig_header(l: &str) -> bool {
    l.starts_with("SIG")
        && l.split_once(": ")
            .is_some_and(|(s, _)| s[3..].chars().all(|c| c.is_ascii_uppercase()))
}

/// A step's attempts in the guest (1, or more where the target died of a
/// signal): checks that each attempt but the last was such a death, with
/// gozt's part sound (`sound`), and prints it; returns the last attempt.
fn attempts(
    out: &Path,
    step: &str,
    what: &str,
    died: impl Fn(usize) -> Option<String>,
    sound: impl Fn(usize),
) -> usize {
    let n: usize = common::vm_output(out, &format!("attempts-{step}"))
        .parse()
        .unwrap_or_else(|_| panic!("{what}: the guest did not run this step"));
    assert!((1..=4).contains(&n), "{what}: {n} attempts");
    for k in 1..n {
        let said = died(k).unwrap_or_else(|| {
            panic!("{what}: attempt {k} was made again, but its target did not die of a signal")
        });
        sound(k);
        std::io::stderr()
            .write_all(
                format!("{what}: attempt {k}: the target died of a signal ({said}): again\n")
                    .as_bytes(),
            )
            .unwrap();
    }
    n
}

/// The gozt the guests run: an optimized build (`$GOZT_MATRIX_GOZT`, which
/// scripts/test.sh builds, else built here next to this test's target
/// directory): under emulation a debug build's discovery of a binary with
/// DWARF takes a minute or two.
fn matrix_gozt() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("GOZT_MATRIX_GOZT") {
        return p.into();
    }
    // target/<profile>/gozt -> target/matrix
    let host_bin = Path::new(env!("CARGO_BIN_EXE_gozt"));
    let target_dir = host_bin.parent().unwrap().parent().unwrap().join("matrix");
    let status = Command::new("cargo")
        .args([
            "build",
            "--release",
            "--quiet",
            "--bin",
            "gozt",
            "--target-dir",
        ])
        .arg(&target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .expect("run cargo build --release");
    assert!(status.success(), "cargo build --release failed");
    target_dir.join("release/gozt")
}

/// Boots `kernel` (a series of scripts/kernels.sh), runs the guest side and
/// checks what it wrote; prints one summary line whatever the outcome.
fn check_kernel(kernel: &str, method: &str) {
    common::require_privileged();
    let _one = VM.lock().unwrap_or_else(|e| e.into_inner());
    // Emulation now and then hangs a uprobed target for good: a boot whose
    // only fault was a step that timed out is made once more, saying so (a
    // miscount never is).
    if let Err(e) = std::panic::catch_unwind(|| boot_and_check(kernel, method)) {
        let said = e
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| e.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if !said.contains("(timed out)") || std::env::var_os("GOZT_KERNELS_RECHECK").is_some() {
            std::panic::resume_unwind(e);
        }
        std::io::stderr()
            .write_all(format!("kernel {kernel}: a step timed out: booting once more\n").as_bytes())
            .unwrap();
        boot_and_check(kernel, method);
    }
}

/// One boot of [`check_kernel`].
fn boot_and_check(kernel: &str, method: &str) {
    let bindir = common::toolchains().last().unwrap().clone();
    let tmp = common::TempDir::new(&format!("kernel-{kernel}"));
    // GOZT_KERNELS_RECHECK=PID checks again, without booting, what the run
    // of test process PID left (kept by GOZT_TEST_KEEP=1).
    let recheck = std::env::var("GOZT_KERNELS_RECHECK").ok();
    let out = match &recheck {
        Some(pid) => kept_dir(&format!("gozt-kernel-{kernel}-{pid}-")),
        None => tmp.0.clone(),
    };
    let sites = static_probe_sites(&bindir.join("workload-stripped"));
    let started = Instant::now();
    let status = if recheck.is_some() {
        Some(0)
    } else {
        let list: String = sites.iter().map(|a| format!("{a:#x}\n")).collect();
        std::fs::write(out.join("sites"), list).unwrap();
        Command::new("bash")
            .arg(common::script("vm-run.sh"))
            .arg(kernel)
            .arg(&out)
            .arg(common::script("vm-guest.sh"))
            .arg(&out)
            .arg(matrix_gozt())
            .arg(&bindir)
            .stdin(std::process::Stdio::null())
            .status()
            .expect("run scripts/vm-run.sh")
            .code()
    };
    let secs = started.elapsed().as_secs_f64();

    let checked = std::panic::catch_unwind(|| check_guest(kernel, method, &out, &sites, status));
    let release = std::fs::read_to_string(out.join("kernel")).unwrap_or_else(|_| kernel.into());
    let line = match &checked {
        Ok(said) => format!(
            "kernel {}: {method}: {said}; boot and run {secs:.0} s: pass",
            release.trim()
        ),
        Err(_) => format!(
            "kernel {}: boot and run {secs:.0} s: FAIL (above)",
            release.trim()
        ),
    };
    // Past libtest's capture: the matrix's summary shows in every run.
    std::io::stderr()
        .write_all(format!("{line}\n").as_bytes())
        .unwrap();
    if let Err(e) = checked {
        std::panic::resume_unwind(e);
    }
}

/// The directory a kept run of the matrix left, by its name's start.
fn kept_dir(prefix: &str) -> std::path::PathBuf {
    std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .unwrap_or_else(|| panic!("GOZT_KERNELS_RECHECK: no {prefix}* in the temp dir"))
}

/// `gozt info --json` of the guest, as root and as nobody: the method, and
/// how each feature was found.
fn check_info(kernel: &str, method: &str, out: &Path) {
    let root = common::vm_json(out, "info-root.json", &format!("{kernel}: gozt info"));
    let user = common::vm_json(
        out,
        "info-user.json",
        &format!("{kernel}: gozt info (nobody)"),
    );
    assert_eq!(root["attach_method"], method, "{kernel}: {root}");
    assert_eq!(root["root"], true, "{kernel}: {root}");
    assert_eq!(root["missing"], serde_json::json!([]), "{kernel}: {root}");
    assert_eq!(root["uprobe_multi"]["how"], "probed", "{kernel}: {root}");
    // Without privileges the features come from the kernel's BTF, and say
    // the same.
    assert_eq!(user["attach_method"], method, "{kernel}: {user}");
    assert_eq!(user["root"], false, "{kernel}: {user}");
    assert_eq!(
        user["capabilities"],
        serde_json::json!([]),
        "{kernel}: {user}"
    );
    for f in ["ring_buffer", "uprobe_multi", "attach_cookies"] {
        assert_eq!(user[f]["how"], "btf", "{kernel}: {f}: {user}");
        assert_eq!(user[f]["present"], root[f]["present"], "{kernel}: {f}");
    }
    assert_eq!(
        user["missing"][0], "root: gozt attach and trace must run as root",
        "{kernel}: {user}"
    );
}

/// Checks the guest's results in `out`; returns the summary of the runs.
fn check_guest(
    kernel: &str,
    method: &str,
    out: &Path,
    sites: &[u64],
    vm_status: Option<i32>,
) -> String {
    assert!(
        out.join("kernel").exists(),
        "{kernel}: the guest did not run (scripts/vm-run.sh exited {vm_status:?})"
    );
    check_info(kernel, method, out);
    let mut said = Vec::new();
    for build in BUILDS {
        let what = format!("kernel {kernel}, trace workload-{build}");
        let file = |name: &str, k: usize| format!("{name}-{build}-{k}");
        let k = attempts(
            out,
            build,
            &what,
            |k| {
                let report = common::vm_json(out, &(file("report", k) + ".json"), &what);
                assert_ne!(report["command_exit_status"], 0, "{what}: attempt {k}");
                signal_said(&common::vm_output(out, &file("stderr", k)))
            },
            |_| {},
        );
        let stderr = common::vm_output(out, &file("stderr", k));
        let status = common::vm_output(out, &file("status", k));
        let timed_out = if status == "124" { " (timed out)" } else { "" };
        assert_eq!(
            status, "0",
            "{what}: gozt exited {status}{timed_out}: {stderr}"
        );
        // The default method, its classic uprobes in one event per binary.
        let grouped = if method == "uprobe_multi" {
            String::new()
        } else {
            ", 1 grouped event".into()
        };
        assert!(
            stderr.contains(&format!("({method}, "))
                && stderr.contains(&format!("sites{grouped})")),
            "{what}: not {method}{grouped}: {stderr}"
        );
        let truth = common::vm_json(out, &(file("truth", k) + ".json"), &what);
        let report = common::vm_json(out, &(file("report", k) + ".json"), &what);
        assert_eq!(report["meta"]["attach_method"], method, "{what}");
        // Shown if the counts below fail: every row that differs, and what
        // gozt counted as lost.
        eprintln!("{what}: lost {}", report["lost"]);
        for d in common::truth_differences(&report, &truth) {
            eprintln!("{what}: differs: {d}");
        }
        common::assert_counts_match_truth(&report, &truth, &what);
        // Every caller named, but for one call at most, which is said: once
        // in the emulated 5.10, one call's frames (read at its entry) named
        // no caller, in 6 traces of 2073 calls each; never on real CPUs.
        let unnamed = common::unnamed_callers(&report);
        let unnamed_calls: u64 = unnamed.iter().map(|u| u.2).sum();
        assert!(unnamed_calls <= 1, "{what}: callers {unnamed:?}");
        said.push(format!(
            "{build} {} calls ({}{}{})",
            report["totals"]["calls"],
            times_said(&stderr),
            if k > 1 {
                format!(", attempt {k}")
            } else {
                String::new()
            },
            unnamed
                .iter()
                .map(|(c, f, n)| format!(", {n} call of {f} by {c}"))
                .collect::<String>()
        ));
    }

    let what = format!("kernel {kernel}, attach");
    let file = |name: &str, k: usize| format!("{name}-{k}");
    // Whatever became of the target, gozt left nothing behind.
    let clean = |k: usize| {
        let stderr = common::vm_output(out, &file("stderr-attach", k));
        for (name, want, said) in [
            ("status-attach", "0", stderr.as_str()),
            ("progs-after", "", "BPF programs left"),
            ("events-after", "", "uprobe events left"),
            ("int3-after", "0", "INT3s left in the target"),
        ] {
            assert_eq!(
                common::vm_output(out, &file(name, k)),
                want,
                "{what}: attempt {k}: {name}: {said}"
            );
        }
    };
    let k = attempts(
        out,
        "attach",
        &what,
        |k| {
            assert_ne!(common::vm_output(out, &file("status-workload", k)), "0");
            signal_said(&common::vm_output(out, &file("lifecycle-workload", k)))
        },
        clean,
    );
    let stderr = common::vm_output(out, &file("stderr-attach", k));
    assert!(
        !common::vm_output(out, &file("progs-attached", k)).is_empty(),
        "{what}: no gozt program loaded while attached: {}",
        common::vm_output(out, "bpftool")
    );
    // While attached the probes are visible, so the checks after exit can fail.
    assert_eq!(
        common::vm_output(out, &file("int3-attached", k)),
        sites.len().to_string(),
        "{what}: INT3s at the {} sites while attached",
        sites.len()
    );
    clean(k);
    // The target, released, did its work unharmed.
    assert_eq!(
        common::vm_output(out, &file("status-workload", k)),
        "0",
        "{what}: the target failed"
    );
    let truth = common::vm_json(out, &(file("lifecycle-truth", k) + ".json"), &what);
    assert!(truth["pid"].as_u64().is_some(), "{what}: {truth}");
    let report = common::vm_json(out, &(file("lifecycle-report", k) + ".json"), &what);
    common::assert_schema_valid(&report, &what);
    assert_eq!(report["lost"]["unmatched_returns"], 0, "{what}");
    assert_eq!(
        common::vm_output(out, "guest-status"),
        "0",
        "{kernel}: the guest script failed (scripts/vm-run.sh exited {vm_status:?})"
    );
    said.push(format!(
        "attach clean ({}{})",
        times_said(&stderr),
        if k > 1 {
            format!(", attempt {k}")
        } else {
            String::new()
        }
    ));
    said.join(", ")
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn debian_11_kernel_5_10_finds_sites_by_address() {
    check_kernel("5.10", "uprobe_address");
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn debian_12_kernel_6_1_uses_attach_cookies() {
    check_kernel("6.1", "uprobe_cookie");
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn kernel_6_12_uses_uprobe_multi() {
    check_kernel("6.12", "uprobe_multi");
}

#[test]
fn a_go_fatal_signal_report_gives_the_signal_and_address() {
    let segv = "gozt: timing: x\nunexpected fault address 0xffffffffff600000\nfatal error: \
                fault\n[signal SIGSEGV: segmentation violation code=0x1 addr=0xffffffffff600000 \
                pc=0x4a1234]\n\ngoroutine 7 [running]:\n";
    assert_eq!(
        signal_said(segv).unwrap(),
        "[signal SIGSEGV: segmentation violation code=0x1 addr=0xffffffffff600000 pc=0x4a1234]"
    );
    let ill = "SIGILL: illegal instruction\nPC=0x4a1236 m=3 sigcode=2\n";
    assert_eq!(
        signal_said(ill).unwrap(),
        "SIGILL: illegal instruction PC=0x4a1236 m=3 sigcode=2"
    );
    let lost = "runtime: g 1: unexpected return pc for runtime.sigpanic called from \
                0xfffffffff7b806\nstack: frame={sp:0xc000056f40, fp:0xc000056f50}\nfatal \
                error: unknown caller pc\n";
    assert_eq!(
        signal_said(lost).unwrap(),
        "unexpected return pc for runtime.sigpanic called from 0xfffffffff7b806"
    );
    assert_eq!(signal_said("gozt: warning: SIGN: x\npanic: boom\n"), None);
    assert_eq!(
        times_said(
            "gozt: timing: discovery 512.0 ms, attach 31.5 ms (uprobe_cookie, 302 sites, 1 \
             grouped event)\ngozt: timing: detach 120.2 ms\n"
        ),
        "attach 31.5 ms, detach 120.2 ms"
    );
}
