//! The layout of `net/http.Request` that gozt reads at a request's entry
//! (its method, its URL's path) and at a payload (the mux's pattern): from
//! DWARF, else by Go version for stripped binaries.
//!
//! The table's values were read from the DWARF of binaries built with each
//! toolchain of the test matrix (Go 1.19 to 1.27), which the test suite
//! checks it against for every toolchain it builds: `Method` is the first
//! field, `URL` the third word, `url.URL.Path` follows `Scheme`, `Opaque`,
//! `User` and `Host`; `Pattern` (Go 1.23+) follows `Response`.

use serde::Serialize;

use super::buildinfo::major_minor;
use super::dwarf::Dwarf;
use super::OffsetSource;

/// Where the request's fields are, in bytes from its start (the URL's path
/// from the `url.URL`'s).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct RequestLayout {
    pub method: u64,
    pub url: u64,
    pub url_path: u64,
    /// `Request.Pattern`, set by the ServeMux: None before Go 1.23.
    pub pattern: Option<u64>,
    pub source: OffsetSource,
}

const REQUEST: &str = "net/http.Request";
const URL: &str = "net/url.URL";

/// The first minor version with `Request.Pattern`, and its offset.
const PATTERN_FROM_MINOR: (u32, u64) = (23, 232);

impl RequestLayout {
    /// From DWARF: None unless it describes both structs.
    pub fn from_dwarf(d: &Dwarf) -> Option<RequestLayout> {
        let m = d.struct_members(&[REQUEST, URL]);
        let req = m.get(REQUEST)?;
        let url = m.get(URL)?;
        Some(RequestLayout {
            method: *req.get("Method")?,
            url: *req.get("URL")?,
            url_path: *url.get("Path")?,
            pattern: req.get("Pattern").copied(),
            source: OffsetSource::Dwarf,
        })
    }

    /// By Go version (`go1.21.13`): Go 1.x from 1.17 on.
    pub fn for_version(version: &str) -> Option<RequestLayout> {
        let (major, minor) = major_minor(version)?;
        if major != 1 || minor < 17 {
            return None;
        }
        Some(RequestLayout {
            method: 0,
            url: 16,
            url_path: 56,
            pattern: (minor >= PATTERN_FROM_MINOR.0).then_some(PATTERN_FROM_MINOR.1),
            source: OffsetSource::Table,
        })
    }

    /// The same offsets, wherever they came from.
    pub fn same_offsets(&self, other: &RequestLayout) -> bool {
        (self.method, self.url, self.url_path, self.pattern)
            == (other.method, other.url, other.url_path, other.pattern)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pattern_comes_with_go_1_23() {
        let old = RequestLayout::for_version("go1.22.9").unwrap();
        assert_eq!((old.method, old.url, old.url_path), (0, 16, 56));
        assert_eq!(old.pattern, None);
        assert_eq!(
            RequestLayout::for_version("go1.23.0").unwrap().pattern,
            Some(232)
        );
        assert_eq!(RequestLayout::for_version("go1.16.15"), None);
        assert_eq!(RequestLayout::for_version("devel"), None);
    }
}
