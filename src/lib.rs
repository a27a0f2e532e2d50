//! gozt: a bpftrace-style profiler for the compression paths of running Go
//! programs. This file is the index; docs/architecture.md draws the stages.
//!
//! Data flows one way, and each module imports only those below it
//! (tests/layers.rs). At the bottom, [`base`] (errors, exit codes, process
//! ids, escaping, the constants shared with the BPF programs). The
//! read-only half: [`arch`] -> binary ([`go_binary`]) -> catalog, ABI and
//! probe plan ([`probe`]) -> renderers ([`render`]). The runtime half:
//! processes ([`proc`]) -> the tracer ([`tracer`], the only privileged
//! code) -> events ([`event`]) -> the session's loop ([`session`]) ->
//! aggregation and the report model ([`stats`]) -> renderers, the live view
//! ([`tui`], through [`monitor`]) and the exporter ([`exporter`]). The
//! command line ([`app`]) is on top.

pub mod app;
pub mod arch;
pub mod base;
pub mod event;
pub mod exporter;
pub mod go_binary;
pub mod monitor;
pub mod probe;
pub mod proc;
pub mod render;
pub mod session;
pub mod stats;
pub mod tracer;
pub mod tui;

pub use app::run::{run, RunError};
pub use base::error::{Error, Result};
pub use base::exit::Exit;
