//! The command line: its syntax ([`cli`]), what the flags mean
//! ([`config`]), and the manual pages and completions ([`manual`]).

pub mod cli;
pub mod config;
pub mod manual;
