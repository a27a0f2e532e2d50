//! gozt's own traps out of a call's time. A call's measured duration holds
//! every trap gozt took on its goroutine while it ran (its inner traced
//! calls' entries and RETs, its stream's sinks): `traps_inside` of them, at
//! the trap cost the tracer measured (a trap with an empty program), and
//! the run time of gozt's programs for them (`prog_inside_ns`, timed in the
//! programs themselves: a sink's or an inner entry's is several times the
//! empty one's), come off — unless that is more than
//! the measured time allows. A call keeps at least the time of the inner
//! traced calls it made (as they are counted) plus 1 ns; where the
//! correction would take it below, the call keeps its time as measured and
//! is counted `uncorrected`. No duration is ever made up.
//!
//! Inner calls end before their outer call on the same goroutine, so their
//! events come first: each goroutine's inner calls are kept until the call
//! around them ends.

use std::collections::HashMap;

use crate::event::{CallEvent, TrapCost};

/// Inner calls kept per goroutine at most (those of an outer call that
/// never ended, say lost, go when the next outer call there ends).
const MAX_KEPT: usize = 256;
/// Goroutines with inner calls kept at most: beyond, all are forgotten
/// (their outer calls' floors are then only 1 ns).
const MAX_GOROUTINES: usize = 1 << 16;

/// An inner call that has ended: its measured span and its time as
/// counted.
#[derive(Debug, Clone, Copy)]
struct Ended {
    start_ns: u64,
    end_ns: u64,
    counted_ns: u64,
}

/// Takes gozt's traps out of calls' durations, one call at a time in the
/// order they ended.
#[derive(Debug, Default)]
pub struct Corrector {
    /// By (tgid, goid): inner calls ended whose outer call has not.
    inner: HashMap<(u32, u64), Vec<Ended>>,
}

impl Corrector {
    pub fn new() -> Corrector {
        Corrector::default()
    }

    /// Corrects `ev` at `cost` per trap (None: times stay as measured,
    /// `--no-correction`), setting its `correction_ns` or `uncorrected`.
    pub fn correct(&mut self, ev: &mut CallEvent, cost: Option<TrapCost>) {
        let Some(cost) = cost else {
            return;
        };
        let start = ev.start_ns;
        let end = start.saturating_add(ev.duration_ns);
        let key = (ev.tgid, ev.goid);
        // The inner calls it made: those that ran within its span (their
        // own inner calls were taken by them already).
        let mut inside_ns = 0u64;
        if let Some(kept) = self.inner.get_mut(&key) {
            kept.retain(|e| {
                let within = e.start_ns >= start && e.end_ns <= end;
                if within {
                    inside_ns = inside_ns.saturating_add(e.counted_ns);
                }
                !within
            });
        }
        let own = cost
            .of(u64::from(ev.traps_inside), u64::from(ev.emulated_inside))
            .saturating_add(u64::from(ev.prog_inside_ns));
        if own > 0 {
            let floor = inside_ns.max(1);
            match ev.duration_ns.checked_sub(own) {
                Some(left) if left >= floor => {
                    ev.duration_ns = left;
                    ev.correction_ns = own;
                }
                _ => ev.uncorrected = true,
            }
        }
        if ev.outer.is_some() {
            if self.inner.len() >= MAX_GOROUTINES && !self.inner.contains_key(&key) {
                self.inner.clear();
            }
            let kept = self.inner.entry(key).or_default();
            if kept.len() >= MAX_KEPT {
                kept.remove(0);
            }
            kept.push(Ended {
                start_ns: start,
                end_ns: end,
                counted_ns: ev.duration_ns,
            });
        } else if let Some(kept) = self.inner.get_mut(&key) {
            // An outermost call ended: inner calls that ended before it
            // and were not its belong to no call that can still end.
            kept.retain(|e| e.end_ns > end);
            if kept.is_empty() {
                self.inner.remove(&key);
            }
        }
    }

    /// The process has exited, or its pid is another's now.
    pub fn forget_process(&mut self, tgid: u32) {
        self.inner.retain(|&(pid, _), _| pid != tgid);
    }

    /// Goroutines with inner calls kept (tests).
    pub fn goroutines_kept(&self) -> usize {
        self.inner.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every trap at `ns`.
    fn cost(ns: u64) -> Option<TrapCost> {
        Some(TrapCost {
            stepped_ns: ns,
            emulated_ns: ns,
        })
    }

    fn call(goid: u64, start_ns: u64, duration_ns: u64, traps: u32) -> CallEvent {
        CallEvent {
            tgid: 7,
            goid,
            start_ns,
            duration_ns,
            traps_inside: traps,
            ..Default::default()
        }
    }

    #[test]
    fn traps_come_off_when_the_measured_time_allows() {
        let mut c = Corrector::new();
        let mut ev = call(1, 1000, 10_000, 4);
        c.correct(&mut ev, cost(1000));
        assert_eq!(
            (ev.duration_ns, ev.correction_ns, ev.uncorrected),
            (6000, 4000, false)
        );
    }

    #[test]
    fn emulated_entries_come_off_at_their_own_cost() {
        let mut c = Corrector::new();
        // 4 traps, 3 of them inner calls' emulated entries.
        let mut ev = call(1, 1000, 10_000, 4);
        ev.emulated_inside = 3;
        let cost = TrapCost {
            stepped_ns: 2000,
            emulated_ns: 100,
        };
        c.correct(&mut ev, Some(cost));
        assert_eq!((ev.duration_ns, ev.correction_ns), (7700, 2300));
        assert_eq!(cost.of(2, 5), 200, "never more emulated than traps");
    }

    #[test]
    fn the_programs_own_run_time_comes_off_with_the_traps() {
        let mut c = Corrector::new();
        let mut ev = call(1, 1000, 10_000, 4);
        ev.prog_inside_ns = 900;
        c.correct(&mut ev, cost(1000));
        assert_eq!(
            (ev.duration_ns, ev.correction_ns, ev.uncorrected),
            (5100, 4900, false)
        );
        // And counts against what the measured time allows.
        let mut ev = call(1, 1000, 4500, 4);
        ev.prog_inside_ns = 500;
        c.correct(&mut ev, cost(1000));
        assert_eq!((ev.duration_ns, ev.uncorrected), (4500, true));
    }

    #[test]
    fn a_correction_larger_than_the_call_leaves_it_as_measured_and_uncorrected() {
        let mut c = Corrector::new();
        for (dur, traps) in [(4000, 4), (3999, 4), (10, 1_000_000)] {
            let mut ev = call(1, 1000, dur, traps);
            c.correct(&mut ev, cost(1000));
            assert_eq!(
                (ev.duration_ns, ev.correction_ns, ev.uncorrected),
                (dur, 0, true),
                "{dur} ns with {traps} traps"
            );
        }
        // 1 ns left is a time the call can have: corrected.
        let mut ev = call(1, 1000, 4001, 4);
        c.correct(&mut ev, cost(1000));
        assert_eq!((ev.duration_ns, ev.uncorrected), (1, false));
    }

    #[test]
    fn no_correction_leaves_every_time_as_measured() {
        let mut c = Corrector::new();
        let mut ev = call(1, 1000, 10_000, 4);
        let before = ev.clone();
        c.correct(&mut ev, None);
        assert_eq!(ev, before);
    }

    #[test]
    fn an_outer_call_keeps_at_least_the_time_of_its_inner_calls() {
        let mut c = Corrector::new();
        // Inner: 5 us measured, no traps of its own.
        let mut inner = call(1, 2000, 5000, 0);
        inner.outer = Some(0);
        c.correct(&mut inner, cost(3000));
        assert_eq!(inner.duration_ns, 5000);
        // Outer: 10 us measured, the inner's 2 traps inside. At 3 us per
        // trap it would be 4 us, below its inner call's 5 us: uncorrected.
        let mut outer = call(1, 1000, 10_000, 2);
        c.correct(&mut outer, cost(3000));
        assert_eq!((outer.duration_ns, outer.uncorrected), (10_000, true));
        // At 2 us per trap, 6 us: corrected.
        let mut inner = call(1, 20_000, 5000, 0);
        inner.outer = Some(0);
        c.correct(&mut inner, cost(2000));
        let mut outer = call(1, 19_000, 10_000, 2);
        c.correct(&mut outer, cost(2000));
        assert_eq!((outer.duration_ns, outer.uncorrected), (6000, false));
        assert_eq!(c.goroutines_kept(), 0);
    }

    #[test]
    fn inner_calls_count_once_at_their_direct_outer_call_and_per_goroutine() {
        let mut c = Corrector::new();
        let nested = |goid, start, dur, traps| {
            let mut e = call(goid, start, dur, traps);
            e.outer = Some(0);
            e
        };
        // Goroutine 1: a (1000..11000) > b (2000..9000) > d (3000..6000).
        let mut d = nested(1, 3000, 3000, 0);
        c.correct(&mut d, cost(100));
        // Another goroutine's inner call in the same span is not b's.
        let mut other = nested(2, 2500, 6000, 0);
        c.correct(&mut other, cost(100));
        let mut b = nested(1, 2000, 7000, 2);
        c.correct(&mut b, cost(100));
        assert_eq!((b.duration_ns, b.correction_ns), (6800, 200));
        // a's floor is b's 6800 ns (d is inside b): 10000 - 4 x 100 stays.
        let mut a = call(1, 1000, 10_000, 4);
        c.correct(&mut a, cost(100));
        assert_eq!((a.duration_ns, a.uncorrected), (9600, false));
        // With 1000 ns a trap, 6000 ns: below b's time, so as measured.
        let mut b = nested(1, 20_000, 7000, 0);
        c.correct(&mut b, cost(1000));
        let mut a = call(1, 19_000, 10_000, 4);
        c.correct(&mut a, cost(1000));
        assert_eq!((a.duration_ns, a.uncorrected), (10_000, true));
        assert_eq!(
            c.goroutines_kept(),
            1,
            "goroutine 2's outer call has not ended"
        );
        c.forget_process(7);
        assert_eq!(c.goroutines_kept(), 0);
    }

    #[test]
    fn what_is_kept_stays_bounded() {
        let mut c = Corrector::new();
        for i in 0..1000u64 {
            let mut e = call(1, i * 10, 5, 0);
            e.outer = Some(0);
            c.correct(&mut e, cost(1));
        }
        assert!(c.inner[&(7, 1)].len() <= MAX_KEPT);
    }
}
