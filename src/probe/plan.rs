//! Binary + catalog -> probe sites: for each catalog function found in the
//! binary, its entry address and file offset, every RET's file offset, and the
//! register layout of its sizes and error, checked against DWARF when present.
//!
//! This is what `gozt probes` prints and what the tracer attaches.

use std::collections::{HashMap, HashSet};

use serde::Serialize;

use crate::arch::CodeFacts;
use crate::base::error::{Error, Result};
use crate::go_binary::{dwarf::DwarfParam, names, Func, GoBinary};
use crate::probe::abi::{GoType, ValueLoc};
use crate::probe::catalog::{self, Entry, Layout};

/// How the derived ABI layout was checked.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum AbiCheck {
    /// DWARF agrees on every parameter's size; `located` arguments also had
    /// entry locations, which matched the derived registers.
    Dwarf { located: usize },
    /// The binary has no DWARF for this function (stripped): the signature is
    /// trusted.
    Unchecked,
    /// DWARF disagrees: the probe is not used.
    Mismatch { reason: String },
}

/// One function to probe.
#[derive(Debug, Clone)]
pub struct Probe {
    /// The symbol as it appears in the binary (vendor prefix included).
    pub function: String,
    pub entry: Entry,
    pub address: u64,
    pub size: u64,
    pub file_offset: u64,
    /// File offset of the entry's trap: the prologue's stack-check branch
    /// where one is found (a trap there is emulated, not stepped), else the
    /// entry.
    pub entry_site: u64,
    /// File offsets of each RET, ascending.
    pub ret_offsets: Vec<u64>,
    /// When there is no RET: the functions it jumps to, to probe instead.
    pub probe_instead: Vec<String>,

    pub layout: Layout,
    pub abi_check: AbiCheck,
    /// Encoder-count streams (zstd): the offset in the receiver of the
    /// encoder's output count, followed by its input count; None when not
    /// found (the stream's payloads are then not judged).
    pub totals_offset: Option<u64>,
}

impl Probe {
    /// Whether the entry's trap is at the prologue's branch (emulated),
    /// not at the entry.
    pub fn entry_emulated(&self) -> bool {
        self.entry_site != self.file_offset
    }

    /// Whether the tracer can measure this function (entry and RETs known,
    /// layout not contradicted).
    pub fn usable(&self) -> bool {
        !self.ret_offsets.is_empty() && !matches!(self.abi_check, AbiCheck::Mismatch { .. })
    }
}

/// A call of a stream's io.Writer made by compressor code (gozt.h).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sink {
    /// The function the call is in.
    pub function: String,
    /// The call's address.
    pub address: u64,
    /// The trap's: the call's, or the branch's before it (`branch`).
    pub trap_address: u64,
    /// The file offset of the trap.
    pub file_offset: u64,
    /// It writes a stream's header (gzip, zlib).
    pub header: bool,
    /// Its bytes are kept under its destination, the call's receiver
    /// (catalog::KEYED_SINK_SCOPES); it traps at its call, where the
    /// receiver is in its register.
    pub keyed: bool,
    /// The trap is at a conditional branch before the call, which the
    /// kernel emulates: the call is made when the condition (x86 condition
    /// code) does not hold, and its length is `len` there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub branch: Option<SinkBranch>,
}

/// A sink's trap at the branch before its call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SinkBranch {
    pub condition: u8,
    pub len: crate::arch::SinkLen,
}

/// The plan for one binary.
#[derive(Debug, Clone)]
pub struct Plan {
    pub probes: Vec<Probe>,
    /// Sink sites, by address.
    pub sinks: Vec<Sink>,
    /// Where zstd's encoder counts were found: "dwarf", "code" or "none".
    pub totals_source: &'static str,
    /// Where the requests served by net/http begin, when the binary serves
    /// HTTP with a request layout gozt knows: payloads made serving one
    /// carry its route.
    pub request: Option<RequestSite>,
}

/// The function every request served by net/http goes through, HTTP/1.1
/// and the bundled HTTP/2 alike (`(*conn).serve` and `initALPNRequest`
/// call it), with the request as its argument.
pub const REQUEST_FUNCTION: &str = "net/http.serverHandler.ServeHTTP";

/// A binary's request site.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RequestSite {
    pub function: String,
    pub address: u64,
    /// File offset of the entry.
    pub file_offset: u64,
    /// File offset of the entry's trap (the prologue's stack-check branch
    /// where one is found).
    pub entry_site: u64,
    /// Whether that trap is at the branch (emulated), not the entry.
    pub entry_emulated: bool,
    /// File offsets of its RETs.
    pub ret_offsets: Vec<u64>,
    /// The register holding the `*http.Request` at the entry.
    pub request_reg: crate::arch::Reg,
    pub layout: crate::go_binary::http::RequestLayout,
}

/// The request site of `bin`, if it serves HTTP through net/http and its
/// request layout is known (DWARF, else its Go version).
fn request_site(bin: &GoBinary) -> Option<RequestSite> {
    let f = bin.functions.iter().find(|f| f.name == REQUEST_FUNCTION)?;
    use crate::go_binary::http::RequestLayout;
    let layout = bin
        .dwarf
        .as_ref()
        .and_then(RequestLayout::from_dwarf)
        .or_else(|| RequestLayout::for_version(&bin.build.go_version))?;
    bin.check_extent(f).ok()?;
    let file_offset = bin.layout.text_file_offset(f.addr)?;
    bin.layout.text_span(f.addr, f.size)?;
    let facts = bin.arch.scan_code(bin.code(f)?, f.addr);
    if facts.rets.is_empty() {
        return None;
    }
    // (sh serverHandler, rw ResponseWriter, req *Request): a pointer, an
    // interface, a pointer.
    let (args, _) =
        crate::probe::abi::assign(bin.arch, &[GoType::Ptr, GoType::Iface, GoType::Ptr], &[]);
    let ValueLoc::Regs(regs) = &args[2] else {
        return None;
    };
    let entry_site = facts
        .stack_check_branch
        .map_or(file_offset, |a| a - f.addr + file_offset);
    Some(RequestSite {
        function: f.name.clone(),
        address: f.addr,
        file_offset,
        entry_site,
        entry_emulated: entry_site != file_offset,
        ret_offsets: facts
            .rets
            .iter()
            .map(|&a| a - f.addr + file_offset)
            .collect(),
        request_reg: *regs.first()?,
        layout,
    })
}

/// The struct names and members of zstd's encoder counts.
const ZSTD_ENCODER: &str = "github.com/klauspost/compress/zstd.Encoder";
const ZSTD_STATE: &str = "github.com/klauspost/compress/zstd.encoderState";

/// The offset of zstd's `Encoder.state.nWritten`, with `state.nInput` the
/// word after it: from DWARF, else from the code of `(*Encoder).Close`,
/// whose `s.nWritten += 4` (the checksum) is its only add of 4 to memory.
fn zstd_counts(bin: &GoBinary) -> (Option<u64>, &'static str) {
    if let Some(d) = &bin.dwarf {
        let m = d.struct_members(&[ZSTD_ENCODER, ZSTD_STATE]);
        let state = m.get(ZSTD_ENCODER).and_then(|e| e.get("state"));
        let st = m.get(ZSTD_STATE);
        let written = st.and_then(|s| s.get("nWritten"));
        let input = st.and_then(|s| s.get("nInput"));
        if let (Some(state), Some(w), Some(i)) = (state, written, input) {
            if *i == w + 8 {
                return (Some(state + w), "dwarf");
            }
            return (None, "none");
        }
    }
    let close = bin.functions.iter().find(|f| {
        names::unvendored(&f.name) == "github.com/klauspost/compress/zstd.(*Encoder).Close"
    });
    let adds = close
        .and_then(|f| bin.code(f).map(|c| bin.arch.adds_to_memory(c, f.addr, 4)))
        .unwrap_or_default();
    match adds.as_slice() {
        [off] => (Some(*off), "code"),
        _ => (None, "none"),
    }
}

/// The sink sites of `bin`: its io.Writer calls in the functions of
/// catalog::SINK_SCOPES and catalog::KEYED_SINK_SCOPES.
fn sinks(bin: &GoBinary) -> Result<Vec<Sink>> {
    let mut out = Vec::new();
    for f in &bin.functions {
        let name = names::unvendored(&f.name);
        let within = |scopes: &[(&str, &[&str])]| {
            scopes.iter().any(|(pkg, receivers)| {
                receivers
                    .iter()
                    .any(|r| name.starts_with(&format!("{pkg}.({r}).")))
            })
        };
        let keyed = within(catalog::KEYED_SINK_SCOPES);
        let in_scope = keyed || within(catalog::SINK_SCOPES);
        if !in_scope || bin.check_extent(f).is_err() {
            continue;
        }
        let (Some(code), Some(file_offset)) = (bin.code(f), bin.layout.text_file_offset(f.addr))
        else {
            continue;
        };
        if bin.layout.text_span(f.addr, f.size).is_none() {
            return Err(Error::malformed(
                &bin.path,
                format!("{}: code runs past its executable segment", f.name),
            ));
        }
        let calls = bin.arch.writer_calls(code, f.addr);
        let branches = if keyed {
            vec![None; calls.len()]
        } else {
            bin.arch.branches_before(code, f.addr, &calls)
        };
        for (a, b) in calls.into_iter().zip(branches) {
            let trap = b.map_or(a, |b| b.at);
            out.push(Sink {
                function: f.name.clone(),
                address: a,
                trap_address: trap,
                file_offset: trap - f.addr + file_offset,
                header: catalog::sink_is_header(name),
                keyed,
                branch: b.map(|b| SinkBranch {
                    condition: b.condition,
                    len: b.len,
                }),
            });
        }
    }
    out.sort_by_key(|s| s.address);
    Ok(out)
}

impl Plan {
    /// Matches the catalog against `bin`'s functions and decodes each match.
    pub fn build(bin: &GoBinary) -> Result<Plan> {
        let matches = catalog_matches(bin)?;
        let mut reader = Reader {
            bin,
            dwarf_params: bin.dwarf.as_ref().map(|d| {
                let names: HashSet<&str> = matches.iter().map(|(f, _)| f.name.as_str()).collect();
                d.params(&names)
            }),
            zstd: None,
            decoded: HashMap::new(),
        };
        let mut probes = matches
            .into_iter()
            .map(|(f, entry)| reader.probe(f, entry))
            .collect::<Result<Vec<Probe>>>()?;
        probes.sort_by(|a, b| a.function.cmp(&b.function));
        Ok(Plan {
            probes,
            sinks: sinks(bin)?,
            totals_source: reader.zstd.map_or("none", |z| z.1),
            request: request_site(bin),
        })
    }
}

/// The functions of `bin` the catalog knows, each with its entry. A name on
/// two symbols, or no match at all, is an error.
fn catalog_matches(bin: &GoBinary) -> Result<Vec<(&Func, Entry)>> {
    let catalog: HashMap<String, Entry> = catalog::entries()
        .into_iter()
        .map(|e| (e.symbol(), e))
        .collect();
    let matches: Vec<(&Func, Entry)> = bin
        .functions
        .iter()
        .filter_map(|f| catalog.get(names::unvendored(&f.name)).map(|e| (f, *e)))
        .collect();
    // A Go function has one symbol: the same name at a second address is
    // a forged table, and each copy would be decoded and probed.
    let mut seen: HashMap<&str, u64> = HashMap::new();
    for (f, _) in &matches {
        if let Some(first) = seen.insert(&f.name, f.addr) {
            return Err(Error::malformed(
                &bin.path,
                format!(
                    "{} is named by symbols at {first:#x} and {:#x}",
                    f.name, f.addr
                ),
            ));
        }
    }
    if matches.is_empty() {
        return Err(Error::NoCompression {
            path: bin.path.clone(),
            version: bin.build.go_version.clone(),
            functions: bin.functions.len(),
        });
    }
    Ok(matches)
}

/// What reading a binary's probes keeps between functions.
struct Reader<'b> {
    bin: &'b GoBinary,
    /// DWARF's formal parameters of the matched functions, by name.
    dwarf_params: Option<HashMap<String, Vec<DwarfParam>>>,
    /// zstd's encoder counts, once looked for.
    zstd: Option<(Option<u64>, &'static str)>,
    /// Each function's code is decoded once, however many names it has.
    decoded: HashMap<(u64, u64), CodeFacts>,
}

impl Reader<'_> {
    /// The probe of catalog function `f`: its sites from its code, its
    /// layout from the signature, checked against DWARF.
    fn probe(&mut self, f: &Func, entry: Entry) -> Result<Probe> {
        let bin = self.bin;
        let malformed = |what: &str| Error::malformed(&bin.path, format!("{}: {what}", f.name));
        bin.check_extent(f)
            .map_err(|what| Error::malformed(&bin.path, what))?;
        let file_offset = bin
            .layout
            .text_file_offset(f.addr)
            .ok_or_else(|| malformed("entry not in an executable segment"))?;
        if bin.layout.text_span(f.addr, f.size).is_none() {
            return Err(malformed("code runs past its executable segment"));
        }
        let facts = match self.decoded.entry((f.addr, f.size)) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => {
                let bytes = bin
                    .code(f)
                    .ok_or_else(|| malformed("code not in the file"))?;
                e.insert(bin.arch.scan_code(bytes, f.addr))
            }
        };
        // The RETs lie in the function, which lies in one segment.
        let ret_offsets: Vec<u64> = facts
            .rets
            .iter()
            .map(|&a| a - f.addr + file_offset)
            .collect();
        let probe_instead = if ret_offsets.is_empty() {
            facts
                .jumps_out
                .iter()
                .map(|&t| jump_target(bin, t))
                .collect()
        } else {
            Vec::new()
        };
        let layout = entry.layout(bin.arch);
        let totals_offset = match entry.stream_out {
            catalog::StreamOut::EncoderCounts if entry.role == catalog::Role::Close => {
                self.zstd.get_or_insert_with(|| zstd_counts(bin)).0
            }
            _ => None,
        };
        let abi_check = match self.dwarf_params.as_ref().and_then(|p| p.get(&f.name)) {
            Some(params) => check_against_dwarf(&entry, &layout, params),
            None => AbiCheck::Unchecked,
        };
        let entry_site = facts
            .stack_check_branch
            .map_or(file_offset, |a| a - f.addr + file_offset);
        Ok(Probe {
            function: f.name.clone(),
            entry,
            address: f.addr,
            size: f.size,
            file_offset,
            entry_site,
            ret_offsets,
            probe_instead,
            layout,
            abi_check,
            totals_offset,
        })
    }
}

/// A jump's target as `gozt probes` names it: a function, a function and
/// an offset, or an address.
fn jump_target(bin: &GoBinary, t: u64) -> String {
    match bin.function_at(t) {
        Some(g) if g.addr == t => g.name.clone(),
        Some(g) => format!("{}+{:#x}", g.name, t - g.addr),
        None => format!("{t:#x}"),
    }
}

/// Compares the catalog signature with DWARF's formal parameters: the same
/// number of arguments and results with the same sizes, and, where DWARF gives
/// an entry location, the same registers.
pub fn check_against_dwarf(entry: &Entry, layout: &Layout, params: &[DwarfParam]) -> AbiCheck {
    let args: Vec<&DwarfParam> = params.iter().filter(|p| !p.is_result).collect();
    // Go 1.21-1.23 emit some results twice (two `~r0` DIEs, seen in this
    // project's matrix): count each name once.
    let mut results: Vec<&DwarfParam> = Vec::new();
    for r in params.iter().filter(|p| p.is_result) {
        if !results.iter().any(|seen| seen.name == r.name) {
            results.push(r);
        }
    }
    let shape = |want: &[catalog::Param], got: &[&DwarfParam], what: &str| -> Result<(), String> {
        if want.len() != got.len() {
            return Err(format!(
                "{} {what} in DWARF, {} in the catalog",
                got.len(),
                want.len()
            ));
        }
        for (w, g) in want.iter().zip(got) {
            if g.byte_size != 0 && g.byte_size != w.ty.byte_size() {
                return Err(format!(
                    "{what} {} is {} ({} bytes) in DWARF, {} bytes in the catalog",
                    g.name,
                    g.type_name,
                    g.byte_size,
                    w.ty.byte_size()
                ));
            }
            if w.ty == GoType::Slice && !g.type_name.starts_with("[]") {
                return Err(format!("{what} {} is {}, not a slice", g.name, g.type_name));
            }
        }
        Ok(())
    };
    if let Err(reason) = shape(entry.args, &args, "arguments")
        .and_then(|()| shape(entry.results, &results, "results"))
    {
        return AbiCheck::Mismatch { reason };
    }
    let mut located = 0;
    for (i, g) in args.iter().enumerate() {
        let (Some(regs), ValueLoc::Regs(want)) = (&g.entry_regs, &layout.arg_locs[i]) else {
            continue;
        };
        // Compare the register each argument starts in: the ABI assigns the
        // rest consecutively. Go's location lists are not exact past the first
        // piece: Go 1.19 repeats a slice's pointer piece, and Go 1.19-1.23
        // place `EncodeAll`'s `dst.cap` in RCX from the entry (it is in R9, as
        // the function's own code reads it); both seen in this project's matrix.
        let want_first = want[0].dwarf_number();
        if regs.first() != Some(&want_first) {
            return AbiCheck::Mismatch {
                reason: format!(
                    "argument {} starts in DWARF register {:?}, derived {want_first}",
                    g.name,
                    regs.first()
                ),
            };
        }
        located += 1;
    }
    AbiCheck::Dwarf { located }
}
