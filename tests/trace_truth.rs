//! The tracing engine against ground truth: the workload program calls every
//! catalog API a known number of times from known goroutines — one-shot APIs,
//! stream APIs with the library calls they make inside, and a harm scenario
//! (stacks growing under in-flight calls, gzip recursing into gzip, writes
//! that panic or Goexit and never return) — and prints what it did; gozt's
//! JSON report must equal it exactly, in trace and in attach mode, across the
//! toolchain x build-mode matrix, and the program's output must be the same
//! as without gozt. Needs root and BPF; with CI=true their absence fails the
//! run instead of skipping it.

mod common;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};
use std::sync::Mutex;

use common::assert_matches_truth;
use serde_json::Value;

/// BPF tests count gozt's programs machine-wide, and the big ones take both
/// cores: one at a time.
static BPF: Mutex<()> = Mutex::new(());

fn read_json(path: &std::path::Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

/// What the workload printed, minus what differs between any two runs (pid
/// and goroutine ids, stream Read call counts): the harm digest, the count
/// of calls that never return, and each goroutine's function counts, sorted.
fn run_invariant(truth: &Value) -> (Value, Value, Vec<String>) {
    let mut goroutines: Vec<String> = truth["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|g| {
            // How many Read calls a stream reader takes depends on
            // scheduling (zstd's decoder hands over blocks from goroutines
            // of its own: 9 or 10 Reads of the same 8192 bytes), so a
            // Read's call count is not compared between two runs; gozt's
            // counts are still checked exactly against each run's truth.
            let fs: BTreeMap<&String, Value> = g["functions"]
                .as_object()
                .unwrap()
                .iter()
                .map(|(name, f)| {
                    let mut f = f.clone();
                    if name.ends_with(".Read") {
                        f.as_object_mut().unwrap().remove("calls");
                    }
                    (name, f)
                })
                .collect();
            serde_json::to_string(&fs).unwrap()
        })
        .collect();
    goroutines.sort();
    (
        truth["harm_digest"].clone(),
        truth["abandoned"].clone(),
        goroutines,
    )
}

const TRACE_ARGS: &[&str] = &["-goroutines", "4", "-rounds", "3", "-harm", "3"];

fn trace_mode(bin: &std::path::Path, out: &std::path::Path, args: &[&str]) -> Value {
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--json", "-o", out.to_str().unwrap(), "--"])
        .arg(bin)
        .args(args)
        .output()
        .unwrap();
    // gozt's banner and the workload's stderr: in the test's own output,
    // shown when it fails.
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "{}: gozt trace failed", bin.display());
    serde_json::from_slice(&run.stdout).expect("the workload's truth on stdout")
}

fn bare(bin: &std::path::Path) -> Value {
    let run = Command::new(bin).args(TRACE_ARGS).output().unwrap();
    assert!(run.status.success(), "{} failed bare", bin.display());
    serde_json::from_slice(&run.stdout).unwrap()
}

fn attach_mode(bin: &std::path::Path, out: &std::path::Path, env: &[(&str, &str)]) -> Value {
    let target = common::waiting_workload(bin, &["-goroutines", "3", "-rounds", "2", "-harm", "2"]);
    let pid = target.id();
    let gozt = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .envs(env.iter().copied())
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
    common::wait_for_attach();
    common::signal(pid, libc::SIGUSR1);
    let truth = target.wait_with_output().unwrap();
    assert!(truth.status.success());
    let run = gozt.wait_with_output().unwrap();
    eprint!("{}", String::from_utf8_lossy(&run.stderr));
    assert!(run.status.success(), "gozt attach failed");
    serde_json::from_slice(&truth.stdout).unwrap()
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn trace_and_attach_match_ground_truth_across_the_matrix() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let dir = common::TempDir::new("trace");
    let out = dir.join("report.json");
    let mut runs = 0;
    let mut repeated_entries = 0;
    for tc in common::toolchains() {
        for mode in ["default", "stripped", "pie-stripped", "cgo-stripped"] {
            let bin = tc.join(format!("workload-{mode}"));
            let truth = trace_mode(&bin, &out, TRACE_ARGS);
            repeated_entries += assert_matches_truth(
                &read_json(&out),
                &truth,
                &format!("trace {}", bin.display()),
            );
            // The target ran unharmed: same results as without gozt.
            assert_eq!(
                run_invariant(&truth),
                run_invariant(&bare(&bin)),
                "{}: output differs under tracing",
                bin.display()
            );
            runs += 1;
        }
        let bin = tc.join("workload-stripped");
        let truth = attach_mode(&bin, &out, &[]);
        repeated_entries += assert_matches_truth(
            &read_json(&out),
            &truth,
            &format!("attach {}", bin.display()),
        );
        runs += 1;
    }
    assert_eq!(runs, 30);
    // The harm scenario did make stacks grow in probed prologues.
    assert!(repeated_entries > 0, "no prologue ran twice in {runs} runs");
    eprintln!("{runs} runs, {repeated_entries} prologues run again after morestack");
    assert_eq!(
        common::gozt_bpf_programs_after_exit(),
        Vec::<u32>::new(),
        "gozt left BPF programs behind"
    );
}

/// Traces `rounds` rounds of the block APIs on 2 goroutines; returns the
/// calls gozt saw and the caller frames its programs read past the return
/// addresses (GOZT_TIMING).
fn frames_walked(bin: &std::path::Path, out: &std::path::Path, rounds: u32) -> (u64, u64) {
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--json", "-o", out.to_str().unwrap(), "--"])
        .arg(bin)
        .args([
            "-goroutines",
            "2",
            "-streams=false",
            "-http=false",
            "-downstream=false",
            "-lifecycle=false",
            "-rounds",
            &rounds.to_string(),
        ])
        .env("GOZT_TIMING", "1")
        .output()
        .unwrap();
    assert!(run.status.success(), "{}: gozt trace failed", bin.display());
    let stderr = String::from_utf8_lossy(&run.stderr);
    let walked = stderr
        .lines()
        .find_map(|l| l.strip_prefix("gozt: timing: frames walked "))
        .unwrap_or_else(|| panic!("no frame count in {stderr}"))
        .parse()
        .unwrap();
    let calls = read_json(out)["totals"]["calls"].as_u64().unwrap();
    (calls, walked)
}

/// Once user space has named a call site's caller, the programs stop
/// walking frames there: over 100 rounds (about a second), far fewer frames
/// are read per call than in one round, which ends before the first poll
/// names anything (walking every call would read 100 times as many).
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn frame_walks_stop_at_named_callers() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-stripped");
    let tmp = common::TempDir::new("walk");
    let out = tmp.join("report.json");
    let (calls_1, walked_1) = frames_walked(&bin, &out, 1);
    let (calls_100, walked_100) = frames_walked(&bin, &out, 100);
    std::fs::remove_file(&out).unwrap();
    assert_eq!(calls_100, 100 * calls_1);
    assert!(walked_1 >= calls_1, "{walked_1} frames for {calls_1} calls");
    assert!(
        walked_100 < 50 * walked_1,
        "{walked_100} frames walked in 100 rounds, {walked_1} in one"
    );
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn not_root_and_no_btf_are_clear_errors() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
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

    // Without the kernel's BTF, a BTF file given by --btf serves CO-RE: the
    // same program then traces, exactly.
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .env("GOZT_SIMULATE_NO_BTF", "1")
        .args(["trace", "--json", "--btf", "/sys/kernel/btf/vmlinux", "--"])
        .arg(&bin)
        .args(common::one_shot_args(1, 1))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    // The workload's truth, then the report (both JSON, one after the other).
    let mut values = serde_json::Deserializer::from_str(&stdout).into_iter::<Value>();
    let truth = values.next().unwrap().unwrap();
    let report = values.next().unwrap().unwrap();
    assert_matches_truth(&report, &truth, "--btf");
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--btf", "/nonexistent/vmlinux", "--"])
        .arg(&bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert_eq!(run.status.code(), Some(11), "{stderr}");
    assert!(
        stderr.starts_with("gozt: --btf /nonexistent/vmlinux: "),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");

    for args in [&["trace", "--"][..], &["attach", "--binary"][..]] {
        let run = Command::new("setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", "--"])
            .arg(env!("CARGO_BIN_EXE_gozt"))
            .args(args)
            .arg(&bin)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(10), "{args:?}: {stderr}");
        assert!(stderr.contains("must run as root"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
}

/// Trace mode on a scenario alone (no rounds, no streams).
fn trace_large(bin: &std::path::Path, out: &std::path::Path, args: &[&str]) -> Value {
    let all: Vec<&str> = [
        "-goroutines",
        "0",
        "-streams=false",
        "-http=false",
        "-downstream=false",
        "-lifecycle=false",
    ]
    .iter()
    .chain(args)
    .copied()
    .collect();
    trace_mode(bin, out, &all)
}

/// 30,000 goroutines each call, sit idle together for 1.5 s, then all wake
/// and call again: every call is counted on its goroutine, none is lost.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn thirty_thousand_idle_goroutines_wake_and_every_call_counts() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-pie-stripped");
    let tmp = common::TempDir::new("idle");
    let out = tmp.join("report.json");
    let truth = trace_large(&bin, &out, &["-idle", "30000"]);
    assert_eq!(truth["goroutines"].as_array().unwrap().len(), 30000);
    let report = read_json(&out);
    assert_matches_truth(&report, &truth, "idle and wake");
    assert_eq!(report["totals"]["calls"], 60000);
    std::fs::remove_file(&out).unwrap();
}

/// The harm scenario on 10,000 goroutines (stacks that grow under calls in
/// flight, writes that panic, one that Goexits): exact counts, and the calls
/// that never returned are all accounted for.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn ten_thousand_goroutines_of_harm_are_counted_exactly() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-pie-stripped");
    let tmp = common::TempDir::new("harm");
    let out = tmp.join("report.json");
    let truth = trace_large(
        &bin,
        &out,
        &[
            "-harm",
            "10000",
            "-harm-depths",
            "3",
            "-harm-stride",
            "150",
            "-harm-after",
            "2",
            "-harm-panics",
            "1",
            "-harm-nested=false",
        ],
    );
    assert_eq!(truth["abandoned"], 10001);
    assert_matches_truth(&read_json(&out), &truth, "harm x 10000");
    std::fs::remove_file(&out).unwrap();
}

/// The classic-uprobe path of kernels without uprobe.multi (5.15 to 6.5),
/// forced on this kernel: its sites grouped in one tracefs uprobe event per
/// binary, each site found from the trap's distance from mm->start_code, in
/// trace mode on a PIE and a non-PIE build and in attach mode: every count
/// equals the workload's truth.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn classic_uprobes_with_cookies_match_ground_truth() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = common::TempDir::new("classic");
    let out = tmp.join("report.json");
    for build in ["pie-stripped", "default"] {
        let bin = common::newest(&format!("workload-{build}"));
        let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
            .env("GOZT_ATTACH", "uprobe_cookie")
            .env("GOZT_TIMING", "1")
            .args(["trace", "--json", "-o"])
            .arg(&out)
            .arg("--")
            .arg(&bin)
            .args(TRACE_ARGS)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{stderr}");
        assert!(
            stderr.contains("(uprobe_cookie, ") && stderr.contains(" sites, 1 grouped event)"),
            "{stderr}"
        );
        let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
        let report = read_json(&out);
        assert_eq!(report["meta"]["attach_method"], "uprobe_cookie");
        assert_matches_truth(&report, &truth, &format!("uprobe_cookie, trace {build}"));
    }
    let bin = common::newest("workload-stripped");
    let truth = attach_mode(&bin, &out, &[("GOZT_ATTACH", "uprobe_cookie")]);
    assert_matches_truth(&read_json(&out), &truth, "uprobe_cookie, attach");
    std::fs::remove_file(&out).unwrap();
}

/// Classic uprobes one per site (where no tracefs can be had; forced by
/// GOZT_PER_SITE), for one function: each detach waits for a grace period,
/// one after another. Its counts per goroutine equal the workload's truth.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn classic_uprobes_one_per_site_match_ground_truth() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    const FUNC: &str = "github.com/golang/snappy.Encode";
    let bin = common::newest("workload-pie-stripped");
    let tmp = common::TempDir::new("per-site");
    let out = tmp.join("report.json");
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .env("GOZT_ATTACH", "uprobe_cookie")
        .env("GOZT_PER_SITE", "1")
        .env("GOZT_TIMING", "1")
        .args(["trace", "--json", "--func", "snappy.Encode", "-o"])
        .arg(&out)
        .arg("--")
        .arg(&bin)
        .args(common::one_shot_args(3, 2))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{stderr}");
    assert!(stderr.contains(" sites, one per site)"), "{stderr}");
    let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
    let report = read_json(&out);
    std::fs::remove_file(&out).unwrap();
    let mut checked = 0;
    for tg in truth["goroutines"].as_array().unwrap() {
        let want = &tg["functions"][FUNC];
        if want.is_null() {
            // The HTTP handlers' goroutines make no such call.
            continue;
        }
        let rg = report["goroutines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| g["goid"] == tg["goid"])
            .unwrap_or_else(|| panic!("goroutine {} missing", tg["goid"]));
        let got = rg["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function"] == FUNC)
            .unwrap();
        for key in common::TRUTH_KEYS {
            assert_eq!(got[key], want[key], "goroutine {} {key}", tg["goid"]);
        }
        checked += want["calls"].as_u64().unwrap();
    }
    assert!(checked > 0);
    assert_eq!(report["totals"]["calls"], checked);
    common::assert_nothing_lost(&report);
}

/// `--exit-on-alert`: a run that ends in ALERT exits 16 after writing its
/// report; one with fewer eligible payloads than `--min-eligible` is
/// `too_few`, neither OK nor ALERT, and exits 0.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn exit_on_alert_and_too_few() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-stripped");
    let tmp = common::TempDir::new("alert");
    let out = tmp.join("report.json");
    let run = |min_eligible: &str| {
        let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["trace", "-q", "--json", "--exit-on-alert", "--min-eligible"])
            .arg(min_eligible)
            .arg("-o")
            .arg(&out)
            .arg("--")
            .arg(&bin)
            .args(common::one_shot_args(2, 1))
            .output()
            .unwrap();
        let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
        (run, truth, read_json(&out))
    };
    // The truth's own eligible payloads and failures (a third incompressible
    // or corrupt): well above the threshold.
    let (alerting, truth, report) = run("1");
    assert_matches_truth(&report, &truth, "--exit-on-alert");
    assert_eq!(report["totals"]["state"], "alert");
    assert_eq!(alerting.status.code(), Some(16), "{alerting:?}");
    let said = String::from_utf8_lossy(&alerting.stderr);
    assert!(
        said.starts_with("gozt: the failure rate ") && said.lines().count() == 1,
        "{said}"
    );
    let eligible = report["totals"]["eligible"].as_u64().unwrap();
    assert!(eligible > 10, "{eligible}");
    // One more than there are: too few to judge.
    let (quiet, _, report) = run(&(eligible + 1).to_string());
    assert_eq!(report["totals"]["state"], "too_few");
    assert_eq!(report["totals"]["alert"], false);
    assert!(quiet.status.success(), "{quiet:?}");
    let (code, text, _) = common::gozt(&["report", out.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(text.contains("(too few to judge)"), "{text}");
    std::fs::remove_file(&out).unwrap();
}

/// The findings on the workload, whose one-shot rounds make known numbers
/// of failures per caller: each round a corrupt input for every decoder
/// and, of two eligible payloads for every compressor, one random (half
/// incompressible, not above the default 50 %: quiet; above 40 %: found).
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn findings_on_the_workload_are_its_own_failures() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let bin = common::newest("workload-stripped");
    let tmp = common::TempDir::new("findings");
    let out = tmp.join("report.json");
    let run = |extra: &[&str]| {
        let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["trace", "-q", "--json", "--min-eligible", "1"])
            .args(extra)
            .arg("-o")
            .arg(&out)
            .arg("--")
            .arg(&bin)
            .args(common::one_shot_args(2, 2))
            .output()
            .unwrap();
        assert!(run.status.success(), "{run:?}");
        let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
        let report = read_json(&out);
        assert_matches_truth(&report, &truth, "findings");
        common::assert_schema_valid(&report, "findings");
        report
    };
    let found = |report: &Value, kind: &str| -> Vec<(String, String)> {
        let mut found: Vec<(String, String)> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| {
                let caller = f["caller"].as_str().unwrap_or("-");
                (
                    caller.to_string(),
                    f["evidence"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        found.sort();
        found
    };
    // 2 goroutines x 2 rounds: 4 corrupt inputs per decoder.
    let report = run(&[]);
    let decoding = [
        (
            "main.blockRound",
            "4 of its 12 payloads decoded by s2.Decode failed (33.3%)",
        ),
        (
            "main.blockRound",
            "4 of its 12 payloads decoded by snappy.Decode failed (33.3%)",
        ),
        (
            "main.blockRound",
            "4 of its 12 payloads decoded by lz4.UncompressBlock failed (33.3%)",
        ),
        (
            "main.zstdRound",
            "4 of its 16 payloads decoded by zstd.(*Decoder).DecodeAll failed (25.0%)",
        ),
    ];
    let mut want: Vec<(String, String)> = decoding
        .iter()
        .map(|(c, e)| (c.to_string(), e.to_string()))
        .collect();
    want.sort();
    assert_eq!(found(&report, "decoder_errors"), want);
    assert_eq!(found(&report, "incompressible_caller"), Vec::new());
    // Above 40 %: every compressor's caller, 4 of its 8 eligible payloads.
    let report = run(&["--incompressible-caller", "40%"]);
    let compressing = found(&report, "incompressible_caller");
    let functions = [
        "lz4.CompressBlock",
        "s2.Encode",
        "snappy.Encode",
        "zstd.(*Encoder).EncodeAll",
    ];
    assert_eq!(compressing.len(), functions.len(), "{compressing:?}");
    for f in functions {
        let prefix =
            format!("4 of its 8 eligible payloads to {f} came out no smaller (50.0%), about ");
        assert!(
            compressing.iter().any(|(_, e)| e.starts_with(&prefix)),
            "{f}: {compressing:?}"
        );
    }
}

/// The workload's lifecycle scenario alone, on the oldest toolchain (which
/// calls gzip.NewReader) and the newest (which inlines it, its callers
/// calling the reader's Reset): every caller's builds, resets, lazy builds
/// and payloads exactly (common), by default (resets not traced: a
/// reader's first Reset builds for the library that called it) and with
/// --resets; "encoder built per payload" fires on the callers that build
/// per payload and not on those that pool; with --no-lifecycle, the same
/// payloads and no encoders.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn encoders_built_and_reset_are_the_workloads() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let tmp = common::TempDir::new("encoders");
    let out = tmp.join("report.json");
    let args = [
        "-goroutines",
        "0",
        "-streams=false",
        "-http=false",
        "-downstream=false",
    ];
    for bin in [
        common::toolchains()[0].join("workload-stripped"),
        common::newest("workload-pie-stripped"),
    ] {
        for extra in [&[][..], &["--resets"][..], &["--no-lifecycle"][..]] {
            let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
                .args(["trace", "-q", "--json", "--min-eligible", "6"])
                .args(extra)
                .arg("-o")
                .arg(&out)
                .arg("--")
                .arg(&bin)
                .args(args)
                .output()
                .unwrap();
            assert!(run.status.success(), "{run:?}");
            let truth: Value = serde_json::from_slice(&run.stdout).unwrap();
            let report = read_json(&out);
            let what = format!("encoders {} {extra:?}", bin.display());
            assert_matches_truth(&report, &truth, &what);
            let mut found: Vec<(String, String)> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["kind"] == "encoder_per_payload")
                .map(|f| {
                    let caller = f["caller"].as_str().unwrap().to_string();
                    (caller, f["function"].as_str().unwrap().to_string())
                })
                .collect();
            found.sort();
            if extra == ["--no-lifecycle"] {
                assert_eq!(report["encoders"], serde_json::json!([]), "{what}");
                assert!(found.is_empty(), "{what}: {found:?}");
                continue;
            }
            let zstd = "github.com/klauspost/compress/zstd";
            let want = [
                ("main.gzipPerPayload", "compress/gzip writer".to_string()),
                (
                    "main.gzipReadPerPayload",
                    "compress/gzip reader".to_string(),
                ),
                ("main.zstdPerPayload", format!("{zstd} reader")),
                ("main.zstdPerPayload", format!("{zstd} writer")),
            ]
            .map(|(c, f)| (c.to_string(), f));
            assert_eq!(found, want, "{what}");
            // A per-payload caller's builds took time, each its payload's;
            // a pooled reader served all six payloads.
            let row = |caller: &str, op: &str| {
                report["encoders"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|e| e["caller"] == caller && e["op"] == op)
                    .unwrap_or_else(|| panic!("{what}: no row of {caller}"))
                    .clone()
            };
            let per = row("main.gzipPerPayload", "compress");
            assert!(per["build_time_ns"].as_u64().unwrap() > 0, "{per}");
            assert!(per["lazy_build_time_ns"].as_u64().unwrap() > 0, "{per}");
            assert_eq!(per["payloads_per_build"], 1.0, "{per}");
            let pooled = row("main.gzipReadPooled", "decompress");
            assert_eq!(pooled["payloads_per_build"], 6.0, "{pooled}");
            // Resets: counted with --resets only (common checks how many).
            assert_eq!(pooled["resets"].is_null(), extra.is_empty(), "{pooled}");
        }
    }
}

/// The deep-dive's case: values arrive through an HTTP handler, are
/// compressed with zstd's EncodeAll and stored with a real Redis client
/// (redigo) in a real redis-server. Each payload's downstream write is its
/// SET command, whose length the workload knows from the RESP encoding;
/// every payload carries the route `PUT /kv`.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn redis_sets_are_each_payloads_downstream_write() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    let server = "/usr/bin/redis-server";
    if !common::present_or_skip(
        std::path::Path::new(server).exists(),
        server,
        " (Debian package redis-server)",
    ) {
        return;
    }
    let port = common::free_port();
    let redis = common::Killed(
        Command::new(server)
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let addr = format!("127.0.0.1:{port}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    while std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "redis-server never listened"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    let tmp = common::TempDir::new("redis");
    let out = tmp.join("report.json");
    for tc in [
        common::toolchains()[0].clone(),
        common::newest("workload-pie-stripped"),
    ] {
        let bin = if tc.is_dir() {
            tc.join("workload-stripped")
        } else {
            tc
        };
        let truth = trace_mode(
            &bin,
            &out,
            &[
                "-goroutines",
                "1",
                "-rounds",
                "1",
                "-streams=false",
                "-redis",
                &addr,
            ],
        );
        let what = format!("redis {}", bin.display());
        let report = read_json(&out);
        // Every count, the routes and the downstream writes (common).
        assert_matches_truth(&report, &truth, &what);
        let kv = report["routes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["route"] == "PUT /kv")
            .unwrap_or_else(|| panic!("{what}: no PUT /kv route"));
        let d = &kv["downstream"];
        let want = truth["downstream"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["route"] == "PUT /kv")
            .unwrap();
        assert_eq!(d["writes"], 20, "{what}: {d}");
        assert_eq!(d["bytes"], want["bytes"], "{what}: the SETs' RESP lengths");
        assert_eq!(d["kinds"]["tcp"], 20, "{what}: {d}");
        assert!(d["write_latency_ns"]["p50"].as_u64().unwrap() > 0, "{what}");
    }
    drop(redis);
}
