//! Shared by the hostile-input tests: where the parts of a Go ELF file are,
//! and running the real `gozt probes` in a child under a memory limit and a
//! wall-clock guard, with the contract every run must keep.

#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use object::{Object, ObjectSection, ObjectSymbol};

/// Address space a `gozt probes` child may use: a run on any matrix binary
/// needs well under 100 MiB of it.
pub const MEMORY_LIMIT: u64 = 512 << 20;

/// A run taking longer is a hang (a debug build reads a matrix binary with
/// DWARF in ~0.15 s).
pub const TIME_LIMIT: Duration = Duration::from_secs(20);

/// Exit codes `gozt probes PATH` may return (README, "Exit codes").
pub const DOCUMENTED: [i32; 6] = [0, 3, 4, 5, 6, 7];

/// How one child run ended.
#[derive(Debug, Default)]
pub struct Run {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub timed_out: bool,
    pub elapsed: Duration,
}

impl Run {
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
}

/// The gozt executable under test: this build's, or `$GOZT_TEST_BIN` (to
/// fuzz a release build, or to check that an older one fails these tests).
pub fn gozt_exe() -> PathBuf {
    std::env::var_os("GOZT_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_gozt")))
}

/// Runs `gozt` with `args` under [`MEMORY_LIMIT`] (RLIMIT_AS, no core file),
/// killing it after [`TIME_LIMIT`].
pub fn gozt_limited<S: AsRef<OsStr>>(args: &[S]) -> Run {
    let mut cmd = Command::new(gozt_exe());
    cmd.args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: the closure runs in the child between fork and exec and calls
    // only setrlimit, which is async-signal-safe; it touches no memory of the
    // parent's other threads.
    unsafe {
        cmd.pre_exec(|| {
            let limit = |resource, value| {
                let lim = libc::rlimit {
                    rlim_cur: value,
                    rlim_max: value,
                };
                if libc::setrlimit(resource, &lim) == 0 {
                    Ok(())
                } else {
                    Err(std::io::Error::last_os_error())
                }
            };
            limit(libc::RLIMIT_AS, MEMORY_LIMIT)?;
            limit(libc::RLIMIT_CORE, 0)
        });
    }
    let start = Instant::now();
    let mut child = cmd.spawn().expect("spawn gozt");
    let drain = |mut r: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = r.read_to_end(&mut buf);
            buf
        })
    };
    let out = drain(Box::new(child.stdout.take().unwrap()));
    let err = drain(Box::new(child.stderr.take().unwrap()));
    let mut run = Run::default();
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for gozt") {
            break status;
        }
        if start.elapsed() > TIME_LIMIT {
            run.timed_out = true;
            let _ = child.kill();
            break child.wait().expect("reap gozt");
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    run.elapsed = start.elapsed();
    run.code = status.code();
    run.signal = status.signal();
    run.stdout = out.join().unwrap();
    run.stderr = err.join().unwrap();
    run
}

/// `gozt probes [--json] PATH`.
pub fn probes(path: &Path, json: bool) -> Run {
    let mut args: Vec<&OsStr> = vec![OsStr::new("probes")];
    if json {
        args.push(OsStr::new("--json"));
    }
    args.push(path.as_os_str());
    gozt_limited(&args)
}

/// What every run must keep, whatever the input: an answer in time, a
/// documented exit code, no panic and no signal; on failure nothing on
/// stdout and exactly one printable line on stderr starting `gozt: `; on
/// success valid JSON (with `json`) or a table without control characters.
pub fn contract(run: &Run, json: bool) -> Result<(), String> {
    let stderr = run.stderr();
    if run.timed_out {
        return Err(format!("no answer within {TIME_LIMIT:?}"));
    }
    if let Some(sig) = run.signal {
        return Err(format!("killed by signal {sig}; stderr {stderr:?}"));
    }
    let code = run.code.unwrap_or(-1);
    if !DOCUMENTED.contains(&code) {
        return Err(format!("exit code {code}; stderr {stderr:?}"));
    }
    for bad in [
        "panicked",
        "RUST_BACKTRACE",
        "memory allocation of",
        "capacity overflow",
        "attempt to",
    ] {
        if stderr.contains(bad) {
            return Err(format!("stderr mentions {bad:?}: {stderr:?}"));
        }
    }
    if code == 0 {
        if !run.stderr.is_empty() {
            return Err(format!("success with stderr {stderr:?}"));
        }
        if json {
            serde_json::from_slice::<serde_json::Value>(&run.stdout)
                .map_err(|e| format!("stdout is not JSON: {e}"))?;
        } else if let Some(b) = run.stdout.iter().find(|&&b| b != b'\n' && b < 0x20) {
            return Err(format!("table holds control byte {b:#04x}"));
        } else if run.stdout.is_empty() {
            return Err("success with an empty table".into());
        }
        return Ok(());
    }
    if !run.stdout.is_empty() {
        return Err(format!("exit {code} with stdout {:?}", run.stdout()));
    }
    let Some(line) = stderr.strip_suffix('\n') else {
        return Err(format!("stderr is not one line: {stderr:?}"));
    };
    if line.contains('\n') || !line.starts_with("gozt: ") {
        return Err(format!("stderr is not one `gozt: ` line: {stderr:?}"));
    }
    if let Some(c) = line.chars().find(|c| c.is_control()) {
        return Err(format!(
            "error line holds control character {c:?}: {line:?}"
        ));
    }
    Ok(())
}

/// `name` as built by the matrix toolchain whose directory starts with
/// `toolchain` (`go1.19`).
pub fn matrix_bin(toolchain: &str, name: &str) -> PathBuf {
    crate::common::toolchains()
        .into_iter()
        .find(|d| {
            d.file_name()
                .unwrap()
                .to_str()
                .unwrap()
                .starts_with(toolchain)
        })
        .unwrap_or_else(|| panic!("no {toolchain} in the matrix"))
        .join(name)
}

/// File offset and size of section `name`.
pub fn section(data: &[u8], name: &str) -> Option<(usize, usize)> {
    let file = object::File::parse(data).ok()?;
    let (off, size) = file.section_by_name(name)?.file_range()?;
    Some((off as usize, size as usize))
}

/// `(address, file offset)` of section `name`.
pub fn section_addr(data: &[u8], name: &str) -> Option<(u64, usize)> {
    let file = object::File::parse(data).ok()?;
    let s = file.section_by_name(name)?;
    Some((s.address(), s.file_range()?.0 as usize))
}

/// Size of one `Elf64_Sym`.
pub const SYM_SIZE: usize = 24;

/// File offset of the `.symtab` entry named `name`.
pub fn symbol_entry(data: &[u8], name: &str) -> Option<usize> {
    let file = object::File::parse(data).ok()?;
    let index = file.symbols().find(|s| s.name() == Ok(name))?.index().0;
    Some(section(data, ".symtab")?.0 + index * SYM_SIZE)
}

/// File offsets of every function (`STT_FUNC`) entry of `.symtab`.
pub fn function_entries(data: &[u8]) -> Vec<usize> {
    let Some((off, size)) = section(data, ".symtab") else {
        return Vec::new();
    };
    (off..off + size)
        .step_by(SYM_SIZE)
        .filter(|&e| data[e + 4] & 0xf == 2)
        .collect()
}

pub fn u32_at(data: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(data[off..off + 4].try_into().unwrap())
}

pub fn u64_at(data: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(data[off..off + 8].try_into().unwrap())
}

pub fn put_u32(data: &mut [u8], off: usize, v: u32) {
    data[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

pub fn put_u64(data: &mut [u8], off: usize, v: u64) {
    data[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

/// The offset of `needle` inside `data[range]`.
pub fn find(data: &[u8], (off, size): (usize, usize), needle: &[u8]) -> Option<usize> {
    data[off..off + size]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| off + p)
}

pub use crate::common::TempDir;

/// One section of a [`tiny_elf`].
pub struct TinySection<'a> {
    pub name: &'a str,
    /// `SHF_*` flags: `SHF_ALLOC` (2) for loaded data, `SHF_COMPRESSED`
    /// (0x800) for a compressed one.
    pub flags: u64,
    pub addr: u64,
    pub data: Vec<u8>,
}

/// A minimal x86-64 ELF executable: the header, `sections` as PROGBITS, a
/// section name table and the section headers; no segments. Small files
/// that hold just the structures a defect needs.
pub fn tiny_elf(sections: &[TinySection<'_>]) -> Vec<u8> {
    let mut out = vec![0u8; 64];
    let mut names = vec![0u8];
    let mut headers = vec![[0u8; 64]];
    let mut header = |name: &str, kind: u32, flags: u64, addr: u64, off: usize, size: usize| {
        let mut h = [0u8; 64];
        h[0..4].copy_from_slice(&(names.len() as u32).to_le_bytes());
        names.extend_from_slice(name.as_bytes());
        names.push(0);
        h[4..8].copy_from_slice(&kind.to_le_bytes());
        h[8..16].copy_from_slice(&flags.to_le_bytes());
        h[16..24].copy_from_slice(&addr.to_le_bytes());
        h[24..32].copy_from_slice(&(off as u64).to_le_bytes());
        h[32..40].copy_from_slice(&(size as u64).to_le_bytes());
        h[48..56].copy_from_slice(&1u64.to_le_bytes());
        headers.push(h);
    };
    for s in sections {
        header(s.name, 1, s.flags, s.addr, out.len(), s.data.len());
        out.extend_from_slice(&s.data);
    }
    let names_off = out.len();
    header(".shstrtab", 3, 0, 0, names_off, 0);
    let names_len = names.len();
    headers.last_mut().unwrap()[32..40].copy_from_slice(&(names_len as u64).to_le_bytes());
    out.extend_from_slice(&names);
    out.resize(out.len().next_multiple_of(8), 0);
    let shoff = out.len();
    for h in &headers {
        out.extend_from_slice(h);
    }
    out[..7].copy_from_slice(b"\x7fELF\x02\x01\x01");
    put_u32(&mut out, 16, 2 | (62 << 16)); // ET_EXEC, EM_X86_64
    put_u32(&mut out, 20, 1);
    put_u64(&mut out, 40, shoff as u64);
    let halves: [u16; 6] = [
        64,
        56,
        0,
        64,
        headers.len() as u16,
        headers.len() as u16 - 1,
    ];
    for (i, h) in halves.iter().enumerate() {
        out[52 + 2 * i..54 + 2 * i].copy_from_slice(&h.to_le_bytes());
    }
    out
}

/// `.go.buildinfo` in the Go 1.18+ inline format, with no module info.
pub fn tiny_buildinfo(version: &str) -> Vec<u8> {
    let mut b = b"\xff Go buildinf:\x08\x02".to_vec();
    b.resize(32, 0);
    b.push(version.len() as u8);
    b.extend_from_slice(version.as_bytes());
    b.push(0);
    b
}

/// A Go 1.20+ `.gopclntab` declaring `nfunc` functions, holding one
/// (`main.main`, 64 bytes at `text`).
pub fn tiny_pclntab(nfunc: u64, text: u64) -> Vec<u8> {
    let mut t = Vec::new();
    t.extend_from_slice(&0xffff_fff1u32.to_le_bytes());
    t.extend_from_slice(&[0, 0, 1, 8]);
    // nfunc, nfiles, textStart, funcname, cu, filetab, pctab, pcln.
    for w in [nfunc, 0, text, 72, 0, 0, 0, 88] {
        t.extend_from_slice(&w.to_le_bytes());
    }
    t.extend_from_slice(b"main.main\0");
    t.resize(88, 0);
    // Two entries {entryOff, funcOff}, then the _func {entryOff, nameOff}.
    for w in [0u32, 16, 64, 0, 0, 0] {
        t.extend_from_slice(&w.to_le_bytes());
    }
    t
}

/// A Go binary of a few hundred bytes: build info, a pclntab declaring
/// `nfunc` functions (holding one), and `extra` sections.
pub fn tiny_go(nfunc: u64, extra: Vec<TinySection<'static>>) -> Vec<u8> {
    let mut sections = vec![
        TinySection {
            name: ".go.buildinfo",
            flags: 2,
            addr: 0x50_0000,
            data: tiny_buildinfo("go1.21.0"),
        },
        TinySection {
            name: ".gopclntab",
            flags: 2,
            addr: 0x51_0000,
            data: tiny_pclntab(nfunc, 0x40_1000),
        },
    ];
    sections.extend(extra);
    tiny_elf(&sections)
}

/// A `SHF_COMPRESSED` section's contents: an `Elf64_Chdr` declaring
/// `declared` bytes, then `payload` deflated.
pub fn zlib_section(payload: &[u8], declared: u64) -> Vec<u8> {
    let mut out = Vec::new();
    for w in [1u32, 0] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    for w in [declared, 1] {
        out.extend_from_slice(&w.to_le_bytes());
    }
    let mut z = flate2::write::ZlibEncoder::new(out, flate2::Compression::best());
    std::io::Write::write_all(&mut z, payload).unwrap();
    z.finish().unwrap()
}
