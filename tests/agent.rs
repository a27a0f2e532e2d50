//! gozt as a node agent that starts before its service: with `--name` (or
//! `--binary` at a path only the service's containers have) and nothing
//! running yet, gozt says it waits, serves Prometheus at once with
//! `gozt_targets 0`, and attaches when the service starts: its calls are
//! counted exactly against the workload's ground truth. A wait that
//! `--duration` or a signal ends yields a report that says nothing was
//! traced. Needs root; with CI=true its absence fails.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The body of `http://addr/metrics`.
fn metrics(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("the exporter listens");
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(s, "GET /metrics HTTP/1.0\r\nHost: {addr}\r\n\r\n").unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.split_once("\r\n\r\n").unwrap().1.to_string()
}

/// The value of the unlabelled metric `name` in `text`.
fn value(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find_map(|l| l.strip_prefix(&format!("{name} ")))
        .and_then(|v| v.trim().parse().ok())
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn an_agent_started_before_its_service_waits_serves_and_then_traces_exactly() {
    common::require_privileged();
    let tmp = common::TempDir::new("agent");
    // The service, under a name of its own (comm: 15 characters at most).
    let service = tmp.join("late-svc");
    std::fs::copy(common::newest("workload-stripped"), &service).unwrap();
    let out = tmp.join("report.json");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut gozt = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--name", "late-svc", "--json", "-o"])
            .arg(&out)
            .args(["--prometheus", &addr])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // Waiting: it says so, and serves already.
    let first = common::first_line(gozt.0.stderr.as_mut().unwrap());
    assert!(first.contains("serving metrics"), "{first}");
    let second = common::first_line(gozt.0.stderr.as_mut().unwrap());
    assert!(
        second.contains("waiting for a process named late-svc"),
        "{second}"
    );
    let text = metrics(&addr);
    assert_eq!(value(&text, "gozt_targets"), Some(0.0), "{text}");
    assert!(text.contains("gozt_build_info{"), "{text}");
    assert!(common::gozt_bpf_programs().is_empty(), "nothing loaded yet");
    std::thread::sleep(Duration::from_millis(1200));

    // The service starts, held until gozt is in place; then it works.
    let mut svc = common::waiting_workload(&service, &["-goroutines", "3", "-rounds", "1"]);
    common::wait_for_attach();
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&metrics(&addr), "gozt_targets") != Some(1.0) {
        assert!(Instant::now() < deadline, "the target never got its series");
        std::thread::sleep(Duration::from_millis(100));
    }
    common::signal(svc.id(), libc::SIGUSR1);
    let mut truth = String::new();
    svc.stdout
        .take()
        .unwrap()
        .read_to_string(&mut truth)
        .unwrap();
    assert!(svc.wait().unwrap().success());
    let truth: Value = serde_json::from_str(&truth).unwrap();
    let (status, err) = common::interrupt(&mut gozt.0);
    assert!(status.success(), "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "agent");
    common::assert_process_truth(&report, &truth, None);
    assert_eq!(report["lost"]["unmatched_returns"], 0);
    assert_eq!(common::gozt_bpf_programs_after_exit(), Vec::<u32>::new());
}

#[test]
#[ignore = "needs root: cargo test -- --include-ignored"]
fn a_wait_that_duration_ends_reports_that_nothing_was_traced() {
    common::require_privileged();
    let tmp = common::TempDir::new("agent-none");
    let out = tmp.join("report.json");
    let started = Instant::now();
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args([
            "attach",
            "--binary",
            "/nonexistent/gozt-test/never-runs",
            "--duration",
            "1500ms",
            "--json",
            "-o",
        ])
        .arg(&out)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{err}");
    assert!(started.elapsed() >= Duration::from_millis(1500));
    assert!(
        err.contains("waiting for a process running /nonexistent/gozt-test/never-runs"),
        "{err}"
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "untraced");
    assert_eq!(report["ended_by"], "duration");
    assert_eq!(report["totals"]["calls"], 0);
    assert_eq!(report["meta"]["attach_method"], "");
    let warnings = report["warnings"].as_array().unwrap();
    assert!(
        warnings
            .iter()
            .any(|w| w.as_str().unwrap().contains("nothing was traced")),
        "{warnings:?}"
    );
    // The text report says it too, and Ctrl-C ends a wait as it ends a run.
    let mut waiting = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["attach", "--name", "never-runs-either"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let line = common::first_line(waiting.stderr.as_mut().unwrap());
    assert!(line.contains("waiting for a process named"), "{line}");
    common::signal(waiting.id(), libc::SIGINT);
    let done = waiting.wait_with_output().unwrap();
    assert!(done.status.success());
    let text = String::from_utf8_lossy(&done.stdout);
    assert!(text.contains("nothing was traced"), "{text}");
}
