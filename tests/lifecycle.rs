//! How a run of `gozt attach` ends, against a live Go target: on its
//! duration, Ctrl-C (SIGINT), SIGTERM, SIGKILL of gozt, or the target's
//! death. Every end but SIGKILL writes the report; none leaves a BPF program,
//! a link or a uprobe behind (the target's code is read back through
//! /proc/PID/mem: a live uprobe shows as an INT3 there), and the target
//! carries on unharmed. `--binary` follows processes that start after gozt.
//! Bad input to attach and trace gets one line and its documented exit code.
//! The BPF parts need root; with CI=true its absence fails the run.

mod common;

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use serde_json::Value;

/// BPF tests count gozt's programs machine-wide: one at a time.
static BPF: Mutex<()> = Mutex::new(());

/// Virtual addresses of every probe site (entries and RETs) of `pid`.
fn probe_sites(pid: u32) -> Vec<u64> {
    let (code, out, err) = common::gozt(&["probes", "--json", "--pid", &pid.to_string()]);
    assert_eq!(code, 0, "{err}");
    common::probe_sites(&serde_json::from_str(&out).unwrap())
}

/// How many of `sites` hold an INT3 in the live process's memory.
fn int3s(pid: u32, sites: &[u64]) -> usize {
    let mut mem = std::fs::File::open(format!("/proc/{pid}/mem")).unwrap();
    sites
        .iter()
        .filter(|&&a| {
            let mut b = [0u8];
            mem.seek(SeekFrom::Start(a)).unwrap();
            mem.read_exact(&mut b).unwrap();
            b[0] == 0xcc
        })
        .count()
}

/// Links that point at any of `progs`, from `bpftool link show`.
fn links_of(progs: &[u32]) -> Vec<String> {
    let out = Command::new("bpftool")
        .args(["link", "show"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| progs.iter().any(|p| l.contains(&format!("prog {p} "))))
        .map(str::to_owned)
        .collect()
}

/// The machine's uprobe events, from its tracefs (mounted for the read
/// where none is).
fn uprobe_events() -> String {
    let mounted = [
        "/sys/kernel/tracing/uprobe_events",
        "/sys/kernel/debug/tracing/uprobe_events",
    ]
    .iter()
    .find_map(|p| std::fs::read_to_string(p).ok());
    if let Some(events) = mounted {
        return events;
    }
    let point = std::env::temp_dir().join(format!("gozt-test-tracefs-{}", std::process::id()));
    std::fs::create_dir_all(&point).unwrap();
    let mount = |args: &[&str]| {
        let status = Command::new(args[0]).args(&args[1..]).status().unwrap();
        assert!(status.success(), "{args:?}");
    };
    let at = point.to_str().unwrap();
    mount(&["mount", "-t", "tracefs", "tracefs", at]);
    let events = std::fs::read_to_string(point.join("uprobe_events"));
    mount(&["umount", at]);
    std::fs::remove_dir(&point).unwrap();
    events.unwrap()
}

fn attach(pid: u32, out: &Path, extra: &[&str]) -> Child {
    attach_with(pid, out, extra, &[])
}

fn attach_with(pid: u32, out: &Path, extra: &[&str], env: &[(&str, &str)]) -> Child {
    Command::new(env!("CARGO_BIN_EXE_gozt"))
        .envs(env.iter().copied())
        .args(["attach", "--json", "-o", out.to_str().unwrap(), "--pid"])
        .arg(pid.to_string())
        .args(extra)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    Duration,
    Sigint,
    Sigterm,
    Sigkill,
    TargetDies,
}

/// One run of attach that ends by `end` (with `env`: GOZT_ATTACH); checks
/// the report and leftovers, then that the target still works.
fn run_ending_by(end: End, dir: &Path, env: &[(&str, &str)]) {
    let bin = common::newest("workload-stripped");
    let mut target = common::waiting_workload(&bin, &["-goroutines", "2", "-rounds", "1"]);
    let pid = target.id();
    let sites = probe_sites(pid);
    let out = dir.join(format!("{end:?}.json"));
    let _ = std::fs::remove_file(&out);
    let extra: &[&str] = match end {
        End::Duration => &["--duration", "2s"],
        _ => &[],
    };
    let mut gozt = attach_with(pid, &out, extra, env);
    common::wait_for_attach();
    let progs = common::gozt_bpf_programs();
    // The site program, the floor program (benchmarks, calibration), and
    // the two of the write tracepoints (downstream writes).
    assert_eq!(progs.len(), 4, "{end:?}: {progs:?}");
    // While attached the probes are visible, so the checks below can fail.
    // One link holds the entries and RETs: uprobe.multi's, or the perf
    // event's of the binary's grouped uprobe event (once the trap cost's
    // calibration, just after the attach, has let go of gozt's own); one
    // each of the write tracepoints.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while links_of(&progs).len() != 3 && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(
        links_of(&progs).len(),
        3,
        "{end:?}: one link for all sites, two for the write tracepoints"
    );
    let classic = !env.is_empty();
    if classic {
        let group = format!("gozt_{}/b0 ", gozt.id());
        let defined = uprobe_events()
            .lines()
            .filter(|l| l.contains(&group))
            .count();
        assert_eq!(
            defined,
            sites.len(),
            "{end:?}: one uprobe event, every site"
        );
    }
    assert_eq!(
        int3s(pid, &sites),
        sites.len(),
        "{end:?}: INT3 at every site"
    );

    match end {
        End::Duration => {}
        End::Sigint => common::signal(gozt.id(), libc::SIGINT),
        End::Sigterm => common::signal(gozt.id(), libc::SIGTERM),
        End::Sigkill => common::signal(gozt.id(), libc::SIGKILL),
        End::TargetDies => common::signal(pid, libc::SIGKILL),
    }
    let status = gozt.wait().unwrap();
    let mut stderr = String::new();
    gozt.stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    match end {
        End::Sigkill => assert_eq!(
            std::os::unix::process::ExitStatusExt::signal(&status),
            Some(libc::SIGKILL)
        ),
        _ => {
            assert!(status.success(), "{end:?}: gozt {status}: {stderr}");
            let report: Value =
                serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
            common::assert_schema_valid(&report, &format!("{end:?}"));
            assert_eq!(report["targets"][0]["pid"], pid, "{end:?}");
            assert_eq!(report["lost"]["unmatched_returns"], 0, "{end:?}");
            let (ended_by, asked) = match end {
                End::Duration => ("duration", Value::from(2.0)),
                End::TargetDies => ("targets_exited", Value::Null),
                _ => ("signal", Value::Null),
            };
            assert_eq!(report["ended_by"], ended_by, "{end:?}");
            assert_eq!(report["requested_duration_s"], asked, "{end:?}");
            if end == End::Duration {
                // Its clock starts with the probes in place: 2 s traced,
                // not 2 s less the time finding and attaching took.
                let traced = report["duration_s"].as_f64().unwrap();
                assert!(traced >= 2.0, "traced {traced} s of --duration 2s");
            }
        }
    }

    assert_eq!(
        common::gozt_bpf_programs_after_exit(),
        Vec::<u32>::new(),
        "{end:?}: programs left"
    );
    assert_eq!(
        links_of(&progs),
        Vec::<String>::new(),
        "{end:?}: links left"
    );
    let group = format!("gozt_{}/", gozt.id());
    if let (true, End::Sigkill) = (classic, end) {
        // gozt killed outright leaves its events defined (no breakpoint is
        // placed while no perf event holds them); the next gozt removes
        // those of a gozt that is gone.
        assert!(uprobe_events().contains(&group), "{end:?}");
        let next = Command::new(env!("CARGO_BIN_EXE_gozt"))
            .envs(env.iter().copied())
            .args(["trace", "-q", "--json", "-o", "/dev/null", "--"])
            .arg(&bin)
            .args(common::one_shot_args(1, 1))
            .output()
            .unwrap();
        assert!(
            next.status.success(),
            "{}",
            String::from_utf8_lossy(&next.stderr)
        );
    }
    assert!(!uprobe_events().contains(&group), "{end:?}: uprobe_events");
    if let End::TargetDies = end {
        target.wait().unwrap();
        return;
    }
    assert_eq!(int3s(pid, &sites), 0, "{end:?}: uprobes left in the target");
    // The target goes on to do its work as if nothing had happened.
    common::signal(pid, libc::SIGUSR1);
    let done = target.wait_with_output().unwrap();
    assert!(done.status.success(), "{end:?}: target failed");
    let truth: Value = serde_json::from_slice(&done.stdout).unwrap();
    assert_eq!(truth["pid"], pid);
}

/// Every end of a run, each checked by [`run_ending_by`].
fn every_end(name: &str, env: &[(&str, &str)]) {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::TempDir::new(name);
    for end in [
        End::Duration,
        End::Sigint,
        End::Sigterm,
        End::Sigkill,
        End::TargetDies,
    ] {
        run_ending_by(end, &dir, env);
    }
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn every_way_a_run_ends_leaves_nothing_behind() {
    every_end("lifecycle", &[]);
}

/// The same with classic uprobes (kernels without uprobe.multi), forced
/// here: one tracefs uprobe event for the binary's sites, defined while
/// gozt runs.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn every_way_a_classic_run_ends_leaves_nothing_behind() {
    every_end("lifecycle-classic", &[("GOZT_ATTACH", "uprobe_cookie")]);
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn binary_mode_follows_processes_that_start_later() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    binary_mode(&[]);
    // Classic uprobes for every process: the grouped event's one perf event
    // (on CPU 0) runs the program for calls on every CPU.
    binary_mode(&[("GOZT_ATTACH", "uprobe_cookie")]);
}

fn binary_mode(env: &[(&str, &str)]) {
    let bin = common::newest("workload-pie-stripped");
    let tmp = common::TempDir::new("binary");
    let out = tmp.join("report.json");
    let gozt = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .envs(env.iter().copied())
        .args(["attach", "--json", "-o", out.to_str().unwrap(), "--binary"])
        .arg(&bin)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    common::wait_for_attach();
    // Two processes, one after the other, both started after gozt.
    let mut truths = Vec::new();
    for goroutines in ["2", "3"] {
        let run = Command::new(&bin)
            .args(["-goroutines", goroutines, "-rounds", "1"])
            .output()
            .unwrap();
        assert!(run.status.success());
        truths.push(serde_json::from_slice::<Value>(&run.stdout).unwrap());
    }
    std::thread::sleep(Duration::from_millis(200));
    common::signal(gozt.id(), libc::SIGINT);
    let run = gozt.wait_with_output().unwrap();
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success());
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "--binary");
    let pids: Vec<&Value> = report["targets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| &t["pid"])
        .collect();
    for truth in &truths {
        assert!(pids.contains(&&truth["pid"]), "{pids:?}");
        common::assert_process_truth(&report, truth, None);
    }
    assert_eq!(report["lost"]["unmatched_returns"], 0);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(common::gozt_bpf_programs_after_exit(), Vec::<u32>::new());
}

fn assert_error(args: &[&str], code: i32, needle: &str) {
    let (got, out, err) = common::gozt(args);
    assert_eq!(got, code, "{args:?}: {err}");
    assert!(err.contains(needle), "{args:?}: {err}");
    assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
    assert!(err.starts_with("gozt: "), "{err}");
    assert!(out.is_empty(), "{args:?}: {out}");
}

#[test]
fn bad_input_to_attach_and_trace() {
    // A PID that is gone.
    let mut child = Command::new("true").spawn().unwrap();
    let gone = child.id().to_string();
    child.wait().unwrap();
    assert_error(&["attach", "--pid", &gone], 8, "not found");
    // A live process that is not Go.
    let mut sleeper = Command::new("sleep").arg("30").spawn().unwrap();
    let sleeping = sleeper.id().to_string();
    assert_error(&["attach", "--pid", &sleeping], 5, "not a Go binary");
    sleeper.kill().unwrap();
    sleeper.wait().unwrap();
    // Go without compression code.
    let plain = common::newest("nocompress-stripped");
    let plain = plain.to_str().unwrap();
    assert_error(
        &["attach", "--binary", plain],
        7,
        "no compression functions",
    );
    assert_error(&["trace", "--", plain], 7, "no compression functions");
    // Nothing to run, or nothing there.
    assert_error(&["trace", "--", "/nonexistent/gozt"], 3, "no such file");
    // Bad flags.
    let workload = common::newest("workload-stripped");
    let workload = workload.to_str().unwrap();
    assert_error(&["attach"], 2, "--pid");
    assert_error(
        &["attach", "--pid", "1", "--duration", "soon"],
        2,
        "--duration",
    );
    assert_error(&["attach", "--pid", "x"], 2, "--pid");
    assert_error(
        &["trace", "--alert-threshold", "5x", "--", workload],
        2,
        "--alert-threshold",
    );
    assert_error(&["trace", "--codec", "lzo", "--", workload], 2, "codec");
    assert_error(
        &["trace", "--func", "nomatch*", "--", workload],
        7,
        "--func",
    );
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn max_overhead_samples_and_says_so() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-stripped");
    let tmp = common::TempDir::new("budget");
    let out = tmp.join("report.json");
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--max-overhead", "0.5%", "--json", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&bin)
        // About 4 s of work, for several windows.
        .args(common::one_shot_args(4, 200))
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    std::fs::remove_file(&out).unwrap();
    common::assert_schema_valid(&report, "--max-overhead");
    let s = &report["sampling"];
    assert_eq!(s["max_overhead"], 0.005);
    // The trap cost was measured: microseconds, not nothing.
    let trap = s["trap_ns"].as_u64().unwrap();
    assert!((500..1_000_000).contains(&trap), "trap {trap} ns");
    let (attached, traced) = (
        s["attached_s"].as_f64().unwrap(),
        s["traced_s"].as_f64().unwrap(),
    );
    assert!(attached > 0.0 && attached < traced, "{s}");
    assert!(s["windows"].as_u64().unwrap() >= 2, "{s}");
    // Each window's calls stand for its cycle (the window and the pause
    // after it): more than were counted.
    let factor = s["factor"].as_f64().unwrap();
    assert!(factor > 1.0 && factor.is_finite(), "{s}");
    // Probes were off part of the time: fewer calls than the program made,
    // but some.
    let truth_calls: u64 = truth["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|g| g["functions"].as_object().unwrap().values())
        .map(|c| c["calls"].as_u64().unwrap())
        .sum();
    let seen = report["totals"]["calls"].as_u64().unwrap();
    assert!(seen > 0 && seen < truth_calls, "{seen} of {truth_calls}");
    // Every call seen took two traps (its entry and RET); calls cut by a
    // window's edge took one. The programs' own run time was measured.
    let traps = s["traps"].as_u64().unwrap();
    assert!(
        traps >= 2 * seen && traps < 2 * truth_calls,
        "{traps} traps, {seen} calls"
    );
    let run_ns = s["bpf_run_ns"].as_u64().unwrap();
    assert!(
        run_ns > 0 && run_ns < traps * 100_000,
        "{run_ns} ns in gozt's programs"
    );
    // The estimate is of the target's CPU time, which no more than all
    // cores can have given it.
    let emulated = s["emulated_traps"].as_u64().unwrap();
    assert!(emulated > 0 && emulated < traps, "{s}");
    let emulated_ns = s["emulated_trap_ns"].as_u64().unwrap();
    let cpu_s = ((traps - emulated) as f64 * trap as f64
        + emulated as f64 * emulated_ns as f64
        + run_ns as f64)
        / s["estimated_overhead"].as_f64().unwrap()
        / 1e9;
    let cores = std::thread::available_parallelism().unwrap().get() as f64;
    assert!(
        cpu_s > 0.0 && cpu_s <= traced * cores,
        "{cpu_s} s of CPU: {s}"
    );
    let text = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--max-overhead", "1%", "--"])
        .arg(&bin)
        .args(common::one_shot_args(1, 1))
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&text.stdout).contains("sampled: probes attached"));
}

/// A clean stop of a busy target (by --duration, or SIGTERM) counts no
/// unmatched returns but those of calls already running when gozt attached —
/// at most one per calling goroutine, as no traced call of the workload's
/// rounds nests another — and calls abandoned only by a panic: none here.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn a_clean_stop_of_a_busy_target_counts_no_unmatched_returns() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    use gozt::proc::os::{Os, ProcOs};
    const CALLING: u64 = 2;
    // The workload's one-shot loop makes about 8,300 calls a CPU-second
    // untraced (8,800 calls in 1.06 s measured for -goroutines 2 -rounds
    // 200); a busy target is one whose calls gozt counted at no less than
    // an eighth of that, over the CPU time the target had while traced. A
    // loaded machine gives the target less CPU, and the floor follows it
    // (a fixed 1,000 calls failed once at load 12 with nothing wrong).
    const BUSY_CALLS_PER_CPU_S: f64 = 1000.0;
    let cpu_s = |pid: u32| ProcOs.cpu_ns(pid).expect("the target's CPU time") as f64 / 1e9;
    let bin = common::newest("workload-stripped");
    let dir = common::TempDir::new("busy");
    for end in [End::Duration, End::Sigterm] {
        let mut target = Command::new(&bin)
            .args(common::one_shot_args(2, 1000000))
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        let out = dir.join(format!("{end:?}.json"));
        let extra: &[&str] = match end {
            End::Duration => &["--duration", "3s"],
            _ => &[],
        };
        let mut gozt = attach(target.id(), &out, extra);
        common::wait_for_attach();
        let cpu_at_attach = cpu_s(target.id());
        std::thread::sleep(Duration::from_secs(2));
        if let End::Sigterm = end {
            common::signal(gozt.id(), libc::SIGTERM);
        }
        let status = gozt.wait().unwrap();
        // A little past the stop: the floor errs high, not low.
        let cpu_traced = cpu_s(target.id()) - cpu_at_attach;
        assert!(status.success(), "{end:?}: gozt {status}");
        let _ = target.kill();
        let _ = target.wait();
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        let lost = &report["lost"];
        let calls = report["totals"]["calls"].as_u64().unwrap();
        let floor = (BUSY_CALLS_PER_CPU_S * cpu_traced).max(100.0);
        assert!(
            calls as f64 >= floor,
            "{end:?}: a busy target: {calls} calls counted, at least {floor:.0} wanted \
             for its {cpu_traced:.2} CPU-seconds while traced"
        );
        assert!(
            lost["unmatched_returns"].as_u64().unwrap() <= CALLING,
            "{end:?}: {lost}"
        );
        assert!(
            lost["in_flight_at_exit"].as_u64().unwrap() <= CALLING,
            "{end:?}: {lost}"
        );
        for key in [
            "abandoned",
            "aged_out",
            "ringbuf_full",
            "inflight_full",
            "read_failed",
        ] {
            assert_eq!(lost[key], 0, "{end:?}: {key} in {lost}");
        }
    }
}

/// A BPF test's start: privileges checked, the lock held, a fresh
/// directory of its own.
fn bpf_test(name: &str) -> (std::sync::MutexGuard<'static, ()>, common::TempDir) {
    common::require_privileged();
    let one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::TempDir::new(name);
    (one, dir)
}

/// `gozt trace -q --interval 200ms ARGS -- workload`, which must succeed.
fn trace_intervals(bin: &Path, args: &[&str]) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "-q", "--interval", "200ms"])
        .args(args)
        .arg("--")
        .arg(bin)
        // About 2 s of work: several intervals.
        .args(["-goroutines", "3", "-rounds", "200"])
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    run
}

/// Reads `child`'s stderr to the end.
fn stderr_of(child: &mut Child) -> String {
    let mut s = String::new();
    child.stderr.take().unwrap().read_to_string(&mut s).unwrap();
    s
}

/// Headless, gozt says on stderr what it attached, once the probes are in
/// place (the target's code holds the INT3s when the line comes); `-q`
/// says nothing. With --binary it names the binary and counts the
/// processes running it.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn the_banner_comes_once_the_probes_are_in_place_and_quiet_silences_it() {
    let (_one, dir) = bpf_test("banner");
    // A copy of its own, so that `running it now` counts only ours.
    let bin = dir.join("banner-workload");
    std::fs::copy(common::newest("workload-stripped"), &bin).unwrap();
    let mut target = common::waiting_workload(&bin, &["-goroutines", "1", "-rounds", "1"]);
    let pid = target.id();
    let sites = probe_sites(pid);
    let plan: Value =
        serde_json::from_str(&common::gozt(&["probes", "--json", "-p", &pid.to_string()]).1)
            .unwrap();
    // Resets are traced with --resets only.
    let functions = plan["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] != "reset")
        .count();
    let sinks = plan["sinks"].as_array().unwrap().len();
    assert!(sinks > 0);
    let out = dir.join("report.json");

    let mut gozt = attach(pid, &out, &["--duration", "2s"]);
    let line = common::first_line(gozt.stderr.as_mut().unwrap());
    assert_eq!(
        int3s(pid, &sites),
        sites.len(),
        "the banner came before the probes: {line}"
    );
    assert_eq!(
        line,
        format!(
            "gozt: attached {} probes ({functions} functions: entries and RETs; {sinks} sinks of \
             streams' output; 1 site of HTTP requests) with uprobe_multi in 1 process (pid {pid} \
             banner-workload). Tracing for 2s; Ctrl-C ends sooner.\n",
            sites.len()
        )
    );
    let rest = stderr_of(&mut gozt);
    assert!(gozt.wait().unwrap().success(), "{rest}");
    assert_eq!(rest, "", "one line only");

    // -q: nothing on stderr, the report as before.
    std::fs::remove_file(&out).unwrap();
    let mut quiet = attach(pid, &out, &["--duration", "1s", "-q"]);
    let said = stderr_of(&mut quiet);
    assert!(quiet.wait().unwrap().success(), "{said}");
    assert_eq!(said, "", "-q");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    assert_eq!(report["targets"][0]["pid"], pid);

    // --binary: the path, and the processes running it now (two).
    let mut second = common::waiting_workload(&bin, &["-goroutines", "1", "-rounds", "1"]);
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["attach", "--duration", "1s", "--json", "-o"])
        .arg(&out)
        .arg("--binary")
        .arg(&bin)
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert_eq!(
        said,
        format!(
            "gozt: attached {} probes ({functions} functions: entries and RETs; {sinks} sinks of \
             streams' output; 1 site of HTTP requests) with uprobe_multi in {}, 2 processes run \
             it now (and those that start later). Tracing for 1s; Ctrl-C ends sooner.\n",
            sites.len(),
            bin.display()
        )
    );
    // -q silences the metrics address too.
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args([
            "attach",
            "-q",
            "--prometheus",
            "127.0.0.1:0",
            "--duration",
            "1s",
        ])
        .args(["--json", "-o"])
        .arg(&out)
        .args(["-p", &pid.to_string()])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{said}");
    assert_eq!(said, "", "-q with --prometheus");
    for t in [&mut target, &mut second] {
        t.kill().unwrap();
        t.wait().unwrap();
    }
}

/// `--interval`: the calls of each interval only, so that the intervals
/// add up to the final report exactly, per function too, and the final
/// report equals the workload's own truth. With --json the output is JSON
/// Lines (each interval by docs/interval.schema.json, the final report
/// last); as text, a header per interval and the text report at the end.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn interval_reports_add_up_to_the_final_report() {
    let (_one, dir) = bpf_test("interval");
    let bin = common::newest("workload-stripped");
    let out = dir.join("run.jsonl");
    let run = trace_intervals(&bin, &["--json", "-o", out.to_str().unwrap()]);
    let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
    let text = std::fs::read_to_string(&out).unwrap();
    let lines: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let (report, intervals) = lines.split_last().unwrap();
    assert!(intervals.len() >= 2, "{} intervals", intervals.len());
    common::assert_schema_valid(report, "--interval's final report");
    common::assert_process_truth(report, &truth, None);
    let mut per_function: std::collections::BTreeMap<String, u64> = Default::default();
    let mut times = Vec::new();
    for iv in intervals {
        common::assert_interval_schema_valid(iv, "--interval line");
        times.push(iv["time"].as_str().unwrap().to_string());
        for f in iv["functions"].as_array().unwrap() {
            *per_function.entry(row_name(f)).or_default() += f["calls"].as_u64().unwrap();
        }
    }
    let sum = |key: &str| -> u64 {
        intervals
            .iter()
            .map(|iv| iv["totals"][key].as_u64().unwrap())
            .sum()
    };
    for key in [
        "calls",
        "payloads",
        "errors",
        "incompressible",
        "eligible",
        "failures",
    ] {
        assert_eq!(sum(key), report["totals"][key].as_u64().unwrap(), "{key}");
    }
    let finals: std::collections::BTreeMap<String, u64> = report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (row_name(f), f["calls"].as_u64().unwrap()))
        .collect();
    assert_eq!(per_function, finals);
    let mut sorted = times.clone();
    sorted.sort();
    assert_eq!(times, sorted, "in time order");
    // `gozt report` reads the final line back.
    let (code, shown, err) = common::gozt(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert!(
        shown.contains(&format!(": {} calls, ", report["totals"]["calls"])),
        "{shown}"
    );

    // As text: one header per interval, their calls adding up to the
    // final report's, on stdout with the command's own output.
    let run = trace_intervals(&bin, &[]);
    let stdout = String::from_utf8(run.stdout).unwrap();
    let headers: Vec<&str> = stdout
        .lines()
        .filter(|l| l.starts_with("20") && l.contains(" calls, "))
        .collect();
    assert!(headers.len() >= 2, "{stdout}");
    let calls = |l: &str, after: &str| -> u64 {
        l.split_once(after)
            .unwrap()
            .1
            .split(' ')
            .next()
            .unwrap()
            .parse()
            .unwrap()
    };
    let interval_calls: u64 = headers.iter().map(|l| calls(l, "s: ")).sum();
    let final_line = stdout.lines().find(|l| l.starts_with("traced ")).unwrap();
    assert_eq!(interval_calls, calls(final_line, "s: "), "{stdout}");
    // (The workload's own JSON truth is on the same stdout: its lines are
    // not gozt's.)
    for l in stdout.lines().filter(|l| {
        (l.starts_with("  ") || l.starts_with("20"))
            && !l.trim_start().starts_with(['"', '{', '}', '[', ']'])
    }) {
        assert!(l.chars().count() <= 100, "{l}");
    }

    // A reader that goes away (`| head -1`) ends the run, cleanly.
    let mut target = common::waiting_workload(&bin, &[]);
    let mut gozt = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["attach", "-q", "--interval", "200ms", "-p"])
        .arg(target.id().to_string())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let first = common::first_line(&mut gozt.stdout.take().unwrap());
    assert!(first.starts_with("# each interval"), "{first}");
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let status = loop {
        if let Some(status) = gozt.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = gozt.kill();
            panic!("gozt went on without a reader");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status}");
    target.kill().unwrap();
    target.wait().unwrap();
}

/// A target that exits while gozt attaches is a process not found (exit
/// 8, one line), not a BPF failure (12); libbpf's own lines show only with
/// -v, prefixed. The target is killed at delays around the attach until
/// one run has failed in the attach itself (libbpf says so under -v).
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn a_target_that_exits_during_attach_is_not_found() {
    let (_one, dir) = bpf_test("gone");
    let bin = common::newest("workload-stripped");
    let out = dir.join("report.json");
    let run = |delay_ms: u64, verbose: bool| -> (i32, String, u32) {
        let mut target = common::waiting_workload(&bin, &[]);
        let pid = target.id();
        let mut args = vec!["attach", "--json", "-o", out.to_str().unwrap()];
        if verbose {
            args.push("-v");
        }
        let mut gozt = Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(&args)
            .args(["-p", &pid.to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        target.kill().unwrap();
        target.wait().unwrap();
        let err = stderr_of(&mut gozt);
        let code = gozt.wait().unwrap().code().unwrap_or(-1);
        (code, err, pid)
    };
    let mut hit = None;
    'sweep: for _ in 0..3 {
        for delay in (0..120).step_by(4) {
            let (code, err, pid) = run(delay, true);
            assert!(
                code == 0 || code == 8,
                "after {delay} ms: exit {code}: {err}"
            );
            assert!(
                err.lines().all(|l| l.starts_with("gozt: ")),
                "after {delay} ms: {err}"
            );
            if code == 8 {
                assert_eq!(
                    err.lines().last().unwrap(),
                    format!("gozt: process {pid} not found (exited, or never existed)")
                );
            }
            if err.contains("gozt: libbpf: ") {
                assert_eq!(code, 8, "{err}");
                hit = Some(delay);
                break 'sweep;
            }
        }
    }
    let delay = hit.expect("no run was killed during the attach itself");
    // Without -v the same race gives one line (or a report, if the
    // target outlived the attach this time).
    for _ in 0..5 {
        let (code, err, pid) = run(delay, false);
        match code {
            8 => assert_eq!(
                err,
                format!("gozt: process {pid} not found (exited, or never existed)\n")
            ),
            0 => assert!(err.starts_with("gozt: attached "), "{err}"),
            _ => panic!("exit {code}: {err}"),
        }
        assert!(!err.contains("libbpf"), "{err}");
    }
}

/// A report row's name: its function, and the outer one for inner rows.
fn row_name(f: &Value) -> String {
    match f["outer"].as_str() {
        Some(outer) => format!("{} <- {outer}", f["function"].as_str().unwrap()),
        None => f["function"].as_str().unwrap().to_string(),
    }
}
