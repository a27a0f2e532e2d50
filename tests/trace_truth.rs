//! The tracing engine against ground truth: the workload program calls
//! one-shot compression APIs a known number of times from known goroutines and
//! prints what it did; gozt's JSON report must equal it exactly, in trace and
//! in attach mode, across the toolchain x build-mode matrix. Needs root and
//! BPF; with CI=true their absence fails the run instead of skipping it.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use serde_json::Value;

fn privileged() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let btf = std::path::Path::new("/sys/kernel/btf/vmlinux").exists();
    if root && btf {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but BPF tests cannot run here (root: {root}, BTF: {btf})"
    );
    eprintln!("skipping BPF tests: not root or no BTF");
    false
}

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// Asserts that `report` holds exactly the workload's `truth`.
fn assert_matches_truth(report: &Value, truth: &Value, what: &str) {
    let pid = truth["pid"].as_u64().unwrap();
    let truth_gs = truth["goroutines"].as_array().unwrap();
    let report_gs: Vec<&Value> = report["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pid"] == pid)
        .collect();
    assert_eq!(report_gs.len(), truth_gs.len(), "{what}: goroutines");
    let mut total_calls = 0;
    for tg in truth_gs {
        let rg = report_gs
            .iter()
            .find(|g| g["goid"] == tg["goid"])
            .unwrap_or_else(|| panic!("{what}: goroutine {} missing", tg["goid"]));
        let tfs = tg["functions"].as_object().unwrap();
        let rfs = rg["functions"].as_array().unwrap();
        assert_eq!(
            rfs.len(),
            tfs.len(),
            "{what}: goroutine {} functions",
            tg["goid"]
        );
        for (name, counts) in tfs {
            let rf = rfs
                .iter()
                .find(|f| f["function"] == name.as_str())
                .unwrap_or_else(|| panic!("{what}: {name} missing in goroutine {}", tg["goid"]));
            for key in ["calls", "errors", "incompressible", "bytes_in", "bytes_out"] {
                assert_eq!(
                    rf[key], counts[key],
                    "{what}: goroutine {} {name} {key}",
                    tg["goid"]
                );
            }
            total_calls += counts["calls"].as_u64().unwrap();
        }
    }
    assert_eq!(
        report["totals"]["calls"].as_u64().unwrap(),
        total_calls,
        "{what}: total calls"
    );
    let lost = &report["lost"];
    for key in [
        "ringbuf_full",
        "inflight_full",
        "aged_out",
        "unmatched_returns",
    ] {
        assert_eq!(lost[key], 0, "{what}: lost {key}");
    }
    // Callers are named from the binary (pclntab when stripped).
    for c in report["callers"].as_array().unwrap() {
        let caller = c["caller"].as_str().unwrap();
        assert!(
            caller == "main.zstdRound" || caller == "main.blockRound",
            "{what}: caller {caller}"
        );
    }
}

fn gozt_bpf_programs() -> usize {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("gozt_entry") || l.contains("gozt_ret"))
        .count()
}

fn trace_mode(bin: &std::path::Path, out: &std::path::Path) -> Value {
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--json", "-o", out.to_str().unwrap(), "--"])
        .arg(bin)
        .args(["-streams=false", "-goroutines", "4", "-rounds", "3"])
        .stderr(Stdio::inherit())
        .output()
        .unwrap();
    assert!(run.status.success(), "{}: gozt trace failed", bin.display());
    serde_json::from_slice(&run.stdout).expect("the workload's truth on stdout")
}

fn attach_mode(bin: &std::path::Path, out: &std::path::Path) -> Value {
    let mut target = Command::new(bin)
        .args([
            "-wait",
            "-streams=false",
            "-goroutines",
            "3",
            "-rounds",
            "2",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = target.id();
    // Wait until the workload has installed its SIGUSR1 handler.
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(target.stderr.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("waiting"), "{line}");
    let mut gozt = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args([
            "attach",
            "--json",
            "-o",
            out.to_str().unwrap(),
            "--pid",
            &pid.to_string(),
        ])
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Give gozt time to attach before the work starts.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while gozt_bpf_programs() < 2 {
        assert!(std::time::Instant::now() < deadline, "gozt did not attach");
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(300));
    // SAFETY: kill sends a signal to our own child.
    unsafe { libc::kill(pid as i32, libc::SIGUSR1) };
    let truth = target.wait_with_output().unwrap();
    assert!(truth.status.success());
    let status = gozt.wait().unwrap();
    assert!(status.success(), "gozt attach failed");
    serde_json::from_slice(&truth.stdout).unwrap()
}

#[test]
fn trace_and_attach_match_ground_truth_across_the_matrix() {
    if !privileged() {
        return;
    }
    let dir = std::env::temp_dir().join(format!("gozt-trace-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join("report.json");
    let mut runs = 0;
    for tc in common::toolchains() {
        for mode in ["default", "stripped", "pie-stripped", "cgo-stripped"] {
            let bin = tc.join(format!("workload-{mode}"));
            let truth = trace_mode(&bin, &out);
            assert_matches_truth(
                &read_json(&out),
                &truth,
                &format!("trace {}", bin.display()),
            );
            runs += 1;
        }
        let bin = tc.join("workload-stripped");
        let truth = attach_mode(&bin, &out);
        assert_matches_truth(
            &read_json(&out),
            &truth,
            &format!("attach {}", bin.display()),
        );
        runs += 1;
    }
    assert_eq!(runs, 30);
    assert_eq!(gozt_bpf_programs(), 0, "gozt left BPF programs behind");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn not_root_and_no_btf_are_clear_errors() {
    if !privileged() {
        return;
    }
    let bin = common::toolchains()[0].join("workload-stripped");
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .env("GOZT_SIMULATE_NO_BTF", "1")
        .args(["trace", "--"])
        .arg(&bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(11), "{stderr}");
    assert!(stderr.contains("kernel has no BTF"), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    let me = env!("CARGO_BIN_EXE_gozt");
    let run = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
        .arg(me)
        .args(["trace", "--"])
        .arg(&bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    if run.status.code() == Some(126)
        || stderr.contains("Permission denied") && stderr.contains("setpriv")
    {
        // The test binary's directory is not reachable as nobody: copy it.
        panic!("cannot run gozt as nobody: {stderr}");
    }
    assert_eq!(run.status.code(), Some(10), "{stderr}");
    assert!(stderr.contains("must run as root"), "{stderr}");
}
