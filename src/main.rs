//! The `gozt` binary: parse, run, map errors to exit codes.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = match gozt::cli::Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            if !e.use_stderr() {
                // --help and --version.
                let _ = e.print();
                return ExitCode::SUCCESS;
            }
            // One line: clap's message up to its first blank line (a list
            // of missing arguments included), without the usage block.
            let rendered = e.render().to_string();
            let message: Vec<&str> = rendered
                .lines()
                .take_while(|l| !l.trim().is_empty())
                .map(str::trim)
                .collect();
            let message = message.join(" ");
            let message = message.strip_prefix("error: ").unwrap_or(&message);
            eprintln!("gozt: {message} (see gozt --help)");
            return ExitCode::from(2);
        }
    };
    let result: anyhow::Result<()> =
        gozt::run(cli, &mut std::io::stdout().lock()).map_err(anyhow::Error::from);
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gozt: {e}");
            let code = e
                .downcast_ref::<gozt::RunError>()
                .map_or(1, gozt::RunError::exit_code);
            ExitCode::from(code)
        }
    }
}
