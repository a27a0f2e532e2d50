//! gozt on programs built by others. Debian's prometheus (a stripped Go
//! build) gzips its `/metrics` for clients that accept it. The test
//! is its own HTTP client: per scrape it counts the gzip bytes it received
//! and their size gunzipped (the reference), while gozt traces prometheus
//! and both cores are kept busy by CPU hogs. gozt's gzip `Close` row must
//! carry exactly those sizes: one payload per scrape, its original size
//! and its whole compressed output (header and trailer included). Its
//! latency must keep the rules that do not depend on timing: no call made
//! up (none at 1 ns), the sink traps inside `Close` counted and their cost
//! taken out. How close the corrected times come
//! to a reference without traps is the latency benchmark's
//! (scripts/latency-bench.py), not a test's. Debian's victoria-metrics (a
//! stripped cgo build) compresses its storage blocks through gozstd and
//! counts those calls itself: gozt's counts must be its counts. Debian's
//! caddy (`encode gzip` over a file server) serves text and random files
//! from two directories: gozt's routes must tell the directory whose every
//! response fails to compress from the other, with the bytes the client
//! received. Debian's skopeo (containers/image) compresses an image's layer
//! with pgzip, which compresses its blocks on goroutines of its own and
//! writes them on another, and decompresses gzip and xz layers: each
//! payload's sizes must be the layer's and the blob's on disk. With CI=true
//! a missing prometheus, victoria-metrics, caddy or skopeo fails the run.

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
    gzip_get(addr, "/metrics")
}

/// `GET path` of `addr`, asking for gzip: the bytes of the gzip stream
/// received (the body, de-chunked) and their size gunzipped.
fn gzip_get(addr: &str, path: &str) -> Option<(u64, u64)> {
    let mut s = TcpStream::connect(addr).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nAccept-Encoding: gzip\r\nConnection: close\r\n\r\n"
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
        "{path} was not gzipped: {head}"
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

/// One test at a time: each waits for a gozt holding BPF links, which must
/// be its own.
static BPF: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// gozt attached to `pid` (its probes in place), its JSON report to `out`.
fn attached(pid: u32, out: &std::path::Path) -> common::Killed {
    let gozt = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--pid", &pid.to_string(), "--json", "-q", "-o"])
            .arg(out)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    common::wait_for_attach();
    gozt
}

/// Whether Debian's program `path` (of package `package`) is installed: with
/// CI=true it must be.
fn installed(path: &str, package: &str) -> bool {
    common::present_or_skip(
        std::path::Path::new(path).exists(),
        path,
        &format!(" (Debian package {package})"),
    )
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn prometheus_gzip_scrapes_sizes_exact_and_latency_by_the_rules_on_busy_cores() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    if !installed(PROMETHEUS, "prometheus") {
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
    let mut gozt = attached(prom.0.id(), &out);
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
    // Routes: every payload made serving a scrape (prometheus's own router
    // sets no ServeMux pattern: the path).
    let routes = report["routes"].as_array().unwrap();
    assert_eq!(routes.len(), 1, "{routes:?}");
    assert_eq!(routes[0]["route"], "GET /metrics");
    assert_eq!(routes[0]["counters"]["payloads"], SCRAPES);
    assert_eq!(routes[0]["original_bytes"], plain);
    assert_eq!(routes[0]["compressed_bytes"], packed);

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

const VICTORIA_METRICS: &str = "/usr/bin/victoria-metrics";
const GOZSTD_COMPRESS: &str = "github.com/valyala/gozstd.compressDictLevel";
const GOZSTD_DECOMPRESS: &str = "github.com/valyala/gozstd.DecompressDict";

/// VictoriaMetrics' own counts of its zstd block calls (its /metrics):
/// compress calls, original bytes, compressed bytes, decompress calls.
fn vm_zstd_counts(addr: &str) -> [u64; 4] {
    let body = common::http_get(addr, "/metrics").expect("victoria-metrics /metrics");
    let value = |name: &str| {
        body.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
            .unwrap_or_else(|| panic!("no {name} in /metrics"))
    };
    [
        value("vm_zstd_block_compress_calls_total"),
        value("vm_zstd_block_original_bytes_total"),
        value("vm_zstd_block_compressed_bytes_total"),
        value("vm_zstd_block_decompress_calls_total"),
    ]
}

/// The counts once they have stayed the same for two seconds (its
/// background flushes and merges done).
fn vm_settled(addr: &str) -> [u64; 4] {
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut last = vm_zstd_counts(addr);
    let mut since = Instant::now();
    while since.elapsed() < Duration::from_secs(2) {
        assert!(Instant::now() < deadline, "victoria-metrics never settled");
        std::thread::sleep(Duration::from_millis(200));
        let now = vm_zstd_counts(addr);
        if now != last {
            (last, since) = (now, Instant::now());
        }
    }
    last
}

/// POSTs `body` to `path` on `addr`; the response's status line.
fn http_post(addr: &str, path: &str, body: &[u8]) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    write!(
        s,
        "POST {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut resp = String::new();
    s.read_to_string(&mut resp).unwrap();
    resp.lines().next().unwrap_or_default().to_string()
}

/// Debian's victoria-metrics (a stripped Go 1.19 cgo build) compresses its
/// storage blocks with the C zstd library through gozstd, and counts those
/// calls itself. Samples imported, flushed and exported while gozt is
/// attached: gozt's gozstd rows must equal VictoriaMetrics' own counters,
/// calls and bytes. A run whose counters moved while gozt attached or
/// stopped (a background merge then) has no truth to compare with and is
/// run again.
#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn victoria_metrics_gozstd_calls_and_bytes_equal_its_own_counters() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    if !installed(VICTORIA_METRICS, "victoria-metrics") {
        return;
    }
    let dir = common::TempDir::new("real-victoria-metrics");
    let addr = format!("127.0.0.1:{}", common::free_port());
    let vm = common::Killed(
        Command::new(VICTORIA_METRICS)
            .arg(format!("-storageDataPath={}", dir.join("data").display()))
            .arg(format!("-httpListenAddr={addr}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while common::http_get(&addr, "/health").as_deref() != Some("OK") {
        assert!(Instant::now() < deadline, "victoria-metrics never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    // 3,000 series of 30 samples each, in the last hour.
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    let mut import = String::new();
    for s in 0..3000u64 {
        for t in 0..30u64 {
            let v = (s * 7919 + t * 104_729) % 100_000;
            let ts = now_ms - 3_600_000 + t * 15_000;
            import += &format!(
                "gozt_vm{{series=\"{s}\",host=\"h{}\"}} {v}.5 {ts}\n",
                s % 17
            );
        }
    }
    for attempt in 1..=3 {
        let out = dir.join(format!("report-{attempt}.json"));
        // Settled before gozt attaches, and still so once it has: no call
        // of its own counted on one side only.
        let before = vm_settled(&addr);
        let mut gozt = attached(vm.0.id(), &out);
        if vm_zstd_counts(&addr) != before {
            let _ = common::interrupt(&mut gozt.0);
            eprintln!("attempt {attempt}: victoria-metrics' counters moved while gozt attached");
            continue;
        }
        let status = http_post(&addr, "/api/v1/import/prometheus", import.as_bytes());
        assert!(status.contains(" 204"), "import: {status}");
        http_post(&addr, "/internal/force_flush", b"");
        let exported = common::http_get(&addr, "/api/v1/export?match[]=gozt_vm").expect("export");
        assert!(exported.contains("gozt_vm"), "nothing exported");
        let settled = vm_settled(&addr);
        let (status, err) = common::interrupt(&mut gozt.0);
        assert!(status.success(), "gozt: {status}: {err}");
        let after = vm_zstd_counts(&addr);
        if after != settled {
            eprintln!("attempt {attempt}: victoria-metrics' counters moved while gozt stopped");
            continue;
        }
        let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
        common::assert_schema_valid(&report, "victoria-metrics");
        let d: Vec<u64> = (0..4).map(|i| after[i] - before[i]).collect();
        assert!(d[0] > 100 && d[3] > 0, "too little zstd work: {d:?}");
        let compress = row(&report, GOZSTD_COMPRESS);
        eprintln!(
            "victoria-metrics counted (compress calls, original bytes, compressed bytes, \
             decompress calls) {d:?}; gozt: {} calls, {} bytes in, {} out; {} decompressions",
            compress["calls"],
            compress["bytes_in"],
            compress["bytes_out"],
            row(&report, GOZSTD_DECOMPRESS)["calls"]
        );
        assert_eq!(compress["calls"], d[0], "{compress}");
        assert_eq!(compress["payloads"], d[0], "{compress}");
        assert_eq!(compress["bytes_in"], d[1], "{compress}");
        assert_eq!(compress["bytes_out"], d[2], "{compress}");
        assert_eq!(compress["payload_original_bytes"], d[1], "{compress}");
        assert_eq!(row(&report, GOZSTD_DECOMPRESS)["calls"], d[3]);
        common::assert_nothing_lost(&report);
        return;
    }
    panic!("victoria-metrics' counters moved while gozt attached or stopped, three times");
}

const CADDY: &str = "/usr/bin/caddy";

/// `n` bytes of `seed`'s pseudo-random sequence (xorshift): incompressible.
fn random_bytes(n: usize, mut seed: u64) -> Vec<u8> {
    (0..n)
        .map(|_| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed >> 24) as u8
        })
        .collect()
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn caddy_routes_tell_the_incompressible_directory_apart() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    if !installed(CADDY, "caddy") {
        return;
    }
    let dir = common::TempDir::new("real-caddy");
    let site = dir.join("site");
    for sub in ["text", "blob"] {
        std::fs::create_dir_all(site.join(sub)).unwrap();
    }
    let words = ["gozt ", "route ", "payload ", "gzip ", "caddy "];
    for i in 0..5u64 {
        let text: String = (0..3000 + 500 * i)
            .map(|j| words[((j * 7 + i) % 5) as usize])
            .collect();
        std::fs::write(site.join(format!("text/t{i}.txt")), text).unwrap();
        // JSON by name (caddy compresses it), random within.
        std::fs::write(
            site.join(format!("blob/b{i}.json")),
            random_bytes(6000 + 1000 * i as usize, 0x9e37_79b9 + i),
        )
        .unwrap();
    }
    let port = common::free_port();
    let addr = format!("127.0.0.1:{port}");
    std::fs::write(
        dir.join("Caddyfile"),
        format!(
            "{{\n\tadmin off\n\tauto_https off\n}}\n:{port} {{\n\troot * {}\n\tencode gzip\n\tfile_server\n}}\n",
            dir.0.display()
        ),
    )
    .unwrap();
    let caddy = common::Killed(
        Command::new(CADDY)
            .args(["run", "--adapter", "caddyfile", "--config"])
            .arg(dir.join("Caddyfile"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while gzip_get(&addr, "/site/text/t0.txt").is_none() {
        assert!(Instant::now() < deadline, "caddy never answered");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = dir.join("report.json");
    let mut gozt = attached(caddy.0.id(), &out);
    // Per route: responses, gzip bytes received, their size gunzipped.
    let mut got = [(0u64, 0u64, 0u64); 2];
    for _ in 0..2 {
        for i in 0..5 {
            for (k, path) in [
                format!("/site/text/t{i}.txt"),
                format!("/site/blob/b{i}.json"),
            ]
            .iter()
            .enumerate()
            {
                let (packed, plain) = gzip_get(&addr, path).expect("a response");
                got[k].0 += 1;
                got[k].1 += packed;
                got[k].2 += plain;
            }
        }
    }
    let (status, err) = common::interrupt(&mut gozt.0);
    assert!(status.success(), "gozt: {status}: {err}");
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, "caddy");
    let routes = report["routes"].as_array().unwrap();
    let names: Vec<&str> = routes
        .iter()
        .map(|r| r["route"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["GET /site/blob", "GET /site/text"], "{routes:?}");
    for (k, name, failures) in [(1, "GET /site/blob", 10), (0, "GET /site/text", 0)] {
        let r = &routes[names.iter().position(|n| *n == name).unwrap()];
        let (n, packed, plain) = got[k];
        let c = &r["counters"];
        assert_eq!(
            (c["payloads"].as_u64(), c["eligible"].as_u64()),
            (Some(n), Some(n)),
            "{name}: {r}"
        );
        assert_eq!(c["failures"], failures, "{name}: {r}");
        assert_eq!(r["original_bytes"], plain, "{name}");
        assert_eq!(
            r["compressed_bytes"], packed,
            "{name}: what the client received"
        );
    }
    // Every payload made serving a request: the callers could not tell the
    // two apart (caddy's encode middleware makes them all).
    assert_eq!(report["totals"]["payloads"], 20);
}

const SKOPEO: &str = "/usr/bin/skopeo";

/// Makes, under `dir`, an image of one uncompressed layer (a tar of about
/// 3 MB of text: three of pgzip's 1 MB blocks) as an OCI layout (`oci`) and
/// the same image with its layer xz-compressed in skopeo's `dir:` format
/// (`xz`); prints the layer's size.
const IMAGES: &str = r#"
import hashlib, io, json, lzma, os, sys, tarfile
d = sys.argv[1]
words = [b"gozt ", b"pgzip ", b"layer ", b"skopeo ", b"blob "]
text = b"".join(words[(i * 7 + i // 5) % 5] for i in range(500000))
buf = io.BytesIO()
with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
    info = tarfile.TarInfo("words.txt")
    info.size = len(text)
    t.addfile(info, io.BytesIO(text))
layer = buf.getvalue()
def digest(b):
    return "sha256:" + hashlib.sha256(b).hexdigest()
config = json.dumps({"architecture": "amd64", "os": "linux", "config": {},
    "rootfs": {"type": "layers", "diff_ids": [digest(layer)]}}).encode()
def manifest(blob):
    return json.dumps({"schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": digest(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar",
                    "digest": digest(blob), "size": len(blob)}]}).encode()
def put(path, b):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    open(path, "wb").write(b)
oci = os.path.join(d, "oci")
for b in (layer, config, manifest(layer)):
    put(os.path.join(oci, "blobs", "sha256", digest(b)[7:]), b)
m = manifest(layer)
put(os.path.join(oci, "index.json"), json.dumps({"schemaVersion": 2, "manifests": [{
    "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": digest(m),
    "size": len(m), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}).encode())
put(os.path.join(oci, "oci-layout"), b'{"imageLayoutVersion":"1.0.0"}')
xz = lzma.compress(layer, format=lzma.FORMAT_XZ)
xd = os.path.join(d, "xz")
for b in (xz, config):
    put(os.path.join(xd, digest(b)[7:]), b)
put(os.path.join(xd, "manifest.json"), manifest(xz))
put(os.path.join(xd, "version"), b"Directory Transport Version: 1.1\n")
print(len(layer))
"#;

/// gozt's JSON report of `skopeo copy ARGS`, traced from its start.
fn skopeo_traced(dir: &std::path::Path, what: &str, args: &[&str]) -> Value {
    let out = dir.join(format!("{what}.json"));
    let run = Command::new(env!("CARGO_BIN_EXE_gozt"))
        .args(["trace", "--json", "-q", "-o"])
        .arg(&out)
        .args(["--", SKOPEO, "--insecure-policy", "copy", "-q"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{what}: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value = serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    common::assert_schema_valid(&report, what);
    common::assert_nothing_lost(&report);
    report
}

/// The size of the largest file in `dir` (an image's layer, in skopeo's
/// `dir:` format).
fn largest_file(dir: &std::path::Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().metadata().unwrap().len())
        .max()
        .unwrap()
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn skopeo_pgzip_and_xz_layers_sizes_exact() {
    common::require_privileged();
    let _one = BPF.lock().unwrap_or_else(|e| e.into_inner());
    if !installed(SKOPEO, "skopeo") {
        return;
    }
    let dir = common::TempDir::new("real-skopeo");
    let made = Command::new("python3")
        .args(["-c", IMAGES])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert!(made.status.success(), "{made:?}");
    let layer: u64 = String::from_utf8(made.stdout)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let at = |name: &str| dir.join(name).display().to_string();
    // pgzip: its header written by the first Write, its three blocks on
    // its own goroutine, its trailer by Close.
    let gz = skopeo_traced(
        &dir,
        "gzip",
        &[
            "--dest-compress",
            "--dest-compress-format",
            "gzip",
            &format!("oci:{}:latest", at("oci")),
            &format!("dir:{}", at("gz")),
        ],
    );
    let blob = largest_file(&dir.join("gz"));
    assert!(blob < layer, "{blob} of {layer}");
    let close = row(&gz, "github.com/klauspost/pgzip.(*Writer).Close");
    assert_eq!(close["payloads"], 1, "{close}");
    assert_eq!(close["not_judged"], 0, "{close}");
    assert_eq!(close["payload_original_bytes"], layer, "{close}");
    assert_eq!(close["payload_compressed_bytes"], blob, "the blob on disk");
    let write = row(&gz, "github.com/klauspost/pgzip.(*Writer).Write");
    assert_eq!(write["bytes_in"], layer, "{write}");
    // Its blocks' flate streams are pgzip's own: no payload of their own.
    let functions: Vec<&str> = gz["functions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["function"].as_str().unwrap())
        .collect();
    assert!(
        functions.iter().all(|f| f.contains("pgzip")),
        "{functions:?}"
    );
    assert_eq!(gz["totals"]["payloads"], 1);
    // pgzip's reader, decoding ahead on its own goroutine; xz's reader.
    for (from, to, reader) in [
        ("gz", "un", "github.com/klauspost/pgzip.(*Reader).Read"),
        ("xz", "unxz", "github.com/ulikunitz/xz.(*Reader).Read"),
    ] {
        let from = format!("dir:{}", at(from));
        let report = skopeo_traced(
            &dir,
            to,
            &["--dest-decompress", &from, &format!("dir:{}", at(to))],
        );
        assert_eq!(largest_file(&dir.join(to)), layer, "{to}");
        let read = row(&report, reader);
        assert_eq!(read["payloads"], 1, "{read}");
        assert_eq!(read["payload_original_bytes"], layer, "{read}");
        assert_eq!(read["errors"], 0, "{read}");
        assert_eq!(report["totals"]["payloads"], 1, "{to}");
    }
}
