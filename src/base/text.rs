//! Text that comes from outside gozt — strings read from a binary, and file
//! paths — made safe to print: every control or invisible formatting character
//! is shown as an escape (`\n`, `\x1b`, `\u{202e}`), bytes that are not UTF-8
//! as `\xNN`, and a backslash as `\\`, so one message stays one line and no
//! terminal sequence reaches the screen.

use std::fmt::{self, Display, Write as _};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// Displays bytes with everything unprintable escaped.
#[derive(Debug, Clone, Copy)]
pub struct Escaped<'a>(pub &'a [u8]);

/// `s`, escaped for display.
pub fn escape(s: &str) -> Escaped<'_> {
    Escaped(s.as_bytes())
}

/// `path`, escaped for display (non-UTF-8 bytes included).
pub fn path(path: &Path) -> Escaped<'_> {
    Escaped(path.as_os_str().as_bytes())
}

/// True for characters that must not be printed as they are: C0 and C1
/// controls, DEL, and the invisible ones that reorder or break lines.
pub fn unprintable(c: char) -> bool {
    c.is_control()
        || matches!(
            c,
            '\u{061c}' | '\u{200b}'..='\u{200f}' | '\u{2028}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
        )
}

impl Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            for c in chunk.valid().chars() {
                match c {
                    '\\' => f.write_str("\\\\")?,
                    '\n' => f.write_str("\\n")?,
                    '\r' => f.write_str("\\r")?,
                    '\t' => f.write_str("\\t")?,
                    c if unprintable(c) && (c as u32) < 0x80 => write!(f, "\\x{:02x}", c as u32)?,
                    c if unprintable(c) => write!(f, "\\u{{{:x}}}", c as u32)?,
                    c => f.write_char(c)?,
                }
            }
            for b in chunk.invalid() {
                write!(f, "\\x{b:02x}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_what_a_terminal_would_act_on() {
        assert_eq!(escape("main.main").to_string(), "main.main");
        assert_eq!(
            escape("a\nb\x1b[31m\tc\u{7f}\\").to_string(),
            "a\\nb\\x1b[31m\\tc\\x7f\\\\"
        );
        assert_eq!(
            escape("\u{85}x\u{202e}y\u{2028}").to_string(),
            "\\u{85}x\\u{202e}y\\u{2028}"
        );
        // Printable Unicode (Go identifiers may use it) stays.
        assert_eq!(escape("pkg.Größe·f").to_string(), "pkg.Größe·f");
    }

    #[test]
    fn escapes_bytes_that_are_not_utf8() {
        let p = Path::new(std::ffi::OsStr::from_bytes(b"/tmp/\xff\xfe\nx"));
        assert_eq!(path(p).to_string(), "/tmp/\\xff\\xfe\\nx");
    }
}
