//! Renderers: pure functions from gozt's models to text, JSON and HTML.

pub mod banner;
pub mod format;
pub mod html;
pub mod interval;
pub mod probes;
pub mod report;
pub mod saved;
pub mod target;
