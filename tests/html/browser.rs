//! The page in a real browser: Debian's `chromium`, headless and offline,
//! driven over the DevTools protocol (tests/html/cdp.rs). At 1280x800, at
//! a phone's width (390x844) and at 200% zoom (640x400 CSS pixels, 2 device
//! pixels each) the page must load with no console error or warning, no
//! exception, no request but its own file and no failed one; the headline
//! and every chart must be visible and painted (pixels counted in each one's
//! area of a screenshot: bars, heatmap cells, colour scale); nothing may
//! make the page wider than the window; the numbers the browser's own HTML
//! parser reads must equal the JSON; a real click on a column's title sorts
//! the table. The time to open each page is printed, not asserted
//! (GOZT_HTML_PAGE=page.html GOZT_HTML_RUN=run.jsonl checks and times
//! another page too, GOZT_SCREENSHOTS=DIR keeps the screenshots).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use serde_json::{json, Value};

use crate::cdp::{base64, Browser, Image, CHROMIUM};
use crate::{common, page, run, Scratch};

/// Whether chromium runs; with CI=true a missing one fails the test.
fn have_chromium() -> bool {
    common::present_or_skip(
        Command::new(CHROMIUM)
            .arg("--version")
            .output()
            .is_ok_and(|o| o.status.success()),
        CHROMIUM,
        " (Debian package chromium; scripts/test.sh installs it)",
    )
}

struct Viewport {
    name: &'static str,
    width: u32,
    height: u32,
    scale: f64,
    mobile: bool,
}

const VIEWPORTS: [Viewport; 3] = [
    Viewport {
        name: "1280x800",
        width: 1280,
        height: 800,
        scale: 1.0,
        mobile: false,
    },
    Viewport {
        name: "phone",
        width: 390,
        height: 844,
        scale: 2.0,
        mobile: true,
    },
    // A 1280-pixel window at 200% zoom.
    Viewport {
        name: "zoom200",
        width: 640,
        height: 400,
        scale: 2.0,
        mobile: false,
    },
];

/// A page to check: the file, and the JSON Lines it was made from.
struct Page {
    name: String,
    html: PathBuf,
    lines: Vec<Value>,
}

impl Page {
    fn url(&self) -> String {
        format!("file://{}", self.html.display())
    }
}

/// A tab of its own, with the domains whose events the checks read.
fn tab(b: &mut Browser) -> String {
    let target = b.call(None, "Target.createTarget", json!({"url": "about:blank"}));
    let attached = b.call(
        None,
        "Target.attachToTarget",
        json!({"targetId": target["targetId"], "flatten": true}),
    );
    let session = attached["sessionId"].as_str().unwrap().to_string();
    for domain in ["Page", "Runtime", "Log", "Network"] {
        b.call(Some(&session), &format!("{domain}.enable"), json!({}));
    }
    session
}

/// Opens `page` at `vp`; returns (load event, first contentful paint) in
/// ms from the navigation's start, as the page's own timing says.
fn open(b: &mut Browser, s: &str, page: &Page, vp: &Viewport) -> (f64, f64) {
    b.call(
        Some(s),
        "Emulation.setDeviceMetricsOverride",
        json!({"width": vp.width, "height": vp.height, "deviceScaleFactor": vp.scale, "mobile": vp.mobile}),
    );
    b.events.clear();
    b.call(Some(s), "Page.navigate", json!({"url": page.url()}));
    b.wait_event(s, "Page.loadEventFired");
    let t = b.eval(
        s,
        "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => {
           const n = performance.getEntriesByType('navigation')[0];
           const p = performance.getEntriesByName('first-contentful-paint')[0];
           r({load: n.loadEventEnd, fcp: p ? p.startTime : -1});
         })))",
    );
    (t["load"].as_f64().unwrap(), t["fcp"].as_f64().unwrap())
}

/// What went wrong on the page since it was opened: console errors and
/// warnings, exceptions, log entries, requests for anything but the page
/// (and data: URLs), failed requests.
fn problems(b: &Browser, s: &str, page: &Page) -> Vec<String> {
    let url = page.url();
    let mut out = Vec::new();
    for e in b.events.iter().filter(|e| e["sessionId"] == s) {
        let p = &e["params"];
        match e["method"].as_str().unwrap_or("") {
            "Runtime.consoleAPICalled"
                if ["error", "assert", "warning"].contains(&p["type"].as_str().unwrap_or("")) =>
            {
                out.push(format!("console {}: {}", p["type"], p["args"]))
            }
            "Runtime.exceptionThrown" => out.push(format!("exception: {}", p["exceptionDetails"])),
            "Log.entryAdded"
                if ["error", "warning"].contains(&p["entry"]["level"].as_str().unwrap_or("")) =>
            {
                out.push(format!("log: {}", p["entry"]))
            }
            "Network.loadingFailed" => out.push(format!("failed request: {p}")),
            "Network.requestWillBeSent" => {
                let u = p["request"]["url"].as_str().unwrap_or("");
                if u != url && !u.starts_with("data:") {
                    out.push(format!("request: {u}"));
                }
            }
            _ => {}
        }
    }
    out
}

/// A screenshot of the window, or of `clip` (CSS pixels of the page).
fn screenshot(b: &mut Browser, s: &str, clip: Option<[f64; 4]>) -> (Vec<u8>, Image) {
    let mut params = json!({"format": "png", "optimizeForSpeed": true});
    if let Some([x, y, w, h]) = clip {
        params["clip"] = json!({"x": x, "y": y, "width": w, "height": h, "scale": 1});
    }
    let shot = b.call(Some(s), "Page.captureScreenshot", params);
    let png = base64(shot["data"].as_str().unwrap());
    let img = Image::png(&png);
    (png, img)
}

/// The part of element `i` of `selector` on screen once scrolled to it:
/// within the window and any scrolling box around it, in CSS pixels of the
/// page (x, y, width, height). Measured two animation frames after the
/// scroll, so that a screenshot then shows it painted (one taken at once
/// came out blank once in CI, at 200% zoom).
fn area(b: &mut Browser, s: &str, selector: &str, i: usize) -> (bool, [f64; 4]) {
    let r = b.eval(
        s,
        &format!(
            "(() => {{
              const e = document.querySelectorAll({selector:?})[{i}];
              e.scrollIntoView({{block: 'center', inline: 'nearest'}});
              return new Promise(done => requestAnimationFrame(() => requestAnimationFrame(() => {{
              const r = e.getBoundingClientRect();
              let x0 = Math.max(r.left, 0), y0 = Math.max(r.top, 0);
              let x1 = Math.min(r.right, innerWidth), y1 = Math.min(r.bottom, innerHeight);
              for (let p = e.parentElement; p; p = p.parentElement) {{
                if (getComputedStyle(p).overflowX !== 'visible') {{
                  const q = p.getBoundingClientRect();
                  x0 = Math.max(x0, q.left); x1 = Math.min(x1, q.right);
                }}
              }}
              const st = getComputedStyle(e);
              done({{shown: st.visibility === 'visible' && st.display !== 'none'
                         && r.width > 0 && r.height > 0 && x1 > x0 && y1 > y0,
                       box: [x0 + scrollX, y0 + scrollY, Math.max(x1 - x0, 0), Math.max(y1 - y0, 0)]}});
              }})));
            }})()"
        ),
    );
    let bx: Vec<f64> = r["box"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_f64().unwrap())
        .collect();
    (r["shown"] == true, [bx[0], bx[1], bx[2], bx[3]])
}

fn near(p: [u8; 3], c: [u8; 3], by: i32) -> bool {
    (0..3).all(|i| (i32::from(p[i]) - i32::from(c[i])).abs() <= by)
}

/// Shares of an area's pixels: dark ink (text, axes), the histograms'
/// bars, colours (not grey), fills (neither white nor ink: cells).
#[derive(Debug, Default)]
struct Paint {
    pixels: usize,
    ink: f64,
    bars: f64,
    colour: f64,
    fill: f64,
}

fn paint(rgba: &[u8]) -> Paint {
    let mut p = Paint::default();
    let (mut ink, mut bars, mut colour, mut fill) = (0usize, 0usize, 0usize, 0usize);
    for px in rgba.chunks_exact(4) {
        let c = [px[0], px[1], px[2]];
        let (lo, hi) = (c[0].min(c[1]).min(c[2]), c[0].max(c[1]).max(c[2]));
        p.pixels += 1;
        ink += usize::from(hi < 110);
        bars += usize::from(near(c, [0x4e, 0x79, 0xa7], 10));
        colour += usize::from(hi - lo > 12);
        fill += usize::from(lo < 240 && hi >= 110);
    }
    let n = p.pixels.max(1) as f64;
    (p.ink, p.bars, p.colour, p.fill) = (
        ink as f64 / n,
        bars as f64 / n,
        colour as f64 / n,
        fill as f64 / n,
    );
    p
}

/// Checks that the headline and every chart are on screen and painted;
/// returns one line per element checked.
fn check_painted(
    b: &mut Browser,
    s: &str,
    page: &str,
    vp: &Viewport,
    keep: Option<&Path>,
) -> Vec<String> {
    let mut seen = Vec::new();
    let mut targets: Vec<(String, usize)> = vec![("h1".into(), 0), (".verdict".into(), 0)];
    let charts = b
        .eval(s, "document.querySelectorAll('svg.chart').length")
        .as_u64()
        .unwrap() as usize;
    assert!(charts >= 2, "{charts} charts");
    targets.extend((0..charts).map(|i| ("svg.chart".to_string(), i)));
    for (sel, i) in targets {
        let (shown, clip) = area(b, s, &sel, i);
        let id = if sel == "svg.chart" {
            b.eval(
                s,
                &format!(
                    "document.querySelectorAll('svg.chart')[{i}].getAttribute('aria-labelledby')"
                ),
            )
            .as_str()
            .unwrap()
            .to_string()
        } else {
            sel.clone()
        };
        assert!(shown, "{}: {id} is not visible", vp.name);
        let (png, img) = screenshot(b, s, Some(clip));
        assert!(
            img.width as f64 >= clip[2].floor() && img.height as f64 >= clip[3].floor(),
            "{id}: a {}x{} screenshot of {clip:?}",
            img.width,
            img.height
        );
        let p = paint(&img.rgba);
        assert!(
            p.pixels > 2000,
            "{}: {id} shows {} pixels",
            vp.name,
            p.pixels
        );
        if id == "heatmap-title" {
            // Cells: a good part of the visible chart, some of them in
            // colour.
            assert!(p.fill > 0.25, "{}: {id} {p:?}", vp.name);
            assert!(p.colour > 0.02, "{}: {id} {p:?}", vp.name);
            if let Some(dir) = keep {
                std::fs::write(dir.join(format!("{page}-heatmap-{}.png", vp.name)), &png).unwrap();
            }
        } else if id == "heatmap-scale" {
            assert!(p.colour > 0.3, "{}: {id} {p:?}", vp.name);
        } else if id.starts_with("latency-") || id.starts_with("size-") {
            assert!(p.bars > 0.005, "{}: {id} {p:?}", vp.name);
            assert!(p.ink > 0.002, "{}: {id} {p:?}", vp.name);
        } else {
            assert!(p.ink > 0.005, "{}: {id} {p:?}", vp.name);
        }
        seen.push(format!("{id} {p:?}"));
    }
    seen
}

/// A real click (mouse pressed and released) in the middle of `selector`.
fn click(b: &mut Browser, s: &str, selector: &str) {
    let (shown, [x, y, w, h]) = area(b, s, selector, 0);
    assert!(shown, "{selector} is not visible");
    // Mouse events are in the window's CSS pixels.
    let scroll: Vec<f64> = serde_json::from_value(b.eval(s, "[scrollX, scrollY]")).unwrap();
    let (cx, cy) = (x + w / 2.0 - scroll[0], y + h / 2.0 - scroll[1]);
    for kind in ["mousePressed", "mouseReleased"] {
        b.call(
            Some(s),
            "Input.dispatchMouseEvent",
            json!({"type": kind, "x": cx, "y": cy, "button": "left", "clickCount": 1}),
        );
    }
}

/// Sorting the functions by calls, with real clicks: up, then down.
fn check_sorting(b: &mut Browser, s: &str) {
    let column = "table[data-table=functions] th[data-col=calls] button";
    let read = "Array.from(document.querySelectorAll('table[data-table=functions] td[data-col=calls]')).map(td => Number(td.dataset.v))";
    let mut before: Vec<u64> = serde_json::from_value(b.eval(s, read)).unwrap();
    click(b, s, column);
    let up: Vec<u64> = serde_json::from_value(b.eval(s, read)).unwrap();
    click(b, s, column);
    let down: Vec<u64> = serde_json::from_value(b.eval(s, read)).unwrap();
    before.sort_unstable();
    assert_eq!(up, before, "ascending");
    before.reverse();
    assert_eq!(down, before, "descending");
    let sort = b.eval(s, "document.querySelector('table[data-table=functions] th[data-col=calls]').getAttribute('aria-sort')");
    assert_eq!(sort, "descending");
}

fn check_page(b: &mut Browser, page: &Page, keep: Option<&Path>) -> Vec<String> {
    let s = tab(b);
    let mut timings = Vec::new();
    let report = page.lines.last().unwrap();
    for vp in &VIEWPORTS {
        let (load, fcp) = open(b, &s, page, vp);
        let wrong = problems(b, &s, page);
        assert!(wrong.is_empty(), "{} at {}: {wrong:#?}", page.name, vp.name);
        let width = b.eval(
            &s,
            "[document.documentElement.scrollWidth, innerWidth, parseFloat(getComputedStyle(document.body).fontSize)]",
        );
        let w: Vec<f64> = serde_json::from_value(width).unwrap();
        assert!(
            w[0] <= w[1],
            "{} at {}: the page is {} wide in {}",
            page.name,
            vp.name,
            w[0],
            w[1]
        );
        assert!(
            w[2] >= 16.0,
            "{} at {}: text of {}px",
            page.name,
            vp.name,
            w[2]
        );
        if let Some(dir) = keep {
            b.eval(&s, "window.scrollTo(0, 0)");
            let (png, _) = screenshot(b, &s, None);
            std::fs::write(dir.join(format!("{}-{}.png", page.name, vp.name)), png).unwrap();
        }
        let painted = check_painted(b, &s, &page.name, vp, keep);
        if vp.name == "1280x800" {
            // The numbers as the browser parsed them.
            let nodes: Vec<page::Node> =
                serde_json::from_str(b.eval(&s, page::DOM_NODES).as_str().unwrap()).unwrap();
            page::check_report(&nodes, report);
            let n = page.lines.len();
            let lines = if n > 1 {
                page.lines[..n - 1].to_vec()
            } else {
                let saved: gozt::stats::Report = serde_json::from_value(report.clone()).unwrap();
                vec![serde_json::to_value(gozt::stats::IntervalReport::new(
                    &saved,
                    saved.meta.ended.clone(),
                ))
                .unwrap()]
            };
            page::check_heatmap(&nodes, &lines, report);
            check_sorting(b, &s);
        }
        timings.push(format!(
            "{:<12} {:>9} {:>8} {:>10.0} {:>9.0} {:>7}",
            page.name,
            std::fs::metadata(&page.html).unwrap().len(),
            vp.name,
            load,
            fcp,
            painted.len()
        ));
    }
    let target =
        b.call(Some(&s), "Target.getTargetInfo", json!({}))["targetInfo"]["targetId"].clone();
    b.call(None, "Target.closeTarget", json!({ "targetId": target }));
    timings
}

/// Makes the page of `run` with the real `gozt report --html`.
fn page_of(dir: &Scratch, name: &str, run: &run::Run) -> Page {
    let jsonl = run.json_lines();
    let saved = dir.path(&format!("{name}.jsonl"));
    std::fs::write(&saved, &jsonl).unwrap();
    let html = dir.path(&format!("{name}.html"));
    crate::html_of(&saved, &html);
    Page {
        name: name.to_string(),
        html,
        lines: jsonl
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect(),
    }
}

#[test]
fn the_page_opens_offline_in_chromium_and_draws_every_chart() {
    if !have_chromium() {
        return;
    }
    let dir = Scratch::new("browser");
    let keep = std::env::var_os("GOZT_SCREENSHOTS").map(PathBuf::from);
    if let Some(k) = &keep {
        std::fs::create_dir_all(k).unwrap();
    }
    let mut pages = vec![
        page_of(&dir, "golden", &crate::golden_run()),
        // About a 60 s, --interval 1s run of a busy service: 12 functions,
        // 2000 goroutines.
        page_of(&dir, "busy-60s", &run::synthetic(12, 60, 3000, 2000, 1000)),
    ];
    let golden_json = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden/replayed.json");
    let one = dir.path("single.html");
    crate::html_of(&golden_json, &one);
    pages.push(Page {
        name: "single".into(),
        html: one,
        lines: vec![serde_json::from_str(&std::fs::read_to_string(&golden_json).unwrap()).unwrap()],
    });
    if let Some(extra) = std::env::var_os("GOZT_HTML_PAGE") {
        let run = std::env::var_os("GOZT_HTML_RUN").expect("GOZT_HTML_RUN: the page's JSON Lines");
        let text = std::fs::read_to_string(run).unwrap();
        pages.push(Page {
            name: "given".into(),
            html: PathBuf::from(extra),
            lines: text
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect(),
        });
    }
    let size = std::fs::metadata(&pages[1].html).unwrap().len();
    assert!(size < 2_000_000, "the busy 60 s page is {size} bytes");
    let mut b = Browser::launch(&dir.0);
    let version = b.call(None, "Browser.getVersion", json!({}));
    let started = Instant::now();
    let mut rows = Vec::new();
    for p in &pages {
        rows.extend(check_page(&mut b, p, keep.as_deref()));
    }
    // The time to open the page given, or the largest: five loads at
    // 1280x800.
    let big = pages
        .iter()
        .find(|p| p.name == "given")
        .or_else(|| {
            pages
                .iter()
                .max_by_key(|p| std::fs::metadata(&p.html).unwrap().len())
        })
        .unwrap();
    let s = tab(&mut b);
    let mut loads: Vec<(f64, f64)> = (0..5)
        .map(|_| open(&mut b, &s, big, &VIEWPORTS[0]))
        .collect();
    loads.sort_by(|a, b| a.0.total_cmp(&b.0));
    rows.push(format!(
        "{} ({} bytes), 5 loads at 1280x800: load event {} ms (median {:.0}), first paint {} ms",
        big.name,
        std::fs::metadata(&big.html).unwrap().len(),
        loads
            .iter()
            .map(|l| format!("{:.0}", l.0))
            .collect::<Vec<_>>()
            .join(", "),
        loads[2].0,
        loads
            .iter()
            .map(|l| format!("{:.0}", l.1))
            .collect::<Vec<_>>()
            .join(", "),
    ));
    eprintln!(
        "{} ({:.1} s in all)\n{:<12} {:>9} {:>8} {:>10} {:>9} {:>7}\n{}",
        version["product"],
        started.elapsed().as_secs_f64(),
        "PAGE",
        "BYTES",
        "VIEW",
        "LOAD_MS",
        "FCP_MS",
        "CHECKED",
        rows.join("\n")
    );
    let _ = common::gozt; // the page files came from the real binary
}
