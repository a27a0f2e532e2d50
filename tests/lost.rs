//! One meaning of "lost" everywhere: the text report lists every loss
//! (`Cause::is_loss`) with its count, the JSON report has every cause, the
//! exporter exports every loss under its JSON name, and the live view's
//! header and `--interval`'s lines both show `Lost::calls_lost()`. Each
//! cause gets its own power of two, so any cause left out or counted twice
//! shows.

mod common;

use std::time::Duration;

use gozt::event::{Cause, Lost};
use gozt::exporter::Metrics;
use gozt::render::report::TextOptions;
use gozt::stats::{Aggregator, IntervalReport, Report};
use gozt::tui::App;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

/// Every cause counted, each with its own bit.
fn lost() -> Lost {
    let mut json = serde_json::Map::new();
    for (i, c) in Cause::ALL.iter().enumerate() {
        json.insert(c.key().to_string(), (1u64 << i).into());
    }
    serde_json::from_value(json.into()).unwrap()
}

fn report() -> Report {
    let agg = Aggregator::new(common::catalog_funcs(2), gozt::stats::Rules::DEFAULT);
    agg.report(Vec::new(), 10.0, lost())
}

#[test]
fn calls_lost_are_the_calls_gozt_saw_begin_and_did_not_measure() {
    let l = lost();
    let calls: Vec<&str> = Cause::ALL
        .iter()
        .filter(|c| l.calls_lost() & l.get(**c) != 0)
        .map(|c| c.key())
        .collect();
    assert_eq!(
        calls,
        [
            "ringbuf_full",
            "inflight_full",
            "read_failed",
            "aged_out",
            "abandoned",
            "in_flight_at_exit"
        ]
    );
}

#[test]
fn the_text_and_json_reports_list_every_cause() {
    let r = report();
    let text = gozt::render::report::text(&r, &TextOptions::default());
    let lost_lines: String = text
        .lines()
        .skip_while(|l| !l.starts_with("lost: "))
        .take_while(|l| l.starts_with("lost: ") || l.starts_with("      "))
        .collect::<Vec<_>>()
        .join(" ");
    for (c, n) in r.lost.iter() {
        let said = format!(" {n} {}", c.label());
        assert_eq!(
            lost_lines.contains(&said),
            c.is_loss(),
            "{said}: {lost_lines}"
        );
    }
    let json: serde_json::Value = serde_json::from_str(&gozt::render::report::json(&r)).unwrap();
    for (c, n) in r.lost.iter() {
        assert_eq!(json["lost"][c.key()], n, "{}", c.key());
    }
}

#[test]
fn the_exporter_exports_every_loss() {
    let mut m = Metrics::new(common::catalog_funcs(2), gozt::stats::Rules::DEFAULT);
    let l = lost();
    m.lost(&l);
    let text = m.encode();
    for (c, n) in l.iter() {
        let series = format!("gozt_lost_events_total{{cause=\"{}\"}} {n}\n", c.key());
        assert_eq!(text.contains(&series), c.is_loss(), "{series}");
    }
}

#[test]
fn the_live_view_and_the_intervals_show_calls_lost() {
    let r = report();
    let want = r.lost.calls_lost();
    let iv = IntervalReport::new(&r, "2026-12-01T08:51:34.000Z".into());
    let line = gozt::render::interval::text(&iv, &TextOptions::default(), false, false);
    assert!(line.contains(&format!(" {want} lost")), "{line}");
    let mut app = App::new();
    app.update(r.clone(), r.lost, Duration::from_secs(10));
    let mut t = Terminal::new(TestBackend::new(120, 30)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer().clone();
    let header: String = (0..120).map(|x| buf[(x, 1)].symbol().to_string()).collect();
    assert!(
        header.trim_end().ends_with(&format!("lost {want}")),
        "{header}"
    );
}
