//! Every defect a fuzzer found in the binary reader, rebuilt from a matrix
//! binary by patching it (no crafted binaries are checked in), run through the
//! real `gozt probes` under a memory limit and a hang guard: each must now give
//! its one-line error and documented exit code, or the right table.
//!
//! D1 huge pclntab function count; D2 compressed DWARF declaring a huge size;
//! D3 duplicate and oversized `.symtab` functions; D4 a 2 MiB function of
//! jumps; D5 a FIFO; D6 control characters in paths, names, versions and
//! module strings, and a Go shared library.

mod common;
mod hostile;

use std::path::Path;

use hostile::{
    contract, find, function_entries, matrix_bin as bin, probes, put_u32, put_u64, section,
    section_addr, symbol_entry, tiny_go, u32_at, u64_at, zlib_section, Run, TempDir, TinySection,
    SYM_SIZE,
};

fn read(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Asserts the contract, exit `code`, and an error line holding `needle`.
fn assert_refused(run: &Run, path: &Path, code: i32, needle: &str) {
    let stderr = run.stderr();
    if let Err(e) = contract(run, false) {
        panic!("{}: {e}", path.display());
    }
    assert_eq!(run.code, Some(code), "{stderr}");
    assert!(
        stderr.starts_with(&format!("gozt: {}: ", path.display())),
        "{stderr}"
    );
    assert!(stderr.contains(needle), "{stderr:?} lacks {needle:?}");
}

/// Writes `data` as `name` in `dir` and asserts `gozt probes` refuses it.
fn refused(dir: &TempDir, name: &str, data: &[u8], code: i32, needle: &str) {
    let path = dir.write(name, data);
    assert_refused(&probes(&path, false), &path, code, needle);
}

const ENCODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";

#[test]
fn d1_a_huge_function_count_is_refused_before_allocating() {
    let dir = TempDir::new("d1");
    for (toolchain, nfunc) in [
        ("go1.19", 0xffff_ffffu64),
        ("go1.25", u64::MAX),
        ("go1.27", 1 << 40),
    ] {
        let mut data = read(&bin(toolchain, "workload-stripped"));
        let (pcln, _) = section(&data, ".gopclntab").unwrap();
        let real = u64_at(&data, pcln + 8);
        put_u64(&mut data, pcln + 8, nfunc);
        let path = dir.write(format!("{toolchain}-nfunc"), &data);
        let run = probes(&path, false);
        assert_refused(
            &run,
            &path,
            5,
            &format!(
                "malformed Go binary: pclntab declares {nfunc} functions; its function table at"
            ),
        );
        // One more function than the table holds is refused too.
        put_u64(&mut data, pcln + 8, real + 1);
        std::fs::write(&path, &data).unwrap();
        let run = probes(&path, false);
        assert_eq!(run.code, Some(5), "{}", run.stderr());
    }
}

#[test]
fn d1_d2_need_only_a_few_hundred_bytes() {
    let dir = TempDir::new("tiny");
    // Whole, the tiny binary reads as Go with nothing to probe.
    let whole = tiny_go(1, Vec::new());
    refused(
        &dir,
        "whole",
        &whole,
        7,
        "no compression functions found (go1.21.0, 1 functions searched)",
    );
    let d1 = tiny_go(0xffff_ffff, Vec::new());
    assert!(d1.len() < 600, "{} bytes", d1.len());
    refused(
        &dir,
        "d1",
        &d1,
        5,
        "malformed Go binary: pclntab declares 4294967295 functions; its function table at 0x58 has room for 2",
    );
    // A compressed .debug_info whose header declares 3 GiB.
    let d2 = tiny_go(
        1,
        vec![TinySection {
            name: ".debug_info",
            flags: 0x800,
            addr: 0,
            data: zlib_section(&[0; 100], 3 << 30),
        }],
    );
    assert!(d2.len() < 700, "{} bytes", d2.len());
    refused(
        &dir,
        "d2",
        &d2,
        5,
        "malformed Go binary: DWARF: .debug_info declares 3221225472 bytes uncompressed",
    );
}

#[test]
fn units_pointing_into_one_long_abbreviation_table_are_refused() {
    // Found while fixing D2: 30,000 DWARF units, each pointing at its own
    // place in one table of 30,000 declarations and no end. gimli parses a
    // unit's table from its offset to the table's end: quadratic, a hang for
    // a file of 90 KiB (the sections are compressed).
    let dir = TempDir::new("abbrev");
    let (mut abbrev, mut starts) = (Vec::new(), Vec::new());
    for code in 1..=30_000u32 {
        starts.push(abbrev.len() as u32);
        let mut c = code;
        while c >= 0x80 {
            abbrev.push((c & 0x7f) as u8 | 0x80);
            c >>= 7;
        }
        abbrev.push(c as u8);
        // DW_TAG_compile_unit, no children, DW_AT_name as a string.
        abbrev.extend_from_slice(&[0x11, 0, 0x03, 0x08, 0, 0]);
    }
    let mut info = Vec::new();
    for &start in &starts {
        // unit_length 7, DWARF 4, the abbreviation offset, 8-byte addresses.
        info.extend_from_slice(&7u32.to_le_bytes());
        info.extend_from_slice(&4u16.to_le_bytes());
        info.extend_from_slice(&start.to_le_bytes());
        info.push(8);
    }
    let section = |name, data: &[u8]| TinySection {
        name,
        flags: 0x800,
        addr: 0,
        data: zlib_section(data, data.len() as u64),
    };
    let data = tiny_go(
        1,
        vec![
            section(".debug_abbrev", &abbrev),
            section(".debug_info", &info),
        ],
    );
    assert!(data.len() < 100 << 10, "{} bytes", data.len());
    refused(
        &dir,
        "abbrev",
        &data,
        5,
        "malformed Go binary: DWARF: the abbreviation table at 0x0 runs into the one at 0x7",
    );
}

#[test]
fn d2_compressed_dwarf_is_inflated_only_up_to_its_cap() {
    let dir = TempDir::new("d2");
    let mut data = read(&bin("go1.19", "workload-default"));
    let (info, _) = section(&data, ".debug_info").unwrap();
    assert_eq!(u32_at(&data, info), 1, "ELFCOMPRESS_ZLIB");
    let real = u64_at(&data, info + 8);
    for (declared, needle) in [
        (
            1u64 << 40,
            "malformed Go binary: DWARF: .debug_info declares 1099511627776 bytes uncompressed; gozt inflates at most 1073741824 bytes of DWARF".to_string(),
        ),
        (
            1 << 29,
            format!("DWARF: .debug_info inflates to {real} bytes, not the 536870912 its header declares"),
        ),
        (
            real - 1,
            format!(
                "DWARF: .debug_info inflates to more than the {} bytes its header declares",
                real - 1
            ),
        ),
    ] {
        put_u64(&mut data, info + 8, declared);
        let path = dir.write("chdr", &data);
        // Both renderings read the binary first.
        for json in [false, true] {
            assert_refused(&probes(&path, json), &path, 5, &needle);
        }
    }
}

#[test]
fn d3_duplicate_symbols_are_refused_not_decoded_each() {
    let dir = TempDir::new("d3");
    let src = read(&bin("go1.19", "workload-default"));
    let encode = symbol_entry(&src, ENCODE_ALL).expect("EncodeAll in .symtab");
    let name = u32_at(&src, encode);

    // Every function symbol renamed EncodeAll, each 1 MiB long.
    let mut data = src.clone();
    let entries = function_entries(&data);
    assert!(entries.len() > 1000);
    for &e in &entries {
        put_u32(&mut data, e, name);
        put_u64(&mut data, e + 16, 1 << 20);
    }
    let path = dir.write("renamed", &data);
    for json in [false, true] {
        assert_refused(
            &probes(&path, json),
            &path,
            5,
            &format!("malformed Go binary: {ENCODE_ALL} is named by symbols at 0x"),
        );
    }

    // Every function symbol pointing at one name that fills .strtab.
    let mut data = src.clone();
    let (strtab, size) = section(&data, ".strtab").unwrap();
    data[strtab + 1..strtab + size - 1].fill(b'A');
    for &e in &entries {
        put_u32(&mut data, e, 1);
    }
    refused(
        &dir,
        "one-long-name",
        &data,
        5,
        &format!(
            "malformed Go binary: .symtab: symbol names total more than the file's {} bytes",
            data.len()
        ),
    );
}

#[test]
fn d6_sizes_from_symtab_must_stay_inside_their_function_and_text() {
    let dir = TempDir::new("d6-size");
    let src = read(&bin("go1.19", "workload-default"));
    let encode = symbol_entry(&src, ENCODE_ALL).unwrap();
    let addr = u64_at(&src, encode + 8);
    let size = u64_at(&src, encode + 16);
    let (text_addr, _) = section_addr(&src, ".text").unwrap();
    let (_, text_size) = section(&src, ".text").unwrap();
    let text_end = text_addr + text_size as u64;

    let mut data = src.clone();
    put_u64(&mut data, encode + 16, size + 4096);
    refused(
        &dir,
        "longer",
        &data,
        5,
        &format!(
            "{ENCODE_ALL} at {addr:#x}, {} bytes, runs into ",
            size + 4096
        ),
    );

    let mut data = src.clone();
    let past = text_end - addr + 1;
    put_u64(&mut data, encode + 16, past);
    refused(
        &dir,
        "past-text",
        &data,
        5,
        &format!("{ENCODE_ALL} at {addr:#x}, {past} bytes, is not inside .text"),
    );

    put_u64(&mut data, encode + 16, u64::MAX);
    let path = dir.write("wraps", &data);
    assert_refused(&probes(&path, true), &path, 5, "overflows");
}

/// The function table of a Go 1.20-1.25 pclntab (text start in the header).
struct Pcln {
    nfunc: usize,
    text_start: u64,
    funcname: usize,
    table: usize,
}

impl Pcln {
    fn read(data: &[u8]) -> Pcln {
        let (off, _) = section(data, ".gopclntab").unwrap();
        assert_eq!(u32_at(data, off), 0xffff_fff1, "a Go 1.20+ table");
        let word = |i: usize| u64_at(data, off + 8 + i * 8);
        Pcln {
            nfunc: word(0) as usize,
            text_start: word(2),
            funcname: off + word(3) as usize,
            table: off + word(7) as usize,
        }
    }
    fn entry_at(&self, i: usize) -> usize {
        self.table + i * 8
    }
    fn name<'d>(&self, data: &'d [u8], i: usize) -> &'d str {
        let func = self.table + u32_at(data, self.entry_at(i) + 4) as usize;
        let at = self.funcname + u32_at(data, func + 4) as usize;
        let end = data[at..].iter().position(|&b| b == 0).unwrap();
        std::str::from_utf8(&data[at..at + end]).unwrap()
    }
}

#[test]
fn d4_a_function_made_of_jumps_decodes_in_linear_time() {
    let dir = TempDir::new("d4");
    let mut data = read(&bin("go1.25", "workload-stripped"));
    let p = Pcln::read(&data);
    let catalog: Vec<String> = gozt::probe::catalog::entries()
        .iter()
        .map(|e| e.symbol())
        .collect();
    // A catalog function grown to cover all of .text (1.5 MiB: the matrix has
    // no larger text; `code::scan`'s own test takes 2 MiB); the functions it
    // now covers become empty ones at its start and at the end of text.
    let k = (0..p.nfunc)
        .find(|&i| catalog.iter().any(|c| c == p.name(&data, i)))
        .unwrap();
    let function = p.name(&data, k).to_string();
    let start = u32_at(&data, p.entry_at(0));
    let end_of_text = u32_at(&data, p.entry_at(p.nfunc));
    for i in 0..p.nfunc {
        let at = if i <= k { start } else { end_of_text };
        put_u32(&mut data, p.entry_at(i), at);
    }
    let len = (end_of_text - start) as usize;
    assert!(len > 3 << 19, "only {len} bytes of text");
    // Its code: a `jmp rel32` out of the function (past its end) to a new
    // place every 5 bytes, then NOPs and one RET as the last byte.
    let addr = p.text_start + u64::from(start);
    let (text_addr, text_off) = section_addr(&data, ".text").unwrap();
    let code = text_off + (addr - text_addr) as usize;
    let mut at = 0;
    while at + 5 < len {
        let ip = addr + at as u64;
        let target = addr + len as u64 + 0x10_0000 + at as u64;
        let rel = (target as i64 - (ip as i64 + 5)) as i32;
        data[code + at] = 0xe9;
        data[code + at + 1..code + at + 5].copy_from_slice(&rel.to_le_bytes());
        at += 5;
    }
    data[code + at..code + len - 1].fill(0x90);
    data[code + len - 1] = 0xc3;
    let path = dir.write("jumps", &data);

    let run = probes(&path, true);
    contract(&run, true).unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr());
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let probe = v["probes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["function"] == function.as_str())
        .unwrap_or_else(|| panic!("{function} not in the plan"));
    assert_eq!(probe["size"], len as u64);
    assert_eq!(probe["file_offset"], code as u64);
    assert_eq!(probe["ret_offsets"], serde_json::json!([code + len - 1]));
    let run = probes(&path, false);
    contract(&run, false).unwrap();
}

#[test]
fn d5_a_fifo_is_refused_without_blocking() {
    let dir = TempDir::new("d5");
    let fifo = dir.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: `c` is a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o644) }, 0);
    assert_refused(&probes(&fifo, false), &fifo, 4, "not an ELF file (a FIFO)");
    let null = Path::new("/dev/null");
    assert_refused(
        &probes(null, false),
        null,
        4,
        "not an ELF file (a character device)",
    );
}

#[test]
fn a_file_past_the_size_cap_is_refused_unread() {
    let dir = TempDir::new("large");
    // Sparse: an ELF header, then a hole up to one byte past 4 GiB.
    let path = dir.write("large", &read(&bin("go1.19", "workload-stripped"))[..64]);
    let max = gozt::go_binary::MAX_FILE;
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(max + 1)
        .unwrap();
    assert_refused(
        &probes(&path, false),
        &path,
        3,
        &format!(
            "{} bytes; gozt reads executables of up to {max} bytes",
            max + 1
        ),
    );
}

#[test]
fn d6_paths_are_escaped_in_the_table_and_in_errors() {
    let dir = TempDir::new("d6-path");
    let src = bin("go1.27", "workload-stripped");
    let link = dir.join("wl\n\x1b[31m");
    std::os::unix::fs::symlink(&src, &link).unwrap();
    let run = probes(&link, false);
    contract(&run, false).unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr());
    let first = run.stdout().lines().next().unwrap().to_string();
    assert_eq!(
        first,
        format!("binary   {}/wl\\n\\x1b[31m", dir.0.display())
    );
    let run = probes(&link, true);
    contract(&run, true).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert_eq!(v["binary"], link.to_str().unwrap());

    let manifest = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
    let bad = dir.join("bad\r\nname");
    std::os::unix::fs::symlink(&manifest, &bad).unwrap();
    let run = probes(&bad, false);
    contract(&run, false).unwrap();
    assert_eq!(
        run.stderr(),
        format!("gozt: {}/bad\\r\\nname: not an ELF file\n", dir.0.display())
    );
}

#[test]
fn d6_go_versions_are_checked_even_with_dwarf() {
    let dir = TempDir::new("d6-version");
    let src = read(&bin("go1.19", "workload-default"));
    let info = section(&src, ".go.buildinfo").unwrap();
    let at = find(&src, info, b"go1.19.8").expect("the version in the build info");
    for (version, needle) in [
        (
            &b"go2.19.8"[..],
            "Go version \"go2.19.8\" is not Go 1; gozt reads released versions, go1.N[.M]",
        ),
        (
            b"devel+ab",
            "Go version \"devel+ab\" is a development build",
        ),
        (
            b"go1.19\n8",
            "Go version \"go1.19\\n8\" is not a Go version",
        ),
        (
            b"go1.1\x1b[m",
            "Go version \"go1.1\\x1b[m\" is not a Go version",
        ),
        (
            b"go1.19.\xff",
            "Go version \"go1.19.\u{fffd}\" is not a Go version",
        ),
    ] {
        let mut data = src.clone();
        data[at..at + 8].copy_from_slice(version);
        let path = dir.write("version", &data);
        assert_refused(&probes(&path, false), &path, 5, needle);
    }
}

#[test]
fn d6_module_strings_with_control_characters_are_refused() {
    let dir = TempDir::new("d6-module");
    let src = read(&bin("go1.27", "vendored-module"));
    let info = section(&src, ".go.buildinfo").unwrap();
    let at = find(&src, info, b"github.com/klauspost/compress").expect("the dep line");
    let mut data = src.clone();
    data[at + 6] = 0x1b;
    refused(&dir, "module", &data, 5, "malformed Go binary: module info: module path with a control or space character in line \"dep\\tgithub\\x1bcom/klauspost/compress\\t");
}

#[test]
fn d6_function_names_are_escaped_in_the_table() {
    let dir = TempDir::new("d6-name");
    let src = bin("go1.27", "vendored-gopath");
    let mut data = read(&src);
    let name =
        b"gozt.example/vendored/vendor/github.com/klauspost/compress/zstd.(*Decoder).DecodeAll\0";
    let strtab = section(&data, ".strtab").unwrap();
    let at = find(&data, strtab, name).expect("DecodeAll in .strtab");
    data[at] = 0x1b;
    let path = dir.write("name", &data);
    let run = probes(&path, false);
    contract(&run, false).unwrap();
    assert_eq!(run.code, Some(0), "{}", run.stderr());
    assert!(
        run.stdout()
            .lines()
            .any(|l| l.ends_with("  \\x1bozt.example/vendored/vendor/github.com/klauspost/compress/zstd.(*Decoder).DecodeAll")),
        "{}",
        run.stdout()
    );
    let run = probes(&path, true);
    contract(&run, true).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    assert!(v["probes"].as_array().unwrap().iter().any(|p| p["function"]
        .as_str()
        .unwrap()
        .starts_with("\u{1b}ozt.example/")));
}

/// Renames `.gopclntab` in the section name table, as the external linker
/// leaves it when it merges the table into `.data.rel.ro`.
fn hide_pclntab(data: &mut [u8]) {
    let shstrtab = section(data, ".shstrtab").unwrap();
    let at = find(data, shstrtab, b".gopclntab\0").unwrap();
    data[at + 1] = b'x';
}

#[test]
fn d6_a_go_shared_library_is_named_as_one() {
    let dir = TempDir::new("d6-so");
    // A c-shared library, made from a PIE: no interpreter, no entry point,
    // and its pclntab inside .data.rel.ro rather than a section of its own.
    let mut data = read(&bin("go1.19", "workload-pie"));
    put_u64(&mut data, 24, 0);
    let phoff = u64_at(&data, 32) as usize;
    let phnum = u16::from_le_bytes([data[56], data[57]]) as usize;
    let interp = (0..phnum)
        .map(|i| phoff + i * 56)
        .find(|&p| u32_at(&data, p) == 3)
        .expect("PT_INTERP");
    put_u32(&mut data, interp, 0);
    hide_pclntab(&mut data);
    refused(
        &dir,
        "libworkload.so",
        &data,
        5,
        "a Go shared library (go1.19.8); gozt reads Go executables (static or PIE), not libraries",
    );

    // An executable that lost its pclntab is told just that.
    let mut data = read(&bin("go1.19", "workload-stripped"));
    hide_pclntab(&mut data);
    refused(
        &dir,
        "no-pclntab",
        &data,
        5,
        "not a Go binary (Go build info, but no .gopclntab)",
    );
}

#[test]
fn symbol_entries_are_where_the_helpers_say() {
    // The patching above relies on these offsets: check them on a real
    // binary against object's own reading.
    let data = read(&bin("go1.19", "workload-default"));
    let e = symbol_entry(&data, ENCODE_ALL).unwrap();
    let bin = gozt::go_binary::GoBinary::open(&bin("go1.19", "workload-default")).unwrap();
    let f = bin.functions.iter().find(|f| f.name == ENCODE_ALL).unwrap();
    assert_eq!(
        (u64_at(&data, e + 8), u64_at(&data, e + 16)),
        (f.addr, f.size)
    );
    assert!(function_entries(&data).contains(&e));
    assert_eq!(SYM_SIZE, 24);
}
