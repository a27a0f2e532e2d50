//! What the tracer produces: one record per completed call, and loss counters.

use serde::{Deserialize, Serialize};

/// One completed call of a probed function.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CallEvent {
    pub tgid: u32,
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
    /// out of `duration_ns` by the tracer.
    pub traps_inside: u32,
    /// Return address, then the frame-pointer chain (runtime addresses).
    pub stack: Vec<u64>,
}

/// Events lost or calls not measured, by cause.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lost {
    /// The ring buffer was full: the call was measured but its event dropped.
    pub ringbuf_full: u64,
    /// The in-flight map was full, or the goroutine had GOZT_NEST calls
    /// under way: the call was not measured.
    pub inflight_full: u64,
    /// runtime.g could not be read at the entry or the RET: the call was
    /// not measured.
    pub read_failed: u64,
    /// Calls still under way, after more than the age limit (60 s), when
    /// tracing stopped or their process exited: left by a panic or
    /// runtime.Goexit.
    pub aged_out: u64,
    /// Calls that never returned (panic, runtime.Goexit), found when a new
    /// call took their goroutine frame.
    pub abandoned: u64,
    /// Calls still under way (for less than the age limit) when tracing
    /// stopped or their process exited.
    pub in_flight_at_exit: u64,
    /// RETs without a matching entry (calls already running at attach time).
    pub unmatched_returns: u64,
    /// Entries seen twice for one call (stack growth re-runs the prologue);
    /// counted once, informational.
    pub repeated_entries: u64,
}
