//! gozt on a program built by others: Debian's prometheus (a stripped Go
//! build), which gzips its `/metrics` for clients that accept it. The test
//! is its own HTTP client: per scrape it counts the gzip bytes it received
//! and their size gunzipped (the reference), while gozt traces prometheus
//! and both cores are kept busy by CPU hogs. gozt's gzip `Close` row must
//! carry exactly those sizes: one payload per scrape, its original size
//! and its whole compressed output (header and trailer included). Its
//! latency must keep the rules that do not depend on timing: no call made
//! up (none at 1 ns), the sink traps inside `Close` counted and their cost
//! taken out. How close the corrected times come
//! to a reference without traps is the latency benchmark's
//! (scripts/latency-bench.py), not a test's. With CI=true a missing
//! prometheus fails the run.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const PROMETHEUS: &str = "/usr/bin/prometheus";
const SCRAPES: u64 = 40;
const CLOSE: &str = "compress/gzip.(*Writer).Close";
const WRITE: &str = "compress/gzip.(*Writer).Write";

/// One gzipped scrape of `addr`'s /metrics: the bytes of the gzip stream
/// received (the body, de-chunked) and their size gunzipped.
fn scrape(addr: &str) -> Option<(u64, u64)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut resp = Vec::new();
    s.read_to_end(&mut resp).ok()?;
    let split = resp.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&resp[..split]).to_ascii_lowercase();
    let mut body = &resp[split + 4..];
    if !head.starts_with("http/1.1 200") {
        return None;
    }
    assert!(
        head.contains("content-encoding: gzip"),
        "prometheus did not gzip: {head}"
    );
    let gz = if head.contains("transfer-encoding: chunked") {
        let mut gz = Vec::new();
        loop {
            let eol = body.windows(2).position(|w| w == b"\r\n")?;
            let size_text = String::from_utf8_lossy(&body[..eol]);
            let size = usize::from_str_radix(size_text.split(';').next()?.trim(), 16).ok()?;
            body = &body[eol + 2..];
            if size == 0 {
                break;
            }
            gz.extend_from_slice(&body[..size]);
            body = &body[size + 2..];
        }
        gz
    } else {
        body.to_vec()
    };
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..])
        .read_to_end(&mut plain)
        .expect("a whole gzip stream");
    Some((gz.len() as u64, plain.len() as u64))
}

/// The report's row of `function` (not inner).
fn row<'a>(report: &'a Value, function: &str) -> &'a Value {
    report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function"] == function && f["inner"] == false)
        .unwrap_or_else(|| panic!("no {function} row"))
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn prometheus_gzip_scrapes_sizes_exact_and_latency_by_the_rules_on_busy_cores() {
    common::require_privileged();
    if !std::path::Path::new(PROMETHEUS).exists() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but {PROMETHEUS} is missing (Debian package prometheus)"
        );
        eprintln!("skipping: no {PROMETHEUS}");
        return;
    }
    let dir = common::TempDir::new("real-prometheus");
    let cfg = dir.join("prometheus.yml");
    // No scrape of its own: every gzip stream is one of this test's.
    std::fs::write(&cfg, "global:\n  scrape_interval: 1h\n").unwrap();
    let addr = format!("127.0.0.1:{}", common::free_port());
    let prom = common::start_prometheus(PROMETHEUS, &cfg, &dir.0, &addr);
    let deadline = Instant::now() + Duration::from_secs(60);
    while scrape(&addr).is_none() {
        assert!(Instant::now() < deadline, "prometheus never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    // Both cores busy, as a machine in an incident is.
    let hogs: Vec<common::Killed> = (0..2)
        .map(|_| {
            common::Killed(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        })
        .collect();
    let out = dir.join("report.json");
    let pid = prom.0.id().to_string();
    let mut gozt = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--pid", &pid, "--json", "-q", "-o"])
            .arg(&out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    common::wait_for_attach();
    let (mut packed, mut plain) = (0, 0);
    for _ in 0..SCRAPES {
        let (p, u) = scrape(&addr).expect("a scrape");
        packed += p;
        plain += u;
    }
    let (status, err) = common::interrupt(&mut gozt.0);
    drop(hogs);
    assert!(status.success(), "gozt: {status}: {err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "prometheus");

    // Sizes: each scrape one payload, on Close's row, as the client got it.
    let close = row(&report, CLOSE);
    assert_eq!(close["payloads"], SCRAPES, "{close}");
    assert_eq!(close["not_judged"], 0, "{close}");
    assert_eq!(close["payload_original_bytes"], plain, "{close}");
    assert_eq!(
        close["payload_compressed_bytes"], packed,
        "header, deflate output and trailer: {close}"
    );
    let ratio = close["payload_ratio"].as_f64().unwrap();
    assert!((ratio - packed as f64 / plain as f64).abs() < 1e-12);
    // Call-level: the Writes took the original bytes in.
    assert_eq!(row(&report, WRITE)["bytes_in"], plain);
    assert_eq!(report["open_streams"], 0);

    // Latency, by the rules that do not depend on timing.
    for f in report["functions"].as_array().unwrap() {
        let name = f["function"].as_str().unwrap();
        let calls = f["calls"].as_u64().unwrap();
        let at_1ns: u64 = f["histogram"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|b| b["max"].as_u64().unwrap() <= 1)
            .map(|b| b["count"].as_u64().unwrap())
            .sum();
        assert_eq!(at_1ns, 0, "{name}: a call at 1 ns is made up");
        assert!(f["uncorrected"].as_u64().unwrap() <= calls, "{name}");
        assert!(f["latency_ns"]["p50"].as_u64().unwrap() > 1, "{name}");
    }
    // Close's stream output is counted at its sinks, inside it: those traps
    // are its, and their cost came off.
    let traps = close["traps_inside"].as_u64().unwrap();
    assert!(traps >= SCRAPES, "{close}");
    assert!(close["correction_ns"].as_u64().unwrap() > 0, "{close}");
}
