//! What a node agent sees: gozt on the host tracing Go programs in
//! containers built from pid and mount namespaces (`unshare`) and a chroot
//! into a tmpfs or an overlayfs root, deleted and renamed binaries, gozt in
//! a mount namespace of its own (as a DaemonSet runs it), short-lived
//! processes, a pid reused by another process, a container id from a
//! cgroup, and `gozt trace`'s exit status. Every target is a stripped PIE
//! built by the newest Go; every count is checked against the workload's
//! own truth and every caller must be named.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;

use serde_json::Value;

/// One BPF test at a time in this binary (each loads and attaches).
static BPF: Mutex<()> = Mutex::new(());

/// Where the workload runs inside its container.
const IN_CONTAINER: &str = "/usr/local/bin/app";

/// A runtime-looking container id.
const ID: &str = "4c01db0b339c7a2c9c6d5b1d8a6c4b5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c";

fn bin() -> PathBuf {
    common::newest("workload-pie-stripped")
}

/// A BPF test's start: privileges checked, the lock held, a fresh
/// directory of its own.
fn bpf_test(name: &str) -> (std::sync::MutexGuard<'static, ()>, common::TempDir) {
    common::require_privileged();
    let one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::TempDir::new(&format!("ctr-{name}"));
    (one, dir)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Root {
    Tmpfs,
    Overlay,
}

/// A workload started with -wait in a container: pid and mount namespaces
/// of its own, chrooted into a tmpfs or overlayfs root (mounted in its
/// namespace only) holding the program at IN_CONTAINER, the dynamic loader
/// and libc.
struct Container {
    /// Taken once the container has run; a container left (a failed
    /// assertion) is killed, with its workload (`--kill-child`).
    unshare: Option<Child>,
    /// The workload's pid on the host (it is 1 in its namespace).
    pid: u32,
}

const CONTAINER_SCRIPT: &str = r#"
set -e
dir=$1; kind=$2; bin=$3; shift 3
root=$dir/root
mkdir -p "$root"
case $kind in
tmpfs) mount -t tmpfs none "$root"; img=$root ;;
overlay)
    img=$dir/lower
    mkdir -p "$img" "$dir/upper" "$dir/work"
    ;;
esac
mkdir -p "$img/usr/local/bin" "$img/lib64" "$img/lib/x86_64-linux-gnu" "$img/tmp"
cp "$bin" "$img/usr/local/bin/app"
cp /lib64/ld-linux-x86-64.so.2 "$img/lib64/"
cp /lib/x86_64-linux-gnu/libc.so.6 "$img/lib/x86_64-linux-gnu/"
if [ "$kind" = overlay ]; then
    mount -t overlay overlay -o "lowerdir=$img,upperdir=$dir/upper,workdir=$dir/work" "$root"
fi
exec chroot "$root" /usr/local/bin/app -wait "$@"
"#;

impl Container {
    fn start(dir: &Path, root: Root, args: &[&str]) -> Container {
        let kind = match root {
            Root::Tmpfs => "tmpfs",
            Root::Overlay => "overlay",
        };
        let mut unshare = Command::new("unshare")
            .args([
                "--pid",
                "--mount",
                "--fork",
                "--kill-child",
                "--propagation",
                "private",
            ])
            .args(["sh", "-c", CONTAINER_SCRIPT, "sh"])
            .arg(dir)
            .arg(kind)
            .arg(bin())
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run unshare");
        let line = common::first_line(unshare.stderr.as_mut().unwrap());
        assert!(line.contains("waiting"), "container: {line}");
        let u = unshare.id();
        let children = std::fs::read_to_string(format!("/proc/{u}/task/{u}/children")).unwrap();
        let pid = children.split_whitespace().next().unwrap().parse().unwrap();
        Container {
            unshare: Some(unshare),
            pid,
        }
    }

    /// Lets the workload work; returns its truth, with its host pid.
    fn run(mut self) -> Value {
        let mut unshare = self.unshare.take().unwrap();
        common::signal(self.pid, libc::SIGUSR1);
        let mut out = String::new();
        std::io::Read::read_to_string(unshare.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert!(unshare.wait().unwrap().success());
        let mut truth: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(truth["pid"], 1, "the workload is its namespace's pid 1");
        truth["pid"] = self.pid.into();
        truth
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        if let Some(mut u) = self.unshare.take() {
            let _ = u.kill();
            let _ = u.wait();
        }
    }
}

/// A child process killed if a failed assertion leaves it running (it
/// would hold the BPF lock's descriptor it inherited).
struct Guard(Option<Child>);

impl Guard {
    fn id(&self) -> u32 {
        self.0.as_ref().unwrap().id()
    }

    fn take(mut self) -> Child {
        self.0.take().unwrap()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// `gozt attach --json -o OUT ARGS`, under `wrap` (a command prefix).
fn attach(out: &Path, args: &[&str], wrap: &[&str]) -> Guard {
    let gozt = env!("CARGO_BIN_EXE_gozt");
    let (program, pre): (&str, &[&str]) = match wrap.split_first() {
        Some((p, rest)) => (p, rest),
        None => (gozt, &[]),
    };
    let mut cmd = Command::new(program);
    cmd.args(pre);
    if !wrap.is_empty() {
        cmd.arg(gozt);
    }
    // Its GOZT_TIMING lines go with any failure (finish prints them): the
    // losses' causes in detail.
    let child = cmd
        .env("GOZT_TIMING", "1")
        .args(["attach", "-q", "--json", "-o"])
        .arg(out)
        .args(args)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let child = Guard(Some(child));
    common::wait_for_attach();
    child
}

/// Waits for gozt (SIGINT first when `stop`); returns its report and
/// stderr.
fn finish(gozt: Guard, out: &Path, stop: bool) -> (Value, String) {
    let mut gozt = gozt.take();
    if stop {
        common::signal(gozt.id(), libc::SIGINT);
    }
    let mut err = String::new();
    std::io::Read::read_to_string(gozt.stderr.as_mut().unwrap(), &mut err).unwrap();
    let status = gozt.wait().unwrap();
    println!("gozt's stderr:\n{err}");
    assert!(status.success(), "gozt: {status}: {err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "containers");
    (report, err)
}

/// The report's target of host pid `pid`.
fn target(report: &Value, pid: u32) -> &Value {
    report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["pid"] == pid)
        .unwrap_or_else(|| panic!("no target {pid}: {}", report["targets"]))
}

/// Every caller named (none `[unknown]`), and there are some.
fn assert_callers_named(report: &Value, what: &str) {
    let callers = report["callers"].as_array().unwrap();
    assert!(!callers.is_empty(), "{what}: no callers");
    for c in callers {
        assert_ne!(c["caller"], "[unknown]", "{what}: {c}");
    }
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn containers_on_tmpfs_and_overlay_roots_by_pid_by_their_own_path_and_by_name() {
    let (_one, dir) = bpf_test("roots");
    for root in [Root::Tmpfs, Root::Overlay] {
        for by in ["pid", "path", "name"] {
            let what = format!("{root:?}, by {by}");
            let cdir = dir.join(format!("{root:?}-{by}"));
            std::fs::create_dir_all(&cdir).unwrap();
            let c = Container::start(&cdir, root, &["-goroutines", "3", "-rounds", "2"]);
            let pid = c.pid.to_string();
            let out = cdir.join("report.json");
            let args: Vec<&str> = match by {
                "pid" => vec!["-p", &pid],
                "path" => vec!["--binary", IN_CONTAINER],
                // The workload's comm and executable base name.
                _ => vec!["--name", "app"],
            };
            let by_path = by != "pid";
            let gozt = attach(&out, &args, &[]);
            let truth = c.run();
            let (report, err) = finish(gozt, &out, by_path);
            common::assert_matches_truth(&report, &truth, &what);
            assert_callers_named(&report, &what);
            let t = target(&report, truth["pid"].as_u64().unwrap() as u32);
            assert_eq!(t["ns_pid"], 1, "{what}: {t}");
            assert_eq!(t["exe"], IN_CONTAINER, "{what}: {t}");
            assert_eq!(t["exe_deleted"], false, "{what}");
            assert!(t["start_ticks"].as_u64().unwrap() > 0, "{what}");
            assert_eq!(report["warnings"], serde_json::json!([]), "{what}: {err}");
            if by_path {
                assert_eq!(t["binary"], IN_CONTAINER, "{what}: {t}");
            }
        }
    }
    assert_eq!(common::gozt_bpf_programs_after_exit(), Vec::<u32>::new());
}

/// A workload run from `path`, waiting.
fn waiting(path: &Path, args: &[&str]) -> Guard {
    Guard(Some(common::waiting_workload(path, args)))
}

/// Lets a waiting workload work; returns its truth.
fn run(child: Guard) -> Value {
    let child = child.take();
    common::signal(child.id(), libc::SIGUSR1);
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn deleted_renamed_and_replaced_binaries_are_traced_and_named() {
    let (_one, dir) = bpf_test("deleted");
    let args = ["-goroutines", "2", "-rounds", "2"];
    // Renamed after it started: by pid.
    let app = dir.join("app");
    std::fs::copy(bin(), &app).unwrap();
    let w = waiting(&app, &args);
    let moved = dir.join("app.renamed");
    std::fs::rename(&app, &moved).unwrap();
    let out = dir.join("renamed.json");
    let pid = w.id().to_string();
    let gozt = attach(&out, &["-p", &pid], &[]);
    let truth = run(w);
    let (report, _) = finish(gozt, &out, false);
    common::assert_matches_truth(&report, &truth, "renamed");
    assert_callers_named(&report, "renamed");
    let t = target(&report, truth["pid"].as_u64().unwrap() as u32);
    assert_eq!(t["exe"], moved.to_str().unwrap());
    assert_eq!(t["exe_deleted"], false);

    // Deleted after it started: by pid, and a warning says so.
    std::fs::copy(bin(), &app).unwrap();
    let w = waiting(&app, &args);
    std::fs::remove_file(&app).unwrap();
    let out = dir.join("deleted.json");
    let pid = w.id().to_string();
    let gozt = attach(&out, &["-p", &pid], &[]);
    let truth = run(w);
    let (report, err) = finish(gozt, &out, false);
    common::assert_matches_truth(&report, &truth, "deleted");
    assert_callers_named(&report, "deleted");
    let t = target(&report, w_pid(&truth));
    assert_eq!(t["exe"], app.to_str().unwrap());
    assert_eq!(t["exe_deleted"], true);
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0]
        .as_str()
        .unwrap()
        .contains("deleted or replaced"));
    assert!(err.contains("gozt: warning: pid "), "{err}");

    // Replaced on disk (deleted, a new file at its path) while it runs:
    // --binary PATH traces it through the file it runs.
    std::fs::copy(bin(), &app).unwrap();
    let w = waiting(&app, &args);
    std::fs::remove_file(&app).unwrap();
    std::fs::copy(bin(), &app).unwrap();
    let out = dir.join("replaced.json");
    let gozt = attach(&out, &["--binary", app.to_str().unwrap()], &[]);
    let truth = run(w);
    let (report, _) = finish(gozt, &out, true);
    common::assert_matches_truth(&report, &truth, "replaced");
    assert_callers_named(&report, "replaced");
    assert_eq!(target(&report, w_pid(&truth))["exe_deleted"], true);
}

fn w_pid(truth: &Value) -> u32 {
    truth["pid"].as_u64().unwrap() as u32
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn gozt_in_its_own_mount_namespace_names_the_callers_of_host_processes() {
    let (_one, dir) = bpf_test("ownns");
    // The target's directory is hidden from gozt by a tmpfs mounted over
    // it in gozt's namespace: only /proc leads to the file.
    let hidden = dir.join("hidden");
    std::fs::create_dir_all(&hidden).unwrap();
    let app = hidden.join("app");
    std::fs::copy(bin(), &app).unwrap();
    let w = waiting(&app, &["-goroutines", "3", "-rounds", "2"]);
    let out = dir.join("report.json");
    let pid = w.id().to_string();
    let script = format!(
        "mount -t tmpfs none {} && test ! -e {} && exec \"$0\" \"$@\"",
        hidden.display(),
        app.display()
    );
    let wrap = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ];
    let gozt = attach(&out, &["-p", &pid], &wrap);
    let truth = run(w);
    let (report, _) = finish(gozt, &out, false);
    common::assert_matches_truth(&report, &truth, "own mount namespace");
    assert_callers_named(&report, "own mount namespace");
    assert_eq!(report["warnings"], serde_json::json!([]));
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn short_lived_processes_under_binary_have_every_caller_named() {
    let (_one, dir) = bpf_test("short");
    let app = dir.join("app");
    std::fs::copy(bin(), &app).unwrap();
    let out = dir.join("report.json");
    let gozt = attach(&out, &["--binary", app.to_str().unwrap()], &[]);
    // Each is gone long before gozt's next poll reads its events.
    let truths: Vec<Value> = (0..8)
        .map(|_| {
            let run = Command::new(&app)
                .args(["-goroutines", "1", "-rounds", "1", "-streams=false"])
                .output()
                .unwrap();
            assert!(run.status.success());
            serde_json::from_slice(&run.stdout).unwrap()
        })
        .collect();
    let (report, _) = finish(gozt, &out, true);
    assert_callers_named(&report, "short-lived");
    let truth_calls: u64 = truths.iter().map(own_calls).sum();
    assert_eq!(report["totals"]["calls"], truth_calls);
    for truth in &truths {
        target(&report, w_pid(truth));
        common::assert_process_truth(&report, truth, None);
    }
    assert_eq!(report["warnings"], serde_json::json!([]));
}

/// A truth's calls, inner ones not counted (the report's totals do not).
fn own_calls(truth: &Value) -> u64 {
    truth["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["functions"].as_object().unwrap().values())
        .filter(|c| common::truth_row(c).1.is_none())
        .map(|c| c["calls"].as_u64().unwrap())
        .sum()
}

/// Starts `app -wait ARGS` as pid `pid`, by setting the kernel's last pid
/// before each try (other processes may take it first: then again).
fn waiting_as_pid(app: &Path, args: &[&str], pid: u32) -> Guard {
    for _ in 0..2000 {
        std::fs::write("/proc/sys/kernel/ns_last_pid", (pid - 1).to_string()).unwrap();
        let mut child = Command::new(app)
            .arg("-wait")
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        if child.id() == pid {
            let line = common::first_line(child.stderr.as_mut().unwrap());
            assert!(line.contains("waiting"), "{line}");
            return Guard(Some(child));
        }
        // It waits for SIGUSR1 before any call: gone without one.
        let _ = child.kill();
        let _ = child.wait();
    }
    panic!("pid {pid} could not be had again");
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn a_pid_reused_during_a_binary_run_is_two_processes() {
    let (_one, dir) = bpf_test("reuse");
    let app = dir.join("app");
    std::fs::copy(bin(), &app).unwrap();
    let out = dir.join("report.json");
    let gozt = attach(&out, &["--binary", app.to_str().unwrap()], &[]);
    let first = waiting(&app, &["-goroutines", "2", "-rounds", "2"]);
    let pid = first.id();
    let first = run(first);
    let second = waiting_as_pid(&app, &["-goroutines", "3", "-rounds", "1"], pid);
    let second = run(second);
    assert_eq!(first["pid"], second["pid"]);
    let (report, _) = finish(gozt, &out, true);
    let mut starts: Vec<u64> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["pid"] == pid)
        .map(|t| t["start_ticks"].as_u64().unwrap())
        .collect();
    assert_eq!(
        starts.len(),
        2,
        "two processes had pid {pid}: {}",
        report["targets"]
    );
    starts.sort_unstable();
    assert_ne!(starts[0], starts[1]);
    common::assert_process_truth(&report, &first, Some(starts[0]));
    common::assert_process_truth(&report, &second, Some(starts[1]));
    assert_callers_named(&report, "reused pid");
    assert_eq!(report["lost"]["unmatched_returns"], 0);
}

/// A cgroup directory named as docker's systemd driver names a
/// container's, in a hierarchy this machine has; removed when dropped.
struct Cgroup(Vec<PathBuf>);

impl Cgroup {
    fn docker_like() -> Cgroup {
        let base = [
            "/sys/fs/cgroup/unified",
            "/sys/fs/cgroup/pids",
            "/sys/fs/cgroup",
        ]
        .iter()
        .map(Path::new)
        .find(|h| h.join("cgroup.procs").exists())
        .expect("a cgroup hierarchy");
        let slice = base.join(format!("gozt-test-{}.slice", std::process::id()));
        let scope = slice.join(format!("docker-{ID}.scope"));
        std::fs::create_dir_all(&scope).unwrap();
        Cgroup(vec![scope, slice])
    }

    fn enter(&self, pid: u32) {
        std::fs::write(self.0[0].join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        for d in &self.0 {
            let _ = std::fs::remove_dir(d);
        }
    }
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn the_container_id_comes_from_the_cgroup() {
    let (_one, dir) = bpf_test("cgroup");
    let cg = Cgroup::docker_like();
    let c = Container::start(&dir, Root::Tmpfs, &["-goroutines", "2", "-rounds", "1"]);
    cg.enter(c.pid);
    let out = dir.join("report.json");
    let pid = c.pid.to_string();
    let gozt = attach(&out, &["-p", &pid], &[]);
    let truth = c.run();
    let (report, _) = finish(gozt, &out, false);
    common::assert_matches_truth(&report, &truth, "cgroup");
    let t = target(&report, w_pid(&truth));
    assert_eq!(t["container_id"], ID, "{t}");
    assert_eq!(t["ns_pid"], 1);
    // The text says so too.
    let (code, text, err) = common::gozt(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        text.contains(&format!("[ns pid 1, container {}]", &ID[..12])),
        "{text}"
    );
    drop(cg);
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn trace_exits_with_its_commands_status_and_an_empty_run_warns() {
    let (_one, dir) = bpf_test("status");
    // The command killed by SIGTERM: 128 + 15, in the report and as gozt's
    // exit code.
    let out = dir.join("killed.json");
    let mut gozt = Guard(Some(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["trace", "-q", "--json", "-o"])
            .arg(&out)
            .arg("--")
            .arg(bin())
            .args(["-wait", "-goroutines", "1", "-rounds", "1"])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    let line = common::first_line(gozt.0.as_mut().unwrap().stderr.as_mut().unwrap());
    assert!(line.contains("waiting"), "{line}");
    let g = gozt.id();
    let children = std::fs::read_to_string(format!("/proc/{g}/task/{g}/children")).unwrap();
    let command: u32 = children.split_whitespace().next().unwrap().parse().unwrap();
    common::signal(command, libc::SIGTERM);
    let status = gozt.take().wait().unwrap();
    assert_eq!(status.code(), Some(128 + libc::SIGTERM));
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "killed command");
    assert_eq!(report["command_exit_status"], 128 + libc::SIGTERM);

    // A command that succeeds: 0.
    let out = dir.join("ok.json");
    let (code, _, err) = common::gozt(&[
        "trace",
        "-q",
        "--json",
        "-o",
        out.to_str().unwrap(),
        "--",
        bin().to_str().unwrap(),
        "-goroutines",
        "1",
        "-rounds",
        "1",
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["command_exit_status"], 0);

    // --binary that no process runs: said on stderr and in the report.
    let out = dir.join("empty.json");
    let (code, _, err) = common::gozt(&[
        "attach",
        "-q",
        "--json",
        "--duration",
        "1s",
        "-o",
        out.to_str().unwrap(),
        "--binary",
        bin().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    let warnings = report["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].as_str().unwrap().starts_with("no process ran "),
        "{warnings:?}"
    );
    assert!(err.contains("gozt: warning: no process ran "), "{err}");
    assert_eq!(report["command_exit_status"], Value::Null);
}

/// A row: (function, the outer function of inner calls).
type Row = (String, Option<String>);

/// The truth's sums per row, over its goroutines.
fn per_function(truth: &Value) -> std::collections::BTreeMap<Row, Vec<u64>> {
    let mut sums = std::collections::BTreeMap::<Row, Vec<u64>>::new();
    for g in truth["goroutines"].as_array().unwrap() {
        for c in g["functions"].as_object().unwrap().values() {
            let s = sums
                .entry(common::truth_row(c))
                .or_insert_with(|| vec![0; common::TRUTH_KEYS.len()]);
            for (i, k) in common::TRUTH_KEYS.iter().enumerate() {
                s[i] += c[*k].as_u64().unwrap();
            }
        }
    }
    sums
}

/// `functions` (of the report or of one target) as the same sums.
fn report_functions(functions: &Value) -> std::collections::BTreeMap<Row, Vec<u64>> {
    let mut sums = std::collections::BTreeMap::<Row, Vec<u64>>::new();
    for f in functions.as_array().unwrap() {
        let row = (
            f["function"].as_str().unwrap().to_string(),
            f["outer"].as_str().map(str::to_string),
        );
        let s = sums
            .entry(row)
            .or_insert_with(|| vec![0; common::TRUTH_KEYS.len()]);
        for (i, k) in common::TRUTH_KEYS.iter().enumerate() {
            s[i] += f[*k].as_u64().unwrap();
        }
    }
    sums
}

/// Every target's own calls equal its truth, the functions hold each
/// function once, adding the targets up.
fn assert_broken_down(report: &Value, truths: &[&Value], what: &str) {
    let per = report["per_target"].as_array().unwrap();
    assert_eq!(per.len(), truths.len(), "{what}: per_target");
    let mut all = std::collections::BTreeMap::<Row, Vec<u64>>::new();
    for truth in truths {
        let t = per
            .iter()
            .find(|t| t["pid"] == truth["pid"])
            .unwrap_or_else(|| panic!("{what}: no per_target of {}", truth["pid"]));
        assert_eq!(
            report_functions(&t["functions"]),
            per_function(truth),
            "{what}"
        );
        for c in t["callers"].as_array().unwrap() {
            assert_ne!(c["caller"], "[unknown]", "{what}: {c}");
        }
        for (k, v) in per_function(truth) {
            let s = all.entry(k).or_insert_with(|| vec![0; v.len()]);
            for (a, b) in s.iter_mut().zip(&v) {
                *a += b;
            }
        }
    }
    let names: Vec<(&str, Option<&str>)> = report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["function"].as_str().unwrap(), f["outer"].as_str()))
        .collect();
    let mut unique = names.clone();
    unique.dedup();
    assert_eq!(names, unique, "{what}: each function once");
    assert_eq!(
        report_functions(&report["functions"]),
        all,
        "{what}: totals"
    );
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn several_targets_are_broken_down_and_a_file_that_came_later_is_followed() {
    let (_one, dir) = bpf_test("several");
    // Two containers, each with its own copy of the program at the same
    // path: two files, both probed; a third comes later.
    let (d1, d2, d3) = (dir.join("c1"), dir.join("c2"), dir.join("c3"));
    for d in [&d1, &d2, &d3] {
        std::fs::create_dir_all(d).unwrap();
    }
    let c1 = Container::start(&d1, Root::Tmpfs, &["-goroutines", "2", "-rounds", "1"]);
    let c2 = Container::start(&d2, Root::Overlay, &["-goroutines", "3", "-rounds", "2"]);
    let out = dir.join("binary.json");
    let gozt = attach(&out, &["--binary", IN_CONTAINER], &[]);
    let (t1, t2) = (c1.run(), c2.run());
    // A third, from a file that did not exist when gozt attached: gozt
    // reads it and probes it too (a link of its own) while it runs.
    let c3 = Container::start(&d3, Root::Tmpfs, &["-goroutines", "1", "-rounds", "1"]);
    let links = || -> usize {
        common::gozt_processes()
            .into_iter()
            .map(|p| common::bpf_held_by(p).1.len())
            .sum()
    };
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while links() < 3 + common::WRITE_LINKS {
        assert!(
            std::time::Instant::now() < deadline,
            "the third file was not probed"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let t3 = c3.run();
    let (report, _) = finish(gozt, &out, true);
    assert_broken_down(&report, &[&t1, &t2, &t3], "--binary, three files");
    for t in [&t1, &t2, &t3] {
        assert_eq!(target(&report, w_pid(t))["exe"], IN_CONTAINER);
    }
    let warnings = report["warnings"].as_array().unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");

    // Two processes of one host file by pid: one binary, each function
    // once, split by target.
    let app = dir.join("app");
    std::fs::copy(bin(), &app).unwrap();
    let a = waiting(&app, &["-goroutines", "2", "-rounds", "1"]);
    let b = waiting(&app, &["-goroutines", "1", "-rounds", "2"]);
    let (pa, pb) = (a.id().to_string(), b.id().to_string());
    let out = dir.join("pids.json");
    let gozt = attach(&out, &["-p", &pa, "-p", &pb], &[]);
    let (ta, tb) = (run(a), run(b));
    let (report, _) = finish(gozt, &out, false);
    assert_broken_down(&report, &[&ta, &tb], "two pids");
    assert_callers_named(&report, "two pids");
    let (code, text, _) = common::gozt(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 0);
    for t in [&ta, &tb] {
        assert!(text.contains(&format!("\npid {}: ", t["pid"])), "{text}");
    }
}
