//! gozt: a bpftrace-style profiler for the compression paths of running Go
//! programs.
//!
//! Data flows one way: binary ([`go_binary`]) -> plan ([`probe_plan`]) ->
//! renderers ([`render`]).

pub mod abi;
pub mod catalog;
pub mod cli;
pub mod config;
pub mod error;
pub mod go_binary;
pub mod probe_plan;
pub mod process;
pub mod render;

use std::io::Write;

pub use error::{Error, Result};

use cli::{Cli, Command};

/// Runs a parsed command line, writing results to `out`.
pub fn run(cli: Cli, out: &mut dyn Write) -> Result<()> {
    match cli.command {
        Command::Probes(args) => {
            let exe = config::Executable::resolve(args.path, args.pid)?;
            let bin = go_binary::GoBinary::open(&exe.open_path)?;
            let plan = probe_plan::Plan::build(&bin)?;
            let text = if args.json {
                let mut s =
                    serde_json::to_string_pretty(&render::probes::report(&bin, &plan, exe.pid))
                        .expect("the probes report serializes");
                s.push('\n');
                s
            } else {
                render::probes::table(&bin, &plan, exe.pid)
            };
            write_out(out, text.as_bytes())
        }
    }
}

fn write_out(out: &mut dyn Write, bytes: &[u8]) -> Result<()> {
    match out.write_all(bytes).and_then(|()| out.flush()) {
        // A closed pipe (`gozt probes x | head`) is not an error.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::Io {
            path: "<stdout>".into(),
            source: e,
        }),
        Ok(()) => Ok(()),
    }
}
