//! The correction for gozt's own traps, on replayed events (no root): the
//! rules that do not depend on timing. Whatever the trap cost figure — right,
//! too low, or inflated many times over as by a preempted calibration — no
//! call's time is invented (it is its measured time, or that less its traps
//! at the figure), every call left as measured is counted `uncorrected`, and
//! an outer call's p50 is never below its inner call's. `--no-correction`
//! reports the times as measured.

mod common;

use gozt::event::CallEvent;
use gozt::stats::correct::Corrector;
use gozt::stats::{Aggregator, FunctionReport, Report};

use common::NoNames;

/// A small deterministic generator (xorshift64*), so that a failure
/// replays.
struct Rng(u64);
impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) % n
    }
}

const OUTER: u32 = 0;
const INNER: u32 = 1;
/// What one trap really costs in the replayed calls.
const TRUE_TRAP_NS: u64 = 1_500;

/// Consistent calls, as the programs measure them: on each of 40
/// goroutines, outer calls each made around one inner call. The inner call
/// writes `s` times to its sink (each a trap inside both calls); around it,
/// its entry and RET trap inside the outer call. Bodies, sinks and trap
/// costs vary; each duration is exactly its body plus the traps it holds.
fn calls(seed: u64) -> Vec<CallEvent> {
    let mut rng = Rng(seed);
    let mut out = Vec::new();
    let mut clock = 1_000_000u64;
    for round in 0..600u64 {
        let goid = 1 + round % 40;
        let sinks = rng.below(400) as u32;
        let inner_body = 1_000 + rng.below(400_000);
        let outer_body = 500 + rng.below(200_000);
        let inner_ns = inner_body + u64::from(sinks) * TRUE_TRAP_NS;
        let outer_ns = outer_body + inner_ns + 2 * TRUE_TRAP_NS;
        let base = CallEvent {
            tgid: 4242,
            goid,
            bytes_in: Some(10_000),
            bytes_out: Some(4_000),
            stack: vec![],
            ..Default::default()
        };
        out.push(CallEvent {
            func_id: INNER,
            start_ns: clock + outer_body / 2 + TRUE_TRAP_NS,
            duration_ns: inner_ns,
            traps_inside: sinks,
            outer: Some(OUTER),
            ..base.clone()
        });
        out.push(CallEvent {
            func_id: OUTER,
            start_ns: clock,
            duration_ns: outer_ns,
            traps_inside: sinks + 2,
            ..base
        });
        clock += outer_ns + 10_000;
    }
    out
}

/// The report of `events` corrected at `trap_ns` (None: --no-correction),
/// and the events as counted.
fn corrected(events: &[CallEvent], trap_ns: Option<u64>) -> (Report, Vec<CallEvent>) {
    let mut agg = Aggregator::new(common::catalog_funcs(2), gozt::stats::Rules::DEFAULT);
    let mut corrector = Corrector::new();
    let mut counted = Vec::new();
    for ev in events {
        let mut ev = ev.clone();
        if let Some(ns) = trap_ns {
            let cost = gozt::event::TrapCost {
                stepped_ns: ns,
                emulated_ns: ns,
            };
            corrector.correct(&mut ev, Some(cost));
        }
        agg.add(&ev, &mut NoNames);
        counted.push(ev);
    }
    (agg.report(Vec::new(), 1.0, Default::default()), counted)
}

fn row(r: &Report, func: u32) -> &FunctionReport {
    let name = &common::catalog_funcs(2)[func as usize].function;
    r.functions
        .iter()
        .find(|f| &f.function == name && f.inner == (func == INNER))
        .expect("a row for the function")
}

/// Figures from a fifth of a trap's real cost to 2,000 times it.
const FIGURES: [u64; 7] = [300, 1_000, 1_500, 2_000, 4_000, 300_000, 3_000_000];

/// `check` on each of 5 seeds' calls corrected at each of [`FIGURES`]:
/// (seed, figure, the calls as measured, the report, the calls as counted).
fn each_case(check: impl Fn(u64, u64, &[CallEvent], &Report, &[CallEvent])) {
    for seed in 1..=5 {
        let events = calls(seed);
        for trap_ns in FIGURES {
            let (report, counted) = corrected(&events, Some(trap_ns));
            check(seed, trap_ns, &events, &report, &counted);
        }
    }
}

#[test]
fn no_time_is_invented_and_each_call_left_as_measured_is_counted() {
    each_case(|_, trap_ns, events, report, counted| {
        for (raw, ev) in events.iter().zip(counted) {
            let own = u64::from(raw.traps_inside) * trap_ns;
            if ev.uncorrected {
                assert_eq!(ev.duration_ns, raw.duration_ns, "as measured");
                assert_eq!(ev.correction_ns, 0);
            } else {
                assert_eq!(ev.duration_ns, raw.duration_ns - own, "its traps off");
                assert_eq!(ev.correction_ns, own);
                assert!(ev.duration_ns >= 1);
            }
        }
        for func in [OUTER, INNER] {
            let of = |e: &&CallEvent| e.func_id == func;
            let sum = |v: fn(&CallEvent) -> u64| counted.iter().filter(of).map(v).sum::<u64>();
            let f = row(report, func);
            assert_eq!(f.uncorrected, sum(|e| u64::from(e.uncorrected)));
            assert_eq!(f.traps_inside, sum(|e| u64::from(e.traps_inside)));
            assert_eq!(f.correction_ns, sum(|e| e.correction_ns));
        }
    });
}

#[test]
fn the_right_figure_gives_each_call_its_time_without_traps() {
    let events = calls(7);
    let (report, counted) = corrected(&events, Some(TRUE_TRAP_NS));
    for (raw, ev) in events.iter().zip(&counted) {
        assert!(!ev.uncorrected);
        assert_eq!(
            ev.duration_ns,
            raw.duration_ns - u64::from(raw.traps_inside) * TRUE_TRAP_NS
        );
    }
    assert_eq!(row(&report, OUTER).uncorrected, 0);
    assert_eq!(row(&report, INNER).uncorrected, 0);
}

#[test]
fn an_outer_calls_p50_is_never_below_its_inner_calls() {
    each_case(|seed, trap_ns, _, report, counted| {
        // Call by call: each outer call at least its inner call.
        for pair in counted.chunks(2) {
            assert!(
                pair[1].duration_ns >= pair[0].duration_ns,
                "seed {seed}, {trap_ns} ns a trap: outer {} < inner {}",
                pair[1].duration_ns,
                pair[0].duration_ns
            );
        }
        let (outer, inner) = (row(report, OUTER), row(report, INNER));
        for (o, i) in [
            (outer.latency_ns.p50, inner.latency_ns.p50),
            (outer.latency_ns.p90, inner.latency_ns.p90),
            (outer.latency_ns.p99, inner.latency_ns.p99),
            (outer.latency_ns.max, inner.latency_ns.max),
        ] {
            assert!(
                o >= i,
                "seed {seed}, {trap_ns} ns a trap: outer {o} < inner {i}"
            );
        }
    });
}

#[test]
fn an_inflated_figure_leaves_calls_as_measured_never_at_1_ns() {
    // 2,000 times the real cost, as a preempted calibration could give:
    // every call with a trap inside would go below nothing (the old clamp
    // put each at 1 ns).
    let events = calls(3);
    let (report, counted) = corrected(&events, Some(3_000_000));
    let with_traps = events.iter().filter(|e| e.traps_inside > 0).count() as u64;
    let f = |func| row(&report, func).uncorrected;
    assert_eq!(f(OUTER) + f(INNER), with_traps);
    assert!(counted.iter().all(|e| e.duration_ns >= 500));
}

#[test]
fn no_correction_reports_times_as_measured() {
    let events = calls(11);
    let (report, counted) = corrected(&events, None);
    assert_eq!(
        counted.iter().map(|e| e.duration_ns).collect::<Vec<_>>(),
        events.iter().map(|e| e.duration_ns).collect::<Vec<_>>()
    );
    let outer = row(&report, OUTER);
    assert_eq!(outer.correction_ns, 0);
    assert_eq!(outer.uncorrected, 0);
    assert_eq!(
        outer.traps_inside,
        events
            .iter()
            .filter(|e| e.func_id == OUTER)
            .map(|e| u64::from(e.traps_inside))
            .sum::<u64>(),
        "the traps inside are reported all the same"
    );
}
