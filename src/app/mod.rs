//! The command line: its syntax ([`cli`]), what the flags mean
//! ([`config`]), the manual pages and completions ([`manual`]), and a run
//! carried out ([`run`]).

pub mod cli;
pub mod config;
pub mod manual;
pub mod run;
