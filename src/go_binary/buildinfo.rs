//! `.go.buildinfo`: the Go version and the module list embedded by the linker.
//!
//! Layout (Go's `debug/buildinfo` documents it): a 32-byte header starting with
//! `"\xff Go buildinf:"`, then the pointer size and a flags byte. With flag bit
//! 1 set (Go 1.18+) the version and module info follow inline as
//! uvarint-length-prefixed strings; before that, two pointers to Go string
//! headers. The module info is framed by 16 sentinel bytes on each side.

use serde::Serialize;

use super::layout::Layout;
use crate::base::text;

const MAGIC: &[u8] = b"\xff Go buildinf:";
const HEADER_LEN: usize = 32;
const FLAG_INLINE: u8 = 0x2;

/// One dependency line (`dep` or `mod`) of the module info.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Module {
    pub path: String,
    pub version: String,
    /// `=>` replacement, as `path version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    /// True for the main module (`mod` line).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub main: bool,
}

/// What the build info holds.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// For example `go1.19.8`.
    pub go_version: String,
    pub modules: Vec<Module>,
}

impl BuildInfo {
    /// The main module's version (`(devel)` for a local build).
    pub fn main_version(&self) -> Option<&str> {
        self.modules
            .iter()
            .find(|m| m.main)
            .map(|m| m.version.as_str())
            .filter(|v| !v.is_empty())
    }
}

/// The Go build ID in the contents of a `.note.go.buildid` section: an ELF
/// note (name size, description size, type 4, name "Go", each 4-aligned)
/// whose description is the ID.
pub fn go_build_id(note: &[u8]) -> Option<String> {
    let word = |i: usize| -> Option<usize> {
        let b = note.get(i..i + 4)?;
        Some(u32::from_ne_bytes(b.try_into().ok()?) as usize)
    };
    let (name_size, desc_size, kind) = (word(0)?, word(4)?, word(8)?);
    let name = note.get(12..12 + name_size)?;
    let name_end = name.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
    if kind != 4 || &name[..name_end] != b"Go" {
        return None;
    }
    let desc_at = 12 + name_size.div_ceil(4) * 4;
    let desc = note.get(desc_at..desc_at.checked_add(desc_size)?)?;
    let id = std::str::from_utf8(desc).ok()?.trim_end_matches('\0');
    (!id.is_empty() && id.chars().all(|c| c.is_ascii_graphic())).then(|| id.to_string())
}

fn uvarint(data: &[u8]) -> Option<(u64, usize)> {
    let mut value = 0u64;
    for (i, &b) in data.iter().enumerate().take(10) {
        value |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Some((value, i + 1));
        }
    }
    None
}

fn inline_string(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (len, n) = uvarint(data)?;
    let rest = data.get(n..)?;
    let s = rest.get(..len as usize)?;
    Some((s, &rest[len as usize..]))
}

/// The module info without its 16-byte sentinels.
fn strip_sentinels(modinfo: &[u8]) -> &[u8] {
    const SENTINEL: usize = 16;
    if modinfo.len() > 2 * SENTINEL && modinfo[modinfo.len() - SENTINEL - 1] == b'\n' {
        &modinfo[SENTINEL..modinfo.len() - SENTINEL]
    } else {
        modinfo
    }
}

fn read_ptr(data: &[u8], ptr_size: usize) -> Option<u64> {
    match ptr_size {
        8 => Some(u64::from_le_bytes(data.get(..8)?.try_into().ok()?)),
        4 => Some(u64::from(u32::from_le_bytes(
            data.get(..4)?.try_into().ok()?,
        ))),
        _ => None,
    }
}

/// Parses the section contents; `file` and `layout` resolve the pointers of the
/// pre-1.18 format. `Ok(None)` when the section is not Go build info at all;
/// an error when it is, but does not hold together.
pub fn parse(section: &[u8], file: &[u8], layout: &Layout) -> Result<Option<BuildInfo>, String> {
    if !section.starts_with(MAGIC) {
        return Ok(None);
    }
    if section.len() < HEADER_LEN {
        return Err(format!(
            "build info: {} bytes, shorter than its {HEADER_LEN}-byte header",
            section.len()
        ));
    }
    let ptr_size = section[14] as usize;
    let flags = section[15];
    let (version, modinfo) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = inline_string(&section[HEADER_LEN..])
            .ok_or("build info: the Go version runs past the section")?;
        let (modinfo, _) =
            inline_string(rest).ok_or("build info: the module info runs past the section")?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return Err(format!("build info: pointer size {ptr_size}"));
        }
        let string_at = |addr: u64| -> Option<Vec<u8>> {
            let header = layout.bytes(file, addr, 2 * ptr_size as u64)?;
            let data = read_ptr(header, ptr_size)?;
            let len = read_ptr(&header[ptr_size..], ptr_size)?;
            Some(layout.bytes(file, data, len)?.to_vec())
        };
        let version_ptr = read_ptr(&section[16..], ptr_size).unwrap_or(0);
        let modinfo_ptr = read_ptr(&section[16 + ptr_size..], ptr_size).unwrap_or(0);
        (
            string_at(version_ptr).ok_or_else(|| {
                format!("build info: the Go version at {version_ptr:#x} is not in the file")
            })?,
            string_at(modinfo_ptr).unwrap_or_default(),
        )
    };
    let go_version = String::from_utf8_lossy(&version).into_owned();
    check_version(&go_version)?;
    let modules = parse_modinfo(&String::from_utf8_lossy(strip_sentinels(&modinfo)))?;
    Ok(Some(BuildInfo {
        go_version,
        modules,
    }))
}

/// Longest module path, version or replacement gozt accepts.
const MAX_MODULE_FIELD: usize = 4096;

/// Checks one field of a module line: printable, bounded, and without
/// whitespace unless `spaces` (a replacement directory may hold spaces).
fn module_field(line: &str, what: &str, s: &str, spaces: bool) -> Result<String, String> {
    let bad = |c: char| text::unprintable(c) || (!spaces && c.is_whitespace());
    if s.len() > MAX_MODULE_FIELD {
        return Err(format!("module info: {what} of {} bytes", s.len()));
    }
    if s.chars().any(bad) {
        let line: String = line.chars().take(200).collect();
        return Err(format!(
            "module info: {what} with a control or space character in line \"{line}\""
        ));
    }
    Ok(s.to_string())
}

/// Parses the text module info (`path`, `mod`, `dep`, `=>` and `build` lines),
/// refusing module paths and versions that no Go tool would write.
pub fn parse_modinfo(modinfo: &str) -> Result<Vec<Module>, String> {
    let mut modules: Vec<Module> = Vec::new();
    for line in modinfo.lines() {
        let mut fields = line.split('\t');
        match fields.next() {
            Some(kind @ ("mod" | "dep")) => {
                let path = fields.next().unwrap_or_default();
                if path.is_empty() {
                    return Err(format!("module info: a {kind} line without a path"));
                }
                let path = module_field(line, "module path", path, false)?;
                let version =
                    module_field(line, "version", fields.next().unwrap_or_default(), false)?;
                modules.push(Module {
                    path,
                    version,
                    replaced_by: None,
                    main: kind == "mod",
                });
            }
            Some("=>") => {
                let path =
                    module_field(line, "replacement", fields.next().unwrap_or_default(), true)?;
                let version =
                    module_field(line, "version", fields.next().unwrap_or_default(), false)?;
                if let Some(last) = modules.last_mut() {
                    last.replaced_by = Some(format!("{path} {version}").trim().to_string());
                }
            }
            _ => {}
        }
    }
    Ok(modules)
}

/// Longest version string gozt accepts (`go1.21.13 X:boringcrypto` is 25).
const MAX_VERSION: usize = 128;

/// Checks the syntax of a release version as the linker records it:
/// `go1.N`, `go1.N.M` or `go1.NrcK`/`go1.NbetaK`, optionally followed by a
/// space or `-` and printable ASCII (`go1.21.0 X:boringcrypto`). Returns
/// `(major, minor)`, or says in one sentence why the version is refused.
pub fn check_version(version: &str) -> Result<(u32, u32), String> {
    let refuse = |why: &str| {
        let shown: String = version.chars().take(MAX_VERSION).collect();
        Err(format!(
            "Go version \"{shown}\" {why}; gozt reads released versions, go1.N[.M]"
        ))
    };
    if version.len() > MAX_VERSION {
        return refuse("is too long");
    }
    if version.starts_with("devel") {
        return refuse("is a development build");
    }
    let Some(rest) = version.strip_prefix("go") else {
        return refuse("is not a Go version");
    };
    let number = |s: &str| -> Option<(u32, usize)> {
        let n = s.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 || n > 3 || (n > 1 && s.starts_with('0')) {
            return None;
        }
        Some((s[..n].parse().ok()?, n))
    };
    let Some((major, n)) = number(rest) else {
        return refuse("is not a Go version");
    };
    let Some(rest) = rest[n..].strip_prefix('.') else {
        return refuse("is not a Go version");
    };
    let Some((minor, n)) = number(rest) else {
        return refuse("is not a Go version");
    };
    let mut rest = &rest[n..];
    if let Some(r) = rest.strip_prefix('.') {
        let Some((_, n)) = number(r) else {
            return refuse("is not a Go version");
        };
        rest = &r[n..];
    } else if let Some(r) = rest
        .strip_prefix("rc")
        .or_else(|| rest.strip_prefix("beta"))
    {
        let Some((_, n)) = number(r) else {
            return refuse("is not a Go version");
        };
        rest = &r[n..];
    }
    let suffix_ok = rest.is_empty()
        || (rest.starts_with([' ', '-', '+']) && rest.bytes().all(|b| (0x20..0x7f).contains(&b)));
    if !suffix_ok {
        return refuse("is not a Go version");
    }
    if major != 1 {
        return refuse("is not Go 1");
    }
    Ok((major, minor))
}

/// `go1.21.13` -> `(1, 21)`; development and unknown versions yield `None`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    check_version(version).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_go_build_id_is_read_from_its_note() {
        // A Go 1.27 build's note, as `readelf -x .note.go.buildid` shows it.
        let id =
            "jPaBKZVImbiIBosMp0QA/xg5lRKCZDaF_sEceJ1ho/KemFoSXMcodKB-SJD1jA/xEVVXl2daJPUxLwOVSEs";
        let mut note = Vec::new();
        for w in [4u32, id.len() as u32, 4] {
            note.extend(w.to_ne_bytes());
        }
        note.extend(b"Go\0\0");
        note.extend(id.as_bytes());
        note.push(0);
        assert_eq!(go_build_id(&note).as_deref(), Some(id));
        // Another note, or one cut short: none.
        note[8] = 3;
        assert_eq!(go_build_id(&note), None);
        note[8] = 4;
        assert_eq!(go_build_id(&note[..40]), None);
    }

    fn inline_section(version: &str, modinfo: &str) -> Vec<u8> {
        let mut s = MAGIC.to_vec();
        s.push(8);
        s.push(FLAG_INLINE);
        s.resize(HEADER_LEN, 0);
        for text in [version, modinfo] {
            let mut len = text.len();
            loop {
                let b = (len & 0x7f) as u8;
                len >>= 7;
                if len == 0 {
                    s.push(b);
                    break;
                }
                s.push(b | 0x80);
            }
            s.extend_from_slice(text.as_bytes());
        }
        s
    }

    #[test]
    fn parses_inline_format_with_modules() {
        let modinfo = "0123456789abcdefpath\texample.com/svc\nmod\texample.com/svc\t(devel)\t\ndep\tgithub.com/klauspost/compress\tv1.15.12\th1:abc=\ndep\tgithub.com/golang/snappy\tv0.0.2\t\n=>\t../snappy\t\t\nbuild\t-compiler=gc\n0123456789abcdef";
        let bi = parse(
            &inline_section("go1.21.13", modinfo),
            &[],
            &Layout::default(),
        )
        .unwrap()
        .unwrap();
        assert_eq!(bi.go_version, "go1.21.13");
        assert_eq!(bi.modules.len(), 3);
        assert!(bi.modules[0].main);
        assert_eq!(bi.modules[1].path, "github.com/klauspost/compress");
        assert_eq!(bi.modules[1].version, "v1.15.12");
        assert_eq!(bi.modules[2].replaced_by.as_deref(), Some("../snappy"));
    }

    #[test]
    fn rejects_other_sections() {
        assert_eq!(
            parse(b"not build info at all, clearly", &[], &Layout::default()),
            Ok(None)
        );
    }

    #[test]
    fn refuses_truncated_strings() {
        let mut s = inline_section("go1.21.13", "");
        s.truncate(HEADER_LEN + 4);
        let err = parse(&s, &[], &Layout::default()).unwrap_err();
        assert!(err.contains("Go version runs past the section"), "{err}");
        // A length prefix of 2^63 must not be trusted either.
        let mut s = inline_section("", "");
        s.truncate(HEADER_LEN);
        s.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert!(parse(&s, &[], &Layout::default()).is_err());
    }

    #[test]
    fn refuses_module_lines_with_control_characters() {
        let bad = "0123456789abcdefpath\tx\nmod\tx\t(devel)\t\ndep\tgithub.com/a\x1b[2J\tv1.0.0\t\n0123456789abcdef";
        let err = parse(&inline_section("go1.21.13", bad), &[], &Layout::default()).unwrap_err();
        assert!(err.contains("module path with a control"), "{err}");
        let bad = "dep\tgithub.com/a\tv1.0.0\t\n=>\t../a b\tv1\x07\t\n";
        assert!(parse_modinfo(bad)
            .unwrap_err()
            .contains("version with a control"));
        // A local replacement directory may hold spaces.
        let ok = parse_modinfo("dep\tgithub.com/a\tv1.0.0\t\n=>\t../a b\t\t\n").unwrap();
        assert_eq!(ok[0].replaced_by.as_deref(), Some("../a b"));
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("go1.19.8"), Some((1, 19)));
        assert_eq!(major_minor("go1.26rc1"), Some((1, 26)));
        assert_eq!(major_minor("devel +abc"), None);
        assert_eq!(major_minor("go1.21.0 X:boringcrypto"), Some((1, 21)));
        assert_eq!(major_minor("go1.17"), Some((1, 17)));
        assert_eq!(major_minor("go1.9beta2"), Some((1, 9)));
        for bad in [
            "go2.0.0",
            "go1.19\n8",
            "go1.19.8\x1b[31m",
            "go1.",
            "go1.019",
            "go1.1234",
            "go1.21.0X",
            "go1.21.0 \u{202e}",
            "devel go1.22-abc",
            "",
        ] {
            assert_eq!(major_minor(bad), None, "{bad:?}");
            assert!(check_version(bad)
                .unwrap_err()
                .contains("gozt reads released"));
        }
        assert!(check_version("devel go1.22-abc")
            .unwrap_err()
            .contains("development build"));
    }
}
