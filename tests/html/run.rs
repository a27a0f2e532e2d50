//! Runs made from replayed events, without root: every interval's report
//! and the final report, as `--interval --json` writes them (JSON Lines,
//! the final report last), with fixed times and metadata so that pages
//! made of them are the same from run to run.

use gozt::event::{CallEvent, Lost};
use gozt::probe::catalog::Api;
use gozt::stats::{
    Aggregator, FuncMeta, IntervalReport, Meta, Report, Rules, Symbolizer, TargetInfo,
};

struct Callers;

impl Symbolizer for Callers {
    fn function_at(&mut self, _pid: u32, addr: u64) -> Option<String> {
        Some(format!("main.(*handler).serve{}", addr % 5))
    }
}

pub struct Run {
    pub intervals: Vec<IntervalReport>,
    pub report: Report,
}

impl Run {
    /// As `--interval --json` writes it.
    pub fn json_lines(&self) -> String {
        let mut s: String = self
            .intervals
            .iter()
            .map(gozt::render::interval::json)
            .collect();
        s.push_str(&gozt::render::report::json_line(&self.report));
        s
    }
}

/// The one-shot functions of the catalog, `n` of them.
fn functions(n: usize) -> Vec<FuncMeta> {
    gozt::probe::catalog::entries()
        .into_iter()
        .filter(|e| e.api == Api::Oneshot)
        .take(n)
        .map(|e| FuncMeta {
            function: e.symbol(),
            entry: e,
            target: 0,
            sinks: false,
        })
        .collect()
}

/// A small deterministic generator (xorshift).
struct Dice(u64);

impl Dice {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    /// True with probability `p`.
    fn chance(&mut self, p: f64) -> bool {
        (self.next() % 1_000_000) as f64 / 1e6 < p
    }
}

/// `intervals` one-second intervals of `calls` calls each over `n`
/// functions, on `goroutines` goroutines: function 0 fails more and more
/// from the middle of the run on, function 1 fails now and then, the rest
/// rarely; some payloads are small (at or below min-size 1024), some
/// incompressible.
pub fn synthetic(
    n: usize,
    intervals: usize,
    calls: u64,
    goroutines: u64,
    min_eligible: u64,
) -> Run {
    let funcs = functions(n);
    let n = funcs.len() as u64;
    let compress: Vec<bool> = funcs
        .iter()
        .map(|f| f.entry.op == gozt::probe::catalog::Op::Compress)
        .collect();
    let mut all = Aggregator::new(
        funcs,
        Rules {
            min_size: 1024,
            alert_threshold: 0.003,
            min_eligible,
            ..Rules::DEFAULT
        },
    );
    let mut each = all.functions_only();
    let mut dice = Dice(0x9e37_79b9_7f4a_7c15);
    let mut out = Vec::new();
    let mut t = 0u64;
    for i in 0..intervals {
        for k in 0..calls {
            let f = k % n;
            let late = i * 2 >= intervals;
            let p_error = match f {
                0 if late => 0.02 + 0.002 * (i - intervals / 2) as f64,
                0 => 0.001,
                1 => {
                    if i % 7 == 3 {
                        0.03
                    } else {
                        0.0005
                    }
                }
                _ => 0.0002,
            };
            let size = match dice.next() % 10 {
                0 => 300,
                1 => 1024,
                r => 2048 << (r % 6),
            };
            let incompressible = dice.chance(p_error / 2.0);
            let error = !incompressible && dice.chance(p_error);
            let (bytes_in, bytes_out) = match (compress[f as usize], incompressible) {
                (true, false) => (size, size / 3),
                (true, true) => (size, size + 16),
                (false, _) => (size / 3, size),
            };
            t += 1_000;
            let ev = CallEvent {
                tgid: 4242,
                goid: 1 + dice.next() % goroutines,
                func_id: f as u32,
                start_ns: t,
                duration_ns: 800 + dice.next() % (size * 4) + if f == 0 { 40_000 } else { 0 },
                bytes_in: Some(bytes_in),
                bytes_out: Some(bytes_out),
                error,
                stack: vec![0x401000 + dice.next() % 7],
                // Two thirds made serving requests, of two routes.
                route: (k % 3 != 0).then(|| gozt::event::RouteSeen {
                    method: "GET".into(),
                    text: ["/api/v1/query", "/static/app.js"][(k % 2) as usize].into(),
                    len: 14,
                    pattern: false,
                }),
                ..Default::default()
            };
            let payload = all.judge(&ev);
            all.add_judged(&ev, payload.as_ref(), &mut Callers);
            each.add_judged(&ev, payload.as_ref(), &mut Callers);
        }
        let r = each.report(Vec::new(), 1.0, Lost::default());
        let time = format!("2026-11-30T12:{:02}:{:02}.000Z", (i + 1) / 60, (i + 1) % 60);
        out.push(IntervalReport::new(&r, time));
        each.reset();
    }
    let targets = vec![TargetInfo {
        pid: 4242,
        binary: "/srv/app".into(),
        go_version: "go1.27.3".into(),
        ns_pid: Some(1),
        container_id: Some(
            "4c01db0b339c7a2c9c6d5b1d8a6c4b5e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b8c".into(),
        ),
        exe: "/usr/local/bin/app".into(),
        start_time: Some("2026-11-30T11:59:58.120Z".into()),
        start_ticks: 987_654,
        ..TargetInfo::default()
    }];
    let lost = Lost {
        abandoned: 2,
        unmatched_returns: 5,
        ..Lost::default()
    };
    let mut report = all.report(targets, intervals as f64, lost);
    report.meta = Meta {
        gozt_version: "0.0.0-golden".into(),
        host: "golden-host".into(),
        kernel: "6.12.0-golden".into(),
        started: "2026-11-30T12:00:00.000Z".into(),
        ended: out.last().map(|r| r.time.clone()).unwrap_or_default(),
        command_line: ["gozt", "attach", "-p", "4242", "--interval", "1s", "--json"]
            .map(String::from)
            .to_vec(),
        attach_method: "uprobe_multi".into(),
    };
    Run {
        intervals: out,
        report,
    }
}
