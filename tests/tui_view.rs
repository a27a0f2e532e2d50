//! The live view without a terminal or root: reports built from replayed
//! events are drawn on ratatui's TestBackend at 100x30, 80x24 and 60x15 and
//! compared with golden snapshots (tests/golden/tui_*.txt; `GOZT_BLESS=1`
//! rewrites them), and each key does what the help says. Long goroutine
//! ids, a histogram longer than its pane, the sort arrow on every column
//! and the failure rate's two windows each have a test.

mod common;

use std::time::Duration;

use gozt::event::{CallEvent, Lost};
use gozt::probe::catalog::entries;
use gozt::stats::{Aggregator, FuncMeta, Report, Symbolizer, TargetInfo};
use gozt::tui::{Action, App, Pane};
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Terminal;

struct Named;

impl Symbolizer for Named {
    fn function_at(&mut self, _pid: u32, addr: u64) -> Option<String> {
        Some(
            ["main.(*server).handleGet", "main.(*server).handleUpload"][(addr % 2) as usize]
                .to_string(),
        )
    }
}

/// A session `seconds` long: the one-shot zstd and snappy functions, six
/// goroutines, failures in known places, latencies spread over buckets.
fn session(agg: &mut Aggregator, from: u64, to: u64) {
    for i in from..to {
        let func_id = (i % 4) as u32;
        let ev = CallEvent {
            tgid: 4242,
            proc_start_ns: 0,
            ret_ip: 0,
            goid: 10 + i % 6,
            func_id,
            start_ns: i * 1000,
            duration_ns: 2_000 + (i * 7919) % 90_000 + if func_id == 1 { 50_000 } else { 0 },
            bytes_in: Some(4096 + (i % 5) * 512),
            // Every 40th compress call does not shrink its input.
            bytes_out: Some(if i % 40 == 0 { 5000 } else { 1500 }),
            error: func_id == 2 && i % 30 == 2,
            stack: vec![0x401000 + i],
            ..Default::default()
        };
        agg.add(&ev, &mut Named);
    }
}

fn aggregator() -> Aggregator {
    let wanted = [
        "EncodeAll",
        "DecodeAll",
        "Decode", // snappy
        "Encode", // snappy
    ];
    let all = entries();
    let funcs: Vec<FuncMeta> = wanted
        .iter()
        .map(|name| {
            let e = all
                .iter()
                .find(|e| {
                    e.name == *name
                        && (e.package.ends_with("/zstd") || e.package.ends_with("golang/snappy"))
                })
                .unwrap();
            FuncMeta {
                function: e.symbol(),
                entry: *e,
                target: 0,
                sinks: false,
            }
        })
        .collect();
    Aggregator::new(funcs, gozt::stats::Rules::DEFAULT)
}

fn report(agg: &Aggregator, secs: u64) -> Report {
    let targets = vec![TargetInfo {
        pid: 4242,
        binary: "/srv/demo-service".into(),
        go_version: "go1.27.3".into(),
        ..TargetInfo::default()
    }];
    agg.report(targets, secs as f64, Lost::default())
}

/// An app that has watched three seconds of 1200 calls each.
fn watched() -> App {
    let mut agg = aggregator();
    let mut app = App::new();
    for s in 0..=3u64 {
        session(&mut agg, s * 1200, (s + 1) * 1200);
        app.update(report(&agg, s), Lost::default(), Duration::from_secs(s));
    }
    app
}

fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer().clone();
    let mut out = String::new();
    for y in 0..h {
        let line: String = (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn key(c: char) -> KeyEvent {
    KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE)
}

#[test]
fn snapshots_at_100x30_80x24_and_60x15() {
    let mut app = watched();
    common::golden("tui_100x30.txt", &screen(&mut app, 100, 30));
    let small = screen(&mut app, 80, 24);
    common::golden("tui_80x24.txt", &small);
    // 80x24 is usable: the header, every function, the goroutines, the
    // detail and the key line all show.
    assert!(small.contains("ALERT"), "{small}");
    for f in [
        "zstd.(*Encoder).EncodeAll",
        "snappy.Decode",
        "snappy.Encode",
    ] {
        assert!(small.contains(f), "{f}: {small}");
    }
    assert!(small.contains("goroutines (6)"), "{small}");
    assert!(small.contains("q quit"), "{small}");
    // 60x15 is usable too: the top functions, the goroutines, the detail
    // and the keys (help included) still show.
    let tiny = screen(&mut app, 60, 15);
    common::golden("tui_60x15.txt", &tiny);
    assert!(tiny.contains("ALERT"), "{tiny}");
    assert!(
        tiny.contains("snappy.Decode") && tiny.contains("CALLS▼"),
        "{tiny}"
    );
    assert!(tiny.contains("goroutines (6)"), "{tiny}");
    assert!(tiny.contains("? help"), "{tiny}");
    assert!(
        tiny.contains("32.8us-65.5us"),
        "the histogram's mode: {tiny}"
    );
    assert!(tiny.lines().all(|l| l.chars().count() <= 60));
    app.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    common::golden("tui_goroutine_80x24.txt", &screen(&mut app, 80, 24));
}

#[test]
fn from_120_columns_every_column_shows() {
    let mut app = watched();
    let s = screen(&mut app, 120, 40);
    let header = s.lines().find(|l| l.contains("FUNCTION")).unwrap();
    for c in gozt::tui::Column::ALL {
        assert!(header.contains(c.title()), "{c:?}: {header}");
    }
}

#[test]
fn below_60x15_the_functions_still_show() {
    let mut app = watched();
    let s = screen(&mut app, 40, 10);
    for f in ["snappy.Decode", "snappy.Encode", "zstd.(*Decoder).Deco"] {
        assert!(s.contains(f), "{f}: {s}");
    }
    assert!(!s.contains("goroutines"), "no room for the goroutines: {s}");
}

#[test]
fn the_sort_arrow_shows_on_every_column_at_every_width() {
    let mut app = watched();
    for _ in 0..gozt::tui::Column::ALL.len() {
        app.key(key('s'));
        for w in [60, 80, 100] {
            let s = screen(&mut app, w, 24);
            let title = format!("{}▼", app.sort.title());
            assert!(s.contains(&title), "{title} at {w} columns:\n{s}");
        }
    }
}

#[test]
fn failure_rates_last_second_and_since_start_use_one_formula() {
    let mut app = watched();
    let s = screen(&mut app, 100, 30);
    // snappy.Decode: 20 errors in each second's 300 calls, 80 in 1200:
    // both windows say 6.67 %, as its FAIL% cell does.
    let rate = gozt::render::format::percent(gozt::tui::failure_rate(20, 300), 2);
    assert_eq!(rate, "6.67%");
    assert!(s.contains("FAIL% last 1s 6.67%, since start 6.67%"), "{s}");
    let row = s.lines().find(|l| l.contains("snappy.Decode ")).unwrap();
    assert!(row.contains(" 6.67%"), "{row}");
    // A second of no failures: the last second says 0, since start less.
    let mut agg = aggregator();
    session(&mut agg, 0, 4800);
    clean_second(&mut agg);
    app.update(report(&agg, 4), Lost::default(), Duration::from_secs(4));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("FAIL% last 1s 0.00%, since start 5.33%"), "{s}");
}

/// Adds one second of 1200 calls without a failure to `agg`.
fn clean_second(agg: &mut Aggregator) {
    for i in 0..1200u64 {
        let ev = ok_call(10 + i % 6, (i % 4) as u32, 2_000 + (i * 7919) % 90_000);
        agg.add(&ev, &mut Named);
    }
}

/// A call that compressed 4096 bytes to 1500 without an error.
fn ok_call(goid: u64, func_id: u32, duration_ns: u64) -> CallEvent {
    CallEvent {
        tgid: 4242,
        proc_start_ns: 0,
        ret_ip: 0,
        goid,
        func_id,
        start_ns: 0,
        duration_ns,
        bytes_in: Some(4096),
        bytes_out: Some(1500),
        error: false,
        stack: vec![0x401000],
        ..Default::default()
    }
}

#[test]
fn long_goroutine_ids_are_whole_and_distinct() {
    let mut agg = aggregator();
    for (i, goid) in [1_202_210u64, 1_202_211, 120_221, 98_765_432_101]
        .into_iter()
        .enumerate()
    {
        for _ in 0..=i {
            agg.add(&ok_call(goid, 0, 10_000 * (i as u64 + 1)), &mut Named);
        }
    }
    let mut app = App::new();
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    for (w, h) in [(80, 24), (60, 15)] {
        let s = screen(&mut app, w, h);
        for id in ["1202210", "1202211", "120221", "98765432101"] {
            assert!(
                s.lines().any(|l| l.contains(&format!("│{id} "))),
                "{id} at {w}x{h}:\n{s}"
            );
        }
    }
    common::golden("tui_goids_80x24.txt", &screen(&mut app, 80, 24));
}

#[test]
fn a_histogram_longer_than_its_pane_says_what_is_cut() {
    // One function, latencies from 1 us to 8 ms: 14 log2 buckets, and a
    // p99 far out in the tail.
    let mut agg = aggregator();
    for i in 0..2000u64 {
        // Doubling from 1.5 us: most calls in the first buckets, one in a
        // hundred at 6 ms.
        let bucket = match i % 100 {
            0..=49 => i % 4,
            50..=89 => 4 + i % 4,
            90..=98 => 8 + i % 4,
            _ => 12,
        };
        agg.add(&ok_call(10 + i % 3, 0, 1_500 << bucket), &mut Named);
    }
    let mut app = App::new();
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    let s = screen(&mut app, 80, 24);
    common::golden("tui_tail_80x24.txt", &s);
    let r = report(&agg, 1);
    let f = &r.functions[0];
    assert!(f.histogram.len() > 10, "{:?}", f.histogram);
    // The last bucket shown and the mark below it: the calls above it.
    let mark = s
        .lines()
        .find(|l| l.contains("more above"))
        .unwrap_or_else(|| panic!("no tail mark:\n{s}"));
    let at = mark.find("more above").unwrap();
    let bound = mark[at + "more above ".len()..]
        .split_whitespace()
        .next()
        .unwrap()
        .trim_end_matches('│');
    // The calls in the buckets past the last one shown.
    let last = f
        .histogram
        .iter()
        .find(|b| gozt::render::format::nanos(b.max + 1) == bound)
        .unwrap_or_else(|| panic!("{bound}: no such bucket bound"));
    let hidden: u64 = f
        .histogram
        .iter()
        .filter(|b| b.min > last.max)
        .map(|b| b.count)
        .sum();
    assert!(hidden > 0);
    assert!(
        mark.contains(&format!("… {hidden} more above {bound}")),
        "{mark}"
    );
    // 100x40 has room for every bucket: no mark.
    let big = screen(&mut app, 100, 40);
    assert!(!big.contains("more above"), "{big}");
}
#[test]
fn header_shows_rates_alert_and_loss() {
    let mut app = watched();
    let s = screen(&mut app, 100, 30);
    let first = s.lines().next().unwrap();
    assert!(
        first.contains("pid 4242 demo-service (go1.27.3)"),
        "{first}"
    );
    assert!(first.contains("00:00:03"), "{first}");
    assert!(first.contains("1200 calls/s"), "{first}");
    let second = s.lines().nth(1).unwrap();
    assert!(second.contains("ALERT"), "{second}");
    assert!(second.contains("4800 calls"), "{second}");
    assert!(second.contains("lost 0"), "{second}");
}

#[test]
fn keys_sort_move_switch_pause_reset_help_and_quit() {
    let mut app = watched();
    // s cycles the sort column; with FAIL% the worst function comes first
    // (EncodeAll: 120 incompressible in 1200, 10%). The selection stays on
    // the function it was on; g takes it to the first row.
    let encode_all = Some("github.com/klauspost/compress/zstd.(*Encoder).EncodeAll");
    let first = app.selected_function();
    while app.sort != gozt::tui::Column::FailureRate {
        assert_eq!(app.key(key('s')), Action::None);
    }
    assert_eq!(app.selected_function(), first);
    app.key(key('g'));
    assert_eq!(app.selected_function().as_deref(), encode_all);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("FAIL%▼"), "{s}");
    // j moves the selection down, k back up.
    app.key(key('j'));
    let second = app.selected_function();
    assert_eq!(second.as_deref(), Some("github.com/golang/snappy.Decode"));
    app.key(KeyEvent::new(KeyCode::Up, KeyModifiers::NONE));
    assert_eq!(app.selected_function().as_deref(), encode_all);
    // Tab switches to the goroutines, whose breakdown shows on the right.
    app.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(app.pane, Pane::Goroutines);
    let top = app.selected_goroutine().unwrap();
    app.key(key('j'));
    assert_ne!(app.selected_goroutine().unwrap(), top);
    let s = screen(&mut app, 100, 30);
    let (pid, goid) = app.selected_goroutine().unwrap();
    assert!(s.contains(&format!("goroutine {goid} (pid {pid})")), "{s}");
    // p freezes the view: a new snapshot is ignored until p again.
    app.key(key('p'));
    let mut agg = aggregator();
    session(&mut agg, 0, 10);
    app.update(report(&agg, 9), Lost::default(), Duration::from_secs(9));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("PAUSED") && s.contains("4800 calls"), "{s}");
    app.key(key('p'));
    app.update(report(&agg, 9), Lost::default(), Duration::from_secs(9));
    let s = screen(&mut app, 100, 30);
    assert!(!s.contains("PAUSED") && s.contains(" 10 calls"), "{s}");
    // r asks the session to reset.
    assert_eq!(app.key(key('r')), Action::Reset);
    // ? shows the help; any key closes it.
    app.key(key('?'));
    assert!(screen(&mut app, 80, 24).contains("pause the view"));
    app.key(key('x'));
    assert!(!screen(&mut app, 80, 24).contains("pause the view"));
    // q and Ctrl-C quit.
    assert_eq!(app.key(key('q')), Action::Quit);
    assert_eq!(
        app.key(KeyEvent::new(KeyCode::Char('c'), KeyModifiers::CONTROL)),
        Action::Quit
    );
}

/// The functions table's highlighted row, and the detail pane's title
/// (the top border's text right of the table's split).
fn highlighted(app: &mut App) -> (Option<String>, String) {
    let (w, h) = (100, 30);
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| app.draw(f)).unwrap();
    let buf = t.backend().buffer().clone();
    let line = |y: u16| -> String { (0..w).map(|x| buf[(x, y)].symbol().to_string()).collect() };
    let row = (0..h)
        .find(|&y| {
            (1..w - 1).all(|x| {
                buf[(x, y)]
                    .modifier
                    .contains(ratatui::style::Modifier::REVERSED)
            })
        })
        .map(|y| line(y).trim_matches(|c| c == '│' || c == ' ').to_string());
    // The detail pane's border: the last line that starts the bottom panes.
    let top = (0..h)
        .map(line)
        .rfind(|l| l.starts_with("┌goroutines"))
        .unwrap();
    let title = top[top.rfind('┌').unwrap()..]
        .trim_start_matches('┌')
        .trim_end()
        .trim_end_matches('┐')
        .trim_end_matches('─')
        .to_string();
    (row, title)
}

/// `calls` calls of catalog function `func_id` (0 EncodeAll, 1 DecodeAll,
/// 2 snappy.Decode, 3 snappy.Encode) on goroutine `goid`, each `ns` long.
fn calls(agg: &mut Aggregator, func_id: u32, goid: u64, calls: u64, ns: u64) {
    for _ in 0..calls {
        agg.add(&ok_call(goid, func_id, ns), &mut Named);
    }
}

#[test]
fn the_selection_follows_its_function_across_re_sorts_pauses_and_resets() {
    let decode_all = "zstd.(*Decoder).DecodeAll";
    let on = |row: &Option<String>, name: &str| row.as_deref().is_some_and(|r| r.starts_with(name));
    let mut agg = aggregator();
    let mut app = App::new();
    // DecodeAll leads: the first row, selected.
    calls(&mut agg, 1, 10, 30, 5_000);
    calls(&mut agg, 0, 11, 10, 5_000);
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    let (row, title) = highlighted(&mut app);
    assert!(on(&row, decode_all), "{row:?}");
    assert_eq!(title, decode_all);
    // EncodeAll overtakes it: the rows re-sort, the selection and the
    // detail stay on DecodeAll, now the second row.
    calls(&mut agg, 0, 11, 50, 5_000);
    app.update(report(&agg, 2), Lost::default(), Duration::from_secs(2));
    let (row, title) = highlighted(&mut app);
    assert!(on(&row, decode_all), "{row:?}");
    assert_eq!(title, decode_all);
    let s = screen(&mut app, 100, 30);
    let first = s.lines().find(|l| l.contains("zstd.(*")).unwrap();
    assert!(first.contains("EncodeAll"), "EncodeAll on top now:\n{s}");
    // Another sort column: still DecodeAll.
    for _ in 0..3 {
        app.key(key('s'));
        let (row, title) = highlighted(&mut app);
        assert!(on(&row, decode_all), "{:?}: {row:?}", app.sort);
        assert_eq!(title, decode_all);
    }
    while app.sort != gozt::tui::Column::Calls {
        app.key(key('s'));
    }
    // Paused, the view keeps its rows; resumed, the new order comes and
    // the selection stays.
    app.key(key('p'));
    calls(&mut agg, 2, 12, 200, 5_000);
    app.update(report(&agg, 3), Lost::default(), Duration::from_secs(3));
    assert!(on(&highlighted(&mut app).0, decode_all));
    app.key(key('p'));
    app.update(report(&agg, 3), Lost::default(), Duration::from_secs(3));
    let (row, title) = highlighted(&mut app);
    assert!(on(&row, decode_all), "{row:?}");
    assert_eq!(title, decode_all);
    // A reset: until DecodeAll is called again it has no row; nothing is
    // highlighted and the detail says so, under its name.
    assert_eq!(app.key(key('r')), Action::Reset);
    let mut agg = aggregator();
    calls(&mut agg, 0, 11, 5, 5_000);
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    let (row, title) = highlighted(&mut app);
    assert_eq!(row, None);
    assert_eq!(title, decode_all);
    assert!(screen(&mut app, 100, 30).contains("no calls since the reset"));
    calls(&mut agg, 1, 10, 1, 5_000);
    app.update(report(&agg, 2), Lost::default(), Duration::from_secs(2));
    let (row, title) = highlighted(&mut app);
    assert!(on(&row, decode_all), "{row:?}");
    assert_eq!(title, decode_all);
    // A reset while paused shows the counts from zero, still paused.
    app.key(key('p'));
    app.key(key('r'));
    app.update(report(&aggregator(), 0), Lost::default(), Duration::ZERO);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("PAUSED") && s.contains(" 0 calls"), "{s}");
    // The goroutines: the selection stays on its goroutine as another
    // takes more time.
    let mut agg = aggregator();
    let mut app = App::new();
    calls(&mut agg, 0, 21, 10, 50_000);
    calls(&mut agg, 0, 22, 10, 10_000);
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    app.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    assert_eq!(app.selected_goroutine(), Some((4242, 21)));
    calls(&mut agg, 0, 22, 100, 10_000);
    app.update(report(&agg, 2), Lost::default(), Duration::from_secs(2));
    assert_eq!(app.selected_goroutine(), Some((4242, 21)));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("goroutine 21 (pid 4242)"), "{s}");
    let order: Vec<&str> = s
        .lines()
        .filter_map(|l| l.split('│').nth(1))
        .filter(|c| c.trim_start().starts_with("2"))
        .collect();
    assert!(
        order[0].trim_start().starts_with("22"),
        "22 on top now: {order:?}"
    );
}

#[test]
fn tiny_and_empty_screens_do_not_panic() {
    let mut app = App::new();
    assert!(screen(&mut app, 80, 24).contains("attaching"));
    let mut app = watched();
    for (w, h) in [(20, 5), (40, 10), (1, 1), (200, 60)] {
        screen(&mut app, w, h);
    }
}

/// A gzip stream's `Close` row shows its payloads' sizes: IN their original
/// size (the `Write`s' input), OUT their whole compressed output (header,
/// the `Write`s' and `Close`'s output, trailer), RATIO the two's; its
/// `Write` row its calls' own bytes.
#[test]
fn a_stream_close_row_shows_its_payloads_sizes() {
    let all = entries();
    let meta = |name: &str| {
        let e = *all
            .iter()
            .find(|e| e.symbol() == format!("compress/gzip.(*Writer).{name}"))
            .unwrap();
        FuncMeta {
            function: e.symbol(),
            entry: e,
            target: 0,
            sinks: true,
        }
    };
    let mut agg = Aggregator::new(
        vec![meta("Write"), meta("Close")],
        gozt::stats::Rules::DEFAULT,
    );
    for s in 0..10u64 {
        let call = |func_id, bytes_in, bytes_out, started| CallEvent {
            tgid: 4242,
            goid: 7,
            obj: 0x1000 + s,
            func_id,
            duration_ns: 10_000,
            bytes_in,
            bytes_out: Some(bytes_out),
            started,
            ..Default::default()
        };
        // 300 KB in, 10 + 0 + 29,990 out: 30 KB a stream.
        agg.add(&call(0, Some(200_000), 10, true), &mut Named);
        agg.add(&call(0, Some(100_000), 0, false), &mut Named);
        agg.add(&call(1, None, 29_990, false), &mut Named);
    }
    let mut app = App::new();
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    let shown = screen(&mut app, 120, 30);
    let row = |name: &str| {
        shown
            .lines()
            .find(|l| l.contains(name))
            .unwrap_or_else(|| panic!("no {name} row in\n{shown}"))
            .split_whitespace()
            .collect::<Vec<_>>()
    };
    let close = row("gzip.(*Writer).Close");
    // IN, OUT and RATIO follow MAX.
    let at = |r: &[&str], title: &str| -> String {
        let header = shown.lines().find(|l| l.contains("RATIO")).unwrap();
        let titles: Vec<&str> = header
            .split_whitespace()
            .map(|t| t.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/' && c != '%'))
            .filter(|t| !t.is_empty())
            .collect();
        let i = titles.iter().position(|t| *t == title).unwrap();
        r[i].to_string()
    };
    assert_eq!(at(&close, "IN"), "3.00M", "{shown}");
    assert_eq!(at(&close, "OUT"), "300K", "{shown}");
    assert_eq!(at(&close, "RATIO"), "0.10", "{shown}");
    let write = row("gzip.(*Writer).Write");
    assert_eq!(at(&write, "IN"), "3.00M", "{shown}");
    assert_eq!(at(&write, "OUT"), "100", "the headers: {shown}");
}

#[test]
fn tab_reaches_the_routes_when_payloads_were_made_serving_requests() {
    let mut agg = aggregator();
    let tab = KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE);
    // Without requests, Tab goes between functions and goroutines only.
    session(&mut agg, 0, 100);
    let mut app = App::new();
    app.update(report(&agg, 1), Lost::default(), Duration::from_secs(1));
    app.key(tab);
    app.key(tab);
    assert_eq!(app.pane, Pane::Functions);
    // Payloads made serving two routes: every 4th call a route's.
    for i in 0..40u64 {
        let route = gozt::event::RouteSeen {
            method: "GET".into(),
            text: ["/api/v1/items", "/static/app.js"][(i % 2) as usize].into(),
            len: 14,
            pattern: false,
        };
        let ev = CallEvent {
            tgid: 4242,
            goid: 99,
            func_id: 0,
            duration_ns: 5_000,
            bytes_in: Some(4096),
            bytes_out: Some(if i % 2 == 0 { 1000 } else { 5000 }),
            route: Some(route),
            ..Default::default()
        };
        agg.add(&ev, &mut Named);
    }
    app.update(report(&agg, 2), Lost::default(), Duration::from_secs(2));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("Tab: routes"), "{s}");
    app.key(tab);
    app.key(tab);
    assert_eq!(app.pane, Pane::Routes);
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("routes (3) by payloads"), "{s}");
    assert!(
        s.contains("GET /api/v1") && s.contains("GET /static/app.js"),
        "{s}"
    );
    assert!(s.contains("no route"), "{s}");
    // The first route is selected (by payloads, `no route` last); j
    // moves on.
    assert_eq!(app.selected_route().as_deref(), Some("GET /api/v1"));
    let s = screen(&mut app, 100, 30);
    assert!(s.contains("GET /api/v1: 20 eligible, 0 failed"), "{s}");
    app.key(key('j'));
    assert_eq!(app.selected_route().as_deref(), Some("GET /static/app.js"));
    let s = screen(&mut app, 100, 30);
    assert!(
        s.contains("GET /static/app.js: 20 eligible, 20 failed"),
        "{s}"
    );
    app.key(key('k'));
    // Its functions: the one-shot EncodeAll's 20 payloads.
    assert!(
        s.lines()
            .any(|l| l.contains("zstd.(*Encoder).EncodeAll") && l.contains(" 20 ")),
        "{s}"
    );
    app.key(tab);
    assert_eq!(app.pane, Pane::Functions);
    // Small screens keep working with the routes pane.
    app.key(KeyEvent::new(KeyCode::BackTab, KeyModifiers::NONE));
    assert_eq!(app.pane, Pane::Routes);
    for (w, h) in [(80, 24), (60, 15), (30, 8)] {
        screen(&mut app, w, h);
    }
}
