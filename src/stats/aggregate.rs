//! Aggregation of call events: per function, per goroutine (pid, goid) and
//! per caller, with HDR latency percentiles and log2 buckets.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use hdrhistogram::Histogram;
use lru::LruCache;

use super::lifecycle::{Library, Lifecycle, Seen};
use super::model::{
    Bucket, CallerReport, Counters, Downstream, EncoderReport, FunctionReport, GoroutineReport,
    Latency, Meta, Report, RouteFunction, RouteReport, TargetInfo,
};
use super::payload::{Payload, Tracker};
use super::rules::{call_bytes, CallBytes, Rules};
use super::{FuncMeta, Symbolizer};
use crate::event::{CallEvent, Lost};

/// Counters and latencies of a set of calls.
#[derive(Debug, Clone)]
struct Acc {
    calls: u64,
    call_errors: u64,
    pay: Pay,
    bytes_in: u64,
    bytes_out: u64,
    /// Latencies: the first few exactly, then an HDR histogram of `digits`
    /// significant digits (most goroutines of a server make one call or a
    /// few, and a histogram is the dearest part of tracking one).
    few: [u64; FEW],
    n_few: u8,
    hist: Option<Histogram<u64>>,
    digits: u8,
    /// Exact, unlike the histogram's bucketed values.
    max_ns: u64,
    min_ns: u64,
    sum_ns: u128,
    /// gozt's traps inside the calls, what their correction took out, and
    /// the calls left as measured (stats::correct).
    fix: Fix,
}

/// What the correction for gozt's traps did to a set of calls.
#[derive(Debug, Clone, Copy, Default)]
struct Fix {
    traps_inside: u64,
    correction_ns: u64,
    uncorrected: u64,
}

impl Fix {
    fn add(&mut self, ev: &CallEvent) {
        self.traps_inside += u64::from(ev.traps_inside);
        self.correction_ns += ev.correction_ns;
        self.uncorrected += u64::from(ev.uncorrected);
    }

    fn merge(&mut self, o: &Fix) {
        self.traps_inside += o.traps_inside;
        self.correction_ns += o.correction_ns;
        self.uncorrected += o.uncorrected;
    }
}

/// The payloads of a set of calls.
#[derive(Debug, Clone, Copy, Default)]
struct Pay {
    payloads: u64,
    eligible: u64,
    errors: u64,
    incompressible: u64,
    failures: u64,
    not_judged: u64,
    small: u64,
    small_time_ns: u64,
    /// The time of the incompressible payloads, and of those that errored.
    incompressible_time_ns: u64,
    error_time_ns: u64,
    time_ns: u64,
    /// Original sizes of every payload; compressed sizes of those whose
    /// compressed size is known; the original sizes of those, lz4's
    /// declined ones left out (the ratio's denominator).
    original_bytes: u64,
    compressed_bytes: u64,
    sized_original_bytes: u64,
}

impl Pay {
    fn add(&mut self, p: &Payload) {
        let j = &p.judged;
        self.payloads += 1;
        self.eligible += u64::from(j.eligible);
        self.errors += u64::from(j.error);
        self.incompressible += u64::from(j.incompressible);
        self.failures += u64::from(j.failed());
        self.not_judged += u64::from(j.not_judged);
        self.small += u64::from(j.small);
        if j.small {
            self.small_time_ns += p.time_ns;
        }
        if j.incompressible {
            self.incompressible_time_ns += p.time_ns;
        }
        if j.error {
            self.error_time_ns += p.time_ns;
        }
        self.time_ns += p.time_ns;
        self.original_bytes += j.original_bytes;
        if let Some(c) = j.compressed_bytes {
            self.compressed_bytes += c;
            if !j.declined {
                self.sized_original_bytes += j.original_bytes;
            }
        }
    }

    /// Compressed over original bytes of the payloads whose compressed
    /// size is known (lz4's declined ones, which produced nothing, left
    /// out); None without one.
    fn ratio(&self) -> Option<f64> {
        (self.sized_original_bytes > 0)
            .then(|| self.compressed_bytes as f64 / self.sized_original_bytes as f64)
    }

    fn merge(&mut self, o: &Pay) {
        self.payloads += o.payloads;
        self.eligible += o.eligible;
        self.errors += o.errors;
        self.incompressible += o.incompressible;
        self.failures += o.failures;
        self.not_judged += o.not_judged;
        self.small += o.small;
        self.small_time_ns += o.small_time_ns;
        self.time_ns += o.time_ns;
        self.original_bytes += o.original_bytes;
        self.compressed_bytes += o.compressed_bytes;
        self.sized_original_bytes += o.sized_original_bytes;
    }
}

/// The caller of calls whose frames name none.
const UNKNOWN: &str = "[unknown]";

/// Latencies kept exactly before an Acc takes a histogram.
const FEW: usize = 8;

/// Significant digits of the histograms of functions, callers and the total.
const FINE_DIGITS: u8 = 3;
/// Of each goroutine's histograms (values within 1/16 of each other share a
/// bucket): a server has thousands of goroutines, and one histogram at three
/// digits over the range of call latencies takes some 100 KiB.
const GOROUTINE_DIGITS: u8 = 1;
/// Goroutines tracked at once; beyond, the least recently active are
/// dropped from the per-goroutine tables (their calls stay in every other
/// count), so memory stays bounded however long gozt runs.
pub const MAX_GOROUTINES: usize = 2_000;

/// The payloads of one size band of a function: how many, and of the
/// compress payloads whose compressed size is known, their original and
/// compressed bytes.
#[derive(Debug, Clone, Copy, Default)]
struct Band {
    payloads: u64,
    original: u64,
    packed: u64,
}

/// The size bucket of `bytes`: 0 for empty, else 1 + floor(log2).
fn size_band(bytes: u64) -> usize {
    if bytes == 0 {
        0
    } else {
        64 - bytes.leading_zeros() as usize
    }
}

impl Acc {
    fn new() -> Acc {
        Acc::with_digits(FINE_DIGITS)
    }

    fn per_goroutine() -> Acc {
        Acc::with_digits(GOROUTINE_DIGITS)
    }

    fn with_digits(digits: u8) -> Acc {
        Acc {
            calls: 0,
            call_errors: 0,
            pay: Pay::default(),
            bytes_in: 0,
            bytes_out: 0,
            few: [0; FEW],
            n_few: 0,
            hist: None,
            digits,
            max_ns: 0,
            min_ns: u64::MAX,
            sum_ns: 0,
            fix: Fix::default(),
        }
    }

    fn add(&mut self, c: &CallBytes, ev: &CallEvent) {
        self.calls += 1;
        self.call_errors += u64::from(ev.error);
        self.bytes_in += c.bytes_in;
        self.bytes_out += c.bytes_out;
        self.fix.add(ev);
        self.add_time(ev.duration_ns);
    }

    /// One more time of `d` ns (a call's, a payload's).
    fn add_time(&mut self, d: u64) {
        let d = d.max(1);
        self.record(d);
        self.max_ns = self.max_ns.max(d);
        self.min_ns = self.min_ns.min(d);
        self.sum_ns += u128::from(d);
    }

    /// `n` latencies of `d` ns.
    fn record_n(&mut self, d: u64, n: u64) {
        let mut left = n;
        // At most FEW + 1 one by one: then the histogram exists.
        while left > 0 && self.hist.is_none() {
            self.record(d);
            left -= 1;
        }
        if let (Some(h), true) = (self.hist.as_mut(), left > 0) {
            if h.record_n(d, left).is_err() {
                h.saturating_record_n(d, left);
            }
        }
    }

    fn record(&mut self, d: u64) {
        let n = usize::from(self.n_few);
        if self.hist.is_none() && n < FEW {
            self.few[n] = d;
            self.n_few += 1;
            return;
        }
        let digits = self.digits;
        let few = &self.few[..n];
        let h = self.hist.get_or_insert_with(|| {
            // Auto-resizing: it grows only as far as the values recorded.
            let mut h = Histogram::new(digits).expect("valid precision");
            for &v in few {
                if h.record(v).is_err() {
                    h.saturating_record(v);
                }
            }
            h
        });
        if h.record(d).is_err() {
            h.saturating_record(d);
        }
    }

    /// The calls of `accs` together.
    fn sum<'a>(accs: impl Iterator<Item = &'a Acc>, digits: u8) -> Acc {
        let mut all = Acc::with_digits(digits);
        for a in accs {
            all.calls += a.calls;
            all.call_errors += a.call_errors;
            all.pay.merge(&a.pay);
            all.bytes_in += a.bytes_in;
            all.bytes_out += a.bytes_out;
            all.max_ns = all.max_ns.max(a.max_ns);
            all.min_ns = all.min_ns.min(a.min_ns);
            all.sum_ns += a.sum_ns;
            all.fix.merge(&a.fix);
            match &a.hist {
                None => {
                    for &v in &a.few[..usize::from(a.n_few)] {
                        all.record(v);
                    }
                }
                Some(h) => {
                    // A histogram's values are bucketed: their buckets' own
                    // values go in.
                    for v in h.iter_recorded() {
                        all.record_n(v.value_iterated_to(), v.count_at_value());
                    }
                }
            }
        }
        all
    }

    /// The latency at quantile `q`: exact while few, else the histogram's.
    fn quantile(&self, q: f64) -> u64 {
        match &self.hist {
            Some(h) => h.value_at_quantile(q),
            None => {
                let n = usize::from(self.n_few);
                let mut v = self.few;
                v[..n].sort_unstable();
                let i = ((q * n as f64).ceil() as usize).clamp(1, n.max(1)) - 1;
                v[i]
            }
        }
    }
}

/// The aggregation state.
pub struct Aggregator {
    funcs: Vec<FuncMeta>,
    rules: Rules,
    total: Acc,
    /// By (function id, the outer function's id for inner calls).
    by_func: BTreeMap<(u32, Option<u32>), Acc>,
    /// Log2 bands of payloads' original sizes, by function id (index 0:
    /// empty payloads; i: 2^(i-1) ..= 2^i - 1 bytes).
    sizes: BTreeMap<u32, [Band; 65]>,
    /// Streams under way.
    tracker: Tracker,
    /// Least recently active first out, beyond `max_goroutines`.
    /// By (pid, process start in ticks, goid): a reused pid is another
    /// process.
    by_goroutine: LruCache<(u32, u64, u64), GoroutineAcc>,
    /// By (caller, function id); callers are indexes into `caller_names`.
    by_caller: BTreeMap<(u32, u32), Acc>,
    caller_names: Vec<String>,
    /// Each return address seen (pid, address): the caller it names, or
    /// None for the libraries' and the runtime's frames and unknown ones.
    frames: std::collections::HashMap<(u32, u64), Option<u32>>,
    /// Goroutines dropped from `by_goroutine` to stay within MAX_GOROUTINES.
    goroutines_dropped: u64,
    max_goroutines: usize,
    /// Counts the total and each function only: no goroutines, no callers.
    functions_only: bool,
    /// Significant digits of its functions', callers' and total's
    /// histograms.
    digits: u8,
    /// By route: index into `route_names`.
    by_route: BTreeMap<u32, RouteAcc>,
    route_names: Vec<String>,
    route_index: std::collections::HashMap<String, u32>,
    /// With downstream writes traced: by (caller, function id), its
    /// payloads and their writes; each goroutine's last payload, by (pid,
    /// goid), whose write may come.
    down_by_caller: BTreeMap<(u32, u32), Down>,
    last_payload: LruCache<(u32, u64), LastPayload>,
    /// Constructors and resets, by (caller, library): indexes into
    /// `libraries`.
    lifecycle: Lifecycle,
    by_encoder: BTreeMap<(u32, u32), LifeAcc>,
    libraries: Vec<Library>,
}

/// One caller's constructors and resets of one library: builds as an
/// Acc's calls (their latencies, errors and time).
struct LifeAcc {
    builds: Acc,
    resets: u64,
    reset_errors: u64,
    reset_ns: u64,
    lazy: u64,
    lazy_ns: u64,
}

/// One route's payloads: their times as an Acc's latencies, and their
/// counts overall and by function; their downstream writes.
struct RouteAcc {
    acc: Acc,
    by_func: BTreeMap<u32, Pay>,
    down: Down,
}

/// Payloads and their downstream writes: the payloads' times, the writes'
/// times (as Accs' latencies), the gaps between, what the writes wrote to.
#[derive(Debug, Clone)]
struct Down {
    compress: Acc,
    write: Acc,
    gap: Acc,
    bytes: u64,
    errors: u64,
    kinds: [u64; 6],
}

impl Down {
    fn new(digits: u8) -> Down {
        Down {
            compress: Acc::with_digits(digits),
            write: Acc::with_digits(digits),
            gap: Acc::with_digits(digits),
            bytes: 0,
            errors: 0,
            kinds: [0; 6],
        }
    }

    fn payload(&mut self, p: &Payload) {
        self.compress.calls += 1;
        self.compress.add_time(p.time_ns);
    }

    fn write(&mut self, ev: &CallEvent, gap_ns: u64, kind: crate::event::FdKind) {
        self.write.calls += 1;
        self.write.add_time(ev.duration_ns);
        self.gap.calls += 1;
        self.gap.add_time(gap_ns);
        self.bytes += ev.bytes_out.unwrap_or(0);
        self.errors += u64::from(ev.error);
        let k = crate::event::FdKind::ALL
            .iter()
            .position(|&x| x == kind)
            .unwrap_or(5);
        self.kinds[k] += 1;
    }

    fn report(&self) -> Downstream {
        let (w, c) = (self.write.sum_ns as u64, self.compress.sum_ns as u64);
        Downstream {
            payloads: self.compress.calls,
            writes: self.write.calls,
            without_write: self.compress.calls.saturating_sub(self.write.calls),
            bytes: self.bytes,
            errors: self.errors,
            write_time_ns: w,
            write_latency_ns: latency(&self.write),
            compress_time_ns: c,
            compress_latency_ns: latency(&self.compress),
            write_share: if w + c == 0 {
                0.0
            } else {
                w as f64 / (w + c) as f64
            },
            gap_latency_ns: latency(&self.gap),
            kinds: crate::event::FdKind::ALL
                .iter()
                .zip(self.kinds)
                .filter(|(_, n)| *n > 0)
                .map(|(k, n)| (k.name().to_string(), n))
                .collect(),
        }
    }
}

/// Whether call `ev` (made inside no other) is, to the programs, the end
/// of a payload, whose goroutine's next write they time (targets.rs sets
/// the same rule in each function's flags).
pub fn rearms(ev: &CallEvent, meta: &FuncMeta) -> bool {
    use crate::probe::catalog::Role;
    ev.outer.is_none()
        && match meta.entry.role {
            Role::Whole | Role::Close => true,
            Role::Read => ev.error || ev.eof,
            Role::Write | Role::Flush | Role::New | Role::Reset | Role::Internal => false,
        }
}

/// The last payload of a goroutine, whose downstream write may come.
#[derive(Debug, Clone, Copy)]
struct LastPayload {
    /// The end of the call the programs time its write after, and its
    /// function (the payload's, or a later call's that to them ended it
    /// again: `rearm`).
    end_ns: u64,
    func_id: u32,
    /// The payload's caller and function: its downstream row.
    caller: u32,
    payload_func: u32,
    route: Option<u32>,
}

/// One goroutine's counts, overall and per function.
/// A goroutine's calls by function: its first function's inline (most
/// goroutines call one), others after it; its totals are theirs, added up
/// when reported.
struct GoroutineAcc {
    first: (u32, Acc),
    more: Vec<(u32, Acc)>,
}

impl GoroutineAcc {
    fn get_mut(&mut self, func_id: u32) -> &mut Acc {
        if self.first.0 == func_id {
            return &mut self.first.1;
        }
        let at = match self.more.iter().position(|(id, _)| *id == func_id) {
            Some(i) => i,
            None => {
                self.more.push((func_id, Acc::per_goroutine()));
                self.more.len() - 1
            }
        };
        &mut self.more[at].1
    }

    /// By function id.
    fn functions(&self) -> Vec<&(u32, Acc)> {
        let mut all: Vec<&(u32, Acc)> = std::iter::once(&self.first).chain(&self.more).collect();
        all.sort_unstable_by_key(|(id, _)| *id);
        all
    }
}

impl Aggregator {
    /// The aggregation of `funcs`' calls by `rules`.
    pub fn new(funcs: Vec<FuncMeta>, rules: Rules) -> Aggregator {
        Aggregator {
            funcs,
            rules,
            total: Acc::new(),
            by_func: BTreeMap::new(),
            sizes: BTreeMap::new(),
            tracker: Tracker::new(rules),
            by_goroutine: LruCache::new(cap(MAX_GOROUTINES)),
            by_caller: BTreeMap::new(),
            caller_names: vec![UNKNOWN.to_string()],
            frames: std::collections::HashMap::new(),
            goroutines_dropped: 0,
            max_goroutines: MAX_GOROUTINES,
            functions_only: false,
            digits: FINE_DIGITS,
            by_route: BTreeMap::new(),
            route_names: Vec::new(),
            route_index: std::collections::HashMap::new(),
            down_by_caller: BTreeMap::new(),
            // Bounded by hand (add_judged): an LruCache of a capacity
            // allocates it at once, in every aggregator.
            last_payload: LruCache::unbounded(),
            lifecycle: Lifecycle::new(),
            by_encoder: BTreeMap::new(),
            libraries: Vec::new(),
        }
    }

    /// Keeps its histograms at a goroutine's precision (values within 1/16
    /// of each other share a bucket): one of many, such as each target's
    /// own counts, whose latencies the session's fine ones hold too.
    pub fn coarse(mut self) -> Aggregator {
        self.digits = GOROUTINE_DIGITS;
        self.total = Acc::with_digits(self.digits);
        self
    }

    /// An empty aggregator of the same functions and rules that counts
    /// only the total and each function (no goroutines, no callers): what
    /// an `--interval` report shows.
    pub fn functions_only(&self) -> Aggregator {
        Aggregator {
            functions_only: true,
            ..self.alike()
        }
    }

    /// Function `id` of the session.
    pub fn function(&self, id: u32) -> Option<&FuncMeta> {
        self.funcs.get(id as usize)
    }

    /// The session's functions are `funcs` now (those before, then more):
    /// the counts so far stay.
    pub fn set_functions(&mut self, funcs: &[FuncMeta]) {
        debug_assert!(funcs.len() >= self.funcs.len());
        self.funcs = funcs.to_vec();
    }

    /// An empty aggregator of the same functions, rules and precision.
    pub fn alike(&self) -> Aggregator {
        let fresh = Aggregator::new(self.funcs.clone(), self.rules);
        if self.digits == GOROUTINE_DIGITS {
            fresh.coarse()
        } else {
            fresh
        }
    }

    /// Tracks at most `n` goroutines at once (at least 1).
    pub fn with_max_goroutines(mut self, n: usize) -> Aggregator {
        self.max_goroutines = n.max(1);
        self.by_goroutine = LruCache::new(cap(self.max_goroutines));
        self
    }

    /// Forgets every call added so far.
    pub fn reset(&mut self) {
        self.total = Acc::with_digits(self.digits);
        self.by_func.clear();
        self.sizes.clear();
        self.by_goroutine.clear();
        self.by_caller.clear();
        self.goroutines_dropped = 0;
        self.by_route.clear();
        self.down_by_caller.clear();
        self.last_payload.clear();
        self.by_encoder.clear();
    }

    /// Calls added since the start (or the last reset).
    pub fn calls(&self) -> u64 {
        self.total.calls
    }

    /// Drops process `id`'s goroutines from the per-goroutine tables (their
    /// calls stay in every other count), as the least recently active are
    /// when there are too many: counted in `goroutines_dropped`.
    pub fn forget_goroutines(&mut self, id: crate::proc::identity::ProcId) {
        let keys: Vec<(u32, u64, u64)> = self
            .by_goroutine
            .iter()
            .map(|(k, _)| *k)
            .filter(|k| (k.0, k.1) == (id.pid, id.start_ticks))
            .collect();
        for k in keys {
            self.by_goroutine.pop(&k);
            self.goroutines_dropped += 1;
        }
    }

    /// Forgets the callers named for `pid`'s return addresses: the pid is
    /// another process's now.
    pub fn forget_frames(&mut self, pid: u32) {
        self.frames.retain(|(p, _), _| *p != pid);
    }

    /// Adds one call; `sym` resolves its caller. Returns the caller's frame
    /// (the return address into it), when named.
    pub fn add(&mut self, ev: &CallEvent, sym: &mut dyn Symbolizer) -> Option<u64> {
        let payload = self.judge(ev);
        self.add_judged(ev, payload.as_ref(), sym)
    }

    /// The payload call `ev` ends, if any, from this aggregator's streams
    /// under way: a session judges each call once, here, and hands the
    /// payload to its other counts (intervals, targets, metrics).
    pub fn judge(&mut self, ev: &CallEvent) -> Option<Payload> {
        if ev.write.is_some() {
            return None;
        }
        let meta = self.funcs.get(ev.func_id as usize)?;
        self.tracker.add(ev, meta)
    }

    /// Adds one call and the payload it ended (from [`Aggregator::judge`]).
    pub fn add_judged(
        &mut self,
        ev: &CallEvent,
        payload: Option<&Payload>,
        sym: &mut dyn Symbolizer,
    ) -> Option<u64> {
        if ev.write.is_some() {
            self.add_write(ev);
            return None;
        }
        let meta = self.funcs.get(ev.func_id as usize)?;
        if meta.entry.role.is_lifecycle() {
            return self.add_lifecycle(ev, sym);
        }
        let rearm = rearms(ev, meta);
        let c = call_bytes(ev, &meta.entry);
        let digits = self.digits;
        if let Some(outer) = ev.outer {
            // Inner: its own row, nothing else.
            self.by_func
                .entry((ev.func_id, Some(outer)))
                .or_insert_with(|| Acc::with_digits(digits))
                .add(&c, ev);
            return None;
        }
        let both = |acc: &mut Acc| {
            acc.add(&c, ev);
            if let Some(p) = payload {
                acc.pay.add(p);
            }
        };
        both(&mut self.total);
        both(
            self.by_func
                .entry((ev.func_id, None))
                .or_insert_with(|| Acc::with_digits(digits)),
        );
        if let Some(p) = payload {
            let j = &p.judged;
            let band = &mut self
                .sizes
                .entry(ev.func_id)
                .or_insert([Band::default(); 65])[size_band(j.original_bytes)];
            band.payloads += 1;
            // lz4's declined blocks came out no smaller: as their own size.
            let packed = if j.declined {
                Some(j.original_bytes)
            } else {
                j.compressed_bytes
            };
            if let (crate::probe::catalog::Op::Compress, Some(packed)) = (meta.entry.op, packed) {
                band.original += j.original_bytes;
                band.packed += packed;
            }
        }
        if self.functions_only {
            return None;
        }
        let start = crate::proc::identity::ProcId::of_event(ev.tgid, ev.proc_start_ns).start_ticks;
        let key = (ev.tgid, start, ev.goid);
        match self.by_goroutine.get_mut(&key) {
            Some(g) => both(g.get_mut(ev.func_id)),
            None => {
                let mut acc = Acc::per_goroutine();
                both(&mut acc);
                let fresh = GoroutineAcc {
                    first: (ev.func_id, acc),
                    more: Vec::new(),
                };
                // Full: the least recently active goroutine goes.
                if self.by_goroutine.push(key, fresh).is_some() {
                    self.goroutines_dropped += 1;
                }
            }
        }
        let (frame, caller) = self.caller_of(ev, sym);
        let acc = self
            .by_caller
            .entry((caller, ev.func_id))
            .or_insert_with(|| Acc::with_digits(digits));
        acc.add(&c, ev);
        if let Some(p) = payload {
            acc.pay.add(p);
            let route = self.add_route(ev, p);
            if self.rules.downstream {
                self.down_by_caller
                    .entry((caller, ev.func_id))
                    .or_insert_with(|| Down::new(digits))
                    .payload(p);
                self.last_payload.put(
                    (ev.tgid, ev.goid),
                    LastPayload {
                        end_ns: ev.end_ns(),
                        caller,
                        func_id: ev.func_id,
                        payload_func: ev.func_id,
                        route: Some(route),
                    },
                );
                while self.last_payload.len() > MAX_GOROUTINES {
                    self.last_payload.pop_lru();
                }
            }
        } else if self.rules.downstream && rearm {
            self.rearm(ev);
        }
        frame
    }

    /// A constructor's or a reset's call: counted with its caller and
    /// library (stats::lifecycle), in no other count.
    fn add_lifecycle(&mut self, ev: &CallEvent, sym: &mut dyn Symbolizer) -> Option<u64> {
        if self.functions_only {
            return None;
        }
        let counted = self.lifecycle.classify(ev, &self.funcs, sym)?;
        let library = counted.library;
        let (frame, caller) = self.caller_of(ev, sym);
        let lib = match self.libraries.iter().position(|l| *l == library) {
            Some(i) => i as u32,
            None => {
                self.libraries.push(library);
                (self.libraries.len() - 1) as u32
            }
        };
        let digits = self.digits;
        let acc = self
            .by_encoder
            .entry((caller, lib))
            .or_insert_with(|| LifeAcc {
                builds: Acc::with_digits(digits),
                resets: 0,
                reset_errors: 0,
                reset_ns: 0,
                lazy: 0,
                lazy_ns: 0,
            });
        match counted.seen {
            Seen::Build => acc.builds.add(&CallBytes::default(), ev),
            Seen::Reset => {
                acc.resets += 1;
                acc.reset_errors += u64::from(ev.error);
                acc.reset_ns += counted.ns;
            }
            Seen::LazyBuild => {
                acc.lazy += counted.count;
                acc.lazy_ns += counted.ns;
            }
        }
        frame
    }

    /// A call that ended no payload here but, to the programs, ends one (a
    /// reader's Close after its EOF, a Read returning the same error
    /// again): the goroutine's write now follows it, still its last
    /// payload's, as the programs count it.
    fn rearm(&mut self, ev: &CallEvent) {
        if let Some(last) = self.last_payload.get_mut(&(ev.tgid, ev.goid)) {
            last.end_ns = ev.end_ns();
            last.func_id = ev.func_id;
        }
    }

    /// A payload's downstream write: counted with its payload's caller and
    /// route (the goroutine's last payload, if it is the one that ended
    /// then).
    fn add_write(&mut self, ev: &CallEvent) {
        let Some(w) = ev.write else {
            return;
        };
        if self.functions_only {
            return;
        }
        let key = (ev.tgid, ev.goid);
        let Some(last) = self.last_payload.peek(&key).copied() else {
            return;
        };
        if last.end_ns != w.payload_end_ns || last.func_id != ev.func_id {
            return;
        }
        self.last_payload.pop(&key);
        let gap = ev.start_ns.saturating_sub(w.payload_end_ns);
        if let Some(d) = self
            .down_by_caller
            .get_mut(&(last.caller, last.payload_func))
        {
            d.write(ev, gap, w.kind);
        }
        if let Some(r) = last.route.and_then(|i| self.by_route.get_mut(&i)) {
            r.down.write(ev, gap, w.kind);
        }
    }

    /// Payload `p`, ended by call `ev`, to the route of the request `ev`
    /// was made serving; returns the route's index.
    fn add_route(&mut self, ev: &CallEvent, p: &Payload) -> u32 {
        let name = super::routes::name(ev.route.as_ref(), self.rules.route_depth);
        let i = match self.route_index.get(&name) {
            Some(&i) => i,
            None => {
                let name = super::routes::bounded(name, &self.route_names, self.rules.max_routes);
                *self.route_index.entry(name.clone()).or_insert_with(|| {
                    self.route_names.push(name);
                    (self.route_names.len() - 1) as u32
                })
            }
        };
        let digits = self.digits;
        let r = self.by_route.entry(i).or_insert_with(|| RouteAcc {
            acc: Acc::with_digits(digits),
            by_func: BTreeMap::new(),
            down: Down::new(digits),
        });
        r.acc.calls += 1;
        r.acc.add_time(p.time_ns);
        r.acc.pay.add(p);
        r.by_func.entry(p.func_id).or_default().add(p);
        r.down.payload(p);
        i
    }

    /// Forgets the streams under way of a process that exited.
    pub fn forget_process(&mut self, tgid: u32) {
        self.tracker.forget_process(tgid);
        self.lifecycle.forget_process(tgid);
        // Its calls' callers are named: what named them goes.
        self.forget_frames(tgid);
    }

    /// The caller of `ev` (the first of its frames that names one, else
    /// `[unknown]`), and that frame's return address.
    fn caller_of(&mut self, ev: &CallEvent, sym: &mut dyn Symbolizer) -> (Option<u64>, u32) {
        let found = ev
            .stack
            .iter()
            .find_map(|&a| self.caller_at(ev.tgid, a, sym).map(|i| (a, i)));
        match found {
            Some((a, i)) => (Some(a), i),
            None => (None, 0),
        }
    }

    /// The caller a return address names, once per address.
    fn caller_at(&mut self, pid: u32, addr: u64, sym: &mut dyn Symbolizer) -> Option<u32> {
        if let Some(&known) = self.frames.get(&(pid, addr)) {
            return known;
        }
        let caller = sym
            .function_at(pid, addr.saturating_sub(1))
            .filter(|f| !crate::probe::catalog::is_library(f))
            .map(|f| match self.caller_names.iter().position(|n| *n == f) {
                Some(i) => i as u32,
                None => {
                    self.caller_names.push(f);
                    (self.caller_names.len() - 1) as u32
                }
            });
        self.frames.insert((pid, addr), caller);
        caller
    }

    /// The report model.
    pub fn report(&self, targets: Vec<TargetInfo>, duration_s: f64, lost: Lost) -> Report {
        let mut report = Report {
            meta: Meta::default(),
            findings: Vec::new(),
            targets,
            duration_s,
            requested_duration_s: None,
            ended_by: None,
            min_size: self.rules.min_size,
            min_eligible: self.rules.min_eligible,
            alert_threshold: self.rules.alert_threshold,
            totals: self.counters(&self.total),
            open_streams: self.tracker.open_streams(),
            functions: self.functions(),
            goroutines: self.goroutines(),
            goroutines_dropped: self.goroutines_dropped,
            callers: self.callers(),
            routes: self.routes(),
            encoders: self.encoders(),
            lost,
            sampling: None,
            warnings: Vec::new(),
            command_exit_status: None,
            per_target: Vec::new(),
        };
        report.findings = super::findings::findings(&report, &self.rules);
        report
    }

    /// Function `id`'s calls in `acc` (made inside `outer`'s, if given).
    fn function_report(&self, id: u32, outer: Option<u32>, acc: &Acc) -> FunctionReport {
        let meta = &self.funcs[id as usize];
        FunctionReport {
            function: meta.function.clone(),
            codec: meta.entry.codec,
            op: meta.entry.op,
            api: meta.entry.api,
            bytes_in_observed: meta.entry.bytes_in != crate::probe::catalog::Size::Unobserved,
            bytes_out_observed: meta.entry.bytes_out != crate::probe::catalog::Size::Unobserved
                || meta.sinks,
            counters: self.counters(acc),
            bytes_in: acc.bytes_in,
            bytes_out: acc.bytes_out,
            time_ns: acc.sum_ns as u64,
            latency_ns: latency(acc),
            histogram: histogram(acc),
            traps_inside: acc.fix.traps_inside,
            correction_ns: acc.fix.correction_ns,
            uncorrected: acc.fix.uncorrected,
            inner: outer.is_some(),
            outer: outer
                .and_then(|o| self.funcs.get(o as usize))
                .map(|m| m.function.clone()),
            small_payloads: acc.pay.small,
            small_time_ns: acc.pay.small_time_ns,
            payload_time_ns: acc.pay.time_ns,
            payload_original_bytes: acc.pay.original_bytes,
            payload_compressed_bytes: acc.pay.compressed_bytes,
            payload_ratio: acc.pay.ratio(),
            size_histogram: Vec::new(),
            loss_below_bytes: None,
        }
    }

    /// Each function's calls (an inner function's under each outer one on
    /// its own), by name.
    fn functions(&self) -> Vec<FunctionReport> {
        let mut functions: Vec<FunctionReport> = self
            .by_func
            .iter()
            .map(|(&(id, outer), acc)| {
                let mut f = self.function_report(id, outer, acc);
                if outer.is_none() {
                    if let Some(bands) = self.sizes.get(&id) {
                        f.size_histogram = size_buckets(bands);
                        f.loss_below_bytes = loss_below(bands);
                    }
                }
                f
            })
            .collect();
        functions.sort_by(|a, b| (&a.function, &a.outer).cmp(&(&b.function, &b.outer)));
        functions
    }

    /// The goroutines tracked, by process and goid, each with its functions.
    fn goroutines(&self) -> Vec<GoroutineReport> {
        let mut tracked: Vec<(&(u32, u64, u64), &GoroutineAcc)> =
            self.by_goroutine.iter().collect();
        tracked.sort_unstable_by_key(|(k, _)| **k);
        tracked
            .into_iter()
            .map(|(&(pid, start_ticks, goid), g)| {
                let fs = g.functions();
                let summed;
                let all = match fs.as_slice() {
                    [(_, one)] => one,
                    _ => {
                        summed = Acc::sum(fs.iter().map(|(_, a)| a), GOROUTINE_DIGITS);
                        &summed
                    }
                };
                GoroutineReport {
                    pid,
                    start_ticks,
                    goid,
                    counters: self.counters(all),
                    bytes_in: all.bytes_in,
                    bytes_out: all.bytes_out,
                    time_ns: all.sum_ns as u64,
                    latency_ns: latency(all),
                    functions: fs
                        .iter()
                        .map(|(id, a)| self.function_report(*id, None, a))
                        .collect(),
                }
            })
            .collect()
    }

    /// Calls per caller and function, by caller's name.
    fn callers(&self) -> Vec<CallerReport> {
        let mut by_caller: Vec<(&(u32, u32), &Acc)> = self.by_caller.iter().collect();
        by_caller.sort_by(|(a, _), (b, _)| {
            (&self.caller_names[a.0 as usize], a.1).cmp(&(&self.caller_names[b.0 as usize], b.1))
        });
        by_caller
            .into_iter()
            .map(|((caller, id), acc)| CallerReport {
                caller: self.caller_names[*caller as usize].clone(),
                function: self.funcs[*id as usize].function.clone(),
                calls: acc.calls,
                latency_ns: latency(acc),
                payloads: acc.pay.payloads,
                eligible: acc.pay.eligible,
                errors: acc.pay.errors,
                incompressible: acc.pay.incompressible,
                failures: acc.pay.failures,
                time_ns: acc.sum_ns as u64,
                incompressible_time_ns: acc.pay.incompressible_time_ns,
                error_time_ns: acc.pay.error_time_ns,
                downstream: self
                    .rules
                    .downstream
                    .then(|| self.down_by_caller.get(&(*caller, *id)))
                    .flatten()
                    .map(Down::report),
            })
            .collect()
    }

    /// Each caller's encoders by library, with the payloads it made with
    /// the library: by caller's name, then library.
    fn encoders(&self) -> Vec<EncoderReport> {
        let mut out: Vec<EncoderReport> = self
            .by_encoder
            .iter()
            .map(|(&(caller, lib), acc)| {
                let library = &self.libraries[lib as usize];
                let (mut payloads, mut payload_ns) = (0, 0u128);
                for ((c, id), a) in &self.by_caller {
                    if *c == caller && library.holds(&self.funcs[*id as usize]) {
                        payloads += a.pay.payloads;
                        payload_ns += a.sum_ns;
                    }
                }
                let payload_time_ns = payload_ns as u64;
                let build_time_ns = acc.builds.sum_ns as u64;
                let building = build_time_ns + acc.lazy_ns + acc.reset_ns;
                let path = build_time_ns + acc.reset_ns + payload_time_ns;
                EncoderReport {
                    caller: self.caller_names[caller as usize].clone(),
                    library: library.package.clone(),
                    codec: library.codec,
                    op: library.op,
                    builds: acc.builds.calls,
                    resets: self.rules.resets.then_some(acc.resets),
                    errors: acc.builds.call_errors + acc.reset_errors,
                    build_latency_ns: latency(&acc.builds),
                    build_time_ns,
                    lazy_builds: acc.lazy,
                    lazy_build_time_ns: acc.lazy_ns,
                    reset_time_ns: self.rules.resets.then_some(acc.reset_ns),
                    payloads,
                    payload_time_ns,
                    payloads_per_build: (acc.builds.calls > 0)
                        .then(|| payloads as f64 / acc.builds.calls as f64),
                    build_share: (payloads > 0 && path > 0)
                        .then(|| (building as f64 / path as f64).min(1.0)),
                }
            })
            .collect();
        out.sort_by(|a, b| (&a.caller, &a.library, a.op).cmp(&(&b.caller, &b.library, b.op)));
        out
    }

    /// Payloads by route: the most first, `other` and `no route` last;
    /// none when no payload was made serving a request.
    fn routes(&self) -> Vec<RouteReport> {
        let served = self.by_route.keys().any(|&i| {
            let n = &self.route_names[i as usize];
            n != super::routes::NO_ROUTE
        });
        if !served {
            return Vec::new();
        }
        let mut routes: Vec<RouteReport> = self
            .by_route
            .iter()
            .map(|(&i, r)| RouteReport {
                route: self.route_names[i as usize].clone(),
                counters: self.counters(&r.acc),
                original_bytes: r.acc.pay.original_bytes,
                compressed_bytes: r.acc.pay.compressed_bytes,
                ratio: r.acc.pay.ratio(),
                time_ns: r.acc.pay.time_ns,
                latency_ns: latency(&r.acc),
                functions: r
                    .by_func
                    .iter()
                    .map(|(&id, p)| RouteFunction {
                        function: self.funcs[id as usize].function.clone(),
                        payloads: p.payloads,
                        eligible: p.eligible,
                        failures: p.failures,
                        original_bytes: p.original_bytes,
                        compressed_bytes: p.compressed_bytes,
                        time_ns: p.time_ns,
                    })
                    .collect(),
                downstream: self.rules.downstream.then(|| r.down.report()),
            })
            .collect();
        let last = |r: &RouteReport| match r.route.as_str() {
            super::routes::NO_ROUTE => 2,
            super::routes::OTHER => 1,
            _ => 0,
        };
        routes.sort_by(|a, b| {
            (last(a), std::cmp::Reverse(a.counters.payloads), &a.route).cmp(&(
                last(b),
                std::cmp::Reverse(b.counters.payloads),
                &b.route,
            ))
        });
        routes
    }

    fn counters(&self, acc: &Acc) -> Counters {
        let p = &acc.pay;
        let state = self.rules.state(p.failures, p.eligible);
        let (low, high) = super::rules::rate_interval(p.failures, p.eligible);
        Counters {
            calls: acc.calls,
            call_errors: acc.call_errors,
            payloads: p.payloads,
            eligible: p.eligible,
            errors: p.errors,
            incompressible: p.incompressible,
            failures: p.failures,
            not_judged: p.not_judged,
            failure_rate: super::rules::failure_rate(p.failures, p.eligible),
            failure_rate_low: low,
            failure_rate_high: high,
            state,
            alert: state == super::rules::State::Alert,
        }
    }
}

/// The size below which compressing was a loss: the end of the largest band
/// such that in it and in every smaller band, together, the output was no
/// smaller than the input. None when no such band (or none is sized); empty
/// payloads (band 0) say nothing of it.
fn loss_below(bands: &[Band; 65]) -> Option<u64> {
    let (mut original, mut packed, mut below) = (0u64, 0u64, None);
    for (i, b) in bands.iter().enumerate().skip(1) {
        if b.original == 0 && b.packed == 0 {
            continue;
        }
        original = original.saturating_add(b.original);
        packed = packed.saturating_add(b.packed);
        if packed >= original {
            below = Some(1u64 << i.min(63));
        }
    }
    below
}

/// Size buckets in bytes, non-empty ones only.
fn size_buckets(bands: &[Band; 65]) -> Vec<Bucket> {
    bands
        .iter()
        .map(|b| b.payloads)
        .enumerate()
        .filter(|&(_, n)| n > 0)
        .map(|(i, count)| match i {
            0 => Bucket {
                min: 0,
                max: 0,
                count,
            },
            _ => Bucket {
                min: 1u64 << (i - 1),
                max: ((1u128 << i) - 1).min(u128::from(u64::MAX)) as u64,
                count,
            },
        })
        .collect()
}

fn cap(n: usize) -> NonZeroUsize {
    NonZeroUsize::new(n.max(1)).expect("at least 1")
}

fn latency(acc: &Acc) -> Latency {
    let q = |p: f64| {
        if acc.calls == 0 {
            0
        } else {
            // HDR values are bucket edges: keep them within the exact range.
            acc.quantile(p).clamp(acc.min_ns, acc.max_ns)
        }
    };
    Latency {
        p50: q(0.5),
        p90: q(0.9),
        p99: q(0.99),
        p999: q(0.999),
        max: acc.max_ns,
        mean: if acc.calls == 0 {
            0
        } else {
            (acc.sum_ns / u128::from(acc.calls)) as u64
        },
    }
}

/// Log2 buckets of the latencies. HDR histograms split values at every power
/// of two, so their buckets fall whole into log2 ones: exact either way.
fn histogram(acc: &Acc) -> Vec<Bucket> {
    let mut log2 = [0u64; 64];
    let band = |v: u64| 63 - v.max(1).leading_zeros() as usize;
    match &acc.hist {
        Some(h) => {
            for v in h.iter_recorded() {
                log2[band(h.lowest_equivalent(v.value_iterated_to()))] += v.count_at_value();
            }
        }
        None => {
            for &v in &acc.few[..usize::from(acc.n_few)] {
                log2[band(v)] += 1;
            }
        }
    }
    log2.iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(i, &count)| Bucket {
            min: 1u64 << i,
            max: (1u64 << i).saturating_mul(2) - 1,
            count,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::catalog::entries;

    struct NoSymbols;
    impl Symbolizer for NoSymbols {
        fn function_at(&mut self, _: u32, addr: u64) -> Option<String> {
            match addr {
                0x100..=0x1ff => {
                    Some("github.com/klauspost/compress/zstd.(*Encoder).EncodeAll".into())
                }
                0x200..=0x2ff => Some("main.(*server).handleUpload".into()),
                _ => None,
            }
        }
    }

    fn ev(
        func_id: u32,
        goid: u64,
        bytes_in: u64,
        out: Option<u64>,
        error: bool,
        ns: u64,
    ) -> CallEvent {
        CallEvent {
            tgid: 7,
            proc_start_ns: 0,
            ret_ip: 0,
            goid,
            func_id,
            start_ns: 0,
            duration_ns: ns,
            bytes_in: Some(bytes_in),
            bytes_out: out,
            error,
            stack: vec![0x150, 0x250],
            ..Default::default()
        }
    }

    /// zstd's EncodeAll as the only function.
    fn encode_all() -> Vec<FuncMeta> {
        let e = *entries().iter().find(|e| e.name == "EncodeAll").unwrap();
        vec![FuncMeta {
            function: e.symbol(),
            entry: e,
            target: 0,
            sinks: false,
        }]
    }

    #[test]
    fn a_functions_only_aggregator_counts_the_same_calls_without_goroutines_or_callers() {
        let mut full = Aggregator::new(encode_all(), Rules::DEFAULT);
        let mut part = full.functions_only();
        let mut sym = NoSymbols;
        for i in 0..10u64 {
            let call = ev(
                0,
                i % 3,
                4096,
                Some(if i == 4 { 5000 } else { 100 }),
                false,
                1000 + i,
            );
            full.add(&call, &mut sym);
            assert_eq!(part.add(&call, &mut sym), None, "no caller named");
        }
        let (f, p) = (
            full.report(vec![], 1.0, Lost::default()),
            part.report(vec![], 1.0, Lost::default()),
        );
        assert_eq!(p.totals, f.totals);
        assert_eq!(p.totals.incompressible, 1);
        assert_eq!(p.functions[0].counters, f.functions[0].counters);
        assert_eq!(p.functions[0].latency_ns, f.functions[0].latency_ns);
        assert!(p.goroutines.is_empty() && p.callers.is_empty());
        assert_eq!(f.goroutines.len(), 3);
    }

    #[test]
    fn goroutines_beyond_the_cap_are_dropped_least_recent_first() {
        let mut agg = Aggregator::new(encode_all(), Rules::DEFAULT).with_max_goroutines(100);
        let mut sym = NoSymbols;
        for goid in 0..250u64 {
            let mut call = ev(0, goid, 4096, Some(100), false, 1000);
            call.start_ns = goid * 10;
            agg.add(&call, &mut sym);
        }
        let r = agg.report(vec![], 1.0, Lost::default());
        assert_eq!(r.totals.calls, 250, "every call still counts");
        assert!(r.goroutines.len() <= 100, "{}", r.goroutines.len());
        assert_eq!(r.goroutines.len() as u64 + r.goroutines_dropped, 250);
        // The most recent goroutine is kept, the oldest dropped.
        assert!(r.goroutines.iter().any(|g| g.goid == 249));
        assert!(!r.goroutines.iter().any(|g| g.goid == 0));
    }

    #[test]
    fn failure_rules() {
        let all = entries();
        let encode = *all.iter().find(|e| e.name == "EncodeAll").unwrap();
        let lz4 = *all.iter().find(|e| e.name == "CompressBlock").unwrap();
        let decode = *all.iter().find(|e| e.name == "DecodeAll").unwrap();
        let funcs = vec![
            FuncMeta {
                function: encode.symbol(),
                entry: encode,
                target: 0,
                sinks: false,
            },
            FuncMeta {
                function: lz4.symbol(),
                entry: lz4,
                target: 0,
                sinks: false,
            },
            FuncMeta {
                function: decode.symbol(),
                entry: decode,
                target: 0,
                sinks: false,
            },
        ];
        let rules = Rules {
            min_eligible: 4,
            ..Rules::DEFAULT
        };
        let mut agg = Aggregator::new(funcs, rules);
        let mut sym = NoSymbols;
        agg.add(&ev(0, 1, 4096, Some(1000), false, 1500), &mut sym); // ok
        agg.add(&ev(0, 1, 4096, Some(4120), false, 3000), &mut sym); // incompressible
        agg.add(&ev(0, 2, 100, Some(120), false, 900), &mut sym); // small: not eligible
        agg.add(&ev(1, 2, 2048, Some(0), false, 700), &mut sym); // lz4 declined
        agg.add(&ev(2, 2, 50, Some(999), true, 400), &mut sym); // error, small input
        let r = agg.report(vec![], 1.0, Lost::default());
        assert_eq!(r.totals.calls, 5);
        assert_eq!(r.totals.errors, 1);
        assert_eq!(r.totals.incompressible, 2);
        assert_eq!(r.totals.failures, 3);
        assert_eq!(r.totals.eligible, 4);
        assert!((r.totals.failure_rate - 0.75).abs() < 1e-9);
        assert!(r.totals.alert);
        assert_eq!(r.totals.payloads, 5, "one-shot calls are payloads");
        // With a verdict needing more eligible payloads: too few.
        let few = Aggregator::new(
            agg.funcs.clone(),
            Rules {
                min_eligible: 5,
                ..rules
            },
        );
        assert_eq!(
            few.report(vec![], 1.0, Lost::default()).totals.state,
            crate::stats::State::TooFew
        );
        let f = r
            .functions
            .iter()
            .find(|f| f.function == encode.symbol())
            .unwrap();
        assert_eq!(
            (f.bytes_in, f.bytes_out),
            (4096 + 4096 + 100, 1000 + 4120 + 120)
        );
        assert_eq!(f.latency_ns.max, 3000);
        // Exact mean; bucketed percentiles stay within the exact range.
        assert_eq!(f.latency_ns.mean, (1500 + 3000 + 900) / 3);
        assert!(f.latency_ns.p999 <= 3000 && f.latency_ns.p50 >= 900);
        // Few calls: percentiles are exact (900, 1500, 3000).
        assert_eq!((f.latency_ns.p50, f.latency_ns.p90), (1500, 3000));
        let lz = r
            .functions
            .iter()
            .find(|f| f.function == lz4.symbol())
            .unwrap();
        assert_eq!(lz.bytes_out, 0, "lz4's declined block produced nothing");
        assert_eq!(
            (lz.payload_original_bytes, lz.payload_compressed_bytes),
            (2048, 0)
        );
        assert_eq!(lz.payload_ratio, None, "a declined block has no ratio");
        assert_eq!(
            (f.payload_original_bytes, f.payload_compressed_bytes),
            (4096 + 4096 + 100, 1000 + 4120 + 120)
        );
        assert_eq!(
            f.payload_ratio,
            Some((1000 + 4120 + 120) as f64 / (4096 + 4096 + 100) as f64)
        );
        let d = r
            .functions
            .iter()
            .find(|f| f.function == decode.symbol())
            .unwrap();
        assert_eq!(d.bytes_out, 0, "an error's output is not counted");
        assert_eq!(
            (d.payload_original_bytes, d.payload_compressed_bytes),
            (0, 50),
            "a one-shot decoder's input is its payload's compressed size"
        );
        assert_eq!(r.goroutines.len(), 2);
        assert_eq!(r.goroutines[0].goid, 1);
        assert_eq!(r.goroutines[0].counters.calls, 2);
        assert!(r
            .callers
            .iter()
            .all(|c| c.caller == "main.(*server).handleUpload"));
        let buckets: u64 = f.histogram.iter().map(|b| b.count).sum();
        assert_eq!(buckets, 3);
        assert_eq!(f.histogram[0].min, 512);
    }
}
