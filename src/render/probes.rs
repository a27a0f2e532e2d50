//! `gozt probes` output: a table for people, JSON for machines.
//!
//! Names, versions and paths come from the binary: the table shows them
//! escaped ([`text::escape`]), JSON through serde's escaping.

use std::fmt::Write as _;

use serde::Serialize;

use crate::base::pid::Pid;
use crate::base::text::{self, escape};
use crate::go_binary::{GoBinary, Module, OffsetSource, SymbolSource};
use crate::probe::catalog::{Api, Codec, Loc, Op, Value};
use crate::probe::plan::{AbiCheck, Plan, Probe};

/// The JSON document (`gozt probes --json`).
#[derive(Debug, Serialize)]
pub struct ProbesReport<'a> {
    pub binary: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<Pid>,
    pub go_version: &'a str,
    pub arch: &'static str,
    pub pie: bool,
    pub symbol_source: SymbolSource,
    pub goid_offset: u64,
    pub goid_offset_source: OffsetSource,
    pub stack_hi_offset: u64,
    pub g_register: &'static str,
    pub modules: &'a [Module],
    pub probes: Vec<ProbeJson<'a>>,
    /// Calls of streams' io.Writers in compressor code: where gzip, zlib
    /// and flate streams' compressed output is counted.
    pub sinks: &'a [crate::probe::plan::Sink],
    /// Where zstd's encoder counts were found: dwarf, code or none.
    pub zstd_counts: &'static str,
    /// Where requests served by net/http begin (payloads made serving one
    /// carry its route): null when the binary serves none, or its request
    /// layout is not known.
    pub request: Option<&'a crate::probe::plan::RequestSite>,
}

/// One probe in JSON.
#[derive(Debug, Serialize)]
pub struct ProbeJson<'a> {
    pub function: &'a str,
    pub codec: Codec,
    pub op: Op,
    pub api: Api,
    /// What a call is to its payload (whole, write, flush, close, read), or
    /// an encoder's constructor (new) or reset.
    pub role: crate::probe::catalog::Role,
    pub address: u64,
    pub size: u64,
    pub file_offset: u64,
    /// File offset of the entry's trap: the prologue's stack-check branch
    /// (emulated by the kernel), or the entry itself.
    pub entry_trap_offset: u64,
    pub ret_offsets: &'a [u64],
    #[serde(skip_serializing_if = "<[String]>::is_empty")]
    pub probe_instead: &'a [String],
    pub bytes_in: Option<&'a Value>,
    pub bytes_out: Option<&'a Value>,
    pub error: Option<Loc>,
    pub abi_check: &'a AbiCheck,
}

/// Builds the JSON model.
pub fn report<'a>(bin: &'a GoBinary, plan: &'a Plan, pid: Option<Pid>) -> ProbesReport<'a> {
    ProbesReport {
        binary: bin.path.display().to_string(),
        pid,
        go_version: &bin.build.go_version,
        arch: bin.arch.name(),
        pie: bin.pie,
        symbol_source: bin.symbol_source,
        goid_offset: bin.goid_offset,
        goid_offset_source: bin.offset_source,
        stack_hi_offset: bin.stack_hi_offset,
        g_register: bin.arch.g_register(),
        modules: &bin.build.modules,
        probes: plan
            .probes
            .iter()
            .map(|p| ProbeJson {
                function: &p.function,
                codec: p.entry.codec,
                op: p.entry.op,
                api: p.entry.api,
                role: p.entry.role,
                address: p.address,
                size: p.size,
                file_offset: p.file_offset,
                entry_trap_offset: p.entry_site,
                ret_offsets: &p.ret_offsets,
                probe_instead: &p.probe_instead,
                bytes_in: p.layout.bytes_in.as_ref(),
                bytes_out: p.layout.bytes_out.as_ref(),
                error: p.layout.error,
                abi_check: &p.abi_check,
            })
            .collect(),
        sinks: &plan.sinks,
        zstd_counts: plan.totals_source,
        request: plan.request.as_ref(),
    }
}

fn loc(l: &Loc) -> String {
    match l {
        Loc::Reg(r) => r.name().to_string(),
        Loc::Stack(off) => format!("sp+{off}"),
    }
}

fn value(v: Option<&Value>) -> String {
    match v {
        None => "-".to_string(),
        Some(v) => {
            let at = match v.at {
                crate::probe::catalog::Point::Entry => "entry",
                crate::probe::catalog::Point::Return => "ret",
            };
            match &v.minus {
                Some(m) => format!("{at}:{}-{}", loc(&v.loc), loc(m)),
                None => format!("{at}:{}", loc(&v.loc)),
            }
        }
    }
}

fn check(c: &AbiCheck) -> String {
    match c {
        AbiCheck::Dwarf { .. } => "dwarf".to_string(),
        AbiCheck::Unchecked => "-".to_string(),
        AbiCheck::Mismatch { .. } => "MISMATCH".to_string(),
    }
}

/// The human table: what the binary is, a row per function, then what
/// cannot be probed and why.
pub fn table(bin: &GoBinary, plan: &Plan, pid: Option<Pid>) -> String {
    let mut out = String::new();
    about(&mut out, bin, plan, pid);
    let _ = writeln!(out);
    rows(&mut out, plan);
    let _ = writeln!(out);
    notes(&mut out, plan);
    out
}

/// The binary: path, Go version and build, where `g`'s fields are, the
/// streams' sink sites and counts, the modules.
fn about(out: &mut String, bin: &GoBinary, plan: &Plan, pid: Option<Pid>) {
    let src = match bin.symbol_source {
        SymbolSource::Symtab => "symbols from .symtab",
        SymbolSource::Pclntab => "stripped: symbols from .gopclntab",
    };
    let kind = if bin.pie { "PIE" } else { "static address" };
    let _ = writeln!(out, "binary   {}", text::path(&bin.path));
    if let Some(pid) = pid {
        let _ = writeln!(out, "pid      {pid}");
    }
    let goid_src = match bin.offset_source {
        OffsetSource::Dwarf => "from DWARF",
        OffsetSource::Table => "from the Go version table",
    };
    let _ = writeln!(
        out,
        "go       {}, {}, {kind}, {src}",
        escape(&bin.build.go_version),
        bin.arch.name()
    );
    let _ = writeln!(
        out,
        "runtime  g in {}; g.goid at +{} ({goid_src}); g.stack.hi at +{}",
        bin.arch.g_register(),
        bin.goid_offset,
        bin.stack_hi_offset
    );
    let counts = plan
        .probes
        .iter()
        .find_map(|p| p.totals_offset)
        .map(|o| {
            let from = match plan.totals_source {
                "dwarf" => "from DWARF",
                _ => "from the code of Close",
            };
            format!("zstd encoder counts at +{o:#x} ({from})")
        })
        .unwrap_or_else(|| "zstd encoder counts not found".to_string());
    let _ = writeln!(
        out,
        "streams  {} sink sites (gzip, zlib, flate output); {counts}",
        plan.sinks.len()
    );
    let requests = match &plan.request {
        Some(q) => {
            let from = match q.layout.source {
                OffsetSource::Dwarf => "from DWARF",
                OffsetSource::Table => "from the Go version table",
            };
            let pattern = q
                .layout
                .pattern
                .map_or("no Pattern".to_string(), |o| format!("Pattern at +{o}"));
            format!(
                "routes from {} (request in {}; Method at +{}, URL at +{}, URL.Path at +{}, {pattern}: {from})",
                q.function,
                q.request_reg.name(),
                q.layout.method,
                q.layout.url,
                q.layout.url_path
            )
        }
        None => "no routes (the binary serves no HTTP through net/http)".to_string(),
    };
    let _ = writeln!(out, "http     {requests}");
    if bin.build.modules.is_empty() {
        let _ = writeln!(out, "modules  none recorded (GOPATH build)");
    }
    for (i, m) in bin.build.modules.iter().enumerate() {
        let label = if i == 0 { "modules" } else { "" };
        let replaced = m
            .replaced_by
            .as_deref()
            .map(|r| format!(" => {}", escape(r)))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "{label:<8} {} {}{replaced}",
            escape(&m.path),
            escape(&m.version)
        );
    }
}

/// A row per function, columns as wide as their widest cell.
fn rows(out: &mut String, plan: &Plan) {
    let rows: Vec<[String; 10]> = plan.probes.iter().map(row).collect();
    let header = [
        "CODEC", "OP", "API", "ADDRESS", "OFFSET", "RETS", "IN", "OUT", "ERR", "ABI",
    ];
    let mut widths = header.map(str::len);
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    let line = |cells: &[&str]| {
        let mut l = String::new();
        for (c, w) in cells.iter().zip(widths) {
            let _ = write!(l, "{c:<w$}  ");
        }
        l
    };
    let _ = writeln!(out, "{}FUNCTION", line(&header));
    for (r, p) in rows.iter().zip(&plan.probes) {
        let cells: Vec<&str> = r.iter().map(String::as_str).collect();
        let _ = writeln!(out, "{}{}", line(&cells), escape(&p.function));
    }
}

/// The cells of `p`'s row, but its name.
fn row(p: &Probe) -> [String; 10] {
    [
        p.entry.codec.name().to_string(),
        p.entry.op.name().to_string(),
        match p.entry.role {
            crate::probe::catalog::Role::New => "new",
            crate::probe::catalog::Role::Reset => "reset",
            crate::probe::catalog::Role::Internal => "internal",
            _ => p.entry.api.name(),
        }
        .to_string(),
        format!("{:#x}", p.address),
        format!("{:#x}", p.file_offset),
        p.ret_offsets.len().to_string(),
        value(p.layout.bytes_in.as_ref()),
        value(p.layout.bytes_out.as_ref()),
        p.layout
            .error
            .as_ref()
            .map_or("-".to_string(), |l| format!("ret:{}", loc(l))),
        check(&p.abi_check),
    ]
}

/// How many functions and sites can be probed, and those that cannot.
fn notes(out: &mut String, plan: &Plan) {
    let usable = plan.probes.iter().filter(|p| p.usable()).count();
    let sites: usize = plan
        .probes
        .iter()
        .filter(|p| p.usable())
        .map(|p| 1 + p.ret_offsets.len())
        .sum();
    let _ = writeln!(
        out,
        "{} functions, {usable} probeable: {sites} uprobe sites (entry + each RET; no uretprobes)",
        plan.probes.len()
    );
    let emulated = plan
        .probes
        .iter()
        .filter(|p| p.usable() && p.entry_emulated())
        .count();
    if emulated > 0 {
        let _ = writeln!(
            out,
            "{emulated} of the entries trap at their prologue's stack-check branch, which the kernel \
             emulates (a trap at the first instruction is single-stepped: it costs more)"
        );
    }
    for p in &plan.probes {
        if p.ret_offsets.is_empty() {
            let instead = if p.probe_instead.is_empty() {
                "nothing it jumps to directly".to_string()
            } else {
                p.probe_instead.join(", ")
            };
            let _ = writeln!(
                out,
                "no RET in {}: probe {} instead",
                escape(&p.function),
                escape(&instead)
            );
        }
        if let AbiCheck::Mismatch { reason } = &p.abi_check {
            let _ = writeln!(
                out,
                "skipped {}: DWARF disagrees with the catalog: {}",
                escape(&p.function),
                escape(reason)
            );
        }
    }
}
