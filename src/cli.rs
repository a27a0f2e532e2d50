//! Command-line syntax (clap derive). Parsing only validates shapes; the
//! `config` module resolves what the flags mean.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// bpftrace-style profiler for the compression paths of running Go programs.
#[derive(Debug, Parser)]
#[command(name = "gozt", version, about, propagate_version = true)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// List the compression functions of a Go binary and where gozt would
    /// probe them (entry and every RET), without privileges.
    Probes(ProbesArgs),
}

#[derive(Debug, Args)]
pub struct ProbesArgs {
    /// The Go executable to read.
    #[arg(required_unless_present = "pid", conflicts_with = "pid")]
    pub path: Option<PathBuf>,
    /// Read the executable of a running process (through /proc/PID/exe).
    #[arg(long)]
    pub pid: Option<i32>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
}
