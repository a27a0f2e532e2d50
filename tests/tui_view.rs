//! The live view without a terminal or root: reports built from replayed
//! events are drawn on ratatui's TestBackend at 100x30 and at 80x24 and
//! compared with golden snapshots (tests/golden/tui_*.txt; `GOZT_BLESS=1`
//! rewrites them), and each key does what the help says.

mod common;

use std::time::Duration;

use gozt::catalog::entries;
use gozt::event::{CallEvent, Lost};
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
            goid: 10 + i % 6,
            func_id,
            start_ns: i * 1000,
            duration_ns: 2_000 + (i * 7919) % 90_000 + if func_id == 1 { 50_000 } else { 0 },
            bytes_in: Some(4096 + (i % 5) * 512),
            // Every 40th compress call does not shrink its input.
            bytes_out: Some(if i % 40 == 0 { 5000 } else { 1500 }),
            error: func_id == 2 && i % 30 == 2,
            stack: vec![0x401000 + i],
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
            }
        })
        .collect();
    Aggregator::new(funcs, 1024, 0.003)
}

fn report(agg: &Aggregator, secs: u64) -> Report {
    let targets = vec![TargetInfo {
        pid: 4242,
        binary: "/srv/demo-service".into(),
        go_version: "go1.27.3".into(),
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
fn snapshots_at_100x30_and_80x24() {
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
    app.key(KeyEvent::new(KeyCode::Tab, KeyModifiers::NONE));
    common::golden("tui_goroutine_80x24.txt", &screen(&mut app, 80, 24));
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
    // (EncodeAll: 120 incompressible in 1200, 10%).
    let encode_all = Some("github.com/klauspost/compress/zstd.(*Encoder).EncodeAll");
    while app.sort != gozt::tui::Column::FailureRate {
        assert_eq!(app.key(key('s')), Action::None);
    }
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

#[test]
fn tiny_and_empty_screens_do_not_panic() {
    let mut app = App::new();
    assert!(screen(&mut app, 80, 24).contains("attaching"));
    let mut app = watched();
    for (w, h) in [(20, 5), (40, 10), (1, 1), (200, 60)] {
        screen(&mut app, w, h);
    }
}
