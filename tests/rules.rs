//! One `Rules` value, taken whole: the flags make it (their defaults are
//! `Rules::DEFAULT`), and the session's aggregator, each interval's, each
//! target's and the exporter all judge by it. The calls below are eligible
//! and fail above the threshold only by the rules given, not the defaults.

mod common;

use clap::Parser;
use gozt::app::cli::{Cli, Command};
use gozt::event::{CallEvent, Lost};
use gozt::proc::identity::ProcId;
use gozt::session::breakdown::Breakdown;
use gozt::stats::{Aggregator, Call, CallSink, FuncMeta, Rules, State};

const RULES: Rules = Rules {
    min_size: 100,
    alert_threshold: 0.05,
    min_eligible: 2,
    ..Rules::DEFAULT
};

fn rules_of(args: &[&str]) -> Rules {
    let Command::Attach(a) = Cli::try_parse_from(args).unwrap().command else {
        panic!("not attach: {args:?}");
    };
    let targets = gozt::session::Targets::Pids(vec![1.into()]);
    gozt::app::config::session(targets, &a.common)
        .unwrap()
        .rules
}

#[test]
fn the_flags_make_the_rules() {
    assert_eq!(rules_of(&["gozt", "attach", "-p", "1"]), Rules::DEFAULT);
    let given = [
        "gozt",
        "attach",
        "-p",
        "1",
        "--min-size",
        "100",
        "--alert-threshold",
        "5%",
        "--min-eligible",
        "2",
    ];
    assert_eq!(rules_of(&given), RULES);
}

use common::NoNames;

/// zstd's EncodeAll.
fn encode_all() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
        .into_iter()
        .filter(|f| f.function.ends_with("zstd.(*Encoder).EncodeAll"))
        .collect()
}

/// Three 200-byte payloads, one of which did not shrink: by RULES all
/// three are eligible and 1 in 3 failed (ALERT: the 95 % interval of 1 in
/// 3, 6.1-79 %, lies above 5 %); by the defaults none is.
fn calls() -> Vec<CallEvent> {
    (0..3u64)
        .map(|i| CallEvent {
            tgid: 7,
            goid: i,
            duration_ns: 1000,
            bytes_in: Some(200),
            bytes_out: Some(if i == 0 { 250 } else { 50 }),
            ..Default::default()
        })
        .collect()
}

#[test]
fn every_count_judges_by_the_same_rules() {
    let mut session = Aggregator::new(encode_all(), RULES);
    let mut interval = session.functions_only();
    let mut targets = Breakdown::like(&session);
    for ev in calls() {
        let payload = session.judge(&ev);
        let call = Call {
            process: ProcId::default(),
            event: &ev,
            payload: payload.as_ref(),
        };
        for count in [
            &mut session as &mut dyn CallSink,
            &mut interval,
            &mut targets,
        ] {
            count.observe(&call, &mut NoNames);
        }
    }
    let r = session.report(Vec::new(), 1.0, Lost::default());
    assert_eq!(
        (r.min_size, r.alert_threshold, r.min_eligible),
        (100, 0.05, 2)
    );
    assert_eq!((r.totals.eligible, r.totals.failures), (3, 1));
    assert_eq!(r.totals.state, State::Alert);
    let i = interval.report(Vec::new(), 1.0, Lost::default());
    assert_eq!(i.totals, r.totals);
    let per = targets.report(1.0);
    assert_eq!(per[0].totals, r.totals);
    let defaults = Aggregator::new(encode_all(), Rules::DEFAULT);
    let mut d = defaults;
    for ev in calls() {
        d.add(&ev, &mut NoNames);
    }
    let by_defaults = d.report(Vec::new(), 1.0, Lost::default()).totals;
    assert_eq!(
        (by_defaults.eligible, by_defaults.state),
        (0, State::TooFew)
    );
}

#[test]
fn the_exporter_states_the_rules() {
    let text = gozt::exporter::Metrics::new(encode_all(), RULES).encode();
    for line in [
        "gozt_min_size_bytes 100\n",
        "gozt_alert_threshold_ratio 0.05\n",
        "gozt_min_eligible 2\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}

/// `n` payloads of EncodeAll, each failing (not shrinking) with chance `p`
/// (a seeded xorshift): the session's report of them.
fn sampled(n: u64, p: f64, seed: u64) -> gozt::stats::Report {
    let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut agg = Aggregator::new(encode_all(), Rules::DEFAULT);
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let fails = ((x >> 11) as f64 / (1u64 << 53) as f64) < p;
        let ev = CallEvent {
            tgid: 7,
            goid: i % 5,
            duration_ns: 1000,
            bytes_in: Some(4096),
            bytes_out: Some(if fails { 4100 } else { 900 }),
            ..Default::default()
        };
        agg.add(&ev, &mut NoNames);
    }
    agg.report(Vec::new(), 1.0, Lost::default())
}

/// The failure rate's 95 % interval covers the true rate in at least 93 of
/// 100 seeded samples: of 2,000 payloads at 0.5 % (near the default
/// threshold, where it matters), and of 60 at 10 % (few payloads).
#[test]
fn the_rate_interval_covers_the_true_rate() {
    for (n, p) in [(2_000, 0.005), (60, 0.10)] {
        let mut covered = 0;
        for seed in 0..100 {
            let t = sampled(n, p, seed).totals;
            assert!(t.failure_rate_low <= t.failure_rate && t.failure_rate <= t.failure_rate_high);
            covered += u32::from(t.failure_rate_low <= p && p <= t.failure_rate_high);
        }
        eprintln!("{n} payloads at {p}: covered in {covered} of 100");
        assert!(
            covered >= 93,
            "{n} payloads at {p}: covered in {covered} of 100"
        );
    }
}

/// Above the threshold, the state is an alert only when the interval lies
/// above it too; where the interval reaches it, likely.
#[test]
fn an_alert_needs_the_whole_interval_above_the_threshold() {
    // 0.4 % of 1,000 (above 0.3 %): the interval is 0.16-1.0 %.
    let t = sampled(1_000, 0.0, 0).totals;
    assert_eq!(t.state, State::Ok);
    let mut agg = Aggregator::new(encode_all(), Rules::DEFAULT);
    for i in 0..1_000u64 {
        let ev = CallEvent {
            tgid: 7,
            goid: 1,
            duration_ns: 1000,
            bytes_in: Some(4096),
            bytes_out: Some(if i < 4 { 4100 } else { 900 }),
            ..Default::default()
        };
        agg.add(&ev, &mut NoNames);
    }
    let t = agg.report(Vec::new(), 1.0, Lost::default()).totals;
    assert_eq!((t.failures, t.state, t.alert), (4, State::Likely, false));
    assert!(
        t.failure_rate_low < 0.003 && t.failure_rate_high > 0.003,
        "{t:?}"
    );
    // 2 % of 1,000: its interval (1.3-3.1 %) lies above: an alert.
    let t = sampled(1_000, 0.02, 3).totals;
    assert_eq!((t.state, t.alert), (State::Alert, true), "{t:?}");
}
