//! Saved reports, read back for `gozt report`: a JSON report as `--json`
//! writes it (docs/report.schema.json), or the JSON Lines of `--interval
//! --json`, whose last line is the final report (the lines before it, the
//! intervals, are read for `--html`).

use std::path::Path;

use serde::Deserialize as _;

use crate::base::error::{Error, Result};
use crate::stats::{IntervalReport, Report};

/// Reads the report saved in `path`.
pub fn read(path: &Path) -> Result<Report> {
    read_with(path, None)
}

/// Reads the report saved in `path`, giving each interval before it to
/// `on_interval` in order.
pub fn read_with(
    path: &Path,
    on_interval: Option<&mut dyn FnMut(&IntervalReport)>,
) -> Result<Report> {
    let bytes = std::fs::read(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound {
            path: path.to_path_buf(),
        },
        _ => Error::Io {
            path: path.to_path_buf(),
            source: e,
        },
    })?;
    parse_with(&bytes, on_interval).map_err(|what| Error::NotReport {
        path: path.to_path_buf(),
        what,
    })
}

/// The report in `bytes`: the last JSON value there (one pretty report, or
/// the last line of JSON Lines). The error says what is wrong.
pub fn parse(bytes: &[u8]) -> std::result::Result<Report, String> {
    parse_with(bytes, None)
}

/// [`parse`], giving each value before the last to `on_interval`: an
/// interval report, or an error saying which line is not one.
fn parse_with(
    bytes: &[u8],
    mut on_interval: Option<&mut dyn FnMut(&IntervalReport)>,
) -> std::result::Result<Report, String> {
    let mut last: Option<serde_json::Value> = None;
    for (i, value) in serde_json::Deserializer::from_slice(bytes)
        .into_iter::<serde_json::Value>()
        .enumerate()
    {
        let value = value.map_err(|e| format!("not JSON: {e}"))?;
        if let (Some(f), Some(before)) = (on_interval.as_mut(), last.replace(value)) {
            let interval = IntervalReport::deserialize(&before)
                .map_err(|e| format!("line {i}: not an interval report: {e}"))?;
            f(&interval);
        }
    }
    let value = last.ok_or("empty")?;
    if value.get("type").and_then(|t| t.as_str()) == Some("interval") {
        return Err(
            "its last line is an interval report: the run ended before its final report"
                .to_string(),
        );
    }
    Report::deserialize(&value).map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn what_is_not_a_report_says_why() {
        assert_eq!(parse(b"").unwrap_err(), "empty");
        assert!(parse(b"{\"targets\": [")
            .unwrap_err()
            .starts_with("not JSON"));
        let e = parse(b"[1, 2]").unwrap_err();
        assert!(e.contains("invalid type"), "{e}");
        assert!(parse(b"{\"type\":\"interval\",\"time\":\"x\"}\n")
            .unwrap_err()
            .contains("interval report"));
        assert!(parse(b"{\"targets\": []}")
            .unwrap_err()
            .contains("missing field"));
    }
}
