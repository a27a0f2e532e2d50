//! The compression entry points gozt knows, with their Go signatures and what
//! "bytes in", "bytes out" and "failed" mean for each.
//!
//! Register locations are not written here: [`Entry::layout`] derives them
//! from the signature under the register ABI ([`crate::probe::abi`]), and the probe
//! plan checks them against DWARF when the binary has it.

use serde::{Deserialize, Serialize};

use crate::go_binary::names::unvendored;
use crate::probe::abi::{self, Arch, GoType, Reg, ValueLoc};

/// Compression format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Codec {
    Zstd,
    Gzip,
    Flate,
    Zlib,
    Snappy,
    S2,
    Lz4,
    Brotli,
    Bzip2,
    Lzw,
    Xz,
}

impl Codec {
    pub const ALL: [Codec; 11] = [
        Codec::Zstd,
        Codec::Gzip,
        Codec::Flate,
        Codec::Zlib,
        Codec::Snappy,
        Codec::S2,
        Codec::Lz4,
        Codec::Brotli,
        Codec::Bzip2,
        Codec::Lzw,
        Codec::Xz,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Codec::Zstd => "zstd",
            Codec::Gzip => "gzip",
            Codec::Flate => "flate",
            Codec::Zlib => "zlib",
            Codec::Snappy => "snappy",
            Codec::S2 => "s2",
            Codec::Lz4 => "lz4",
            Codec::Brotli => "brotli",
            Codec::Bzip2 => "bzip2",
            Codec::Lzw => "lzw",
            Codec::Xz => "xz",
        }
    }

    pub fn parse(s: &str) -> Option<Codec> {
        Codec::ALL.into_iter().find(|c| c.name() == s)
    }

    /// Every codec's name, `sep` apart (for help texts and errors).
    pub fn list(sep: &str) -> String {
        Codec::ALL.map(Codec::name).join(sep)
    }
}

/// Direction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Compress,
    Decompress,
}

impl Op {
    pub fn name(self) -> &'static str {
        match self {
            Op::Compress => "compress",
            Op::Decompress => "decompress",
        }
    }
}

/// One-shot (whole buffer in, whole buffer out) or stream (io.Writer/Reader).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Api {
    Oneshot,
    Stream,
}

impl Api {
    pub fn name(self) -> &'static str {
        match self {
            Api::Oneshot => "oneshot",
            Api::Stream => "stream",
        }
    }
}

/// What a call is to its payload (one response body, one stored blob).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// The call is the payload: a one-shot call, or a whole stream read at
    /// once (zstd's `Decoder.WriteTo`).
    Whole,
    /// Adds input to its writer's payload (`Write`, `ReadFrom`).
    Write,
    /// Part of its writer's payload; does not end it.
    Flush,
    /// Ends its writer's or reader's payload.
    Close,
    /// Adds output to its reader's payload; io.EOF or an error ends it.
    Read,
    /// Builds an encoder's or decoder's state (its tables and buffers, its
    /// goroutines): what a pool or a `Reset` saves. No payload.
    New,
    /// Resets a writer or reader for another stream, keeping its state. No
    /// payload; a stream under way on it is abandoned.
    Reset,
    /// A library's own work for a stream, on a goroutine of its own (pgzip's
    /// block compressors and its reader's read-ahead), whose payload the
    /// caller's calls already count: neither it nor the traced calls made
    /// inside it (the flate streams it drives) are counted anywhere.
    Internal,
}

impl Role {
    /// A constructor or a reset: the encoder's lifecycle, not a payload's
    /// call.
    pub fn is_lifecycle(self) -> bool {
        matches!(self, Role::New | Role::Reset)
    }

    /// A call of a payload: one that the counts of calls and payloads hold
    /// (not a constructor, a reset or a library's internal work).
    pub fn is_payload_call(self) -> bool {
        !self.is_lifecycle() && self != Role::Internal
    }
}

/// How a writer's compressed output is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StreamOut {
    /// Not known: its payloads are not judged (or not a writer).
    Unknown,
    /// From the calls of its `io.Writer` that the compressor makes on the
    /// caller's goroutine (flate's bit writer, gzip's and zlib's header and
    /// trailer): sink sites.
    Sinks,
    /// From the encoder's own counts, read at `Close` (zstd's
    /// `state.nWritten` and `state.nInput`).
    EncoderCounts,
}

/// A named parameter or result.
#[derive(Debug, Clone, Copy)]
pub struct Param {
    pub name: &'static str,
    pub ty: GoType,
}

const fn p(name: &'static str, ty: GoType) -> Param {
    Param { name, ty }
}

/// How a byte count is obtained for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Size {
    /// Not visible per call (say so in reports).
    Unobserved,
    /// Length of a slice or string argument, at entry.
    ArgLen(&'static str),
    /// Length of a slice result, at RET.
    ResultLen(&'static str),
    /// Length of a slice result minus the length of an argument slice it was
    /// appended to (`EncodeAll(src, dst)` appends to `dst`).
    AppendedLen {
        result: &'static str,
        arg: &'static str,
    },
    /// An integer result, at RET.
    ResultInt(&'static str),
}

/// A catalog entry: one Go function.
#[derive(Debug, Clone, Copy)]
pub struct Entry {
    /// Import path, without any vendor prefix.
    pub package: &'static str,
    /// `*Encoder` for methods.
    pub receiver: Option<&'static str>,
    pub name: &'static str,
    pub codec: Codec,
    pub op: Op,
    pub api: Api,
    /// Arguments, the receiver first for methods.
    pub args: &'static [Param],
    pub results: &'static [Param],
    pub bytes_in: Size,
    pub bytes_out: Size,
    /// An output count of zero means the library refused to compress
    /// (`lz4.CompressBlock` returns 0 for incompressible input).
    pub zero_out_is_incompressible: bool,
    /// A returned `io.EOF` is the normal end of a stream, not a failure.
    pub eof_is_success: bool,
    pub role: Role,
    pub stream_out: StreamOut,
    /// Sink streams whose header write proves that their start was seen
    /// (gzip, zlib): a payload without it began before gozt attached and is
    /// not judged.
    pub needs_header: bool,
}

impl Entry {
    /// The Go symbol name without vendor prefix, e.g.
    /// `github.com/klauspost/compress/zstd.(*Encoder).EncodeAll`.
    pub fn symbol(&self) -> String {
        match self.receiver {
            Some(r) => format!("{}.({}).{}", self.package, r, self.name),
            None => format!("{}.{}", self.package, self.name),
        }
    }

    /// Register locations of sizes and the error on `arch`, derived from the
    /// signature.
    pub fn layout(&self, arch: Arch) -> Layout {
        let args: Vec<GoType> = self.args.iter().map(|p| p.ty).collect();
        let results: Vec<GoType> = self.results.iter().map(|p| p.ty).collect();
        let (arg_locs, result_locs) = abi::assign(arch, &args, &results);
        let arg = |name: &str| {
            let i = self.args.iter().position(|p| p.name == name)?;
            Some((&arg_locs[i], self.args[i].ty))
        };
        let result = |name: &str| {
            let i = self.results.iter().position(|p| p.name == name)?;
            Some((&result_locs[i], self.results[i].ty))
        };
        let size = |s: Size| -> Option<Value> {
            match s {
                Size::Unobserved => None,
                Size::ArgLen(a) => Some(Value {
                    at: Point::Entry,
                    loc: len_word(arg(a)?)?,
                    minus: None,
                    expr: format!("len({a})"),
                }),
                Size::ResultLen(r) => Some(Value {
                    at: Point::Return,
                    loc: len_word(result(r)?)?,
                    minus: None,
                    expr: format!("len({r})"),
                }),
                Size::AppendedLen { result: r, arg: a } => Some(Value {
                    at: Point::Return,
                    loc: len_word(result(r)?)?,
                    minus: Some(len_word(arg(a)?)?),
                    expr: format!("len({r}) - len({a})"),
                }),
                Size::ResultInt(r) => Some(Value {
                    at: Point::Return,
                    loc: word(result(r)?, 0)?,
                    minus: None,
                    expr: r.to_string(),
                }),
            }
        };
        let error = self
            .results
            .iter()
            .position(|p| p.ty == GoType::Iface && p.name == "err")
            .and_then(|i| word((&result_locs[i], GoType::Iface), 0));
        Layout {
            bytes_in: size(self.bytes_in),
            bytes_out: size(self.bytes_out),
            error,
            arg_locs,
            result_locs,
        }
    }
}

/// A register or stack slot holding one word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Loc {
    Reg(Reg),
    /// Byte offset from SP at entry.
    Stack(u64),
}

/// When a value is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Point {
    Entry,
    Return,
}

/// A byte count for one call: `loc` at `at`, minus `minus` read at entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Value {
    pub at: Point,
    pub loc: Loc,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minus: Option<Loc>,
    /// The Go expression, e.g. `len(src)`.
    pub expr: String,
}

/// Where to read one call's numbers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    pub bytes_in: Option<Value>,
    pub bytes_out: Option<Value>,
    /// First word of the returned error (nil when zero), at RET.
    pub error: Option<Loc>,
    pub arg_locs: Vec<ValueLoc>,
    pub result_locs: Vec<ValueLoc>,
}

fn word((loc, _): (&ValueLoc, GoType), i: usize) -> Option<Loc> {
    match loc {
        ValueLoc::Regs(regs) => regs.get(i).copied().map(Loc::Reg),
        ValueLoc::Stack(off) => Some(Loc::Stack(off + 8 * i as u64)),
    }
}

fn len_word(v: (&ValueLoc, GoType)) -> Option<Loc> {
    match v.1 {
        GoType::Slice | GoType::String => word(v, 1),
        _ => None,
    }
}

use Api::{Oneshot, Stream};
use GoType::{Iface, Int, Ptr, Slice};
use Op::{Compress, Decompress};

const RECV_SLICE: &[Param] = &[p("r", Ptr), p("p", Slice)];
const RECV: &[Param] = &[p("r", Ptr)];
const N_ERR: &[Param] = &[p("n", Int), p("err", Iface)];
const ERR: &[Param] = &[p("err", Iface)];
const SLICE_ERR: &[Param] = &[p("out", Slice), p("err", Iface)];
const SLICE: &[Param] = &[p("out", Slice)];
const DST_SRC: &[Param] = &[p("dst", Slice), p("src", Slice)];

const fn method(
    package: &'static str,
    receiver: &'static str,
    name: &'static str,
    codec: Codec,
    op: Op,
) -> Entry {
    // The stream shapes shared by io.Writer / io.Reader style methods.
    let (args, results, bytes_in, bytes_out, eof) = match (name.as_bytes(), op) {
        (b"Close" | b"Flush", _) => (RECV, ERR, Size::Unobserved, Size::Unobserved, false),
        (_, Compress) => (
            RECV_SLICE,
            N_ERR,
            Size::ArgLen("p"),
            Size::Unobserved,
            false,
        ),
        (_, Decompress) => (
            RECV_SLICE,
            N_ERR,
            Size::Unobserved,
            Size::ResultInt("n"),
            true,
        ),
    };
    Entry {
        package,
        receiver: Some(receiver),
        name,
        codec,
        op,
        api: Stream,
        args,
        results,
        bytes_in,
        bytes_out,
        zero_out_is_incompressible: false,
        eof_is_success: eof,
        role: match (name.as_bytes(), op) {
            (b"Close", _) => Role::Close,
            (b"Flush", _) => Role::Flush,
            (_, Compress) => Role::Write,
            (_, Decompress) => Role::Read,
        },
        stream_out: StreamOut::Unknown,
        needs_header: false,
    }
}

/// A writer method whose output comes from sink sites.
const fn sinks(mut e: Entry, needs_header: bool) -> Entry {
    e.stream_out = StreamOut::Sinks;
    e.needs_header = needs_header;
    e
}

/// The writer and reader methods of a snappy/s2/lz4-style package.
const fn writer_reader(package: &'static str, reader: &'static str, codec: Codec) -> [Entry; 3] {
    [
        method(package, "*Writer", "Write", codec, Compress),
        method(package, "*Writer", "Close", codec, Compress),
        method(package, reader, "Read", codec, Decompress),
    ]
}

/// The writer and reader methods of a gzip/zlib/flate package, whose
/// writers' output comes from sink sites (gzip and zlib also mark their
/// streams' starts by writing a header).
const fn deflate_family(
    package: &'static str,
    reader: &'static str,
    codec: Codec,
    header: bool,
) -> [Entry; 5] {
    [
        sinks(method(package, "*Writer", "Write", codec, Compress), header),
        sinks(method(package, "*Writer", "Flush", codec, Compress), header),
        sinks(method(package, "*Writer", "Close", codec, Compress), header),
        method(package, reader, "Read", codec, Decompress),
        method(package, reader, "Close", codec, Decompress),
    ]
}

/// Packages whose code hands compressed bytes to a stream's io.Writer on
/// the caller's goroutine: their calls of io.Writer.Write are sink sites.
/// Only types whose interface calls are all their writer's are scanned
/// (klauspost's flate compressor calls its encoder through an interface).
/// (package, the receiver types whose methods are scanned).
pub const SINK_SCOPES: &[(&str, &[&str])] = &[
    ("compress/flate", &["*huffmanBitWriter"]),
    ("compress/gzip", &["*Writer"]),
    ("compress/zlib", &["*Writer"]),
    (
        "github.com/klauspost/compress/flate",
        &["*huffmanBitWriter"],
    ),
    ("github.com/klauspost/compress/gzip", &["*Writer"]),
    ("github.com/klauspost/compress/zlib", &["*Writer"]),
    ("github.com/andybalholm/brotli", &["*Writer"]),
];

/// Packages whose writer hands its compressed blocks to its io.Writer on a
/// goroutine of its own (pgzip's, started by the first `Write`), and its
/// header and trailer on the caller's: their sinks are keyed by that
/// io.Writer (the call's receiver). A block written on the writer's own
/// goroutine is kept under its destination, and taken into the stream's
/// call that writes to the same destination next (its trailer, in `Close`,
/// which waits for every block to be written first); a header write
/// forgets what was kept (a stream that failed before its trailer).
/// (package, the receiver types whose methods and closures are scanned).
pub const KEYED_SINK_SCOPES: &[(&str, &[&str])] = &[("github.com/klauspost/pgzip", &["*Writer"])];

/// Whether a sink in `function` (unvendored) writes a stream's header: a
/// gzip or zlib writer's write outside `Close` (where only the trailer is
/// written directly).
pub fn sink_is_header(function: &str) -> bool {
    let wrapper = [
        "compress/gzip.",
        "compress/zlib.",
        "github.com/klauspost/compress/gzip.",
        "github.com/klauspost/compress/zlib.",
        "github.com/klauspost/pgzip.",
    ]
    .iter()
    .any(|p| function.starts_with(p));
    // pgzip's block writer (`(*Writer).Write.func1`) writes no header.
    wrapper && !function.ends_with(").Close") && !function.contains(".func")
}

const fn block(
    package: &'static str,
    name: &'static str,
    codec: Codec,
    op: Op,
    results: &'static [Param],
) -> Entry {
    Entry {
        package,
        receiver: None,
        name,
        codec,
        op,
        api: Oneshot,
        args: DST_SRC,
        results,
        bytes_in: Size::ArgLen("src"),
        bytes_out: Size::ResultLen("out"),
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    }
}

const ZSTD: &str = "github.com/klauspost/compress/zstd";

/// A zstd Encoder method: the stream's counts are the encoder's own.
const fn zstd_counts(mut e: Entry) -> Entry {
    e.stream_out = StreamOut::EncoderCounts;
    e
}
const S2: &str = "github.com/klauspost/compress/s2";
const KSNAPPY: &str = "github.com/klauspost/compress/snappy";
const GSNAPPY: &str = "github.com/golang/snappy";
const LZ4: &str = "github.com/pierrec/lz4";
const BROTLI: &str = "github.com/andybalholm/brotli";
const XZ: &str = "github.com/ulikunitz/xz";
const PGZIP: &str = "github.com/klauspost/pgzip";
/// cgo bindings of the C zstd library: their Go functions take and return
/// the buffers, the C work is inside.
const DATADOG_ZSTD: &str = "github.com/DataDog/zstd";
const GOZSTD: &str = "github.com/valyala/gozstd";

/// The cgo zstd bindings' one-shot calls. Their one-line wrappers are
/// inlined at their callers (DataDog's `Compress`; gozstd's `Compress`,
/// `CompressLevel`, `CompressDict` and `Decompress`), so the functions
/// probed are those every call reaches, which are not.
const CGO_ZSTD_ENTRIES: [Entry; 4] = [
    Entry {
        args: &[p("dst", Slice), p("src", Slice), p("level", Int)],
        results: SLICE_ERR,
        ..block(
            DATADOG_ZSTD,
            "CompressLevel",
            Codec::Zstd,
            Compress,
            SLICE_ERR,
        )
    },
    block(
        DATADOG_ZSTD,
        "Decompress",
        Codec::Zstd,
        Decompress,
        SLICE_ERR,
    ),
    Entry {
        args: &[
            p("dst", Slice),
            p("src", Slice),
            p("cd", Ptr),
            p("level", Int),
        ],
        bytes_out: Size::AppendedLen {
            result: "out",
            arg: "dst",
        },
        ..block(GOZSTD, "compressDictLevel", Codec::Zstd, Compress, SLICE)
    },
    Entry {
        args: &[p("dst", Slice), p("src", Slice), p("dd", Ptr)],
        bytes_out: Size::AppendedLen {
            result: "out",
            arg: "dst",
        },
        ..block(GOZSTD, "DecompressDict", Codec::Zstd, Decompress, SLICE_ERR)
    },
];

const ZSTD_ENTRIES: [Entry; 8] = [
    Entry {
        package: ZSTD,
        receiver: Some("*Encoder"),
        name: "EncodeAll",
        codec: Codec::Zstd,
        op: Compress,
        api: Oneshot,
        args: &[p("e", Ptr), p("src", Slice), p("dst", Slice)],
        results: SLICE,
        bytes_in: Size::ArgLen("src"),
        bytes_out: Size::AppendedLen {
            result: "out",
            arg: "dst",
        },
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
    zstd_counts(method(ZSTD, "*Encoder", "Write", Codec::Zstd, Compress)),
    Entry {
        package: ZSTD,
        receiver: Some("*Encoder"),
        name: "ReadFrom",
        codec: Codec::Zstd,
        op: Compress,
        api: Stream,
        args: &[p("e", Ptr), p("r", Iface)],
        results: N_ERR,
        bytes_in: Size::ResultInt("n"),
        bytes_out: Size::Unobserved,
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Write,
        stream_out: StreamOut::EncoderCounts,
        needs_header: false,
    },
    zstd_counts(method(ZSTD, "*Encoder", "Flush", Codec::Zstd, Compress)),
    zstd_counts(method(ZSTD, "*Encoder", "Close", Codec::Zstd, Compress)),
    Entry {
        package: ZSTD,
        receiver: Some("*Decoder"),
        name: "DecodeAll",
        codec: Codec::Zstd,
        op: Decompress,
        api: Oneshot,
        args: &[p("d", Ptr), p("input", Slice), p("dst", Slice)],
        results: SLICE_ERR,
        bytes_in: Size::ArgLen("input"),
        bytes_out: Size::AppendedLen {
            result: "out",
            arg: "dst",
        },
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
    method(ZSTD, "*Decoder", "Read", Codec::Zstd, Decompress),
    Entry {
        package: ZSTD,
        receiver: Some("*Decoder"),
        name: "WriteTo",
        codec: Codec::Zstd,
        op: Decompress,
        api: Stream,
        args: &[p("d", Ptr), p("w", Iface)],
        results: N_ERR,
        bytes_in: Size::Unobserved,
        bytes_out: Size::ResultInt("n"),
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
];

const LZ4_ENTRIES: [Entry; 6] = [
    Entry {
        package: LZ4,
        receiver: None,
        name: "CompressBlock",
        codec: Codec::Lz4,
        op: Compress,
        api: Oneshot,
        args: &[p("src", Slice), p("dst", Slice), p("hashTable", Slice)],
        results: N_ERR,
        bytes_in: Size::ArgLen("src"),
        bytes_out: Size::ResultInt("n"),
        zero_out_is_incompressible: true,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
    Entry {
        package: LZ4,
        receiver: None,
        name: "CompressBlockHC",
        codec: Codec::Lz4,
        op: Compress,
        api: Oneshot,
        args: &[p("src", Slice), p("dst", Slice), p("depth", Int)],
        results: N_ERR,
        bytes_in: Size::ArgLen("src"),
        bytes_out: Size::ResultInt("n"),
        zero_out_is_incompressible: true,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
    Entry {
        package: LZ4,
        receiver: None,
        name: "UncompressBlock",
        codec: Codec::Lz4,
        op: Decompress,
        api: Oneshot,
        args: &[p("src", Slice), p("dst", Slice)],
        results: N_ERR,
        bytes_in: Size::ArgLen("src"),
        bytes_out: Size::ResultInt("n"),
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role: Role::Whole,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    },
    method(LZ4, "*Writer", "Write", Codec::Lz4, Compress),
    method(LZ4, "*Writer", "Close", Codec::Lz4, Compress),
    method(LZ4, "*Reader", "Read", Codec::Lz4, Decompress),
];

/// A constructor or a reset (`role`): no sizes, an error when it returns
/// one.
const fn lifecycle(
    package: &'static str,
    receiver: Option<&'static str>,
    name: &'static str,
    codec: Codec,
    op: Op,
    role: Role,
    (args, results): (&'static [Param], &'static [Param]),
) -> Entry {
    Entry {
        package,
        receiver,
        name,
        codec,
        op,
        api: Stream,
        args,
        results,
        bytes_in: Size::Unobserved,
        bytes_out: Size::Unobserved,
        zero_out_is_incompressible: false,
        eof_is_success: false,
        role,
        stream_out: StreamOut::Unknown,
        needs_header: false,
    }
}

const IO: &[Param] = &[p("w", Iface)];
const IO_LEVEL: &[Param] = &[p("w", Iface), p("level", Int)];
const IO_LEVEL_DICT: &[Param] = &[p("w", Iface), p("level", Int), p("dict", Slice)];
const IO_DICT: &[Param] = &[p("r", Iface), p("dict", Slice)];
const IO_OPTS: &[Param] = &[p("w", Iface), p("opts", Slice)];
const RECV_IO: &[Param] = &[p("z", Ptr), p("w", Iface)];
const RECV_IO_LEVEL: &[Param] = &[p("z", Ptr), p("w", Iface), p("level", Int)];
const RECV_IO_DICT: &[Param] = &[p("z", Ptr), p("r", Iface), p("dict", Slice)];
const PTR_ERR: &[Param] = &[p("z", Ptr), p("err", Iface)];
const IFACE: &[Param] = &[p("rc", Iface)];
const IFACE_ERR: &[Param] = &[p("rc", Iface), p("err", Iface)];
const PTR: &[Param] = &[p("z", Ptr)];
const NONE: &[Param] = &[];
/// pgzip's `(*Writer).compressBlock(p, prevTail []byte, r result, closed
/// bool)`: its result is a struct of two channels, two words as an
/// interface's.
const PGZIP_BLOCK: &[Param] = &[
    p("z", Ptr),
    p("p", Slice),
    p("prevTail", Slice),
    p("r", Iface),
    p("closed", GoType::Bool),
];

/// The constructors and resets of a gzip/zlib/flate package's writers and
/// readers, as the compiler leaves them: `gzip.NewWriter`, `zlib.NewWriter`
/// and `NewReader`, and from Go 1.21 `gzip.NewReader` and `flate.NewWriter`
/// are inlined at their callers, which then call what they wrap
/// (`NewWriterLevel`, `NewWriterLevelDict`, `NewReaderDict`, the reader's
/// `Reset`, the compressor's `init`); gzip's `(*Writer).Reset` is inlined,
/// leaving its `init`. Called inside another constructor or reset, these
/// count as that one. flate's own resets are not traced: gzip's and zlib's
/// call them inside theirs, where each would cost two more traps per
/// payload; a flate writer or reader used on its own is seen at its builds.
fn deflate_lifecycle(package: &'static str, flate: bool, reader: &'static str) -> Vec<Entry> {
    use Role::{New, Reset};
    let codec = match package.rsplit('/').next() {
        Some("gzip") => Codec::Gzip,
        Some("zlib") => Codec::Zlib,
        _ => Codec::Flate,
    };
    let (w, r) = (Compress, Decompress);
    let mut out = Vec::new();
    if flate {
        out.extend([
            lifecycle(
                package,
                None,
                "NewWriter",
                codec,
                w,
                New,
                (IO_LEVEL, PTR_ERR),
            ),
            lifecycle(
                package,
                None,
                "NewWriterDict",
                codec,
                w,
                New,
                (IO_LEVEL_DICT, PTR_ERR),
            ),
            lifecycle(
                package,
                Some("*compressor"),
                "init",
                codec,
                w,
                New,
                (RECV_IO_LEVEL, ERR),
            ),
            lifecycle(package, None, "NewReader", codec, r, New, (IO, IFACE)),
            lifecycle(
                package,
                None,
                "NewReaderDict",
                codec,
                r,
                New,
                (IO_DICT, IFACE),
            ),
        ]);
    } else if codec == Codec::Gzip {
        out.extend([
            lifecycle(
                package,
                None,
                "NewWriterLevel",
                codec,
                w,
                New,
                (IO_LEVEL, PTR_ERR),
            ),
            lifecycle(
                package,
                Some("*Writer"),
                "init",
                codec,
                w,
                Reset,
                (RECV_IO_LEVEL, NONE),
            ),
            lifecycle(
                package,
                Some("*Writer"),
                "Reset",
                codec,
                w,
                Reset,
                (RECV_IO, NONE),
            ),
            lifecycle(package, None, "NewReader", codec, r, New, (IO, PTR_ERR)),
            lifecycle(
                package,
                Some(reader),
                "Reset",
                codec,
                r,
                Reset,
                (RECV_IO, ERR),
            ),
        ]);
    } else {
        out.extend([
            lifecycle(
                package,
                None,
                "NewWriterLevelDict",
                codec,
                w,
                New,
                (IO_LEVEL_DICT, PTR_ERR),
            ),
            lifecycle(
                package,
                Some("*Writer"),
                "Reset",
                codec,
                w,
                Reset,
                (RECV_IO, NONE),
            ),
            lifecycle(
                package,
                None,
                "NewReaderDict",
                codec,
                r,
                New,
                (IO_DICT, IFACE_ERR),
            ),
        ]);
    }
    if codec == Codec::Zlib {
        out.push(lifecycle(
            package,
            Some(reader),
            "Reset",
            codec,
            r,
            Reset,
            (RECV_IO_DICT, ERR),
        ));
    }
    out
}

/// Every constructor and reset gozt traces (`--no-lifecycle` leaves them
/// out). zstd's encoder builds its block encoders at its first use
/// (`initialize`, through a `sync.Once`): that is part of its build.
/// golang/snappy's and lz4's constructors are inlined at their callers (no
/// call to see); their resets are traced where the compiler left them.
fn lifecycle_entries() -> Vec<Entry> {
    use Role::{New, Reset};
    let (w, r) = (Compress, Decompress);
    let mut all = Vec::new();
    for (package, flate, reader) in [
        ("compress/gzip", false, "*Reader"),
        ("compress/zlib", false, "*reader"),
        ("compress/flate", true, "*decompressor"),
        ("github.com/klauspost/compress/gzip", false, "*Reader"),
        ("github.com/klauspost/compress/zlib", false, "*reader"),
        ("github.com/klauspost/compress/flate", true, "*decompressor"),
    ] {
        all.extend(deflate_lifecycle(package, flate, reader));
    }
    let z = Codec::Zstd;
    all.extend([
        lifecycle(ZSTD, None, "NewWriter", z, w, New, (IO_OPTS, PTR_ERR)),
        lifecycle(
            ZSTD,
            Some("*Encoder"),
            "initialize",
            z,
            w,
            New,
            (RECV, NONE),
        ),
        lifecycle(
            ZSTD,
            Some("*Encoder"),
            "Reset",
            z,
            w,
            Reset,
            (RECV_IO, NONE),
        ),
        lifecycle(ZSTD, None, "NewReader", z, r, New, (IO_OPTS, PTR_ERR)),
        lifecycle(ZSTD, Some("*Decoder"), "Reset", z, r, Reset, (RECV_IO, ERR)),
        lifecycle(S2, None, "NewWriter", Codec::S2, w, New, (IO_OPTS, PTR)),
        lifecycle(
            S2,
            Some("*Writer"),
            "Reset",
            Codec::S2,
            w,
            Reset,
            (RECV_IO, NONE),
        ),
        lifecycle(S2, None, "NewReader", Codec::S2, r, New, (IO_OPTS, PTR)),
        lifecycle(
            S2,
            Some("*Reader"),
            "Reset",
            Codec::S2,
            r,
            Reset,
            (RECV_IO, NONE),
        ),
    ]);
    for (package, codec) in [(GSNAPPY, Codec::Snappy), (LZ4, Codec::Lz4)] {
        all.push(lifecycle(
            package,
            Some("*Writer"),
            "Reset",
            codec,
            w,
            Reset,
            (RECV_IO, NONE),
        ));
        all.push(lifecycle(
            package,
            Some("*Reader"),
            "Reset",
            codec,
            r,
            Reset,
            (RECV_IO, NONE),
        ));
    }
    all
}

/// Every entry, in a stable order.
pub fn entries() -> Vec<Entry> {
    let mut all = Vec::with_capacity(96);
    all.extend(ZSTD_ENTRIES);
    all.extend(deflate_family(
        "compress/gzip",
        "*Reader",
        Codec::Gzip,
        true,
    ));
    all.extend(deflate_family(
        "compress/zlib",
        "*reader",
        Codec::Zlib,
        true,
    ));
    all.extend(deflate_family(
        "compress/flate",
        "*decompressor",
        Codec::Flate,
        false,
    ));
    all.extend(deflate_family(
        "github.com/klauspost/compress/gzip",
        "*Reader",
        Codec::Gzip,
        true,
    ));
    all.extend(deflate_family(
        "github.com/klauspost/compress/zlib",
        "*reader",
        Codec::Zlib,
        true,
    ));
    all.extend(deflate_family(
        "github.com/klauspost/compress/flate",
        "*decompressor",
        Codec::Flate,
        false,
    ));
    for name in ["Encode", "EncodeBetter", "EncodeBest"] {
        all.push(block(S2, name, Codec::S2, Compress, SLICE));
    }
    all.push(block(S2, "Decode", Codec::S2, Decompress, SLICE_ERR));
    all.extend(writer_reader(S2, "*Reader", Codec::S2));
    all.push(block(KSNAPPY, "Encode", Codec::Snappy, Compress, SLICE));
    all.push(block(
        KSNAPPY,
        "Decode",
        Codec::Snappy,
        Decompress,
        SLICE_ERR,
    ));
    all.push(block(GSNAPPY, "Encode", Codec::Snappy, Compress, SLICE));
    all.push(block(
        GSNAPPY,
        "Decode",
        Codec::Snappy,
        Decompress,
        SLICE_ERR,
    ));
    all.extend(writer_reader(GSNAPPY, "*Reader", Codec::Snappy));
    all.extend(LZ4_ENTRIES);
    all.extend(CGO_ZSTD_ENTRIES);
    // brotli's writer hands its output to its io.Writer on the caller's
    // goroutine (writeOutput): sink sites; it writes no header of its own.
    all.extend([
        sinks(
            method(BROTLI, "*Writer", "Write", Codec::Brotli, Compress),
            false,
        ),
        sinks(
            method(BROTLI, "*Writer", "Flush", Codec::Brotli, Compress),
            false,
        ),
        sinks(
            method(BROTLI, "*Writer", "Close", Codec::Brotli, Compress),
            false,
        ),
        method(BROTLI, "*Reader", "Read", Codec::Brotli, Decompress),
    ]);
    // The standard library's bzip2 decodes only; its lzw writer writes
    // through a bufio.Writer (its output is not seen: its payloads are not
    // judged).
    all.push(method(
        "compress/bzip2",
        "*reader",
        "Read",
        Codec::Bzip2,
        Decompress,
    ));
    all.extend([
        method("compress/lzw", "*Writer", "Write", Codec::Lzw, Compress),
        method("compress/lzw", "*Writer", "Close", Codec::Lzw, Compress),
        method("compress/lzw", "*Reader", "Read", Codec::Lzw, Decompress),
        method("compress/lzw", "*Reader", "Close", Codec::Lzw, Decompress),
    ]);
    // pgzip compresses its blocks on goroutines of its own (each through a
    // klauspost flate writer) and writes them on another: its sinks are
    // keyed by their destination (KEYED_SINK_SCOPES). Its reader decodes
    // ahead on a goroutine of its own, through a klauspost flate reader.
    let g = Codec::Gzip;
    all.extend([
        sinks(method(PGZIP, "*Writer", "Write", g, Compress), true),
        sinks(method(PGZIP, "*Writer", "Flush", g, Compress), true),
        sinks(method(PGZIP, "*Writer", "Close", g, Compress), true),
        method(PGZIP, "*Reader", "Read", g, Decompress),
        method(PGZIP, "*Reader", "Close", g, Decompress),
        Entry {
            receiver: Some("*Reader"),
            name: "WriteTo",
            args: RECV_IO,
            results: N_ERR,
            bytes_out: Size::ResultInt("n"),
            role: Role::Whole,
            ..method(PGZIP, "*Reader", "Read", g, Decompress)
        },
        lifecycle(
            PGZIP,
            Some("*Writer"),
            "compressBlock",
            g,
            Compress,
            Role::Internal,
            (PGZIP_BLOCK, NONE),
        ),
        lifecycle(
            PGZIP,
            Some("*Reader"),
            "doReadAhead.func1",
            g,
            Decompress,
            Role::Internal,
            (NONE, NONE),
        ),
    ]);
    // ulikunitz/xz writes its stream's header in its constructor and its
    // blocks through a counting writer, past interface calls that are not
    // all writes: its writer's output is not seen (not judged). Its reader
    // decodes on the caller's goroutine.
    all.extend([
        method(XZ, "*Writer", "Write", Codec::Xz, Compress),
        method(XZ, "*Writer", "Close", Codec::Xz, Compress),
        method(XZ, "*Reader", "Read", Codec::Xz, Decompress),
    ]);
    all.extend(lifecycle_entries());
    all
}

/// Compression libraries and the Go runtime: skipped when naming the caller.
pub fn is_library(function: &str) -> bool {
    let f = unvendored(function);
    [
        "runtime.",
        "internal/",
        "sync.",
        "io.",
        "bufio.",
        "bytes.",
        "compress/",
        "github.com/klauspost/compress/",
        "github.com/golang/snappy.",
        "github.com/pierrec/lz4",
        "github.com/DataDog/zstd.",
        "github.com/valyala/gozstd.",
        "github.com/andybalholm/brotli.",
        "github.com/klauspost/pgzip.",
        // and its lzma package
        "github.com/ulikunitz/xz",
    ]
    .iter()
    .any(|p| f.starts_with(p))
}

#[cfg(test)]
mod tests {
    #[test]
    fn pgzips_header_is_written_by_its_callers_calls_not_by_its_block_writer() {
        let pg = "github.com/klauspost/pgzip.(*Writer).";
        assert!(sink_is_header(&format!("{pg}Write")));
        assert!(sink_is_header(&format!("{pg}writeString")));
        assert!(!sink_is_header(&format!("{pg}Write.func1")));
        assert!(!sink_is_header(&format!("{pg}Close")));
        let internal: Vec<String> = entries()
            .into_iter()
            .filter(|e| e.role == Role::Internal)
            .map(|e| e.symbol())
            .collect();
        assert_eq!(
            internal,
            [
                "github.com/klauspost/pgzip.(*Writer).compressBlock",
                "github.com/klauspost/pgzip.(*Reader).doReadAhead.func1"
            ]
        );
        assert!(!Role::Internal.is_payload_call() && !Role::Internal.is_lifecycle());
    }

    use super::*;

    #[test]
    fn symbols_are_unique() {
        let mut names: Vec<String> = entries().iter().map(Entry::symbol).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n);
        assert!(
            names.contains(&"github.com/klauspost/compress/zstd.(*Encoder).EncodeAll".to_string())
        );
        assert!(names.contains(&"compress/flate.(*decompressor).Read".to_string()));
    }

    #[test]
    fn every_entry_derives_its_declared_sizes() {
        for (e, arch) in entries()
            .into_iter()
            .flat_map(|e| [(e, Arch::Amd64), (e, Arch::Arm64)])
        {
            let l = e.layout(arch);
            assert_eq!(
                l.bytes_in.is_some(),
                e.bytes_in != Size::Unobserved,
                "{}",
                e.symbol()
            );
            assert_eq!(
                l.bytes_out.is_some(),
                e.bytes_out != Size::Unobserved,
                "{}",
                e.symbol()
            );
            let has_err = e.results.iter().any(|p| p.name == "err");
            assert_eq!(l.error.is_some(), has_err, "{}", e.symbol());
        }
    }

    #[test]
    fn encode_all_reads_src_len_and_appended_output() {
        let e = entries()
            .into_iter()
            .find(|e| e.name == "EncodeAll")
            .unwrap();
        let l = e.layout(Arch::Amd64);
        let input = l.bytes_in.unwrap();
        assert_eq!((input.at, input.loc), (Point::Entry, Loc::Reg(Reg::Rcx)));
        let out = l.bytes_out.unwrap();
        assert_eq!(out.at, Point::Return);
        assert_eq!(out.loc, Loc::Reg(Reg::Rbx));
        assert_eq!(out.minus, Some(Loc::Reg(Reg::R8)));
        assert_eq!(l.error, None);
    }

    #[test]
    fn cgo_zstd_bindings_read_their_go_signatures() {
        let find = |symbol: &str| {
            entries()
                .into_iter()
                .find(|e| e.symbol() == symbol)
                .unwrap()
                .layout(Arch::Amd64)
        };
        // DataDog: (dst, src []byte, level int) ([]byte, error).
        let l = find("github.com/DataDog/zstd.CompressLevel");
        assert_eq!(l.bytes_in.unwrap().loc, Loc::Reg(Reg::Rsi));
        let out = l.bytes_out.unwrap();
        assert_eq!(
            (out.at, out.loc, out.minus),
            (Point::Return, Loc::Reg(Reg::Rbx), None)
        );
        assert_eq!(l.error, Some(Loc::Reg(Reg::Rdi)));
        // gozstd appends to dst: its output is the result's length less dst's.
        let l = find("github.com/valyala/gozstd.compressDictLevel");
        let out = l.bytes_out.unwrap();
        assert_eq!(out.loc, Loc::Reg(Reg::Rbx));
        assert_eq!(out.minus, Some(Loc::Reg(Reg::Rbx)));
        assert_eq!(l.error, None);
        let l = find("github.com/valyala/gozstd.DecompressDict");
        assert_eq!(l.bytes_out.unwrap().minus, Some(Loc::Reg(Reg::Rbx)));
        assert_eq!(l.error, Some(Loc::Reg(Reg::Rdi)));
    }

    #[test]
    fn decode_all_error_is_rdi() {
        let e = entries()
            .into_iter()
            .find(|e| e.name == "DecodeAll")
            .unwrap();
        assert_eq!(e.layout(Arch::Amd64).error, Some(Loc::Reg(Reg::Rdi)));
    }

    #[test]
    fn stream_read_counts_output_at_return() {
        let e = entries()
            .into_iter()
            .find(|e| e.symbol() == "compress/gzip.(*Reader).Read")
            .unwrap();
        let l = e.layout(Arch::Amd64);
        assert!(l.bytes_in.is_none());
        assert_eq!(l.bytes_out.unwrap().loc, Loc::Reg(Reg::Rax));
        assert_eq!(l.error, Some(Loc::Reg(Reg::Rbx)));
        assert!(e.eof_is_success);
    }
}
