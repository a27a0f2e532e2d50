//! The names of Go functions as gozt shows and matches them: a symbol
//! without the vendor prefix of GOPATH-mode vendoring ([`unvendored`]), and
//! the short name the live view and the reports show ([`short_name`]).

/// The symbol with any vendor prefix removed: in GOPATH-mode vendoring,
/// `app/vendor/github.com/x/y.F` is `github.com/x/y.F`.
pub fn unvendored(symbol: &str) -> &str {
    // Only the package path may contain "/vendor/"; stop at the first '.'
    // after the last '/' of the path, which starts the function name.
    let pkg_end = symbol
        .rfind('/')
        .map(|slash| {
            symbol[slash..]
                .find('.')
                .map_or(symbol.len(), |d| slash + d)
        })
        .unwrap_or_else(|| symbol.find('.').unwrap_or(symbol.len()));
    match symbol[..pkg_end].rfind("/vendor/") {
        Some(i) => &symbol[i + "/vendor/".len()..],
        None => symbol.strip_prefix("vendor/").unwrap_or(symbol),
    }
}

/// `github.com/klauspost/compress/zstd.(*Encoder).EncodeAll` -> `zstd.(*Encoder).EncodeAll`:
/// the last element of the package path, then the rest of the symbol.
pub fn short_name(f: &str) -> &str {
    let pkg_end = f.find(".(").or_else(|| f.rfind('.')).unwrap_or(0);
    match f[..pkg_end].rfind('/') {
        Some(i) => &f[i + 1..],
        None => f,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_prefixes_are_removed() {
        assert_eq!(
            unvendored("app/vendor/github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"),
            "github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"
        );
        assert_eq!(
            unvendored("vendor/golang.org/x/net/http2.F"),
            "golang.org/x/net/http2.F"
        );
        assert_eq!(
            unvendored("compress/gzip.(*Writer).Write"),
            "compress/gzip.(*Writer).Write"
        );
        assert_eq!(unvendored("main.vendor/x.F"), "main.vendor/x.F");
    }

    #[test]
    fn short_names() {
        assert_eq!(
            short_name("github.com/klauspost/compress/zstd.(*Encoder).EncodeAll"),
            "zstd.(*Encoder).EncodeAll"
        );
        assert_eq!(
            short_name("github.com/golang/snappy.Encode"),
            "snappy.Encode"
        );
        assert_eq!(
            short_name("compress/gzip.(*Writer).Write"),
            "gzip.(*Writer).Write"
        );
        assert_eq!(short_name("main.main"), "main.main");
    }
}
