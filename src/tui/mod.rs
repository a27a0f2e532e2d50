//! The live view of `gozt attach` and `gozt trace`: state, keys and drawing,
//! all without a terminal, so tests drive it with replayed reports and
//! ratatui's `TestBackend`. `term` puts it on a real terminal.

pub mod term;

use std::collections::{HashMap, VecDeque};
use std::time::Duration;

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph, Row, Sparkline, Table, TableState};
use ratatui::Frame;

use crate::event::Lost;
use crate::stats::{Counters, FunctionReport, GoroutineReport, Report};

/// Seconds of failure-rate history kept per function.
const HISTORY_SECONDS: usize = 120;

/// Which table has the selection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Functions,
    Goroutines,
}

/// Columns of the functions table; `s` cycles the sort through them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Column {
    Function,
    Codec,
    Op,
    Calls,
    Rate,
    P50,
    P99,
    Max,
    BytesIn,
    BytesOut,
    Ratio,
    Errors,
    Incompressible,
    FailureRate,
}

impl Column {
    const ALL: [Column; 14] = [
        Column::Function,
        Column::Codec,
        Column::Op,
        Column::Calls,
        Column::Rate,
        Column::P50,
        Column::P99,
        Column::Max,
        Column::BytesIn,
        Column::BytesOut,
        Column::Ratio,
        Column::Errors,
        Column::Incompressible,
        Column::FailureRate,
    ];

    fn title(self) -> &'static str {
        match self {
            Column::Function => "FUNCTION",
            Column::Codec => "CODEC",
            Column::Op => "OP",
            Column::Calls => "CALLS",
            Column::Rate => "CALLS/S",
            Column::P50 => "P50",
            Column::P99 => "P99",
            Column::Max => "MAX",
            Column::BytesIn => "IN",
            Column::BytesOut => "OUT",
            Column::Ratio => "RATIO",
            Column::Errors => "ERR",
            Column::Incompressible => "INCOMP",
            Column::FailureRate => "FAIL%",
        }
    }

    fn width(self) -> u16 {
        match self {
            Column::Function => 24,
            Column::Codec => 6,
            Column::Op => 4,
            Column::Calls | Column::Rate => 7,
            Column::P50 | Column::P99 | Column::Max | Column::BytesIn | Column::BytesOut => 6,
            Column::Ratio => 5,
            Column::Errors => 5,
            Column::Incompressible => 6,
            Column::FailureRate => 7,
        }
    }

    /// Which columns stay when the terminal is narrow, most important first.
    fn priority(self) -> u8 {
        match self {
            Column::Function => 0,
            Column::Calls => 1,
            Column::FailureRate => 2,
            Column::P99 => 3,
            Column::Rate => 4,
            Column::Errors => 5,
            Column::Incompressible => 6,
            Column::P50 => 7,
            Column::Max => 8,
            Column::Ratio => 9,
            Column::BytesIn => 10,
            Column::BytesOut => 11,
            Column::Codec => 12,
            Column::Op => 13,
        }
    }
}

/// What a key asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// Clear every count and start over.
    Reset,
}

/// Per-function counts at the start of the current one-second window.
#[derive(Debug, Clone, Default)]
struct Mark {
    at: Duration,
    calls: HashMap<String, (u64, u64, u64)>,
    total_calls: u64,
}

/// The state of the live view.
pub struct App {
    report: Option<Report>,
    lost: Lost,
    elapsed: Duration,
    mark: Mark,
    /// Calls per second over the last whole second, per function and total.
    rates: HashMap<String, f64>,
    total_rate: f64,
    /// Failure rate per second, in basis points, per function.
    history: HashMap<String, VecDeque<u64>>,
    pub pane: Pane,
    pub sort: Column,
    pub paused: bool,
    pub help: bool,
    /// Selections follow their function and goroutine as rows re-sort.
    sel_function: Option<String>,
    sel_goroutine: Option<(u32, u64)>,
    functions: TableState,
    goroutines: TableState,
}

impl Default for App {
    fn default() -> Self {
        App::new()
    }
}

impl App {
    pub fn new() -> App {
        App {
            report: None,
            lost: Lost::default(),
            elapsed: Duration::ZERO,
            mark: Mark::default(),
            rates: HashMap::new(),
            total_rate: 0.0,
            history: HashMap::new(),
            pane: Pane::Functions,
            sort: Column::Calls,
            paused: false,
            help: false,
            sel_function: None,
            sel_goroutine: None,
            functions: TableState::default().with_selected(Some(0)),
            goroutines: TableState::default().with_selected(Some(0)),
        }
    }

    /// Takes a new snapshot of the session (ignored while paused).
    pub fn update(&mut self, report: Report, lost: Lost, elapsed: Duration) {
        if self.paused {
            return;
        }
        let window = elapsed.saturating_sub(self.mark.at);
        if window >= Duration::from_secs(1) || self.report.is_none() {
            let secs = window.as_secs_f64().max(1e-9);
            let mut now = HashMap::new();
            for f in &report.functions {
                let c = &f.counters;
                let (calls0, fail0, elig0) = self
                    .mark
                    .calls
                    .get(&f.function)
                    .copied()
                    .unwrap_or_default();
                if self.report.is_some() {
                    self.rates.insert(
                        f.function.clone(),
                        c.calls.saturating_sub(calls0) as f64 / secs,
                    );
                    let (df, de) = (
                        c.failures.saturating_sub(fail0),
                        c.eligible.saturating_sub(elig0),
                    );
                    let h = self.history.entry(f.function.clone()).or_default();
                    h.push_back((df * 10_000).checked_div(de).unwrap_or(0));
                    if h.len() > HISTORY_SECONDS {
                        h.pop_front();
                    }
                }
                now.insert(f.function.clone(), (c.calls, c.failures, c.eligible));
            }
            if self.report.is_some() {
                self.total_rate =
                    report.totals.calls.saturating_sub(self.mark.total_calls) as f64 / secs;
            }
            self.mark = Mark {
                at: elapsed,
                calls: now,
                total_calls: report.totals.calls,
            };
        }
        self.report = Some(report);
        self.lost = lost;
        self.elapsed = elapsed;
    }

    /// Forgets every count (after the session reset its aggregation).
    pub fn reset(&mut self) {
        self.report = None;
        self.mark = Mark::default();
        self.rates.clear();
        self.total_rate = 0.0;
        self.history.clear();
        self.sel_function = None;
        self.sel_goroutine = None;
    }

    /// Handles one key.
    pub fn key(&mut self, key: KeyEvent) -> Action {
        if key.kind == KeyEventKind::Release {
            return Action::None;
        }
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        if self.help {
            // Any key closes the help; q and Ctrl-C still quit.
            self.help = false;
            return match key.code {
                KeyCode::Char('q') => Action::Quit,
                KeyCode::Char('c') if ctrl => Action::Quit,
                _ => Action::None,
            };
        }
        match key.code {
            KeyCode::Char('q') => return Action::Quit,
            KeyCode::Char('c') if ctrl => return Action::Quit,
            KeyCode::Char('?') => self.help = true,
            KeyCode::Tab | KeyCode::BackTab => {
                self.pane = match self.pane {
                    Pane::Functions => Pane::Goroutines,
                    Pane::Goroutines => Pane::Functions,
                }
            }
            KeyCode::Char('s') => {
                let i = Column::ALL
                    .iter()
                    .position(|c| *c == self.sort)
                    .unwrap_or(0);
                self.sort = Column::ALL[(i + 1) % Column::ALL.len()];
            }
            KeyCode::Char('S') => {
                let i = Column::ALL
                    .iter()
                    .position(|c| *c == self.sort)
                    .unwrap_or(0);
                self.sort = Column::ALL[(i + Column::ALL.len() - 1) % Column::ALL.len()];
            }
            KeyCode::Char('p') => self.paused = !self.paused,
            KeyCode::Char('r') => {
                self.reset();
                return Action::Reset;
            }
            KeyCode::Down | KeyCode::Char('j') => self.move_selection(1),
            KeyCode::Up | KeyCode::Char('k') => self.move_selection(-1),
            KeyCode::PageDown => self.move_selection(10),
            KeyCode::PageUp => self.move_selection(-10),
            KeyCode::Home | KeyCode::Char('g') => self.move_selection(i64::MIN / 2),
            KeyCode::End | KeyCode::Char('G') => self.move_selection(i64::MAX / 2),
            _ => {}
        }
        Action::None
    }

    fn move_selection(&mut self, by: i64) {
        let step = |at: usize, len: usize| -> usize {
            (at as i64).saturating_add(by).clamp(0, len as i64 - 1) as usize
        };
        match self.pane {
            Pane::Functions => {
                let names = self.function_names();
                if !names.is_empty() {
                    let at = self.function_index(&names);
                    self.sel_function = Some(names[step(at, names.len())].clone());
                }
            }
            Pane::Goroutines => {
                let ids = self.goroutine_ids();
                if !ids.is_empty() {
                    let at = self.goroutine_index(&ids);
                    self.sel_goroutine = Some(ids[step(at, ids.len())]);
                }
            }
        }
    }

    fn function_index(&self, names: &[String]) -> usize {
        self.sel_function
            .as_ref()
            .and_then(|s| names.iter().position(|n| n == s))
            .unwrap_or(0)
    }

    fn goroutine_index(&self, ids: &[(u32, u64)]) -> usize {
        self.sel_goroutine
            .and_then(|s| ids.iter().position(|i| *i == s))
            .unwrap_or(0)
    }

    /// Functions in display order.
    fn sorted_functions(&self) -> Vec<&FunctionReport> {
        let Some(r) = &self.report else {
            return Vec::new();
        };
        let mut fs: Vec<&FunctionReport> = r.functions.iter().collect();
        let rate = |f: &FunctionReport| self.rates.get(&f.function).copied().unwrap_or(0.0);
        let key = |f: &FunctionReport| -> f64 {
            match self.sort {
                Column::Function | Column::Codec | Column::Op => 0.0,
                Column::Calls => f.counters.calls as f64,
                Column::Rate => rate(f),
                Column::P50 => f.latency_ns.p50 as f64,
                Column::P99 => f.latency_ns.p99 as f64,
                Column::Max => f.latency_ns.max as f64,
                Column::BytesIn => f.bytes_in as f64,
                Column::BytesOut => f.bytes_out as f64,
                Column::Ratio => ratio(f).unwrap_or(-1.0),
                Column::Errors => f.counters.errors as f64,
                Column::Incompressible => f.counters.incompressible as f64,
                Column::FailureRate => f.counters.failure_rate,
            }
        };
        fs.sort_by(|a, b| match self.sort {
            Column::Function => short_name(&a.function).cmp(short_name(&b.function)),
            Column::Codec => a.codec.name().cmp(b.codec.name()),
            Column::Op => a.op.name().cmp(b.op.name()),
            // Largest first; ties by name, so the order is stable.
            _ => key(b)
                .total_cmp(&key(a))
                .then_with(|| a.function.cmp(&b.function)),
        });
        fs
    }

    /// Goroutines by time spent compressing, most first.
    fn sorted_goroutines(&self) -> Vec<&GoroutineReport> {
        let Some(r) = &self.report else {
            return Vec::new();
        };
        let mut gs: Vec<&GoroutineReport> = r.goroutines.iter().collect();
        gs.sort_by(|a, b| {
            b.time_ns
                .cmp(&a.time_ns)
                .then((a.pid, a.goid).cmp(&(b.pid, b.goid)))
        });
        gs
    }

    /// The selected function's full name (the first row until one is
    /// chosen, or when the chosen one is gone after a reset).
    pub fn selected_function(&self) -> Option<String> {
        let names = self.function_names();
        names.get(self.function_index(&names)).cloned()
    }

    /// The selected goroutine, (pid, goid).
    pub fn selected_goroutine(&self) -> Option<(u32, u64)> {
        let ids = self.goroutine_ids();
        ids.get(self.goroutine_index(&ids)).copied()
    }

    fn function_names(&self) -> Vec<String> {
        self.sorted_functions()
            .iter()
            .map(|f| f.function.clone())
            .collect()
    }

    fn goroutine_ids(&self) -> Vec<(u32, u64)> {
        self.sorted_goroutines()
            .iter()
            .map(|g| (g.pid, g.goid))
            .collect()
    }

    /// Draws the whole view.
    pub fn draw(&mut self, frame: &mut Frame<'_>) {
        let area = frame.area();
        // The functions table takes what its rows need, up to half the body.
        let rows = self.report.as_ref().map_or(0, |r| r.functions.len()) as u16;
        let body = area.height.saturating_sub(3);
        let table_height = (rows + 3).clamp(5, (body / 2).max(5));
        let [header, functions, bottom, footer] = Layout::vertical([
            Constraint::Length(2),
            Constraint::Length(table_height),
            Constraint::Min(6),
            Constraint::Length(1),
        ])
        .areas(area);
        let [goroutines, detail] =
            Layout::horizontal([Constraint::Percentage(45), Constraint::Percentage(55)])
                .areas(bottom);
        self.draw_header(frame, header);
        self.draw_functions(frame, functions);
        self.draw_goroutines(frame, goroutines);
        match self.pane {
            Pane::Functions => self.draw_function_detail(frame, detail),
            Pane::Goroutines => self.draw_goroutine_detail(frame, detail),
        }
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(" q", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" quit  "),
                Span::styled("↑↓/jk", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" move  "),
                Span::styled("Tab", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" pane  "),
                Span::styled("s", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(format!(" sort ({})  ", self.sort.title())),
                Span::styled("p", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" pause  "),
                Span::styled("r", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" reset  "),
                Span::styled("?", Style::new().add_modifier(Modifier::BOLD)),
                Span::raw(" help"),
            ])),
            footer,
        );
        if self.help {
            draw_help(frame, area);
        }
    }

    fn draw_header(&self, frame: &mut Frame<'_>, area: Rect) {
        let Some(r) = &self.report else {
            frame.render_widget(Paragraph::new("gozt: attaching..."), area);
            return;
        };
        let targets = match r.targets.as_slice() {
            [] => "waiting for a process".to_string(),
            [t] => format!("pid {} {} ({})", t.pid, base_name(&t.binary), t.go_version),
            [t, rest @ ..] => format!(
                "pid {} {} ({}) +{} more",
                t.pid,
                base_name(&t.binary),
                t.go_version,
                rest.len()
            ),
        };
        let secs = self.elapsed.as_secs();
        let line1 = Line::from(vec![
            Span::styled("gozt ", Style::new().add_modifier(Modifier::BOLD)),
            Span::raw(targets),
            Span::raw(format!(
                "  {:02}:{:02}:{:02}  {:.0} calls/s",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                self.total_rate
            )),
            if self.paused {
                Span::styled(
                    "  PAUSED",
                    Style::new().fg(Color::Yellow).add_modifier(Modifier::BOLD),
                )
            } else {
                Span::raw("")
            },
        ]);
        let t = &r.totals;
        let state = if t.alert {
            Span::styled(
                " ALERT ",
                Style::new()
                    .fg(Color::White)
                    .bg(Color::Red)
                    .add_modifier(Modifier::BOLD),
            )
        } else {
            Span::styled(" OK ", Style::new().fg(Color::Black).bg(Color::Green))
        };
        let l = &self.lost;
        let lost = l.ringbuf_full + l.inflight_full + l.aged_out + l.abandoned;
        let line2 = Line::from(vec![
            state,
            Span::raw(format!(
                " failures {:.3}% {} {:.3}% of {} eligible  {} calls  lost {}",
                t.failure_rate * 100.0,
                if t.alert { ">" } else { "<=" },
                r.alert_threshold * 100.0,
                t.eligible,
                t.calls,
                lost
            )),
        ]);
        frame.render_widget(Paragraph::new(vec![line1, line2]), area);
    }

    fn draw_functions(&mut self, frame: &mut Frame<'_>, area: Rect) {
        // As many columns as fit, most important first, in their natural order.
        let mut budget = area.width.saturating_sub(2);
        let mut by_priority = Column::ALL;
        by_priority.sort_by_key(|c| c.priority());
        let mut shown = Vec::new();
        for c in by_priority {
            if c.width() < budget || c == Column::Function {
                budget = budget.saturating_sub(c.width() + 1);
                shown.push(c);
            }
        }
        shown.sort_by_key(|c| Column::ALL.iter().position(|x| x == c));
        let header = Row::new(shown.iter().map(|c| {
            if *c == self.sort {
                format!("{}▼", c.title())
            } else {
                c.title().to_string()
            }
        }))
        .style(Style::new().add_modifier(Modifier::BOLD));
        let rows: Vec<Row> = self
            .sorted_functions()
            .into_iter()
            .map(|f| {
                let rate = self.rates.get(&f.function).copied().unwrap_or(0.0);
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
                Column::Function => Constraint::Min(c.width()),
                _ => Constraint::Length(c.width()),
            })
            .collect();
        let table = Table::new(rows, widths)
            .header(header)
            .block(pane_block(
                format!("functions ({n})"),
                self.pane == Pane::Functions,
            ))
            .row_highlight_style(Style::new().add_modifier(Modifier::REVERSED));
        let names = self.function_names();
        self.functions
            .select((n > 0).then(|| self.function_index(&names)));
        frame.render_stateful_widget(table, area, &mut self.functions);
    }

    fn draw_goroutines(&mut self, frame: &mut Frame<'_>, area: Rect) {
        let gs = self.sorted_goroutines();
        let many_pids = gs.iter().any(|g| g.pid != gs[0].pid);
        let rows: Vec<Row> = gs
            .iter()
            .map(|g| {
                let id = if many_pids {
                    format!("{}/{}", g.pid, g.goid)
                } else {
                    g.goid.to_string()
                };
                let row = Row::new(vec![
                    id,
                    g.counters.calls.to_string(),
                    nanos(g.latency_ns.p99),
                    g.counters.failures.to_string(),
                    nanos(g.time_ns),
                ]);
                alert_row(row, g.counters.alert)
            })
            .collect();
        let n = rows.len();
        let table = Table::new(
            rows,
            [
                Constraint::Min(6),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(5),
                Constraint::Length(7),
            ],
        )
        .header(
            Row::new(["GOID", "CALLS", "P99", "FAIL", "TIME"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(pane_block(
            format!("goroutines ({n}) by time"),
            self.pane == Pane::Goroutines,
        ))
        .row_highlight_style(if self.pane == Pane::Goroutines {
            Style::new().add_modifier(Modifier::REVERSED)
        } else {
            Style::new()
        });
        let ids: Vec<(u32, u64)> = gs.iter().map(|g| (g.pid, g.goid)).collect();
        self.goroutines
            .select((n > 0).then(|| self.goroutine_index(&ids)));
        frame.render_stateful_widget(table, area, &mut self.goroutines);
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
            return;
        };
        let callers: Vec<_> = {
            let mut cs: Vec<_> = r.callers.iter().filter(|c| c.function == name).collect();
            cs.sort_by(|a, b| b.calls.cmp(&a.calls).then(a.caller.cmp(&b.caller)));
            cs
        };
        let hist_rows = f
            .histogram
            .len()
            .min(inner.height.saturating_sub(4) as usize / 2)
            .max(1);
        let [hist, spark_title, spark, callers_area] = Layout::vertical([
            Constraint::Length(hist_rows as u16),
            Constraint::Length(1),
            Constraint::Length(1),
            Constraint::Min(1),
        ])
        .areas(inner);
        // The log2 histogram around its mode.
        let peak = f
            .histogram
            .iter()
            .map(|b| b.count)
            .max()
            .unwrap_or(1)
            .max(1);
        let mode = f
            .histogram
            .iter()
            .position(|b| b.count == peak)
            .unwrap_or(0);
        let start = mode
            .saturating_sub(hist_rows / 2)
            .min(f.histogram.len().saturating_sub(hist_rows));
        let bar_width = inner.width.saturating_sub(22) as u64;
        let lines: Vec<Line> = f
            .histogram
            .iter()
            .skip(start)
            .take(hist_rows)
            .map(|b| {
                let stars = (b.count * bar_width).div_ceil(peak) as usize;
                Line::from(format!(
                    "{:>6}-{:<6} {:>6} {}",
                    nanos(b.min),
                    nanos(b.max + 1),
                    b.count,
                    "█".repeat(stars)
                ))
            })
            .collect();
        frame.render_widget(Paragraph::new(lines), hist);
        let history: Vec<u64> = self
            .history
            .get(&name)
            .map(|h| h.iter().copied().collect())
            .unwrap_or_default();
        let last = history.last().copied().unwrap_or(0);
        frame.render_widget(
            Paragraph::new(format!(
                "failure rate {}.{:02}% (per second, {}s)",
                last / 100,
                last % 100,
                history.len()
            )),
            spark_title,
        );
        let shown = &history[history.len().saturating_sub(spark.width as usize)..];
        frame.render_widget(
            Sparkline::default()
                .data(shown)
                .max(shown.iter().copied().max().unwrap_or(0).max(100))
                .style(Style::new().fg(if f.counters.alert {
                    Color::Red
                } else {
                    Color::Green
                })),
            spark,
        );
        let lines: Vec<Line> = callers
            .iter()
            .take(callers_area.height as usize)
            .map(|c| Line::from(format!("{:>7} {}", c.calls, c.caller)))
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
        let table = Table::new(
            rows,
            [
                Constraint::Min(10),
                Constraint::Length(7),
                Constraint::Length(7),
                Constraint::Length(5),
            ],
        )
        .header(
            Row::new(["FUNCTION", "CALLS", "P99", "FAIL"])
                .style(Style::new().add_modifier(Modifier::BOLD)),
        )
        .block(Block::new().borders(Borders::ALL).title(title));
        frame.render_widget(table, area);
    }
}

fn alert_row(row: Row<'_>, alert: bool) -> Row<'_> {
    if alert {
        row.style(Style::new().fg(Color::Red))
    } else {
        row
    }
}

fn pane_block(title: String, active: bool) -> Block<'static> {
    let block = Block::new().borders(Borders::ALL).title(title);
    if active {
        block.border_style(Style::new().fg(Color::Cyan))
    } else {
        block
    }
}

fn draw_help(frame: &mut Frame<'_>, area: Rect) {
    let text = [
        "q, Ctrl-C   quit, then print the final report",
        "↑ ↓  j k    move the selection",
        "PgUp PgDn   move by ten; g G first, last",
        "Tab         switch between functions and goroutines",
        "s, S        sort functions by the next (previous) column",
        "p           pause the view (tracing goes on)",
        "r           reset every count",
        "?           this help; any key closes it",
        "",
        "failures = errors + incompressible (input > --min-size,",
        "output not smaller); rate = failures / eligible.",
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
    let observed = |n: u64, seen: bool| if seen { bytes(n) } else { "-".into() };
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
        Column::BytesIn => observed(f.bytes_in, f.bytes_in_observed),
        Column::BytesOut => observed(f.bytes_out, f.bytes_out_observed),
        Column::Ratio => ratio(f).map_or("-".into(), |r| format!("{r:.2}")),
        Column::Errors => f.counters.errors.to_string(),
        Column::Incompressible => f.counters.incompressible.to_string(),
        Column::FailureRate => percent(&f.counters),
    }
}

/// Output over input, when both are observed (compress: below 1 is good).
fn ratio(f: &FunctionReport) -> Option<f64> {
    (f.bytes_in_observed && f.bytes_out_observed && f.bytes_in > 0)
        .then(|| f.bytes_out as f64 / f.bytes_in as f64)
}

fn percent(c: &Counters) -> String {
    format!("{:.2}%", c.failure_rate * 100.0)
}

/// `github.com/klauspost/compress/zstd.(*Encoder).EncodeAll` -> `zstd.(*Encoder).EncodeAll`.
pub fn short_name(f: &str) -> &str {
    let pkg_end = f.find(".(").or_else(|| f.rfind('.')).unwrap_or(0);
    match f[..pkg_end].rfind('/') {
        Some(i) => &f[i + 1..],
        None => f,
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// 1234567 -> "1.23ms": three significant digits and a unit.
pub fn nanos(ns: u64) -> String {
    if ns < 1_000 {
        return format!("{ns}ns");
    }
    let (v, unit) = if ns < 1_000_000 {
        (ns as f64 / 1e3, "us")
    } else if ns < 1_000_000_000 {
        (ns as f64 / 1e6, "ms")
    } else {
        (ns as f64 / 1e9, "s")
    };
    if v < 10.0 {
        format!("{v:.2}{unit}")
    } else if v < 100.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

/// 6144000 -> "6.14M": three significant digits and a decimal unit.
fn bytes(n: u64) -> String {
    if n < 1_000 {
        return n.to_string();
    }
    let mut v = n as f64;
    let mut unit = "";
    for u in ["K", "M", "G", "T", "P"] {
        if v < 1_000.0 {
            break;
        }
        v /= 1_000.0;
        unit = u;
    }
    if v < 10.0 {
        format!("{v:.2}{unit}")
    } else if v < 100.0 {
        format!("{v:.1}{unit}")
    } else {
        format!("{v:.0}{unit}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn units_and_names() {
        assert_eq!(nanos(999), "999ns");
        assert_eq!(nanos(1_500), "1.50us");
        assert_eq!(nanos(123_456), "123us");
        assert_eq!(nanos(12_345_678), "12.3ms");
        assert_eq!(nanos(2_500_000_000), "2.50s");
        assert_eq!(bytes(999), "999");
        assert_eq!(bytes(6_144_000), "6.14M");
        assert_eq!(bytes(211_304_337), "211M");
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
    }
}
