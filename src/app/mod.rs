//! The command line: its syntax ([`cli`]), what the flags mean
//! ([`config`]), the manual pages and completions ([`manual`]), a run
//! carried out ([`run`]), and what the node offers gozt ([`info`]).

pub mod cli;
pub mod config;
pub mod info;
pub mod manual;
pub mod run;
