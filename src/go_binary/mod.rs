//! Reading a Go binary: its load layout, functions (from `.symtab`, or from
//! `.gopclntab` when stripped), build info, `runtime.g` layout and code.
//!
//! Everything is read without privileges and copied out into owned values; the
//! file stays memory-mapped only so function bytes can be decoded on demand.
//!
//! The file may be hostile (`gozt attach` reads whatever a process runs, as
//! root): it is opened without blocking, every count, offset and size it
//! declares is checked against the section and file it lives in before
//! anything is allocated on its word, and text read from it is validated
//! ([`buildinfo::check_version`]) or escaped when shown ([`crate::base::text`]).

pub mod buildinfo;
pub mod dwarf;
pub mod http;
pub mod layout;
pub mod names;
pub mod pclntab;
pub mod runtime;

use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use object::{Object, ObjectKind, ObjectSection, ObjectSymbol, SymbolKind};
use serde::Serialize;

use crate::arch::Arch;
use crate::base::error::{Error, Result};
pub use buildinfo::{BuildInfo, Module};
pub use layout::Layout;

/// One function: full Go symbol name, entry address and size in bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Func {
    pub name: String,
    pub addr: u64,
    pub size: u64,
}

/// Where the function list came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum SymbolSource {
    Symtab,
    Pclntab,
}

/// Where the `runtime.g` offsets came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum OffsetSource {
    Dwarf,
    Table,
}

/// A Go binary, read.
pub struct GoBinary {
    pub path: PathBuf,
    /// From the ELF header: which registers the ABI uses, how RETs look.
    pub arch: Arch,
    pub pie: bool,
    pub build: BuildInfo,
    /// The Go build ID (`go tool buildid`), from the `.note.go.buildid`
    /// note, which stripped builds keep.
    pub build_id: Option<String>,
    /// Sorted by address.
    pub functions: Vec<Func>,
    pub symbol_source: SymbolSource,
    pub goid_offset: u64,
    /// `runtime.g.stack.hi`, for frame depths.
    pub stack_hi_offset: u64,
    /// `runtime.g.sched.pc`.
    pub sched_pc_offset: u64,
    /// `runtime.asyncPreempt2` (address, size): an asynchronous preemption
    /// leaves g.sched.pc there.
    pub async_preempt: Option<(u64, u64)>,
    pub offset_source: OffsetSource,
    pub layout: Layout,
    pub dwarf: Option<dwarf::Dwarf>,
    /// `[start, end)` of each executable section.
    text: Vec<(u64, u64)>,
    map: memmap2::Mmap,
}

/// Largest file gozt reads: no Go executable comes near (its text must fit
/// rel32 jumps), and every pass over a section is then bounded.
pub const MAX_FILE: u64 = 4 << 30;

fn open_error(path: &Path, e: std::io::Error) -> Error {
    if e.kind() == std::io::ErrorKind::NotFound {
        Error::NotFound {
            path: path.to_path_buf(),
        }
    } else {
        Error::Io {
            path: path.to_path_buf(),
            source: e,
        }
    }
}

/// Maps `path` read-only. The open does not block (a FIFO would wait for a
/// writer) nor take a terminal; anything but a regular file is refused
/// before a byte is read.
fn map_file(path: &Path) -> Result<memmap2::Mmap> {
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY)
        .open(path)
        .map_err(|e| open_error(path, e))?;
    let meta = file.metadata().map_err(|e| open_error(path, e))?;
    let ft = meta.file_type();
    let kind = if ft.is_file() {
        None
    } else if ft.is_dir() {
        Some("a directory")
    } else if ft.is_fifo() {
        Some("a FIFO")
    } else if ft.is_socket() {
        Some("a socket")
    } else if ft.is_char_device() {
        Some("a character device")
    } else if ft.is_block_device() {
        Some("a block device")
    } else {
        Some("not a regular file")
    };
    if let Some(kind) = kind {
        return Err(Error::NotRegular {
            path: path.to_path_buf(),
            kind,
        });
    }
    if meta.len() > MAX_FILE {
        return Err(Error::TooLarge {
            path: path.to_path_buf(),
            size: meta.len(),
            max: MAX_FILE,
        });
    }
    // SAFETY: the mapping is read-only and private; gozt never writes the
    // file. A concurrent truncation would fault, which is the same risk every
    // ELF reader (objdump, addr2line) takes.
    unsafe { memmap2::Mmap::map(&file) }.map_err(|e| open_error(path, e))
}

/// The `.gopclntab` section: its own section when Go links, or one of that
/// name inside `.data.rel.ro`.
fn pclntab_section<'d, 'f>(file: &'f object::File<'d>) -> Option<object::Section<'d, 'f>> {
    file.section_by_name(".gopclntab")
        .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))
}

/// A shared object: `ET_DYN` with no program interpreter and no entry point
/// (a PIE executable has both).
fn is_shared_library(data: &[u8]) -> bool {
    use object::read::elf::{FileHeader, ProgramHeader};
    let Ok(elf) = object::read::elf::ElfFile64::<object::Endianness>::parse(data) else {
        return false;
    };
    let (header, endian) = (elf.elf_header(), elf.endian());
    let interp = elf
        .elf_program_headers()
        .iter()
        .any(|p| p.p_type(endian) == object::elf::PT_INTERP);
    header.e_type(endian) == object::elf::ET_DYN && !interp && header.e_entry(endian) == 0
}

impl GoBinary {
    /// Opens and reads `path`.
    pub fn open(path: &Path) -> Result<GoBinary> {
        let map = map_file(path)?;
        Self::from_map(path, map)
    }

    fn from_map(path: &Path, map: memmap2::Mmap) -> Result<GoBinary> {
        let data: &[u8] = &map;
        let (file, arch) = parse_elf(path, data)?;
        let malformed = |what: String| Error::malformed(path, what);
        let layout = Layout::read(&file);
        let (build, pcln_section) = go_sections(path, &file, data, &layout)?;
        // The build info parser checked the syntax.
        if buildinfo::major_minor(&build.go_version).is_some_and(|v| v < arch.register_abi_since())
        {
            return Err(Error::GoTooOld {
                path: path.to_path_buf(),
                version: build.go_version.clone(),
                arch: arch.name(),
                since: arch.register_abi_since().1,
            });
        }
        let (functions, symbol_source) =
            match symtab_functions(&file, data.len()).map_err(malformed)? {
                Some(f) => (f, SymbolSource::Symtab),
                None => (
                    pclntab_of(path, &file, &pcln_section)?.functions,
                    SymbolSource::Pclntab,
                ),
            };
        let text = file
            .sections()
            .filter(|s| s.kind() == object::SectionKind::Text)
            .map(|s| (s.address(), s.address().saturating_add(s.size())))
            .collect();
        let dwarf = dwarf::Dwarf::load(&file).map_err(malformed)?;
        let (g, offset_source) = g_offsets(path, dwarf.as_ref(), &build.go_version)?;
        let build_id = file
            .section_by_name(".note.go.buildid")
            .and_then(|s| s.data().ok())
            .and_then(buildinfo::go_build_id);
        let async_preempt = functions
            .iter()
            .find(|f| f.name == "runtime.asyncPreempt2")
            .map(|f| (f.addr, f.size));
        Ok(GoBinary {
            async_preempt,
            path: path.to_path_buf(),
            arch,
            pie: file.kind() == ObjectKind::Dynamic,
            build,
            build_id,
            functions,
            symbol_source,
            goid_offset: g.goid,
            stack_hi_offset: g.stack_hi.unwrap_or(8),
            sched_pc_offset: g.sched_pc.unwrap_or(64),
            offset_source,
            layout,
            dwarf,
            text,
            map,
        })
    }

    /// Checks that `f` lies inside one executable section and, when it came
    /// from `.symtab`, ends before the next function starts: a symbol's size
    /// is the input's word, and is what the decoder and the probes trust.
    pub fn check_extent(&self, f: &Func) -> std::result::Result<(), String> {
        let end = f
            .addr
            .checked_add(f.size)
            .ok_or_else(|| format!("{}: size {:#x} overflows", f.name, f.size))?;
        if !self.text.iter().any(|&(lo, hi)| lo <= f.addr && end <= hi) {
            return Err(format!(
                "{} at {:#x}, {} bytes, is not inside .text",
                f.name, f.addr, f.size
            ));
        }
        let i = self.functions.partition_point(|g| g.addr <= f.addr);
        if let Some(next) = self.functions.get(i) {
            if end > next.addr {
                return Err(format!(
                    "{} at {:#x}, {} bytes, runs into {} at {:#x}",
                    f.name, f.addr, f.size, next.name, next.addr
                ));
            }
        }
        Ok(())
    }

    /// The bytes of `f`.
    pub fn code(&self, f: &Func) -> Option<&[u8]> {
        self.layout.bytes(&self.map, f.addr, f.size)
    }

    /// Refuses a binary of another architecture than gozt's own: its
    /// registers could be read, but its process runs on another machine (or
    /// under an emulator, where no probe traps).
    pub fn require_host_arch(&self) -> Result<()> {
        if self.arch == Arch::HOST {
            return Ok(());
        }
        Err(Error::ForeignArch {
            path: self.path.clone(),
            arch: self.arch.name(),
            host: Arch::HOST.name(),
        })
    }

    /// The function containing `addr`.
    pub fn function_at(&self, addr: u64) -> Option<&Func> {
        let i = self.functions.partition_point(|f| f.addr <= addr);
        let f = self.functions.get(i.checked_sub(1)?)?;
        (addr - f.addr < f.size).then_some(f)
    }
}

/// What makes `file` a Go executable: its build info and its pclntab.
/// Either missing is not Go (a Go shared library is named as one).
fn go_sections<'d, 'f>(
    path: &Path,
    file: &'f object::File<'d>,
    data: &[u8],
    layout: &Layout,
) -> Result<(BuildInfo, object::Section<'d, 'f>)> {
    let build = match file.section_by_name(".go.buildinfo") {
        Some(s) => {
            let bytes = s
                .data()
                .map_err(|e| Error::malformed(path, format!(".go.buildinfo: {e}")))?;
            buildinfo::parse(bytes, data, layout).map_err(|e| Error::malformed(path, e))?
        }
        None => None,
    };
    match (build, pclntab_section(file)) {
        (Some(b), Some(p)) => Ok((b, p)),
        (build, pcln) => {
            if let Some(b) = build.as_ref().filter(|_| is_shared_library(data)) {
                return Err(Error::GoLibrary {
                    path: path.to_path_buf(),
                    version: b.go_version.clone(),
                });
            }
            Err(Error::NotGo {
                path: path.to_path_buf(),
                missing: match (build.is_some(), pcln.is_some()) {
                    (true, _) => "Go build info, but no .gopclntab",
                    (false, true) => "a .gopclntab, but no Go build info",
                    (false, false) => "no .gopclntab and no Go build info",
                },
            })
        }
    }
}

/// Where `runtime.g`'s fields are: from DWARF, else from the table of Go
/// versions.
fn g_offsets(
    path: &Path,
    dwarf: Option<&dwarf::Dwarf>,
    go_version: &str,
) -> Result<(dwarf::GOffsets, OffsetSource)> {
    if let Some(g) = dwarf.and_then(|d| d.g_offsets()) {
        return Ok((g, OffsetSource::Dwarf));
    }
    let g = runtime::g_offsets_for(go_version).ok_or_else(|| {
        Error::malformed(
            path,
            format!("no DWARF and no runtime.g layout known for {go_version}"),
        )
    })?;
    Ok((g, OffsetSource::Table))
}

/// Parses the ELF header: amd64 or arm64.
fn parse_elf<'d>(path: &Path, data: &'d [u8]) -> Result<(object::File<'d>, Arch)> {
    let not_elf = || Error::NotElf {
        path: path.to_path_buf(),
    };
    if !data.starts_with(b"\x7fELF") {
        return Err(not_elf());
    }
    let file = object::File::parse(data).map_err(|_| not_elf())?;
    let arch = Arch::of_elf(file.architecture()).ok_or_else(|| Error::UnsupportedArch {
        path: path.to_path_buf(),
        arch: format!("{:?}", file.architecture()),
    })?;
    Ok((file, arch))
}

/// Reads `path`'s `.gopclntab` alone, whether or not it has a symtab.
pub fn read_pclntab(path: &Path) -> Result<pclntab::Pclntab> {
    let map = map_file(path)?;
    let (file, _) = parse_elf(path, &map)?;
    let section = pclntab_section(&file).ok_or_else(|| Error::NotGo {
        path: path.to_path_buf(),
        missing: "no .gopclntab",
    })?;
    pclntab_of(path, &file, &section)
}

/// Sections that may hold `runtime.firstmoduledata`: Go 1.26's linker gives it
/// `.go.module` of its own (before, it sat in `.noptrdata`). Naming them bounds
/// the search to a few sections, however many section headers the file has.
const MODULEDATA_SECTIONS: [&str; 3] = [".go.module", ".noptrdata", ".data"];

fn pclntab_of(
    path: &Path,
    file: &object::File<'_>,
    section: &object::Section<'_, '_>,
) -> Result<pclntab::Pclntab> {
    let pcln = section
        .data()
        .map_err(|e| Error::malformed(path, format!("pclntab: {e}")))?;
    // Where runtime.firstmoduledata may be, for Go 1.26+.
    let regions: Vec<&[u8]> = MODULEDATA_SECTIONS
        .iter()
        .filter_map(|name| file.section_by_name(name)?.data().ok())
        .collect();
    pclntab::parse(pcln, section.address(), &regions).map_err(|e| Error::malformed(path, e))
}

/// Go text symbols from `.symtab`; `None` when the binary is stripped. The
/// names copied out may total no more than the file's size: more means many
/// symbols share one name's bytes, which no linker writes.
fn symtab_functions(
    file: &object::File<'_>,
    file_size: usize,
) -> std::result::Result<Option<Vec<Func>>, String> {
    let mut functions: Vec<Func> = Vec::new();
    let mut name_bytes = 0usize;
    for s in file.symbols() {
        if s.kind() != SymbolKind::Text || s.size() == 0 {
            continue;
        }
        let Ok(name) = s.name() else {
            continue;
        };
        name_bytes += name.len() + 1;
        if name_bytes > file_size {
            return Err(format!(
                ".symtab: symbol names total more than the file's {file_size} bytes"
            ));
        }
        functions.push(Func {
            name: name.to_string(),
            addr: s.address(),
            size: s.size(),
        });
    }
    if functions.is_empty() {
        return Ok(None);
    }
    functions.sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| a.name.cmp(&b.name)));
    functions.dedup_by(|a, b| a.addr == b.addr && a.name == b.name);
    Ok(Some(functions))
}
