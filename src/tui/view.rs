//! Drawing the live view: the header, the functions table, the goroutines
//! and the detail of the selection, the key line and the help, laid out for
//! terminals from 60x15 up (smaller ones keep the header and functions).

use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table};
use ratatui::Frame;

use super::state::{counters_rate, ratio, sizes, App, Column, Pane};
use super::theme::THEME;
use crate::go_binary::names::short_name;
use crate::render::format::{base_name, bytes, fit, nanos, percent};
use crate::render::target::tags;
use crate::stats::{Bucket, FunctionReport, Report, State, TargetInfo};

/// The fewest rows the goroutines and detail panes are drawn in; with
/// less room the functions table takes the whole body.
const BOTTOM_MIN: u16 = 6;

/// The columns that fit in `budget` cells (one cell between columns), most
/// important first, by index in `cols` (width, priority); the first always
/// stays.
fn fitting(cols: &[(u16, u8)], mut budget: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).collect();
    order.sort_by_key(|&i| cols[i].1);
    let mut shown = Vec::new();
    for i in order {
        let w = cols[i].0;
        if w < budget || shown.is_empty() {
            budget = budget.saturating_sub(w + 1);
            shown.push(i);
        }
    }
    shown.sort_unstable();
    shown
}

fn bold(s: &str) -> Span<'static> {
    Span::styled(s.to_string(), THEME.title)
}

/// The first of `lines` that fits in `width` cells, else the last.
fn first_fitting(lines: Vec<Line<'static>>, width: u16) -> Line<'static> {
    let n = lines.len();
    lines
        .into_iter()
        .enumerate()
        .find(|(i, l)| l.width() <= width as usize || i + 1 == n)
        .map(|(_, l)| l)
        .unwrap_or_default()
}

/// The top finding (the most time), cut to `width`: its badge says how
/// many there are.
fn finding_line(r: &Report, width: u16) -> Option<Line<'static>> {
    let f = r.findings.first()?;
    let badge = match r.findings.len() {
        1 => " FINDING ".to_string(),
        n => format!(" FINDING 1/{n} "),
    };
    let text = format!(" {}: {}: {}", f.kind.name(), f.place(), f.evidence);
    // Cut at its end: the place and the start of the evidence matter most.
    let room = usize::from(width).saturating_sub(badge.chars().count());
    let text = if text.chars().count() > room {
        let mut cut: String = text.chars().take(room.saturating_sub(1)).collect();
        cut.push('…');
        cut
    } else {
        text
    };
    Some(Line::from(vec![
        Span::styled(badge, THEME.likely),
        Span::raw(text),
    ]))
}

impl App {
    /// Draws the whole view.
    pub fn draw(&mut self, frame: &mut Frame<'_>) {
        let area = frame.area();
        let body = area.height.saturating_sub(3);
        // The functions table takes what its rows need, up to half the body
        // or all but ten rows, whichever is more; below it the goroutines
        // and the detail, when they have room.
        let rows = self.report.as_ref().map_or(0, |r| r.functions.len()) as u16;
        let table_height = if body >= 5 + BOTTOM_MIN {
            (rows + 3).clamp(5, (body / 2).max(body.saturating_sub(10)).max(5))
        } else {
            body
        };
        // The header's third line, the top finding, when there is one: taken
        // from the panes below the table, never from the table, and only
        // where they keep their room (or have none anyway).
        let spare = body.saturating_sub(table_height);
        let finding = self.report.as_ref().is_some_and(|r| !r.findings.is_empty())
            && spare >= 1
            && spare != BOTTOM_MIN;
        let header_height = 2 + u16::from(finding);
        let [header, functions, bottom, footer] = Layout::vertical([
            Constraint::Length(header_height),
            Constraint::Length(table_height),
            Constraint::Fill(1),
            Constraint::Length(1),
        ])
        .areas(area);
        self.draw_header(frame, header);
        self.draw_functions(frame, functions);
        if bottom.height >= BOTTOM_MIN {
            let [goroutines, detail] =
                Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                    .areas(bottom);
            match self.pane {
                Pane::Routes if self.has_routes() => {
                    self.draw_routes(frame, goroutines);
                    self.draw_route_detail(frame, detail);
                }
                Pane::Functions | Pane::Routes => {
                    self.draw_goroutines(frame, goroutines);
                    self.draw_function_detail(frame, detail);
                }
                Pane::Goroutines => {
                    self.draw_goroutines(frame, goroutines);
                    self.draw_goroutine_detail(frame, detail);
                }
            }
        }
        let sort = format!("sort ({})", self.sort.title());
        let keys = vec![
            key_line("  ", "↑↓/jk", &sort),
            key_line(" ", "jk", &sort),
            key_line(" ", "jk", "sort"),
        ];
        frame.render_widget(Paragraph::new(first_fitting(keys, footer.width)), footer);
        if self.help {
            draw_help(frame, area);
        }
    }

    fn draw_header(&self, frame: &mut Frame<'_>, area: Rect) {
        let Some(r) = &self.report else {
            frame.render_widget(Paragraph::new("gozt: attaching..."), area);
            return;
        };
        let mut lines = vec![
            first_fitting(vec![self.title(r, true), self.title(r, false)], area.width),
            first_fitting(
                vec![self.verdict(r, true), self.verdict(r, false)],
                area.width,
            ),
        ];
        if area.height > 2 {
            lines.extend(finding_line(r, area.width));
        }
        frame.render_widget(Paragraph::new(lines), area);
    }

    /// The header's first line: the targets (with their Go version when
    /// `long`), the time since the start, calls per second, PAUSED.
    fn title(&self, r: &Report, long: bool) -> Line<'static> {
        let version = |t: &TargetInfo| {
            if long {
                format!(" ({})", t.go_version)
            } else {
                String::new()
            }
        };
        let targets = match r.targets.as_slice() {
            [] => "waiting for a process".to_string(),
            [t] => format!(
                "pid {}{} {}{}",
                t.pid,
                tags(t),
                base_name(&t.binary),
                version(t)
            ),
            [t, rest @ ..] => format!(
                "pid {}{} {}{} +{} more",
                t.pid,
                tags(t),
                base_name(&t.binary),
                version(t),
                rest.len()
            ),
        };
        let secs = self.elapsed.as_secs();
        let clock = format!(
            "  {:02}:{:02}:{:02}  {:.0} calls/s",
            secs / 3600,
            secs / 60 % 60,
            secs % 60,
            self.total_rate
        );
        let paused = if self.paused {
            Span::styled("  PAUSED", THEME.paused)
        } else {
            Span::raw("")
        };
        Line::from(vec![
            bold("gozt "),
            Span::raw(targets),
            Span::raw(clock),
            paused,
        ])
    }

    /// The header's second line: the verdict's badge, the failure rate
    /// against the threshold (in words when `long`), calls, calls lost.
    fn verdict(&self, r: &Report, long: bool) -> Line<'static> {
        let t = &r.totals;
        let badge = match t.state {
            State::Alert => Span::styled(" ALERT ", THEME.alert),
            State::Likely => Span::styled(" LIKELY ", THEME.likely),
            State::TooFew => Span::styled(" TOO FEW ", THEME.too_few),
            State::Ok => Span::styled(" OK ", THEME.ok),
        };
        let lost = self.lost.calls_lost();
        let (rate, threshold) = (percent(counters_rate(t), 3), percent(r.alert_threshold, 3));
        let cmp = if t.failure_rate > r.alert_threshold {
            ">"
        } else {
            "<="
        };
        let text = if long {
            format!(
                " failures {rate} (95% {}-{}) {cmp} {threshold} of {} eligible payloads  {} calls  lost {lost}",
                percent(t.failure_rate_low, 2),
                percent(t.failure_rate_high, 2),
                t.eligible,
                t.calls
            )
        } else {
            format!(
                " fail {rate} {cmp} {threshold} of {}  {} calls  lost {lost}",
                t.eligible, t.calls
            )
        };
        Line::from(vec![badge, Span::raw(text)])
    }

    fn draw_functions(&mut self, frame: &mut Frame<'_>, area: Rect) {
        // As many columns as fit, most important first (the sorted one
        // right after the names, so its arrow always shows), in their
        // natural order.
        let cols: Vec<(u16, u8)> = Column::ALL
            .iter()
            .map(|&c| {
                let p = match c {
                    Column::Function => 0,
                    c if c == self.sort => 1,
                    c => c.priority() + 1,
                };
                (c.width(), p)
            })
            .collect();
        let shown: Vec<Column> = fitting(&cols, area.width.saturating_sub(2))
            .into_iter()
            .map(|i| Column::ALL[i])
            .collect();
        let header = Row::new(shown.iter().map(|c| {
            if *c == self.sort {
                format!("{}▼", c.title())
            } else {
                c.title().to_string()
            }
        }))
        .style(THEME.title);
        let rows: Vec<Row> = self
            .sorted_functions()
            .into_iter()
            .map(|f| {
                let rate = self.rate(&f.function);
                alert_row(
                    Row::new(shown.iter().map(|c| cell(*c, f, rate))),
                    f.counters.alert,
                )
            })
            .collect();
        let n = rows.len();
        let widths: Vec<Constraint> = shown
            .iter()
            .map(|c| match c {
                Column::Function => Constraint::Min(c.width().min(area.width.saturating_sub(2))),
                _ => Constraint::Length(c.width()),
            })
            .collect();
        let table = Table::new(rows, widths)
            .header(header)
            .block(pane_block(
                format!("functions ({n})"),
                self.pane == Pane::Functions,
            ))
            .row_highlight_style(THEME.selected);
        let names = self.function_names();
        self.functions.select(self.function_index(&names));
        frame.render_stateful_widget(table, area, &mut self.functions);
    }

    fn draw_goroutines(&mut self, frame: &mut Frame<'_>, area: Rect) {
        let gs = self.sorted_goroutines();
        let many_pids = gs.iter().any(|g| g.pid != gs[0].pid);
        let ids: Vec<String> = gs
            .iter()
            .map(|g| {
                if many_pids {
                    format!("{}/{}", g.pid, g.goid)
                } else {
                    g.goid.to_string()
                }
            })
            .collect();
        // Ids are never cut: the column is as wide as the longest.
        let id_width = ids.iter().map(String::len).max().unwrap_or(0).max(4) as u16;
        let titles = ["GOID", "CALLS", "TIME", "P99", "FAIL"];
        let cols = [(id_width, 0), (7, 1), (6, 2), (6, 3), (5, 4)];
        let shown = fitting(&cols, area.width.saturating_sub(2));
        let rows: Vec<Row> = gs
            .iter()
            .zip(&ids)
            .map(|(g, id)| {
                let cells = [
                    id.clone(),
                    g.counters.calls.to_string(),
                    nanos(g.time_ns),
                    nanos(g.latency_ns.p99),
                    g.counters.failures.to_string(),
                ];
                alert_row(
                    Row::new(shown.iter().map(|&i| cells[i].clone())),
                    g.counters.alert,
                )
            })
            .collect();
        let n = rows.len();
        // With routes, Tab reaches them here.
        let title = if self.has_routes() {
            format!("goroutines ({n}) by time; Tab: routes")
        } else {
            format!("goroutines ({n}) by time")
        };
        let table = Table::new(rows, shown.iter().map(|&i| Constraint::Length(cols[i].0)))
            .header(Row::new(shown.iter().map(|&i| titles[i])).style(THEME.title))
            .block(pane_block(title, self.pane == Pane::Goroutines))
            .row_highlight_style(if self.pane == Pane::Goroutines {
                THEME.selected
            } else {
                Style::new()
            });
        let ids: Vec<(u32, u64)> = gs.iter().map(|g| (g.pid, g.goid)).collect();
        self.goroutines.select(self.goroutine_index(&ids));
        frame.render_stateful_widget(table, area, &mut self.goroutines);
    }

    /// The routes table (in the goroutines' place): the route first, then
    /// what fits of its payloads, failure rate, p99 and time.
    fn draw_routes(&mut self, frame: &mut Frame<'_>, area: Rect) {
        let Some(r) = &self.report else {
            return;
        };
        let titles = ["ROUTE", "PAYL", "FAIL%", "P99", "TIME"];
        // The route keeps ROUTE_MIN cells: the numbers on its right go,
        // the last first, where they would leave it less.
        const ROUTE_MIN: u16 = 18;
        let numbers = [6u16, 7, 6, 6];
        let inner = area.width.saturating_sub(2);
        let mut n = numbers.len();
        let taken = |n: usize| numbers[..n].iter().map(|w| w + 1).sum::<u16>();
        while n > 0 && inner < ROUTE_MIN + taken(n) {
            n -= 1;
        }
        let route_width = inner.saturating_sub(taken(n)).max(1);
        let cols: Vec<(u16, u8)> = std::iter::once(route_width)
            .chain(numbers)
            .enumerate()
            .map(|(i, w)| (w, i as u8))
            .collect();
        let shown: Vec<usize> = (0..=n).collect();
        let rows: Vec<Row> = r
            .routes
            .iter()
            .map(|x| {
                let cells = [
                    fit(&x.route, route_width as usize),
                    x.counters.payloads.to_string(),
                    percent(x.counters.failure_rate, 2),
                    nanos(x.latency_ns.p99),
                    nanos(x.time_ns),
                ];
                alert_row(
                    Row::new(shown.iter().map(|&i| cells[i].clone())),
                    x.counters.alert,
                )
            })
            .collect();
        let n = rows.len();
        let table = Table::new(rows, shown.iter().map(|&i| Constraint::Length(cols[i].0)))
            .header(Row::new(shown.iter().map(|&i| titles[i])).style(THEME.title))
            .block(pane_block(format!("routes ({n}) by payloads"), true))
            .row_highlight_style(THEME.selected);
        let names = self.route_names();
        let at = self
            .route_index(&names)
            .or((!names.is_empty()).then_some(0));
        self.routes.select(at);
        frame.render_stateful_widget(table, area, &mut self.routes);
    }

    /// The selected route's payloads by function.
    fn draw_route_detail(&self, frame: &mut Frame<'_>, area: Rect) {
        let sel = self.selected_route();
        let route = sel.as_ref().and_then(|name| {
            self.report
                .as_ref()?
                .routes
                .iter()
                .find(|x| x.route == *name)
        });
        let title = route.map_or("route".to_string(), |x| {
            let c = &x.counters;
            // Where its bytes went: its downstream writes' share of the time.
            let writes =
                x.downstream
                    .as_ref()
                    .filter(|d| d.writes > 0)
                    .map_or(String::new(), |d| {
                        format!(
                            "; {} writes, p99 {}, {} of the time",
                            d.writes,
                            nanos(d.write_latency_ns.p99),
                            percent(d.write_share, 0)
                        )
                    });
            format!(
                "{}: {} eligible, {} failed{writes}",
                x.route, c.eligible, c.failures
            )
        });
        let rows: Vec<Row> = route
            .map(|x| {
                let mut fs: Vec<_> = x.functions.iter().collect();
                fs.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(a.function.cmp(&b.function)));
                fs.into_iter()
                    .map(|f| {
                        Row::new(vec![
                            short_name(&f.function).to_string(),
                            f.payloads.to_string(),
                            nanos(f.time_ns),
                            f.failures.to_string(),
                        ])
                    })
                    .collect()
            })
            .unwrap_or_default();
        frame.render_widget(
            detail_table(rows, ["FUNCTION", "PAYL", "TIME", "FAIL"], title),
            area,
        );
    }

    fn draw_function_detail(&self, frame: &mut Frame<'_>, area: Rect) {
        let name = self.selected_function();
        let block = Block::new()
            .borders(Borders::ALL)
            .title(name.as_deref().map_or("function", short_name).to_string());
        let inner = block.inner(area);
        frame.render_widget(block, area);
        let (Some(name), Some(r)) = (name, &self.report) else {
            return;
        };
        let Some(f) = r.functions.iter().find(|f| f.function == name) else {
            // Selected before a reset, not called since.
            frame.render_widget(Paragraph::new("no calls since the reset"), inner);
            return;
        };
        let mut callers: Vec<_> = r.callers.iter().filter(|c| c.function == name).collect();
        callers.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.caller.cmp(&b.caller)));
        // The histogram gets what the sparkline and a third for the
        // callers leave.
        let callers_rows = (callers.len().max(1) as u16).min(inner.height.saturating_sub(2) / 3);
        let hist_rows = inner.height.saturating_sub(2 + callers_rows).max(1);
        let hist_lines = histogram(&f.histogram, hist_rows as usize, inner.width);
        let [hist, spark_title, spark, callers_area] = Layout::vertical([
            Constraint::Length(hist_lines.len() as u16),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Fill(1),
        ])
        .areas(inner);
        frame.render_widget(Paragraph::new(hist_lines), hist);
        let history: Vec<f64> = self
            .history
            .get(&name)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let (last, all) = (
            percent(history.last().copied().unwrap_or(0.0), 2),
            percent(counters_rate(&f.counters), 2),
        );
        let title = first_fitting(
            vec![
                Line::from(format!("FAIL% last 1s {last}, since start {all}")),
                Line::from(format!("FAIL% last 1s {last}, all {all}")),
            ],
            spark_title.width,
        );
        frame.render_widget(Paragraph::new(title), spark_title);
        // The sparkline in basis points, at least 1 % full scale.
        let points: Vec<u64> = history
            .iter()
            .map(|r| (r * 10_000.0).round() as u64)
            .collect();
        let shown = &points[points.len().saturating_sub(spark.width as usize)..];
        frame.render_widget(
            Sparkline::default()
                .data(shown)
                .max(shown.iter().copied().max().unwrap_or(0).max(100))
                .style(if f.counters.alert {
                    THEME.spark_alert
                } else {
                    THEME.spark_ok
                }),
            spark,
        );
        let width = callers_area.width.saturating_sub(8) as usize;
        // Each caller's encoders of this function's library, where traced.
        let package = crate::go_binary::names::unvendored(&name);
        let encoders = |caller: &str| {
            r.encoders
                .iter()
                .find(|e| {
                    e.caller == caller
                        && e.op == f.op
                        && package
                            .strip_prefix(e.library.as_str())
                            .is_some_and(|rest| rest.starts_with('.'))
                })
                .map_or(String::new(), |e| match e.resets {
                    Some(n) => format!("  built {} reset {n}", e.builds),
                    None => format!("  built {}", e.builds),
                })
        };
        let lines: Vec<Line> = callers
            .iter()
            .take(callers_area.height as usize)
            .map(|c| {
                let built = encoders(&c.caller);
                let room = width.saturating_sub(built.chars().count()).max(8);
                Line::from(format!("{:>7} {}{built}", c.calls, fit(&c.caller, room)))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), callers_area);
    }

    fn draw_goroutine_detail(&self, frame: &mut Frame<'_>, area: Rect) {
        let sel = self.selected_goroutine();
        let title = sel.map_or("goroutine".to_string(), |(pid, goid)| {
            format!("goroutine {goid} (pid {pid})")
        });
        let g = sel.and_then(|(pid, goid)| {
            self.report
                .as_ref()?
                .goroutines
                .iter()
                .find(|g| g.pid == pid && g.goid == goid)
        });
        let rows: Vec<Row> = g
            .map(|g| {
                let mut fs: Vec<&FunctionReport> = g.functions.iter().collect();
                fs.sort_by(|a, b| b.time_ns.cmp(&a.time_ns).then(a.function.cmp(&b.function)));
                fs.into_iter()
                    .map(|f| {
                        Row::new(vec![
                            short_name(&f.function).to_string(),
                            f.counters.calls.to_string(),
                            nanos(f.latency_ns.p99),
                            f.counters.failures.to_string(),
                        ])
                    })
                    .collect()
            })
            .unwrap_or_default();
        frame.render_widget(
            detail_table(rows, ["FUNCTION", "CALLS", "P99", "FAIL"], title),
            area,
        );
    }
}

/// A detail pane's table of functions: the name, then three short columns
/// (`titles`), under `title`.
fn detail_table(
    rows: Vec<Row<'static>>,
    titles: [&'static str; 4],
    title: String,
) -> Table<'static> {
    Table::new(
        rows,
        [
            Constraint::Min(10),
            Constraint::Length(7),
            Constraint::Length(7),
            Constraint::Length(5),
        ],
    )
    .header(Row::new(titles).style(THEME.title))
    .block(Block::new().borders(Borders::ALL).title(title))
}

/// The log2 latency histogram in `rows` lines of `width` cells, around its
/// mode; where buckets do not fit, a line says how many calls are cut off
/// below or above.
fn histogram(buckets: &[Bucket], rows: usize, width: u16) -> Vec<Line<'static>> {
    let len = buckets.len();
    let peak = buckets.iter().map(|b| b.count).max().unwrap_or(1).max(1);
    let mode = buckets.iter().position(|b| b.count == peak).unwrap_or(0);
    // The most buckets that fit with the marks their window needs.
    let window = |k: usize| {
        let start = mode.saturating_sub(k / 2).min(len.saturating_sub(k));
        (start, (start + k).min(len))
    };
    let mut k = len.min(rows);
    while k > 1 {
        let (start, end) = window(k);
        let marks = usize::from(start > 0) + usize::from(end < len);
        if k + marks <= rows {
            break;
        }
        k -= 1;
    }
    let (start, end) = window(k);
    let bar_width = width.saturating_sub(22) as u64;
    let mut lines = Vec::new();
    let more = |n: u64, side: &str, at: u64| {
        Line::from(format!("… {n} more {side} {}", nanos(at))).style(THEME.more)
    };
    if start > 0 {
        let n = buckets[..start].iter().map(|b| b.count).sum();
        lines.push(more(n, "below", buckets[start].min));
    }
    for b in &buckets[start..end] {
        let stars = (b.count * bar_width).div_ceil(peak) as usize;
        lines.push(Line::from(format!(
            "{:>6}-{:<6} {:>6} {}",
            nanos(b.min),
            nanos(b.max + 1),
            b.count,
            "█".repeat(stars)
        )));
    }
    if end < len {
        let n = buckets[end..].iter().map(|b| b.count).sum();
        lines.push(more(n, "above", buckets[end - 1].max + 1));
    }
    lines
}

/// The key line: each key in bold, then what it does, `sep` apart.
fn key_line(sep: &str, movement: &str, sort: &str) -> Line<'static> {
    let keys = [
        ("q", "quit"),
        (movement, "move"),
        ("Tab", "pane"),
        ("s", sort),
        ("p", "pause"),
        ("r", "reset"),
        ("?", "help"),
    ];
    let mut spans = vec![Span::raw(" ")];
    for (i, (key, what)) in keys.iter().enumerate() {
        if i > 0 {
            spans.push(Span::raw(sep.to_string()));
        }
        spans.push(bold(key));
        spans.push(Span::raw(format!(" {what}")));
    }
    Line::from(spans)
}

fn alert_row(row: Row<'_>, alert: bool) -> Row<'_> {
    if alert {
        row.style(THEME.alert_row)
    } else {
        row
    }
}

fn pane_block(title: String, active: bool) -> Block<'static> {
    let block = Block::new().borders(Borders::ALL).title(title);
    if active {
        block.border_style(THEME.active)
    } else {
        block
    }
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let text = [
        "q, Ctrl-C   quit, then print the final report",
        "↑ ↓  j k    move the selection",
        "PgUp PgDn   move by ten; g G first, last",
        "Tab         switch between functions, goroutines, routes",
        "s, S        sort functions by the next (previous) column",
        "p           pause the view (tracing goes on)",
        "r           reset every count",
        "?           this help; any key closes it",
        "",
        "failure rate = failures / eligible payloads (a one-shot",
        "call, or a stream to its Close or EOF), original size >",
        "--min-size or errored; failures = errors + incompressible.",
        "TOO FEW below --min-eligible. FAIL% since the start, the",
        "sparkline each second's. Inner calls: in the final report.",
    ];
    let w = (text.iter().map(|l| l.chars().count()).max().unwrap_or(0) as u16 + 4).min(area.width);
    let h = (text.len() as u16 + 2).min(area.height);
    let popup = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(
            text.iter()
                .map(|l| Line::from(format!(" {l}")))
                .collect::<Vec<_>>(),
        )
        .block(Block::new().borders(Borders::ALL).title("help")),
        popup,
    );
}

fn cell(c: Column, f: &FunctionReport, rate: f64) -> String {
    let known = |n: Option<u64>| n.map_or("-".into(), bytes);
    match c {
        Column::Function => short_name(&f.function).to_string(),
        Column::Codec => f.codec.name().to_string(),
        Column::Op => match f.op.name() {
            "compress" => "comp".into(),
            _ => "dec".into(),
        },
        Column::Calls => f.counters.calls.to_string(),
        Column::Rate => format!("{rate:.0}"),
        Column::P50 => nanos(f.latency_ns.p50),
        Column::P99 => nanos(f.latency_ns.p99),
        Column::Max => nanos(f.latency_ns.max),
        Column::BytesIn => known(sizes(f).0),
        Column::BytesOut => known(sizes(f).1),
        Column::Ratio => ratio(f).map_or("-".into(), |r| format!("{r:.2}")),
        Column::Errors => f.counters.errors.to_string(),
        Column::Incompressible => f.counters.incompressible.to_string(),
        Column::FailureRate => percent(counters_rate(&f.counters), 2),
    }
}
