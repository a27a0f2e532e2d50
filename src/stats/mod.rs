//! From call events to the report model: the failure [`rules`], the
//! [`aggregate`] state, and the [`model`] every renderer consumes.
//!
//! Rules: `errors` are calls that returned a non-nil error; `incompressible`
//! are compress calls with input > min-size whose output was not smaller;
//! `failures` = errors + incompressible; `eligible` = calls with input >
//! min-size plus calls that returned an error; `failure_rate` = failures /
//! eligible; `alert` when the rate exceeds the threshold.

pub mod aggregate;
pub mod model;
pub mod rules;

pub use aggregate::{Aggregator, MAX_GOROUTINES};
pub use model::*;
pub use rules::{classify, failure_rate, Classified};

use crate::catalog::Entry;

/// A function of the session, indexed by `CallEvent::func_id`.
#[derive(Debug, Clone)]
pub struct FuncMeta {
    pub function: String,
    pub entry: Entry,
    /// Index of the target (binary) it belongs to.
    pub target: usize,
}

/// Turns a runtime return address of process `pid` into a function name.
pub trait Symbolizer {
    fn function_at(&mut self, pid: u32, addr: u64) -> Option<String>;
}
