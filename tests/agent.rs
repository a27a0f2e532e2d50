//! gozt as a node agent that starts before its service: with `--name` (or
//! `--binary` at a path only the service's containers have) and nothing
//! running yet, gozt says it waits, serves Prometheus at once with
//! `gozt_targets 0`, and attaches when the service starts: its calls are
//! counted exactly against the workload's ground truth. A wait that
//! `--duration` or a signal ends yields a report that says nothing was
//! traced. Started before a rollout, it follows the service to its new
//! files (a rebuilt program, a copy) and counts each generation exactly;
//! files no process runs are detached. Needs root; with CI=true its absence
//! fails.

mod common;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// One gozt at a time: each test counts the programs and links gozt holds.
static BPF: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The body of `http://addr/metrics`.
fn metrics(addr: &str) -> String {
    common::http_get(addr, "/metrics").expect("the exporter answers")
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
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
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
    let svc = common::waiting_workload(&service, &["-goroutines", "3", "-rounds", "1"]);
    common::wait_for_attach();
    let deadline = Instant::now() + Duration::from_secs(10);
    while value(&metrics(&addr), "gozt_targets") != Some(1.0) {
        assert!(Instant::now() < deadline, "the target never got its series");
        std::thread::sleep(Duration::from_millis(100));
    }
    let truth = release(svc);
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
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
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

/// Runs one generation of the service from `exe`: started held, released
/// once `ready` says gozt traces it, run to its end; its truth.
fn generation(exe: &std::path::Path, ready: impl FnOnce(u32)) -> Value {
    let svc = common::waiting_workload(exe, &["-goroutines", "2", "-rounds", "1"]);
    ready(svc.id());
    release(svc)
}

/// Lets a held workload run to its end; its truth.
fn release(mut svc: std::process::Child) -> Value {
    common::signal(svc.id(), libc::SIGUSR1);
    let mut truth = String::new();
    svc.stdout
        .take()
        .unwrap()
        .read_to_string(&mut truth)
        .unwrap();
    assert!(svc.wait().unwrap().success());
    serde_json::from_str(&truth).unwrap()
}

/// Replaces `path` by a copy of `from` (a new inode: a rollout's new file,
/// as a container runtime or a package upgrade leaves it).
fn roll_out(from: &std::path::Path, path: &std::path::Path) {
    let next = path.with_extension("next");
    std::fs::copy(from, &next).unwrap();
    std::fs::rename(&next, path).unwrap();
}

/// The links gozt holds now.
fn gozt_links() -> usize {
    common::gozt_processes()
        .into_iter()
        .map(|p| common::bpf_held_by(p).1.len())
        .sum()
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn an_agent_follows_its_service_through_rollouts_and_restarts_with_exact_counts() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = common::TempDir::new("agent-follow");
    let service = tmp.join("svc");
    let chains = common::toolchains();
    // Generation 1's build, then a rebuilt one (another Go), then a copy of
    // that (same program, new file), then a restart of the copy.
    let first = chains[chains.len() - 2].join("workload-stripped");
    let rebuilt = common::newest("workload-stripped");
    std::fs::copy(&first, &service).unwrap();
    let out = tmp.join("report.json");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let mut gozt = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--binary"])
            .arg(&service)
            .args(["--json", "-o"])
            .arg(&out)
            .args(["--prometheus", &addr])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // What gozt says, line by line.
    let (tx, said) = std::sync::mpsc::channel::<String>();
    let mut err = gozt.0.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = String::new();
        loop {
            let line = common::first_line(&mut err);
            if line.is_empty() {
                break all;
            }
            all.push_str(&line);
            let _ = tx.send(line);
        }
    });
    let wait_said = |what: &str| {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match said.recv_timeout(left) {
                Ok(line) if line.contains(what) => return line,
                Ok(_) => {}
                Err(e) => panic!("gozt never said {what:?}: {e}"),
            }
        }
    };
    common::wait_for_attach();
    let mut truths = Vec::new();
    // 1: the file gozt attached to at its start.
    truths.push(generation(&service, |_| {}));
    // 2: a rollout to a rebuilt program: read and attached while running.
    roll_out(&rebuilt, &service);
    truths.push(generation(&service, |pid| {
        let line = wait_said("too (");
        assert!(line.contains(&format!("pid {pid}")), "{line}");
        assert!(!line.contains("a copy"), "{line}");
    }));
    // 3: the same program in a new file (another container's copy).
    roll_out(&rebuilt, &service);
    truths.push(generation(&service, |pid| {
        let line = wait_said("a copy");
        assert!(line.contains(&format!("pid {pid}")), "{line}");
    }));
    // 4: a restart of it: traced from its first instruction.
    truths.push(generation(&service, |_| {}));
    // The files no process runs any more are detached; the one at the
    // path stays (with the write tracepoints').
    let deadline = Instant::now() + Duration::from_secs(30);
    while gozt_links() != 1 + common::WRITE_LINKS {
        assert!(
            Instant::now() < deadline,
            "gozt still holds {} links",
            gozt_links()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let text = metrics(&addr);
    assert_eq!(value(&text, "gozt_targets"), Some(0.0), "{text}");
    // A service started on the last file after the detaches is traced
    // again (the path's file was kept).
    truths.push(generation(&service, |_| {}));
    let (status, _) = common::interrupt(&mut gozt.0);
    let err = reader.join().unwrap();
    assert!(status.success(), "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "agent-follow");
    for truth in &truths {
        common::assert_process_truth(&report, truth, None);
    }
    // Each generation is named by what it ran, gone or not.
    let go = |dir: &std::path::Path| dir.file_name().unwrap().to_str().unwrap().to_string();
    let (old, new) = (go(&chains[chains.len() - 2]), go(chains.last().unwrap()));
    let versions: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["go_version"].as_str().unwrap())
        .collect();
    assert_eq!(versions, [&old, &new, &new, &new, &new]);
    // And by build ID: the rebuilt program's differs, its copy's does not.
    let ids: Vec<&str> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["build_id"].as_str().unwrap())
        .collect();
    assert_ne!(ids[0], ids[1]);
    assert!(ids[1..].iter().all(|id| *id == ids[1]), "{ids:?}");
    assert_eq!(report["lost"]["unmatched_returns"], 0);
    assert!(
        !report["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w.as_str().unwrap().contains("not traced")),
        "{}",
        report["warnings"]
    );
    assert_eq!(common::gozt_bpf_programs_after_exit(), Vec::<u32>::new());
}
