//! The page's tables. Every number is written twice: as the reader sees it
//! (`6.09ms`, `2.458%`) and raw in `data-v`, which the sort script and the
//! tests read; `data-u` names the unit that turns one into the other, and
//! `data-json` the JSON pointer of the value in the report (so a test can
//! check every number on the page against the JSON).

use std::fmt::Write as _;

use super::escape;
use crate::render::format::{bytes, nanos, percent};

/// How a value is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A count, as is.
    Count,
    /// Nanoseconds, in human units.
    Ns,
    /// Bytes, in human units.
    Bytes,
    /// A rate, as a percentage with 3 decimals.
    Rate,
    /// Text.
    Text,
}

impl Unit {
    fn name(self) -> &'static str {
        match self {
            Unit::Count => "count",
            Unit::Ns => "ns",
            Unit::Bytes => "bytes",
            Unit::Rate => "rate",
            Unit::Text => "text",
        }
    }
}

/// One value: what is shown, what is sorted on, where it comes from.
#[derive(Debug, Clone)]
pub struct Value {
    pub shown: String,
    pub raw: String,
    pub unit: Unit,
    /// Its JSON pointer in the report, if it is one of its values.
    pub json: Option<String>,
    /// A title (the full name of a shortened one).
    pub title: Option<String>,
}

impl Value {
    pub fn count(json: impl Into<Option<String>>, v: u64) -> Value {
        Value::of(v.to_string(), v.to_string(), Unit::Count, json.into())
    }

    pub fn ns(json: impl Into<Option<String>>, v: u64) -> Value {
        Value::of(nanos(v), v.to_string(), Unit::Ns, json.into())
    }

    /// Bytes; `n/a` when not observed (sorted as -1).
    pub fn bytes(json: impl Into<Option<String>>, v: u64, observed: bool) -> Value {
        if observed {
            Value::of(bytes(v), v.to_string(), Unit::Bytes, json.into())
        } else {
            Value::of("n/a".into(), "-1".into(), Unit::Text, None)
        }
    }

    pub fn rate(json: impl Into<Option<String>>, v: f64) -> Value {
        Value::of(percent(v, 3), v.to_string(), Unit::Rate, json.into())
    }

    pub fn text(json: impl Into<Option<String>>, s: &str) -> Value {
        Value::of(s.to_string(), s.to_string(), Unit::Text, json.into())
    }

    fn of(shown: String, raw: String, unit: Unit, json: Option<String>) -> Value {
        Value {
            shown,
            raw,
            unit,
            json,
            title: None,
        }
    }

    /// Shown as `shown` (a short name), with `self`'s text as its title.
    pub fn short(mut self, shown: &str) -> Value {
        if shown != self.shown {
            self.title = Some(std::mem::replace(&mut self.shown, shown.to_string()));
        }
        self
    }

    /// Its data attributes.
    pub fn attrs(&self) -> String {
        let mut s = format!(
            " data-v=\"{}\" data-u=\"{}\"",
            escape(&self.raw),
            self.unit.name()
        );
        if let Some(j) = &self.json {
            let _ = write!(s, " data-json=\"{}\"", escape(j));
        }
        if let Some(t) = &self.title {
            let _ = write!(s, " title=\"{}\"", escape(t));
        }
        s
    }

    /// As an inline element.
    pub fn span(&self) -> String {
        format!("<span{}>{}</span>", self.attrs(), escape(&self.shown))
    }
}

/// A column: its key (`data-col`), its title, and whether it sorts as
/// numbers.
pub struct Column {
    pub key: &'static str,
    pub title: &'static str,
    pub numeric: bool,
}

pub const fn col(key: &'static str, title: &'static str) -> Column {
    Column {
        key,
        title,
        numeric: true,
    }
}

pub const fn text_col(key: &'static str, title: &'static str) -> Column {
    Column {
        key,
        title,
        numeric: false,
    }
}

/// A table named `name` (`data-table`), with a caption; rows are keyed
/// (`data-key`). Sortable tables get a button in each header.
pub struct Table {
    name: String,
    caption: String,
    columns: Vec<Column>,
    sortable: bool,
    body: String,
    rows: usize,
}

impl Table {
    pub fn new(name: &str, caption: &str, columns: Vec<Column>, sortable: bool) -> Table {
        Table {
            name: name.to_string(),
            caption: caption.to_string(),
            columns,
            sortable,
            body: String::new(),
            rows: 0,
        }
    }

    /// Adds a row; `values` in the columns' order.
    pub fn row(&mut self, key: &str, values: &[Value]) {
        debug_assert_eq!(values.len(), self.columns.len());
        let _ = write!(self.body, "<tr data-key=\"{}\">", escape(key));
        for (c, v) in self.columns.iter().zip(values) {
            let tag = if c.numeric { "td class=\"n\"" } else { "td" };
            let _ = write!(
                self.body,
                "<{tag} data-col=\"{}\"{}>{}</td>",
                c.key,
                v.attrs(),
                escape(&v.shown)
            );
        }
        self.body.push_str("</tr>\n");
        self.rows += 1;
    }

    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    pub fn html(&self) -> String {
        let mut s = format!(
            "<div class=\"scroll\" tabindex=\"0\" role=\"region\" aria-label=\"{}\">\
             <table data-table=\"{}\"{}>\n<caption>{}</caption>\n<thead><tr>",
            escape(&self.caption),
            escape(&self.name),
            if self.sortable {
                " class=\"sortable\""
            } else {
                ""
            },
            escape(&self.caption)
        );
        for c in &self.columns {
            let class = if c.numeric { " class=\"n\"" } else { "" };
            let kind = if c.numeric { "num" } else { "text" };
            if self.sortable {
                let _ = write!(
                    s,
                    "<th scope=\"col\"{class} data-col=\"{}\" data-type=\"{kind}\"><button type=\"button\">{}</button></th>",
                    c.key,
                    escape(c.title)
                );
            } else {
                let _ = write!(
                    s,
                    "<th scope=\"col\"{class} data-col=\"{}\">{}</th>",
                    c.key,
                    escape(c.title)
                );
            }
        }
        let _ = write!(
            s,
            "</tr></thead>\n<tbody>\n{}</tbody></table></div>\n",
            self.body
        );
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_carry_what_they_show_raw() {
        let v = Value::ns("/functions/0/latency_ns/p99".to_string(), 6_086_655);
        assert_eq!(
            v.span(),
            "<span data-v=\"6086655\" data-u=\"ns\" data-json=\"/functions/0/latency_ns/p99\">6.09ms</span>"
        );
        assert_eq!(Value::rate(None, 0.003).shown, "0.300%");
        assert_eq!(Value::bytes(None, 5, false).shown, "n/a");
        let mut t = Table::new("t", "A <table>", vec![text_col("name", "Name")], true);
        t.row("a\"b", &[Value::text(None, "full.name").short("name")]);
        let h = t.html();
        assert!(h.contains("<caption>A &lt;table&gt;</caption>"), "{h}");
        assert!(h.contains("data-key=\"a&quot;b\""), "{h}");
        assert!(h.contains("title=\"full.name\">name</td>"), "{h}");
        assert!(h.contains("<button type=\"button\">Name</button>"), "{h}");
    }
}
