//! From calls to payloads. A one-shot call is one payload. A stream is one
//! payload from its first call (after its writer or reader was made or
//! reset) to the call that ends it: a writer's `Close`; a reader's io.EOF,
//! error or `Close`. Streams are told apart by their writer or reader
//! object (the receiver), per process. A call made inside another traced
//! call on its goroutine (inner) is no part of any payload.

use lru::LruCache;

use super::rules::{call_bytes, CallBytes, Judged, PayloadFacts, Rules};
use super::FuncMeta;
use crate::event::CallEvent;
use crate::probe::catalog::{Op, Role, StreamOut};

/// Streams under way tracked at once; beyond, the least recently used is
/// forgotten (counted in `Tracker::evicted`).
pub const MAX_OPEN_STREAMS: usize = 65_536;

/// A payload, ended by one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Payload {
    /// The function of the call that ended it: its row.
    pub func_id: u32,
    pub judged: Judged,
    /// Time in its calls, summed.
    pub time_ns: u64,
}

/// A stream under way.
#[derive(Debug, Clone, Copy, Default)]
struct Open {
    plain_bytes: u64,
    packed_bytes: u64,
    error: bool,
    started: bool,
    time_ns: u64,
    /// A reader whose payload ended in an error: the same error returned
    /// again by later reads is not another payload.
    failed: bool,
}

/// The streams under way, and the rules' min-size.
pub struct Tracker {
    rules: Rules,
    open: LruCache<(u32, u64), Open>,
    /// Streams forgotten to stay within MAX_OPEN_STREAMS.
    pub evicted: u64,
}

impl Tracker {
    pub fn new(rules: Rules) -> Tracker {
        Tracker {
            rules,
            // Bounded by hand: a bounded LruCache allocates its whole
            // capacity up front, and most aggregators see no stream.
            open: LruCache::unbounded(),
            evicted: 0,
        }
    }

    /// Streams begun and not ended.
    pub fn open_streams(&self) -> u64 {
        self.open.iter().filter(|(_, o)| !o.failed).count() as u64
    }

    /// Forgets every stream under way.
    pub fn clear(&mut self) {
        self.open.clear();
    }

    /// Forgets the streams of a process that exited.
    pub fn forget_process(&mut self, tgid: u32) {
        super::forget_process_keys(&mut self.open, tgid);
    }

    /// Adds call `ev` of `meta`; returns the payload it ended, if any.
    pub fn add(&mut self, ev: &CallEvent, meta: &FuncMeta) -> Option<Payload> {
        if ev.outer.is_some() {
            return None;
        }
        let e = &meta.entry;
        let b = call_bytes(ev, e);
        let key = (ev.tgid, ev.obj);
        match e.role {
            Role::Whole => Some(self.whole(ev, e.op == Op::Compress, &b)),
            Role::Write | Role::Flush => {
                let o = self.entry(key);
                o.plain_bytes += b.bytes_in;
                o.packed_bytes += b.bytes_out;
                o.error |= ev.error;
                o.started |= ev.started;
                o.time_ns += ev.duration_ns;
                None
            }
            Role::Close if e.op == Op::Compress => Some(self.close_writer(key, ev, meta, &b)),
            Role::Close => {
                // A reader's Close ends the payload under way, if any.
                let mut o = self.open.pop(&key)?;
                if o.failed {
                    return None;
                }
                o.error |= ev.error;
                o.time_ns += ev.duration_ns;
                Some(self.read_payload(ev.func_id, o))
            }
            Role::Read => self.read(key, ev, &b),
            Role::New | Role::Internal => None,
            // A stream left unfinished on the writer or reader is
            // abandoned: no payload, and the next stream starts afresh.
            Role::Reset => {
                self.open.pop(&key);
                None
            }
        }
    }

    /// A one-shot call's payload: the call is the payload.
    fn whole(&self, ev: &CallEvent, compress: bool, b: &CallBytes) -> Payload {
        let facts = PayloadFacts {
            compress,
            plain_bytes: if compress { b.bytes_in } else { b.bytes_out },
            packed_bytes: if compress {
                b.out_known.then_some(b.bytes_out)
            } else {
                Some(b.bytes_in)
            },
            error: ev.error,
            declined: b.declined,
        };
        Payload {
            func_id: ev.func_id,
            judged: self.rules.judge(&facts, true),
            time_ns: ev.duration_ns,
        }
    }

    /// A writer's `Close`: the payload of its stream, judged when its
    /// compressed size is known (the encoder's own counts, or its sinks
    /// from the stream's start).
    fn close_writer(
        &mut self,
        key: (u32, u64),
        ev: &CallEvent,
        meta: &FuncMeta,
        b: &CallBytes,
    ) -> Payload {
        let e = &meta.entry;
        let mut o = self.open.pop(&key).unwrap_or_default();
        o.packed_bytes += b.bytes_out;
        o.error |= ev.error;
        o.started |= ev.started;
        o.time_ns += ev.duration_ns;
        let (plain, packed, judgeable) = match e.stream_out {
            StreamOut::EncoderCounts => match ev.totals {
                Some((input, output)) => (input, Some(output), true),
                None => (o.plain_bytes, None, false),
            },
            StreamOut::Sinks if meta.sinks => (
                o.plain_bytes,
                Some(o.packed_bytes),
                o.started || !e.needs_header,
            ),
            _ => (o.plain_bytes, None, false),
        };
        let facts = PayloadFacts {
            compress: true,
            plain_bytes: plain,
            packed_bytes: packed,
            error: o.error,
            declined: false,
        };
        Payload {
            func_id: ev.func_id,
            judged: self.rules.judge(&facts, judgeable),
            time_ns: o.time_ns,
        }
    }

    /// A reader's `Read`: adds its output to its stream, which io.EOF or an
    /// error ends (an error returned again after one is no new payload).
    fn read(&mut self, key: (u32, u64), ev: &CallEvent, b: &CallBytes) -> Option<Payload> {
        let failed_before = self.open.peek(&key).is_some_and(|o| o.failed);
        if failed_before {
            if ev.error && b.bytes_out == 0 {
                return None;
            }
            self.open.pop(&key);
        }
        let o = self.entry(key);
        o.plain_bytes += b.bytes_out;
        o.error |= ev.error;
        o.time_ns += ev.duration_ns;
        if !(ev.eof || ev.error) {
            return None;
        }
        let o = self.open.pop(&key).unwrap_or_default();
        if ev.error {
            // Remember the failure, so its repeats are not payloads.
            self.push(
                key,
                Open {
                    failed: true,
                    ..Open::default()
                },
            );
        }
        Some(self.read_payload(ev.func_id, o))
    }

    /// The payload of reader stream `o`, ended by a call of `func_id`.
    fn read_payload(&self, func_id: u32, o: Open) -> Payload {
        Payload {
            func_id,
            judged: self.rules.judge(
                &PayloadFacts {
                    compress: false,
                    plain_bytes: o.plain_bytes,
                    packed_bytes: None,
                    error: o.error,
                    declined: false,
                },
                true,
            ),
            time_ns: o.time_ns,
        }
    }

    fn entry(&mut self, key: (u32, u64)) -> &mut Open {
        if !self.open.contains(&key) {
            self.push(key, Open::default());
        }
        self.open.get_mut(&key).expect("just inserted")
    }

    fn push(&mut self, key: (u32, u64), o: Open) {
        if !self.open.contains(&key)
            && self.open.len() >= MAX_OPEN_STREAMS
            && self.open.pop_lru().is_some()
        {
            self.evicted += 1;
        }
        self.open.push(key, o);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::catalog::entries;

    fn meta(symbol: &str, sinks: bool) -> FuncMeta {
        let e = *entries().iter().find(|e| e.symbol() == symbol).unwrap();
        FuncMeta {
            function: e.symbol(),
            entry: e,
            target: 0,
            sinks,
        }
    }

    fn call(obj: u64, bytes_in: Option<u64>, bytes_out: Option<u64>) -> CallEvent {
        CallEvent {
            tgid: 1,
            goid: 9,
            obj,
            duration_ns: 100,
            bytes_in,
            bytes_out,
            ..Default::default()
        }
    }

    const GZ_WRITE: &str = "compress/gzip.(*Writer).Write";
    const GZ_CLOSE: &str = "compress/gzip.(*Writer).Close";
    const GZ_READ: &str = "compress/gzip.(*Reader).Read";

    #[test]
    fn a_writer_stream_is_one_payload_from_write_to_close() {
        let (w, c) = (meta(GZ_WRITE, true), meta(GZ_CLOSE, true));
        let mut t = Tracker::new(Rules::DEFAULT);
        let mut first = call(0xa, Some(3000), Some(10));
        first.started = true;
        assert_eq!(t.add(&first, &w), None);
        assert_eq!(
            t.add(&call(0xb, Some(500), Some(10)), &w),
            None,
            "another stream"
        );
        assert_eq!(t.add(&call(0xa, Some(3000), Some(0)), &w), None);
        assert_eq!(t.open_streams(), 2);
        let p = t.add(&call(0xa, None, Some(7000)), &c).unwrap();
        assert_eq!(p.judged.original_bytes, 6000);
        assert!(p.judged.eligible && p.judged.incompressible, "7010 >= 6000");
        assert_eq!(p.time_ns, 300);
        // Begun before gozt attached (no header seen): not judged.
        let p = t.add(&call(0xb, None, Some(100)), &c).unwrap();
        assert!(p.judged.not_judged && !p.judged.eligible);
        assert_eq!(t.open_streams(), 0);
    }

    #[test]
    fn inner_calls_are_no_part_of_payloads() {
        let w = meta(GZ_WRITE, true);
        let mut t = Tracker::new(Rules::DEFAULT);
        let mut inner = call(0xa, Some(3000), Some(0));
        inner.outer = Some(4);
        assert_eq!(t.add(&inner, &w), None);
        assert_eq!(t.open_streams(), 0);
    }

    #[test]
    fn a_reader_ends_at_eof_or_at_its_first_error() {
        let r = meta(GZ_READ, false);
        let mut t = Tracker::new(Rules::DEFAULT);
        assert_eq!(t.add(&call(0xa, None, Some(1000)), &r), None);
        let mut eof = call(0xa, None, Some(500));
        eof.eof = true;
        let p = t.add(&eof, &r).unwrap();
        assert_eq!(p.judged.original_bytes, 1500);
        assert!(p.judged.eligible && !p.judged.failed());
        let mut bad = call(0xc, None, Some(0));
        bad.error = true;
        assert!(t.add(&bad, &r).unwrap().judged.failed());
        assert_eq!(t.add(&bad, &r), None, "the same error again is no payload");
    }

    #[test]
    fn zstd_streams_are_judged_by_the_encoders_counts() {
        let c = meta("github.com/klauspost/compress/zstd.(*Encoder).Close", false);
        let mut t = Tracker::new(Rules::DEFAULT);
        let mut close = call(0xa, None, None);
        close.totals = Some((8192, 900));
        let p = t.add(&close, &c).unwrap();
        assert_eq!(p.judged.original_bytes, 8192);
        assert_eq!(p.judged.compressed_bytes, Some(900), "on the Close row");
        assert!(p.judged.eligible && !p.judged.failed());
        let p = t.add(&call(0xb, None, None), &c).unwrap();
        assert!(p.judged.not_judged, "counts not read");
        assert_eq!(p.judged.compressed_bytes, None);
    }

    #[test]
    fn a_gzip_payload_holds_its_header_and_trailer() {
        let (w, c) = (meta(GZ_WRITE, true), meta(GZ_CLOSE, true));
        let mut t = Tracker::new(Rules::DEFAULT);
        // The 10-byte header goes out on the first Write, the rest and the
        // 8-byte trailer at Close.
        let mut first = call(0xa, Some(5000), Some(10));
        first.started = true;
        t.add(&first, &w);
        let p = t.add(&call(0xa, None, Some(1200 + 8)), &c).unwrap();
        assert_eq!(p.judged.original_bytes, 5000);
        assert_eq!(p.judged.compressed_bytes, Some(10 + 1200 + 8));
    }

    #[test]
    fn data_a_read_returns_with_its_error_counts() {
        let r = meta(GZ_READ, false);
        let mut t = Tracker::new(Rules::DEFAULT);
        assert_eq!(t.add(&call(0xa, None, Some(4096)), &r), None);
        let mut last = call(0xa, None, Some(3168));
        last.error = true;
        let p = t.add(&last, &r).unwrap();
        assert_eq!(
            p.judged.original_bytes, 7264,
            "4,096 + the 3,168 with the error"
        );
        assert!(p.judged.failed());
        assert_eq!(
            p.judged.compressed_bytes, None,
            "a reader's input is unseen"
        );
    }
}
