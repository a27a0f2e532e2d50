//! `gozt completions SHELL` and `gozt man`: shell completion scripts
//! (clap_complete) and roff man pages (clap_mangen), both generated from the
//! same clap definition as the parser, so they never drift from it.

use std::path::Path;

use clap::CommandFactory;

use crate::base::error::{Error, Result};

/// The completion script for `shell`.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut super::cli::Cli::command(), "gozt", &mut out);
    out
}

/// `gozt man`: gozt.1 as roff; with a directory, the pages written into it
/// and the list of their paths, one a line.
pub fn man(dir: Option<&Path>) -> Result<Vec<u8>> {
    match dir {
        None => Ok(man_page()),
        Some(dir) => Ok(write_man_pages(dir)?
            .iter()
            .map(|p| format!("{}\n", p.display()))
            .collect::<String>()
            .into_bytes()),
    }
}

/// gozt.1 as roff.
pub fn man_page() -> Vec<u8> {
    let mut out = Vec::new();
    clap_mangen::Man::new(super::cli::Cli::command())
        .render(&mut out)
        .expect("rendering into memory cannot fail");
    out
}

/// Writes gozt.1 and one page per command (gozt-attach.1, ...) into `dir`;
/// returns the files written.
pub fn write_man_pages(dir: &Path) -> Result<Vec<std::path::PathBuf>> {
    let io = |e| Error::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut cmd = super::cli::Cli::command();
    // Subcommands' pages are named gozt-attach.1 and so on.
    cmd.build();
    clap_mangen::generate_to(cmd, dir).map_err(io)?;
    let mut pages: Vec<_> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("gozt") && n.ends_with(".1"))
        })
        .collect();
    pages.sort();
    Ok(pages)
}
