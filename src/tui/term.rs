//! The live view on a real terminal: raw mode and the alternate screen
//! (ratatui's init, whose panic hook restores the terminal), keys read from
//! crossterm between the session's polls, and a redraw five times a second.
//! Dropping `Live` restores the terminal, so every exit path does.
//! [`browse`] shows a saved report the same way, without a session.

use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event};
use ratatui::DefaultTerminal;

use super::{Action, App};
use crate::monitor::{Monitor, Snapshot};
use crate::stats::Report;

/// How often the view is redrawn.
const REFRESH: Duration = Duration::from_millis(200);

/// The live TUI as a session monitor.
pub struct Live {
    terminal: Option<DefaultTerminal>,
    app: App,
    last_draw: Option<Instant>,
    /// Set when the terminal could not be set up or drawn to: the session
    /// then ends, and the error is reported after it.
    pub error: Option<String>,
}

impl Default for Live {
    fn default() -> Self {
        Live::new()
    }
}

impl Live {
    pub fn new() -> Live {
        Live {
            terminal: None,
            app: App::new(),
            last_draw: None,
            error: None,
        }
    }

    fn fail(&mut self, what: &str, e: std::io::Error) -> bool {
        self.error = Some(format!("terminal: {what}: {e}"));
        false
    }

    /// Puts the terminal back as it was (idempotent).
    pub fn restore(&mut self) {
        if self.terminal.take().is_some() {
            ratatui::restore();
        }
    }
}

impl Monitor for Live {
    fn tick(&mut self, snap: &mut Snapshot<'_>) -> bool {
        if self.terminal.is_none() {
            // Only once the probes are attached, so that errors before that
            // print on a normal terminal.
            match ratatui::try_init() {
                Ok(t) => self.terminal = Some(t),
                Err(e) => return self.fail("setup", e),
            }
        }
        let mut redraw = self.last_draw.is_none_or(|t| t.elapsed() >= REFRESH);
        loop {
            match event::poll(Duration::ZERO) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return self.fail("input", e),
            }
            match event::read() {
                Ok(Event::Key(key)) => {
                    match self.app.key(key) {
                        Action::Quit => return false,
                        Action::Reset => snap.reset(),
                        Action::None => {}
                    }
                    redraw = true;
                }
                Ok(Event::Resize(..)) => redraw = true,
                Ok(_) => {}
                Err(e) => return self.fail("input", e),
            }
        }
        if redraw {
            self.app.update(snap.report(), snap.lost, snap.elapsed);
            let app = &mut self.app;
            if let Some(t) = self.terminal.as_mut() {
                if let Err(e) = t.draw(|f| app.draw(f)) {
                    return self.fail("draw", e);
                }
            }
            self.last_draw = Some(Instant::now());
        }
        true
    }
}

impl Drop for Live {
    fn drop(&mut self) {
        self.restore();
    }
}

/// Browses a saved report in the live view until `q` (or Ctrl-C): every
/// key works as in a session, and `r` shows the report again from the top.
pub fn browse(report: Report) -> std::io::Result<()> {
    let mut app = App::new();
    app.show_saved(report.clone());
    let mut terminal = ratatui::try_init()?;
    let result = (|| loop {
        terminal.draw(|f| app.draw(f))?;
        if let Event::Key(key) = event::read()? {
            match app.key(key) {
                Action::Quit => return Ok(()),
                Action::Reset => app.show_saved(report.clone()),
                Action::None => {}
            }
        }
    })();
    ratatui::restore();
    result
}
