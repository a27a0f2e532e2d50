//! The Prometheus exporter: `--prometheus ADDR` serves `/metrics` in the
//! Prometheus text exposition format (the `prometheus` crate encodes it).
//!
//! Series are per target process (`pid`, `binary`), function, codec and op —
//! never per goroutine, so label sets stay bounded — and a target's series
//! are removed once it has exited (with `--binary`, a restarted service gets
//! new ones). Call counters and latency histograms are per call; payload
//! counters follow the report's rules (`stats::rules`, `stats::payload`).
//! Inner calls (made inside another traced call) are not exported: they
//! are part of their outer call. Payloads are also counted by the HTTP
//! route they were made serving (`gozt_route_*`, labels `pid`, `binary`,
//! `route`): at most `--max-routes` routes per target, the rest `other`,
//! and `no route` for payloads made serving none; and their downstream
//! writes by route and by what they wrote to (`gozt_downstream_*`, labels
//! `pid`, `binary`, `route`, `kind`).

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use prometheus::core::Collector;
use prometheus::{
    CounterVec, Encoder, Gauge, GaugeVec, HistogramOpts, HistogramVec, IntCounterVec, IntGauge,
    Opts, Registry, TextEncoder,
};

use crate::event::{CallEvent, Cause, Lost};
use crate::stats::payload::Payload;
use crate::stats::rules::call_bytes;
use crate::stats::{Call, CallSink, FuncMeta, Rules, Symbolizer, TargetInfo};

/// Whether a function's output bytes are counted.
fn out_observed(meta: &FuncMeta) -> bool {
    meta.entry.bytes_out != crate::probe::catalog::Size::Unobserved || meta.sinks
}

/// The documented default address: loopback only.
pub const DEFAULT_ADDR: &str = "127.0.0.1:9433";

/// How long an exited target's series stay by default (`--series-grace`):
/// several scrapes at Prometheus's usual intervals (15 s to 1 min) see its
/// last counts, one missed scrape included.
pub const SERIES_GRACE: Duration = Duration::from_secs(300);

/// Labels of every per-function series.
const LABELS: [&str; 5] = ["pid", "binary", "function", "codec", "op"];

/// Labels of every per-route series.
const ROUTE_LABELS: [&str; 3] = ["pid", "binary", "route"];

/// Labels of the downstream writes' series.
const WRITE_LABELS: [&str; 4] = ["pid", "binary", "route", "kind"];

/// Labels of the encoders' series (stats::lifecycle).
const ENCODER_LABELS: [&str; 4] = ["pid", "binary", "library", "kind"];

/// Every metric gozt exports (the dashboard test checks queries against it).
pub const METRICS: &[&str] = &[
    "gozt_calls_total",
    "gozt_call_errors_total",
    "gozt_payloads_total",
    "gozt_errors_total",
    "gozt_incompressible_total",
    "gozt_failures_total",
    "gozt_eligible_total",
    "gozt_not_judged_total",
    "gozt_bytes_in_total",
    "gozt_bytes_out_total",
    "gozt_payload_original_bytes_total",
    "gozt_payload_compressed_bytes_total",
    "gozt_call_duration_seconds",
    "gozt_failure_ratio_lower_bound",
    "gozt_failure_ratio_upper_bound",
    "gozt_route_payloads_total",
    "gozt_route_eligible_total",
    "gozt_route_failures_total",
    "gozt_route_payload_original_bytes_total",
    "gozt_route_payload_compressed_bytes_total",
    "gozt_route_payload_seconds_total",
    "gozt_route_failure_ratio_lower_bound",
    "gozt_route_failure_ratio_upper_bound",
    "gozt_downstream_writes_total",
    "gozt_downstream_write_bytes_total",
    "gozt_downstream_write_seconds_total",
    "gozt_encoder_builds_total",
    "gozt_encoder_resets_total",
    "gozt_encoder_build_seconds_total",
    "gozt_lost_events_total",
    "gozt_target_info",
    "gozt_targets",
    "gozt_build_info",
    "gozt_alert_threshold_ratio",
    "gozt_min_size_bytes",
    "gozt_min_eligible",
];

/// The metric families and what is needed to label a call.
pub struct Metrics {
    registry: Registry,
    calls: IntCounterVec,
    call_errors: IntCounterVec,
    payloads: IntCounterVec,
    errors: IntCounterVec,
    incompressible: IntCounterVec,
    failures: IntCounterVec,
    eligible: IntCounterVec,
    not_judged: IntCounterVec,
    bytes_in: IntCounterVec,
    bytes_out: IntCounterVec,
    payload_original: IntCounterVec,
    payload_compressed: IntCounterVec,
    duration: HistogramVec,
    /// The 95 % interval of each series' failure ratio (Wilson).
    ratio_low: GaugeVec,
    ratio_high: GaugeVec,
    /// By route: payloads, eligible, failures, original and compressed
    /// bytes (one vector each, in that order), the payloads' time, and the
    /// failure ratio's interval.
    route_counts: [IntCounterVec; 5],
    route_seconds: CounterVec,
    route_low: GaugeVec,
    route_high: GaugeVec,
    /// Downstream writes, their bytes and their time, by route and kind.
    writes: IntCounterVec,
    write_bytes: IntCounterVec,
    write_seconds: CounterVec,
    /// Each goroutine's last payload (its end, and its route), by (pid,
    /// goid): its downstream write's route.
    last_route: lru::LruCache<(u32, u64), (u64, String)>,
    /// Encoders built and reset, and the time building them, by library.
    builds: IntCounterVec,
    resets: IntCounterVec,
    build_seconds: CounterVec,
    lifecycle: crate::stats::lifecycle::Lifecycle,
    rules: Rules,
    lost: CounterVec,
    target_info: GaugeVec,
    /// Targets traced now: 0 while gozt waits for the first.
    targets_traced: IntGauge,
    funcs: Vec<FuncMeta>,
    /// Targets with series, by pid.
    targets: BTreeMap<u32, Series>,
    /// How long an exited target's series stay.
    grace: Duration,
    lost_seen: Lost,
}

/// A target's series: its binary label, its `gozt_target_info` labels,
/// and when it exited.
struct Series {
    binary: String,
    info: [String; 6],
    exited: Option<Instant>,
    /// Its route labels so far (at most `max_routes` routes, then `other`
    /// and `no route`).
    routes: Vec<String>,
    /// Its encoders' libraries so far: (package, kind).
    libraries: Vec<(String, &'static str)>,
}

/// `metric`, registered in `registry`.
fn register<M: Collector + Clone + 'static>(registry: &Registry, metric: M) -> M {
    registry
        .register(Box::new(metric.clone()))
        .expect("registered once");
    metric
}

/// A per-function counter, registered.
fn counter(registry: &Registry, name: &str, help: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &LABELS).expect("valid metric");
    register(registry, c)
}

/// A per-route counter, registered.
fn route_counter(registry: &Registry, name: &str, help: &str) -> IntCounterVec {
    let c = IntCounterVec::new(Opts::new(name, help), &ROUTE_LABELS).expect("valid metric");
    register(registry, c)
}

/// A per-route gauge, registered.
fn route_gauge(registry: &Registry, name: &str, help: &str) -> GaugeVec {
    let g = GaugeVec::new(Opts::new(name, help), &ROUTE_LABELS).expect("valid metric");
    register(registry, g)
}

impl Metrics {
    /// Every family, registered (a table: names and help texts), the
    /// causes of loss at zero, and gauges of gozt's build and `rules`.
    pub fn new(funcs: Vec<FuncMeta>, rules: Rules) -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str| counter(&registry, name, help);
        let metrics = Metrics {
            calls: counter(
                "gozt_calls_total",
                "Completed calls of a compression function.",
            ),
            call_errors: counter(
                "gozt_call_errors_total",
                "Calls that returned a non-nil error (io.EOF ending a stream read excluded).",
            ),
            payloads: counter(
                "gozt_payloads_total",
                "Payloads ended here: one-shot calls, and streams at their Close, EOF or error.",
            ),
            errors: counter("gozt_errors_total", "Payloads with an error."),
            incompressible: counter(
                "gozt_incompressible_total",
                "Eligible compress payloads whose output was not smaller than their original size.",
            ),
            failures: counter(
                "gozt_failures_total",
                "Eligible payloads that errored or were incompressible.",
            ),
            eligible: counter(
                "gozt_eligible_total",
                "Judged payloads with an original size above gozt_min_size_bytes, or an error.",
            ),
            not_judged: counter(
                "gozt_not_judged_total",
                "Payloads whose compressed size could not be known: never eligible.",
            ),
            bytes_in: counter(
                "gozt_bytes_in_total",
                "Call-level input bytes, for functions whose input size is observed per call.",
            ),
            bytes_out: counter(
                "gozt_bytes_out_total",
                "Call-level output bytes (a Read's with its error too; lz4's declined block 0), for functions whose output size is observed.",
            ),
            payload_original: counter(
                "gozt_payload_original_bytes_total",
                "Original (uncompressed) bytes of the payloads ended by this function.",
            ),
            payload_compressed: counter(
                "gozt_payload_compressed_bytes_total",
                "Compressed bytes of the payloads ended by this function whose compressed size is known (a stream's whole output, header and trailer included).",
            ),
            duration: register(&registry, duration_histogram()),
            route_counts: [
                route_counter(
                    &registry,
                    "gozt_route_payloads_total",
                    "Payloads made serving an HTTP route (net/http): `no route` serving none, `other` beyond --max-routes.",
                ),
                route_counter(
                    &registry,
                    "gozt_route_eligible_total",
                    "Eligible payloads made serving an HTTP route.",
                ),
                route_counter(
                    &registry,
                    "gozt_route_failures_total",
                    "Eligible payloads made serving an HTTP route that errored or were incompressible.",
                ),
                route_counter(
                    &registry,
                    "gozt_route_payload_original_bytes_total",
                    "Original (uncompressed) bytes of the payloads made serving an HTTP route.",
                ),
                route_counter(
                    &registry,
                    "gozt_route_payload_compressed_bytes_total",
                    "Compressed bytes of the payloads made serving an HTTP route whose compressed size is known.",
                ),
            ],
            route_seconds: register(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "gozt_route_payload_seconds_total",
                        "Time in the calls of the payloads made serving an HTTP route.",
                    ),
                    &ROUTE_LABELS,
                )
                .expect("valid metric"),
            ),
            route_low: route_gauge(
                &registry,
                "gozt_route_failure_ratio_lower_bound",
                "Lower bound of the 95 % interval (Wilson) of a route's failure ratio.",
            ),
            route_high: route_gauge(
                &registry,
                "gozt_route_failure_ratio_upper_bound",
                "Upper bound of the 95 % interval (Wilson) of a route's failure ratio (1 with none eligible).",
            ),
            writes: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "gozt_downstream_writes_total",
                        "Payloads' downstream writes (the next write to a socket, file or pipe on the payload's goroutine), by the payload's route and what they wrote to.",
                    ),
                    &WRITE_LABELS,
                )
                .expect("valid metric"),
            ),
            write_bytes: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "gozt_downstream_write_bytes_total",
                        "Bytes the payloads' downstream writes wrote.",
                    ),
                    &WRITE_LABELS,
                )
                .expect("valid metric"),
            ),
            write_seconds: register(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "gozt_downstream_write_seconds_total",
                        "Time in the payloads' downstream writes.",
                    ),
                    &WRITE_LABELS,
                )
                .expect("valid metric"),
            ),
            last_route: lru::LruCache::new(
                std::num::NonZeroUsize::new(crate::stats::MAX_GOROUTINES).expect("non-zero"),
            ),
            builds: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "gozt_encoder_builds_total",
                        "Encoders (writers) and decoders (readers) built: constructors, and resets that had to build.",
                    ),
                    &ENCODER_LABELS,
                )
                .expect("valid metric"),
            ),
            resets: register(
                &registry,
                IntCounterVec::new(
                    Opts::new(
                        "gozt_encoder_resets_total",
                        "Writers and readers reset for another stream (their state kept).",
                    ),
                    &ENCODER_LABELS,
                )
                .expect("valid metric"),
            ),
            build_seconds: register(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "gozt_encoder_build_seconds_total",
                        "Time building encoders and decoders: constructors, and state built at a payload's first call.",
                    ),
                    &ENCODER_LABELS,
                )
                .expect("valid metric"),
            ),
            lifecycle: crate::stats::lifecycle::Lifecycle::new(),
            rules,
            lost: register(
                &registry,
                CounterVec::new(
                    Opts::new(
                        "gozt_lost_events_total",
                        "Calls not measured or events dropped, by cause.",
                    ),
                    &["cause"],
                )
                .expect("valid metric"),
            ),
            target_info: register(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "gozt_target_info",
                        "A traced process (container_id empty outside containers); always 1.",
                    ),
                    &[
                        "pid",
                        "binary",
                        "go_version",
                        "container_id",
                        "module_version",
                        "build_id",
                    ],
                )
                .expect("valid metric"),
            ),
            ratio_low: register(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "gozt_failure_ratio_lower_bound",
                        "Lower bound of the 95 % interval (Wilson) of the failure ratio, failures over eligible payloads, since the series began.",
                    ),
                    &LABELS,
                )
                .expect("valid metric"),
            ),
            ratio_high: register(
                &registry,
                GaugeVec::new(
                    Opts::new(
                        "gozt_failure_ratio_upper_bound",
                        "Upper bound of the 95 % interval (Wilson) of the failure ratio, failures over eligible payloads, since the series began (1 with none eligible).",
                    ),
                    &LABELS,
                )
                .expect("valid metric"),
            ),
            targets_traced: register(
                &registry,
                IntGauge::new(
                    "gozt_targets",
                    "Target processes traced now (0 while gozt waits for the first).",
                )
                .expect("valid metric"),
            ),
            funcs,
            targets: BTreeMap::new(),
            grace: SERIES_GRACE,
            lost_seen: Lost::default(),
            registry: registry.clone(),
        };
        for cause in exported_causes() {
            metrics.lost.with_label_values(&[cause.key()]).inc_by(0.0);
        }
        gauges(&registry, rules);
        metrics
    }

    /// The functions whose series targets get: an exporter serving while
    /// gozt waits for its first target has none until then.
    pub fn set_functions(&mut self, funcs: Vec<FuncMeta>) {
        self.funcs = funcs;
    }

    /// Keeps an exited target's series for `grace` (`--series-grace`).
    pub fn with_grace(mut self, grace: Duration) -> Metrics {
        self.grace = grace;
        self
    }

    /// Registers a target process, with every function's series at zero, so
    /// that `rate()` sees its first calls.
    pub fn add_target(&mut self, t: &TargetInfo) {
        let pid = t.pid;
        let (binary, go_version) = (t.binary.as_str(), t.go_version.as_str());
        match self.targets.get(&pid) {
            // Another process on an exited target's pid: the old series go
            // at once (a counter reset to Prometheus).
            Some(Series {
                exited: Some(_), ..
            }) => self.remove_target(pid),
            Some(_) => return,
            None => {}
        }
        let p = pid.to_string();
        let container = t.container_id.as_deref().unwrap_or("");
        let build = [
            t.module_version.clone().unwrap_or_default(),
            t.build_id.clone().unwrap_or_default(),
        ];
        self.target_info
            .with_label_values(&[&p, binary, go_version, container, &build[0], &build[1]])
            .set(1.0);
        // A function's series from the start, at 0; constructors and resets
        // have the encoders' series instead, and a library's internal work
        // none.
        for meta in self.funcs.iter().filter(|m| m.entry.role.is_payload_call()) {
            let labels = labels(&p, binary, meta);
            for (vec, observed) in [
                (&self.calls, true),
                (&self.call_errors, true),
                (&self.payloads, true),
                (&self.errors, true),
                (&self.incompressible, true),
                (&self.failures, true),
                (&self.eligible, true),
                (&self.not_judged, true),
                (&self.payload_original, true),
                (&self.payload_compressed, true),
                (
                    &self.bytes_in,
                    meta.entry.bytes_in != crate::probe::catalog::Size::Unobserved,
                ),
                (&self.bytes_out, out_observed(meta)),
            ] {
                if observed {
                    vec.with_label_values(&labels).inc_by(0);
                }
            }
            let _ = self.duration.with_label_values(&labels);
            self.ratio_low.with_label_values(&labels).set(0.0);
            self.ratio_high.with_label_values(&labels).set(1.0);
        }
        self.targets.insert(
            pid,
            Series {
                binary: binary.to_string(),
                info: [
                    p.clone(),
                    binary.to_string(),
                    go_version.to_string(),
                    container.to_string(),
                    build[0].clone(),
                    build[1].clone(),
                ],
                exited: None,
                routes: Vec::new(),
                libraries: Vec::new(),
            },
        );
        self.set_traced();
    }

    /// `gozt_targets`: the targets that have not exited.
    fn set_traced(&mut self) {
        let live = self.targets.values().filter(|t| t.exited.is_none()).count();
        self.targets_traced.set(live as i64);
    }

    /// Target `pid` has exited: its series stay for the grace period, so
    /// that the scrapes after its exit see its last counts.
    pub fn exited(&mut self, pid: u32) {
        if let Some(t) = self.targets.get_mut(&pid) {
            t.exited.get_or_insert_with(Instant::now);
        }
        self.set_traced();
    }

    /// Removes the series of targets that exited longer than the grace
    /// period ago.
    pub fn prune(&mut self) {
        let old: Vec<u32> = self
            .targets
            .iter()
            .filter(|(_, t)| t.exited.is_some_and(|at| at.elapsed() >= self.grace))
            .map(|(&pid, _)| pid)
            .collect();
        for pid in old {
            self.remove_target(pid);
        }
    }

    /// Counts one completed call of a registered target, and the payload it
    /// ended (the session judges each call once: `Aggregator::judge`).
    pub fn count(&mut self, ev: &CallEvent, payload: Option<&Payload>, sym: &mut dyn Symbolizer) {
        if ev.write.is_some() {
            self.count_write(ev);
            return;
        }
        let Some(meta) = self.funcs.get(ev.func_id as usize) else {
            return;
        };
        let Some(Series { binary, .. }) = self.targets.get(&ev.tgid) else {
            return;
        };
        if meta.entry.role.is_lifecycle() {
            self.count_lifecycle(ev, sym);
            return;
        }
        if ev.outer.is_some() {
            return;
        }
        let c = call_bytes(ev, &meta.entry);
        let pid = ev.tgid.to_string();
        let labels = labels(&pid, binary, meta);
        self.calls.with_label_values(&labels).inc();
        self.call_errors
            .with_label_values(&labels)
            .inc_by(u64::from(ev.error));
        if let Some(p) = payload {
            let j = p.judged;
            self.payloads.with_label_values(&labels).inc();
            for (vec, yes) in [
                (&self.errors, j.error),
                (&self.incompressible, j.incompressible),
                (&self.failures, j.failed()),
                (&self.eligible, j.eligible),
                (&self.not_judged, j.not_judged),
            ] {
                vec.with_label_values(&labels).inc_by(u64::from(yes));
            }
            self.payload_original
                .with_label_values(&labels)
                .inc_by(j.original_bytes);
            let (low, high) = crate::stats::rules::rate_interval(
                self.failures.with_label_values(&labels).get(),
                self.eligible.with_label_values(&labels).get(),
            );
            self.ratio_low.with_label_values(&labels).set(low);
            self.ratio_high.with_label_values(&labels).set(high);
            self.payload_compressed
                .with_label_values(&labels)
                .inc_by(j.compressed_bytes.unwrap_or(0));
        }
        if meta.entry.bytes_in != crate::probe::catalog::Size::Unobserved {
            self.bytes_in.with_label_values(&labels).inc_by(c.bytes_in);
        }
        if out_observed(meta) {
            self.bytes_out
                .with_label_values(&labels)
                .inc_by(c.bytes_out);
        }
        self.duration
            .with_label_values(&labels)
            .observe(ev.duration_ns as f64 / 1e9);
        if let Some(p) = payload {
            self.count_route(ev, p);
        } else if self.rules.downstream && crate::stats::aggregate::rearms(ev, meta) {
            // The programs time the write after this call (a reader's Close
            // after its EOF), still the last payload's.
            if let Some(last) = self.last_route.get_mut(&(ev.tgid, ev.goid)) {
                last.0 = ev.end_ns();
            }
        }
    }

    /// Counts payload `p`, ended by `ev`, under its route's series.
    fn count_route(&mut self, ev: &CallEvent, p: &Payload) {
        use crate::stats::routes;
        let Some(series) = self.targets.get_mut(&ev.tgid) else {
            return;
        };
        let name = routes::bounded(
            routes::name(ev.route.as_ref(), self.rules.route_depth),
            &series.routes,
            self.rules.max_routes,
        );
        if !series.routes.contains(&name) {
            series.routes.push(name.clone());
        }
        if self.rules.downstream {
            self.last_route
                .put((ev.tgid, ev.goid), (ev.end_ns(), name.clone()));
        }
        let pid = ev.tgid.to_string();
        let labels = [pid.as_str(), series.binary.as_str(), name.as_str()];
        let j = p.judged;
        let [payloads, eligible, failures, original, compressed] = &self.route_counts;
        payloads.with_label_values(&labels).inc();
        eligible
            .with_label_values(&labels)
            .inc_by(u64::from(j.eligible));
        failures
            .with_label_values(&labels)
            .inc_by(u64::from(j.failed()));
        original.with_label_values(&labels).inc_by(j.original_bytes);
        compressed
            .with_label_values(&labels)
            .inc_by(j.compressed_bytes.unwrap_or(0));
        self.route_seconds
            .with_label_values(&labels)
            .inc_by(p.time_ns as f64 / 1e9);
        let (low, high) = crate::stats::rules::rate_interval(
            failures.with_label_values(&labels).get(),
            eligible.with_label_values(&labels).get(),
        );
        self.route_low.with_label_values(&labels).set(low);
        self.route_high.with_label_values(&labels).set(high);
    }

    /// Counts a constructor's or a reset's call (stats::lifecycle).
    fn count_lifecycle(&mut self, ev: &CallEvent, sym: &mut dyn Symbolizer) {
        use crate::stats::lifecycle::Seen;
        let Some(counted) = self.lifecycle.classify(ev, &self.funcs, sym) else {
            return;
        };
        let library = counted.library;
        let Some(series) = self.targets.get_mut(&ev.tgid) else {
            return;
        };
        let kind = library.kind();
        let key = (library.package, kind);
        if !series.libraries.contains(&key) {
            series.libraries.push(key.clone());
        }
        let pid = ev.tgid.to_string();
        let labels = [pid.as_str(), series.binary.as_str(), key.0.as_str(), key.1];
        let seconds = counted.ns as f64 / 1e9;
        match counted.seen {
            Seen::Build => {
                self.builds.with_label_values(&labels).inc();
                self.build_seconds
                    .with_label_values(&labels)
                    .inc_by(seconds);
            }
            Seen::LazyBuild => self
                .build_seconds
                .with_label_values(&labels)
                .inc_by(seconds),
            Seen::Reset => self.resets.with_label_values(&labels).inc(),
        }
    }

    /// Counts a payload's downstream write under its payload's route.
    fn count_write(&mut self, ev: &CallEvent) {
        let Some(w) = ev.write else {
            return;
        };
        let Some(series) = self.targets.get(&ev.tgid) else {
            return;
        };
        let key = (ev.tgid, ev.goid);
        let Some((end, route)) = self.last_route.peek(&key).cloned() else {
            return;
        };
        if end != w.payload_end_ns {
            return;
        }
        self.last_route.pop(&key);
        let pid = ev.tgid.to_string();
        let labels = [
            pid.as_str(),
            series.binary.as_str(),
            route.as_str(),
            w.kind.name(),
        ];
        self.writes.with_label_values(&labels).inc();
        self.write_bytes
            .with_label_values(&labels)
            .inc_by(ev.bytes_out.unwrap_or(0));
        self.write_seconds
            .with_label_values(&labels)
            .inc_by(ev.duration_ns as f64 / 1e9);
    }

    /// Brings the loss counters up to `lost` (monotonic in a session).
    pub fn lost(&mut self, lost: &Lost) {
        let new = lost.since(&self.lost_seen);
        for cause in exported_causes() {
            let n = new.get(cause);
            if n > 0 {
                self.lost.with_label_values(&[cause.key()]).inc_by(n as f64);
            }
        }
        self.lost_seen = *lost;
        self.prune();
    }

    /// Removes the series of targets that are gone, at once.
    pub fn retain_targets(&mut self, alive: &HashSet<u32>) {
        let gone: Vec<u32> = self
            .targets
            .keys()
            .filter(|p| !alive.contains(p))
            .copied()
            .collect();
        for pid in gone {
            self.remove_target(pid);
        }
    }

    /// Removes the series of target `pid`.
    fn remove_target(&mut self, pid: u32) {
        let Some(Series {
            binary,
            info,
            routes,
            libraries,
            ..
        }) = self.targets.remove(&pid)
        else {
            return;
        };
        let p = pid.to_string();
        self.lifecycle.forget_process(pid);
        for (package, kind) in &libraries {
            let labels = [p.as_str(), binary.as_str(), package.as_str(), kind];
            let _ = self.builds.remove_label_values(&labels);
            let _ = self.resets.remove_label_values(&labels);
            let _ = self.build_seconds.remove_label_values(&labels);
        }
        for route in &routes {
            let labels = [p.as_str(), binary.as_str(), route.as_str()];
            for kind in crate::event::FdKind::ALL {
                let labels = [p.as_str(), binary.as_str(), route.as_str(), kind.name()];
                let _ = self.writes.remove_label_values(&labels);
                let _ = self.write_bytes.remove_label_values(&labels);
                let _ = self.write_seconds.remove_label_values(&labels);
            }
            for vec in &self.route_counts {
                let _ = vec.remove_label_values(&labels);
            }
            let _ = self.route_seconds.remove_label_values(&labels);
            let _ = self.route_low.remove_label_values(&labels);
            let _ = self.route_high.remove_label_values(&labels);
        }
        self.set_traced();
        let p = pid.to_string();
        let info: Vec<&str> = info.iter().map(String::as_str).collect();
        let _ = self.target_info.remove_label_values(&info);
        for meta in &self.funcs {
            let labels = labels(&p, &binary, meta);
            for vec in [
                &self.calls,
                &self.call_errors,
                &self.payloads,
                &self.errors,
                &self.incompressible,
                &self.failures,
                &self.eligible,
                &self.not_judged,
                &self.payload_original,
                &self.payload_compressed,
                &self.bytes_in,
                &self.bytes_out,
            ] {
                let _ = vec.remove_label_values(&labels);
            }
            let _ = self.duration.remove_label_values(&labels);
            let _ = self.ratio_low.remove_label_values(&labels);
            let _ = self.ratio_high.remove_label_values(&labels);
        }
    }

    /// Target pids with series.
    pub fn target_pids(&self) -> Vec<u32> {
        self.targets.keys().copied().collect()
    }

    /// The exposition text.
    pub fn encode(&self) -> String {
        encode(&self.registry)
    }

    /// The registry, to serve from another thread.
    pub fn registry(&self) -> Registry {
        self.registry.clone()
    }
}

/// Call latencies: 1 us to 16.8 s, by factors of 4.
fn duration_histogram() -> HistogramVec {
    HistogramVec::new(
        HistogramOpts::new(
            "gozt_call_duration_seconds",
            "Latency of compression calls, entry to return.",
        )
        .buckets(prometheus::exponential_buckets(1e-6, 4.0, 13).expect("valid buckets")),
        &LABELS,
    )
    .expect("valid metric")
}

/// The gauges that say which gozt runs and by what rules.
fn gauges(registry: &Registry, rules: Rules) {
    let build = register(
        registry,
        GaugeVec::new(
            Opts::new("gozt_build_info", "The running gozt; always 1."),
            &["version"],
        )
        .expect("valid metric"),
    );
    build
        .with_label_values(&[env!("CARGO_PKG_VERSION")])
        .set(1.0);
    let gauge = |name: &str, help: &str, v: f64| {
        register(registry, Gauge::new(name, help).expect("valid metric")).set(v);
    };
    gauge(
        "gozt_alert_threshold_ratio",
        "The failure-rate alert threshold (--alert-threshold) as a ratio.",
        rules.alert_threshold,
    );
    gauge(
        "gozt_min_size_bytes",
        "Payloads whose original size is larger are eligible for the failure rate (--min-size).",
        rules.min_size as f64,
    );
    gauge(
        "gozt_min_eligible",
        "Eligible payloads needed for a verdict on the failure rate (--min-eligible).",
        rules.min_eligible as f64,
    );
}

/// The exporter as one of the session's counts.
impl CallSink for Metrics {
    fn observe(&mut self, call: &Call<'_>, sym: &mut dyn Symbolizer) -> Option<u64> {
        self.count(call.event, call.payload, sym);
        None
    }

    /// Its series go after the grace period (with `--binary`, a restarted
    /// service gets new ones).
    fn forget_process(&mut self, pid: u32) {
        self.exited(pid);
    }

    fn forget_frames(&mut self, _pid: u32) {}

    /// Prometheus counters only go up: a reset of the live view (never
    /// shown with `--prometheus`) leaves them.
    fn reset(&mut self) {}

    fn target(&mut self, t: &TargetInfo) {
        self.add_target(t);
    }

    fn lost(&mut self, lost: &Lost) {
        Metrics::lost(self, lost);
    }

    /// Targets registered from now on get the new functions' series too.
    fn functions(&mut self, funcs: &[FuncMeta]) {
        self.set_functions(funcs.to_vec());
    }
}

/// The label values of one function's series, in LABELS order.
fn labels<'a>(pid: &'a str, binary: &'a str, meta: &'a FuncMeta) -> [&'a str; 5] {
    [
        pid,
        binary,
        meta.function.as_str(),
        meta.entry.codec.name(),
        meta.entry.op.name(),
    ]
}

/// The `cause` labels of `gozt_lost_events_total`: every loss the report
/// lists.
fn exported_causes() -> impl Iterator<Item = Cause> {
    Cause::ALL.iter().copied().filter(|c| c.is_loss())
}

fn encode(registry: &Registry) -> String {
    let mut buf = Vec::new();
    TextEncoder::new()
        .encode(&registry.gather(), &mut buf)
        .expect("text encoding into memory");
    String::from_utf8(buf).expect("the text format is UTF-8")
}

/// Binds `addr` and serves `/metrics` from a background thread (tiny_http:
/// scrapes are rare, so one thread answers them in turn).
pub fn serve(addr: &str, registry: Registry) -> std::io::Result<SocketAddr> {
    let server = tiny_http::Server::http(addr).map_err(std::io::Error::other)?;
    let bound = server
        .server_addr()
        .to_ip()
        .ok_or_else(|| std::io::Error::other("not an IP address"))?;
    std::thread::Builder::new()
        .name("gozt-metrics".into())
        .spawn(move || {
            for request in server.incoming_requests() {
                let _ = respond(request, &registry);
            }
        })?;
    Ok(bound)
}

/// Answers one request: GET (or HEAD) /metrics, a pointer at /, else 404.
fn respond(request: tiny_http::Request, registry: &Registry) -> std::io::Result<()> {
    use tiny_http::{Header, Method, Response};
    let path = request.url().split('?').next().unwrap_or("");
    let get = matches!(request.method(), Method::Get | Method::Head);
    let (status, content_type, body) = match (get, path) {
        (true, "/metrics") => (
            200,
            TextEncoder::new().format_type().to_string(),
            encode(registry),
        ),
        (true, "/") => (
            200,
            "text/plain; charset=utf-8".to_string(),
            "gozt exporter: metrics at /metrics\n".to_string(),
        ),
        _ => (
            404,
            "text/plain; charset=utf-8".to_string(),
            "not found\n".to_string(),
        ),
    };
    let header = Header::from_bytes("Content-Type", content_type)
        .map_err(|()| std::io::Error::other("bad header"))?;
    request.respond(
        Response::from_string(body)
            .with_status_code(status)
            .with_header(header),
    )
}
