//! `.go.buildinfo`: the Go version and the module list embedded by the linker.
//!
//! Layout (Go's `debug/buildinfo` documents it): a 32-byte header starting with
//! `"\xff Go buildinf:"`, then the pointer size and a flags byte. With flag bit
//! 1 set (Go 1.18+) the version and module info follow inline as
//! uvarint-length-prefixed strings; before that, two pointers to Go string
//! headers. The module info is framed by 16 sentinel bytes on each side.

use serde::Serialize;

use super::layout::Layout;

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
/// pre-1.18 format.
pub fn parse(section: &[u8], file: &[u8], layout: &Layout) -> Option<BuildInfo> {
    if !section.starts_with(MAGIC) || section.len() < HEADER_LEN {
        return None;
    }
    let ptr_size = section[14] as usize;
    let flags = section[15];
    let (version, modinfo) = if flags & FLAG_INLINE != 0 {
        let (version, rest) = inline_string(&section[HEADER_LEN..])?;
        let (modinfo, _) = inline_string(rest)?;
        (version.to_vec(), modinfo.to_vec())
    } else {
        let string_at = |addr: u64| -> Option<Vec<u8>> {
            let header = layout.bytes(file, addr, 2 * ptr_size as u64)?;
            let data = read_ptr(header, ptr_size)?;
            let len = read_ptr(&header[ptr_size..], ptr_size)?;
            Some(layout.bytes(file, data, len)?.to_vec())
        };
        let version_ptr = read_ptr(&section[16..], ptr_size)?;
        let modinfo_ptr = read_ptr(&section[16 + ptr_size..], ptr_size)?;
        (
            string_at(version_ptr)?,
            string_at(modinfo_ptr).unwrap_or_default(),
        )
    };
    Some(BuildInfo {
        go_version: String::from_utf8_lossy(&version).into_owned(),
        modules: parse_modinfo(&String::from_utf8_lossy(strip_sentinels(&modinfo))),
    })
}

/// Parses the text module info (`path`, `mod`, `dep`, `=>` and `build` lines).
pub fn parse_modinfo(modinfo: &str) -> Vec<Module> {
    let mut modules: Vec<Module> = Vec::new();
    for line in modinfo.lines() {
        let mut fields = line.split('\t');
        match fields.next() {
            Some(kind @ ("mod" | "dep")) => {
                let path = fields.next().unwrap_or_default().to_string();
                let version = fields.next().unwrap_or_default().to_string();
                modules.push(Module {
                    path,
                    version,
                    replaced_by: None,
                    main: kind == "mod",
                });
            }
            Some("=>") => {
                let path = fields.next().unwrap_or_default();
                let version = fields.next().unwrap_or_default();
                if let Some(last) = modules.last_mut() {
                    last.replaced_by = Some(format!("{path} {version}").trim().to_string());
                }
            }
            _ => {}
        }
    }
    modules
}

/// `go1.21.13` -> `(1, 21)`; development and unknown versions yield `None`.
pub fn major_minor(version: &str) -> Option<(u32, u32)> {
    let v = version.strip_prefix("go")?;
    let mut parts = v.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(parse(b"not build info at all, clearly", &[], &Layout::default()).is_none());
    }

    #[test]
    fn versions() {
        assert_eq!(major_minor("go1.19.8"), Some((1, 19)));
        assert_eq!(major_minor("go1.26rc1"), Some((1, 26)));
        assert_eq!(major_minor("devel +abc"), None);
    }
}
