//! Keys of the live view: each changes the view's state and may ask the
//! session for something (an [`Action`]).

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::state::{App, Pane};

/// What a key asks of the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    None,
    Quit,
    /// Clear every count and start over.
    Reset,
}

impl App {
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
                // Functions, goroutines, then routes when there are any.
                let back = key.code == KeyCode::BackTab;
                let mut panes = vec![Pane::Functions, Pane::Goroutines];
                if self.has_routes() {
                    panes.push(Pane::Routes);
                }
                let at = panes.iter().position(|p| *p == self.pane).unwrap_or(0);
                let n = panes.len();
                self.pane = panes[if back { (at + n - 1) % n } else { (at + 1) % n }];
            }
            KeyCode::Char('s') => self.sort = self.sort.step(false),
            KeyCode::Char('S') => self.sort = self.sort.step(true),
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
        // From the selected row; without one (its function has no row since
        // a reset), to the first row.
        let step = |at: Option<usize>, len: usize| -> usize {
            at.map_or(0, |at| {
                (at as i64).saturating_add(by).clamp(0, len as i64 - 1) as usize
            })
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
            Pane::Routes => {
                let names = self.route_names();
                if !names.is_empty() {
                    let at = self.route_index(&names).or(Some(0));
                    self.sel_route = Some(names[step(at, names.len())].clone());
                }
            }
        }
    }
}
