//! Findings on replayed calls: each fires on calls built to show it, with
//! its evidence's numbers exact, and stays quiet on calls built not to (at
//! its threshold, and below the minimum of payloads); the one accounting for
//! the most time comes first; the flags set the thresholds.

mod common;

use clap::Parser;
use gozt::app::cli::{Cli, Command};
use gozt::event::CallEvent;
use gozt::stats::{Finding, FindingKind, FuncMeta, Report, Rules};

const ENCODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";
const DECODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Decoder).DecodeAll";

fn funcs() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
}

fn id(function: &str) -> u32 {
    funcs().iter().position(|f| f.function == function).unwrap() as u32
}

/// One call of `function` from `main.caller{caller}`.
fn call(function: &str, caller: u64, bytes: (u64, u64), error: bool, ns: u64) -> CallEvent {
    CallEvent {
        tgid: 7,
        goid: caller,
        func_id: id(function),
        duration_ns: ns,
        bytes_in: Some(bytes.0),
        bytes_out: Some(bytes.1),
        error,
        stack: vec![0x1000 * caller + 0x10],
        ..Default::default()
    }
}

fn report(calls: &[CallEvent], rules: Rules) -> Report {
    common::replayed(calls, rules)
}

fn rules(min_eligible: u64) -> Rules {
    Rules {
        min_eligible,
        ..Rules::DEFAULT
    }
}

fn of_kind(r: &Report, kind: FindingKind) -> Vec<&Finding> {
    r.findings.iter().filter(|f| f.kind == kind).collect()
}

/// Caller 1: 10 eligible payloads, 6 not smaller (60 %); caller 2: 10, 5
/// not smaller (50 %, the threshold: not above it).
fn incompressible() -> Vec<CallEvent> {
    let mut calls = Vec::new();
    for (caller, bad) in [(1, 6), (2, 5)] {
        for i in 0..10 {
            let out = if i < bad { 2100 } else { 700 };
            calls.push(call(ENCODE_ALL, caller, (2000, out), false, 10_000));
        }
    }
    calls
}

#[test]
fn incompressible_caller_fires_above_its_share_only() {
    let r = report(&incompressible(), rules(10));
    let found = of_kind(&r, FindingKind::IncompressibleCaller);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    let f = found[0];
    assert_eq!(f.caller.as_deref(), Some("main.caller1"));
    assert_eq!(f.function, ENCODE_ALL);
    // The time of the 6 payloads of 10 that did not shrink.
    assert_eq!(f.time_ns, 60_000);
    assert_eq!(
        f.evidence,
        "6 of its 10 eligible payloads to zstd.(*Encoder).EncodeAll came out no smaller \
         (60.0%), about 60.0us spent on them"
    );
    // Fewer eligible payloads than a verdict needs: no finding.
    assert!(of_kind(
        &report(&incompressible(), rules(11)),
        FindingKind::IncompressibleCaller
    )
    .is_empty());
    // A lower threshold takes caller 2 in too.
    let lower = Rules {
        incompressible_caller: 0.4,
        ..rules(10)
    };
    assert_eq!(
        of_kind(
            &report(&incompressible(), lower),
            FindingKind::IncompressibleCaller
        )
        .len(),
        2
    );
}

/// Caller 3 decodes 10 payloads, 2 of which fail; caller 4 10, none.
fn decoding() -> Vec<CallEvent> {
    let mut calls = Vec::new();
    for i in 0..10 {
        calls.push(call(DECODE_ALL, 3, (900, 2000), i < 2, 5_000));
        calls.push(call(DECODE_ALL, 4, (900, 2000), false, 5_000));
    }
    calls
}

#[test]
fn decoder_errors_fire_for_the_caller_whose_input_failed() {
    let calls = decoding();
    let r = report(&calls, rules(10));
    let found = of_kind(&r, FindingKind::DecoderErrors);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    assert_eq!(found[0].caller.as_deref(), Some("main.caller3"));
    assert_eq!(found[0].time_ns, 10_000);
    assert_eq!(
        found[0].evidence,
        "2 of its 10 payloads decoded by zstd.(*Decoder).DecodeAll failed (20.0%)"
    );
    assert!(report(&calls, rules(11)).findings.is_empty());
}

/// 4 payloads of 100 bytes that came out at 120 taking `small_ns` each, and
/// 6 of 2000 bytes that shrank, 1000 ns each.
fn sizes(small_ns: u64) -> Vec<CallEvent> {
    let mut calls = Vec::new();
    for _ in 0..4 {
        calls.push(call(ENCODE_ALL, 5, (100, 120), false, small_ns));
    }
    for _ in 0..6 {
        calls.push(call(ENCODE_ALL, 5, (2000, 600), false, 1000));
    }
    calls
}

#[test]
fn small_payloads_fire_on_their_share_of_time_and_say_where_compressing_lost() {
    let r = report(&sizes(3000), rules(10));
    let found = of_kind(&r, FindingKind::SmallPayloads);
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    let f = found[0];
    assert_eq!((f.caller.as_deref(), f.time_ns), (None, 12_000));
    // 100 bytes lie in the band of 64 to 127: below 128 nothing shrank.
    assert_eq!(
        f.evidence,
        "4 of its 10 payloads were 1024 B or less (40.0%) and took 66.7% of its payloads' \
         time (12.0us); below 128 B its output was no smaller than its input"
    );
    assert_eq!(
        f.fix,
        "compress only payloads of 1025 B or more, send the rest as they are"
    );
    let row = r
        .functions
        .iter()
        .find(|f| f.function == ENCODE_ALL)
        .unwrap();
    assert_eq!(row.loss_below_bytes, Some(128));
    let mut r = r;
    r.meta.started = "2026-12-07T19:00:00Z".into();
    r.meta.ended = "2026-12-07T19:00:01Z".into();
    let json: serde_json::Value = serde_json::from_str(&gozt::render::report::json(&r)).unwrap();
    assert_eq!(json["findings"][0]["caller"], serde_json::Value::Null);
    common::assert_schema_valid(&json, "findings");
    // 4 x 100 ns of 6,400 ns: 6 %, under the 25 % share.
    assert!(of_kind(&report(&sizes(100), rules(10)), FindingKind::SmallPayloads).is_empty());
    assert!(of_kind(&report(&sizes(3000), rules(11)), FindingKind::SmallPayloads).is_empty());
}

#[test]
fn the_most_time_comes_first() {
    let mut calls = decoding();
    calls.extend(incompressible());
    let r = report(&calls, rules(10));
    let times: Vec<u64> = r.findings.iter().map(|f| f.time_ns).collect();
    assert_eq!(times, [60_000, 10_000], "{:#?}", r.findings);
    // The JSON carries them at its top, the text report under its head.
    let json: serde_json::Value = serde_json::from_str(&gozt::render::report::json(&r)).unwrap();
    assert_eq!(json["findings"][0]["kind"], "incompressible_caller");
    assert_eq!(json["findings"][1]["caller"], "main.caller3");
    let text = gozt::render::report::text(&r, &Default::default());
    assert!(
        text.contains(" 1. incompressible caller: main.caller1 -> zstd.(*Encoder).EncodeAll\n"),
        "{text}"
    );
    assert!(
        text.contains(" 2. decoder errors: main.caller3 -> zstd.(*Decoder).DecodeAll\n"),
        "{text}"
    );
}

#[test]
fn the_flags_set_the_thresholds() {
    let args = [
        "gozt",
        "attach",
        "-p",
        "1",
        "--incompressible-caller",
        "80%",
        "--small-payload-share",
        "0.1",
    ];
    let Command::Attach(a) = Cli::try_parse_from(args).unwrap().command else {
        panic!("not attach");
    };
    let targets = gozt::session::Targets::Pids(vec![1.into()]);
    let r = gozt::app::config::session(targets, &a.common)
        .unwrap()
        .rules;
    assert_eq!((r.incompressible_caller, r.small_share), (0.8, 0.1));
    let bad = Cli::try_parse_from([
        "gozt",
        "attach",
        "-p",
        "1",
        "--incompressible-caller",
        "150%",
    ])
    .unwrap();
    let Command::Attach(a) = bad.command else {
        panic!("not attach");
    };
    let targets = gozt::session::Targets::Pids(vec![1.into()]);
    let err = gozt::app::config::session(targets, &a.common).unwrap_err();
    assert!(err.contains("--incompressible-caller"), "{err}");
}
