//! Routes on replayed calls: each payload counts under the route of the
//! request it was made serving (the mux's pattern, else the method and the
//! path's first segments), payloads made serving none under `no route`,
//! routes beyond --max-routes under `other`; the text report and the
//! exporter say the same numbers; the flags set depth and bound.

mod common;

use clap::Parser;
use gozt::app::cli::{Cli, Command};
use gozt::event::{CallEvent, Lost, RouteSeen};
use gozt::stats::{Aggregator, FuncMeta, Report, RouteReport, Rules};

const ENCODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";

use common::NoNames;

fn funcs() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
}

fn route(method: &str, text: &str, pattern: bool) -> Option<RouteSeen> {
    Some(RouteSeen {
        method: method.into(),
        text: text.into(),
        len: text.len() as u32,
        pattern,
    })
}

/// One EncodeAll of `bytes.0` into `bytes.1` bytes taking `ns`, made
/// serving `route`.
fn call(route: Option<RouteSeen>, bytes: (u64, u64), ns: u64) -> CallEvent {
    CallEvent {
        tgid: 7,
        goid: 1,
        func_id: funcs()
            .iter()
            .position(|f| f.function == ENCODE_ALL)
            .unwrap() as u32,
        duration_ns: ns,
        bytes_in: Some(bytes.0),
        bytes_out: Some(bytes.1),
        route,
        ..Default::default()
    }
}

/// Requests to three routes, and work made serving none: /api/v1/query
/// (by path, two ids deep) compresses well, GET /blobs/{id} (a pattern)
/// never does, and one small payload is not eligible.
fn calls() -> Vec<CallEvent> {
    let mut calls = Vec::new();
    for id in 0..4 {
        let path = format!("/api/v1/query/{id}");
        calls.push(call(route("GET", &path, false), (4096, 1000), 2_000));
        calls.push(call(
            route("GET", "GET /blobs/{id}", true),
            (8192, 8200),
            5_000,
        ));
    }
    calls.push(call(route("POST", "/upload", false), (100, 120), 700));
    calls.push(call(None, (2048, 900), 1_000));
    calls.push(call(None, (2048, 900), 3_000));
    calls
}

fn report(calls: &[CallEvent], rules: Rules) -> Report {
    let mut agg = Aggregator::new(funcs(), rules);
    for ev in calls {
        agg.add(ev, &mut NoNames);
    }
    agg.report(Vec::new(), 1.0, Lost::default())
}

fn by_name<'a>(r: &'a Report, name: &str) -> &'a RouteReport {
    r.routes
        .iter()
        .find(|x| x.route == name)
        .unwrap_or_else(|| panic!("route {name} missing"))
}

#[test]
fn each_payload_counts_under_its_route() {
    let r = report(&calls(), Rules::DEFAULT);
    let names: Vec<&str> = r.routes.iter().map(|x| x.route.as_str()).collect();
    assert_eq!(
        names,
        ["GET /api/v1", "GET /blobs/{id}", "POST /upload", "no route"],
        "the most payloads first (then by name), no route last"
    );
    let api = by_name(&r, "GET /api/v1");
    assert_eq!(
        (
            api.counters.payloads,
            api.counters.eligible,
            api.counters.failures
        ),
        (4, 4, 0)
    );
    assert_eq!((api.original_bytes, api.compressed_bytes), (4 * 4096, 4000));
    assert_eq!(api.time_ns, 8_000);
    let blobs = by_name(&r, "GET /blobs/{id}");
    assert_eq!(
        (
            blobs.counters.eligible,
            blobs.counters.failures,
            blobs.counters.failure_rate
        ),
        (4, 4, 1.0)
    );
    assert_eq!(blobs.latency_ns.max, 5_000);
    let upload = by_name(&r, "POST /upload");
    assert_eq!((upload.counters.payloads, upload.counters.eligible), (1, 0));
    let none = by_name(&r, "no route");
    assert_eq!((none.counters.payloads, none.time_ns), (2, 4_000));
    assert_eq!(none.functions.len(), 1);
    assert_eq!(none.functions[0].function, ENCODE_ALL);
    assert_eq!(none.functions[0].payloads, 2);
    let sum: u64 = r.routes.iter().map(|x| x.counters.payloads).sum();
    assert_eq!(sum, r.totals.payloads, "every payload under one route");
}

#[test]
fn no_request_no_routes_table() {
    let r = report(&[call(None, (2048, 900), 1_000)], Rules::DEFAULT);
    assert!(r.routes.is_empty());
    let text = gozt::render::report::text(&r, &Default::default());
    assert!(!text.contains("ROUTE"), "{text}");
}

#[test]
fn routes_beyond_the_bound_are_other_and_depth_cuts_paths() {
    let rules = Rules {
        max_routes: 1,
        route_depth: 1,
        ..Rules::DEFAULT
    };
    let r = report(&calls(), rules);
    let names: Vec<&str> = r.routes.iter().map(|x| x.route.as_str()).collect();
    assert_eq!(names, ["GET /api", "other", "no route"]);
    let other = by_name(&r, "other");
    assert_eq!(
        other.counters.payloads, 5,
        "the pattern's four and POST's one"
    );
}

#[test]
fn the_text_report_shows_each_route() {
    let r = report(&calls(), Rules::DEFAULT);
    let text = gozt::render::report::text(&r, &Default::default());
    let line = |route: &str| {
        text.lines()
            .find(|l| l.split("  ").any(|part| part.trim() == route))
            .unwrap_or_else(|| panic!("no line for {route} in\n{text}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    // PAYLOADS ELIGIBLE FAILURES FAIL% STATE RATIO P99 TIME ROUTE
    let blobs = line("GET /blobs/{id}");
    assert_eq!(&blobs[..6], ["4", "4", "4", "100.000%", "-", "1.001"]);
    let api = line("GET /api/v1");
    assert_eq!(&api[..6], ["4", "4", "0", "0.000%", "-", "0.244"]);
}

#[test]
fn the_exporter_counts_each_route_within_its_bound() {
    let rules = Rules {
        max_routes: 2,
        ..Rules::DEFAULT
    };
    let text = common::exported(&calls(), rules);
    let value = |metric: &str, route: &str| {
        common::series_value(
            &text,
            &format!("{metric}{{binary=\"/srv/app\",pid=\"7\",route=\"{route}\"}}"),
        )
    };
    assert_eq!(value("gozt_route_payloads_total", "GET /api/v1"), 4.0);
    assert_eq!(value("gozt_route_failures_total", "GET /blobs/{id}"), 4.0);
    assert_eq!(value("gozt_route_payloads_total", "other"), 1.0);
    assert_eq!(value("gozt_route_payloads_total", "no route"), 2.0);
    assert_eq!(
        value("gozt_route_payload_original_bytes_total", "GET /api/v1"),
        4.0 * 4096.0
    );
    assert!(value("gozt_route_failure_ratio_lower_bound", "GET /blobs/{id}") > 0.4);
}

#[test]
fn the_flags_set_depth_and_bound() {
    let rules_of = |args: &[&str]| {
        let Command::Attach(a) = Cli::try_parse_from(args).unwrap().command else {
            panic!("not attach");
        };
        let cfg =
            gozt::app::config::session(gozt::session::Targets::Pids(vec![1.into()]), &a.common)
                .unwrap();
        (cfg.rules.route_depth, cfg.rules.max_routes, cfg.routes)
    };
    assert_eq!(rules_of(&["gozt", "attach", "--pid", "1"]), (2, 100, true));
    assert_eq!(
        rules_of(&[
            "gozt",
            "attach",
            "--pid",
            "1",
            "--route-depth",
            "3",
            "--max-routes",
            "5",
            "--no-routes"
        ]),
        (3, 5, false)
    );
    for bad in [["--route-depth", "0"], ["--max-routes", "0"]] {
        let mut args = vec!["gozt", "attach", "--pid", "1"];
        args.extend(bad);
        assert!(Cli::try_parse_from(&args).is_err(), "{bad:?} accepted");
    }
}
