//! Duty cycling for `--max-overhead`: a token bucket of the targets' CPU
//! time that the probes' measured cost spends, and the CPU meter that feeds
//! it.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::driver::Sampled;
use crate::event::TrapCost;
use crate::proc::os::Os;
use crate::stats::Sampling;
use crate::tracer::Cost;

/// Duty cycling for `--max-overhead`, as a token bucket: the targets earn
/// `budget` x their CPU time, each trap the programs count spends its measured
/// cost (matched or not, during attach and detach too); probes are attached
/// while the balance is positive
/// and detached until it is again. The balance is capped at one CPU-second's
/// worth, so idle time does not pay for a later burst, and the cost stays
/// within the budget over any stretch longer than a few polls.
pub struct DutyCycle {
    pub budget: f64,
    pub trap: TrapCost,
    tokens_ns: f64,
    on: bool,
    /// What the probes cost so far, and at the last poll.
    pub cost: Cost,
    cost_seen: Cost,
    /// Calls completed since the last poll (when traps are not counted).
    pub events: u64,
    /// The targets' CPU time while traced, at the last poll.
    pub cpu_last: u64,
    /// What the probes cost per nanosecond of wall time when last attached.
    rate_on: f64,
    /// Everything spent so far: traps at their measured cost, plus the
    /// programs' own run time.
    pub spent_ns_total: f64,
}

impl DutyCycle {
    pub fn new(budget: f64) -> DutyCycle {
        DutyCycle {
            budget,
            trap: TrapCost::default(),
            // Starts with what re-attaching needs, not a full bucket: a
            // burst at start would be spent beyond the budget.
            tokens_ns: Self::cap(budget) / 10.0,
            on: true,
            cost: Cost::default(),
            cost_seen: Cost::default(),
            events: 0,
            cpu_last: 0,
            rate_on: 0.0,
            spent_ns_total: 0.0,
        }
    }

    fn cap(budget: f64) -> f64 {
        budget * 1e9
    }

    /// Takes in what the probes cost since the last call; returns it in ns.
    pub fn spend(&mut self) -> f64 {
        let (traps, emulated) = if self.cost.traps > self.cost_seen.traps {
            (
                self.cost.traps - self.cost_seen.traps,
                self.cost.emulated.saturating_sub(self.cost_seen.emulated),
            )
        } else {
            // No trap count (replayed): two traps per completed call.
            (self.events * 2, 0)
        };
        let run_ns = self
            .cost
            .bpf_run_ns
            .saturating_sub(self.cost_seen.bpf_run_ns);
        self.cost_seen.traps = self.cost_seen.traps.max(self.cost.traps);
        self.cost_seen.emulated = self.cost_seen.emulated.max(self.cost.emulated);
        self.cost_seen.bpf_run_ns = self.cost_seen.bpf_run_ns.max(self.cost.bpf_run_ns);
        self.events = 0;
        let spent = self.trap.of(traps, emulated) as f64 + run_ns as f64;
        self.spent_ns_total += spent;
        spent
    }

    /// Whether probes should be attached now, given the targets' CPU time
    /// and the wall time since the last call: None for off, or on until at
    /// most the returned time from now, when the tokens would run out at the
    /// rate the probes last cost.
    pub fn wanted(&mut self, cpu_ns: u64, wall_ns: u64) -> Option<Duration> {
        let earned = self.budget * cpu_ns.saturating_sub(self.cpu_last) as f64;
        self.cpu_last = self.cpu_last.max(cpu_ns);
        let spent = self.spend();
        if self.on && wall_ns > 0 {
            self.rate_on = spent / wall_ns as f64;
        }
        self.tokens_ns = (self.tokens_ns + earned - spent).min(Self::cap(self.budget));
        // Hysteresis: back on with half the bucket, so that windows are not
        // all attach and detach.
        self.on = if self.on {
            self.tokens_ns > 0.0
        } else {
            self.tokens_ns >= Self::cap(self.budget) / 2.0
        };
        if !self.on {
            return None;
        }
        let left_ns = if self.rate_on > 0.0 {
            (self.tokens_ns / self.rate_on).min(1e9)
        } else {
            1e9
        };
        Some(Duration::from_nanos(left_ns as u64))
    }

    /// How the probes were sampled, for the report: over a run that traced
    /// for `traced`, attached as `sampled` says, with the targets' CPU time
    /// `cpu_ns` at its end. What the probes cost since the last poll is
    /// taken in first.
    pub fn sampling(&mut self, cpu_ns: u64, traced: Duration, sampled: &Sampled) -> Sampling {
        self.cost = sampled.cost;
        self.spend();
        let (cpu, traced) = (cpu_ns as f64, traced.as_secs_f64());
        let on = sampled.on.as_secs_f64();
        Sampling {
            max_overhead: self.budget,
            trap_ns: self.trap.stepped_ns,
            emulated_trap_ns: self.trap.emulated_ns,
            attached_s: on,
            traced_s: traced,
            windows: sampled.windows,
            factor: sampled
                .factor
                .unwrap_or(if on > 0.0 { traced / on } else { 0.0 }),
            traps: sampled.cost.traps,
            emulated_traps: sampled.cost.emulated,
            bpf_run_ns: sampled.cost.bpf_run_ns,
            estimated_overhead: if cpu > 0.0 {
                self.spent_ns_total / cpu
            } else {
                0.0
            },
        }
    }
}

/// CPU time the targets used while traced, summed over processes that come
/// and go: each process counts from its first reading.
#[derive(Default)]
pub struct CpuMeter {
    last: HashMap<u32, u64>,
    total_ns: u64,
}

impl CpuMeter {
    /// Reads `pids` (each once, however often listed); returns the total.
    pub fn update(&mut self, os: &dyn Os, pids: impl Iterator<Item = u32>) -> u64 {
        let pids: std::collections::BTreeSet<u32> = pids.collect();
        for pid in pids {
            let Some(ns) = os.cpu_ns(pid) else { continue };
            if let Some(prev) = self.last.insert(pid, ns) {
                self.total_ns += ns.saturating_sub(prev);
            }
        }
        self.total_ns
    }
}

/// The whole run's calls, estimated from the windows': each window's calls
/// scaled by its cycle (the window and the pause after it) over the window.
/// The bucket places windows by cost, not evenly in time: long while the
/// targets idle, short and far apart while they are busy, so one factor of
/// traced over attached time undercounts a busy stretch (on caddy under wrk,
/// 4-13 % of the requests came out of it).
#[derive(Debug, Default)]
pub struct Cycles {
    estimate: f64,
    counted: u64,
    window: Option<Window>,
}

#[derive(Debug)]
struct Window {
    started: Instant,
    calls_at_start: u64,
    /// When it ended, and the calls counted in it.
    ended: Option<(Instant, u64)>,
}

impl Cycles {
    /// A window starts at `now`, with `calls` counted so far; the cycle of
    /// the last one ends here.
    pub fn window_started(&mut self, now: Instant, calls: u64) {
        self.close(now);
        self.window = Some(Window {
            started: now,
            calls_at_start: calls,
            ended: None,
        });
    }

    /// The window under way ended at `at`; `calls` are counted so far, its
    /// own drained.
    pub fn window_ended(&mut self, at: Instant, calls: u64) {
        if let Some(w) = self.window.as_mut().filter(|w| w.ended.is_none()) {
            w.ended = Some((at, calls.saturating_sub(w.calls_at_start)));
        }
    }

    /// The run ended at `at` with `calls` counted (every event drained).
    pub fn finish(&mut self, at: Instant, calls: u64) {
        self.window_ended(at, calls);
        self.close(at);
    }

    /// Ends the cycle of the last window at `now`.
    fn close(&mut self, now: Instant) {
        let Some(w) = self.window.take() else {
            return;
        };
        let Some((ended, calls)) = w.ended else {
            return;
        };
        let window = ended.saturating_duration_since(w.started).as_secs_f64();
        let cycle = now.saturating_duration_since(w.started).as_secs_f64();
        self.counted += calls;
        self.estimate += if window > 0.0 {
            calls as f64 * cycle / window
        } else {
            calls as f64
        };
    }

    /// Estimated over counted calls, when calls were counted.
    pub fn factor(&self) -> Option<f64> {
        (self.counted > 0).then(|| self.estimate / self.counted as f64)
    }
}

#[cfg(test)]
mod tests {
    use super::{Cycles, DutyCycle, TrapCost};
    use std::time::{Duration, Instant};

    #[test]
    fn each_window_stands_for_its_cycle() {
        // A long window while the target idles (no calls), then, while it
        // is busy at 1,000 calls/s, a 10 ms window every 100 ms, then the
        // run ends while off: 1.0 s idle + 0.5 s busy.
        let t0 = Instant::now();
        let ms = |n: u64| t0 + Duration::from_millis(n);
        let mut c = Cycles::default();
        c.window_started(ms(0), 0);
        c.window_ended(ms(1000), 0);
        let mut calls = 0;
        for k in 0..5 {
            c.window_started(ms(1000 + 100 * k), calls);
            calls += 10;
            c.window_ended(ms(1010 + 100 * k), calls);
        }
        c.finish(ms(1500), calls);
        // 50 calls counted in 1.05 s attached out of 1.5 s: one factor
        // (1.43) would make 71 of the 500 made; each cycle's, 500.
        let f = c.factor().unwrap();
        assert!((f * 50.0 - 500.0).abs() < 1e-6, "{f}");
        // No call counted: no factor.
        let mut idle = Cycles::default();
        idle.window_started(ms(0), 0);
        idle.finish(ms(10), 0);
        assert_eq!(idle.factor(), None);
    }

    #[test]
    fn duty_cycle_keeps_the_estimated_cost_within_budget() {
        // A target burning one core, calling a probed function 50,000 times
        // a second while attached (100,000 traps); a trap costs 10 us: fully
        // attached, the probes would cost 100 % of its time. Simulated for
        // 10 min at 0.1 ms steps, with polls when the duty cycle asks for
        // one (at least 1 ms apart, at most 10 ms).
        let mut d = DutyCycle::new(0.01);
        d.trap = TrapCost {
            stepped_ns: 10_000,
            emulated_ns: 10_000,
        };
        let step = 100_000u64;
        let (mut now, mut cpu, mut traps) = (0u64, 0u64, 0u64);
        let (mut next, mut last) = (0u64, 0u64);
        let (mut on, mut on_ns, mut windows) = (true, 0u64, 1u64);
        while now < 600_000_000_000 {
            now += step;
            cpu += step;
            if on {
                traps += step / 10_000;
                on_ns += step;
            }
            if now >= next {
                d.cost.traps = traps;
                let w = d.wanted(cpu, now - last);
                last = now;
                windows += u64::from(w.is_some() && !on);
                on = w.is_some();
                let wait = w.map_or(10_000_000, |w| w.as_nanos() as u64);
                next = now + wait.clamp(1_000_000, 10_000_000);
            }
        }
        let cost = d.spent_ns_total / cpu as f64;
        assert!(cost <= 0.01, "cost {cost}");
        assert!(cost >= 0.009, "the budget is used, not wasted: {cost}");
        // On about a hundredth of the time, in windows of several ms.
        let share = on_ns as f64 / now as f64;
        assert!((0.005..0.02).contains(&share), "on {share}");
        assert!(on_ns / windows >= 2_000_000, "{windows} windows");

        // Cheap probes (1 call a second) stay attached all the time.
        let mut d = DutyCycle::new(0.01);
        d.trap = TrapCost {
            stepped_ns: 10_000,
            emulated_ns: 10_000,
        };
        let mut cpu = 0;
        for i in 0..1000 {
            cpu += 10_000_000;
            assert!(d.wanted(cpu, 10_000_000).is_some(), "poll {i}");
            if i % 100 == 0 {
                d.events += 1;
            }
        }
    }
}
