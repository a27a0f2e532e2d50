//! Shared helpers for the integration tests: the Go test-program matrix.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use serde_json::Value;

/// The directory of built test programs: `$GOZT_TESTBINS`, or what
/// `scripts/build-testdata.sh` builds (cached by content hash).
pub fn testbins() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        if let Some(dir) = std::env::var_os("GOZT_TESTBINS") {
            return PathBuf::from(dir);
        }
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/build-testdata.sh");
        let out = Command::new("bash")
            .arg(&script)
            .output()
            .expect("run scripts/build-testdata.sh");
        assert!(
            out.status.success(),
            "scripts/build-testdata.sh failed (run scripts/toolchains.sh first):\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let stdout = String::from_utf8(out.stdout).unwrap();
        PathBuf::from(stdout.lines().last().expect("script prints the directory"))
    })
}

/// Every toolchain directory (`go1.19.8`, ...), sorted.
pub fn toolchains() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(testbins())
        .expect("read the testbins directory")
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    assert!(
        dirs.len() >= 6,
        "expected six toolchains in {}",
        testbins().display()
    );
    dirs
}

/// Test program `name` (`workload-stripped`, ...) built by the newest
/// toolchain.
pub fn newest(name: &str) -> PathBuf {
    toolchains().last().unwrap().join(name)
}

/// Runs the gozt binary with `args`; returns (exit code, stdout, stderr).
pub fn gozt(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(args)
        .output()
        .expect("run gozt");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Fails unless BPF tests can run here (root and BTF). The tests that need
/// them are `#[ignore]`d, so a plain `cargo test` says so; `cargo test --
/// --include-ignored` (what scripts/test.sh runs) runs them, and there a
/// missing privilege is a failure, never a skip.
pub fn require_privileged() {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let btf = Path::new("/sys/kernel/btf/vmlinux").exists();
    assert!(
        root && btf,
        "BPF tests need root and BTF (root: {root}, BTF: {btf})"
    );
}

/// The processes running this build's gozt (their /proc/PID/exe is it):
/// another worktree's gozt, or another BPF tool, is not one of them.
pub fn gozt_processes() -> Vec<u32> {
    let me = Path::new(env!("CARGO_BIN_EXE_gozt"));
    let me = me.canonicalize().unwrap_or_else(|_| me.to_path_buf());
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
                .filter(|pid| std::fs::read_link(format!("/proc/{pid}/exe")).is_ok_and(|e| e == me))
                .collect()
        })
        .unwrap_or_default()
}

/// The BPF objects process `pid` holds, from its descriptors
/// (/proc/PID/fdinfo): the programs (held directly or through a link) and
/// the links, by id.
pub fn bpf_held_by(pid: u32) -> (Vec<u32>, Vec<u32>) {
    let (mut progs, mut links) = (Vec::new(), Vec::new());
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return (progs, links);
    };
    for fd in fds.filter_map(Result::ok) {
        let Ok(target) = std::fs::read_link(fd.path()) else {
            continue;
        };
        let target = target.to_string_lossy();
        if target != "anon_inode:bpf-prog" && target != "anon_inode:bpf_link" {
            continue;
        }
        let info_path = format!("/proc/{pid}/fdinfo/{}", fd.file_name().to_string_lossy());
        let info = std::fs::read_to_string(info_path).unwrap_or_default();
        let id = |key: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(key)?.trim().parse::<u32>().ok())
        };
        progs.extend(id("prog_id:"));
        links.extend(id("link_id:"));
    }
    progs.sort_unstable();
    progs.dedup();
    links.sort_unstable();
    (progs, links)
}

/// The links gozt holds beside its uprobes' (one per binary): the write
/// tracepoints' (downstream writes, on by default).
pub const WRITE_LINKS: usize = 2;

/// The ids of the BPF programs this build's gozt processes hold now.
pub fn gozt_bpf_programs() -> Vec<u32> {
    let mut ids: Vec<u32> = gozt_processes()
        .into_iter()
        .flat_map(|pid| bpf_held_by(pid).0)
        .collect();
    ids.sort_unstable();
    ids.dedup();
    ids
}

/// Waits until this build's gozt has loaded its programs and attached
/// them (it holds a link), plus a margin for the attachments to finish.
pub fn wait_for_attach() {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let held: Vec<(Vec<u32>, Vec<u32>)> =
            gozt_processes().into_iter().map(bpf_held_by).collect();
        if held
            .iter()
            .any(|(progs, links)| progs.len() >= 2 && !links.is_empty())
        {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "gozt did not load and attach its BPF programs"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    std::thread::sleep(std::time::Duration::from_millis(300));
}

/// Starts the workload with `-wait` and returns once its SIGUSR1 handler is
/// in place (it says so on stderr).
pub fn waiting_workload(bin: &Path, args: &[&str]) -> std::process::Child {
    let mut child = Command::new(bin)
        .arg("-wait")
        .args(args)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("start the workload");
    let line = first_line(child.stderr.as_mut().unwrap());
    assert!(line.contains("waiting"), "{line}");
    child
}

/// The first line `from` gives (with its newline), read byte by byte so
/// that nothing after it is taken from the pipe.
pub fn first_line(from: &mut impl std::io::Read) -> String {
    let mut line = Vec::new();
    let mut byte = [0u8];
    while from.read(&mut byte).unwrap() == 1 {
        line.push(byte[0]);
        if byte[0] == b'\n' {
            break;
        }
    }
    String::from_utf8(line).unwrap()
}

/// Sends `sig` to `pid`.
pub fn signal(pid: u32, sig: i32) {
    // SAFETY: kill has no memory-safety preconditions.
    unsafe { libc::kill(pid as i32, sig) };
}

/// Waits (up to 5 s: the kernel frees programs after an RCU grace period)
/// until this build's gozt has left no BPF program behind; returns those
/// still loaded. Left behind: a program of gozt's (by name) that a process
/// of this build's gozt still holds, or that no process holds at all
/// (pinned, or kept by a link nobody holds). One that another process
/// holds is that process's: another gozt's, or another tool's.
pub fn gozt_bpf_programs_after_exit() -> Vec<u32> {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left = programs_left_behind();
        if left.is_empty() || std::time::Instant::now() > deadline {
            return left;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

fn programs_left_behind() -> Vec<u32> {
    let out = Command::new("bpftool")
        .args(["prog", "show"])
        .output()
        .expect("run bpftool");
    let named: Vec<u32> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("name gozt_site") || l.contains("name gozt_floor"))
        .filter_map(|l| l.split(':').next()?.trim().parse().ok())
        .collect();
    if named.is_empty() {
        return named;
    }
    let ours = gozt_processes();
    let others: Vec<u32> = std::fs::read_dir("/proc")
        .unwrap()
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| !ours.contains(pid))
        .flat_map(|pid| bpf_held_by(pid).0)
        .collect();
    named
        .into_iter()
        .filter(|id| !others.contains(id))
        .collect()
}

/// The virtual addresses of every probe site gozt attaches by default (entry
/// traps, RETs, sinks; resets only with --resets) in a plan
/// of `gozt probes --json` (for a process, or a non-PIE binary).
pub fn probe_sites(plan: &Value) -> Vec<u64> {
    let mut sites = Vec::new();
    // Resets are traced with --resets only.
    for p in plan["probes"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["role"] != "reset")
    {
        let addr = p["address"].as_u64().unwrap();
        let base = addr - p["file_offset"].as_u64().unwrap();
        sites.push(base + p["entry_trap_offset"].as_u64().unwrap());
        for r in p["ret_offsets"].as_array().unwrap() {
            sites.push(base + r.as_u64().unwrap());
        }
    }
    // The sinks of streams' output are attached too.
    for k in plan["sinks"].as_array().unwrap() {
        sites.push(k["trap_address"].as_u64().unwrap());
    }
    // And the request site's entry (its RETs on arm64 only).
    let q = &plan["request"];
    if !q.is_null() {
        let base = q["address"].as_u64().unwrap() - q["file_offset"].as_u64().unwrap();
        sites.push(base + q["entry_site"].as_u64().unwrap());
        if plan["arch"] == "arm64" {
            for r in q["ret_offsets"].as_array().unwrap() {
                sites.push(base + r.as_u64().unwrap());
            }
        }
    }
    assert!(sites.len() > 40, "{} sites", sites.len());
    sites
}

/// A checked-in schema of docs/, compiled once per name.
fn validator(name: &'static str) -> &'static jsonschema::Validator {
    static SCHEMAS: OnceLock<std::sync::Mutex<Vec<(&str, &'static jsonschema::Validator)>>> =
        OnceLock::new();
    let mut all = SCHEMAS.get_or_init(Default::default).lock().unwrap();
    if let Some((_, v)) = all.iter().find(|(n, _)| *n == name) {
        return v;
    }
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs")
        .join(name);
    let schema = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let v: &'static jsonschema::Validator = Box::leak(Box::new(
        jsonschema::validator_for(&schema).expect("a valid JSON schema"),
    ));
    all.push((name, v));
    v
}

fn assert_valid(schema: &'static str, value: &serde_json::Value, what: &str) {
    let errors: Vec<String> = validator(schema)
        .iter_errors(value)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{what}: report breaks the schema {schema}: {errors:#?}"
    );
}

/// Checks a JSON report against the checked-in schema, docs/report.schema.json.
pub fn assert_schema_valid(report: &serde_json::Value, what: &str) {
    assert_valid("report.schema.json", report, what);
}

/// Checks one `--interval --json` line against docs/interval.schema.json.
pub fn assert_interval_schema_valid(line: &serde_json::Value, what: &str) {
    assert_valid("interval.schema.json", line, what);
}

/// Compares `got` with tests/golden/`name`, or rewrites the file when
/// GOZT_BLESS is set.
pub fn golden(name: &str, got: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name);
    if std::env::var_os("GOZT_BLESS").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, got).unwrap();
        return;
    }
    let want = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (GOZT_BLESS=1 writes it)", path.display()));
    assert!(
        want == got,
        "{name} differs from its golden file (GOZT_BLESS=1 rewrites it):\n{got}"
    );
}

/// Names no caller.
pub struct NoNames;

impl gozt::stats::Symbolizer for NoNames {
    fn function_at(&mut self, _: u32, _: u64) -> Option<String> {
        None
    }
}

/// Return address `0x1000 * i` is in caller `main.caller{i}`.
pub struct Callers;

impl gozt::stats::Symbolizer for Callers {
    fn function_at(&mut self, _: u32, addr: u64) -> Option<String> {
        Some(format!("main.caller{}", addr / 0x1000))
    }
}

/// The exposition of an exporter of the whole catalog by `rules`, its one
/// target pid 7 (`/srv/app`), fed `events` as a session feeds it (each call
/// judged once).
pub fn exported(events: &[gozt::event::CallEvent], rules: gozt::stats::Rules) -> String {
    let funcs = catalog_funcs(usize::MAX);
    let mut judge = gozt::stats::Aggregator::new(funcs.clone(), rules);
    let mut metrics = gozt::exporter::Metrics::new(funcs, rules);
    metrics.add_target(&gozt::stats::TargetInfo {
        pid: 7,
        binary: "/srv/app".into(),
        go_version: "go1.23.9".into(),
        ..Default::default()
    });
    for ev in events {
        let p = judge.judge(ev);
        metrics.count(ev, p.as_ref(), &mut Callers);
    }
    metrics.encode()
}

/// The report of `events` replayed into an aggregator of the whole catalog
/// by `rules`, callers named by [`Callers`].
pub fn replayed(
    events: &[gozt::event::CallEvent],
    rules: gozt::stats::Rules,
) -> gozt::stats::Report {
    let mut agg = gozt::stats::Aggregator::new(catalog_funcs(usize::MAX), rules);
    for ev in events {
        agg.add(ev, &mut Callers);
    }
    agg.report(Vec::new(), 1.0, gozt::event::Lost::default())
}

/// The value of `series` (`metric{labels}`, labels sorted by name) in
/// exposition `text`.
pub fn series_value(text: &str, series: &str) -> f64 {
    let prefix = format!("{series} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .unwrap_or_else(|| panic!("no {series} in\n{text}"))
        .parse()
        .unwrap()
}

/// The first `n` catalog functions as a session's function table.
pub fn catalog_funcs(n: usize) -> Vec<gozt::stats::FuncMeta> {
    gozt::probe::catalog::entries()
        .into_iter()
        .take(n)
        .map(|e| gozt::stats::FuncMeta {
            function: e.symbol(),
            entry: e,
            target: 0,
            sinks: false,
        })
        .collect()
}

/// The callers the workload's code has: every event's first frame outside
/// the libraries must be one of them.
const CALLERS: &[&str] = &[
    "main.zstdRound",
    "main.blockRound",
    "main.cgoZstdRound",
    "main.streamRound",
    "main.roundTrip",
    "main.readAll",
    "main.writeAll",
    "main.(*httpServer).ServeHTTP",
    "main.deep",
    "main.nestedGzip",
    "main.badChecksum",
    "main.xzRound",
    "main.pgzipRound",
    "main.(*countingWriter).Write",
    "main.idleAndWake.func1",
    "main.idleAndWake.func1.1",
    "main.downstreamPayload",
    "main.(*kvServer).ServeHTTP",
    "main.gzipPerPayload",
    "main.gzipPooled",
    "main.gzipReadPerPayload",
    "main.gzipReadPooled",
    "main.zstdPerPayload",
];

/// Asserts that `report` holds exactly the workload's `truth`; returns the
/// report's count of repeated entries (prologues run again after morestack).
/// The workload's arguments for `goroutines` goroutines of `rounds` rounds
/// of one-shot calls only (no streams, no HTTP server, no downstream
/// writes, no lifecycle scenario).
pub fn one_shot_args(goroutines: u32, rounds: u32) -> Vec<String> {
    [
        "-goroutines".to_string(),
        goroutines.to_string(),
        "-rounds".to_string(),
        rounds.to_string(),
        "-streams=false".to_string(),
        "-http=false".to_string(),
        "-downstream=false".to_string(),
        "-lifecycle=false".to_string(),
    ]
    .to_vec()
}

/// A script of scripts/ (the VM tests run them).
pub fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("scripts")
        .join(name)
}

/// What a VM run left in `dir` as file `name`, trimmed.
pub fn vm_output(dir: &Path, name: &str) -> String {
    std::fs::read_to_string(dir.join(name))
        .unwrap_or_else(|e| panic!("{}: {e}", dir.join(name).display()))
        .trim()
        .to_owned()
}

/// The JSON a VM run left in `dir` as file `name`.
pub fn vm_json(dir: &Path, name: &str, what: &str) -> Value {
    let text = std::fs::read_to_string(dir.join(name)).unwrap_or_default();
    serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{what}: {name} is not JSON ({e}): {text:.300}"))
}

/// Each goroutine of `truth` equals the report's of its process (with
/// `start_ticks`, of that one of the processes that had its pid): its own
/// rows (inner calls are not a goroutine's).
pub fn assert_process_truth(report: &Value, truth: &Value, start_ticks: Option<u64>) {
    let pid = &truth["pid"];
    for tg in truth["goroutines"].as_array().unwrap() {
        let rg = report["goroutines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| {
                &g["pid"] == pid
                    && g["goid"] == tg["goid"]
                    && start_ticks.is_none_or(|s| g["start_ticks"] == s)
            })
            .unwrap_or_else(|| panic!("pid {pid} goroutine {} missing", tg["goid"]));
        let own: Vec<&Value> = tg["functions"]
            .as_object()
            .unwrap()
            .values()
            .filter(|c| truth_row(c).1.is_none())
            .collect();
        assert_eq!(rg["functions"].as_array().unwrap().len(), own.len());
        for counts in own {
            let name = counts["function"].as_str().unwrap();
            let rf = rg["functions"]
                .as_array()
                .unwrap()
                .iter()
                .find(|f| f["function"] == name)
                .unwrap_or_else(|| panic!("pid {pid}: {name} missing"));
            for key in TRUTH_KEYS {
                assert_eq!(rf[key], counts[key], "pid {pid} {name} {key}");
            }
        }
    }
}

/// Every count of a goroutine's own rows that differs from the truth:
/// `goroutine G FUNCTION KEY: report R, truth T` (for a failure's whole
/// picture; the assertions stop at the first).
pub fn truth_differences(report: &Value, truth: &Value) -> Vec<String> {
    let mut out = Vec::new();
    let pid = &truth["pid"];
    for tg in truth["goroutines"].as_array().unwrap() {
        let rg = report["goroutines"]
            .as_array()
            .unwrap()
            .iter()
            .find(|g| &g["pid"] == pid && g["goid"] == tg["goid"]);
        let rows = tg["functions"].as_object().unwrap();
        for counts in rows.values().filter(|c| truth_row(c).1.is_none()) {
            let name = counts["function"].as_str().unwrap();
            let rf = rg.and_then(|g| {
                g["functions"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .find(|f| f["function"] == name)
            });
            for key in TRUTH_KEYS {
                let got = rf.map_or(&Value::Null, |f| &f[key]);
                if *got != counts[key] {
                    out.push(format!(
                        "goroutine {} {name} {key}: report {got}, truth {}",
                        tg["goid"], counts[key]
                    ));
                }
            }
        }
    }
    out
}

/// What the workload's truth counts per row, in the report's names.
pub const TRUTH_KEYS: [&str; 12] = [
    "calls",
    "call_errors",
    "bytes_in",
    "bytes_out",
    "payload_original_bytes",
    "payload_compressed_bytes",
    "payloads",
    "eligible",
    "errors",
    "incompressible",
    "not_judged",
    "failures",
];

/// A truth row's (function, outer function of inner calls).
pub fn truth_row(counts: &Value) -> (String, Option<String>) {
    (
        counts["function"].as_str().unwrap().to_string(),
        counts["outer"].as_str().map(str::to_string),
    )
}

/// Every count of `report` equals the workload's `truth`, and every caller
/// is named; returns the report's repeated entries.
pub fn assert_matches_truth(report: &Value, truth: &Value, what: &str) -> u64 {
    let repeated = assert_counts_match_truth(report, truth, what);
    let unnamed = unnamed_callers(report);
    assert!(unnamed.is_empty(), "{what}: callers {unnamed:?}");
    repeated
}

/// The report's calls whose caller is not one of the workload's functions:
/// (caller, function, calls).
pub fn unnamed_callers(report: &Value) -> Vec<(String, String, u64)> {
    // Callers are named from the binary (pclntab when stripped).
    report["callers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| !CALLERS.contains(&c["caller"].as_str().unwrap()))
        .map(|c| {
            (
                c["caller"].as_str().unwrap().to_string(),
                c["function"].as_str().unwrap().to_string(),
                c["calls"].as_u64().unwrap(),
            )
        })
        .collect()
}

/// Every count of `report` equals the workload's `truth`: per goroutine,
/// per function and in total, and the calls that never returned; returns
/// the report's repeated entries.
pub fn assert_counts_match_truth(report: &Value, truth: &Value, what: &str) -> u64 {
    assert_schema_valid(report, what);
    let pid = truth["pid"].as_u64().unwrap();
    let truth_gs = truth["goroutines"].as_array().unwrap();
    let report_gs: Vec<&Value> = report["goroutines"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|g| g["pid"] == pid)
        .collect();
    // A report lists at most gozt's cap of goroutines one by one: the least
    // recently active are dropped (and counted), and one that calls again
    // is listed again with its calls since; every other count holds them
    // all.
    let dropped = report["goroutines_dropped"].as_u64().unwrap() as usize;
    if truth_gs.len() <= gozt::stats::MAX_GOROUTINES {
        assert_eq!(dropped, 0, "{what}: goroutines dropped below the cap");
        assert_eq!(report_gs.len(), truth_gs.len(), "{what}: goroutines");
    } else {
        assert!(
            report_gs.len() <= gozt::stats::MAX_GOROUTINES,
            "{what}: {} goroutines listed",
            report_gs.len()
        );
        assert!(
            report_gs.len() + dropped >= truth_gs.len(),
            "{what}: {} listed + {dropped} dropped of {}",
            report_gs.len(),
            truth_gs.len()
        );
    }
    // Per row (function, outer), over every goroutine.
    let mut per_row: BTreeMap<(String, Option<String>), [u64; TRUTH_KEYS.len()]> = BTreeMap::new();
    let mut totals = [0u64; TRUTH_KEYS.len()];
    for tg in truth_gs {
        let rows = tg["functions"].as_object().unwrap();
        for counts in rows.values() {
            let row = truth_row(counts);
            let sums = per_row.entry(row.clone()).or_default();
            for (i, key) in TRUTH_KEYS.iter().enumerate() {
                sums[i] += counts[*key].as_u64().unwrap();
                if row.1.is_none() {
                    totals[i] += counts[*key].as_u64().unwrap();
                }
            }
        }
        let Some(rg) = report_gs.iter().find(|g| g["goid"] == tg["goid"]) else {
            assert!(dropped > 0, "{what}: goroutine {} missing", tg["goid"]);
            continue;
        };
        // A goroutine's rows are its own calls: inner ones are not listed.
        let tfs: Vec<&Value> = rows.values().filter(|c| truth_row(c).1.is_none()).collect();
        let rfs = rg["functions"].as_array().unwrap();
        let names: Vec<&str> = rfs
            .iter()
            .map(|f| f["function"].as_str().unwrap())
            .collect();
        assert!(
            rfs.len() == tfs.len() || (dropped > 0 && rfs.len() < tfs.len()),
            "{what}: goroutine {} functions: {names:?}",
            tg["goid"]
        );
        for counts in tfs {
            let name = counts["function"].as_str().unwrap();
            let Some(rf) = rfs.iter().find(|f| f["function"] == name) else {
                assert!(
                    dropped > 0,
                    "{what}: {name} missing in goroutine {}",
                    tg["goid"]
                );
                continue;
            };
            for key in TRUTH_KEYS {
                if dropped == 0 {
                    assert_eq!(
                        rf[key], counts[key],
                        "{what}: goroutine {} {name} {key}",
                        tg["goid"]
                    );
                } else {
                    // Listed again after a drop: its calls since.
                    assert!(
                        rf[key].as_u64() <= counts[key].as_u64(),
                        "{what}: goroutine {} {name} {key}: {} of {}",
                        tg["goid"],
                        rf[key],
                        counts[key]
                    );
                }
            }
        }
    }
    let report_fs = report["functions"].as_array().unwrap();
    for ((name, outer), sums) in &per_row {
        let rf = report_fs
            .iter()
            .find(|f| f["function"] == name.as_str() && f["outer"].as_str() == outer.as_deref())
            .unwrap_or_else(|| panic!("{what}: function {name} (in {outer:?}) missing"));
        assert_eq!(rf["inner"], outer.is_some(), "{what}: {name} inner");
        for (i, key) in TRUTH_KEYS.iter().enumerate() {
            assert_eq!(rf[*key], sums[i], "{what}: {name} (in {outer:?}) {key}");
        }
    }
    assert_eq!(
        report_fs.len(),
        per_row.len(),
        "{what}: rows beyond the truth's"
    );
    for (i, key) in TRUTH_KEYS.iter().enumerate() {
        if key.contains("bytes") {
            continue;
        }
        assert_eq!(
            report["totals"][*key].as_u64().unwrap(),
            totals[i],
            "{what}: total {key}"
        );
    }
    assert_eq!(report["open_streams"], 0, "{what}: streams left open");
    if report["targets"].as_array().map_or(0, Vec::len) == 1 {
        assert_routes_match_truth(report, truth, what);
        assert_downstream_matches_truth(report, truth, what);
        assert_encoders_match_truth(report, truth, what);
    }
    let lost = &report["lost"];
    for key in ["ringbuf_full", "inflight_full", "unmatched_returns"] {
        assert_eq!(lost[key], 0, "{what}: lost {key}");
    }
    // Calls that never return are found when their frame is reused, age
    // out, or are still in flight at the end: together, exactly the truth's.
    let never_returned = ["abandoned", "aged_out", "in_flight_at_exit"]
        .iter()
        .map(|k| lost[*k].as_u64().unwrap())
        .sum::<u64>();
    assert_eq!(
        never_returned,
        truth["abandoned"].as_u64().unwrap_or(0),
        "{what}: calls that never returned ({lost})"
    );
    lost["repeated_entries"].as_u64().unwrap()
}

/// The report's routes (of a report of one process) are the workload's:
/// each route its HTTP scenario served, with its payloads, eligible,
/// failures and bytes exactly, and every other payload under `no route`.
/// Without the HTTP scenario, no routes.
pub fn assert_routes_match_truth(report: &Value, truth: &Value, what: &str) {
    let routes = report["routes"].as_array().unwrap();
    let Some(want) = truth["routes"].as_array() else {
        assert!(routes.is_empty(), "{what}: routes without requests");
        return;
    };
    let mut served = 0;
    for t in want {
        let name = t["route"].as_str().unwrap();
        let r = routes
            .iter()
            .find(|r| r["route"] == name)
            .unwrap_or_else(|| panic!("{what}: route {name} missing"));
        for (key, truth_key) in [
            ("payloads", "payloads"),
            ("eligible", "eligible"),
            ("failures", "failures"),
        ] {
            assert_eq!(
                r["counters"][key], t[truth_key],
                "{what}: route {name} {key}"
            );
        }
        for key in ["original_bytes", "compressed_bytes"] {
            assert_eq!(
                r[key],
                t[format!("payload_{key}")],
                "{what}: route {name} {key}"
            );
        }
        let functions: Vec<&Value> = r["functions"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| &f["function"])
            .collect();
        let want_functions: Vec<&Value> = t["functions"].as_array().unwrap().iter().collect();
        assert_eq!(functions, want_functions, "{what}: route {name} functions");
        served += t["payloads"].as_u64().unwrap();
    }
    let others = report["totals"]["payloads"].as_u64().unwrap() - served;
    let no_route = routes.iter().find(|r| r["route"] == "no route");
    assert_eq!(
        no_route.map_or(0, |r| r["counters"]["payloads"].as_u64().unwrap()),
        others,
        "{what}: payloads made serving no request"
    );
    assert_eq!(
        routes.len(),
        want.len() + usize::from(others > 0),
        "{what}: routes beyond the truth's: {:?}",
        routes.iter().map(|r| &r["route"]).collect::<Vec<_>>()
    );
}

/// The report's downstream writes (of a report of one process, with them
/// traced) are the workload's: for the downstream scenario's caller and
/// the Redis route, the payloads, the writes, their bytes and kinds,
/// exactly; elsewhere, at most one write per payload.
pub fn assert_downstream_matches_truth(report: &Value, truth: &Value, what: &str) {
    let rows = report["callers"]
        .as_array()
        .unwrap()
        .iter()
        .chain(report["routes"].as_array().unwrap());
    let mut traced = false;
    for row in rows {
        let Some(d) = row.get("downstream") else {
            continue;
        };
        traced = true;
        assert!(
            d["writes"].as_u64() <= d["payloads"].as_u64(),
            "{what}: more writes than payloads: {row}"
        );
    }
    let Some(want) = truth["downstream"].as_array() else {
        return;
    };
    if !traced {
        return;
    }
    for t in want {
        let row = match t["caller"].as_str() {
            Some(caller) => report["callers"]
                .as_array()
                .unwrap()
                .iter()
                .find(|c| c["caller"] == caller && c["function"] == t["function"]),
            None => report["routes"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["route"] == t["route"]),
        };
        let row = row.unwrap_or_else(|| panic!("{what}: no row for {t}"));
        let d = &row["downstream"];
        for key in ["payloads", "writes", "bytes"] {
            assert_eq!(d[key], t[key], "{what}: downstream {key} of {t}: {d}");
        }
        assert_eq!(d["kinds"], t["kinds"], "{what}: downstream kinds of {t}");
        assert_eq!(d["errors"], 0, "{what}: {d}");
    }
}

/// The constructors and resets (`role` new or reset) every workload
/// build holds, whatever the compiler inlined: the lifecycle scenario's
/// and its streams' (from Go 1.21 `gzip.NewReader` and `flate.NewWriter`
/// are inlined, and their callers call what they wrap).
pub const WORKLOAD_LIFECYCLE: &[&str] = &[
    "compress/gzip.NewWriterLevel",
    "compress/gzip.(*Writer).init",
    "compress/gzip.(*Reader).Reset",
    "compress/flate.(*compressor).init",
    "compress/flate.NewReader",
    "compress/zlib.NewWriterLevelDict",
    "compress/zlib.NewReaderDict",
    "github.com/klauspost/compress/zstd.NewWriter",
    "github.com/klauspost/compress/zstd.(*Encoder).initialize",
    "github.com/klauspost/compress/zstd.(*Encoder).Reset",
    "github.com/klauspost/compress/zstd.NewReader",
    "github.com/klauspost/compress/zstd.(*Decoder).Reset",
    "github.com/klauspost/compress/gzip.NewWriterLevel",
    "github.com/klauspost/compress/flate.(*compressor).init",
    "github.com/klauspost/compress/s2.NewWriter",
    "github.com/klauspost/compress/s2.NewReader",
];

/// Of `functions` (probes' names and whether each is a constructor or a
/// reset), how many are payloads' functions; and that every one of
/// WORKLOAD_LIFECYCLE is there.
pub fn payload_functions(functions: &[(String, bool)], what: &str) -> usize {
    for want in WORKLOAD_LIFECYCLE {
        assert!(
            functions
                .iter()
                .any(|(f, lifecycle)| *lifecycle && f == want),
            "{what}: no probe of {want}"
        );
    }
    functions.iter().filter(|(_, lifecycle)| !lifecycle).count()
}

/// The report's encoders (of a report of one process, with constructors
/// traced) are the workload's lifecycle scenario's: each of its callers'
/// builds, resets, lazy builds and payloads by library, exactly. A
/// library whose calls were not traced (--codec, --func) is passed over.
pub fn assert_encoders_match_truth(report: &Value, truth: &Value, what: &str) {
    let encoders = report["encoders"].as_array().unwrap();
    let Some(want) = truth["lifecycle"].as_array() else {
        return;
    };
    if encoders.is_empty() {
        return;
    }
    for t in want {
        let prefix = format!("{}.", t["library"].as_str().unwrap());
        let traced =
            report["functions"].as_array().unwrap().iter().any(|f| {
                f["function"].as_str().unwrap().starts_with(&prefix) && f["op"] == t["op"]
            });
        if !traced {
            continue;
        }
        let row = encoders
            .iter()
            .find(|e| {
                e["caller"] == t["caller"] && e["library"] == t["library"] && e["op"] == t["op"]
            })
            .unwrap_or_else(|| panic!("{what}: no encoders row for {t}"));
        for key in ["builds", "lazy_builds", "payloads"] {
            assert_eq!(row[key], t[key], "{what}: encoders {key} of {t}: {row}");
        }
        // Traced with --resets only.
        if !row["resets"].is_null() {
            assert_eq!(
                row["resets"], t["resets"],
                "{what}: encoders resets of {t}: {row}"
            );
        }
        assert_eq!(row["errors"], 0, "{what}: {row}");
    }
}

/// A fresh directory under the temp dir, `gozt-TAG-PID-NANOS`, that
/// everyone can read (a test may run gozt as nobody), removed when dropped:
/// when its test fails (the panic unwinds through it) as when it passes.
/// `$GOZT_TEST_KEEP` keeps it (to look at what a test left, or to time an
/// older gozt on the inputs the tests built).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> TempDir {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!(
            "gozt-{tag}-{}-{}",
            std::process::id(),
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
        TempDir(dir)
    }
    pub fn join(&self, name: impl AsRef<Path>) -> PathBuf {
        self.0.join(name)
    }
    /// Writes `data` to `name` in the directory and returns its path.
    pub fn write(&self, name: impl AsRef<Path>, data: &[u8]) -> PathBuf {
        let path = self.join(name);
        std::fs::write(&path, data).unwrap();
        path
    }
}

impl std::ops::Deref for TempDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for TempDir {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for TempDir {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("GOZT_TEST_KEEP").is_some() {
            eprintln!("kept {}", self.0.display());
            return;
        }
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A child process killed and reaped when dropped (a test that fails
/// leaves no server behind).
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Whether a tool or program a test needs is here (`present`); with CI=true
/// its absence fails the run (the message ends with `hint`: where it comes
/// from), else the test says it skips.
pub fn present_or_skip(present: bool, what: &str, hint: &str) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI=true but {what} is missing{hint}"
    );
    eprintln!("skipping: no {what}");
    false
}

/// None of these losses: the ring full, the in-flight map full, RETs without
/// their entry, calls found abandoned (for runs where no call is left
/// without its RET).
pub fn assert_nothing_lost(report: &Value) {
    for key in [
        "ringbuf_full",
        "inflight_full",
        "unmatched_returns",
        "abandoned",
    ] {
        assert_eq!(report["lost"][key], 0, "lost {key}");
    }
}

/// A TCP port free on loopback now.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts Debian's prometheus (`bin`) with `config`, its database under
/// `dir`, listening on `addr`.
pub fn start_prometheus(bin: &str, config: &Path, dir: &Path, addr: &str) -> Killed {
    Killed(
        Command::new(bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.join("data").display()
            ))
            .arg(format!("--web.listen-address={addr}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("start prometheus"),
    )
}

/// Ends a gozt run with SIGINT (Ctrl-C) after a short settle; its exit
/// status and what it said on stderr (piped).
pub fn interrupt(gozt: &mut std::process::Child) -> (std::process::ExitStatus, String) {
    use std::io::Read;
    std::thread::sleep(std::time::Duration::from_millis(300));
    signal(gozt.id(), libc::SIGINT);
    let status = gozt.wait().unwrap();
    let mut err = String::new();
    if let Some(mut e) = gozt.stderr.take() {
        e.read_to_string(&mut err).unwrap();
    }
    (status, err)
}

/// GET `path` from `addr`; the body.
pub fn http_get(addr: &str, path: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut resp = String::new();
    s.read_to_string(&mut resp).ok()?;
    let (head, body) = resp.split_once("\r\n\r\n")?;
    head.starts_with("HTTP/1.").then(|| body.to_string())
}

/// `q` as a URL query value.
pub fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The value of an instant query that returns one sample.
pub fn query(prom: &str, q: &str) -> Option<f64> {
    let body = http_get(prom, &format!("/api/v1/query?query={}", encode_query(q)))?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"][0]["value"][1].as_str()?.parse().ok()
}

/// Sums of the truth's counters over goroutines and functions.
pub fn truth_sums(truth: &Value) -> (u64, u64, u64) {
    let (mut calls, mut failures, mut eligible) = (0, 0, 0);
    for g in truth["goroutines"].as_array().unwrap() {
        for c in g["functions"].as_object().unwrap().values() {
            if c["outer"].is_string() {
                // Inner calls are not exported.
                continue;
            }
            calls += c["calls"].as_u64().unwrap();
            failures += c["failures"].as_u64().unwrap();
            eligible += c["eligible"].as_u64().unwrap();
        }
    }
    (calls, failures, eligible)
}

/// Waits up to 30 s for `ok`.
pub fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}
