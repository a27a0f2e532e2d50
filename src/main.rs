//! The `gozt` binary: parse, run, map errors to exit codes. Every error is
//! one line on stderr starting `gozt: `; bad flags exit 2.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;
use gozt::Exit;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args_os()
        .map(|a| a.to_string_lossy().into_owned())
        .collect();
    let cli = match gozt::app::cli::Cli::try_parse_from(&args) {
        Ok(cli) => cli,
        Err(e) => match e.kind() {
            // gozt's version, from every command (`gozt attach -V` too).
            ErrorKind::DisplayVersion => {
                println!("gozt {}", env!("CARGO_PKG_VERSION"));
                return ExitCode::SUCCESS;
            }
            ErrorKind::DisplayHelp => {
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // `gozt` alone: the usage and the commands, on stderr.
            ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                let _ = e.print();
                return exit(Exit::Usage);
            }
            _ => {
                eprintln!("gozt: {}", gozt::app::cli::usage_error(&e, &args));
                return exit(Exit::Usage);
            }
        },
    };
    match gozt::run(cli, &mut std::io::stdout().lock()) {
        // 0, or what `gozt trace`'s command exited with.
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("gozt: {e}");
            exit(e.exit())
        }
    }
}

fn exit(e: Exit) -> ExitCode {
    ExitCode::from(e.code())
}
