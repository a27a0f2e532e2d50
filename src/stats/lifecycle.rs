//! Encoders' lifecycle: what a call of a constructor or a reset counts as.
//!
//! The compiler decides which constructor a caller's code calls: from Go
//! 1.21 `gzip.NewReader` is inlined and its caller calls the reader's
//! `Reset`, which builds the flate decompressor the first time (it resets
//! it after). So a build is the state's construction wherever it happens:
//!
//! - a constructor made inside no other traced call is a build, of the
//!   library whose code called it (the frame below its caller's): from Go
//!   1.21 a gzip reader's flate decompressor is built by the reader's
//!   `Reset`, which `gzip.NewReader`, inlined, leaves its caller calling,
//!   and which gozt traces only with `--resets`;
//! - a reset made inside no other traced call is a reset, unless a
//!   constructor ran inside it: then it built its reader, and is a build;
//! - a constructor made inside a payload's call (gzip's first `Write`
//!   builds its flate compressor, zstd's first `EncodeAll` its block
//!   encoders) is a lazy build: its time is building, counted with the
//!   library of the call it was made in;
//! - anything else made inside a constructor or a reset is part of it,
//!   and a constructor inside a lazy build (flate's `NewWriter` calls its
//!   compressor's `init`) is part of that build.
//!
//! The aggregator and the exporter classify each call with the same
//! [`Lifecycle`].

use lru::LruCache;
use serde::{Deserialize, Serialize};

use super::{FuncMeta, Symbolizer};
use crate::event::CallEvent;
use crate::probe::catalog::{Codec, Op, Role};

/// A lifecycle call as it counts: what it is, for which library, how many
/// (0 for a lazy build that encloses the one counted before it: it adds
/// only its own time) and its time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub seen: Seen,
    pub library: Library,
    pub count: u64,
    pub ns: u64,
}

/// What a lifecycle call counts as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Seen {
    Build,
    Reset,
    /// A build inside a payload's call.
    LazyBuild,
}

/// An encoder's or decoder's library: its package (unvendored) and
/// direction.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Library {
    pub package: String,
    pub codec: Codec,
    pub op: Op,
}

impl Library {
    pub fn of(meta: &FuncMeta) -> Library {
        Library {
            package: meta.entry.package.to_string(),
            codec: meta.entry.codec,
            op: meta.entry.op,
        }
    }

    /// `compress/gzip writer`, `github.com/klauspost/compress/zstd reader`.
    pub fn label(&self) -> String {
        format!("{} {}", self.package, self.kind())
    }

    /// `writer` or `reader`.
    pub fn kind(&self) -> &'static str {
        match self.op {
            Op::Compress => "writer",
            Op::Decompress => "reader",
        }
    }

    /// Whether `meta`'s calls are this library's payloads' calls.
    pub fn holds(&self, meta: &FuncMeta) -> bool {
        !meta.entry.role.is_lifecycle() && Library::of(meta) == *self
    }
}

/// Constructors run inside a reset, by goroutine, until their reset
/// returns: (tgid, goid) -> when the constructor started.
const MAX_PENDING: usize = 4096;

/// Classifies lifecycle calls (see the module's rules).
pub struct Lifecycle {
    built_inside_reset: LruCache<(u32, u64), u64>,
    /// Each goroutine's last lazy build: (start, end) in ns.
    last_lazy: LruCache<(u32, u64), (u64, u64)>,
}

impl Default for Lifecycle {
    fn default() -> Lifecycle {
        Lifecycle::new()
    }
}

impl Lifecycle {
    pub fn new() -> Lifecycle {
        Lifecycle {
            built_inside_reset: LruCache::unbounded(),
            last_lazy: LruCache::unbounded(),
        }
    }

    /// What `ev` counts as; `None` for a call that is no lifecycle call,
    /// or part of another one. `sym` names its frames.
    pub fn classify(
        &mut self,
        ev: &CallEvent,
        funcs: &[FuncMeta],
        sym: &mut dyn Symbolizer,
    ) -> Option<Counted> {
        let meta = funcs.get(ev.func_id as usize)?;
        let role = meta.entry.role;
        if !role.is_lifecycle() {
            return None;
        }
        let key = (ev.tgid, ev.goid);
        let Some(outer) = ev.outer else {
            let seen = match role {
                Role::Reset => match self.built_inside_reset.pop(&key) {
                    Some(start) if start >= ev.start_ns && start <= ev.end_ns() => Seen::Build,
                    _ => Seen::Reset,
                },
                _ => Seen::Build,
            };
            return Some(Counted {
                seen,
                library: caller_library(ev, meta, funcs, sym),
                count: 1,
                ns: ev.duration_ns,
            });
        };
        let outer = funcs.get(outer as usize)?;
        match (role, outer.entry.role) {
            (Role::New, Role::Reset) => {
                self.built_inside_reset.put(key, ev.start_ns);
                while self.built_inside_reset.len() > MAX_PENDING {
                    self.built_inside_reset.pop_lru();
                }
                None
            }
            (Role::New, r) if !r.is_lifecycle() => {
                let span = (ev.start_ns, ev.end_ns());
                let (count, ns) = match self.last_lazy.put(key, span) {
                    Some((s, e)) if span.0 <= s && span.1 >= e => {
                        (0, ev.duration_ns.saturating_sub(e - s))
                    }
                    _ => (1, ev.duration_ns),
                };
                while self.last_lazy.len() > MAX_PENDING {
                    self.last_lazy.pop_lru();
                }
                Some(Counted {
                    seen: Seen::LazyBuild,
                    library: Library::of(outer),
                    count,
                    ns,
                })
            }
            _ => None,
        }
    }

    /// Forgets a process's goroutines (before the goroutines' records
    /// below).
    pub fn forget_process(&mut self, tgid: u32) {
        super::forget_process_keys(&mut self.built_inside_reset, tgid);
        super::forget_process_keys(&mut self.last_lazy, tgid);
    }
}

/// The library a call made inside no other traced call counts for: that
/// of the library frame its caller called (the last of the libraries'
/// frames before the first of the caller's), when it is one of the
/// catalog's with the same direction; else its own.
fn caller_library(
    ev: &CallEvent,
    meta: &FuncMeta,
    funcs: &[FuncMeta],
    sym: &mut dyn Symbolizer,
) -> Library {
    let own = Library::of(meta);
    let mut below = None;
    for &addr in &ev.stack {
        let Some(name) = sym.function_at(ev.tgid, addr.saturating_sub(1)) else {
            break;
        };
        if !crate::probe::catalog::is_library(&name) {
            break;
        }
        below = Some(name);
    }
    let Some(name) = below else {
        return own;
    };
    let name = crate::go_binary::names::unvendored(&name);
    funcs
        .iter()
        .find(|f| {
            f.entry.op == meta.entry.op
                && name
                    .strip_prefix(f.entry.package)
                    .is_some_and(|rest| rest.starts_with('.'))
        })
        .map_or(own, Library::of)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::catalog::entries;

    fn funcs(symbols: &[&str]) -> Vec<FuncMeta> {
        symbols
            .iter()
            .map(|s| FuncMeta {
                function: s.to_string(),
                entry: *entries().iter().find(|e| e.symbol() == *s).unwrap(),
                target: 0,
                sinks: true,
            })
            .collect()
    }

    fn call(func_id: u32, outer: Option<u32>, start_ns: u64, duration_ns: u64) -> CallEvent {
        CallEvent {
            tgid: 7,
            goid: 3,
            func_id,
            outer,
            start_ns,
            duration_ns,
            ..CallEvent::default()
        }
    }

    /// Return address 0x1000 is in gzip's Reset, 0x2000 in its readHeader;
    /// the rest in main.
    struct Frames;

    impl Symbolizer for Frames {
        fn function_at(&mut self, _: u32, addr: u64) -> Option<String> {
            Some(match addr / 0x1000 {
                1 => "compress/gzip.(*Reader).Reset".to_string(),
                2 => "compress/gzip.(*Reader).readHeader".to_string(),
                _ => "main.handle".to_string(),
            })
        }
    }

    /// What `ev` counted as: (seen, library label, count, ns).
    fn counted(
        l: &mut Lifecycle,
        ev: CallEvent,
        f: &[FuncMeta],
    ) -> Option<(Seen, String, u64, u64)> {
        l.classify(&ev, f, &mut Frames)
            .map(|c| (c.seen, c.library.label(), c.count, c.ns))
    }

    #[test]
    fn a_reset_that_built_its_reader_is_a_build_and_inner_calls_are_part_of_theirs() {
        let f = funcs(&[
            "compress/gzip.(*Reader).Reset",
            "compress/flate.NewReader",
            "compress/gzip.NewWriterLevel",
            "compress/gzip.(*Writer).init",
            "compress/gzip.(*Writer).Write",
            "compress/flate.(*compressor).init",
            "compress/flate.NewWriter",
        ]);
        let (reader, writer) = (
            "compress/gzip reader".to_string(),
            "compress/gzip writer".to_string(),
        );
        let mut l = Lifecycle::new();
        // gzip.NewReader inlined: its Reset builds the flate decompressor.
        assert_eq!(counted(&mut l, call(1, Some(0), 110, 50), &f), None);
        assert_eq!(
            counted(&mut l, call(0, None, 100, 100), &f),
            Some((Seen::Build, reader.clone(), 1, 100))
        );
        // The next Reset resets it.
        assert_eq!(
            counted(&mut l, call(0, None, 300, 10), &f),
            Some((Seen::Reset, reader.clone(), 1, 10))
        );
        // NewWriterLevel's init is part of it.
        assert_eq!(counted(&mut l, call(3, Some(2), 410, 5), &f), None);
        assert_eq!(
            counted(&mut l, call(2, None, 400, 20), &f),
            Some((Seen::Build, writer.clone(), 1, 20))
        );
        // The first Write builds the flate compressor, for the gzip writer:
        // flate.NewWriter, then its init inside (its RET first).
        assert_eq!(
            counted(&mut l, call(5, Some(4), 520, 30), &f),
            Some((Seen::LazyBuild, writer.clone(), 1, 30))
        );
        assert_eq!(
            counted(&mut l, call(6, Some(4), 510, 45), &f),
            Some((Seen::LazyBuild, writer.clone(), 0, 15))
        );
        // A payload's call is no lifecycle call.
        assert_eq!(counted(&mut l, call(4, None, 500, 80), &f), None);
        // The next writer's lazy build is another.
        assert_eq!(
            counted(&mut l, call(5, Some(4), 720, 30), &f),
            Some((Seen::LazyBuild, writer.clone(), 1, 30))
        );
        // gzip's Reset is inlined, leaving init.
        assert_eq!(
            counted(&mut l, call(3, None, 800, 5), &f),
            Some((Seen::Reset, writer, 1, 5))
        );
        // Resets not traced: the decompressor built inside the reader's
        // Reset is a build of the gzip reader, the library main called.
        let mut ev = call(1, None, 900, 40);
        ev.stack = vec![0x2010, 0x1010, 0x5010];
        assert_eq!(
            counted(&mut l, ev.clone(), &f),
            Some((Seen::Build, reader.clone(), 1, 40))
        );
        // Called by main itself, flate's own.
        ev.stack = vec![0x5010];
        let flate = "compress/flate reader".to_string();
        assert_eq!(counted(&mut l, ev, &f), Some((Seen::Build, flate, 1, 40)));
    }
}
