//! Reports rendered from replayed events, without root: the JSON report
//! follows its checked-in schema (docs/report.schema.json), which rejects a
//! report that lost or gained a field, so the real-run checks in the BPF
//! tests can fail; the text and JSON renderings equal their golden files
//! (tests/golden/; `GOZT_BLESS=1 cargo test --test reports` rewrites them).

mod common;

use gozt::event::{CallEvent, Lost};
use gozt::stats::{Aggregator, Symbolizer, TargetInfo};

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

#[test]
fn text_and_json_match_their_golden_files() {
    let report = replayed();
    common::golden("replayed.txt", &gozt::render::report::text(&report));
    common::golden("replayed.json", &gozt::render::report::json(&report));
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
