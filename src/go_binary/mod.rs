//! Reading a Go binary: its load layout, functions (from `.symtab`, or from
//! `.gopclntab` when stripped), build info, `runtime.g` layout and code.
//!
//! Everything is read without privileges and copied out into owned values; the
//! file stays memory-mapped only so function bytes can be decoded on demand.

pub mod buildinfo;
pub mod code;
pub mod dwarf;
pub mod layout;
pub mod pclntab;
pub mod runtime;

use std::path::{Path, PathBuf};

use object::{Object, ObjectKind, ObjectSection, ObjectSymbol, SectionKind, SymbolKind};
use serde::Serialize;

use crate::error::{Error, Result};
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
    pub pie: bool,
    pub build: BuildInfo,
    /// Sorted by address.
    pub functions: Vec<Func>,
    pub symbol_source: SymbolSource,
    pub goid_offset: u64,
    /// `runtime.g.stack.hi`, for frame depths.
    pub stack_hi_offset: u64,
    /// `runtime.g.sched.pc`.
    pub sched_pc_offset: u64,
    pub offset_source: OffsetSource,
    pub layout: Layout,
    pub dwarf: Option<dwarf::Dwarf>,
    map: memmap2::Mmap,
}

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

impl GoBinary {
    /// Opens and reads `path`.
    pub fn open(path: &Path) -> Result<GoBinary> {
        let file = std::fs::File::open(path).map_err(|e| open_error(path, e))?;
        let meta = file.metadata().map_err(|e| open_error(path, e))?;
        if !meta.is_file() {
            return Err(Error::NotElf {
                path: path.to_path_buf(),
            });
        }
        // SAFETY: the mapping is read-only and private; gozt never writes the
        // file. A concurrent truncation would fault, which is the same risk every
        // ELF reader (objdump, addr2line) takes.
        let map = unsafe { memmap2::Mmap::map(&file) }.map_err(|e| open_error(path, e))?;
        Self::from_map(path, map)
    }

    fn from_map(path: &Path, map: memmap2::Mmap) -> Result<GoBinary> {
        let data: &[u8] = &map;
        let not_elf = || Error::NotElf {
            path: path.to_path_buf(),
        };
        if !data.starts_with(b"\x7fELF") {
            return Err(not_elf());
        }
        let file = object::File::parse(data).map_err(|_| not_elf())?;
        if file.architecture() != object::Architecture::X86_64 {
            return Err(Error::UnsupportedArch {
                path: path.to_path_buf(),
                arch: format!("{:?}", file.architecture()),
            });
        }
        let layout = Layout::read(&file);
        let build = file
            .section_by_name(".go.buildinfo")
            .and_then(|s| s.data().ok())
            .and_then(|s| buildinfo::parse(s, data, &layout));
        let pcln_section = file
            .section_by_name(".gopclntab")
            .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"));
        let (build, pcln_section) = match (build, pcln_section) {
            (Some(b), Some(p)) => (b, p),
            _ => {
                return Err(Error::NotGo {
                    path: path.to_path_buf(),
                })
            }
        };
        match buildinfo::major_minor(&build.go_version) {
            Some(v) if v < (1, 17) => {
                return Err(Error::GoTooOld {
                    path: path.to_path_buf(),
                    version: build.go_version.clone(),
                })
            }
            _ => {}
        }

        let (functions, symbol_source) = match symtab_functions(&file) {
            Some(f) => (f, SymbolSource::Symtab),
            None => (
                pclntab_of(path, &file, &pcln_section)?.functions,
                SymbolSource::Pclntab,
            ),
        };

        let dwarf = dwarf::Dwarf::load(&file);
        let (g, offset_source) = match dwarf.as_ref().and_then(|d| d.g_offsets()) {
            Some(g) => (g, OffsetSource::Dwarf),
            None => {
                let g = runtime::g_offsets_for(&build.go_version).ok_or_else(|| {
                    Error::malformed(
                        path,
                        format!(
                            "no DWARF and no runtime.g layout known for {}",
                            build.go_version
                        ),
                    )
                })?;
                (g, OffsetSource::Table)
            }
        };

        Ok(GoBinary {
            path: path.to_path_buf(),
            pie: file.kind() == ObjectKind::Dynamic,
            build,
            functions,
            symbol_source,
            goid_offset: g.goid,
            stack_hi_offset: g.stack_hi.unwrap_or(8),
            sched_pc_offset: g.sched_pc.unwrap_or(64),
            offset_source,
            layout,
            dwarf,
            map,
        })
    }

    /// The bytes of `f`.
    pub fn code(&self, f: &Func) -> Option<&[u8]> {
        self.layout.bytes(&self.map, f.addr, f.size)
    }

    /// The function containing `addr`.
    pub fn function_at(&self, addr: u64) -> Option<&Func> {
        let i = self.functions.partition_point(|f| f.addr <= addr);
        let f = self.functions.get(i.checked_sub(1)?)?;
        (addr < f.addr + f.size).then_some(f)
    }
}

/// Reads `path`'s `.gopclntab` alone, whether or not it has a symtab.
pub fn read_pclntab(path: &Path) -> Result<pclntab::Pclntab> {
    let data = std::fs::read(path).map_err(|e| open_error(path, e))?;
    let file = object::File::parse(&*data).map_err(|_| Error::NotElf {
        path: path.to_path_buf(),
    })?;
    let section = file
        .section_by_name(".gopclntab")
        .or_else(|| file.section_by_name(".data.rel.ro.gopclntab"))
        .ok_or_else(|| Error::NotGo {
            path: path.to_path_buf(),
        })?;
    pclntab_of(path, &file, &section)
}

fn pclntab_of(
    path: &Path,
    file: &object::File<'_>,
    section: &object::Section<'_, '_>,
) -> Result<pclntab::Pclntab> {
    let pcln = section
        .data()
        .map_err(|e| Error::malformed(path, format!("pclntab: {e}")))?;
    // Where runtime.firstmoduledata may be, for Go 1.26+.
    let regions: Vec<&[u8]> = file
        .sections()
        .filter(|s| matches!(s.kind(), SectionKind::Data | SectionKind::ReadOnlyData))
        .filter_map(|s| s.data().ok())
        .collect();
    pclntab::parse(pcln, section.address(), &regions).map_err(|e| Error::malformed(path, e))
}

/// Go text symbols from `.symtab`; `None` when the binary is stripped.
fn symtab_functions(file: &object::File<'_>) -> Option<Vec<Func>> {
    let mut functions: Vec<Func> = file
        .symbols()
        .filter(|s| s.kind() == SymbolKind::Text && s.size() > 0)
        .filter_map(|s| {
            Some(Func {
                name: s.name().ok()?.to_string(),
                addr: s.address(),
                size: s.size(),
            })
        })
        .collect();
    if functions.is_empty() {
        return None;
    }
    functions.sort_by(|a, b| a.addr.cmp(&b.addr).then_with(|| a.name.cmp(&b.name)));
    functions.dedup_by(|a, b| a.addr == b.addr && a.name == b.name);
    Some(functions)
}
