//! Which functions `--func` selects. A pattern is a glob (`*`, `?`, `[...]`,
//! `{a,b}`, by the `globset` crate) matched against each of a function's
//! names: the symbol as in the binary, the symbol without a vendor prefix,
//! and the short name the live view and reports show
//! (`zstd.(*Encoder).EncodeAll`). Go's `(*T)` is matched as written: the
//! `*` in it matches itself, so a name copied from any output selects its
//! function.

use globset::{Glob, GlobMatcher};

use crate::go_binary::names::short_name;
use crate::go_binary::names::unvendored;
use crate::go_binary::GoBinary;
use crate::probe::plan::Plan;

/// A compiled `--func` pattern.
fn compile(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Ok(Glob::new(pattern)?.compile_matcher())
}

/// Checks every `--func` pattern; the error names the first bad one.
pub fn validate(patterns: &[String]) -> Result<(), String> {
    for p in patterns {
        compile(p).map_err(|e| format!("invalid --func '{p}': {}", e.kind()))?;
    }
    Ok(())
}

/// The names `function` answers to: as in the binary, without a vendor
/// prefix, and short.
fn names(function: &str) -> [&str; 3] {
    let plain = unvendored(function);
    [function, plain, short_name(plain)]
}

/// Whether `function` (a symbol as in the binary) is selected by
/// `patterns`: no pattern selects everything; otherwise any pattern
/// matching any of its names.
pub fn matches(patterns: &[String], function: &str) -> bool {
    if patterns.is_empty() {
        return true;
    }
    let names = names(function);
    patterns.iter().any(|p| {
        // Patterns are checked when the flags are resolved; one that does
        // not compile here can still match exactly.
        match compile(p) {
            Ok(m) => names.iter().any(|n| m.is_match(n)),
            Err(_) => names.contains(&p.as_str()),
        }
    })
}

/// The short names of the functions gozt can probe in `bin`, sorted, for
/// the message when a selection matches nothing.
pub fn available(bin: &GoBinary) -> Vec<String> {
    let mut names: Vec<String> = Plan::build(bin)
        .map(|plan| plan.probes)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.usable())
        .map(|p| short_name(unvendored(&p.function)).to_string())
        .collect();
    names.sort();
    names.dedup();
    names
}

#[cfg(test)]
mod tests {
    use super::{matches, validate};

    const ENCODE_ALL: &str = "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";

    fn m(pattern: &str, function: &str) -> bool {
        matches(&[pattern.to_string()], function)
    }

    #[test]
    fn full_short_and_glob_names_select() {
        assert!(m(ENCODE_ALL, ENCODE_ALL));
        assert!(m("zstd.(*Encoder).EncodeAll", ENCODE_ALL));
        assert!(m("*zstd*", ENCODE_ALL));
        assert!(m("*.EncodeAll", ENCODE_ALL));
        assert!(m("zstd.*", ENCODE_ALL));
        assert!(m("s?.Decode", "github.com/klauspost/compress/s2.Decode"));
        assert!(m(
            "gzip.(*Writer).{Write,Close}",
            "compress/gzip.(*Writer).Close"
        ));
        assert!(!m("*.Decode", "github.com/klauspost/compress/s2.DecodeAll"));
        assert!(!m(
            "zstd.(*Encoder).EncodeAll",
            "github.com/klauspost/compress/zstd.(*Decoder).DecodeAll"
        ));
        assert!(
            !m("EncodeAll", ENCODE_ALL),
            "a bare method name is not a name"
        );
        assert!(matches(&[], ENCODE_ALL), "no --func selects everything");
    }

    #[test]
    fn vendored_symbols_answer_to_their_plain_and_short_names() {
        let vendored =
            "example.com/app/vendor/github.com/klauspost/compress/zstd.(*Encoder).EncodeAll";
        assert!(m(ENCODE_ALL, vendored));
        assert!(m("zstd.(*Encoder).EncodeAll", vendored));
        assert!(m("github.com/klauspost/*", vendored));
        assert!(m(vendored, vendored));
    }

    #[test]
    fn bad_patterns_are_named() {
        assert!(validate(&["zstd.*".into()]).is_ok());
        let e = validate(&["zstd.*".into(), "[zstd".into()]).unwrap_err();
        assert!(e.starts_with("invalid --func '[zstd': "), "{e}");
    }
}
