//! The Prometheus exporter and the fleet examples. Without root: the
//! exporter's output passes `promtool check metrics` and counts replayed calls
//! exactly; the example rules pass `promtool test rules`; the Grafana
//! dashboard is dashboard JSON whose every query names a metric gozt exports
//! or a recording rule of the examples. With root: a real Prometheus server on
//! loopback scrapes `gozt attach --binary ... --prometheus` while the workload
//! does known work, and the failure ratio it returns equals the workload's
//! ground truth; a restarted target's old series go away. promtool and
//! prometheus come from Debian's prometheus package; with CI=true their
//! absence fails the run.

mod common;

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use gozt::event::{CallEvent, Lost};
use gozt::exporter::{Metrics, METRICS};
use serde_json::Value;

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples")
}

/// Whether `tool` runs; with CI=true a missing tool fails the test.
fn have(tool: &str) -> bool {
    common::present_or_skip(
        Command::new(tool).arg("--version").output().is_ok(),
        tool,
        " (Debian package prometheus)",
    )
}

/// Target `pid` running `binary` (go1.27.3), in `container` if any.
fn target(pid: u32, binary: &str, container: Option<&str>) -> gozt::stats::TargetInfo {
    gozt::stats::TargetInfo {
        pid,
        binary: binary.into(),
        go_version: "go1.27.3".into(),
        container_id: container.map(str::to_string),
        ..Default::default()
    }
}

#[test]
fn an_exited_targets_series_stay_for_the_grace_period_then_go() {
    use gozt::stats::CallSink;
    let funcs = common::catalog_funcs(2);
    let series = |m: &Metrics, pid: u32| m.encode().contains(&format!("pid=\"{pid}\""));
    let traced = |m: &Metrics| {
        m.encode()
            .lines()
            .find_map(|l| l.strip_prefix("gozt_targets ").map(str::to_string))
    };
    let mut m = Metrics::new(funcs.clone(), gozt::stats::Rules::DEFAULT)
        .with_grace(Duration::from_secs(3600));
    m.add_target(&target(4242, "/srv/app", None));
    m.add_target(&target(4343, "/srv/app", None));
    m.forget_process(4343);
    m.prune();
    // Within the grace period: still scraped, no longer traced.
    assert!(series(&m, 4343));
    assert_eq!(traced(&m).as_deref(), Some("1"));
    // Another process on its pid: the old series go at once.
    m.add_target(&target(4343, "/srv/other", None));
    let old = "gozt_target_info{binary=\"/srv/app\",build_id=\"\",container_id=\"\",\
               go_version=\"go1.27.3\",module_version=\"\",pid=\"4343\"}";
    assert!(!m.encode().contains(old));
    assert!(m.encode().contains(&old.replace("/srv/app", "/srv/other")));
    assert_eq!(traced(&m).as_deref(), Some("2"));
    // Past it: gone.
    let mut m = Metrics::new(funcs, gozt::stats::Rules::DEFAULT).with_grace(Duration::ZERO);
    m.add_target(&target(4242, "/srv/app", None));
    m.forget_process(4242);
    m.prune();
    assert!(!series(&m, 4242));
    assert_eq!(traced(&m).as_deref(), Some("0"));
}

#[test]
fn exporter_output_passes_promtool_and_counts_exactly() {
    let funcs = common::catalog_funcs(usize::MAX);
    // Calls of the payloads' functions (constructors have series of their
    // own, fed below).
    let payload_ids: Vec<u32> = (0..funcs.len() as u32)
        .filter(|&i| funcs[i as usize].entry.role.is_payload_call())
        .collect();
    let id = |name: &str| funcs.iter().position(|f| f.function == name).unwrap() as u32;
    let (new_writer, writer_init) = (
        id("compress/gzip.NewWriterLevel"),
        id("compress/gzip.(*Writer).init"),
    );
    // The session's judge of payloads, as `Aggregator::judge` is.
    let mut judge = gozt::stats::Aggregator::new(funcs.clone(), gozt::stats::Rules::DEFAULT);
    let mut m = Metrics::new(funcs, gozt::stats::Rules::DEFAULT);
    m.add_target(&target(4242, "/srv/app", None));
    m.add_target(&gozt::stats::TargetInfo {
        module_version: Some("v1.4.2".into()),
        build_id: Some("jPaBKZVImbiIBosMp0QA/xg5lRKCZDaF_sEceJ1ho".into()),
        ..target(4343, "/srv/app", Some("4c01db0b339c"))
    });
    let (mut original, mut compressed, mut writes, mut errors) = (0u64, 0u64, 0u64, 0u64);
    for i in 0..1000u64 {
        let ev = CallEvent {
            tgid: if i % 3 == 0 { 4343 } else { 4242 },
            proc_start_ns: 0,
            ret_ip: 0,
            goid: i % 7,
            func_id: payload_ids[i as usize % payload_ids.len()],
            start_ns: i,
            duration_ns: 1_000 + i * 997,
            bytes_in: Some(2048),
            bytes_out: Some(if i % 10 == 0 { 4096 } else { 512 }),
            error: i % 25 == 0,
            stack: vec![],
            ..Default::default()
        };
        let payload = judge.judge(&ev);
        if let Some(p) = &payload {
            original += p.judged.original_bytes;
            errors += u64::from(p.judged.error);
            compressed += p.judged.compressed_bytes.unwrap_or(0);
        }
        m.count(&ev, payload.as_ref(), &mut common::NoNames);
        // Every other payload written at once to a socket.
        if payload.is_some() && i % 2 == 0 {
            let write = CallEvent {
                start_ns: ev.start_ns + ev.duration_ns + 100,
                duration_ns: 5_000,
                bytes_in: Some(300),
                bytes_out: Some(300),
                error: false,
                write: Some(gozt::event::WriteSeen {
                    payload_end_ns: ev.start_ns + ev.duration_ns,
                    kind: gozt::event::FdKind::Tcp,
                }),
                ..ev.clone()
            };
            m.count(&write, None, &mut common::NoNames);
            writes += 1;
        }
    }
    // Three gzip writers built, one reset (with --resets).
    for (i, func_id) in [new_writer, new_writer, new_writer, writer_init]
        .into_iter()
        .enumerate()
    {
        let ev = CallEvent {
            tgid: 4242,
            goid: 9,
            func_id,
            start_ns: 10_000_000 * i as u64,
            duration_ns: 250_000,
            ..Default::default()
        };
        m.count(&ev, None, &mut common::NoNames);
    }
    m.lost(&Lost {
        unmatched_returns: 3,
        ..Lost::default()
    });
    let text = m.encode();
    let sum = |metric: &str| -> f64 {
        text.lines()
            .filter(|l| l.starts_with(&format!("{metric}{{")))
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum()
    };
    assert_eq!(sum("gozt_calls_total"), 1000.0, "writes are no calls");
    assert!(writes > 0);
    assert_eq!(sum("gozt_downstream_writes_total"), writes as f64);
    assert_eq!(
        sum("gozt_downstream_write_bytes_total"),
        (300 * writes) as f64
    );
    assert!(errors > 0);
    assert_eq!(sum("gozt_errors_total"), errors as f64);
    assert_eq!(sum("gozt_call_duration_seconds_count"), 1000.0);
    // Payload sizes on the function that ends them.
    assert!(original > 0 && compressed > 0);
    assert_eq!(sum("gozt_payload_original_bytes_total"), original as f64);
    assert_eq!(
        sum("gozt_payload_compressed_bytes_total"),
        compressed as f64
    );
    assert!(text.contains("gozt_lost_events_total{cause=\"unmatched_returns\"} 3"));
    assert!(text.contains(
        "gozt_target_info{binary=\"/srv/app\",build_id=\"\",container_id=\"\",go_version=\"go1.27.3\",module_version=\"\",pid=\"4242\"} 1"
    ));
    assert!(text.contains(
        "gozt_target_info{binary=\"/srv/app\",build_id=\"jPaBKZVImbiIBosMp0QA/xg5lRKCZDaF_sEceJ1ho\",container_id=\"4c01db0b339c\",go_version=\"go1.27.3\",module_version=\"v1.4.2\",pid=\"4343\"} 1"
    ));
    assert!(text.contains(
        "gozt_encoder_builds_total{binary=\"/srv/app\",kind=\"writer\",library=\"compress/gzip\",pid=\"4242\"} 3"
    ));
    assert!(text.contains(
        "gozt_encoder_resets_total{binary=\"/srv/app\",kind=\"writer\",library=\"compress/gzip\",pid=\"4242\"} 1"
    ));
    assert!(text.contains(
        "gozt_encoder_build_seconds_total{binary=\"/srv/app\",kind=\"writer\",library=\"compress/gzip\",pid=\"4242\"} 0.00075"
    ));
    // No goroutine id among the labels: series stay bounded.
    assert!(!text.contains("goid"));
    // Every family gozt documents is there.
    for metric in METRICS {
        assert!(text.contains(&format!("# TYPE {metric} ")), "{metric}");
    }
    // A target that exits takes its series with it.
    m.retain_targets(&[4242].into_iter().collect());
    let after = m.encode();
    assert!(!after.contains("pid=\"4343\""));
    assert!(after.contains("pid=\"4242\""));

    if !have("promtool") {
        return;
    }
    let mut check = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    check
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let out = check.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool check metrics: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn example_rules_and_config_pass_promtool() {
    if !have("promtool") {
        return;
    }
    let dir = examples().join("prometheus");
    for args in [
        &["check", "rules", "rules.yml"][..],
        &["test", "rules", "rules_test.yml"][..],
        &["check", "config", "--syntax-only", "prometheus.yml"][..],
    ] {
        let out = Command::new("promtool")
            .args(args)
            .current_dir(&dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "promtool {args:?}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// Metric names a PromQL expression reads (identifiers before `{`, `[` or
/// `)` that are not functions, keywords or label names).
fn metric_names(expr: &str) -> Vec<String> {
    let mut names = Vec::new();
    let chars: Vec<char> = expr.chars().collect();
    let mut i = 0;
    let mut in_braces = false;
    let mut in_string = false;
    while i < chars.len() {
        let c = chars[i];
        if in_string {
            in_string = c != '"';
            i += 1;
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' => in_braces = true,
            '}' => in_braces = false,
            _ => {}
        }
        if !in_braces && (c.is_ascii_alphabetic() || c == '_') {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_alphanumeric() || "_:".contains(chars[i])) {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            let next = chars[i..].iter().find(|c| !c.is_whitespace());
            let is_call = next == Some(&'(');
            if (word.starts_with("gozt_") || word.contains(":gozt_")) && !is_call {
                names.push(word);
            }
            continue;
        }
        i += 1;
    }
    names
}

#[test]
fn grafana_dashboard_queries_only_exported_metrics() {
    let path = examples().join("grafana/gozt-dashboard.json");
    let dash: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .expect("the dashboard is JSON");
    // The shape Grafana loads: a titled dashboard with a schema version and
    // panels that each have a type, a position and queries.
    assert!(dash["title"].is_string() && dash["uid"].is_string());
    assert!(dash["schemaVersion"].as_u64().unwrap() >= 30);
    let panels = dash["panels"].as_array().unwrap();
    let rules = std::fs::read_to_string(examples().join("prometheus/rules.yml")).unwrap();
    let recorded: Vec<&str> = rules
        .lines()
        .filter_map(|l| l.trim().strip_prefix("- record: "))
        .collect();
    let mut kinds = std::collections::BTreeSet::new();
    let mut queried = 0;
    for p in panels {
        let title = p["title"].as_str().unwrap();
        kinds.insert(p["type"].as_str().unwrap().to_string());
        for k in ["x", "y", "w", "h"] {
            assert!(p["gridPos"][k].is_u64(), "{title}: gridPos.{k}");
        }
        let targets = p["targets"].as_array().unwrap();
        assert!(!targets.is_empty(), "{title}: no query");
        for t in targets {
            let expr = t["expr"].as_str().unwrap();
            let names = metric_names(expr);
            assert!(!names.is_empty(), "{title}: {expr}");
            for name in names {
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| *b == "gozt_call_duration_seconds")
                    .unwrap_or(&name);
                assert!(
                    METRICS.contains(&base) || recorded.contains(&base),
                    "{title}: {name} is neither exported by gozt nor recorded by rules.yml"
                );
                queried += 1;
            }
        }
    }
    assert!(kinds.contains("heatmap"), "a per-node failure-rate heatmap");
    assert!(
        panels.iter().any(|p| p["targets"][0]["expr"]
            .as_str()
            .unwrap()
            .contains("histogram_quantile")),
        "per-function latency panels"
    );
    assert!(queried >= 10);
    // The template variable reads a metric gozt exports too.
    let vars = dash["templating"]["list"].as_array().unwrap();
    assert!(vars.iter().any(|v| v["definition"]
        .as_str()
        .unwrap_or("")
        .contains("gozt_build_info")));
}

/// Starts a lingering workload, lets it work once `ready` says so, and
/// returns it with its ground truth.
fn workload(bin: &Path, goroutines: &str, ready: impl FnOnce(u32)) -> (common::Killed, Value) {
    let mut child =
        common::waiting_workload(bin, &["-linger", "-goroutines", goroutines, "-rounds", "2"]);
    ready(child.id());
    common::signal(child.id(), libc::SIGUSR1);
    let truth = serde_json::Deserializer::from_reader(child.stdout.take().unwrap())
        .into_iter::<Value>()
        .next()
        .unwrap()
        .unwrap();
    (common::Killed(child), truth)
}

#[test]
#[ignore = "needs root and BPF: cargo test -- --include-ignored"]
fn prometheus_scrapes_gozt_and_agrees_with_ground_truth() {
    common::require_privileged();
    assert!(
        have("prometheus"),
        "the prometheus server is needed (scripts/toolchains.sh)"
    );
    let bin = common::newest("workload-stripped");
    let dir = common::TempDir::new("prom");

    let mut gozt = common::Killed(
        Command::new(env!("CARGO_BIN_EXE_gozt"))
            .args(["attach", "--prometheus", "127.0.0.1:0", "--json", "-o"])
            .arg(dir.join("report.json"))
            .args(["--series-grace", "3s"])
            .arg("--binary")
            .arg(&bin)
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut line = String::new();
    std::io::BufReader::new(gozt.0.stderr.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    let exporter = line
        .trim()
        .strip_prefix("gozt: serving metrics at http://")
        .and_then(|s| s.strip_suffix("/metrics"))
        .unwrap_or_else(|| panic!("{line}"))
        .to_string();
    common::wait_for_attach();

    let prom = format!("127.0.0.1:{}", common::free_port());
    let config = dir.join("prometheus.yml");
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: gozt\n    static_configs:\n      - targets: ['{exporter}']\n",
            examples().join("prometheus/rules.yml").display()
        ),
    )
    .unwrap();
    let _server = common::start_prometheus("prometheus", &config, &dir.0, &prom);
    common::wait_for("Prometheus to be ready", || {
        common::http_get(&prom, "/-/ready").is_some()
    });

    // A process started after gozt, with known failures. Prometheus sees its
    // series at zero before its first call, so rate() counts every call.
    let (first, truth) = workload(&bin, "3", |pid| {
        common::wait_for("the new target's series at zero", || {
            common::query(&prom, &format!("sum(gozt_calls_total{{pid=\"{pid}\"}})")) == Some(0.0)
        })
    });
    let (calls, failures, eligible) = common::truth_sums(&truth);
    assert!(failures > 0 && eligible > failures);
    common::wait_for("Prometheus to scrape every call", || {
        common::query(&prom, "sum(gozt_calls_total{job=\"gozt\"})") == Some(calls as f64)
    });
    assert_eq!(
        common::query(&prom, "sum(gozt_failures_total{job=\"gozt\"})"),
        Some(failures as f64)
    );
    assert_eq!(
        common::query(&prom, "sum(gozt_eligible_total{job=\"gozt\"})"),
        Some(eligible as f64)
    );
    let ratio = common::query(
        &prom,
        "sum(gozt_failures_total{job=\"gozt\"}) / sum(gozt_eligible_total{job=\"gozt\"})",
    )
    .unwrap();
    assert_eq!(ratio, failures as f64 / eligible as f64);
    // The example recording rule runs on what gozt exports: every call
    // falls in its 5-minute window, so it gives the same ratio.
    common::wait_for("the recording rule", || {
        common::query(&prom, "instance:gozt_failure_ratio:rate5m")
            .is_some_and(|v| (v - ratio).abs() < 1e-9)
    });

    // The service restarts: the old process's series stay for the grace
    // period (the scrapes after its exit see its last counts), then go; the
    // new one's come.
    let old_pid = truth["pid"].as_u64().unwrap();
    drop(first);
    let gone = Instant::now();
    let (_second, truth2) = workload(&bin, "2", |_| {});
    let text = common::http_get(&exporter, "/metrics").unwrap();
    if gone.elapsed() < Duration::from_secs(2) {
        assert!(text.contains(&format!("pid=\"{old_pid}\"")), "{text}");
    }
    let new_pid = truth2["pid"].as_u64().unwrap();
    let (calls2, _, _) = common::truth_sums(&truth2);
    common::wait_for("the restarted target's series", || {
        let Some(text) = common::http_get(&exporter, "/metrics") else {
            return false;
        };
        let total: f64 = text
            .lines()
            .filter(|l| {
                l.starts_with("gozt_calls_total{") && l.contains(&format!("pid=\"{new_pid}\""))
            })
            .map(|l| l.rsplit(' ').next().unwrap().parse::<f64>().unwrap())
            .sum();
        !text.contains(&format!("pid=\"{old_pid}\"")) && total == calls2 as f64
    });

    common::signal(gozt.0.id(), libc::SIGINT);
    assert!(gozt.0.wait().unwrap().success());
}
