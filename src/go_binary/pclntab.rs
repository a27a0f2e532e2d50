//! `.gopclntab`: Go's own function table, which survives `-ldflags='-s -w'`.
//!
//! Header (Go's `runtime/symtab.go`, `pcHeader`): magic u32, two pad bytes, the
//! instruction quantum, the pointer size, then pointer-sized words:
//!
//! | magic | Go | words after the first 8 bytes |
//! |---|---|---|
//! | `0xfffffffa` | 1.16-1.17 | nfunc, nfiles, funcname, cu, filetab, pctab, pcln |
//! | `0xfffffff0` | 1.18-1.19 | nfunc, nfiles, textStart, funcname, cu, filetab, pctab, pcln |
//! | `0xfffffff1` | 1.20+ | same as 1.18 |
//!
//! Go 1.26 stopped filling `textStart` (the word is kept, zero), so the text
//! start then comes from `runtime.firstmoduledata`, found by its first word
//! (a pointer to this header) and checked against the header's offsets.
//!
//! The function table at `pcln` holds `nfunc + 1` pairs. From 1.18 they are
//! `{entryOff u32, funcOff u32}` with the entry relative to the text start and
//! the last pair's entry marking the end of text; in 1.16 both are pointer
//! sized and the entry is absolute. `_func.nameOff` (an i32 at +4 of the
//! `_func` record at `pcln + funcOff`, or at +ptrSize in 1.16) indexes the
//! NUL-terminated name in `funcname`.

use super::Func;

const MAGIC_116: u32 = 0xffff_fffa;
const MAGIC_118: u32 = 0xffff_fff0;
const MAGIC_120: u32 = 0xffff_fff1;

/// How the text start was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextStart {
    /// Absolute entries (1.16-1.17): no text start needed.
    Absolute,
    /// The pcHeader `textStart` word (1.18-1.25).
    Header(u64),
    /// `runtime.firstmoduledata.text` (1.26+).
    Moduledata(u64),
}

/// The parsed table.
#[derive(Debug, Clone)]
pub struct Pclntab {
    pub magic: u32,
    pub text_start: TextStart,
    pub functions: Vec<Func>,
}

/// Longest function name read (Go's longest generic instantiations are a few
/// KiB); a name without a NUL within this many bytes is malformed.
const MAX_NAME: usize = 64 << 10;

struct Reader<'a> {
    data: &'a [u8],
    ptr_size: usize,
}

impl Reader<'_> {
    fn u32(&self, off: usize) -> Option<u32> {
        Some(u32::from_le_bytes(
            self.data.get(off..off.checked_add(4)?)?.try_into().ok()?,
        ))
    }
    fn ptr(&self, off: usize) -> Option<u64> {
        match self.ptr_size {
            8 => Some(u64::from_le_bytes(
                self.data.get(off..off.checked_add(8)?)?.try_into().ok()?,
            )),
            4 => self.u32(off).map(u64::from),
            _ => None,
        }
    }
    /// Pointer-sized header word `i` (after the 8-byte prefix).
    fn word(&self, i: usize) -> Option<u64> {
        self.ptr(8 + i * self.ptr_size)
    }
    /// Header word `i` as an offset into the table, which it must lie in.
    fn offset(&self, i: usize, what: &str) -> Result<usize, String> {
        let w = self
            .word(i)
            .ok_or_else(|| "pclntab header truncated".to_string())?;
        match usize::try_from(w) {
            Ok(off) if off < self.data.len() => Ok(off),
            _ => Err(format!(
                "pclntab {what} offset {w:#x} outside the {}-byte table",
                self.data.len()
            )),
        }
    }
    /// The NUL-terminated name at `off`, at most [`MAX_NAME`] bytes long.
    fn cstr(&self, off: usize) -> Option<&str> {
        let rest = self.data.get(off..)?;
        let rest = &rest[..rest.len().min(MAX_NAME + 1)];
        let end = rest.iter().position(|&b| b == 0)?;
        std::str::from_utf8(&rest[..end]).ok()
    }
}

/// How a table's entries are read.
struct Table {
    /// Offset of the function table.
    pcln: usize,
    /// Bytes per entry.
    entry_size: usize,
}

impl Table {
    /// Checks that `nfunc + 1` entries fit in `len` bytes: the count is the
    /// input's to choose, so nothing is allocated before this holds.
    fn check(&self, nfunc: u64, len: usize) -> Result<usize, String> {
        let room = (len - self.pcln) / self.entry_size;
        match usize::try_from(nfunc) {
            Ok(n) if n < room => Ok(n),
            _ => Err(format!(
                "pclntab declares {nfunc} functions; its function table at {:#x} has room for {}",
                self.pcln,
                room.saturating_sub(1)
            )),
        }
    }
}

/// Parses the table at `vaddr`. `regions` are the binary's data sections, searched
/// for the module data when the header has no text start. Every count and
/// offset is checked against the table before it is used.
pub fn parse(data: &[u8], vaddr: u64, regions: &[&[u8]]) -> Result<Pclntab, String> {
    if data.len() < 16 {
        return Err("pclntab too short".into());
    }
    let magic = u32::from_le_bytes(data[..4].try_into().unwrap());
    let ptr_size = data[7] as usize;
    if ptr_size != 8 && ptr_size != 4 {
        return Err(format!("pclntab pointer size {ptr_size}"));
    }
    let r = Reader { data, ptr_size };
    let nfunc = r.word(0).ok_or("pclntab header truncated")?;
    match magic {
        MAGIC_116 => {
            let funcname = r.offset(2, "funcname")?;
            let table = Table {
                pcln: r.offset(6, "function table")?,
                entry_size: 2 * ptr_size,
            };
            let nfunc = table.check(nfunc, data.len())?;
            let entry = |i: usize| -> Option<(u64, u64)> {
                let off = table.pcln + i * table.entry_size;
                Some((r.ptr(off)?, r.ptr(off + ptr_size)?))
            };
            let functions = collect(nfunc, &r, funcname, table.pcln, ptr_size, entry)?;
            Ok(Pclntab {
                magic,
                text_start: TextStart::Absolute,
                functions,
            })
        }
        MAGIC_118 | MAGIC_120 => {
            let header_text = r.word(2).ok_or("pclntab header truncated")?;
            let funcname = r.offset(3, "funcname")?;
            let table = Table {
                pcln: r.offset(7, "function table")?,
                entry_size: 8,
            };
            let nfunc = table.check(nfunc, data.len())?;
            let text_start = if header_text != 0 {
                TextStart::Header(header_text)
            } else {
                let first_entry = r.u32(table.pcln).ok_or("function table truncated")?;
                TextStart::Moduledata(
                    moduledata_text(vaddr, funcname as u64, first_entry, ptr_size, regions)
                        .ok_or("text start not in the pclntab header and runtime.firstmoduledata not found")?,
                )
            };
            let base = match text_start {
                TextStart::Header(t) | TextStart::Moduledata(t) => t,
                TextStart::Absolute => 0,
            };
            let entry = |i: usize| -> Option<(u64, u64)> {
                let off = table.pcln + i * 8;
                Some((
                    base.checked_add(u64::from(r.u32(off)?))?,
                    u64::from(r.u32(off + 4)?),
                ))
            };
            let functions = collect(nfunc, &r, funcname, table.pcln, 4, entry)?;
            Ok(Pclntab {
                magic,
                text_start,
                functions,
            })
        }
        other => Err(format!("unknown pclntab magic {other:#x}")),
    }
}

/// Builds the function list from `nfunc + 1` table entries (which the caller
/// checked fit); `name_field` is the offset of `nameOff` inside `_func`. The
/// names copied out may total no more than the table's size: more means they
/// overlap, which Go's linker never writes.
fn collect(
    nfunc: usize,
    r: &Reader<'_>,
    funcname: usize,
    pcln: usize,
    name_field: usize,
    entry: impl Fn(usize) -> Option<(u64, u64)>,
) -> Result<Vec<Func>, String> {
    let mut functions = Vec::with_capacity(nfunc);
    let mut name_bytes = 0usize;
    let (mut addr, mut func_off) = entry(0).ok_or("function table entry out of range")?;
    for i in 0..nfunc {
        let (next_addr, next_func_off) = entry(i + 1).ok_or("function table entry out of range")?;
        let name_off = usize::try_from(func_off)
            .ok()
            .and_then(|o| pcln.checked_add(o)?.checked_add(name_field))
            .and_then(|o| r.u32(o))
            .ok_or_else(|| format!("_func record {i} out of range"))?;
        let name = funcname
            .checked_add(name_off as usize)
            .and_then(|o| r.cstr(o))
            .ok_or_else(|| format!("name of function {i} out of range"))?;
        name_bytes += name.len() + 1;
        if name_bytes > r.data.len() {
            return Err(format!(
                "function names total more than the {}-byte table",
                r.data.len()
            ));
        }
        if next_addr < addr {
            return Err(format!("function table not sorted at {name}"));
        }
        functions.push(Func {
            name: name.to_string(),
            addr,
            size: next_addr - addr,
        });
        addr = next_addr;
        func_off = next_func_off;
    }
    Ok(functions)
}

/// Finds `runtime.firstmoduledata` by its first word, the pclntab address, and
/// returns its `text` field. The candidate must also point its `funcnametab`
/// at `pclntab + funcname`, and its `minpc` must equal `text + first entryOff`.
fn moduledata_text(
    pclntab: u64,
    funcname: u64,
    first_entry: u32,
    ptr_size: usize,
    regions: &[&[u8]],
) -> Option<u64> {
    // moduledata: pcHeader, 6 slices (3 words each), findfunctab, minpc, maxpc, text.
    const FUNCNAMETAB: usize = 1;
    const MINPC: usize = 20;
    const TEXT: usize = 22;
    let word = |b: &[u8], i: usize| -> Option<u64> {
        let off = i * ptr_size;
        match ptr_size {
            8 => Some(u64::from_le_bytes(b.get(off..off + 8)?.try_into().ok()?)),
            _ => Some(u64::from(u32::from_le_bytes(
                b.get(off..off + 4)?.try_into().ok()?,
            ))),
        }
    };
    for region in regions {
        let mut off = 0usize;
        while off + (TEXT + 1) * ptr_size <= region.len() {
            let b = &region[off..];
            if word(b, 0) == Some(pclntab) && word(b, FUNCNAMETAB) == pclntab.checked_add(funcname)
            {
                let text = word(b, TEXT)?;
                if word(b, MINPC) == text.checked_add(u64::from(first_entry)) {
                    return Some(text);
                }
            }
            off += ptr_size;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A Go 1.20-shaped table with two functions, text start `text`, written
    /// into the header when `in_header`.
    fn table(text: u64, in_header: bool) -> Vec<u8> {
        let mut t = Vec::new();
        t.extend_from_slice(&MAGIC_120.to_le_bytes());
        t.extend_from_slice(&[0, 0, 1, 8]);
        let funcname = 0x60u64;
        let pcln = 0x80u64;
        for w in [
            2,
            0,
            if in_header { text } else { 0 },
            funcname,
            0,
            0,
            0,
            pcln,
        ] {
            t.extend_from_slice(&w.to_le_bytes());
        }
        t.resize(funcname as usize, 0);
        t.extend_from_slice(b"main.main\0main.f\0");
        t.resize(pcln as usize, 0);
        // functab: entryOff, funcOff (relative to pcln) x3.
        for (e, f) in [(0u32, 0x20u32), (0x40, 0x30), (0x90, 0)] {
            t.extend_from_slice(&e.to_le_bytes());
            t.extend_from_slice(&f.to_le_bytes());
        }
        t.resize(pcln as usize + 0x20, 0);
        // _func records: entryOff, nameOff.
        t.extend_from_slice(&0u32.to_le_bytes());
        t.extend_from_slice(&0u32.to_le_bytes());
        t.resize(pcln as usize + 0x30, 0);
        t.extend_from_slice(&0x40u32.to_le_bytes());
        t.extend_from_slice(&10u32.to_le_bytes());
        t
    }

    #[test]
    fn reads_header_text_start() {
        let t = table(0x401000, true);
        let p = parse(&t, 0x500000, &[]).unwrap();
        assert_eq!(p.text_start, TextStart::Header(0x401000));
        assert_eq!(p.functions.len(), 2);
        assert_eq!(p.functions[0].name, "main.main");
        assert_eq!((p.functions[0].addr, p.functions[0].size), (0x401000, 0x40));
        assert_eq!(p.functions[1].name, "main.f");
        assert_eq!((p.functions[1].addr, p.functions[1].size), (0x401040, 0x50));
    }

    #[test]
    fn finds_text_start_in_moduledata() {
        let t = table(0x402000, false);
        let mut md = vec![0u64; 30];
        md[3] = 0x500000; // a decoy: pointer to pclntab in some other struct
        md[5] = 0x500000;
        md[6] = 0x500060;
        md[5 + 20] = 0x402000;
        md[5 + 22] = 0x402000;
        let bytes: Vec<u8> = md.iter().flat_map(|w| w.to_le_bytes()).collect();
        let p = parse(&t, 0x500000, &[&bytes]).unwrap();
        assert_eq!(p.text_start, TextStart::Moduledata(0x402000));
        assert_eq!(p.functions[1].addr, 0x402040);
    }

    #[test]
    fn refuses_missing_text_start() {
        let t = table(0x402000, false);
        let err = parse(&t, 0x500000, &[]).unwrap_err();
        assert!(err.contains("firstmoduledata"), "{err}");
    }

    #[test]
    fn refuses_unknown_magic() {
        let mut t = table(0x401000, true);
        t[0] = 0xfb;
        assert!(parse(&t, 0, &[]).unwrap_err().contains("magic"));
    }

    #[test]
    fn refuses_counts_the_table_cannot_hold() {
        for nfunc in [1000u64, 0xffff_ffff, u64::MAX / 8, u64::MAX] {
            let mut t = table(0x401000, true);
            t[8..16].copy_from_slice(&nfunc.to_le_bytes());
            let err = parse(&t, 0, &[]).unwrap_err();
            assert!(
                err.contains(&format!("declares {nfunc} functions")),
                "{nfunc}: {err}"
            );
        }
    }

    #[test]
    fn refuses_offsets_outside_the_table() {
        // funcname, then the function table offset, set past the end.
        for word in [3usize, 7] {
            let mut t = table(0x401000, true);
            let len = t.len() as u64;
            t[8 + word * 8..16 + word * 8].copy_from_slice(&len.to_le_bytes());
            let err = parse(&t, 0, &[]).unwrap_err();
            assert!(err.contains("outside the"), "{err}");
        }
        // A name offset far past the end, and a _func offset that overflows.
        let mut t = table(0x401000, true);
        t[0x80 + 0x30 + 4..0x80 + 0x30 + 8].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&t, 0, &[])
            .unwrap_err()
            .contains("name of function 1"));
        let mut t = table(0x401000, true);
        t[0x84..0x88].copy_from_slice(&u32::MAX.to_le_bytes());
        assert!(parse(&t, 0, &[]).unwrap_err().contains("_func record 0"));
        // A text start that overflows the entries.
        let t = table(u64::MAX - 0x10, true);
        assert!(parse(&t, 0, &[]).unwrap_err().contains("out of range"));
    }
}
