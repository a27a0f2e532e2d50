//! Encoders' lifecycle on replayed events: constructors and resets count
//! with their caller and library (builds, resets, lazy builds inside a
//! payload's first call, a reset that built its reader), against the
//! payloads the caller made with the library; the "encoder built per
//! payload" finding fires on a caller that builds one for every payload and
//! stays quiet on one that pools; the text report and the exporter say the
//! same numbers; no lifecycle call counts as a payload's call.

mod common;

use gozt::event::CallEvent;
use gozt::stats::{FindingKind, FuncMeta, Report, Rules};

fn funcs() -> Vec<FuncMeta> {
    common::catalog_funcs(usize::MAX)
}

fn id(function: &str) -> u32 {
    funcs().iter().position(|f| f.function == function).unwrap() as u32
}

const NEW_WRITER: &str = "compress/gzip.NewWriterLevel";
const WRITER_INIT: &str = "compress/gzip.(*Writer).init";
const WRITE: &str = "compress/gzip.(*Writer).Write";
const CLOSE: &str = "compress/gzip.(*Writer).Close";
const FLATE_NEW: &str = "compress/flate.NewWriter";
const FLATE_INIT: &str = "compress/flate.(*compressor).init";
const READER_RESET: &str = "compress/gzip.(*Reader).Reset";
const FLATE_READER: &str = "compress/flate.NewReader";
const READ: &str = "compress/gzip.(*Reader).Read";

/// Replays one goroutine's calls, each `(function, outer, start, ns)`
/// (RETs in order: an inner call before its outer), from caller `caller`;
/// writes take 4,000 bytes in and put 1,000 out; reads return 4,000 with
/// io.EOF.
struct Replay {
    caller: u64,
    goid: u64,
    obj: u64,
    calls: Vec<CallEvent>,
}

impl Replay {
    fn new(caller: u64) -> Replay {
        Replay {
            caller,
            goid: caller,
            obj: 0x100 * caller,
            calls: Vec::new(),
        }
    }

    fn call(&mut self, function: &str, outer: Option<&str>, start: u64, ns: u64) -> &mut Replay {
        let f = function;
        let write = f == WRITE;
        self.calls.push(CallEvent {
            tgid: 7,
            goid: self.goid,
            func_id: id(f),
            outer: outer.map(id),
            start_ns: start,
            duration_ns: ns,
            obj: self.obj,
            bytes_in: write.then_some(4000),
            bytes_out: (f == READ).then_some(4000),
            eof: f == READ,
            started: write,
            stack: vec![0x1000 * self.caller + 0x10],
            ..Default::default()
        });
        self
    }

    /// A gzip writer's payload from `t`: its Write, whose first call on a
    /// new writer builds the flate compressor (flate.NewWriter and its init
    /// inside), then Close.
    fn gzip_payload(&mut self, t: u64, builds_flate: bool) -> &mut Replay {
        if builds_flate {
            self.call(FLATE_INIT, Some(WRITE), t + 20, 30_000);
            self.call(FLATE_NEW, Some(WRITE), t + 10, 50_000);
        }
        self.call(WRITE, None, t, 80_000);
        self.call(CLOSE, None, t + 90_000, 20_000)
    }
}

fn report(calls: &[CallEvent], rules: Rules) -> Report {
    common::replayed(calls, rules)
}

/// With resets traced (`--resets`).
fn rules(min_eligible: u64) -> Rules {
    Rules {
        min_eligible,
        resets: true,
        ..Rules::DEFAULT
    }
}

/// Caller 1 builds a gzip writer per payload (10); caller 2 builds one and
/// resets it for each of its 10 payloads (gzip's Reset inlined: its init);
/// caller 3 reads 10 gzip streams with one reader, whose first Reset
/// builds its flate decompressor.
fn workload() -> Vec<CallEvent> {
    let mut per = Replay::new(1);
    let mut pooled = Replay::new(2);
    let mut reader = Replay::new(3);
    for i in 0..10u64 {
        let t = 1_000_000 * i;
        per.call(WRITER_INIT, Some(NEW_WRITER), t + 5, 1_000);
        per.call(NEW_WRITER, None, t, 2_000);
        per.gzip_payload(t + 10_000, true);
        if i == 0 {
            pooled.call(NEW_WRITER, None, t, 2_000);
        }
        pooled.call(WRITER_INIT, None, t + 5_000, 3_000);
        pooled.gzip_payload(t + 10_000, i == 0);
        if i == 0 {
            reader.call(FLATE_READER, Some(READER_RESET), t + 10, 40_000);
            reader.call(READER_RESET, None, t, 45_000);
        } else {
            reader.call(READER_RESET, None, t, 5_000);
        }
        reader.call(READ, None, t + 50_000, 10_000);
    }
    [per.calls, pooled.calls, reader.calls].concat()
}

#[test]
fn builds_resets_and_lazy_builds_count_by_caller_and_library() {
    let r = report(&workload(), rules(10));
    let rows: Vec<_> = r
        .encoders
        .iter()
        .map(|e| {
            (
                e.caller.as_str(),
                e.library.as_str(),
                e.op.name(),
                e.builds,
                e.resets.unwrap(),
                e.lazy_builds,
                e.payloads,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            ("main.caller1", "compress/gzip", "compress", 10, 0, 10, 10),
            ("main.caller2", "compress/gzip", "compress", 1, 10, 1, 10),
            ("main.caller3", "compress/gzip", "decompress", 1, 9, 0, 10),
        ]
    );
    let per = &r.encoders[0];
    // Each build: NewWriterLevel's 2 us; the flate compressor at the first
    // Write, its NewWriter's 50 us (its init's 30 inside it).
    assert_eq!(per.build_latency_ns.p50, 2_000);
    assert_eq!(per.build_time_ns, 20_000);
    assert_eq!(per.lazy_build_time_ns, 500_000);
    assert_eq!(per.payloads_per_build, Some(1.0));
    // The path: builds 20 us + payloads' calls 10 x 100 us; building: 520.
    assert_eq!(per.payload_time_ns, 1_000_000);
    let share = per.build_share.unwrap();
    assert!((share - 520.0 / 1020.0).abs() < 1e-9, "{share}");
    let pooled = &r.encoders[1];
    assert_eq!(pooled.reset_time_ns, Some(30_000));
    assert_eq!(pooled.payloads_per_build, Some(10.0));
    // The reader's first Reset built (45 us), the others reset (5 us each).
    let reader = &r.encoders[2];
    assert_eq!(
        (reader.build_time_ns, reader.reset_time_ns),
        (45_000, Some(45_000))
    );
    // No lifecycle call is a payload's: the functions are the payloads'.
    let mut names: Vec<&str> = r.functions.iter().map(|f| f.function.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, [READ, CLOSE, WRITE]);
    assert_eq!(r.totals.payloads, 30);
    assert_eq!(
        r.callers.iter().map(|c| c.calls).sum::<u64>(),
        10 * 2 + 10 * 2 + 10
    );
}

#[test]
fn building_per_payload_is_a_finding_and_pooling_is_not() {
    let r = report(&workload(), rules(10));
    let found: Vec<_> = r
        .findings
        .iter()
        .filter(|f| f.kind == FindingKind::EncoderPerPayload)
        .collect();
    assert_eq!(found.len(), 1, "{:#?}", r.findings);
    let f = found[0];
    assert_eq!(f.caller.as_deref(), Some("main.caller1"));
    assert_eq!(f.function, "compress/gzip writer");
    assert_eq!(f.time_ns, 520_000);
    assert_eq!(
        f.evidence,
        "built 10 compress/gzip writers for its 10 payloads (1.00 per payload), 52.0us each, \
         520us in all (51.0% of its compress/gzip path)"
    );
    // Below the minimum of payloads, and above the threshold: quiet.
    assert!(report(&workload(), rules(11))
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::EncoderPerPayload));
    let strict = Rules {
        builds_per_payload: 1.01,
        ..rules(10)
    };
    assert!(report(&workload(), strict)
        .findings
        .iter()
        .all(|f| f.kind != FindingKind::EncoderPerPayload));
}

#[test]
fn the_text_report_and_the_exporter_say_the_same() {
    let r = report(&workload(), rules(10));
    let text = gozt::render::report::text(&r, &Default::default());
    let section = text
        .split("encoders (writers and readers built and reset, by library, then by caller):\n")
        .nth(1)
        .expect("an encoders section");
    let lines: Vec<&str> = section.lines().take(6).collect();
    assert_eq!(
        lines,
        [
            "compress/gzip writers: 11 built, 10 reset, 20 payloads (1.8 per build)",
            "  building 572us, resets 30.0us",
            "  main.caller1: 10 built (p50 2.00us p99 2.00us, 20.0us); 10 built at first use (500us)",
            "    its 10 payloads, 1.0 per build, building 51.0% of its path",
            "  main.caller2: 1 built (p50 2.00us p99 2.00us, 2.00us); 1 built at first use (50.0us)",
            // Building 2 + 50 us and resets 30 over a path of 2 + 30 + 1,000.
            "    10 reset (30.0us); its 10 payloads, 10.0 per build, building 7.9% of its path",
        ],
        "{section}"
    );
    assert!(
        section.contains("compress/gzip readers: 1 built, 9 reset, 10 payloads (10.0 per build)"),
        "{section}"
    );
    let metrics = common::exported(&workload(), rules(10));
    let series = |name: &str, kind: &str| {
        common::series_value(
            &metrics,
            &format!(
                "{name}{{binary=\"/srv/app\",kind=\"{kind}\",library=\"compress/gzip\",pid=\"7\"}}"
            ),
        )
    };
    assert_eq!(series("gozt_encoder_builds_total", "writer"), 11.0);
    assert_eq!(series("gozt_encoder_resets_total", "writer"), 10.0);
    assert_eq!(series("gozt_encoder_builds_total", "reader"), 1.0);
    assert_eq!(series("gozt_encoder_resets_total", "reader"), 9.0);
    // Constructors 22 us and the lazy builds 550 us.
    let seconds = series("gozt_encoder_build_seconds_total", "writer");
    assert!((seconds - 572e-6).abs() < 1e-12, "{seconds}");
    // A constructor is no function's call in the per-function series.
    assert!(!metrics.contains("function=\"compress/gzip.NewWriterLevel\""));
}
