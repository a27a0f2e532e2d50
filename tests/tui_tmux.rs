//! The live view as a person sees it: the real gozt binary runs `attach` in
//! a tmux pane against the workload, and the test reads the screen with
//! capture-pane and types with send-keys. The view must show the target, the
//! exact call counts of the work the program then does at 80x24, keep them
//! when the terminal grows to 120x40 (with every column), switch panes, and
//! on `q` give the terminal back and print the final report. Needs root, BPF
//! and tmux; with CI=true their absence fails the run. `gozt report --live`
//! browses a saved report the same way, without root.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

fn tmux(args: &[&str]) -> String {
    let out = Command::new("tmux").args(args).output().expect("run tmux");
    assert!(
        out.status.success(),
        "tmux {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Polls the pane until `pred` holds on its text; returns the text.
fn screen_until(session: &str, what: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let s = tmux(&["capture-pane", "-p", "-t", session]);
        if pred(&s) {
            return s;
        }
        assert!(
            Instant::now() < deadline,
            "waiting for {what}; screen:\n{s}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Whether tmux is here; with CI=true its absence fails the run.
fn has_tmux() -> bool {
    common::present_or_skip(Command::new("tmux").arg("-V").output().is_ok(), "tmux", "")
}

struct Session(String);

impl Session {
    /// A detached tmux session `name` of `size` running `gozt ARGS`, then
    /// saying gozt's exit code (`gozt-exit=N`) and staying.
    fn start(name: &str, size: (u16, u16), args: &str) -> Session {
        let shell = format!(
            "{} {args}; echo gozt-exit=$?; sleep 600",
            env!("CARGO_BIN_EXE_gozt")
        );
        let (x, y) = (size.0.to_string(), size.1.to_string());
        tmux(&["new-session", "-d", "-s", name, "-x", &x, "-y", &y, &shell]);
        Session(name.to_string())
    }
}

/// The workload, killed if the test fails before it ends (it would
/// otherwise linger, holding what the test inherited, such as a lock).
struct Workload(std::process::Child);

impl Drop for Workload {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = Command::new("tmux")
            .args(["kill-session", "-t", &self.0])
            .output();
    }
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn live_view_in_tmux_shows_exact_counts_and_quits_with_q() {
    common::require_privileged();
    if !has_tmux() {
        return;
    }
    let bin = common::newest("workload-stripped");
    let mut target = Workload(
        Command::new(&bin)
            .args(["-wait", "-linger"])
            .args(common::one_shot_args(3, 2))
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let pid = target.0.id();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(target.0.stderr.as_mut().unwrap()),
        &mut line,
    )
    .unwrap();
    assert!(line.contains("waiting"), "{line}");

    let name = format!("gozt-tui-{}", std::process::id());
    // A verdict from the first payloads on (the default needs 1000).
    let session = Session::start(
        &name,
        (80, 24),
        &format!("attach -p {pid} --min-eligible 1"),
    );
    common::wait_for_attach();
    let s = screen_until(&name, "the live header", |s| {
        s.contains(&format!("gozt pid {pid} workload-stripped"))
    });
    assert!(s.contains("q quit"), "{s}");
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "1",
        "the view runs on the alternate screen"
    );

    // The work starts; its ground truth comes on the workload's stdout.
    common::signal(pid, libc::SIGUSR1);
    let truth: Value = serde_json::Deserializer::from_reader(target.0.stdout.take().unwrap())
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    let mut per_function = std::collections::BTreeMap::<String, u64>::new();
    for g in truth["goroutines"].as_array().unwrap() {
        for (f, c) in g["functions"].as_object().unwrap() {
            *per_function.entry(f.clone()).or_default() += c["calls"].as_u64().unwrap();
        }
    }
    let total: u64 = per_function.values().sum();
    // Each function's row shows its exact count, at 80x24 and once the
    // terminal has grown to 120x40.
    let check = |s: &str, width: usize| {
        for (f, calls) in &per_function {
            let short = gozt::go_binary::names::short_name(f);
            // A row of the functions table (the header's finding line may
            // name the function too).
            let row = s
                .lines()
                .find(|l| l.starts_with('│') && l.contains(short))
                .unwrap_or_else(|| panic!("{short} missing:\n{s}"));
            assert!(
                row.split_whitespace().any(|w| w == calls.to_string()),
                "{short}: {calls} calls expected in {row:?}"
            );
        }
        assert!(s.contains("goroutines (3) by time"), "{s}");
        assert!(s.contains("ALERT"), "{s}");
        assert!(s.contains("CALLS▼"), "{s}");
        assert!(s.contains("? help"), "{s}");
        assert!(
            s.lines().all(|l| l.chars().count() <= width),
            "wider than {width}:\n{s}"
        );
    };
    let s = screen_until(&name, "the exact total", |s| {
        s.contains(&format!(" {total} calls "))
    });
    check(&s, 80);
    assert!(
        !s.contains("RATIO"),
        "80 columns have no room for RATIO:\n{s}"
    );
    tmux(&["resize-window", "-t", &name, "-x", "120", "-y", "40"]);
    let s = screen_until(&name, "the view at 120x40", |s| {
        s.contains("RATIO") && s.lines().count() >= 40
    });
    check(&s, 120);
    let header = s.lines().find(|l| l.contains("CALLS▼")).unwrap();
    for title in [
        "CODEC", "OP", "CALLS/S", "P50", "P99", "MAX", "IN", "OUT", "RATIO", "FAIL%",
    ] {
        assert!(header.contains(title), "{title} at 120 columns: {header}");
    }

    // Tab: the goroutines pane, with one goroutine's functions on the right.
    tmux(&["send-keys", "-t", &name, "Tab"]);
    screen_until(&name, "a goroutine's breakdown", |s| {
        s.contains("goroutine ") && s.contains(&format!("(pid {pid})"))
    });

    // q: the terminal comes back and the final report is printed.
    tmux(&["send-keys", "-t", &name, "q"]);
    screen_until(&name, "gozt to exit", |s| s.contains("gozt-exit="));
    // The whole report, scrolled-off lines included.
    let s = tmux(&["capture-pane", "-p", "-S", "-", "-t", &name]);
    assert!(s.contains("gozt-exit=0"), "{s}");
    assert!(s.contains(&format!("target pid {pid} ")), "{s}");
    assert!(s.contains("lost: 0 ring buffer full"), "{s}");
    assert!(
        !s.contains("gozt: attached"),
        "no banner with the live view: {s}"
    );
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the terminal is restored"
    );
    drop(session);
    common::signal(pid, libc::SIGTERM);
    assert!(target.0.wait().unwrap().success());
    assert_eq!(common::gozt_bpf_programs_after_exit(), Vec::<u32>::new());
}

/// `gozt report --live` on a saved report (no root, no tracing): the view
/// shows the report's exact counts and its average calls per second, the
/// keys work, and `q` gives the terminal back with exit 0.
#[test]
fn a_saved_report_is_browsed_in_the_live_view_and_q_quits() {
    if !has_tmux() {
        return;
    }
    let saved = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/replayed.json");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&saved).unwrap()).unwrap();
    let name = format!("gozt-saved-{}", std::process::id());
    let _session = Session::start(
        &name,
        (100, 30),
        &format!("report --live {}", saved.display()),
    );
    let s = screen_until(&name, "the saved report", |s| {
        s.contains("gozt pid 4242 [ns pid 1, container 4c01db0b339c] app")
    });
    let calls = report["totals"]["calls"].as_u64().unwrap();
    let secs = report["duration_s"].as_f64().unwrap();
    assert!(s.contains(&format!(" {calls} calls ")), "{s}");
    assert!(
        s.contains(&format!("{:.0} calls/s", calls as f64 / secs)),
        "{s}"
    );
    for f in report["functions"].as_array().unwrap() {
        let short = gozt::go_binary::names::short_name(f["function"].as_str().unwrap());
        let row = s
            .lines()
            .find(|l| l.contains(short))
            .unwrap_or_else(|| panic!("{short} missing:\n{s}"));
        let want = f["calls"].to_string();
        assert!(
            row.split_whitespace().any(|w| w == want),
            "{short}: {} calls expected in {row:?}",
            f["calls"]
        );
    }
    assert!(s.contains("CALLS▼"), "{s}");
    // s: the sort moves to the next column; Tab: the goroutines pane.
    tmux(&["send-keys", "-t", &name, "s"]);
    screen_until(&name, "the sort on CALLS/S", |s| s.contains("CALLS/S▼"));
    tmux(&["send-keys", "-t", &name, "Tab"]);
    screen_until(&name, "a goroutine's breakdown", |s| {
        s.contains("goroutine ") && s.contains("(pid 4242)")
    });
    // r shows the report again; q quits.
    tmux(&["send-keys", "-t", &name, "r"]);
    screen_until(&name, "the report again", |s| {
        s.contains(&format!(" {calls} calls "))
    });
    tmux(&["send-keys", "-t", &name, "q"]);
    let s = screen_until(&name, "gozt to exit", |s| s.contains("gozt-exit="));
    assert!(s.contains("gozt-exit=0"), "{s}");
    assert_eq!(
        tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]).trim(),
        "0",
        "the terminal is restored"
    );
}
