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
use gozt::stats::{Aggregator, Call, CallSink, FuncMeta, Rules, State, Symbolizer};

const RULES: Rules = Rules {
    min_size: 100,
    alert_threshold: 0.25,
    min_eligible: 2,
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
        "25%",
        "--min-eligible",
        "2",
    ];
    assert_eq!(rules_of(&given), RULES);
}

struct NoNames;

impl Symbolizer for NoNames {
    fn function_at(&mut self, _: u32, _: u64) -> Option<String> {
        None
    }
}

/// zstd's EncodeAll.
fn encode_all() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
        .into_iter()
        .filter(|f| f.function.ends_with("zstd.(*Encoder).EncodeAll"))
        .collect()
}

/// Three 200-byte payloads, one of which did not shrink: by RULES all
/// three are eligible and 1 in 3 failed (ALERT); by the defaults none is.
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
        (100, 0.25, 2)
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
        "gozt_alert_threshold_ratio 0.25\n",
        "gozt_min_eligible 2\n",
    ] {
        assert!(text.contains(line), "{line}: {text}");
    }
}
