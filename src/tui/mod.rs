//! The live view of `gozt attach` and `gozt trace`: state, keys and drawing,
//! all without a terminal, so tests drive it with replayed reports and
//! ratatui's `TestBackend`. `term` puts it on a real terminal.
//!
//! - [`state`]: the latest report, rates per second, history, selections;
//! - [`keys`]: a key changes the state and may ask for an [`Action`];
//! - [`view`]: the drawing, from 60x15 up, in one [`theme`];
//!
//! Units and names come from [`crate::render::format`], shared with the text
//! report.

pub mod keys;
pub mod state;
pub mod term;
pub mod theme;
pub mod view;

pub use keys::Action;
pub use state::{failure_rate, App, Column, Pane};
