//! Reports rendered from replayed events, without root: the JSON report
//! follows its checked-in schema (docs/report.schema.json), which rejects a
//! report that lost or gained a field, so the real-run checks in the BPF
//! tests can fail; the text and JSON renderings equal their golden files
//! (tests/golden/; `GOZT_BLESS=1 cargo test --test reports` rewrites them),
//! and the text fits 100 columns, long names included. `gozt report`
//! renders every golden JSON back into the text of the report it was made
//! from, and says when a file is not a report; `--interval` lines follow
//! their schema (docs/interval.schema.json) and fit 100 columns.

mod common;

use gozt::event::{CallEvent, Lost};
use gozt::render::report::{text, TextOptions, WIDTH};
use gozt::stats::{Aggregator, FuncMeta, Symbolizer, TargetInfo};

struct Named;

impl Symbolizer for Named {
    fn function_at(&mut self, _pid: u32, addr: u64) -> Option<String> {
        Some(format!("main.caller{}", addr % 3))
    }
}

fn replayed() -> gozt::stats::Report {
    let funcs = common::catalog_funcs(6);
    let n = funcs.len() as u32;
    let mut agg = Aggregator::new(funcs, gozt::stats::Rules::DEFAULT);
    // gozt's traps inside some calls, at 40 ns each: taken out of those
    // measured with them (their times as counted stay 500 + 37i ns), and
    // more than the measured time allows in others (left as measured).
    let mut corrector = gozt::stats::correct::Corrector::new();
    const TRAP_NS: u64 = 40;
    for i in 0..200u64 {
        let traps = match i % 7 {
            1 | 2 => (i % 7) as u32 * 5,
            3 => 1000,
            _ => 0,
        };
        let measured = if traps < 1000 {
            u64::from(traps) * TRAP_NS
        } else {
            0
        };
        let mut ev = CallEvent {
            tgid: 4242,
            proc_start_ns: 0,
            ret_ip: 0,
            goid: 1 + i % 23,
            func_id: (i % u64::from(n)) as u32,
            start_ns: i * 1000,
            duration_ns: 500 + i * 37 + measured,
            traps_inside: traps,
            bytes_in: Some(512 + i * 64),
            bytes_out: Some(300 + i * 70),
            error: i % 17 == 0,
            stack: vec![0x401000 + i, 0x402000],
            ..Default::default()
        };
        let cost = gozt::event::TrapCost {
            stepped_ns: TRAP_NS,
            emulated_ns: TRAP_NS,
        };
        corrector.correct(&mut ev, Some(cost));
        agg.add(&ev, &mut Named);
    }
    let lost = Lost {
        abandoned: 2,
        ..Lost::default()
    };
    // A process in a container: its own pid 1, its cgroup's id, the path
    // it sees, its file deleted since it started.
    let targets = vec![TargetInfo {
        pid: 4242,
        binary: "/srv/app".into(),
        go_version: "go1.27.3".into(),
        module_version: Some("v1.4.2".into()),
        build_id: Some(
            "jPaBKZVImbiIBosMp0QA/xg5lRKCZDaF_sEceJ1ho/KemFoSXMcodKB-SJD1jA/xEVVXl2daJPUxLwOVSEs"
                .into(),
        ),
        ns_pid: Some(1),
        container_id: Some(
            "4c01db0b339c7a2c9c6d5b1d8a6c4b5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c".into(),
        ),
        exe: "/usr/local/bin/app".into(),
        exe_deleted: true,
        start_time: Some("2026-11-30T11:59:58.120Z".into()),
        start_ticks: 987_654,
    }];
    let mut report = agg.report(targets, 1.5, lost);
    // Asked for 2 s; the target exited after 1.5 s.
    report.requested_duration_s = Some(2.0);
    report.ended_by = Some(gozt::stats::Ending::TargetsExited);
    report.warnings = vec![
        "pid 4242 [ns pid 1, container 4c01db0b339c]: its executable /usr/local/bin/app was \
         deleted or replaced on disk while it ran (traced through the file it runs)"
            .into(),
    ];
    // Fixed, so that the golden files do not change from run to run.
    report.meta = gozt::stats::Meta {
        gozt_version: "0.0.0-golden".into(),
        host: "golden-host".into(),
        kernel: "6.12.0-golden".into(),
        started: "2026-11-30T12:00:00.000Z".into(),
        ended: "2026-11-30T12:00:01.500Z".into(),
        command_line: ["gozt", "attach", "-p", "4242", "--duration", "2s", "--json"]
            .map(String::from)
            .to_vec(),
        attach_method: "uprobe_multi".into(),
    };
    report
}

fn replayed_report() -> serde_json::Value {
    serde_json::from_str(&gozt::render::report::json(&replayed())).unwrap()
}

const RAW: TextOptions = TextOptions { raw_ns: true };

/// Asserts every line of `text` fits the report's width.
fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= WIDTH,
            "{} > {WIDTH} columns: {line:?}",
            line.chars().count()
        );
    }
}

#[test]
fn text_and_json_match_their_golden_files() {
    let report = replayed();
    let human = text(&report, &TextOptions::default());
    common::golden("replayed.txt", &human);
    common::golden("replayed_ns.txt", &text(&report, &RAW));
    common::golden("replayed.json", &gozt::render::report::json(&report));
    assert_fits(&human);
}

#[test]
fn the_text_report_is_in_human_units_or_raw_with_ns() {
    let report = replayed();
    let human = text(&report, &TextOptions::default());
    let raw = text(&report, &RAW);
    let f = &report.functions[0];
    let p99 = f.latency_ns.p99;
    assert_eq!(p99, 7789);
    assert!(human.contains("p99 7.79us"), "{human}");
    assert!(raw.contains(&format!("p99 {p99}")), "{raw}");
    assert!(human.contains(&format!(
        "bytes in {}",
        gozt::render::format::bytes(f.bytes_in)
    )));
    assert!(raw.contains(&format!("bytes in {}", f.bytes_in)));
    // What is not observed is n/a, without a unit.
    assert!(human.contains("bytes in n/a  out "), "{human}");
    assert!(!human.contains("n/a B") && !raw.contains("n/a B"));
}

#[test]
fn the_text_report_says_when_the_duration_counted_from_and_why_it_ended_sooner() {
    let mut report = replayed();
    let lines = |r: &gozt::stats::Report| {
        let t = text(r, &TextOptions::default());
        assert_fits(&t);
        let from = t.find("--duration").map_or(t.len(), |i| i);
        t[from..]
            .lines()
            .take_while(|l| !l.starts_with("failure rate"))
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(
        lines(&report),
        [
            "--duration 2s, counted from when the probes were in place",
            "ended sooner, after 1.5s: every target exited"
        ]
    );
    report.ended_by = Some(gozt::stats::Ending::Signal);
    report.requested_duration_s = Some(5400.0);
    assert_eq!(
        lines(&report),
        [
            "--duration 1h 30m, counted from when the probes were in place",
            "ended sooner, after 1.5s: a signal (Ctrl-C, SIGTERM or SIGHUP)"
        ]
    );
    report.ended_by = Some(gozt::stats::Ending::Duration);
    report.duration_s = 5400.03;
    assert_eq!(
        lines(&report),
        ["--duration 1h 30m, counted from when the probes were in place"]
    );
    report.requested_duration_s = None;
    report.ended_by = Some(gozt::stats::Ending::Signal);
    assert!(lines(&report).is_empty(), "no --duration, no line");
}

/// A caller and a vendored function with long, realistic names.
struct LongNamed;

impl Symbolizer for LongNamed {
    fn function_at(&mut self, _pid: u32, _addr: u64) -> Option<String> {
        Some(
            "github.com/acme-corp/object-storage-gateway/internal/blobstore.(*ChunkedWriter).flushCompressedChunk"
                .into(),
        )
    }
}

#[test]
fn long_names_and_large_numbers_fit_100_columns() {
    let entry = gozt::probe::catalog::entries()
        .into_iter()
        .find(|e| e.name == "EncodeAll")
        .unwrap();
    let function = format!(
        "github.com/acme-corp/object-storage-gateway/vendor/{}",
        entry.symbol()
    );
    let funcs = vec![FuncMeta {
        function: function.clone(),
        entry,
        target: 0,
        sinks: false,
    }];
    let mut agg = Aggregator::new(funcs, gozt::stats::Rules::DEFAULT);
    for i in 0..50u64 {
        let ev = CallEvent {
            tgid: 4_194_304,
            proc_start_ns: 0,
            ret_ip: 0,
            goid: 12_022_100_000 + i,
            func_id: 0,
            start_ns: i,
            duration_ns: 9_876_543_210 + i * 1_000_003,
            bytes_in: Some(987_654_321_000),
            bytes_out: Some(987_654_321_001),
            error: i % 3 == 0,
            stack: vec![0x401000 + i],
            ..Default::default()
        };
        agg.add(&ev, &mut LongNamed);
    }
    let targets = vec![TargetInfo {
        pid: 4_194_304,
        binary: "/opt/acme-corp/object-storage-gateway/releases/2026-11-30T23-59-59Z/bin/object-storage-gateway-server".into(),
        go_version: "go1.27.3".into(),
        ..TargetInfo::default()
    }];
    let report = agg.report(targets, 86_400.0, Lost::default());
    for o in [TextOptions::default(), RAW] {
        let t = text(&report, &o);
        assert_fits(&t);
        // Goroutine ids are whole.
        assert!(t.contains(" 12022100049 "), "{t}");
        // The long caller is named short, the function too where needed.
        assert!(
            t.contains("blobstore.(*ChunkedWriter).flushCompressedChunk -> "),
            "{t}"
        );
        assert!(t.contains("zstd.(*Encoder).EncodeAll"), "{t}");
    }
}

#[test]
fn a_replayed_report_follows_the_schema() {
    let report = replayed_report();
    common::assert_schema_valid(&report, "replayed");
    assert_eq!(report["totals"]["calls"], 200);
    assert_eq!(report["lost"]["abandoned"], 2);
}

#[test]
#[should_panic(expected = "breaks the schema")]
fn the_schema_rejects_a_missing_field() {
    let mut report = replayed_report();
    report["functions"][0]
        .as_object_mut()
        .unwrap()
        .remove("latency_ns");
    common::assert_schema_valid(&report, "missing latency_ns");
}

#[test]
#[should_panic(expected = "breaks the schema")]
fn the_schema_rejects_an_undocumented_field() {
    let mut report = replayed_report();
    report["lost"]["dropped_somewhere"] = 1.into();
    common::assert_schema_valid(&report, "extra field");
}

#[test]
#[should_panic(expected = "breaks the schema")]
fn the_schema_requires_the_metadata() {
    let mut report = replayed_report();
    report["meta"].as_object_mut().unwrap().remove("host");
    common::assert_schema_valid(&report, "no host");
}

#[test]
#[should_panic(expected = "breaks the schema")]
fn the_schema_rejects_a_time_that_is_not_rfc_3339() {
    let mut report = replayed_report();
    report["meta"]["started"] = "30/11/2026 12:00".into();
    common::assert_schema_valid(&report, "bad time");
}

fn golden_path(name: &str) -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Every golden JSON report, read back, renders as the report it was made
/// from; and `gozt report` prints that text (`--ns`: raw).
#[test]
fn gozt_report_round_trips_every_golden_json() {
    let original = replayed();
    let mut jsons: Vec<_> = std::fs::read_dir(golden_path(""))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .collect();
    jsons.sort();
    assert!(!jsons.is_empty());
    for path in &jsons {
        let saved = gozt::render::saved::read(path).unwrap();
        assert_eq!(saved.meta, original.meta, "{}", path.display());
        for o in [TextOptions::default(), RAW] {
            assert_eq!(text(&saved, &o), text(&original, &o), "{}", path.display());
        }
        // Serialized again, it is the same file.
        assert_eq!(
            gozt::render::report::json(&saved),
            std::fs::read_to_string(path).unwrap()
        );
        let file = path.to_str().unwrap();
        let (code, out, err) = common::gozt(&["report", file]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, text(&original, &TextOptions::default()));
        let (code, out, err) = common::gozt(&["report", "--ns", file]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(out, text(&original, &RAW));
    }
}

fn interval_of(report: &gozt::stats::Report) -> gozt::stats::IntervalReport {
    gozt::stats::IntervalReport::new(report, "2026-11-30T12:00:10.000Z".into())
}

/// The JSON Lines of --interval --json: the final report is the last line.
#[test]
fn gozt_report_takes_the_last_line_of_json_lines() {
    let dir = common::TempDir::new("saved");
    let original = replayed();
    let line = gozt::render::interval::json(&interval_of(&original));
    let lines = dir.join("run.jsonl");
    std::fs::write(
        &lines,
        format!("{line}{line}{}", gozt::render::report::json_line(&original)),
    )
    .unwrap();
    let (code, out, err) = common::gozt(&["report", lines.to_str().unwrap()]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out, text(&original, &TextOptions::default()));
    // A run that ended before its final report.
    let cut = dir.join("cut.jsonl");
    std::fs::write(&cut, format!("{line}{line}")).unwrap();
    assert_not_a_report(&cut, "interval report");
}

fn assert_not_a_report(path: &std::path::Path, needle: &str) {
    let (code, out, err) = common::gozt(&["report", path.to_str().unwrap()]);
    assert_eq!(code, 14, "{err}");
    assert!(out.is_empty(), "{out}");
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.starts_with(&format!(
            "gozt: {}: not a gozt JSON report (",
            path.display()
        )),
        "{err}"
    );
    assert!(err.contains(needle), "{needle}: {err}");
}

#[test]
fn gozt_report_says_what_is_wrong_with_a_file() {
    let dir = common::TempDir::new("notreport");
    let (code, _, err) = common::gozt(&["report", dir.join("absent.json").to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.ends_with("absent.json: no such file\n"), "{err}");
    assert_eq!(err.lines().count(), 1);
    let (code, _, err) = common::gozt(&["report", dir.to_str().unwrap()]);
    assert_eq!(code, 3, "a directory: {err}");
    assert_eq!(err.lines().count(), 1);
    let cases: &[(&str, &str, &str)] = &[
        ("empty.json", "", "empty"),
        ("text.json", "traced 1.5s: 200 calls\n", "not JSON"),
        (
            "probes.json",
            "{\"binary\": \"/srv/app\", \"probes\": []}",
            "missing field",
        ),
        ("cut.json", "{\"targets\": [", "not JSON"),
    ];
    for (name, content, needle) in cases {
        let path = dir.join(name);
        std::fs::write(&path, content).unwrap();
        assert_not_a_report(&path, needle);
    }
    // A report of the wrong shape is not taken either.
    let mut report = replayed_report();
    report["totals"]["calls"] = "many".into();
    let path = dir.join("shape.json");
    std::fs::write(&path, report.to_string()).unwrap();
    assert_not_a_report(&path, "invalid type");
    // --live needs a terminal: here stdout is a pipe.
    let golden = golden_path("replayed.json");
    let (code, out, err) = common::gozt(&["report", "--live", golden.to_str().unwrap()]);
    assert_eq!((code, out.as_str()), (2, ""), "{err}");
    assert!(err.contains("needs a terminal"), "{err}");
}

#[test]
fn interval_lines_follow_their_schema_and_fit_100_columns() {
    let report = replayed();
    let iv = interval_of(&report);
    let line = gozt::render::interval::json(&iv);
    assert_eq!(line.lines().count(), 1, "one line: {line}");
    let value: serde_json::Value = serde_json::from_str(&line).unwrap();
    common::assert_interval_schema_valid(&value, "replayed interval");
    assert_eq!(value["type"], "interval");
    assert_eq!(value["totals"]["calls"], 200);
    let calls: u64 = value["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["calls"].as_u64().unwrap())
        .sum();
    assert_eq!(calls, 200);
    let first = gozt::render::interval::text(&iv, &TextOptions::default(), true, true);
    let next = gozt::render::interval::text(&iv, &RAW, false, false);
    common::golden("interval.txt", &format!("{first}{next}"));
    assert!(
        first.contains("\n2026-11-30T12:00:10.000Z 1.5s: "),
        "{first}"
    );
    assert_fits(&first);
    assert_fits(&next);
    // One line per function called; the header wraps only when long.
    let lines: Vec<&str> = next.lines().collect();
    assert_eq!(
        lines.iter().filter(|l| l.starts_with("  zstd.")).count(),
        report.functions.len()
    );
    assert!(lines[1..].iter().all(|l| l.starts_with("  ")), "{next}");
    assert!(
        next.starts_with("2026-11-30T12:00:10Z 1.5s: 200 calls, "),
        "{next}"
    );
}

#[test]
#[should_panic(expected = "breaks the schema")]
fn the_interval_schema_rejects_an_undocumented_field() {
    let mut value: serde_json::Value =
        serde_json::from_str(&gozt::render::interval::json(&interval_of(&replayed()))).unwrap();
    value["functions"][0]["histogram"] = serde_json::json!([]);
    common::assert_interval_schema_valid(&value, "extra field");
}
