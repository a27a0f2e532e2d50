//! gozt on arm64, end to end: an aarch64 gozt (cross-built by scripts/arm64.sh, statically
//! linked) traces the arm64 ground-truth workload, stripped and default builds of the
//! newest Go, in Debian's arm64 6.1 kernel booted in qemu-system-aarch64 (emulated; see
//! scripts/arm64-vm.sh and scripts/arm64-guest.sh). Each report must equal the workload's
//! own truth exactly; 6.1 has no uprobe.multi, so the trace runs by default on classic
//! uprobes with attach cookies (uprobe_cookie, grouped in one tracefs event per binary),
//! which `gozt info` in the guest must name. `gozt probes --json` in the guest must say what
//! it says here of the same files.
//!
//! With GOZT_VM_LOCK set, the VM boots under that file's lock (scripts/arm64-vm.sh).
//! The aarch64 gozt is `$GOZT_ARM64_GOZT` when set (scripts/test.sh builds it), else built
//! here by `scripts/arm64.sh build` next to this test's own target directory.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::Value;

/// The aarch64 gozt, built if need be.
fn arm64_gozt() -> PathBuf {
    if let Some(p) = std::env::var_os("GOZT_ARM64_GOZT") {
        return PathBuf::from(p);
    }
    // target/<profile>/gozt -> target/cross
    let host_bin = Path::new(env!("CARGO_BIN_EXE_gozt"));
    let target_dir = host_bin.parent().unwrap().parent().unwrap().join("cross");
    let status = Command::new("bash")
        .arg(common::script("arm64.sh"))
        .arg("build")
        .arg("--target-dir")
        .arg(&target_dir)
        .status()
        .expect("run scripts/arm64.sh build");
    assert!(
        status.success(),
        "scripts/arm64.sh build failed (run scripts/arm64.sh setup first)"
    );
    target_dir.join("aarch64-unknown-linux-gnu/release/gozt")
}

/// `gozt probes --json` without the binary's path.
fn without_path(mut v: Value) -> Value {
    v.as_object_mut().unwrap().remove("binary");
    v
}

#[test]
#[ignore = "boots an emulated arm64 VM (minutes): cargo test -- --include-ignored"]
fn arm64_ground_truth_and_probes_in_an_arm64_guest() {
    let gozt = arm64_gozt();
    let bindir = common::toolchains().last().unwrap().join("arm64");
    // QEMU's emulation of arm64 misses or repeats a uprobe hit in about one
    // trace in 40 (measured: README, arm64): a failed boot is tried once
    // more, and a second failure fails the test.
    let first = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        guest_run(&gozt, &bindir, 1)
    }));
    let said = match first {
        Ok(said) => said,
        Err(_) => {
            eprintln!("arm64 guest: the first boot's checks failed (above); booting once more");
            guest_run(&gozt, &bindir, 2)
        }
    };
    eprintln!("{said}");
}

/// Boots the guest once, runs the traces and checks them; what it found.
fn guest_run(gozt: &Path, bindir: &Path, attempt: u32) -> String {
    let out = common::TempDir::new(&format!("arm64-vm-{attempt}"));
    let started = Instant::now();
    let status = Command::new("bash")
        .arg(common::script("arm64-vm.sh"))
        .arg(&out)
        .arg(gozt)
        .arg(bindir)
        .stdin(std::process::Stdio::null())
        .status()
        .expect("run scripts/arm64-vm.sh");
    let secs = started.elapsed().as_secs_f64();
    assert!(
        status.success(),
        "scripts/arm64-vm.sh exited {status}; console:\n{}",
        std::fs::read_to_string(out.join("console")).unwrap_or_default()
    );
    let kernel = common::vm_output(&out, "kernel");
    assert!(kernel.starts_with("6.1."), "{kernel}");
    let mut said = Vec::new();
    for build in ["stripped", "default"] {
        let stderr = common::vm_output(&out, &format!("stderr-{build}"));
        // gozt's GOZT_TIMING lines go with any failure: they count its traps.
        let what = format!(
            "arm64 {kernel}, trace workload-{build} (gozt said: {})",
            stderr.replace('\n', " | ")
        );
        let status = common::vm_output(&out, &format!("status-{build}"));
        assert_eq!(status, "0", "{what}: gozt exited {status}: {stderr}");
        let truth = common::vm_json(&out, &format!("truth-{build}.json"), &what);
        let report = common::vm_json(&out, &format!("report-{build}.json"), &what);
        common::assert_matches_truth(&report, &truth, &what);
        assert_eq!(report["lost"]["unmatched_returns"], 0, "{what}");
        assert_eq!(report["meta"]["attach_method"], "uprobe_cookie", "{what}");
        assert!(stderr.contains("sites, 1 grouped event)"), "{what}");
        said.push(format!("{build} {} calls", report["totals"]["calls"]));

        let here = common::gozt(&[
            "probes",
            "--json",
            bindir.join(format!("workload-{build}")).to_str().unwrap(),
        ]);
        assert_eq!(here.0, 0, "{}", here.2);
        let here: Value = serde_json::from_str(&here.1).unwrap();
        let there = common::vm_json(&out, &format!("probes-{build}.json"), &what);
        assert_eq!(here["arch"], "arm64");
        assert_eq!(
            without_path(there),
            without_path(here),
            "{what}: gozt probes differs in the guest"
        );
    }
    let info = common::vm_json(&out, "info.json", &format!("arm64 {kernel}: gozt info"));
    assert_eq!(info["attach_method"], "uprobe_cookie", "{info}");
    assert_eq!(info["uprobe_multi"]["present"], false, "{info}");
    assert_eq!(info["missing"], serde_json::json!([]), "{info}");
    format!(
        "arm64 kernel {kernel}: {}; uprobe_cookie by default; boot and run {secs:.0} s \
         (boot {attempt}): pass",
        said.join(", ")
    )
}
