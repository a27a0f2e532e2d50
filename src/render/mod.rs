//! Renderers: pure functions from gozt's models to text and JSON.

pub mod banner;
pub mod format;
pub mod interval;
pub mod probes;
pub mod report;
pub mod saved;
pub mod target;
