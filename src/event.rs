//! What the tracer produces: one record per completed call, and loss counters.

use serde::{Deserialize, Serialize};

/// What one of gozt's traps costs a call, as the tracer timed it: a trap
/// the kernel single-steps out of line (a RET, a sink or an entry on an
/// instruction it cannot emulate), and one it emulates (an entry at the
/// prologue's branch, a sink at the branch before its write).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TrapCost {
    pub stepped_ns: u64,
    pub emulated_ns: u64,
}

impl TrapCost {
    /// The cost of `traps` traps, `emulated` of them emulated.
    pub fn of(self, traps: u64, emulated: u64) -> u64 {
        let emulated = emulated.min(traps);
        (traps - emulated)
            .saturating_mul(self.stepped_ns)
            .saturating_add(emulated.saturating_mul(self.emulated_ns))
    }
}

/// One completed call of a probed function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallEvent {
    pub tgid: u32,
    /// With `tgid`, the process's identity: its start time in ns since boot
    /// (0 when not known), so that a reused pid is another process.
    pub proc_start_ns: u64,
    /// The runtime address of the RET that ended the call (0 when not
    /// known).
    pub ret_ip: u64,
    pub goid: u64,
    /// Index into the session's function table.
    pub func_id: u32,
    pub start_ns: u64,
    pub duration_ns: u64,
    /// `None` when not observable for this function.
    pub bytes_in: Option<u64>,
    pub bytes_out: Option<u64>,
    /// A non-nil error was returned (io.EOF excluded for stream reads).
    pub error: bool,
    /// A stream read returned io.EOF: its stream ended.
    pub eof: bool,
    /// Made inside another traced call on the same goroutine: that call's
    /// function id (the outermost one).
    pub outer: Option<u32>,
    /// The receiver (a stream's writer or reader), 0 for functions.
    pub obj: u64,
    /// The call wrote its stream's header (gzip, zlib): the stream's start
    /// was seen.
    pub started: bool,
    /// A stream's own counts at its end (zstd's encoder): (input, output).
    pub totals: Option<(u64, u64)>,
    /// Traps gozt took on the goroutine while the call was under way (its
    /// inner calls' entries and RETs, sinks): their calibrated cost is taken
    /// out of `duration_ns` when the session counts it (stats::correct).
    pub traps_inside: u32,
    /// The run time of gozt's programs for those traps, timed in them.
    pub prog_inside_ns: u32,
    /// Of `traps_inside`, those the kernel emulates (entries at the
    /// prologue's branch, sinks at the branch before their write): they
    /// cost less than the rest.
    pub emulated_inside: u32,
    /// What was taken out of `duration_ns` for those traps (0: nothing).
    pub correction_ns: u64,
    /// The correction for those traps was more than the measured time
    /// allows: `duration_ns` is as measured.
    pub uncorrected: bool,
    /// Return address, then the frame-pointer chain (runtime addresses).
    pub stack: Vec<u64>,
    /// The HTTP request its goroutine was serving (net/http), for a call
    /// made inside no other traced call.
    pub route: Option<RouteSeen>,
    /// Not a call: the downstream write of the payload that `func_id`'s
    /// call ended on this goroutine (its time, `bytes_in` what it was given,
    /// `bytes_out` what it wrote, `error`).
    pub write: Option<WriteSeen>,
}

impl CallEvent {
    /// When the call returned, as the programs clocked it: its time before
    /// the correction took gozt's traps out of it (what a downstream
    /// write's `payload_end_ns` names).
    pub fn end_ns(&self) -> u64 {
        self.start_ns + self.duration_ns + self.correction_ns
    }
}

/// A payload's downstream write, as the programs saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSeen {
    /// When the payload ended (its call's return), ns since boot: with the
    /// goroutine, which payload it was.
    pub payload_end_ns: u64,
    pub kind: FdKind,
}

/// What a downstream write wrote to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum FdKind {
    Tcp,
    Udp,
    Unix,
    File,
    Pipe,
    Other,
}

impl FdKind {
    pub const ALL: [FdKind; 6] = [
        FdKind::Tcp,
        FdKind::Udp,
        FdKind::Unix,
        FdKind::File,
        FdKind::Pipe,
        FdKind::Other,
    ];

    /// The programs' code (gozt.h's GOZT_FD_*).
    pub fn of_code(code: u32) -> FdKind {
        use crate::base::gozt_h::{
            GOZT_FD_FILE, GOZT_FD_PIPE, GOZT_FD_TCP, GOZT_FD_UDP, GOZT_FD_UNIX,
        };
        match u64::from(code) {
            GOZT_FD_TCP => FdKind::Tcp,
            GOZT_FD_UDP => FdKind::Udp,
            GOZT_FD_UNIX => FdKind::Unix,
            GOZT_FD_FILE => FdKind::File,
            GOZT_FD_PIPE => FdKind::Pipe,
            _ => FdKind::Other,
        }
    }

    /// Its name in reports and the exporter's `kind` label.
    pub fn name(self) -> &'static str {
        match self {
            FdKind::Tcp => "tcp",
            FdKind::Udp => "udp",
            FdKind::Unix => "unix",
            FdKind::File => "file",
            FdKind::Pipe => "pipe",
            FdKind::Other => "other",
        }
    }
}

/// What the programs read of a request: its method, and the ServeMux's
/// pattern or else the URL's path, as the target's bytes (not trusted to be
/// text: they are escaped when shown).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RouteSeen {
    pub method: String,
    /// The pattern or the path, at most GOZT_ROUTE_BYTES of it.
    pub text: String,
    /// The pattern's or the path's full length in bytes.
    pub len: u32,
    /// `text` is the mux's pattern.
    pub pattern: bool,
}

/// Declares [`Lost`] and [`Cause`] from one table: each cause's field,
/// variant, kind and the text report's words for it.
macro_rules! causes {
    ($($(#[$doc:meta])* $field:ident: $cause:ident, $kind:ident, $label:literal;)*) => {
        /// Events lost or calls not measured, by cause.
        #[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
        pub struct Lost {
            $($(#[$doc])* pub $field: u64,)*
        }

        /// A cause of loss: one field of [`Lost`].
        #[derive(Debug, Clone, Copy, PartialEq, Eq)]
        pub enum Cause {
            $($cause,)*
        }

        impl Cause {
            /// Every cause, in the order of [`Lost`]'s fields.
            pub const ALL: &'static [Cause] = &[$(Cause::$cause),*];

            /// Its name in the JSON report and the exporter's `cause` label.
            pub fn key(self) -> &'static str {
                match self {
                    $(Cause::$cause => stringify!($field),)*
                }
            }

            /// How the text report says it.
            pub fn label(self) -> &'static str {
                match self {
                    $(Cause::$cause => $label,)*
                }
            }

            pub fn kind(self) -> Kind {
                match self {
                    $(Cause::$cause => Kind::$kind,)*
                }
            }
        }

        impl Lost {
            /// The count of `cause`.
            pub fn get(&self, cause: Cause) -> u64 {
                match cause {
                    $(Cause::$cause => self.$field,)*
                }
            }

            fn get_mut(&mut self, cause: Cause) -> &mut u64 {
                match cause {
                    $(Cause::$cause => &mut self.$field,)*
                }
            }
        }
    };
}

/// What a cause of [`Lost`] counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Calls begun while traced that were not measured (or whose event was
    /// dropped): [`Lost::calls_lost`] adds them up.
    Call,
    /// RETs of calls begun before the probes were in place: not measured,
    /// by design.
    Unmatched,
    /// Not a loss: counted for information.
    Info,
}

causes! {
    /// The ring buffer was full: the call was measured but its event dropped.
    ringbuf_full: RingbufFull, Call, "ring buffer full";
    /// The in-flight map was full, or the goroutine had GOZT_NEST calls
    /// under way: the call was not measured.
    inflight_full: InflightFull, Call, "in-flight map full";
    /// runtime.g could not be read at the entry or the RET: the call was
    /// not measured.
    read_failed: ReadFailed, Call, "g unreadable";
    /// Calls still under way, after more than the age limit (60 s), when
    /// tracing stopped or their process exited: left by a panic or
    /// runtime.Goexit.
    aged_out: AgedOut, Call, "aged out";
    /// Calls that never returned (panic, runtime.Goexit), found when a new
    /// call took their goroutine frame.
    abandoned: Abandoned, Call, "abandoned";
    /// Calls still under way (for less than the age limit) when tracing
    /// stopped or their process exited.
    in_flight_at_exit: InFlightAtExit, Call, "in flight at exit";
    /// RETs without a matching entry (calls already running at attach time).
    unmatched_returns: UnmatchedReturns, Unmatched, "unmatched returns";
    /// Entries seen twice for one call (stack growth re-runs the prologue);
    /// counted once, informational.
    repeated_entries: RepeatedEntries, Info, "repeated entries";
}

impl Cause {
    /// Whether it is a loss (every cause but the informational ones): the
    /// text report lists these, and the exporter exports them.
    pub fn is_loss(self) -> bool {
        self.kind() != Kind::Info
    }
}

impl Lost {
    /// Each cause and its count, in field order.
    pub fn iter(&self) -> impl Iterator<Item = (Cause, u64)> + '_ {
        Cause::ALL.iter().map(|&c| (c, self.get(c)))
    }

    /// The calls begun while traced and not measured: what the live view's
    /// header and `--interval`'s lines call lost.
    pub fn calls_lost(&self) -> u64 {
        self.iter()
            .filter(|(c, _)| c.kind() == Kind::Call)
            .map(|(_, n)| n)
            .sum()
    }

    /// What was counted since `base` (an earlier reading of the same
    /// counters).
    pub fn since(&self, base: &Lost) -> Lost {
        let mut d = *self;
        for &c in Cause::ALL {
            *d.get_mut(c) = self.get(c).saturating_sub(base.get(c));
        }
        d
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_names_every_field_and_counts_calls_lost_once() {
        let mut l = Lost::default();
        for (i, &c) in Cause::ALL.iter().enumerate() {
            *l.get_mut(c) = 1 << i;
        }
        let json = serde_json::to_value(l).unwrap();
        let keys: Vec<&str> = json
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        let mut want: Vec<&str> = Cause::ALL.iter().map(|c| c.key()).collect();
        want.sort_unstable();
        let mut keys = keys;
        keys.sort_unstable();
        assert_eq!(keys, want);
        for (c, n) in l.iter() {
            assert_eq!(json[c.key()], n);
        }
        // Every kind Call: ringbuf_full .. in_flight_at_exit, the first six.
        assert_eq!(l.calls_lost(), 0b11_1111);
        assert_eq!(l.since(&l), Lost::default());
        assert_eq!(l.since(&Lost::default()), l);
    }
}
