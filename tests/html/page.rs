//! Reading a page back: its elements that carry data (`data-*`), in
//! document order, from the HTML text (a small tag scanner, for the page
//! gozt writes) or from a browser's DOM; and the checks that compare them
//! with the JSON report and its intervals.

use std::collections::{BTreeMap, BTreeSet};

use gozt::render::format::{bytes, nanos, percent};
use gozt::render::html::timeline::MAX_COLUMNS;
use gozt::stats::{failure_rate, rules, State};
use serde_json::Value;

/// An element: its tag, attributes and text.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Node {
    pub tag: String,
    pub attrs: BTreeMap<String, String>,
    pub text: String,
}

impl Node {
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.get(name).map(String::as_str)
    }

    fn num(&self, name: &str) -> u64 {
        self.attr(name)
            .unwrap_or_else(|| panic!("no {name}: {self:?}"))
            .parse()
            .unwrap_or_else(|e| panic!("{name}: {e}: {self:?}"))
    }
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

/// Whether a tag is one the checks read.
fn wanted(tag: &str, attrs: &BTreeMap<String, String>) -> bool {
    matches!(tag, "table" | "tr" | "th" | "td" | "span" | "div")
        && attrs.keys().any(|k| k.starts_with("data-"))
}

/// The elements with data attributes in `html`, in document order; the
/// text is what the element holds up to its first child tag.
pub fn scan(html: &str) -> Vec<Node> {
    let mut out = Vec::new();
    let mut rest = html;
    // Skip the script and style, which hold no elements.
    while let Some(lt) = rest.find('<') {
        rest = &rest[lt + 1..];
        if rest.starts_with("script") || rest.starts_with("style") {
            let close = if rest.starts_with("script") {
                "</script>"
            } else {
                "</style>"
            };
            rest = &rest[rest.find(close).map_or(rest.len(), |i| i + close.len())..];
            continue;
        }
        let Some(gt) = rest.find('>') else { break };
        let tag_src = &rest[..gt];
        rest = &rest[gt + 1..];
        if tag_src.starts_with('/') || tag_src.starts_with('!') {
            continue;
        }
        let name_end = tag_src
            .find(|c: char| c.is_whitespace())
            .unwrap_or(tag_src.len());
        let tag = tag_src[..name_end].to_ascii_lowercase();
        let mut attrs = BTreeMap::new();
        let mut a = &tag_src[name_end..];
        while let Some(eq) = a.find("=\"") {
            let name = a[..eq].trim().to_string();
            let v_end = a[eq + 2..].find('"').expect("a closed attribute");
            attrs.insert(name, unescape(&a[eq + 2..eq + 2 + v_end]));
            a = &a[eq + 2 + v_end + 1..];
        }
        if wanted(&tag, &attrs) {
            let text_end = rest.find('<').unwrap_or(rest.len());
            out.push(Node {
                tag,
                attrs,
                text: unescape(&rest[..text_end]),
            });
        }
    }
    out
}

/// The browser's script that lists the same elements from the DOM.
pub const DOM_NODES: &str = r#"JSON.stringify(Array.from(document.querySelectorAll(
  "table,tr,th,td,span,div")).filter(e => Array.from(e.attributes).some(a => a.name.startsWith("data-")))
  .map(e => ({tag: e.tagName.toLowerCase(),
    attrs: Object.fromEntries(Array.from(e.attributes).map(a => [a.name, a.value])),
    text: e.firstChild && e.firstChild.nodeType === 3 ? e.firstChild.nodeValue : ""})))"#;

/// Checks every value on the page that names its place in the report
/// (`data-json`): the raw value equals the JSON's, and the text shown is
/// that value in its unit. Returns the places seen.
pub fn check_values(nodes: &[Node], report: &Value) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    for n in nodes {
        let Some(ptr) = n.attr("data-json") else {
            continue;
        };
        let want = report
            .pointer(ptr)
            .unwrap_or_else(|| panic!("{ptr} is not in the report: {n:?}"));
        let raw = n.attr("data-v").expect("data-v");
        let unit = n.attr("data-u").expect("data-u");
        let int = || {
            let v: u64 = raw.parse().unwrap_or_else(|e| panic!("{ptr}: {e}"));
            assert_eq!(Some(v), want.as_u64(), "{ptr}: {n:?}");
            v
        };
        let shown = match unit {
            "count" => int().to_string(),
            "ns" => nanos(int()),
            "bytes" => bytes(int()),
            "rate" | "seconds" => {
                let v: f64 = raw.parse().unwrap();
                assert_eq!(Some(v), want.as_f64(), "{ptr}: {n:?}");
                if unit == "rate" {
                    percent(v, 3)
                } else {
                    format!("{v:.1}")
                }
            }
            "text" => {
                assert_eq!(Some(raw), want.as_str(), "{ptr}: {n:?}");
                // A long name is shown short, whole in its title.
                if n.attr("title") == Some(raw) {
                    n.text.clone()
                } else {
                    raw.to_string()
                }
            }
            other => panic!("{ptr}: unit {other}"),
        };
        assert_eq!(n.text, shown, "{ptr}: shown as {:?}, is {raw}", n.text);
        seen.insert(ptr.to_string());
    }
    seen
}

/// The places every page must show: the headline, each function's counts,
/// latencies and buckets, each caller, the top 20 goroutines, each loss.
pub fn expected(report: &Value) -> Vec<String> {
    let mut want: Vec<String> = [
        "/totals/failure_rate",
        "/totals/eligible",
        "/totals/calls",
        "/totals/payloads",
        "/totals/failures",
        "/totals/errors",
        "/totals/incompressible",
        "/totals/not_judged",
        "/alert_threshold",
        "/min_size",
        "/min_eligible",
        "/duration_s",
    ]
    .map(String::from)
    .to_vec();
    let list = |key: &str| report[key].as_array().cloned().unwrap_or_default();
    for (i, f) in list("functions").iter().enumerate() {
        for k in [
            "calls",
            "payloads",
            "eligible",
            "failures",
            "errors",
            "incompressible",
            "failure_rate",
            "latency_ns/p50",
            "latency_ns/p99",
            "latency_ns/max",
            "time_ns",
        ] {
            want.push(format!("/functions/{i}/{k}"));
        }
        for h in ["histogram", "size_histogram"] {
            for j in 0..f[h].as_array().map_or(0, Vec::len) {
                for k in ["min", "max", "count"] {
                    want.push(format!("/functions/{i}/{h}/{j}/{k}"));
                }
            }
        }
    }
    for i in 0..list("callers").len() {
        for k in ["calls", "latency_ns/p50", "latency_ns/p99"] {
            want.push(format!("/callers/{i}/{k}"));
        }
    }
    let goroutines = list("goroutines");
    let mut order: Vec<usize> = (0..goroutines.len()).collect();
    order.sort_by_key(|&i| {
        let g = &goroutines[i];
        (std::cmp::Reverse(g["time_ns"].as_u64()), g["goid"].as_u64())
    });
    for &i in order.iter().take(20) {
        for k in ["goid", "calls", "failure_rate", "time_ns"] {
            want.push(format!("/goroutines/{i}/{k}"));
        }
    }
    for k in report["lost"].as_object().unwrap().keys() {
        want.push(format!("/lost/{k}"));
    }
    want
}

/// Checks the page's values and that it shows every expected one.
pub fn check_report(nodes: &[Node], report: &Value) -> usize {
    let seen = check_values(nodes, report);
    let missing: Vec<String> = expected(report)
        .into_iter()
        .filter(|p| !seen.contains(p))
        .collect();
    assert!(missing.is_empty(), "not on the page: {missing:?}");
    seen.len()
}

/// The counts of a function (or, `""`, all of them) in interval `line`.
fn counts(line: &Value, key: &str) -> Option<(u64, u64, u64, String)> {
    let c = if key.is_empty() {
        &line["totals"]
    } else {
        line["functions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["function"] == key && f["inner"] != true)?
    };
    let n = |k: &str| c[k].as_u64().unwrap();
    Some((
        n("failures"),
        n("eligible"),
        n("calls"),
        c["state"].as_str().unwrap().to_string(),
    ))
}

/// Checks the heatmap's table against the intervals (`lines`): each column
/// holds the next `data-intervals` of them, each cell the sum of their
/// counts, its rate and state judged by the report's rules. Returns the
/// cells checked.
pub fn check_heatmap(nodes: &[Node], lines: &[Value], report: &Value) -> usize {
    let start = nodes
        .iter()
        .position(|n| n.tag == "table" && n.attr("data-table") == Some("heatmap"))
        .expect("a heatmap table");
    let end = nodes[start + 1..]
        .iter()
        .position(|n| n.tag == "table")
        .map_or(nodes.len(), |i| start + 1 + i);
    let table = &nodes[start + 1..end];
    // The columns: which intervals each holds.
    let mut spans = Vec::new();
    let mut next = 0usize;
    for th in table
        .iter()
        .filter(|n| n.tag == "th" && n.attr("data-end").is_some())
    {
        let k = th.num("data-intervals") as usize;
        assert!(k >= 1);
        let last = &lines[next + k - 1];
        assert_eq!(th.attr("data-end"), last["time"].as_str(), "{th:?}");
        spans.push(next..next + k);
        next += k;
    }
    assert_eq!(next, lines.len(), "every interval in a column");
    assert!(spans.len() <= MAX_COLUMNS);
    let threshold = report["alert_threshold"].as_f64().unwrap();
    let min_eligible = report["min_eligible"].as_u64().unwrap();
    let mut rows = Vec::new();
    let mut checked = 0;
    let mut key = None;
    for n in table {
        match n.tag.as_str() {
            "tr" if n.attr("data-key").is_some() => {
                key = n.attr("data-key").map(String::from);
                rows.push(key.clone().unwrap());
            }
            "td" => {
                let key = key.as_deref().expect("a cell in a row");
                let col: usize = n.attr("data-col").unwrap().parse().unwrap();
                let span = spans[col].clone();
                let one = span.len() == 1;
                let (mut f, mut e, mut c, mut state, mut any) = (0, 0, 0, String::new(), false);
                for line in &lines[span] {
                    if let Some((lf, le, lc, ls)) = counts(line, key) {
                        (f, e, c, state, any) = (f + lf, e + le, c + lc, ls, true);
                    }
                }
                if !any {
                    assert_eq!(n.attr("data-calls"), Some("0"), "{key} {col}: {n:?}");
                    assert_eq!(n.text, "no calls");
                    continue;
                }
                assert_eq!(n.num("data-failures"), f, "{key} {col}");
                assert_eq!(n.num("data-eligible"), e, "{key} {col}");
                assert_eq!(n.num("data-calls"), c, "{key} {col}");
                let rate: f64 = n.attr("data-v").unwrap().parse().unwrap();
                assert_eq!(rate, failure_rate(f, e), "{key} {col}");
                if !one {
                    state = rules::state(f, e, threshold, min_eligible)
                        .name()
                        .to_string();
                }
                assert_eq!(n.attr("data-state"), Some(state.as_str()), "{key} {col}");
                let few = if state == State::TooFew.name() {
                    "too few: "
                } else {
                    ""
                };
                assert_eq!(
                    n.text,
                    format!("{few}{} ({f} of {e})", percent(rate, 3)),
                    "{key} {col}"
                );
                checked += 1;
            }
            _ => {}
        }
    }
    // A row for all functions, then one per function with eligible
    // payloads (not inner).
    let mut want: Vec<String> = report["functions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["inner"] != true && f["eligible"].as_u64() > Some(0))
        .map(|f| f["function"].as_str().unwrap().to_string())
        .collect();
    want.sort();
    assert_eq!(rows.first().map(String::as_str), Some(""), "{rows:?}");
    let mut got = rows[1..].to_vec();
    got.sort();
    assert_eq!(got, want);
    checked
}

/// The rows of table `name`: each row's key and its cells' attribute
/// `attr` (`data-v`: the raw values) by column.
pub fn rows(nodes: &[Node], name: &str, attr: &str) -> Vec<(String, BTreeMap<String, String>)> {
    let start = nodes
        .iter()
        .position(|n| n.tag == "table" && n.attr("data-table") == Some(name))
        .unwrap_or_else(|| panic!("no table {name}"));
    let mut out: Vec<(String, BTreeMap<String, String>)> = Vec::new();
    for n in nodes[start + 1..].iter().take_while(|n| n.tag != "table") {
        match n.tag.as_str() {
            "tr" => out.push((
                n.attr("data-key").unwrap_or("").to_string(),
                BTreeMap::new(),
            )),
            "td" => {
                if let (Some(row), Some(col)) = (out.last_mut(), n.attr("data-col")) {
                    let v = n.attr(attr).unwrap_or("");
                    row.1.insert(col.to_string(), v.to_string());
                }
            }
            _ => {}
        }
    }
    out
}
