//! Reports rendered from replayed events, without root: the JSON report
//! follows its checked-in schema (docs/report.schema.json), which rejects a
//! report that lost or gained a field, so the real-run checks in the BPF
//! tests can fail; the text and JSON renderings equal their golden files
//! (tests/golden/; `GOZT_BLESS=1 cargo test --test reports` rewrites them),
//! and the text fits 100 columns, long names included.

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
    let mut agg = Aggregator::new(funcs, 1024, 0.003);
    for i in 0..200u64 {
        let ev = CallEvent {
            tgid: 4242,
            goid: 1 + i % 23,
            func_id: (i % u64::from(n)) as u32,
            start_ns: i * 1000,
            duration_ns: 500 + i * 37,
            bytes_in: Some(512 + i * 64),
            bytes_out: Some(300 + i * 70),
            error: i % 17 == 0,
            stack: vec![0x401000 + i, 0x402000],
        };
        agg.add(&ev, &mut Named);
    }
    let lost = Lost {
        abandoned: 2,
        ..Lost::default()
    };
    let targets = vec![TargetInfo {
        pid: 4242,
        binary: "/srv/app".into(),
        go_version: "go1.27.3".into(),
    }];
    agg.report(targets, 1.5, lost)
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
    assert_eq!(p99, 7752);
    assert!(human.contains("p99 7.75us"), "{human}");
    assert!(raw.contains(&format!("p99 {p99}")), "{raw}");
    assert!(human.contains(&format!("bytes in {}", gozt::tui::bytes(f.bytes_in))));
    assert!(raw.contains(&format!("bytes in {}", f.bytes_in)));
    // What is not observed is n/a, without a unit.
    assert!(human.contains("bytes in n/a  out "), "{human}");
    assert!(!human.contains("n/a B") && !raw.contains("n/a B"));
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
    let entry = gozt::catalog::entries()
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
    }];
    let mut agg = Aggregator::new(funcs, 1024, 0.003);
    for i in 0..50u64 {
        let ev = CallEvent {
            tgid: 4_194_304,
            goid: 12_022_100_000 + i,
            func_id: 0,
            start_ns: i,
            duration_ns: 9_876_543_210 + i * 1_000_003,
            bytes_in: Some(987_654_321_000),
            bytes_out: Some(987_654_321_001),
            error: i % 3 == 0,
            stack: vec![0x401000 + i],
        };
        agg.add(&ev, &mut LongNamed);
    }
    let targets = vec![TargetInfo {
        pid: 4_194_304,
        binary: "/opt/acme-corp/object-storage-gateway/releases/2026-11-30T23-59-59Z/bin/object-storage-gateway-server".into(),
        go_version: "go1.27.3".into(),
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
