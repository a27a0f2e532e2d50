//! The `gozt` binary: parse, run, map errors to exit codes. Every error is
//! one line on stderr starting `gozt: `; bad flags exit 2.

use std::process::ExitCode;

use clap::error::ErrorKind;
use clap::Parser;

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
                return ExitCode::from(2);
            }
            _ => {
                eprintln!("gozt: {}", gozt::app::cli::usage_error(&e, &args));
                return ExitCode::from(2);
            }
        },
    };
    let result: anyhow::Result<u8> =
        gozt::run(cli, &mut std::io::stdout().lock()).map_err(anyhow::Error::from);
    match result {
        // 0, or what `gozt trace`'s command exited with.
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("gozt: {e}");
            let code = e
                .downcast_ref::<gozt::RunError>()
                .map_or(1, gozt::RunError::exit_code);
            ExitCode::from(code)
        }
    }
}
