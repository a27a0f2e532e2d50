//! Downstream writes on replayed events: a write counts with the payload
//! its goroutine ended just before (the same end, the same function), under
//! that payload's caller and route; a payload with none is counted as such;
//! a write that does not follow its goroutine's last payload counts
//! nowhere. The text report and the exporter say the same numbers.

mod common;

use gozt::event::{CallEvent, FdKind, Lost, RouteSeen, WriteSeen};
use gozt::stats::{Aggregator, FuncMeta, Report, Rules};

const ENCODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";

use common::Callers;

fn funcs() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
}

fn encode_all() -> u32 {
    funcs()
        .iter()
        .position(|f| f.function == ENCODE_ALL)
        .unwrap() as u32
}

const RULES: Rules = Rules::DEFAULT;

/// A payload of `caller` on `goid`, from `start` for `ns`, serving `/api`
/// when `routed`.
fn payload(caller: u64, goid: u64, start: u64, ns: u64, routed: bool) -> CallEvent {
    CallEvent {
        tgid: 7,
        goid,
        func_id: encode_all(),
        start_ns: start,
        duration_ns: ns,
        bytes_in: Some(4096),
        bytes_out: Some(1000),
        stack: vec![0x1000 * caller + 0x10],
        route: routed.then(|| RouteSeen {
            method: "POST".into(),
            text: "/api".into(),
            len: 4,
            pattern: false,
        }),
        ..Default::default()
    }
}

/// The downstream write of the payload that ended at `end` on `goid`.
fn write(goid: u64, end: u64, start: u64, ns: u64, bytes: u64, kind: FdKind) -> CallEvent {
    CallEvent {
        tgid: 7,
        goid,
        func_id: encode_all(),
        start_ns: start,
        duration_ns: ns,
        bytes_in: Some(bytes),
        bytes_out: Some(bytes),
        write: Some(WriteSeen {
            payload_end_ns: end,
            kind,
        }),
        ..Default::default()
    }
}

/// Caller 1 (serving /api) writes two payloads to a socket and one to a
/// file, and leaves one unwritten; caller 2 writes one of two to a pipe; a
/// stray write (no payload ended then) counts nowhere.
fn events() -> Vec<CallEvent> {
    vec![
        payload(1, 10, 1_000, 2_000, true),
        write(10, 3_000, 3_500, 1_000, 1000, FdKind::Tcp),
        payload(1, 10, 10_000, 2_000, true),
        write(10, 12_000, 12_100, 3_000, 1000, FdKind::Tcp),
        payload(1, 10, 20_000, 2_000, true),
        payload(1, 10, 30_000, 2_000, true),
        write(10, 32_000, 32_400, 5_000, 1000, FdKind::File),
        payload(2, 11, 1_000, 4_000, false),
        write(11, 5_000, 5_000, 2_000, 600, FdKind::Pipe),
        payload(2, 11, 40_000, 4_000, false),
        write(11, 99_000, 99_500, 9_000, 77, FdKind::Tcp),
    ]
}

fn report(rules: Rules) -> Report {
    let mut agg = Aggregator::new(funcs(), rules);
    for ev in events() {
        let p = agg.judge(&ev);
        agg.add_judged(&ev, p.as_ref(), &mut Callers);
    }
    agg.report(Vec::new(), 1.0, Lost::default())
}

#[test]
fn each_write_counts_with_the_payload_it_followed() {
    let r = report(RULES);
    let caller = |name: &str| {
        r.callers
            .iter()
            .find(|c| c.caller == name)
            .and_then(|c| c.downstream.clone())
            .unwrap_or_else(|| panic!("{name}"))
    };
    let one = caller("main.caller1");
    assert_eq!(
        (
            one.payloads,
            one.writes,
            one.without_write,
            one.bytes,
            one.errors
        ),
        (4, 3, 1, 3000, 0)
    );
    assert_eq!(one.write_time_ns, 9_000);
    assert_eq!(one.compress_time_ns, 8_000);
    assert!((one.write_share - 9.0 / 17.0).abs() < 1e-12);
    assert_eq!(one.write_latency_ns.max, 5_000);
    assert_eq!(one.gap_latency_ns.max, 500);
    assert_eq!(
        one.kinds
            .iter()
            .map(|(k, n)| (k.as_str(), *n))
            .collect::<Vec<_>>(),
        [("file", 1), ("tcp", 2)]
    );
    let two = caller("main.caller2");
    assert_eq!(
        (two.payloads, two.writes, two.bytes),
        (2, 1, 600),
        "the stray write counts nowhere"
    );
    // Routes: /api's are caller 1's, the rest made serving none.
    let api = r.routes.iter().find(|x| x.route == "POST /api").unwrap();
    let d = api.downstream.as_ref().unwrap();
    assert_eq!((d.payloads, d.writes, d.bytes), (4, 3, 3000));
    let none = r.routes.iter().find(|x| x.route == "no route").unwrap();
    let d = none.downstream.as_ref().unwrap();
    assert_eq!((d.payloads, d.writes, d.bytes), (2, 1, 600));
    // Writes are no calls: the function's calls are the payloads'.
    let f = r
        .functions
        .iter()
        .find(|f| f.function == ENCODE_ALL)
        .unwrap();
    assert_eq!(f.counters.calls, 6);
    assert_eq!(r.totals.calls, 6);
}

#[test]
fn without_downstream_no_write_is_said() {
    let r = report(Rules {
        downstream: false,
        ..Rules::DEFAULT
    });
    assert!(r.callers.iter().all(|c| c.downstream.is_none()));
    assert!(r.routes.iter().all(|x| x.downstream.is_none()));
    let text = gozt::render::report::text(&r, &Default::default());
    assert!(!text.contains("downstream writes"), "{text}");
}

#[test]
fn the_text_report_and_the_exporter_say_the_same() {
    let r = report(RULES);
    let text = gozt::render::report::text(&r, &Default::default());
    let section = text
        .find("downstream writes")
        .unwrap_or_else(|| panic!("no downstream writes in\n{text}"));
    let at = section
        + text[section..]
            .find("main.caller1 -> ")
            .unwrap_or_else(|| panic!("no caller 1 in\n{text}"));
    let block: Vec<&str> = text[at..].lines().take(3).collect();
    assert!(block[0].ends_with("(file 1, tcp 2)"), "{block:?}");
    let said = block[1..].join(" ");
    assert!(
        said.contains("4 payloads, 3 written (3.00K), 1 not")
            && said.contains("write p50 3.00us p99 5.00us sum 9.00us (52.9% of the time)")
            && said.contains("compress p50 2.00us p99 2.00us sum 8.00us"),
        "{said}"
    );
    let exposition = common::exported(&events(), RULES);
    let value = |metric: &str, route: &str, kind: &str| {
        common::series_value(
            &exposition,
            &format!("{metric}{{binary=\"/srv/app\",kind=\"{kind}\",pid=\"7\",route=\"{route}\"}}"),
        )
    };
    assert_eq!(
        value("gozt_downstream_writes_total", "POST /api", "tcp"),
        2.0
    );
    assert_eq!(
        value("gozt_downstream_writes_total", "POST /api", "file"),
        1.0
    );
    assert_eq!(
        value("gozt_downstream_write_bytes_total", "no route", "pipe"),
        600.0
    );
    assert!(!exposition
        .contains("bytes_total{binary=\"/srv/app\",kind=\"tcp\",pid=\"7\",route=\"no route\"}"));
}

#[test]
fn a_readers_close_after_its_eof_hands_on_the_write() {
    let id = |name: &str| funcs().iter().position(|f| f.function == name).unwrap() as u32;
    let read = id("compress/gzip.(*Reader).Read");
    let close = id("compress/gzip.(*Reader).Close");
    let call = |func_id: u32, start: u64, eof: bool| CallEvent {
        tgid: 7,
        goid: 12,
        func_id,
        start_ns: start,
        duration_ns: 1_000,
        bytes_in: None,
        bytes_out: Some(if func_id == read && !eof { 4096 } else { 0 }),
        eof,
        obj: 0xc000_1000,
        stack: vec![0x3010],
        ..Default::default()
    };
    // Read, Read to EOF (the payload), Close (to the programs, its end
    // again), then the write they time after Close.
    let mut w = write(12, 13_000, 13_500, 2_000, 4096, FdKind::Unix);
    w.func_id = close;
    let events = [
        call(read, 10_000, false),
        call(read, 11_000, true),
        call(close, 12_000, false),
        w,
    ];
    let mut agg = Aggregator::new(funcs(), RULES);
    for ev in &events {
        let p = agg.judge(ev);
        agg.add_judged(ev, p.as_ref(), &mut Callers);
    }
    let r = agg.report(Vec::new(), 1.0, Lost::default());
    let d = r
        .callers
        .iter()
        .find(|c| c.caller == "main.caller3" && c.function.ends_with("Reader).Read"))
        .and_then(|c| c.downstream.clone())
        .expect("the reader's caller row");
    assert_eq!((d.payloads, d.writes, d.bytes), (1, 1, 4096));
    assert_eq!(d.kinds.get("unix"), Some(&1));
}
